//! The HTTP request and answer bodies of docs/protocol.md, as types: the
//! server reads and writes exactly these, the OpenAPI document
//! (`/api/openapi.json`) describes them, and the web client's TypeScript
//! declarations are generated from them.

use crate::{ChatMessage, Participant, Playback, PublicUser, QueueItem, Room, User};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::{IntoParams, ToSchema};

/// `POST /api/auth/register/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct RegisterRequest {
    /// `local@domain`, at most 254 characters; blanks around it and letter case are ignored.
    pub email: String,
    /// 8 to 1024 characters, taken exactly as typed.
    pub password: String,
    /// 1 to 50 characters; defaults to the part of the email before the `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub display_name: Option<String>,
}

/// `POST /api/auth/login/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct LoginRequest {
    /// The account's email, matched like at registration.
    pub email: String,
    /// The password.
    pub password: String,
}

/// `POST /api/auth/register/`, `POST /api/auth/login/`, `GET /api/auth/me/`:
/// the logged-in user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct UserResponse {
    /// The user, email included.
    pub user: User,
}

/// `POST /api/auth/token/`: a token that opens one room socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct TokenResponse {
    /// Opaque text for `/ws/rooms/{code}/?token=`.
    pub token: String,
    /// Seconds the token stays good for.
    pub expires_in: u64,
}

/// `POST /api/rooms/`: absent fields take the defaults (public, chat on, no video).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct CreateRoomRequest {
    /// 1 to 100 characters after trimming.
    pub name: String,
    /// Unlisted and for participants only; false by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub is_private: Option<bool>,
    /// Whether chat is on; true by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub is_chat_enabled: Option<bool>,
    /// An `http://` or `https://` URL of at most 2048 characters, or null for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional = nullable)]
    #[schema(required = false)]
    pub media_url: Option<String>,
}

/// `PATCH /api/rooms/{code}/`: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct UpdateRoomRequest {
    /// 1 to 100 characters after trimming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub name: Option<String>,
    /// Unlisted and for participants only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub is_private: Option<bool>,
    /// Whether chat is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub is_chat_enabled: Option<bool>,
    /// A new video URL, or null to remove the video; absent leaves it as it
    /// is. (In Rust an explicit null is `Some(None)`, absence `None`.)
    #[serde(
        default,
        deserialize_with = "crate::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional, type = "string | null")]
    #[schemars(with = "Option<String>")]
    #[schema(required = false, value_type = Option<String>)]
    pub media_url: Option<Option<String>>,
    /// `host` (the host and co-hosts control playback) or `everyone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub control: Option<String>,
    /// `close` or `promote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub on_host_timeout: Option<String>,
    /// `off`, `start` or `always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub wait_policy: Option<String>,
    /// Whether viewers may add to the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub viewers_can_queue: Option<bool>,
    /// `manual` or `vote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub queue_mode: Option<String>,
}

/// `POST /api/rooms/`, `PATCH /api/rooms/{code}/`: the room afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct RoomResponse {
    /// The room.
    pub room: Room,
}

/// `GET /api/rooms/{code}/`: the room and where its playback is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct RoomWithPlayback {
    /// The room.
    pub room: Room,
    /// Playback as of now.
    pub playback: Playback,
}

/// `GET /api/rooms/public/`: open and grace rooms that are not private.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct RoomList {
    /// Rooms with live viewers first (most viewers, then newest), then the others, newest first.
    pub rooms: Vec<Room>,
}

/// `POST /api/rooms/{code}/join/`: the room and one's membership of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct JoinResponse {
    /// The room.
    pub room: Room,
    /// The caller as a participant (the same one when joining again).
    pub participant: Participant,
}

/// `GET /api/rooms/{code}/messages/`: chat history, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct MessageList {
    /// Oldest first.
    pub messages: Vec<ChatMessage>,
}

/// The query of `GET /api/rooms/public/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, TS, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100; 50 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[param(minimum = 1, maximum = 100, nullable = false)]
    pub limit: Option<i64>,
    /// At least 0; 0 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[param(minimum = 0, nullable = false)]
    pub offset: Option<i64>,
}

/// The query of `GET /api/rooms/{code}/messages/`: at most one of `before`
/// and `after`; neither gives the newest messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, TS, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// 1 to 100; 50 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[param(minimum = 1, maximum = 100, nullable = false)]
    pub limit: Option<i64>,
    /// Only messages with a smaller id (the page before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[param(nullable = false)]
    pub before: Option<i64>,
    /// Only messages with a larger id (what one missed since that id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[param(nullable = false)]
    pub after: Option<i64>,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct HealthStatus {
    /// `ok` (healthz), `ready` or `unavailable` (readyz).
    pub status: String,
}

/// Every failure's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong: `code` is for programs, `message` for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct ErrorDetail {
    /// Stable: one of the codes of docs/protocol.md's Errors table.
    #[schema(example = "not_found")]
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// Names this request in the server's log (also the `X-Request-Id`
    /// header): every error answer of the server carries it. Optional in
    /// Rust only because a body built outside a request has no id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "string")]
    #[schema(required = true, value_type = String)]
    pub request_id: Option<String>,
    /// With `banned`: when the ban lapses (RFC 3339 UTC), null until lifted.
    #[serde(
        default,
        deserialize_with = "crate::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional, type = "string | null")]
    #[schemars(with = "Option<String>")]
    #[schema(required = false, value_type = Option<String>)]
    pub until: Option<Option<String>>,
}

impl ErrorBody {
    /// The body of a refusal; `request_id` is left out when `None`.
    pub fn new(
        code: impl Into<String>,
        message: impl Into<String>,
        request_id: Option<String>,
    ) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                request_id,
                until: None,
            },
        }
    }
}

