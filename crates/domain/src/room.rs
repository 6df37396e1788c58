//! The room as a state machine: a command applied at an instant gives the new
//! room and the events to announce, or a rejection that says why.

use crate::ids::{Millis, RoomId, UserId};
use crate::playback::PlaybackState;
use crate::values::{ChatText, MediaUrl, Position, RoomCode, RoomName};

/// How long a room waits for its host to come back before closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostGrace {
    millis: i64,
}

impl HostGrace {
    /// A grace period of `secs` seconds.
    pub fn from_secs(secs: u64) -> Self {
        HostGrace {
            millis: i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        }
    }

    /// The length in whole seconds.
    pub fn secs(self) -> u64 {
        u64::try_from(self.millis / 1000).unwrap_or(0)
    }
}

/// What the host chose for the room.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSettings {
    /// Shown in listings.
    pub name: RoomName,
    /// Hidden from the public listing and from non-participants.
    pub is_private: bool,
    /// Whether chat messages are accepted.
    pub is_chat_enabled: bool,
    /// The video being watched.
    pub media_url: Option<MediaUrl>,
}

/// A partial update of [`RoomSettings`]; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsChange {
    /// A new name.
    pub name: Option<RoomName>,
    /// A new privacy flag.
    pub is_private: Option<bool>,
    /// A new chat flag.
    pub is_chat_enabled: Option<bool>,
    /// A new video: `Some(None)` clears it.
    pub media_url: Option<Option<MediaUrl>>,
}

/// Where a room is in its life.
///
/// Whether the host is connected right now is live state, not room state: an
/// open room may have its host online or not yet connected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RoomStatus {
    /// Open for joining and watching.
    Open,
    /// The host's last socket closed; playback is frozen until the host
    /// returns or `deadline` passes.
    Grace {
        /// When the room closes if the host has not returned.
        deadline: Millis,
        /// Whether playback resumes when the host returns.
        was_playing: bool,
    },
    /// Grace ran out. Final.
    Closed,
    /// The host deleted the room. Final.
    Deleted,
}

impl RoomStatus {
    /// Closed and deleted rooms never change again.
    pub fn is_final(self) -> bool {
        matches!(self, RoomStatus::Closed | RoomStatus::Deleted)
    }
}

/// A host's playback control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlaybackAction {
    /// Play from the position.
    Play(Position),
    /// Pause at the position.
    Pause(Position),
    /// Jump to the position, playing or not as before.
    Seek(Position),
}

/// Why a room ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The host deleted it.
    Deleted,
    /// The host did not come back within the grace period.
    HostTimeout,
}

/// Something that happens to a room.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// One of the host's sockets connected.
    HostConnected,
    /// The host's last socket closed, for whatever reason.
    HostDisconnected,
    /// A user asks to control playback.
    Playback {
        /// Who asks.
        actor: UserId,
        /// What they ask for.
        action: PlaybackAction,
    },
    /// A participant posts a chat message.
    PostChat {
        /// Who speaks.
        actor: UserId,
        /// What they say, already checked.
        text: ChatText,
    },
    /// A user asks to delete the room.
    Delete {
        /// Who asks.
        actor: UserId,
    },
    /// A user asks to change the room's settings.
    UpdateSettings {
        /// Who asks.
        actor: UserId,
        /// The change.
        change: SettingsChange,
    },
}

/// What a command did, to be announced.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The host moved playback.
    PlaybackChanged {
        /// What the host did.
        action: PlaybackAction,
        /// Playback afterwards.
        playback: PlaybackState,
    },
    /// The host went away: playback froze and grace began.
    GraceStarted {
        /// When the room closes unless the host returns.
        deadline: Millis,
        /// The frozen playback.
        playback: PlaybackState,
    },
    /// The host came back within grace: playback resumed as before.
    HostReturned {
        /// Playback afterwards.
        playback: PlaybackState,
    },
    /// The room ended.
    Closed {
        /// Why.
        reason: CloseReason,
    },
    /// The host changed settings; a new video resets playback.
    SettingsChanged {
        /// Whether playback was reset to paused at 0.
        playback_reset: bool,
    },
    /// A chat message was accepted: store it, then deliver it to everyone.
    ChatPosted {
        /// Who wrote it.
        author: UserId,
        /// What it says.
        text: ChatText,
    },
}

/// Why a command was refused. The room is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Only the host may do that.
    NotHost,
    /// The room closed after its grace period.
    Closed,
    /// The room was deleted.
    Deleted,
    /// Chat is off in this room.
    ChatDisabled,
    /// Playback is frozen while the host is away.
    HostAway,
}

/// The result of an accepted command.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The room afterwards.
    pub room: Room,
    /// What to announce, in order.
    pub events: Vec<Event>,
}

/// A watch-party room.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    /// Storage identity.
    pub id: RoomId,
    /// Public code.
    pub code: RoomCode,
    /// The only user who controls playback.
    pub host: UserId,
    /// The host's choices.
    pub settings: RoomSettings,
    /// Where the room is in its life.
    pub status: RoomStatus,
    /// Where the video is.
    pub playback: PlaybackState,
    /// When it was created.
    pub created_at: Millis,
}

impl Room {
    /// A new open room, paused at the start.
    pub fn new(
        id: RoomId,
        code: RoomCode,
        host: UserId,
        settings: RoomSettings,
        now: Millis,
    ) -> Self {
        Room {
            id,
            code,
            host,
            settings,
            status: RoomStatus::Open,
            playback: PlaybackState::paused_at_start(now),
            created_at: now,
        }
    }

