//! Every Redis key and channel watchparty uses, spelled here and nowhere else.
//!
//! Canonical (docs/protocol.md, "What Redis holds"; stable for other tools to read):
//! - `P:room:{CODE}:state` — hash `is_playing` (`0`/`1`), `time` (s), `updated_at` (ms)
//! - `P:room:{CODE}:host` — `online`, `grace` or `offline`
//! - `P:room:{CODE}:participants` — set of user ids with a live socket
//! - `P:rooms:live` — set of room codes with at least one live socket
//! - `P:room:{CODE}:wait` — hash `reason`, `deadline` (ms), `version`: the group wait in progress
//! - `P:room:{CODE}:ready` — hash user id → `ready` / `not_ready`
//! - `P:room:{CODE}:sync` — hash user id → latest sync report; expires 30 s after the last
//!
//! Ours (internal, may change between releases):
//! - `P:room:{CODE}:conns` — hash connection id → `instance|user`
//! - `P:room:{CODE}:counts` — hash user → live sockets
//! - `P:room:{CODE}:names` — hash user → display name
//! - `P:room:{CODE}:events` — the room's pub/sub channel
//! - `P:room:{CODE}:stamp` — grows with every stored change of the room's rows
//!   (copies of them are checked against it); expires a day after its last change
//! - `P:room:{CODE}:waitstate` — the whole group wait (sockets, users, wait), one string
//! - `P:waits:due` — sorted set of room codes by their wait's deadline (ms)
//! - `P:instance:{ID}` — an instance's lease, renewed while it lives
//! - `P:claim:{KEY}`, `P:attempts:{KEY}` — single-use claims and rate counters
//!   (`P:attempts:logout:{SESSION}` marks a logged-out session for a token's lifetime)
//! - `P:lock:{KEY}` — short cross-instance locks (a room's chat order)
//! - `P:session:{KEY}` — HTTP sessions (written by actix-session's Redis store)

use watchparty_domain::RoomCode;

/// Builds keys under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (`WATCHPARTY_REDIS_PREFIX`).
    pub fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    fn room(&self, code: &RoomCode, what: &str) -> String {
        format!("{}:room:{}:{what}", self.prefix, code.as_str())
    }

    /// The cached playback hash.
    pub fn state(&self, code: &RoomCode) -> String {
        self.room(code, "state")
    }

    /// The host status string.
    pub fn host(&self, code: &RoomCode) -> String {
        self.room(code, "host")
    }

    /// The set of connected user ids.
    pub fn participants(&self, code: &RoomCode) -> String {
        self.room(code, "participants")
    }

    /// The set of live room codes.
    pub fn live_rooms(&self) -> String {
        format!("{}:rooms:live", self.prefix)
    }

    /// Connection id → `instance|user`.
    pub fn conns(&self, code: &RoomCode) -> String {
        self.room(code, "conns")
    }

    /// User → live socket count.
    pub fn counts(&self, code: &RoomCode) -> String {
        self.room(code, "counts")
    }

    /// User → display name.
    pub fn names(&self, code: &RoomCode) -> String {
        self.room(code, "names")
    }

    /// The group wait in progress: `reason`, `deadline`, `version`.
    pub fn wait(&self, code: &RoomCode) -> String {
        self.room(code, "wait")
    }

    /// User → `ready` / `not_ready`.
    pub fn ready(&self, code: &RoomCode) -> String {
        self.room(code, "ready")
    }

    /// User → latest sync report.
    pub fn sync(&self, code: &RoomCode) -> String {
        self.room(code, "sync")
    }

    /// The whole group wait, as one string.
    pub fn wait_state(&self, code: &RoomCode) -> String {
        self.room(code, "waitstate")
    }

    /// Room codes by their wait's deadline.
    pub fn waits_due(&self) -> String {
        format!("{}:waits:due", self.prefix)
    }

    /// The room's stamp (`Stamps`).
    pub fn stamp(&self, code: &RoomCode) -> String {
        self.room(code, "stamp")
    }

    /// The room's pub/sub channel.
    pub fn events(&self, code: &RoomCode) -> String {
        self.room(code, "events")
    }

    /// The room code of an events channel.
    pub fn room_of_channel(&self, channel: &str) -> Option<RoomCode> {
        let rest = channel.strip_prefix(&self.prefix)?.strip_prefix(":room:")?;
        RoomCode::parse(rest.strip_suffix(":events")?).ok()
    }

    /// An instance's lease.
    pub fn lease(&self, instance: &str) -> String {
        format!("{}:instance:{instance}", self.prefix)
    }

    /// A single-use claim.
    pub fn claim(&self, key: &str) -> String {
        format!("{}:claim:{key}", self.prefix)
    }

    /// What every HTTP session key starts with.
    pub fn session_prefix(&self) -> String {
        format!("{}:session:", self.prefix)
    }

    /// A cross-instance lock.
    pub fn lock(&self, key: &str) -> String {
        format!("{}:lock:{key}", self.prefix)
    }

    /// A rate-limit counter.
    pub fn attempts(&self, key: &str) -> String {
        format!("{}:attempts:{key}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys() {
        let keys = Keys::new("wp");
        let code = RoomCode::parse("K7Q2M9XAPD").unwrap();
        assert_eq!(keys.state(&code), "wp:room:K7Q2M9XAPD:state");
        assert_eq!(keys.host(&code), "wp:room:K7Q2M9XAPD:host");
        assert_eq!(keys.participants(&code), "wp:room:K7Q2M9XAPD:participants");
        assert_eq!(keys.live_rooms(), "wp:rooms:live");
        assert_eq!(keys.wait(&code), "wp:room:K7Q2M9XAPD:wait");
        assert_eq!(keys.ready(&code), "wp:room:K7Q2M9XAPD:ready");
        assert_eq!(keys.sync(&code), "wp:room:K7Q2M9XAPD:sync");
        assert_eq!(keys.room_of_channel(&keys.events(&code)), Some(code));
        assert_eq!(keys.room_of_channel("other:room:K7Q2M9XAPD:events"), None);
    }
}
