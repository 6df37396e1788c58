//! Per-room locks on this instance.

use std::hash::{BuildHasher, RandomState};
use tokio::sync::{Mutex, MutexGuard};
use watchparty_domain::RoomCode;

/// Serializes the changes of one room on this instance: striped, so the
/// number of locks is fixed whatever the number of rooms. Across instances
/// the conditional update on the stored room decides instead.
pub(crate) struct RoomLocks {
    stripes: Vec<Mutex<()>>,
    hasher: RandomState,
}

impl RoomLocks {
    pub(crate) fn new() -> Self {
        RoomLocks {
            stripes: (0..256).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    pub(crate) async fn lock(&self, code: &RoomCode) -> Option<MutexGuard<'_, ()>> {
        let index = self.hasher.hash_one(code) as usize % self.stripes.len();
        Some(self.stripes.get(index)?.lock().await)
    }
}
