//! Start a real watchparty server on a free port and drive it like a client.
//!
//! ```no_run
//! # async fn demo() {
//! use watchparty_testkit::TestServer;
//!
//! let server = TestServer::builder().host_grace_secs(2).start().await;
//! let ana = server.user("ana").await;
//! let code = ana.create_room("Friday film").await;
//! let mut socket = ana.connect(&code).await.expect("accepted");
//! assert_eq!(socket.recv().await["type"], "PLAYBACK_STATE");
//! server.stop().await;
//! # }
//! ```
//!
//! A test-support crate: its helpers panic with a clear message when the
//! server does not behave, which is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod api;
mod fault;
mod process;
mod raw;
mod server;
mod ws;

pub use api::{answer, ApiClient, TestUser};
pub use fault::{FaultProxy, Impairment, RETRANSMISSION};
pub use process::{free_port, Instance, OwnRedis};
pub use raw::RawSocket;
pub use reqwest::StatusCode;
pub use server::{
    redis_cli, scratch_postgres, test_redis, watchparty_binary, Endpoint, Party, TestServer,
    TestServerBuilder,
};
pub use ws::WsClient;

use std::time::Duration;

/// How long a helper waits for the server before failing the test.
pub const WAIT: Duration = Duration::from_secs(5);

/// Lets one CPU-heavy test run at a time: hold the guard for the whole test.
///
/// The integration suite is one binary, so the runner puts any two of its
/// tests side by side. A test that saturates the cores (hundreds of password
/// hashes at once, floods of frames, thousands of connections) slows its
/// neighbour, and two of them together can each miss what they assert: a
/// request answered within [`WAIT`], a flood's rate, a victim's p99. With
/// this guard such a test only ever shares the machine with a light one.
pub async fn cpu_heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}
