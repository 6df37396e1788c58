// The room socket: a fresh token per connect, reconnects with backoff.

import { api, codeOf, statusOf, untilOf } from "./api.js";
import { localNow } from "./clock.js";

/** @import { ClientMessage, ServerMessage } from "./protocol" */

/**
 * Why a connection gave up for good: the room closed ("deleted",
 * "host_timeout"), is gone, we may no longer be in it ("forbidden"), or we
 * were removed: "kicked" and "banned" from the close codes 4003 / 4004,
 * "refused" when a join says we are banned (its `until` in the detail).
 *
 * @typedef {"deleted" | "host_timeout" | "gone" | "signed_out" | "forbidden" | "kicked" | "banned" | "refused"} EndReason
 */

/**
 * What a refused join said: when the ban or kick lapses (null: until lifted).
 *
 * @typedef {{ until?: string | null }} EndDetail
 */

/**
 * @typedef {object} ConnectionHandlers
 * @property {(msg: ServerMessage) => void} onMessage
 * @property {(text: string) => void} onStatus
 * @property {() => void} onOpen
 * @property {(reason: EndReason, detail?: EndDetail) => void} onEnd
 */

// The server's close codes after which reconnecting is pointless.
/** @type {Record<number, EndReason | undefined>} */
const FINAL_CLOSES = { 4001: "deleted", 4002: "host_timeout", 4003: "kicked", 4004: "banned" };

const MAX_BACKOFF_MS = 15000;
const PING_EVERY_MS = 10000;
const FIRST_PINGS = 5;

/**
 * Calls `onMessage(msg)` for each server message, `onStatus(text)` when the
 * link changes ("connecting", "connected", "reconnecting in 3 s"), `onOpen()`
 * after every (re)connect and `onEnd(reason)` when reconnecting is pointless
 * (an {@link EndReason}).
 */
export class RoomConnection {
  /**
   * @param {string} code the room's code
   * @param {ConnectionHandlers} handlers
   */
  constructor(code, { onMessage, onStatus, onOpen, onEnd }) {
    this.code = code;
    this.handlers = { onMessage, onStatus, onOpen, onEnd };
    /** @type {WebSocket | null} */
    this.socket = null;
    this.attempt = 0;
    this.stopped = false;
    this.suspended = false;
    this.generation = 0;
    /** @type {Set<number>} */
    this.timers = new Set();
    /** @type {number | undefined} */
    this.pingTimer = undefined;
    /** @type {number | undefined} */
    this.retryTimer = undefined;
    this.wake = () => this.retryNow();
    window.addEventListener("online", this.wake);
    // A page put into the back/forward cache is frozen, not closed: its
    // socket would stay open and keep its user (a host!) present in a room
    // they left. So leaving the page closes the socket, and a page restored
    // from the cache connects again with a fresh token.
    this.hide = () => this.suspend();
    this.show = (/** @type {PageTransitionEvent} */ e) => {
      if (e.persisted) this.resume();
    };
    window.addEventListener("pagehide", this.hide);
    window.addEventListener("pageshow", this.show);
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.wake);
    window.removeEventListener("pagehide", this.hide);
    window.removeEventListener("pageshow", this.show);
    this.closeNow();
  }

  // Closes the socket and forgets every pending timer (retries, pings).
  closeNow() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000);
  }

  /** The page is being left: close cleanly, so the server sees us go. */
  suspend() {
    if (this.stopped || this.suspended) return;
    this.suspended = true;
    this.generation += 1;
    this.closeNow();
    this.handlers.onStatus("disconnected");
  }

  /** The page came back from the back/forward cache: connect afresh. */
  resume() {
    if (this.stopped || !this.suspended) return;
    this.suspended = false;
    this.attempt = 0;
    this.connect();
  }

  /**
   * Sends `message` if the socket is open; false when it is not.
   *
   * @param {ClientMessage} message
   */
  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  /**
   * @param {number} ms
   * @param {() => void} fn
   */
  later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  async connect() {
    if (this.stopped || this.suspended) return;
    // A suspend while the token is on its way makes this attempt stale.
    const generation = this.generation;
    this.handlers.onStatus(this.attempt ? "reconnecting…" : "connecting…");
    let token;
    try {
      ({ token } = await api.token());
    } catch (err) {
      if (generation !== this.generation) return;
      if (statusOf(err) === 401) return this.end("signed_out");
      return this.retry();
    }
    if (this.stopped || this.suspended || generation !== this.generation) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/ws/rooms/${encodeURIComponent(this.code)}/?token=${encodeURIComponent(token)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.handlers.onStatus("connected");
      this.handlers.onOpen();
      for (let i = 0; i < FIRST_PINGS; i++) this.later(i * 300, () => this.ping());
    };
    socket.onmessage = (ev) => {
      /** @type {any} */
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      // Anything with a `type` goes on; the view ignores types it does not know.
      if (msg && typeof msg.type === "string") this.handlers.onMessage(/** @type {ServerMessage} */ (msg));
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped || this.suspended) return;
      const final = FINAL_CLOSES[ev.code];
      // 4001 / 4002 follow a ROOM_CLOSED the page has shown already; a
      // removal (4003 / 4004) ends here too, whether or not its REMOVED
      // arrived: a removed user is never reconnected.
      if (final) {
        if (final === "kicked" || final === "banned") this.end(final);
        return;
      }
      if (opened) this.retry();
      else this.diagnose();
    };
  }

  ping() {
    if (this.send({ type: "PING", client_time: localNow() })) {
      if (this.pingTimer !== undefined) {
        clearTimeout(this.pingTimer);
        this.timers.delete(this.pingTimer);
      }
      this.pingTimer = this.later(PING_EVERY_MS, () => this.ping());
    }
  }

  // A refused upgrade shows up only as a close without a reason; ask over
  // HTTP why, so a deleted or closed room ends instead of retrying forever.
  async diagnose() {
    try {
      const { room } = await api.room(this.code);
      if (room.status === "closed") return this.end("host_timeout");
      // A banned (or kicked) user's upgrade is refused while the room
      // itself answers: the join says so, and until when. For anyone
      // else joining again changes nothing (it is idempotent).
      await api.join(this.code);
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return this.end("gone");
      if (status === 401) return this.end("signed_out");
      if (status === 403 && codeOf(err) === "banned") {
        return this.end("refused", { until: untilOf(err) });
      }
      if (status === 403) return this.end("forbidden");
    }
    this.retry();
  }

  retry() {
    if (this.stopped || this.suspended) return;
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.attempt += 1;
    this.handlers.onStatus(`reconnecting in ${Math.ceil(delay / 1000)} s…`);
    this.retryTimer = this.later(delay, () => this.connect());
  }

  retryNow() {
    if (this.stopped || this.suspended || this.socket || !this.retryTimer || !this.timers.has(this.retryTimer)) return;
    clearTimeout(this.retryTimer);
    this.timers.delete(this.retryTimer);
    this.connect();
  }

  /**
   * @param {EndReason} reason
   * @param {EndDetail} [detail]
   */
  end(reason, detail) {
    this.stop();
    this.handlers.onEnd(reason, detail);
  }
}
