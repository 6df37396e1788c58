//! The parts of [`crate::Config`] that other crates share: where the database
//! is, whether there is Redis, and key material. The binary fills them once
//! from its settings; `web` reads the same [`LiveStateBackend`] value to put
//! HTTP sessions where live state is.

use crate::redact_password;
use std::time::Duration;

/// Where the database is.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// Longest wait for a new connection to answer.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_password(&self.url))
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Whether there is Redis: the one answer the service's live state and the
/// web edge's session store both follow, so they can never disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveStateBackend {
    /// In this process: one instance only. Sessions are in memory too.
    InProcess,
    /// In Redis, shared by every instance, sessions included.
    Redis(RedisConfig),
}

/// Where Redis is and which keys are ours.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://…` or `rediss://…`.
    pub url: String,
    /// Prefix of every key (`WATCHPARTY_REDIS_PREFIX`).
    pub prefix: String,
}

impl RedisConfig {
    /// What every HTTP session key starts with. The key layout is spelled in
    /// `realtime-cache` alone; `web` asks here because it may not depend on it.
    pub fn session_prefix(&self) -> String {
        watchparty_realtime_cache::Keys::new(&self.prefix).session_prefix()
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_password(&self.url))
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Key material that never appears in a log line or a `Debug` dump.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The bytes, for the one place that uses them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Secret {
    fn from(bytes: &[u8]) -> Self {
        Secret(bytes.to_vec())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_secret_prints() {
        let secret = Secret::from(&b"hunter2-hunter2-hunter2-hunter2-hunter2"[..]);
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        let redis = LiveStateBackend::Redis(RedisConfig {
            url: "redis://:hunter3@cache:6379".into(),
            prefix: "wp".into(),
        });
        let database = DatabaseConfig {
            url: "postgres://wp:hunter4@db/wp".into(),
            connect_timeout: Duration::from_secs(10),
        };
        let printed = format!("{redis:?} {database:?}");
        assert!(!printed.contains("hunter"), "{printed}");
        assert!(printed.contains("cache:6379") && printed.contains("db/wp"));
    }

    #[test]
    fn sessions_live_under_the_prefix() {
        let redis = RedisConfig {
            url: "redis://cache".into(),
            prefix: "wp".into(),
        };
        assert_eq!(redis.session_prefix(), "wp:session:");
    }
}
