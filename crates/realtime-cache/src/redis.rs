//! Live state in Redis, shared by every instance (production mode).
//!
//! Presence is kept per connection, tagged with the instance that holds it.
//! Each instance renews a lease; connections of an instance whose lease ran
//! out (it was killed) are reaped by the others. Room events travel over one
//! pub/sub channel per room, subscribed once per instance. Every command has
//! a timeout and the command queue is bounded, so an outage fails requests
//! quickly instead of holding them; after a reconnect this instance writes
//! back the live state of its own sockets.

use crate::keys::Keys;
use crate::LockToken;
use crate::{
    Broadcast, BroadcastSink, CacheError, Claims, Counter, Departed, Fanout, HostStatus, LiveRooms,
    LiveState, Member, Presence, RoomCache,
};
use async_trait::async_trait;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use watchparty_domain::{ConnectionId, Millis, PlaybackState, Position, RoomCode, UserId};

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

// Registers a connection. KEYS: conns, counts, names, participants, live.
// ARGV: conn, user, name, instance, code. Returns 0 (known), 1 (user's first), 2.
const ADD: &str = r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[4] .. '|' .. ARGV[2]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[5])
if n == 1 then return 1 end
return 2";

// Forgets a connection. Same KEYS; ARGV: conn, user, code.
// Returns 0 (unknown), 1 (user's last), 2.
const REMOVE: &str = r"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
local n = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if n > 0 then return 2 end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('SREM', KEYS[4], ARGV[2])
if redis.call('SCARD', KEYS[4]) == 0 then redis.call('SREM', KEYS[5], ARGV[3]) end
return 1";

// Counts an attempt in a window that starts with the first one.
const COUNT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n";

// Counts an attempt under every key, unless one with a limit is full: the
// check and the counting in one step, so racing attempts cannot all pass.
// KEYS: counters. ARGV: window (ms), then each key's limit (-1: none).
// Returns 0 when counted, else the 1-based index of the first full key.
const RESERVE: &str = r"
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 1])
  if limit >= 0 and tonumber(redis.call('GET', key) or '0') >= limit then return i end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0";

// Takes one attempt back under each key, never below zero.
const RELEASE: &str = r"
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0";

// Releases a lock only for the holder that took it.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

// Cached room state outlives its last socket by this much, then expires.
const ROOM_CACHE_TTL_MS: i64 = 24 * 3600 * 1000;

fn unavailable(e: fred::error::Error) -> CacheError {
    if *e.kind() == fred::error::ErrorKind::Timeout {
        CacheError::Timeout
    } else {
        CacheError::Unavailable(e.to_string())
    }
}

/// What this instance wrote, so it can write it again after Redis restarts.
#[derive(Default)]
struct Mirror {
    conns: HashMap<ConnectionId, (RoomCode, Member)>,
    rooms: HashMap<RoomCode, (Option<PlaybackState>, Option<HostStatus>)>,
}

struct Shared {
    client: Client,
    subscriber: SubscriberClient,
    keys: Keys,
    instance: String,
    lease: Duration,
    sink: OnceLock<Arc<dyn BroadcastSink>>,
    mirror: Mutex<Mirror>,
    add: Script,
    remove: Script,
    count: Script,
    reserve: Script,
    release: Script,
    unlock: Script,
    next_token: std::sync::atomic::AtomicU64,
}

/// Live state in Redis.
#[derive(Clone)]
pub struct RedisLiveState {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisLiveState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLiveState")
            .field("instance", &self.shared.instance)
            .finish()
    }
}

/// A broadcast on the wire: version, the excluded connection (0: none), the
/// close code (0: none), then the payload.
fn encode(broadcast: &Broadcast) -> Bytes {
    let mut out = BytesMut::with_capacity(11 + broadcast.payload.len());
    out.put_u8(1);
    out.put_u64(broadcast.except.map_or(0, |c| c.0));
    out.put_u16(broadcast.then_close.unwrap_or(0));
    out.put_slice(&broadcast.payload);
    out.freeze()
}

