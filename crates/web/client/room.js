// The room page: video, participants, chat, grace banner, host settings.

import { api, messageOf, statusOf } from "./api.js";
import { ServerClock } from "./clock.js";
import { RoomConnection } from "./connection.js";
import { h, replace, field, errorLine, clockTime } from "./dom.js";
import { PlaybackSync } from "./player.js";

/**
 * @import { ChatMessage, HostStatus, Playback, PresentUser, Room, ServerMessage, User } from "./protocol"
 * @import { EndReason } from "./connection.js"
 */

/**
 * Why the room page ended: what the socket said, or a code that never existed.
 *
 * @typedef {EndReason | "not_found"} Ending
 */

/** @type {Partial<Record<Ending, string>>} */
const ENDINGS = {
  deleted: "The host deleted this room.",
  host_timeout: "The host didn't come back in time, so the room closed.",
  gone: "This room no longer exists: the host may have deleted it.",
  forbidden: "You are not a participant of this room any more.",
};

// What the browser's MediaError codes mean to a person, and what to do.
/** @type {Record<number, string | undefined>} */
const MEDIA_PROBLEMS = {
  // MEDIA_ERR_NETWORK
  2: "The video stopped loading: the server it is on can't be reached, or it stopped sending it.",
  // MEDIA_ERR_DECODE
  3: "The video file is damaged, or it uses a format this browser can't decode.",
  // MEDIA_ERR_SRC_NOT_SUPPORTED: a web page's address, or a format the browser can't play.
  4: "This link can't be played: it doesn't lead to a video file this browser can open. It may be a web page (a video site's page, say) rather than the video itself.",
};
const WORKING_LINK = "A link that works is a direct link to an MP4 or WebM file: one that plays on its own when opened in a browser tab.";

/**
 * Mounts the room `code` into `root` for `me`; returns an unmount function.
 *
 * @param {HTMLElement} root
 * @param {string} code
 * @param {User} me
 * @returns {() => void}
 */
export function mountRoom(root, code, me) {
  const view = new RoomView(root, code, me);
  view.enter();
  return () => view.leave();
}

class RoomView {
  // Declared here for the checker, filled later (tsconfig.json turns off
  // strictPropertyInitialization for this). Set once joined, before the first
  // render: nothing reads them earlier.
  /** @type {Room} */ room;
  /** @type {boolean} */ isHost;
  // Absent until there is one.
  /** @type {RoomConnection | undefined} */ connection;
  /** @type {PlaybackSync | null | undefined} */ sync;
  /** @type {Playback | null | undefined} */ model;
  /** @type {number | null | undefined} */ graceDeadline;

  // The page's parts, built by render() (and renderSettings() for the host).
  /** @type {HTMLHeadingElement} */ titleEl;
  /** @type {HTMLSpanElement} */ statusEl;
  /** @type {HTMLDivElement} */ bannerEl;
  /** @type {HTMLDivElement} */ waitingEl;
  /** @type {HTMLVideoElement} */ video;
  /** @type {HTMLDivElement} */ mediaErrorEl;
  /** @type {HTMLDivElement} */ stageEl;
  /** @type {HTMLButtonElement} */ unmuteEl;
  /** @type {HTMLUListElement} */ peopleEl;
  /** @type {HTMLOListElement} */ chatList;
  /** @type {HTMLInputElement} */ chatInput;
  /** @type {HTMLParagraphElement} */ chatError;
  /** @type {HTMLParagraphElement} */ chatNote;
  /** @type {HTMLDetailsElement | null} */ settingsEl;
  /** @type {HTMLInputElement} */ nameInput;
  /** @type {HTMLInputElement} */ urlInput;
  /** @type {HTMLInputElement} */ privateInput;
  /** @type {HTMLInputElement} */ chatToggle;
  /** @type {HTMLParagraphElement} */ settingsError;
  /** @type {HTMLParagraphElement} */ settingsSaved;
  /** @type {HTMLFormElement | undefined} */ settingsForm;
  /** @type {HTMLDialogElement} */ confirmDialog;

