// Watching two players from outside: what each page's <video> did, sampled
// in the page every 100 ms by the page's own clock, and what its socket said.
// The sync, wait and panel tests share it.

/** Starts recording on `page` (its #player must exist). */
export function startProbe(page) {
  return page.evaluate(() => {
    const now = () => performance.timeOrigin + performance.now();
    const v = /** @type {HTMLVideoElement} */ (document.querySelector("#player"));
    const probe = { samples: [], seeks: [], rates: [], waits: [] };
    window.__probe = probe;
    setInterval(() => probe.samples.push([now(), v.currentTime, v.paused, v.seeking, v.playbackRate]), 100);
    v.addEventListener("seeking", () => probe.seeks.push([now(), v.currentTime]));
    v.addEventListener("ratechange", () => probe.rates.push([now(), v.playbackRate]));
    const banner = document.querySelector("#group-wait");
    new MutationObserver(() => {
      if (!banner.hidden) probe.waits.push([now(), banner.textContent]);
    }).observe(banner, { attributes: true, childList: true, subtree: true, characterData: true });
  });
}

/** What the probe on `page` has recorded so far. */
export function readProbe(page) {
  return page.evaluate(() => {
    const p = window.__probe;
    return {
      samples: p.samples.map(([t, pos, paused, seeking, rate]) => ({ t, pos, paused, seeking, rate })),
      seeks: p.seeks.map(([t, pos]) => ({ t, pos })),
      rates: p.rates.map(([t, rate]) => ({ t, rate })),
      waits: p.waits.map(([t, text]) => ({ t, text })),
    };
  });
}

/** Does what a person does to the host's video; returns when, by the page's clock. */
export function act(page, what, time) {
  return page.evaluate(
    ([what, time]) => {
      const v = /** @type {HTMLVideoElement} */ (document.querySelector("#player"));
      const at = performance.timeOrigin + performance.now();
      if (what === "PLAY") v.play();
      else if (what === "PAUSE") v.pause();
      else v.currentTime = time;
      return at;
    },
    [what, time],
  );
}

/**
 * Records every frame `page`'s room socket sends and receives, parsed, with
 * the time (node's clock): `{ dir: "in" | "out", t, msg }`. Call before the
 * page connects.
 */
export function recordFrames(page) {
  const frames = [];
  page.on("websocket", (ws) => {
    const add = (dir) => (f) => {
      try {
        frames.push({ dir, t: Date.now(), msg: JSON.parse(f.payload) });
      } catch {
        // not ours
      }
    };
    ws.on("framesent", add("out"));
    ws.on("framereceived", add("in"));
  });
  return frames;
}

/** The host's position at `t` from its samples, or null when unknown there. */
function hostAt(samples, t) {
  let lo = 0;
  let hi = samples.length - 1;
  if (hi < 1 || t < samples[0].t || t > samples[hi].t) return null;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (samples[mid].t <= t) lo = mid;
    else hi = mid;
  }
  const a = samples[lo];
  const b = samples[hi];
  if (a.seeking || b.seeking || b.t - a.t > 300) return null;
  if (a.paused && b.paused) return a.pos === b.pos ? { pos: a.pos, paused: true } : null;
  if (a.paused || b.paused) return null;
  // A jump between the two samples (a seek that began and ended in between).
  if (Math.abs(b.pos - a.pos - ((b.t - a.t) / 1000) * a.rate) > 0.05) return null;
  return { pos: a.pos + ((b.pos - a.pos) * (t - a.t)) / (b.t - a.t), paused: false };
}

/** @param {number[]} xs @param {number} q */
function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/**
 * The figures of one run: drift while both play (from 2 s after each
 * command, in ms: median, p95, max of |drift|), per command the settle time
 * (until the viewer stays within 50 ms of the host while playing, or rests
 * on the host's position within 1 ms when paused), the viewer's seeks and
 * rate changes.
 *
 * @param {{ name: string, t: number, playing: boolean }[]} commands
 */
export function analyse(host, viewer, commands, end) {
  const drifts = [];
  const perCommand = commands.map((cmd, i) => {
    const until = i + 1 < commands.length ? commands[i + 1].t : end;
    const points = [];
    for (const s of viewer.samples) {
      if (s.t < cmd.t || s.t >= until) continue;
      const h = hostAt(host.samples, s.t);
      if (!h) {
        // The host was mid-jump: says nothing either way.
        continue;
      }
      const d = s.pos - h.pos;
      const both = cmd.playing ? !h.paused && !s.paused && !s.seeking : h.paused && s.paused && !s.seeking;
      const ok = both && Math.abs(d) <= (cmd.playing ? 0.05 : 0.001);
      points.push({ t: s.t, ok, d, hp: h.paused, vp: s.paused });
      if (cmd.playing && both && s.t >= cmd.t + 2000) drifts.push(Math.abs(d) * 1000);
    }
    let settled = null;
    for (let k = points.length - 1; k >= 0 && points[k].ok; k--) settled = points[k].t;
    if (process.env.SYNC_DEBUG) console.log(cmd.name, JSON.stringify(points.map((p) => [Math.round(p.t - cmd.t), p.ok, p.d === undefined ? null : Math.round(p.d * 10000) / 10, p.hp, p.vp])));
    return {
      command: cmd.name,
      settle_ms: settled === null ? null : Math.round(settled - cmd.t),
      seeks: viewer.seeks.filter((x) => x.t >= cmd.t && x.t < until).length,
      rate_changes: viewer.rates.filter((x) => x.t >= cmd.t && x.t < until).length,
      // The median gap over the segment's last half second (null: the host
      // never stood still long enough to say).
      end_gap_ms: (() => {
        const tail = points.slice(-5).filter((p) => p.d !== undefined && (cmd.playing ? !p.hp && !p.vp : p.hp && p.vp));
        return tail.length ? Math.round(quantile(tail.map((p) => Math.abs(p.d) * 1000), 0.5) * 10) / 10 : null;
      })(),
    };
  });
  return {
    samples: drifts.length,
    median_ms: Math.round(quantile(drifts, 0.5) * 10) / 10,
    p95_ms: Math.round(quantile(drifts, 0.95) * 10) / 10,
    max_ms: Math.round(Math.max(...drifts) * 10) / 10,
    commands: perCommand,
  };
}
