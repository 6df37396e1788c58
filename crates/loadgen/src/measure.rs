//! Latency bookkeeping without coordinated omission, and what the kernel
//! says about a process's CPU time and memory.

use anyhow::{anyhow, Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const NOT_SENT: u64 = u64::MAX;
const SHARDS: usize = 32;
// Latencies are recorded in microseconds, up to a minute.
const HIGHEST_US: u64 = 60_000_000;

/// An empty histogram of microseconds.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants the constructor accepts; it cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("valid histogram bounds")
}

/// Events by sequence number: when each was *meant* to be sent, and every
/// arrival measured from that moment, so a late sender shows up as latency.
pub struct Book {
    start: Instant,
    intended: Vec<AtomicU64>,
    slowest: Vec<AtomicU64>,
    shards: Vec<Mutex<Histogram<u64>>>,
    received: AtomicU64,
}

impl Book {
    /// Room for `events` sequence numbers, `0..events`.
    pub fn new(events: usize) -> Self {
        Book {
            start: Instant::now(),
            intended: (0..events).map(|_| AtomicU64::new(NOT_SENT)).collect(),
            slowest: (0..events).map(|_| AtomicU64::new(0)).collect(),
            shards: (0..SHARDS).map(|_| Mutex::new(histogram())).collect(),
            received: AtomicU64::new(0),
        }
    }

    /// Records that `seq` is scheduled for `at`.
    pub fn schedule(&self, seq: u64, at: Instant) {
        if let Some(slot) = self.intended.get(seq as usize) {
            slot.store(
                at.saturating_duration_since(self.start).as_nanos() as u64,
                Relaxed,
            );
        }
    }

    /// One arrival of `seq`, seen by reader `reader`.
    pub fn arrived(&self, seq: u64, reader: usize) {
        let Some(intended) = self.intended.get(seq as usize).map(|s| s.load(Relaxed)) else {
            return;
        };
        if intended == NOT_SENT {
            return;
        }
        let now = self.start.elapsed().as_nanos() as u64;
        let latency = now.saturating_sub(intended);
        if let Some(slowest) = self.slowest.get(seq as usize) {
            slowest.fetch_max(latency, Relaxed);
        }
        if let Some(shard) = self.shards.get(reader % SHARDS) {
            let mut h = shard.lock().unwrap_or_else(|p| p.into_inner());
            h.saturating_record((latency / 1000).max(1));
        }
        self.received.fetch_add(1, Relaxed);
    }

    /// Arrivals so far.
    pub fn received(&self) -> u64 {
        self.received.load(Relaxed)
    }

    /// Every arrival's latency, and the clearing of the book for a new phase.
    pub fn take_deliveries(&self) -> Histogram<u64> {
        let mut all = histogram();
        for shard in &self.shards {
            let mut h = shard.lock().unwrap_or_else(|p| p.into_inner());
            let _ = all.add(&*h);
            h.reset();
        }
        all
    }

    /// Per event in `seqs`, the latency of its last recipient.
    pub fn last_recipient(&self, seqs: std::ops::Range<u64>) -> Histogram<u64> {
        let mut h = histogram();
        for seq in seqs {
            if let Some(ns) = self.slowest.get(seq as usize).map(|s| s.load(Relaxed)) {
                if ns > 0 {
                    h.saturating_record((ns / 1000).max(1));
                }
            }
        }
        h
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// Summarises a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// A process watched through /proc.
#[derive(Debug, Clone, Copy)]
pub struct Process {
    pid: u32,
}

// /proc reports CPU time in USER_HZ ticks, 100 per second on Linux.
const TICK: Duration = Duration::from_millis(10);

impl Process {
    /// The process `pid`.
    pub fn new(pid: u32) -> Self {
        Process { pid }
    }

    /// This generator itself.
    pub fn me() -> Self {
        Process {
            pid: std::process::id(),
        }
    }

    /// User + system CPU time so far, all threads, dead ones included.
    pub fn cpu(&self) -> Result<Duration> {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&path).with_context(|| path.clone())?;
        // The command name may hold spaces; fields are counted after its ')'.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow!("{path}: unexpected format"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| -> Result<u32> {
            fields
                .get(i)
                .ok_or_else(|| anyhow!("{path}: short"))?
                .parse::<u32>()
                .map_err(|e| anyhow!("{path}: {e}"))
        };
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'.
        Ok(TICK * (field(11)? + field(12)?))
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        self.status_field("VmRSS")
    }

    /// Threads, live.
    pub fn threads(&self) -> Result<u64> {
        self.status_field("Threads")
    }

    /// Open file descriptors (sockets included).
    pub fn open_files(&self) -> Result<u64> {
        let path = format!("/proc/{}/fd", self.pid);
        let entries = std::fs::read_dir(&path).with_context(|| path.clone())?;
        Ok(entries.count() as u64)
    }

    /// A numeric field of /proc/PID/status, without its unit.
    fn status_field(&self, name: &str) -> Result<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| path.clone())?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("{path}: no {name}"))
    }
}

/// CPU used by a process between two points.
pub struct CpuWindow {
    process: Process,
    cpu: Duration,
    at: Instant,
}

impl CpuWindow {
    /// Starts measuring `process`.
    pub fn start(process: Process) -> Result<Self> {
        Ok(CpuWindow {
            process,
            cpu: process.cpu()?,
            at: Instant::now(),
        })
    }

    /// CPU time used since the start, and the wall time that passed.
    pub fn finish(&self) -> Result<(Duration, Duration)> {
        Ok((
            self.process.cpu()?.saturating_sub(self.cpu),
            self.at.elapsed(),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn latency_counts_from_the_intended_time_and_tracks_the_last_recipient() {
        let book = Book::new(4);
        book.schedule(1, Instant::now());
        std::thread::sleep(Duration::from_millis(50));
        book.arrived(1, 0);
        book.arrived(1, 7);
        // Unscheduled and out-of-range sequence numbers are ignored.
        book.arrived(2, 0);
        book.arrived(99, 0);
        assert_eq!(book.received(), 2);
        let last = Latency::of(&book.last_recipient(0..4));
        assert_eq!(last.count, 1);
        assert!(last.max >= 50.0, "{last:?}");
        let all = Latency::of(&book.take_deliveries());
        assert_eq!(all.count, 2);
        assert!(all.p50 >= 50.0, "{all:?}");
        // Taking the deliveries starts a new phase.
        assert_eq!(Latency::of(&book.take_deliveries()).count, 0);
    }

    #[test]
    fn this_process_is_visible_in_proc() {
        let me = Process::me();
        assert!(me.rss_kib().unwrap() > 0);
        // Burn a little CPU so the tick counter moves.
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        assert!(x != 1);
        assert!(me.cpu().unwrap() > Duration::ZERO);
    }
}
