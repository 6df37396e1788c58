//! Configuration from flags and environment (contract §1). Every problem is
//! one line that names the setting.

use clap::{Parser, Subcommand};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
pub use watchparty_service::ChatLimit;
pub use watchparty_web::FrameLimit;

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {setting}: {problem}")]
pub struct SettingError {
    /// The flag or variable, as the operator wrote it.
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

/// watchparty: watch videos together, in lockstep.
#[derive(Debug, Parser)]
#[command(name = "watchparty", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to listen on.
    #[arg(
        long,
        env = "WATCHPARTY_BIND",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind: String,
    /// sqlite://PATH or postgres://…
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://watchparty.db",
        global = true
    )]
    pub database_url: String,
    /// Redis for several instances; unset means in-process live state.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Seconds a room waits for its host to come back.
    #[arg(
        long,
        env = "WATCHPARTY_HOST_GRACE_SECS",
        default_value = "600",
        global = true
    )]
    pub host_grace_secs: String,
    /// Log format: `text` or `json`.
    #[arg(
        long,
        env = "WATCHPARTY_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,
}

/// The subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve HTTP and WebSockets (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the server needs to start, validated.
#[derive(Clone)]
pub struct Settings {
    /// Listen address.
    pub bind: SocketAddr,
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// Redis URL, if several instances share state.
    pub redis_url: Option<String>,
    /// How long a room waits for its host.
    pub host_grace: Duration,
    /// HS256 secret for WebSocket tokens.
    pub jwt_secret: Vec<u8>,
    /// Session cookie key material.
    pub session_key: Vec<u8>,
    /// WebSocket token lifetime.
    pub ws_token_ttl: Duration,
    /// Extra browser origins allowed on `/ws/`.
    pub allowed_origins: Vec<String>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
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
    /// HTTP worker threads.
    pub workers: usize,
    /// Which secrets were generated because none was configured.
    pub generated_secrets: Vec<&'static str>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("redis", &self.redis_url.is_some())
            .field("host_grace", &self.host_grace)
            .finish_non_exhaustive()
    }
}

/// The URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

const MIN_SECRET_BYTES: usize = 32;

fn secret(name: &'static str, generated: &mut Vec<&'static str>) -> Result<Vec<u8>, SettingError> {
    match std::env::var(name) {
        Ok(value) if value.len() >= MIN_SECRET_BYTES => Ok(value.into_bytes()),
        Ok(_) => Err(bad(
            name,
            format!("must be at least {MIN_SECRET_BYTES} bytes"),
        )),
        Err(_) => {
            generated.push(name);
            let bytes: [u8; 64] = rand::random();
            Ok(bytes.to_vec())
        }
    }
}

fn env_list(name: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_default()
        .split(',')
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

impl Settings {
    /// Validates flags and environment.
    pub fn from_cli(cli: &Cli) -> Result<Self, SettingError> {
        let bind = cli.bind.parse::<SocketAddr>().map_err(|_| {
            bad(
                "WATCHPARTY_BIND (--bind)",
                format!("must be an address like 127.0.0.1:8000, got {:?}", cli.bind),
            )
        })?;
        let database_url = cli.database_url.trim().to_owned();
        let scheme_ok = ["sqlite://", "postgres://", "postgresql://"]
            .iter()
            .any(|s| database_url.starts_with(s));
        if !scheme_ok || database_url.ends_with("://") {
            return Err(bad(
                "DATABASE_URL (--database-url)",
                "must be sqlite://PATH or postgres://…",
            ));
        }
        let host_grace = whole_secs(
            "WATCHPARTY_HOST_GRACE_SECS (--host-grace-secs)",
            &cli.host_grace_secs,
            1..=86_400 * 7,
        )?;
        let ws_token_ttl = match std::env::var("WATCHPARTY_WS_TOKEN_TTL_SECS") {
            Ok(raw) => whole_secs("WATCHPARTY_WS_TOKEN_TTL_SECS", &raw, 5..=3600)?,
            Err(_) => Duration::from_secs(60),
        };
        let log_format = match cli.log_format.trim() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(bad(
                    "WATCHPARTY_LOG_FORMAT (--log-format)",
                    format!("must be text or json, got {other:?}"),
                ))
            }
        };
        let redis_url = cli
            .redis_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        if let Some(url) = &redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(bad(
                    "REDIS_URL (--redis-url)",
                    "must start with redis:// or rediss://",
                ));
            }
            for name in ["WATCHPARTY_JWT_SECRET", "WATCHPARTY_SESSION_KEY"] {
                if std::env::var(name).is_err() {
                    return Err(bad(
                        name,
                        "must be set when REDIS_URL is: every instance needs the same secret",
                    ));
                }
            }
        }
        let mut generated = Vec::new();
        let jwt_secret = secret("WATCHPARTY_JWT_SECRET", &mut generated)?;
        let session_key = secret("WATCHPARTY_SESSION_KEY", &mut generated)?;
        let trusted_proxies = env_list("WATCHPARTY_TRUSTED_PROXIES")
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
        let allowed_origins = env_list("WATCHPARTY_ALLOWED_ORIGINS");
        if let Some(origin) = allowed_origins
            .iter()
            .find(|o| *o != "*" && !(o.starts_with("http://") || o.starts_with("https://")))
        {
            return Err(bad(
                "WATCHPARTY_ALLOWED_ORIGINS",
                format!("{origin:?} is not an origin like https://example.com"),
            ));
        }
        let redis_prefix =
            std::env::var("WATCHPARTY_REDIS_PREFIX").unwrap_or_else(|_| "watchparty".into());
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
        Ok(Settings {
            bind,
            database_url,
            redis_url,
            host_grace,
            jwt_secret,
            session_key,
            ws_token_ttl,
            allowed_origins,
            trusted_proxies,
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
            workers: std::thread::available_parallelism().map_or(2, usize::from),
            generated_secrets: generated,
        })
    }
}
