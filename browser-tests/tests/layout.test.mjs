// The client on a desktop and a phone-sized screen, and the basics of
// accessibility: nothing wider than the screen, every control named,
// keyboard reachable.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { hostRoom, launchBrowser, startServer } from "../harness.mjs";

let server, browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// Controls without a name a screen reader could read out, and overflow.
function audit(page) {
  return page.evaluate(() => {
    const unnamed = [...document.querySelectorAll("input, button, select, textarea, video")]
      .filter((el) => el.offsetParent !== null)
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.textContent.trim())
      .map((el) => el.outerHTML.slice(0, 80));
    return {
      unnamed,
      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    };
  });
}

test("a desktop screen: the signed-out forms sit side by side, centred", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(server.origin);
  await page.locator("#sign-up").waitFor();
  const box = await page.evaluate(() => {
    const rect = (sel) => document.querySelector(sel).closest(".card").getBoundingClientRect();
    const [a, b] = [rect("#sign-in"), rect("#sign-up")];
    return {
      left: Math.min(a.left, b.left),
      right: Math.max(a.right, b.right),
      tops: [a.top, b.top],
      width: document.documentElement.clientWidth,
      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    };
  });
  const centre = (box.left + box.right) / 2;
  assert.ok(Math.abs(centre - box.width / 2) <= 32, `the forms are centred: ${JSON.stringify(box)}`);
  assert.ok(box.right - box.left >= box.width * 0.45, `the forms use the screen, not a corner: ${JSON.stringify(box)}`);
  assert.ok(Math.abs(box.tops[0] - box.tops[1]) <= 1, `side by side: ${JSON.stringify(box)}`);
  assert.equal(box.overflow, 0);
  assert.deepEqual((await audit(page)).unnamed, []);
  await context.close();
});

test("a phone-sized screen: no sideways scrolling, every control named", async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(server.origin);
  await page.locator("#sign-up").waitFor();
  assert.deepEqual(await audit(page), { unnamed: [], overflow: 0 }, "home page");

  await hostRoom(page, server.origin, {
    email: `phone-${Date.now().toString(36)}@example.com`,
    name: "Eli",
    room: "A room with a rather long name that has to wrap on a phone",
  });
  await page.locator("summary", { hasText: "Room settings" }).click();
  assert.deepEqual(await audit(page), { unnamed: [], overflow: 0 }, "room page");

  // The chat box is reachable from the keyboard.
  await page.keyboard.press("Tab");
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    reached = await page.evaluate(() => document.activeElement?.id === "chat-input");
    if (!reached) await page.keyboard.press("Tab");
  }
  assert.ok(reached, "Tab reaches the chat input");
  await context.close();
});