  /**
   * @param {HTMLElement} root
   * @param {string} code
   * @param {User} me
   */
  constructor(root, code, me) {
    this.root = root;
    this.code = code.toUpperCase();
    this.me = me;
    this.clock = new ServerClock();
    /** @type {Map<number, ChatMessage>} */
    this.messages = new Map();
    this.lastMessageId = 0;
    /** @type {Map<number, PresentUser>} */
    this.people = new Map();
    // "online", "grace" or "offline" (the host has not connected yet).
    /** @type {HostStatus | null} */
    this.hostStatus = null;
    /** @type {number | undefined} */
    this.graceTimer = undefined;
    this.left = false;
  }

  async enter() {
    replace(this.root, h("p", { class: "muted" }, "Joining the room…"));
    let joined;
    try {
      joined = await api.join(this.code);
    } catch (err) {
      if (statusOf(err) === 404) return this.end("not_found");
      if (statusOf(err) === 410) return this.end("host_timeout");
      replace(this.root, h("p", { class: "error", role: "alert" }, messageOf(err)));
      return;
    }
    if (this.left) return;
    this.room = joined.room;
    this.isHost = joined.participant.role === "host";
    this.render();
    await this.fillGap();
    if (this.left) return;
    this.connection = new RoomConnection(this.code, {
      onMessage: (msg) => this.onMessage(msg),
      onStatus: (text) => (this.statusEl.textContent = text),
      onOpen: () => this.fillGap(),
      onEnd: (reason) => this.end(reason),
    });
    this.connection.start();
  }

  leave() {
    this.left = true;
    this.connection?.stop();
    this.sync?.stop();
    clearInterval(this.graceTimer);
  }

  // ---- layout -------------------------------------------------------------

  render() {
    document.title = `${this.room.name} · watchparty`;
    this.titleEl = h("h1", { id: "room-title" }, this.room.name);
    this.statusEl = h("span", { class: "link-status", "aria-live": "polite" }, "");
    this.bannerEl = h("div", { class: "banner", role: "status", hidden: true, id: "grace-banner" });
    this.waitingEl = h("div", { class: "banner waiting", role: "status", hidden: true, id: "host-waiting" });
    this.video = h("video", {
      id: "player",
      playsinline: true,
      preload: "auto",
      controls: this.isHost,
      "aria-label": "Room video",
    });
    this.mediaErrorEl = h("div", { class: "media-error", role: "alert", id: "media-error", hidden: true });
    this.video.addEventListener("error", () => this.mediaFailed());
    this.stageEl = h("div", { class: "stage" });
    this.unmuteEl = h(
      "button",
      { type: "button", class: "overlay-button", hidden: true, onclick: () => this.unmute() },
      "Click to turn the sound on",
    );
    this.peopleEl = h("ul", { class: "people", id: "participants", "aria-label": "People in the room" });
    this.chatList = h("ol", { class: "chat-log", id: "chat-log", "aria-live": "polite", "aria-label": "Chat" });
    this.chatInput = h("input", {
      id: "chat-input",
      type: "text",
      maxlength: 2000,
      autocomplete: "off",
      placeholder: "Say something",
    });
    this.chatError = errorLine();
    this.chatError.id = "chat-error";
    const chatForm = h(
      "form",
      { class: "chat-form", onsubmit: (/** @type {SubmitEvent} */ e) => this.sendChat(e) },
      h("label", { for: "chat-input", class: "visually-hidden" }, "Chat message"),
      this.chatInput,
      h("button", { type: "submit" }, "Send"),
    );
    const link = `${location.origin}/r/${this.code}`;
    const share = h(
      "div",
      { class: "share" },
      h("span", {}, "Invite: "),
      h("input", { readonly: true, value: link, "aria-label": "Invite link", onfocus: (/** @type {FocusEvent & { target: HTMLInputElement }} */ e) => e.target.select() }),
      h("button", { type: "button", onclick: (/** @type {MouseEvent & { target: HTMLButtonElement }} */ e) => copy(link, e.target) }, "Copy link"),
    );
    const side = h(
      "aside",
      { class: "side" },
      h("section", { "aria-labelledby": "people-h" }, h("h2", { id: "people-h" }, "Watching"), this.peopleEl),
      h(
        "section",
        { class: "chat", "aria-labelledby": "chat-h" },
        h("h2", { id: "chat-h" }, "Chat"),
        this.chatList,
        (this.chatNote = h("p", { class: "muted", hidden: this.room.is_chat_enabled }, "The host turned chat off.")),
        chatForm,
        this.chatError,
      ),
    );
    this.settingsEl = this.isHost ? this.renderSettings() : null;
    replace(
      this.root,
      h(
        "div",
        { class: "room" },
        h(
          "header",
          { class: "room-head" },
          this.titleEl,
          h("p", { class: "muted" }, this.isHost ? "You are the host. " : `Hosted by ${this.room.host.display_name}. `, this.statusEl),
          share,
        ),
        this.bannerEl,
        this.waitingEl,
        h("div", { class: "room-body" }, h("div", { class: "main" }, this.stageEl, this.isHost ? this.settingsEl : this.viewerControls()), side),
      ),
    );
    this.titleEl.setAttribute("tabindex", "-1");
    this.titleEl.focus();
    this.setMedia(this.room.media_url);
    this.showChatEnabled();
  }

