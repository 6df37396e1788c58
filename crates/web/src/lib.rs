//! watchparty's HTTP and WebSocket edge on actix-web.
//!
//! This crate parses requests into intents for [`watchparty_service::Service`]
//! and renders its answers; it never sees a database or Redis. Errors become
//! the protocol's JSON shape in one place ([`ApiError`]).
//! It also serves the browser client compiled in from `client/`.

mod accounts;
mod assets;
mod client;
mod edge;
mod endpoints;
mod error;
mod extract;
mod frame_guard;
mod metrics_server;
mod openapi;
mod queue;
mod request_log;
mod routes;
mod session_store;
mod socket;
mod together;
mod upgrade;
mod ws;

use actix_session::storage::RedisSessionStore;
pub use client::{ClientInfo, ForwardedHeader, TrustedProxies};
pub use edge::EdgeConfig;
pub use error::ApiError;
pub use request_log::REQUEST_ID_HEADER;
pub use session_store::{BoundedStore, MemorySessionStore, Reconnecting, SessionLimits};
pub use ws::{AllowedOrigins, FrameLimit, Heartbeat, MAX_MESSAGE_BYTES};

use actix_http::HttpService;
use actix_service::{map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::SessionStore;
use actix_session::SessionMiddleware;
use actix_web::body::MessageBody;
use actix_web::cookie::{time, Key, SameSite};
use actix_web::dev::AppConfig;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::error::JsonPayloadError;
use actix_web::http::header::{HeaderValue, SET_COOKIE};
use actix_web::middleware::{from_fn, Next, NormalizePath, TrailingSlash};
use actix_web::{web, App};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use watchparty_service::{LiveStateBackend, Secret, Service};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "watchparty_session";

/// How the web edge behaves.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Key material for the session cookie (at least 32 bytes).
    pub session_key: Secret,
    /// Where HTTP sessions live: where the service keeps live state (Redis,
    /// shared by every instance, or this process).
    pub sessions: LiveStateBackend,
    /// Extra browser origins allowed on `/ws/`.
    pub allowed_origins: AllowedOrigins,
    /// Proxies whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// Socket keep-alive.
    pub heartbeat: Heartbeat,
    /// How many frames one socket may send.
    pub frame_limit: FrameLimit,
    /// HTTP worker threads.
    pub workers: usize,
    /// The limits that keep one client from holding connections or requests.
    pub edge: EdgeConfig,
}

pub(crate) struct AppState {
    pub(crate) service: Service,
    pub(crate) allowed_origins: AllowedOrigins,
    pub(crate) heartbeat: Heartbeat,
    pub(crate) frame_limit: FrameLimit,
    pub(crate) shutdown: CancellationToken,
}

/// Longest wait for the session store on any request.
const SESSION_STORE_LIMIT: Duration = Duration::from_secs(2);

/// Binds the routes to `listener`, and `/metrics` to `metrics` when it is
/// given (else to `listener` too), with sessions where `config.sessions`
/// says. The returned server is a future to run; [`Shutdown`] stops it and
/// the metrics server, which runs on its own.
pub async fn start(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    service: Service,
    config: WebConfig,
) -> std::io::Result<(Server, Shutdown)> {
    let metrics = match metrics {
        Some(listener) => {
            let server = metrics_server::serve_metrics(listener, service.clone())?;
            let handle = server.handle();
            tokio::spawn(server);
            Some(handle)
        }
        None => None,
    };
    match &config.sessions {
        LiveStateBackend::InProcess => {
            let store = BoundedStore::new(MemorySessionStore::default(), SESSION_STORE_LIMIT);
            start_with_store(listener, metrics, service, config, store)
        }
        LiveStateBackend::Redis(redis) => {
            let (url, key_prefix) = (redis.url.clone(), redis.session_prefix());
            let connect: session_store::Connect<BoundedStore<RedisSessionStore>> =
                Arc::new(move || {
                    let (url, key_prefix) = (url.clone(), key_prefix.clone());
                    Box::pin(async move {
                        let build = RedisSessionStore::builder(url)
                            .cache_keygen(move |key| format!("{key_prefix}{key}"))
                            .build();
                        match tokio::time::timeout(Duration::from_secs(5), build).await {
                            Ok(Ok(store)) => Ok(BoundedStore::new(store, SESSION_STORE_LIMIT)),
                            Ok(Err(e)) => Err(e),
                            Err(_) => Err(anyhow::anyhow!("no answer in 5 s")),
                        }
                    })
                });
            let first = connect()
                .await
                .map_err(|e| std::io::Error::other(format!("REDIS_URL: session store: {e}")))?;
            start_with_store(
                listener,
                metrics,
                service,
                config,
                session_store::Reconnecting::new(first, connect),
            )
        }
    }
}

/// Stops a running server the way docs/protocol.md describes: the one
/// handle that ends sockets, requests, `/metrics` and the background tasks
/// that watch [`Shutdown::stopping`].
#[derive(Clone)]
pub struct Shutdown {
    handle: ServerHandle,
    metrics: Option<ServerHandle>,
    sockets: CancellationToken,
    service: Service,
}

impl Shutdown {
    /// Closes every room socket with 1012, waits (up to 5 s) for their
    /// cleanup, then stops accepting and finishes in-flight requests; the
    /// metrics server stops last.
    pub async fn run(&self) {
        self.sockets.cancel();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.service.live_socket_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.handle.stop(true).await;
        if let Some(metrics) = &self.metrics {
            metrics.stop(true).await;
        }
    }

    /// Cancelled as soon as [`Shutdown::run`] starts: background tasks (the
    /// grace sweeper, the reconciler) stop on it. Cancelling it stops nothing
    /// else.
    pub fn stopping(&self) -> CancellationToken {
        self.sockets.child_token()
    }
}

