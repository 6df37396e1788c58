//! The messages and JSON shapes of watchparty's public protocol (docs/protocol.md), as data.
//!
//! [`ClientMessage`] is what a socket may send; [`parse_client_message`] reads
//! one and never panics: anything it cannot accept is `None`, which the
//! protocol says to ignore. [`ServerMessage`] is everything the server sends.
//! The HTTP bodies share the same shapes ([`Room`], [`PublicUser`], ...).

pub mod frame;
pub mod http;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

// Called only when the field is present: `Some(None)` for an explicit null,
// so that "absent" and "null" read back as they were written.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A field that must be given, though it may be null: absent is refused.
fn given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// The largest playback position a client may send, in seconds.
const MAX_TIME: f64 = 1_000_000.0;
/// The slowest playback rate a client may ask for.
pub const MIN_RATE: f64 = 0.25;
/// The fastest playback rate a client may ask for.
pub const MAX_RATE: f64 = 4.0;

/// A user as the user themself sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct User {
    /// Stable id.
    pub id: i64,
    /// Login address, shown only to its owner.
    pub email: String,
    /// Name shown to others.
    pub display_name: String,
}

/// A user as everyone else sees it: never an email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct PublicUser {
    /// Stable id.
    pub id: i64,
    /// Name shown to others.
    pub display_name: String,
}

/// A room as listed and fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct Room {
    /// Public code, upper case.
    pub code: String,
    /// Name.
    pub name: String,
    /// The host.
    pub host: PublicUser,
    /// The creator, for ever: deletes the room, takes it back at any time.
    pub owner: PublicUser,
    /// Unlisted and visible to participants only.
    pub is_private: bool,
    /// Whether chat is on.
    pub is_chat_enabled: bool,
    /// The video, if any.
    pub media_url: Option<String>,
    /// `open`, `grace` or `closed`.
    pub status: String,
    /// Distinct users with a live socket in the room.
    pub viewer_count: u64,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Who controls playback besides the host and co-hosts: `host` (nobody
    /// else) or `everyone`.
    pub control: String,
    /// When the host's grace runs out: `close` the room or `promote` a
    /// connected participant.
    pub on_host_timeout: String,
    /// When the room waits for slow players: `off`, `start` or `always`.
    pub wait_policy: String,
    /// Whether viewers may add to the queue.
    pub viewers_can_queue: bool,
    /// How the queue is ordered: `manual` or `vote`.
    pub queue_mode: String,
    /// Grows by one whenever the host changes.
    pub host_epoch: u64,
    /// The item being watched (its URL is `media_url`), or null.
    pub current_item: Option<QueueItem>,
    /// Grows by one with every change of the queue or of the current item.
    pub queue_version: u64,
}

/// One video of a room's queue: waiting, or the current item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct QueueItem {
    /// Unique across rooms.
    pub id: i64,
    /// An `http://` or `https://` URL.
    pub media_url: String,
    /// A title, if the adder gave one.
    pub title: Option<String>,
    /// Its length in seconds, if known: the server advances by itself at its end.
    pub duration: Option<f64>,
    /// Who added it.
    pub added_by: PublicUser,
    /// RFC 3339 UTC.
    pub added_at: String,
    /// How many users voted for it.
    pub votes: u64,
    /// Whether the requester voted for it: in HTTP answers only (absent in
    /// `QUEUE_UPDATED`, which every socket gets alike).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub voted_by_me: Option<bool>,
}

/// Playback as of `server_time` (ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct Playback {
    /// Whether it plays.
    pub is_playing: bool,
    /// Seconds into the video as of `server_time`.
    pub time: f64,
    /// Milliseconds since the Unix epoch.
    pub server_time: i64,
    /// Seconds of video per second while playing (0.25 to 4; 1 by default).
    pub rate: f64,
    /// Grows by one with every change of playback.
    pub version: u64,
    /// The group wait in progress (playback is held meanwhile); null when
    /// the room does not wait.
    pub waiting: Option<Waiting>,
    /// The current queue item this playback is of; null when none.
    pub item_id: Option<i64>,
}

/// A group wait in progress: who the room waits for, why, and until when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct Waiting {
    /// The users still not ready.
    #[serde(rename = "for")]
    #[ts(rename = "for")]
    pub waiting_for: Vec<PublicUser>,
    /// `play`, `seek`, `resume`, `advance` or `rebuffer`.
    pub reason: String,
    /// When the wait ends at the latest (ms since the Unix epoch).
    pub deadline: i64,
}

