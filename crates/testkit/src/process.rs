//! Servers as separate processes, for what an in-process server cannot
//! show: `kill -9`, a paused or emptied Redis, and the server's own memory.

use crate::{watchparty_binary, Endpoint};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A free loopback port (the OS picks it; nothing holds it afterwards).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
