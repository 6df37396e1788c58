//! Live state in this process: the single-instance default, and for tests.

use crate::{
    Broadcast, BroadcastSink, CacheError, Claims, Counter, Departed, Fanout, HostStatus, LiveRooms,
    LiveState, LockToken, Member, Presence, RoomCache,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use watchparty_domain::{ConnectionId, PlaybackState, RoomCode, UserId};

#[derive(Default)]
struct RoomLive {
    connections: HashMap<ConnectionId, UserId>,
    // user -> (display name, live sockets)
    users: BTreeMap<UserId, (String, usize)>,
    playback: Option<PlaybackState>,
    host: Option<HostStatus>,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<RoomCode, RoomLive>,
    claims: HashMap<String, Instant>,
    attempts: HashMap<String, (u64, Instant)>,
}

// Expired claims and counters are swept when a map grows past this.
const SWEEP_ABOVE: usize = 4096;

/// Live state held in memory; one instance only.
#[derive(Default)]
pub struct InProcess {
    inner: Mutex<Inner>,
    sink: OnceLock<Arc<dyn BroadcastSink>>,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcess")
    }
}

impl InProcess {
    /// Empty live state.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code path panics while holding the lock; recover the data if one ever did.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    // A room entry with no sockets and nothing cached is removed.
    fn prune(&mut self, room: &RoomCode) {
        if self
            .rooms
            .get(room)
            .is_some_and(|r| r.connections.is_empty() && r.playback.is_none() && r.host.is_none())
        {
            self.rooms.remove(room);
        }
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
        let mut inner = self.lock();
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
        let mut inner = self.lock();
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
            live.playback = None;
            live.host = None;
        }
        inner.prune(room);
        Ok(last)
    }

    async fn members(&self, room: &RoomCode) -> Result<Vec<Member>, CacheError> {
        let inner = self.lock();
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

    async fn is_connected(&self, room: &RoomCode, user: UserId) -> Result<bool, CacheError> {
        Ok(self
            .lock()
            .rooms
            .get(room)
            .is_some_and(|live| live.users.contains_key(&user)))
    }
}

#[async_trait]
impl LiveRooms for InProcess {
    async fn live_rooms(&self) -> Result<Vec<(RoomCode, u64)>, CacheError> {
        Ok(self
            .lock()
            .rooms
            .iter()
            .filter(|(_, live)| !live.users.is_empty())
            .map(|(code, live)| (code.clone(), live.users.len() as u64))
            .collect())
    }

    async fn viewer_count(&self, room: &RoomCode) -> Result<u64, CacheError> {
        Ok(self
            .lock()
            .rooms
            .get(room)
            .map_or(0, |live| live.users.len() as u64))
    }
}

#[async_trait]
impl RoomCache for InProcess {
    async fn set_playback(
        &self,
        room: &RoomCode,
        playback: PlaybackState,
    ) -> Result<(), CacheError> {
        self.lock().rooms.entry(room.clone()).or_default().playback = Some(playback);
        Ok(())
    }

    async fn playback(&self, room: &RoomCode) -> Result<Option<PlaybackState>, CacheError> {
        Ok(self.lock().rooms.get(room).and_then(|live| live.playback))
    }

    async fn set_host_status(&self, room: &RoomCode, status: HostStatus) -> Result<(), CacheError> {
        self.lock().rooms.entry(room.clone()).or_default().host = Some(status);
        Ok(())
    }

    async fn host_status(&self, room: &RoomCode) -> Result<Option<HostStatus>, CacheError> {
        Ok(self.lock().rooms.get(room).and_then(|live| live.host))
    }

    async fn forget_room(&self, room: &RoomCode) -> Result<(), CacheError> {
        let mut inner = self.lock();
        if let Some(live) = inner.rooms.get_mut(room) {
            live.playback = None;
            live.host = None;
        }
        inner.prune(room);
        Ok(())
    }
}

#[async_trait]
impl Fanout for InProcess {
    fn attach_sink(&self, sink: Arc<dyn BroadcastSink>) {
        if self.sink.set(sink).is_err() {
            tracing::warn!("a broadcast sink was already attached; keeping the first");
        }
    }

    async fn subscribe(&self, _room: &RoomCode) -> Result<(), CacheError> {
        Ok(())
    }

    async fn unsubscribe(&self, _room: &RoomCode) -> Result<(), CacheError> {
        Ok(())
    }

    async fn publish(&self, room: &RoomCode, broadcast: Broadcast) -> Result<(), CacheError> {
        // One process: publishing is delivering.
        if let Some(sink) = self.sink.get() {
            sink.deliver(room, &broadcast);
        }
        Ok(())
    }
}

