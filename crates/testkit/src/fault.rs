//! A TCP proxy that can cut its connections or slow them down, to take a
//! dependency away or put it at the far end of a bad network.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How a proxied connection misbehaves: each chunk of bytes is held
/// `one_way` in each direction, and a share `loss` of chunks is held a
/// retransmission timeout longer, as a lost TCP segment would be. Order is
/// kept: a userspace proxy sits above TCP, where loss shows only as delay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Delay added in each direction.
    pub one_way: Duration,
    /// Share of chunks delayed by [`RETRANSMISSION`] more, 0 to 1.
    pub loss: f64,
}

/// Linux's minimum retransmission timeout: what one lost segment costs.
pub const RETRANSMISSION: Duration = Duration::from_millis(200);

/// Forwards a local port to `target` until told to cut.
pub struct FaultProxy {
    port: u16,
    open: Arc<AtomicBool>,
    impairment: Arc<Mutex<Option<Impairment>>>,
    cuts: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let impairment = Arc::new(Mutex::new(None));
        let (cuts, _) = watch::channel(0u64);
        let task = tokio::spawn({
            let open = Arc::clone(&open);
            let impairment = Arc::clone(&impairment);
            let cuts = cuts.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue;
                    }
                    let mut cut = cuts.subscribe();
                    let impairment = Arc::clone(&impairment);
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = forward(client, server, impairment) => {}
                            _ = cut.changed() => {}
                        }
                    });
                }
            }
        });
        FaultProxy {
            port,
            open,
            impairment,
            cuts,
            task,
        }
    }

    /// A proxy in front of the server a `postgres://` or `redis://` URL names,
    /// and the same URL pointed at the proxy.
    pub async fn in_front_of(url: &str) -> (FaultProxy, String) {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (credentials, rest) = rest.rsplit_once('@').map_or(("", rest), |(c, r)| (c, r));
        let (address, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let proxy = FaultProxy::start(address.parse().expect("host:port of an IP address")).await;
        let at = if credentials.is_empty() { "" } else { "@" };
        let slash = if path.is_empty() && !rest.contains('/') {
            ""
        } else {
            "/"
        };
        let through = format!(
            "{scheme}://{credentials}{at}127.0.0.1:{}{slash}{path}",
            proxy.port()
        );
        (proxy, through)
    }

    /// The local port to connect to instead of the target.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Drops every forwarded connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Accepts and forwards again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Slows every connection, open or future, down as `impairment` says;
    /// `None` forwards at full speed again.
    pub fn impair(&self, impairment: Option<Impairment>) {
        *self.impairment.lock().unwrap() = impairment;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cuts.send_modify(|n| *n += 1);
    }
}

type Shared = Arc<Mutex<Option<Impairment>>>;

async fn forward(client: TcpStream, server: TcpStream, impairment: Shared) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, Arc::clone(&impairment)),
        pump(server_read, client_write, impairment),
    );
}

// Seeds differ per direction and connection; the sequence need not be secret.
static NEXT_SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// Copies one direction, each chunk released when its delay has passed.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    impairment: Shared,
) {
    let (queue, mut released) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((at, bytes)) = released.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut seed = NEXT_SEED.fetch_add(0x6a09_e667_f3bc_c909, Ordering::Relaxed) | 1;
        let mut last = Instant::now();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let now = Instant::now();
            let at = match *impairment.lock().unwrap() {
                None => now,
                Some(Impairment { one_way, loss }) => {
                    // xorshift64: uniform enough to pick a share of chunks.
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let draw = (seed >> 11) as f64 / (1u64 << 53) as f64;
                    let extra = if draw < loss {
                        RETRANSMISSION
                    } else {
                        Duration::ZERO
                    };
                    now + one_way + extra
                }
            };
            // Bytes never overtake earlier bytes.
            last = last.max(at);
            if queue.send((last, buffer[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    tokio::join!(reader, writer);
}
