//! The background work every instance does: close rooms whose grace ran
//! out, announce the sockets of instances that died, and publish again the
//! chat messages live state could not take.

use crate::error::ServiceError;
use crate::Service;
use std::time::Duration;
use watchparty_domain::{CloseReason, Millis, RoomCode, SYNC_STATS_EVERY_MS};

/// How often connections of dead instances are looked for.
const REAP_EVERY: Duration = Duration::from_secs(5);
/// How often controllers get `SYNC_STATS` (§10).
const SYNC_STATS_EVERY: Duration = Duration::from_millis(SYNC_STATS_EVERY_MS.unsigned_abs());

impl Service {
    /// Runs the sweeper until `stop` is cancelled. Every instance runs one;
    /// conditional updates and atomic removals make each effect happen once.
    pub async fn run_grace_sweeper(&self, stop: tokio_util::sync::CancellationToken) {
        // A zero period would make tokio panic; a millisecond is the floor.
        let period = self
            .inner
            .config
            .sweep_interval
            .max(Duration::from_millis(1));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_reap = tokio::time::Instant::now();
        let mut stats = tokio::time::interval(SYNC_STATS_EVERY);
        stats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let armed = self
            .inner
            .deadlines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let mut armed = armed.unwrap_or_else(|| {
            // A second sweeper on the same service: the first keeps the timers.
            tokio::sync::mpsc::unbounded_channel().1
        });
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
                _ = stats.tick() => {
                    self.send_sync_stats().await;
                    continue;
                }
                Some((code, deadline)) = armed.recv() => {
                    self.wake_at(code, deadline);
                    continue;
                }
            }
            self.close_expired_graces().await;
            self.settle_due_rooms().await;
            self.settle_due_waits().await;
            self.inner.engine.redeliver().await;
            if last_reap.elapsed() >= REAP_EVERY {
                last_reap = tokio::time::Instant::now();
                self.announce_departed().await;
            }
        }
    }

    /// Settles a room's wait at its deadline, from a task of its own.
    fn wake_at(&self, code: RoomCode, deadline: Millis) {
        let service = self.clone();
        let wait = deadline.0.saturating_sub(self.now().0).max(0);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
            if let Err(e) = service.inner.engine.settle_wait(&code).await {
                tracing::debug!(room = %code, error = %e, "a wait deadline was left for the sweeper");
            }
        });
    }

    /// Closes every room whose grace deadline has passed: one conditional
    /// update for all of them, outside the rooms' locks (a busy room's queue
    /// must not delay it), announced by the instance whose update closed it.
    pub(crate) async fn close_expired_graces(&self) {
        let engine = &self.inner.engine;
        // Polled whatever the traffic: counted apart from requests.
        let db = self.inner.db.background();
        let closed = match db.close_expired_graces(engine.now()).await {
            Ok(closed) => closed,
            Err(e) => {
                tracing::warn!(error = %e, "grace sweeper cannot reach the database");
                return;
            }
        };
        for code in closed {
            engine.rows().changed(&code).await;
            let announcer = engine.announcer();
            if let Err(e) = announcer.closed(&code, CloseReason::HostTimeout).await {
                let cause = e.cause_chain().unwrap_or_default();
                tracing::warn!(room = %code, error = %e, cause, "a closed room could not be announced");
            }
        }
    }

    /// Settles the rooms that change by themselves now: promotions at the
    /// end of a grace, mutes and bans lapsing. Each under its lock; across
    /// instances, the conditional update decides who announces.
    async fn settle_due_rooms(&self) {
        let engine = &self.inner.engine;
        let due = match self.inner.db.background().rooms_due(engine.now()).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "sweeper cannot reach the database");
                return;
            }
        };
        for code in due {
            let locked = engine.lock(&code).await;
            match locked.settle_due().await {
                Ok(()) | Err(ServiceError::NotFound) => {}
                Err(e) => {
                    let cause = e.cause_chain().unwrap_or_default();
                    tracing::warn!(room = %code, error = %e, cause, "a room's due change could not be settled");
                }
            }
        }
    }

    /// Sockets of a dead instance: `USER_LEFT` for users gone, grace for hosts gone.
    async fn announce_departed(&self) {
        let departed = match self.inner.live.reap_departed().await {
            Ok(departed) => departed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for sockets of dead instances");
                return;
            }
        };
        for gone in departed {
            let locked = self.inner.engine.lock(&gone.room).await;
            // The wait stops waiting for a socket that died with its instance.
            let connection = gone.connection;
            let forgotten = locked
                .wait_step(move |_, wait, now| wait.disconnect(connection, now))
                .await;
            if let Err(e) = forgotten {
                let cause = e.cause_chain().unwrap_or_default();
                tracing::warn!(room = %gone.room, error = %e, cause, "a departed socket stays in the wait until its deadline");
            }
            if !gone.last_of_user {
                continue;
            }
            if let Err(e) = self.user_left(&locked, gone.user, &gone.display_name).await {
                let cause = e.cause_chain().unwrap_or_default();
                tracing::warn!(room = %gone.room, error = %e, cause, "could not announce a departed user");
            }
        }
    }
}
