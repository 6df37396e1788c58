//! Scenario 7: a typical evening, the traffic docs/capacity.md models. Many
//! rooms play; every viewer's page does what the web client does (a
//! `SYNC_REPORT` every 2 s, a `PING` every 10 s), people chat now and then,
//! and each host seeks once in a while. Each kind of traffic can be turned
//! off (a rate of 0) to measure its unit cost alone.

use super::{drive, mib, shared, Usage};
use crate::clients::{on_time, Client, Timed};
use crate::report::{Report, Row, Table};
use crate::run::{host_of, Run};
use anyhow::Result;
use clap::Args;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Options of the evening.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Rooms, each with a host.
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Viewer sockets per room (the host's comes on top).
    #[arg(long, default_value_t = 10)]
    pub viewers: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 30.0)]
    pub secs: f64,
    /// Seconds between one viewer's `SYNC_REPORT`s (the web client: 2); 0 for none.
    #[arg(long, default_value_t = 2.0)]
    pub report_every: f64,
    /// Seconds between one viewer's `PING`s (the web client: 10); 0 for none.
    #[arg(long, default_value_t = 10.0)]
    pub ping_every: f64,
    /// Chat messages per viewer per minute; 0 for none.
    #[arg(long, default_value_t = 1.0)]
    pub chat_per_minute: f64,
    /// Seconds between one host's `SEEK`s (to where the room is); 0 for none.
    #[arg(long, default_value_t = 60.0)]
    pub seek_every: f64,
    /// What the table calls this run.
    #[arg(long, default_value = "server")]
    pub label: String,
}

/// The evening's sockets, and where the rooms' playback started.
struct Crowd {
    hosts: Vec<Arc<Client>>,
    viewers: Vec<Arc<Client>>,
    /// When the hosts sent `PLAY` from 0, in ms of the (shared) clock.
    played_at_ms: f64,
}

impl Crowd {
    /// The position every room has now, in seconds.
    fn position(&self, now_ms: f64) -> f64 {
        ((now_ms - self.played_at_ms) / 1000.0).max(0.0)
    }
}

