// The HTTP half of the protocol (docs/protocol.md): JSON in and out, errors in one shape.

/**
 * @import { CreateRoomRequest, ErrorBody, JoinBody, MessagesBody, MessagesQuery, RoomBody, RoomsBody, RoomWithPlaybackBody, TokenBody, UpdateRoomRequest, UserBody } from "./api-types"
 */

/** An error answer from the server: `status` and the protocol's `code`. */
export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status, 0 when the server was not reached
   * @param {string} code the protocol's error code, or "network" / "unexpected"
   * @param {string} message for people
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The HTTP status of a failed call, or 0 when it was not an {@link ApiError}. */
export function statusOf(/** @type {unknown} */ err) {
  return err instanceof ApiError ? err.status : 0;
}

/** What to tell the user about a failed call. */
export function messageOf(/** @type {unknown} */ err) {
  return err instanceof Error ? err.message : "";
}

/**
 * The parsed answer body: each method of `api` below declares its shape
 * (api-types.d.ts), and a 204 answers `null`.
 *
 * @param {string} method
 * @param {string} path
 * @param {object} [body]
 * @returns {Promise<any>}
 */
async function request(method, path, body) {
  /** @type {RequestInit & { headers: Record<string, string> }} */
  const init = { method, headers: {}, credentials: "same-origin" };
  // Every state-changing request says JSON, body or not: the server refuses
  // one that does not unless the browser's Origin shows it is same-origin,
  // and a proxy that rewrites Host would make that check fail.
  if (method !== "GET") init.headers["Content-Type"] = "application/json";
  if (body !== undefined) init.body = JSON.stringify(body);
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "The server can't be reached. Check your connection.");
  }
  if (res.status === 204) return null;
  /** @type {any} */
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    /** @type {ErrorBody["error"] | undefined} */
    const err = data && data.error;
    throw new ApiError(
      res.status,
      err ? err.code : "unexpected",
      err ? err.message : `The server answered ${res.status}.`,
    );
  }
  return data;
}

const room = (/** @type {string} */ code) => `/api/rooms/${encodeURIComponent(code)}/`;

export const api = {
  /** @returns {Promise<UserBody>} */
  me: () => request("GET", "/api/auth/me/"),
  /**
   * @param {string} email
   * @param {string} password
   * @param {string} [display_name] empty or absent: the server picks one
   * @returns {Promise<UserBody>}
   */
  register: (email, password, display_name) =>
    request("POST", "/api/auth/register/", { email, password, display_name: display_name || undefined }),
  /**
   * @param {string} email
   * @param {string} password
   * @returns {Promise<UserBody>}
   */
  login: (email, password) => request("POST", "/api/auth/login/", { email, password }),
  /** @returns {Promise<null>} */
  logout: () => request("POST", "/api/auth/logout/"),
  /** @returns {Promise<TokenBody>} */
  token: () => request("POST", "/api/auth/token/"),
  /** @returns {Promise<RoomsBody>} */
  publicRooms: (limit = 50) => request("GET", `/api/rooms/public/?limit=${limit}`),
  /**
   * @param {CreateRoomRequest} fields
   * @returns {Promise<RoomBody>}
   */
  createRoom: (fields) => request("POST", "/api/rooms/", fields),
  /**
   * @param {string} code
   * @returns {Promise<RoomWithPlaybackBody>}
   */
  room: (code) => request("GET", room(code)),
  /**
   * @param {string} code
   * @returns {Promise<JoinBody>}
   */
  join: (code) => request("POST", `${room(code)}join/`),
  /**
   * @param {string} code
   * @param {UpdateRoomRequest} changes
   * @returns {Promise<RoomBody>}
   */
  updateRoom: (code, changes) => request("PATCH", room(code), changes),
  /**
   * @param {string} code
   * @returns {Promise<null>}
   */
  deleteRoom: (code) => request("DELETE", room(code)),
  /**
   * @param {string} code
   * @param {MessagesQuery} query
   * @returns {Promise<MessagesBody>}
   */
  // URLSearchParams turns the numbers into text, as the query wants them.
  messages: (code, query) =>
    request("GET", `${room(code)}messages/?${new URLSearchParams(/** @type {Record<string, any>} */ (query))}`),
};