  /** @param {string | null} url */
  setMedia(url) {
    this.sync?.stop();
    this.sync = null;
    this.mediaErrorEl.hidden = true;
    this.mediaErrorEl.replaceChildren();
    this.stageEl.classList.remove("failed");
    if (!url) {
      this.video.removeAttribute("src");
      this.video.load();
      replace(
        this.stageEl,
        h(
          "div",
          { class: "no-video" },
          this.isHost ? "No video yet: add a video link in the room settings below." : "The host hasn't picked a video yet.",
        ),
      );
      return;
    }
    this.video.src = url;
    replace(this.stageEl, this.video, this.unmuteEl, this.mediaErrorEl);
    this.sync = new PlaybackSync({
      video: this.video,
      clock: this.clock,
      isHost: this.isHost,
      send: (msg) => this.connection?.send(msg),
      onBlocked: () => (this.unmuteEl.hidden = false),
    });
    if (this.model) this.sync.apply(this.model);
  }

  // Viewers get sound and screen controls only: the host drives the timeline.
  viewerControls() {
    const mute = h("button", { type: "button", onclick: () => (this.video.muted = !this.video.muted) }, "Mute");
    const volume = h("input", {
      type: "range",
      min: 0,
      max: 1,
      step: 0.05,
      value: 1,
      "aria-label": "Volume",
      oninput: (/** @type {InputEvent & { target: HTMLInputElement }} */ e) => {
        this.video.volume = Number(e.target.value);
        this.video.muted = false;
      },
    });
    const full = h(
      "button",
      { type: "button", onclick: () => this.stageEl.requestFullscreen?.().catch(() => {}) },
      "Full screen",
    );
    this.video.addEventListener("volumechange", () => {
      mute.textContent = this.video.muted ? "Unmute" : "Mute";
      if (!this.video.muted) this.unmuteEl.hidden = true;
    });
    return h("div", { class: "viewer-controls" }, mute, volume, full);
  }

  // The browser gave up on the link: say why, and what kind of link works,
  // instead of leaving a grey player with dead controls.
  mediaFailed() {
    const err = this.video.error;
    const problem = err && MEDIA_PROBLEMS[err.code];
    if (!problem || !this.video.getAttribute("src")) return;
    this.unmuteEl.hidden = true;
    replace(
      this.mediaErrorEl,
      h("p", { class: "media-error-what" }, problem),
      h("p", {}, WORKING_LINK),
      h(
        "p",
        {},
        this.isHost
          ? "Change the video link in the room settings below."
          : "Only the host can change the link.",
      ),
    );
    this.mediaErrorEl.hidden = false;
    this.stageEl.classList.add("failed");
    this.mediaErrorEl.dataset.code = String(err.code);
  }

