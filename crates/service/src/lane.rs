//! One socket's way out: its outbox, and a shortcut past it.
//!
//! A broadcast to an idle socket is written by the delivering thread with
//! one nonblocking write: no channel and no wake-up of the socket's task.
//! Whatever the kernel does not take whole, and everything behind a frame
//! still queued or half written, goes through the outbox to the task, so
//! frames leave in the order they were delivered and never interleave.

use crate::hub::Outgoing;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio_util::sync::CancellationToken;
use watchparty_protocol::frame::Frame;

/// A socket the delivering thread may write to without waiting: the web
/// edge implements it over its TCP stream; the service never sees the stream.
pub trait DirectWrite: Send + Sync {
    /// One nonblocking write of `bytes`: how many the kernel took, or
    /// `WouldBlock` when it took none.
    fn try_write(&self, bytes: &[u8]) -> io::Result<usize>;
}

/// What a lane's lock guards. Every write to the socket, by the hub or by
/// the socket's task, happens while it is held.
#[derive(Debug, Default)]
pub struct LaneState {
    /// Outbox messages not yet written to their end, plus one while the
    /// task writes frames of its own (pings, replies). Zero means nothing
    /// is queued and nothing half written: only then may the hub write.
    queued: usize,
    /// Bytes of the outbox's first frame the hub already wrote.
    head_written: usize,
    /// The socket is ending: no more writes but the task's last ones.
    closed: bool,
}

impl LaneState {
    /// Outbox messages not yet written to their end (see [`Lane`]).
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// How much of the outbox's first frame is already on the wire; the
    /// task, which writes the rest, takes it when it takes that frame.
    pub fn take_head_written(&mut self) -> usize {
        std::mem::take(&mut self.head_written)
    }

    /// The task starts writing frames of its own: the hub queues meanwhile.
    pub fn begin_own(&mut self) {
        self.queued += 1;
    }

    /// The task wrote `count` of the messages counted in [`Self::queued`]
    /// (its own frames count as one) to their end.
    pub fn written(&mut self, count: usize) {
        self.queued = self.queued.saturating_sub(count);
    }

    /// The task decided to end the socket: nobody else writes to it again.
    /// Returns [`Self::take_head_written`], the part of a frame the hub
    /// left for the task to finish before its close frame.
    pub fn close(&mut self) -> usize {
        self.closed = true;
        self.take_head_written()
    }
}

/// How one offer to a lane went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Written, or queued for the task to write.
    Delivered,
    /// The outbox was full: the socket is now marked too slow.
    Shed,
    /// Nothing done: the socket is marked too slow already, or ending.
    Dropped,
}

/// One socket's way out, shared by the hub and the socket's task. A
/// std mutex: it is held for one nonblocking write at most, never across
/// an await, and is almost never contended.
pub struct Lane {
    state: Mutex<LaneState>,
    outbox: mpsc::Sender<Outgoing>,
    too_slow: CancellationToken,
    direct: Option<Arc<dyn DirectWrite>>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("state", &self.state)
            .field("direct", &self.direct.is_some())
            .finish_non_exhaustive()
    }
}

impl Lane {
    pub(crate) fn new(
        outbox: mpsc::Sender<Outgoing>,
        too_slow: CancellationToken,
        direct: Option<Arc<dyn DirectWrite>>,
    ) -> Self {
        Lane {
            state: Mutex::new(LaneState::default()),
            outbox,
            too_slow,
            direct,
        }
    }

    /// Locks the lane; the socket's task writes only while it holds this.
    pub fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `message` behind what is queued already (a frame, when it
    /// may be written at once, goes through [`Self::offer_frame`]).
    pub(crate) fn offer(&self, message: Outgoing) -> Offer {
        match message {
            Outgoing::Frame(frame) => self.offer_frame(&frame),
            close => {
                let mut state = self.lock();
                if state.closed {
                    return Offer::Dropped;
                }
                self.queue(&mut state, close)
            }
        }
    }

    /// Writes `frame` at once when the socket is idle, else queues it
    /// (with the unwritten rest of a frame the kernel took in part).
    pub(crate) fn offer_frame(&self, frame: &Frame) -> Offer {
        let mut state = self.lock();
        if state.closed {
            return Offer::Dropped;
        }
        if let (Some(direct), 0) = (&self.direct, state.queued) {
            let bytes = frame.as_bytes();
            let written = loop {
                match direct.try_write(bytes) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // Full, or broken: the task finds out which.
                    Err(_) => break 0,
                }
            };
            if written >= bytes.len() {
                return Offer::Delivered;
            }
            // The queue is empty, so this frame is its head.
            state.head_written = written;
        }
        self.queue(&mut state, Outgoing::Frame(frame.clone()))
    }

