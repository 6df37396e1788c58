// The HTTP half of the protocol (docs/protocol.md): JSON in and out, errors in one shape.

/** An error answer from the server: `status` and the protocol's `code`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body) {
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
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = data && data.error;
    throw new ApiError(
      res.status,
      err ? err.code : "unexpected",
      err ? err.message : `The server answered ${res.status}.`,
    );
  }
  return data;
}

const room = (code) => `/api/rooms/${encodeURIComponent(code)}/`;

export const api = {
  me: () => request("GET", "/api/auth/me/"),
  register: (email, password, display_name) =>
    request("POST", "/api/auth/register/", { email, password, display_name: display_name || undefined }),
  login: (email, password) => request("POST", "/api/auth/login/", { email, password }),
  logout: () => request("POST", "/api/auth/logout/"),
  token: () => request("POST", "/api/auth/token/"),
  publicRooms: (limit = 50) => request("GET", `/api/rooms/public/?limit=${limit}`),
  createRoom: (fields) => request("POST", "/api/rooms/", fields),
  room: (code) => request("GET", room(code)),
  join: (code) => request("POST", `${room(code)}join/`),
  updateRoom: (code, changes) => request("PATCH", room(code), changes),
  deleteRoom: (code) => request("DELETE", room(code)),
  messages: (code, query) => request("GET", `${room(code)}messages/?${new URLSearchParams(query)}`),
};
