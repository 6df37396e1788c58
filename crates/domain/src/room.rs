//! The room as a state machine: a command applied at an instant gives the new
//! room and the events to announce, or a rejection that says why.

mod people;
mod queue;

pub use queue::QueueApplied;

use crate::ids::{Millis, RoomId, UserId};
use crate::members::{Ban, BanDuration, BanKind, Expiry, Participant, Reason, RejoinAfter};
use crate::playback::{PlaybackState, Rate};
use crate::queue::{ItemId, QueueEvent, QueueItem, QueueOp, QueueRefusal};
use crate::roles::{
    capabilities, AssignedRole, Capabilities, Capability, Control, OnHostTimeout, QueueMode, Role,
    WaitPolicy,
};
use crate::values::{ChatText, MediaUrl, Position, RoomCode, RoomName};
use std::collections::BTreeMap;

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
    /// Who controls playback besides the host and co-hosts (§7).
    pub control: Control,
    /// What happens when the host's grace runs out (§7).
    pub on_host_timeout: OnHostTimeout,
    /// When the room waits for slow players (§9; the value only, so far).
    pub wait_policy: WaitPolicy,
    /// Whether viewers may add to the queue (§7, §12).
    pub viewers_can_queue: bool,
    /// How the queue is ordered (§12; the value only, so far).
    pub queue_mode: QueueMode,
}

impl RoomSettings {
    /// The defaults of a new room (public, chat on, no video, the host and
    /// co-hosts control, close when the host times out, wait at start,
    /// viewers may queue, manual queue), with this name.
    pub fn named(name: RoomName) -> Self {
        RoomSettings {
            name,
            is_private: false,
            is_chat_enabled: true,
            media_url: None,
            control: Control::default(),
            on_host_timeout: OnHostTimeout::default(),
            wait_policy: WaitPolicy::default(),
            viewers_can_queue: true,
            queue_mode: QueueMode::default(),
        }
    }
}

/// One field of [`RoomSettings`], named as in the contract (the audit's
/// `{"fields": [...]}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SettingField {
    /// `name`.
    Name,
    /// `is_private`.
    IsPrivate,
    /// `is_chat_enabled`.
    IsChatEnabled,
    /// `media_url`.
    MediaUrl,
    /// `control`.
    Control,
    /// `on_host_timeout`.
    OnHostTimeout,
    /// `wait_policy`.
    WaitPolicy,
    /// `viewers_can_queue`.
    ViewersCanQueue,
    /// `queue_mode`.
    QueueMode,
}

impl SettingField {
    /// The contract's field name.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingField::Name => "name",
            SettingField::IsPrivate => "is_private",
            SettingField::IsChatEnabled => "is_chat_enabled",
            SettingField::MediaUrl => "media_url",
            SettingField::Control => "control",
            SettingField::OnHostTimeout => "on_host_timeout",
            SettingField::WaitPolicy => "wait_policy",
            SettingField::ViewersCanQueue => "viewers_can_queue",
            SettingField::QueueMode => "queue_mode",
        }
    }

    /// Whether a change of it changes someone's capabilities: then every
    /// connected user gets `CAPABILITIES` again.
    pub fn affects_capabilities(self) -> bool {
        matches!(self, SettingField::Control | SettingField::ViewersCanQueue)
    }
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
    /// A new `control`.
    pub control: Option<Control>,
    /// A new `on_host_timeout`.
    pub on_host_timeout: Option<OnHostTimeout>,
    /// A new `wait_policy`.
    pub wait_policy: Option<WaitPolicy>,
    /// A new `viewers_can_queue`.
    pub viewers_can_queue: Option<bool>,
    /// A new `queue_mode`.
    pub queue_mode: Option<QueueMode>,
    /// The id the new video's queue item gets (reserved by the store);
    /// needed with a new `media_url`, which replaces the current item.
    pub new_item: Option<ItemId>,
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

