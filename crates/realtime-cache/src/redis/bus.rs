//! The bus in Redis: one pub/sub channel per room, subscribed once per instance.

use super::wire::{decode, encode};
use super::{unavailable, RedisCache, Shared};
use crate::{Broadcast, Bus, CacheError};
use async_trait::async_trait;
use fred::prelude::*;
use std::sync::Weak;
use tokio::sync::broadcast::error::RecvError;
use watchparty_domain::RoomCode;

/// Hands every received broadcast to this instance's sockets.
pub(super) async fn receive(
    shared: Weak<Shared>,
    mut rx: tokio::sync::broadcast::Receiver<fred::types::Message>,
) {
    loop {
        let message = match rx.recv().await {
            Ok(message) => message,
            Err(RecvError::Lagged(missed)) => {
                // Pub/sub is at most once anyway; a client that missed an
                // event is corrected by the next state it receives.
                tracing::warn!(
                    missed,
                    "room events dropped: this instance fell behind Redis"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let room = shared.keys.room_of_channel(&message.channel);
        let broadcast = message.value.into_bytes().and_then(decode);
        if let (Some(room), Some(broadcast)) = (room, broadcast) {
            shared.sink.deliver(&room, &broadcast);
        }
    }
}

#[async_trait]
impl Bus for RedisCache {
    async fn subscribe(&self, room: &RoomCode) -> Result<(), CacheError> {
        self.shared.mirror().rooms.entry(room.clone()).or_default();
        let channel = self.shared.keys.events(room);
        self.shared
            .subscriber
            .subscribe(channel)
            .await
            .map_err(unavailable)
    }

    async fn unsubscribe(&self, room: &RoomCode) -> Result<(), CacheError> {
        let channel = self.shared.keys.events(room);
        self.shared
            .subscriber
            .unsubscribe(channel)
            .await
            .map_err(unavailable)
    }

    async fn publish(&self, room: &RoomCode, broadcast: Broadcast) -> Result<(), CacheError> {
        let channel = self.shared.keys.events(room);
        self.shared
            .client
            .publish::<(), _, _>(channel, encode(&broadcast))
            .await
            .map_err(unavailable)
    }
}
