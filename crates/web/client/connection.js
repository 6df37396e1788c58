// The room socket: a fresh token per connect, reconnects with backoff.

import { api } from "./api.js";
import { localNow } from "./clock.js";

const MAX_BACKOFF_MS = 15000;
const PING_EVERY_MS = 20000;
const FIRST_PINGS = 5;

/**
 * Calls `onMessage(msg)` for each server message, `onStatus(text)` when the
 * link changes ("connecting", "connected", "reconnecting in 3 s"), `onOpen()`
 * after every (re)connect and `onEnd(reason)` when reconnecting is pointless:
 * "deleted", "host_timeout", "gone", "signed_out" or "forbidden".
 */
export class RoomConnection {
  constructor(code, { onMessage, onStatus, onOpen, onEnd }) {
    this.code = code;
    this.handlers = { onMessage, onStatus, onOpen, onEnd };
    this.socket = null;
    this.attempt = 0;
    this.stopped = false;
    this.timers = new Set();
    this.wake = () => this.retryNow();
    window.addEventListener("online", this.wake);
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.wake);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  async connect() {
    if (this.stopped) return;
    this.handlers.onStatus(this.attempt ? "reconnecting…" : "connecting…");
    let token;
    try {
      ({ token } = await api.token());
    } catch (err) {
      if (err.status === 401) return this.end("signed_out");
      return this.retry();
    }
    if (this.stopped) return;
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
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && typeof msg.type === "string") this.handlers.onMessage(msg);
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped || ev.code === 4001 || ev.code === 4002) return;
      if (opened) this.retry();
      else this.diagnose();
    };
  }

  ping() {
    if (this.send({ type: "PING", client_time: localNow() })) {
      clearTimeout(this.pingTimer);
      this.timers.delete(this.pingTimer);
      this.pingTimer = this.later(PING_EVERY_MS, () => this.ping());
    }
  }

  // A refused upgrade shows up only as a close without a reason; ask over
  // HTTP why, so a deleted or closed room ends instead of retrying forever.
  async diagnose() {
    try {
      const { room } = await api.room(this.code);
      if (room.status === "closed") return this.end("host_timeout");
    } catch (err) {
      if (err.status === 404) return this.end("gone");
      if (err.status === 401) return this.end("signed_out");
      if (err.status === 403) return this.end("forbidden");
    }
    this.retry();
  }

  retry() {
    if (this.stopped) return;
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.attempt += 1;
    this.handlers.onStatus(`reconnecting in ${Math.ceil(delay / 1000)} s…`);
    this.retryTimer = this.later(delay, () => this.connect());
  }

  retryNow() {
    if (this.stopped || this.socket || !this.retryTimer || !this.timers.has(this.retryTimer)) return;
    clearTimeout(this.retryTimer);
    this.timers.delete(this.retryTimer);
    this.connect();
  }

  end(reason) {
    this.stop();
    this.handlers.onEnd(reason);
  }
}