  unmute() {
    this.video.muted = false;
    this.unmuteEl.hidden = true;
    this.sync?.unblock();
  }

  // ---- server messages ----------------------------------------------------

  /** @param {ServerMessage} msg */
  onMessage(msg) {
    switch (msg.type) {
      case "PLAYBACK_STATE":
        return this.setModel(msg);
      case "PLAY":
        return this.setModel({ ...msg, is_playing: true });
      case "PAUSE":
        return this.setModel({ ...msg, is_playing: false });
      case "SEEK":
        return this.setModel({ ...msg, is_playing: this.model ? this.model.is_playing : false });
      case "PONG":
        return this.clock.addSample(msg.client_time, msg.server_time);
      case "PRESENCE":
        this.people = new Map(msg.users.map((u) => [u.id, u]));
        this.renderPeople();
        this.setHostStatus(msg.host_status);
        if (msg.host_status === "grace") this.showGrace(null);
        else this.hideGrace();
        return;
      case "USER_JOINED": {
        const isHost = msg.user.id === this.room.host.id;
        this.people.set(msg.user.id, { ...msg.user, is_host: isHost });
        // The server announces the host's first socket only this way.
        if (isHost && this.hostStatus === "offline") this.setHostStatus("online");
        return this.renderPeople();
      }
      case "USER_LEFT":
        this.people.delete(msg.user.id);
        return this.renderPeople();
      case "CHAT_MESSAGE":
        return this.addMessages([msg]);
      case "ERROR":
        this.chatError.textContent = msg.message;
        return;
      case "HOST_DISCONNECTED":
        this.setHostStatus("grace");
        return this.showGrace(msg.grace_expires_at);
      case "HOST_RECONNECTED":
        this.setHostStatus("online");
        return this.hideGrace();
      case "ROOM_UPDATED":
        return this.roomUpdated(msg.room);
      case "ROOM_CLOSED":
        return this.end(msg.reason);
      default:
    }
  }

  /** @param {Playback} state */
  setModel(state) {
    this.model = { is_playing: state.is_playing, time: state.time, server_time: state.server_time };
    this.sync?.apply(this.model);
  }

  /** @param {Room} room */
  roomUpdated(room) {
    const mediaChanged = room.media_url !== this.room.media_url;
    this.room = room;
    this.titleEl.textContent = room.name;
    document.title = `${room.name} · watchparty`;
    this.showChatEnabled();
    if (mediaChanged) {
      this.model = null;
      this.setMedia(room.media_url);
    }
    if (this.settingsForm) this.fillSettings();
  }

  showChatEnabled() {
    const on = this.room.is_chat_enabled;
    this.chatNote.hidden = on;
    this.chatInput.placeholder = on ? "Say something" : "Chat is off";
  }

  renderPeople() {
    const people = [...this.people.values()].sort(
      (a, b) => Number(b.is_host) - Number(a.is_host) || a.display_name.localeCompare(b.display_name),
    );
    replace(
      this.peopleEl,
      people.map((u) =>
        h(
          "li",
          {},
          u.display_name,
          u.is_host ? h("span", { class: "badge" }, "host") : null,
          u.id === this.me.id ? h("span", { class: "muted" }, " (you)") : null,
        ),
      ),
    );
  }

  // ---- the host's presence -------------------------------------------------

  // "offline" means the host has not connected yet: viewers see that they are
  // early rather than a room that looks live and never starts.
  /** @param {HostStatus} status */
  setHostStatus(status) {
    this.hostStatus = status;
    const waiting = !this.isHost && status === "offline";
    if (waiting === !this.waitingEl.hidden) return;
    this.waitingEl.hidden = !waiting;
    // Filled when shown, so a screen reader announces it then.
    if (waiting) {
      this.waitingEl.textContent = `Waiting for the host, ${this.room.host.display_name}, to arrive. You'll watch together as soon as they join.`;
    } else {
      this.waitingEl.replaceChildren();
    }
  }

  // ---- grace --------------------------------------------------------------

