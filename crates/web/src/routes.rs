//! The HTTP endpoints of docs/protocol.md: bodies in, service calls, bodies out.

use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::extract::{LoggedIn, USER_KEY};
use crate::AppState;
use actix_session::Session;
use actix_web::{web, HttpResponse};
use watchparty_protocol::http::{
    CreateRoomRequest, HealthStatus, JoinResponse, LoginRequest, MessageList, MessagesQuery,
    PageQuery, RegisterRequest, RoomList, RoomResponse, RoomWithPlayback, TokenResponse,
    UpdateRoomRequest, UserResponse,
};
use watchparty_service::{Service, ServiceError};

/// The session entry identifying this login, which its WebSocket tokens carry.
const SESSION_ID_KEY: &str = "sid";

/// A fresh session id for a user who just proved who they are.
fn start_session(state: &AppState, session: &Session, user: i64) -> Result<(), ApiError> {
    session.renew();
    session.insert(USER_KEY, user).map_err(session_failed)?;
    session
        .insert(SESSION_ID_KEY, state.service.new_session_id()?)
        .map_err(session_failed)
}

/// This login's identifier; a session from before identifiers existed gets one now.
fn session_id(state: &AppState, session: &Session) -> Result<String, ApiError> {
    if let Some(id) = session.get::<String>(SESSION_ID_KEY).ok().flatten() {
        return Ok(id);
    }
    let id = state.service.new_session_id()?;
    session
        .insert(SESSION_ID_KEY, &id)
        .map_err(session_failed)?;
    Ok(id)
}

/// A value the session could not hold (it cannot serialize an id).
fn session_failed(e: actix_session::SessionInsertError) -> ApiError {
    ApiError::from(ServiceError::internal(e.to_string()))
}

#[utoipa::path(
    post,
    path = "/api/auth/register/",
    summary = "Create an account and log in",
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The account exists and the client is logged in: the answer sets the session cookie", body = UserResponse,
            headers(("Set-Cookie" = String, description = "`watchparty_session`, a new session"))),
        (status = 409, description = "`email_taken`: the email already has an account"),
        (status = 429, description = "`rate_limited`: more than 100 registrations from this address within the hour"),
    )
)]
pub(crate) async fn register(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let user = state
        .service
        .register(
            &body.email,
            &body.password,
            body.display_name.as_deref(),
            &client.ip,
        )
        .await?;
    start_session(&state, &session, user.id)?;
    Ok(HttpResponse::Created().json(UserResponse { user }))
}

#[utoipa::path(
    post,
    path = "/api/auth/login/",
    summary = "Log in",
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in: the answer sets the session cookie", body = UserResponse,
            headers(("Set-Cookie" = String, description = "`watchparty_session`, a new session"))),
        (status = 401, description = "`invalid_credentials`: an unknown email or a wrong password (one answer for both)"),
        (status = 429, description = "`rate_limited`: too many failed logins for this address or email (login throttling)"),
    )
)]
pub(crate) async fn login(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .service
        .login(&body.email, &body.password, &client.ip)
        .await?;
    start_session(&state, &session, user.id)?;
    Ok(HttpResponse::Ok().json(UserResponse { user }))
}

#[utoipa::path(
    post,
    path = "/api/auth/logout/",
    summary = "Log out",
    tag = "accounts",
    security((), ("session" = [])),
    responses(
        (status = 204, description = "Logged out, or there was no session: the session and the WebSocket tokens issued to it end everywhere"),
    )
)]
/// Ends the session here and the WebSocket tokens issued to it everywhere.
/// If that cannot be recorded, the session is kept so that a retry can.
pub(crate) async fn logout(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    if let Some(id) = session.get::<String>(SESSION_ID_KEY).ok().flatten() {
        state.service.logout(&id).await?;
    }
    session.purge();
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/api/auth/me/",
    summary = "The logged-in user",
    tag = "accounts",
    security(("session" = [])),
    responses(
        (status = 200, description = "The logged-in user", body = UserResponse),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
    )
)]
pub(crate) async fn me(
    state: web::Data<AppState>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let user = state.service.me(caller.user_id()).await?;
    Ok(HttpResponse::Ok().json(UserResponse { user }))
}

