//! Throw-away PostgreSQL databases, for tests that need a clean one each.

use crate::error::PersistenceError;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Creates an empty database on the server `admin_url` points to and returns
/// its URL. The name is unique per process and call.
pub fn create_postgres_database(admin_url: &str) -> Result<String, PersistenceError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "wp_{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin =
        PgConnection::establish(admin_url).map_err(|e| PersistenceError::Connect(e.to_string()))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .ok_or_else(|| PersistenceError::UnsupportedUrl(admin_url.to_owned()))?;
    Ok(format!("{base}/{name}"))
}

/// A port on 127.0.0.1 that accepts connections and never says a word, like
/// a wedged database server: for tests of connect timeouts. The listener
/// lives, holding every connection, until the process ends.
pub fn silent_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    Ok(port)
}
