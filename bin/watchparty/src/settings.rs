//! Configuration from flags and environment (docs/configuration.md). Every setting is a
//! clap argument with a flag and a variable, so `--help` lists them all; every
//! problem is one line that names the setting.

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use watchparty_service::redact_password;
pub use watchparty_service::ChatLimit;
pub use watchparty_web::{ForwardedHeader, FrameLimit};

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
    args_conflicts_with_subcommands = true
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

/// The arguments of `watchparty serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "WATCHPARTY_BIND",
        default_value = "127.0.0.1:8000",
        hide_env_values = true
    )]
    pub bind: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub database: DatabaseArgs,
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
    /// Seconds a room waits for its host.
    #[arg(
        long,
        env = "WATCHPARTY_HOST_GRACE_SECS",
        default_value = "600",
        hide_env_values = true
    )]
    pub host_grace_secs: String,
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
    /// Browser origins allowed on /ws/ besides the server's own, comma-separated.
    #[arg(
        long,
        env = "WATCHPARTY_ALLOWED_ORIGINS",
        default_value = "",
        hide_env_values = true
    )]
    pub allowed_origins: String,
    /// Reverse proxies whose forwarding headers are believed: CIDRs or addresses,
    /// comma-separated.
    #[arg(
        long,
        env = "WATCHPARTY_TRUSTED_PROXIES",
        default_value = "",
        hide_env_values = true
    )]
    pub trusted_proxies: String,
    /// Serve /metrics on this address only (unset: on the main address).
    #[arg(long, env = "WATCHPARTY_METRICS_BIND", hide_env_values = true)]
    pub metrics_bind: Option<String>,
    /// Connections one client address may hold open (0: no cap); trusted proxies
    /// are exempt, and behind one it bounds each forwarded client's requests.
    #[arg(
        long,
        env = "WATCHPARTY_MAX_CONNECTIONS_PER_ADDRESS",
        default_value = "256",
        hide_env_values = true
    )]
    pub max_connections_per_address: String,
    /// The header trusted proxies put the client's address in: `x-forwarded-for`
    /// or `forwarded` (RFC 7239).
    #[arg(
        long,
        env = "WATCHPARTY_FORWARDED_HEADER",
        default_value = "x-forwarded-for",
        hide_env_values = true
    )]
    pub forwarded_header: String,
    /// Registrations one address (one IPv6 /64) may attempt per hour.
    #[arg(
        long,
        env = "WATCHPARTY_MAX_REGISTRATIONS_PER_HOUR",
        default_value = "100",
        hide_env_values = true
    )]
    pub max_registrations_per_hour: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub log: LogArgs,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Key material that never appears in a log line, a `Debug` dump or `--help`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The bytes, for the one place that uses them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Secret {
    fn from(bytes: &[u8]) -> Self {
        Secret(bytes.to_vec())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What `watchparty migrate` needs, validated.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// Longest wait for a new connection to answer.
    pub connect_timeout: Duration,
}

/// Everything the server needs to start, validated.
#[derive(Clone)]
pub struct Settings {
    /// Listen address.
    pub bind: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// Longest wait for a new database connection to answer.
    pub database_connect_timeout: Duration,
    /// Redis URL, if several instances share state.
    pub redis_url: Option<String>,
    /// How long a room waits for its host.
    pub host_grace: Duration,
    /// HS256 secret for WebSocket tokens.
    pub jwt_secret: Secret,
    /// Session cookie key material.
    pub session_key: Secret,
    /// WebSocket token lifetime.
    pub ws_token_ttl: Duration,
    /// Extra browser origins allowed on `/ws/`.
    pub allowed_origins: Vec<String>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Where `/metrics` is served when not on the main address.
    pub metrics_bind: Option<SocketAddr>,
    /// Prefix of every Redis key.
    pub redis_prefix: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Server ping interval on room sockets.
    pub heartbeat_interval: Duration,
    /// Silence after which a socket is dropped.
    pub client_timeout: Duration,
    /// How often expired graces are looked for.
    pub sweep_interval: Duration,
    /// Messages queued per socket before it counts as too slow.
    pub outbox_capacity: usize,
    /// How many frames one socket may send.
    pub frame_limit: FrameLimit,
    /// How much chat one user may send.
    pub chat_limit: ChatLimit,
    /// Room sockets one user may hold open on one instance.
    pub max_sockets_per_user: usize,
    /// Registrations one address may attempt per hour.
    pub max_registrations_per_hour: u64,
    /// Connections one address may hold (0: no cap).
    pub max_connections_per_address: usize,
    /// Where trusted proxies put the client's address.
    pub forwarded_header: ForwardedHeader,
    /// HTTP worker threads.
    pub workers: usize,
    /// Which secrets were generated because none was configured.
    pub generated_secrets: Vec<&'static str>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("database_url", &redact_password(&self.database_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_password))
            .field("host_grace", &self.host_grace)
            .field("jwt_secret", &self.jwt_secret)
            .field("session_key", &self.session_key)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Start-up warnings about a configuration that works but is unsafe.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings: Vec<String> = self
            .generated_secrets
            .iter()
            .map(|name| {
                format!("{name} is not set: using a random secret, so sessions and tokens end with this process")
            })
            .collect();
        if self.generated_secrets.is_empty() && self.jwt_secret == self.session_key {
            warnings.push(
                "WATCHPARTY_JWT_SECRET equals WATCHPARTY_SESSION_KEY: give each its own secret, \
                 so that one leaking does not expose the other"
                    .into(),
            );
        }
        if self.allowed_origins.iter().any(|o| o == "*") {
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
        Some(value) if value.len() >= MIN_SECRET_BYTES => Ok(Secret(value.as_bytes().to_vec())),
        Some(_) => Err(bad(
            name,
            format!("must be at least {MIN_SECRET_BYTES} bytes"),
        )),
        None => {
            generated.push(name);
            let bytes: [u8; 64] = rand::random();
            Ok(Secret(bytes.to_vec()))
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
    pub fn settings(&self) -> Result<DatabaseSettings, SettingError> {
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
        Ok(DatabaseSettings {
            url,
            connect_timeout,
        })
    }
}

impl ServeArgs {
    /// Validates every serve setting.
    pub fn settings(&self) -> Result<Settings, SettingError> {
        let log_format = self.log.format()?;
        let bind = address("WATCHPARTY_BIND (--bind)", &self.bind)?;
        let database = self.database.settings()?;
        let host_grace = whole_secs(
            "WATCHPARTY_HOST_GRACE_SECS (--host-grace-secs)",
            &self.host_grace_secs,
            1..=86_400 * 7,
        )?;
        let ws_token_ttl = whole_secs(
            "WATCHPARTY_WS_TOKEN_TTL_SECS (--ws-token-ttl-secs)",
            &self.ws_token_ttl_secs,
            5..=3600,
        )?;
        let redis_url = self
            .redis_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let jwt_secret_value = self.jwt_secret.as_deref().filter(|s| !s.is_empty());
        let session_key_value = self.session_key.as_deref().filter(|s| !s.is_empty());
        if let Some(url) = &redis_url {
            check_redis_url(url)?;
            for (name, value) in [
                ("WATCHPARTY_JWT_SECRET", jwt_secret_value),
                ("WATCHPARTY_SESSION_KEY", session_key_value),
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
        let jwt_secret = secret("WATCHPARTY_JWT_SECRET", jwt_secret_value, &mut generated)?;
        let session_key = secret("WATCHPARTY_SESSION_KEY", session_key_value, &mut generated)?;
        let trusted_proxies = list(&self.trusted_proxies)
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
            .collect::<Result<Vec<_>, _>>()?;
        let allowed_origins = list(&self.allowed_origins);
        if let Some(origin) = allowed_origins
            .iter()
            .find(|o| *o != "*" && !(o.starts_with("http://") || o.starts_with("https://")))
        {
            return Err(bad(
                "WATCHPARTY_ALLOWED_ORIGINS",
                format!("{origin:?} is not an origin like https://example.com"),
            ));
        }
        let redis_prefix = self.redis_prefix.trim().to_owned();
        if redis_prefix.is_empty()
            || redis_prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad(
                "WATCHPARTY_REDIS_PREFIX",
                "must be non-empty without spaces",
            ));
        }
        let metrics_bind = self
            .metrics_bind
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|raw| address("WATCHPARTY_METRICS_BIND (--metrics-bind)", raw))
            .transpose()?;
        let max_registrations_per_hour = match self.max_registrations_per_hour.trim().parse() {
            Ok(n) if (1..=1_000_000_000).contains(&n) => n,
            _ => {
                return Err(bad(
                    "WATCHPARTY_MAX_REGISTRATIONS_PER_HOUR (--max-registrations-per-hour)",
                    format!(
                        "must be a whole number from 1 to 1000000000, got {:?}",
                        self.max_registrations_per_hour
                    ),
                ))
            }
        };
        let max_connections_per_address = match self.max_connections_per_address.trim().parse() {
            Ok(n) if n <= 1_000_000 => n,
            _ => {
                return Err(bad(
                    "WATCHPARTY_MAX_CONNECTIONS_PER_ADDRESS (--max-connections-per-address)",
                    format!(
                        "must be a whole number from 0 (no cap) to 1000000, got {:?}",
                        self.max_connections_per_address
                    ),
                ))
            }
        };
        let forwarded_header = match self.forwarded_header.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => ForwardedHeader::XForwardedFor,
            "forwarded" => ForwardedHeader::Forwarded,
            other => {
                return Err(bad(
                    "WATCHPARTY_FORWARDED_HEADER (--forwarded-header)",
                    format!("must be x-forwarded-for or forwarded, got {other:?}"),
                ))
            }
        };
        if metrics_bind == Some(bind) {
            return Err(bad(
                "WATCHPARTY_METRICS_BIND (--metrics-bind)",
                "must differ from WATCHPARTY_BIND",
            ));
        }
        Ok(Settings {
            bind,
            database_url: database.url,
            database_connect_timeout: database.connect_timeout,
            redis_url,
            host_grace,
            jwt_secret,
            session_key,
            ws_token_ttl,
            allowed_origins,
            trusted_proxies,
            metrics_bind,
            redis_prefix,
            log_format,
            heartbeat_interval: Duration::from_secs(15),
            client_timeout: Duration::from_secs(45),
            sweep_interval: Duration::from_millis(500),
            outbox_capacity: 256,
            frame_limit: FrameLimit::default(),
            chat_limit: ChatLimit::default(),
            // Many tabs and devices; not thousands of connections from one script.
            max_sockets_per_user: 20,
            max_registrations_per_hour,
            max_connections_per_address,
            forwarded_header,
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            generated_secrets: generated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn secrets_never_print() {
        let secret = Secret::from(&b"hunter2-hunter2-hunter2-hunter2-hunter2"[..]);
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }
}
