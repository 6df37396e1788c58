//! Short exclusive locks shared by every instance.

use crate::CacheError;
use async_trait::async_trait;
use std::time::Duration;

/// Proof of holding a lock from [`Locks::lock`]; only its holder can
/// release the lock early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockToken(pub String);

/// Per-key exclusive locks with a lifetime, the same on every backend.
#[async_trait]
pub trait Locks: Send + Sync {
    /// Takes `key` exclusively, across instances, until [`Locks::unlock`]
    /// with the returned token or until `ttl` has passed, whichever comes
    /// first (a holder that dies cannot keep it). Waits up to `wait` for the
    /// current holder; `None` if the key was still held then.
    async fn lock(
        &self,
        key: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Option<LockToken>, CacheError>;
    /// Releases a lock taken with [`Locks::lock`] if `token` still holds it;
    /// otherwise (it expired, and maybe someone else holds it now) nothing.
    async fn unlock(&self, key: &str, token: LockToken) -> Result<(), CacheError>;
}
