//! The realtime cache in Redis, shared by every instance (production mode).
//!
//! Presence is kept per connection, tagged with the instance that holds it.
//! Each instance renews a lease (`lease.rs`); connections of an instance
//! whose lease ran out (it was killed) are reaped by the others
//! (`presence.rs`). Room events travel over one pub/sub channel per room,
//! subscribed once per instance (`bus.rs`, encoded by `wire.rs`). Every
//! command has a timeout and the command queue is bounded, so an outage
//! fails requests quickly instead of holding them; after a reconnect this
//! instance writes back the live state of its own sockets (`mirror.rs`).
//! The Lua scripts are in `scripts/`; every key is spelled in `keys.rs`.

mod bus;
mod claims;
mod lease;
mod limits;
mod locks;
mod mirror;
mod presence;
mod projection;
mod stamps;
mod wait_text;
mod waits;
mod wire;

use crate::keys::Keys;
use crate::{BroadcastSink, CacheError, RealtimeCache};
use async_trait::async_trait;
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::scripts::Script;
use mirror::Mirror;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://…`
    pub url: String,
    /// Prefix of every key (`WATCHPARTY_REDIS_PREFIX`).
    pub prefix: String,
    /// Longest wait for any one command.
    pub command_timeout: Duration,
    /// How long an instance's connections outlive its last lease renewal.
    pub lease: Duration,
}

fn unavailable(e: fred::error::Error) -> CacheError {
    if *e.kind() == fred::error::ErrorKind::Timeout {
        CacheError::Timeout
    } else {
        CacheError::Unavailable(e.to_string())
    }
}

struct Shared {
    client: Client,
    subscriber: SubscriberClient,
    keys: Keys,
    instance: String,
    lease: Duration,
    sink: Arc<dyn BroadcastSink>,
    mirror: Mutex<Mirror>,
    add: Script,
    remove: Script,
    count: Script,
    reserve: Script,
    release: Script,
    unlock: Script,
    bump: Script,
    next_token: AtomicU64,
}

/// The realtime cache in Redis.
#[derive(Clone)]
pub struct RedisCache {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("instance", &self.shared.instance)
            .finish()
    }
}

/// How long start-up waits for Redis before giving up.
pub const STARTUP_WAIT: Duration = Duration::from_secs(5);

impl RedisCache {
    /// Connects (failing after `STARTUP_WAIT`, 5 s, if Redis does not answer) and
    /// starts this instance's lease, receive loop and reconnect handling.
    /// The broadcasts of the rooms this instance subscribes to go to `sink`.
    pub async fn connect(
        settings: RedisSettings,
        sink: Arc<dyn BroadcastSink>,
    ) -> Result<Self, CacheError> {
        let config = Config::from_url(&settings.url).map_err(unavailable)?;
        let address = match &config.server {
            ServerConfig::Centralized { server } => format!("{}:{}", server.host, server.port),
            other => format!("{:?}", other.hosts()),
        };
        let unreachable = |cause: String| CacheError::Unreachable {
            address: address.clone(),
            cause,
        };
        // A plain TCP connect first: its failures (refused, no route, no
        // answer) read better than the client library's.
        if let ServerConfig::Centralized { server } = &config.server {
            let target = (server.host.to_string(), server.port);
            match tokio::time::timeout(STARTUP_WAIT, tokio::net::TcpStream::connect(target)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(unreachable(e.to_string())),
                Err(_) => {
                    return Err(unreachable(format!(
                        "no answer within {} s",
                        STARTUP_WAIT.as_secs()
                    )))
                }
            }
        }
        let timeout = settings.command_timeout;
        let mut builder = Builder::from_config(config);
        builder
            .with_performance_config(|perf| {
                perf.default_command_timeout = timeout;
                perf.broadcast_channel_capacity = 65_536;
            })
            .with_connection_config(|conn| {
                conn.connection_timeout = timeout;
                conn.internal_command_timeout = timeout;
                conn.max_command_attempts = 2;
                // A bounded queue: during an outage, commands fail instead of piling up.
                conn.max_command_buffer_len = 10_000;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
        let client = builder.build().map_err(unavailable)?;
        let subscriber = builder.build_subscriber_client().map_err(unavailable)?;
        let both = async { tokio::try_join!(client.init(), subscriber.init()) };
        match tokio::time::timeout(STARTUP_WAIT, both).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(unreachable(e.details().to_owned())),
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {} s",
                    STARTUP_WAIT.as_secs()
                )))
            }
        }
        let instance: String = format!("{:016x}", rand_u64());
        let shared = Arc::new(Shared {
            client,
            subscriber,
            keys: Keys::new(&settings.prefix),
            instance,
            lease: settings.lease,
            sink,
            mirror: Mutex::new(Mirror::default()),
            add: Script::from_lua(include_str!("scripts/add.lua")),
            remove: Script::from_lua(include_str!("scripts/remove.lua")),
            count: Script::from_lua(include_str!("scripts/count.lua")),
            reserve: Script::from_lua(include_str!("scripts/reserve.lua")),
            release: Script::from_lua(include_str!("scripts/release.lua")),
            unlock: Script::from_lua(include_str!("scripts/unlock.lua")),
            bump: Script::from_lua(include_str!("scripts/bump.lua")),
            next_token: AtomicU64::new(1),
        });
        shared.renew_lease().await?;
        // Both return handles of tasks that run for the life of the client.
        drop(shared.subscriber.manage_subscriptions());
        tokio::spawn(bus::receive(
            Arc::downgrade(&shared),
            shared.subscriber.message_rx(),
        ));
        tokio::spawn(lease::renew(Arc::downgrade(&shared)));
        let weak = Arc::downgrade(&shared);
        drop(shared.client.on_reconnect(move |_| {
            let weak = weak.clone();
            async move {
                if let Some(shared) = weak.upgrade() {
                    shared.restore().await;
                }
                Ok(())
            }
        }));
        Ok(RedisCache { shared })
    }

    /// This instance's id, as its lease and connections carry it.
    pub fn instance(&self) -> &str {
        &self.shared.instance
    }
}

fn rand_u64() -> u64 {
    // Instance ids only need to differ between live instances.
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now()))
}

#[async_trait]
impl RealtimeCache for RedisCache {
    async fn ping(&self) -> Result<(), CacheError> {
        self.shared
            .client
            .ping::<()>(None)
            .await
            .map_err(unavailable)
    }
}
