//! The scenarios of docs/performance.md, and the measuring they share.

pub mod chat;
pub mod cluster;
pub mod evening;
pub mod fanout;
pub mod idle;
pub mod slow;
pub mod soak;
pub mod storm;

use crate::clients::{open_loop, Client, Counters, Shared, Timed};
use crate::measure::{Book, CpuWindow, Latency, Process};
use crate::report::Report;
use crate::run::{wait_until, Run};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a phase waits for its last arrivals before counting losses.
const DRAIN: Duration = Duration::from_secs(5);

/// A fresh shared state for a run's clients, timing `timed`.
pub fn shared(events: usize, timed: Timed) -> Shared {
    Shared {
        book: Arc::new(Book::new(events)),
        timed,
        counters: Arc::new(Counters::default()),
        done: CancellationToken::new(),
    }
}

/// CPU used by the servers, the generator and Redis over a window.
pub struct Usage {
    servers: Vec<CpuWindow>,
    me: CpuWindow,
    redis: Option<CpuWindow>,
}

/// What a [`Usage`] window measured.
#[derive(Debug, Clone, Copy)]
pub struct Used {
    /// Wall time of the window.
    pub wall: Duration,
    /// CPU time of every server whose pid is known, summed; `None` without pids.
    pub servers: Option<Duration>,
    /// The generator's own CPU time.
    pub me: Duration,
    /// Redis's CPU time, when its pid is known.
    pub redis: Option<Duration>,
}

impl Usage {
    /// Starts measuring every known process.
    pub fn start(run: &Run) -> Result<Self> {
        let servers = (0..run.server_count())
            .filter_map(|i| run.process(i))
            .map(CpuWindow::start)
            .collect::<Result<Vec<_>>>()?;
        Ok(Usage {
            servers,
            me: CpuWindow::start(Process::me())?,
            redis: run.redis.map(CpuWindow::start).transpose()?,
        })
    }

    /// What was used since the start.
    pub fn finish(&self) -> Result<Used> {
        let (me, wall) = self.me.finish()?;
        let servers = if self.servers.is_empty() {
            None
        } else {
            let mut total = Duration::ZERO;
            for w in &self.servers {
                total += w.finish()?.0;
            }
            Some(total)
        };
        let redis = self.redis.as_ref().map(|w| w.finish()).transpose()?;
        Ok(Used {
            wall,
            servers,
            me,
            redis: redis.map(|(cpu, _)| cpu),
        })
    }
}

impl Used {
    /// Server CPU as a share of one core.
    pub fn server_cores(&self) -> f64 {
        self.servers.map_or(f64::NAN, |c| ratio(c, self.wall))
    }

    /// The generator's CPU as a share of one core.
    pub fn my_cores(&self) -> f64 {
        ratio(self.me, self.wall)
    }

    /// Redis's CPU as a share of one core.
    pub fn redis_cores(&self) -> f64 {
        self.redis.map_or(f64::NAN, |c| ratio(c, self.wall))
    }

    /// Server CPU microseconds per delivery.
    pub fn server_us_per(&self, deliveries: u64) -> f64 {
        match self.servers {
            Some(cpu) if deliveries > 0 => cpu.as_secs_f64() * 1e6 / deliveries as f64,
            _ => f64::NAN,
        }
    }
}

fn ratio(cpu: Duration, wall: Duration) -> f64 {
    cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9)
}

/// What one open-loop phase measured.
pub struct Driven {
    /// Every arrival.
    pub deliveries: Latency,
    /// Per event, its slowest recipient.
    pub last_recipient: Latency,
    /// Arrivals counted.
    pub received: u64,
    /// Arrivals expected and never seen.
    pub lost: u64,
    /// CPU over the phase, drain included.
    pub used: Used,
    /// Deliveries per second of the sending window.
    pub per_second: f64,
}

