// What the room page says when something is not as expected: the host has
// not arrived yet, someone takes the host's name in chat, the video link is
// not a video, the room code does not exist, the room has ended.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  connected, eventually, hostRoom, launchBrowser, playerState, servePage, serveFile, signUp, startServer, testVideo,
} from "../harness.mjs";

let server, video, webPage, browser;
const contexts = [];

before(async () => {
  // A short grace, so a room can end within the test.
  server = await startServer({ WATCHPARTY_HOST_GRACE_SECS: "2" });
  video = await serveFile(testVideo());
  webPage = await servePage();
  browser = await launchBrowser();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await webPage?.stop();
  await video?.stop();
  await server?.stop();
});

async function person() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  return { context, page, problems };
}

const stamp = Date.now().toString(36);
let roomPath;
let hostPage, viewerPage;

test("a viewer who arrives before the host waits for them, then sees them arrive", async () => {
  const host = await person();
  hostPage = host.page;
  // The host makes the room over HTTP and does not open it yet.
  await hostPage.goto(server.origin);
  await signUp(hostPage, { email: `ivy-${stamp}@example.com`, name: "Ivy" });
  await hostPage.locator("#create-room").waitFor();
  const created = await host.context.request.post(`${server.origin}/api/rooms/`, {
    data: { name: "Early birds", media_url: video.url },
  });
  assert.equal(created.status(), 201);
  roomPath = `/r/${(await created.json()).room.code}`;

  const viewer = await person();
  viewerPage = viewer.page;
  await viewerPage.goto(server.origin + roomPath);
  await signUp(viewerPage, { email: `jay-${stamp}@example.com`, name: "Jay" });
  await connected(viewerPage);
  const waiting = viewerPage.locator("#host-waiting");
  await waiting.waitFor({ state: "visible" });
  assert.match(await waiting.textContent(), /Waiting for the host, Ivy, to arrive/);
  assert.equal(await viewerPage.locator("#grace-banner").isVisible(), false, "not grace: the host never came");

  await hostPage.goto(server.origin + roomPath);
  await connected(hostPage);
  assert.equal(await hostPage.locator("#host-waiting").isVisible(), false, "the host never waits for themself");
  await waiting.waitFor({ state: "hidden" });
  await viewerPage.locator("#participants li", { hasText: "Ivy" }).getByText("host").waitFor();
  assert.deepEqual([...host.problems, ...viewer.problems], []);
});

test("the host's chat lines carry a host badge that a namesake cannot copy", async () => {
  const impostor = await person();
  await impostor.page.goto(server.origin + roomPath);
  await signUp(impostor.page, { email: `ivy2-${stamp}@example.com`, name: "Ivy" });
  await connected(impostor.page);

  await hostPage.getByLabel("Chat message").fill("the real one");
  await hostPage.getByLabel("Chat message").press("Enter");
  await impostor.page.getByLabel("Chat message").fill("the other one");
  await impostor.page.getByLabel("Chat message").press("Enter");

  const real = viewerPage.locator("#chat-log li", { hasText: "the real one" });
  const other = viewerPage.locator("#chat-log li", { hasText: "the other one" });
  await real.waitFor();
  await other.waitFor();
  assert.equal(await real.locator(".who").textContent(), "Ivy");
  assert.equal(await other.locator(".who").textContent(), "Ivy");
  assert.equal(await real.locator(".host-badge", { hasText: "host" }).count(), 1, "the host's line has the badge");
  assert.equal(await other.locator(".host-badge").count(), 0, "the namesake's line has none");
  await impostor.context.close();
});

test("a link to a web page, not a video: host and viewers are told why and what works", async () => {
  const host = await person();
  const viewer = await person();
  await hostRoom(host.page, server.origin, {
    email: `kim-${stamp}@example.com`,
    name: "Kim",
    room: "Wrong kind of link",
    media: webPage.url,
  });
  await viewer.page.goto(host.page.url());
  await signUp(viewer.page, { email: `lou-${stamp}@example.com`, name: "Lou" });
  await connected(viewer.page);

  for (const [who, page, next] of [
    ["host", host.page, /Change the video link in the room settings/],
    ["viewer", viewer.page, /Only the host can change the link/],
  ]) {
    const error = page.locator("#media-error");
    await error.waitFor({ state: "visible" });
    const text = await error.textContent();
    assert.match(text, /can't be played/, who);
    assert.match(text, /web page/, who);
    assert.match(text, /direct link to an MP4 or WebM file/, who);
    assert.match(text, next, who);
    assert.equal(await error.getAttribute("role"), "alert", who);
  }

  // The host fixes the link: the message goes and the video loads, for both.
  await host.page.locator("summary", { hasText: "Room settings" }).click();
  await host.page.locator(".settings").getByLabel("Video link").fill(video.url);
  await host.page.getByRole("button", { name: "Save changes" }).click();
  for (const page of [host.page, viewer.page]) {
    await page.locator("#media-error").waitFor({ state: "hidden" });
    await eventually(() => playerState(page), (s) => s.readyState >= 1, "video metadata after the fix");
  }
  assert.deepEqual([...host.problems, ...viewer.problems], []);
});

test("a code that never existed says so; a room that closed says it ended", async () => {
  const visitor = await person();
  await visitor.page.goto(server.origin);
  await signUp(visitor.page, { email: `max-${stamp}@example.com`, name: "Max" });
  await visitor.page.locator("#join-room").waitFor();

  await visitor.page.goto(`${server.origin}/r/ZZZZZZZZZZ`);
  const unknown = visitor.page.locator(".ended[data-reason=not_found]");
  await unknown.waitFor();
  assert.equal(await unknown.locator("h1").textContent(), "No such room");
  assert.match(await unknown.textContent(), /no room with the code ZZZZZZZZZZ/);
  assert.doesNotMatch(await unknown.textContent(), /ended/);

  // A room whose host left and did not come back within the 2 s grace.
  const host = await person();
  const path = await hostRoom(host.page, server.origin, {
    email: `ned-${stamp}@example.com`,
    name: "Ned",
    room: "Short-lived",
  });
  await host.context.close();
  const code = path.split("/").pop();
  await eventually(
    async () => (await (await visitor.page.request.get(`${server.origin}/api/rooms/${code}/`)).json()).room?.status,
    (status) => status === "closed",
    "the room closes after grace",
  );
  await visitor.page.goto(server.origin + path);
  const ended = visitor.page.locator(".ended[data-reason=host_timeout]");
  await ended.waitFor();
  assert.equal(await ended.locator("h1").textContent(), "This room has ended");
  assert.match(await ended.textContent(), /didn't come back in time/);
  assert.deepEqual(visitor.problems, []);
});