    fn queue(&self, state: &mut LaneState, message: Outgoing) -> Offer {
        match self.outbox.try_send(message) {
            Ok(()) => {
                state.queued += 1;
                Offer::Delivered
            }
            Err(TrySendError::Full(_)) => {
                // A client that stops reading is closed, not buffered for.
                if self.too_slow.is_cancelled() {
                    Offer::Dropped
                } else {
                    self.too_slow.cancel();
                    Offer::Shed
                }
            }
            Err(TrySendError::Closed(_)) => Offer::Dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket whose kernel takes `room` more bytes, then none.
    struct Kernel {
        room: Mutex<usize>,
        got: Mutex<Vec<u8>>,
    }

    impl DirectWrite for Kernel {
        fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
            let mut room = self.room.lock().unwrap();
            let n = bytes.len().min(*room);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            *room -= n;
            self.got.lock().unwrap().extend_from_slice(&bytes[..n]);
            Ok(n)
        }
    }

    fn lane(room: usize, capacity: usize) -> (Lane, Arc<Kernel>, mpsc::Receiver<Outgoing>) {
        let kernel = Arc::new(Kernel {
            room: Mutex::new(room),
            got: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::channel(capacity);
        let direct: Arc<dyn DirectWrite> = kernel.clone();
        let lane = Lane::new(tx, CancellationToken::new(), Some(direct));
        (lane, kernel, rx)
    }

    fn frame(text: &str) -> Outgoing {
        Outgoing::Frame(Frame::text(text))
    }

    #[test]
    fn an_idle_socket_is_written_at_once_and_a_partial_write_queues_the_frame() {
        let (lane, kernel, mut rx) = lane(7, 4);
        assert_eq!(lane.offer(frame("one")), Offer::Delivered);
        assert_eq!(kernel.got.lock().unwrap().as_slice(), b"\x81\x03one");
        assert!(rx.try_recv().is_err());
        // Two of "two"'s five bytes fit: the rest is the task's.
        assert_eq!(lane.offer(frame("two")), Offer::Delivered);
        assert_eq!(lane.lock().queued(), 1);
        // Behind it, nothing is written directly even once there is room.
        *kernel.room.lock().unwrap() = 100;
        assert_eq!(lane.offer(frame("three")), Offer::Delivered);
        assert_eq!(kernel.got.lock().unwrap().len(), 7);
        assert_eq!(rx.try_recv().unwrap(), frame("two"));
        assert_eq!(rx.try_recv().unwrap(), frame("three"));
        let mut state = lane.lock();
        assert_eq!(state.take_head_written(), 2);
        state.written(2);
        drop(state);
        // Idle again: direct.
        assert_eq!(lane.offer(frame("four")), Offer::Delivered);
        assert!(kernel.got.lock().unwrap().ends_with(b"four"));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn the_tasks_own_frames_hold_the_hub_back() {
        let (lane, kernel, mut rx) = lane(100, 4);
        lane.lock().begin_own();
        assert_eq!(lane.offer(frame("later")), Offer::Delivered);
        assert!(kernel.got.lock().unwrap().is_empty());
        assert_eq!(rx.try_recv().unwrap(), frame("later"));
    }

    #[test]
    fn a_full_outbox_sheds_once_and_a_closed_lane_takes_nothing() {
        let (lane, kernel, mut rx) = lane(0, 2);
        assert_eq!(lane.offer(frame("a")), Offer::Delivered);
        assert_eq!(lane.offer(Outgoing::Close(4001)), Offer::Delivered);
        assert_eq!(lane.offer(frame("b")), Offer::Shed);
        assert!(lane.too_slow.is_cancelled());
        assert_eq!(lane.offer(frame("c")), Offer::Dropped);
        assert_eq!(rx.try_recv().unwrap(), frame("a"));
        assert_eq!(rx.try_recv().unwrap(), Outgoing::Close(4001));
        let mut state = lane.lock();
        state.written(2);
        assert_eq!(state.close(), 0);
        drop(state);
        *kernel.room.lock().unwrap() = 100;
        assert_eq!(lane.offer(frame("d")), Offer::Dropped);
        assert!(kernel.got.lock().unwrap().is_empty());
        assert!(rx.try_recv().is_err());
    }
}
