// Keeps a <video> on the room's timeline.
//
// The room's playback is a model — {is_playing, time, server_time, rate,
// version} — that the server owns. Pages without control chase the model:
// small drift is absorbed by nudging the playback rate, large drift by one
// seek. A controller (the host, a co-host, anyone when the room lets everyone
// control) also sends what its person does: play / pause / seek become PLAY /
// PAUSE / SEEK, the speed menu RATE. The host's video *is* the model (it
// leads): it is moved only when the model changes from outside (another
// controller, a restore after grace, a group wait's held start) and trimmed
// by its rate when a few ms off, and when it stalls it tells the room where
// it really is. Other controllers chase the model like viewers, so one
// co-host's buffering never pulls the room back.

/**
 * @import { ClientMessage } from "./protocol"
 * @import { ServerClock } from "./clock.js"
 */

import { localNow } from "./clock.js";

/**
 * Where the room's playback is: `time` seconds as of `server_time` (ms since
 * the Unix epoch), advancing `rate` seconds per second while playing.
 * `version` is the server's playback version, when it sends one.
 *
 * @typedef {object} Model
 * @property {boolean} is_playing
 * @property {number} time
 * @property {number} server_time
 * @property {number} rate
 * @property {number | null} version
 */

const TICK_MS = 250;
const SEEK_BEYOND = 1.0; // seconds of drift a seek corrects; below, the rate does
// A drift is trimmed away over about this many seconds of the room's time,
// in steps of 0.25 % of the rate (so the rate is not touched every tick, and
// a drift under 2 ms leaves it alone): there is no dead band that a viewer
// could rest at the edge of.
const TRIM_OVER = 1.5;
const TRIM_STEP = 0.0025;
const MAX_NUDGE = 0.1; // playback rate stays within ±10 % of the room's, hard to notice
// A paused (or held) video rests on the room's own position, not near it.
const EXACT = 0.001;
const HOST_RESYNC = 1.0; // the host's own stall that re-announces its position
const OWN_SEEK_WITHIN = 0.3; // seconds from where this page's own seek was going
// One corrective seek per change of the room's playback; another for the
// same change only after this long (a long stall of this page's own).
const RESEEK_AFTER_MS = 5000;
// How long a seek takes before the video moves again, until one is measured.
const FIRST_SEEK_MS = 50;
export const MIN_RATE = 0.25;
export const MAX_RATE = 4;

export class PlaybackSync {
  /**
   * @param {object} options
   * @param {HTMLVideoElement} options.video the element to drive
   * @param {ServerClock} options.clock the server's clock
   * @param {boolean} options.controls whether this page drives the room
   *   (holds `control_playback`); {@link setControls} changes it
   * @param {boolean} options.leads whether this page is the host's, whose
   *   video is the model
   * @param {(msg: ClientMessage) => void} options.send sends a client
   *   message (controllers only)
   * @param {() => void} [options.onBlocked] called when the browser refuses
   *   sound or playback until the user clicks
   */
  constructor({ video, clock, controls, leads, send, onBlocked }) {
    this.video = video;
    this.clock = clock;
    this.controls = controls;
    this.leads = controls && leads;
    // Where a seek this page made itself is going: a `seeked` that lands
    // there is not the person's. (A person's seek made meanwhile lands
    // elsewhere, and still counts.)
    /** @type {number | null} */
    this.ownSeekTo = null;
    // When that seek began (page clock), to learn how long seeks take.
    this.ownSeekStarted = 0;
    this.seekMs = FIRST_SEEK_MS;
    this.seeksTimed = 0;
    // Corrective seeks left for the current model, and when the last was.
    this.seekBudget = 1;
    this.lastSeekAt = -Infinity;
    this.forceSeek = false;
    // A pause this page made (holding for a start in the future, following
    // the room): its `pause` event is not the person's.
    this.ownPause = false;
    /** @type {number | undefined} */
    this.wakeTimer = undefined;
    // The speed this page last gave the video (the room's rate, nudged when
    // chasing): a `ratechange` to it is not the person's choice.
    this.ownSpeed = video.playbackRate;
    this.send = send;
    this.onBlocked = onBlocked;
    /** @type {Model | null} */
    this.model = null;
    this.blocked = false;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    /** @type {[string, () => void][]} */
    this.listeners = [];
    const on = (/** @type {string} */ type, /** @type {() => void} */ fn) => {
      video.addEventListener(type, fn);
      this.listeners.push([type, fn]);
    };
    on("loadedmetadata", () => this.follow());
    // Always listening, acting only while this page controls: capabilities
    // change under a live video (appointed co-host, handed the room).
    on("play", () => this.controls && this.ownPlayed());
    on("pause", () => {
      const ours = this.ownPause;
      this.ownPause = false;
      if (!ours && this.controls) this.ownPaused();
    });
    on("seeked", () => {
      const ours = this.ownSeekTo !== null && Math.abs(video.currentTime - this.ownSeekTo) < OWN_SEEK_WITHIN;
      if (ours) this.learnSeek(localNow() - this.ownSeekStarted);
      this.ownSeekTo = null;
      if (!ours && this.controls) this.ownSeeked();
      else this.follow();
    });
    on("ratechange", () => this.controls && this.ownRateChanged());
  }

