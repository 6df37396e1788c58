//! Logs: readable lines by default, JSON on request, colour only on a
//! terminal. Nothing logged carries a token or a password: the access log
//! omits query strings.

use crate::LogFormat;
use std::io::IsTerminal;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where actix-http reports what happened to one connection: a malformed
/// request, a client that hung up, a socket we dropped on purpose.
const CONNECTION_EVENTS: &str = "actix_http::h1::dispatcher";

/// actix-http logs those at ERROR, so any client could write ERROR lines;
/// they are the client's doing, not the server's, and are logged as warnings.
fn is_connection_error(metadata: &Metadata<'_>) -> bool {
    *metadata.level() == Level::ERROR && metadata.target() == CONNECTION_EVENTS
}

/// How much a process logs unless `RUST_LOG` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// A server: what it does, at `info`.
    Serving,
    /// A one-shot command (`migrate`, `user`, `room`): its own line on stdout
    /// says what it did, so only warnings and errors are logged.
    Command,
}

/// Installs the global subscriber; `RUST_LOG` overrides the default level.
pub fn init(format: LogFormat, verbosity: Verbosity) {
    let default = match verbosity {
        Verbosity::Serving => "info,actix_server=warn",
        Verbosity::Command => "warn",
    };
    // An unusable RUST_LOG falls back to the default, and says so once the
    // subscriber is up.
    let (filter, unusable) = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(wanted) => match EnvFilter::try_new(&wanted) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new(default), Some(format!("{wanted:?}: {e}"))),
        },
        Err(_) => (EnvFilter::new(default), None),
    };
    let ansi = std::io::stderr().is_terminal();
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(lines.with_filter(filter_fn(|m| !is_connection_error(m))))
        .with(DemoteConnectionErrors)
        .try_init();
    if let Some(why) = unusable {
        tracing::warn!("RUST_LOG is not a log filter ({why}); logging at the default level");
    }
}

/// Re-emits actix-http's per-connection errors as warnings of our own.
struct DemoteConnectionErrors;

impl<S: Subscriber> Layer<S> for DemoteConnectionErrors {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if is_connection_error(event.metadata()) {
            let mut message = Message(String::new());
            event.record(&mut message);
            tracing::warn!(target: "watchparty::connection", "connection ended: {}", message.0);
        }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
