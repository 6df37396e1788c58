//! The integration suite: one test binary, one module per section of the
//! contract (`docs/protocol.md`; the sections of the external contract), each
//! test against a real server over real HTTP and WebSockets.
//!
//! One binary instead of one per file: the suite links `watchparty` and its
//! dependencies once, not sixteen times, and its tests share the runner's
//! threads instead of waiting for each other binary by binary.
//!
//! A new test goes into the module of the section it checks (a new file is a
//! submodule declared in that section's `mod.rs`). Run one section or one
//! test by its path:
//!
//! ```text
//! cargo test -p watchparty-testkit --test all sockets::
//! cargo test -p watchparty-testkit --test all accounts::logins::the_owner -- --nocapture
//! ```
//!
//! The runner puts any two tests of the binary side by side (as many as there
//! are cores). A test that saturates the CPU (hundreds of password hashes,
//! floods of frames or connections) starts with
//! `let _cpu = watchparty_testkit::cpu_heavy().await;`, so that two such
//! tests never share the machine.
//!
//! `instances::` always runs in production mode (several instances on one
//! PostgreSQL and one Redis); `scripts/test.sh` skips it in the passes that
//! repeat the rest of the suite on PostgreSQL and in production mode.

/// §1, running it: settings, start-up, health, metrics, SIGTERM, the documents
/// and the web client the binary serves.
mod running;

/// §2, HTTP conventions at the edge under attack.
mod http;

/// §3, users and authentication: accounts, sessions, logins, tokens.
mod accounts;

/// §4, rooms over HTTP.
mod rooms;

/// §5, the room WebSocket: messages, frames, host status and grace.
mod sockets;

/// §7, §8, §11: running a room together.
mod together;

/// §6, several instances on one PostgreSQL and one Redis, and their faults.
mod instances;
