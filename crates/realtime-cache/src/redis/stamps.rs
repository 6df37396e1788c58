//! Room stamps in Redis: one counter per room, bumped with its lifetime.

use super::{unavailable, RedisCache};
use crate::stamps::STAMP_LIFETIME;
use crate::{CacheError, Stamps};
use async_trait::async_trait;
use fred::prelude::*;
use watchparty_domain::RoomCode;

#[async_trait]
impl Stamps for RedisCache {
    async fn bump_stamp(&self, room: &RoomCode) -> Result<u64, CacheError> {
        let shared = &self.shared;
        let ms = STAMP_LIFETIME.as_millis().to_string();
        shared
            .bump
            .evalsha_with_reload(&shared.client, vec![shared.keys.stamp(room)], vec![ms])
            .await
            .map_err(unavailable)
    }

    async fn stamp(&self, room: &RoomCode) -> Result<u64, CacheError> {
        let stamp: Option<u64> = self
            .shared
            .client
            .get(self.shared.keys.stamp(room))
            .await
            .map_err(unavailable)?;
        Ok(stamp.unwrap_or(0))
    }
}