/// Why the host changed (`reason` of `HOST_CHANGED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostChangeReason {
    /// The host handed the room to a connected participant.
    Transferred,
    /// The owner took the room back.
    Reclaimed,
    /// A co-host took the room during grace.
    Claimed,
    /// The grace ran out and the successor rule chose the new host.
    Promoted,
}

impl HostChangeReason {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            HostChangeReason::Transferred => "transferred",
            HostChangeReason::Reclaimed => "reclaimed",
            HostChangeReason::Claimed => "claimed",
            HostChangeReason::Promoted => "promoted",
        }
    }
}

/// A change of host: what `HOST_CHANGED` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostChange {
    /// The new host.
    pub host: UserId,
    /// The previous host, now a co-host.
    pub previous: UserId,
    /// Why.
    pub reason: HostChangeReason,
    /// The room's `host_epoch` afterwards.
    pub host_epoch: u64,
    /// Who asked; `None` when the server promoted by itself.
    pub by: Option<UserId>,
}

/// What changed about a participant (`PARTICIPANT_UPDATED`; the audit's
/// `role_changed`, `muted`, `unmuted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantChange {
    /// Their role is now this.
    Role(Role),
    /// They are muted until then.
    Muted(Expiry),
    /// Their mute was lifted, or lapsed.
    Unmuted,
}

/// Which record a `not_found` refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The target is not a participant of the room.
    Participant,
    /// The target has no ban or kick in force.
    Ban,
    /// The target is not muted.
    Mute,
}

/// Something that happens to a room.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// One of the host's sockets connected.
    HostConnected,
    /// The host's last socket closed, for whatever reason.
    HostDisconnected,
    /// The host's last socket closed while a group wait held playback: as
    /// [`Command::HostDisconnected`], and playback resumes when the host
    /// returns, since the room was about to play (the resume is a new wait).
    HostDisconnectedDuringWait,
    /// The server holds playback for a group wait (contract §9): paused at
    /// `position`, announced as a `PAUSE` with `by` null. Refused during
    /// grace, which holds the room already.
    HoldForWait {
        /// Where the room waits: the current position, or where the `PLAY`
        /// or `SEEK` that started the wait asked to be.
        position: Position,
    },
    /// A group wait ended and the room plays again: from `position`,
    /// starting at `start` (up to half a second ahead, so every player
    /// starts together), announced as a `PLAY` with `by` null.
    ResumeAfterWait {
        /// Where playback starts.
        position: Position,
        /// When it starts.
        start: Millis,
    },
    /// A user asks to control playback.
    Playback {
        /// Who asks.
        actor: UserId,
        /// What they ask for.
        action: PlaybackAction,
    },
    /// A participant posts a chat message. The rules refuse it when chat
    /// is off or the author is muted; that the author belongs in the room
    /// at all is checked where their socket was accepted.
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
    /// A user asks to change the room's settings (needs `edit_room`).
    UpdateSettings {
        /// Who asks.
        actor: UserId,
        /// The change.
        change: SettingsChange,
    },
    /// The inner command, only if the playback `version` is still
    /// `expected` (a client's `if_version`). For playback commands the
    /// capability is checked first, so a command that would be ignored is
    /// ignored even when stale; other commands check the version first.
    IfVersion {
        /// The version the client acted on.
        expected: u64,
        /// What it asked for.
        command: Box<Command>,
    },
    /// A controller sets the playback rate (§11, `RATE`).
    SetRate {
        /// Who asks.
        actor: UserId,
        /// The new rate.
        rate: Rate,
    },
    /// A user joins the room; joining again changes nothing.
    Join {
        /// Who joins.
        user: UserId,
    },
    /// The host makes a participant a co-host or a viewer.
    SetRole {
        /// Who asks.
        actor: UserId,
        /// Whose role changes.
        target: UserId,
        /// The new role.
        role: AssignedRole,
    },
    /// `POST …/host/`: the host hands over to a connected participant, the
    /// owner takes the room back (`target` = the owner), or a co-host claims
    /// it for themself during grace (`target` = the co-host).
    ChangeHost {
        /// Who asks.
        actor: UserId,
        /// The new host.
        target: UserId,
        /// Whether `target` has a live socket in the room now (live state).
        target_connected: bool,
    },
    /// A moderator removes a participant, who may rejoin after a while.
    Kick {
        /// Who asks.
        actor: UserId,
        /// Who is removed.
        target: UserId,
        /// Why, shown to them.
        reason: Option<Reason>,
        /// How long they stay out.
        rejoin_after: RejoinAfter,
    },
    /// A moderator bans a user, participant or not; a ban in force is replaced.
    Ban {
        /// Who asks.
        actor: UserId,
        /// Who is kept out.
        target: UserId,
        /// Why, shown to them.
        reason: Option<Reason>,
        /// How long; `None`: until lifted.
        duration: Option<BanDuration>,
    },
    /// A moderator lifts a ban or a kick.
    Unban {
        /// Who asks.
        actor: UserId,
        /// Whose ban is lifted.
        target: UserId,
    },
    /// A moderator mutes a participant (their chat is refused).
    Mute {
        /// Who asks.
        actor: UserId,
        /// Who is muted.
        target: UserId,
        /// How long; `None`: until lifted.
        duration: Option<BanDuration>,
    },
    /// A moderator lifts a mute.
    Unmute {
        /// Who asks.
        actor: UserId,
        /// Who may speak again.
        target: UserId,
    },
}

