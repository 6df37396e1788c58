//! The endpoints of the queue (docs/protocol.md, "The queue"): what to
//! watch next. Bodies in, service calls, bodies out.

use crate::error::ApiError;
use crate::extract::LoggedIn;
use crate::AppState;
use actix_web::{web, HttpResponse};
use watchparty_protocol::http::{
    AddItemRequest, AddedItem, AdvanceRequest, ItemResponse, MoveItemRequest, QueueList,
    QueueVersion, RoomResponse,
};
use watchparty_service::Caller;

#[utoipa::path(
    get,
    path = "/api/rooms/{code}/queue/",
    summary = "The current item and the waiting items in play order",
    tag = "queue",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    responses(
        (status = 200, description = "The queue; `voted_by_me` is the caller's", body = QueueList),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: a public room one has not joined"),
        (status = 404, description = "`not_found`: no such room, a deleted room, or a private room one is not a participant of"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn list(
    state: web::Data<AppState>,
    code: web::Path<String>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let queue = state.service.queue(&caller, &code).await?;
    Ok(HttpResponse::Ok().json(queue))
}

#[utoipa::path(
    post,
    path = "/api/rooms/{code}/queue/",
    summary = "Add a video to the queue (`add_to_queue`)",
    description = "With no current item the new item becomes current at once, paused at 0.",
    tag = "queue",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    request_body = AddItemRequest,
    responses(
        (status = 201, description = "The new item; sockets get `QUEUE_UPDATED`", body = AddedItem),
        (status = 400, description = "`validation_error`: a `media_url` that is not http(s) or over 2048 characters, a title over 200 characters or with control characters, a duration that is not a positive number of seconds, a position other than `end` or `next`"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: not a participant, or viewers may not add to this room's queue"),
        (status = 404, description = "`not_found`: no such room"),
        (status = 409, description = "`queue_full`: 200 items in the room, or 20 waiting items of this user"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn add(
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: web::Json<AddItemRequest>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let added = state
        .service
        .add_to_queue(&caller, &code, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(added))
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{code}/queue/{item_id}/",
    summary = "Remove a waiting item (its adder, or `manage_queue`)",
    tag = "queue",
    security(("session" = [])),
    params(
        ("code" = String, Path, description = "The room's code, matched case-insensitively"),
        ("item_id" = i64, Path, description = "The item"),
    ),
    responses(
        (status = 204, description = "Removed; sockets get `QUEUE_UPDATED`"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: someone else's item without `manage_queue`"),
        (status = 404, description = "`not_found`: no such room, or no such item in it"),
        (status = 409, description = "`conflict`: the current item (advance instead)"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn remove(
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let (code, item) = path.into_inner();
    state
        .service
        .remove_from_queue(&caller, &code, item)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/api/rooms/{code}/queue/{item_id}/move/",
    summary = "Move a waiting item (`manage_queue`, manual mode)",
    tag = "queue",
    security(("session" = [])),
    params(
        ("code" = String, Path, description = "The room's code, matched case-insensitively"),
        ("item_id" = i64, Path, description = "The item"),
    ),
    request_body = MoveItemRequest,
    responses(
        (status = 200, description = "Moved; sockets get `QUEUE_UPDATED`", body = QueueVersion),
        (status = 400, description = "`validation_error`: `after` names the moved item itself"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: no `manage_queue`"),
        (status = 404, description = "`not_found`: no such room, or no such item in it"),
        (status = 409, description = "`conflict`: vote mode, or the current item; `stale_version`: `if_version` is not the queue's version"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn move_item(
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    body: web::Json<MoveItemRequest>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let (code, item) = path.into_inner();
    let version = state
        .service
        .move_in_queue(&caller, &code, item, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(version))
}

#[utoipa::path(
    put,
    path = "/api/rooms/{code}/queue/{item_id}/vote/",
    summary = "Vote for an item (participants; once per user and item)",
    tag = "queue",
    security(("session" = [])),
    params(
        ("code" = String, Path, description = "The room's code, matched case-insensitively"),
        ("item_id" = i64, Path, description = "The item, waiting or current"),
    ),
    responses(
        (status = 200, description = "The item afterwards; voting again changes nothing", body = ItemResponse),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: not a participant"),
        (status = 404, description = "`not_found`: no such room, or no such item in it"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn vote(
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    cast_vote(&state, path, &caller, true).await
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{code}/queue/{item_id}/vote/",
    summary = "Withdraw one's vote (participants)",
    tag = "queue",
    security(("session" = [])),
    params(
        ("code" = String, Path, description = "The room's code, matched case-insensitively"),
        ("item_id" = i64, Path, description = "The item, waiting or current"),
    ),
    responses(
        (status = 200, description = "The item afterwards; a vote never cast is fine", body = ItemResponse),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: not a participant"),
        (status = 404, description = "`not_found`: no such room, or no such item in it"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn unvote(
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    cast_vote(&state, path, &caller, false).await
}

/// `PUT` (`cast`) or `DELETE` of a vote: the item afterwards.
async fn cast_vote(
    state: &AppState,
    path: web::Path<(String, i64)>,
    caller: &Caller,
    cast: bool,
) -> Result<HttpResponse, ApiError> {
    let (code, item) = path.into_inner();
    let voted = state
        .service
        .vote_in_queue(caller, &code, item, cast)
        .await?;
    Ok(HttpResponse::Ok().json(voted))
}

#[utoipa::path(
    post,
    path = "/api/rooms/{code}/queue/advance/",
    summary = "Move on to the next item (`control_playback`)",
    description = "The first waiting item becomes current (or none), at 0, playing if the room was playing (subject to the group wait).",
    tag = "queue",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    request_body = AdvanceRequest,
    responses(
        (status = 200, description = "The room afterwards; sockets get `QUEUE_UPDATED`, `ROOM_UPDATED`, then `PLAYBACK_STATE`", body = RoomResponse),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: no `control_playback`"),
        (status = 404, description = "`not_found`: no such room"),
        (status = 409, description = "`conflict`: neither a current nor a waiting item, or the host is away (grace); `stale_version`: `if_current` is not the current item"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn advance(
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: web::Bytes,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    // The body is optional: none (or `{}`) asks for no check.
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        AdvanceRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))?
    };
    let room = state.service.advance_queue(&caller, &code, request).await?;
    Ok(HttpResponse::Ok().json(RoomResponse { room }))
}
