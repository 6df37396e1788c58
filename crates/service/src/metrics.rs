//! Counters for `/metrics`, kept as atomics so the hot path never locks.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

// Upper bounds of the fan-out latency buckets, in microseconds.
const BUCKETS_US: [u64; 10] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000,
];

/// What the service counts.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) live_sockets: AtomicI64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) failed_logins: AtomicU64,
    pub(crate) slow_consumers_closed: AtomicU64,
    fanout_buckets: [AtomicU64; BUCKETS_US.len()],
    fanout_count: AtomicU64,
    fanout_sum_us: AtomicU64,
}

impl Metrics {
    pub(crate) fn observe_fanout(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        for (bound, bucket) in BUCKETS_US.iter().zip(&self.fanout_buckets) {
            if us <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.fanout_count.fetch_add(1, Relaxed);
        self.fanout_sum_us.fetch_add(us, Relaxed);
    }

    /// The Prometheus text exposition, with the number of live rooms on this instance.
    pub fn render(&self, live_rooms: usize) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "watchparty_live_sockets",
            "gauge",
            "Open room WebSockets on this instance.",
            self.live_sockets.load(Relaxed).to_string(),
        );
        metric(
            "watchparty_live_rooms",
            "gauge",
            "Rooms with a live socket on this instance.",
            live_rooms.to_string(),
        );
        metric(
            "watchparty_messages_in_total",
            "counter",
            "WebSocket messages received.",
            self.messages_in.load(Relaxed).to_string(),
        );
        metric(
            "watchparty_messages_out_total",
            "counter",
            "WebSocket messages queued for delivery.",
            self.messages_out.load(Relaxed).to_string(),
        );
        metric(
            "watchparty_failed_logins_total",
            "counter",
            "Failed or throttled login attempts.",
            self.failed_logins.load(Relaxed).to_string(),
        );
        metric(
            "watchparty_slow_consumers_closed_total",
            "counter",
            "Sockets closed because their queue overflowed.",
            self.slow_consumers_closed.load(Relaxed).to_string(),
        );
        let name = "watchparty_fanout_seconds";
        let _ = writeln!(out, "# HELP {name} Time to hand one room event to every local socket.\n# TYPE {name} histogram");
        for (bound, bucket) in BUCKETS_US.iter().zip(&self.fanout_buckets) {
            let le = *bound as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {}", bucket.load(Relaxed));
        }
        let count = self.fanout_count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.fanout_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}