/// Which participants and bans the rules read to decide a command. A room
/// loaded with only these decides it exactly as the whole room would: a
/// seek in a room of a thousand viewers reads one participant, not a
/// thousand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeopleNeeded {
    /// Every participant and ban.
    All,
    /// Only the participants and bans of these users (possibly none).
    Only(Vec<UserId>),
}

impl Command {
    /// What the rules read to decide this command. Commands that change
    /// who is in the room or what they may do read everyone: they are rare,
    /// and what they announce depends on the others.
    pub fn people_needed(&self) -> PeopleNeeded {
        match self {
            Command::HostConnected
            | Command::HostDisconnected
            | Command::HostDisconnectedDuringWait
            | Command::HoldForWait { .. }
            | Command::ResumeAfterWait { .. }
            | Command::Delete { .. } => PeopleNeeded::Only(Vec::new()),
            Command::Playback { actor, .. }
            | Command::SetRate { actor, .. }
            | Command::PostChat { actor, .. } => PeopleNeeded::Only(vec![*actor]),
            Command::Join { user } => PeopleNeeded::Only(vec![*user]),
            Command::IfVersion { command, .. } => command.people_needed(),
            Command::UpdateSettings { .. }
            | Command::SetRole { .. }
            | Command::ChangeHost { .. }
            | Command::Kick { .. }
            | Command::Ban { .. }
            | Command::Unban { .. }
            | Command::Mute { .. }
            | Command::Unmute { .. } => PeopleNeeded::All,
        }
    }

