//! Counters for `/metrics`, kept as atomics so the hot path never locks.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use watchparty_domain::WaitOutcome;
use watchparty_persistence::{QueryCounts, Work};

// Upper bounds of the fan-out latency buckets, in microseconds.
const FANOUT_US: [u64; 10] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000,
];
// Of a viewer's absolute drift and round trip, in microseconds.
const DRIFT_US: [u64; 10] = [
    10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
];
// Of a group wait's length, in microseconds (a wait lasts 10 s at most).
const WAIT_US: [u64; 8] = [
    100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 7_500_000, 10_000_000,
];

/// A Prometheus histogram of durations, lock-free.
#[derive(Debug)]
struct Histogram {
    bounds_us: &'static [u64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn new(bounds_us: &'static [u64]) -> Self {
        Histogram {
            bounds_us,
            buckets: bounds_us.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    fn observe_us(&self, us: u64) {
        for (bound, bucket) in self.bounds_us.iter().zip(&self.buckets) {
            if us <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    /// Seconds as a non-negative, finite number; anything else counts as 0.
    fn observe_secs(&self, secs: f64) {
        let us = (secs * 1e6).clamp(0.0, u64::MAX as f64);
        // Clamped into range above, so the cast only drops the fraction.
        self.observe_us(if us.is_finite() { us as u64 } else { 0 });
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, bucket) in self.bounds_us.iter().zip(&self.buckets) {
            let le = *bound as f64 / 1e6;
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {}", bucket.load(Relaxed));
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// What the service counts.
#[derive(Debug)]
pub struct Metrics {
    pub(crate) live_sockets: AtomicI64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) failed_logins: AtomicU64,
    pub(crate) slow_consumers_closed: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    // Group waits by outcome: ready, timeout, forced.
    waits: [AtomicU64; 3],
    fanout: Histogram,
    drift: Histogram,
    rtt: Histogram,
    wait_length: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            live_sockets: AtomicI64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            failed_logins: AtomicU64::new(0),
            slow_consumers_closed: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            waits: Default::default(),
            fanout: Histogram::new(&FANOUT_US),
            drift: Histogram::new(&DRIFT_US),
            rtt: Histogram::new(&DRIFT_US),
            wait_length: Histogram::new(&WAIT_US),
        }
    }
}

const WAIT_OUTCOMES: [WaitOutcome; 3] = [
    WaitOutcome::Ready,
    WaitOutcome::Timeout,
    WaitOutcome::Forced,
];

impl Metrics {
    pub(crate) fn observe_fanout(&self, took: Duration) {
        self.fanout
            .observe_us(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    /// A counted sync report: its absolute drift and round trip.
    pub(crate) fn observe_sync(&self, drift_ms: f64, rtt_ms: f64) {
        self.drift.observe_secs(drift_ms.abs() / 1000.0);
        self.rtt.observe_secs(rtt_ms.abs() / 1000.0);
    }

    /// A group wait that ended by readiness, deadline or force.
    pub(crate) fn observe_wait(&self, outcome: WaitOutcome, length_ms: i64) {
        if let Some(i) = WAIT_OUTCOMES.iter().position(|o| *o == outcome) {
            if let Some(counter) = self.waits.get(i) {
                counter.fetch_add(1, Relaxed);
            }
        }
        self.wait_length.observe_secs(length_ms as f64 / 1000.0);
    }

    /// The Prometheus text exposition, with the number of live rooms on this
    /// instance and what it asked of the database.
    pub(crate) fn render(&self, live_rooms: usize, db: &QueryCounts) -> String {
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
        metric(
            "watchparty_resyncs_total",
            "counter",
            "PLAYBACK_STATE resyncs sent to sockets that drifted beyond 1.5 s twice in a row.",
            self.resyncs.load(Relaxed).to_string(),
        );
        for (name, help, count) in [
            (
                "watchparty_db_round_trips_total",
                "Calls into the database (one connection from the pool, whatever it sent), by whose work they were.",
                QueryCounts::round_trips as fn(&QueryCounts, Work) -> u64,
            ),
            (
                "watchparty_db_statements_total",
                "SQL statements and batches sent to the database, by whose work they were.",
                QueryCounts::statements,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for work in [Work::Requests, Work::Background] {
                let label = work.as_str();
                let _ = writeln!(out, "{name}{{work=\"{label}\"}} {}", count(db, work));
            }
        }
        let name = "watchparty_group_waits_total";
        let _ = writeln!(out, "# HELP {name} Group waits ended by readiness, deadline or a forcing PLAY.\n# TYPE {name} counter");
        for (outcome, counter) in WAIT_OUTCOMES.iter().zip(&self.waits) {
            let outcome = outcome.as_str();
            let _ = writeln!(
                out,
                "{name}{{outcome=\"{outcome}\"}} {}",
                counter.load(Relaxed)
            );
        }
        self.fanout.render(
            &mut out,
            "watchparty_fanout_seconds",
            "Time to hand one room event to every local socket.",
        );
        self.wait_length.render(
            &mut out,
            "watchparty_group_wait_seconds",
            "How long counted group waits lasted.",
        );
        self.drift.render(
            &mut out,
            "watchparty_viewer_drift_seconds",
            "Absolute drift of counted sync reports.",
        );
        self.rtt.render(
            &mut out,
            "watchparty_viewer_rtt_seconds",
            "Round trips of counted sync reports.",
        );
        out
    }
}
