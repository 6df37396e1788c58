//! Rate-limit counters in Redis: one key per counter, expiring with its window.

use super::{unavailable, RedisCache};
use crate::{CacheError, Counter, Limiter};
use async_trait::async_trait;
use fred::prelude::*;
use std::time::Duration;

#[async_trait]
impl Limiter for RedisCache {
    async fn count_attempt(&self, key: &str, window: Duration) -> Result<u64, CacheError> {
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let shared = &self.shared;
        shared
            .count
            .evalsha_with_reload(
                &shared.client,
                vec![shared.keys.attempts(key)],
                vec![ms.to_string()],
            )
            .await
            .map_err(unavailable)
    }

    async fn attempts(&self, key: &str) -> Result<u64, CacheError> {
        let count: Option<u64> = self
            .shared
            .client
            .get(self.shared.keys.attempts(key))
            .await
            .map_err(unavailable)?;
        Ok(count.unwrap_or(0))
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), CacheError> {
        self.shared
            .client
            .del::<(), _>(self.shared.keys.attempts(key))
            .await
            .map_err(unavailable)
    }

    async fn reserve(
        &self,
        counters: &[Counter<'_>],
        window: Duration,
    ) -> Result<Option<usize>, CacheError> {
        let shared = &self.shared;
        let keys: Vec<String> = counters
            .iter()
            .map(|c| shared.keys.attempts(c.key))
            .collect();
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let args: Vec<String> = std::iter::once(ms.to_string())
            .chain(counters.iter().map(|c| match c.limit {
                Some(limit) => limit.to_string(),
                None => "-1".to_owned(),
            }))
            .collect();
        let full: i64 = shared
            .reserve
            .evalsha_with_reload(&shared.client, keys, args)
            .await
            .map_err(unavailable)?;
        Ok(usize::try_from(full)
            .ok()
            .and_then(|index| index.checked_sub(1)))
    }

    async fn release(&self, keys: &[&str]) -> Result<(), CacheError> {
        let shared = &self.shared;
        let keys: Vec<String> = keys.iter().map(|k| shared.keys.attempts(k)).collect();
        shared
            .release
            .evalsha_with_reload::<(), _, _>(&shared.client, keys, Vec::<String>::new())
            .await
            .map_err(unavailable)
    }
}
