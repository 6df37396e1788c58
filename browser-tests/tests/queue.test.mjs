// The queue panel (contract §12) seen from two pages: both people add videos
// through the panel; the host plays the first, a 3-second clip of unknown
// length, to its end, the host's page says ENDED, and the next item starts
// by itself in both players. Then the host reorders in manual mode, switches
// the room to vote mode, the viewer's vote puts an item first, and the
// host's "Next" plays it everywhere.
// Runs twice in scripts/test.sh: on SQLite, and in production mode with the
// two people on two instances.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { eventually, hostRoom, joinAs, launchBrowser, serveFile, startServer, testVideo } from "../harness.mjs";
import { recordFrames } from "../probe.mjs";

let server, short, long, browser;
const contexts = [];
const problems = [];

before(async () => {
  server = await startServer({}, { instances: 2 });
  short = await serveFile(testVideo({ seconds: 3 }));
  long = await serveFile(testVideo());
  browser = await launchBrowser();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await short?.stop();
  await long?.stop();
  await server?.stop();
});

async function page(who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const p = await context.newPage();
  p.on("pageerror", (err) => problems.push(`${who}: ${err.message}`));
  return p;
}

/** What a page's player shows: its source, position and whether it plays. */
function player(p) {
  return p.evaluate(() => {
    const v = /** @type {HTMLVideoElement} */ (document.querySelector("#player"));
    return v ? { src: v.currentSrc, time: v.currentTime, paused: v.paused, readyState: v.readyState } : null;
  });
}

/** Waits until `p`'s player plays `src` from past its start. */
function playing(p, src, what) {
  return eventually(
    () => player(p),
    (s) => s !== null && s.src === src && !s.paused && s.time > 0.3,
    what,
    15000,
  );
}

/** The waiting items' titles on `p`, in the order the panel shows them. */
function titles(p) {
  return p.locator("#queue-items li .queue-title").allTextContents();
}

/** Waits until `p`'s panel lists exactly `expected`, in that order. */
function listed(p, expected, what) {
  return eventually(() => titles(p), (t) => JSON.stringify(t) === JSON.stringify(expected), what, 10000);
}

/** Adds an item through `p`'s panel. */
async function add(p, url, { title, duration } = {}) {
  const form = p.locator("#queue-add");
  await form.getByLabel("Link to a video").fill(url);
  if (title) await form.getByLabel("Title (optional)").fill(title);
  if (duration) await form.getByLabel("Length in seconds (optional)").fill(String(duration));
  await form.getByRole("button", { name: "Add to queue" }).click();
  // The form empties once the server took it.
  await eventually(() => form.getByLabel("Link to a video").inputValue(), (v) => v === "", "the add form emptied");
}

const stamp = Date.now().toString(36);
let ana, bo, anaFrames;
const itemB = () => `${long.url}?item=b`;
const itemC = () => `${long.url}?item=c`;
const itemD = () => `${long.url}?item=d`;

