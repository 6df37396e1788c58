//! A room socket after its upgrade: this module owns the connection.
//!
//! The upgrade service ([`crate::upgrade`]) hands over the bare TCP stream,
//! so an idle socket keeps no HTTP buffers: a read lands in a stack buffer,
//! and only the part of a frame still to come is kept. A broadcast's frame
//! is the same shared bytes for every recipient: the delivering thread
//! writes it to an idle socket itself (the service's lane); what the kernel
//! did not take whole, and what came behind it, waits in the outbox, and
//! every frame queued there leaves in one `writev` from this task.

use crate::frame_guard::announced_length;
use crate::ws::{FrameLimit, Heartbeat, MAX_MESSAGE_BYTES};
use actix_http::ws::{OpCode, Parser, ProtocolError};
use actix_web::rt::net::TcpStream;
use bytes::{BufMut, BytesMut};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use watchparty_protocol::frame::{Frame, Opcode};
use watchparty_protocol::parse_client_message;
use watchparty_service::{
    DirectWrite, Lane, Outgoing, Service, ServiceError, SocketHandle, SocketTicket,
};

/// What the room socket's handler leaves in its 101 response for the
/// upgrade service: who may open the socket, and how it is kept.
#[derive(Clone)]
pub(crate) struct Upgraded {
    pub(crate) ticket: SocketTicket,
    pub(crate) service: Service,
    pub(crate) heartbeat: Heartbeat,
    pub(crate) frame_limit: FrameLimit,
    pub(crate) shutdown: CancellationToken,
}

/// Frames gathered into one write at most.
const MAX_BATCH: usize = 64;
/// The stack buffer one read fills.
const READ_CHUNK: usize = 4096;
/// How long a closing client gets to end its side of the connection.
const CLOSING_WAIT: Duration = Duration::from_secs(1);
/// How long a client that broke the protocol, went silent or read too
/// slowly gets after its close frame: long enough for the frame to leave.
const HANG_UP_WAIT: Duration = Duration::from_millis(100);
/// What a closing client may still send before it is cut off.
const CLOSING_READ_LIMIT: usize = 64 * 1024;

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Send a close frame with this code, then end the connection.
    Close(u16),
    /// The client is gone: nobody to tell.
    Gone,
}

/// Codes after which the server does not wait for the client's side of the
/// closing handshake: it broke the protocol, went silent or stopped reading.
fn hangs_up(code: u16) -> bool {
    matches!(code, 1001 | 1002 | 1007 | 1009 | 1013)
}

/// The close code that answers a frame the parser refused.
fn close_code_for(error: &ProtocolError) -> u16 {
    match error {
        ProtocolError::Overflow => 1009,
        _ => 1002,
    }
}

/// Logs a dependency's failure met on a socket, once, with its cause
/// (a refusal the client caused is not the log's business).
fn log_failure(what: &str, e: &ServiceError) {
    if let Some(cause) = e.cause_chain() {
        tracing::warn!(error = %e, cause, "{what}");
    }
}

/// A token bucket over one socket's incoming frames.
#[derive(Debug)]
struct FrameBudget {
    limit: FrameLimit,
    tokens: f64,
    at: Instant,
}

impl FrameBudget {
    fn new(limit: FrameLimit, now: Instant) -> Self {
        FrameBudget {
            limit,
            tokens: limit.burst,
            at: now,
        }
    }

