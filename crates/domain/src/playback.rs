use crate::error::ValidationError;
use crate::ids::Millis;
use crate::queue::ItemId;
use crate::values::{Position, MAX_POSITION};

/// How many seconds of video pass per second while playing: 0.25 to 4
/// (contract §11).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    /// Normal speed, the default and what a new video starts at.
    pub const NORMAL: Rate = Rate(1.0);
    /// The slowest rate.
    pub const MIN: f64 = 0.25;
    /// The fastest rate.
    pub const MAX: f64 = 4.0;

    /// Accepts a finite number within 0.25..=4.
    pub fn new(rate: f64) -> Result<Self, ValidationError> {
        if rate.is_finite() && (Self::MIN..=Self::MAX).contains(&rate) {
            Ok(Rate(rate))
        } else {
            Err(ValidationError::Rate)
        }
    }

    /// The rate as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for Rate {
    fn default() -> Self {
        Rate::NORMAL
    }
}

/// Where the video is: a position anchored at an instant, advancing at
/// `rate` while playing.
///
/// The stored `position` is true as of `updated_at`; [`PlaybackState::position_at`]
/// gives it at any later instant, so nobody extrapolates from old events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaybackState {
    /// Whether the video is playing.
    pub is_playing: bool,
    /// Seconds into the video as of `updated_at`.
    pub position: Position,
    /// The instant the position was last set.
    pub updated_at: Millis,
    /// Seconds of video per second while playing.
    pub rate: Rate,
    /// Grows by exactly one with every playback change the room announces,
    /// and never otherwise; a client's `if_version` is checked against it.
    pub version: u64,
    /// The queue item being played (`item_id`); `None` when there is none.
    pub item: Option<ItemId>,
}

impl PlaybackState {
    /// Paused at the start at normal speed, version 0, as of `now`.
    pub fn paused_at_start(now: Millis) -> Self {
        PlaybackState {
            is_playing: false,
            position: Position::ZERO,
            updated_at: now,
            rate: Rate::NORMAL,
            version: 0,
            item: None,
        }
    }

    /// The position in seconds at `now`: `position + rate × elapsed` while
    /// playing. A clock that went backwards never moves the position
    /// backwards; the position never passes [`MAX_POSITION`].
    pub fn position_at(&self, now: Millis) -> f64 {
        let base = self.position.seconds();
        if !self.is_playing {
            return base;
        }
        let elapsed_ms = now.0.saturating_sub(self.updated_at.0).max(0);
        (base + self.rate.0 * (elapsed_ms as f64 / 1000.0)).min(MAX_POSITION)
    }

    /// The same playback re-anchored at `now`, with `is_playing` as given.
    /// The version is left as it was: the room raises it when it announces.
    pub fn at(&self, now: Millis, is_playing: bool) -> Self {
        PlaybackState {
            is_playing,
            position: Position::clamped(self.position_at(now)),
            updated_at: now,
            ..*self
        }
    }
}