fn decode(mut bytes: Bytes) -> Option<Broadcast> {
    if bytes.len() < 11 || bytes.get_u8() != 1 {
        return None;
    }
    let except = bytes.get_u64();
    let close = bytes.get_u16();
    Some(Broadcast {
        payload: bytes,
        except: (except != 0).then_some(ConnectionId(except)),
        then_close: (close != 0).then_some(close),
    })
}

fn host_text(status: HostStatus) -> &'static str {
    match status {
        HostStatus::Online => "online",
        HostStatus::Grace => "grace",
        HostStatus::Offline => "offline",
    }
}

/// How long start-up waits for Redis before giving up.
pub const STARTUP_WAIT: Duration = Duration::from_secs(5);

impl RedisLiveState {
    /// Connects (failing after [`STARTUP_WAIT`] if Redis does not answer) and
    /// starts this instance's lease, receive loop and reconnect handling.
    pub async fn connect(settings: RedisSettings) -> Result<Self, CacheError> {
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
            sink: OnceLock::new(),
            mirror: Mutex::new(Mirror::default()),
            add: Script::from_lua(ADD),
            remove: Script::from_lua(REMOVE),
            count: Script::from_lua(COUNT),
            reserve: Script::from_lua(RESERVE),
            release: Script::from_lua(RELEASE),
            unlock: Script::from_lua(UNLOCK),
            next_token: std::sync::atomic::AtomicU64::new(1),
        });
        shared.renew_lease().await?;
        // Both return handles of tasks that run for the life of the client.
        drop(shared.subscriber.manage_subscriptions());
        tokio::spawn(receive(
            Arc::downgrade(&shared),
            shared.subscriber.message_rx(),
        ));
        tokio::spawn(renew(Arc::downgrade(&shared)));
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
        Ok(RedisLiveState { shared })
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

/// Hands every received broadcast to this instance's sockets.
async fn receive(
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
        if let (Some(room), Some(broadcast), Some(sink)) = (room, broadcast, shared.sink.get()) {
            sink.deliver(&room, &broadcast);
        }
    }
}

/// Renews the lease until the instance is gone.
async fn renew(shared: Weak<Shared>) {
    loop {
        let Some(period) = shared.upgrade().map(|s| s.lease / 4) else {
            return;
        };
        tokio::time::sleep(period).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(e) = shared.renew_lease().await {
            tracing::warn!(error = %e, "cannot renew this instance's Redis lease");
        }
    }
}

impl Shared {
    fn mirror(&self) -> MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn renew_lease(&self) -> Result<(), CacheError> {
        let ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        self.client
            .set::<(), _, _>(
                self.keys.lease(&self.instance),
                1,
                Some(Expiration::PX(ms)),
                None,
                false,
            )
            .await
            .map_err(unavailable)
    }

    fn presence_keys(&self, room: &RoomCode) -> Vec<String> {
        vec![
            self.keys.conns(room),
            self.keys.counts(room),
            self.keys.names(room),
            self.keys.participants(room),
            self.keys.live_rooms(),
        ]
    }

    async fn add(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        member: &Member,
    ) -> Result<i64, CacheError> {
        let args = vec![
            conn.0.to_string(),
            member.user.0.to_string(),
            member.display_name.clone(),
            self.instance.clone(),
            room.to_string(),
        ];
        self.add
            .evalsha_with_reload(&self.client, self.presence_keys(room), args)
            .await
            .map_err(unavailable)
    }

    async fn remove(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        user: UserId,
    ) -> Result<i64, CacheError> {
        let args = vec![conn.0.to_string(), user.0.to_string(), room.to_string()];
        self.remove
            .evalsha_with_reload(&self.client, self.presence_keys(room), args)
            .await
            .map_err(unavailable)
    }

    async fn write_playback(
        &self,
        room: &RoomCode,
        playback: PlaybackState,
    ) -> Result<(), CacheError> {
        let key = self.keys.state(room);
        let fields = vec![
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
        ];
        let pipe = self.client.pipeline();
        let _: () = pipe.hset(&key, fields).await.map_err(unavailable)?;
        let _: () = pipe
            .pexpire(&key, ROOM_CACHE_TTL_MS, None)
            .await
            .map_err(unavailable)?;
        pipe.all::<()>().await.map_err(unavailable)
    }

