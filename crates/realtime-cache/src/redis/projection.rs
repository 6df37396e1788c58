//! The projection in Redis: the canonical `state` and `host` keys of
//! contract §6, written for other tools; sync telemetry reads `state` back.

use super::{unavailable, RedisCache, Shared};
use crate::{CacheError, HostStatus, Projection};
use async_trait::async_trait;
use fred::prelude::*;
use fred::types::Expiration;
use std::collections::HashMap;
use watchparty_domain::{ItemId, Millis, PlaybackState, Position, Rate, RoomCode};

// Cached room state outlives its last socket by this much, then expires.
const ROOM_CACHE_TTL_MS: i64 = 24 * 3600 * 1000;

fn host_text(status: HostStatus) -> &'static str {
    match status {
        HostStatus::Online => "online",
        HostStatus::Grace => "grace",
        HostStatus::Offline => "offline",
    }
}

impl Shared {
    pub(super) async fn write_playback(
        &self,
        room: &RoomCode,
        playback: PlaybackState,
    ) -> Result<(), CacheError> {
        let key = self.keys.state(room);
        let mut fields = vec![
            (
                "is_playing",
                if playback.is_playing {
                    "1".to_owned()
                } else {
                    "0".to_owned()
                },
            ),
            ("time", playback.position.seconds().to_string()),
            ("updated_at", playback.updated_at.0.to_string()),
            ("rate", playback.rate.get().to_string()),
            ("version", playback.version.to_string()),
        ];
        let pipe = self.client.pipeline();
        // No current item: no `item_id` field at all.
        match playback.item {
            Some(item) => fields.push(("item_id", item.0.to_string())),
            None => {
                let _: () = pipe.hdel(&key, "item_id").await.map_err(unavailable)?;
            }
        }
        let _: () = pipe.hset(&key, fields).await.map_err(unavailable)?;
        let _: () = pipe
            .pexpire(&key, ROOM_CACHE_TTL_MS, None)
            .await
            .map_err(unavailable)?;
        pipe.all::<()>().await.map_err(unavailable)
    }

    pub(super) async fn write_host(
        &self,
        room: &RoomCode,
        status: HostStatus,
    ) -> Result<(), CacheError> {
        let expiry = Some(Expiration::PX(ROOM_CACHE_TTL_MS));
        self.client
            .set::<(), _, _>(self.keys.host(room), host_text(status), expiry, None, false)
            .await
            .map_err(unavailable)
    }
}

/// Reads the `state` hash back; `None` when any field is missing or odd.
fn read_playback(fields: &HashMap<String, String>) -> Option<PlaybackState> {
    let field = |name: &str| fields.get(name).map(String::as_str);
    Some(PlaybackState {
        is_playing: field("is_playing")? == "1",
        position: Position::new(field("time")?.parse().ok()?).ok()?,
        updated_at: Millis(field("updated_at")?.parse().ok()?),
        rate: Rate::new(field("rate")?.parse().ok()?).ok()?,
        version: field("version")?.parse().ok()?,
        item: match field("item_id") {
            Some(id) => Some(ItemId(id.parse().ok()?)),
            None => None,
        },
    })
}

#[async_trait]
impl Projection for RedisCache {
    async fn playback(&self, room: &RoomCode) -> Result<Option<PlaybackState>, CacheError> {
        let fields: HashMap<String, String> = self
            .shared
            .client
            .hgetall(self.shared.keys.state(room))
            .await
            .map_err(unavailable)?;
        Ok(read_playback(&fields))
    }

    async fn set_playback(
        &self,
        room: &RoomCode,
        playback: PlaybackState,
    ) -> Result<(), CacheError> {
        if let Some(entry) = self.shared.mirror().rooms.get_mut(room) {
            entry.0 = Some(playback);
        }
        self.shared.write_playback(room, playback).await
    }

    async fn set_host_status(&self, room: &RoomCode, status: HostStatus) -> Result<(), CacheError> {
        // Only rooms with local sockets are mirrored (the entry exists from
        // `subscribe` until the last local socket leaves).
        if let Some(entry) = self.shared.mirror().rooms.get_mut(room) {
            entry.1 = Some(status);
        }
        self.shared.write_host(room, status).await
    }

    async fn forget_room(&self, room: &RoomCode) -> Result<(), CacheError> {
        self.shared.mirror().rooms.remove(room);
        let keys = vec![self.shared.keys.state(room), self.shared.keys.host(room)];
        self.shared
            .client
            .del::<(), _>(keys)
            .await
            .map_err(unavailable)
    }
}
