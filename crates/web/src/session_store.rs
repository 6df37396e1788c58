//! Server-side sessions held in this process (the single-instance default).

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

type State = HashMap<String, String>;

/// How many sessions the in-memory store keeps. Past either bound the
/// oldest session goes (the one written longest ago): its user is logged
/// out there, which is better than memory growing for as long as sessions
/// last (14 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Sessions in all.
    pub total: usize,
    /// Sessions of one user (browsers and devices logged in at once).
    pub per_user: usize,
}

impl Default for SessionLimits {
    /// A hundred thousand sessions take some tens of MiB; thirty-two
    /// browsers per person is more than anyone uses.
    fn default() -> Self {
        SessionLimits {
            total: 100_000,
            per_user: 32,
        }
    }
}

struct Entry {
    state: State,
    expires: Instant,
    // The raw value of the session's user entry, if logged in.
    user: Option<String>,
    // When it was last written: a larger stamp is newer.
    stamp: u64,
}

#[derive(Default)]
struct Sessions {
    entries: HashMap<String, Entry>,
    // Every session by age, oldest first; and each user's the same way.
    by_age: BTreeMap<u64, String>,
    by_user: HashMap<String, BTreeMap<u64, String>>,
    next_stamp: u64,
    // Expired sessions are swept when there are more than this many.
    sweep_above: usize,
}

impl Sessions {
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.by_age.remove(&entry.stamp);
        if let Some(user) = &entry.user {
            if let Some(mine) = self.by_user.get_mut(user) {
                mine.remove(&entry.stamp);
                if mine.is_empty() {
                    self.by_user.remove(user);
                }
            }
        }
        Some(entry)
    }

    /// Stores `key` as the newest session, then evicts past the limits.
    fn insert(&mut self, key: String, state: State, expires: Instant, limits: SessionLimits) {
        self.remove(&key);
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let user = state.get(crate::extract::USER_KEY).cloned();
        if let Some(user) = &user {
            let mine = self.by_user.entry(user.clone()).or_default();
            mine.insert(stamp, key.clone());
            // The session just written is the newest, so it is never the one to go.
            let surplus = mine.len().saturating_sub(limits.per_user.max(1));
            let oldest: Vec<String> = mine.values().take(surplus).cloned().collect();
            for old in oldest {
                self.remove(&old);
            }
        }
        self.by_age.insert(stamp, key.clone());
        self.entries.insert(
            key,
            Entry {
                state,
                expires,
                user,
                stamp,
            },
        );
        if self.entries.len() > self.sweep_above {
            let now = Instant::now();
            let expired: Vec<String> = self
                .entries
                .iter()
                .filter(|(_, e)| e.expires <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for old in expired {
                self.remove(&old);
            }
            // Doubling keeps sweeping to amortized constant time per write.
            self.sweep_above = (self.entries.len() * 2).max(SWEEP_ABOVE);
        }
        while self.entries.len() > limits.total.max(1) {
            let Some(oldest) = self.by_age.values().next().cloned() else {
                break;
            };
            self.remove(&oldest);
        }
    }
}

// Expired sessions are swept when the map grows past this (at least).
const SWEEP_ABOVE: usize = 1024;

/// Sessions in memory: lost on restart, private to one instance, bounded
/// in total and per user ([`SessionLimits`]).
#[derive(Clone, Default)]
pub struct MemorySessionStore {
    sessions: Arc<Mutex<Sessions>>,
    limits: SessionLimits,
}

