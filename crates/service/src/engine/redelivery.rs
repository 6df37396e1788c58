//! Chat messages that were stored but whose publish failed: kept and
//! published again, oldest first, until live state answers, so that a
//! stored message is never one nobody received.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use watchparty_domain::RoomCode;
use watchparty_realtime_cache::{Broadcast, RealtimeCache};

// Past these, a message is dropped (and logged): history still has it.
const MAX_PENDING: usize = 10_000;
const MAX_AGE: Duration = Duration::from_secs(600);

/// Broadcasts waiting to be published again.
#[derive(Default)]
pub(crate) struct Redelivery {
    pending: Mutex<VecDeque<(RoomCode, Broadcast, Instant)>>,
}

impl Redelivery {
    fn pending(&self) -> std::sync::MutexGuard<'_, VecDeque<(RoomCode, Broadcast, Instant)>> {
        // Nothing panics while holding it; recover the queue if something did.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn push(&self, room: RoomCode, broadcast: Broadcast) {
        let mut pending = self.pending();
        if pending.len() >= MAX_PENDING {
            if let Some((room, _, _)) = pending.pop_front() {
                tracing::error!(room = %room, "chat redelivery queue full: the oldest message is left to history");
            }
        }
        pending.push_back((room, broadcast, Instant::now()));
    }

    /// Publishes the queue in order; stops at the first failure (live state
    /// is still away) and keeps the rest for the next round.
    pub(crate) async fn retry(&self, live: &dyn RealtimeCache) {
        loop {
            let Some((room, broadcast, since)) = self.pending().pop_front() else {
                return;
            };
            if since.elapsed() > MAX_AGE {
                tracing::error!(room = %room, "a chat message could not be published for 10 minutes: left to history");
                continue;
            }
            if let Err(e) = live.publish(&room, broadcast.clone()).await {
                tracing::debug!(room = %room, error = %e, "chat redelivery still failing");
                self.pending().push_front((room, broadcast, since));
                return;
            }
            tracing::info!(room = %room, "a chat message was delivered late, after live state came back");
        }
    }
}