#[utoipa::path(
    post,
    path = "/api/auth/token/",
    summary = "A one-socket WebSocket token",
    tag = "accounts",
    security(("session" = [])),
    responses(
        (status = 200, description = "A token that opens one room socket within `expires_in` seconds", body = TokenResponse),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
    )
)]
pub(crate) async fn token(
    state: web::Data<AppState>,
    session: Session,
    LoggedIn(caller): LoggedIn,
    checked: Option<web::ReqData<watchparty_service::ActiveAccount>>,
) -> Result<HttpResponse, ApiError> {
    let session = session_id(&state, &session)?;
    // The account check this request started with (accounts.rs) is the
    // one a token needs; asked again only if it did not run.
    let issued = match checked.filter(|a| a.user_id() == caller.user_id()) {
        Some(account) => state.service.issue_ws_token_to(&account, Some(&session))?,
        None => {
            state
                .service
                .issue_ws_token(caller.user_id(), Some(&session))
                .await?
        }
    };
    Ok(HttpResponse::Ok().json(TokenResponse {
        token: issued.token,
        expires_in: issued.expires_in,
    }))
}

#[utoipa::path(
    post,
    path = "/api/rooms/",
    summary = "Create a room",
    tag = "rooms",
    security(("session" = [])),
    request_body = CreateRoomRequest,
    responses(
        (status = 201, description = "The room; the creator is its host and a participant", body = RoomResponse),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
    )
)]
pub(crate) async fn create_room(
    state: web::Data<AppState>,
    body: web::Json<CreateRoomRequest>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let room = state
        .service
        .create_room(&caller, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(RoomResponse { room }))
}

#[utoipa::path(
    get,
    path = "/api/rooms/public/",
    summary = "List public rooms",
    tag = "rooms",
    params(PageQuery),
    responses(
        (status = 200, description = "The open and grace rooms that are not private, a page of them", body = RoomList),
        (status = 400, description = "`validation_error`: `limit` or `offset` out of range or not a number"),
    )
)]
pub(crate) async fn public_rooms(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let rooms = state
        .service
        .list_public(query.limit.unwrap_or(50), query.offset.unwrap_or(0))
        .await?;
    Ok(HttpResponse::Ok().json(RoomList { rooms }))
}

