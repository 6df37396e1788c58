//! The projection: a copy of each live room's playback and host status,
//! written under the canonical keys of contract §6 (`P:room:{CODE}:state`,
//! `P:room:{CODE}:host`) for other tools to read.
//!
//! The database is the room's truth, and every decision is taken from
//! there. The one reader of the projection is sync telemetry (§10): a
//! viewer's report is measured against the playback published here, so
//! that a report a second per viewer never reaches the database.

use crate::CacheError;
use async_trait::async_trait;
use watchparty_domain::{PlaybackState, RoomCode};

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

/// Publishes each live room's state for other tools.
#[async_trait]
pub trait Projection: Send + Sync {
    /// The room's playback as last published, if any.
    async fn playback(&self, room: &RoomCode) -> Result<Option<PlaybackState>, CacheError>;
    /// Publishes the room's playback.
    async fn set_playback(
        &self,
        room: &RoomCode,
        playback: PlaybackState,
    ) -> Result<(), CacheError>;
    /// Publishes the host's status.
    async fn set_host_status(&self, room: &RoomCode, status: HostStatus) -> Result<(), CacheError>;
    /// Withdraws everything published about a room that ended.
    async fn forget_room(&self, room: &RoomCode) -> Result<(), CacheError>;
}
