//! Scenario 4: many small rooms chatting, each host touching the controls
//! now and then. Run once per database backend (`--label` says which).

use super::{drive, shared};
use crate::clients::{open_loop, Client, Timed};
use crate::report::{Report, Row, Table};
use crate::run::{host_of, Run};
use anyhow::Result;
use clap::Args;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// Options of the chat scenario.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Rooms.
    #[arg(long, default_value_t = 500)]
    pub rooms: usize,
    /// Viewer sockets per room (the host's comes on top).
    #[arg(long, default_value_t = 10)]
    pub viewers: usize,
    /// Chat messages per second over all rooms.
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// Seconds of chat.
    #[arg(long, default_value_t = 20.0)]
    pub secs: f64,
    /// Each host SEEKs once per this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub control_every: f64,
    /// What the table calls this run (the database behind the server).
    #[arg(long, default_value = "server")]
    pub label: String,
    #[command(flatten)]
    pub floor: crate::floor::Beside,
}

/// Runs the chat scenario.
pub async fn run(run: &Run, o: Options) -> Result<Report> {
    let floor = o.floor.measure().await?;
    let rooms = o.rooms.max(1);
    let viewers = o.viewers.max(1);
    let tabs = run.tabs(10);
    let events = (o.rate * o.secs).ceil() as u64;
    let shared = shared(events as usize + 1, Timed::Chat);
    let host_accounts = run.hosts("chat", rooms).await?;
    let accounts = run.accounts("chat", rooms * viewers, tabs).await?;
    let n = accounts.len().max(1);
    // Room `r`'s viewer `v` is account `(r * viewers + v) % n`: distinct
    // people in each room.
    let member = |r: usize, v: usize| accounts.get((r * viewers + v) % n).cloned();
    let mut hosts: Vec<Arc<Client>> = Vec::with_capacity(rooms);
    let mut by_room: Vec<Vec<Arc<Client>>> = Vec::with_capacity(rooms);
    eprintln!("opening {rooms} rooms of {viewers} viewers");
    for r in 0..rooms {
        let members: Vec<_> = (0..viewers).filter_map(|v| member(r, v)).collect();
        let code = run
            .room(host_of(&host_accounts, r)?, &format!("chat {r}"), &members)
            .await?;
        hosts.push(Arc::new(
            run.open(0, &code, host_of(&host_accounts, r)?, r, &shared, false)
                .await?,
        ));
        by_room.push(
            run.open_many(&code, &members, viewers, |_| 0, &shared)
                .await?,
        );
    }
    // Viewer-major order: consecutive messages go to different rooms.
    let speakers: Vec<Arc<Client>> = (0..viewers)
        .flat_map(|v| by_room.iter().filter_map(move |room| room.get(v).cloned()))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let controls = async {
        let rate = rooms as f64 / o.control_every.max(0.001);
        let count = (rate * o.secs).ceil() as u64;
        let mut next = 0usize;
        open_loop(&[], 0..count, rate, Timed::Seek, |_| {
            next += 1;
            hosts.get(next % hosts.len().max(1)).cloned()
        })
        .await;
    };
    let mut turn = 0usize;
    let chat = drive(run, &shared, 0..events, o.rate, viewers as u64 + 1, |_| {
        turn += 1;
        speakers.get(turn % speakers.len().max(1)).cloned()
    });
    let (step, ()) = tokio::join!(chat, controls);
    let step = step?;
    shared.done.cancel();
    let mut table = Table::new("chat (latency in ms: p50 / p90 / p99 / p99.9 / max)");
    table.push(
        Row::new()
            .text("server", o.label.clone())
            .int("rooms", rooms as u64)
            .int("viewers/room", viewers as u64)
            .num("chat/s", o.rate, 0)
            .num("deliveries/s", step.per_second, 0)
            .latency("per delivery ms", step.deliveries)
            .latency("last recipient ms", step.last_recipient)
            .int("lost", step.lost)
            .int("chat errors", shared.counters.errors.load(Relaxed))
            .int("disconnects", shared.counters.disconnects.load(Relaxed))
            .num("server cores", step.used.server_cores(), 2)
            .us_per_delivery(
                "server µs/delivery",
                step.used.server_us_per(step.received),
                floor.as_ref(),
            )
            .num("loadgen cores", step.used.my_cores(), 2),
    );
    let mut report = Report::new("Many rooms with chat");
    report.floor(floor);
    report.table(table);
    let (errors, disconnects) = (
        shared.counters.errors.load(Relaxed),
        shared.counters.disconnects.load(Relaxed),
    );
    report.expect(
        step.lost == 0 && errors == 0 && disconnects == 0 && step.received > 0,
        format!(
            "{} received, {} lost, {errors} chat errors, {disconnects} disconnects",
            step.received, step.lost
        ),
    );
    report.note(format!(
        "each host SEEKs every {} s; a chat message reaches every socket of its room, \
         the sender's and the host's included; {tabs} sockets per account",
        o.control_every
    ));
    Ok(report)
}
