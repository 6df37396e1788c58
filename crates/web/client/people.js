// The participants panel: everyone in the room with their role, split into
// who is here now and who is away, and — when the user's capabilities allow —
// a menu per person: roles, handing over the host, mute, kick and ban.

import { api, messageOf } from "./api.js";
import { h, replace, field, errorLine, clockTime } from "./dom.js";

/**
 * @import { Participant, PresentUser, PublicUser } from "./protocol"
 */

/**
 * What the panel needs to know about the page around it.
 *
 * @typedef {object} PanelContext
 * @property {string} code the room's code
 * @property {number} me the signed-in user's id
 * @property {() => number | null} ownerId the room's owner (null: not known)
 * @property {() => string} myRole "host", "co_host" or "viewer"
 * @property {() => Set<string>} capabilities what `CAPABILITIES` allows
 * @property {(text: string) => void} notice says what just happened
 */

const ROLE_ORDER = /** @type {Record<string, number>} */ ({ host: 0, co_host: 1, viewer: 2 });
const ROLE_NAMES = /** @type {Record<string, string>} */ ({ host: "host", co_host: "co-host" });

// Durations offered in the menus, in seconds; null: until lifted.
/** @type {[string, number | null][]} */
const MUTE_FOR = [["until I lift it", null], ["5 minutes", 300], ["15 minutes", 900], ["1 hour", 3600]];
/** @type {[string, number][]} */
const REJOIN_AFTER = [["5 minutes", 300], ["right away", 0], ["1 hour", 3600], ["1 day", 86400]];
/** @type {[string, number | null][]} */
const BAN_FOR = [["until it is lifted", null], ["1 hour", 3600], ["1 day", 86400], ["1 week", 604800], ["30 days", 2592000]];

/**
 * The user's own name for a role.
 *
 * @param {string} role
 */
export function roleName(role) {
  return ROLE_NAMES[role] || "viewer";
}

/**
 * "20:15" today, a date and time otherwise.
 *
 * @param {string} iso RFC 3339
 */
