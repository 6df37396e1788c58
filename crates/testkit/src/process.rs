//! Servers as separate processes, for what an in-process server cannot
//! show: `kill -9`, a paused or emptied Redis, and the server's own memory.

use crate::{watchparty_binary, Endpoint};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A free loopback port for a server that binds it a moment later (a child
/// process, nginx, a Redis of the test's own); nothing holds it meanwhile.
///
/// It lies below the kernel's ephemeral range, which is where the OS picks
/// the local port of every outgoing connection: the suite's tests run in one
/// process, side by side, and some open thousands of client connections
/// (leaving them in TIME_WAIT), any of which could otherwise take a port
/// between this check and the server's bind. Within the process no port is
/// handed out twice; the starting point differs between processes, so two
/// suites on one machine rarely meet, and the bind below catches it when
/// they do.
pub fn free_port() -> u16 {
    const LOWEST: u32 = 10_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768)
        .min(u32::from(u16::MAX));
    let span = ephemeral.saturating_sub(LOWEST);
    if span < 1_000 {
        // No room below the ephemeral range: let the OS choose.
        return bind_free(0).expect("a free loopback port");
    }
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let candidate = LOWEST + (start + step) % span;
        let port = u16::try_from(candidate).expect("below the ephemeral range");
        if let Some(port) = bind_free(port) {
            return port;
        }
    }
    panic!("no free loopback port between {LOWEST} and {ephemeral}");
}

/// `port` (the OS's choice for 0) if it can be bound on loopback now.
fn bind_free(port: u16) -> Option<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).ok()?;
    Some(listener.local_addr().ok()?.port())
}

/// Sends `signal` (such as `STOP`, `CONT`, `KILL`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Resident memory of process `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc")
}

/// A `watchparty serve` process with the environment given, killed when dropped.
pub struct Instance {
    child: Child,
    env: Vec<(String, String)>,
    file_limit: Option<u64>,
    dir: TempDir,
    endpoint: Endpoint,
}

// Fixed secrets: instances of one test must accept each other's sessions and tokens.
const SECRETS: [(&str, &str); 2] = [
    (
        "WATCHPARTY_JWT_SECRET",
        "process-test-jwt-secret-0123456789abcdef",
    ),
    (
        "WATCHPARTY_SESSION_KEY",
        "process-test-session-key-0123456789abcdef-0123456789abcdef",
    ),
];

impl Instance {
    /// Production mode on `database_url` and `redis_url`, keys under `prefix`.
    pub async fn production(database_url: &str, redis_url: &str, prefix: &str) -> Instance {
        Instance::start(&[
            ("DATABASE_URL", database_url),
            ("REDIS_URL", redis_url),
            ("WATCHPARTY_REDIS_PREFIX", prefix),
        ])
        .await
    }

    /// Single-node mode on the default SQLite file, in a directory of its own.
    pub async fn single_node() -> Instance {
        Instance::start(&[]).await
    }

    /// Starts the binary with only `env` (plus the test secrets) set, on a
    /// free port, and waits until it answers `/healthz`.
    pub async fn start(env: &[(&str, &str)]) -> Instance {
        Instance::start_with_file_limit(env, None).await
    }

    /// [`Instance::start`] with the process's soft limit on open files set
    /// to `file_limit` (as `ulimit -Sn`), such as the 1 024 many systems
    /// default to, whatever the test runner's own limit is.
    pub async fn start_with_file_limit(env: &[(&str, &str)], file_limit: Option<u64>) -> Instance {
        let env: Vec<(String, String)> = SECRETS
            .iter()
            .chain(env)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn(&env, &dir, port, file_limit);
        let instance = Instance {
            child,
            env,
            file_limit,
            dir,
            endpoint: Endpoint { port },
        };
        instance.wait_healthy().await;
        instance
    }

    /// Starts it again (after [`Instance::kill`], or killing it first) on the
    /// same port with the same environment.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.env, &self.dir, self.port, self.file_limit);
        self.wait_healthy().await;
    }

    async fn wait_healthy(&self) {
        let started = Instant::now();
        while reqwest::get(self.url("/healthz")).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "instance did not come up: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`, and waits for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// Everything the process (and its earlier runs) wrote to stderr and stdout.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default()
    }
}

impl std::ops::Deref for Instance {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

// Where an instance's stdout and stderr go, in its directory, across restarts.
const LOG_FILE: &str = "server.log";

fn spawn(env: &[(String, String)], dir: &TempDir, port: u16, file_limit: Option<u64>) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join(LOG_FILE))
        .unwrap();
    let mut command = match file_limit {
        None => Command::new(watchparty_binary()),
        // The shell lowers its own soft limit and becomes the server.
        Some(limit) => {
            let mut sh = Command::new("/bin/sh");
            sh.args(["-c", r#"ulimit -Sn "$1" && exec "$0""#])
                .arg(watchparty_binary())
                .arg(limit.to_string());
            sh
        }
    };
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("WATCHPARTY_BIND", format!("127.0.0.1:{port}"))
        .current_dir(dir.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        // A failing test shows what the server said last.
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines.len().saturating_sub(60);
            eprintln!(
                "--- the last lines of instance :{} ---\n{}",
                self.port,
                lines.get(tail..).unwrap_or_default().join("\n")
            );
        }
    }
}

/// A Redis of the test's own, to pause or restart without disturbing others.
pub struct OwnRedis {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl OwnRedis {
    /// Starts `redis-server` on a free port, without persistence.
    pub async fn start() -> OwnRedis {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = spawn_redis(port, &dir);
        let redis = OwnRedis { child, port, dir };
        redis.wait_ready().await;
        redis
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while crate::redis_cli(&self.url(), &["PING"]) != "PONG" {
            assert!(Instant::now() < deadline, "test Redis did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        signal(self.child.id(), "STOP");
    }

    /// Lets a paused Redis run again (SIGCONT).
    pub fn resume(&self) {
        signal(self.child.id(), "CONT");
    }

    /// Stops it; [`OwnRedis::restart`] brings it back empty on the same port.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again, empty, on the same port.
    pub async fn restart(&mut self) {
        self.stop();
        self.child = spawn_redis(self.port, &self.dir);
        self.wait_ready().await;
    }
}

fn spawn_redis(port: u16, dir: &TempDir) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (Debian package redis-server)")
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        // A paused process ignores everything but SIGKILL; that is what kill sends.
        self.stop();
    }
}