    async fn write_host(&self, room: &RoomCode, status: HostStatus) -> Result<(), CacheError> {
        let expiry = Some(Expiration::PX(ROOM_CACHE_TTL_MS));
        self.client
            .set::<(), _, _>(self.keys.host(room), host_text(status), expiry, None, false)
            .await
            .map_err(unavailable)
    }

    /// Writes back what this instance knows after Redis came back (possibly empty).
    async fn restore(&self) {
        let (conns, rooms) = {
            let mirror = self.mirror();
            let conns: Vec<_> = mirror
                .conns
                .iter()
                .map(|(c, (r, m))| (*c, r.clone(), m.clone()))
                .collect();
            let rooms: Vec<_> = mirror
                .rooms
                .iter()
                .map(|(r, state)| (r.clone(), *state))
                .collect();
            (conns, rooms)
        };
        let mut failures = 0usize;
        if self.renew_lease().await.is_err() {
            failures += 1;
        }
        for (conn, room, member) in &conns {
            if self.add(room, *conn, member).await.is_err() {
                failures += 1;
            }
        }
        for (room, (playback, host)) in rooms {
            if let Some(playback) = playback {
                failures += usize::from(self.write_playback(&room, playback).await.is_err());
            }
            if let Some(host) = host {
                failures += usize::from(self.write_host(&room, host).await.is_err());
            }
        }
        tracing::info!(
            sockets = conns.len(),
            failures,
            "live state written back to Redis after a reconnect"
        );
    }
}

#[async_trait]
impl Presence for RedisLiveState {
    async fn add_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        member: Member,
    ) -> Result<bool, CacheError> {
        let shared = &self.shared;
        let outcome = shared.add(room, conn, &member).await;
        shared.mirror().conns.insert(conn, (room.clone(), member));
        Ok(outcome? == 1)
    }

    async fn remove_connection(
        &self,
        room: &RoomCode,
        conn: ConnectionId,
        user: UserId,
    ) -> Result<bool, CacheError> {
        let shared = &self.shared;
        {
            let mut mirror = shared.mirror();
            mirror.conns.remove(&conn);
            if !mirror.conns.values().any(|(r, _)| r == room) {
                mirror.rooms.remove(room);
            }
        }
        Ok(shared.remove(room, conn, user).await? == 1)
    }

    async fn members(&self, room: &RoomCode) -> Result<Vec<Member>, CacheError> {
        let names: HashMap<String, String> = self
            .shared
            .client
            .hgetall(self.shared.keys.names(room))
            .await
            .map_err(unavailable)?;
        let mut members: Vec<Member> = names
            .into_iter()
            .filter_map(|(user, display_name)| {
                Some(Member {
                    user: UserId(user.parse().ok()?),
                    display_name,
                })
            })
            .collect();
        members.sort_by_key(|m| m.user);
        Ok(members)
    }

    async fn is_connected(&self, room: &RoomCode, user: UserId) -> Result<bool, CacheError> {
        let key = self.shared.keys.counts(room);
        self.shared
            .client
            .hexists(key, user.0.to_string())
            .await
            .map_err(unavailable)
    }

    async fn reap_departed(&self) -> Result<Vec<Departed>, CacheError> {
        let shared = &self.shared;
        let client = &shared.client;
        let live: Vec<String> = client
            .smembers(shared.keys.live_rooms())
            .await
            .map_err(unavailable)?;
        let mut alive: HashMap<String, bool> = HashMap::from([(shared.instance.clone(), true)]);
        let mut departed = Vec::new();
        for code in live {
            let Ok(room) = RoomCode::parse(&code) else {
                continue;
            };
            let conns: HashMap<String, String> = client
                .hgetall(shared.keys.conns(&room))
                .await
                .map_err(unavailable)?;
            for (conn, owner) in conns {
                let Some((instance, user)) = owner.split_once('|') else {
                    continue;
                };
                let (Ok(conn), Ok(user)) =
                    (conn.parse().map(ConnectionId), user.parse().map(UserId))
                else {
                    continue;
                };
                let is_alive = match alive.get(instance) {
                    Some(known) => *known,
                    None => {
                        let exists: bool = client
                            .exists(shared.keys.lease(instance))
                            .await
                            .map_err(unavailable)?;
                        alive.insert(instance.to_owned(), exists);
                        exists
                    }
                };
                if is_alive {
                    continue;
                }
                let name: Option<String> = client
                    .hget(shared.keys.names(&room), user.0.to_string())
                    .await
                    .map_err(unavailable)?;
                // Only the instance whose removal succeeds reports it.
                match shared.remove(&room, conn, user).await? {
                    0 => {}
                    outcome => departed.push(Departed {
                        room: room.clone(),
                        user,
                        display_name: name.unwrap_or_default(),
                        last_of_user: outcome == 1,
                    }),
                }
            }
        }
        Ok(departed)
    }
}

