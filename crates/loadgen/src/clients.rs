//! Simulated clients: a socket split into a reader that timestamps what
//! arrives and a writer fed by a channel, plus the open-loop schedule.

use crate::measure::Book;
use crate::net::Socket;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Which arrivals a reader times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timed {
    /// `SEEK` messages; the `time` field is the sequence number plus one (a
    /// room rests paused at 0, and a seek to where it rests changes nothing).
    Seek,
    /// `CHAT_MESSAGE`s; the text is `s<sequence number>`.
    Chat,
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    time: Option<f64>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

/// What every reader counts, shared.
#[derive(Default)]
pub struct Counters {
    /// Sockets the server closed or that failed while the run was on.
    pub disconnects: AtomicU64,
    /// `PRESENCE`, `USER_JOINED` and `USER_LEFT` messages.
    pub presence: AtomicU64,
    /// `PLAYBACK_STATE` messages.
    pub playback_states: AtomicU64,
    /// Chat `ERROR`s (rate limit and the like).
    pub errors: AtomicU64,
}

/// A live simulated client.
pub struct Client {
    outgoing: mpsc::UnboundedSender<String>,
    own: CancellationToken,
}

impl Client {
    /// Queues a text frame.
    pub fn send(&self, text: String) {
        let _ = self.outgoing.send(text);
    }

    /// Closes the socket on purpose: not counted as a disconnect.
    pub fn leave(&self) {
        self.own.cancel();
    }
}

/// What the run shares with every client task.
#[derive(Clone)]
pub struct Shared {
    /// Where arrivals are timed.
    pub book: Arc<Book>,
    /// What is timed.
    pub timed: Timed,
    /// Counts.
    pub counters: Arc<Counters>,
    /// Cancelled when the run is over: closing sockets is then no loss.
    pub done: CancellationToken,
}

/// Starts the reader and writer of `socket`. `reader` spreads the latency
/// shards; a client that `ignores_input` never reads (a slow consumer).
pub fn spawn(socket: Socket, reader: usize, shared: &Shared, ignores_input: bool) -> Client {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    // Cancelled with the run, or alone when this client leaves.
    let own = shared.done.child_token();
    let done = own.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = done.cancelled() => break,
                next = rx.recv() => match next {
                    Some(text) => if sink.send(Message::text(text)).await.is_err() { break },
                    None => break,
                },
            }
        }
        let _ = sink.close().await;
    });
    let shared = shared.clone();
    let done = own.clone();
    tokio::spawn(async move {
        if ignores_input {
            // Holds the socket open without reading a byte.
            done.cancelled().await;
            drop(stream);
            return;
        }
        loop {
            let frame = tokio::select! {
                _ = done.cancelled() => return,
                frame = stream.next() => frame,
            };
            match frame {
                Some(Ok(Message::Text(text))) => observe(text.as_bytes(), reader, &shared),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    if !done.is_cancelled() {
                        shared.counters.disconnects.fetch_add(1, Relaxed);
                    }
                    return;
                }
                Some(Ok(_)) => {}
            }
        }
    });
    Client { outgoing: tx, own }
}

fn observe(bytes: &[u8], reader: usize, shared: &Shared) {
    let Ok(msg) = serde_json::from_slice::<Incoming>(bytes) else {
        return;
    };
    let counters = &shared.counters;
    match (msg.kind.as_ref(), shared.timed) {
        ("SEEK", Timed::Seek) => {
            if let Some(t) = msg.time.filter(|t| *t >= 1.0) {
                shared.book.arrived(t as u64 - 1, reader);
            }
        }
        ("CHAT_MESSAGE", Timed::Chat) => {
            if let Some(seq) = msg
                .message
                .as_deref()
                .and_then(|m| m.strip_prefix('s'))
                .and_then(|n| n.parse().ok())
            {
                shared.book.arrived(seq, reader);
            }
        }
        ("PRESENCE" | "USER_JOINED" | "USER_LEFT", _) => {
            counters.presence.fetch_add(1, Relaxed);
        }
        ("PLAYBACK_STATE", _) => {
            counters.playback_states.fetch_add(1, Relaxed);
        }
        ("ERROR", _) => {
            counters.errors.fetch_add(1, Relaxed);
        }
        _ => {}
    }
}

/// The frame that carries sequence number `seq` for `timed`.
pub fn frame(timed: Timed, seq: u64) -> String {
    match timed {
        Timed::Seek => format!(r#"{{"type":"SEEK","time":{}}}"#, seq + 1),
        Timed::Chat => format!(r#"{{"type":"CHAT_MESSAGE","message":"s{seq}"}}"#),
    }
}

/// Sends `seqs` at `rate` per second from `pick(seq)`'s client, on a fixed
/// schedule whatever happened before: a late send is measured from the
/// moment it was due, in every book of `books`.
pub async fn open_loop(
    books: &[&Book],
    seqs: std::ops::Range<u64>,
    rate: f64,
    timed: Timed,
    mut pick: impl FnMut(u64) -> Option<Arc<Client>>,
) {
    let start = Instant::now() + Duration::from_millis(20);
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    for (i, seq) in seqs.enumerate() {
        let due = start + interval.mul_f64(i as f64);
        for book in books {
            book.schedule(seq, due);
        }
        on_time(due).await;
        if let Some(client) = pick(seq) {
            client.send(frame(timed, seq));
        }
    }
}

/// Waits until `due` more precisely than tokio's millisecond timer, without
/// spinning: a dedicated thread sleeps to each due instant and wakes the task.
pub async fn on_time(due: Instant) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if pacer().send(Alarm { due, wake: tx }).is_err() {
        tokio::time::sleep_until(due.into()).await;
        return;
    }
    let _ = rx.await;
}

struct Alarm {
    due: Instant,
    wake: tokio::sync::oneshot::Sender<()>,
}

impl PartialEq for Alarm {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Alarm {}
impl PartialOrd for Alarm {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Alarm {
    // Reversed: the heap's top is the earliest alarm.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.due.cmp(&self.due)
    }
}

/// The pacing thread, started on first use.
fn pacer() -> &'static std::sync::mpsc::Sender<Alarm> {
    static PACER: std::sync::OnceLock<std::sync::mpsc::Sender<Alarm>> = std::sync::OnceLock::new();
    PACER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Alarm>();
        std::thread::spawn(move || {
            let mut alarms = std::collections::BinaryHeap::new();
            loop {
                let now = Instant::now();
                while alarms.peek().is_some_and(|a: &Alarm| a.due <= now) {
                    if let Some(alarm) = alarms.pop() {
                        let _ = alarm.wake.send(());
                    }
                }
                let next = match alarms.peek() {
                    Some(alarm) => rx.recv_timeout(alarm.due.saturating_duration_since(now)),
                    None => rx
                        .recv()
                        .map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected),
                };
                match next {
                    Ok(alarm) => alarms.push(alarm),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        tx
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn alarms_never_ring_early_and_all_ring_in_any_order() {
        let start = Instant::now();
        let dues: Vec<Instant> = [9u64, 1, 5, 3, 7, 0]
            .iter()
            .map(|ms| start + Duration::from_millis(*ms))
            .collect();
        let waits = dues.iter().map(|&due| async move {
            on_time(due).await;
            Instant::now() >= due
        });
        let on_time_or_later = futures_util::future::join_all(waits).await;
        assert_eq!(on_time_or_later, vec![true; dues.len()]);
    }
}
