//! What stands between a misbehaving client and everyone else: time bounds
//! on each phase of a request, a cap on what one address may hold open,
//! the cross-site guard on state-changing requests, and the response headers
//! every answer carries.
//!
//! # Why the connection cap lives in `on_connect`
//!
//! A client that opens connections and never finishes a request holds one
//! file descriptor each; at the process's file limit (often 1 024) `accept`
//! fails for everybody and the database cannot open files either. The cap has
//! to act at accept time, before a connection costs more than its descriptor.
//! actix-http's `on_connect` hook runs in the worker right after `accept`, with
//! the `TcpStream` in hand and before the HTTP dispatcher reads a byte. We
//! count the connection there (a slot in the connection's extensions, given
//! back when the dispatcher drops them, whatever ends the connection) or, over
//! the cap, write a 429 without waiting and shut the socket down both ways:
//! the dispatcher's first read sees end-of-stream and drops the connection at
//! once, so a refused connection costs a descriptor for microseconds. The
//! alternatives were worse: a custom accept loop would duplicate actix-server's
//! back-off on `EMFILE` and its graceful shutdown, and a filtering service
//! in front of `HttpService` would run after the dispatcher has allocated its
//! buffers. An upgraded room socket keeps its slot too: the upgrade service
//! holds the connection's extensions until the socket ends.
//!
//! A reverse proxy carries many clients over few connections, so trusted
//! proxies are exempt; behind one, the same budget applies to the requests in
//! flight per forwarded client address instead (`ClientInfo`).
//!
//! Besides the per-address cap, each worker accepts at most a share of the
//! process's file limit (see [`max_connections_per_worker`]): when many
//! addresses together fill it, new connections wait in the kernel's backlog
//! instead of making `accept` and every file open in the process fail.

use crate::client::{ClientInfo, ForwardedHeader, TrustedProxies};
use crate::error::ApiError;
use crate::MAX_MESSAGE_BYTES;
use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Limits of the HTTP edge. The defaults are what the binary uses.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// A request's body must have arrived in full this long after its head;
    /// otherwise it is answered 408 and the connection closed.
    pub body_deadline: Duration,
    /// An idle keep-alive connection is closed after this long.
    pub keep_alive: Duration,
    /// A new connection must deliver a request head within this (else 408).
    pub request_head_timeout: Duration,
    /// How long a closing connection may take to say goodbye.
    pub disconnect_timeout: Duration,
    /// Open connections one address may hold (trusted proxies exempt); 0: no cap.
    pub max_connections_per_address: usize,
    /// Requests in flight per client address behind a trusted proxy; 0: no cap.
    pub max_requests_per_forwarded_client: usize,
    /// Which header trusted proxies write the client's address into.
    pub forwarded_header: ForwardedHeader,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            body_deadline: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
            request_head_timeout: Duration::from_secs(5),
            disconnect_timeout: Duration::from_secs(1),
            // Room for a household or a small office behind one NAT, each
            // person with a few tabs (a socket and a keep-alive connection
            // each), yet a single address can take at most a quarter of a
            // 1 024-descriptor process.
            max_connections_per_address: 256,
            max_requests_per_forwarded_client: 256,
            forwarded_header: ForwardedHeader::XForwardedFor,
        }
    }
}

/// Counts what each key holds, up to a limit.
pub(crate) struct Budget<K: Eq + Hash> {
    held: Mutex<HashMap<K, usize>>,
    limit: usize,
}

/// One unit of a [`Budget`], given back when dropped.
pub(crate) struct Slot<K: Eq + Hash + Clone> {
    budget: Arc<Budget<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Budget<K> {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Budget {
            held: Mutex::new(HashMap::new()),
            limit,
        })
    }

    /// A slot for `key`, or `None` when it holds `limit` already.
    pub(crate) fn acquire(self: &Arc<Self>, key: K) -> Option<Slot<K>> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(key.clone()).or_insert(0);
        if self.limit > 0 && *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            budget: Arc::clone(self),
            key,
        })
    }

    #[cfg(test)]
    fn held(&self, key: &K) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(key).copied().unwrap_or(0)
    }
}

