//! Why a use case failed. Failures of a dependency keep their cause (and
//! where the service met it) so that the edge, which logs them, logs the
//! whole chain once; nothing is logged here.

use std::panic::Location;
use thiserror::Error;
use watchparty_domain::ValidationError;
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
    /// Only the room's owner (its creator) may do that: delete it.
    #[error("only the room's owner may delete it")]
    NotOwner,
    /// No such room, or one the caller may not see; or no such participant,
    /// ban or mute in it.
    #[error("not found")]
    NotFound,
    /// The request contradicts the room as it is (the target of a role
    /// change is the host).
    #[error("that conflicts with the room as it is")]
    Conflict,
    /// The room may be handed only to someone connected now.
    #[error("that user is not connected to the room")]
    NotConnected,
    /// The target outranks the moderator: the owner, the host, oneself, or
    /// (for a co-host) another co-host.
    #[error("you may not do that to this user")]
    TargetOutranks,
    /// The user is kept out of the room until `until` (`None`: until lifted).
    #[error("a kick or a ban keeps you out of this room")]
    Banned {
        /// When the kick or ban lapses, RFC 3339 UTC.
        until: Option<String>,
    },
    /// The client acted on an older state of the queue (`if_version`,
    /// `if_current`): nothing changed.
    #[error("the queue changed meanwhile; fetch it again")]
    StaleVersion,
    /// The queue holds as many items as it may (in the room, or of this user).
    #[error("{0}")]
    QueueFull(String),
    /// The email is registered already.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The room closed after its host's grace period.
    #[error("this room has closed")]
    RoomClosed,
    /// Too many attempts; try again later.
    #[error("too many attempts, try again later")]
    RateLimited,
    /// The room is busy on every instance (its chat lock stayed taken):
    /// the client may send again.
    #[error("the room is busy; try again")]
    Busy,
    /// The user holds as many room sockets as one instance allows: a browser
    /// with too many tabs or windows of watchparty open, not a throttle.
    #[error(
        "too many watchparty tabs or windows are open for this account; close one and try again"
    )]
    TooManySockets,
    /// A dependency failed in a way a retry will not fix; the cause is for
    /// the log, never for the client.
    #[error("internal error")]
    Internal(#[source] Cause),
    /// Live state or the database did not answer in time, or is overloaded.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] Cause),
}

impl ServiceError {
    /// An internal failure with a cause the service found itself.
    #[track_caller]
    pub fn internal(why: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ServiceError::Internal(Cause::new(why.into()))
    }

    /// A dependency that could not do it now; a retry may succeed.
    #[track_caller]
    pub fn unavailable(why: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ServiceError::Unavailable(Cause::new(why.into()))
    }

    /// The cause and its own sources on one line, outermost first, for a
    /// log line at the edge; `None` for failures that are the client's.
    pub fn cause_chain(&self) -> Option<String> {
        let mut source = std::error::Error::source(self)?;
        let mut chain = source.to_string();
        while let Some(next) = source.source() {
            chain.push_str(": ");
            chain.push_str(&next.to_string());
            source = next;
        }
        Some(chain)
    }
}

impl From<ValidationError> for ServiceError {
    fn from(e: ValidationError) -> Self {
        ServiceError::Validation(e.to_string())
    }
}

/// What made a dependency fail, and the line of the service where it was
/// met. Opaque, so the public API names no storage or cache type.
#[derive(Debug)]
pub struct Cause {
    error: Box<dyn std::error::Error + Send + Sync>,
    at: &'static Location<'static>,
}

impl Cause {
    #[track_caller]
    fn new(error: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Cause {
            error,
            at: Location::caller(),
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (at {}:{})",
            self.error,
            self.at.file(),
            self.at.line()
        )
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Turns a storage or live-state failure into the service's, keeping the
/// cause: `db.room(…).await.classify()?`.
pub(crate) trait Classify<T> {
    /// Overload and outages become `Unavailable` (a retry may work),
    /// everything else `Internal`.
    fn classify(self) -> Result<T, ServiceError>;
}

impl<T> Classify<T> for Result<T, PersistenceError> {
    #[track_caller]
    fn classify(self) -> Result<T, ServiceError> {
        match self {
            Ok(value) => Ok(value),
            // Overload or an outage, not a bug: the client may retry.
            Err(e @ (PersistenceError::Busy | PersistenceError::Pool(_))) => {
                Err(ServiceError::Unavailable(Cause::new(Box::new(e))))
            }
            Err(e) => Err(ServiceError::Internal(Cause::new(Box::new(e)))),
        }
    }
}

impl<T> Classify<T> for Result<T, CacheError> {
    #[track_caller]
    fn classify(self) -> Result<T, ServiceError> {
        // A match, not a closure: a closure would hide the caller's line.
        match self {
            Ok(value) => Ok(value),
            Err(e) => Err(ServiceError::Unavailable(Cause::new(Box::new(e)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(e: PersistenceError) -> ServiceError {
        match Err::<(), _>(e).classify() {
            Err(e) => e,
            Ok(()) => ServiceError::NotFound,
        }
    }

    #[test]
    fn a_database_that_is_busy_is_unavailable_not_broken() {
        assert!(matches!(
            failing(PersistenceError::Busy),
            ServiceError::Unavailable(_)
        ));
        assert!(matches!(
            failing(PersistenceError::Corrupt("bad row".into())),
            ServiceError::Internal(_)
        ));
        assert!(matches!(
            failing(PersistenceError::Task("panicked".into())),
            ServiceError::Internal(_)
        ));
    }

    #[test]
    fn the_cause_is_kept_with_the_line_that_met_it() {
        let e = failing(PersistenceError::Corrupt("bad row".into()));
        let chain = e.cause_chain().unwrap_or_default();
        assert!(chain.contains("bad row"), "{chain}");
        assert!(chain.contains("error.rs:"), "{chain}");
        assert_eq!(e.to_string(), "internal error");
        assert_eq!(ServiceError::NotFound.cause_chain(), None);
    }
}
