// The group wait and sync telemetry seen from the pages (contract §9, §10):
// a viewer whose video is slow to arrive holds the room after a seek, and
// everyone starts together once it is ready; the host's sync panel lists
// the viewer; "Don't wait for me" takes the viewer out of the waits; one
// still not ready at the deadline is named as skipped.
// Runs twice in scripts/test.sh: on SQLite, and in production mode with the
// two people on two instances.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  eventually, hostRoom, joinAs, launchBrowser, playerState, serveFile, startServer, testVideo,
  sleep,
} from "../harness.mjs";
import { recordFrames } from "../probe.mjs";

let server, video, browser;
let count = 0;

before(async () => {
  server = await startServer({}, { instances: 2 });
  // A slow link brings 75 kB/s, under twice the clip's bitrate: however long
  // the setup takes, it has not reached 30 s of video by the time of the seek.
  video = await serveFile(testVideo(), "video/webm", { slowBytesPerSec: 75_000 });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await video?.stop();
  await server?.stop();
});

/** From now on every video request of `page` starts `ms` late and trickles. */
function slowVideo(page, ms = 1500) {
  return page.route(
    (url) => url.href === video.url,
    (route) => route.continue({ url: `${video.url}?slow=${ms}` }),
  );
}

/** Ana hosts on the first instance, Bo joins on the second; both videos loaded. */
async function room(name, { slowViewer = false } = {}) {
  const stamp = `${Date.now().toString(36)}${count++}`;
  const hostContext = await browser.newContext();
  const viewerContext = await browser.newContext();
  const host = await hostContext.newPage();
  const viewer = await viewerContext.newPage();
  const problems = [];
  for (const [who, page] of [["host", host], ["viewer", viewer]]) {
    page.on("pageerror", (err) => problems.push(`${who}: ${err.message}`));
  }
  const hostFrames = recordFrames(host);
  const viewerFrames = recordFrames(viewer);
  if (slowViewer) await slowVideo(viewer);
  const path = await hostRoom(host, server.origins[0], {
    email: `wait-host-${stamp}@example.com`,
    name: "Ana",
    room: name,
    media: video.url,
  });
  await joinAs(viewer, server.origins[1] + path, { email: `wait-viewer-${stamp}@example.com`, name: "Bo" });
  for (const page of [host, viewer]) {
    await eventually(() => playerState(page), (s) => s.readyState >= 3, "video loaded", 20000);
  }
  await sleep(1500); // the first clock samples
  return {
    code: path.split("/").pop(),
    host,
    viewer,
    hostFrames,
    viewerFrames,
    problems,
    async close() {
      await hostContext.close();
      await viewerContext.close();
    },
  };
}

const names = (users) => users.map((u) => u.display_name);

/**
 * The host presses play and the viewer's player follows.
 * @param {{ host: import("playwright-core").Page, viewer: import("playwright-core").Page }} r
 */
async function bothPlay(r) {
  await r.host.evaluate(() => document.querySelector("#player").play());
  await eventually(() => playerState(r.viewer), (s) => !s.paused && s.time > 0.5, "viewer playing", 15000);
}

/**
 * The host's player jumps to 30 s; returns when it did (ms since the epoch).
 * @param {{ host: import("playwright-core").Page }} r
 */
async function hostSeeksTo30(r) {
  const at = Date.now();
  await r.host.evaluate(() => {
    document.querySelector("#player").currentTime = 30;
  });
  return at;
}

