// Roles in the browser: the host appoints a co-host, who then drives the
// room and the other viewer follows; the speed menu at 1.5×, followed by a
// viewer's player; the host hands the room over, and the owner takes it back;
// the control and host-timeout settings; a co-host takes over during grace.
//
// With WATCHPARTY_TEST_BACKEND=production (scripts/test.sh runs it so too)
// the server is two instances on PostgreSQL and Redis, and the people are on
// different ones: every effect crosses instances.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  eventually, hostRoom, joinAs, launchBrowser, personMenu, playerState, serveFile, startServer, testVideo,
} from "../harness.mjs";

const IN_SYNC = 0.5; // seconds, as in watch-together

let server, video, browser;
const contexts = [];
const problems = [];

before(async () => {
  server = await startServer({}, { instances: 2 });
  video = await serveFile(testVideo());
  browser = await launchBrowser();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await video?.stop();
  await server?.stop();
});

// How many ERROR stale_version each page has been told.
const stale = new Map();

async function page(who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  const p = await context.newPage();
  p.on("pageerror", (err) => problems.push(`${who}: ${err.message}`));
  stale.set(p, 0);
  p.on("websocket", (ws) =>
    ws.on("framereceived", (f) => {
      if (String(f.payload).includes('"stale_version"')) stale.set(p, stale.get(p) + 1);
    }),
  );
  return p;
}

/**
 * A controller's action, then what must follow from it. The host's page
 * re-announces its position when its video stalls (a busy machine), and a
 * command that crosses that announcement is rightly refused as stale: then,
 * and only then, the person acts again, as a person would.
 */
async function act(p, action, follows) {
  for (let attempt = 1; ; attempt++) {
    const before = stale.get(p);
    await action();
    try {
      return await follows();
    } catch (err) {
      if (stale.get(p) === before || attempt === 3) throw err;
    }
  }
}

const stamp = Date.now().toString(36);
let ana, bo, cy;

async function gap(a, b) {
  const [x, y] = await Promise.all([playerState(a), playerState(b)]);
  return { gap: Math.abs(x.time - y.time), a: x, b: y };
}

test("the host appoints a co-host, who seeks, and the other viewer follows", async () => {
  ana = await page("ana");
  bo = await page("bo");
  cy = await page("cy");
  const path = await hostRoom(ana, server.origins[0], {
    email: `ana-${stamp}@example.com`,
    name: "Ana",
    room: "Roles night",
    media: video.url,
  });
  await joinAs(bo, server.origins[1] + path, { email: `bo-${stamp}@example.com`, name: "Bo" });
  await joinAs(cy, server.origins[0] + path, { email: `cy-${stamp}@example.com`, name: "Cy" });
  await ana.locator("#participants li", { hasText: "Cy" }).waitFor();

  // A viewer has no playback controls, no speed menu and no menus on others.
  assert.equal(await bo.locator("#player").getAttribute("controls"), null);
  assert.equal(await bo.locator("#speed").isVisible(), false);
  assert.equal(await bo.getByRole("button", { name: "Manage Cy" }).count(), 0);
  assert.equal(await bo.locator("summary", { hasText: "Room settings" }).count(), 0);

  await eventually(() => playerState(ana), (s) => s.readyState >= 1, "host video metadata");
  await ana.evaluate(() => document.querySelector("#player").play());
  await eventually(() => playerState(cy), (s) => !s.paused && s.time > 0.3, "Cy playing");

  const menu = await personMenu(ana, "Bo");
  await menu.getByRole("button", { name: "Make co-host" }).click();
  await menu.waitFor({ state: "hidden" });
  // Everyone's panel shows the new role; Bo's page gains the controls.
  for (const p of [ana, bo, cy]) {
    await p.locator("#participants li", { hasText: "Bo" }).locator(".badge", { hasText: "co-host" }).waitFor();
  }
  await eventually(() => bo.locator("#player").getAttribute("controls"), (c) => c !== null, "Bo's native controls");
  await bo.locator("#speed").waitFor({ state: "visible" });
  await bo.locator("#host-line", { hasText: "You are a co-host." }).waitFor();
  // A co-host moderates viewers, but may not appoint co-hosts.
  const boMenu = await personMenu(bo, "Cy");
  assert.equal(await boMenu.getByRole("button", { name: "Make co-host" }).count(), 0);
  assert.equal(await boMenu.getByRole("button", { name: "Kick" }).count(), 1);
  await boMenu.getByRole("button", { name: "Close" }).click();
  assert.equal(await bo.getByRole("button", { name: "Manage Ana" }).count(), 0, "nobody manages the host");

  await eventually(() => playerState(bo), (s) => !s.paused && s.readyState >= 1, "Bo playing");
  await act(
    bo,
    () =>
      bo.evaluate(() => {
        document.querySelector("#player").currentTime = 25;
      }),
    () => eventually(() => playerState(cy), (s) => s.time > 24.5 && !s.paused, "Cy after Bo's seek"),
  );
  await eventually(() => playerState(ana), (s) => s.time > 24.5 && !s.paused, "Ana after Bo's seek");
  await new Promise((r) => setTimeout(r, 1000));
  const g = await gap(bo, cy);
  assert.ok(g.gap < IN_SYNC, `Cy follows Bo: ${JSON.stringify(g)}`);
});

