// The room page: video, participants, chat, grace banner, room settings.
//
// What the page offers follows the user's capabilities (the server's
// CAPABILITIES message): playback controls and the speed menu with
// control_playback, the settings with edit_room, a menu per person with
// moderate or manage_roles, the queue's buttons with add_to_queue,
// manage_queue and control_playback. The server checks every request anyway;
// the page only hides what it would refuse.

import { api, codeOf, messageOf, statusOf, untilOf } from "./api.js";
import { ServerClock } from "./clock.js";
import { RoomConnection } from "./connection.js";
import { h, replace, field, errorLine, clockTime } from "./dom.js";
import { PeoplePanel, whenText } from "./people.js";
import { MAX_RATE, MIN_RATE, PlaybackSync } from "./player.js";
import { QueuePanel } from "./queue.js";
import { ReadinessReporter, SyncReporter } from "./telemetry.js";

/**
 * @import { ChatMessage, HostStatus, PublicUser, Room, ServerMessage, SyncLine, UpdateRoomRequest, User, Waiting } from "./protocol"
 * @import { EndDetail, EndReason } from "./connection.js"
 * @import { Model } from "./player.js"
 */

/**
 * Why the room page ended: what the socket said, or a code that never existed.
 *
 * @typedef {EndReason | "not_found"} Ending
 */

/** @type {Partial<Record<Ending, string>>} */
const ENDINGS = {
  deleted: "The owner deleted this room.",
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

// The speed menu's choices, within the protocol's 0.25–4.
const SPEEDS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 3, 4];

/** @param {number} rate */
function speedText(rate) {
  return `${Number(rate.toFixed(2))}×`;
}

/**
 * What a role may do before the server's first CAPABILITIES arrives (and,
 * against a server that never sends one, for good): the contract's table.
 *
 * @param {string} role
 * @param {boolean} muted
 * @param {Room} room
 * @returns {Set<string>}
 */
