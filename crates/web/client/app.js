// The page shell: who is signed in, which view shows, and the home page.

import { api, messageOf } from "./api.js";
import { h, replace, field, errorLine } from "./dom.js";
import { mountRoom } from "./room.js";

/**
 * @import { Room, User } from "./protocol"
 * @import { UserBody } from "./api-types"
 */

// index.html has both.
const main = /** @type {HTMLElement} */ (document.getElementById("main"));
const account = /** @type {HTMLElement} */ (document.getElementById("account"));
/** @type {User | null} */
let me = null;
let unmount = () => {};

const ROOM_PATH = /^\/r\/([A-Za-z0-9]+)\/?$/;

/** @param {string} path */
function navigate(path) {
  if (path !== location.pathname) history.pushState(null, "", path);
  show();
}

// Links marked data-nav stay inside the page.
document.addEventListener("click", (e) => {
  // A click's target is an element; every data-nav link has an href.
  const a = /** @type {Element} */ (e.target).closest("a[data-nav]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(/** @type {string} */ (a.getAttribute("href")));
});
window.addEventListener("popstate", show);

async function start() {
  try {
    ({ user: me } = await api.me());
  } catch {
    me = null;
  }
  show();
}

function show() {
  unmount();
  unmount = () => {};
  renderAccount();
  const room = ROOM_PATH.exec(location.pathname);
  if (room) {
    if (!me) return showAuth("Sign in to join the room");
    unmount = mountRoom(main, room[1], me);
  } else {
    document.title = "watchparty";
    unmount = showHome();
  }
}

function renderAccount() {
  if (me) {
    replace(
      account,
      h("span", { class: "muted" }, "Signed in as ", h("strong", {}, me.display_name)),
      h("button", { type: "button", onclick: signOut }, "Sign out"),
    );
  } else {
    replace(account);
  }
}

async function signOut() {
  try {
    await api.logout();
  } finally {
    me = null;
    navigate("/");
  }
}

// ---- sign in / sign up --------------------------------------------------------

/**
 * @param {string} heading
 * @param {string} lede
 */
function authForms(heading, lede) {
  const signIn = (() => {
    const email = h("input", { type: "email", required: true, autocomplete: "username", name: "email" });
    const password = h("input", { type: "password", required: true, autocomplete: "current-password", name: "password" });
    const error = errorLine();
    return h(
      "form",
      {
        id: "sign-in",
        "aria-labelledby": "sign-in-h",
        onsubmit: (/** @type {SubmitEvent} */ e) => submit(e, error, () => api.login(email.value, password.value)),
      },
      h("h2", { id: "sign-in-h" }, "Sign in"),
      field("Email", email),
      field("Password", password),
      h("button", { type: "submit", class: "primary" }, "Sign in"),
      error,
    );
  })();
  const signUp = (() => {
    const email = h("input", { type: "email", required: true, autocomplete: "email", maxlength: 254, name: "email" });
    const name = h("input", { type: "text", maxlength: 50, autocomplete: "nickname", name: "display_name" });
    const password = h("input", {
      type: "password",
      required: true,
      minlength: 8,
      maxlength: 1024,
      autocomplete: "new-password",
      name: "password",
    });
    const error = errorLine();
    return h(
      "form",
      {
        id: "sign-up",
        "aria-labelledby": "sign-up-h",
        onsubmit: (/** @type {SubmitEvent} */ e) => submit(e, error, () => api.register(email.value, password.value, name.value.trim())),
      },
      h("h2", { id: "sign-up-h" }, "New here? Sign up"),
      field("Email", email),
      field("Display name", name, "What others see. Leave empty to use the start of your email."),
      field("Password", password, "At least 8 characters."),
      h("button", { type: "submit", class: "primary" }, "Create account"),
      error,
    );
  })();
  return h(
    "section",
    { class: "auth", "aria-label": heading },
    h("div", { class: "auth-intro" }, h("h1", {}, heading), h("p", { class: "lede" }, lede)),
    h("div", { class: "auth-forms" }, h("div", { class: "card" }, signIn), h("div", { class: "card" }, signUp)),
  );
}

/**
 * Sends a sign-in or sign-up form; on success the page shows as signed in.
 *
 * @param {SubmitEvent} event
 * @param {HTMLElement} error where a refusal is said
 * @param {() => Promise<UserBody>} call
 */
async function submit(event, error, call) {
  event.preventDefault();
  // Both forms have one.
  const form = /** @type {HTMLFormElement} */ (event.target);
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  error.textContent = "";
  button.disabled = true;
  try {
    ({ user: me } = await call());
    show();
  } catch (err) {
    error.textContent = messageOf(err);
  } finally {
    button.disabled = false;
  }
}

/** @param {string} heading */
function showAuth(heading) {
  document.title = "Sign in · watchparty";
  replace(main, authForms(heading, "Sign in, or create an account in a few seconds, and you go straight into the room."));
}

// ---- home -----------------------------------------------------------------------

function showHome() {
  const list = h("ul", { class: "rooms", id: "public-rooms" });
  const listStatus = h("p", { class: "muted" }, "Loading…");
  const sections = [];
  if (me) sections.push(createRoomForm(), joinForm());
  else {
    sections.push(
      authForms(
        "Watch videos together, in sync",
        "Paste a link to a video file, send your friends the invite, and everyone sees the same frame at the same moment, with chat alongside.",
      ),
    );
  }
  sections.push(
    h(
      "section",
      { class: "card wide", "aria-labelledby": "public-h" },
      h("h2", { id: "public-h" }, "Public rooms"),
      listStatus,
      list,
    ),
  );
  replace(main, h("div", { class: me ? "home" : "home signed-out" }, sections));

  let stopped = false;
  const refresh = async () => {
    try {
      const { rooms } = await api.publicRooms();
      if (stopped) return;
      listStatus.textContent = rooms.length ? "" : "No public rooms right now. Start one!";
      replace(list, rooms.map(roomItem));
    } catch (err) {
      if (!stopped) listStatus.textContent = `Couldn't load the rooms: ${messageOf(err)}`;
    }
  };
  refresh();
  const timer = setInterval(refresh, 5000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/** @param {Room} room */
function roomItem(room) {
  const viewers = room.viewer_count === 1 ? "1 watching" : `${room.viewer_count} watching`;
  return h(
    "li",
    {},
    h("a", { href: `/r/${room.code}`, "data-nav": true }, room.name),
    h("span", { class: "muted" }, ` by ${room.host.display_name}`),
    h("span", { class: "count", "aria-label": viewers }, viewers),
    room.status === "grace" ? h("span", { class: "badge warn" }, "host away") : null,
  );
}

function createRoomForm() {
  const name = h("input", { type: "text", required: true, maxlength: 100, id: "room-name" });
  const url = h("input", { type: "url", id: "room-media", placeholder: "https://example.com/film.mp4" });
  const isPrivate = h("input", { type: "checkbox", id: "room-private" });
  const chat = h("input", { type: "checkbox", id: "room-chat", checked: true });
  const error = errorLine();
  const create = async (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const { room } = await api.createRoom({
        name: name.value,
        media_url: url.value.trim() || null,
        is_private: isPrivate.checked,
        is_chat_enabled: chat.checked,
      });
      navigate(`/r/${room.code}`);
    } catch (err) {
      error.textContent = messageOf(err);
    }
  };
  return h(
    "form",
    { class: "card", id: "create-room", "aria-labelledby": "create-h", onsubmit: create },
    h("h2", { id: "create-h" }, "Start a room"),
    field("Room name", name),
    field("Video link", url, "A direct link to an MP4 or WebM file. You can add it later."),
    field("Private: only people with the link can join", isPrivate),
    field("Chat on", chat),
    h("button", { type: "submit", class: "primary" }, "Start the room"),
    error,
  );
}

function joinForm() {
  const code = h("input", { type: "text", required: true, id: "join-code", autocomplete: "off" });
  const error = errorLine();
  const join = (/** @type {SubmitEvent} */ e) => {
    e.preventDefault();
    const text = code.value.trim();
    const match = /\/r\/([A-Za-z0-9]+)/.exec(text) || /^([A-Za-z0-9]+)$/.exec(text);
    if (!match) {
      error.textContent = "Paste a room code like K7Q2M9XAPD or an invite link.";
      return;
    }
    navigate(`/r/${match[1].toUpperCase()}`);
  };
  return h(
    "form",
    { class: "card", id: "join-room", "aria-labelledby": "join-h", onsubmit: join },
    h("h2", { id: "join-h" }, "Join a room"),
    field("Room code or invite link", code),
    h("button", { type: "submit" }, "Join"),
    error,
  );
}

start();
