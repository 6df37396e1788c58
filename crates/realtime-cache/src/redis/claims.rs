//! Single-use claims in Redis: `SET NX` with the claim's lifetime.

use super::{unavailable, RedisCache};
use crate::{CacheError, Claims};
use async_trait::async_trait;
use fred::prelude::*;
use fred::types::{Expiration, SetOptions};
use std::time::Duration;

#[async_trait]
impl Claims for RedisCache {
    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, CacheError> {
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let set: Option<String> = self
            .shared
            .client
            .set(
                self.shared.keys.claim(key),
                1,
                Some(Expiration::PX(ms)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(unavailable)?;
        Ok(set.is_some())
    }
}