test("both add items; the host plays the first to its end and the next starts by itself on both pages", async () => {
  ana = await page("ana");
  bo = await page("bo");
  anaFrames = recordFrames(ana);
  const path = await hostRoom(ana, server.origins[0], { email: `queue-ana-${stamp}@example.com`, name: "Ana", room: "Double bill" });
  await joinAs(bo, server.origins[1] + path, { email: `queue-bo-${stamp}@example.com`, name: "Bo" });
  await ana.locator("#queue-current", { hasText: "Nothing is playing." }).waitFor();

  // The first item of an empty room becomes current at once, on both pages.
  await add(ana, short.url, { title: "Opening short" });
  for (const p of [ana, bo]) {
    await p.locator("#queue-current", { hasText: "Now playing: Opening short" }).waitFor();
    await eventually(() => player(p), (s) => s !== null && s.src === short.url && s.readyState >= 3, "the short loaded");
  }
  // Bo adds the feature, with no title: the panel shows its link.
  await add(bo, itemB());
  await listed(ana, [itemB()], "Ana sees Bo's item");
  await listed(bo, [itemB()], "Bo sees his item");
  assert.match(await ana.locator("#queue-items li").first().textContent(), /added by Bo/);
  assert.match(await bo.locator("#queue-items li").first().textContent(), /added by you/);
  // Bo may remove his own item but not move it; Ana (host) may do both
  // (but there is nothing to move it past).
  assert.equal(await bo.getByRole("button", { name: `Remove ${itemB()}` }).count(), 1);
  assert.equal(await bo.locator("#queue-next").isVisible(), false, "a viewer has no Next");
  assert.equal(await ana.locator("#queue-next").isVisible(), true);

  // Ana plays the 3-second short (of unknown length: only ENDED moves on).
  await ana.evaluate(() => document.querySelector("#player").play());
  await playing(bo, short.url, "Bo plays the short");
  await playing(ana, itemB(), "Ana's player moved on to the feature by itself");
  await playing(bo, itemB(), "Bo's player moved on to the feature by itself");
  for (const p of [ana, bo]) {
    await p.locator("#queue-current", { hasText: `Now playing: ${itemB()}` }).waitFor();
    await p.locator("#queue-empty").waitFor();
  }
  const ended = anaFrames.filter((f) => f.dir === "out" && f.msg.type === "ENDED");
  assert.equal(ended.length, 1, `Ana's page said ENDED once: ${JSON.stringify(ended.map((f) => f.msg))}`);
  const advanced = anaFrames.find((f) => f.dir === "in" && f.msg.type === "QUEUE_UPDATED" && f.msg.op === "advanced" && f.msg.item?.media_url === itemB());
  assert.ok(advanced, "the server advanced to the feature");
  const first = anaFrames.find((f) => f.dir === "in" && f.msg.type === "QUEUE_UPDATED" && f.msg.op === "advanced" && f.msg.item?.media_url === short.url);
  assert.equal(ended[0].msg.item_id, first.msg.item.id, "ENDED named the short");
  // Playing together: within half a second of each other.
  const [a, b] = await Promise.all([player(ana), player(bo)]);
  assert.ok(Math.abs(a.time - b.time) < 0.5, `together: ${JSON.stringify({ a, b })}`);
  assert.deepEqual(problems, []);
});

test("the host reorders, switches to vote mode, the viewer's vote puts an item first, and Next plays it", async () => {
  await add(ana, itemC(), { title: "Cartoon", duration: 40 });
  await add(bo, itemD(), { title: "Documentary" });
  await listed(bo, ["Cartoon", "Documentary"], "in the order added");
  // Manual mode: the host moves Bo's item up; Bo has no such buttons.
  assert.equal(await bo.locator("#queue-items .queue-up, #queue-items .queue-down").count(), 0);
  await ana.getByRole("button", { name: "Move Documentary up" }).click();
  await listed(bo, ["Documentary", "Cartoon"], "Bo sees Ana's move");
  assert.equal(await ana.locator("#queue-items .queue-vote").count(), 0, "no votes in manual mode");

  // Vote mode: most votes first, then oldest.
  await ana.locator("summary", { hasText: "Room settings" }).click();
  await ana.getByLabel("Queue order").selectOption("vote");
  await ana.getByRole("button", { name: "Save changes" }).click();
  await ana.locator("#settings-area", { hasText: "Saved." }).waitFor();
  await listed(bo, ["Cartoon", "Documentary"], "vote mode orders by votes, then age");
  await bo.locator("#queue-mode", { hasText: "Most votes play first." }).waitFor();
  assert.equal(await ana.locator("#queue-items .queue-up, #queue-items .queue-down").count(), 0, "no moves in vote mode");

  await bo.getByRole("button", { name: "Vote for Documentary" }).click();
  await listed(ana, ["Documentary", "Cartoon"], "Bo's vote puts the documentary first for Ana");
  await listed(bo, ["Documentary", "Cartoon"], "and for Bo");
  assert.match(await ana.locator("#queue-items li").first().textContent(), /1 vote/);
  const unvote = bo.getByRole("button", { name: "Take back your vote for Documentary" });
  await unvote.waitFor();
  assert.equal(await unvote.textContent(), "Unvote");
  assert.equal(await unvote.getAttribute("aria-pressed"), "true");

  // "Next": the documentary plays on both pages.
  await ana.locator("#queue-next").click();
  for (const p of [ana, bo]) {
    await p.locator("#queue-current", { hasText: "Now playing: Documentary" }).waitFor();
    await playing(p, itemD(), "the documentary plays");
  }
  await listed(bo, ["Cartoon"], "the cartoon waits");
  assert.deepEqual(problems, []);
});
