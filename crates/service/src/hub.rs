//! This instance's sockets, by room: where broadcasts end up.

use crate::lane::{Lane, Offer};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use watchparty_domain::{ConnectionId, RoomCode, UserId};
use watchparty_protocol::frame::Frame;
use watchparty_realtime_cache::{Broadcast, BroadcastSink};

/// What a socket's task writes to its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A message's text frame, encoded once and shared between recipients.
    Frame(Frame),
    /// Close the socket with this code.
    Close(u16),
}

struct LocalSocket {
    user: UserId,
    lane: Arc<Lane>,
}

pub(crate) struct LocalHub {
    rooms: RwLock<HashMap<RoomCode, HashMap<ConnectionId, LocalSocket>>>,
    metrics: Arc<Metrics>,
}

impl LocalHub {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        LocalHub {
            rooms: RwLock::new(HashMap::new()),
            metrics,
        }
    }

    pub(crate) fn add(&self, room: &RoomCode, id: ConnectionId, user: UserId, lane: Arc<Lane>) {
        let mut rooms = self.rooms.write().unwrap_or_else(|p| p.into_inner());
        rooms
            .entry(room.clone())
            .or_default()
            .insert(id, LocalSocket { user, lane });
    }

    /// The rooms with a socket on this instance.
    pub(crate) fn local_rooms(&self) -> Vec<RoomCode> {
        let rooms = self.rooms.read().unwrap_or_else(|p| p.into_inner());
        rooms.keys().cloned().collect()
    }

    /// Each room with a socket on this instance, with the users of those
    /// sockets, each once.
    pub(crate) fn local_members(&self) -> Vec<(RoomCode, Vec<UserId>)> {
        let rooms = self.rooms.read().unwrap_or_else(|p| p.into_inner());
        rooms
            .iter()
            .map(|(code, sockets)| {
                let mut users: Vec<UserId> = sockets.values().map(|s| s.user).collect();
                users.sort_unstable_by_key(|u| u.0);
                users.dedup();
                (code.clone(), users)
            })
            .collect()
    }

    /// The users with a socket on this instance, each once.
    pub(crate) fn local_users(&self) -> Vec<UserId> {
        let rooms = self.rooms.read().unwrap_or_else(|p| p.into_inner());
        let mut users: Vec<UserId> = rooms
            .values()
            .flat_map(|sockets| sockets.values().map(|s| s.user))
            .collect();
        users.sort_unstable_by_key(|u| u.0);
        users.dedup();
        users
    }

    /// Closes every socket of `user` on this instance with `code`.
    pub(crate) fn close_user(&self, user: UserId, code: u16) {
        let rooms = self.rooms.read().unwrap_or_else(|p| p.into_inner());
        for socket in rooms.values().flat_map(|sockets| sockets.values()) {
            if socket.user == user {
                self.counted(socket.lane.offer(Outgoing::Close(code)));
            }
        }
    }

    /// Forgets a socket; `true` when it was this instance's last in the room.
    pub(crate) fn remove(&self, room: &RoomCode, id: ConnectionId) -> bool {
        let mut rooms = self.rooms.write().unwrap_or_else(|p| p.into_inner());
        let Some(sockets) = rooms.get_mut(room) else {
            return false;
        };
        sockets.remove(&id);
        if sockets.is_empty() {
            rooms.remove(room);
            true
        } else {
            false
        }
    }

    /// Delivers to this instance's sockets only (what each instance sends
    /// its own sockets, like `SYNC_STATS`).
    pub(crate) fn deliver_here(&self, room: &RoomCode, broadcast: &Broadcast) {
        BroadcastSink::deliver(self, room, broadcast);
    }

    pub(crate) fn room_count(&self) -> usize {
        self.rooms.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether an offer delivered; a shed socket is counted.
    fn counted(&self, offer: Offer) -> bool {
        match offer {
            Offer::Delivered => true,
            Offer::Shed => {
                self.metrics.slow_consumers_closed.fetch_add(1, Relaxed);
                false
            }
            Offer::Dropped => false,
        }
    }
}

impl BroadcastSink for LocalHub {
    fn deliver(&self, room: &RoomCode, broadcast: &Broadcast) {
        let started = Instant::now();
        // The recipients, taken under the read lock and written to after
        // it: a registration never waits for a thousand writes.
        let lanes: Vec<Arc<Lane>> = {
            let rooms = self.rooms.read().unwrap_or_else(|p| p.into_inner());
            let Some(sockets) = rooms.get(room) else {
                return;
            };
            let mut lanes = Vec::with_capacity(sockets.len());
            lanes.extend(
                sockets
                    .iter()
                    .filter(|(id, socket)| {
                        broadcast.except != Some(**id) && broadcast.to.includes(socket.user)
                    })
                    .map(|(_, socket)| Arc::clone(&socket.lane)),
            );
            lanes
        };
        // Checked and framed once per event: the same bytes for everyone.
        let Ok(text) = std::str::from_utf8(&broadcast.payload) else {
            tracing::warn!(room = %room, "dropped a broadcast that is not UTF-8");
            return;
        };
        let frame = Frame::text(text);
        let mut delivered = 0u64;
        for lane in &lanes {
            if self.counted(lane.offer_frame(&frame)) {
                delivered += 1;
            }
            if let Some(code) = broadcast.then_close {
                self.counted(lane.offer(Outgoing::Close(code)));
            }
        }
        self.metrics.messages_out.fetch_add(delivered, Relaxed);
        self.metrics.observe_fanout(started.elapsed());
    }
}