/// One viewer's line in `SYNC_STATS`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
pub struct SyncLine {
    /// Who.
    pub user: PublicUser,
    /// Their player's position minus the room's, in ms (positive: ahead).
    pub drift_ms: f64,
    /// The round trip their client reported, in ms.
    pub rtt_ms: f64,
    /// `playing`, `paused` or `buffering`.
    pub state: String,
    /// When the server received the report (ms since the Unix epoch).
    pub updated_at: i64,
}

/// A player's readiness in `PLAYER_STATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum PlayerStateName {
    /// Still loading the media.
    Loading,
    /// Able to play at once.
    Ready,
    /// Stalled for data.
    Buffering,
    /// Cannot play this media.
    Error,
}

/// A player's state in `SYNC_REPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ReportedStateName {
    /// Playing.
    Playing,
    /// Paused.
    Paused,
    /// Stalled for data.
    Buffering,
}

/// A user's membership of a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct Participant {
    /// Who.
    pub user: PublicUser,
    /// `host`, `co_host` or `viewer`.
    pub role: String,
    /// Always true: joining by code is the invitation.
    pub is_approved: bool,
    /// RFC 3339 UTC.
    pub joined_at: String,
    /// Whether their chat is refused.
    pub is_muted: bool,
    /// When the mute lapses (RFC 3339 UTC); null while muted until lifted,
    /// and when not muted.
    pub muted_until: Option<String>,
    /// Whether they have a live socket in the room now.
    pub is_connected: bool,
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct ChatMessage {
    /// Grows in delivery order within a room.
    pub id: i64,
    /// Author.
    pub user: PublicUser,
    /// Text, trimmed.
    pub message: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// One entry of a `PRESENCE` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
pub struct PresentUser {
    /// User id.
    pub id: i64,
    /// Name shown to others.
    pub display_name: String,
    /// Whether this user hosts the room.
    pub is_host: bool,
    /// `host`, `co_host` or `viewer`.
    pub role: String,
}

/// Whether the room waits for its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// At least one of the host's sockets is live.
    Online,
    /// The host is away and the room closes at the grace deadline.
    Grace,
    /// The host is not connected and the room is not in grace: the host has
    /// not connected yet.
    Offline,
}

/// Why a room closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The host deleted it (socket closed with 4001).
    Deleted,
    /// The host's grace ran out (socket closed with 4002).
    HostTimeout,
}

impl CloseReason {
    /// The WebSocket close code that follows `ROOM_CLOSED`.
    pub fn close_code(self) -> u16 {
        match self {
            CloseReason::Deleted => 4001,
            CloseReason::HostTimeout => 4002,
        }
    }
}

/// What a client may send over the room socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientMessage {
    /// A controller: play from `time`.
    Play {
        /// Seconds, from 0 to 1,000,000.
        #[schemars(range(min = 0, max = 1_000_000))]
        time: f64,
        /// Apply only if the playback version is still this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        if_version: Option<u64>,
        /// When the person acted, by the server's clock as the client
        /// estimates it (ms since the Unix epoch); used when it lies within
        /// the last second.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        at: Option<f64>,
    },
    /// A controller: pause at `time`.
    Pause {
        /// Seconds, from 0 to 1,000,000.
        #[schemars(range(min = 0, max = 1_000_000))]
        time: f64,
        /// Apply only if the playback version is still this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        if_version: Option<u64>,
        /// When the person acted, by the server's clock as the client
        /// estimates it (ms since the Unix epoch); used when it lies within
        /// the last second.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        at: Option<f64>,
    },
    /// A controller: jump to `time`.
    Seek {
        /// Seconds, from 0 to 1,000,000.
        #[schemars(range(min = 0, max = 1_000_000))]
        time: f64,
        /// Apply only if the playback version is still this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        if_version: Option<u64>,
        /// When the person acted, by the server's clock as the client
        /// estimates it (ms since the Unix epoch); used when it lies within
        /// the last second.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        at: Option<f64>,
    },
    /// A controller: play at `rate` seconds per second from now.
    Rate {
        /// From 0.25 to 4.
        #[schemars(range(min = 0.25, max = 4))]
        rate: f64,
        /// Apply only if the playback version is still this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        if_version: Option<u64>,
        /// When the person acted, by the server's clock as the client
        /// estimates it (ms since the Unix epoch); used when it lies within
        /// the last second.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        at: Option<f64>,
    },
    /// Anyone: say something.
    ChatMessage {
        /// Untrimmed text.
        message: String,
    },
    /// Anyone: measure the clock; echoed back in `PONG`.
    Ping {
        /// Any JSON number, echoed as sent.
        client_time: serde_json::Number,
    },
    /// Anyone: this socket's player is loading, ready, buffering or failed.
    /// Only sockets that send it are ever waited for; more than 4 a second
    /// are ignored.
    PlayerState {
        /// The player's readiness.
        state: PlayerStateName,
    },
    /// Anyone: whether the room waits for this user (all their sockets);
    /// no reply.
    SetWait {
        /// False: never wait for me.
        wait: bool,
    },
    /// Anyone, at most once a second: where the player is; answered with
    /// `YOUR_SYNC`.
    SyncReport {
        /// The player's position in seconds at `at`.
        time: f64,
        /// When, by the server's clock as the client estimates it (ms since
        /// the Unix epoch).
        at: f64,
        /// The client's round trip to the server in ms.
        rtt_ms: f64,
        /// The player's state.
        state: ReportedStateName,
    },
    /// A controller's player reached the end of the current item: the room
    /// advances, if that item is still current.
    Ended {
        /// The item that ended.
        item_id: i64,
    },
}

