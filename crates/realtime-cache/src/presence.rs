//! Presence: who is connected to which room, counted per user, and the
//! registry of rooms with at least one live socket.

use crate::CacheError;
use async_trait::async_trait;
use watchparty_domain::{ConnectionId, RoomCode, UserId};

/// A user connected to a room, as presence lists show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Who.
    pub user: UserId,
    /// Their display name, kept here so presence needs no database read.
    pub display_name: String,
}

/// A connection of an instance that died (its lease ran out), removed from
/// presence by this instance, which must now announce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departed {
    /// The room.
    pub room: RoomCode,
    /// The connection that is gone.
    pub connection: ConnectionId,
    /// Whose connection it was.
    pub user: UserId,
    /// Their name.
    pub display_name: String,
    /// Whether it was the user's last connection in the room.
    pub last_of_user: bool,
}

/// Presence per connection, per user and per room, across instances.
///
/// A user with several sockets in a room (two tabs, two instances) counts
/// once: the first socket makes them join and the last one makes them leave.
#[async_trait]
pub trait Presence: Send + Sync {
    /// Records a live socket. `true` when it is the user's first in the
    /// room; recording a known connection again changes nothing (`false`).
    async fn add_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        member: Member,
    ) -> Result<bool, CacheError>;
    /// Forgets a socket. `true` when it was the user's last in the room;
    /// forgetting an unknown connection changes nothing (`false`).
    async fn remove_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        user: UserId,
    ) -> Result<bool, CacheError>;
    /// The distinct users connected to the room, by ascending user id.
    async fn members(&self, room: &RoomCode) -> Result<Vec<Member>, CacheError>;
    /// Removes the connections of instances that stopped renewing their
    /// lease. Each one is returned to exactly one caller, across instances.
    async fn reap_departed(&self) -> Result<Vec<Departed>, CacheError>;
    /// Every live room with its number of distinct connected users. A room
    /// is live from its first socket to its last.
    async fn live_rooms(&self) -> Result<Vec<(RoomCode, u64)>, CacheError>;
    /// The number of distinct users connected to one room.
    async fn viewer_count(&self, room: &RoomCode) -> Result<u64, CacheError>;
}
