//! watchparty's use cases. This is the only crate that composes the rules
//! (domain), storage (persistence) and live state (realtime-cache); the web
//! layer hands it intents and gets back protocol shapes or a [`ServiceError`].

mod access;
mod auth;
mod caller;
mod clock;
mod config;
mod engine;
mod error;
mod hub;
mod lane;
mod metrics;
mod operator;
mod people;
mod queue;
mod rooms;
mod rows;
mod slots;
mod sockets;
mod sweeper;
mod throttle;
mod users;
mod views;
mod waits;

pub use caller::Caller;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{DatabaseConfig, LiveStateBackend, RedisConfig, Secret};
pub use error::{Cause, ServiceError};
pub use hub::Outgoing;
pub use lane::{DirectWrite, Lane, LaneState};
pub use metrics::Metrics;
pub use operator::{Account, Operator, ACCOUNT_DISABLED_CLOSE, RECONCILE_EVERY};
pub use sockets::{Handled, SocketHandle, SocketSession, SocketTicket};
pub use throttle::{ChatLimit, Limits};
pub use users::{ActiveAccount, IssuedToken};

use engine::RoomEngine;
use hub::LocalHub;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use watchparty_domain::{HostGrace, Millis, RoomCode};
use watchparty_persistence::{Database, PersistenceError};
use watchparty_realtime_cache::{InProcess, RealtimeCache, RedisCache, RedisSettings};

/// How long a killed instance's sockets linger in shared presence: its lease.
const LEASE: Duration = Duration::from_secs(20);

/// How the service behaves; the binary fills it from flags and environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database is.
    pub database: DatabaseConfig,
    /// Where live state lives.
    pub live_state: LiveStateBackend,
    /// How long a room waits for its host.
    pub host_grace: Duration,
    /// HS256 secret for WebSocket tokens (at least 32 bytes).
    pub jwt_secret: Secret,
    /// Lifetime of a WebSocket token.
    pub ws_token_ttl: Duration,
    /// Messages a socket may have queued before it counts as too slow and is closed.
    pub outbox_capacity: usize,
    /// How often the sweeper looks for rooms whose grace ran out.
    pub sweep_interval: Duration,
    /// How much chat one user may send.
    pub chat_limit: ChatLimit,
    /// Room sockets one user may hold open on this instance.
    pub max_sockets_per_user: usize,
    /// What one client address may do (registrations).
    pub limits: Limits,
}

/// Why the service could not start. The text names the backend and is the
/// backend's own explanation.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be opened or migrated; the text names the
    /// setting and the cause, on one line.
    #[error("{0}")]
    Database(String),
    /// Redis could not be reached.
    #[error("REDIS_URL: {0}")]
    Redis(String),
    /// Tokens, hashing or the OS random source do not work.
    #[error("cannot start the service: {0}")]
    Service(#[from] ServiceError),
}

impl StartupError {
    fn database(url: &str, error: &PersistenceError) -> Self {
        let hint = match error {
            PersistenceError::ConnectTimeout(_) => {
                " (raise WATCHPARTY_DATABASE_CONNECT_TIMEOUT_SECS if it is only slow)"
            }
            _ => "",
        };
        // The binary prints it on one line (libpq writes two).
        StartupError::Database(format!(
            "DATABASE_URL: {}: {error}{hint}",
            redact_password(url)
        ))
    }
}

/// A URL without the password it may carry, for errors and logs.
pub fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrations {
    /// The versions applied just now, oldest first.
    pub applied: Vec<String>,
    /// How many migrations the database has now, in all.
    pub total: usize,
}

/// Opens the database and applies its pending migrations.
async fn open_database(
    url: &str,
    connect_timeout: Duration,
) -> Result<(Database, Migrations), StartupError> {
    let db = Database::connect(url, connect_timeout)
        .await
        .map_err(|e| StartupError::database(url, &e))?;
    let done = db
        .migrate()
        .await
        .map_err(|e| StartupError::database(url, &e))?;
    let migrations = Migrations {
        applied: done.applied,
        total: done.total,
    };
    Ok((db, migrations))
}

/// Applies the database migrations and says what it did (`watchparty migrate`).
pub async fn migrate(database: &DatabaseConfig) -> Result<Migrations, StartupError> {
    open_database(&database.url, database.connect_timeout)
        .await
        .map(|(_, migrations)| migrations)
}