#[async_trait]
impl LiveRooms for RedisLiveState {
    async fn live_rooms(&self) -> Result<Vec<(RoomCode, u64)>, CacheError> {
        let shared = &self.shared;
        let codes: Vec<String> = shared
            .client
            .smembers(shared.keys.live_rooms())
            .await
            .map_err(unavailable)?;
        let rooms: Vec<RoomCode> = codes
            .iter()
            .filter_map(|c| RoomCode::parse(c).ok())
            .collect();
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let pipe = shared.client.pipeline();
        for room in &rooms {
            let _: () = pipe
                .scard(shared.keys.participants(room))
                .await
                .map_err(unavailable)?;
        }
        let counts: Vec<u64> = pipe.all().await.map_err(unavailable)?;
        Ok(rooms
            .into_iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    async fn viewer_count(&self, room: &RoomCode) -> Result<u64, CacheError> {
        self.shared
            .client
            .scard(self.shared.keys.participants(room))
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl RoomCache for RedisLiveState {
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

    async fn playback(&self, room: &RoomCode) -> Result<Option<PlaybackState>, CacheError> {
        let fields: HashMap<String, String> = self
            .shared
            .client
            .hgetall(self.shared.keys.state(room))
            .await
            .map_err(unavailable)?;
        let field = |name: &str| fields.get(name).map(String::as_str);
        Ok(
            match (field("is_playing"), field("time"), field("updated_at")) {
                (Some(playing), Some(time), Some(at)) => Some(PlaybackState {
                    is_playing: playing == "1",
                    position: Position::clamped(time.parse().unwrap_or(0.0)),
                    updated_at: Millis(at.parse().unwrap_or(0)),
                }),
                _ => None,
            },
        )
    }

    async fn set_host_status(&self, room: &RoomCode, status: HostStatus) -> Result<(), CacheError> {
        // Only rooms with local sockets are mirrored (the entry exists from
        // `subscribe` until the last local socket leaves).
        if let Some(entry) = self.shared.mirror().rooms.get_mut(room) {
            entry.1 = Some(status);
        }
        self.shared.write_host(room, status).await
    }

    async fn host_status(&self, room: &RoomCode) -> Result<Option<HostStatus>, CacheError> {
        let text: Option<String> = self
            .shared
            .client
            .get(self.shared.keys.host(room))
            .await
            .map_err(unavailable)?;
        Ok(match text.as_deref() {
            Some("online") => Some(HostStatus::Online),
            Some("grace") => Some(HostStatus::Grace),
            Some("offline") => Some(HostStatus::Offline),
            _ => None,
        })
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

#[async_trait]
impl Fanout for RedisLiveState {
    fn attach_sink(&self, sink: Arc<dyn BroadcastSink>) {
        if self.shared.sink.set(sink).is_err() {
            tracing::warn!("a broadcast sink was already attached; keeping the first");
        }
    }

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

#[async_trait]
impl Claims for RedisLiveState {
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

#[async_trait]
impl LiveState for RedisLiveState {
    async fn ping(&self) -> Result<(), CacheError> {
        self.shared
            .client
            .ping::<()>(None)
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasts_survive_the_wire() {
        for (except, close) in [(None, None), (Some(ConnectionId(u64::MAX)), Some(4001))] {
            let broadcast = Broadcast {
                payload: Bytes::from_static(b"{\"type\":\"PLAY\"}"),
                except,
                then_close: close,
            };
            assert_eq!(decode(encode(&broadcast)), Some(broadcast));
        }
        assert_eq!(decode(Bytes::from_static(b"junk")), None);
    }
}
