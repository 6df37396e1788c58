// The queue panel (contract §12): what plays now, the waiting items in play
// order with who added them and their votes, and — as the user's
// capabilities allow — adding a video, voting, moving, removing and "Next".
//
// The list always comes from `GET …/queue/`: on entry, after every
// (re)connect and on every `QUEUE_UPDATED` (whose item lacks `voted_by_me`,
// which differs per person). Answers older than what is shown are dropped.

import { api, codeOf, messageOf } from "./api.js";
import { h, replace, field, errorLine } from "./dom.js";

/**
 * @import { QueueItem, Room, ServerMessage } from "./protocol"
 */

/**
 * What the panel needs to know about the page around it.
 *
 * @typedef {object} QueueContext
 * @property {string} code the room's code
 * @property {number} me the signed-in user's id
 * @property {() => Set<string>} capabilities what `CAPABILITIES` allows
 * @property {() => Room} room the room as last heard of (`queue_mode`)
 */

/**
 * What a person calls an item: its title, else its link.
 *
 * @param {QueueItem} item
 */
export function itemLabel(item) {
  return item.title || item.media_url;
}

/**
 * "1:05:09", "4:20", "0:07".
 *
 * @param {number} seconds
 */
function lengthText(seconds) {
  const s = Math.round(seconds);
  const hours = Math.floor(s / 3600);
  const mins = Math.floor((s % 3600) / 60);
  const secs = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${String(mins).padStart(2, "0")}:${secs}` : `${mins}:${secs}`;
}

/** @param {number} n */
function votesText(n) {
  return n === 1 ? "1 vote" : `${n} votes`;
}

export class QueuePanel {
  /** @param {QueueContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {QueueItem | null} */
    this.current = null;
    /** @type {QueueItem[]} */
    this.items = [];
    // The newest queue_version shown; -1 before the first answer.
    this.version = -1;
    this.loading = false;
    this.again = false;
    this.stopped = false;

    this.countEl = h("span", { class: "muted" });
    this.currentEl = h("p", { class: "queue-current", id: "queue-current" });
    this.nextButton = h(
      "button",
      { type: "button", id: "queue-next", onclick: () => this.next() },
      "Next",
    );
    this.modeEl = h("p", { class: "muted queue-mode", id: "queue-mode" });
    this.listEl = h("ol", { class: "queue-items", id: "queue-items", "aria-label": "Up next" });
    this.emptyEl = h("p", { class: "muted", id: "queue-empty" }, "Nothing is waiting.");
    this.errorEl = errorLine();
    this.errorEl.id = "queue-error";

    this.urlInput = h("input", {
      type: "url",
      id: "queue-url",
      required: true,
      maxlength: 2048,
      placeholder: "https://example.com/film.mp4",
    });
    this.titleInput = h("input", { type: "text", id: "queue-title", maxlength: 200 });
    this.durationInput = h("input", { type: "number", id: "queue-duration", min: 1, step: "any", inputmode: "decimal" });
    this.nextInput = h("input", { type: "checkbox", id: "queue-play-next" });
    this.playNextField = field("Play it next", this.nextInput);
    this.addButton = h("button", { type: "submit" }, "Add to queue");
    this.form = h(
      "form",
      { class: "queue-add", id: "queue-add", onsubmit: (/** @type {SubmitEvent} */ e) => this.add(e) },
      field("Link to a video", this.urlInput, "A direct link to a video file (MP4 or WebM)."),
      h(
        "div",
        { class: "queue-add-row" },
        field("Title (optional)", this.titleInput),
        field("Length in seconds (optional)", this.durationInput, "Lets the room move on by itself at its end."),
      ),
      this.playNextField,
      h("div", { class: "actions" }, this.addButton),
    );
    this.element = h(
      "section",
      { class: "queue", id: "queue", "aria-labelledby": "queue-h" },
      h("h2", { id: "queue-h" }, "Queue ", this.countEl),
      h("div", { class: "queue-now" }, this.currentEl, this.nextButton),
      this.modeEl,
      this.listEl,
      this.emptyEl,
      this.errorEl,
      this.form,
    );
    this.render();
  }

  stop() {
    this.stopped = true;
  }

  // ---- what the server says ---------------------------------------------------

  /**
   * Fetches the queue; calls made while one is under way are folded into one
   * more fetch after it, so a burst of updates costs two requests.
   */
  async refresh() {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      do {
        this.again = false;
        let list;
        try {
          list = await api.queue(this.ctx.code);
        } catch {
          // The panel keeps what it shows; the next update fetches again.
          return;
        }
        if (this.stopped) return;
        if (list.queue_version >= this.version) {
          this.current = list.current;
          this.items = list.items;
          this.version = list.queue_version;
          this.render();
        }
      } while (this.again && !this.stopped);
    } finally {
      this.loading = false;
    }
  }

  /**
   * `QUEUE_UPDATED`: the new current item shows at once on an advance; the
   * list (and this user's votes) come from a fetch.
   *
   * @param {Extract<ServerMessage, { type: "QUEUE_UPDATED" }>} msg
   */
  updated(msg) {
    if (msg.op === "advanced" && msg.queue_version > this.version) {
      const item = msg.item ?? null;
      this.current = item;
      if (item) this.items = this.items.filter((i) => i.id !== item.id);
      this.render();
    }
    this.refresh();
  }

  /**
   * The room changed (`ROOM_UPDATED`, a `PATCH` answer): its current item,
   * and the queue mode the buttons depend on.
   *
   * @param {Room} room
   */
  roomChanged(room) {
    if (room.queue_version !== undefined && room.queue_version >= this.version && room.current_item !== undefined) {
      this.current = room.current_item;
      const id = room.current_item ? room.current_item.id : null;
      this.items = this.items.filter((i) => i.id !== id);
      this.version = room.queue_version;
    }
    this.render();
  }

  // ---- the panel ----------------------------------------------------------------

  /** Redraws everything but the add form (which keeps what is typed in it). */
  render() {
    const caps = this.ctx.capabilities();
    const vote = this.ctx.room().queue_mode === "vote";
    if (this.current) {
      const length = this.current.duration ? ` (${lengthText(this.current.duration)})` : "";
      replace(
        this.currentEl,
        "Now playing: ",
        h("strong", { class: "queue-current-title" }, itemLabel(this.current)),
        length,
      );
      this.currentEl.dataset.itemId = String(this.current.id);
    } else {
      this.currentEl.textContent = "Nothing is playing.";
      delete this.currentEl.dataset.itemId;
    }
    this.nextButton.hidden = !caps.has("control_playback") || (!this.current && this.items.length === 0);
    this.nextButton.setAttribute(
      "aria-label",
      this.items.length ? `Next: play ${itemLabel(this.items[0])}` : "Next: stop, nothing is waiting",
    );
    this.modeEl.textContent = vote ? "Most votes play first." : "";
    this.modeEl.hidden = !vote;
    this.countEl.textContent = this.items.length ? `(${this.items.length} waiting)` : "";
    replace(
      this.listEl,
      this.items.map((item, index) => this.item(item, index, caps, vote)),
    );
    this.listEl.hidden = this.items.length === 0;
    this.emptyEl.hidden = this.items.length !== 0;
    this.form.hidden = !caps.has("add_to_queue");
    // `position` counts only in manual mode.
    this.playNextField.hidden = vote;
  }

  /**
   * @param {QueueItem} item
   * @param {number} index its place in play order
   * @param {Set<string>} caps
   * @param {boolean} vote the room is in `vote` mode
   */
  item(item, index, caps, vote) {
    const label = itemLabel(item);
    const mine = item.added_by.id === this.ctx.me;
    const manage = caps.has("manage_queue");
    const buttons = [];
    if (vote) {
      const voted = item.voted_by_me === true;
      buttons.push(
        this.button(voted ? "Unvote" : "Vote", voted ? `Take back your vote for ${label}` : `Vote for ${label}`, () =>
          api.vote(this.ctx.code, item.id, !voted),
          { "aria-pressed": voted ? "true" : "false", class: "queue-vote" },
        ),
      );
    }
    if (manage && !vote) {
      const last = index === this.items.length - 1;
      if (index > 0) {
        const after = index >= 2 ? this.items[index - 2].id : null;
        buttons.push(this.button("Up", `Move ${label} up`, () => this.move(item, after), { class: "queue-up" }));
      }
      if (!last) {
        const after = this.items[index + 1].id;
        buttons.push(this.button("Down", `Move ${label} down`, () => this.move(item, after), { class: "queue-down" }));
      }
    }
    if (mine || manage) {
      buttons.push(
        this.button("Remove", `Remove ${label}`, () => api.removeItem(this.ctx.code, item.id), { class: "queue-remove" }),
      );
    }
    return h(
      "li",
      { dataset: { itemId: item.id } },
      h(
        "div",
        { class: "queue-item-what" },
        h("span", { class: "queue-title" }, label),
        item.duration ? h("span", { class: "muted" }, ` (${lengthText(item.duration)})`) : null,
        h(
          "small",
          { class: "muted queue-by" },
          mine ? "added by you" : `added by ${item.added_by.display_name}`,
          vote || item.votes ? h("span", { class: "queue-votes" }, ` · ${votesText(item.votes)}`) : null,
        ),
      ),
      buttons.length ? h("div", { class: "queue-item-actions" }, buttons) : null,
    );
  }

  /**
   * A button that runs one request, shows a refusal, and fetches the queue
   * afterwards (the socket's `QUEUE_UPDATED` does too, unless it is down).
   *
   * @param {string} text
   * @param {string} name what a screen reader says
   * @param {() => Promise<unknown>} call
   * @param {Record<string, string>} [props]
   */
  button(text, name, call, props = {}) {
    const button = h("button", { type: "button", "aria-label": name, ...props }, text);
    button.addEventListener("click", () => this.run(button, call));
    return button;
  }

  /**
   * @param {HTMLButtonElement} button disabled meanwhile
   * @param {() => Promise<unknown>} call
   */
  async run(button, call) {
    button.disabled = true;
    this.errorEl.textContent = "";
    try {
      await call();
    } catch (err) {
      // A stale `if_version` / `if_current`: someone else was first.
      this.errorEl.textContent =
        codeOf(err) === "stale_version" ? "The queue changed meanwhile: have another look and try again." : messageOf(err);
    } finally {
      button.disabled = false;
    }
    this.refresh();
  }

  // ---- what the user does -------------------------------------------------------

  /**
   * @param {QueueItem} item
   * @param {number | null} after the waiting item it goes after; null: first
   */
  move(item, after) {
    const ifVersion = this.version >= 0 ? { if_version: this.version } : {};
    return api.moveItem(this.ctx.code, item.id, { after, ...ifVersion });
  }

  next() {
    const current = this.current ? this.current.id : null;
    return this.run(this.nextButton, () => api.advance(this.ctx.code, current));
  }

  /** @param {SubmitEvent} event */
  async add(event) {
    event.preventDefault();
    this.errorEl.textContent = "";
    const url = this.urlInput.value.trim();
    if (!url) return;
    const title = this.titleInput.value.trim();
    const duration = this.durationInput.value === "" ? null : Number(this.durationInput.value);
    /** @type {import("./protocol").AddItemRequest} */
    const request = { media_url: url };
    if (title) request.title = title;
    if (duration !== null && Number.isFinite(duration) && duration > 0) request.duration = duration;
    if (this.nextInput.checked && this.ctx.room().queue_mode !== "vote") request.position = "next";
    this.addButton.disabled = true;
    try {
      await api.addItem(this.ctx.code, request);
      this.urlInput.value = "";
      this.titleInput.value = "";
      this.durationInput.value = "";
      this.nextInput.checked = false;
    } catch (err) {
      this.errorEl.textContent =
        codeOf(err) === "queue_full" ? `The queue is full: ${messageOf(err)}` : messageOf(err);
    } finally {
      this.addButton.disabled = false;
    }
    this.refresh();
  }
}
