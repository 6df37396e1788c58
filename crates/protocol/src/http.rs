//! The HTTP request and answer bodies of docs/protocol.md, as types: the
//! server reads and writes exactly these, the OpenAPI document
//! (`/api/openapi.json`) describes them, and the web client's TypeScript
//! declarations are generated from them.

use crate::{ChatMessage, Participant, Playback, Room, User};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
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
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[ts(optional, type = "string | null")]
    #[schemars(with = "Option<String>")]
    #[schema(required = false, value_type = Option<String>)]
    pub media_url: Option<Option<String>>,
}

// Called only when the field is present: `Some(None)` for an explicit null.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
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
            },
        }
    }
}
