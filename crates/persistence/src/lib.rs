//! watchparty's storage: users, rooms with their participants, bans and
//! audit log, and chat, on SQLite or
//! PostgreSQL from one set of diesel queries.
//!
//! Every query runs on tokio's blocking pool through [`Database::run`], never
//! on the async reactor, and every method hands out domain types.

mod connection;
mod error;
mod people;
mod queries;
mod queue;
mod schema;
#[cfg(feature = "testing")]
pub mod scratch;

pub use connection::{DatabaseUrl, DbConnection, QueryCounts, Work};
pub use error::PersistenceError;
pub use people::{AuditAction, AuditRecord, Named, StoredAuditEntry, StoredBan, StoredParticipant};
pub use queries::{MessagePage, NewRoom, RoomWithHost, StoredMessage, StoredUser};
pub use queue::StoredQueue;

use connection::{ConnectionManager, Pool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// Longest wait for a free connection slot before a query gives up.
const PERMIT_WAIT: Duration = Duration::from_secs(5);
/// The PostgreSQL advisory lock held while migrating ("watchparty" as a number).
const MIGRATION_LOCK: i64 = 0x7761_7463_6870;

/// What [`Database::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrations {
    /// The versions applied just now, oldest first.
    pub applied: Vec<String>,
    /// How many migrations the database has now, in all.
    pub total: usize,
}

/// A pool of database connections behind one async entry point.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    // As many permits as connections: callers queue here, asynchronously,
    // instead of parking blocking threads on the pool.
    permits: Arc<Semaphore>,
    // SQLite takes one writer at a time and makes the others sleep and retry
    // in steps of milliseconds; writers queue here instead, so a burst of
    // writes never becomes a burst of sleeps. PostgreSQL needs no gate.
    writer: Option<Arc<std::sync::Mutex<()>>>,
    // What this pool asked of the database (see `QueryCounts`), and whose
    // work this handle's calls are.
    counts: Arc<QueryCounts>,
    work: Work,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("connections", &self.pool.max_size())
            .finish()
    }
}

impl Database {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`). Fails with the
    /// backend's own error when the database cannot be reached, and with
    /// [`PersistenceError::ConnectTimeout`] when it does not answer within
    /// `connect_timeout` (a port that accepts and never speaks).
    pub async fn connect(url: &str, connect_timeout: Duration) -> Result<Self, PersistenceError> {
        let url = DatabaseUrl::parse(url)?.with_connect_timeout(connect_timeout);
        let is_sqlite = url.is_sqlite();
        let size = if is_sqlite { 8 } else { 16 };
        let counts = Arc::new(QueryCounts::default());
        let manager = ConnectionManager::new(url, Arc::clone(&counts));
        let build = tokio::task::spawn_blocking(move || {
            // One test connection first, so a bad URL reports its own error.
            manager.connect_once()?;
            Pool::builder()
                .max_size(size)
                .min_idle(Some(1))
                // A database that does not answer fails requests quickly.
                .connection_timeout(Duration::from_secs(2))
                .build(manager)
                .map_err(PersistenceError::Pool)
        });
        // libpq enforces the timeout itself; this bound is for anything
        // else that could block (DNS, a stuck file system), with a margin
        // so that libpq's own, more precise message normally wins.
        let started = std::time::Instant::now();
        let pool = match tokio::time::timeout(connect_timeout + Duration::from_secs(2), build).await
        {
            Ok(Ok(Ok(pool))) => pool,
            // libpq's own words for this ("timeout expired") vary by version.
            Ok(Ok(Err(PersistenceError::Connect(_)))) if started.elapsed() >= connect_timeout => {
                return Err(PersistenceError::ConnectTimeout(connect_timeout))
            }
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(e)) => return Err(PersistenceError::Task(e.to_string())),
            Err(_) => return Err(PersistenceError::ConnectTimeout(connect_timeout)),
        };
        Ok(Database {
            pool,
            permits: Arc::new(Semaphore::new(size as usize)),
            writer: is_sqlite.then(|| Arc::new(std::sync::Mutex::new(()))),
            counts,
            work: Work::Requests,
        })
    }

    /// Like [`Database::run`], for work that writes: on SQLite, one at a time.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, PersistenceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, PersistenceError> + Send + 'static,
    {
        let writer = self.writer.clone();
        self.run(move |conn| {
            // Taken on the blocking thread, around the write alone: the turn
            // passes on as soon as the previous writer commits.
            let _turn = writer
                .as_ref()
                .map(|w| w.lock().unwrap_or_else(|p| p.into_inner()));
            f(conn)
        })
        .await
    }

    /// Runs `f` with a connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PersistenceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, PersistenceError> + Send + 'static,
    {
        // Bounded too: during an outage, waiting callers give up instead of piling up.
        let _permit = tokio::time::timeout(PERMIT_WAIT, self.permits.acquire())
            .await
            .map_err(|_| PersistenceError::Busy)?
            .map_err(|e| PersistenceError::Task(e.to_string()))?;
        let pool = self.pool.clone();
        let counts = Arc::clone(&self.counts);
        let work = self.work;
        tokio::task::spawn_blocking(move || {
            let _doing = connection::Doing::start(work);
            let mut conn = pool.get()?;
            counts.count_round_trip(work);
            f(&mut conn)
        })
        .await
        // A panic inside a query is a bug; it becomes an error here rather
        // than taking an HTTP worker down with it.
        .map_err(|e| PersistenceError::Task(e.to_string()))?
    }

    /// The same pool, its calls counted as [`Work::Background`]: for the
    /// polling that runs whatever the traffic.
    pub fn background(&self) -> Database {
        Database {
            work: Work::Background,
            ..self.clone()
        }
    }

    /// The round trips and statements this pool sent so far (for `/metrics`
    /// and for tests that hold a path to a number of round trips).
    pub fn counts(&self) -> &QueryCounts {
        &self.counts
    }

    /// Applies the pending migrations of this backend and says what it did.
    pub async fn migrate(&self) -> Result<Migrations, PersistenceError> {
        use diesel::connection::SimpleConnection;
        fn versions<C: MigrationHarness<B>, B: diesel::backend::Backend>(
            c: &mut C,
            migrations: EmbeddedMigrations,
        ) -> diesel::migration::Result<Migrations> {
            let applied = c
                .run_pending_migrations(migrations)?
                .iter()
                .map(ToString::to_string)
                .collect();
            let total = c.applied_migrations()?.len();
            Ok(Migrations { applied, total })
        }
        self.run(|conn| {
            let migrations = match conn {
                DbConnection::Sqlite(c) => versions(c, SQLITE_MIGRATIONS),
                DbConnection::Postgresql(c) => {
                    // Instances starting together take turns: one migrates, the
                    // others then find nothing pending.
                    c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
                    let migrations = versions(c, POSTGRES_MIGRATIONS);
                    c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
                    migrations
                }
            }
            .map_err(|e| PersistenceError::Migration(e.to_string()))?;
            if !migrations.applied.is_empty() {
                tracing::info!(
                    applied = migrations.applied.len(),
                    "database migrations applied"
                );
            }
            Ok(migrations)
        })
        .await
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), PersistenceError> {
        self.run(|conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute("SELECT 1")
                .map_err(PersistenceError::from)
        })
        .await
    }
}

impl ConnectionManager {
    fn connect_once(&self) -> Result<(), PersistenceError> {
        use diesel::r2d2::ManageConnection;
        self.connect().map(drop)
    }
}
