//! The group wait and sync telemetry of contract §9 and §10: live state
//! only, never in the database.
//!
//! A room's [`GroupWait`] (its sockets' readiness, the users' `SET_WAIT` and
//! skips, the wait in progress) is loaded, changed by the domain's rules and
//! stored back by the service while it holds the room's cross-instance lock,
//! so a wait ends once whichever instance decides it. Storing it also
//! writes the canonical `wait` and `ready` keys and files the deadline in a
//! shared due set that every instance's sweeper reads, so a deadline is
//! kept even when the instance that armed it dies.

use crate::CacheError;
use async_trait::async_trait;
use watchparty_domain::{GroupWait, Millis, ReportedState, RoomCode, UserId};

/// A room's group wait as stored: the rules' state, and the playback
/// version at which the wait in progress started (the `version` of the
/// canonical `wait` hash; 0 when none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveWait {
    /// Sockets, users and the wait in progress.
    pub wait: GroupWait,
    /// The playback version of the hold that started the wait in progress.
    pub version: u64,
}

/// A user's latest counted `SYNC_REPORT`, as `SYNC_STATS` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncEntry {
    /// Who reported.
    pub user: UserId,
    /// Their display name, so that the stats need no lookup.
    pub display_name: String,
    /// Their position minus the room's, in ms (positive: ahead).
    pub drift_ms: f64,
    /// The round trip their client reported, in ms.
    pub rtt_ms: f64,
    /// Their player's state.
    pub state: ReportedState,
    /// When the server received the report.
    pub updated_at: Millis,
}

/// Live wait and telemetry state, shared by every instance.
#[async_trait]
pub trait Waits: Send + Sync {
    /// The room's group wait as last stored; an empty one if none is.
    async fn load_wait(&self, room: &RoomCode) -> Result<LiveWait, CacheError>;
    /// Stores the room's group wait (call with the room's cross-instance
    /// lock held), the canonical `wait` and `ready` keys, and its deadline
    /// in the due set.
    async fn store_wait(&self, room: &RoomCode, wait: &LiveWait) -> Result<(), CacheError>;
    /// The rooms whose wait deadline is at or before `now`.
    async fn waits_due(&self, now: Millis) -> Result<Vec<RoomCode>, CacheError>;
    /// Forgets everything about a room that ended.
    async fn forget_wait(&self, room: &RoomCode) -> Result<(), CacheError>;
    /// Records a counted sync report; the room's reports expire 30 s after
    /// the last one.
    async fn record_sync(&self, room: &RoomCode, entry: SyncEntry) -> Result<(), CacheError>;
    /// The room's reports younger than 30 s at `now`, by user id.
    async fn sync_entries(
        &self,
        room: &RoomCode,
        now: Millis,
    ) -> Result<Vec<SyncEntry>, CacheError>;
}