  /** @param {string | null} expiresAt RFC 3339; null keeps any countdown running */
  showGrace(expiresAt) {
    this.bannerEl.hidden = false;
    if (!expiresAt) {
      // PRESENCE carries no deadline: keep a countdown already running.
      if (!this.graceDeadline) {
        replace(this.bannerEl, "The host is away. The room closes if they don't come back in time.");
      }
      return;
    }
    clearInterval(this.graceTimer);
    const deadline = Date.parse(expiresAt);
    this.graceDeadline = deadline;
    const timeLeft = h("span", { "aria-live": "off", id: "grace-countdown" });
    replace(this.bannerEl, "The host is away — the room closes in ", timeLeft, ".");
    const update = () => {
      const secs = Math.max(0, Math.round((deadline - this.clock.now()) / 1000));
      timeLeft.textContent = `${String(Math.floor(secs / 60)).padStart(2, "0")}:${String(secs % 60).padStart(2, "0")}`;
    };
    update();
    this.graceTimer = setInterval(update, 1000);
  }

  hideGrace() {
    clearInterval(this.graceTimer);
    this.graceDeadline = null;
    this.bannerEl.hidden = true;
    this.bannerEl.replaceChildren();
  }

  // ---- chat ---------------------------------------------------------------

  // On entry and after every (re)connect: everything stored since the last
  // message seen, page by page, so nothing said while the socket was down is lost.
  async fillGap() {
    for (let pages = 0; pages < 20 && !this.left; pages++) {
      const query = this.lastMessageId ? { after: this.lastMessageId, limit: 100 } : { limit: 100 };
      let messages;
      try {
        ({ messages } = await api.messages(this.code, query));
      } catch {
        return;
      }
      this.addMessages(messages);
      if (messages.length < 100 || !this.lastMessageId) return;
    }
  }

  /** @param {ChatMessage[]} list */
  addMessages(list) {
    let added = false;
    for (const m of list) {
      if (this.messages.has(m.id)) continue;
      this.messages.set(m.id, m);
      this.lastMessageId = Math.max(this.lastMessageId, m.id);
      added = true;
    }
    if (!added) return;
    const stick = this.chatList.scrollTop + this.chatList.clientHeight >= this.chatList.scrollHeight - 20;
    const ordered = [...this.messages.values()].sort((a, b) => a.id - b.id);
    replace(
      this.chatList,
      ordered.map((m) =>
        h(
          "li",
          { dataset: { id: m.id } },
          h("span", { class: "who" }, m.user.display_name),
          // Names are not unique: the badge, from the user id, is what tells
          // the host's lines from a viewer who took the host's name.
          m.user.id === this.room.host.id ? h("span", { class: "badge host-badge" }, "host") : null,
          h("time", { datetime: m.created_at }, clockTime(m.created_at)),
          h("p", {}, m.message),
        ),
      ),
    );
    if (stick) this.chatList.scrollTop = this.chatList.scrollHeight;
  }

  /** @param {SubmitEvent} event */
  sendChat(event) {
    event.preventDefault();
    const text = this.chatInput.value.trim();
    if (!text) return;
    this.chatError.textContent = "";
    if (!this.connection?.send({ type: "CHAT_MESSAGE", message: text })) {
      this.chatError.textContent = "Not connected right now; try again in a moment.";
      return;
    }
    this.chatInput.value = "";
  }

  // ---- host settings ------------------------------------------------------