test("a slow viewer holds the room after a seek; both start together on one PLAY", async () => {
  const r = await room("Slow link", { slowViewer: true });
  try {
    await bothPlay(r);
    await sleep(1000);
    // Far past what the slow link has brought so far: the viewer must fetch.
    const seekAt = await hostSeeksTo30(r);
    const banner = r.host.locator("#group-wait");
    await banner.filter({ hasText: /Waiting for .*Bo/ }).waitFor({ timeout: 10000 });
    assert.match(await banner.textContent(), /\(\d+ s\)/, "a countdown to the deadline");
    // The viewer's own page says it is the one waited for.
    await r.viewer.locator("#group-wait", { hasText: /Waiting for .*you/ }).waitFor({ timeout: 10000 });

    await eventually(() => playerState(r.viewer), (s) => !s.paused && s.time > 30.2, "viewer playing after the wait", 15000);
    await eventually(() => playerState(r.host), (s) => !s.paused && s.time > 30.2, "host playing after the wait", 5000);
    await banner.waitFor({ state: "hidden" });
    await sleep(500);

    const plays = (frames) => frames.filter((f) => f.dir === "in" && f.t >= seekAt && f.msg.type === "PLAY");
    const hostPlays = plays(r.hostFrames);
    const viewerPlays = plays(r.viewerFrames);
    assert.equal(hostPlays.length, 1, `the host got one PLAY: ${JSON.stringify(hostPlays.map((f) => f.msg))}`);
    assert.equal(viewerPlays.length, 1, `the viewer got one PLAY: ${JSON.stringify(viewerPlays.map((f) => f.msg))}`);
    assert.equal(hostPlays[0].msg.server_time, viewerPlays[0].msg.server_time, "one start time for both");
    assert.equal(hostPlays[0].msg.by, null);
    // The wait ended because Bo was ready, not by its deadline.
    const skipped = r.viewerFrames.filter((f) => f.dir === "in" && f.t >= seekAt && f.msg.type === "WAIT_SKIPPED");
    assert.deepEqual(skipped, []);
    const waited = r.viewerFrames.filter((f) => f.dir === "in" && f.t >= seekAt && f.msg.type === "WAITING");
    assert.ok(waited.some((f) => names(f.msg.for).includes("Bo")), "a WAITING named Bo");
    const ready = r.viewerFrames.find(
      (f) => f.dir === "out" && f.t >= waited[0].t && f.msg.type === "PLAYER_STATE" && f.msg.state === "ready",
    );
    assert.ok(ready && ready.t <= viewerPlays[0].t, "Bo said ready after the WAITING, before the PLAY");
    const [h, v] = await Promise.all([playerState(r.host), playerState(r.viewer)]);
    assert.ok(Math.abs(h.time - v.time) < 0.5, `together: ${JSON.stringify({ h, v })}`);
    assert.deepEqual(r.problems, []);
  } finally {
    await r.close();
  }
});

test("the host's sync panel lists the viewer; \"Don't wait for me\" stops the room waiting for them", async () => {
  const r = await room("Telemetry", { slowViewer: true });
  try {
    await bothPlay(r);

    // SYNC_STATS every 5 s once reports flow (every 2 s from each page).
    const line = r.host.locator("#sync-panel tbody tr", { hasText: "Bo" });
    await line.waitFor({ timeout: 15000 });
    assert.match(await line.textContent(), /in sync|s behind|s ahead/);
    assert.match(await line.textContent(), /\d+ ms/);
    assert.match(await r.host.locator("#sync-summary").textContent(), /Median \d+ ms, 95th percentile \d+ ms/);
    // The viewer sees its own figure, and no panel.
    await r.viewer.locator("#my-sync", { hasText: /in sync|s behind|s ahead/ }).waitFor({ timeout: 10000 });
    assert.equal(await r.viewer.locator("#sync-panel").isVisible(), false);

    // Bo opts out; the choice survives a reload of the page.
    await r.viewer.getByLabel("Don't wait for me").check();
    await r.viewer.reload();
    await r.viewer.locator(".link-status", { hasText: /^connected$/ }).waitFor();
    assert.equal(await r.viewer.getByLabel("Don't wait for me").isChecked(), true);
    await eventually(() => playerState(r.viewer), (s) => s.readyState >= 3 && !s.paused, "viewer back and playing", 15000);

    // Bo's link is slow: a seek far ahead leaves Bo buffering, and nobody waits for Bo.
    const seekAt = await hostSeeksTo30(r);
    await eventually(() => playerState(r.host), (s) => !s.paused && s.time > 30.3, "the host plays on", 12000);
    const forBo = [...r.hostFrames, ...r.viewerFrames].filter(
      (f) =>
        f.dir === "in" &&
        f.t >= seekAt &&
        ((f.msg.type === "WAITING" && names(f.msg.for).includes("Bo")) ||
          (f.msg.type === "PLAYBACK_STATE" && f.msg.waiting && names(f.msg.waiting.for).includes("Bo"))),
    );
    assert.deepEqual(forBo, [], "no wait names Bo");
    assert.equal(await r.host.locator("#group-wait", { hasText: "Bo" }).count(), 0);
    // Bo catches up on their own.
    await eventually(() => playerState(r.viewer), (s) => !s.paused && s.time > 30, "Bo catches up", 15000);

    // The host turns waiting off for the room in its settings.
    await r.host.locator("summary", { hasText: "Room settings" }).click();
    await r.host.getByLabel("Wait for everyone's video").selectOption("off");
    await r.host.getByRole("button", { name: "Save changes" }).click();
    await r.host.locator("#settings-area", { hasText: "Saved." }).waitFor();
    const policy = await r.viewer.evaluate(async (code) => (await (await fetch(`/api/rooms/${code}/`)).json()).room.wait_policy, r.code);
    assert.equal(policy, "off");
    assert.deepEqual(r.problems, []);
  } finally {
    await r.close();
  }
});

