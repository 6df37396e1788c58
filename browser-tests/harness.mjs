// What every browser test needs: the real watchparty binary on a free port,
// a test video served with Range support from another origin, and Debian's
// Chromium driven by playwright-core.

import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, "..");
/** Where screenshots and the generated video go. */
export const outDir = process.env.WATCHPARTY_BROWSER_OUT || join(repo, "target", "browser-tests");

function freePort() {
  return new Promise((ok, fail) => {
    const srv = net.createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

async function waitFor(url, what, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer ${url} within ${ms} ms`);
}

/**
 * The backend the servers run on, as the Rust tests choose it
 * (crates/testkit): `WATCHPARTY_TEST_BACKEND` unset or `sqlite` — a temp
 * SQLite file, in-process live state; `postgres` — a fresh database on the
 * PostgreSQL at `WATCHPARTY_TEST_POSTGRES_URL`; `production` — that, plus
 * the Redis at `WATCHPARTY_TEST_REDIS_URL` under a key prefix of its own
 * (scripts/test.sh starts both).
 */
export const backend = process.env.WATCHPARTY_TEST_BACKEND || "sqlite";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: scripts/test.sh starts PostgreSQL and Redis and sets it`);
  return value;
}

let scratchCount = 0;

/** A new, empty database on the test PostgreSQL; returns its URL and a drop function. */
function scratchPostgres() {
  const admin = required("WATCHPARTY_TEST_POSTGRES_URL");
  const name = `wpb_${process.pid}_${Date.now().toString(36)}_${scratchCount++}`;
  execFileSync("psql", ["-q", "-v", "ON_ERROR_STOP=1", admin, "-c", `CREATE DATABASE ${name}`], { stdio: ["ignore", "ignore", "inherit"] });
  const url = `${admin.slice(0, admin.lastIndexOf("/"))}/${name}`;
  return {
    url,
    drop() {
      try {
        execFileSync("psql", ["-q", admin, "-c", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], { stdio: "ignore" });
      } catch {
        // The whole cluster is thrown away by scripts/test.sh anyway.
      }
    },
  };
}

/** Starts one `watchparty` process with `env`; resolves once it answers /healthz. */
async function launch(bin, dir, env) {
  const port = await freePort();
  const child = spawn(bin, [], {
    cwd: dir,
    env: { PATH: process.env.PATH, RUST_LOG: "warn", WATCHPARTY_BIND: `127.0.0.1:${port}`, ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise((ok) => child.once("exit", ok));
  const origin = `http://127.0.0.1:${port}`;
  await Promise.race([
    waitFor(`${origin}/healthz`, "watchparty"),
    exited.then((code) => {
      throw new Error(`watchparty exited early with ${code}`);
    }),
  ]);
  return {
    origin,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * Starts `target/debug/watchparty` (or $WATCHPARTY_BIN) on the {@link backend}.
 * With `{ instances: 2 }` in production mode, two processes share the
 * database and Redis, as behind a load balancer: `origins` lists both (on
 * the other backends, one process, and both entries are its origin). The
 * session cookie is per host, not per port, so a browser signed in on one
 * is signed in on the other. `origin` is the first. `stop()` sends SIGTERM
 * to each and waits for the exits.
 */
export async function startServer(env = {}, { instances = 1 } = {}) {
  const bin = process.env.WATCHPARTY_BIN || join(repo, "target", "debug", "watchparty");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build -p watchparty first`);
  const dir = mkdtempSync(join(tmpdir(), "watchparty-browser-"));
  let database = { url: `sqlite://${join(dir, "watchparty.db")}`, drop() {} };
  const shared = {
    WATCHPARTY_JWT_SECRET: "browser-tests-jwt-secret-at-least-32-bytes",
    WATCHPARTY_SESSION_KEY: "browser-tests-session-key-at-least-32-bytes-long",
  };
  if (backend === "postgres" || backend === "production") database = scratchPostgres();
  else if (backend !== "sqlite") throw new Error(`WATCHPARTY_TEST_BACKEND must be sqlite, postgres or production, not ${backend}`);
  if (backend === "production") {
    shared.REDIS_URL = required("WATCHPARTY_TEST_REDIS_URL");
    shared.WATCHPARTY_REDIS_PREFIX = `wpb${process.pid}x${Date.now().toString(36)}`;
  }
  shared.DATABASE_URL = database.url;
  const count = backend === "production" ? instances : 1;
  const servers = [];
  try {
    // One after the other: the first runs the migrations.
    for (let i = 0; i < count; i++) servers.push(await launch(bin, dir, { ...shared, ...env }));
  } catch (err) {
    for (const server of servers) await server.stop();
    database.drop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const origins = servers.map((s) => s.origin);
  while (origins.length < instances) origins.push(origins[0]);
  return {
    origin: origins[0],
    origins,
    backend,
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      database.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Seconds of VP8 test pattern with a keyframe every second, made once:
 * 40 s at 640×360 by default; longer clips (the sync test seeks to 60 s)
 * at 320×180, quicker to make.
 */
export function testVideo({ seconds = 40 } = {}) {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, seconds === 40 ? "clip.webm" : `clip-${seconds}s.webm`);
  const size = seconds === 40 ? "640x360" : "320x180";
  if (!existsSync(file)) {
    execFileSync(
      "ffmpeg",
      ["-loglevel", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=${size}:rate=25:duration=${seconds}`,
        "-c:v", "libvpx", "-b:v", "400k", "-g", "25", "-an", `${file}.tmp.webm`],
      { stdio: "inherit" },
    );
    execFileSync("mv", [`${file}.tmp.webm`, file]);
  }
  return file;
}

/**
 * Serves one file with byte ranges, as a video host would. A request whose
 * query has `slow=<ms>` is a poor link: its answer starts after that many
 * ms and then trickles at `slowBytesPerSec` (a browser test points one
 * page's requests there with `page.route`).
 */
export async function serveFile(file, type = "video/webm", { slowBytesPerSec = 100_000 } = {}) {
  const size = statSync(file).size;
  const server = createServer(async (req, res) => {
    const slow = Number(new URL(req.url, "http://x").searchParams.get("slow") || 0);
    if (slow > 0) await new Promise((ok) => setTimeout(ok, slow));
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range || "");
    const headers = { "Content-Type": type, "Accept-Ranges": "bytes" };
    const send = (start, end) => {
      if (req.method === "HEAD") return res.end();
      const stream = createReadStream(file, { start, end, highWaterMark: 16 * 1024 });
      if (!slow) return stream.pipe(res);
      // 16 KiB at a time, spaced to the given rate.
      const gap = (16 * 1024 * 1000) / slowBytesPerSec;
      stream.on("data", (chunk) => {
        stream.pause();
        res.write(chunk);
        setTimeout(() => stream.resume(), gap);
      });
      stream.on("end", () => res.end());
      res.on("close", () => stream.destroy());
    };
    if (!range) {
      res.writeHead(200, { ...headers, "Content-Length": size });
      return send(0, size - 1);
    }
    const start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
    const end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start >= size || start > end) {
      res.writeHead(416, { "Content-Range": `bytes */${size}` });
      return res.end();
    }
    res.writeHead(206, { ...headers, "Content-Range": `bytes ${start}-${end}/${size}`, "Content-Length": end - start + 1 });
    return send(start, end);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/clip.webm`,
    stop: () => {
      server.closeAllConnections();
      return new Promise((ok) => server.close(ok));
    },
  };
}

/** A plain web page (not a video), as another site would serve it. */
export async function servePage(html = "<!doctype html><title>Elsewhere</title><h1>Another site</h1>") {
  const server = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(html) });
    res.end(req.method === "HEAD" ? undefined : html);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${server.address().port}/watch?v=not-a-file`,
    stop: () => {
      server.closeAllConnections();
      return new Promise((ok) => server.close(ok));
    },
  };
}

/**
 * Debian's Chromium, headless, with nothing reaching outside loopback.
 * playwright-core turns the back/forward cache off by default;
 * `{ bfcache: true }` keeps it on, as a user's browser has it.
 */
export function launchBrowser({ bfcache = false } = {}) {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: apt-get install chromium (or set CHROMIUM)`);
  }
  return chromium.launch({
    executablePath,
    headless: true,
    ignoreDefaultArgs: bfcache ? ["--disable-back-forward-cache"] : [],
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
      // The tests check sync, not the browser's autoplay policy.
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

/** Signs a new user up through the visible form. */
export async function signUp(page, { email, name, password = "correct horse battery" }) {
  const form = page.locator("#sign-up");
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Display name").fill(name);
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Create account" }).click();
}

/** The room video's position and state, read inside the page. */
export function playerState(page) {
  return page.evaluate(() => {
    const v = document.querySelector("#player");
    return { time: v.currentTime, paused: v.paused, readyState: v.readyState };
  });
}

/** Polls `probe` until `accept` holds on its value, or fails with the last value. */
/** Resolves after `ms` milliseconds. */
export const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

export async function eventually(probe, accept, what, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await probe();
    if (accept(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: still ${JSON.stringify(last)} after ${ms} ms`);
}

/**
 * Forwards what `from` sends to `to`, each chunk `delay()` ms late, in
 * order (one queue per direction, drained by a single timer).
 */
function delayedPipe(from, to, delay) {
  const queue = [];
  let timer = null;
  const drain = () => {
    timer = null;
    const now = Date.now();
    while (queue.length && queue[0].due <= now) {
      const { chunk } = queue.shift();
      if (to.destroyed) continue;
      if (chunk === null) to.end();
      else to.write(chunk);
    }
    if (queue.length) timer = setTimeout(drain, queue[0].due - now);
  };
  const push = (chunk) => {
    const ms = delay();
    if (ms <= 0 && !queue.length) {
      if (!to.destroyed) chunk === null ? to.end() : to.write(chunk);
      return;
    }
    // Never before what is queued already: order is kept even when the delay changes.
    const due = Math.max(Date.now() + ms, queue.length ? queue[queue.length - 1].due : 0);
    queue.push({ due, chunk });
    if (!timer) timer = setTimeout(drain, due - Date.now());
  };
  from.on("data", push);
  from.on("end", () => push(null));
  from.on("close", () => clearTimeout(timer));
}

/**
 * A TCP relay in front of `origin`, so a test can cut a browser off the
 * server or slow its link: `cut(ms)` drops every open connection and
 * refuses new ones for `ms`; `{ up, down }` (or `setDelay`) holds every
 * byte `up` ms on its way to the server and `down` ms on its way back.
 */
export async function startRelay(origin, { up = 0, down = 0 } = {}) {
  const target = new URL(origin);
  const open = new Set();
  const delays = { up, down };
  let refuseUntil = 0;
  const relay = net.createServer((client) => {
    if (Date.now() < refuseUntil) return client.destroy();
    const upstream = net.connect(Number(target.port), target.hostname);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair = { client, upstream };
    open.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(pair);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    delayedPipe(client, upstream, () => delays.up);
    delayedPipe(upstream, client, () => delays.down);
  });
  await new Promise((ok) => relay.listen(0, "127.0.0.1", ok));
  return {
    origin: `http://127.0.0.1:${relay.address().port}`,
    /** @param {{ up?: number, down?: number }} d */
    setDelay(d) {
      Object.assign(delays, d);
    },
    cut(ms) {
      refuseUntil = Date.now() + ms;
      for (const { client, upstream } of open) {
        client.destroy();
        upstream.destroy();
      }
      open.clear();
    },
    stop: () => {
      for (const { client, upstream } of open) {
        client.destroy();
        upstream.destroy();
      }
      return new Promise((ok) => relay.close(ok));
    },
  };
}

/** Signs up, starts a room on `media` and waits until its socket is up. */
export async function hostRoom(page, origin, { email, name, room, media }) {
  await page.goto(origin);
  await signUp(page, { email, name });
  const form = page.locator("#create-room");
  await form.getByLabel("Room name").fill(room);
  if (media) await form.getByLabel("Video link").fill(media);
  await form.getByRole("button", { name: "Start the room" }).click();
  await page.waitForURL(/\/r\/[A-Z2-9]{10}$/);
  await connected(page);
  return new URL(page.url()).pathname;
}

/** Waits until the room page says its socket is connected. */
export async function connected(page) {
  await page.locator(".link-status", { hasText: /^connected$/ }).waitFor();
}

/** Opens an invite link, signs a new user up on the way and waits for the socket. */
export async function joinAs(page, url, { email, name }) {
  await page.goto(url);
  await signUp(page, { email, name });
  await connected(page);
}

/** Opens the per-person menu for `name` on `page`; returns the dialog. */
export async function personMenu(page, name) {
  await page.getByRole("button", { name: `Manage ${name}`, exact: true }).click();
  const dialog = page.getByRole("dialog", { name });
  await dialog.waitFor();
  return dialog;
}
