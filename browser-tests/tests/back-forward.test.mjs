// A host who navigates the tab to another site leaves the room, even though
// the browser keeps the page in its back/forward cache; going back restores
// the page, which reconnects on its own. Unlike the other tests, this
// browser keeps the back/forward cache on, as a user's browser has it.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  connected, hostRoom, launchBrowser, servePage, serveFile, signUp, startServer, testVideo,
} from "../harness.mjs";

const NOTICED_WITHIN_MS = 5000; // "within a few seconds"

let server, video, elsewhere, browser;

before(async () => {
  server = await startServer({ WATCHPARTY_HOST_GRACE_SECS: "120" });
  video = await serveFile(testVideo());
  elsewhere = await servePage();
  browser = await launchBrowser({ bfcache: true });
});

after(async () => {
  await browser?.close();
  await elsewhere?.stop();
  await video?.stop();
  await server?.stop();
});

test("the host leaves for another site and comes back with the Back button", async () => {
  const stamp = Date.now().toString(36);
  const hostContext = await browser.newContext();
  const viewerContext = await browser.newContext();
  const host = await hostContext.newPage();
  const viewer = await viewerContext.newPage();
  const hostSockets = [];
  host.on("websocket", (ws) => hostSockets.push(ws.url()));

  const path = await hostRoom(host, server.origin, {
    email: `host-${stamp}@example.com`,
    name: "Gus",
    room: "Back and forth",
    media: video.url,
  });
  await viewer.goto(server.origin + path);
  await signUp(viewer, { email: `viewer-${stamp}@example.com`, name: "Hana" });
  await connected(viewer);
  const hostListed = viewer.locator("#participants li", { hasText: "Gus" });
  await hostListed.waitFor();

  // A marker that only survives if the page is restored, not reloaded.
  await host.evaluate(() => {
    window.stillTheSamePage = true;
  });
  const left = Date.now();
  await host.goto(elsewhere.url);
  await viewer.locator("#grace-banner").waitFor({ state: "visible", timeout: NOTICED_WITHIN_MS });
  await hostListed.waitFor({ state: "detached", timeout: NOTICED_WITHIN_MS });
  const noticedMs = Date.now() - left;
  assert.match(await viewer.locator("#grace-banner").textContent(), /The host is away/);

  await host.goBack({ waitUntil: "commit" });
  await host.waitForFunction(() => location.pathname.startsWith("/r/"));
  const restored = await host.evaluate(() => ({
    same: window.stillTheSamePage === true,
    reasons: JSON.stringify(performance.getEntriesByType("navigation")[0]?.notRestoredReasons ?? null),
  }));
  assert.ok(restored.same, `the page came back from the back/forward cache (not restored: ${restored.reasons})`);
  await connected(host);
  await viewer.locator("#grace-banner").waitFor({ state: "hidden" });
  await hostListed.waitFor();
  assert.equal(hostSockets.length, 2, `a fresh socket after the restore: ${hostSockets.length}`);
  console.log(`# FIGURE the viewer saw the host leave ${noticedMs} ms after the host's tab navigated away`);

  await hostContext.close();
  await viewerContext.close();
});
