//! Scenario 6: two instances sharing PostgreSQL and Redis. The host is on
//! the first; viewers all on the first (the baseline), then split across
//! both. What Redis adds is the second instance's latency over the baseline.

use super::{drive, shared, Usage, Used};
use crate::clients::{open_loop, Timed};
use crate::measure::Latency;
use crate::report::{Report, Row, Table};
use crate::run::{wait_until, Run};
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
}

/// Runs the two-instance scenario.
pub async fn run(run: &Run, o: Options) -> Result<Report> {
    if run.server_count() < 2 {
        bail!("cluster needs two --server URLs (host on the first)");
    }
    let tabs = run.tabs(10);
    let events = (o.rate * o.secs).ceil() as u64;
    let host = run.host("cluster").await?;
    let accounts = run.accounts("cluster", o.viewers, tabs).await?;
    let mut report = Report::new("Two instances and Redis");
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
            step.deliveries,
            step.last_recipient,
            step.lost,
            shared.counters.disconnects.load(Relaxed),
            &step.used,
            step.received,
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
    let usage = Usage::start(run)?;
    open_loop(
        &[&on_a.book, &on_b.book],
        0..events,
        o.rate,
        Timed::Seek,
        |_| Some(host_socket.clone()),
    )
    .await;
    let expected = |side: usize| events * side as u64;
    wait_until(Duration::from_secs(5), || {
        on_a.book.received() >= expected(half_a) && on_b.book.received() >= expected(half_b)
    })
    .await;
    let used = usage.finish()?;
    let received = on_a.book.received() + on_b.book.received();
    let mut sides = Vec::new();
    for (name, side, count) in [
        ("split, viewers on A", &on_a, half_a),
        ("split, viewers on B", &on_b, half_b),
    ] {
        let latency = Latency::of(&side.book.take_deliveries());
        let lost = expected(count).saturating_sub(side.book.received());
        let disconnects = side.counters.disconnects.load(Relaxed);
        table.push(row(
            name,
            count,
            latency,
            Latency::of(&side.book.last_recipient(0..events)),
            lost,
            disconnects,
            &used,
            received,
        ));
        report.expect(
            lost == 0 && disconnects == 0,
            format!("{name}: {lost} lost, {disconnects} disconnects"),
        );
        sides.push(latency);
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

#[allow(clippy::too_many_arguments)]
fn row(
    placement: &str,
    viewers: usize,
    deliveries: Latency,
    last: Latency,
    lost: u64,
    disconnects: u64,
    used: &Used,
    received: u64,
) -> Row {
    Row::new()
        .text("placement", placement)
        .int("viewers", viewers as u64)
        .latency("per delivery ms", deliveries)
        .latency("last recipient ms", last)
        .int("lost", lost)
        .int("disconnects", disconnects)
        .num("servers' cores", used.server_cores(), 2)
        .num("server µs/delivery", used.server_us_per(received), 2)
        .num("redis cores", used.redis_cores(), 3)
        .num("loadgen cores", used.my_cores(), 2)
}