    /// Spends one frame if the budget allows it.
    fn take(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * self.limit.per_second;
        self.tokens = (self.tokens + earned).min(self.limit.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What ends a connection from the server's side, awaited by every loop
/// turn and every write. Neither is polled again once it has fired.
struct Stops {
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    too_slow: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// The socket's stream, shared with the hub, which writes to it directly.
struct Stream(TcpStream);

impl DirectWrite for Stream {
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        self.0.try_write(bytes)
    }
}

/// A text or binary message arriving in fragments.
struct Fragments {
    text: bool,
    bytes: BytesMut,
}

/// One open room socket.
struct Connection {
    io: Arc<Stream>,
    /// What the hub queued that this task has not taken yet.
    outbox: mpsc::Receiver<Outgoing>,
    /// Under whose lock every write happens (the hub's too).
    lane: Arc<Lane>,
    /// A frame cut off by the connection's end, and how much of it was
    /// written: finished before the close frame.
    unfinished: Option<(Frame, usize)>,
    /// Received bytes not yet parsed.
    inbox: BytesMut,
    /// Whether the inbox may hold a whole frame. Frames are taken one per
    /// turn of the loop, behind the outbox: a client gone while its frames
    /// wait is noticed at the next write, as it would be between reads.
    pending: bool,
    fragments: Option<Fragments>,
    service: Service,
    handle: SocketHandle,
    budget: FrameBudget,
    last_heard: Instant,
    stops: Stops,
}

/// Serves an upgraded room socket on `io` until it closes; `unread` holds
/// what the client sent after its request, if anything.
pub(crate) async fn serve(io: TcpStream, unread: BytesMut, upgraded: Upgraded) {
    let io = Arc::new(Stream(io));
    let Upgraded {
        ticket,
        service,
        heartbeat,
        frame_limit,
        shutdown,
    } = upgraded;
    // The service's futures are boxed: held inline, the largest of them
    // would be part of every idle socket's memory.
    let direct: Arc<dyn DirectWrite> = io.clone();
    let opened = match Box::pin(service.open_socket(ticket, Some(direct))).await {
        Ok(opened) => opened,
        Err(e) => {
            let code = match e {
                ServiceError::RoomClosed => 4002,
                ServiceError::NotFound => 4001,
                _ => 1011,
            };
            log_failure("the socket could not open", &e);
            finish(&io.0, None, None, End::Close(code)).await;
            return;
        }
    };
    let watchparty_service::SocketSession {
        handle,
        outbox,
        lane,
        too_slow,
    } = opened;
    let now = Instant::now();
    let mut connection = Connection {
        io,
        outbox,
        lane,
        unfinished: None,
        pending: !unread.is_empty(),
        inbox: unread,
        fragments: None,
        service,
        handle,
        budget: FrameBudget::new(frame_limit, now),
        last_heard: now,
        // Registered once, not per message: the server-wide token's lock
        // would otherwise be taken by every socket on every frame.
        stops: Stops {
            shutdown: Box::pin(shutdown.child_token().cancelled_owned()),
            too_slow: Box::pin(too_slow.cancelled_owned()),
        },
    };
    let end = connection.run(heartbeat).await;
    connection.close_lane();
    // The room hears of the departure first: the closing handshake may
    // wait (up to its bound) on a client that does not read.
    if let Err(e) = Box::pin(connection.service.close_socket(&connection.handle)).await {
        log_failure("socket cleanup incomplete", &e);
    }
    let Connection {
        io,
        lane,
        unfinished,
        ..
    } = connection;
    finish(&io.0, Some(&lane), unfinished, end).await;
}

impl Connection {
    async fn run(&mut self, heartbeat: Heartbeat) -> End {
        // A zero period would make tokio panic; a millisecond is the floor.
        let period = heartbeat.interval.max(Duration::from_millis(1));
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Writing and handling a message are boxed: inline, their states
        // would be part of every idle socket's task; boxed, they cost an
        // allocation only while they run (broadcasts mostly bypass them).
        loop {
            let step = tokio::select! {
                biased;
                _ = &mut self.stops.shutdown => Some(End::Close(1012)),
                _ = &mut self.stops.too_slow => Some(End::Close(1013)),
                out = self.outbox.recv() => match out {
                    Some(first) => Box::pin(self.flush(Some(first), Vec::new())).await,
                    None => Some(End::Gone),
                },
                () = std::future::ready(()), if self.pending => Box::pin(self.next_frame()).await,
                ready = self.io.0.readable(), if !self.pending => match ready {
                    Ok(()) => self.read(),
                    Err(_) => Some(End::Gone),
                },
                _ = ticks.tick() => {
                    if self.last_heard.elapsed() > heartbeat.timeout {
                        Some(End::Close(1001))
                    } else {
                        Box::pin(self.flush(None, vec![Frame::new(Opcode::Ping, b"")])).await
                    }
                }
            };
            if let Some(end) = step {
                return end;
            }
        }
    }

    /// Writes what the lane counts as queued (`first`, taken from the
    /// outbox already, and what is behind it), then `own`: the task's own
    /// frames never overtake a frame queued or half written before them.
    async fn flush(&mut self, first: Option<Outgoing>, own: Vec<Frame>) -> Option<End> {
        let mut batch = Vec::new();
        let mut then_close = None;
        // Messages the lane counts that this write takes to their end.
        let mut taken = 0;
        let written = {
            let mut lane = self.lane.lock();
            let mut next = first;
            // Every message the lane counts is in the outbox: the hub
            // queues under the lock, and this task holds none of them now.
            while let Some(item) = next.take().or_else(|| {
                (taken < lane.queued())
                    .then(|| self.outbox.try_recv().ok())
                    .flatten()
            }) {
                taken += 1;
                match item {
                    Outgoing::Frame(frame) => batch.push(frame),
                    Outgoing::Close(code) => {
                        then_close = Some(End::Close(code));
                        break;
                    }
                }
            }
            let written = if taken > 0 {
                lane.take_head_written()
            } else {
                0
            };
            // Own frames wait for the close, or for a head this task could
            // not take (never seen: the hub's sends are done under the lock).
            if then_close.is_none() && !own.is_empty() && (taken > 0 || lane.queued() == 0) {
                batch.extend(own);
                lane.begin_own();
                taken += 1;
            }
            written
        };
        if let Some(end) = self.write(&batch, written).await {
            return Some(end);
        }
        self.lane.lock().written(taken);
        then_close
    }

    /// Writes `frames` from byte `written` of the first, under the lane's
    /// lock, without ever waiting on a client that stopped reading: an
    /// overflowing outbox or a shutdown interrupts the wait. A frame cut
    /// off that way is kept for [`finish`].
    async fn write(&mut self, frames: &[Frame], mut written: usize) -> Option<End> {
        let total: usize = frames.iter().map(|f| f.as_bytes().len()).sum();
        while written < total {
            let step = {
                let _lane = self.lane.lock();
                write_from(&self.io.0, frames, written)
            };
            let end = match step {
                Ok(0) => Some(End::Gone),
                Ok(n) => {
                    written += n;
                    None
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::select! {
                        biased;
                        _ = &mut self.stops.too_slow => Some(End::Close(1013)),
                        _ = &mut self.stops.shutdown => Some(End::Close(1012)),
                        ready = self.io.0.writable() => ready.err().map(|_| End::Gone),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
                Err(_) => Some(End::Gone),
            };
            if let Some(end) = end {
                self.unfinished = cut_off(frames, written);
                return Some(end);
            }
        }
        None
    }

    /// The task ends the socket: nobody writes to it but [`finish`]. A
    /// frame the hub began is finished before the close frame.
    fn close_lane(&mut self) {
        let head = self.lane.lock().close();
        if head > 0 && self.unfinished.is_none() {
            if let Ok(Outgoing::Frame(frame)) = self.outbox.try_recv() {
                self.unfinished = Some((frame, head));
            }
        }
    }

    /// Takes in what the client sent.
    fn read(&mut self) -> Option<End> {
        match read_some(&self.io.0, &mut self.inbox) {
            Ok(0) => Some(End::Gone),
            Ok(_) => {
                self.pending = true;
                None
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                None
            }
            Err(_) => Some(End::Gone),
        }
    }

    /// Parses and handles the next whole frame in the inbox, if there is one.
    async fn next_frame(&mut self) -> Option<End> {
        // Refused from its header: the payload is never waited for.
        if announced_length(&self.inbox).is_some_and(|len| len > MAX_MESSAGE_BYTES as u64) {
            return Some(End::Close(1009));
        }
        match Parser::parse(&mut self.inbox, true, MAX_MESSAGE_BYTES) {
            Ok(Some((fin, opcode, payload))) => {
                // Whole frames count as signs of life, bytes do not: a
                // client trickling a frame is as silent as one sending nothing.
                self.last_heard = Instant::now();
                self.on_frame(fin, opcode, payload.unwrap_or_default())
                    .await
            }
            Ok(None) => {
                self.pending = false;
                // An idle socket keeps no read buffer.
                if self.inbox.is_empty() {
                    self.inbox = BytesMut::new();
                }
                None
            }
            Err(e) => Some(End::Close(close_code_for(&e))),
        }
    }

    async fn on_frame(&mut self, fin: bool, opcode: OpCode, payload: BytesMut) -> Option<End> {
        match opcode {
            OpCode::Text | OpCode::Binary => {
                if self.fragments.is_some() {
                    return Some(End::Close(1002));
                }
                let text = opcode == OpCode::Text;
                if fin {
                    return self.on_message(text, payload).await;
                }
                self.fragments = Some(Fragments {
                    text,
                    bytes: payload,
                });
                None
            }
            OpCode::Continue => {
                let Some(mut fragments) = self.fragments.take() else {
                    return Some(End::Close(1002));
                };
                if fragments.bytes.len() + payload.len() > MAX_MESSAGE_BYTES {
                    return Some(End::Close(1009));
                }
                fragments.bytes.put_slice(&payload);
                if fin {
                    self.on_message(fragments.text, fragments.bytes).await
                } else {
                    self.fragments = Some(fragments);
                    None
                }
            }
            // Control frames are never fragmented (RFC 6455 §5.5).
            OpCode::Ping | OpCode::Pong | OpCode::Close if !fin => Some(End::Close(1002)),
            // Past its budget a client's frames are ignored, as anything
            // outside the protocol is: not an error.
            OpCode::Ping if self.budget.take(Instant::now()) => {
                self.flush(None, vec![Frame::new(Opcode::Pong, &payload)])
                    .await
            }
            OpCode::Ping | OpCode::Pong => None,
            OpCode::Close => match Parser::try_parse_close_payload(&payload) {
                Ok(reason) => Some(End::Close(reason.map_or(1000, |r| r.code.into()))),
                Err(_) => Some(End::Close(1002)),
            },
            OpCode::Bad => Some(End::Close(1002)),
        }
    }

    /// A whole message: text is handled, binary is not part of the protocol.
    async fn on_message(&mut self, text: bool, bytes: BytesMut) -> Option<End> {
        if !text {
            return None;
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Some(End::Close(1007));
        };
        if !self.budget.take(Instant::now()) {
            return None;
        }
        self.service.count_frame_in();
        // Anything that is not a protocol message is ignored.
        let message = parse_client_message(text)?;
        let handled = Box::pin(self.service.handle(&self.handle, message)).await;
        if let Some(failure) = &handled.failure {
            log_failure("a client message failed", failure);
        }
        if handled.replies.is_empty() {
            return None;
        }
        let replies: Vec<Frame> = handled
            .replies
            .iter()
            .map(|reply| Frame::text(&reply.to_json()))
            .collect();
        self.flush(None, replies).await
    }
}

/// Reads once into a stack buffer and keeps what came in `inbox`; `Ok(0)`
/// is the end of the stream.
fn read_some(io: &TcpStream, inbox: &mut BytesMut) -> io::Result<usize> {
    let mut chunk = [0u8; READ_CHUNK];
    let n = io.try_read(&mut chunk)?;
    inbox.put_slice(chunk.get(..n).unwrap_or_default());
    Ok(n)
}

/// One `writev` of `frames` from byte `skip` of the first.
fn write_from(io: &TcpStream, frames: &[Frame], mut skip: usize) -> io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); MAX_BATCH];
    let mut used = 0;
    for frame in frames {
        let bytes = frame.as_bytes();
        if skip >= bytes.len() {
            skip -= bytes.len();
            continue;
        }
        let Some(slot) = slices.get_mut(used) else {
            break;
        };
        *slot = IoSlice::new(bytes.get(skip..).unwrap_or_default());
        skip = 0;
        used += 1;
    }
    io.try_write_vectored(slices.get(..used).unwrap_or_default())
}

/// The frame that byte `written` of `frames` falls inside, and how much
/// of it was written; `None` at a frame boundary.
fn cut_off(frames: &[Frame], mut written: usize) -> Option<(Frame, usize)> {
    for frame in frames {
        let len = frame.as_bytes().len();
        if written < len {
            return (written > 0).then(|| (frame.clone(), written));
        }
        written -= len;
    }
    None
}

/// Ends the connection: the rest of a frame cut off, if any, and the close
/// frame, then our side of the TCP connection, then a bounded wait for the
/// client's, discarding what it still sends, so that the close frame is not
/// lost to a reset. The lane is closed: its lock is taken for each write
/// all the same.
async fn finish(io: &TcpStream, lane: Option<&Lane>, unfinished: Option<(Frame, usize)>, end: End) {
    let End::Close(code) = end else {
        return;
    };
    let (mut frames, written) = match unfinished {
        Some((frame, written)) => (vec![frame], written),
        None => (Vec::new(), 0),
    };
    frames.push(Frame::close(code));
    let sent = tokio::time::timeout(CLOSING_WAIT, write_all(io, lane, &frames, written)).await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let _ = socket2::SockRef::from(io).shutdown(std::net::Shutdown::Write);
    let wait = if hangs_up(code) {
        HANG_UP_WAIT
    } else {
        CLOSING_WAIT
    };
    let _ = tokio::time::timeout(wait, drain(io)).await;
}

/// Writes `frames` from byte `written` of the first, waiting as long as
/// it takes (the caller bounds it).
async fn write_all(
    io: &TcpStream,
    lane: Option<&Lane>,
    frames: &[Frame],
    mut written: usize,
) -> io::Result<()> {
    let total: usize = frames.iter().map(|f| f.as_bytes().len()).sum();
    while written < total {
        let step = {
            let _lane = lane.map(Lane::lock);
            write_from(io, frames, written)
        };
        match step {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => io.writable().await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads and drops what arrives until the end of the stream or the limit.
async fn drain(io: &TcpStream) {
    // On the heap: a buffer in the future would be part of every socket's
    // size, not only of closing ones.
    let mut chunk = vec![0u8; 512];
    let mut seen = 0;
    while seen < CLOSING_READ_LIMIT {
        if io.readable().await.is_err() {
            return;
        }
        match io.try_read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => seen += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_budget_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let limit = FrameLimit::default();
        let mut budget = FrameBudget::new(limit, start);
        let burst = (0..1000).filter(|_| budget.take(start)).count();
        assert_eq!(burst, limit.burst as usize);
        // One second later, one second's worth more; never more than a burst.
        let later = start + Duration::from_secs(1);
        let next = (0..1000).filter(|_| budget.take(later)).count();
        assert_eq!(next, limit.per_second as usize);
        let much_later = later + Duration::from_secs(3600);
        let refilled = (0..1000).filter(|_| budget.take(much_later)).count();
        assert_eq!(refilled, limit.burst as usize);
    }

    #[test]
    fn protocol_errors_map_to_their_close_codes() {
        assert_eq!(close_code_for(&ProtocolError::Overflow), 1009);
        assert_eq!(close_code_for(&ProtocolError::UnmaskedFrame), 1002);
        assert!(hangs_up(1002) && hangs_up(1013) && !hangs_up(1000) && !hangs_up(4003));
    }
}
