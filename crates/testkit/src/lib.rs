//! Start a real watchparty server on a free port and drive it like a client.
//!
//! ```no_run
//! # async fn demo() {
//! use watchparty_testkit::TestServer;
//!
//! let server = TestServer::builder().host_grace_secs(2).start().await;
//! let ana = server.user("ana").await;
//! let code = ana.create_room("Friday film").await;
//! let mut socket = ana.connect(&code).await.expect("accepted");
//! assert_eq!(socket.recv().await["type"], "PLAYBACK_STATE");
//! server.stop().await;
//! # }
//! ```
//!
//! A test-support crate: its helpers panic with a clear message when the
//! server does not behave, which is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod fault;
mod process;
mod raw;

pub use fault::{FaultProxy, Impairment, RETRANSMISSION};
pub use process::{free_port, Instance, OwnRedis};
pub use raw::RawSocket;
pub use reqwest::StatusCode;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use watchparty::settings::{
    AllowedOrigins, Auth, ChatLimit, Clients, DatabaseConfig, ForwardedHeader, FrameLimit,
    Heartbeat, LiveStateBackend, RedisConfig, Rooms, Server, TrustedProxies,
};
use watchparty::{Application, LogFormat, Secret, Settings, Shutdown};

/// How long a helper waits for the server before failing the test.
pub const WAIT: Duration = Duration::from_secs(5);

static NEXT_USER: AtomicU64 = AtomicU64::new(1);
static NEXT_PREFIX: AtomicU64 = AtomicU64::new(1);

