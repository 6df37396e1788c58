// Two people, two browser contexts, one room: sign up, meet, watch in sync,
// chat, survive the host leaving, see the room end.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  connected, eventually, hostRoom, launchBrowser, outDir, playerState, serveFile, signUp, startServer, testVideo,
} from "../harness.mjs";

const IN_SYNC = 0.5; // seconds, the bar

let server, video, browser;

before(async () => {
  server = await startServer();
  video = await serveFile(testVideo());
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await video?.stop();
  await server?.stop();
});

// Both positions read at once; reports the gap and both states.
async function gap(host, viewer) {
  const [h, v] = await Promise.all([playerState(host), playerState(viewer)]);
  return { gap: Math.abs(h.time - v.time), host: h, viewer: v };
}

test("host and viewer watch in sync, chat, and see grace and the end", async (t) => {
  const stamp = Date.now().toString(36);
  const hostContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  let host = await hostContext.newPage();
  const viewer = await viewerContext.newPage();
  const problems = [];
  for (const [who, page] of [["host", host], ["viewer", viewer]]) {
    page.on("pageerror", (err) => problems.push(`${who}: ${err.message}`));
  }

  await t.test("the host signs up and starts a room through the UI", async () => {
    await hostRoom(host, server.origin, {
      email: `ana-${stamp}@example.com`,
      name: "Ana",
      room: "Friday film",
      media: video.url,
    });
    assert.equal(await host.locator("#room-title").textContent(), "Friday film");
  });

  const roomUrl = host.url();

  await t.test("a friend opens the invite link, signs up and lands in the room", async () => {
    await viewer.goto(roomUrl);
    await viewer.getByRole("heading", { name: "Sign in to join the room" }).waitFor();
    await signUp(viewer, { email: `bo-${stamp}@example.com`, name: "Bo" });
    await connected(viewer);
    await viewer.locator("#participants li", { hasText: "Ana" }).waitFor();
    await host.locator("#participants li", { hasText: "Bo" }).waitFor();
    // The viewer cannot drive the room: no native controls.
    assert.equal(await viewer.locator("#player").getAttribute("controls"), null);
    assert.notEqual(await host.locator("#player").getAttribute("controls"), null);
  });

  await t.test("the public list shows the room with its live viewer count", async () => {
    const lobby = await viewerContext.newPage();
    await lobby.goto(server.origin);
    await lobby.locator("#public-rooms li", { hasText: "Friday film" }).getByText("2 watching").waitFor();
    await lobby.close();
  });

  await t.test("PLAY: the viewer plays along within half a second", async () => {
    await eventually(() => playerState(host), (s) => s.readyState >= 1, "host video metadata");
    await host.evaluate(() => document.querySelector("#player").play());
    await eventually(() => playerState(viewer), (s) => !s.paused && s.time > 0.5, "viewer playing");
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 3; i++) {
      const g = await gap(host, viewer);
      assert.ok(!g.host.paused && !g.viewer.paused, JSON.stringify(g));
      assert.ok(g.gap < IN_SYNC, `after PLAY: ${JSON.stringify(g)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  await t.test("SEEK: the viewer jumps with the host", async () => {
    await host.evaluate(() => {
      document.querySelector("#player").currentTime = 25;
    });
    await eventually(() => playerState(viewer), (s) => s.time > 24.5, "viewer after SEEK");
    await new Promise((r) => setTimeout(r, 1000));
    const g = await gap(host, viewer);
    assert.ok(!g.viewer.paused, JSON.stringify(g));
    assert.ok(g.host.time > 25, JSON.stringify(g));
    assert.ok(g.gap < IN_SYNC, `after SEEK: ${JSON.stringify(g)}`);
  });

  await t.test("PAUSE: the viewer stops at the host's frame", async () => {
    await host.evaluate(() => document.querySelector("#player").pause());
    await eventually(() => playerState(viewer), (s) => s.paused, "viewer paused");
    await new Promise((r) => setTimeout(r, 500));
    const g = await gap(host, viewer);
    assert.ok(g.host.paused && g.viewer.paused, JSON.stringify(g));
    assert.ok(g.gap < IN_SYNC, `after PAUSE: ${JSON.stringify(g)}`);
  });

  await t.test("chat flows both ways", async () => {
    await host.getByLabel("Chat message").fill("popcorn ready?");
    await host.getByLabel("Chat message").press("Enter");
    await viewer.locator("#chat-log li", { hasText: "popcorn ready?" }).getByText("Ana").waitFor();
    await viewer.getByLabel("Chat message").fill("always — press play");
    await viewer.getByRole("button", { name: "Send" }).click();
    await host.locator("#chat-log li", { hasText: "always — press play" }).getByText("Bo").waitFor();
    await host.screenshot({ path: join(outDir, "room.png") });
  });

  await t.test("the host's page closes: the viewer sees the grace banner", async () => {
    await host.close();
    const banner = viewer.locator("#grace-banner");
    await banner.waitFor({ state: "visible" });
    assert.match(await banner.textContent(), /The host is away — the room closes in \d\d:\d\d/);
    await viewer.locator("#participants li", { hasText: "Ana" }).waitFor({ state: "detached" });
  });

  await t.test("the host comes back: the banner goes and playback is restored", async () => {
    host = await hostContext.newPage();
    host.on("pageerror", (err) => problems.push(`host: ${err.message}`));
    await host.goto(roomUrl);
    await connected(host);
    await viewer.locator("#grace-banner").waitFor({ state: "hidden" });
    await eventually(() => playerState(host), (s) => s.readyState >= 1 && s.time > 24.5, "host restored");
    const g = await gap(host, viewer);
    assert.ok(g.gap < IN_SYNC, `after reconnect: ${JSON.stringify(g)}`);
  });

  await t.test("the host deletes the room: both see the end screen", async () => {
    await host.locator("summary", { hasText: "Room settings" }).click();
    await host.getByRole("button", { name: "Delete room…" }).click();
    const dialog = host.getByRole("dialog", { name: "Delete this room?" });
    await dialog.getByRole("button", { name: "Delete room" }).click();
    const ended = viewer.locator(".ended[data-reason=deleted]");
    await ended.waitFor();
    assert.match(await ended.textContent(), /The owner deleted this room\./);
    await host.locator(".ended").waitFor();
  });

  assert.deepEqual(problems, [], "no script errors on either page");
  await hostContext.close();
  await viewerContext.close();
});
