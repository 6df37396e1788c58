// A viewer whose connection drops comes back by itself: a fresh token, the
// chat it missed, and the host's position.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  connected, eventually, hostRoom, launchBrowser, playerState, serveFile, signUp, startRelay,
  startServer, testVideo,
} from "../harness.mjs";

let server, relay, video, browser;

before(async () => {
  server = await startServer();
  relay = await startRelay(server.origin);
  video = await serveFile(testVideo());
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
  await video?.stop();
  await server?.stop();
});

test("a dropped viewer reconnects with a fresh token and fills the chat gap", async () => {
  const stamp = Date.now().toString(36);
  const hostContext = await browser.newContext();
  const viewerContext = await browser.newContext();
  const host = await hostContext.newPage();
  const viewer = await viewerContext.newPage();

  const path = await hostRoom(host, server.origin, {
    email: `host-${stamp}@example.com`,
    name: "Cleo",
    room: "Flaky Wi-Fi",
    media: video.url,
  });
  // The viewer reaches the server only through the relay.
  const sockets = [];
  viewer.on("websocket", (ws) => sockets.push(new URL(ws.url()).searchParams.get("token")));
  await viewer.goto(relay.origin + path);
  await signUp(viewer, { email: `viewer-${stamp}@example.com`, name: "Dev" });
  await connected(viewer);
  await eventually(() => playerState(host), (s) => s.readyState >= 1, "host video metadata");
  await host.evaluate(() => document.querySelector("#player").play());
  await eventually(() => playerState(viewer), (s) => !s.paused, "viewer playing");

  relay.cut(1500);
  await viewer.locator(".link-status", { hasText: "reconnecting" }).waitFor();
  await host.getByLabel("Chat message").fill("you missed this one");
  await host.getByLabel("Chat message").press("Enter");
  await host.locator("#chat-log li", { hasText: "you missed this one" }).waitFor();

  await connected(viewer);
  await viewer.locator("#chat-log li", { hasText: "you missed this one" }).waitFor();
  assert.equal(await viewer.locator("#chat-log li", { hasText: "you missed this one" }).count(), 1);
  assert.ok(sockets.length >= 2, `sockets opened: ${sockets.length}`);
  assert.equal(new Set(sockets).size, sockets.length, "every connect used a fresh token");

  await new Promise((r) => setTimeout(r, 1000));
  const [h, v] = await Promise.all([playerState(host), playerState(viewer)]);
  assert.ok(!v.paused && Math.abs(h.time - v.time) < 0.5, JSON.stringify({ h, v }));
  await hostContext.close();
  await viewerContext.close();
});