export function whenText(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? clockTime(iso) : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/**
 * A participant known only from `PRESENCE` or `USER_JOINED` (the list was not
 * fetched yet, or the server predates it).
 *
 * @param {PublicUser} user
 * @param {string} role
 * @returns {Participant}
 */
function fromPresence(user, role) {
  return /** @type {Participant} */ ({
    user: { id: user.id, display_name: user.display_name },
    role,
    is_approved: true,
    joined_at: "",
    is_muted: false,
    muted_until: null,
    is_connected: true,
  });
}

export class PeoplePanel {
  /** @param {PanelContext} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Map<number, Participant>} */
    this.people = new Map();
    this.hereEl = h("ul", { class: "people", id: "participants", "aria-label": "Here now" });
    this.awayEl = h("ul", { class: "people away", id: "participants-away", "aria-label": "Away" });
    this.awayHeading = h("h3", { class: "people-away-h" }, "Away");
    this.hereCount = h("span", { class: "muted" });
    this.dialog = h("dialog", { class: "person-menu", id: "person-menu", "aria-labelledby": "person-menu-h" });
    this.element = h(
      "section",
      { "aria-labelledby": "people-h" },
      h("h2", { id: "people-h" }, "People ", this.hereCount),
      this.hereEl,
      this.awayHeading,
      this.awayEl,
      this.dialog,
    );
    /** @type {number | null} */
    this.menuFor = null;
    // Whether a socket has said who is connected (PRESENCE) yet.
    this.live = false;
    this.dialog.addEventListener("close", () => (this.menuFor = null));
  }

  // ---- what the server says ---------------------------------------------------

  /** @param {Participant[]} list from `GET …/participants/` */
  setAll(list) {
    // Who is connected comes from the socket once it has spoken (PRESENCE,
    // then USER_JOINED / USER_LEFT), which is newer than any HTTP answer:
    // keep it for people already known, and keep a connected newcomer the
    // answer was too early to list.
    const previous = this.people;
    this.people = new Map(list.map((p) => [p.user.id, p]));
    if (this.live) {
      for (const [id, old] of previous) {
        const now = this.people.get(id);
        if (now) now.is_connected = old.is_connected;
        else if (old.is_connected) this.people.set(id, old);
      }
    }
    this.render();
  }

  /** @param {PresentUser[]} users `PRESENCE`: exactly who is connected now */
  presence(users) {
    this.live = true;
    const here = new Set(users.map((u) => u.id));
    for (const p of this.people.values()) p.is_connected = here.has(p.user.id);
    for (const u of users) {
      const role = u.role || (u.is_host ? "host" : "viewer");
      const known = this.people.get(u.id);
      if (known) known.role = role;
      else this.people.set(u.id, fromPresence(u, role));
    }
    this.render();
  }

  /**
   * @param {PublicUser} user
   * @param {boolean} isHost
   */
  joined(user, isHost) {
    const known = this.people.get(user.id);
    if (known) known.is_connected = true;
    else this.people.set(user.id, fromPresence(user, isHost ? "host" : "viewer"));
    this.render();
  }

  /** @param {PublicUser} user */
  left(user) {
    const known = this.people.get(user.id);
    if (known) known.is_connected = false;
    this.render();
  }

  /** @param {Participant} participant `PARTICIPANT_UPDATED` and HTTP answers */
  updated(participant) {
    this.people.set(participant.user.id, { ...participant });
    this.render();
  }

  /** @param {PublicUser} user */
  removed(user) {
    this.people.delete(user.id);
    if (this.menuFor === user.id) this.dialog.close();
    this.render();
  }

  /**
   * `HOST_CHANGED`: the new host, and the previous one is a co-host now.
   *
   * @param {PublicUser} host
   * @param {PublicUser} previous
   */
  hostChanged(host, previous) {
    const old = this.people.get(previous.id);
    if (old && old.role === "host") old.role = "co_host";
    const now = this.people.get(host.id);
    if (now) {
      now.role = "host";
      // Becoming host lifts one's mute.
      now.is_muted = false;
      now.muted_until = null;
    } else {
      this.people.set(host.id, { ...fromPresence(host, "host"), is_connected: false });
    }
    this.render();
  }

  /** @param {number} id */
  get(id) {
    return this.people.get(id);
  }

  // ---- the lists ---------------------------------------------------------------

  /** Redraws both lists (and the open menu, whose choices may have changed). */
  render() {
    const sorted = [...this.people.values()].sort(
      (a, b) =>
        (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3) ||
        (a.joined_at || "~").localeCompare(b.joined_at || "~") ||
        a.user.display_name.localeCompare(b.user.display_name),
    );
    const here = sorted.filter((p) => p.is_connected);
    const away = sorted.filter((p) => !p.is_connected);
    replace(this.hereEl, here.map((p) => this.item(p)));
    replace(this.awayEl, away.map((p) => this.item(p)));
    this.awayHeading.hidden = away.length === 0;
    this.awayEl.hidden = away.length === 0;
    this.hereCount.textContent = `(${here.length} here)`;
    if (this.menuFor !== null) {
      const p = this.people.get(this.menuFor);
      if (p && this.actionsFor(p).any) this.refreshMenuHeading(p);
      else this.dialog.close();
    }
  }

  /** @param {Participant} p */
  item(p) {
    const { user } = p;
    const actions = this.actionsFor(p);
    return h(
      "li",
      { dataset: { userId: user.id, role: p.role }, class: p.is_connected ? "here" : "gone" },
      h("span", { class: "person-name" }, user.display_name),
      p.role === "host" ? h("span", { class: "badge" }, "host") : null,
      p.role === "co_host" ? h("span", { class: "badge co-host" }, "co-host") : null,
      user.id === this.ctx.ownerId() ? h("span", { class: "badge owner" }, "owner") : null,
      p.is_muted ? h("span", { class: "badge warn muted-badge" }, "muted") : null,
      user.id === this.ctx.me ? h("span", { class: "muted you" }, "(you)") : null,
      actions.any
        ? h(
            "button",
            {
              type: "button",
              class: "person-manage",
              "aria-label": `Manage ${user.display_name}`,
              "aria-haspopup": "dialog",
              onclick: () => this.openMenu(user.id),
            },
            "Manage",
          )
        : null,
    );
  }

  /**
   * What the user may do to `p`, from their capabilities and the contract's
   * rules (a co-host cannot act on another co-host, the host or the owner).
   * The server decides; this only hides what it would refuse.
   *
   * @param {Participant} p
   */
  actionsFor(p) {
    const caps = this.ctx.capabilities();
    const mine = this.ctx.myRole();
    const self = p.user.id === this.ctx.me;
    const isOwner = p.user.id === this.ctx.ownerId();
    const roles = !self && caps.has("manage_roles") && p.role !== "host";
    const handOver = !self && mine === "host" && p.role !== "host";
    const outranks = self || isOwner || p.role === "host" || (mine !== "host" && p.role === "co_host");
    const moderate = caps.has("moderate") && !outranks;
    return { roles, handOver, moderate, any: roles || handOver || moderate };
  }

  // ---- the menu ----------------------------------------------------------------

  /** @param {number} id */
  openMenu(id) {
    const p = this.people.get(id);
    if (!p) return;
    this.menuFor = id;
    this.buildMenu(p);
    if (!this.dialog.open) this.dialog.showModal();
  }

  /** @param {Participant} p */
  refreshMenuHeading(p) {
    const status = this.dialog.querySelector(".person-status");
    if (status) status.textContent = statusLine(p);
  }

  /** @param {Participant} p */
  buildMenu(p) {
    const { user } = p;
    const actions = this.actionsFor(p);
    const error = errorLine();
    /**
     * Runs one action; closes the menu when it worked, says why when not.
     *
     * @param {HTMLButtonElement} button
     * @param {() => Promise<unknown>} call
     * @param {string} done what the notice says afterwards
     */
    const run = async (button, call, done) => {
      error.textContent = "";
      button.disabled = true;
      try {
        await call();
        this.dialog.close();
        this.ctx.notice(done);
      } catch (err) {
        error.textContent = messageOf(err);
      } finally {
        button.disabled = false;
      }
    };
    const code = this.ctx.code;
    const name = user.display_name;
    const parts = [];

    if (actions.roles) {
      const toCoHost = p.role !== "co_host";
      const button = h(
        "button",
        {
          type: "button",
          onclick: () =>
            run(
              button,
              async () => this.updated((await api.setRole(code, user.id, toCoHost ? "co_host" : "viewer")).participant),
              toCoHost ? `${name} is a co-host now.` : `${name} is a viewer now.`,
            ),
        },
        toCoHost ? "Make co-host" : "Make viewer",
      );
      parts.push(h("div", { class: "actions" }, button));
    }

    if (actions.handOver) {
      const button = h(
        "button",
        {
          type: "button",
          disabled: !p.is_connected,
          onclick: () => run(button, () => api.setHost(code, user.id), `You handed the room to ${name}.`),
        },
        "Hand over host",
      );
      parts.push(
        h(
          "div",
          { class: "actions" },
          button,
          p.is_connected ? null : h("small", { class: "muted" }, `Only to someone here now: ${name} is away.`),
        ),
      );
    }

    if (actions.moderate) {
      if (p.is_muted) {
        const button = h(
          "button",
          {
            type: "button",
            onclick: () =>
              run(button, async () => this.updated((await api.unmute(code, user.id)).participant), `${name} may chat again.`),
          },
          "Unmute",
        );
        parts.push(
          h(
            "fieldset",
            {},
            h("legend", {}, "Chat"),
            h("p", { class: "muted" }, p.muted_until ? `Muted until ${whenText(p.muted_until)}.` : "Muted until lifted."),
            h("div", { class: "actions" }, button),
          ),
        );
      } else {
        const muteFor = choice(MUTE_FOR, "mute-for");
        const button = h(
          "button",
          {
            type: "button",
            onclick: () =>
              run(
                button,
                async () =>
                  this.updated(
                    (await api.mute(code, { user_id: user.id, duration_secs: seconds(muteFor.value) })).participant,
                  ),
                `${name} is muted.`,
              ),
          },
          "Mute",
        );
        parts.push(h("fieldset", {}, h("legend", {}, "Chat"), field("Mute for", muteFor), h("div", { class: "actions" }, button)));
      }

      const reason = h("input", { type: "text", maxlength: 200, id: "remove-reason", placeholder: "Shown to them" });
      const rejoin = choice(REJOIN_AFTER, "kick-rejoin");
      const banFor = choice(BAN_FOR, "ban-for");
      const why = () => reason.value.trim() || undefined;
      const kick = h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: () =>
            run(
              kick,
              () => api.kick(code, { user_id: user.id, reason: why(), rejoin_after_secs: Number(rejoin.value) }),
              `You kicked ${name}.`,
            ),
        },
        "Kick",
      );
      const ban = h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: () =>
            run(ban, () => api.ban(code, { user_id: user.id, reason: why(), duration_secs: seconds(banFor.value) }), `You banned ${name}.`),
        },
        "Ban",
      );
      parts.push(
        h(
          "fieldset",
          {},
          h("legend", {}, "Remove from the room"),
          field("Reason", reason),
          h("div", { class: "remove-row" }, field("May rejoin after", rejoin), kick),
          h("div", { class: "remove-row" }, field("Ban for", banFor), ban),
        ),
      );
    }

    replace(
      this.dialog,
      h("h2", { id: "person-menu-h" }, name),
      h("p", { class: "muted person-status" }, statusLine(p)),
      parts,
      error,
      h("form", { method: "dialog", class: "actions" }, h("button", { value: "close" }, "Close")),
    );
  }
}

/** @param {Participant} p */
function statusLine(p) {
  const role = p.role === "host" ? "Host" : p.role === "co_host" ? "Co-host" : "Viewer";
  return `${role} · ${p.is_connected ? "here now" : "away"}${p.is_muted ? " · muted" : ""}`;
}

/**
 * A `<select>` of durations; the empty value means "until lifted".
 *
 * @param {[string, number | null][]} options
 * @param {string} id
 */
function choice(options, id) {
  return h(
    "select",
    { id },
    options.map(([label, secs]) => h("option", { value: secs === null ? "" : String(secs) }, label)),
  );
}

/** @param {string} value a {@link choice}'s value */
function seconds(value) {
  return value === "" ? null : Number(value);
}
