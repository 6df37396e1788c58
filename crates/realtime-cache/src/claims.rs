//! Single-use claims shared by every instance.

use crate::CacheError;
use async_trait::async_trait;
use std::time::Duration;

/// Claims that succeed once per key, whichever instance tries.
#[async_trait]
pub trait Claims: Send + Sync {
    /// `true` the first time `key` is claimed within `ttl`, `false` after;
    /// once `ttl` has passed the key can be claimed again.
    async fn claim_once(&self, key: &str, ttl: Duration) -> Result<bool, CacheError>;
}