test("a viewer still not ready at the deadline is named as skipped, and the room plays on", async () => {
  const r = await room("Deadline", { slowViewer: true });
  try {
    await bothPlay(r);
    // Bo's next video request answers only after the seek wait's 10 s (the
    // newest route comes first).
    await slowVideo(r.viewer, 13000);
    const seekAt = await hostSeeksTo30(r);
    await r.host.locator("#group-wait", { hasText: /Waiting for .*Bo/ }).waitFor({ timeout: 10000 });
    await r.host.locator("#wait-skipped", { hasText: "Started without Bo" }).waitFor({ timeout: 15000 });
    await r.viewer.locator("#wait-skipped", { hasText: "The room started without you" }).waitFor({ timeout: 5000 });
    await r.host.locator("#group-wait").waitFor({ state: "hidden" });
    await eventually(() => playerState(r.host), (s) => !s.paused && s.time > 30.3, "the host plays on", 5000);
    const skipped = r.hostFrames.filter((f) => f.dir === "in" && f.t >= seekAt && f.msg.type === "WAIT_SKIPPED");
    assert.equal(skipped.length, 1);
    assert.deepEqual(names(skipped[0].msg.users), ["Bo"]);
    assert.deepEqual(r.problems, []);
  } finally {
    await r.close();
  }
});

test("\"Start now\" on the host's wait banner ends the wait for everyone at once", async () => {
  const r = await room("Impatient", { slowViewer: true });
  try {
    await bothPlay(r);
    await slowVideo(r.viewer, 13000);
    const seekAt = await hostSeeksTo30(r);
    const banner = r.host.locator("#group-wait", { hasText: /Waiting for .*Bo/ });
    await banner.waitFor({ timeout: 10000 });
    // Viewers may not end a wait: no button for Bo.
    await r.viewer.locator("#group-wait").waitFor();
    assert.equal(await r.viewer.locator("#wait-start-now").count(), 0);
    await banner.getByRole("button", { name: "Start now" }).click();
    await r.host.locator("#group-wait").waitFor({ state: "hidden" });
    await eventually(() => playerState(r.host), (s) => !s.paused && s.time > 30.3, "the host plays", 5000);
    const plays = (frames) => frames.filter((f) => f.dir === "in" && f.t >= seekAt && f.msg.type === "PLAY");
    assert.equal(plays(r.hostFrames).length, 1, "the host's page got the one PLAY too");
    assert.equal(plays(r.viewerFrames).length, 1);
    assert.equal(plays(r.hostFrames)[0].msg.server_time, plays(r.viewerFrames)[0].msg.server_time);
    const skipped = r.hostFrames.filter((f) => f.dir === "in" && f.t >= seekAt && f.msg.type === "WAIT_SKIPPED");
    assert.deepEqual(skipped, [], "a forced start names nobody as skipped");
    assert.deepEqual(r.problems, []);
  } finally {
    await r.close();
  }
});
