//! Configuration from flags and environment (docs/configuration.md). Every setting is a
//! clap argument with a flag and a variable, so `--help` lists them all; every
//! problem is one line that names the setting.
//!
//! One tree: [`ServeArgs`] groups the raw arguments per concern, [`Settings`]
//! holds the same groups validated, and [`Settings::service`] and
//! [`Settings::web`] hand the two crates their parts. Whether there is Redis
//! is one value ([`LiveStateBackend`]) that both read.

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
pub use watchparty_service::{ChatLimit, DatabaseConfig, LiveStateBackend, RedisConfig, Secret};
use watchparty_service::{Config, Limits};
pub use watchparty_web::{AllowedOrigins, ForwardedHeader, FrameLimit, Heartbeat, TrustedProxies};
use watchparty_web::{EdgeConfig, WebConfig};

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {setting}: {problem}")]
pub struct SettingError {
    /// The variable and flag, as the operator wrote them.
    pub setting: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn bad(setting: &'static str, problem: impl Into<String>) -> SettingError {
    SettingError {
        setting,
        problem: problem.into(),
    }
}

const AFTER_HELP: &str = "Flags win over environment variables, whose values are never printed \
here (some hold passwords). Every setting, with its limits, is described in \
docs/configuration.md.";

/// watchparty: watch videos together, in lockstep.
#[derive(Debug, Parser)]
#[command(
    name = "watchparty",
    version,
    about,
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    // Help on the line after each flag, in every section alike (clap would
    // otherwise pick per section, by width).
    next_line_help = true
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `watchparty` alone serves, with the same flags as `watchparty serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP and WebSockets (the default).
    #[command(after_help = AFTER_HELP)]
    Serve(Box<ServeArgs>),
    /// Apply database migrations, say what was done, and exit.
    #[command(after_help = AFTER_HELP)]
    Migrate(DatabaseCommandArgs),
    /// Accounts, on the database the servers use: list, disable, enable.
    #[command(subcommand)]
    User(UserCommand),
    /// Rooms, on the database the servers use.
    #[command(subcommand)]
    Room(RoomCommand),
}

/// `watchparty user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List accounts by id, a page at a time.
    #[command(after_help = AFTER_HELP)]
    List {
        /// Accounts per page (1 to 1000).
        #[arg(long, default_value = "50")]
        limit: String,
        /// Start after this account id (the last one of the previous page).
        #[arg(long, default_value = "0")]
        after: String,
        #[command(flatten)]
        #[allow(missing_docs)]
        on: DatabaseCommandArgs,
    },
    /// Disable an account: no login; its sessions and sockets end on every instance.
    #[command(after_help = AFTER_HELP)]
    Disable {
        /// The account's email.
        email: String,
        #[command(flatten)]
        #[allow(missing_docs)]
        on: DatabaseCommandArgs,
    },
    /// Enable a disabled account again.
    #[command(after_help = AFTER_HELP)]
    Enable {
        /// The account's email.
        email: String,
        #[command(flatten)]
        #[allow(missing_docs)]
        on: DatabaseCommandArgs,
    },
}

/// `watchparty room …`
#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    /// Close a room for good, as its owner's delete would.
    #[command(after_help = AFTER_HELP)]
    Close {
        /// The room's code.
        code: String,
        #[command(flatten)]
        #[allow(missing_docs)]
        on: DatabaseCommandArgs,
    },
}

impl UserCommand {
    /// The database and log arguments every account command takes.
    pub fn database(&self) -> &DatabaseCommandArgs {
        match self {
            UserCommand::List { on, .. }
            | UserCommand::Disable { on, .. }
            | UserCommand::Enable { on, .. } => on,
        }
    }
}

impl RoomCommand {
    /// The database and log arguments.
    pub fn database(&self) -> &DatabaseCommandArgs {
        let RoomCommand::Close { on, .. } = self;
        on
    }
}

/// A page size for `watchparty user list`.
pub fn page_size(raw: &str) -> Result<i64, SettingError> {
    match raw.trim().parse::<i64>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(bad(
            "--limit",
            format!("must be a number from 1 to 1000, got {raw:?}"),
        )),
    }
}

/// An account id to page after.
pub fn page_after(raw: &str) -> Result<i64, SettingError> {
    match raw.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(bad(
            "--after",
            format!("must be an account id, got {raw:?}"),
        )),
    }
}

