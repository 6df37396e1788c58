use crate::ids::Millis;
use crate::values::{Position, MAX_POSITION};

/// Where the video is: a position anchored at an instant, advancing while playing.
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
}

impl PlaybackState {
    /// Paused at the start, as of `now`.
    pub fn paused_at_start(now: Millis) -> Self {
        PlaybackState {
            is_playing: false,
            position: Position::ZERO,
            updated_at: now,
        }
    }

    /// The position in seconds at `now`. A clock that went backwards never
    /// moves the position backwards; the position never passes [`MAX_POSITION`].
    pub fn position_at(&self, now: Millis) -> f64 {
        let base = self.position.seconds();
        if !self.is_playing {
            return base;
        }
        let elapsed_ms = now.0.saturating_sub(self.updated_at.0).max(0);
        (base + elapsed_ms as f64 / 1000.0).min(MAX_POSITION)
    }

    /// The same playback re-anchored at `now`, with `is_playing` as given.
    pub fn at(&self, now: Millis, is_playing: bool) -> Self {
        PlaybackState {
            is_playing,
            position: Position::clamped(self.position_at(now)),
            updated_at: now,
        }
    }
}
