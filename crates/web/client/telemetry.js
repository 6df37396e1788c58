// What this page tells the room about its player (contract §9 and §10):
// whether it is ready to play (PLAYER_STATE, which the group wait listens
// to), and where it is (SYNC_REPORT, from which the server works out how far
// behind it is).

/**
 * @import { ClientMessage, PlayerStateName } from "./protocol"
 * @import { ServerClock } from "./clock.js"
 * @import { PlaybackSync } from "./player.js"
 */

// A stall shorter than this is a hiccup, not buffering: not reported.
const HICCUP_MS = 300;
// The server ignores more than 4 PLAYER_STATE a second; stay under.
const MIN_GAP_MS = 260;
const REPORT_EVERY_MS = 2000;

/**
 * Watches the video element's own events and reports its readiness:
 * `loading` while a new source loads, `ready` once it can play on,
 * `buffering` when it stalls for longer than a hiccup, `error` when the
 * browser gives up. It also owes the room a `ready` after every group wait
 * that names this page's user: the server counts a waited-for socket as not
 * ready until it says so after that WAITING.
 */
export class ReadinessReporter {
  /**
   * @param {HTMLVideoElement} video
   * @param {(msg: ClientMessage) => boolean | undefined} send
   */
  constructor(video, send) {
    this.video = video;
    this.send = send;
    /** @type {PlayerStateName | null} what the server was last told */
    this.told = null;
    this.owesReady = false;
    this.lastSentAt = -Infinity;
    /** @type {number | undefined} */
    this.pending = undefined;
    /** @type {number | undefined} */
    this.hiccup = undefined;
    // Between a new source and its first frame, not ready means loading.
    this.loading = true;
    /** @type {[string, () => void][]} */
    this.listeners = [];
    const on = (/** @type {string} */ type, /** @type {() => void} */ fn) => {
      video.addEventListener(type, fn);
      this.listeners.push([type, fn]);
    };
    on("loadstart", () => {
      this.loading = true;
      this.check();
    });
    for (const type of ["waiting", "seeking", "stalled", "emptied"]) on(type, () => this.check());
    for (const type of ["canplay", "canplaythrough", "playing", "seeked", "loadeddata"]) on(type, () => this.check());
    on("error", () => this.check());
    // Events can be missed (a seek that ends in the same task): look again now and then.
    this.timer = setInterval(() => this.check(), 1000);
  }

  stop() {
    clearInterval(this.timer);
    clearTimeout(this.pending);
    clearTimeout(this.hiccup);
    for (const [type, fn] of this.listeners) this.video.removeEventListener(type, fn);
  }

  /**
   * The player's state as the protocol names it.
   *
   * @returns {PlayerStateName}
   */
  current() {
    const v = this.video;
    if (!v.getAttribute("src")) return "ready";
    if (v.error) return "error";
    const atEnd = v.ended || (Number.isFinite(v.duration) && v.currentTime >= v.duration - 0.05);
    if (!v.seeking && (v.readyState >= 3 || (atEnd && v.readyState >= 2))) {
      this.loading = false;
      return "ready";
    }
    return this.loading ? "loading" : "buffering";
  }

  check() {
    const state = this.current();
    if (state === "buffering") {
      // Reported only when it lasts: a hiccup that ends within 300 ms is not.
      if (this.told !== "buffering" && this.hiccup === undefined) {
        this.hiccup = setTimeout(() => {
          this.hiccup = undefined;
          if (this.current() === "buffering") this.tell("buffering");
        }, HICCUP_MS);
      }
      return;
    }
    clearTimeout(this.hiccup);
    this.hiccup = undefined;
    if (state === "ready" && this.owesReady) return this.tell("ready", true);
    if (state !== this.told) this.tell(state);
  }

  /** A WAITING (or a PLAYBACK_STATE during one) named this page's user. */
  waitedFor() {
    this.owesReady = true;
    this.check();
  }

  /** A new socket: the server knows nothing of this one yet. */
  connected() {
    this.told = null;
    this.lastSentAt = -Infinity;
    this.check();
  }

  /**
   * Sends `state`, or sends it as soon as the rate limit allows (whatever
   * the state is by then).
   *
   * @param {PlayerStateName} state
   * @param {boolean} [force] send even when it is what the server was told
   */
  tell(state, force = false) {
    if (this.pending !== undefined) return;
    const wait = this.lastSentAt + MIN_GAP_MS - performance.now();
    if (wait > 0) {
      this.pending = setTimeout(() => {
        this.pending = undefined;
        this.check();
      }, wait);
      return;
    }
    if (state === this.told && !force) return;
    if (this.send({ type: "PLAYER_STATE", state })) {
      this.told = state;
      this.lastSentAt = performance.now();
      if (state === "ready") this.owesReady = false;
    }
  }
}

/**
 * Every 2 s while the room plays (and its start is not still ahead): where
 * the player is at an instant of the server's clock, so the server can work
 * out this page's drift itself.
 */
export class SyncReporter {
  /**
   * @param {() => PlaybackSync | null | undefined} sync the page's player
   * @param {ServerClock} clock
   * @param {(msg: ClientMessage) => boolean | undefined} send
   */
  constructor(sync, clock, send) {
    this.timer = setInterval(() => {
      const player = sync();
      if (!player || !player.model || !player.model.is_playing || player.held() || !clock.known()) return;
      const v = player.video;
      if (v.readyState < 1) return;
      // Read together: the position at this instant of the server's clock.
      const at = Math.round(clock.now());
      const time = v.currentTime;
      send({ type: "SYNC_REPORT", time, at, rtt_ms: Math.round(clock.rtt()), state: player.reportedState() });
    }, REPORT_EVERY_MS);
  }

  stop() {
    clearInterval(this.timer);
  }
}