    /// This command guarded by a client's `if_version`, when it sent one.
    pub fn if_version(self, expected: Option<u64>) -> Command {
        match expected {
            Some(expected) => Command::IfVersion {
                expected,
                command: Box::new(self),
            },
            None => self,
        }
    }
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
    /// The queue changed: one `QUEUE_UPDATED`. When the current item
    /// changed, [`Event::ItemChanged`] or [`Event::SettingsChanged`] (for a
    /// `PATCH` of `media_url`) follows.
    QueueChanged(QueueEvent),
    /// An advance made another item current (or none): `ROOM_UPDATED`,
    /// then `PLAYBACK_STATE` for it at 0.
    ItemChanged {
        /// Playback afterwards: at 0, playing if the room was.
        playback: PlaybackState,
    },
    /// Someone with `edit_room` changed settings; a new video resets
    /// playback (paused at 0, rate 1).
    SettingsChanged {
        /// Whether playback was reset to paused at 0.
        playback_reset: bool,
        /// What changed, in the contract's order.
        fields: Vec<SettingField>,
    },
    /// A controller changed the rate: `RATE` to the others.
    RateChanged {
        /// Playback afterwards, re-anchored at the change.
        playback: PlaybackState,
    },
    /// A new participant: store them.
    ParticipantJoined {
        /// The new viewer.
        participant: Participant,
    },
    /// A participant's role or mute changed: `PARTICIPANT_UPDATED` to all,
    /// `CAPABILITIES` to their sockets.
    ParticipantUpdated {
        /// The participant afterwards.
        participant: Participant,
        /// What changed.
        change: ParticipantChange,
        /// Who changed it; `None` when a mute lapsed.
        by: Option<UserId>,
    },
    /// The host changed: `HOST_CHANGED`, `ROOM_UPDATED`, then `CAPABILITIES`
    /// to the two users concerned. A grace it ends is followed by
    /// [`Event::GraceEnded`]; a new host who is away, by [`Event::GraceStarted`].
    HostChanged(HostChange),
    /// A host change ended the grace: `PLAYBACK_STATE` (still paused), not
    /// `HOST_RECONNECTED`.
    GraceEnded {
        /// Playback afterwards: paused where it froze.
        playback: PlaybackState,
    },
    /// A kick or a ban was placed (replacing one in force). When `removed`,
    /// the user was a participant and is no longer: `REMOVED` and close
    /// 4003/4004 for their sockets, `PARTICIPANT_REMOVED` for the others.
    BanPlaced {
        /// The ban.
        ban: Ban,
        /// Whether it removed a participant.
        removed: bool,
    },
    /// A ban or kick ended.
    BanLifted {
        /// Who may come back.
        user: UserId,
        /// Kick or ban.
        kind: BanKind,
        /// Who lifted it; `None` when it lapsed.
        by: Option<UserId>,
    },
    /// A chat message was accepted: store it, then deliver it to everyone.
    ChatPosted {
        /// Who wrote it.
        author: UserId,
        /// What it says.
        text: ChatText,
    },
}

/// Why a command was refused. The room is unchanged. Each is named after
/// the contract's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `not_host`: only the host may do that (appoint co-hosts). A playback
    /// command from someone without `control_playback` gets it too — with
    /// the default settings only the host controls — and is ignored silently.
    NotHost,
    /// `forbidden`: the actor lacks the capability (`edit_room`, `moderate`)
    /// or may not change the host this way.
    Forbidden,
    /// `not_owner`: only the owner may delete the room.
    NotOwner,
    /// `not_found`: no such participant, ban or mute.
    NotFound(Missing),
    /// `conflict`: the target of a role change is the host, or a new video
    /// is asked for while the host is away.
    Conflict,
    /// `not_connected`: the host may hand over only to someone connected now.
    NotConnected,
    /// `target_outranks`: the target is the owner, the host, oneself, or
    /// (for a co-host acting) another co-host.
    TargetOutranks,
    /// `banned`: the user is kept out until then (`None`: until lifted).
    Banned {
        /// When the ban lapses.
        until: Option<Millis>,
    },
    /// `muted`: the author is muted until then (`None`: until lifted).
    Muted {
        /// When the mute lapses.
        until: Option<Millis>,
    },
    /// `stale_version`: the client acted on an older playback version.
    StaleVersion {
        /// The room's version now.
        current: u64,
    },
    /// The room closed after its grace period.
    Closed,
    /// The room was deleted.
    Deleted,
    /// Chat is off in this room.
    ChatDisabled,
    /// Playback is frozen while the host is away.
    HostAway,
    /// The queue refused the operation (§12); its contract code says why.
    Queue(QueueRefusal),
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
    /// The creator, for ever: deletes the room and may take it back at any time.
    pub owner: UserId,
    /// The one participant whose role is [`Role::Host`].
    pub host: UserId,
    /// Grows by one with every change of host.
    pub host_epoch: u64,
    /// The host's choices.
    pub settings: RoomSettings,
    /// Where the room is in its life.
    pub status: RoomStatus,
    /// Where the video is.
    pub playback: PlaybackState,
    /// When it was created.
    pub created_at: Millis,
    /// The queue item being watched; its URL is `settings.media_url` and
    /// its id `playback.item`. The waiting items are loaded only for a
    /// queue operation ([`Room::apply_queue`]).
    pub current_item: Option<QueueItem>,
    /// `queue_version`: one more with every change of the queue.
    pub queue_version: u64,
    /// Everyone who joined and was not removed, the host included.
    pub participants: BTreeMap<UserId, Participant>,
    /// Kicks and bans; one whose expiry has passed no longer holds and is
    /// cleared by [`Room::lapse_due`]. A user with a ban in force is never
    /// in `participants`.
    pub bans: BTreeMap<UserId, Ban>,
}

