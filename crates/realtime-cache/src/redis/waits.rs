//! The group wait and sync telemetry in Redis: the whole wait as one
//! string (`wait_text.rs`), the canonical `wait`, `ready` and `sync` hashes
//! of contract §6 beside it, and the shared set of wait deadlines.

use super::wait_text::{decode, encode};
use super::{unavailable, RedisCache};
use crate::{CacheError, LiveWait, SyncEntry, Waits};
use async_trait::async_trait;
use fred::prelude::*;
use fred::types::Expiration;
use std::collections::HashMap;
use watchparty_domain::{Millis, ReportedState, RoomCode, UserId, UserReadiness, SYNC_FRESH_MS};

// A room's wait state outlives a quiet room by this much, then expires.
const WAIT_STATE_TTL_MS: i64 = 24 * 3600 * 1000;

fn sync_text(entry: &SyncEntry) -> String {
    // The name goes last: it may hold spaces.
    format!(
        "{} {} {} {} {}",
        entry.drift_ms,
        entry.rtt_ms,
        entry.state.as_str(),
        entry.updated_at.0,
        entry.display_name
    )
}

fn read_sync(user: &str, text: &str) -> Option<SyncEntry> {
    let mut fields = text.splitn(5, ' ');
    let drift_ms = fields.next()?.parse().ok()?;
    let rtt_ms = fields.next()?.parse().ok()?;
    let state = ReportedState::parse(fields.next()?)?;
    let updated_at = Millis(fields.next()?.parse().ok()?);
    let display_name = fields.next().unwrap_or_default().to_owned();
    Some(SyncEntry {
        user: UserId(user.parse().ok()?),
        display_name,
        drift_ms,
        rtt_ms,
        state,
        updated_at,
    })
}

#[async_trait]
impl Waits for RedisCache {
    async fn load_wait(&self, room: &RoomCode) -> Result<LiveWait, CacheError> {
        let shared = &self.shared;
        let text: Option<String> = shared
            .client
            .get(shared.keys.wait_state(room))
            .await
            .map_err(unavailable)?;
        Ok(text.as_deref().and_then(decode).unwrap_or_default())
    }

    async fn store_wait(&self, room: &RoomCode, live: &LiveWait) -> Result<(), CacheError> {
        let shared = &self.shared;
        let keys = &shared.keys;
        let wait = &live.wait;
        let pipe = shared.client.pipeline();
        let expiry = Some(Expiration::PX(WAIT_STATE_TTL_MS));
        let _: () = pipe
            .set(keys.wait_state(room), encode(live), expiry, None, false)
            .await
            .map_err(unavailable)?;
        let _: () = pipe
            .del(vec![keys.wait(room), keys.ready(room)])
            .await
            .map_err(unavailable)?;
        match wait.current() {
            Some(current) => {
                let fields = vec![
                    ("reason", current.reason.as_str().to_owned()),
                    ("deadline", current.deadline.0.to_string()),
                    ("version", live.version.to_string()),
                ];
                let _: () = pipe
                    .hset(keys.wait(room), fields)
                    .await
                    .map_err(unavailable)?;
                let _: () = pipe
                    .zadd(
                        keys.waits_due(),
                        None,
                        None,
                        false,
                        false,
                        (current.deadline.0 as f64, room.as_str()),
                    )
                    .await
                    .map_err(unavailable)?;
            }
            None => {
                let _: () = pipe
                    .zrem(keys.waits_due(), room.as_str())
                    .await
                    .map_err(unavailable)?;
            }
        }
        let mut users: Vec<UserId> = wait.sockets.values().map(|s| s.user).collect();
        users.sort_unstable();
        users.dedup();
        let ready: Vec<(String, &str)> = users
            .into_iter()
            .filter_map(|user| match wait.readiness_of(user) {
                UserReadiness::Ready => Some((user.0.to_string(), "ready")),
                UserReadiness::NotReady => Some((user.0.to_string(), "not_ready")),
                UserReadiness::Unreported => None,
            })
            .collect();
        if !ready.is_empty() {
            let _: () = pipe
                .hset(keys.ready(room), ready)
                .await
                .map_err(unavailable)?;
        }
        pipe.all::<()>().await.map_err(unavailable)
    }

    async fn waits_due(&self, now: Millis) -> Result<Vec<RoomCode>, CacheError> {
        let shared = &self.shared;
        let codes: Vec<String> = shared
            .client
            .zrangebyscore(shared.keys.waits_due(), "-inf", now.0 as f64, false, None)
            .await
            .map_err(unavailable)?;
        Ok(codes
            .iter()
            .filter_map(|code| RoomCode::parse(code).ok())
            .collect())
    }

    async fn forget_wait(&self, room: &RoomCode) -> Result<(), CacheError> {
        let shared = &self.shared;
        let keys = &shared.keys;
        let pipe = shared.client.pipeline();
        let gone = vec![
            keys.wait_state(room),
            keys.wait(room),
            keys.ready(room),
            keys.sync(room),
        ];
        let _: () = pipe.del(gone).await.map_err(unavailable)?;
        let _: () = pipe
            .zrem(keys.waits_due(), room.as_str())
            .await
            .map_err(unavailable)?;
        pipe.all::<()>().await.map_err(unavailable)
    }

    async fn record_sync(&self, room: &RoomCode, entry: SyncEntry) -> Result<(), CacheError> {
        let shared = &self.shared;
        let key = shared.keys.sync(room);
        let pipe = shared.client.pipeline();
        let field = vec![(entry.user.0.to_string(), sync_text(&entry))];
        let _: () = pipe.hset(&key, field).await.map_err(unavailable)?;
        let _: () = pipe
            .pexpire(&key, SYNC_FRESH_MS, None)
            .await
            .map_err(unavailable)?;
        pipe.all::<()>().await.map_err(unavailable)
    }

    async fn sync_entries(
        &self,
        room: &RoomCode,
        now: Millis,
    ) -> Result<Vec<SyncEntry>, CacheError> {
        let shared = &self.shared;
        let all: HashMap<String, String> = shared
            .client
            .hgetall(shared.keys.sync(room))
            .await
            .map_err(unavailable)?;
        let mut entries: Vec<SyncEntry> = all
            .iter()
            .filter_map(|(user, text)| read_sync(user, text))
            .filter(|e| now.0.saturating_sub(e.updated_at.0) < SYNC_FRESH_MS)
            .collect();
        entries.sort_by_key(|e| e.user);
        Ok(entries)
    }
}
