//! One connection type for both backends, and the pool that hands them out.

use crate::error::PersistenceError;
use diesel::connection::SimpleConnection;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// A connection to whichever backend `DATABASE_URL` names. Queries are
/// written once against this type and run on both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL.
    Postgresql(PgConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

/// A parsed `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file path.
    Sqlite(String),
    /// A libpq connection URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// Reads `sqlite://PATH`, `postgres://…` or `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, PersistenceError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(PersistenceError::UnsupportedUrl(url.to_owned()));
            }
            Ok(DatabaseUrl::Sqlite(path.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            Err(PersistenceError::UnsupportedUrl(url.to_owned()))
        }
    }

    /// The same URL with libpq told to give up on a silent server after
    /// `timeout` (unless the URL sets its own `connect_timeout`). SQLite
    /// opens a file and needs none.
    pub fn with_connect_timeout(self, timeout: std::time::Duration) -> Self {
        match self {
            DatabaseUrl::Postgres(url) if !url.contains("connect_timeout=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                // libpq refuses less than 2 seconds.
                let secs = timeout.as_secs().max(2);
                DatabaseUrl::Postgres(format!("{url}{separator}connect_timeout={secs}"))
            }
            other => other,
        }
    }

    /// Whether this is SQLite (one writer at a time, a small pool).
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(_))
    }
}

// Every SQLite connection gets these: WAL so readers never block the writer,
// foreign keys enforced, and a wait instead of an immediate SQLITE_BUSY.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

/// Whose work a database call is, as counted by [`QueryCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// What a request, a socket or a room command asked for.
    Requests,
    /// Polling that runs whatever the traffic (the sweeper's and the
    /// reconciler's periodic queries), and connections the pool opens by
    /// itself.
    Background,
}

impl Work {
    /// The label `/metrics` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Work::Requests => "requests",
            Work::Background => "background",
        }
    }
}

/// One count for each [`Work`].
#[derive(Debug, Default)]
struct PerWork {
    requests: AtomicU64,
    background: AtomicU64,
}

impl PerWork {
    fn of(&self, work: Work) -> &AtomicU64 {
        match work {
            Work::Requests => &self.requests,
            Work::Background => &self.background,
        }
    }
}

thread_local! {
    // The work the blocking thread is doing a call for; `None` on the
    // pool's own threads (connections opened in advance).
    static DOING: std::cell::Cell<Option<Work>> = const { std::cell::Cell::new(None) };
}

/// Marks the current (blocking) thread as doing `work` until dropped.
pub(crate) struct Doing;

impl Doing {
    pub(crate) fn start(work: Work) -> Self {
        DOING.with(|d| d.set(Some(work)));
        Doing
    }
}

impl Drop for Doing {
    fn drop(&mut self) {
        DOING.with(|d| d.set(None));
    }
}

/// How much one process asks of its database, counted where it happens,
/// separately for [`Work::Requests`] and [`Work::Background`].
///
/// - A **round trip** is one call into the database as the service sees it:
///   one [`crate::Database::run`] (or `write`) that got a connection from the
///   pool and ran its closure on the blocking pool. Everything that closure
///   sends — one statement, or a transaction of several — is one round trip:
///   one hop to the blocking pool and one wait for a connection. A call
///   refused before it reached a connection (no free slot within 5 s, the
///   pool could not connect) is not counted: it never reached the database.
/// - A **statement** is one piece of SQL handed to the backend: a query or
///   a batch (`BEGIN`, `COMMIT`, a savepoint, the pool's `SELECT 1` check
///   when it hands out a connection, SQLite's pragmas when connecting). It is
///   counted by diesel's instrumentation on every connection of the pool, so
///   nothing sent escapes it. On PostgreSQL each is one network exchange; on
///   SQLite, one call into the library.
#[derive(Debug, Default)]
pub struct QueryCounts {
    round_trips: PerWork,
    statements: PerWork,
}

impl QueryCounts {
    /// Round trips so far for `work` (see the type's documentation).
    pub fn round_trips(&self, work: Work) -> u64 {
        self.round_trips.of(work).load(Relaxed)
    }

    /// Statements so far for `work` (see the type's documentation).
    pub fn statements(&self, work: Work) -> u64 {
        self.statements.of(work).load(Relaxed)
    }

    pub(crate) fn count_round_trip(&self, work: Work) {
        self.round_trips.of(work).fetch_add(1, Relaxed);
    }
}

/// Counts the statements one connection sends, for the work its thread does.
struct StatementCounter(Arc<QueryCounts>);

impl Instrumentation for StatementCounter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            let work = DOING.with(|d| d.get()).unwrap_or(Work::Background);
            self.0.statements.of(work).fetch_add(1, Relaxed);
        }
    }
}

/// Opens connections for the pool, dispatching on the URL so that a refused
/// connection reports the backend's real error.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    counts: Arc<QueryCounts>,
}

impl ConnectionManager {
    /// A manager for `url` that counts into `counts`.
    pub fn new(url: DatabaseUrl, counts: Arc<QueryCounts>) -> Self {
        ConnectionManager { url, counts }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = PersistenceError;

    fn connect(&self) -> Result<DbConnection, PersistenceError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)
                    .map_err(|e| PersistenceError::Connect(e.to_string()))?;
                conn.set_instrumentation(StatementCounter(Arc::clone(&self.counts)));
                conn.batch_execute(SQLITE_PRAGMAS)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url)
                    .map_err(|e| PersistenceError::Connect(e.to_string()))?;
                conn.set_instrumentation(StatementCounter(Arc::clone(&self.counts)));
                Ok(DbConnection::Postgresql(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), PersistenceError> {
        conn.batch_execute("SELECT 1")
            .map_err(PersistenceError::from)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

/// The pool type.
pub type Pool = r2d2::Pool<ConnectionManager>;
