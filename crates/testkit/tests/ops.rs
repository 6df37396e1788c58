//! Contract §1: running it — health, readiness, metrics, settings, SIGTERM.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use watchparty_testkit::{free_port, StatusCode, TestServer, WsClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let server = TestServer::start().await;
    let client = server.client();
    assert_eq!(client.get("/healthz").await.0, StatusCode::OK);
    assert_eq!(client.get("/readyz/").await.0, StatusCode::OK);
    let ana = server.user("ana").await;
    let code = ana.create_room("film").await;
    let mut socket = ana.enter(&code).await;
    socket
        .send(json!({"type": "CHAT_MESSAGE", "message": "hi"}))
        .await;
    socket.recv_type("CHAT_MESSAGE").await;
    let _ = client
        .post(
            "/api/auth/login/",
            json!({"email": "x@example.com", "password": "nope-nope"}),
        )
        .await;
    let text = client.metrics().await;
    for line in [
        "watchparty_live_sockets 1",
        "watchparty_live_rooms 1",
        "watchparty_messages_in_total 1",
        "watchparty_failed_logins_total 1",
        "watchparty_fanout_seconds_count",
        "watchparty_messages_out_total",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    server.stop().await;
}

fn binary() -> std::path::PathBuf {
    watchparty_testkit::watchparty_binary()
}

/// Runs the binary in `dir` with only the given environment.
fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied());
    command.output().unwrap()
}

/// Arguments, environment, and the setting the one-line error must name.
type BadStart<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn bad_settings_stop_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [BadStart; 7] = [
        (
            &[],
            &[("WATCHPARTY_HOST_GRACE_SECS", "soon")],
            "WATCHPARTY_HOST_GRACE_SECS",
        ),
        (&[], &[("WATCHPARTY_BIND", "nowhere")], "WATCHPARTY_BIND"),
        (&[], &[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
        (
            &[],
            &[("WATCHPARTY_JWT_SECRET", "short")],
            "WATCHPARTY_JWT_SECRET",
        ),
        (
            &[],
            &[("WATCHPARTY_TRUSTED_PROXIES", "10.0.0.0/99")],
            "WATCHPARTY_TRUSTED_PROXIES",
        ),
        (
            &[],
            &[("REDIS_URL", "redis://127.0.0.1:1")],
            "WATCHPARTY_JWT_SECRET",
        ),
        (&["--bogus"], &[], "--bogus"),
    ];
    for (args, env, named) in cases {
        let output = run(dir.path(), args, env);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?} {env:?} must not start"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?} {env:?}: {stderr}");
        assert!(lines[0].contains(named), "{args:?} {env:?}: {stderr}");
    }
}

#[test]
fn migrate_runs_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["migrate"], &[]).status.success());
    assert!(
        dir.path().join("watchparty.db").exists(),
        "the default database is a file in the working directory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sockets_with_1012_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(binary())
        .current_dir(dir.path())
        .env_clear()
        .env("WATCHPARTY_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the binary did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let register = json!({"email": "term@example.com", "password": "password123"});
    assert_eq!(
        http.post(format!("{base}/api/auth/register/"))
            .json(&register)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let room: serde_json::Value = http
        .post(format!("{base}/api/rooms/"))
        .json(&json!({"name": "r"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = room["room"]["code"].as_str().unwrap();
    let token: serde_json::Value = http
        .post(format!("{base}/api/auth/token/"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut socket = WsClient::connect(port, code, token["token"].as_str(), None)
        .await
        .unwrap();
    socket.recv_type("PLAYBACK_STATE").await;

    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert_eq!(socket.closed_with().await, Some(1012));
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}