  /**
   * Whether this page drives the room from now on. Taking control starts
   * from the room's model, so nothing is sent until the person acts.
   *
   * @param {boolean} controls
   * @param {boolean} leads whether this is the host's page
   */
  setControls(controls, leads) {
    if (controls === this.controls && leads === this.leads) return;
    this.controls = controls;
    this.leads = controls && leads;
    this.follow();
  }

  stop() {
    clearInterval(this.timer);
    clearTimeout(this.wakeTimer);
    for (const [type, fn] of this.listeners) this.video.removeEventListener(type, fn);
  }

  /**
   * Where the room is, in seconds, per the model: now, or at the server
   * time `at`. A start in the future holds at `time` until it comes.
   *
   * @param {number} [at] server time in ms
   */
  expected(at = this.clock.now()) {
    const m = this.model;
    if (!m) return 0;
    const t = m.is_playing ? m.time + (m.rate * Math.max(0, at - m.server_time)) / 1000 : m.time;
    const d = this.video.duration;
    return Number.isFinite(d) ? Math.min(Math.max(t, 0), d) : Math.max(t, 0);
  }

  /** Whether the room plays but its start is still ahead (a group wait's end). */
  held() {
    const m = this.model;
    return m !== null && m.is_playing && this.clock.now() < m.server_time;
  }

  /**
   * A new model from the server: PLAYBACK_STATE, PLAY, PAUSE, SEEK or RATE.
   * Each allows one corrective seek; `resync` (the server found this page
   * too far off) makes that seek happen whatever the drift looks like here.
   *
   * @param {Model} model
   * @param {{ resync?: boolean }} [options]
   */
  apply(model, { resync = false } = {}) {
    this.model = { ...model };
    this.seekBudget = 1;
    this.forceSeek = resync;
    this.follow();
  }

  /** The room's speed, 1 before any model. */
  rate() {
    return this.model ? this.model.rate : 1;
  }

  /** What a sync report says the player is doing. */
  reportedState() {
    const v = this.video;
    if (v.paused) return "paused";
    return v.seeking || v.readyState < 3 ? "buffering" : "playing";
  }

  /** The user clicked to allow playback after the browser refused it. */
  unblock() {
    this.blocked = false;
    this.follow();
  }

  tick() {
    if (this.leads && !this.held()) this.controllerCheck();
    else this.follow();
  }

  /** @param {number} ms how long one of this page's seeks took */
  learnSeek(ms) {
    if (!(ms >= 0)) return;
    // The first measurement replaces the guess; later ones move it gently.
    this.seekMs = Math.min(1500, this.seeksTimed++ ? 0.6 * this.seekMs + 0.4 * ms : ms);
  }

  // Bring the video to the model. Also used by a controller to take over a
  // model it did not make (its first state, another controller's command, a
  // restore after grace).
  follow() {
    const v = this.video;
    if (!this.model || v.readyState < 1 || v.seeking) return;
    const m = this.model;
    const now = this.clock.now();
    const rate = m.rate;
    const target = this.expected(now);
    const drift = v.currentTime - target;
    const hold = m.is_playing && now < m.server_time;
    if (!m.is_playing || hold) {
      // Paused, or a start that is still ahead: rest on the room's frame.
      if (!v.paused) {
        this.ownPause = true;
        v.pause();
      }
      this.setSpeed(rate);
      if ((Math.abs(drift) > EXACT || this.forceSeek) && this.maySeek()) this.seekTo(target);
      if (hold) {
        clearTimeout(this.wakeTimer);
        this.wakeTimer = setTimeout(() => this.follow(), Math.max(0, m.server_time - now));
      }
      return;
    }
    if (Math.abs(drift) > SEEK_BEYOND || this.forceSeek) {
      this.setSpeed(rate);
      if (this.maySeek()) {
        // Aim where the room will be when the seek is done, not where it
        // was when it began; the rate trims whatever is left.
        this.seekTo(this.expected(now + this.seekMs));
      } else if (!this.leads) {
        this.setSpeed(rate * (1 - Math.sign(drift) * MAX_NUDGE));
      }
    } else {
      this.trim(drift);
    }
    if (v.paused && !v.ended && !this.blocked) this.play();
  }

  // At most one corrective seek per change of the room's model (no seek
  // chasing a seek); another only after a long while.
  maySeek() {
    const now = localNow();
    if (this.seekBudget > 0 || this.forceSeek || now - this.lastSeekAt > RESEEK_AFTER_MS) {
      this.seekBudget = Math.max(0, this.seekBudget - 1);
      this.forceSeek = false;
      this.lastSeekAt = now;
      return true;
    }
    return false;
  }

