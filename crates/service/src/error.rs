use thiserror::Error;
use watchparty_persistence::PersistenceError;
use watchparty_realtime_cache::CacheError;

/// Why a use case did not succeed. The web layer maps each variant to the
/// protocol's status and error code (docs/protocol.md, Errors), once.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// Bad input; the text says which field and why.
    #[error("{0}")]
    Validation(String),
    /// No logged-in session (or no valid WebSocket token).
    #[error("authentication required")]
    NotAuthenticated,
    /// Wrong email or password; the same answer for both.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Logged in but not allowed (not a participant, origin not allowed).
    #[error("you may not do that")]
    Forbidden,
    /// Only the room's host may do that.
    #[error("only the host may do that")]
    NotHost,
    /// No such room, or one the caller may not see.
    #[error("not found")]
    NotFound,
    /// The email is registered already.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The room closed after its host's grace period.
    #[error("this room has closed")]
    RoomClosed,
    /// Too many attempts; try again later.
    #[error("too many attempts, try again later")]
    RateLimited,
    /// The user holds as many room sockets as one instance allows: a browser
    /// with too many tabs or windows of watchparty open, not a throttle.
    #[error(
        "too many watchparty tabs or windows are open for this account; close one and try again"
    )]
    TooManySockets,
    /// A dependency failed; details are logged, not shown.
    #[error("internal error")]
    Internal,
    /// Live state or the database did not answer in time.
    #[error("service temporarily unavailable")]
    Unavailable,
}

// Conversions stay private so the public API names no storage or cache type.
pub(crate) fn store(e: PersistenceError) -> ServiceError {
    match e {
        // Overload or an outage, not a bug: the client may retry.
        PersistenceError::Busy | PersistenceError::Pool(_) => {
            tracing::warn!(error = %e, "database unavailable");
            ServiceError::Unavailable
        }
        e => {
            tracing::error!(error = %e, "database failure");
            ServiceError::Internal
        }
    }
}

pub(crate) fn live(e: CacheError) -> ServiceError {
    tracing::warn!(error = %e, "live state failure");
    ServiceError::Unavailable
}

pub(crate) fn invalid(e: watchparty_domain::ValidationError) -> ServiceError {
    ServiceError::Validation(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_is_busy_is_unavailable_not_broken() {
        assert!(matches!(
            store(PersistenceError::Busy),
            ServiceError::Unavailable
        ));
        assert!(matches!(
            store(PersistenceError::Corrupt("bad row".into())),
            ServiceError::Internal
        ));
        assert!(matches!(
            store(PersistenceError::Task("panicked".into())),
            ServiceError::Internal
        ));
    }
}