impl<K: Eq + Hash + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut held = self
            .budget
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// The kernel send buffer of an accepted connection (Linux doubles it).
const SEND_BUFFER_BYTES: usize = 32 * 1024;

/// What a connection over its address's cap reads before the server hangs up.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
content-type: application/json\r\nconnection: close\r\ncontent-length: 89\r\n\r\n\
{\"error\":{\"code\":\"rate_limited\",\"message\":\"Too many open connections from your address\"}}";

/// The `on_connect` hook: socket options, then the per-address cap.
pub(crate) fn on_connect(
    connections: Arc<Budget<IpAddr>>,
    trusted: TrustedProxies,
) -> impl Fn(&dyn std::any::Any, &mut Extensions) + Send + Sync + 'static {
    // Refusals come by the thousand under attack: the log says so at most
    // once every 10 s rather than once each.
    let last_warning: Mutex<Option<Instant>> = Mutex::new(None);
    move |connection, extensions| {
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let socket = socket2::SockRef::from(stream);
        // Left to autotuning, a client that stops reading parks megabytes in
        // the kernel, and minutes of events, before its outbox overflows.
        if let Err(e) = socket.set_send_buffer_size(SEND_BUFFER_BYTES) {
            tracing::debug!(error = %e, "send buffer left as the kernel set it");
        }
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        let ip = peer.ip().to_canonical();
        if trusted.trusts(ip) {
            return;
        }
        match connections.acquire(address_key(ip)) {
            Some(slot) => {
                extensions.insert(slot);
            }
            None => {
                let mut last = last_warning.lock().unwrap_or_else(PoisonError::into_inner);
                if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                    *last = Some(Instant::now());
                    tracing::warn!(
                        client = %ip,
                        limit = connections.limit,
                        "refusing connections: too many open from one address"
                    );
                }
                drop(last);
                // A fresh socket's send buffer is empty: this never blocks,
                // and a partial write only shortens the courtesy.
                let _ = socket.send(TOO_MANY_CONNECTIONS);
                let _ = socket.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

/// What one client is, for the caps: its IPv4 address, or its IPv6 /64 (one
/// household or host gets a whole /64, so per /128 would be no cap at all).
pub(crate) fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(network))
        }
        v4 => v4,
    }
}

/// The process's soft limit on open files, where the OS tells (Linux).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// How many connections each of `workers` may hold so that together they
/// leave room below the file limit for the database, logs and Redis. actix
/// stops accepting on a worker at its limit; the kernel's backlog holds the
/// rest until a connection ends.
pub(crate) fn max_connections_per_worker(workers: usize) -> usize {
    const RESERVED: usize = 128;
    const ACTIX_DEFAULT: usize = 25_000;
    match open_file_limit() {
        Some(limit) => (limit.saturating_sub(RESERVED) / workers.max(1)).clamp(16, ACTIX_DEFAULT),
        None => ACTIX_DEFAULT,
    }
}

/// Shared state of the middlewares below, as app data.
pub(crate) struct EdgeState {
    pub(crate) body_deadline: Duration,
    pub(crate) forwarded_requests: Arc<Budget<String>>,
}

fn refuse<B>(req: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response())
        .map_into_right_body()
}

/// Behind a trusted proxy, one forwarded client may have only so many
/// requests in flight: a proxy's connections are shared, so the per-address
/// connection cap cannot see them.
pub(crate) async fn forwarded_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let behind_proxy = match (req.peer_addr(), req.app_data::<TrustedProxies>()) {
        (Some(peer), Some(trusted)) => trusted.trusts(peer.ip()),
        _ => false,
    };
    let budget = req
        .app_data::<Arc<EdgeState>>()
        .map(|s| Arc::clone(&s.forwarded_requests));
    let (true, Some(budget)) = (behind_proxy, budget) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let client = ClientInfo::of(req.request()).ip;
    let client = match client.parse::<IpAddr>() {
        Ok(ip) => address_key(ip).to_string(),
        Err(_) => client,
    };
    let Some(_slot) = budget.acquire(client) else {
        return Ok(refuse(
            req,
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests at once from your address",
            ),
        ));
    };
    Ok(next.call(req).await?.map_into_left_body())
}

