//! `watchparty-loadgen`: drives a running watchparty over loopback as real
//! clients do and measures it. Each subcommand is one scenario of
//! docs/performance.md; results print as a markdown table and, with
//! `--json`, are written to a file.

mod clients;
mod floor;
mod measure;
mod net;
mod report;
mod run;
mod scenarios;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Load generator for watchparty")]
struct Cli {
    /// Base URL of a server; give it again for more instances (the host
    /// always talks to the first).
    #[arg(
        long = "server",
        default_value = "http://127.0.0.1:8000",
        global = true
    )]
    servers: Vec<String>,
    /// Pid of each server process, in the order of --server, to read its CPU
    /// time and memory from /proc.
    #[arg(long = "server-pid", global = true)]
    server_pids: Vec<u32>,
    /// Pid of Redis, to report its CPU time.
    #[arg(long, global = true)]
    redis_pid: Option<u32>,
    /// Local addresses to connect from, round-robin (each gives about 28 000
    /// ephemeral ports): e.g. 127.0.0.2,127.0.0.3.
    #[arg(long, value_delimiter = ',', global = true)]
    sources: Vec<IpAddr>,
    /// Sockets per account: 1 makes every viewer a distinct user; more keeps
    /// set-up (one Argon2 hash per account) short.
    #[arg(long, global = true)]
    tabs: Option<usize>,
    /// Exit with failure when anything was lost, failed or disconnected
    /// unexpectedly (the CI smoke run).
    #[arg(long, global = true)]
    strict: bool,
    /// Write the results as JSON here.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// 1. Idle capacity: open connections over rooms, then measure the
    ///    server's memory per connection and its idle CPU.
    Idle(scenarios::idle::Options),
    /// 2. Fan-out ladder: one room per size, the host SEEKs at each rate.
    Fanout(scenarios::fanout::Options),
    /// 3. Join storm: sockets open on a fixed schedule; time to PLAYBACK_STATE.
    JoinStorm(scenarios::storm::Options),
    /// 4. Many rooms with chat and periodic host control.
    Chat(scenarios::chat::Options),
    /// 5. Slow consumers in a busy room.
    SlowConsumers(scenarios::slow::Options),
    /// 6. Two instances: viewers split, host on the first.
    Cluster(scenarios::cluster::Options),
    /// Scenario 7, a typical evening: many rooms playing, every viewer
    /// reporting its position every 2 s and pinging every 10 s, some chat,
    /// rare seeks (docs/capacity.md); each kind of traffic can be turned off.
    Evening(scenarios::evening::Options),
    /// Soak (docs/reliability.md): sockets held for an hour while users come
    /// and go; memory, open files and threads must stay flat.
    Soak(scenarios::soak::Options),
    /// The floor alone (no server): the writer CPU per frame of one thread
    /// writing to N loopback sockets.
    ///
    /// One writer thread writes a frame (or several gathered into one buffer)
    /// to each of N loopback TCP sockets in turn, nonblocking, with
    /// TCP_NODELAY, while a reader thread drains the other ends; it prints
    /// frames per second and the writer thread's CPU per frame, the least CPU
    /// a delivery made by one write() can cost on this machine. Fan-out, chat
    /// and cluster measure it first (--floor-secs, --floor-sockets,
    /// --floor-frame-bytes) and give every server µs/delivery also as
    /// "× floor".
    Floor(floor::Options),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.servers.is_empty() {
        bail!("give at least one --server");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let run = run::Run::new(
            cli.servers,
            cli.server_pids,
            cli.redis_pid,
            cli.sources,
            cli.tabs,
        )?;
        let report = match cli.scenario {
            Scenario::Idle(o) => scenarios::idle::run(&run, o).await?,
            Scenario::Fanout(o) => scenarios::fanout::run(&run, o).await?,
            Scenario::JoinStorm(o) => scenarios::storm::run(&run, o).await?,
            Scenario::Chat(o) => scenarios::chat::run(&run, o).await?,
            Scenario::SlowConsumers(o) => scenarios::slow::run(&run, o).await?,
            Scenario::Cluster(o) => scenarios::cluster::run(&run, o).await?,
            Scenario::Evening(o) => scenarios::evening::run(&run, o).await?,
            Scenario::Soak(o) => scenarios::soak::run(&run, o).await?,
            Scenario::Floor(o) => scenarios::floor(o).await?,
        };
        println!("{}", report.markdown());
        if let Some(path) = cli.json {
            std::fs::write(&path, serde_json::to_vec_pretty(&report.json())?)?;
            eprintln!("results written to {}", path.display());
        }
        if cli.strict && !report.problems().is_empty() {
            bail!(
                "{} problem(s): {}",
                report.problems().len(),
                report.problems().join("; ")
            );
        }
        Ok(())
    })
}
