//! Servers in the test's own process: the real application on a free
//! port, on the backend `WATCHPARTY_TEST_BACKEND` names.

use crate::{ApiClient, TestUser, WsClient, WAIT};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tempfile::TempDir;
use watchparty::settings::{
    AllowedOrigins, Auth, ChatLimit, Clients, DatabaseConfig, ForwardedHeader, FrameLimit,
    Heartbeat, LiveStateBackend, RedisConfig, Rooms, Server, TrustedProxies,
};
use watchparty::{Application, LogFormat, Secret, Settings, Shutdown};

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