/// Why a body could not be read.
enum BodyFailure {
    TooLarge,
    Broken(PayloadError),
}

async fn read_body(payload: &mut Payload, into: &mut BytesMut) -> Result<(), BodyFailure> {
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(BodyFailure::Broken)?;
        if into.len() + chunk.len() > MAX_MESSAGE_BYTES {
            return Err(BodyFailure::TooLarge);
        }
        into.extend_from_slice(&chunk);
    }
    Ok(())
}

/// A refusal's body that also holds the request's unread body until the
/// answer has been sent: actix then sees the request body neither finished
/// nor abandoned and closes the connection, where an abandoned chunked body
/// would be drained for as long as a stalled client keeps it open.
struct HoldingBody {
    answer: BoxBody,
    _unread: Payload,
}

impl MessageBody for HoldingBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.answer.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().answer).poll_next(cx)
    }
}

/// Reads every request body in full, within the deadline, before any handler
/// runs. actix bounds only the wait for a request's head; a client that sends
/// a head announcing a body and then stalls would otherwise hold its
/// connection, and a worker's attention, for as long as it likes. Bodies are
/// small here (64 KiB at most), so holding one in memory costs little, and
/// handlers that never read their body are covered too.
pub(crate) async fn bounded_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    // An upgraded connection's body is the WebSocket itself; a body that is
    // announced too large is refused from its length by the JSON extractor
    // without being read, and actix then closes the connection.
    let bounded = !req.head().upgrade()
        && (chunked || announced.is_some_and(|n| n > 0 && n <= MAX_MESSAGE_BYTES as u64));
    let deadline = req
        .app_data::<Arc<EdgeState>>()
        .map(|s| s.body_deadline)
        .unwrap_or(Duration::from_secs(10));
    if !bounded {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    let refusal = match tokio::time::timeout(deadline, read_body(&mut payload, &mut body)).await {
        Ok(Ok(())) => None,
        Ok(Err(BodyFailure::TooLarge)) => {
            Some(ApiError::validation("the body is larger than 64 KiB"))
        }
        Ok(Err(BodyFailure::Broken(e))) => Some(ApiError::validation(format!(
            "the body did not arrive whole: {e}"
        ))),
        Err(_) => Some(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                deadline.as_secs()
            ),
        )),
    };
    match refusal {
        None => {
            req.set_payload(Payload::from(Bytes::from(body)));
            Ok(next.call(req).await?.map_into_left_body())
        }
        Some(error) => {
            let res = req
                .into_response(error.error_response())
                .map_body(|_, answer| {
                    BoxBody::new(HoldingBody {
                        answer,
                        _unread: payload,
                    })
                });
            Ok(res.map_into_right_body())
        }
    }
}

/// Whether the media type is JSON: `application/json` itself (`strict`) or
/// also any `+json` type.
fn is_json(req: &ServiceRequest, strict: bool) -> bool {
    let Ok(Some(mime)) = req.mime_type() else {
        return false;
    };
    mime.type_() == "application"
        && (mime.subtype() == "json" || (!strict && mime.suffix().is_some_and(|s| s == "json")))
}

/// Whether the request carries no body: no content type, no length but 0,
/// and no chunked transfer.
fn has_no_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let empty_length = headers
        .get(header::CONTENT_LENGTH)
        .is_none_or(|length| length.as_bytes() == b"0");
    !headers.contains_key(header::CONTENT_TYPE)
        && !headers.contains_key(header::TRANSFER_ENCODING)
        && empty_length
}

