// The HTTP half of the protocol (docs/protocol.md): JSON in and out, errors in one shape.

/**
 * @import { AddedItem, AddItemRequest, BanRequest, BanResponse, CreateRoomRequest, ErrorBody, ItemResponse, JoinResponse, KickRequest, MessageList, MessagesQuery, MoveItemRequest, MuteRequest, ParticipantList, ParticipantResponse, QueueList, QueueVersion, RoomList, RoomResponse, RoomWithPlayback, TokenResponse, UpdateRoomRequest, UserResponse } from "./protocol"
 */

/** An error answer from the server: `status` and the protocol's `code`. */
export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status, 0 when the server was not reached
   * @param {string} code the protocol's error code, or "network" / "unexpected"
   * @param {string} message for people
   * @param {Record<string, unknown>} [detail] the error object's other fields
   *   (a refused join's `until`, say)
   */
  constructor(status, code, message, detail = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** The HTTP status of a failed call, or 0 when it was not an {@link ApiError}. */
export function statusOf(/** @type {unknown} */ err) {
  return err instanceof ApiError ? err.status : 0;
}

/** The protocol's error code of a failed call, or "" when it was not an {@link ApiError}. */
export function codeOf(/** @type {unknown} */ err) {
  return err instanceof ApiError ? err.code : "";
}

/**
 * A refusal's `until` (a ban's or kick's end, RFC 3339), or null: none given,
 * or until lifted.
 */
export function untilOf(/** @type {unknown} */ err) {
  const until = err instanceof ApiError ? err.detail.until : null;
  return typeof until === "string" ? until : null;
}

/** What to tell the user about a failed call. */
export function messageOf(/** @type {unknown} */ err) {
  return err instanceof Error ? err.message : "";
}

/**
 * The parsed answer body: each method of `api` below declares its shape
 * (protocol.d.ts, generated from the server's types), and a 204 answers `null`.
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
      err ? /** @type {Record<string, unknown>} */ (err) : {},
    );
  }
  return data;
}

const room = (/** @type {string} */ code) => `/api/rooms/${encodeURIComponent(code)}/`;

export const api = {
  /** @returns {Promise<UserResponse>} */
  me: () => request("GET", "/api/auth/me/"),
  /**
   * @param {string} email
   * @param {string} password
   * @param {string} [display_name] empty or absent: the server picks one
   * @returns {Promise<UserResponse>}
   */
  register: (email, password, display_name) =>
    request("POST", "/api/auth/register/", { email, password, display_name: display_name || undefined }),
  /**
   * @param {string} email
   * @param {string} password
   * @returns {Promise<UserResponse>}
   */
  login: (email, password) => request("POST", "/api/auth/login/", { email, password }),
  /** @returns {Promise<null>} */
  logout: () => request("POST", "/api/auth/logout/"),
  /** @returns {Promise<TokenResponse>} */
  token: () => request("POST", "/api/auth/token/"),
  /** @returns {Promise<RoomList>} */
  publicRooms: (limit = 50) => request("GET", `/api/rooms/public/?limit=${limit}`),
  /**
   * @param {CreateRoomRequest} fields
   * @returns {Promise<RoomResponse>}
   */
  createRoom: (fields) => request("POST", "/api/rooms/", fields),
  /**
   * @param {string} code
   * @returns {Promise<RoomWithPlayback>}
   */
  room: (code) => request("GET", room(code)),
  /**
   * @param {string} code
   * @returns {Promise<JoinResponse>}
   */
  join: (code) => request("POST", `${room(code)}join/`),
  /**
   * @param {string} code
   * @param {UpdateRoomRequest} changes
   * @returns {Promise<RoomResponse>}
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
   * @returns {Promise<MessageList>}
   */
  // URLSearchParams turns the numbers into text, as the query wants them.
  messages: (code, query) =>
    request("GET", `${room(code)}messages/?${new URLSearchParams(/** @type {Record<string, any>} */ (query))}`),

  // ---- roles, host changes and moderation (protocol.md, roles) ----

  /**
   * @param {string} code
   * @returns {Promise<ParticipantList>}
   */
  participants: (code) => request("GET", `${room(code)}participants/`),
  /**
   * @param {string} code
   * @param {number} userId
   * @param {"co_host" | "viewer"} role
   * @returns {Promise<ParticipantResponse>}
   */
  setRole: (code, userId, role) => request("PUT", `${room(code)}participants/${userId}/role/`, { role }),
  /**
   * Hands the room to `userId` (the host), takes it back (the owner, naming
   * themself) or claims it during grace (a co-host, naming themself).
   *
   * @param {string} code
   * @param {number} userId
   * @returns {Promise<RoomResponse>}
   */
  setHost: (code, userId) => request("POST", `${room(code)}host/`, { user_id: userId }),
  /**
   * @param {string} code
   * @param {KickRequest} kick
   * @returns {Promise<null>}
   */
  kick: (code, kick) => request("POST", `${room(code)}kicks/`, kick),
  /**
   * @param {string} code
   * @param {BanRequest} ban
   * @returns {Promise<BanResponse>}
   */
  ban: (code, ban) => request("POST", `${room(code)}bans/`, ban),
  /**
   * @param {string} code
   * @param {MuteRequest} mute
   * @returns {Promise<ParticipantResponse>}
   */
  mute: (code, mute) => request("POST", `${room(code)}mutes/`, mute),
  /**
   * @param {string} code
   * @param {number} userId
   * @returns {Promise<ParticipantResponse>}
   */
  unmute: (code, userId) => request("DELETE", `${room(code)}mutes/${userId}/`),

  // ---- the queue (protocol.md, the queue) ----

  /**
   * @param {string} code
   * @returns {Promise<QueueList>}
   */
  queue: (code) => request("GET", `${room(code)}queue/`),
  /**
   * @param {string} code
   * @param {AddItemRequest} item
   * @returns {Promise<AddedItem>}
   */
  addItem: (code, item) => request("POST", `${room(code)}queue/`, item),
  /**
   * @param {string} code
   * @param {number} itemId
   * @returns {Promise<null>}
   */
  removeItem: (code, itemId) => request("DELETE", `${room(code)}queue/${itemId}/`),
  /**
   * @param {string} code
   * @param {number} itemId
   * @param {MoveItemRequest} move `after`: the item it goes after (null: first)
   * @returns {Promise<QueueVersion>}
   */
  moveItem: (code, itemId, move) => request("POST", `${room(code)}queue/${itemId}/move/`, move),
  /**
   * Casts (`true`) or takes back (`false`) the user's vote for an item.
   *
   * @param {string} code
   * @param {number} itemId
   * @param {boolean} vote
   * @returns {Promise<ItemResponse>}
   */
  vote: (code, itemId, vote) => request(vote ? "PUT" : "DELETE", `${room(code)}queue/${itemId}/vote/`),
  /**
   * Moves on to the next waiting item, if `ifCurrent` (null: no item) is
   * still the current one.
   *
   * @param {string} code
   * @param {number | null} ifCurrent
   * @returns {Promise<RoomResponse>}
   */
  advance: (code, ifCurrent) => request("POST", `${room(code)}queue/advance/`, { if_current: ifCurrent }),
};