/// Reads one text frame. `None` for anything the protocol says to ignore:
/// malformed JSON, anything but an object, unknown types, missing fields, a
/// time that is not a finite number within 0..=1,000,000, a rate that is
/// not within 0.25..=4.
pub fn parse_client_message(text: &str) -> Option<ClientMessage> {
    // Messages are JSON objects. serde would also read a tagged enum from an
    // array (`["SEEK", 1]`), which the protocol does not allow.
    let is_object = text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{');
    if !is_object {
        return None;
    }
    let message: ClientMessage = serde_json::from_str(text).ok()?;
    match &message {
        ClientMessage::Play { time, .. }
        | ClientMessage::Pause { time, .. }
        | ClientMessage::Seek { time, .. } => {
            (time.is_finite() && (0.0..=MAX_TIME).contains(time)).then_some(message)
        }
        ClientMessage::Rate { rate, .. } => {
            (rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(rate)).then_some(message)
        }
        ClientMessage::ChatMessage { .. }
        | ClientMessage::Ping { .. }
        | ClientMessage::PlayerState { .. }
        | ClientMessage::SetWait { .. }
        | ClientMessage::SyncReport { .. }
        | ClientMessage::Ended { .. } => Some(message),
    }
}

/// Everything the server sends over the room socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerMessage {
    /// Where playback is; first on every connection.
    PlaybackState {
        /// Whether it plays.
        is_playing: bool,
        /// Seconds as of `server_time`.
        time: f64,
        /// Ms since the Unix epoch.
        server_time: i64,
        /// Seconds of video per second while playing.
        rate: f64,
        /// The playback version.
        version: u64,
        /// Who changed it; null when the server did (or on connecting).
        by: Option<PublicUser>,
        /// The group wait in progress, if any.
        waiting: Option<Waiting>,
        /// The current queue item; null when none.
        item_id: Option<i64>,
        /// Present and true only when the server sends it because this
        /// socket drifted too far (two sync reports beyond 1.5 s).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        resync: Option<bool>,
    },
    /// Who is connected; second on every connection.
    Presence {
        /// Distinct connected users.
        users: Vec<PresentUser>,
        /// Whether the room waits for its host.
        host_status: HostStatus,
    },
    /// A user's first socket in the room opened.
    UserJoined {
        /// Who.
        user: PublicUser,
    },
    /// A user's last socket in the room closed.
    UserLeft {
        /// Who.
        user: PublicUser,
    },
    /// A controller played.
    Play {
        /// Seconds.
        time: f64,
        /// Ms since the Unix epoch.
        server_time: i64,
        /// The playback version afterwards.
        version: u64,
        /// Who did it; null when the server did.
        by: Option<PublicUser>,
    },
    /// A controller paused.
    Pause {
        /// Seconds.
        time: f64,
        /// Ms since the Unix epoch.
        server_time: i64,
        /// The playback version afterwards.
        version: u64,
        /// Who did it; null when the server did.
        by: Option<PublicUser>,
    },
    /// A controller seeked.
    Seek {
        /// Seconds.
        time: f64,
        /// Ms since the Unix epoch.
        server_time: i64,
        /// The playback version afterwards.
        version: u64,
        /// Who did it; null when the server did.
        by: Option<PublicUser>,
    },
    /// A controller changed the playback rate.
    Rate {
        /// Seconds of video per second while playing.
        rate: f64,
        /// Seconds, as of `server_time`.
        time: f64,
        /// Ms since the Unix epoch.
        server_time: i64,
        /// The playback version afterwards.
        version: u64,
        /// Who did it.
        by: Option<PublicUser>,
    },
    /// A stored chat message.
    ChatMessage {
        /// Id, growing in delivery order.
        id: i64,
        /// Author.
        user: PublicUser,
        /// Text.
        message: String,
        /// RFC 3339 UTC.
        created_at: String,
    },
    /// The answer to `PING`.
    Pong {
        /// As the client sent it.
        client_time: serde_json::Number,
        /// Ms since the Unix epoch.
        server_time: i64,
    },
    /// A user-relevant refusal, to this socket only.
    Error {
        /// Stable, for programs: `chat_disabled`, `too_long`, `rate_limited`,
        /// `muted`, `stale_version`, `unavailable`.
        code: String,
        /// Human text.
        message: String,
        /// With `stale_version`: the room's playback version now.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        version: Option<u64>,
        /// With `muted`: when the mute lapses (RFC 3339 UTC), null until lifted.
        #[serde(
            default,
            deserialize_with = "present",
            skip_serializing_if = "Option::is_none"
        )]
        #[ts(optional, type = "string | null")]
        #[schemars(with = "Option<String>")]
        until: Option<Option<String>>,
    },
    /// The host's last socket closed; the room is in grace.
    HostDisconnected {
        /// RFC 3339 UTC.
        grace_expires_at: String,
        /// Length of the grace period.
        grace_seconds: u64,
    },
    /// The host came back within grace.
    HostReconnected,
    /// The host changed the room.
    RoomUpdated {
        /// The room afterwards.
        room: Box<Room>,
    },
    /// The room ended; the socket closes next.
    RoomClosed {
        /// Why.
        reason: CloseReason,
    },
    /// The host changed; the previous host is now a co-host.
    HostChanged {
        /// The new host.
        host: PublicUser,
        /// The previous host.
        previous: PublicUser,
        /// `transferred`, `reclaimed`, `claimed` or `promoted`.
        reason: String,
        /// The room's `host_epoch` afterwards.
        host_epoch: u64,
    },
    /// A participant's role or mute changed.
    ParticipantUpdated {
        /// The participant afterwards.
        participant: Participant,
        /// Who changed it; null when a mute lapsed.
        by: Option<PublicUser>,
    },
    /// What this socket's user may do; third on every connection, and again
    /// whenever it changes.
    Capabilities {
        /// `host`, `co_host` or `viewer`.
        role: String,
        /// Capability names, in the protocol's order.
        capabilities: Vec<String>,
    },
    /// This socket's user was kicked or banned; the socket closes next
    /// (4003 kicked, 4004 banned) and must not reconnect.
    Removed {
        /// `kicked` or `banned`.
        action: String,
        /// The moderator's reason, if any.
        reason: Option<String>,
        /// When they may come back (RFC 3339 UTC); null for a ban until lifted.
        until: Option<String>,
    },
    /// The room holds playback until these users are ready (again whenever
    /// the list shrinks).
    Waiting {
        /// The users still not ready.
        #[serde(rename = "for")]
        #[ts(rename = "for")]
        waiting_for: Vec<PublicUser>,
        /// `play`, `seek`, `resume`, `advance` or `rebuffer`.
        reason: String,
        /// When the wait ends at the latest (ms since the Unix epoch).
        deadline: i64,
    },
    /// A wait's deadline passed with these users still not ready; the
    /// `PLAY` follows and they catch up on their own.
    WaitSkipped {
        /// Who was skipped.
        users: Vec<PublicUser>,
    },
    /// The answer to `SYNC_REPORT`: this socket's drift as the server
    /// computed it.
    YourSync {
        /// Position minus the room's, in ms (positive: ahead); null when the
        /// report did not count (the room paused or waiting, `at` out of
        /// its window).
        drift_ms: Option<f64>,
        /// The round trip the client reported.
        rtt_ms: f64,
    },
    /// Every 5 s to the controllers while any report is younger than 30 s.
    SyncStats {
        /// One line per reporting user.
        users: Vec<SyncLine>,
        /// The median absolute drift in ms.
        p50_abs_drift_ms: f64,
        /// The 95th percentile of the absolute drifts in ms.
        p95_abs_drift_ms: f64,
    },
    /// The queue changed; `queue_version` grows by one with each.
    QueueUpdated {
        /// The queue's version afterwards.
        queue_version: u64,
        /// `added`, `removed`, `moved`, `voted` or `advanced`.
        op: String,
        /// The item concerned (for `advanced`, the new current item); absent
        /// when there is none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        item: Option<QueueItem>,
        /// Who; null for the server's own automatic advance.
        by: Option<PublicUser>,
    },
    /// Someone was kicked or banned.
    ParticipantRemoved {
        /// Who.
        user: PublicUser,
        /// `kicked` or `banned`.
        action: String,
        /// The moderator.
        by: PublicUser,
    },
}

