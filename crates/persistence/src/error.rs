use thiserror::Error;

/// What can go wrong talking to the database.
#[derive(Debug, Error)]
pub enum PersistenceError {
    /// A unique constraint refused the write (an email or room code in use).
    #[error("already exists")]
    Conflict,
    /// The URL is neither `sqlite://…` nor `postgres://…`.
    #[error("DATABASE_URL must start with sqlite:// or postgres:// (got {0:?})")]
    UnsupportedUrl(String),
    /// Opening a connection failed; the text is the backend's own.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A new connection got no answer in time.
    #[error("no answer within {} s", .0.as_secs())]
    ConnectTimeout(std::time::Duration),
    /// The pool had no connection to give in time.
    #[error("database unavailable: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(diesel::result::Error),
    /// Applying migrations failed.
    #[error("migrations failed: {0}")]
    Migration(String),
    /// A stored value no longer passes validation.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A kick or ban in force keeps the user out of the room, until then
    /// (`None`: until lifted).
    #[error("banned from this room")]
    Banned(Option<watchparty_domain::Millis>),
    /// Every connection stayed busy longer than callers may wait.
    #[error("database busy: no connection free in time")]
    Busy,
    /// The blocking task running the query died.
    #[error("database task failed: {0}")]
    Task(String),
}

impl From<diesel::result::Error> for PersistenceError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                PersistenceError::Conflict
            }
            other => PersistenceError::Query(other),
        }
    }
}
