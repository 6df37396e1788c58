// The server's clock as seen from here, estimated from PING / PONG.

const KEEP = 8;

/** This page's clock in epoch milliseconds, monotonic within the page. */
export function localNow() {
  return performance.timeOrigin + performance.now();
}

/**
 * Keeps the last few PING / PONG samples and trusts the one with the lowest
 * round trip: its one-way delays are the least lopsided, so its offset is the
 * least wrong.
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
    const best = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.offset = best.offset;
  }

  /** The server's time now, in epoch milliseconds. */
  now() {
    return localNow() + this.offset;
  }
}
