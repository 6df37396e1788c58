//! Scenario 2: one big room per size; the host SEEKs at each rate in turn.

use super::{drive, shared, Driven};
use crate::clients::Timed;
use crate::floor::Floor;
use crate::report::{Report, Row, Table};
use crate::run::Run;
use anyhow::Result;
use clap::Args;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Options of the fan-out ladder.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Room sizes (viewer sockets), one room each.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
    pub viewers: Vec<usize>,
    /// SEEKs per second, climbed in order for each size.
    #[arg(long, value_delimiter = ',', default_value = "2,10,25,50,100")]
    pub rates: Vec<f64>,
    /// Seconds per step.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// A step is past the knee when its per-delivery p99 is this many
    /// times the first step's: the server no longer keeps up with the rate.
    #[arg(long, default_value_t = 1.5)]
    pub knee_factor: f64,
    #[command(flatten)]
    pub floor: crate::floor::Beside,
}

/// Runs the ladder.
pub async fn run(run: &Run, o: Options) -> Result<Report> {
    let mut report = Report::new("Fan-out ladder: one room, the host SEEKs");
    let floor = o.floor.measure().await?;
    report.floor(floor);
    let mut table =
        Table::new("per size and rate (latencies in ms: p50 / p90 / p99 / p99.9 / max)");
    let tabs = run.tabs(10);
    for &viewers in &o.viewers {
        let steps = ladder(run, &o, viewers, tabs).await?;
        let mut knee = None;
        let first_p99 = steps
            .first()
            .map_or(0.0, |(_, step, _)| step.deliveries.p99);
        for (rate, step, disconnects) in &steps {
            let climbing = step.deliveries.p99 > first_p99 * o.knee_factor;
            if knee.is_none() && (climbing || step.lost > 0) {
                knee = Some(*rate);
            }
            report.expect(
                step.lost == 0 && *disconnects == 0 && step.received > 0,
                format!(
                    "{viewers} viewers at {rate} SEEK/s: {} received, {} lost, {disconnects} disconnects",
                    step.received, step.lost
                ),
            );
            table.push(row(viewers, *rate, step, *disconnects, floor.as_ref()));
        }
        report.note(match knee {
            Some(rate) => format!(
                "{viewers} viewers: knee at {rate} SEEK/s (the first step whose p99 is over \
                 {}× the first step's, or that lost a delivery)",
                o.knee_factor
            ),
            None => format!("{viewers} viewers: no knee up to the highest rate tried"),
        });
    }
    report.table(table);
    report.note(format!(
        "{tabs} sockets per account; deliveries exclude the host's own socket"
    ));
    Ok(report)
}

/// One row of a ladder step.
fn row(viewers: usize, rate: f64, step: &Driven, disconnects: u64, floor: Option<&Floor>) -> Row {
    Row::new()
        .int("viewers", viewers as u64)
        .num("SEEK/s", rate, 0)
        .num("deliveries/s", step.per_second, 0)
        .latency("per delivery ms", step.deliveries)
        .latency("last recipient ms", step.last_recipient)
        .int("lost", step.lost)
        .int("disconnects", disconnects)
        .num("server cores", step.used.server_cores(), 2)
        .us_per_delivery(
            "server µs/delivery",
            step.used.server_us_per(step.received),
            floor,
        )
        .num("loadgen cores", step.used.my_cores(), 2)
}

async fn ladder(
    run: &Run,
    o: &Options,
    viewers: usize,
    tabs: usize,
) -> Result<Vec<(f64, Driven, u64)>> {
    let events: u64 = o.rates.iter().map(|r| (r * o.secs).ceil() as u64).sum();
    let shared = shared(events as usize + 1, Timed::Seek);
    let host_account = run.host("fanout").await?;
    let accounts = run.accounts("fanout", viewers, tabs).await?;
    let code = run
        .room(&host_account, &format!("fanout {viewers}"), &accounts)
        .await?;
    let room = run
        .gather(&code, &host_account, &accounts, viewers, &shared)
        .await?;
    let mut steps = Vec::new();
    let mut next = 0u64;
    for &rate in &o.rates {
        let count = (rate * o.secs).ceil() as u64;
        let disconnects_before = shared.counters.disconnects.load(Relaxed);
        let step = drive(
            run,
            &shared,
            next..next + count,
            rate,
            viewers as u64,
            |_| Some(room.host.clone()),
        )
        .await?;
        next += count;
        let disconnects = shared.counters.disconnects.load(Relaxed) - disconnects_before;
        steps.push((rate, step, disconnects));
    }
    shared.done.cancel();
    // Let the server see the sockets go before the next room fills.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(steps)
}
