//! Scenario 5: a busy room where some viewers stop reading. The healthy
//! ones must not notice, the server's memory must stay flat, and the slow
//! ones must be shed.

use super::{drive, mib, round_robin, sample_rss, shared, Driven};
use crate::clients::{open_loop, Client, Shared, Timed};
use crate::report::{Report, Row, Table};
use crate::run::{Run, SETUP_PARALLEL};
use anyhow::{anyhow, Result};
use clap::Args;
use futures_util::stream::{self, StreamExt};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const SHED_METRIC: &str = "watchparty_slow_consumers_closed_total";

/// Options of the slow-consumer scenario.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Viewer sockets, slow ones included.
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Share of the viewers that never read, in percent.
    #[arg(long, default_value_t = 5.0)]
    pub slow_percent: f64,
    /// Host SEEKs per second (timed).
    #[arg(long, default_value_t = 10.0)]
    pub seeks: f64,
    /// Chat messages per second from healthy viewers.
    #[arg(long, default_value_t = 100.0)]
    pub chats: f64,
    /// Seconds of the baseline, before the slow viewers arrive.
    #[arg(long, default_value_t = 10.0)]
    pub baseline_secs: f64,
    /// Seconds with the slow viewers in the room.
    #[arg(long, default_value_t = 30.0)]
    pub secs: f64,
}

/// Runs the slow-consumer scenario.
pub async fn run(run: &Run, o: Options) -> Result<Report> {
    let slow = ((o.viewers as f64) * o.slow_percent / 100.0).round() as usize;
    let healthy = o.viewers.saturating_sub(slow).max(1);
    let tabs = run.tabs(10);
    let events = (o.seeks * (o.baseline_secs + o.secs)).ceil() as u64;
    let shared = shared(events as usize + 1, Timed::Seek);
    let host = run.host("slow").await?;
    let accounts = run.accounts("slow", healthy, tabs).await?;
    let sluggards = run.accounts("slow-stopped", slow.max(1), tabs).await?;
    let everyone: Vec<_> = accounts.iter().chain(&sluggards).cloned().collect();
    let code = run.room(&host, "slow consumers", &everyone).await?;
    let room = run
        .gather(&code, &host, &accounts, healthy, &shared)
        .await?;
    let (host_socket, viewers) = (&room.host, &room.viewers);

    eprintln!("baseline: {} s", o.baseline_secs);
    let rss_start = run.process(0).map(|p| p.rss_kib()).transpose()?;
    let mut next = 0u64;
    let (baseline, _) = phase(
        run,
        &shared,
        &o,
        o.baseline_secs,
        &mut next,
        host_socket,
        viewers,
        healthy,
    )
    .await?;

    eprintln!("{slow} viewers stop reading; {} s", o.secs);
    let shed_before = run
        .http
        .metric(run.server(0), SHED_METRIC)
        .await
        .unwrap_or(0.0);
    let sampling = CancellationToken::new();
    let rss = sample_rss(run.process(0), Duration::from_secs(1), sampling.clone());
    let arrived = Instant::now();
    let stopped: Vec<Result<Client>> = stream::iter(0..slow)
        .map(|i| {
            let account = sluggards.get(i % sluggards.len().max(1));
            let (code, shared) = (&code, &shared);
            async move {
                let account = account.ok_or_else(|| anyhow!("no account"))?;
                run.open(0, code, account, healthy + i, shared, true).await
            }
        })
        .buffered(SETUP_PARALLEL)
        .collect()
        .await;
    let stopped = stopped.into_iter().collect::<Result<Vec<_>>>()?;
    let watch_shed = async {
        let mut shed_after = None;
        while arrived.elapsed().as_secs_f64() < o.secs + 10.0 {
            let now = run
                .http
                .metric(run.server(0), SHED_METRIC)
                .await
                .unwrap_or(0.0);
            if now - shed_before >= slow as f64 {
                shed_after = Some(arrived.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shed_after
    };
    let (busy, shed_after) = tokio::join!(
        phase(
            run,
            &shared,
            &o,
            o.secs,
            &mut next,
            host_socket,
            viewers,
            healthy
        ),
        watch_shed
    );
    let (busy, disconnects) = busy?;
    sampling.cancel();
    let samples = rss.await.unwrap_or_default();
    shared.done.cancel();
    drop(stopped);

    let mut table = Table::new("healthy viewers (latency in ms: p50 / p90 / p99 / p99.9 / max)");
    table.push(row("baseline", 0, &baseline, 0));
    table.push(row("with slow viewers", slow, &busy, disconnects));
    let mut report = Report::new("Slow consumers");
    report.table(table);
    for (name, d, disconnects) in [
        ("baseline", &baseline, 0),
        ("slow phase", &busy, disconnects),
    ] {
        report.expect(
            d.lost == 0 && disconnects == 0 && d.received > 0,
            format!(
                "{name}: healthy viewers got {}, lost {}, {disconnects} were disconnected",
                d.received, d.lost
            ),
        );
    }
    let ratio = busy.deliveries.p99 / baseline.deliveries.p99.max(1e-9);
    report.note(format!(
        "healthy p99 with slow viewers / baseline: {ratio:.2}×"
    ));
    if let (Some(start), Some(max), Some(last)) = (rss_start, samples.iter().max(), samples.last())
    {
        let every_5s: Vec<String> = samples
            .iter()
            .step_by(5)
            .map(|kib| format!("{:.1}", mib(*kib)))
            .collect();
        report.note(format!(
            "server RSS: {:.1} MiB before, at most {:.1} MiB and {:.1} MiB at the end of the slow phase; \
             every 5 s: {} MiB",
            mib(start),
            mib(*max),
            mib(*last),
            every_5s.join(", ")
        ));
    }
    report.note(match shed_after {
        Some(t) => format!(
            "all {slow} slow viewers were closed {:.1} s after they stopped reading",
            t.as_secs_f64()
        ),
        None => format!(
            "the slow viewers were not all closed within {} s",
            o.secs + 10.0
        ),
    });
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn phase(
    run: &Run,
    shared: &Shared,
    o: &Options,
    secs: f64,
    next: &mut u64,
    host: &Arc<Client>,
    viewers: &[Arc<Client>],
    healthy: usize,
) -> Result<(Driven, u64)> {
    let seeks = (o.seeks * secs).ceil() as u64;
    let range = *next..*next + seeks;
    *next += seeks;
    let disconnects = shared.counters.disconnects.load(Relaxed);
    let chats = (o.chats * secs).ceil() as u64;
    let chat = open_loop(&[], 0..chats, o.chats, Timed::Chat, round_robin(viewers));
    let seek = drive(run, shared, range, o.seeks, healthy as u64, |_| {
        Some(host.clone())
    });
    let (driven, ()) = tokio::join!(seek, chat);
    Ok((
        driven?,
        shared.counters.disconnects.load(Relaxed) - disconnects,
    ))
}

fn row(phase: &str, slow: usize, d: &Driven, disconnects: u64) -> Row {
    Row::new()
        .text("phase", phase)
        .int("slow viewers", slow as u64)
        .latency("SEEK per delivery ms", d.deliveries)
        .latency("SEEK last recipient ms", d.last_recipient)
        .int("lost", d.lost)
        .int("healthy disconnects", disconnects)
        .num("server cores", d.used.server_cores(), 2)
        .num("loadgen cores", d.used.my_cores(), 2)
}
