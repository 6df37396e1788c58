//! Server-side sessions held in this process (the single-instance default).

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

type State = HashMap<String, String>;

// Expired sessions are swept when the map grows past this.
const SWEEP_ABOVE: usize = 1024;

/// Sessions in memory: lost on restart, private to one instance.
#[derive(Clone, Default)]
pub struct MemorySessionStore {
    sessions: Arc<Mutex<HashMap<String, (State, Instant)>>>,
}

impl MemorySessionStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, (State, Instant)>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
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
        match sessions.get(key.as_ref()) {
            Some((state, expires)) if *expires > Instant::now() => Ok(Some(state.clone())),
            Some(_) => {
                sessions.remove(key.as_ref());
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_key().map_err(SaveError::Other)?;
        let mut sessions = self.lock();
        if sessions.len() > SWEEP_ABOVE {
            let now = Instant::now();
            sessions.retain(|_, (_, expires)| *expires > now);
        }
        sessions.insert(key.as_ref().to_owned(), (state, expiry(ttl)));
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
            match sessions.get_mut(key.as_ref()) {
                Some(entry) => {
                    *entry = (state, expiry(ttl));
                    None
                }
                None => Some(state),
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
        if let Some(entry) = self.lock().get_mut(key.as_ref()) {
            entry.1 = expiry(ttl);
        }
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.lock().remove(key.as_ref());
        Ok(())
    }
}

/// The session state loaded when the store did not answer: requests that need
/// a login are answered 503 instead of 401 (see `routes::logged_in`).
pub(crate) const STORE_UNAVAILABLE: &str = "__store_unavailable";

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