#[utoipa::path(
    get,
    path = "/api/rooms/{code}/",
    summary = "A room and its playback",
    tag = "rooms",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    responses(
        (status = 200, description = "The room and its playback now", body = RoomWithPlayback),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 404, description = "`not_found`: no such room, a deleted room, or a private room one is not a participant of"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn get_room(
    state: web::Data<AppState>,
    LoggedIn(caller): LoggedIn,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (room, playback) = state.service.get_room(&caller, &code).await?;
    Ok(HttpResponse::Ok().json(RoomWithPlayback { room, playback }))
}

#[utoipa::path(
    post,
    path = "/api/rooms/{code}/join/",
    summary = "Join a room",
    tag = "rooms",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    responses(
        (status = 200, description = "The room and one's membership (the same one when joining again)", body = JoinResponse),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`banned`: a kick or ban keeps the caller out (the error's until field says until when, null: until lifted)"),
        (status = 404, description = "`not_found`: no such room, a deleted one, or a private room that keeps the caller out"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn join_room(
    state: web::Data<AppState>,
    LoggedIn(caller): LoggedIn,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (room, participant) = state.service.join_room(&caller, &code).await?;
    Ok(HttpResponse::Ok().json(JoinResponse { room, participant }))
}

#[utoipa::path(
    patch,
    path = "/api/rooms/{code}/",
    summary = "Change a room (host)",
    tag = "rooms",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    request_body = UpdateRoomRequest,
    responses(
        (status = 200, description = "The room afterwards; live sockets get `ROOM_UPDATED` when something changed", body = RoomResponse),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: only the host may change the room"),
        (status = 404, description = "`not_found`: no such room, a deleted room, or a private room one is not a participant of"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn update_room(
    state: web::Data<AppState>,
    code: web::Path<String>,
    body: web::Json<UpdateRoomRequest>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let room = state
        .service
        .update_room(&caller, &code, body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(RoomResponse { room }))
}

#[utoipa::path(
    delete,
    path = "/api/rooms/{code}/",
    summary = "Delete a room (host)",
    tag = "rooms",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively")),
    responses(
        (status = 204, description = "Deleted: live sockets get `ROOM_CLOSED` `deleted` and close with 4001"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`not_owner`: only the owner (the room's creator) may delete it"),
        (status = 404, description = "`not_found`: no such room, a deleted room, or a private room one is not a participant of"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn delete_room(
    state: web::Data<AppState>,
    LoggedIn(caller): LoggedIn,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.service.delete_room(&caller, &code).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get,
    path = "/api/rooms/{code}/messages/",
    summary = "Chat history",
    tag = "rooms",
    security(("session" = [])),
    params(("code" = String, Path, description = "The room's code, matched case-insensitively"), MessagesQuery),
    responses(
        (status = 200, description = "Chat history, oldest first", body = MessageList),
        (status = 400, description = "`validation_error`: `limit` out of range, both `before` and `after`, or not a number"),
        (status = 401, description = "`not_authenticated`: no logged-in session"),
        (status = 403, description = "`forbidden`: a public room one has not joined"),
        (status = 404, description = "`not_found`: no such room, a deleted room, or a private room one is not a participant of"),
        (status = 429, description = "`rate_limited`: too many lookups of rooms that do not exist (probing)"),
    )
)]
pub(crate) async fn messages(
    state: web::Data<AppState>,
    code: web::Path<String>,
    query: web::Query<MessagesQuery>,
    LoggedIn(caller): LoggedIn,
) -> Result<HttpResponse, ApiError> {
    let messages = state
        .service
        .history(&caller, &code, query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(MessageList { messages }))
}

#[utoipa::path(
    get,
    path = "/healthz",
    summary = "Liveness",
    tag = "operations",
    responses((status = 200, description = "The process serves: `{\"status\": \"ok\"}`", body = HealthStatus))
)]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok".into(),
    })
}

#[utoipa::path(
    get,
    path = "/readyz",
    summary = "Readiness",
    tag = "operations",
    responses(
        (status = 200, description = "The database (and Redis, when configured) answer: `{\"status\": \"ready\"}`", body = HealthStatus),
        (status = 503, description = "Not ready: `{\"status\": \"unavailable\"}`", body = HealthStatus),
    )
)]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.service.ready().await {
        HttpResponse::Ok().json(HealthStatus {
            status: "ready".into(),
        })
    } else {
        HttpResponse::ServiceUnavailable().json(HealthStatus {
            status: "unavailable".into(),
        })
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    summary = "Prometheus metrics",
    tag = "operations",
    description = "Served on the listen address unless `WATCHPARTY_METRICS_BIND` gives it an address of its own.",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4"))
)]
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    metrics_text(&state.service)
}

#[utoipa::path(
    get,
    path = "/api/ws-schema.json",
    summary = "The WebSocket messages as JSON Schema",
    tag = "operations",
    responses((status = 200, description = "The JSON Schema (draft 2020-12) of every WebSocket message (docs/ws-schema.json)", body = Object, content_type = "application/schema+json"))
)]
/// The JSON Schema of every WebSocket message, generated once from the
/// protocol's types.
pub(crate) async fn ws_schema() -> HttpResponse {
    static SCHEMA: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| watchparty_protocol::ws_schema().to_string());
    HttpResponse::Ok()
        .content_type("application/schema+json")
        .body(SCHEMA.as_str())
}

/// This document: the OpenAPI 3.1 description of every HTTP endpoint,
/// generated once from the handlers' attributes.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    summary = "This document",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of every HTTP endpoint (docs/openapi.json)", body = Object, content_type = "application/json"))
)]
pub(crate) async fn openapi() -> HttpResponse {
    static DOCUMENT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| crate::openapi::document().to_string());
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

/// Prometheus text, wherever `/metrics` is served.
pub(crate) fn metrics_text(service: &Service) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(service.render_metrics())
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

/// 405 with the methods the path does accept (RFC 9110 requires `Allow`).
pub(crate) async fn method_not_allowed(
    allow: actix_web::http::header::HeaderValue,
) -> HttpResponse {
    use actix_web::ResponseError;
    let mut res = ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
    .error_response();
    res.headers_mut()
        .insert(actix_web::http::header::ALLOW, allow);
    res
}
