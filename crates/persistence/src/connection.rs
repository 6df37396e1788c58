//! One connection type for both backends, and the pool that hands them out.

use crate::error::PersistenceError;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};

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

/// Opens connections for the pool, dispatching on the URL so that a refused
/// connection reports the backend's real error.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ConnectionManager {
    /// A manager for `url`.
    pub fn new(url: DatabaseUrl) -> Self {
        ConnectionManager { url }
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
                conn.batch_execute(SQLITE_PRAGMAS)?;
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => PgConnection::establish(url)
                .map(DbConnection::Postgresql)
                .map_err(|e| PersistenceError::Connect(e.to_string())),
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