#[async_trait]
impl Claims for InProcess {
    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.claims.len() > SWEEP_ABOVE {
            inner.claims.retain(|_, expires| *expires > now);
        }
        match inner.claims.get(key) {
            Some(expires) if *expires > now => Ok(false),
            _ => {
                inner.claims.insert(key.to_owned(), now + ttl);
                Ok(true)
            }
        }
    }

    async fn count_attempt(&self, key: &str, window: Duration) -> Result<u64, CacheError> {
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.attempts.len() > SWEEP_ABOVE {
            inner.attempts.retain(|_, (_, ends)| *ends > now);
        }
        let entry = inner
            .attempts
            .entry(key.to_owned())
            .or_insert((0, now + window));
        if entry.1 <= now {
            *entry = (0, now + window);
        }
        entry.0 += 1;
        Ok(entry.0)
    }

    async fn attempts(&self, key: &str) -> Result<u64, CacheError> {
        let now = Instant::now();
        Ok(match self.lock().attempts.get(key) {
            Some((count, ends)) if *ends > now => *count,
            _ => 0,
        })
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), CacheError> {
        self.lock().attempts.remove(key);
        Ok(())
    }

    async fn reserve(
        &self,
        counters: &[Counter<'_>],
        window: Duration,
    ) -> Result<Option<usize>, CacheError> {
        let now = Instant::now();
        // One lock for the check and the counting: that is the atomicity.
        let mut inner = self.lock();
        if inner.attempts.len() > SWEEP_ABOVE {
            inner.attempts.retain(|_, (_, ends)| *ends > now);
        }
        let current = |inner: &Inner, key: &str| match inner.attempts.get(key) {
            Some((count, ends)) if *ends > now => *count,
            _ => 0,
        };
        if let Some(full) = counters
            .iter()
            .position(|c| c.limit.is_some_and(|limit| current(&inner, c.key) >= limit))
        {
            return Ok(Some(full));
        }
        for counter in counters {
            let entry = inner
                .attempts
                .entry(counter.key.to_owned())
                .or_insert((0, now + window));
            if entry.1 <= now {
                *entry = (0, now + window);
            }
            entry.0 += 1;
        }
        Ok(None)
    }

    async fn release(&self, keys: &[&str]) -> Result<(), CacheError> {
        let mut inner = self.lock();
        for key in keys {
            if let Some(entry) = inner.attempts.get_mut(*key) {
                entry.0 = entry.0.saturating_sub(1);
            }
        }
        Ok(())
    }

    async fn lock(
        &self,
        _key: &str,
        _ttl: Duration,
        _wait: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        Ok(Some(LockToken(String::new())))
    }

    async fn unlock(&self, _key: &str, _token: LockToken) -> Result<(), CacheError> {
        Ok(())
    }
}

#[async_trait]
impl LiveState for InProcess {
    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: i64) -> Member {
        Member {
            user: UserId(id),
            display_name: format!("u{id}"),
        }
    }

    #[tokio::test]
    async fn presence_counts_users_not_sockets() {
        let live = InProcess::new();
        let room = RoomCode::from_entropy([2; 10]);
        assert!(live
            .add_connection(&room, ConnectionId(1), member(7))
            .await
            .unwrap());
        assert!(!live
            .add_connection(&room, ConnectionId(2), member(7))
            .await
            .unwrap());
        assert!(live
            .add_connection(&room, ConnectionId(3), member(8))
            .await
            .unwrap());
        assert_eq!(live.viewer_count(&room).await.unwrap(), 2);
        assert!(!live
            .remove_connection(&room, ConnectionId(1), UserId(7))
            .await
            .unwrap());
        assert!(live
            .remove_connection(&room, ConnectionId(2), UserId(7))
            .await
            .unwrap());
        assert!(
            !live
                .remove_connection(&room, ConnectionId(2), UserId(7))
                .await
                .unwrap(),
            "twice is a no-op"
        );
        assert_eq!(live.members(&room).await.unwrap(), vec![member(8)]);
        assert!(live
            .remove_connection(&room, ConnectionId(3), UserId(8))
            .await
            .unwrap());
        assert!(live.live_rooms().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn claims_are_single_use_and_attempts_count() {
        let live = InProcess::new();
        assert!(live
            .claim_once("jti", Duration::from_secs(60))
            .await
            .unwrap());
        assert!(!live
            .claim_once("jti", Duration::from_secs(60))
            .await
            .unwrap());
        assert_eq!(
            live.count_attempt("k", Duration::from_secs(60))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            live.count_attempt("k", Duration::from_secs(60))
                .await
                .unwrap(),
            2
        );
        assert_eq!(live.attempts("k").await.unwrap(), 2);
        live.clear_attempts("k").await.unwrap();
        assert_eq!(live.attempts("k").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_reservation_counts_every_key_or_none() {
        let live = InProcess::new();
        let window = Duration::from_secs(60);
        let counters = [
            Counter {
                key: "wide",
                limit: None,
            },
            Counter {
                key: "narrow",
                limit: Some(2),
            },
        ];
        assert_eq!(live.reserve(&counters, window).await.unwrap(), None);
        assert_eq!(live.reserve(&counters, window).await.unwrap(), None);
        // Full: the second counter refuses and neither counts.
        assert_eq!(live.reserve(&counters, window).await.unwrap(), Some(1));
        assert_eq!(live.attempts("wide").await.unwrap(), 2);
        assert_eq!(live.attempts("narrow").await.unwrap(), 2);
        live.release(&["narrow", "narrow", "narrow"]).await.unwrap();
        assert_eq!(
            live.attempts("narrow").await.unwrap(),
            0,
            "never below zero"
        );
        assert_eq!(live.reserve(&counters, window).await.unwrap(), None);
        assert_eq!(live.attempts("wide").await.unwrap(), 3);
    }

    #[tokio::test]
    async fn racing_reservations_never_pass_the_limit() {
        let live = Arc::new(InProcess::new());
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let live = Arc::clone(&live);
                tokio::spawn(async move {
                    let counters = [Counter {
                        key: "k",
                        limit: Some(5),
                    }];
                    live.reserve(&counters, Duration::from_secs(60)).await
                })
            })
            .collect();
        let mut granted = 0;
        for task in tasks {
            if task.await.unwrap().unwrap().is_none() {
                granted += 1;
            }
        }
        assert_eq!(granted, 5);
    }
}