  /**
   * Trims continuously: the rate leans against the drift in proportion.
   *
   * @param {number} drift seconds ahead of the model
   */
  trim(drift) {
    const rate = this.rate();
    const lean = Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, drift / (TRIM_OVER * rate)));
    this.setSpeed(rate * (1 - Math.round(lean / TRIM_STEP) * TRIM_STEP));
  }

  /** @param {number} time a seek of this page's own, not the person's */
  seekTo(time) {
    this.ownSeekTo = time;
    this.ownSeekStarted = localNow();
    this.video.currentTime = time;
  }

  // Changes the video's speed only when it differs: every change fires a
  // `ratechange`, which a controller's page would otherwise have to tell
  // apart from the person's own.
  /** @param {number} rate */
  setSpeed(rate) {
    this.ownSpeed = rate;
    if (Math.abs(this.video.playbackRate - rate) > 1e-6) this.video.playbackRate = rate;
  }

  play() {
    const v = this.video;
    v.play().catch((err) => {
      if (err && err.name === "NotAllowedError") {
        if (!v.muted) {
          // Browsers allow muted autoplay: keep in sync, let the user unmute.
          v.muted = true;
          this.onBlocked?.();
          this.play();
          return;
        }
        // Never retry in a loop: wait for a click.
        this.blocked = true;
        this.onBlocked?.();
      }
    });
  }

  /**
   * "Start now" during a group wait: a controller's PLAY ends it, and the
   * server's PLAY that follows (to this page too) starts every page at once,
   * so the video itself waits for that.
   */
  startNow() {
    if (this.controls && this.model && !this.model.is_playing) this.announce("PLAY", true);
  }

  // A controller's own events. Each compares with the model, so the page's
  // programmatic moves (which fire the same events) send nothing.
  ownPlayed() {
    if (this.model && !this.model.is_playing) this.announce("PLAY", true);
  }

  ownPaused() {
    if (this.video.ended) return;
    if (this.model && this.model.is_playing) this.announce("PAUSE", false);
  }

  ownSeeked() {
    if (!this.model) return;
    if (Math.abs(this.video.currentTime - this.expected()) > 0.3) {
      this.announce("SEEK", this.model.is_playing);
    }
  }

  // The browser's own speed menu (in the native controls) is a RATE too.
  ownRateChanged() {
    const rate = this.video.playbackRate;
    if (!this.model || Math.abs(rate - this.ownSpeed) < 1e-6 || Math.abs(rate - this.model.rate) < 1e-6) return;
    if (rate >= MIN_RATE && rate <= MAX_RATE) this.setRate(rate);
    else this.setSpeed(this.model.rate);
  }

  // A controller whose video stalled (buffering) tells the room where it
  // really is. Small drift (a held start that began a few ms late, the
  // clock's own wander) it trims like a viewer: every page then converges
  // on the model, the host's included.
  controllerCheck() {
    const v = this.video;
    if (!this.model || !this.model.is_playing || v.paused || v.seeking || v.readyState < 3) return;
    const drift = v.currentTime - this.expected();
    if (Math.abs(drift) > HOST_RESYNC) {
      this.setSpeed(this.model.rate);
      this.announce("SEEK", true);
    } else {
      this.trim(drift);
    }
  }

  /**
   * The speed menu: the room plays at `rate` from where it is now.
   *
   * @param {number} rate 0.25 to 4
   */
  setRate(rate) {
    if (!this.controls || !this.model) return;
    const v = this.video;
    const time = v.readyState >= 1 ? v.currentTime : this.expected();
    const ifVersion = this.model.version;
    // `at`: the server dates the change when it was made here, not when it
    // arrives, so this page's upload delay does not put everyone behind.
    const at = this.clock.now();
    this.model = { ...this.model, time, server_time: at, rate, version: next(ifVersion) };
    this.setSpeed(rate);
    this.send(ifVersion === null ? { type: "RATE", rate, at } : { type: "RATE", rate, at, if_version: ifVersion });
  }

  /**
   * Tells the room what this controller just did. The server sends no echo
   * to the sender, so the model moves here too, a version ahead: the next
   * command names the version this one will have made, and a stale one (two
   * controllers at once) comes back as ERROR stale_version.
   *
   * @param {"PLAY" | "PAUSE" | "SEEK"} type
   * @param {boolean} isPlaying the model from now on
   */
  announce(type, isPlaying) {
    if (!this.model) return;
    const time = Math.min(Math.max(this.video.currentTime, 0), 1_000_000);
    const ifVersion = this.model.version;
    const at = this.clock.now();
    this.model = { ...this.model, is_playing: isPlaying, time, server_time: at, version: next(ifVersion) };
    this.send(ifVersion === null ? { type, time, at } : { type, time, at, if_version: ifVersion });
  }
}

/** @param {number | null} version */
function next(version) {
  return version === null ? null : version + 1;
}