impl Cli {
    /// What was asked for, with its arguments.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(Box::new(self.serve)))
    }
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseArgs {
    /// sqlite://PATH or postgres://…
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://watchparty.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Seconds to wait for the database to answer a new connection.
    #[arg(
        long,
        env = "WATCHPARTY_DATABASE_CONNECT_TIMEOUT_SECS",
        default_value = "10",
        hide_env_values = true
    )]
    pub database_connect_timeout_secs: String,
}

/// How logs are written.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logs")]
pub struct LogArgs {
    /// Log format: `text` or `json` (the level comes from RUST_LOG).
    #[arg(
        long,
        env = "WATCHPARTY_LOG_FORMAT",
        default_value = "text",
        hide_env_values = true
    )]
    pub log_format: String,
}

/// The arguments of the commands that work on the database alone (`migrate`,
/// `user`, `room`): only what they use.
#[derive(Debug, Clone, Args)]
pub struct DatabaseCommandArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub log: LogArgs,
}

/// The arguments of `watchparty serve`, one group per concern; `--help`
/// lists them under the same headings, in this order.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub server: ServerArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub live_state: LiveStateArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub auth: AuthArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub rooms: RoomArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub clients: ClientArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub log: LogArgs,
}

/// Where the server listens.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Listening")]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "WATCHPARTY_BIND",
        default_value = "127.0.0.1:8000",
        hide_env_values = true
    )]
    pub bind: String,
    /// Serve /metrics on this address only (unset: on the main address).
    #[arg(long, env = "WATCHPARTY_METRICS_BIND", hide_env_values = true)]
    pub metrics_bind: Option<String>,
}

/// Whether there is Redis.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Live state")]
pub struct LiveStateArgs {
    /// Redis for several instances; unset means in-process live state.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key.
    #[arg(
        long,
        env = "WATCHPARTY_REDIS_PREFIX",
        default_value = "watchparty",
        hide_env_values = true
    )]
    pub redis_prefix: String,
}

/// The secrets behind sessions and tokens.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Sessions and tokens")]
pub struct AuthArgs {
    /// HS256 secret for WebSocket tokens, at least 32 bytes (prefer the variable:
    /// command lines are visible to other local users). Unset: random per process.
    #[arg(long, env = "WATCHPARTY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Session cookie key, at least 32 bytes (prefer the variable). Unset: random
    /// per process.
    #[arg(long, env = "WATCHPARTY_SESSION_KEY", hide_env_values = true)]
    pub session_key: Option<String>,
    /// Lifetime of a WebSocket token, in seconds.
    #[arg(
        long,
        env = "WATCHPARTY_WS_TOKEN_TTL_SECS",
        default_value = "60",
        hide_env_values = true
    )]
    pub ws_token_ttl_secs: String,
}

/// Rooms and the sockets into them.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Rooms")]
pub struct RoomArgs {
    /// Seconds a room waits for its host.
    #[arg(
        long,
        env = "WATCHPARTY_HOST_GRACE_SECS",
        default_value = "600",
        hide_env_values = true
    )]
    pub host_grace_secs: String,
    /// Browser origins allowed on /ws/ besides the server's own, comma-separated.
    #[arg(
        long,
        env = "WATCHPARTY_ALLOWED_ORIGINS",
        default_value = "",
        hide_env_values = true
    )]
    pub allowed_origins: String,
}

/// Who a client is, and how much one may do.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Clients")]
pub struct ClientArgs {
    /// Reverse proxies whose forwarding headers are believed: CIDRs or addresses,
    /// comma-separated.
    #[arg(
        long,
        env = "WATCHPARTY_TRUSTED_PROXIES",
        default_value = "",
        hide_env_values = true
    )]
    pub trusted_proxies: String,
    /// The header trusted proxies put the client's address in: `x-forwarded-for`
    /// or `forwarded` (RFC 7239).
    #[arg(
        long,
        env = "WATCHPARTY_FORWARDED_HEADER",
        default_value = "x-forwarded-for",
        hide_env_values = true
    )]
    pub forwarded_header: String,
    /// Connections one client address may hold open (0: no cap); trusted proxies
    /// are exempt, and behind one it bounds each forwarded client's requests.
    #[arg(
        long,
        env = "WATCHPARTY_MAX_CONNECTIONS_PER_ADDRESS",
        default_value = "256",
        hide_env_values = true
    )]
    pub max_connections_per_address: String,
    /// Registrations one address (one IPv6 /64) may attempt per hour.
    #[arg(
        long,
        env = "WATCHPARTY_MAX_REGISTRATIONS_PER_HOUR",
        default_value = "100",
        hide_env_values = true
    )]
    pub max_registrations_per_hour: String,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the server needs to start, validated: one tree, with a group
