//! The watchparty server, wired: configuration in, a running server out.
//! `main.rs` only parses arguments and calls [`Application`]; tests build
//! the same [`Application`] on port 0.

pub mod settings;
pub mod telemetry;

pub use settings::{
    Cli, Command, DatabaseCommandArgs, LogFormat, RoomCommand, Secret, ServeArgs, SettingError,
    Settings, UserCommand,
};
pub use watchparty_web::Shutdown;

use std::net::TcpListener;
use watchparty_service::{
    redact_password, Migrations, Operator, Service, ServiceError, RECONCILE_EVERY,
};

/// Why the server could not start. Each names the setting and the cause on
/// one line.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is unusable.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// The database or the service could not start.
    #[error(transparent)]
    Service(#[from] watchparty_service::StartupError),
    /// A listen address could not be bound.
    #[error("{setting}: cannot listen on {addr}: {source}")]
    Bind {
        /// The flag or variable that names the address.
        setting: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Something else at the edge.
    #[error("cannot start the web server: {0}")]
    Io(#[from] std::io::Error),
}

/// Applies the database migrations (`watchparty migrate`) and returns the
/// one line that says what was done.
pub async fn migrate(on: &DatabaseCommandArgs) -> Result<Vec<String>, OperatorError> {
    let database = on.database.settings().map_err(StartupError::from)?;
    let Migrations { applied, total } = watchparty_service::migrate(&database)
        .await
        .map_err(StartupError::from)?;
    let url = redact_password(&database.url);
    let migrations = |n: usize| if n == 1 { "migration" } else { "migrations" };
    Ok(vec![if applied.is_empty() {
        format!(
            "watchparty: {url} is up to date: {total} {} applied, none pending",
            migrations(total)
        )
    } else {
        format!(
            "watchparty: applied {} of {total} {} to {url}: {}",
            applied.len(),
            migrations(total),
            applied.join(", ")
        )
    }])
}

/// Why an operator's command failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The database could not be opened, or a setting is unusable.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// No account has that email, or no room that code.
    #[error("{0}")]
    NotFound(String),
    /// The database failed the request.
    #[error("the database refused: {0}")]
    Service(ServiceError),
}

async fn operator(on: &DatabaseCommandArgs) -> Result<Operator, OperatorError> {
    let database = on.database.settings().map_err(StartupError::from)?;
    let operator = Operator::open(&database)
        .await
        .map_err(StartupError::from)?;
    Ok(operator)
}

/// Runs `watchparty user …` and returns the lines to print.
pub async fn user_command(command: &UserCommand) -> Result<Vec<String>, OperatorError> {
    let operator = operator(command.database()).await?;
    let within = RECONCILE_EVERY.as_secs();
    match command {
        UserCommand::List { limit, after, .. } => {
            let limit = settings::page_size(limit).map_err(StartupError::from)?;
            let after = settings::page_after(after).map_err(StartupError::from)?;
            let accounts = operator
                .accounts(after, limit)
                .await
                .map_err(OperatorError::Service)?;
            let mut lines: Vec<String> = accounts
                .iter()
                .map(|a| {
                    let state = if a.is_disabled { "disabled" } else { "active" };
                    format!("{}\t{}\t{}\t{state}", a.id, a.email, a.display_name)
                })
                .collect();
            match accounts.last() {
                Some(last) if accounts.len() as i64 == limit => lines.push(format!(
                    "more: watchparty user list --after {} --limit {limit}",
                    last.id
                )),
                Some(_) => {}
                None => lines.push("no accounts".into()),
            }
            Ok(lines)
        }
        UserCommand::Disable { email, .. } | UserCommand::Enable { email, .. } => {
            let disable = matches!(command, UserCommand::Disable { .. });
            let account = match operator.set_disabled(email, disable).await {
                Ok(account) => account,
                Err(ServiceError::NotFound) => {
                    return Err(OperatorError::NotFound(format!(
                        "no account has the email {email:?}"
                    )))
                }
                Err(e) => return Err(OperatorError::Service(e)),
            };
            Ok(vec![if disable {
                format!(
                    "watchparty: disabled {} (id {}): it cannot log in, and its sessions and sockets end within {within} s on every instance",
                    account.email, account.id
                )
            } else {
                format!(
                    "watchparty: enabled {} (id {}): it can log in again",
                    account.email, account.id
                )
            }])
        }
    }
}

/// Runs `watchparty room …` and returns the line to print.
pub async fn room_command(command: &RoomCommand) -> Result<Vec<String>, OperatorError> {
    let RoomCommand::Close { code, .. } = command;
    match operator(command.database()).await?.close_room(code).await {
        Ok(()) => Ok(vec![format!(
            "watchparty: closed room {}: its sockets get ROOM_CLOSED and close within {} s on every instance",
            code.trim().to_ascii_uppercase(),
            RECONCILE_EVERY.as_secs()
        )]),
        Err(ServiceError::NotFound) => Err(OperatorError::NotFound(format!(
            "no open room has the code {code:?}"
        ))),
        Err(e) => Err(OperatorError::Service(e)),
    }
}
fn bind(setting: &'static str, addr: std::net::SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).map_err(|source| StartupError::Bind {
        setting,
        addr,
        source,
    })
}

/// A server bound to its port, ready to run.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    shutdown: Shutdown,
}

impl Application {
    /// Binds the listeners, connects, migrates and assembles the service.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        // Binding first: an address in use is reported before anything else
        // is printed or any connection is made.
        let listener = bind("WATCHPARTY_BIND (--bind)", settings.server.bind)?;
        let metrics_listener = settings
            .server
            .metrics_bind
            .map(|addr| bind("WATCHPARTY_METRICS_BIND (--metrics-bind)", addr))
            .transpose()?;
        let service = Service::start(settings.service()).await?;
        let port = listener.local_addr()?.port();
        let (server, shutdown) =
            watchparty_web::start(listener, metrics_listener, service.clone(), settings.web())
                .await?;
        tokio::spawn({
            let stopping = shutdown.stopping();
            let service = service.clone();
            async move { service.run_grace_sweeper(stopping).await }
        });
        tokio::spawn({
            let stopping = shutdown.stopping();
            async move { service.run_reconciler(stopping).await }
        });
        // Warnings come once the server is known to start, so that a
        // failure to start stays the only line printed.
        for warning in settings.warnings() {
            tracing::warn!("{warning}");
        }
        tracing::info!(port, database = %redact_password(&settings.database.url), "watchparty is serving");
        Ok(Application {
            port,
            server,
            shutdown,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The handle that shuts the server down ([`Shutdown::run`]).
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
