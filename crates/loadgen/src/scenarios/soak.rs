//! The soak of docs/reliability.md: thousands of sockets held for an hour
//! while users keep joining and leaving; the server's memory, open files,
//! threads and live sockets must stay flat.

use super::{mib, shared};
use crate::clients::{Client, Timed};
use crate::measure::Process;
use crate::net::Account;
use crate::report::{Report, Row, Table};
use crate::run::Run;
use anyhow::{anyhow, Context, Result};
use clap::Args;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// Options of the soak.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Sockets held open for the whole run.
    #[arg(long, default_value_t = 2000)]
    pub connections: usize,
    /// Rooms they spread over.
    #[arg(long, default_value_t = 20)]
    pub rooms: usize,
    /// Sockets opened (and as many closed) per second by users coming and going.
    #[arg(long, default_value_t = 10.0)]
    pub churn: f64,
    /// How long a coming-and-going socket stays, seconds.
    #[arg(long, default_value_t = 2.0)]
    pub stay_secs: f64,
    /// Length of the run, seconds.
    #[arg(long, default_value_t = 3600.0)]
    pub secs: f64,
    /// Seconds between samples of the server.
    #[arg(long, default_value_t = 60.0)]
    pub sample_secs: f64,
}

/// The server's vital signs at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rss_kib: u64,
    open_files: u64,
    threads: u64,
    live_sockets: f64,
}

async fn sample(run: &Run, server: Process) -> Result<Sample> {
    Ok(Sample {
        rss_kib: server.rss_kib()?,
        open_files: server.open_files()?,
        threads: server.threads()?,
        live_sockets: run
            .http
            .metric(run.server(0), "watchparty_live_sockets")
            .await?,
    })
}

/// Runs the soak.
pub async fn run(run: &Run, o: Options) -> Result<Report> {
    let server = run
        .process(0)
        .ok_or_else(|| anyhow!("soak needs --server-pid to watch the server"))?;
    let rooms = o.rooms.max(1);
    let tabs = run.tabs(10);
    let steady = shared(1, Timed::Seek);
    let churning = shared(1, Timed::Seek);
    let host = run.host("soak").await?;
    let accounts = run.accounts("soak", o.connections, tabs).await?;
    // Enough distinct users that each coming socket is its user's first.
    let stay = Duration::from_secs_f64(o.stay_secs.max(0.1));
    let comers = ((o.churn * o.stay_secs).ceil() as usize * 2).max(2);
    let visitors = run.accounts("soak-visitor", comers, 1).await?;
    let mut codes = Vec::with_capacity(rooms);
    for r in 0..rooms {
        let mut members: Vec<Account> = accounts.iter().skip(r).step_by(rooms).cloned().collect();
        members.extend(visitors.iter().cloned());
        codes.push(run.room(&host, &format!("soak {r}"), &members).await?);
    }
    eprintln!("opening {} sockets", o.connections);
    let mut held = Vec::with_capacity(o.connections + rooms);
    for (r, code) in codes.iter().enumerate() {
        held.push(run.open(0, code, &host, r, &steady, false).await?);
    }
    for i in 0..o.connections {
        let a = i % accounts.len().max(1);
        let account = accounts.get(a).context("no accounts")?;
        let code = codes.get(a % rooms).context("no rooms")?;
        held.push(run.open(0, code, account, i, &steady, false).await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut table = Table::new("soak samples");
    let started = Instant::now();
    let first = sample(run, server).await?;
    let push = |table: &mut Table, s: Sample, joins: u64, failed: u64| {
        table.push(
            Row::new()
                .num("minute", started.elapsed().as_secs_f64() / 60.0, 1)
                .num("server RSS MiB", mib(s.rss_kib), 1)
                .int("open files", s.open_files)
                .int("threads", s.threads)
                .num("live sockets", s.live_sockets, 0)
                .int("joins and leaves so far", joins)
                .int("failed joins", failed)
                .int(
                    "unexpected disconnects",
                    steady.counters.disconnects.load(Relaxed)
                        + churning.counters.disconnects.load(Relaxed),
                ),
        );
    };
    push(&mut table, first, 0, 0);

    let mut visiting: VecDeque<(Instant, Client)> = VecDeque::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / o.churn.max(0.01)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sample_every = Duration::from_secs_f64(o.sample_secs.max(0.5));
    let mut next_sample = started + sample_every;
    let end = started + Duration::from_secs_f64(o.secs);
    let (mut joins, mut failed) = (0u64, 0u64);
    let mut last = first;
    while Instant::now() < end {
        tick.tick().await;
        while visiting
            .front()
            .is_some_and(|(due, _)| *due <= Instant::now())
        {
            if let Some((_, client)) = visiting.pop_front() {
                client.leave();
            }
        }
        let n = joins + failed;
        let visitor = visitors
            .get(n as usize % visitors.len())
            .context("no visitors")?;
        let code = codes.get(n as usize % rooms).context("no rooms")?;
        match run.open(0, code, visitor, 0, &churning, false).await {
            Ok(client) => {
                joins += 1;
                visiting.push_back((Instant::now() + stay, client));
            }
            Err(e) => {
                failed += 1;
                eprintln!("join failed: {e:#}");
            }
        }
        if Instant::now() >= next_sample {
            next_sample += sample_every;
            last = sample(run, server).await?;
            push(&mut table, last, joins, failed);
        }
    }
    for (_, client) in visiting.drain(..) {
        client.leave();
    }
    // The visitors' sockets are gone once the server has counted them out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = sample(run, server).await?;
    push(&mut table, settled, joins, failed);
    steady.done.cancel();
    churning.done.cancel();
    drop(held);

    let mut report = Report::new("Soak");
    report.table(table);
    let grown = settled.rss_kib.saturating_sub(first.rss_kib);
    let allowed = (first.rss_kib / 10).max(8 * 1024);
    report.expect(
        grown <= allowed,
        format!(
            "server memory grew {:.1} MiB (allowed {:.1})",
            mib(grown),
            mib(allowed)
        ),
    );
    report.expect(
        settled.open_files <= first.open_files + 8,
        format!(
            "open files went from {} to {}",
            first.open_files, settled.open_files
        ),
    );
    report.expect(
        settled.live_sockets == first.live_sockets,
        format!(
            "live sockets went from {} to {}",
            first.live_sockets, settled.live_sockets
        ),
    );
    report.expect(failed == 0, format!("{failed} joins failed"));
    let disconnects =
        steady.counters.disconnects.load(Relaxed) + churning.counters.disconnects.load(Relaxed);
    report.expect(
        disconnects == 0,
        format!("{disconnects} sockets were closed by the server"),
    );
    report.note(format!(
        "{} sockets held in {rooms} rooms ({tabs} per account) plus one host per room; \
         {joins} sockets came and went, each staying {:.1} s; the last sample before \
         the visitors left: {:.1} MiB, {} open files",
        o.connections,
        o.stay_secs,
        mib(last.rss_kib),
        last.open_files
    ));
    Ok(report)
}
