//! The rules of a watch party, free of IO.
//!
//! Everything here is pure: no clock, no database, no network. The caller
//! passes the current time in, so another Rust service can embed this crate
//! and apply exactly the rules the watchparty server applies.
//!
//! ```
//! use watchparty_domain::{
//!     Command, Event, HostGrace, Millis, PlaybackAction, Position, Room, RoomCode,
//!     RoomId, RoomSettings, RoomName, UserId,
//! };
//!
//! let host = UserId(7);
//! let code = RoomCode::from_entropy([3; 10]);
//! let settings = RoomSettings {
//!     name: RoomName::parse("Friday film").unwrap(),
//!     is_private: false,
//!     is_chat_enabled: true,
//!     media_url: None,
//!     ..RoomSettings::named(RoomName::parse("Friday film").unwrap())
//! };
//! let grace = HostGrace::from_secs(600);
//! let room = Room::new(RoomId(1), code, host, settings, Millis(0));
//!
//! // A viewer cannot drive playback.
//! let seek = PlaybackAction::Seek(Position::new(30.0).unwrap());
//! assert!(room.apply(Command::Playback { actor: UserId(8), action: seek }, Millis(1_000), grace).is_err());
//!
//! // The host can; the position then advances with time.
//! let play = PlaybackAction::Play(Position::new(10.0).unwrap());
//! let outcome = room.apply(Command::Playback { actor: host, action: play }, Millis(1_000), grace).unwrap();
//! assert!(matches!(outcome.events[0], Event::PlaybackChanged { .. }));
//! assert_eq!(outcome.room.playback.position_at(Millis(3_500)), 12.5);
//!
//! // When the host's last socket closes, playback freezes and grace begins.
//! let away = outcome.room.apply(Command::HostDisconnected, Millis(5_000), grace).unwrap();
//! assert!(!away.room.playback.is_playing);
//! assert_eq!(away.room.playback.position_at(Millis(60_000)), 14.0);
//! ```
//!
#![doc = include_str!("../README.md")]

mod budget;
mod error;
mod ids;
mod members;
mod playback;
mod queue;
mod roles;
mod room;
mod sync;
mod values;
mod wait;

pub use budget::Budget;
pub use error::ValidationError;
pub use ids::{ConnectionId, Millis, RoomId, UserId};
pub use members::{
    Ban, BanDuration, BanKind, Expiry, Participant, Reason, RejoinAfter, DEFAULT_REJOIN_AFTER_SECS,
    MAX_BAN_SECS, MAX_REJOIN_AFTER_SECS, REASON_MAX_CHARS,
};
pub use playback::{PlaybackState, Rate};
pub use queue::{
    Actor, AddPosition, IfCurrent, ItemDuration, ItemId, Queue, QueueChange, QueueEvent, QueueItem,
    QueueLimit, QueueOp, QueueOutcome, QueueRefusal, QueueTitle, MAX_QUEUE_ITEMS,
    MAX_QUEUE_ITEMS_PER_USER, ORDER_GAP, QUEUE_TITLE_MAX_CHARS,
};
pub use roles::{
    capabilities, AssignedRole, Capabilities, Capability, Control, OnHostTimeout, QueueMode, Role,
    WaitPolicy,
};
pub use room::{
    CloseReason, Command, Event, HostChange, HostChangeReason, HostGrace, Missing, Outcome,
    ParticipantChange, PeopleNeeded, PlaybackAction, QueueApplied, Rejection, Room, RoomSettings,
    RoomStatus, SettingField, SettingsChange,
};
pub use sync::{
    action_time, assess_report, drift_summary, DriftSummary, ReportedState, SocketSync,
    SyncRefusal, SyncReport, SyncSample, SyncVerdict, ACTION_AT_WINDOW_MS, MAX_RTT_MS,
    REPORT_AT_AFTER_MS, REPORT_AT_BEFORE_MS, RESYNC_DRIFT_MS, SYNC_FRESH_MS, SYNC_STATS_EVERY_MS,
};
pub use values::{
    ChatText, DisplayName, Email, MediaUrl, Password, Position, RoomCode, RoomName,
    CHAT_TEXT_MAX_CHARS, MAX_POSITION, ROOM_CODE_ALPHABET, ROOM_CODE_LEN,
};
pub use wait::{
    GroupWait, PlayerState, PlayerStateRefusal, RoomNow, SocketReadiness, UserReadiness,
    UserWaitRecord, Wait, WaitEnd, WaitEndCause, WaitEvent, WaitOutcome, WaitReason, WaitedSocket,
    WaitingFor, ASSUMED_RTT_MS, MAX_RESUME_LEAD_MS, REBUFFER_DEADLINE_MS, RESUME_MARGIN_MS,
    SKIP_EXCLUSION_MS, SKIP_WINDOW_MS, WAIT_DEADLINE_MS,
};
