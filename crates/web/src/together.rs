//! The endpoints of running a room together (docs/protocol.md, "Roles, the
//! host and moderation"): participants, roles, host changes, kicks, bans,
//! mutes and the audit log. Bodies in, service calls, bodies out.

use crate::error::ApiError;
use crate::extract::LoggedIn;
use crate::AppState;
use actix_web::{web, HttpResponse};
use watchparty_protocol::http::{
    AuditList, AuditQuery, BanList, BanRequest, BanResponse, ChangeHostRequest, KickRequest,
    MuteRequest, ParticipantList, ParticipantResponse, RoomResponse, SetRoleRequest,
};

#[utoipa::path(
    get,
    path = "/api/rooms/{code}/participants/",
    summary = "Who is in the room",
    tag = "together",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    responses(
        (status = 200, description = "The host, then co-hosts, then viewers, each by `joined_at`, with whether they are connected now", body = ParticipantList),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: a public room one has not joined"),
        (status = 404, description = "`not_found`: no such room, a deleted room, or a private room one is not a participant of"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn participants(
    state: web::Data<AppState>,
    code: web::Path<String>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let participants = state.service.participants(&caller, &code).await?;
    Ok(HttpResponse::Ok().json(ParticipantList { participants }))
}

#[utoipa::path(
    put,
    path = "/api/rooms/{code}/participants/{user_id}/role/",
    summary = "Make a participant a co-host or a viewer (host)",
    tag = "together",
    security(("session" = [])),
    params(
        ("code" = String, Path, description = "The room's code, matched case-insensitively"),
        ("user_id" = i64, Path, description = "The participant"),
    ),
    request_body = SetRoleRequest,
    responses(
        (status = 200, description = "The participant afterwards; sockets get `PARTICIPANT_UPDATED`, theirs `CAPABILITIES`", body = ParticipantResponse),
        (status = 400, description = "`validation_error`: a role other than `co_host` or `viewer`"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`not_host`: only the host appoints co-hosts"),
        (status = 404, description = "`not_found`: no such room, or the user is not a participant"),
        (status = 409, description = "`conflict`: the target is the host"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn set_role(
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    body: web::Json<SetRoleRequest>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let (code, user) = path.into_inner();
    let participant = state
        .service
        .set_role(&caller, &code, user, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(ParticipantResponse { participant }))
}

#[utoipa::path(
    post,
    path = "/api/rooms/{code}/host/",
    summary = "Hand the room over, take it back, or claim it",
    description = "The host hands over to a participant connected now; the owner takes the room back at any time (`user_id` = the owner); a co-host claims it for themself while the room is in grace.",
    tag = "together",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    request_body = ChangeHostRequest,
    responses(
        (status = 200, description = "The room afterwards; sockets get `HOST_CHANGED`, `ROOM_UPDATED`, and the two users concerned `CAPABILITIES`", body = RoomResponse),
        (status = 400, description = "`validation_error`: no `user_id`, or not a number"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: not a change this caller may make"),
        (status = 404, description = "`not_found`: no such room, or the user is not a participant"),
        (status = 409, description = "`not_connected`: the host may hand over only to someone connected now"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn change_host(
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: web::Json<ChangeHostRequest>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let room = state
        .service
        .change_host(&caller, &code, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(RoomResponse { room }))
}

#[utoipa::path(
    post,
    path = "/api/rooms/{code}/kicks/",
    summary = "Remove a participant for a while (moderators)",
    tag = "together",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    request_body = KickRequest,
    responses(
        (status = 204, description = "Removed: their sockets get `REMOVED` and close with 4003, the others get `PARTICIPANT_REMOVED`"),
        (status = 400, description = "`validation_error`: `rejoin_after_secs` outside 0-86400, or a reason that is not one line of at most 200 characters"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: only the host and co-hosts moderate; `target_outranks`: the owner, the host, oneself, or (for a co-host) another co-host"),
        (status = 404, description = "`not_found`: no such room, or the user is not a participant"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn kick(
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: web::Json<KickRequest>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    state
        .service
        .kick(&caller, &code, body.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/api/rooms/{code}/bans/",
    summary = "Keep a user out (moderators)",
    tag = "together",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    request_body = BanRequest,
    responses(
        (status = 201, description = "The ban, replacing one in force; a participant's sockets get `REMOVED` and close with 4004, the others get `PARTICIPANT_REMOVED`", body = BanResponse),
        (status = 400, description = "`validation_error`: `duration_secs` outside 1-31536000, or a reason that is not one line of at most 200 characters"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: only the host and co-hosts moderate; `target_outranks`: the owner, the host, oneself, or (for a co-host) another co-host"),
        (status = 404, description = "`not_found`: no such room, or no such user"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn ban(
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: web::Json<BanRequest>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let ban = state.service.ban(&caller, &code, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(BanResponse { ban }))
}

#[utoipa::path(
    get,
    path = "/api/rooms/{code}/bans/",
    summary = "The kicks and bans in force (moderators)",
    tag = "together",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    responses(
        (status = 200, description = "Kicks and bans in force", body = BanList),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: only the host and co-hosts moderate"),
        (status = 404, description = "`not_found`: no such room, a deleted room, or a private room one is not a participant of"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn bans(
    state: web::Data<AppState>,
    code: web::Path<String>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let bans = state.service.bans(&caller, &code).await?;
    Ok(HttpResponse::Ok().json(BanList { bans }))
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{code}/bans/{user_id}/",
    summary = "Lift a kick or a ban (moderators)",
    tag = "together",
    security(("session" = [])),
    params(
        ("code" = String, Path, description = "The room's code, matched case-insensitively"),
        ("user_id" = i64, Path, description = "The user kept out"),
    ),
    responses(
        (status = 204, description = "Lifted: they may join again"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: only the host and co-hosts moderate"),
        (status = 404, description = "`not_found`: no such room, or no kick or ban in force for that user"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn unban(
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let (code, user) = path.into_inner();
    state.service.unban(&caller, &code, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/api/rooms/{code}/mutes/",
    summary = "Refuse a participant's chat (moderators)",
    tag = "together",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    request_body = MuteRequest,
    responses(
        (status = 200, description = "The participant afterwards; sockets get `PARTICIPANT_UPDATED`, theirs `CAPABILITIES`", body = ParticipantResponse),
        (status = 400, description = "`validation_error`: `duration_secs` outside 1-31536000"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: only the host and co-hosts moderate; `target_outranks`: the owner, the host, oneself, or (for a co-host) another co-host"),
        (status = 404, description = "`not_found`: no such room, or the user is not a participant"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn mute(
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: web::Json<MuteRequest>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let participant = state
        .service
        .mute(&caller, &code, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(ParticipantResponse { participant }))
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{code}/mutes/{user_id}/",
    summary = "Lift a mute (moderators)",
    tag = "together",
    security(("session" = [])),
    params(
        ("code" = String, Path, description = "The room's code, matched case-insensitively"),
        ("user_id" = i64, Path, description = "The muted participant"),
    ),
    responses(
        (status = 200, description = "The participant afterwards; sockets get `PARTICIPANT_UPDATED`, theirs `CAPABILITIES`", body = ParticipantResponse),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: only the host and co-hosts moderate; `target_outranks`: the owner, the host, oneself, or (for a co-host) another co-host"),
        (status = 404, description = "`not_found`: no such room, the user is not a participant, or is not muted"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn unmute(
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let (code, user) = path.into_inner();
    let participant = state.service.unmute(&caller, &code, user).await?;
    Ok(HttpResponse::Ok().json(ParticipantResponse { participant }))
}

#[utoipa::path(
    get,
    path = "/api/rooms/{code}/audit/",
    summary = "What was done to the room, newest first (moderators)",
    tag = "together",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively"), AuditQuery),
    responses(
        (status = 200, description = "Role, host, settings, kick, ban and mute changes, newest first", body = AuditList),
        (status = 400, description = "`validation_error`: `limit` out of range, or not a number"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: only the host and co-hosts moderate"),
        (status = 404, description = "`not_found`: no such room, a deleted room, or a private room one is not a participant of"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn audit(
    state: web::Data<AppState>,
    code: web::Path<String>,
    query: web::Query<AuditQuery>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let entries = state
        .service
        .audit(&caller, &code, query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(AuditList { entries }))
}
