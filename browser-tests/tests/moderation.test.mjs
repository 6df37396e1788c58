// Moderation in the browser: a kick with a reason, shown to the kicked user,
// whose page does not reconnect and whose rejoin is refused with the time it
// lapses; a ban with its reason and end; a mute, shown to the muted user in
// place of the chat box.
//
// With WATCHPARTY_TEST_BACKEND=production (scripts/test.sh runs it so too)
// the server is two instances on PostgreSQL and Redis, and the moderator and
// the people they act on are on different ones.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { hostRoom, joinAs, launchBrowser, personMenu, startServer } from "../harness.mjs";

let server, browser;
const contexts = [];
const problems = [];

before(async () => {
  server = await startServer({}, { instances: 2 });
  browser = await launchBrowser();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await server?.stop();
});

async function page(who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  const p = await context.newPage();
  p.on("pageerror", (err) => problems.push(`${who}: ${err.message}`));
  return p;
}

const stamp = Date.now().toString(36);
let ana, eve, path;

test("a kicked user sees the reason and until when, and is not reconnected", async () => {
  ana = await page("ana");
  const dee = await page("dee");
  eve = await page("eve");
  path = await hostRoom(ana, server.origins[0], { email: `ana-${stamp}@example.com`, name: "Ana", room: "House rules" });
  const sockets = [];
  dee.on("websocket", (ws) => sockets.push(ws.url()));
  await joinAs(dee, server.origins[1] + path, { email: `dee-${stamp}@example.com`, name: "Dee" });
  await joinAs(eve, server.origins[1] + path, { email: `eve-${stamp}@example.com`, name: "Eve" });
  await ana.locator("#participants li", { hasText: "Dee" }).waitFor();
  await ana.locator("#participants li", { hasText: "Eve" }).waitFor();
  assert.equal(sockets.length, 1);

  const menu = await personMenu(ana, "Dee");
  await menu.getByLabel("Reason").fill("spoilers in the chat");
  assert.equal(await menu.getByLabel("May rejoin after").inputValue(), "300", "five minutes by default");
  await menu.getByRole("button", { name: "Kick" }).click();
  await menu.waitFor({ state: "hidden" });

  const ended = dee.locator(".ended[data-reason=kicked]");
  await ended.waitFor();
  assert.equal(await ended.locator("h1").textContent(), "You were removed from this room");
  assert.equal(await dee.locator("#removed-reason").textContent(), "spoilers in the chat");
  assert.match(await dee.locator("#removed-until").textContent(), /You can join again from (\d\d:\d\d|.*\d{4}.*\d:\d\d)/);
  // Everyone else sees who was removed, and by whom.
  await eve.locator("#room-notice", { hasText: "Dee was kicked by Ana." }).waitFor();
  await ana.locator("#room-notice", { hasText: "You kicked Dee." }).waitFor();
  for (const p of [ana, eve]) {
    await p.locator("#participants li", { hasText: "Dee" }).waitFor({ state: "detached" });
    assert.equal(await p.locator("#participants-away li", { hasText: "Dee" }).count(), 0, "no longer a participant");
  }

  // No reconnect: the page opened no other socket (a retry would start
  // within 0.75 s), even when the browser says it is back online.
  await dee.evaluate(() => window.dispatchEvent(new Event("online")));
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(sockets.length, 1, `sockets opened: ${JSON.stringify(sockets)}`);

  // Opening the room again: the join is refused, and the page says until when.
  await dee.goto(server.origins[0] + path);
  const refused = dee.locator(".ended[data-reason=refused]");
  await refused.waitFor();
  assert.match(await refused.textContent(), /You can join again from (\d\d:\d\d|.*\d{4}.*\d:\d\d)/);
  assert.equal(sockets.length, 1, "no socket for a refused join");
});

test("a banned user sees the reason and when the ban ends", async () => {
  const fay = await page("fay");
  await joinAs(fay, server.origins[1] + path, { email: `fay-${stamp}@example.com`, name: "Fay" });
  await ana.locator("#participants li", { hasText: "Fay" }).waitFor();
  const menu = await personMenu(ana, "Fay");
  await menu.getByLabel("Reason").fill("trolling");
  await menu.getByLabel("Ban for").selectOption({ label: "1 day" });
  await menu.getByRole("button", { name: "Ban" }).click();
  const ended = fay.locator(".ended[data-reason=banned]");
  await ended.waitFor();
  assert.match(await ended.textContent(), /A moderator banned you from the room\./);
  assert.equal(await fay.locator("#removed-reason").textContent(), "trolling");
  // A day from now is another date: the date is spelled out with the time.
  const until = await fay.locator("#removed-until").textContent();
  assert.match(until, /^You can join again from .*\d{4}.*\d:\d\d/);
  await eve.locator("#room-notice", { hasText: "Fay was banned by Ana." }).waitFor();
});

test("a muted user is told so instead of getting a chat box, and gets it back", async () => {
  const menu = await personMenu(ana, "Eve");
  await menu.getByLabel("Mute for").selectOption({ label: "15 minutes" });
  await menu.getByRole("button", { name: "Mute" }).click();
  await menu.waitFor({ state: "hidden" });
  await ana.locator("#participants li", { hasText: "Eve" }).locator(".muted-badge").waitFor();
  const note = eve.locator("#chat-note");
  await note.waitFor({ state: "visible" });
  // The time alone when the mute ends today, with the date when it ends on
  // another day (a test run just before midnight).
  assert.match(
    await note.textContent(),
    /You are muted in this room until (\d\d:\d\d|.*\d{4}.*\d:\d\d)/,
  );
  await eve.locator(".chat-form").waitFor({ state: "hidden" });

  const again = await personMenu(ana, "Eve");
  await again.getByRole("button", { name: "Unmute" }).click();
  await eve.locator(".chat-form").waitFor({ state: "visible" });
  await eve.getByLabel("Chat message").fill("thanks");
  await eve.getByLabel("Chat message").press("Enter");
  await ana.locator("#chat-log li", { hasText: "thanks" }).waitFor();
  assert.deepEqual(problems, [], "no script errors on any page");
});
