// Keeps a <video> on the room's timeline.
//
// The room's playback is a model — {is_playing, time, server_time} — that the
// server owns. Viewers chase the model: small drift is absorbed by nudging the
// playback rate, large drift by one seek. The host's video *is* the model:
// its play / pause / seek become PLAY / PAUSE / SEEK, and it is moved only
// when the model changes from outside (a restore after grace, another tab).

/**
 * @import { ClientMessage, Playback } from "./protocol"
 * @import { ServerClock } from "./clock.js"
 */

const TICK_MS = 250;
const SEEK_BEYOND = 1.0; // seconds of drift a seek corrects; below, the rate does
const IGNORE_BELOW = 0.04;
const MAX_NUDGE = 0.1; // playback rate stays within 0.9–1.1, hard to notice
const HOST_RESYNC = 1.0; // the host's own stall that re-announces its position

export class PlaybackSync {
  /**
   * @param {object} options
   * @param {HTMLVideoElement} options.video the element to drive
   * @param {ServerClock} options.clock the server's clock
   * @param {boolean} options.isHost whether this page drives the room
   * @param {(msg: ClientMessage) => void} options.send sends a client
   *   message (host only)
   * @param {() => void} [options.onBlocked] called when the browser refuses
   *   sound or playback until the user clicks
   */
  constructor({ video, clock, isHost, send, onBlocked }) {
    this.video = video;
    this.clock = clock;
    this.isHost = isHost;
    this.send = send;
    this.onBlocked = onBlocked;
    /** @type {Playback | null} */
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
    if (isHost) {
      on("play", () => this.hostPlayed());
      on("pause", () => this.hostPaused());
      on("seeked", () => this.hostSeeked());
    }
  }

  stop() {
    clearInterval(this.timer);
    for (const [type, fn] of this.listeners) this.video.removeEventListener(type, fn);
  }

  /** Where the room is now, in seconds, per the model. */
  expected() {
    const m = this.model;
    if (!m) return 0;
    const t = m.is_playing ? m.time + (this.clock.now() - m.server_time) / 1000 : m.time;
    const d = this.video.duration;
    return Number.isFinite(d) ? Math.min(Math.max(t, 0), d) : Math.max(t, 0);
  }

  /**
   * A new model from the server: PLAYBACK_STATE, PLAY, PAUSE or SEEK.
   *
   * @param {Playback} model
   */
  apply(model) {
    this.model = { is_playing: model.is_playing, time: model.time, server_time: model.server_time };
    this.follow();
  }

  /** The user clicked to allow playback after the browser refused it. */
  unblock() {
    this.blocked = false;
    this.follow();
  }

  tick() {
    if (this.isHost) this.hostCheck();
    else this.follow();
  }

  // Bring the video to the model. Also used by the host to take over a model
  // it did not make (its first state, a restore after grace).
  follow() {
    const v = this.video;
    if (!this.model || v.readyState < 1 || v.seeking) return;
    const target = this.expected();
    const drift = v.currentTime - target;
    if (!this.model.is_playing) {
      if (!v.paused) v.pause();
      v.playbackRate = 1;
      if (Math.abs(drift) > IGNORE_BELOW) v.currentTime = target;
      return;
    }
    if (Math.abs(drift) > SEEK_BEYOND) {
      v.playbackRate = 1;
      v.currentTime = target;
    } else if (!this.isHost && Math.abs(drift) > IGNORE_BELOW) {
      // Catch up over about two seconds.
      v.playbackRate = 1 - Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, drift / 2));
    } else {
      v.playbackRate = 1;
    }
    if (v.paused && !v.ended && !this.blocked) this.play();
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

  // The host's own events. Each compares with the model, so the host's
  // programmatic moves (which fire the same events) send nothing.
  hostPlayed() {
    if (this.model && !this.model.is_playing) this.announce("PLAY", true);
  }

  hostPaused() {
    if (this.video.ended) return;
    if (this.model && this.model.is_playing) this.announce("PAUSE", false);
  }

  hostSeeked() {
    if (!this.model) return;
    if (Math.abs(this.video.currentTime - this.expected()) > 0.3) {
      this.announce("SEEK", this.model.is_playing);
    }
  }

  // A host whose video stalled (buffering) tells the room where it really is.
  hostCheck() {
    const v = this.video;
    if (!this.model || !this.model.is_playing || v.paused || v.seeking || v.readyState < 3) return;
    if (Math.abs(v.currentTime - this.expected()) > HOST_RESYNC) this.announce("SEEK", true);
  }

  /**
   * @param {"PLAY" | "PAUSE" | "SEEK"} type
   * @param {boolean} isPlaying the model from now on
   */
  announce(type, isPlaying) {
    const time = Math.min(Math.max(this.video.currentTime, 0), 1_000_000);
    this.model = { is_playing: isPlaying, time, server_time: this.clock.now() };
    this.send({ type, time });
  }
}