    /// The status as of `now`: a grace whose deadline has passed counts as closed.
    pub fn status_at(&self, now: Millis) -> RoomStatus {
        match self.status {
            RoomStatus::Grace { deadline, .. } if now >= deadline => RoomStatus::Closed,
            status => status,
        }
    }

    /// Closes the room if its grace deadline has passed by `now`; `None` when
    /// nothing is due. Callers check this whenever they touch a room.
    pub fn expire_if_due(&self, now: Millis) -> Option<Outcome> {
        match self.status {
            RoomStatus::Grace { deadline, .. } if now >= deadline => Some(Outcome {
                room: Room {
                    status: RoomStatus::Closed,
                    ..self.clone()
                },
                events: vec![Event::Closed {
                    reason: CloseReason::HostTimeout,
                }],
            }),
            _ => None,
        }
    }

    /// Applies `command` at `now`. An overdue grace counts as closed: callers
    /// settle it first with [`Room::expire_if_due`].
    pub fn apply(
        &self,
        command: Command,
        now: Millis,
        grace: HostGrace,
    ) -> Result<Outcome, Rejection> {
        match self.status_at(now) {
            RoomStatus::Deleted => return Err(Rejection::Deleted),
            RoomStatus::Closed if !matches!(command, Command::Delete { .. }) => {
                return Err(Rejection::Closed)
            }
            _ => {}
        }
        match command {
            Command::HostConnected => Ok(self.host_connected(now)),
            Command::HostDisconnected => Ok(self.host_disconnected(now, grace)),
            Command::Playback { actor, action } => self.playback(actor, action, now),
            Command::PostChat { actor, text } => {
                if self.settings.is_chat_enabled {
                    Ok(self.unchanged_with(vec![Event::ChatPosted {
                        author: actor,
                        text,
                    }]))
                } else {
                    Err(Rejection::ChatDisabled)
                }
            }
            Command::Delete { actor } => {
                self.require_host(actor)?;
                let room = Room {
                    status: RoomStatus::Deleted,
                    ..self.clone()
                };
                let events = vec![Event::Closed {
                    reason: CloseReason::Deleted,
                }];
                Ok(Outcome { room, events })
            }
            Command::UpdateSettings { actor, change } => {
                self.require_host(actor)?;
                Ok(self.update_settings(change, now))
            }
        }
    }

    fn require_host(&self, actor: UserId) -> Result<(), Rejection> {
        if actor == self.host {
            Ok(())
        } else {
            Err(Rejection::NotHost)
        }
    }

    fn unchanged_with(&self, events: Vec<Event>) -> Outcome {
        Outcome {
            room: self.clone(),
            events,
        }
    }

    fn host_connected(&self, now: Millis) -> Outcome {
        match self.status {
            RoomStatus::Grace { was_playing, .. } => {
                let playback = self.playback.at(now, was_playing);
                let room = Room {
                    status: RoomStatus::Open,
                    playback,
                    ..self.clone()
                };
                Outcome {
                    room,
                    events: vec![Event::HostReturned { playback }],
                }
            }
            _ => self.unchanged_with(Vec::new()),
        }
    }

    fn host_disconnected(&self, now: Millis, grace: HostGrace) -> Outcome {
        match self.status {
            RoomStatus::Open => {
                let deadline = now.plus_millis(grace.millis);
                let playback = self.playback.at(now, false);
                let room = Room {
                    status: RoomStatus::Grace {
                        deadline,
                        was_playing: self.playback.is_playing,
                    },
                    playback,
                    ..self.clone()
                };
                Outcome {
                    room,
                    events: vec![Event::GraceStarted { deadline, playback }],
                }
            }
            _ => self.unchanged_with(Vec::new()),
        }
    }

    fn playback(
        &self,
        actor: UserId,
        action: PlaybackAction,
        now: Millis,
    ) -> Result<Outcome, Rejection> {
        self.require_host(actor)?;
        if matches!(self.status, RoomStatus::Grace { .. }) {
            return Err(Rejection::HostAway);
        }
        let (is_playing, position) = match action {
            PlaybackAction::Play(position) => (true, position),
            PlaybackAction::Pause(position) => (false, position),
            PlaybackAction::Seek(position) => (self.playback.is_playing, position),
        };
        let playback = PlaybackState {
            is_playing,
            position,
            updated_at: now,
        };
        let room = Room {
            playback,
            ..self.clone()
        };
        Ok(Outcome {
            room,
            events: vec![Event::PlaybackChanged { action, playback }],
        })
    }

    fn update_settings(&self, change: SettingsChange, now: Millis) -> Outcome {
        let mut room = self.clone();
        let mut playback_reset = false;
        if let Some(name) = change.name {
            room.settings.name = name;
        }
        if let Some(is_private) = change.is_private {
            room.settings.is_private = is_private;
        }
        if let Some(is_chat_enabled) = change.is_chat_enabled {
            room.settings.is_chat_enabled = is_chat_enabled;
        }
        if let Some(media_url) = change.media_url {
            if media_url != room.settings.media_url {
                room.settings.media_url = media_url;
                room.playback = PlaybackState::paused_at_start(now);
                // A new video must not resume the old one's playing state.
                if let RoomStatus::Grace { deadline, .. } = room.status {
                    room.status = RoomStatus::Grace {
                        deadline,
                        was_playing: false,
                    };
                }
                playback_reset = true;
            }
        }
        if room.settings == self.settings {
            // Nothing to store or announce: an empty or repeated change.
            return self.unchanged_with(Vec::new());
        }
        Outcome {
            room,
            events: vec![Event::SettingsChanged { playback_reset }],
        }
    }
}
