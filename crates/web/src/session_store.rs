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
