//! What every scenario shares: the servers, the processes to watch, and
//! setting up users, rooms and sockets.

use crate::clients::{self, Client, Shared};
use crate::measure::Process;
use crate::net::{self, Account, Http, SocketOptions};
use anyhow::{Context, Result};
use futures_util::stream::{self, StreamExt};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// How many set-up requests run at once.
pub const SETUP_PARALLEL: usize = 48;

/// The servers under test and how to reach them.
pub struct Run {
    /// One pooled HTTP client.
    pub http: Http,
    servers: Vec<String>,
    server_pids: Vec<Process>,
    /// Redis, when its pid was given.
    pub redis: Option<Process>,
    sources: Vec<IpAddr>,
    tabs: Option<usize>,
    next_source: AtomicUsize,
}

impl Run {
    /// The run's context, from the command line.
    pub fn new(
        servers: Vec<String>,
        server_pids: Vec<u32>,
        redis_pid: Option<u32>,
        sources: Vec<IpAddr>,
        tabs: Option<usize>,
    ) -> Result<Self> {
        Ok(Run {
            http: Http::new()?,
            servers: servers
                .into_iter()
                .map(|s| s.trim_end_matches('/').to_owned())
                .collect(),
            server_pids: server_pids.into_iter().map(Process::new).collect(),
            redis: redis_pid.map(Process::new),
            sources,
            tabs,
            next_source: AtomicUsize::new(0),
        })
    }

    /// Base URL of server `i` (wrapping).
    pub fn server(&self, i: usize) -> &str {
        let n = self.servers.len().max(1);
        self.servers.get(i % n).map(String::as_str).unwrap_or("")
    }

    /// How many servers were given.
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    /// Server `i`'s process, when its pid was given.
    pub fn process(&self, i: usize) -> Option<Process> {
        self.server_pids.get(i).copied()
    }

    /// Sockets per account: the command line's, else the scenario's default.
    pub fn tabs(&self, default: usize) -> usize {
        self.tabs.unwrap_or(default).max(1)
    }

    /// Enough fresh accounts for `sockets` sockets at `tabs` each.
    pub async fn accounts(&self, tag: &str, sockets: usize, tabs: usize) -> Result<Vec<Account>> {
        let count = sockets.div_ceil(tabs.max(1)).max(1);
        eprintln!("registering {count} accounts ({tag})");
        self.http
            .register_many(self.server(0), tag, count, SETUP_PARALLEL)
            .await
    }

    /// One fresh account to host the scenario's rooms.
    pub async fn host(&self, tag: &str) -> Result<Account> {
        let mut hosts = self.accounts(&format!("{tag}-host"), 1, 1).await?;
        hosts.pop().context("registering the host gave no account")
    }

    /// Host accounts for `rooms` rooms, each keeping [`ROOMS_PER_HOST`] of
    /// them: room `r` is `hosts[r / ROOMS_PER_HOST]`'s (see [`host_of`]).
    pub async fn hosts(&self, tag: &str, rooms: usize) -> Result<Vec<Account>> {
        let count = rooms.max(1).div_ceil(ROOMS_PER_HOST);
        self.accounts(&format!("{tag}-host"), count, 1).await
    }

    /// A public room hosted by `host`, joined over HTTP by `members`.
    pub async fn room(&self, host: &Account, name: &str, members: &[Account]) -> Result<String> {
        let code = self.http.create_room(self.server(0), host, name).await?;
        let joins: Vec<Result<()>> = stream::iter(members)
            .map(|m| self.http.join(self.server(0), m, &code))
            .buffer_unordered(SETUP_PARALLEL)
            .collect()
            .await;
        joins.into_iter().collect::<Result<Vec<()>>>()?;
        Ok(code)
    }

    /// Options for the next socket: sources taken in turn.
    pub fn socket_options(&self, recv_buffer: Option<u32>) -> SocketOptions {
        let source = if self.sources.is_empty() {
            None
        } else {
            let i = self.next_source.fetch_add(1, Relaxed) % self.sources.len();
            self.sources.get(i).copied()
        };
        SocketOptions {
            source,
            recv_buffer,
        }
    }

    /// Opens one socket of `account` into `code` on server `server` (with a
    /// token from that server) and starts its reader at once, so that
    /// nothing queues on the server while the rest connect.
    pub async fn open(
        &self,
        server: usize,
        code: &str,
        account: &Account,
        reader: usize,
        shared: &Shared,
        ignores_input: bool,
    ) -> Result<Client> {
        let base = self.server(server);
        let token = self.http.token(base, account).await?;
        let options = self.socket_options(ignores_input.then_some(4096));
        let socket = net::connect(base, code, &token, options).await?;
        Ok(clients::spawn(socket, reader, shared, ignores_input))
    }

    /// Opens `count` sockets into `code`: socket `i` belongs to
    /// `accounts[i % len]` and goes to server `server_of(i)`.
    pub async fn open_many(
        &self,
        code: &str,
        accounts: &[Account],
        count: usize,
        server_of: impl Fn(usize) -> usize,
        shared: &Shared,
    ) -> Result<Vec<Arc<Client>>> {
        let opened: Vec<Result<Client>> = stream::iter(0..count)
            .map(|i| {
                let account = accounts.get(i % accounts.len().max(1));
                let server = server_of(i);
                async move {
                    let account = account.context("no accounts")?;
                    self.open(server, code, account, i, shared, false).await
                }
            })
            .buffered(SETUP_PARALLEL)
            .collect()
            .await;
        opened
            .into_iter()
            .map(|c| c.map(Arc::new))
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("opening {count} sockets into {code}"))
    }
}

/// Rooms one host account keeps, with a socket in each: under the server's
/// cap of 20 sockets per user.
pub const ROOMS_PER_HOST: usize = 10;

/// The host of room `r` among [`Run::hosts`].
pub fn host_of(hosts: &[Account], r: usize) -> Result<&Account> {
    hosts
        .get(r / ROOMS_PER_HOST)
        .context("a host for every room")
}

/// A room's sockets on the first server: the host's, and its viewers'.
pub struct Gathered {
    /// The host's socket.
    pub host: Arc<Client>,
    /// The viewers' sockets, kept open as long as this lives.
    pub viewers: Vec<Arc<Client>>,
}

impl Run {
    /// Opens the host's socket, then `count` viewers' on the first server,
    /// and waits for the joins' announcements to settle.
    pub async fn gather(
        &self,
        code: &str,
        host: &Account,
        accounts: &[Account],
        count: usize,
        shared: &Shared,
    ) -> Result<Gathered> {
        let host = Arc::new(self.open(0, code, host, 0, shared, false).await?);
        eprintln!("opening {count} sockets into {code}");
        let viewers = self.open_many(code, accounts, count, |_| 0, shared).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(Gathered { host, viewers })
    }
}

/// Waits until `done()` or `limit` passes; `true` when it became done.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}