/// per concern like [`ServeArgs`]. [`Settings::service`] and
/// [`Settings::web`] hand each crate its part; nothing else copies settings.
/// Every leaf prints safely: URLs without passwords, secrets not at all.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the server listens.
    pub server: Server,
    /// Where the database is.
    pub database: DatabaseConfig,
    /// Whether there is Redis: read by the service (live state) and the web
    /// edge (sessions) alike.
    pub live_state: LiveStateBackend,
    /// The secrets behind sessions and tokens.
    pub auth: Auth,
    /// Rooms and the sockets into them.
    pub rooms: Rooms,
    /// Who a client is, and how much one may do.
    pub clients: Clients,
    /// How logs are written.
    pub log_format: LogFormat,
}

/// Where the server listens.
#[derive(Debug, Clone)]
pub struct Server {
    /// Listen address.
    pub bind: SocketAddr,
    /// Where `/metrics` is served when not on the main address.
    pub metrics_bind: Option<SocketAddr>,
    /// HTTP worker threads.
    pub workers: usize,
}

/// The secrets behind sessions and tokens.
#[derive(Debug, Clone)]
pub struct Auth {
    /// HS256 secret for WebSocket tokens.
    pub jwt_secret: Secret,
    /// Session cookie key material.
    pub session_key: Secret,
    /// WebSocket token lifetime.
    pub ws_token_ttl: Duration,
    /// Which secrets were generated because none was configured.
    pub generated_secrets: Vec<&'static str>,
}

/// Rooms and the sockets into them.
#[derive(Debug, Clone)]
pub struct Rooms {
    /// How long a room waits for its host.
    pub host_grace: Duration,
    /// Extra browser origins allowed on `/ws/`.
    pub allowed_origins: AllowedOrigins,
    /// How often expired graces are looked for.
    pub sweep_interval: Duration,
    /// Server pings on room sockets, and the silence after which one is dropped.
    pub heartbeat: Heartbeat,
    /// Messages queued per socket before it counts as too slow.
    pub outbox_capacity: usize,
    /// How many frames one socket may send.
    pub frame_limit: FrameLimit,
    /// How much chat one user may send.
    pub chat_limit: ChatLimit,
    /// Room sockets one user may hold open on one instance.
    pub max_sockets_per_user: usize,
}

/// Who a client is, and how much one may do.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// Where trusted proxies put the client's address.
    pub forwarded_header: ForwardedHeader,
    /// Connections one address may hold (0: no cap); behind a trusted proxy,
    /// requests in flight per forwarded client.
    pub max_connections_per_address: usize,
    /// Registrations one address may attempt per hour.
    pub max_registrations_per_hour: u64,
}

impl Settings {
    /// The service's part.
    pub fn service(&self) -> Config {
        Config {
            database: self.database.clone(),
            live_state: self.live_state.clone(),
            host_grace: self.rooms.host_grace,
            jwt_secret: self.auth.jwt_secret.clone(),
            ws_token_ttl: self.auth.ws_token_ttl,
            outbox_capacity: self.rooms.outbox_capacity,
            sweep_interval: self.rooms.sweep_interval,
            chat_limit: self.rooms.chat_limit,
            max_sockets_per_user: self.rooms.max_sockets_per_user,
            limits: Limits {
                registrations_per_address: self.clients.max_registrations_per_hour,
                ..Limits::default()
            },
        }
    }

    /// The web edge's part.
    pub fn web(&self) -> WebConfig {
        WebConfig {
            session_key: self.auth.session_key.clone(),
            sessions: self.live_state.clone(),
            allowed_origins: self.rooms.allowed_origins.clone(),
            trusted_proxies: self.clients.trusted_proxies.clone(),
            heartbeat: self.rooms.heartbeat,
            frame_limit: self.rooms.frame_limit,
            workers: self.server.workers,
            edge: EdgeConfig {
                // One setting, two places: a direct client's connections, a
                // forwarded client's requests (docs/configuration.md).
                max_connections_per_address: self.clients.max_connections_per_address,
                max_requests_per_forwarded_client: self.clients.max_connections_per_address,
                forwarded_header: self.clients.forwarded_header,
                ..EdgeConfig::default()
            },
        }
    }