impl Room {
    /// A new open room, paused at the start; its creator is owner, host and
    /// its first participant.
    pub fn new(
        id: RoomId,
        code: RoomCode,
        host: UserId,
        settings: RoomSettings,
        now: Millis,
    ) -> Self {
        let founder = Participant {
            role: Role::Host,
            ..Participant::viewer(host, now)
        };
        Room {
            id,
            code,
            owner: host,
            host,
            host_epoch: 0,
            settings,
            status: RoomStatus::Open,
            playback: PlaybackState::paused_at_start(now),
            created_at: now,
            current_item: None,
            queue_version: 0,
            participants: BTreeMap::from([(host, founder)]),
            bans: BTreeMap::new(),
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
    ///
    /// This is [`Room::expire_or_promote`] with nobody connected: a room
    /// whose `on_host_timeout` is `promote` must be settled with that instead.
    pub fn expire_if_due(&self, now: Millis) -> Option<Outcome> {
        self.expire_or_promote(now, &[])
    }

    /// Applies `command` at `now`. An overdue grace counts as closed: callers
    /// settle it first with [`Room::expire_or_promote`] (or
    /// [`Room::expire_if_due`]), and timed mutes and bans with [`Room::lapse_due`].
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
        self.run(command, now, grace, None)
    }

    fn run(
        &self,
        command: Command,
        now: Millis,
        grace: HostGrace,
        expected: Option<u64>,
    ) -> Result<Outcome, Rejection> {
        // Playback commands check the version after the capability (§13
        // rule 10); every other command checks it first.
        if !matches!(
            command,
            Command::Playback { .. } | Command::SetRate { .. } | Command::IfVersion { .. }
        ) {
            self.check_version(expected)?;
        }
        match command {
            Command::IfVersion {
                expected: inner,
                command,
            } => {
                if expected.is_some_and(|outer| outer != inner) {
                    return Err(self.stale());
                }
                self.run(*command, now, grace, Some(inner))
            }
            Command::HostConnected => Ok(self.host_connected(now)),
            Command::HostDisconnected => Ok(self.host_disconnected(now, grace, false)),
            Command::HostDisconnectedDuringWait => Ok(self.host_disconnected(now, grace, true)),
            Command::HoldForWait { position } => {
                self.server_playback(PlaybackAction::Pause(position), now)
            }
            Command::ResumeAfterWait { position, start } => {
                self.server_playback(PlaybackAction::Play(position), start)
            }
            Command::Playback { actor, action } => self.playback(actor, action, now, expected),
            Command::SetRate { actor, rate } => self.set_rate(actor, rate, now, expected),
            Command::PostChat { actor, text } => {
                if !self.settings.is_chat_enabled {
                    return Err(Rejection::ChatDisabled);
                }
                if let Some(mute) = self.participants.get(&actor).and_then(|p| p.mute_at(now)) {
                    return Err(Rejection::Muted {
                        until: mute.instant(),
                    });
                }
                Ok(self.unchanged_with(vec![Event::ChatPosted {
                    author: actor,
                    text,
                }]))
            }
            Command::Delete { actor } => {
                if actor != self.owner {
                    return Err(Rejection::NotOwner);
                }
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
                if !self.may(actor, Capability::EditRoom, now) {
                    return Err(Rejection::Forbidden);
                }
                // While the host is away the video stays as it froze: a
                // co-host takes the room over first (§13 rule 6).
                let new_video = change
                    .media_url
                    .as_ref()
                    .is_some_and(|url| *url != self.settings.media_url);
                if new_video && matches!(self.status, RoomStatus::Grace { .. }) {
                    return Err(Rejection::Conflict);
                }
                self.update_settings(actor, change, now)
            }
            Command::Join { user } => self.join(user, now),
            Command::SetRole {
                actor,
                target,
                role,
            } => self.set_role(actor, target, role, now),
            Command::ChangeHost {
                actor,
                target,
                target_connected,
            } => self.change_host(actor, target, target_connected, now, grace),
            Command::Kick {
                actor,
                target,
                reason,
                rejoin_after,
            } => self.kick(actor, target, reason, rejoin_after, now),
            Command::Ban {
                actor,
                target,
                reason,
                duration,
            } => self.ban(actor, target, reason, duration, now),
            Command::Unban { actor, target } => self.unban(actor, target, now),
            Command::Mute {
                actor,
                target,
                duration,
            } => self.mute(actor, target, duration, now),
            Command::Unmute { actor, target } => self.unmute(actor, target, now),
        }
    }

    /// The participant's role; `None` for someone who is not a participant.
    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.participants.get(&user).map(|p| p.role)
    }

