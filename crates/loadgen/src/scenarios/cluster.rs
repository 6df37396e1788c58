//! Scenario 6: two instances sharing PostgreSQL and Redis. The host is on
//! the first; viewers all on the first (the baseline), then split across
//! both. What Redis adds is the second instance's latency over the baseline.

use super::{drive, drive_sides, shared, Driven};
use crate::clients::Timed;
use crate::floor::Floor;
use crate::report::{Report, Row, Table};
use crate::run::Run;
use anyhow::{bail, Result};
use clap::Args;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Options of the two-instance scenario.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Viewer sockets.
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Host SEEKs per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seconds per phase.
    #[arg(long, default_value_t = 20.0)]
    pub secs: f64,
    #[command(flatten)]
    pub floor: crate::floor::Beside,
}

/// Runs the two-instance scenario.
pub async fn run(run: &Run, o: Options) -> Result<Report> {
    if run.server_count() < 2 {
        bail!("cluster needs two --server URLs (host on the first)");
    }
    let floor = o.floor.measure().await?;
    let tabs = run.tabs(10);
    let events = (o.rate * o.secs).ceil() as u64;
    let host = run.host("cluster").await?;
    let accounts = run.accounts("cluster", o.viewers, tabs).await?;
    let mut report = Report::new("Two instances and Redis");
    report.floor(floor);
    let mut table = Table::new("latency in ms: p50 / p90 / p99 / p99.9 / max");

    eprintln!("baseline: everyone on the first instance");
    let baseline = {
        let shared = shared(events as usize + 1, Timed::Seek);
        let code = run.room(&host, "cluster baseline", &accounts).await?;
        let room = run
            .gather(&code, &host, &accounts, o.viewers, &shared)
            .await?;
        let host_socket = &room.host;
        let step = drive(run, &shared, 0..events, o.rate, o.viewers as u64, |_| {
            Some(host_socket.clone())
        })
        .await?;
        shared.done.cancel();
        table.push(row(
            "all on A",
            o.viewers,
            &step,
            shared.counters.disconnects.load(Relaxed),
            step.received,
            floor.as_ref(),
        ));
        step.deliveries
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    eprintln!("split: viewers alternate between the instances");
    let on_a = shared(events as usize + 1, Timed::Seek);
    let on_b = shared(events as usize + 1, Timed::Seek);
    let code = run.room(&host, "cluster split", &accounts).await?;
    let host_socket = Arc::new(run.open(0, &code, &host, 0, &on_a, false).await?);
    let half_b = o.viewers / 2;
    let half_a = o.viewers - half_b;
    // Same accounts on both sides; presence is per user, delivery per socket.
    let _a = run
        .open_many(&code, &accounts, half_a, |_| 0, &on_a)
        .await?;
    let _b = run
        .open_many(&code, &accounts, half_b, |_| 1, &on_b)
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let split = drive_sides(
        run,
        &[(&on_a, half_a as u64), (&on_b, half_b as u64)],
        0..events,
        o.rate,
        |_| Some(host_socket.clone()),
    )
    .await?;
    // The CPU window spans both sides: its cost is over every delivery.
    let received: u64 = split.iter().map(|side| side.received).sum();
    let mut sides = Vec::new();
    for ((name, side, count), step) in [
        ("split, viewers on A", &on_a, half_a),
        ("split, viewers on B", &on_b, half_b),
    ]
    .into_iter()
    .zip(&split)
    {
        let disconnects = side.counters.disconnects.load(Relaxed);
        table.push(row(
            name,
            count,
            step,
            disconnects,
            received,
            floor.as_ref(),
        ));
        report.expect(
            step.lost == 0 && disconnects == 0,
            format!("{name}: {} lost, {disconnects} disconnects", step.lost),
        );
        sides.push(step.deliveries);
    }
    on_a.done.cancel();
    on_b.done.cancel();
    report.table(table);
    if let Some(b) = sides.get(1) {
        report.note(format!(
            "added at p99 across Redis (B split vs A baseline): {:.2} ms; at p50: {:.2} ms",
            b.p99 - baseline.p99,
            b.p50 - baseline.p50
        ));
    }
    report.note(format!(
        "{tabs} sockets per account; the host's socket is on A; CPU columns cover both \
         instances and the whole phase, so the split rows share them"
    ));
    Ok(report)
}

/// A row for `viewers` sockets placed as `placement`; the server's CPU is
/// divided over `all_received`, every delivery of the phase.
fn row(
    placement: &str,
    viewers: usize,
    step: &Driven,
    disconnects: u64,
    all_received: u64,
    floor: Option<&Floor>,
) -> Row {
    Row::new()
        .text("placement", placement)
        .int("viewers", viewers as u64)
        .latency("per delivery ms", step.deliveries)
        .latency("last recipient ms", step.last_recipient)
        .int("lost", step.lost)
        .int("disconnects", disconnects)
        .num("servers' cores", step.used.server_cores(), 2)
        .us_per_delivery(
            "server µs/delivery",
            step.used.server_us_per(all_received),
            floor,
        )
        .num("redis cores", step.used.redis_cores(), 3)
        .num("loadgen cores", step.used.my_cores(), 2)
}