impl ServerMessage {
    /// The JSON text of this message. Serializing these types cannot fail
    /// (string keys, no maps with non-string keys); an empty object is the
    /// unreachable fallback rather than a panic.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

impl ServerMessage {
    /// `PLAYBACK_STATE` for `playback`, changed by `by` (`None`: by the
    /// server, or a state sent on connecting).
    pub fn playback_state(p: Playback, by: Option<PublicUser>) -> Self {
        ServerMessage::PlaybackState {
            is_playing: p.is_playing,
            time: p.time,
            server_time: p.server_time,
            rate: p.rate,
            version: p.version,
            by,
            waiting: p.waiting,
            item_id: p.item_id,
            resync: None,
        }
    }

    /// An `ERROR` with its code and text only.
    pub fn error(code: &str, message: &str) -> Self {
        ServerMessage::Error {
            code: code.to_owned(),
            message: message.to_owned(),
            version: None,
            until: None,
        }
    }
}

/// The JSON Schema (draft 2020-12) of every WebSocket message, derived from
/// the types above: `$defs` holds each shape, and `ClientMessage` and
/// `ServerMessage` list every message by its `type`. Served at
/// `/api/ws-schema.json` and checked in as `docs/ws-schema.json`.
pub fn ws_schema() -> serde_json::Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let client = generator.subschema_for::<ClientMessage>();
    let server = generator.subschema_for::<ServerMessage>();
    let defs: serde_json::Map<String, serde_json::Value> =
        generator.take_definitions(true).into_iter().collect();
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "watchparty WebSocket messages",
        "description": "Every message of the room socket (docs/protocol.md). A client sends a ClientMessage and receives ServerMessages.",
        "oneOf": [client, server],
        "$defs": defs,
    })
}

