// The client on a phone-sized screen, and the basics of accessibility:
// nothing wider than the screen, every control named, keyboard reachable.

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
