//! watchparty's live, derived state: who is connected where, the cached
//! playback and host status of each room, the registry of live rooms, room
//! event fan-out, single-use token claims and rate-limit counters.
//!
//! The database stays authoritative; everything here can be rebuilt. The
//! traits are what the service uses; [`InProcess`] implements them for a
//! single instance, and a Redis implementation serves several instances.

mod in_process;
mod keys;
mod redis;

pub use in_process::InProcess;
pub use keys::Keys;
pub use redis::{RedisLiveState, RedisSettings};

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use watchparty_domain::{ConnectionId, PlaybackState, RoomCode, UserId};

/// Live state could not be read or written in time.
#[derive(Debug, Error)]
pub enum CacheError {
    /// The backing store did not answer within its timeout.
    #[error("live state timed out")]
    Timeout,
    /// Redis could not be reached at start-up.
    #[error("cannot reach Redis at {address}: {cause}")]
    Unreachable {
        /// `host:port`, never the password.
        address: String,
        /// Why, in one line.
        cause: String,
    },
    /// The backing store answered with an error.
    #[error("live state unavailable: {0}")]
    Unavailable(String),
}

/// A user connected to a room, as presence lists show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Who.
    pub user: UserId,
    /// Their display name, kept here so presence needs no database read.
    pub display_name: String,
}

/// Whether a room's host is here, away within grace, or not connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostStatus {
    /// At least one of the host's sockets is live.
    Online,
    /// The host left and the room waits for them.
    Grace,
    /// The host has not connected (yet).
    Offline,
}

/// Presence per connection, per user and per room.
#[async_trait]
pub trait Presence: Send + Sync {
    /// Records a live socket. `true` when it is the user's first in the room.
    async fn add_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        member: Member,
    ) -> Result<bool, CacheError>;
    /// Forgets a socket. `true` when it was the user's last in the room.
    async fn remove_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        user: UserId,
    ) -> Result<bool, CacheError>;
    /// The distinct users connected to the room, by user id.
    async fn members(&self, room: &RoomCode) -> Result<Vec<Member>, CacheError>;
    /// Whether this user has at least one live socket in the room.
    async fn is_connected(&self, room: &RoomCode, user: UserId) -> Result<bool, CacheError>;
    /// Removes the connections of instances that stopped renewing their
    /// lease. Each one is returned to exactly one caller, across instances.
    async fn reap_departed(&self) -> Result<Vec<Departed>, CacheError>;
}

/// A connection of an instance that died (its lease ran out), removed from
/// presence by this instance, which must now announce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departed {
    /// The room.
    pub room: RoomCode,
    /// Whose connection it was.
    pub user: UserId,
    /// Their name.
    pub display_name: String,
    /// Whether it was the user's last connection in the room.
    pub last_of_user: bool,
}

/// The registry of rooms with at least one live socket.
#[async_trait]
pub trait LiveRooms: Send + Sync {
    /// Every live room with its number of distinct connected users.
    async fn live_rooms(&self) -> Result<Vec<(RoomCode, u64)>, CacheError>;
    /// The number of distinct users connected to one room.
    async fn viewer_count(&self, room: &RoomCode) -> Result<u64, CacheError>;
}

/// A cached copy of each live room's playback and host status.
#[async_trait]
pub trait RoomCache: Send + Sync {
    /// Caches the room's playback.
    async fn set_playback(
        &self,
        room: &RoomCode,
        playback: PlaybackState,
    ) -> Result<(), CacheError>;
    /// The cached playback, if any.
    async fn playback(&self, room: &RoomCode) -> Result<Option<PlaybackState>, CacheError>;
    /// Caches the host's status.
    async fn set_host_status(&self, room: &RoomCode, status: HostStatus) -> Result<(), CacheError>;
    /// The cached host status, if any.
    async fn host_status(&self, room: &RoomCode) -> Result<Option<HostStatus>, CacheError>;
    /// Drops everything cached about a room that ended.
    async fn forget_room(&self, room: &RoomCode) -> Result<(), CacheError>;
}

