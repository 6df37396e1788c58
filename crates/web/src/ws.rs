//! The room WebSocket: refusals before the upgrade, then one task per
//! connection that owns its session and selects over the client's frames,
//! its outbox, a heartbeat and shutdown.

use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::frame_guard::FrameGuard;
use crate::hang_up::HangUp;
use crate::AppState;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::FromRequest;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError, Session,
};
use bytestring::ByteString;
use serde::Deserialize;
use std::pin::Pin;
use std::time::{Duration, Instant};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
type BoxedPayloadStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, PayloadError>>>>;

use watchparty_protocol::parse_client_message;
use watchparty_service::{Outgoing, Service, ServiceError, SocketTicket};

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

fn close(code: u16) -> CloseReason {
    CloseReason {
        code: CloseCode::from(code),
        description: None,
    }
}

/// The close code that answers a broken frame.
fn close_code_for(error: &ProtocolError) -> Option<u16> {
    match error {
        ProtocolError::Overflow => Some(1009),
        ProtocolError::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => Some(1007),
        // Our frame guard refused a frame from its header.
        ProtocolError::Io(e)
            if matches!(
                e.get_ref()
                    .and_then(|inner| inner.downcast_ref::<PayloadError>()),
                Some(PayloadError::Overflow)
            ) =>
        {
            Some(1009)
        }
        // actix-ws reports oversized fragmented messages as a plain I/O error.
        ProtocolError::Io(e) if e.to_string().contains("continuation size") => Some(1009),
        // Any other I/O error is the connection itself failing: nobody to tell.
        ProtocolError::Io(_) => None,
        _ => Some(1002),
    }
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
    body: web::Payload,
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
    // The guard sits between the socket and actix's parser (see frame_guard).
    let guarded: BoxedPayloadStream = Box::pin(FrameGuard::new(body, MAX_MESSAGE_BYTES));
    let body = web::Payload::from_request(&req, &mut actix_web::dev::Payload::from(guarded))
        .await
        .map_err(|_| ApiError::validation("bad WebSocket request"))?;
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::validation(format!("bad WebSocket handshake: {e}")))?;
    let stream = stream
        .max_frame_size(MAX_MESSAGE_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE_BYTES);
    tracing::debug!(client = %ClientInfo::of(&req).ip, room = %code, "room socket opened");
    let hang_up = HangUp::default();
    let response = response
        .map_body(|_, body| hang_up.body(body))
        .map_into_boxed_body();
    let connection = Connection {
        hang_up,
        service: state.service.clone(),
        session,
        stream,
        heartbeat: state.heartbeat,
        frame_limit: state.frame_limit,
        shutdown: state.shutdown.clone(),
    };
    actix_web::rt::spawn(connection.run(ticket));
    Ok(response)
}

struct Connection {
    hang_up: HangUp,
    service: Service,
    session: Session,
    stream: AggregatedMessageStream,
    heartbeat: Heartbeat,
    frame_limit: FrameLimit,
    shutdown: CancellationToken,
}

/// What ends a connection from the server's side, awaited by every loop
/// turn and every write. Neither is polled again once it has fired: the
/// connection closes.
struct Stops {
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    too_slow: Pin<Box<WaitForCancellationFutureOwned>>,
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

/// A token bucket over one socket's incoming frames.
#[derive(Debug)]
struct FrameBudget {
    limit: FrameLimit,
    tokens: f64,
    at: Instant,
}

impl FrameBudget {
    fn new(limit: FrameLimit, now: Instant) -> Self {
        FrameBudget {
            limit,
            tokens: limit.burst,
            at: now,
        }
    }