test("speed 1.5×: a controller picks it and the viewer's player runs at it", async () => {
  await act(
    bo,
    () => bo.locator("#speed").selectOption("1.5"),
    () => cy.locator("#speed-note", { hasText: "Playing at 1.5×" }).waitFor({ timeout: 5000 }),
  );
  // The viewer's player runs at the room's rate (nudged by at most 10 % to
  // catch up), so over two seconds it moves about three.
  await eventually(() => cy.evaluate(() => document.querySelector("#player").playbackRate), (r) => r > 1.3 && r < 1.7, "Cy's playbackRate");
  const t0 = await playerState(cy);
  await new Promise((r) => setTimeout(r, 2000));
  const t1 = await playerState(cy);
  const advanced = t1.time - t0.time;
  assert.ok(advanced > 2.6 && advanced < 3.4, `Cy advanced ${advanced.toFixed(2)} s in 2 s at 1.5×`);
  const g = await gap(bo, cy);
  assert.ok(g.gap < IN_SYNC, `Cy in sync at 1.5×: ${JSON.stringify(g)}`);
  // The host's page follows the co-host's speed too, and shows it in its menu.
  await eventually(() => ana.locator("#speed").inputValue(), (v) => v === "1.5", "Ana's speed menu");
  const h = await gap(ana, cy);
  assert.ok(h.gap < IN_SYNC, `Ana in sync at 1.5×: ${JSON.stringify(h)}`);
  await act(
    bo,
    () => bo.locator("#speed").selectOption("1"),
    () => eventually(() => cy.locator("#speed-note").textContent(), (t) => t === "", "back at 1×", 5000),
  );
});

test("two controllers at once: the one who acted on an old state takes the room's", async () => {
  // Bo's next SEEK names a version the room has left behind, as when Ana
  // acted first: the server drops it and tells Bo alone (ERROR stale_version).
  await bo.evaluate(() => {
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      if (String(data).includes('"SEEK"')) {
        WebSocket.prototype.send = send;
        data = JSON.stringify({ ...JSON.parse(String(data)), if_version: 0 });
      }
      return send.call(this, data);
    };
  });
  const before = await playerState(cy);
  await bo.evaluate(() => {
    document.querySelector("#player").currentTime = 3;
  });
  // Bo's page takes the room's playback back (from far behind: a seek).
  await eventually(() => gap(bo, cy), (g) => g.gap < IN_SYNC && !g.a.paused, "Bo back on the room's timeline");
  const after = await playerState(cy);
  assert.ok(after.time > before.time, `Cy never jumped back: ${before.time} then ${after.time}`);
});

test("the host hands the room over; the owner takes it back", async () => {
  const menu = await personMenu(ana, "Cy");
  await menu.getByRole("button", { name: "Hand over host" }).click();
  await menu.waitFor({ state: "hidden" });
  await cy.locator("#host-line", { hasText: "You are the host." }).waitFor();
  await eventually(() => cy.locator("#player").getAttribute("controls"), (c) => c !== null, "Cy's controls");
  await bo.locator("#host-line", { hasText: "Hosted by Cy." }).waitFor();
  await bo.locator("#room-notice", { hasText: "Cy is the host now" }).waitFor();
  // Ana stays as a co-host, and as the owner she may take the room back.
  await ana.locator("#participants li", { hasText: "Ana" }).locator(".badge", { hasText: "co-host" }).waitFor();
  await ana.locator("#participants li", { hasText: "Cy" }).locator(".badge", { hasText: /^host$/ }).waitFor();
  const takeBack = ana.getByRole("button", { name: "Take the room back" });
  await takeBack.waitFor();
  // Only the host appoints co-hosts now.
  assert.equal(await ana.getByRole("button", { name: "Manage Bo" }).count(), 0, "co-host Ana cannot act on co-host Bo");
  const cyMenu = await personMenu(cy, "Bo");
  assert.equal(await cyMenu.getByRole("button", { name: "Make viewer" }).count(), 1);
  await cyMenu.getByRole("button", { name: "Close" }).click();

  await takeBack.click();
  await ana.locator("#host-line", { hasText: "You are the host." }).waitFor();
  await cy.locator("#room-notice", { hasText: "the owner took the room back" }).waitFor();
  await takeBack.waitFor({ state: "detached" });
});

test("settings: everyone may control playback; a co-host takes over while the host is away", async () => {
  await ana.locator("summary", { hasText: "Room settings" }).click();
  const settings = ana.locator(".settings");
  await settings.getByLabel("Who may control playback").selectOption("everyone");
  await settings.getByLabel("When the host is gone").selectOption("promote");
  await settings.getByRole("button", { name: "Save changes" }).click();
  await settings.getByText("Saved.").waitFor();
  // Cy is a co-host since the hand-over; a newcomer viewer gets the controls.
  const dan = await page("dan");
  await joinAs(dan, server.origins[1] + new URL(ana.url()).pathname, { email: `dan-${stamp}@example.com`, name: "Dan" });
  await eventually(() => dan.locator("#player").getAttribute("controls"), (c) => c !== null, "a viewer's controls under control: everyone");
  await dan.locator("#speed").waitFor({ state: "visible" });
  assert.equal(await dan.locator("summary", { hasText: "Room settings" }).count(), 0, "a viewer still cannot edit the room");

  // The host leaves: the others see the grace banner, and a co-host may take over.
  await ana.close();
  await bo.locator("#grace-banner", { hasText: /passes to someone here/ }).waitFor();
  const takeOver = bo.getByRole("button", { name: "Take over as host" });
  await takeOver.click();
  await bo.locator("#host-line", { hasText: "You are the host." }).waitFor();
  await dan.locator("#room-notice", { hasText: "Bo is the host now: Bo took over while Ana was away." }).waitFor();
  await dan.locator("#grace-banner").waitFor({ state: "hidden" });
  assert.equal(await dan.getByRole("button", { name: "Take over as host" }).count(), 0, "a viewer never gets it");
  assert.deepEqual(problems, [], "no script errors on any page");
});