    /// What `user` may do at `now`: nothing unless they are a participant.
    pub fn capabilities_of(&self, user: UserId, now: Millis) -> Capabilities {
        match self.participants.get(&user) {
            Some(p) => capabilities(p.role, &self.settings, p.is_muted_at(now)),
            None => Capabilities::NONE,
        }
    }

    /// Whether `user` holds `capability` at `now`.
    pub fn may(&self, user: UserId, capability: Capability, now: Millis) -> bool {
        self.capabilities_of(user, now).contains(capability)
    }

    /// The kick or ban that keeps `user` out at `now`, if any (the join and
    /// socket-upgrade check).
    pub fn ban_on(&self, user: UserId, now: Millis) -> Option<&Ban> {
        self.bans.get(&user).filter(|b| b.holds_at(now))
    }

    /// The kicks and bans in force at `now` (`GET …/bans/`).
    pub fn active_bans(&self, now: Millis) -> impl Iterator<Item = &Ban> {
        self.bans.values().filter(move |b| b.holds_at(now))
    }

    /// Participants as `GET …/participants/` lists them: the host, then
    /// co-hosts, then viewers, each by `joined_at`.
    pub fn participants_in_order(&self) -> Vec<&Participant> {
        let mut all: Vec<&Participant> = self.participants.values().collect();
        all.sort_by_key(|p| (p.role, p.joined_at, p.user));
        all
    }

    /// The next instant at which the room changes by itself: its grace
    /// deadline, or a timed mute or ban lapsing. A sweeper settles the room
    /// then ([`Room::expire_or_promote`], [`Room::lapse_due`]).
    pub fn next_deadline(&self) -> Option<Millis> {
        let grace = match self.status {
            RoomStatus::Grace { deadline, .. } => Some(deadline),
            _ => None,
        };
        let mutes = self
            .participants
            .values()
            .filter_map(|p| p.muted?.instant());
        let bans = self.bans.values().filter_map(|b| b.expires.instant());
        grace.into_iter().chain(mutes).chain(bans).min()
    }

    fn check_version(&self, expected: Option<u64>) -> Result<(), Rejection> {
        match expected {
            Some(v) if v != self.playback.version => Err(self.stale()),
            _ => Ok(()),
        }
    }

