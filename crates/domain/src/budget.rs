//! How often one socket may send a kind of message, as a pure rule that
//! takes the instant in.

use crate::ids::Millis;
use std::collections::VecDeque;

/// A per-socket allowance of `limit` messages in any `window_ms` window.
///
/// It keeps the instants of the messages it let through, at most `limit` of
/// them, and lets a new one through only when fewer than `limit` fall in the
/// window that ends now. Unlike a token bucket refilled at `limit` per
/// window, which lets up to `2 × limit − 1` through in an unlucky window,
/// this never lets more than `limit` through in any window of that length:
/// the contract's "more than 4 a second are ignored" read literally.
/// A clock that goes backwards never grants extra room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    limit: usize,
    window_ms: i64,
    accepted: VecDeque<Millis>,
}

impl Budget {
    /// At most `limit` messages in any window of `window_ms` milliseconds.
    pub fn new(limit: usize, window_ms: i64) -> Self {
        Budget {
            limit,
            window_ms,
            accepted: VecDeque::with_capacity(limit),
        }
    }

    /// The `PLAYER_STATE` allowance of contract §9: 4 a second.
    pub fn player_state() -> Self {
        Budget::new(4, 1_000)
    }

    /// The `SYNC_REPORT` allowance of contract §10: 1 a second.
    pub fn sync_report() -> Self {
        Budget::new(1, 1_000)
    }

    /// Whether a message arriving at `now` is within the allowance; when it
    /// is, it is counted. A refused message is not counted, so a flood does
    /// not push the allowance further away.
    pub fn try_take(&mut self, now: Millis) -> bool {
        // The newest accepted instant bounds "now" from below: a clock that
        // went backwards is treated as standing still.
        let now = self.accepted.back().map_or(now, |last| now.max(*last));
        let window_start = now.0.saturating_sub(self.window_ms);
        while self.accepted.front().is_some_and(|t| t.0 <= window_start) {
            self.accepted.pop_front();
        }
        if self.accepted.len() < self.limit {
            self.accepted.push_back(now);
            true
        } else {
            false
        }
    }
}
