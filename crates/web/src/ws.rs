//! The room WebSocket up to its upgrade: the refusals a client gets as
//! ordinary HTTP answers, and the 101 that hands the connection to
//! [`crate::socket`].

use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::socket::Upgraded;
use crate::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use std::time::Duration;
use watchparty_service::ServiceError;

/// The largest message a client may send, in one frame or in fragments.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Heartbeat settings of room sockets.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    /// How often the server pings.
    pub interval: Duration,
    /// Silence after which the client is considered gone.
    pub timeout: Duration,
}

/// Browser origins allowed to open sockets besides the server's own.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(pub Vec<String>);

impl AllowedOrigins {
    fn allows(&self, origin: &str, req: &HttpRequest) -> bool {
        if self
            .0
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        // Same origin: the scheme the request came over, and the Host it
        // went to. `ftp://host:port` or `https://` on a plain-HTTP request
        // is another origin.
        ClientInfo::of(req).is_same_origin(origin, req)
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The room socket: an HTTP GET that upgrades to a WebSocket.
#[utoipa::path(
    get,
    path = "/ws/rooms/{code}/",
    summary = "Open the room's WebSocket",
    tag = "realtime",
    description = "Opens the room's WebSocket (RFC 6455 upgrade: `Upgrade: websocket`). \
        The messages both ways are described by /api/ws-schema.json and docs/protocol.md. \
        The session cookie opens no socket: the token from `POST /api/auth/token/` does. \
        A refusal comes before the upgrade, as an ordinary HTTP answer; the checks run in \
        the order of the codes below.",
    params(
        ("code" = String, Path, description = "The room's code, matched case-insensitively"),
        ("token" = String, Query, description = "A token from `POST /api/auth/token/`: good for one socket, for `expires_in` seconds"),
    ),
    responses(
        (status = 101, description = "Switching Protocols: the socket is open and first gets `PLAYBACK_STATE`, then `PRESENCE`"),
        (status = 400, description = "`validation_error`: the request is not a WebSocket upgrade"),
        (status = 401, description = "`not_authenticated`: no token, a bad or expired one, or one that opened a socket already"),
        (status = 403, description = "`forbidden`: a browser `Origin` that is not allowed, a public room one has not joined (join over HTTP first), or one that keeps the caller out by a kick or ban"),
        (status = 404, description = "`not_found`: no such room, a deleted room, or a private room one is not a participant of"),
        (status = 410, description = "`room_closed`: the host's grace ran out"),
        (status = 429, description = "`rate_limited`: more than 20 sockets of one user on this instance, or too many lookups of rooms that do not exist"),
    )
)]
pub(crate) async fn room_socket(
    req: HttpRequest,
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let is_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return Err(ApiError::validation("this endpoint speaks WebSocket only"));
    }
    // A chunked body keeps the request away from the upgrade service
    // (actix-http reads it as HTTP): no socket could be served.
    if req.headers().contains_key(header::TRANSFER_ENCODING) {
        return Err(ApiError::validation("a WebSocket request has no body"));
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !state.allowed_origins.allows(origin, &req) {
            return Err(ServiceError::Forbidden.into());
        }
    }
    let token = web::Query::<TokenQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token);
    let ticket = state
        .service
        .authorize_socket(token.as_deref(), &code, &ClientInfo::of(&req).ip)
        .await?;
    let mut handshake = actix_http::ws::handshake(req.head())
        .map_err(|e| ApiError::validation(format!("bad WebSocket handshake: {e}")))?;
    tracing::debug!(client = %ClientInfo::of(&req).ip, room = %code, "room socket accepted");
    let mut response = HttpResponse::from(handshake.finish()).map_into_boxed_body();
    // Read by the upgrade service once the 101 is written (see crate::upgrade).
    response.extensions_mut().insert(Upgraded {
        ticket,
        service: state.service.clone(),
        heartbeat: state.heartbeat,
        frame_limit: state.frame_limit,
        shutdown: state.shutdown.clone(),
    });
    Ok(response)
}

/// How many frames one socket may send: a client flooding the server costs it
/// at most `per_second` frames of work a second; the rest are ignored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameLimit {
    /// Frames per second, on average.
    pub per_second: f64,
    /// Frames at once after a quiet spell.
    pub burst: f64,
}

impl Default for FrameLimit {
    /// Far above what a person's client sends (a few frames a second, a
    /// handful of clock samples at once) and above the benchmarks' 100
    /// events a second from one host, far below a flood.
    fn default() -> Self {
        FrameLimit {
            per_second: 200.0,
            burst: 400.0,
        }
    }
}
