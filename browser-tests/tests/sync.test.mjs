// How closely a viewer follows the host, on a clean link and on slow ones.
// Host and viewer each reach the server through a relay that can hold every
// byte for a while, one way or both. The host plays, seeks to 60 s, seeks to
// 20 s, pauses and plays again; both players are sampled every 100 ms in
// the page, and the figures are printed (docs/web-client.md keeps three runs
// of each shape). The test asserts what must hold whatever the timing: the
// viewer follows every command, makes at most one corrective seek per
// command, rests on the host's frame when paused, and the group wait shows
// and is answered with `ready`.
//
//   SYNC_RUNS=3 node --test tests/sync.test.mjs     three runs per shape

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  eventually, hostRoom, joinAs, launchBrowser, playerState, serveFile, startRelay, startServer, testVideo,
  sleep,
} from "../harness.mjs";
import { act, analyse, readProbe, recordFrames, startProbe } from "../probe.mjs";

const RUNS = Number(process.env.SYNC_RUNS || 1);
const SHAPES = [
  { name: "loopback", host: {}, viewer: {} },
  { name: "viewer link 40 ms each way", host: {}, viewer: { up: 40, down: 40 } },
  { name: "host link 40 ms each way", host: { up: 40, down: 40 }, viewer: {} },
  { name: "viewer 80 ms downstream only", host: {}, viewer: { down: 80 } },
];
// The host's script: each command, then how long to watch before the next.
const SCRIPT = [
  { name: "PLAY", playing: true, watch: 6000 },
  { name: "SEEK 60", time: 60, playing: true, watch: 6000 },
  { name: "SEEK 20", time: 20, playing: true, watch: 6000 },
  { name: "PAUSE", playing: false, watch: 3000 },
  { name: "PLAY", playing: true, watch: 6000 },
];

let server, video, browser;
let count = 0;

before(async () => {
  server = await startServer();
  video = await serveFile(testVideo({ seconds: 90 }));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await video?.stop();
  await server?.stop();
});

async function oneRun(shape) {
  const stamp = `${Date.now().toString(36)}${count++}`;
  const hostRelay = await startRelay(server.origin, shape.host);
  const viewerRelay = await startRelay(server.origin, shape.viewer);
  const hostContext = await browser.newContext();
  const viewerContext = await browser.newContext();
  try {
    const host = await hostContext.newPage();
    const viewer = await viewerContext.newPage();
    const problems = [];
    for (const [who, page] of [["host", host], ["viewer", viewer]]) {
      page.on("pageerror", (err) => problems.push(`${who}: ${err.message}`));
    }
    const viewerFrames = recordFrames(viewer);
    const path = await hostRoom(host, hostRelay.origin, {
      email: `sync-host-${stamp}@example.com`,
      name: "Ana",
      room: "In step",
      media: video.url,
    });
    await joinAs(viewer, viewerRelay.origin + path, { email: `sync-viewer-${stamp}@example.com`, name: "Bo" });
    for (const page of [host, viewer]) {
      await eventually(() => playerState(page), (s) => s.readyState >= 3, "video loaded");
    }
    // The first clock samples (five PINGs, 300 ms apart) are in.
    await sleep(2000);
    await startProbe(host);
    await startProbe(viewer);

    const commands = [];
    for (const step of SCRIPT) {
      const t = await act(host, step.name.split(" ")[0], step.time);
      commands.push({ name: step.name, t, playing: step.playing });
      await sleep(step.watch);
    }
    const hostProbe = await readProbe(host);
    const viewerProbe = await readProbe(viewer);
    const end = viewerProbe.samples[viewerProbe.samples.length - 1].t;
    const figures = analyse(hostProbe, viewerProbe, commands, end);
    console.log(`sync-figures ${JSON.stringify({ shape: shape.name, ...figures })}`);

    // What must hold on any link, however slow the machine: one seek at
    // most per command, and the viewer with the host at the end of each
    // (within the other tests' half second while playing; paused, on the
    // very position).
    for (const c of figures.commands) {
      assert.ok(c.seeks <= 1, `${shape.name}: ${c.command} made ${c.seeks} corrective seeks`);
      const bar = c.command === "PAUSE" ? 1 : 500;
      assert.ok(c.end_gap_ms !== null && c.end_gap_ms < bar, `${shape.name}: after ${c.command}: ${JSON.stringify(c)}`);
    }
    const last = await Promise.all([playerState(host), playerState(viewer)]);
    assert.ok(!last[0].paused && !last[1].paused, `both play at the end: ${JSON.stringify(last)}`);
    // The group wait: the host's page showed it after the first PLAY, and
    // the viewer answered every WAITING naming Bo with `ready`.
    assert.ok(
      hostProbe.waits.some((w) => w.t >= commands[0].t && /Waiting for/.test(w.text)),
      `${shape.name}: the host's page never showed the wait`,
    );
    const waitings = viewerFrames.filter((f) => f.dir === "in" && f.msg.type === "WAITING" && f.msg.for.some((u) => u.display_name === "Bo"));
    assert.ok(waitings.length > 0, `${shape.name}: no WAITING named the viewer`);
    for (const w of waitings) {
      assert.ok(
        viewerFrames.some((f) => f.dir === "out" && f.t >= w.t && f.msg.type === "PLAYER_STATE" && f.msg.state === "ready"),
        `${shape.name}: no ready after the WAITING at ${w.t}`,
      );
    }
    const sent = viewerFrames.filter((f) => f.dir === "out");
    assert.ok(sent.some((f) => f.msg.type === "SYNC_REPORT"), "the viewer reports its position");
    assert.ok(!sent.some((f) => ["PLAY", "PAUSE", "SEEK", "RATE"].includes(f.msg.type)), "the viewer never sends playback");
    assert.deepEqual(problems, []);
    return figures;
  } finally {
    await hostContext.close();
    await viewerContext.close();
    await hostRelay.stop();
    await viewerRelay.stop();
  }
}

for (const shape of SHAPES) {
  test(`sync: ${shape.name}`, async () => {
    for (let run = 0; run < RUNS; run++) await oneRun(shape);
  });
}
