//! The messages and JSON shapes of watchparty's public protocol (docs/protocol.md), as data.
//!
//! [`ClientMessage`] is what a socket may send; [`parse_client_message`] reads
//! one and never panics: anything it cannot accept is `None`, which the
//! protocol says to ignore. [`ServerMessage`] is everything the server sends.
//! The HTTP bodies share the same shapes ([`Room`], [`PublicUser`], ...).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The largest playback position a client may send, in seconds.
const MAX_TIME: f64 = 1_000_000.0;

/// A user as the user themself sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
pub struct User {
    /// Stable id.
    pub id: i64,
    /// Login address, shown only to its owner.
    pub email: String,
    /// Name shown to others.
    pub display_name: String,
}

/// A user as everyone else sees it: never an email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
pub struct PublicUser {
    /// Stable id.
    pub id: i64,
    /// Name shown to others.
    pub display_name: String,
}

/// A room as listed and fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
pub struct Room {
    /// Public code, upper case.
    pub code: String,
    /// Name.
    pub name: String,
    /// The host.
    pub host: PublicUser,
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
}

/// Playback as of `server_time` (ms since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
pub struct Playback {
    /// Whether it plays.
    pub is_playing: bool,
    /// Seconds into the video as of `server_time`.
    pub time: f64,
    /// Milliseconds since the Unix epoch.
    pub server_time: i64,
}

/// A user's membership of a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
pub struct Participant {
    /// Who.
    pub user: PublicUser,
    /// `host` or `viewer`.
    pub role: String,
    /// Always true: joining by code is the invitation.
    pub is_approved: bool,
    /// RFC 3339 UTC.
    pub joined_at: String,
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
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
    /// Host: play from `time`.
    Play {
        /// Seconds, from 0 to 1,000,000.
        #[schemars(range(min = 0, max = 1_000_000))]
        time: f64,
    },
    /// Host: pause at `time`.
    Pause {
        /// Seconds, from 0 to 1,000,000.
        #[schemars(range(min = 0, max = 1_000_000))]
        time: f64,
    },
    /// Host: jump to `time`.
    Seek {
        /// Seconds, from 0 to 1,000,000.
        #[schemars(range(min = 0, max = 1_000_000))]
        time: f64,
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
}

/// Reads one text frame. `None` for anything the protocol says to ignore:
/// malformed JSON, anything but an object, unknown types, missing fields, a
/// time that is not a finite number within 0..=1,000,000.
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
        ClientMessage::Play { time }
        | ClientMessage::Pause { time }
        | ClientMessage::Seek { time } => {
            (time.is_finite() && (0.0..=MAX_TIME).contains(time)).then_some(message)
        }
        ClientMessage::ChatMessage { .. } | ClientMessage::Ping { .. } => Some(message),
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
    /// The host played.
    Play {
        /// Seconds.
        time: f64,
        /// Ms since the Unix epoch.
        server_time: i64,
    },
    /// The host paused.
    Pause {
        /// Seconds.
        time: f64,
        /// Ms since the Unix epoch.
        server_time: i64,
    },
    /// The host seeked.
    Seek {
        /// Seconds.
        time: f64,
        /// Ms since the Unix epoch.
        server_time: i64,
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
        /// Human text.
        message: String,
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
        room: Room,
    },
    /// The room ended; the socket closes next.
    RoomClosed {
        /// Why.
        reason: CloseReason,
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

impl From<Playback> for ServerMessage {
    fn from(p: Playback) -> Self {
        ServerMessage::PlaybackState {
            is_playing: p.is_playing,
            time: p.time,
            server_time: p.server_time,
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
        "// Generated from crates/protocol/src/lib.rs by ts-rs: do not edit by hand.\n\
         // Regenerate with\n\
         //   WATCHPARTY_BLESS=1 cargo test -p watchparty-protocol --test typescript\n\
         // The WebSocket messages of docs/protocol.md and the JSON shapes the HTTP\n\
         // bodies share. Times are seconds (`time`) or ms since the Unix epoch\n\
         // (`server_time`); ids are JSON numbers.\n",
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
    declare(Participant::docs(), Participant::decl(&cfg));
    declare(ChatMessage::docs(), ChatMessage::decl(&cfg));
    declare(PresentUser::docs(), PresentUser::decl(&cfg));
    declare(HostStatus::docs(), HostStatus::decl(&cfg));
    declare(CloseReason::docs(), CloseReason::decl(&cfg));
    out
}