    /// Start-up warnings about a configuration that works but is unsafe.
    pub fn warnings(&self) -> Vec<String> {
        let auth = &self.auth;
        let mut warnings: Vec<String> = auth
            .generated_secrets
            .iter()
            .map(|name| {
                format!("{name} is not set: using a random secret, so sessions and tokens end with this process")
            })
            .collect();
        if auth.generated_secrets.is_empty() && auth.jwt_secret == auth.session_key {
            warnings.push(
                "WATCHPARTY_JWT_SECRET equals WATCHPARTY_SESSION_KEY: give each its own secret, \
                 so that one leaking does not expose the other"
                    .into(),
            );
        }
        if self.rooms.allowed_origins.0.iter().any(|o| o == "*") {
            warnings.push(
                "WATCHPARTY_ALLOWED_ORIGINS is *: any web page may open room sockets with a \
                 visitor's token"
                    .into(),
            );
        }
        warnings
    }
}

const MIN_SECRET_BYTES: usize = 32;

fn secret(
    name: &'static str,
    value: Option<&str>,
    generated: &mut Vec<&'static str>,
) -> Result<Secret, SettingError> {
    match value {
        Some(value) if value.len() >= MIN_SECRET_BYTES => Ok(Secret::from(value.as_bytes())),
        Some(_) => Err(bad(
            name,
            format!("must be at least {MIN_SECRET_BYTES} bytes"),
        )),
        None => {
            generated.push(name);
            let bytes: [u8; 64] = rand::random();
            Ok(Secret::from(&bytes[..]))
        }
    }
}

fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn whole_secs(
    setting: &'static str,
    raw: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, SettingError> {
    match raw.trim().parse::<u64>() {
        Ok(secs) if range.contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(bad(
            setting,
            format!(
                "must be a whole number of seconds from {} to {}, got {raw:?}",
                range.start(),
                range.end()
            ),
        )),
    }
}

fn address(setting: &'static str, raw: &str) -> Result<SocketAddr, SettingError> {
    raw.trim().parse::<SocketAddr>().map_err(|_| {
        bad(
            setting,
            format!("must be an address like 127.0.0.1:8000, got {raw:?}"),
        )
    })
}

const REDIS_URL: &str = "REDIS_URL (--redis-url)";

/// Checks `redis[s]://[user[:password]@]host[:port][/db]` without echoing a
/// password back.
fn check_redis_url(url: &str) -> Result<(), SettingError> {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
        .ok_or_else(|| bad(REDIS_URL, "must start with redis:// or rediss://"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        // [v6]:port
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return Err(bad(REDIS_URL, "an IPv6 host needs its closing ]")),
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(bad(REDIS_URL, "names no host"));
    }
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) {
            return Err(bad(
                REDIS_URL,
                format!("the port must be a number from 1 to 65535, got {port:?}"),
            ));
        }
    }
    let db = path.split('?').next().unwrap_or_default();
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(bad(
            REDIS_URL,
            format!("the path must be a database number, got {db:?}"),
        ));
    }
    Ok(())
}

impl LogArgs {
    /// The validated format.
    pub fn format(&self) -> Result<LogFormat, SettingError> {
        match self.log_format.trim() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(bad(
                "WATCHPARTY_LOG_FORMAT (--log-format)",
                format!("must be text or json, got {other:?}"),
            )),
        }
    }
}

impl DatabaseArgs {
    /// The validated database settings.
    pub fn settings(&self) -> Result<DatabaseConfig, SettingError> {
        let url = self.database_url.trim().to_owned();
        let scheme_ok = ["sqlite://", "postgres://", "postgresql://"]
            .iter()
            .any(|s| url.starts_with(s));
        if !scheme_ok || url.ends_with("://") {
            return Err(bad(
                "DATABASE_URL (--database-url)",
                "must be sqlite://PATH or postgres://…",
            ));
        }
        let connect_timeout = whole_secs(
            "WATCHPARTY_DATABASE_CONNECT_TIMEOUT_SECS (--database-connect-timeout-secs)",
            &self.database_connect_timeout_secs,
            // libpq counts whole seconds and refuses less than 2.
            2..=600,
        )?;
        Ok(DatabaseConfig {
            url,
            connect_timeout,
        })
    }
}

