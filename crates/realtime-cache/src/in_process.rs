//! The realtime cache in this process: the single-instance default, and for tests.

use crate::{
    Broadcast, BroadcastSink, Bus, CacheError, Claims, Counter, Departed, HostStatus, Limiter,
    LiveWait, LockToken, Locks, Member, Presence, Projection, RealtimeCache, SyncEntry, Waits,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use watchparty_domain::{ConnectionId, Millis, PlaybackState, RoomCode, UserId, SYNC_FRESH_MS};

#[derive(Default)]
struct RoomLive {
    connections: HashMap<ConnectionId, UserId>,
    // user -> (display name, live sockets)
    users: BTreeMap<UserId, (String, usize)>,
}

// A held lock: who holds it, and until when at the latest.
struct Held {
    token: u64,
    until: Instant,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<RoomCode, RoomLive>,
    subscribed: HashSet<RoomCode>,
    claims: HashMap<String, Instant>,
    attempts: HashMap<String, (u64, Instant)>,
    locks: HashMap<String, Held>,
    playback: HashMap<RoomCode, PlaybackState>,
    waits: HashMap<RoomCode, LiveWait>,
    sync: HashMap<RoomCode, BTreeMap<UserId, SyncEntry>>,
    // One number per room ever changed by this process: as many as rooms.
    stamps: HashMap<RoomCode, u64>,
}

// Expired claims, counters and locks are swept when a map grows past this,
// so none grows without bound.
const SWEEP_ABOVE: usize = 4096;

/// The realtime cache held in memory; one instance only.
pub struct InProcess {
    inner: Mutex<Inner>,
    sink: Arc<dyn BroadcastSink>,
    // Wakes the tasks waiting in `lock` when a lock is released.
    released: Notify,
    next_token: AtomicU64,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcess")
    }
}