  renderSettings() {
    this.nameInput = h("input", { type: "text", required: true, maxlength: 100 });
    this.urlInput = h("input", { type: "url", placeholder: "https://example.com/film.mp4" });
    this.privateInput = h("input", { type: "checkbox" });
    this.chatToggle = h("input", { type: "checkbox" });
    this.settingsError = errorLine();
    this.settingsSaved = h("p", { class: "muted", role: "status" });
    this.settingsForm = h(
      "form",
      { onsubmit: (/** @type {SubmitEvent} */ e) => this.saveSettings(e) },
      field("Room name", this.nameInput),
      field("Video link", this.urlInput, "A direct link to a video file (MP4 or WebM) that everyone can open."),
      field("Private (only people with the link can join)", this.privateInput),
      field("Chat on", this.chatToggle),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Save changes")),
      this.settingsError,
      this.settingsSaved,
    );
    this.fillSettings();
    this.confirmDialog = h(
      "dialog",
      { "aria-labelledby": "delete-h" },
      h("h2", { id: "delete-h" }, "Delete this room?"),
      h("p", {}, "Everyone is sent out and the room is gone for good."),
      h(
        "form",
        { method: "dialog", class: "actions" },
        h("button", { value: "cancel", autofocus: true }, "Keep the room"),
        h("button", { value: "delete", class: "danger" }, "Delete room"),
      ),
    );
    this.confirmDialog.addEventListener("close", () => {
      if (this.confirmDialog.returnValue === "delete") this.deleteRoom();
    });
    return h(
      "details",
      { class: "settings" },
      h("summary", {}, "Room settings"),
      this.settingsForm,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "danger", onclick: () => this.confirmDialog.showModal() }, "Delete room…"),
      ),
      this.confirmDialog,
    );
  }

  fillSettings() {
    this.nameInput.value = this.room.name;
    this.urlInput.value = this.room.media_url || "";
    this.privateInput.checked = this.room.is_private;
    this.chatToggle.checked = this.room.is_chat_enabled;
  }

  /** @param {SubmitEvent} event */
  async saveSettings(event) {
    event.preventDefault();
    this.settingsError.textContent = "";
    this.settingsSaved.textContent = "";
    const changes = {
      name: this.nameInput.value,
      media_url: this.urlInput.value.trim() || null,
      is_private: this.privateInput.checked,
      is_chat_enabled: this.chatToggle.checked,
    };
    try {
      const { room } = await api.updateRoom(this.code, changes);
      this.roomUpdated(room);
      this.settingsSaved.textContent = "Saved.";
    } catch (err) {
      this.settingsError.textContent = messageOf(err);
    }
  }

  async deleteRoom() {
    try {
      await api.deleteRoom(this.code);
      this.end("deleted", "You deleted this room.");
    } catch (err) {
      if (statusOf(err) === 404) return this.end("gone");
      this.settingsError.textContent = messageOf(err);
    }
  }

  // ---- the end --------------------------------------------------------------

  /**
   * @param {Ending} reason
   * @param {string} [text] said instead of the usual line for `reason`
   */
  end(reason, text) {
    this.leave();
    if (reason === "signed_out") return this.signedOut();
    // A code that never existed is not a room that ended.
    const unknown = reason === "not_found";
    const heading = h("h1", { tabindex: "-1", id: "room-ended" }, unknown ? "No such room" : "This room has ended");
    const body = unknown
      ? `There is no room with the code ${this.code}. Check the invite link or the code; a room its host deleted is gone too.`
      : text || ENDINGS[reason] || "The room is closed.";
    replace(
      this.root,
      h(
        "section",
        { class: "card ended", "data-reason": reason },
        heading,
        h("p", {}, body),
        h("p", {}, h("a", { href: "/", "data-nav": true }, "Back to the rooms")),
      ),
    );
    document.title = unknown ? "No such room · watchparty" : "Room ended · watchparty";
    heading.focus();
  }
  // Sessions of a single-node server end with its process: sign in, come back.
  signedOut() {
    const heading = h("h1", { tabindex: "-1" }, "You were signed out");
    replace(
      this.root,
      h(
        "section",
        { class: "card ended", "data-reason": "signed_out" },
        heading,
        h("p", {}, "Sign in again to rejoin the room."),
        // A full load: the page asks the server afresh who is signed in.
        h("p", {}, h("a", { href: `/r/${this.code}` }, "Sign in and rejoin")),
      ),
    );
    heading.focus();
  }
}

/**
 * @param {string} text
 * @param {HTMLElement} button says whether it worked
 */
async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy the link";
  }
  setTimeout(() => (button.textContent = "Copy link"), 2000);
}
