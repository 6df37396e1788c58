//! The bus: room event fan-out between instances.

use crate::CacheError;
use async_trait::async_trait;
use bytes::Bytes;
use watchparty_domain::{ConnectionId, RoomCode, UserId};

/// Whose sockets in the room a broadcast is for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Audience {
    /// Every socket in the room.
    #[default]
    Everyone,
    /// Only the sockets of these users (their capabilities changed, they
    /// were removed).
    Users(Vec<UserId>),
}

impl Audience {
    /// Whether a socket of `user` is meant.
    pub fn includes(&self, user: UserId) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Users(users) => users.contains(&user),
        }
    }
}

/// One event for the sockets of a room, serialized once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    /// The JSON text frame, shared by every recipient.
    pub payload: Bytes,
    /// Whose sockets get it.
    pub to: Audience,
    /// A socket that must not receive it (the one that caused it).
    pub except: Option<ConnectionId>,
    /// Close every recipient socket with this code after delivering.
    pub then_close: Option<u16>,
}

/// Receives the broadcasts of rooms this instance subscribed to. Given to
/// the cache when it is built.
pub trait BroadcastSink: Send + Sync {
    /// Hands a broadcast to this instance's sockets in `room`. Must not block.
    fn deliver(&self, room: &RoomCode, broadcast: &Broadcast);
}

/// Room event fan-out: a broadcast published on any instance reaches the
/// sink of every instance subscribed to the room, the publishing one
/// included, and no other.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Starts receiving a room's broadcasts (this instance has a socket
    /// there). Once it returns, every later publish reaches this instance.
    async fn subscribe(&self, room: &RoomCode) -> Result<(), CacheError>;
    /// Stops receiving a room's broadcasts (its last local socket closed).
    async fn unsubscribe(&self, room: &RoomCode) -> Result<(), CacheError>;
    /// Sends a broadcast to every instance subscribed to the room. Delivery
    /// is at most once: a client that misses an event is corrected by the
    /// next state it receives.
    async fn publish(&self, room: &RoomCode, broadcast: Broadcast) -> Result<(), CacheError>;
}