impl InProcess {
    /// An empty cache whose broadcasts go to `sink`.
    pub fn new(sink: Arc<dyn BroadcastSink>) -> Self {
        InProcess {
            inner: Mutex::default(),
            sink,
            released: Notify::new(),
            next_token: AtomicU64::new(1),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // No code path panics while holding the lock; recover the data if one ever did.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

// `now + duration`, saturating far in the future instead of overflowing.
fn after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

impl Inner {
    fn sweep_attempts(&mut self, now: Instant) {
        if self.attempts.len() > SWEEP_ABOVE {
            self.attempts.retain(|_, (_, ends)| *ends > now);
        }
    }

    fn current_attempts(&self, key: &str, now: Instant) -> u64 {
        match self.attempts.get(key) {
            Some((count, ends)) if *ends > now => *count,
            _ => 0,
        }
    }

    fn count(&mut self, key: &str, window: Duration, now: Instant) -> u64 {
        let entry = self
            .attempts
            .entry(key.to_owned())
            .or_insert((0, after(now, window)));
        if entry.1 <= now {
            *entry = (0, after(now, window));
        }
        entry.0 += 1;
        entry.0
    }
}

#[async_trait]
impl Presence for InProcess {
    async fn add_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        member: Member,
    ) -> Result<bool, CacheError> {
        let mut inner = self.inner();
        let live = inner.rooms.entry(room.clone()).or_default();
        if live.connections.insert(conn, member.user).is_some() {
            return Ok(false);
        }
        let entry = live
            .users
            .entry(member.user)
            .or_insert((member.display_name, 0));
        entry.1 += 1;
        Ok(entry.1 == 1)
    }

    async fn remove_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        user: UserId,
    ) -> Result<bool, CacheError> {
        let mut inner = self.inner();
        let Some(live) = inner.rooms.get_mut(room) else {
            return Ok(false);
        };
        if live.connections.remove(&conn).is_none() {
            return Ok(false);
        }
        let last = match live.users.get_mut(&user) {
            Some(entry) if entry.1 > 1 => {
                entry.1 -= 1;
                false
            }
            Some(_) => {
                live.users.remove(&user);
                true
            }
            None => false,
        };
        if live.connections.is_empty() {
            inner.rooms.remove(room);
        }
        Ok(last)
    }

    async fn members(&self, room: &RoomCode) -> Result<Vec<Member>, CacheError> {
        let inner = self.inner();
        Ok(inner
            .rooms
            .get(room)
            .map(|live| {
                live.users
                    .iter()
                    .map(|(user, (name, _))| Member {
                        user: *user,
                        display_name: name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn reap_departed(&self) -> Result<Vec<Departed>, CacheError> {
        // One process: its sockets cannot outlive it.
        Ok(Vec::new())
    }

    async fn live_rooms(&self) -> Result<Vec<(RoomCode, u64)>, CacheError> {
        Ok(self
            .inner()
            .rooms
            .iter()
            .filter(|(_, live)| !live.users.is_empty())
            .map(|(code, live)| (code.clone(), live.users.len() as u64))
            .collect())
    }

    async fn viewer_count(&self, room: &RoomCode) -> Result<u64, CacheError> {
        Ok(self
            .inner()
            .rooms
            .get(room)
            .map_or(0, |live| live.users.len() as u64))
    }
}

// The projection is for tools outside watchparty, and none can see this
// process's memory: only the playback is kept, for sync telemetry.
#[async_trait]
impl Projection for InProcess {
    async fn playback(&self, room: &RoomCode) -> Result<Option<PlaybackState>, CacheError> {
        Ok(self.inner().playback.get(room).copied())
    }

    async fn set_playback(
        &self,
        room: &RoomCode,
        playback: PlaybackState,
    ) -> Result<(), CacheError> {
        self.inner().playback.insert(room.clone(), playback);
        Ok(())
    }

    async fn set_host_status(
        &self,
        _room: &RoomCode,
        _status: HostStatus,
    ) -> Result<(), CacheError> {
        Ok(())
    }

    async fn forget_room(&self, room: &RoomCode) -> Result<(), CacheError> {
        self.inner().playback.remove(room);
        Ok(())
    }
}

#[async_trait]
impl Waits for InProcess {
    async fn load_wait(&self, room: &RoomCode) -> Result<LiveWait, CacheError> {
        Ok(self.inner().waits.get(room).cloned().unwrap_or_default())
    }

    async fn store_wait(&self, room: &RoomCode, wait: &LiveWait) -> Result<(), CacheError> {
        self.inner().waits.insert(room.clone(), wait.clone());
        Ok(())
    }

    async fn waits_due(&self, now: Millis) -> Result<Vec<RoomCode>, CacheError> {
        let inner = self.inner();
        Ok(inner
            .waits
            .iter()
            .filter(|(_, live)| live.wait.next_deadline().is_some_and(|d| d <= now))
            .map(|(code, _)| code.clone())
            .collect())
    }

    async fn forget_wait(&self, room: &RoomCode) -> Result<(), CacheError> {
        let mut inner = self.inner();
        inner.waits.remove(room);
        inner.sync.remove(room);
        Ok(())
    }

    async fn record_sync(&self, room: &RoomCode, entry: SyncEntry) -> Result<(), CacheError> {
        let mut inner = self.inner();
        let reports = inner.sync.entry(room.clone()).or_default();
        // Stale reports go as fresh ones come, so the map stays small.
        let now = entry.updated_at;
        reports.retain(|_, e| now.0.saturating_sub(e.updated_at.0) < SYNC_FRESH_MS);
        reports.insert(entry.user, entry);
        Ok(())
    }

    async fn sync_entries(
        &self,
        room: &RoomCode,
        now: Millis,
    ) -> Result<Vec<SyncEntry>, CacheError> {
        let inner = self.inner();
        Ok(inner
            .sync
            .get(room)
            .map(|reports| {
                reports
                    .values()
                    .filter(|e| now.0.saturating_sub(e.updated_at.0) < SYNC_FRESH_MS)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[async_trait]
impl Bus for InProcess {
    async fn subscribe(&self, room: &RoomCode) -> Result<(), CacheError> {
        self.inner().subscribed.insert(room.clone());
        Ok(())
    }

    async fn unsubscribe(&self, room: &RoomCode) -> Result<(), CacheError> {
        self.inner().subscribed.remove(room);
        Ok(())
    }

    async fn publish(&self, room: &RoomCode, broadcast: Broadcast) -> Result<(), CacheError> {
        // One process: publishing to a subscribed room is delivering.
        let subscribed = self.inner().subscribed.contains(room);
        if subscribed {
            self.sink.deliver(room, &broadcast);
        }
        Ok(())
    }
}

#[async_trait]
impl Limiter for InProcess {
    async fn count_attempt(&self, key: &str, window: Duration) -> Result<u64, CacheError> {
        let now = Instant::now();
        let mut inner = self.inner();
        inner.sweep_attempts(now);
        Ok(inner.count(key, window, now))
    }

    async fn attempts(&self, key: &str) -> Result<u64, CacheError> {
        Ok(self.inner().current_attempts(key, Instant::now()))
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), CacheError> {
        self.inner().attempts.remove(key);
        Ok(())
    }

    async fn reserve(
        &self,
        counters: &[Counter<'_>],
        window: Duration,
    ) -> Result<Option<usize>, CacheError> {
        let now = Instant::now();
        // One lock for the check and the counting: that is the atomicity.
        let mut inner = self.inner();
        inner.sweep_attempts(now);
        if let Some(full) = counters.iter().position(|c| {
            c.limit
                .is_some_and(|limit| inner.current_attempts(c.key, now) >= limit)
        }) {
            return Ok(Some(full));
        }
        for counter in counters {
            inner.count(counter.key, window, now);
        }
        Ok(None)
    }

    async fn release(&self, keys: &[&str]) -> Result<(), CacheError> {
        let mut inner = self.inner();
        for key in keys {
            if let Some(entry) = inner.attempts.get_mut(*key) {
                entry.0 = entry.0.saturating_sub(1);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl crate::Stamps for InProcess {
    async fn bump_stamp(&self, room: &RoomCode) -> Result<u64, CacheError> {
        let mut inner = self.inner();
        let stamp = inner.stamps.entry(room.clone()).or_default();
        *stamp += 1;
        Ok(*stamp)
    }

    async fn stamp(&self, room: &RoomCode) -> Result<u64, CacheError> {
        Ok(self.inner().stamps.get(room).copied().unwrap_or(0))
    }
}

#[async_trait]
impl Claims for InProcess {
    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        let now = Instant::now();
        let mut inner = self.inner();
        if inner.claims.len() > SWEEP_ABOVE {
            inner.claims.retain(|_, expires| *expires > now);
        }
        match inner.claims.get(key) {
            Some(expires) if *expires > now => Ok(false),
            _ => {
                inner.claims.insert(key.to_owned(), after(now, ttl));
                Ok(true)
            }
        }
    }
}

#[async_trait]
impl Locks for InProcess {
    async fn lock(
        &self,
        key: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        let deadline = after(Instant::now(), wait);
        loop {
            // Created before looking, so a release between the look and the
            // wait below still wakes this task.
            let released = self.released.notified();
            let busy_until = {
                let now = Instant::now();
                let mut inner = self.inner();
                if inner.locks.len() > SWEEP_ABOVE {
                    inner.locks.retain(|_, held| held.until > now);
                }
                match inner.locks.get(key) {
                    Some(held) if held.until > now => held.until,
                    // Free, or its holder's time ran out.
                    _ => {
                        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
                        let until = after(now, ttl);
                        inner.locks.insert(key.to_owned(), Held { token, until });
                        return Ok(Some(LockToken(token.to_string())));
                    }
                }
            };
            if Instant::now() >= deadline {
                return Ok(None);
            }
            // Wakes on any release, at the holder's expiry, or at the deadline;
            // the loop then looks again.
            let _ = tokio::time::timeout_at(deadline.min(busy_until), released).await;
        }
    }

    async fn unlock(&self, key: &str, token: LockToken) -> Result<(), CacheError> {
        let mut inner = self.inner();
        let holds = inner
            .locks
            .get(key)
            .is_some_and(|held| held.token.to_string() == token.0);
        if holds {
            inner.locks.remove(key);
            drop(inner);
            self.released.notify_waiters();
        }
        Ok(())
    }
}

#[async_trait]
impl RealtimeCache for InProcess {
    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The behaviour both backends share is in tests/conformance.rs; this is
    // the in-process bookkeeping only.
    struct Discard;

    impl BroadcastSink for Discard {
        fn deliver(&self, _room: &RoomCode, _broadcast: &Broadcast) {}
    }

    #[tokio::test]
    async fn expired_locks_do_not_accumulate() {
        let cache = InProcess::new(Arc::new(Discard));
        let brief = Duration::from_millis(1);
        for i in 0..=SWEEP_ABOVE {
            let token = cache.lock(&format!("k{i}"), brief, Duration::ZERO).await;
            assert!(token.unwrap().is_some());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let token = cache
            .lock("k0", Duration::from_secs(60), Duration::ZERO)
            .await;
        let token = token.unwrap().expect("an expired lock is free");
        assert_eq!(cache.inner().locks.len(), 1, "expired locks were swept");
        cache.unlock("k0", token).await.unwrap();
        assert!(cache.inner().locks.is_empty(), "unlocking forgets the key");
    }
}