impl MemorySessionStore {
    /// A store with limits other than the defaults.
    pub fn with_limits(limits: SessionLimits) -> Self {
        MemorySessionStore {
            sessions: Arc::default(),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sessions held now, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn expiry(ttl: &Duration) -> Instant {
    let secs = u64::try_from(ttl.whole_seconds()).unwrap_or(0);
    Instant::now() + std::time::Duration::from_secs(secs)
}

fn new_key() -> Result<SessionKey, anyhow::Error> {
    // Two v4 UUIDs: 244 bits from the OS random source, 64 characters.
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    SessionKey::try_from(key).map_err(anyhow::Error::from)
}

impl SessionStore for MemorySessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let mut sessions = self.lock();
        match sessions.entries.get(key.as_ref()) {
            Some(entry) if entry.expires > Instant::now() => Ok(Some(entry.state.clone())),
            Some(_) => {
                sessions.remove(key.as_ref());
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_key().map_err(SaveError::Other)?;
        self.lock()
            .insert(key.as_ref().to_owned(), state, expiry(ttl), self.limits);
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        // The lock is released before `save` is awaited.
        let unknown = {
            let mut sessions = self.lock();
            if sessions.entries.contains_key(key.as_ref()) {
                sessions.insert(key.as_ref().to_owned(), state, expiry(ttl), self.limits);
                None
            } else {
                Some(state)
            }
        };
        match unknown {
            None => Ok(key),
            Some(state) => self
                .save(state, ttl)
                .await
                .map_err(|e| UpdateError::Other(anyhow::anyhow!(e.to_string()))),
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        if let Some(entry) = self.lock().entries.get_mut(key.as_ref()) {
            entry.expires = expiry(ttl);
        }
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.lock().remove(key.as_ref());
        Ok(())
    }
}

/// Any session store, with every call bounded: a store that stops answering
/// fails the request quickly instead of holding it.
#[derive(Clone)]
pub struct BoundedStore<S> {
    inner: S,
    limit: std::time::Duration,
}

impl<S> BoundedStore<S> {
    /// Wraps `inner`; each call may take at most `limit`.
    pub fn new(inner: S, limit: std::time::Duration) -> Self {
        BoundedStore { inner, limit }
    }

    async fn bounded<T, E>(
        &self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, anyhow::Error>
    where
        E: Into<anyhow::Error>,
    {
        match tokio::time::timeout(self.limit, call).await {
            Ok(result) => result.map_err(Into::into),
            Err(_) => Err(anyhow::anyhow!("the session store did not answer in time")),
        }
    }
}

impl<S: SessionStore> SessionStore for BoundedStore<S> {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        self.bounded(self.inner.load(key))
            .await
            .map_err(LoadError::Other)
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        self.bounded(self.inner.save(state, ttl))
            .await
            .map_err(SaveError::Other)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        self.bounded(self.inner.update(key, state, ttl))
            .await
            .map_err(UpdateError::Other)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        self.bounded(self.inner.update_ttl(key, ttl)).await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.bounded(self.inner.delete(key)).await
    }
}

/// Makes a fresh session store (a new connection to Redis).
pub type Connect<S> =
    Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, anyhow::Result<S>> + Send + Sync>;

/// A session store that starts over with a fresh one after a failure. The
/// Redis store's own connection manager retries with a back-off that grows to
/// minutes, and sessions would fail all that while after Redis is back: here
/// the first failure starts one reconnection in the background, and the
/// next request after it succeeded uses the new store.
#[derive(Clone)]
pub struct Reconnecting<S> {
    current: Arc<std::sync::RwLock<S>>,
    connect: Connect<S>,
    reconnecting: Arc<std::sync::atomic::AtomicBool>,
}

impl<S: Clone + Send + Sync + 'static> Reconnecting<S> {
    /// Serves from `first`, and from what `connect` makes after a failure.
    pub fn new(first: S, connect: Connect<S>) -> Self {
        Reconnecting {
            current: Arc::new(std::sync::RwLock::new(first)),
            connect,
            reconnecting: Arc::default(),
        }
    }

    fn store(&self) -> S {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Passes `result` on; a failure starts a reconnection unless one runs.
    fn watch<T, E>(&self, result: Result<T, E>) -> Result<T, E> {
        use std::sync::atomic::Ordering;
        if result.is_err() && !self.reconnecting.swap(true, Ordering::SeqCst) {
            let (current, connect, flag) = (
                Arc::clone(&self.current),
                Arc::clone(&self.connect),
                Arc::clone(&self.reconnecting),
            );
            tokio::spawn(async move {
                match connect().await {
                    Ok(fresh) => *current.write().unwrap_or_else(|p| p.into_inner()) = fresh,
                    Err(e) => tracing::warn!(error = %e, "the session store is still away"),
                }
                flag.store(false, Ordering::SeqCst);
            });
        }
        result
    }
}

impl<S: SessionStore + Clone + Send + Sync + 'static> SessionStore for Reconnecting<S> {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let result = self.store().load(key).await;
        self.watch(result)
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let result = self.store().save(state, ttl).await;
        self.watch(result)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let result = self.store().update(key, state, ttl).await;
        self.watch(result)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let result = self.store().update_ttl(key, ttl).await;
        self.watch(result)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let result = self.store().delete(key).await;
        self.watch(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl() -> Duration {
        Duration::days(14)
    }

    fn of(user: Option<i64>) -> State {
        let mut state = State::new();
        if let Some(user) = user {
            state.insert(crate::extract::USER_KEY.to_owned(), user.to_string());
        }
        state
    }

    async fn alive(store: &MemorySessionStore, key: &SessionKey) -> bool {
        store.load(key).await.unwrap().is_some()
    }

    #[tokio::test]
    async fn one_user_keeps_only_their_newest_sessions() {
        let store = MemorySessionStore::with_limits(SessionLimits {
            total: 100,
            per_user: 3,
        });
        let mut ana = Vec::new();
        for _ in 0..5 {
            ana.push(store.save(of(Some(7)), &ttl()).await.unwrap());
        }
        let bob = store.save(of(Some(8)), &ttl()).await.unwrap();
        let kept: Vec<bool> =
            futures_util::future::join_all(ana.iter().map(|k| alive(&store, k))).await;
        assert_eq!(
            kept,
            [false, false, true, true, true],
            "the two oldest went"
        );
        assert!(alive(&store, &bob).await, "another user's session stays");
        assert_eq!(store.len(), 4);
        // Writing a session makes it the newest: the next one evicts another.
        let touched = SessionKey::try_from(ana[2].as_ref().to_owned()).unwrap();
        let touched = store.update(touched, of(Some(7)), &ttl()).await.unwrap();
        store.save(of(Some(7)), &ttl()).await.unwrap();
        assert!(alive(&store, &touched).await);
        assert!(!alive(&store, &ana[3]).await);
    }

    #[tokio::test]
    async fn the_store_keeps_only_the_newest_sessions_in_all() {
        let store = MemorySessionStore::with_limits(SessionLimits {
            total: 3,
            per_user: 10,
        });
        let mut keys = Vec::new();
        for user in [Some(1), None, Some(2), Some(3), None] {
            keys.push(store.save(of(user), &ttl()).await.unwrap());
        }
        assert_eq!(store.len(), 3);
        let mut kept = Vec::new();
        for key in &keys {
            kept.push(alive(&store, key).await);
        }
        assert_eq!(kept, [false, false, true, true, true]);
        // Deleting keeps the indexes right: the next save evicts nobody.
        store.delete(&keys[4]).await.unwrap();
        let fresh = store.save(of(Some(4)), &ttl()).await.unwrap();
        assert!(alive(&store, &keys[2]).await && alive(&store, &fresh).await);
        assert_eq!(store.len(), 3);
    }

    #[tokio::test]
    async fn a_flood_of_sessions_stays_within_the_bound() {
        let limits = SessionLimits {
            total: 1_000,
            per_user: 5,
        };
        let store = MemorySessionStore::with_limits(limits);
        for i in 0..20_000 {
            store.save(of(Some(i % 50)), &ttl()).await.unwrap();
        }
        assert_eq!(store.len(), 250, "50 users, 5 sessions each");
        for i in 0..20_000 {
            store.save(of(Some(1_000 + i)), &ttl()).await.unwrap();
        }
        assert_eq!(store.len(), 1_000);
        let sessions = store.lock();
        assert_eq!(sessions.by_age.len(), 1_000);
        assert!(sessions.by_user.values().all(|mine| mine.len() <= 5));
    }
}