impl ServerArgs {
    fn bind(&self) -> Result<SocketAddr, SettingError> {
        address("WATCHPARTY_BIND (--bind)", &self.bind)
    }

    fn metrics_bind(&self) -> Result<Option<SocketAddr>, SettingError> {
        self.metrics_bind
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|raw| address("WATCHPARTY_METRICS_BIND (--metrics-bind)", raw))
            .transpose()
    }
}

impl LiveStateArgs {
    /// The Redis URL, checked, if one is set.
    fn redis_url(&self) -> Result<Option<String>, SettingError> {
        let url = self
            .redis_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if let Some(url) = &url {
            check_redis_url(url)?;
        }
        Ok(url)
    }

    fn redis_prefix(&self) -> Result<String, SettingError> {
        let prefix = self.redis_prefix.trim().to_owned();
        if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(
                "WATCHPARTY_REDIS_PREFIX",
                "must be non-empty without spaces",
            ));
        }
        Ok(prefix)
    }
}

impl AuthArgs {
    fn ws_token_ttl(&self) -> Result<Duration, SettingError> {
        whole_secs(
            "WATCHPARTY_WS_TOKEN_TTL_SECS (--ws-token-ttl-secs)",
            &self.ws_token_ttl_secs,
            5..=3600,
        )
    }

    /// The two secrets, generated when unset, unless several instances must
    /// share them (`shared`: there is Redis).
    fn secrets(&self, shared: bool) -> Result<(Secret, Secret, Vec<&'static str>), SettingError> {
        let jwt_secret = self.jwt_secret.as_deref().filter(|s| !s.is_empty());
        let session_key = self.session_key.as_deref().filter(|s| !s.is_empty());
        if shared {
            for (name, value) in [
                ("WATCHPARTY_JWT_SECRET", jwt_secret),
                ("WATCHPARTY_SESSION_KEY", session_key),
            ] {
                if value.is_none() {
                    return Err(bad(
                        name,
                        "must be set when REDIS_URL is: every instance needs the same secret",
                    ));
                }
            }
        }
        let mut generated = Vec::new();
        let jwt_secret = secret("WATCHPARTY_JWT_SECRET", jwt_secret, &mut generated)?;
        let session_key = secret("WATCHPARTY_SESSION_KEY", session_key, &mut generated)?;
        Ok((jwt_secret, session_key, generated))
    }
}

impl RoomArgs {
    fn host_grace(&self) -> Result<Duration, SettingError> {
        whole_secs(
            "WATCHPARTY_HOST_GRACE_SECS (--host-grace-secs)",
            &self.host_grace_secs,
            1..=86_400 * 7,
        )
    }

    fn allowed_origins(&self) -> Result<AllowedOrigins, SettingError> {
        let origins = list(&self.allowed_origins);
        if let Some(origin) = origins
            .iter()
            .find(|o| *o != "*" && !(o.starts_with("http://") || o.starts_with("https://")))
        {
            return Err(bad(
                "WATCHPARTY_ALLOWED_ORIGINS",
                format!("{origin:?} is not an origin like https://example.com"),
            ));
        }
        Ok(AllowedOrigins(origins))
    }
}