/// One event for every socket of a room, serialized once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broadcast {
    /// The JSON text frame, shared by every recipient.
    pub payload: Bytes,
    /// A socket that must not receive it (the one that caused it).
    pub except: Option<ConnectionId>,
    /// Close every socket with this code after delivering.
    pub then_close: Option<u16>,
}

/// Receives the broadcasts of rooms this instance has sockets in.
pub trait BroadcastSink: Send + Sync {
    /// Hands a broadcast to this instance's sockets in `room`. Must not block.
    fn deliver(&self, room: &RoomCode, broadcast: &Broadcast);
}

/// Room event fan-out: a broadcast published on any instance reaches the
/// sockets of every instance.
#[async_trait]
pub trait Fanout: Send + Sync {
    /// Sets where this instance's received broadcasts go. Called once, at start.
    fn attach_sink(&self, sink: Arc<dyn BroadcastSink>);
    /// Starts receiving a room's broadcasts (this instance has a socket there).
    async fn subscribe(&self, room: &RoomCode) -> Result<(), CacheError>;
    /// Stops receiving a room's broadcasts (its last local socket closed).
    async fn unsubscribe(&self, room: &RoomCode) -> Result<(), CacheError>;
    /// Sends a broadcast to every instance with sockets in the room.
    async fn publish(&self, room: &RoomCode, broadcast: Broadcast) -> Result<(), CacheError>;
}

/// Single-use claims and counters shared by every instance.
#[async_trait]
pub trait Claims: Send + Sync {
    /// `true` the first time `key` is claimed within `ttl`, `false` after.
    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, CacheError>;
    /// Counts one attempt under `key` in a window of `window` that starts
    /// with the first attempt; returns the count so far.
    async fn count_attempt(&self, key: &str, window: Duration) -> Result<u64, CacheError>;
    /// The attempts counted under `key` in its current window.
    async fn attempts(&self, key: &str) -> Result<u64, CacheError>;
    /// Forgets the attempts under `key`.
    async fn clear_attempts(&self, key: &str) -> Result<(), CacheError>;
    /// Counts one attempt under every key at once, before the attempt's
    /// work is done, so that a limit holds however many attempts race: if a
    /// key with a limit already counts that many, nothing is counted and
    /// `Some(index)` names the first such key. Windows are as in
    /// [`Claims::count_attempt`]. The check and the counting are one atomic
    /// step, across instances too.
    async fn reserve(
        &self,
        counters: &[Counter<'_>],
        window: Duration,
    ) -> Result<Option<usize>, CacheError>;
    /// Takes back one attempt under each key (an attempt that turned out not
    /// to count, such as a correct password); never below zero.
    async fn release(&self, keys: &[&str]) -> Result<(), CacheError>;
    /// Takes `key` exclusively across instances for at most `ttl`, waiting
    /// up to `wait`; `None` if another holder kept it that long. Within one
    /// process the caller's own lock already serializes, so the in-process
    /// implementation grants it at once.
    async fn lock(
        &self,
        key: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<LockToken>, CacheError>;
    /// Releases a lock taken with [`Claims::lock`], if still held by `token`.
    async fn unlock(&self, key: &str, token: LockToken) -> Result<(), CacheError>;
}

/// One counter of a [`Claims::reserve`]: its key, and the count at which it
/// refuses (`None`: counted, never refusing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter<'a> {
    /// The counter's key.
    pub key: &'a str,
    /// Attempts allowed per window.
    pub limit: Option<u64>,
}

/// Proof of holding a lock from [`Claims::lock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToken(pub String);

/// Everything live, as one object the service holds.
#[async_trait]
pub trait LiveState: Presence + LiveRooms + RoomCache + Fanout + Claims + 'static {
    /// Whether the backing store answers (for readiness).
    async fn ping(&self) -> Result<(), CacheError>;
}
