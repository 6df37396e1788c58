//! The HTTP endpoints of docs/protocol.md: bodies in, service calls, bodies out.

use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::AppState;
use actix_session::Session;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use watchparty_service::{HistoryQuery, NewRoomRequest, RoomChanges, Service};

/// The session entry naming the logged-in user (the session store reads it too).
pub(crate) const USER_KEY: &str = "user_id";
/// The session entry identifying this login, which its WebSocket tokens carry.
const SESSION_ID_KEY: &str = "sid";

/// The logged-in user's id, from the session cookie alone.
fn logged_in(session: &Session) -> Result<i64, ApiError> {
    if session.contains_key(crate::session_store::STORE_UNAVAILABLE) {
        return Err(watchparty_service::ServiceError::Unavailable.into());
    }
    session
        .get::<i64>(USER_KEY)
        .ok()
        .flatten()
        .ok_or_else(|| watchparty_service::ServiceError::NotAuthenticated.into())
}

/// A fresh session id for a user who just proved who they are.
fn start_session(state: &AppState, session: &Session, user: i64) -> Result<(), ApiError> {
    session.renew();
    session.remove(crate::session_store::STORE_UNAVAILABLE);
    let internal = |_| ApiError::from(watchparty_service::ServiceError::Internal);
    session.insert(USER_KEY, user).map_err(internal)?;
    session
        .insert(SESSION_ID_KEY, state.service.new_session_id()?)
        .map_err(internal)
}

/// This login's identifier; a session from before identifiers existed gets one now.
fn session_id(state: &AppState, session: &Session) -> Result<String, ApiError> {
    if let Some(id) = session.get::<String>(SESSION_ID_KEY).ok().flatten() {
        return Ok(id);
    }
    let id = state.service.new_session_id()?;
    session
        .insert(SESSION_ID_KEY, &id)
        .map_err(|_| ApiError::from(watchparty_service::ServiceError::Internal))?;
    Ok(id)
}

// `Some(None)` for an explicit null, `None` when the field is absent.
fn explicit<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
pub(crate) struct RegisterBody {
    email: String,
    password: String,
    display_name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
pub(crate) struct CreateRoomBody {
    name: String,
    is_private: Option<bool>,
    is_chat_enabled: Option<bool>,
    media_url: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct PatchRoomBody {
    name: Option<String>,
    is_private: Option<bool>,
    is_chat_enabled: Option<bool>,
    #[serde(default, deserialize_with = "explicit")]
    media_url: Option<Option<String>>,
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(Deserialize)]
pub(crate) struct HistoryParams {
    limit: Option<i64>,
    before: Option<i64>,
    after: Option<i64>,
}

pub(crate) async fn register(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    body: web::Json<RegisterBody>,
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
    Ok(HttpResponse::Created().json(json!({ "user": user })))
}

pub(crate) async fn login(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .service
        .login(&body.email, &body.password, &client.ip)
        .await?;
    start_session(&state, &session, user.id)?;
    Ok(HttpResponse::Ok().json(json!({ "user": user })))
}

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

pub(crate) async fn me(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    let user = state.service.me(logged_in(&session)?).await?;
    Ok(HttpResponse::Ok().json(json!({ "user": user })))
}

pub(crate) async fn token(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, ApiError> {
    let user = logged_in(&session)?;
    let issued = state
        .service
        .issue_ws_token(user, Some(&session_id(&state, &session)?))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "token": issued.token, "expires_in": issued.expires_in })))
}

pub(crate) async fn create_room(
    state: web::Data<AppState>,
    session: Session,
    body: web::Json<CreateRoomBody>,
) -> Result<HttpResponse, ApiError> {
    let user = logged_in(&session)?;
    let body = body.into_inner();
    let request = NewRoomRequest {
        name: body.name,
        is_private: body.is_private,
        is_chat_enabled: body.is_chat_enabled,
        media_url: body.media_url,
    };
    let room = state.service.create_room(user, request).await?;
    Ok(HttpResponse::Created().json(json!({ "room": room })))
}

pub(crate) async fn public_rooms(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let rooms = state
        .service
        .list_public(query.limit.unwrap_or(50), query.offset.unwrap_or(0))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "rooms": rooms })))
}

pub(crate) async fn get_room(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (room, playback) = state
        .service
        .get_room(logged_in(&session)?, &code, &client.ip)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "room": room, "playback": playback })))
}

pub(crate) async fn join_room(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (room, participant) = state
        .service
        .join_room(logged_in(&session)?, &code, &client.ip)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "room": room, "participant": participant })))
}

pub(crate) async fn update_room(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    code: web::Path<String>,
    body: web::Json<PatchRoomBody>,
) -> Result<HttpResponse, ApiError> {
    let user = logged_in(&session)?;
    let body = body.into_inner();
    let changes = RoomChanges {
        name: body.name,
        is_private: body.is_private,
        is_chat_enabled: body.is_chat_enabled,
        media_url: body.media_url,
    };
    let room = state
        .service
        .update_room(user, &code, changes, &client.ip)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "room": room })))
}

pub(crate) async fn delete_room(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .service
        .delete_room(logged_in(&session)?, &code, &client.ip)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(crate) async fn messages(
    state: web::Data<AppState>,
    session: Session,
    client: ClientInfo,
    code: web::Path<String>,
    query: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let query = HistoryQuery {
        limit: query.limit,
        before: query.before,
        after: query.after,
    };
    let messages = state
        .service
        .history(logged_in(&session)?, &code, query, &client.ip)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "messages": messages })))
}

pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.service.ready().await {
        HttpResponse::Ok().json(json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable" }))
    }
}

pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    metrics_text(&state.service)
}

/// The JSON Schema of every WebSocket message, generated once from the
/// protocol's types.
pub(crate) async fn ws_schema() -> HttpResponse {
    static SCHEMA: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| watchparty_protocol::ws_schema().to_string());
    HttpResponse::Ok()
        .content_type("application/schema+json")
        .body(SCHEMA.as_str())
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
pub(crate) async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    use actix_web::ResponseError;
    let mut res = ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
    .error_response();
    res.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static(allow),
    );
    res
}
