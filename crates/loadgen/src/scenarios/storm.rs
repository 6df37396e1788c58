//! Scenario 3: viewers arrive on a fixed schedule. A join is what a user
//! following a link does: join the room, get a token, open the socket; it
//! ends when `PLAYBACK_STATE` arrives, measured from its scheduled start.

use super::{shared, Usage};
use crate::clients::{self, Client, Shared, Timed};
use crate::measure::{histogram, Latency};
use crate::net::{self, Account};
use crate::report::{Report, Row, Table};
use crate::run::{wait_until, Run};
use anyhow::{bail, Context, Result};
use clap::Args;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Options of the join storm.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Joins per run.
    #[arg(long, default_value_t = 5000)]
    pub joins: usize,
    /// Joins per second, one run each.
    #[arg(long, value_delimiter = ',', default_value = "200,5000")]
    pub rates: Vec<f64>,
    /// Rooms the joins spread over, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,500")]
    pub rooms: Vec<usize>,
}

struct Tally {
    latency: Mutex<Histogram<u64>>,
    // Where a join's time goes: the HTTP join, the token, the socket.
    stages: [Mutex<Histogram<u64>>; 3],
    failures: AtomicU64,
    done: AtomicU64,
    first_error: Mutex<Option<String>>,
    clients: Mutex<Vec<Client>>,
}

