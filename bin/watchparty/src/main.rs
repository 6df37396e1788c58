//! `watchparty`: parse, log, wire, serve. All logic lives in the crates.

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;
use watchparty::telemetry::{self, Verbosity};
use watchparty::{
    Application, Cli, Command, DatabaseCommandArgs, OperatorError, Settings, StartupError,
};

/// Every start-up failure: one line that names the setting and the cause.
const STARTUP_FAILED: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line, like every other start-up problem.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("watchparty: {}", first.trim_start_matches("error: "));
            return ExitCode::from(STARTUP_FAILED);
        }
    };
    match cli.into_command() {
        Command::Serve(args) => match args.settings() {
            Ok(settings) => {
                telemetry::init(settings.log_format, Verbosity::Serving);
                run(serve(settings))
            }
            Err(e) => refuse(&e),
        },
        Command::Migrate(on) => operate(&on, watchparty::migrate(&on)),
        Command::User(command) => operate(command.database(), watchparty::user_command(&command)),
        Command::Room(command) => operate(command.database(), watchparty::room_command(&command)),
    }
}

/// A one-shot command on the database (`migrate`, `user`, `room`): its lines
/// on stdout; an unknown email or code exits 1.
fn operate(
    on: &DatabaseCommandArgs,
    command: impl std::future::Future<Output = Result<Vec<String>, OperatorError>>,
) -> ExitCode {
    match on.log.format() {
        Ok(format) => telemetry::init(format, Verbosity::Command),
        Err(e) => return refuse(&e),
    }
    run(async move {
        match command.await {
            Ok(lines) => {
                // A reader that stopped early (`| head`) is not an error of ours.
                let mut out = std::io::stdout().lock();
                for line in lines {
                    if writeln!(out, "{line}").is_err() {
                        break;
                    }
                }
                Ok(())
            }
            Err(OperatorError::Startup(e)) => Err(Failure::Startup(e)),
            Err(e) => Err(Failure::Refused(e.to_string())),
        }
    })
}

fn refuse(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("watchparty: {}", one_line(&error.to_string()));
    ExitCode::from(STARTUP_FAILED)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why the process stopped unhappily: before it served, or while serving.
enum Failure {
    Startup(StartupError),
    Serving(std::io::Error),
    /// An operator's command that could not be carried out.
    Refused(String),
}

impl From<StartupError> for Failure {
    fn from(e: StartupError) -> Self {
        Failure::Startup(e)
    }
}

fn run(work: impl std::future::Future<Output = Result<(), Failure>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return refuse(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Startup(e)) => refuse(&e),
        Err(Failure::Serving(e)) => {
            eprintln!("watchparty: stopped serving: {e}");
            ExitCode::FAILURE
        }
        Err(Failure::Refused(why)) => {
            eprintln!("watchparty: {}", one_line(&why));
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), Failure> {
    let app = Application::build(settings).await?;
    let shutdown = app.shutdown_handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: closing sockets, finishing requests");
        shutdown.run().await;
    });
    app.run_until_stopped().await.map_err(Failure::Serving)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