/// Servers of one test share a Redis prefix (siblings); tests never do.
fn unique_redis_prefix() -> String {
    format!(
        "wpt{}x{}",
        std::process::id(),
        NEXT_PREFIX.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Redis server the tests share (`scripts/test.sh` starts one).
pub fn test_redis() -> String {
    std::env::var("WATCHPARTY_TEST_REDIS_URL")
        .expect("WATCHPARTY_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis")
}

/// A new, empty database on the test PostgreSQL server.
pub fn scratch_postgres() -> String {
    let admin = std::env::var("WATCHPARTY_TEST_POSTGRES_URL").expect(
        "WATCHPARTY_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL",
    );
    watchparty_persistence::scratch::create_postgres_database(&admin)
        .expect("a scratch PostgreSQL database")
}

/// The `watchparty` binary built next to the tests (`cargo build -p watchparty`),
/// or the one `WATCHPARTY_BINARY` names (to run the black-box tests against a
/// release build).
pub fn watchparty_binary() -> PathBuf {
    if let Some(chosen) = std::env::var_os("WATCHPARTY_BINARY") {
        return PathBuf::from(chosen);
    }
    let mut path = std::env::current_exe().expect("test executable path");
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    let binary = path.join("watchparty");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p watchparty` first (scripts/test.sh does)",
        binary.display()
    );
    binary
}

/// Runs `redis-cli` against `url` and returns its output, one value per line.
pub fn redis_cli(url: &str, args: &[&str]) -> String {
    let output = std::process::Command::new("redis-cli")
        .args(["-u", url, "--raw"])
        .args(args)
        .output()
        .expect("redis-cli runs (Debian package redis-tools)");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Configures a [`TestServer`] before it starts.
pub struct TestServerBuilder {
    settings: Settings,
    dir: TempDir,
}

impl TestServerBuilder {
    /// Grace period in seconds (default 2).
    pub fn host_grace_secs(mut self, secs: u64) -> Self {
        self.settings.rooms.host_grace = Duration::from_secs(secs);
        self
    }

    /// Ping interval and silence timeout of room sockets.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.settings.rooms.heartbeat = Heartbeat { interval, timeout };
        self
    }

    /// Queue length after which a socket counts as too slow.
    pub fn outbox_capacity(mut self, capacity: usize) -> Self {
        self.settings.rooms.outbox_capacity = capacity;
        self
    }

    /// Extra allowed browser origins.
    pub fn allowed_origins(mut self, origins: &[&str]) -> Self {
        self.settings.rooms.allowed_origins =
            AllowedOrigins(origins.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Trusted proxy networks.
    pub fn trusted_proxies(mut self, nets: &[&str]) -> Self {
        self.settings.clients.trusted_proxies =
            TrustedProxies(nets.iter().map(|s| s.parse().unwrap()).collect());
        self
    }

    /// A database other than the temp SQLite file.
    pub fn database_url(mut self, url: &str) -> Self {
        self.settings.database.url = url.to_owned();
        self
    }

    /// Live state (and sessions) in the Redis at `url`, under a key prefix of
    /// this server's own (its siblings share it).
    pub fn redis_url(mut self, url: &str) -> Self {
        self.settings.live_state = LiveStateBackend::Redis(RedisConfig {
            url: url.to_owned(),
            prefix: unique_redis_prefix(),
        });
        self
    }

    /// Change any other setting.
    pub fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    /// Starts the server on a free port.
    pub async fn start(self) -> TestServer {
        TestServer::launch(self.settings, self.dir).await
    }
}

/// Where a server listens on loopback, and the clients that talk to it.
pub struct Endpoint {
    /// The bound port.
    pub port: u16,
}

impl Endpoint {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A client with its own cookie jar, not logged in.
    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.url(""), self.port)
    }

    /// Registers a new user (unique email from `name`) and returns it logged in.
    pub async fn user(&self, name: &str) -> TestUser {
        TestUser::register(self.client(), name).await
    }
}

/// A running server, stopped when [`TestServer::stop`] is called.
pub struct TestServer {
    endpoint: Endpoint,
    settings: Settings,
    shutdown: Shutdown,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    dir: TempDir,
}

impl TestServer {
    /// The default test configuration: a fresh database, 2 s grace, fixed secrets.
    ///
    /// The database is a temp SQLite file, or, when `WATCHPARTY_TEST_BACKEND`
    /// is `postgres`, a new database on the server at
    /// `WATCHPARTY_TEST_POSTGRES_URL`; with `production`, that and the Redis
    /// at `WATCHPARTY_TEST_REDIS_URL` (`scripts/test.sh` starts both).
    pub fn builder() -> TestServerBuilder {
        let dir = tempfile::tempdir().expect("temp dir");
        let db: PathBuf = dir.path().join("watchparty.db");
        let (database_url, redis_url) = match std::env::var("WATCHPARTY_TEST_BACKEND").as_deref() {
            Ok("postgres") => (scratch_postgres(), None),
            Ok("production") => (scratch_postgres(), Some(test_redis())),
            Ok("sqlite") | Err(_) => (format!("sqlite://{}", db.display()), None),
            Ok(other) => panic!(
                "WATCHPARTY_TEST_BACKEND must be sqlite, postgres or production, not {other:?}"
            ),
        };
        let settings = Settings {
            server: Server {
                bind: "127.0.0.1:0".parse().unwrap(),
                metrics_bind: None,
                workers: 2,
            },
            database: DatabaseConfig {
                url: database_url,
                connect_timeout: Duration::from_secs(10),
            },
            live_state: match redis_url {
                None => LiveStateBackend::InProcess,
                Some(url) => LiveStateBackend::Redis(RedisConfig {
                    url,
                    prefix: unique_redis_prefix(),
                }),
            },
            auth: Auth {
                jwt_secret: Secret::from(&b"test-jwt-secret-test-jwt-secret-0123456789"[..]),
                session_key: Secret::from(
                    &b"test-session-key-test-session-key-0123456789-abcdefghijklmnop"[..],
                ),
                ws_token_ttl: Duration::from_secs(60),
                generated_secrets: Vec::new(),
            },
            rooms: Rooms {
                host_grace: Duration::from_secs(2),
                allowed_origins: AllowedOrigins::default(),
                sweep_interval: Duration::from_millis(200),
                heartbeat: Heartbeat {
                    interval: Duration::from_secs(15),
                    timeout: Duration::from_secs(45),
                },
                outbox_capacity: 256,
                frame_limit: FrameLimit::default(),
                chat_limit: ChatLimit::default(),
                max_sockets_per_user: 20,
            },
            clients: Clients {
                trusted_proxies: TrustedProxies::default(),
                forwarded_header: ForwardedHeader::XForwardedFor,
                // Tests play many clients from one loopback address; the edge
                // tests that need the cap set it.
                max_connections_per_address: 0,
                max_registrations_per_hour: 100,
            },
            log_format: LogFormat::Text,
        };
        TestServerBuilder { settings, dir }
    }

    /// A server with the default test configuration.
    pub async fn start() -> TestServer {
        Self::builder().start().await
    }

    /// Production mode whatever `WATCHPARTY_TEST_BACKEND` says: a fresh
    /// PostgreSQL database and Redis under a prefix of its own.
    pub fn production() -> TestServerBuilder {
        Self::builder()
            .database_url(&scratch_postgres())
            .redis_url(&test_redis())
    }

    /// Another instance of the same service: same database, same Redis
    /// prefix, same secrets, its own port.
    pub fn sibling(&self) -> TestServerBuilder {
        let dir = tempfile::tempdir().expect("temp dir");
        TestServerBuilder {
            settings: self.settings.clone(),
            dir,
        }
    }

    /// The settings this server runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The prefix of this server's Redis keys (it must have Redis).
    pub fn redis_prefix(&self) -> &str {
        match &self.settings.live_state {
            LiveStateBackend::Redis(redis) => &redis.prefix,
            LiveStateBackend::InProcess => panic!("this server has no Redis"),
        }
    }

    async fn launch(settings: Settings, dir: TempDir) -> TestServer {
        let app = Application::build(settings.clone())
            .await
            .expect("server starts");
        let port = app.port();
        let shutdown = app.shutdown_handle();
        let task = tokio::spawn(app.run_until_stopped());
        TestServer {
            endpoint: Endpoint { port },
            settings,
            shutdown,
            task,
            dir,
        }
    }

    /// Stops the server (sockets get 1012) and waits until it has.
    pub async fn stop(self) {
        self.shutdown().await;
    }

    async fn shutdown(&self) {
        self.shutdown.run().await;
    }

    /// Stops the server and starts a new one on the same database file.
    pub async fn restart(self) -> TestServer {
        self.shutdown().await;
        let _ = tokio::time::timeout(WAIT, &mut { self.task }).await;
        TestServer::launch(self.settings, self.dir).await
    }
}

impl std::ops::Deref for TestServer {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// A room with its host and one viewer connected, both past their opening
/// messages, and the host past the viewer's `USER_JOINED`.
pub struct Party {
    /// The host ("ana").
    pub host: TestUser,
    /// The viewer ("bob").
    pub viewer: TestUser,
    /// The room's code.
    pub code: String,
    /// The host's socket.
    pub host_socket: WsClient,
    /// The viewer's socket.
    pub viewer_socket: WsClient,
}

impl TestServer {
    /// A public room "film" hosted by a new user, with a second user watching.
    pub async fn party(&self) -> Party {
        let host = self.user("ana").await;
        let viewer = self.user("bob").await;
        let code = host.create_room("film").await;
        let mut host_socket = host.enter(&code).await;
        let viewer_socket = viewer.enter(&code).await;
        host_socket.recv_type("USER_JOINED").await;
        Party {
            host,
            viewer,
            code,
            host_socket,
            viewer_socket,
        }
    }
}

const JSON: &str = "application/json";

/// HTTP with a cookie jar, answering `(status, JSON body)`.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    port: u16,
    /// The underlying client, for requests the helpers do not cover.
    pub http: reqwest::Client,
}

/// The status and JSON body of an answer. An error body's `request_id` is
/// different for every request by design, so it is left out here, where
/// tests compare answers; `ops.rs` checks the id itself.
pub async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let mut body = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
        error.remove("request_id");
    }
    (status, body)
}

impl ApiClient {
    /// A client of the server at `base` (`http://host:port`) with its own
    /// cookie jar, not logged in.
    pub fn new(base: &str, port: u16) -> ApiClient {
        ApiClient {
            base: base.to_owned(),
            port,
            http: reqwest::Client::builder()
                .cookie_store(true)
                .timeout(WAIT)
                .build()
                .unwrap(),
        }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        answer(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        answer(
            self.http
                .post(self.url(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// POST without a body. Like the web client it says `Content-Type:
    /// application/json`: a state-changing request without it (or a
    /// same-origin `Origin`) is refused as possibly cross-site.
    pub async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        let request = self.http.post(self.url(path)).header("content-type", JSON);
        answer(request.send().await.unwrap()).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        answer(
            self.http
                .patch(self.url(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// DELETE, with `Content-Type: application/json` as [`ApiClient::post_empty`].
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let request = self
            .http
            .delete(self.url(path))
            .header("content-type", JSON);
        answer(request.send().await.unwrap()).await
    }

    /// The same client (same cookie jar) talking to another instance.
    pub fn on(&self, server: &TestServer) -> ApiClient {
        self.at(&server.url(""), server.port)
    }

    /// The same client talking to `base` (`http://host:port`), such as a proxy.
    pub fn at(&self, base: &str, port: u16) -> ApiClient {
        ApiClient {
            base: base.to_owned(),
            port,
            http: self.http.clone(),
        }
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// A room's chat history with `query` (such as `?after=3`); fails unless 200.
    pub async fn history(&self, code: &str, query: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/rooms/{code}/messages/{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "history: {body}");
        body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Every message of a room's history after id `after`, oldest first,
    /// fetched page by page.
    pub async fn history_after(&self, code: &str, after: i64) -> Vec<Value> {
        let mut messages: Vec<Value> = Vec::new();
        loop {
            let last = messages
                .last()
                .and_then(|m| m["id"].as_i64())
                .unwrap_or(after);
            let page = self
                .history(code, &format!("?after={last}&limit=100"))
                .await;
            let full = page.len() == 100;
            messages.extend(page);
            if !full {
                return messages;
            }
        }
    }

    /// The codes the public listing shows for `query` (such as `?limit=100`),
    /// in order; fails unless 200.
    pub async fn public_codes(&self, query: &str) -> Vec<String> {
        let (status, body) = self.get(&format!("/api/rooms/public/{query}")).await;
        assert_eq!(status, StatusCode::OK, "public listing: {body}");
        body["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The ids of a room's chat history with `query`.
    pub async fn history_ids(&self, code: &str, query: &str) -> Vec<i64> {
        self.history(code, query)
            .await
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    }

    /// A fresh WebSocket token for the logged-in user.
    pub async fn token(&self) -> String {
        let (status, body) = self.post_empty("/api/auth/token/").await;
        assert_eq!(status, StatusCode::OK, "token: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Opens the room socket with a fresh token; `Err(status)` when refused.
    pub async fn connect(&self, code: &str) -> Result<WsClient, StatusCode> {
        let token = self.token().await;
        WsClient::connect(self.port, code, Some(&token), None).await
    }
}

/// A registered, logged-in user.
#[derive(Clone)]
pub struct TestUser {
    /// User id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Email used to register.
    pub email: String,
    /// Their logged-in HTTP client.
    pub client: ApiClient,
}

impl std::ops::Deref for TestUser {
    type Target = ApiClient;
    fn deref(&self) -> &ApiClient {
        &self.client
    }
}

impl TestUser {
    /// Registers a new user through `client` (a unique email from `name`,
    /// the password "correct horse battery") and returns it logged in.
    pub async fn register(client: ApiClient, name: &str) -> TestUser {
        let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
        let email = format!("{name}.{n}@example.com");
        let (status, body) = client
            .post(
                "/api/auth/register/",
                json!({"email": email, "password": "correct horse battery", "display_name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {name}: {body}");
        TestUser {
            id: body["user"]["id"].as_i64().unwrap(),
            name: name.to_owned(),
            email,
            client,
        }
    }

    /// The same user, logged in with the same cookie, on another instance.
    pub fn on(&self, server: &TestServer) -> TestUser {
        TestUser {
            client: self.client.on(server),
            ..self.clone()
        }
    }

    /// Creates a public room and returns its code.
    pub async fn create_room(&self, name: &str) -> String {
        self.create_room_with(json!({"name": name})).await
    }

    /// Creates a room from a full body and returns its code.
    pub async fn create_room_with(&self, body: Value) -> String {
        let (status, answer) = self.post("/api/rooms/", body).await;
        assert_eq!(status, StatusCode::CREATED, "create room: {answer}");
        answer["room"]["code"].as_str().unwrap().to_owned()
    }

    /// Joins a room over HTTP, asserting success.
    pub async fn join(&self, code: &str) -> Value {
        let (status, body) = self.post_empty(&format!("/api/rooms/{code}/join/")).await;
        assert_eq!(status, StatusCode::OK, "join: {body}");
        body
    }

    /// Joins over HTTP, then opens a hand-made socket (optionally with a small
    /// kernel receive buffer) that reads nothing unless told to.
    pub async fn enter_raw(&self, code: &str, recv_buffer: Option<u32>) -> RawSocket {
        self.join(code).await;
        let token = self.token().await;
        RawSocket::connect_with_buffer(self.client.port, code, &token, recv_buffer).await
    }

    /// Joins over HTTP, connects, and reads the two opening messages.
    pub async fn enter(&self, code: &str) -> WsClient {
        self.join(code).await;
        let mut socket = self.connect(code).await.expect("socket accepted");
        socket.recv_type("PLAYBACK_STATE").await;
        socket.recv_type("PRESENCE").await;
        socket
    }
}

/// A room socket with timeouts on every read.
pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    closed: bool,
}

impl WsClient {
    /// Connects to `/ws/rooms/{code}/`, with the token and Origin given.
    pub async fn connect(
        port: u16,
        code: &str,
        token: Option<&str>,
        origin: Option<&str>,
    ) -> Result<WsClient, StatusCode> {
        let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
        let mut request = format!("ws://127.0.0.1:{port}/ws/rooms/{code}/{query}")
            .into_client_request()
            .unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(WsClient {
                stream,
                closed: false,
            }),
            Err(tungstenite::Error::Http(response)) => {
                Err(StatusCode::from_u16(response.status().as_u16()).unwrap())
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// The next message, or `None` if the socket closed or nothing came within `wait`.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            match next {
                Err(_) => return None,
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).expect("server sent JSON"))
                }
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => {
                    self.closed = true;
                    return None;
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Whether the connection has ended (seen by a read).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The next message; fails the test after [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        self.try_recv(WAIT)
            .await
            .expect("a message within the wait")
    }

    /// The next message, which must be of this type.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        let message = self.recv().await;
        assert_eq!(message["type"], kind, "expected {kind}, got {message}");
        message
    }

    /// Reads until a message of this type arrives, skipping others.
    pub async fn recv_until(&mut self, kind: &str) -> Value {
        loop {
            let message = self.recv().await;
            if message["type"] == kind {
                return message;
            }
        }
    }

    /// Asserts that no message arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(message) = self.try_recv(wait).await {
            panic!("expected silence, got {message}");
        }
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// Sends a JSON message; `false` if the socket is gone (the server
    /// closed it), for senders that race a close on purpose.
    pub async fn try_send(&mut self, message: Value) -> bool {
        self.stream
            .send(Message::text(message.to_string()))
            .await
            .is_ok()
    }

    /// Sends any frame.
    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.unwrap();
    }

    /// Reads until the server closes; returns the close code (skipping messages).
    pub async fn closed_with(&mut self) -> Option<u16> {
        self.drain_until_closed().await.1
    }

    /// Every message until the server closes, and the close code.
    pub async fn drain_until_closed(&mut self) -> (Vec<Value>, Option<u16>) {
        self.drain_for(WAIT).await
    }

    /// Like [`WsClient::drain_until_closed`], failing only after `wait`.
    pub async fn drain_for(&mut self, wait: Duration) -> (Vec<Value>, Option<u16>) {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the server did not close the socket; got {seen:?}"),
                Ok(None) | Ok(Some(Err(_))) => return (seen, None),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return (seen, frame.map(|f| u16::from(f.code)))
                }
                Ok(Some(Ok(Message::Text(text)))) => {
                    seen.push(serde_json::from_str(&text).expect("server sent JSON"))
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Drops the connection with a TCP reset, as a crashed client or a
    /// broken network does: no close frame, no goodbye.
    pub fn reset(self) {
        if let MaybeTlsStream::Plain(tcp) = self.stream.get_ref() {
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
    }

    /// Closes from the client side.
    pub async fn close(mut self) {
        let _ = self
            .stream
            .close(Some(tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
        // Drain until the server acknowledges, so the close is processed.
        let _ =
            tokio::time::timeout(WAIT, async { while self.stream.next().await.is_some() {} }).await;
    }
}