fn json_error(err: JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    match err {
        JsonPayloadError::ContentType => ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        )
        .into(),
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::validation("the body is larger than 64 KiB").into()
        }
        other => ApiError::validation(format!("invalid JSON body: {other}")).into(),
    }
}

/// The session middleware fails the request itself when its store does not
/// answer in time (Redis away): that failure is a 503 in the protocol's
/// shape, not actix's bare 500.
async fn session_store_failures(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // An error (not a response) is what actix renders with `ApiError`'s
    // shape; the request cannot be kept aside to build one here.
    next.call(req).await.map_err(|e| {
        tracing::warn!(error = %e, "the session store failed");
        ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Sessions are briefly unavailable; try again",
        )
        .into()
    })
}

/// Marks the session cookie Secure when the request came over HTTPS.
async fn secure_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let https = ClientInfo::of(req.request()).https;
    let mut res = next.call(req).await?;
    if https {
        let headers = res.headers_mut();
        let cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).cloned().collect();
        headers.remove(SET_COOKIE);
        for cookie in cookies {
            let text = cookie.to_str().unwrap_or_default();
            let value = if text.starts_with(SESSION_COOKIE) && !text.contains("Secure") {
                HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(cookie)
            } else {
                cookie
            };
            headers.append(SET_COOKIE, value);
        }
    }
    Ok(res)
}

/// Binds the routes to `listener` with any session store; `/metrics` too
/// unless it has a server of its own (`metrics`).
fn start_with_store<S>(
    listener: TcpListener,
    metrics: Option<ServerHandle>,
    service: Service,
    config: WebConfig,
    sessions: S,
) -> std::io::Result<(Server, Shutdown)>
where
    S: SessionStore + Clone + Send + 'static,
{
    let sockets = CancellationToken::new();
    let state = web::Data::new(AppState {
        service: service.clone(),
        allowed_origins: config.allowed_origins.clone(),
        heartbeat: config.heartbeat,
        frame_limit: config.frame_limit,
        shutdown: sockets.clone(),
    });
    let key = Key::derive_from(config.session_key.expose());
    let proxies = config.trusted_proxies.clone();
    let metrics_on_main = metrics.is_none();
    let edge = config.edge.clone();
    let forwarded_header = edge.forwarded_header;
    let edge_state = std::sync::Arc::new(edge::EdgeState {
        body_deadline: edge.body_deadline,
        forwarded_requests: edge::Budget::new(edge.max_requests_per_forwarded_client),
    });
    let connections = edge::Budget::new(edge.max_connections_per_address);
    let proxies_for_accept = config.trusted_proxies.clone();
    let workers = config.workers.max(1);
    // Built twice per worker: once for ordinary requests, once for the
    // upgrade service, which asks the same routes for its answers.
    let new_app = move || {
        let session = SessionMiddleware::builder(sessions.clone(), key.clone())
            .cookie_name(SESSION_COOKIE.to_owned())
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_secure(false)
            .cookie_content_security(CookieContentSecurity::Private)
            .session_lifecycle(PersistentSession::default().session_ttl(time::Duration::days(14)))
            .build();
        App::new()
            .app_data(state.clone())
            .app_data(proxies.clone())
            .app_data(forwarded_header)
            .app_data(edge_state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_MESSAGE_BYTES)
                    .content_type_required(true)
                    .error_handler(json_error),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::validation(e.to_string()).into()),
            )
            // Inside the session middleware: it reads the loaded session.
            .wrap(from_fn(accounts::end_disabled_sessions))
            .wrap(session)
            .wrap(from_fn(session_store_failures))
            .wrap(from_fn(secure_cookie))
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .wrap(from_fn(edge::bounded_body))
            .wrap(from_fn(edge::same_site_only))
            .wrap(from_fn(edge::forwarded_requests))
            .wrap(from_fn(edge::response_headers))
            .wrap(from_fn(request_log::record))
            .configure(|app| endpoints::register(app, metrics_on_main))
            .default_service(web::to(routes::not_found))
    };
    let on_connect = Arc::new(edge::on_connect(connections, proxies_for_accept));
    let addr = listener.local_addr()?;
    let builder = actix_server::Server::build();
    // Idle keep-alive connections end as soon as a graceful stop begins.
    let stopping = builder.graceful_shutdown_signal();
    let server = builder
        .workers(workers)
        .max_concurrent_connections(edge::max_connections_per_worker(workers))
        .disable_signals()
        .shutdown_timeout(10)
        .listen("watchparty", listener, move || {
            let on_connect = Arc::clone(&on_connect);
            let upgrade_app = new_app.clone();
            let stopping = stopping.clone();
            let app = new_app()
                .into_factory()
                .map_err(|e: actix_web::Error| e.error_response());
            HttpService::build()
                .graceful_shutdown_signal(move || {
                    let stopping = stopping.clone();
                    async move { stopping.notified().await }
                })
                .keep_alive(edge.keep_alive)
                .client_request_timeout(edge.request_head_timeout)
                .client_disconnect_timeout(edge.disconnect_timeout)
                // Events are small and must leave at once: Nagle would hold
                // a frame back until the previous one is acknowledged.
                .tcp_nodelay(true)
                .local_addr(addr)
                .on_connect_ext(move |io: &_, ext: _| on_connect(io as &dyn std::any::Any, ext))
                .upgrade(upgrade::service(move || upgrade_app().into_factory()))
                .finish(map_config(app, |_| AppConfig::default()))
                .tcp()
        })?
        .run();
    let shutdown = Shutdown {
        handle: server.handle(),
        metrics,
        sockets,
        service,
    };
    Ok((server, shutdown))
}
