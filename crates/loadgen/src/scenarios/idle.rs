//! Scenario 1: many idle connections over many rooms; the server's memory
//! per connection and its CPU while nothing happens.

use super::{mib, shared, Usage};
use crate::clients::{Client, Timed};
use crate::measure::Process;
use crate::report::{Report, Row, Table};
use crate::run::{Run, SETUP_PARALLEL};
use anyhow::{anyhow, Context, Result};
use clap::Args;
use futures_util::stream::{self, StreamExt};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Options of the idle capacity run.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Connection counts to reach, in order.
    #[arg(long, value_delimiter = ',', default_value = "10000,15000")]
    pub connections: Vec<usize>,
    /// Rooms the connections spread over.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Seconds of idleness measured at each count.
    #[arg(long, default_value_t = 20.0)]
    pub idle_secs: f64,
}

/// Runs the idle capacity scenario.
pub async fn run(run: &Run, o: Options) -> Result<Report> {
    let server = run
        .process(0)
        .ok_or_else(|| anyhow!("idle needs --server-pid to read the server's memory"))?;
    let most = o.connections.iter().copied().max().unwrap_or(0);
    let tabs = run.tabs(10);
    let rooms = o.rooms.max(1);
    let shared = shared(1, Timed::Seek);
    let host = run.host("idle").await?;
    let accounts = run.accounts("idle", most, tabs).await?;
    // Account `a` lives in room `a % rooms`: one HTTP join per account.
    let mut codes = Vec::with_capacity(rooms);
    for r in 0..rooms {
        let members: Vec<_> = accounts.iter().skip(r).step_by(rooms).cloned().collect();
        codes.push(run.room(&host, &format!("idle {r}"), &members).await?);
    }
    let before = server.rss_kib()?;
    let me_before = Process::me().rss_kib()?;
    let mut table = Table::new("idle connections");
    let mut clients: Vec<Client> = Vec::with_capacity(most);
    for &target in &o.connections {
        eprintln!("opening sockets up to {target}");
        let from = clients.len();
        let opened: Vec<Result<Client>> = stream::iter(from..target.max(from))
            .map(|i| {
                let a = i % accounts.len().max(1);
                let account = accounts.get(a);
                let code = codes.get(a % rooms);
                let shared = &shared;
                async move {
                    let (account, code) = account.zip(code).context("no room")?;
                    run.open(0, code, account, i, shared, false).await
                }
            })
            .buffered(SETUP_PARALLEL)
            .collect()
            .await;
        for client in opened {
            clients.push(client?);
        }
        // Let the joins' announcements drain before measuring.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let usage = Usage::start(run)?;
        tokio::time::sleep(Duration::from_secs_f64(o.idle_secs)).await;
        let used = usage.finish()?;
        let rss = server.rss_kib()?;
        let me = Process::me().rss_kib()?;
        let n = clients.len().max(1) as f64;
        table.push(
            Row::new()
                .int("connections", clients.len() as u64)
                .int("rooms", rooms as u64)
                .num("server RSS MiB", mib(rss), 1)
                .num(
                    "server KiB/connection",
                    rss.saturating_sub(before) as f64 / n,
                    2,
                )
                .num("idle server cores", used.server_cores(), 4)
                .num(
                    "loadgen KiB/connection",
                    me.saturating_sub(me_before) as f64 / n,
                    2,
                )
                .int("disconnects", shared.counters.disconnects.load(Relaxed)),
        );
    }
    shared.done.cancel();
    drop(clients);
    let mut report = Report::new("Idle capacity");
    report.table(table);
    let disconnects = shared.counters.disconnects.load(Relaxed);
    report.expect(
        disconnects == 0,
        format!("{disconnects} idle sockets were closed"),
    );
    report.note(format!(
        "server RSS before the sockets opened: {:.1} MiB; {tabs} sockets per account",
        mib(before)
    ));
    Ok(report)
}