/// The TypeScript declarations of every message and shape above, derived
/// with `ts-rs` as one module for the web client: checked in as
/// `crates/web/client/protocol.d.ts`, whose JavaScript is type-checked
/// against it (docs/web-client.md).
pub fn typescript_definitions() -> String {
    // JSON numbers reach JavaScript as `number`, whatever their Rust width:
    // ts-rs would otherwise declare i64 / u64 as `bigint`, which `JSON.parse`
    // never produces. Set here rather than read from TS_RS_LARGE_INT so the
    // output does not depend on the environment.
    let cfg = ts_rs::Config::new().with_large_int("number");
    let mut out = String::from(
        "// Generated from crates/protocol/src/lib.rs and http.rs by ts-rs: do not\n\
         // edit by hand. Regenerate with\n\
         //   WATCHPARTY_BLESS=1 cargo test -p watchparty-protocol --test typescript\n\
         // The WebSocket messages of docs/protocol.md, the JSON shapes they share\n\
         // with the HTTP bodies, and the HTTP request and answer bodies. Times are\n\
         // seconds (`time`) or ms since the Unix epoch (`server_time`); ids are\n\
         // JSON numbers.\n",
    );
    let mut declare = |docs: Option<String>, decl: String| {
        out.push('\n');
        out.push_str(&docs.unwrap_or_default());
        // ts-rs leaves a space after each field's separator; trimming keeps
        // the checked-in file free of trailing whitespace.
        for line in format!("export {decl}").lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
    };
    declare(ClientMessage::docs(), ClientMessage::decl(&cfg));
    declare(ServerMessage::docs(), ServerMessage::decl(&cfg));
    declare(User::docs(), User::decl(&cfg));
    declare(PublicUser::docs(), PublicUser::decl(&cfg));
    declare(Room::docs(), Room::decl(&cfg));
    declare(Playback::docs(), Playback::decl(&cfg));
    declare(Waiting::docs(), Waiting::decl(&cfg));
    declare(QueueItem::docs(), QueueItem::decl(&cfg));
    declare(SyncLine::docs(), SyncLine::decl(&cfg));
    declare(PlayerStateName::docs(), PlayerStateName::decl(&cfg));
    declare(ReportedStateName::docs(), ReportedStateName::decl(&cfg));
    declare(Participant::docs(), Participant::decl(&cfg));
    declare(ChatMessage::docs(), ChatMessage::decl(&cfg));
    declare(PresentUser::docs(), PresentUser::decl(&cfg));
    declare(HostStatus::docs(), HostStatus::decl(&cfg));
    declare(CloseReason::docs(), CloseReason::decl(&cfg));
    // The HTTP bodies (docs/protocol.md, "Accounts and tokens" and "Rooms").
    declare(
        http::RegisterRequest::docs(),
        http::RegisterRequest::decl(&cfg),
    );
    declare(http::LoginRequest::docs(), http::LoginRequest::decl(&cfg));
    declare(http::UserResponse::docs(), http::UserResponse::decl(&cfg));
    declare(http::TokenResponse::docs(), http::TokenResponse::decl(&cfg));
    declare(
        http::CreateRoomRequest::docs(),
        http::CreateRoomRequest::decl(&cfg),
    );
    declare(
        http::UpdateRoomRequest::docs(),
        http::UpdateRoomRequest::decl(&cfg),
    );
    declare(http::RoomResponse::docs(), http::RoomResponse::decl(&cfg));
    declare(
        http::RoomWithPlayback::docs(),
        http::RoomWithPlayback::decl(&cfg),
    );
    declare(http::RoomList::docs(), http::RoomList::decl(&cfg));
    declare(http::JoinResponse::docs(), http::JoinResponse::decl(&cfg));
    declare(http::MessageList::docs(), http::MessageList::decl(&cfg));
    declare(http::PageQuery::docs(), http::PageQuery::decl(&cfg));
    declare(http::MessagesQuery::docs(), http::MessagesQuery::decl(&cfg));
    declare(
        http::ParticipantList::docs(),
        http::ParticipantList::decl(&cfg),
    );
    declare(
        http::ParticipantResponse::docs(),
        http::ParticipantResponse::decl(&cfg),
    );
    declare(
        http::SetRoleRequest::docs(),
        http::SetRoleRequest::decl(&cfg),
    );
    declare(
        http::ChangeHostRequest::docs(),
        http::ChangeHostRequest::decl(&cfg),
    );
    declare(http::KickRequest::docs(), http::KickRequest::decl(&cfg));
    declare(http::BanRequest::docs(), http::BanRequest::decl(&cfg));
    declare(http::MuteRequest::docs(), http::MuteRequest::decl(&cfg));
    declare(http::Ban::docs(), http::Ban::decl(&cfg));
    declare(http::BanResponse::docs(), http::BanResponse::decl(&cfg));
    declare(http::BanList::docs(), http::BanList::decl(&cfg));
    declare(http::QueueList::docs(), http::QueueList::decl(&cfg));
    declare(
        http::AddItemRequest::docs(),
        http::AddItemRequest::decl(&cfg),
    );
    declare(http::AddedItem::docs(), http::AddedItem::decl(&cfg));
    declare(http::ItemResponse::docs(), http::ItemResponse::decl(&cfg));
    declare(
        http::MoveItemRequest::docs(),
        http::MoveItemRequest::decl(&cfg),
    );
    declare(http::QueueVersion::docs(), http::QueueVersion::decl(&cfg));
    declare(
        http::AdvanceRequest::docs(),
        http::AdvanceRequest::decl(&cfg),
    );
    declare(http::AuditQuery::docs(), http::AuditQuery::decl(&cfg));
    declare(http::AuditEntry::docs(), http::AuditEntry::decl(&cfg));
    declare(http::AuditList::docs(), http::AuditList::decl(&cfg));
    declare(http::HealthStatus::docs(), http::HealthStatus::decl(&cfg));
    declare(http::ErrorBody::docs(), http::ErrorBody::decl(&cfg));
    declare(http::ErrorDetail::docs(), http::ErrorDetail::decl(&cfg));
    out
}