/// One open-loop phase: `seqs` sent at `rate` per second by `pick`, each
/// expected by `recipients` sockets; waits for the stragglers, then counts.
pub async fn drive(
    run: &Run,
    shared: &Shared,
    seqs: std::ops::Range<u64>,
    rate: f64,
    recipients: u64,
    pick: impl FnMut(u64) -> Option<Arc<Client>>,
) -> Result<Driven> {
    let mut sides = drive_sides(run, &[(shared, recipients)], seqs, rate, pick).await?;
    sides
        .pop()
        .context("a phase with one side measures one side")
}

/// Like [`drive`], with the recipients in groups measured apart (sockets
/// on different instances): one result per `(group, recipients)`, all with
/// the same CPU window.
pub async fn drive_sides(
    run: &Run,
    sides: &[(&Shared, u64)],
    seqs: std::ops::Range<u64>,
    rate: f64,
    pick: impl FnMut(u64) -> Option<Arc<Client>>,
) -> Result<Vec<Driven>> {
    let timed = sides.first().map_or(Timed::Seek, |(s, _)| s.timed);
    let books: Vec<&Book> = sides.iter().map(|(s, _)| &*s.book).collect();
    let before: Vec<u64> = books
        .iter()
        .map(|book| {
            let _ = book.take_deliveries();
            book.received()
        })
        .collect();
    let events = seqs.end - seqs.start;
    let usage = Usage::start(run)?;
    let sending = std::time::Instant::now();
    open_loop(&books, seqs.clone(), rate, timed, pick).await;
    let send_window = sending.elapsed();
    // Per side: arrivals so far, and arrivals expected.
    let arrived = || -> Vec<(u64, u64)> {
        books
            .iter()
            .zip(&before)
            .zip(sides)
            .map(|((book, before), (_, recipients))| {
                (book.received() - before, events * recipients)
            })
            .collect()
    };
    wait_until(DRAIN, || {
        arrived().iter().all(|(got, expected)| got >= expected)
    })
    .await;
    let used = usage.finish()?;
    Ok(books
        .iter()
        .zip(arrived())
        .map(|(book, (received, expected))| Driven {
            deliveries: Latency::of(&book.take_deliveries()),
            last_recipient: Latency::of(&book.last_recipient(seqs.clone())),
            received,
            lost: expected.saturating_sub(received),
            used,
            per_second: received as f64 / send_window.as_secs_f64().max(1e-9),
        })
        .collect())
}

/// The floor alone: what the `floor` subcommand prints.
pub async fn floor(o: crate::floor::Options) -> Result<Report> {
    let setup = o.setup();
    let floor = tokio::task::spawn_blocking(move || crate::floor::measure(setup))
        .await
        .context("the floor's measurement stopped")??;
    let mut report = Report::new("Floor: one writer thread, loopback TCP");
    report.floor(Some(floor));
    report.note(format!(
        "{} frames written, {} bytes read; writer CPU from /proc/thread-self/{}",
        floor.frames,
        floor.bytes_read,
        match floor.cpu_clock {
            crate::floor::CpuClock::Schedstat => "schedstat",
            crate::floor::CpuClock::StatTicks => "stat (ticks)",
        }
    ));
    Ok(report)
}

/// Samples a process's resident memory every `every` until `stop`.
pub fn sample_rss(
    process: Option<Process>,
    every: Duration,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<Vec<u64>> {
    tokio::spawn(async move {
        let mut samples = Vec::new();
        let Some(process) = process else {
            return samples;
        };
        loop {
            if let Ok(kib) = process.rss_kib() {
                samples.push(kib);
            }
            tokio::select! {
                _ = stop.cancelled() => return samples,
                _ = tokio::time::sleep(every) => {}
            }
        }
    })
}

/// Round-robin over `clients`.
pub fn round_robin(clients: &[Arc<Client>]) -> impl FnMut(u64) -> Option<Arc<Client>> + '_ {
    let mut next = 0usize;
    move |_| {
        let client = clients.get(next % clients.len().max(1)).cloned();
        next += 1;
        client
    }
}

/// `n` formatted in MiB from KiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
