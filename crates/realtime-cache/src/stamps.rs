//! Room stamps: a number per room that grows with every stored change of the
//! room's rows, so that an instance holding a copy of those rows can tell,
//! with one cheap read, whether any instance changed them since.

use crate::CacheError;
use async_trait::async_trait;
use watchparty_domain::RoomCode;

/// How long a room's stamp outlives its last bump (Redis). A copy of a
/// room's rows must never be kept nearly this long: a stamp that expired
/// reads 0 again.
pub const STAMP_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A counter per room, shared by every instance: whoever stores a change of
/// the room's rows bumps it once the change is committed (and before
/// announcing it); whoever copies the rows reads it first and keeps the copy
/// only while it still reads the same.
#[async_trait]
pub trait Stamps: Send + Sync {
    /// Marks a stored change of the room: the stamp grows by one. Returns
    /// the new stamp.
    async fn bump_stamp(&self, room: &RoomCode) -> Result<u64, CacheError>;
    /// The room's stamp now: 0 until its first bump, and again once
    /// [`STAMP_LIFETIME`] passed without one. It never goes back otherwise.
    async fn stamp(&self, room: &RoomCode) -> Result<u64, CacheError>;
}
