//! Talking to the server the way real clients do: HTTP with a session
//! cookie, a token per socket, a WebSocket with small buffers.

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

/// A room socket as the generator holds it.
pub type Socket = WebSocketStream<TcpStream>;

/// A signed-in user: the session cookie is all the server needs.
#[derive(Debug, Clone)]
pub struct Account {
    cookie: String,
}

/// One HTTP connection pool shared by every simulated user.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

/// How a socket connects.
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketOptions {
    /// The local address to connect from (spreads ephemeral ports).
    pub source: Option<IpAddr>,
    /// A small kernel receive buffer, for clients that read slowly.
    pub recv_buffer: Option<u32>,
}

impl Http {
    /// A pool sized for thousands of concurrent simulated users.
    pub fn new() -> Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Http { client })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        account: Option<&Account>,
        body: Option<Value>,
    ) -> Result<(reqwest::StatusCode, Option<String>, Value)> {
        let mut req = self.client.request(method.clone(), url.as_str());
        if let Some(account) = account {
            req = req.header(reqwest::header::COOKIE, &account.cookie);
        }
        match body {
            Some(body) => req = req.json(&body),
            // The server refuses a body-less state change that does not say
            // JSON (its guard against cross-site form posts).
            None if method != reqwest::Method::GET => {
                req = req.header(reqwest::header::CONTENT_TYPE, "application/json");
            }
            None => {}
        }
        let res = req.send().await.with_context(|| url.clone())?;
        let status = res.status();
        let cookie = res
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{url}: {status} {body}");
        }
        Ok((status, cookie, body))
    }

    /// Registers a fresh user (which also signs them in).
    pub async fn register(&self, base: &str, email: &str) -> Result<Account> {
        let (_, cookie, body) = self
            .call(
                reqwest::Method::POST,
                format!("{base}/api/auth/register/"),
                None,
                Some(json!({"email": email, "password": "loadgen-password-1"})),
            )
            .await?;
        if body.pointer("/user/id").and_then(Value::as_i64).is_none() {
            bail!("register: no user id in {body}");
        }
        let cookie = cookie.ok_or_else(|| anyhow!("register: no session cookie"))?;
        Ok(Account { cookie })
    }

    /// Registers `count` users, `parallel` at a time (password hashing is slow
    /// on purpose, so this dominates set-up).
    pub async fn register_many(
        &self,
        base: &str,
        tag: &str,
        count: usize,
        parallel: usize,
    ) -> Result<Vec<Account>> {
        // Unique across calls and runs: the server keeps every account.
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let run = format!("{}-{}-{call}", std::process::id(), unix_millis());
        let results: Vec<Result<Account>> = stream::iter(0..count)
            .map(|i| {
                let email = format!("lg-{tag}-{run}-{i}@example.com");
                async move { self.register(base, &email).await }
            })
            .buffered(parallel.max(1))
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Creates a public room; returns its code.
    pub async fn create_room(&self, base: &str, host: &Account, name: &str) -> Result<String> {
        let (_, _, body) = self
            .call(
                reqwest::Method::POST,
                format!("{base}/api/rooms/"),
                Some(host),
                Some(json!({"name": name})),
            )
            .await?;
        body.pointer("/room/code")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("create room: no code in {body}"))
    }

    /// Joins a room over HTTP (idempotent).
    pub async fn join(&self, base: &str, account: &Account, code: &str) -> Result<()> {
        self.call(
            reqwest::Method::POST,
            format!("{base}/api/rooms/{code}/join/"),
            Some(account),
            None,
        )
        .await
        .map(|_| ())
    }

    /// A single-use WebSocket token.
    pub async fn token(&self, base: &str, account: &Account) -> Result<String> {
        let (_, _, body) = self
            .call(
                reqwest::Method::POST,
                format!("{base}/api/auth/token/"),
                Some(account),
                None,
            )
            .await?;
        body.get("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("token: none in {body}"))
    }
}

impl Http {
    /// The value of an unlabelled counter or gauge on `/metrics`.
    pub async fn metric(&self, base: &str, name: &str) -> Result<f64> {
        let text = self
            .client
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|line| {
                let (key, value) = line.split_once(' ')?;
                (key == name).then(|| value.trim().parse::<f64>().ok())?
            })
            .ok_or_else(|| anyhow!("{base}/metrics: no {name}"))
    }
}

/// Opens the room socket with `token`.
pub async fn connect(
    base: &str,
    code: &str,
    token: &str,
    options: SocketOptions,
) -> Result<Socket> {
    let url = format!(
        "{}/ws/rooms/{code}/?token={token}",
        base.replacen("http", "ws", 1)
    );
    let request = url.as_str().into_client_request()?;
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or_else(|| anyhow!("{base}: no host"))?;
    let addr: SocketAddr = tokio::net::lookup_host(&host)
        .await?
        .next()
        .ok_or_else(|| anyhow!("{host}: no address"))?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(source) = options.source {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    if let Some(size) = options.recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    // tungstenite reserves 128 KiB per socket by default; thousands of
    // mostly idle sockets need far less.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .with_context(|| format!("upgrade {code}"))?;
    Ok(ws)
}

/// Milliseconds of the system clock, which servers on this machine share.
pub(crate) fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