function likelyCapabilities(role, muted, room) {
  const everyone = room.control === "everyone";
  const viewersQueue = room.viewers_can_queue;
  const caps =
    role === "host"
      ? new Set(["control_playback", "chat", "add_to_queue", "manage_queue", "moderate", "edit_room", "manage_roles"])
      : role === "co_host"
        ? new Set(["control_playback", "chat", "add_to_queue", "manage_queue", "moderate", "edit_room"])
        : new Set(["chat"]);
  if (role === "viewer" && everyone) caps.add("control_playback");
  if (role === "viewer" && viewersQueue) caps.add("add_to_queue");
  // A mute takes chat away, and nothing else.
  if (muted) caps.delete("chat");
  return caps;
}

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
  // "host", "co_host" or "viewer", and what CAPABILITIES allows.
  /** @type {string} */ role;
  /** @type {Set<string>} */ caps;
  // Absent until there is one.
  /** @type {RoomConnection | undefined} */ connection;
  /** @type {PlaybackSync | null | undefined} */ sync;
  /** @type {Model | null | undefined} */ model;
  /** @type {number | null | undefined} */ graceDeadline;
  // The REMOVED message that ended the page, if one did.
  /** @type {{ action: string, reason: string | null, until: string | null } | undefined} */ removal;

  // The page's parts, built by render() (and renderSettings() for the host).
  /** @type {HTMLHeadingElement} */ titleEl;
  /** @type {HTMLSpanElement} */ statusEl;
  /** @type {HTMLDivElement} */ bannerEl;
  /** @type {HTMLDivElement} */ waitingEl;
  // The group wait (contract §9): who the room waits for, and until when.
  /** @type {HTMLDivElement} */ groupWaitEl;
  /** @type {HTMLParagraphElement} */ skippedEl;
  /** @type {HTMLInputElement} */ noWaitInput;
  /** @type {HTMLSpanElement} */ mySyncEl;
  /** @type {HTMLElement} */ syncPanel;
  /** @type {HTMLTableSectionElement} */ syncRows;
  /** @type {HTMLParagraphElement} */ syncSummary;
  /** @type {ReadinessReporter} */ readiness;
  /** @type {SyncReporter} */ syncReporter;
  /** @type {HTMLVideoElement} */ video;
  /** @type {HTMLDivElement} */ mediaErrorEl;
  /** @type {HTMLDivElement} */ stageEl;
  /** @type {HTMLButtonElement} */ unmuteEl;
  /** @type {PeoplePanel} */ people;
  /** @type {QueuePanel} */ queue;
  /** @type {HTMLSpanElement} */ hostLineEl;
  /** @type {HTMLDivElement} */ hostActionsEl;
  /** @type {HTMLParagraphElement} */ noticeEl;
  /** @type {HTMLDivElement} */ playbarEl;
  /** @type {HTMLDivElement} */ viewerControlsEl;
  /** @type {HTMLSelectElement} */ speedSelect;
  /** @type {HTMLDivElement} */ speedControl;
  /** @type {HTMLSpanElement} */ speedNote;
  /** @type {HTMLDivElement} */ settingsHolder;
  /** @type {HTMLFormElement} */ chatForm;
  /** @type {HTMLOListElement} */ chatList;
  /** @type {HTMLInputElement} */ chatInput;
  /** @type {HTMLParagraphElement} */ chatError;
  /** @type {HTMLParagraphElement} */ chatNote;
  /** @type {HTMLDetailsElement | null} */ settingsEl;
  /** @type {HTMLInputElement} */ nameInput;
  /** @type {HTMLInputElement} */ urlInput;
  /** @type {HTMLInputElement} */ privateInput;
  /** @type {HTMLInputElement} */ chatToggle;
  /** @type {HTMLSelectElement} */ controlSelect;
  /** @type {HTMLSelectElement} */ timeoutSelect;
  /** @type {HTMLSelectElement} */ waitSelect;
  /** @type {HTMLSelectElement} */ queueModeSelect;
  /** @type {HTMLInputElement} */ viewersQueueInput;
  /** @type {HTMLParagraphElement} */ settingsError;
  /** @type {HTMLParagraphElement} */ settingsSaved;
  /** @type {HTMLFormElement | undefined} */ settingsForm;
  /** @type {HTMLDialogElement} */ confirmDialog;
  // What the settings area was built for: rebuilt only when it changes, so
  // a half-typed change survives other updates.
  /** @type {string} */ settingsFor;

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
    // "online", "grace" or "offline" (the host has not connected yet).
    /** @type {HostStatus | null} */
    this.hostStatus = null;
    /** @type {number | undefined} */
    this.graceTimer = undefined;
    /** @type {Waiting | null} */
    this.wait = null;
    /** @type {number | undefined} */
    this.waitTimer = undefined;
    /** @type {number | undefined} */
    this.skippedTimer = undefined;
    /** @type {number | undefined} */
    this.statsTimer = undefined;
    // The queue item the last PLAYBACK_STATE was about (undefined: none
    // heard, or a server without a queue).
    /** @type {number | null | undefined} */
    this.modelItem = undefined;
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
      if (codeOf(err) === "banned") return this.end("refused", undefined, { until: untilOf(err) });
      replace(this.root, h("p", { class: "error", role: "alert" }, messageOf(err)));
      return;
    }
    if (this.left) return;
    this.room = joined.room;
    this.role = joined.participant.role;
    this.isHost = this.role === "host";
    this.caps = likelyCapabilities(this.role, joined.participant.is_muted, this.room);
    this.people = new PeoplePanel({
      code: this.code,
      me: this.me.id,
      ownerId: () => this.ownerId(),
      myRole: () => this.role,
      capabilities: () => this.caps,
      notice: (text) => this.notice(text),
    });
    this.people.updated({ ...joined.participant, is_connected: false });
    this.queue = new QueuePanel({
      code: this.code,
      me: this.me.id,
      capabilities: () => this.caps,
      room: () => this.room,
    });
    // What plays now is in the join answer; the list follows from GET …/queue/.
    this.queue.roomChanged(this.room);
    this.render();
    await Promise.all([this.fillGap(), this.loadPeople(), this.queue.refresh()]);
    if (this.left) return;
    this.connection = new RoomConnection(this.code, {
      onMessage: (msg) => this.onMessage(msg),
      onStatus: (text) => (this.statusEl.textContent = text),
      onOpen: () => {
        this.fillGap();
        this.loadPeople();
        // The queue may have moved on while the socket was down.
        this.queue.refresh();
        // A new socket: the server knows nothing of its player, nor (after
        // a reload) that this person asked not to be waited for.
        this.readiness.connected();
        if (this.noWaitInput.checked) this.connection?.send({ type: "SET_WAIT", wait: false });
      },
      onEnd: (reason, detail) => this.end(reason, undefined, detail),
    });
    this.connection.start();
  }

  leave() {
    this.left = true;
    this.connection?.stop();
    this.sync?.stop();
    this.readiness?.stop();
    this.syncReporter?.stop();
    this.queue?.stop();
    clearInterval(this.graceTimer);
    clearInterval(this.waitTimer);
    clearTimeout(this.skippedTimer);
    clearTimeout(this.statsTimer);
  }

  // ---- layout -------------------------------------------------------------

  render() {
    document.title = `${this.room.name} · watchparty`;
    this.titleEl = h("h1", { id: "room-title" }, this.room.name);
    this.statusEl = h("span", { class: "link-status", "aria-live": "polite" }, "");
    this.hostLineEl = h("span", { id: "host-line" });
    this.hostActionsEl = h("div", { class: "host-actions actions", id: "host-actions" });
    this.noticeEl = h("p", { class: "notice", role: "status", id: "room-notice" });
    this.bannerEl = h("div", { class: "banner", role: "status", hidden: true, id: "grace-banner" });
    this.waitingEl = h("div", { class: "banner waiting", role: "status", hidden: true, id: "host-waiting" });
    this.groupWaitEl = h("div", { class: "banner waiting", role: "status", hidden: true, id: "group-wait" });
    this.skippedEl = h("p", { class: "notice", role: "status", hidden: true, id: "wait-skipped" });
    this.video = h("video", {
      id: "player",
      playsinline: true,
      preload: "auto",
      controls: this.canControl(),
      "aria-label": "Room video",
    });
    this.mediaErrorEl = h("div", { class: "media-error", role: "alert", id: "media-error", hidden: true });
    this.video.addEventListener("error", () => this.mediaFailed());
    this.video.addEventListener("ended", () => this.mediaEnded());
    const send = (/** @type {import("./protocol").ClientMessage} */ msg) => this.connection?.send(msg);
    this.readiness = new ReadinessReporter(this.video, send);
    this.syncReporter = new SyncReporter(() => this.sync, this.clock, send);
    this.stageEl = h("div", { class: "stage" });
    this.unmuteEl = h(
      "button",
      { type: "button", class: "overlay-button", hidden: true, onclick: () => this.unmute() },
      "Click to turn the sound on",
    );
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
    this.chatForm = h(
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
      this.people.element,
      this.renderSyncPanel(),
      h(
        "section",
        { class: "chat", "aria-labelledby": "chat-h" },
        h("h2", { id: "chat-h" }, "Chat"),
        this.chatList,
        (this.chatNote = h("p", { class: "muted", id: "chat-note", hidden: true })),
        this.chatForm,
        this.chatError,
      ),
    );
    this.playbarEl = this.renderPlaybar();
    this.settingsHolder = h("div", { id: "settings-area" });
    this.settingsFor = "";
    replace(
      this.root,
      h(
        "div",
        { class: "room" },
        h(
          "header",
          { class: "room-head" },
          this.titleEl,
          h("p", { class: "muted" }, this.hostLineEl, " ", this.statusEl),
          this.hostActionsEl,
          share,
        ),
        this.noticeEl,
        this.bannerEl,
        this.waitingEl,
        this.groupWaitEl,
        this.skippedEl,
        h("div", { class: "room-body" }, h("div", { class: "main" }, this.stageEl, this.playbarEl, this.queue.element, this.settingsHolder), side),
      ),
    );
    this.titleEl.setAttribute("tabindex", "-1");
    this.titleEl.focus();
    this.setMedia(this.room.media_url);
    this.showHost();
    this.showChatEnabled();
    this.applyCapabilities();
  }

  // ---- who may do what ----------------------------------------------------

  canControl() {
    return this.caps.has("control_playback");
  }

  ownerId() {
    return this.room.owner ? this.room.owner.id : null;
  }

  isOwner() {
    const owner = this.ownerId();
    // A server from before owners: the host is the owner.
    return owner === null ? this.isHost : owner === this.me.id;
  }

  // Shows exactly the controls the capabilities allow: called on the first
  // render and on every CAPABILITIES (and host change).
  applyCapabilities() {
    const control = this.canControl();
    this.video.controls = control;
    this.sync?.setControls(control, this.isHost);
    this.speedControl.hidden = !control;
    this.viewerControlsEl.hidden = control;
    this.showSpeed();
    if (!control) this.syncPanel.hidden = true;
    this.chatForm.hidden = !this.caps.has("chat");
    this.showChatEnabled();
    this.renderSettingsArea();
    this.showHostActions();
    this.people.render();
    this.queue.render();
  }

  // "You are the host" or "Hosted by …", with one's own role.
  showHost() {
    const role = this.isHost ? "You are the host." : `Hosted by ${this.room.host.display_name}.`;
    const own = this.role === "co_host" ? " You are a co-host." : "";
    this.hostLineEl.textContent = role + own;
  }

  // The owner may take the room back whenever they are not host; a co-host
  // may take over while the host is away (grace).
  showHostActions() {
    const buttons = [];
    if (!this.isHost && this.isOwner()) {
      buttons.push(h("button", { type: "button", onclick: (/** @type {MouseEvent & { target: HTMLButtonElement }} */ e) => this.takeHost(e.target, "You took the room back.") }, "Take the room back"));
    } else if (this.role === "co_host" && this.hostStatus === "grace") {
      buttons.push(h("button", { type: "button", class: "primary", onclick: (/** @type {MouseEvent & { target: HTMLButtonElement }} */ e) => this.takeHost(e.target, "You are the host now.") }, "Take over as host"));
    }
    replace(this.hostActionsEl, buttons);
    this.hostActionsEl.hidden = buttons.length === 0;
  }

  /**
   * @param {HTMLButtonElement} button
   * @param {string} done
   */
  async takeHost(button, done) {
    button.disabled = true;
    try {
      await api.setHost(this.code, this.me.id);
      this.notice(done);
    } catch (err) {
      this.notice(messageOf(err));
    } finally {
      button.disabled = false;
    }
  }

  /** @param {string} text what just happened, for everyone to read */
  notice(text) {
    this.noticeEl.textContent = text;
  }

  // Everyone in the room with their role; after every (re)connect too, since
  // roles may have changed while the socket was down.
  async loadPeople() {
    try {
      const { participants } = await api.participants(this.code);
      if (!this.left) this.people.setAll(participants);
    } catch {
      // The panel keeps what PRESENCE says.
    }
  }

  // ---- playback controls ----------------------------------------------------

  // Controllers get the native controls and the speed menu; everyone else
  // sound and screen controls, and the room's speed when it is not 1×.
  renderPlaybar() {
    this.speedSelect = h(
      "select",
      { id: "speed", onchange: () => this.sync?.setRate(Number(this.speedSelect.value)) },
      SPEEDS.map((r) => h("option", { value: String(r) }, speedText(r))),
    );
    this.speedControl = h("div", { class: "speed" }, h("label", { for: "speed" }, "Speed"), this.speedSelect);
    this.speedNote = h("span", { class: "muted", id: "speed-note" });
    this.viewerControlsEl = this.viewerControls();
    this.noWaitInput = h("input", {
      type: "checkbox",
      id: "no-wait",
      checked: this.rememberedNoWait(),
      onchange: () => this.setNoWait(this.noWaitInput.checked),
    });
    const noWait = h("label", { class: "no-wait", for: "no-wait" }, this.noWaitInput, " Don't wait for me");
    this.mySyncEl = h("span", { class: "muted my-sync", id: "my-sync", "aria-live": "off" });
    return h("div", { class: "playbar" }, this.speedControl, this.viewerControlsEl, this.speedNote, noWait, this.mySyncEl);
  }

  // ---- the group wait ------------------------------------------------------

  // "Don't wait for me" is remembered per room in this browser, and said
  // again on every connect (the server keeps it for the room's lifetime
  // anyway; a reload would otherwise show it unticked while it holds).
  noWaitKey() {
    return `watchparty.no-wait.${this.code}`;
  }

  rememberedNoWait() {
    try {
      return localStorage.getItem(this.noWaitKey()) === "1";
    } catch {
      return false;
    }
  }

  /** @param {boolean} noWait */
  setNoWait(noWait) {
    try {
      if (noWait) localStorage.setItem(this.noWaitKey(), "1");
      else localStorage.removeItem(this.noWaitKey());
    } catch {
      // Private browsing without storage: the server remembers it for the room anyway.
    }
    this.connection?.send({ type: "SET_WAIT", wait: !noWait });
  }

  /**
   * A wait in progress (WAITING, or PLAYBACK_STATE's `waiting`), or none.
   *
   * @param {Waiting | null} wait
   */
  showWait(wait) {
    this.wait = wait;
    clearInterval(this.waitTimer);
    this.waitTimer = undefined;
    if (!wait) {
      this.groupWaitEl.hidden = true;
      this.groupWaitEl.replaceChildren();
      return;
    }
    if (wait.for.some((u) => u.id === this.me.id)) this.readiness.waitedFor();
    const names = wait.for.map((u) => (u.id === this.me.id ? "you" : u.display_name));
    const shown = names.length > 3 ? `${names.slice(0, 3).join(", ")} and ${names.length - 3} more` : names.join(", ");
    const left = h("span", { id: "group-wait-left", "aria-live": "off" });
    // A controller may start without them: its PLAY ends the wait.
    const startNow = this.canControl()
      ? h("button", { type: "button", id: "wait-start-now", onclick: () => this.sync?.startNow() }, "Start now")
      : null;
    replace(this.groupWaitEl, `Waiting for ${shown || "everyone"}… `, left, startNow ? " " : null, startNow);
    this.groupWaitEl.dataset.reason = wait.reason;
    this.groupWaitEl.hidden = false;
    const update = () => {
      const secs = Math.max(0, Math.ceil((wait.deadline - this.clock.now()) / 1000));
      left.textContent = `(${secs} s)`;
    };
    update();
    this.waitTimer = setInterval(update, 250);
  }

  /** @param {PublicUser[]} users who the room started without */
  showSkipped(users) {
    const mine = users.some((u) => u.id === this.me.id);
    const others = users.filter((u) => u.id !== this.me.id).map((u) => u.display_name);
    this.skippedEl.textContent = mine
      ? "The room started without you: your video catches up as soon as it can."
      : `Started without ${others.join(", ")}: they catch up on their own.`;
    this.skippedEl.hidden = false;
    clearTimeout(this.skippedTimer);
    this.skippedTimer = setTimeout(() => {
      this.skippedEl.hidden = true;
      this.skippedEl.textContent = "";
    }, 6000);
  }

  // ---- sync telemetry ------------------------------------------------------

  /** @param {number | null} driftMs this page's drift as the server measured it */
  showMySync(driftMs) {
    // The host's video is the room's: no figure for it.
    if (driftMs === null || this.isHost) {
      this.mySyncEl.textContent = "";
      return;
    }
    this.mySyncEl.textContent = driftText(driftMs);
    this.mySyncEl.dataset.driftMs = String(driftMs);
  }

  renderSyncPanel() {
    this.syncRows = h("tbody", {});
    this.syncSummary = h("p", { class: "muted", id: "sync-summary" });
    this.syncPanel = h(
      "section",
      { class: "sync-panel", id: "sync-panel", "aria-labelledby": "sync-h", hidden: true },
      h("h2", { id: "sync-h" }, "Sync"),
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Who"), h("th", { scope: "col" }, "Drift"), h("th", { scope: "col" }, "Round trip"))),
        this.syncRows,
      ),
      this.syncSummary,
    );
    return this.syncPanel;
  }

  /** @param {Extract<ServerMessage, { type: "SYNC_STATS" }>} stats */
  showSyncStats(stats) {
    if (!this.canControl()) return;
    replace(
      this.syncRows,
      stats.users.map((/** @type {SyncLine} */ line) =>
        h(
          "tr",
          { dataset: { user: line.user.id, state: line.state } },
          h("td", {}, line.user.display_name),
          h("td", {}, line.state === "playing" ? driftText(line.drift_ms) : `${driftText(line.drift_ms)} (${line.state})`),
          h("td", {}, `${Math.round(line.rtt_ms)} ms`),
        ),
      ),
    );
    this.syncSummary.textContent = `Median ${Math.round(stats.p50_abs_drift_ms)} ms, 95th percentile ${Math.round(stats.p95_abs_drift_ms)} ms off the room.`;
    this.syncPanel.hidden = false;
    // The server stops sending when nobody has reported for 30 s.
    clearTimeout(this.statsTimer);
    this.statsTimer = setTimeout(() => (this.syncPanel.hidden = true), 40000);
  }

  showSpeed() {
    const rate = this.currentModel().rate;
    if (!SPEEDS.includes(rate) && rate >= MIN_RATE && rate <= MAX_RATE) {
      // Another client chose a speed the menu lacks: offer it.
      this.speedSelect.append(h("option", { value: String(rate) }, speedText(rate)));
    }
    this.speedSelect.value = String(rate);
    this.speedNote.textContent = !this.canControl() && rate !== 1 ? `Playing at ${speedText(rate)}` : "";
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
          this.caps.has("add_to_queue")
            ? "No video yet: add one to the queue below."
            : this.caps.has("edit_room")
              ? "No video yet: add a video link in the room settings below."
              : "The host hasn't picked a video yet.",
        ),
      );
      return;
    }
    this.video.src = url;
    replace(this.stageEl, this.video, this.unmuteEl, this.mediaErrorEl);
    this.sync = new PlaybackSync({
      video: this.video,
      clock: this.clock,
      controls: this.canControl(),
      leads: this.isHost,
      send: (msg) => this.connection?.send(msg),
      onBlocked: () => (this.unmuteEl.hidden = false),
    });
    if (this.model) this.sync.apply(this.model);
  }

  // Viewers get sound and screen controls only: controllers drive the timeline.
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
        this.caps.has("edit_room")
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
        this.showWait(msg.waiting ?? null);
        this.modelItem = msg.item_id;
        this.setModel(
          {
            is_playing: msg.is_playing,
            time: msg.time,
            server_time: msg.server_time,
            rate: msg.rate,
            version: msg.version,
          },
          msg.resync === true,
        );
        // Playback of an item this page has not loaded: the room moved on
        // while the socket was down (a ROOM_UPDATED precedes it otherwise).
        if (msg.item_id !== undefined && msg.item_id !== this.currentItemId()) this.reloadRoom();
        return;
      case "PLAY":
      case "PAUSE":
      case "SEEK":
        // A wait ends with a PLAY (or a controller's PAUSE or SEEK); one
        // that starts sends its PAUSE first and WAITING right after.
        this.showWait(null);
        return this.setModel({
          ...this.currentModel(),
          is_playing: msg.type === "SEEK" ? this.currentModel().is_playing : msg.type === "PLAY",
          time: msg.time,
          server_time: msg.server_time,
          version: msg.version,
        });
      case "RATE":
        return this.setModel({
          ...this.currentModel(),
          rate: msg.rate,
          time: msg.time,
          server_time: msg.server_time,
          version: msg.version,
        });
      case "PONG":
        return this.clock.addSample(msg.client_time, msg.server_time);
      case "WAITING":
        return this.showWait({ for: msg.for, reason: msg.reason, deadline: msg.deadline });
      case "WAIT_SKIPPED":
        return this.showSkipped(msg.users);
      case "YOUR_SYNC":
        return this.showMySync(msg.drift_ms);
      case "SYNC_STATS":
        return this.showSyncStats(msg);
      case "PRESENCE":
        this.people.presence(msg.users);
        this.setHostStatus(msg.host_status);
        if (msg.host_status === "grace") this.showGrace(null);
        else this.hideGrace();
        return;
      case "CAPABILITIES":
        this.role = msg.role;
        this.caps = new Set(msg.capabilities);
        this.showHost();
        return this.applyCapabilities();
      case "USER_JOINED": {
        const isHost = msg.user.id === this.room.host.id;
        this.people.joined(msg.user, isHost);
        // The server announces the host's first socket only this way.
        if (isHost && this.hostStatus === "offline") this.setHostStatus("online");
        return;
      }
      case "USER_LEFT":
        return this.people.left(msg.user);
      case "PARTICIPANT_UPDATED":
        this.people.updated(msg.participant);
        if (msg.participant.user.id === this.me.id) this.showChatEnabled();
        return;
      case "PARTICIPANT_REMOVED": {
        this.people.removed(msg.user);
        const done = msg.action === "banned" ? "banned" : "kicked";
        // The same words as the menu's own notice when it was us, whichever
        // of the answer and this message comes first.
        return this.notice(
          msg.by.id === this.me.id
            ? `You ${done} ${msg.user.display_name}.`
            : `${msg.user.display_name} was ${done} by ${msg.by.display_name}.`,
        );
      }
      case "HOST_CHANGED":
        return this.hostChanged(msg.host, msg.previous, msg.reason);
      case "REMOVED":
        // Said before the server closes the socket (4003 / 4004): stop here,
        // so nothing reconnects, and say why.
        this.removal = { action: msg.action, reason: msg.reason, until: msg.until };
        return this.end(msg.action === "banned" ? "banned" : "kicked");
      case "CHAT_MESSAGE":
        return this.addMessages([msg]);
      case "ERROR":
        return this.serverError(msg);
      case "HOST_DISCONNECTED":
        this.showWait(null);
        this.setHostStatus("grace");
        return this.showGrace(msg.grace_expires_at);
      case "HOST_RECONNECTED":
        this.setHostStatus("online");
        return this.hideGrace();
      case "ROOM_UPDATED":
        return this.roomUpdated(msg.room);
      case "QUEUE_UPDATED":
        return this.queue.updated(msg);
      case "ROOM_CLOSED":
        return this.end(msg.reason);
      default:
    }
  }

  /**
   * The model to build on: the player's (a controller's own commands move
   * it), else the last one the server sent, else paused at 0 at normal speed.
   *
   * @returns {Model}
   */
  currentModel() {
    return (
      this.sync?.model ||
      this.model || { is_playing: false, time: 0, server_time: this.clock.now(), rate: 1, version: null }
    );
  }

  /**
   * @param {Model} model
   * @param {boolean} [resync] the server found this page too far off: seek
   */
  setModel(model, resync = false) {
    this.model = model;
    this.sync?.apply(model, { resync });
    this.showSpeed();
  }

  /**
   * An ERROR: a playback command acted on an old state (another controller
   * was first), or a chat message the server did not take.
   *
   * @param {Extract<ServerMessage, { type: "ERROR" }>} msg
   */
  serverError(msg) {
    if (msg.code === "stale_version") return this.adoptServerState(msg.version ?? 0);
    if (msg.code === "muted") {
      const until = msg.until || null;
      this.chatError.textContent = until ? `${msg.message} until ${whenText(until)}.` : msg.message;
      return;
    }
    this.chatError.textContent = msg.message;
  }

  // Our command lost a race: take the room's playback as the server has it.
  // (The other controller's command reached us already, but our own video
  // and model moved after it.) An answer older than the ERROR's version —
  // a lagging read — is not the state that refused us: ignore it.
  /**
   * Follows the playback of an HTTP answer (`GET` the room).
   * @param {import("./protocol").Playback} playback
   */
  adoptPlayback(playback) {
    this.modelItem = playback.item_id;
    this.setModel({
      is_playing: playback.is_playing,
      time: playback.time,
      server_time: playback.server_time,
      rate: playback.rate,
      version: playback.version,
    });
  }

  /** @param {number} atLeast the version the server had when it refused */
  async adoptServerState(atLeast) {
    try {
      const { playback } = await api.room(this.code);
      if (this.left || playback.version < atLeast) return;
      this.adoptPlayback(playback);
    } catch {
      // The next server message brings the state anyway.
    }
  }

  /**
   * @param {PublicUser} host
   * @param {PublicUser} previous
   * @param {string} reason
   */
  hostChanged(host, previous, reason) {
    this.room = { ...this.room, host };
    this.isHost = host.id === this.me.id;
    if (this.isHost) this.role = "host";
    else if (previous.id === this.me.id) this.role = "co_host";
    this.people.hostChanged(host, previous);
    // The host's video leads; CAPABILITIES (next) may not change the set.
    this.sync?.setControls(this.canControl(), this.isHost);
    // A change of host ends a grace; if the new host is not here either,
    // HOST_DISCONNECTED follows and starts a new one.
    this.setHostStatus("online");
    this.hideGrace();
    this.showHost();
    this.showHostActions();
    const who = host.id === this.me.id ? "You are" : `${host.display_name} is`;
    const how = {
      transferred: `: ${previous.display_name} handed the room over.`,
      reclaimed: ": the owner took the room back.",
      claimed: `: ${host.display_name} took over while ${previous.display_name} was away.`,
      promoted: `: ${previous.display_name} did not come back in time.`,
    }[reason] || ".";
    this.notice(`${who} the host now${how}`);
  }

  /** The current queue item's id; null when none (or no queue). */
  currentItemId() {
    return this.room.current_item ? this.room.current_item.id : null;
  }

  // The room and its playback afresh, when a PLAYBACK_STATE names an item
  // the page has not heard of. An answer older than the page's room (by its
  // queue_version) or playback (by version) is not used.
  async reloadRoom() {
    try {
      const { room, playback } = await api.room(this.code);
      if (this.left || room.queue_version < this.room.queue_version) return;
      this.roomUpdated(room);
      const model = this.currentModel();
      if (!this.model || model.version === null || playback.version > model.version) {
        this.adoptPlayback(playback);
      }
    } catch {
      // The next server message brings the state anyway.
    }
  }

  // The controller's video reached the end of the current item: the room
  // moves on to the next (the server advances only if that item is still
  // current, so several controllers saying so at once is harmless).
  mediaEnded() {
    const item = this.currentItemId();
    if (item === null || !this.canControl()) return;
    this.connection?.send({ type: "ENDED", item_id: item });
  }

  /** @param {Room} room */
  roomUpdated(room) {
    const newItem = room.current_item ? room.current_item.id : null;
    // A new item is new media even when its link is the same as the last one's.
    const mediaChanged = room.media_url !== this.room.media_url || newItem !== this.currentItemId();
    this.room = room;
    this.isHost = room.host.id === this.me.id;
    this.titleEl.textContent = room.name;
    document.title = `${room.name} · watchparty`;
    this.showChatEnabled();
    this.showHost();
    this.showHostActions();
    if (mediaChanged) {
      // The playback heard of so far belongs to the old media, unless it is
      // already about the new item (a PLAYBACK_STATE that came first).
      if (newItem === null || this.modelItem !== newItem) this.model = null;
      this.setMedia(room.media_url);
    }
    this.queue.roomChanged(room);
    this.renderSettingsArea();
    if (this.settingsForm) this.fillSettings();
  }

  showChatEnabled() {
    const on = this.room.is_chat_enabled;
    const mine = this.people.get(this.me.id);
    const muted = !this.caps.has("chat") || (mine !== undefined && mine.is_muted);
    this.chatInput.placeholder = on ? "Say something" : "Chat is off";
    if (muted) {
      const until = mine && mine.muted_until ? ` until ${whenText(mine.muted_until)}` : "";
      this.chatNote.textContent = `You are muted in this room${until}: you can read the chat but not write.`;
    } else {
      this.chatNote.textContent = on ? "" : "The host turned chat off.";
    }
    this.chatNote.hidden = !this.chatNote.textContent;
  }

  // ---- the host's presence -------------------------------------------------

  // "offline" means the host has not connected yet: viewers see that they are
  // early rather than a room that looks live and never starts.
  /** @param {HostStatus} status */
  setHostStatus(status) {
    const changed = status !== this.hostStatus;
    this.hostStatus = status;
    // A co-host's "take over" exists only during grace.
    if (changed) this.showHostActions();
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
        replace(
          this.bannerEl,
          this.room.on_host_timeout === "promote"
            ? "The host is away. The room passes to someone here if they don't come back in time."
            : "The host is away. The room closes if they don't come back in time.",
        );
      }
      return;
    }
    clearInterval(this.graceTimer);
    const deadline = Date.parse(expiresAt);
    this.graceDeadline = deadline;
    const timeLeft = h("span", { "aria-live": "off", id: "grace-countdown" });
    // With on_host_timeout "promote" the room does not close: it is handed on.
    const what = this.room.on_host_timeout === "promote" ? "passes to someone here" : "closes";
    replace(this.bannerEl, `The host is away — the room ${what} in `, timeLeft, ".");
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

  // ---- room settings ------------------------------------------------------

  // The settings for holders of edit_room; the delete button for the owner
  // alone. Rebuilt only when that changes, so typing is never interrupted.
  renderSettingsArea() {
    const edit = this.caps.has("edit_room");
    const owner = this.isOwner();
    const key = `${edit}/${owner}`;
    if (key === this.settingsFor) return;
    this.settingsFor = key;
    const wasOpen = this.settingsEl ? this.settingsEl.open : false;
    this.settingsForm = undefined;
    this.settingsEl = edit || owner ? this.renderSettings(edit, owner) : null;
    if (this.settingsEl) this.settingsEl.open = wasOpen;
    replace(this.settingsHolder, this.settingsEl);
  }

  /**
   * @param {boolean} edit the room's settings (edit_room)
   * @param {boolean} owner the delete button
   */
  renderSettings(edit, owner) {
    this.settingsError = errorLine();
    this.settingsSaved = h("p", { class: "muted", role: "status" });
    if (edit) {
      this.nameInput = h("input", { type: "text", required: true, maxlength: 100 });
      this.urlInput = h("input", { type: "url", placeholder: "https://example.com/film.mp4" });
      this.privateInput = h("input", { type: "checkbox" });
      this.chatToggle = h("input", { type: "checkbox" });
      this.controlSelect = h(
        "select",
        {},
        h("option", { value: "host" }, "The host and co-hosts"),
        h("option", { value: "everyone" }, "Everyone"),
      );
      this.timeoutSelect = h(
        "select",
        {},
        h("option", { value: "close" }, "Close the room"),
        h("option", { value: "promote" }, "Hand it to a co-host, or to whoever joined first"),
      );
      this.waitSelect = h(
        "select",
        {},
        h("option", { value: "start" }, "When playback starts or jumps"),
        h("option", { value: "always" }, "Also when someone buffers"),
        h("option", { value: "off" }, "Never"),
      );
      this.queueModeSelect = h(
        "select",
        {},
        h("option", { value: "manual" }, "As added (hosts and co-hosts can reorder)"),
        h("option", { value: "vote" }, "Most votes first"),
      );
      this.viewersQueueInput = h("input", { type: "checkbox" });
      this.settingsForm = h(
        "form",
        { onsubmit: (/** @type {SubmitEvent} */ e) => this.saveSettings(e) },
        field("Room name", this.nameInput),
        field("Video link", this.urlInput, "A direct link to a video file (MP4 or WebM) that everyone can open."),
        field("Private (only people with the link can join)", this.privateInput),
        field("Chat on", this.chatToggle),
        field("Who may control playback", this.controlSelect),
        field(
          "When the host is gone",
          this.timeoutSelect,
          "What happens when the host leaves and does not come back within the grace period.",
        ),
        field(
          "Wait for everyone's video",
          this.waitSelect,
          "Hold playback (10 s at most; 5 s for someone buffering) until every player is ready.",
        ),
        field("Queue order", this.queueModeSelect),
        field("Viewers may add to the queue", this.viewersQueueInput),
        h("div", { class: "actions" }, h("button", { type: "submit" }, "Save changes")),
      );
      this.fillSettings();
    }
    let deletion = null;
    if (owner) {
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
      deletion = [
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "danger", onclick: () => this.confirmDialog.showModal() }, "Delete room…"),
        ),
        this.confirmDialog,
      ];
    }
    return h(
      "details",
      { class: "settings" },
      h("summary", {}, "Room settings"),
      this.settingsForm,
      deletion,
      this.settingsError,
      this.settingsSaved,
    );
  }

  fillSettings() {
    this.nameInput.value = this.room.name;
    this.urlInput.value = this.room.media_url || "";
    this.privateInput.checked = this.room.is_private;
    this.chatToggle.checked = this.room.is_chat_enabled;
    this.controlSelect.value = this.room.control;
    this.timeoutSelect.value = this.room.on_host_timeout;
    this.waitSelect.value = this.room.wait_policy || "start";
    this.queueModeSelect.value = this.room.queue_mode || "manual";
    this.viewersQueueInput.checked = this.room.viewers_can_queue !== false;
  }

  /** @param {SubmitEvent} event */
  async saveSettings(event) {
    event.preventDefault();
    this.settingsError.textContent = "";
    this.settingsSaved.textContent = "";
    // Only what changed: a co-host saving the name during grace must not
    // also "change" the video link, which the server refuses then.
    /** @type {UpdateRoomRequest} */
    const changes = {};
    const room = this.room;
    if (this.nameInput.value !== room.name) changes.name = this.nameInput.value;
    const url = this.urlInput.value.trim() || null;
    if (url !== room.media_url) changes.media_url = url;
    if (this.privateInput.checked !== room.is_private) changes.is_private = this.privateInput.checked;
    if (this.chatToggle.checked !== room.is_chat_enabled) changes.is_chat_enabled = this.chatToggle.checked;
    const control = /** @type {Room["control"]} */ (this.controlSelect.value);
    if (control !== room.control) changes.control = control;
    const onTimeout = /** @type {Room["on_host_timeout"]} */ (this.timeoutSelect.value);
    if (onTimeout !== room.on_host_timeout) changes.on_host_timeout = onTimeout;
    if (room.wait_policy !== undefined && this.waitSelect.value !== room.wait_policy) changes.wait_policy = this.waitSelect.value;
    if (room.queue_mode !== undefined && this.queueModeSelect.value !== room.queue_mode) changes.queue_mode = this.queueModeSelect.value;
    if (room.viewers_can_queue !== undefined && this.viewersQueueInput.checked !== room.viewers_can_queue) {
      changes.viewers_can_queue = this.viewersQueueInput.checked;
    }
    if (Object.keys(changes).length === 0) {
      this.settingsSaved.textContent = "Nothing to save.";
      return;
    }
    try {
      const { room: updated } = await api.updateRoom(this.code, changes);
      this.roomUpdated(updated);
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
   * @param {EndDetail} [detail] a refused join's `until`
   */
  end(reason, text, detail) {
    if (this.left) return;
    this.leave();
    if (reason === "signed_out") return this.signedOut();
    if (reason === "kicked" || reason === "banned" || reason === "refused") return this.removed(reason, detail);
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

  // Kicked or banned: why, and until when. The socket is not reconnected
  // (the server's REMOVED, or the close code 4003 / 4004, or a join that
  // answers `banned`, ended it for good).
  /**
   * @param {"kicked" | "banned" | "refused"} how
   * @param {EndDetail} [detail]
   */
  removed(how, detail) {
    const removal = this.removal;
    const action = removal ? removal.action : how;
    const until = removal ? removal.until : (detail && detail.until) || null;
    const reason = removal ? removal.reason : null;
    const heading = h("h1", { tabindex: "-1", id: "room-ended" }, "You were removed from this room");
    const what =
      action === "kicked"
        ? "A moderator kicked you out of the room."
        : action === "banned"
          ? "A moderator banned you from the room."
          : "You can't rejoin this room right now: a moderator removed you from it.";
    const lasts =
      action === "kicked"
        ? until
          ? `You can join again from ${whenText(until)}.`
          : "You can join again."
        : until
          ? `You can join again from ${whenText(until)}.`
          : action === "banned"
            ? "The ban lasts until a moderator lifts it."
            : "";
    replace(
      this.root,
      h(
        "section",
        { class: "card ended removed", "data-reason": action },
        heading,
        h("p", {}, what),
        reason ? h("p", {}, "Reason: ", h("q", { id: "removed-reason" }, reason)) : null,
        lasts ? h("p", { id: "removed-until" }, lasts) : null,
        h("p", {}, h("a", { href: "/", "data-nav": true }, "Back to the rooms")),
      ),
    );
    document.title = "Removed · watchparty";
    heading.focus();
  }
}

/**
 * "in sync", "0.4 s behind", "0.3 s ahead".
 *
 * @param {number} driftMs positive: ahead of the room
 */
function driftText(driftMs) {
  if (Math.abs(driftMs) < 50) return "in sync";
  return `${(Math.abs(driftMs) / 1000).toFixed(1)} s ${driftMs < 0 ? "behind" : "ahead"}`;
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
