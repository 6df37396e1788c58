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
        stat_cpu(&stat).ok_or_else(|| anyhow!("{path}: unexpected format"))
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

/// User + system CPU time in a `/proc/.../stat` line (a process's or a
/// thread's), at the tick's resolution.
pub fn stat_cpu(stat: &str) -> Option<Duration> {
    // The command name may hold spaces and parentheses; fields are counted
    // after its last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after ')'.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(TICK * u32::try_from(utime + stime).ok()?)
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
    fn stat_lines_give_user_plus_system_ticks() {
        // A command name with a space and a ')' of its own.
        let line = "42 (a b) c) S 1 42 42 0 -1 4194304 101 0 0 0 27 5 0 0 20 0 1 0 9 0 0\n";
        assert_eq!(stat_cpu(line), Some(TICK * 32));
        assert_eq!(stat_cpu("42 (x) S 1 2 3"), None);
        assert_eq!(stat_cpu("no parenthesis"), None);
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