    fn stale(&self) -> Rejection {
        Rejection::StaleVersion {
            current: self.playback.version,
        }
    }

    /// `playback` as the next announced state: one version further.
    fn announced(&self, playback: PlaybackState) -> PlaybackState {
        PlaybackState {
            version: self.playback.version.saturating_add(1),
            ..playback
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
                let playback = self.announced(self.playback.at(now, was_playing));
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

    fn host_disconnected(&self, now: Millis, grace: HostGrace, held: bool) -> Outcome {
        match self.status {
            RoomStatus::Open => {
                let deadline = now.plus_millis(grace.millis);
                let playback = self.announced(self.playback.at(now, false));
                let room = Room {
                    status: RoomStatus::Grace {
                        deadline,
                        was_playing: self.playback.is_playing || held,
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

    /// The checks every playback command passes, in the contract's order:
    /// the capability, the host's presence, then `if_version`.
    fn may_control(
        &self,
        actor: UserId,
        now: Millis,
        expected: Option<u64>,
    ) -> Result<(), Rejection> {
        if !self.may(actor, Capability::ControlPlayback, now) {
            return Err(Rejection::NotHost);
        }
        if matches!(self.status, RoomStatus::Grace { .. }) {
            return Err(Rejection::HostAway);
        }
        self.check_version(expected)
    }

    fn playback(
        &self,
        actor: UserId,
        action: PlaybackAction,
        now: Millis,
        expected: Option<u64>,
    ) -> Result<Outcome, Rejection> {
        self.may_control(actor, now, expected)?;
        let (is_playing, position) = match action {
            PlaybackAction::Play(position) => (true, position),
            PlaybackAction::Pause(position) => (false, position),
            PlaybackAction::Seek(position) => (self.playback.is_playing, position),
        };
        // Paused where it already rests: nothing but the clock would change,
        // so the version stays and nothing is announced (§13 rule 10).
        if !is_playing && !self.playback.is_playing && position == self.playback.position {
            return Ok(self.unchanged_with(Vec::new()));
        }
        Ok(self.playback_changed(action, is_playing, position, now))
    }

    /// The room with playback set as `action` says from `at`, one version
    /// further, and the event that announces it.
    fn playback_changed(
        &self,
        action: PlaybackAction,
        is_playing: bool,
        position: Position,
        at: Millis,
    ) -> Outcome {
        let playback = self.announced(PlaybackState {
            is_playing,
            position,
            updated_at: at,
            ..self.playback
        });
        let room = Room {
            playback,
            ..self.clone()
        };
        Outcome {
            room,
            events: vec![Event::PlaybackChanged { action, playback }],
        }
    }

    /// A playback change the server makes for a group wait: no capability
    /// to check, always one version further (even paused where it rests:
    /// every client must hear that the room holds), never during grace.
    fn server_playback(&self, action: PlaybackAction, at: Millis) -> Result<Outcome, Rejection> {
        if matches!(self.status, RoomStatus::Grace { .. }) {
            return Err(Rejection::HostAway);
        }
        let (is_playing, position) = match action {
            PlaybackAction::Play(position) => (true, position),
            PlaybackAction::Pause(position) | PlaybackAction::Seek(position) => (false, position),
        };
        Ok(self.playback_changed(action, is_playing, position, at))
    }

    fn set_rate(
        &self,
        actor: UserId,
        rate: Rate,
        now: Millis,
        expected: Option<u64>,
    ) -> Result<Outcome, Rejection> {
        self.may_control(actor, now, expected)?;
        // Re-anchored at the old rate first: the position is continuous
        // across the change, only its slope changes.
        let playback = self.announced(PlaybackState {
            rate,
            ..self.playback.at(now, self.playback.is_playing)
        });
        let room = Room {
            playback,
            ..self.clone()
        };
        Ok(Outcome {
            room,
            events: vec![Event::RateChanged { playback }],
        })
    }

    fn update_settings(
        &self,
        actor: UserId,
        change: SettingsChange,
        now: Millis,
    ) -> Result<Outcome, Rejection> {
        let mut room = self.clone();
        let mut playback_reset = false;
        let settings = &mut room.settings;
        if let Some(name) = change.name {
            settings.name = name;
        }
        if let Some(is_private) = change.is_private {
            settings.is_private = is_private;
        }
        if let Some(is_chat_enabled) = change.is_chat_enabled {
            settings.is_chat_enabled = is_chat_enabled;
        }
        if let Some(control) = change.control {
            settings.control = control;
        }
        if let Some(on_host_timeout) = change.on_host_timeout {
            settings.on_host_timeout = on_host_timeout;
        }
        if let Some(wait_policy) = change.wait_policy {
            settings.wait_policy = wait_policy;
        }
        if let Some(viewers_can_queue) = change.viewers_can_queue {
            settings.viewers_can_queue = viewers_can_queue;
        }
        if let Some(queue_mode) = change.queue_mode {
            settings.queue_mode = queue_mode;
        }
        let mut queue_events = Vec::new();
        if let Some(media_url) = change.media_url {
            if media_url != settings.media_url {
                // The new video replaces the current item (§12).
                let replacement = match (media_url.clone(), change.new_item) {
                    (Some(url), Some(id)) => Some((id, url)),
                    (Some(_), None) => return Err(Rejection::Conflict),
                    (None, _) => None,
                };
                let op = QueueOp::ReplaceCurrent {
                    actor: self.queue_actor(actor, now),
                    replacement,
                };
                let replaced = self
                    .queue(Vec::new())
                    .apply(op, now)
                    .map_err(Rejection::Queue)?;
                room.current_item = replaced.queue.current;
                room.queue_version = replaced.queue.version;
                queue_events.extend(replaced.event.map(Event::QueueChanged));
                settings.media_url = media_url;
                // A new video starts paused at 0 at normal speed.
                room.playback = self.announced(PlaybackState {
                    item: room.current_item.as_ref().map(|item| item.id),
                    ..PlaybackState::paused_at_start(now)
                });
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
        let fields = changed_fields(&self.settings, &room.settings);
        if fields.is_empty() {
            // Nothing to store or announce: an empty or repeated change.
            return Ok(self.unchanged_with(Vec::new()));
        }
        let mut events = queue_events;
        events.push(Event::SettingsChanged {
            playback_reset,
            fields,
        });
        if room.settings.queue_mode != self.settings.queue_mode {
            // The play order changed: one QUEUE_UPDATED `moved`, no item.
            room.queue_version = room.queue_version.saturating_add(1);
            events.push(Event::QueueChanged(QueueEvent {
                version: room.queue_version,
                op: crate::queue::QueueChange::Moved,
                item: None,
                by: Some(actor),
            }));
        }
        Ok(Outcome { room, events })
    }
}

/// The fields that differ, in the contract's order.
fn changed_fields(before: &RoomSettings, after: &RoomSettings) -> Vec<SettingField> {
    [
        (SettingField::Name, before.name != after.name),
        (
            SettingField::IsPrivate,
            before.is_private != after.is_private,
        ),
        (
            SettingField::IsChatEnabled,
            before.is_chat_enabled != after.is_chat_enabled,
        ),
        (SettingField::MediaUrl, before.media_url != after.media_url),
        (SettingField::Control, before.control != after.control),
        (
            SettingField::OnHostTimeout,
            before.on_host_timeout != after.on_host_timeout,
        ),
        (
            SettingField::WaitPolicy,
            before.wait_policy != after.wait_policy,
        ),
        (
            SettingField::ViewersCanQueue,
            before.viewers_can_queue != after.viewers_can_queue,
        ),
        (
            SettingField::QueueMode,
            before.queue_mode != after.queue_mode,
        ),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}