/// The application: cheap to clone, shared by every request and socket.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    live: Arc<dyn RealtimeCache>,
    hub: Arc<LocalHub>,
    engine: RoomEngine,
    passwords: auth::Passwords,
    tokens: auth::Tokens,
    clock: Arc<dyn Clock>,
    config: Config,
    metrics: Arc<Metrics>,
    // The wait deadlines the engine armed, until the sweeper takes them.
    deadlines: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<(RoomCode, Millis)>>>,
    user_sockets: Arc<slots::UserSockets>,
    // Connection ids: a random per-process prefix keeps them unique across instances.
    connection_prefix: u64,
    next_connection: AtomicU64,
}

impl Service {
    /// Opens and migrates the database, sets up live state, and checks that
    /// token signing and the OS random source work.
    pub async fn start(config: Config) -> Result<Self, StartupError> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Service::start`] with another clock: tests move time instead of
    /// sleeping through it.
    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let started = clock.now();
        // The hub receives the broadcasts of this instance's rooms: the live
        // state is built with it.
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(LocalHub::new(Arc::clone(&metrics)));
        // Redis first: migrating logs a line, and a failure to start should
        // be the only line printed where it can be.
        let live: Arc<dyn RealtimeCache> = match &config.live_state {
            LiveStateBackend::InProcess => Arc::new(InProcess::new(hub.clone())),
            LiveStateBackend::Redis(redis) => {
                let settings = RedisSettings {
                    url: redis.url.clone(),
                    prefix: redis.prefix.clone(),
                    command_timeout: Duration::from_secs(2),
                    lease: LEASE,
                };
                let redis = RedisCache::connect(settings, hub.clone())
                    .await
                    .map_err(|e| StartupError::Redis(e.to_string()))?;
                Arc::new(redis)
            }
        };
        let (db, _) = open_database(&config.database.url, config.database.connect_timeout).await?;
        let prefix: [u8; 4] = auth::os_random()?;
        let grace = HostGrace::from_secs(config.host_grace.as_secs());
        let (engine, deadlines) = RoomEngine::new(
            db.clone(),
            Arc::clone(&live),
            grace,
            Arc::clone(&clock),
            Arc::clone(&metrics),
        );
        Ok(Service {
            inner: Arc::new(Inner {
                engine,
                deadlines: std::sync::Mutex::new(Some(deadlines)),
                db,
                passwords: auth::Passwords::new().await?,
                tokens: auth::Tokens::new(
                    config.jwt_secret.expose(),
                    config.ws_token_ttl,
                    // In process, spent tokens are forgotten with the process.
                    (config.live_state == LiveStateBackend::InProcess).then_some(started),
                    started,
                )?,
                clock,
                live,
                hub,
                metrics,
                user_sockets: Arc::default(),
                connection_prefix: u64::from(u32::from_le_bytes(prefix)) << 32,
                next_connection: AtomicU64::new(1),
                config,
            }),
        })
    }

    /// Now, by the service's clock.
    pub(crate) fn now(&self) -> Millis {
        self.inner.clock.now()
    }

    /// Counts rate limits in live state.
    pub(crate) fn throttle(&self) -> throttle::Throttle<'_> {
        throttle::Throttle {
            live: &*self.inner.live,
            config: &self.inner.config,
        }
    }

    /// The counters behind `/metrics`, as Prometheus text.
    pub fn render_metrics(&self) -> String {
        self.inner
            .metrics
            .render(self.inner.hub.room_count(), self.inner.db.counts())
    }

    /// Room sockets open on this instance.
    pub fn live_socket_count(&self) -> i64 {
        self.inner
            .metrics
            .live_sockets
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the database and live state answer.
    pub async fn ready(&self) -> bool {
        let db = answers("database", self.inner.db.ping()).await;
        let live_state = answers("live state", self.inner.live.ping()).await;
        db && live_state
    }
}

/// Whether a dependency's ping succeeds within 2 s; a failure is logged.
async fn answers<E: std::fmt::Display>(
    what: &str,
    ping: impl std::future::Future<Output = Result<(), E>>,
) -> bool {
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: {what} does not answer");
            false
        }
        Err(_) => {
            tracing::warn!("readiness: {what} did not answer within 2 s");
            false
        }
    }
}