/// Runs the storms.
pub async fn run(run: &Run, o: Options) -> Result<Report> {
    let tabs = run.tabs(1);
    let accounts = Arc::new(run.accounts("storm", o.joins, tabs).await?);
    // The server lets one user hold 20 sockets per instance: each host
    // account keeps 10 rooms and watches each with one socket.
    let most_rooms = o.rooms.iter().copied().max().unwrap_or(1).max(1);
    let hosts = run.hosts("storm", most_rooms).await?;
    let mut report = Report::new("Join storm");
    let mut table = Table::new("joins (latency in ms: p50 / p90 / p99 / p99.9 / max)");
    for &rooms in &o.rooms {
        for &rate in &o.rates {
            eprintln!("storm: {} joins at {rate}/s into {rooms} rooms", o.joins);
            let (row, failed) = storm(run, &o, &accounts, &hosts, rooms.max(1), rate).await?;
            report.expect(
                failed == 0,
                format!(
                    "{failed} of {} joins at {rate}/s into {rooms} rooms failed",
                    o.joins
                ),
            );
            table.push(row);
            // The previous storm's sockets are gone before the next starts.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }
    report.table(table);
    report.note(format!(
        "{tabs} sockets per account; presence = PRESENCE, USER_JOINED and USER_LEFT messages one \
         already-connected socket per room (the host's) received per second of the storm"
    ));
    Ok(report)
}

async fn storm(
    run: &Run,
    o: &Options,
    accounts: &Arc<Vec<Account>>,
    hosts: &[Account],
    rooms: usize,
    rate: f64,
) -> Result<(Row, u64)> {
    let host_of = |r: usize| crate::run::host_of(hosts, r);
    let mut codes = Vec::with_capacity(rooms);
    for r in 0..rooms {
        codes.push(run.room(host_of(r)?, &format!("storm {r}"), &[]).await?);
    }
    // The hosts' sockets watch what an already-present viewer receives.
    let observers = shared(1, Timed::Seek);
    let mut watching = Vec::with_capacity(rooms);
    for (i, code) in codes.iter().enumerate() {
        watching.push(run.open(0, code, host_of(i)?, i, &observers, false).await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let joiners = shared(1, Timed::Seek);
    let tally = Arc::new(Tally {
        latency: Mutex::new(histogram()),
        stages: [(); 3].map(|()| Mutex::new(histogram())),
        failures: AtomicU64::new(0),
        done: AtomicU64::new(0),
        first_error: Mutex::new(None),
        clients: Mutex::new(Vec::with_capacity(o.joins)),
    });
    let presence_before = observers.counters.presence.load(Relaxed);
    let usage = Usage::start(run)?;
    let start = Instant::now() + Duration::from_millis(50);
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let base = run.server(0).to_owned();
    for i in 0..o.joins {
        let due = start + interval.mul_f64(i as f64);
        clients::on_time(due).await;
        let account = accounts
            .get(i % accounts.len().max(1))
            .cloned()
            .context("no accounts")?;
        let code = codes.get(i % rooms).cloned().context("no rooms")?;
        let (tally, joiners, base) = (tally.clone(), joiners.clone(), base.clone());
        let options = run.socket_options(None);
        let http = run.http.clone();
        tokio::spawn(async move {
            let outcome = join(&http, &base, &code, &account, options, i, &joiners).await;
            match outcome {
                Ok((client, stages)) => {
                    let us = due.elapsed().as_micros() as u64;
                    lock(&tally.latency).saturating_record(us.max(1));
                    for (h, took) in tally.stages.iter().zip(stages) {
                        lock(h).saturating_record((took.as_micros() as u64).max(1));
                    }
                    lock(&tally.clients).push(client);
                }
                Err(e) => {
                    tally.failures.fetch_add(1, Relaxed);
                    lock(&tally.first_error).get_or_insert_with(|| format!("{e:#}"));
                }
            }
            tally.done.fetch_add(1, Relaxed);
        });
    }
    let joins = o.joins as u64;
    wait_until(Duration::from_secs(120), || {
        tally.done.load(Relaxed) >= joins
    })
    .await;
    let storm_wall = start.elapsed();
    // Announcements of the last joins are still on their way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = usage.finish()?;
    let presence = observers.counters.presence.load(Relaxed) - presence_before;
    let latency = Latency::of(&lock(&tally.latency));
    let [http_join, token, socket] = &tally.stages;
    let stage = |h: &Mutex<Histogram<u64>>| Latency::of(&lock(h)).p99;
    let failures = tally.failures.load(Relaxed) + joins.saturating_sub(tally.done.load(Relaxed));
    if let Some(e) = lock(&tally.first_error).as_ref() {
        eprintln!("  first failure: {e}");
    }
    joiners.done.cancel();
    observers.done.cancel();
    drop(watching);
    let row = Row::new()
        .int("joins", joins)
        .num("joins/s", rate, 0)
        .int("rooms", rooms as u64)
        .latency("join → PLAYBACK_STATE ms", latency)
        .int("failed", failures)
        .num(
            "presence msgs/room/s",
            presence as f64 / rooms as f64 / storm_wall.as_secs_f64().max(1e-9),
            1,
        )
        .num("p99 of its stages ms: join", stage(http_join), 1)
        .num("token", stage(token), 1)
        .num("socket", stage(socket), 1)
        .num("server cores", used.server_cores(), 2)
        .num("loadgen cores", used.my_cores(), 2);
    Ok((row, failures))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One viewer's arrival, up to its first `PLAYBACK_STATE`, and how long
/// each of its three steps took.
async fn join(
    http: &net::Http,
    base: &str,
    code: &str,
    account: &Account,
    options: net::SocketOptions,
    reader: usize,
    shared: &Shared,
) -> Result<(Client, [Duration; 3])> {
    let started = Instant::now();
    http.join(base, account, code).await?;
    let joined = Instant::now();
    let token = http.token(base, account).await?;
    let tokened = Instant::now();
    let mut socket = net::connect(base, code, &token, options).await?;
    match tokio::time::timeout(Duration::from_secs(60), socket.next()).await {
        Ok(Some(Ok(Message::Text(text)))) if text.as_str().contains("\"PLAYBACK_STATE\"") => {
            let stages = [joined - started, tokened - joined, tokened.elapsed()];
            Ok((clients::spawn(socket, reader, shared, false), stages))
        }
        Ok(other) => bail!("first frame was not PLAYBACK_STATE: {other:?}"),
        Err(_) => bail!("no PLAYBACK_STATE within 60 s"),
    }
}