/// A state-changing request must show it was not sent by another site's page.
/// A browser can send `application/json` to another origin only after a CORS
/// preflight, which this server never approves; for anything else (a form
/// post, `text/plain`, a body-less `fetch`) the browser's own `Origin` and
/// `Sec-Fetch-Site` headers must say the page is ours. `SameSite=Lax` alone
/// lets a sibling subdomain or another port through. A request with no body
/// at all and neither header is no browser page's (browsers send `Origin` on
/// every request that is not a `GET` or `HEAD`): a script's body-less `POST`
/// or `DELETE` passes, as the contract asks a body, not its absence, to be
/// JSON.
pub(crate) async fn same_site_only(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let changes_state = !matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if !changes_state || is_json(&req, true) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let header_text = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().trim().to_owned())
    };
    let origin = header_text(header::ORIGIN).map(|origin| {
        let client = ClientInfo::of(req.request());
        client.is_same_origin(&origin, req.request())
    });
    let fetch_site = header_text(header::HeaderName::from_static("sec-fetch-site"))
        .map(|site| site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"));
    if origin == Some(false) || fetch_site == Some(false) {
        return Ok(refuse(
            req,
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "cross-site requests are refused: send Content-Type: application/json",
            ),
        ));
    }
    let not_a_page = origin.is_none() && fetch_site.is_none();
    if origin == Some(true)
        || fetch_site == Some(true)
        || is_json(&req, false)
        || (not_a_page && has_no_body(&req))
    {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    Ok(refuse(
        req,
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ),
    ))
}

/// A year, in seconds: browsers keep to HTTPS that long after a visit.
const HSTS: &str = "max-age=31536000";

/// Which of the headers below an answer gets.
#[derive(Debug, Clone, Copy)]
struct HeaderPolicy {
    https: bool,
    auth: bool,
}

impl HeaderPolicy {
    fn apply(self, headers: &mut header::HeaderMap) {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if self.auth {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if self.https {
            headers.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
        }
    }
}

/// A failure of an inner layer, rendered as it would be, plus the headers.
#[derive(Debug, thiserror::Error)]
#[error("{inner}")]
struct WithHeaders {
    inner: actix_web::Error,
    policy: HeaderPolicy,
}

impl ResponseError for WithHeaders {
    fn status_code(&self) -> StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let mut res = self.inner.error_response();
        self.policy.apply(res.headers_mut());
        res
    }
}

/// Headers on every answer, errors included: no sniffing, no caching of
/// `/api/auth/*` (bodies with a user's email and tokens), and HSTS when the
/// request came over HTTPS.
pub(crate) async fn response_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let policy = HeaderPolicy {
        https: ClientInfo::of(req.request()).https,
        auth: req.path().starts_with("/api/auth"),
    };
    // A failure raised by an inner layer (not a handler's, which is already
    // a response here) becomes its answer only later: it carries the headers.
    let mut res = next
        .call(req)
        .await
        .map_err(|inner| WithHeaders { inner, policy })?;
    policy.apply(res.headers_mut());
    Ok(res)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_past_its_limit_and_frees_on_drop() {
        let budget = Budget::new(2);
        let a = budget.acquire("x").unwrap();
        let b = budget.acquire("x").unwrap();
        assert!(budget.acquire("x").is_none());
        assert!(budget.acquire("y").is_some(), "another key is not limited");
        drop(a);
        assert_eq!(budget.held(&"x"), 1);
        let c = budget.acquire("x").unwrap();
        drop((b, c));
        assert_eq!(budget.held(&"x"), 0);
        assert!(budget.held.lock().unwrap().is_empty(), "no key left behind");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let key = |s: &str| address_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
    }

    #[test]
    fn a_zero_limit_is_no_limit() {
        let budget = Budget::new(0);
        let slots: Vec<_> = (0..1000).map(|_| budget.acquire(1).unwrap()).collect();
        assert_eq!(budget.held(&1), 1000);
        drop(slots);
    }

    #[test]
    fn the_refusal_is_a_whole_http_answer() {
        let text = std::str::from_utf8(TOO_MANY_CONNECTIONS).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        let json: serde_json::Value = serde_json::from_str(body.trim_end()).unwrap();
        assert_eq!(json["error"]["code"], "rate_limited");
    }

    #[test]
    fn workers_leave_room_below_the_file_limit() {
        let per_worker = max_connections_per_worker(2);
        if let Some(limit) = open_file_limit() {
            assert!(per_worker * 2 < limit.max(32 + 2 * 16));
        }
    }
}
