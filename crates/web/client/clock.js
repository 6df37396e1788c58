// The server's clock as seen from here, estimated from PING / PONG.

const KEEP = 12;
// The offset is the median of the samples whose round trip is within this
// many ms of the quickest one kept: those crossed the network with the least
// queueing, so their halves are the least lopsided; the median of a few
// smooths the timer jitter of any single one.
const NEAR_BEST_MS = 5;
const BEST_FEW = 3;

/** This page's clock in epoch milliseconds, monotonic within the page. */
export function localNow() {
  return performance.timeOrigin + performance.now();
}

/**
 * Keeps the last few PING / PONG samples. The offset comes from the
 * quickest of them; the round trip reported to the server is the median of
 * the recent ones (what a message really takes, queueing included).
 *
 * What no client can see: how a round trip splits into its two halves. The
 * offset assumes half each way, so a path that is slower one way than the
 * other leaves the estimate off by half the difference (40 ms down and 0 up:
 * the server's clock is read 20 ms late).
 */
export class ServerClock {
  constructor() {
    /** @type {{ rtt: number, offset: number }[]} */
    this.samples = [];
    this.offset = 0;
  }

  /**
   * Records a PONG that answered a PING sent at `clientTime`.
   *
   * @param {number} clientTime the PING's `client_time`, echoed
   * @param {number} serverTime the PONG's `server_time`
   * @param {number} [receivedAt] when the PONG arrived, by {@link localNow}
   */
  addSample(clientTime, serverTime, receivedAt = localNow()) {
    const rtt = receivedAt - clientTime;
    if (!(rtt >= 0) || !Number.isFinite(serverTime)) return;
    this.samples.push({ rtt, offset: serverTime - (clientTime + rtt / 2) });
    if (this.samples.length > KEEP) this.samples.shift();
    const byRtt = [...this.samples].sort((a, b) => a.rtt - b.rtt);
    const quick = byRtt.filter((s, i) => i === 0 || (i < BEST_FEW && s.rtt - byRtt[0].rtt <= NEAR_BEST_MS));
    this.offset = median(quick.map((s) => s.offset));
  }

  /** Whether any PONG has come back yet. */
  known() {
    return this.samples.length > 0;
  }

  /** The round trip in ms: the median of the recent samples, 0 before any. */
  rtt() {
    return this.samples.length ? median(this.samples.slice(-5).map((s) => s.rtt)) : 0;
  }

  /** The server's time now, in epoch milliseconds. */
  now() {
    return localNow() + this.offset;
  }
}

/** @param {number[]} values not empty */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