/// Runs the evening.
pub async fn run(run: &Run, o: Options) -> Result<Report> {
    let rooms = o.rooms.max(1);
    let per_room = o.viewers.max(1);
    let tabs = run.tabs(1);
    let viewers = rooms * per_room;
    let chat_rate = viewers as f64 * o.chat_per_minute / 60.0;
    let chats = (chat_rate * o.secs).ceil() as u64;
    let shared = shared(chats as usize + 1, Timed::Chat);
    let host_accounts = run.hosts("evening", rooms).await?;
    let accounts = run.accounts("evening", viewers, tabs).await?;
    let n = accounts.len().max(1);
    let servers = run.server_count().max(1);
    eprintln!("opening {rooms} rooms of {per_room} viewers on {servers} server(s)");
    let mut hosts = Vec::with_capacity(rooms);
    let mut by_room = Vec::with_capacity(rooms);
    for r in 0..rooms {
        let members: Vec<_> = (0..per_room)
            .filter_map(|v| accounts.get((r * per_room + v) % n).cloned())
            .collect();
        let code = run
            .room(
                host_of(&host_accounts, r)?,
                &format!("evening {r}"),
                &members,
            )
            .await?;
        hosts.push(Arc::new(
            run.open(0, &code, host_of(&host_accounts, r)?, r, &shared, false)
                .await?,
        ));
        by_room.push(
            run.open_many(&code, &members, per_room, |i| i % servers, &shared)
                .await?,
        );
    }
    // Every room plays from 0 now; reports and seeks follow that position.
    for h in &hosts {
        h.send(r#"{"type":"PLAY","time":0}"#.to_string());
    }
    let crowd = Arc::new(Crowd {
        played_at_ms: now_ms(),
        hosts,
        // Viewer-major: consecutive picks land in different rooms.
        viewers: (0..per_room)
            .flat_map(|v| by_room.iter().filter_map(move |room| room.get(v).cloned()))
            .collect(),
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let resyncs_before = shared.counters.playback_states.load(Relaxed);
    let before = Totals::read(run).await?;

    // The periodic traffic runs beside the measured chat phase.
    let stop = CancellationToken::new();
    let sent = Arc::new(Sent::default());
    let background = [
        every_one(&crowd, Kind::Report, o.report_every, &sent, &stop),
        every_one(&crowd, Kind::Ping, o.ping_every, &sent, &stop),
        every_one(&crowd, Kind::Seek, o.seek_every, &sent, &stop),
    ];
    let started = Instant::now();
    // The CPU window: the chat phase's own (its drain included), or as
    // long a window of the periodic traffic alone.
    let (chat, used) = if chats > 0 {
        let viewers = &crowd.viewers;
        let mut turn = 0usize;
        let step = drive(
            run,
            &shared,
            0..chats,
            chat_rate,
            per_room as u64 + 1,
            |_| {
                turn += 1;
                viewers.get(turn % viewers.len().max(1)).cloned()
            },
        )
        .await?;
        let used = step.used;
        (Some(step), used)
    } else {
        let usage = Usage::start(run)?;
        tokio::time::sleep(Duration::from_secs_f64(o.secs)).await;
        (None, usage.finish()?)
    };
    let wall = started.elapsed().as_secs_f64();
    stop.cancel();
    for task in background {
        let _ = task.await;
    }
    let after = Totals::read(run).await?;
    shared.done.cancel();

    let per_s = |n: u64| n as f64 / wall.max(1e-9);
    let resyncs = shared.counters.playback_states.load(Relaxed) - resyncs_before;
    let mut table = Table::new("an evening (chat latency in ms: p50 / p90 / p99 / p99.9 / max)");
    let mut row = Row::new()
        .text("server", o.label.clone())
        .int("rooms", rooms as u64)
        .int("viewers", viewers as u64)
        .num("reports/s", per_s(sent.reports.load(Relaxed)), 0)
        .num("pings/s", per_s(sent.pings.load(Relaxed)), 0)
        .num("chat/s", chat.as_ref().map_or(0.0, |_| chat_rate), 1)
        .num("seeks/s", per_s(sent.seeks.load(Relaxed)), 1)
        .num(
            "messages in/s",
            (after.messages_in - before.messages_in) / wall,
            0,
        )
        .num(
            "broadcast deliveries/s",
            (after.messages_out - before.messages_out) / wall,
            0,
        );
    if let Some(step) = &chat {
        row = row
            .latency("chat per delivery ms", step.deliveries)
            .int("chat lost", step.lost);
    }
    table.push(
        row.int("resyncs", resyncs)
            .int("errors", shared.counters.errors.load(Relaxed))
            .int("disconnects", shared.counters.disconnects.load(Relaxed))
            .num("server cores", used.server_cores(), 3)
            .num("server RSS MiB", mib(after.rss_kib), 1)
            .num("redis cores", used.redis_cores(), 3)
            .num("loadgen cores", used.my_cores(), 2),
    );
    let mut report = Report::new("A typical evening");
    report.table(table);
    let (lost, errors, disconnects) = (
        chat.as_ref().map_or(0, |s| s.lost),
        shared.counters.errors.load(Relaxed),
        shared.counters.disconnects.load(Relaxed),
    );
    report.expect(
        lost == 0 && errors == 0 && disconnects == 0,
        format!("{lost} chat lost, {errors} errors, {disconnects} disconnects"),
    );
    report.note(format!(
        "each viewer: a SYNC_REPORT every {} s, a PING every {} s, {} chat messages a minute; \
         each host SEEKs every {} s (0 = never); {tabs} socket(s) per account; viewers spread \
         over {servers} server(s), hosts on the first; server RSS summed over servers",
        o.report_every, o.ping_every, o.chat_per_minute, o.seek_every
    ));
    Ok(report)
}

#[derive(Default)]
struct Sent {
    reports: AtomicU64,
    pings: AtomicU64,
    seeks: AtomicU64,
}

#[derive(Clone, Copy)]
enum Kind {
    Report,
    Ping,
    Seek,
}

/// Sends `kind` from each of its senders once per `every` seconds, spread
/// evenly over the period, until `stop`.
fn every_one(
    crowd: &Arc<Crowd>,
    kind: Kind,
    every: f64,
    sent: &Arc<Sent>,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (crowd, sent, stop) = (Arc::clone(crowd), Arc::clone(sent), stop.clone());
    tokio::spawn(async move {
        let senders = match kind {
            Kind::Seek => &crowd.hosts,
            Kind::Report | Kind::Ping => &crowd.viewers,
        };
        if every <= 0.0 || senders.is_empty() {
            return;
        }
        let gap = Duration::from_secs_f64(every / senders.len() as f64);
        let start = Instant::now();
        for i in 0u64.. {
            if stop.is_cancelled() {
                return;
            }
            on_time(start + gap.mul_f64(i as f64)).await;
            let Some(client) = senders.get(i as usize % senders.len()) else {
                return;
            };
            let now = now_ms();
            let (text, counter) = match kind {
                Kind::Report => (
                    format!(
                        r#"{{"type":"SYNC_REPORT","time":{:.3},"at":{now:.0},"rtt_ms":1,"state":"playing"}}"#,
                        crowd.position(now)
                    ),
                    &sent.reports,
                ),
                Kind::Ping => (
                    format!(r#"{{"type":"PING","client_time":{now:.0}}}"#),
                    &sent.pings,
                ),
                Kind::Seek => (
                    format!(r#"{{"type":"SEEK","time":{:.3}}}"#, crowd.position(now)),
                    &sent.seeks,
                ),
            };
            client.send(text);
            counter.fetch_add(1, Relaxed);
        }
    })
}

/// The servers' message counters and memory, summed.
struct Totals {
    messages_in: f64,
    messages_out: f64,
    rss_kib: u64,
}

impl Totals {
    async fn read(run: &Run) -> Result<Self> {
        let mut totals = Totals {
            messages_in: 0.0,
            messages_out: 0.0,
            rss_kib: 0,
        };
        for i in 0..run.server_count() {
            let base = run.server(i);
            totals.messages_in += run
                .http
                .metric(base, "watchparty_messages_in_total")
                .await?;
            totals.messages_out += run
                .http
                .metric(base, "watchparty_messages_out_total")
                .await?;
            if let Some(p) = run.process(i) {
                totals.rss_kib += p.rss_kib()?;
            }
        }
        Ok(totals)
    }
}

/// Milliseconds of the system clock, as the reports and seeks carry them.
fn now_ms() -> f64 {
    crate::net::unix_millis() as f64
}
