//! watchparty's realtime cache: live, derived state shared by every instance.
//!
//! The database stays authoritative; everything here can be rebuilt from it
//! and from the sockets that are open. The service holds one
//! `Arc<dyn RealtimeCache>`; its parts are grouped by concern, one module each:
//!
//! - [`Presence`]: who is connected where (per socket, counted per user), the
//!   registry of live rooms and their viewer counts, and reaping the sockets
//!   of instances that died;
//! - [`Projection`]: a write-only copy of each live room's playback and host
//!   status under the canonical keys of contract §6, published for other
//!   tools; nothing in watchparty reads it back;
//! - [`Bus`]: room event fan-out between instances (publish and subscribe);
//! - [`Limiter`]: rate-limit counters and all-or-nothing reservations;
//! - [`Claims`]: single-use claims (a WebSocket token is spent once);
//! - [`Locks`]: short exclusive locks across instances;
//! - [`Waits`]: the group wait and sync telemetry (contract §9, §10);
//! - [`Stamps`]: a counter per room that every stored change of its rows
//!   bumps, so that copies of those rows can be checked for freshness.
//!
//! Two implementations keep the same contract, which
//! `tests/conformance.rs` checks against both: [`InProcess`] for a single
//! instance (and tests), and [`RedisCache`] for several instances sharing
//! one Redis. Each is given, when it is built, the [`BroadcastSink`] that
//! receives the broadcasts of the rooms its instance subscribed to.

mod bus;
mod claims;
mod in_process;
mod keys;
mod limits;
mod locks;
mod presence;
mod projection;
mod redis;
mod stamps;
mod waits;

pub use bus::{Audience, Broadcast, BroadcastSink, Bus};
pub use claims::Claims;
pub use in_process::InProcess;
pub use keys::Keys;
pub use limits::{Counter, Limiter};
pub use locks::{LockToken, Locks};
pub use presence::{Departed, Member, Presence};
pub use projection::{HostStatus, Projection};
pub use redis::{RedisCache, RedisSettings};
pub use stamps::{Stamps, STAMP_LIFETIME};
pub use waits::{LiveWait, SyncEntry, Waits};

use async_trait::async_trait;
use thiserror::Error;

/// The realtime cache could not be read or written in time.
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

/// Everything live, as the one object the service holds.
#[async_trait]
pub trait RealtimeCache:
    Presence + Projection + Bus + Limiter + Claims + Locks + Waits + Stamps + 'static
{
    /// Whether the backing store answers (for readiness).
    async fn ping(&self) -> Result<(), CacheError>;
}