impl ClientArgs {
    fn trusted_proxies(&self) -> Result<TrustedProxies, SettingError> {
        list(&self.trusted_proxies)
            .iter()
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        bad(
                            "WATCHPARTY_TRUSTED_PROXIES",
                            format!("{entry:?} is not an address or CIDR"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn max_registrations_per_hour(&self) -> Result<u64, SettingError> {
        match self.max_registrations_per_hour.trim().parse() {
            Ok(n) if (1..=1_000_000_000).contains(&n) => Ok(n),
            _ => Err(bad(
                "WATCHPARTY_MAX_REGISTRATIONS_PER_HOUR (--max-registrations-per-hour)",
                format!(
                    "must be a whole number from 1 to 1000000000, got {:?}",
                    self.max_registrations_per_hour
                ),
            )),
        }
    }

    fn max_connections_per_address(&self) -> Result<usize, SettingError> {
        match self.max_connections_per_address.trim().parse() {
            Ok(n) if n <= 1_000_000 => Ok(n),
            _ => Err(bad(
                "WATCHPARTY_MAX_CONNECTIONS_PER_ADDRESS (--max-connections-per-address)",
                format!(
                    "must be a whole number from 0 (no cap) to 1000000, got {:?}",
                    self.max_connections_per_address
                ),
            )),
        }
    }

    fn forwarded_header(&self) -> Result<ForwardedHeader, SettingError> {
        match self.forwarded_header.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            other => Err(bad(
                "WATCHPARTY_FORWARDED_HEADER (--forwarded-header)",
                format!("must be x-forwarded-for or forwarded, got {other:?}"),
            )),
        }
    }
}

impl ServeArgs {
    /// Validates every serve setting. When several are wrong, the first
    /// in this order is reported (the order is older than the groups, and
    /// operators' scripts may have met it).
    pub fn settings(&self) -> Result<Settings, SettingError> {
        let log_format = self.log.format()?;
        let bind = self.server.bind()?;
        let database = self.database.settings()?;
        let host_grace = self.rooms.host_grace()?;
        let ws_token_ttl = self.auth.ws_token_ttl()?;
        let redis_url = self.live_state.redis_url()?;
        let (jwt_secret, session_key, generated_secrets) =
            self.auth.secrets(redis_url.is_some())?;
        let trusted_proxies = self.clients.trusted_proxies()?;
        let allowed_origins = self.rooms.allowed_origins()?;
        let redis_prefix = self.live_state.redis_prefix()?;
        let metrics_bind = self.server.metrics_bind()?;
        let max_registrations_per_hour = self.clients.max_registrations_per_hour()?;
        let max_connections_per_address = self.clients.max_connections_per_address()?;
        let forwarded_header = self.clients.forwarded_header()?;
        if metrics_bind == Some(bind) {
            return Err(bad(
                "WATCHPARTY_METRICS_BIND (--metrics-bind)",
                "must differ from WATCHPARTY_BIND",
            ));
        }
        Ok(Settings {
            server: Server {
                bind,
                metrics_bind,
                workers: std::thread::available_parallelism().map_or(2, usize::from),
            },
            database,
            live_state: match redis_url {
                None => LiveStateBackend::InProcess,
                Some(url) => LiveStateBackend::Redis(RedisConfig {
                    url,
                    prefix: redis_prefix,
                }),
            },
            auth: Auth {
                jwt_secret,
                session_key,
                ws_token_ttl,
                generated_secrets,
            },
            rooms: Rooms {
                host_grace,
                allowed_origins,
                sweep_interval: Duration::from_millis(500),
                heartbeat: Heartbeat {
                    interval: Duration::from_secs(15),
                    timeout: Duration::from_secs(45),
                },
                outbox_capacity: 256,
                frame_limit: FrameLimit::default(),
                chat_limit: ChatLimit::default(),
                // Many tabs and devices; not thousands of connections from one script.
                max_sockets_per_user: 20,
            },
            clients: Clients {
                trusted_proxies,
                forwarded_header,
                max_connections_per_address,
                max_registrations_per_hour,
            },
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn redis_urls() {
        for good in [
            "redis://127.0.0.1",
            "redis://127.0.0.1:6379",
            "rediss://user:p%40ss@cache.example.com:6380/2",
            "redis://[::1]:6379/0",
            "redis://:secret@host",
        ] {
            assert!(check_redis_url(good).is_ok(), "{good}");
        }
        for bad in [
            "redis://host:notaport",
            "redis://host:0",
            "redis://host:70000",
            "redis://",
            "redis://:pw@",
            "redis://host/abc",
            "http://host",
            "redis://[::1:6379",
        ] {
            let err = check_redis_url(bad).err();
            assert!(err.is_some(), "{bad} must be refused");
            let text = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(text.contains("REDIS_URL"), "{text}");
            assert!(!text.contains("secret") && !text.contains("pw"), "{text}");
        }
    }

    /// Flags win over the environment, so these settings do not depend on
    /// the variables of whoever runs the tests: each one `args` leaves out
    /// is given a fixed value.
    fn serve(args: &[&str]) -> Result<Settings, SettingError> {
        let fixed = [
            ("--bind", "127.0.0.1:0"),
            ("--database-url", "sqlite://test.db"),
            ("--redis-url", ""),
            ("--jwt-secret", "settings-test-jwt-secret-0123456789abcdef"),
            (
                "--session-key",
                "settings-test-session-key-0123456789abcdef",
            ),
        ];
        let mut argv = vec!["watchparty", "serve"];
        for (flag, value) in fixed {
            if !args.contains(&flag) {
                argv.extend([flag, value]);
            }
        }
        argv.extend(args);
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.into_command() {
            Command::Serve(args) => args.settings(),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn the_service_and_the_web_edge_agree_on_redis() {
        let one = serve(&[]).unwrap();
        assert_eq!(one.service().live_state, LiveStateBackend::InProcess);
        assert_eq!(one.web().sessions, LiveStateBackend::InProcess);

        let shared = serve(&["--redis-url", "redis://cache:6379", "--redis-prefix", "wp"]).unwrap();
        let redis = LiveStateBackend::Redis(RedisConfig {
            url: "redis://cache:6379".into(),
            prefix: "wp".into(),
        });
        assert_eq!(shared.service().live_state, redis);
        assert_eq!(shared.web().sessions, redis);
    }

    #[test]
    fn each_setting_reaches_its_crate() {
        let settings = serve(&[
            "--host-grace-secs",
            "42",
            "--ws-token-ttl-secs",
            "30",
            "--max-connections-per-address",
            "7",
            "--max-registrations-per-hour",
            "9",
            "--forwarded-header",
            "forwarded",
            "--allowed-origins",
            "https://a.example, https://b.example",
            "--trusted-proxies",
            "10.0.0.0/8,192.0.2.1",
            "--database-connect-timeout-secs",
            "3",
        ])
        .unwrap();
        let service = settings.service();
        assert_eq!(service.host_grace, Duration::from_secs(42));
        assert_eq!(service.ws_token_ttl, Duration::from_secs(30));
        assert_eq!(service.limits.registrations_per_address, 9);
        assert_eq!(service.database.url, "sqlite://test.db");
        assert_eq!(service.database.connect_timeout, Duration::from_secs(3));
        assert_eq!(
            service.jwt_secret.expose(),
            b"settings-test-jwt-secret-0123456789abcdef"
        );
        let web = settings.web();
        assert_eq!(
            web.session_key.expose(),
            b"settings-test-session-key-0123456789abcdef"
        );
        assert_eq!(web.edge.max_connections_per_address, 7);
        assert_eq!(web.edge.max_requests_per_forwarded_client, 7);
        assert_eq!(web.edge.forwarded_header, ForwardedHeader::Forwarded);
        assert_eq!(
            web.allowed_origins.0,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(web.trusted_proxies.0.len(), 2);
        assert!(settings.auth.generated_secrets.is_empty());
    }

    #[test]
    fn nothing_secret_prints() {
        let settings = serve(&["--redis-url", "redis://:hunter3@cache:6379"]).unwrap();
        let printed = format!("{settings:?} {:?} {:?}", settings.service(), settings.web());
        for secret in ["hunter3", "settings-test-jwt", "settings-test-session"] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
            // Nor as the numbers a derived `Debug` of bytes would print.
            let bytes = format!("{:?}", &secret.as_bytes()[..6]);
            assert!(!printed.contains(bytes.trim_end_matches(']')), "{printed}");
        }
        assert!(printed.contains("Secret(***)"), "{printed}");
    }

    /// Every serve setting has a flag and a variable whose value `--help`
    /// never shows, and sits under a heading.
    #[test]
    fn every_setting_is_a_flag_and_a_hidden_variable() {
        Cli::command().debug_assert();
        let command = Cli::command();
        let serve = command.find_subcommand("serve").unwrap();
        let settings: Vec<_> = serve
            .get_arguments()
            .filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version"))
            .collect();
        assert_eq!(settings.len(), 16);
        for arg in settings {
            let id = arg.get_id();
            assert!(arg.get_long().is_some(), "{id} has no flag");
            assert!(arg.get_env().is_some(), "{id} has no variable");
            assert!(arg.is_hide_env_values_set(), "{id} shows its value");
            assert!(arg.get_help_heading().is_some(), "{id} has no heading");
        }
    }
}
