//! Locks in Redis: `SET NX PX` with a token unique to the taker, released
//! by a script only for that token.

use super::{unavailable, RedisCache};
use crate::{CacheError, LockToken, Locks};
use async_trait::async_trait;
use fred::prelude::*;
use fred::types::{Expiration, SetOptions};
use std::time::Duration;

#[async_trait]
impl Locks for RedisCache {
    async fn lock(
        &self,
        key: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        let shared = &self.shared;
        let n = shared
            .next_token
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = format!("{}:{n}", shared.instance);
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let taken: Option<String> = shared
                .client
                .set(
                    shared.keys.lock(key),
                    token.as_str(),
                    Some(Expiration::PX(ms)),
                    Some(SetOptions::NX),
                    false,
                )
                .await
                .map_err(unavailable)?;
            if taken.is_some() {
                return Ok(Some(LockToken(token)));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn unlock(&self, key: &str, token: LockToken) -> Result<(), CacheError> {
        let shared = &self.shared;
        shared
            .unlock
            .evalsha_with_reload::<(), _, _>(
                &shared.client,
                vec![shared.keys.lock(key)],
                vec![token.0],
            )
            .await
            .map_err(unavailable)
    }
}
