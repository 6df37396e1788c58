//! Rate-limit counters shared by every instance.

use crate::CacheError;
use async_trait::async_trait;
use std::time::Duration;

/// One counter of a [`Limiter::reserve`]: its key, and the count at which it
/// refuses (`None`: counted, never refusing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter<'a> {
    /// The counter's key.
    pub key: &'a str,
    /// Attempts allowed per window.
    pub limit: Option<u64>,
}

/// Attempt counters in fixed windows, and reservations against limits.
#[async_trait]
pub trait Limiter: Send + Sync {
    /// Counts one attempt under `key` in a window of `window` that starts
    /// with the first attempt; returns the count so far.
    async fn count_attempt(&self, key: &str, window: Duration) -> Result<u64, CacheError>;
    /// The attempts counted under `key` in its current window.
    async fn attempts(&self, key: &str) -> Result<u64, CacheError>;
    /// Forgets the attempts under `key`.
    async fn clear_attempts(&self, key: &str) -> Result<(), CacheError>;
    /// Counts one attempt under every key at once, before the attempt's
    /// work is done, so that a limit holds however many attempts race: if a
    /// key with a limit already counts that many, nothing is counted and
    /// `Some(index)` names the first such key. Windows are as in
    /// [`Limiter::count_attempt`]. The check and the counting are one atomic
    /// step, across instances too.
    async fn reserve(
        &self,
        counters: &[Counter<'_>],
        window: Duration,
    ) -> Result<Option<usize>, CacheError>;
    /// Takes back one attempt under each key (an attempt that turned out not
    /// to count, such as a correct password); never below zero.
    async fn release(&self, keys: &[&str]) -> Result<(), CacheError>;
}