    /// Spends one frame if the budget allows it.
    fn take(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * self.limit.per_second;
        self.tokens = (self.tokens + earned).min(self.limit.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Logs a dependency's failure met on a socket, once, with its cause
/// (a refusal the client caused is not the log's business).
fn log_failure(what: &str, e: &ServiceError) {
    if let Some(cause) = e.cause_chain() {
        tracing::warn!(error = %e, cause, "{what}");
    }
}

/// How a write ended.
enum Sent {
    Ok,
    Gone,
    Interrupted(u16),
}

impl Connection {
    async fn run(mut self, ticket: SocketTicket) {
        let opened = match self.service.open_socket(ticket).await {
            Ok(opened) => opened,
            Err(e) => {
                let code = match e {
                    ServiceError::RoomClosed => 4002,
                    ServiceError::NotFound => 4001,
                    _ => 1011,
                };
                log_failure("the socket could not open", &e);
                self.finish(Some(close(code))).await;
                return;
            }
        };
        let watchparty_service::SocketSession {
            handle,
            mut outbox,
            too_slow,
        } = opened;
        // A zero period would make tokio panic; a millisecond is the floor.
        let period = self.heartbeat.interval.max(Duration::from_millis(1));
        let mut heartbeat = tokio::time::interval(period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut budget = FrameBudget::new(self.frame_limit, last_heard);
        // Registered once, not per message: the server-wide token's lock
        // would otherwise be taken by every socket on every frame.
        let mut stops = Stops {
            shutdown: Box::pin(self.shutdown.child_token().cancelled_owned()),
            too_slow: Box::pin(too_slow.cancelled_owned()),
        };
        let reason = loop {
            tokio::select! {
                biased;
                _ = &mut stops.shutdown => break Some(close(1012)),
                _ = &mut stops.too_slow => break Some(close(1013)),
                out = outbox.recv() => match out {
                    Some(Outgoing::Text(text)) => match self.send(text, &mut stops).await {
                        Sent::Ok => {}
                        Sent::Gone => break None,
                        Sent::Interrupted(code) => break Some(close(code)),
                    },
                    Some(Outgoing::Close(code)) => break Some(close(code)),
                    None => break None,
                },
                frame = self.stream.recv() => {
                    last_heard = Instant::now();
                    match frame {
                        // Past its budget a client's frames are ignored, as
                        // anything outside the protocol is: not an error.
                        Some(Ok(AggregatedMessage::Text(_) | AggregatedMessage::Ping(_)))
                            if !budget.take(last_heard) => {}
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            self.service.count_frame_in();
                            // Anything that is not a protocol message is ignored.
                            let Some(message) = parse_client_message(&text) else {
                                continue;
                            };
                            let handled = self.service.handle(&handle, message).await;
                            if let Some(failure) = &handled.failure {
                                log_failure("a client message failed", failure);
                            }
                            let mut interrupted = None;
                            for reply in handled.replies {
                                let reply = ByteString::from(reply.to_json());
                                match self.send(reply, &mut stops).await {
                                    Sent::Ok => {}
                                    Sent::Gone => {
                                        interrupted = Some(None);
                                        break;
                                    }
                                    Sent::Interrupted(code) => {
                                        interrupted = Some(Some(close(code)));
                                        break;
                                    }
                                }
                            }
                            if let Some(outcome) = interrupted {
                                break outcome;
                            }
                        }
                        // Binary frames are not part of the protocol: ignored.
                        Some(Ok(AggregatedMessage::Binary(_) | AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Ping(payload))) => {
                            if self.session.pong(&payload).await.is_err() {
                                break None;
                            }
                        }
                        Some(Ok(AggregatedMessage::Close(reason))) => break reason.or(Some(close(1000))),
                        // A broken frame ends the connection: the parser would
                        // return the same error on every poll.
                        Some(Err(e)) => break close_code_for(&e).map(close),
                        None => break None,
                    }
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > self.heartbeat.timeout {
                        break Some(close(1001));
                    }
                    if self.session.ping(b"").await.is_err() {
                        break None;
                    }
                }
            }
        };
        // Clients that broke the protocol, went silent or stopped reading are
        // not left to end the TCP connection themselves.
        let hang_up = reason
            .as_ref()
            .is_some_and(|r| matches!(u16::from(r.code), 1001 | 1002 | 1007 | 1009 | 1013));
        if hang_up {
            self.hang_up.arm();
        }
        // The room hears of the departure first: closing the session may
        // wait (up to its bound) on a client that does not read.
        if let Err(e) = self.service.close_socket(&handle).await {
            log_failure("socket cleanup incomplete", &e);
        }
        let hang_up_handle = self.hang_up.clone();
        // Kept unread until the hang-up, so actix stops reading the socket.
        let _stream = self.finish(reason).await;
        if hang_up {
            hang_up_handle.after_close().await;
        }
    }

    /// Writes one frame without ever waiting on a client that stopped reading.
    async fn send(&mut self, text: ByteString, stops: &mut Stops) -> Sent {
        tokio::select! {
            biased;
            sent = self.session.text(text) => if sent.is_ok() { Sent::Ok } else { Sent::Gone },
            _ = &mut stops.too_slow => Sent::Interrupted(1013),
            _ = &mut stops.shutdown => Sent::Interrupted(1012),
        }
    }

    /// Closes the session (which ends the response unless a hang-up is
    /// armed) and hands back the client's stream.
    async fn finish(self, reason: Option<CloseReason>) -> AggregatedMessageStream {
        if let Some(reason) = reason {
            // Bounded: a client that reads nothing must not hold the task.
            let closing = self.session.close(Some(reason));
            let _ = tokio::time::timeout(Duration::from_secs(1), closing).await;
        }
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_budget_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let limit = FrameLimit::default();
        let mut budget = FrameBudget::new(limit, start);
        let burst = (0..1000).filter(|_| budget.take(start)).count();
        assert_eq!(burst, limit.burst as usize);
        // One second later, one second's worth more; never more than a burst.
        let later = start + Duration::from_secs(1);
        let next = (0..1000).filter(|_| budget.take(later)).count();
        assert_eq!(next, limit.per_second as usize);
        let much_later = later + Duration::from_secs(3600);
        let refilled = (0..1000).filter(|_| budget.take(much_later)).count();
        assert_eq!(refilled, limit.burst as usize);
    }
}
