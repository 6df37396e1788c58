//! The watchparty server, wired: configuration in, a running server out.
//! `main.rs` only parses arguments and calls [`Application`]; tests build
//! the same [`Application`] on port 0.

pub mod settings;
pub mod telemetry;

pub use settings::{Cli, Command, LogFormat, SettingError, Settings};

use std::net::TcpListener;
use tokio_util::sync::CancellationToken;
use watchparty_service::{LiveStateBackend, Service};
use watchparty_web::{AllowedOrigins, Heartbeat, SessionBackend, TrustedProxies, WebConfig};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is unusable.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// The database or the service could not start.
    #[error(transparent)]
    Service(#[from] watchparty_service::StartupError),
    /// The listen address could not be bound.
    #[error("WATCHPARTY_BIND: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Something else at the edge.
    #[error("cannot start the web server: {0}")]
    Io(#[from] std::io::Error),
}

/// Applies the database migrations (`watchparty migrate`).
pub async fn migrate(settings: &Settings) -> Result<(), StartupError> {
    Ok(watchparty_service::migrate(&settings.database_url).await?)
}

/// A server bound to its port, ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    stopper: Stopper,
}

/// Stops a running [`Application`]: sockets closed with 1012, requests drained.
#[derive(Clone)]
pub struct Stopper {
    web: watchparty_web::Shutdown,
    sweeper: CancellationToken,
}

impl Stopper {
    /// Stops the server; `run_until_stopped` returns afterwards.
    pub async fn stop(&self) {
        self.sweeper.cancel();
        self.web.shutdown().await;
    }
}

impl Application {
    /// Connects, migrates, assembles the service and binds the listener.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        for name in &settings.generated_secrets {
            tracing::warn!("{name} is not set: using a random secret, so sessions and tokens end with this process");
        }
        let service = Service::start(watchparty_service::Config {
            database_url: settings.database_url.clone(),
            live_state: match &settings.redis_url {
                None => LiveStateBackend::InProcess,
                Some(url) => LiveStateBackend::Redis {
                    url: url.clone(),
                    prefix: settings.redis_prefix.clone(),
                },
            },
            host_grace: settings.host_grace,
            jwt_secret: settings.jwt_secret.clone(),
            ws_token_ttl: settings.ws_token_ttl,
            outbox_capacity: settings.outbox_capacity,
            sweep_interval: settings.sweep_interval,
            chat_limit: settings.chat_limit,
            max_sockets_per_user: settings.max_sockets_per_user,
        })
        .await?;
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartupError::Bind {
            addr: settings.bind,
            source,
        })?;
        let port = listener.local_addr()?.port();
        let web = WebConfig {
            session_key: settings.session_key.clone(),
            allowed_origins: AllowedOrigins(settings.allowed_origins.clone()),
            trusted_proxies: TrustedProxies(settings.trusted_proxies.clone()),
            heartbeat: Heartbeat {
                interval: settings.heartbeat_interval,
                timeout: settings.client_timeout,
            },
            frame_limit: settings.frame_limit,
            workers: settings.workers,
        };
        let sessions = match &settings.redis_url {
            None => SessionBackend::InProcess,
            Some(url) => SessionBackend::Redis {
                url: url.clone(),
                key_prefix: watchparty_service::redis_session_prefix(&settings.redis_prefix),
            },
        };
        let (server, web_shutdown) =
            watchparty_web::start(listener, service.clone(), web, sessions).await?;
        let sweeper = CancellationToken::new();
        tokio::spawn({
            let sweeper = sweeper.clone();
            async move { service.run_grace_sweeper(sweeper).await }
        });
        tracing::info!(port, database = %settings::redact_url(&settings.database_url), "watchparty is serving");
        Ok(Application {
            port,
            server,
            stopper: Stopper {
                web: web_shutdown,
                sweeper,
            },
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves until stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