/// `GET /api/rooms/{code}/participants/`: the host, then co-hosts, then
/// viewers, each by `joined_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct ParticipantList {
    /// In that order.
    pub participants: Vec<Participant>,
}

/// A participant after a change of role or mute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct ParticipantResponse {
    /// The participant afterwards.
    pub participant: Participant,
}

/// `PUT /api/rooms/{code}/participants/{user_id}/role/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct SetRoleRequest {
    /// `co_host` or `viewer`.
    pub role: String,
}

/// `POST /api/rooms/{code}/host/`: hand over, take back, or claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct ChangeHostRequest {
    /// The new host.
    pub user_id: i64,
}

/// `POST /api/rooms/{code}/kicks/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct KickRequest {
    /// Who is removed.
    pub user_id: i64,
    /// Shown to them: one line, at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional = nullable)]
    #[schema(required = false)]
    pub reason: Option<String>,
    /// 0 to 86,400 seconds; 300 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false, minimum = 0, maximum = 86400)]
    pub rejoin_after_secs: Option<i64>,
}

/// `POST /api/rooms/{code}/bans/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct BanRequest {
    /// Who is kept out (a participant or not).
    pub user_id: i64,
    /// Shown to them: one line, at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional = nullable)]
    #[schema(required = false)]
    pub reason: Option<String>,
    /// 1 to 31,536,000 seconds; null or absent: until lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional = nullable)]
    #[schema(required = false, minimum = 1, maximum = 31536000)]
    pub duration_secs: Option<i64>,
}

/// `POST /api/rooms/{code}/mutes/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct MuteRequest {
    /// Who is muted.
    pub user_id: i64,
    /// 1 to 31,536,000 seconds; null or absent: until lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional = nullable)]
    #[schema(required = false, minimum = 1, maximum = 31536000)]
    pub duration_secs: Option<i64>,
}

/// A kick or a ban in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct Ban {
    /// Who is kept out.
    pub user: PublicUser,
    /// `kick` or `ban`.
    pub kind: String,
    /// The moderator's reason, if any.
    pub reason: Option<String>,
    /// The moderator.
    pub by: PublicUser,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// When it lapses (RFC 3339 UTC); null until lifted.
    pub expires_at: Option<String>,
}

/// `POST /api/rooms/{code}/bans/`: the ban placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct BanResponse {
    /// The ban.
    pub ban: Ban,
}

/// `GET /api/rooms/{code}/bans/`: kicks and bans in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct BanList {
    /// Oldest first.
    pub bans: Vec<Ban>,
}

/// The query of `GET /api/rooms/{code}/audit/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, TS, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1 to 100; 50 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[param(minimum = 1, maximum = 100, nullable = false)]
    pub limit: Option<i64>,
    /// Only entries with a smaller id (the page before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[param(nullable = false)]
    pub before: Option<i64>,
}

/// One thing done to a room by a person or by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct AuditEntry {
    /// Grows with every entry.
    pub id: i64,
    /// `role_changed`, `host_changed`, `room_updated`, `kicked`, `banned`,
    /// `unbanned`, `muted`, `unmuted`, `queue_item_removed`, `queue_moved`,
    /// `queue_advanced`.
    pub action: String,
    /// Who did it; null when the server did.
    pub actor: Option<PublicUser>,
    /// To whom, if to someone.
    pub target: Option<PublicUser>,
    /// What changed, as an object.
    #[ts(type = "Record<string, unknown>")]
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// RFC 3339 UTC.
    pub at: String,
}

/// `GET /api/rooms/{code}/audit/`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
}

/// `GET /api/rooms/{code}/queue/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct QueueList {
    /// The item being watched, or null.
    pub current: Option<QueueItem>,
    /// The waiting items in play order.
    pub items: Vec<QueueItem>,
    /// The queue's version.
    pub queue_version: u64,
}

/// `POST /api/rooms/{code}/queue/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct AddItemRequest {
    /// An `http://` or `https://` URL of at most 2048 characters.
    pub media_url: String,
    /// At most 200 characters, no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional = nullable)]
    #[schema(required = false)]
    pub title: Option<String>,
    /// Its length in seconds (positive), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional = nullable)]
    #[schema(required = false)]
    pub duration: Option<f64>,
    /// `end` (the default) or `next`; ignored in `vote` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub position: Option<String>,
}

/// `POST /api/rooms/{code}/queue/`: the new item (current at once when
/// nothing was).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct AddedItem {
    /// The item.
    pub item: QueueItem,
    /// The queue's version afterwards.
    pub queue_version: u64,
}

/// `PUT` / `DELETE /api/rooms/{code}/queue/{item_id}/vote/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct ItemResponse {
    /// The item afterwards.
    pub item: QueueItem,
}

/// `POST /api/rooms/{code}/queue/{item_id}/move/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct MoveItemRequest {
    /// The waiting item it goes after; null: to the front. Required.
    #[serde(deserialize_with = "crate::given")]
    #[schemars(required)]
    #[schema(required = true)]
    pub after: Option<i64>,
    /// Refused with `stale_version` unless the queue is still at this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(required = false, nullable = false)]
    pub if_version: Option<u64>,
}

/// `POST /api/rooms/{code}/queue/{item_id}/move/`: the queue's version afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct QueueVersion {
    /// The queue's version.
    pub queue_version: u64,
}

/// `POST /api/rooms/{code}/queue/advance/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, TS, ToSchema)]
pub struct AdvanceRequest {
    /// Refused with `stale_version` unless this item is current (null:
    /// unless none is); absent: no check.
    #[serde(
        default,
        deserialize_with = "crate::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional, type = "number | null")]
    #[schemars(with = "Option<i64>")]
    #[schema(required = false, value_type = Option<i64>)]
    pub if_current: Option<Option<i64>>,
}
