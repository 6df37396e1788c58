//! Participants, bans and mutes as the rules see them (contract §7, §8).
//!
//! Whether someone is connected right now is live state, never room state:
//! the rules that need it take it as an argument.

use crate::error::ValidationError;
use crate::ids::{Millis, UserId};
use crate::roles::Role;
use crate::values::{allowed_one_line, visible};

/// Until when a ban or a mute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// Until a moderator lifts it (`null` on the wire).
    UntilLifted,
    /// Until this instant, exclusive: at `At(t)` it no longer holds.
    At(Millis),
}

impl Expiry {
    /// Whether it still holds at `now`.
    pub fn holds_at(self, now: Millis) -> bool {
        match self {
            Expiry::UntilLifted => true,
            Expiry::At(until) => now < until,
        }
    }

    /// The wire's `until` / `expires_at` / `muted_until`: `None` for until lifted.
    pub fn instant(self) -> Option<Millis> {
        match self {
            Expiry::UntilLifted => None,
            Expiry::At(until) => Some(until),
        }
    }
}

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Who.
    pub user: UserId,
    /// Their role; exactly one participant of a room is [`Role::Host`].
    pub role: Role,
    /// When they first joined (the owner: when the room was created).
    pub joined_at: Millis,
    /// When they last became a co-host; `None` unless [`Role::CoHost`]. The
    /// successor rule prefers the co-host who became one first.
    pub became_co_host_at: Option<Millis>,
    /// Their mute, if any; a mute whose expiry has passed no longer counts
    /// (see [`Participant::is_muted_at`]) and is cleared by [`crate::Room::lapse_due`].
    pub muted: Option<Expiry>,
}

impl Participant {
    /// A new viewer who joins at `now`.
    pub fn viewer(user: UserId, now: Millis) -> Self {
        Participant {
            user,
            role: Role::Viewer,
            joined_at: now,
            became_co_host_at: None,
            muted: None,
        }
    }

    /// Whether their mute holds at `now`.
    pub fn is_muted_at(&self, now: Millis) -> bool {
        self.muted.is_some_and(|m| m.holds_at(now))
    }

    /// The mute that holds at `now`, if any.
    pub fn mute_at(&self, now: Millis) -> Option<Expiry> {
        self.muted.filter(|m| m.holds_at(now))
    }
}

/// A kick or a ban: both keep a user out until they lapse or are lifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BanKind {
    /// A kick: a ban that lapses after `rejoin_after_secs`.
    Kick,
    /// A ban, timed or until lifted.
    Ban,
}

impl BanKind {
    /// The contract's name (`kind` of a `Ban`).
    pub fn as_str(self) -> &'static str {
        match self {
            BanKind::Kick => "kick",
            BanKind::Ban => "ban",
        }
    }

    /// The `action` of `REMOVED` and `PARTICIPANT_REMOVED`.
    pub fn action(self) -> &'static str {
        match self {
            BanKind::Kick => "kicked",
            BanKind::Ban => "banned",
        }
    }
}

/// A user kept out of a room. A banned user is never a participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// Who is kept out.
    pub user: UserId,
    /// Kick or ban.
    pub kind: BanKind,
    /// Why, as the moderator wrote it.
    pub reason: Option<Reason>,
    /// The moderator.
    pub by: UserId,
    /// When it was placed.
    pub created_at: Millis,
    /// When it lapses.
    pub expires: Expiry,
}

impl Ban {
    /// Whether it keeps the user out at `now`.
    pub fn holds_at(&self, now: Millis) -> bool {
        self.expires.holds_at(now)
    }
}

/// Longest moderation reason, in characters. The contract sets no bound; 200
/// is enough for a sentence and short enough to show in a notice.
pub const REASON_MAX_CHARS: usize = 200;
/// Longest ban or mute, in seconds: a year (contract §13 rule 13).
pub const MAX_BAN_SECS: u64 = 31_536_000;
/// Longest kick, in seconds: a day (contract §8).
pub const MAX_REJOIN_AFTER_SECS: u64 = 86_400;
/// A kick's default: the user may rejoin after five minutes (contract §8).
pub const DEFAULT_REJOIN_AFTER_SECS: u64 = 300;

/// Why a moderator removed someone: one line, 1 to [`REASON_MAX_CHARS`]
/// characters after trimming, the same character rule as names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reason(String);

impl Reason {
    /// `Ok(None)` for a blank reason (as if none was given).
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        let text = raw.trim();
        if !allowed_one_line(text) {
            Err(ValidationError::Characters("reason"))
        } else if !visible(text) {
            Ok(None)
        } else if text.chars().count() > REASON_MAX_CHARS {
            Err(ValidationError::Reason)
        } else {
            Ok(Some(Reason(text.to_owned())))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a ban or a mute lasts: 1 to [`MAX_BAN_SECS`] seconds. "Until
/// lifted" is the absence of one (`duration_secs: null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BanDuration(u64);

impl BanDuration {
    /// Accepts 1 to 31,536,000 seconds. The contract states this range for
    /// bans; mutes take the same one, as their field has the same name.
    pub fn from_secs(secs: i64) -> Result<Self, ValidationError> {
        match u64::try_from(secs) {
            Ok(secs) if (1..=MAX_BAN_SECS).contains(&secs) => Ok(BanDuration(secs)),
            _ => Err(ValidationError::Duration("duration_secs")),
        }
    }

    /// The length in seconds.
    pub fn secs(self) -> u64 {
        self.0
    }

    /// The expiry of one that starts at `now`; `None` stands for until lifted.
    pub fn expiry(duration: Option<Self>, now: Millis) -> Expiry {
        match duration {
            None => Expiry::UntilLifted,
            Some(d) => Expiry::At(now.plus_secs(d.0)),
        }
    }
}

/// How long a kicked user stays out: 0 to [`MAX_REJOIN_AFTER_SECS`] seconds,
/// [`DEFAULT_REJOIN_AFTER_SECS`] when not given. Zero removes them and lets
/// them back at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RejoinAfter(u64);

impl Default for RejoinAfter {
    fn default() -> Self {
        RejoinAfter(DEFAULT_REJOIN_AFTER_SECS)
    }
}

impl RejoinAfter {
    /// Accepts 0 to 86,400 seconds.
    pub fn from_secs(secs: i64) -> Result<Self, ValidationError> {
        match u64::try_from(secs) {
            Ok(secs) if secs <= MAX_REJOIN_AFTER_SECS => Ok(RejoinAfter(secs)),
            _ => Err(ValidationError::Duration("rejoin_after_secs")),
        }
    }

    /// The length in seconds.
    pub fn secs(self) -> u64 {
        self.0
    }
}
