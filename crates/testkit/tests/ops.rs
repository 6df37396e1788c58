//! Running it (docs/configuration.md): health, readiness, metrics, settings, SIGTERM.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use watchparty_testkit::{free_port, Instance, StatusCode, TestServer, WsClient};

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

/// Runs the binary and returns (exit code, stdout, stderr lines, seconds taken).
fn outcome(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, Vec<String>, f64) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = run(dir.path(), args, env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr.lines().map(str::to_owned).collect(),
        started.elapsed().as_secs_f64(),
    )
}

const SECRETS: [(&str, &str); 2] = [
    (
        "WATCHPARTY_JWT_SECRET",
        "ops-test-jwt-secret-0123456789abcdef-0123",
    ),
    (
        "WATCHPARTY_SESSION_KEY",
        "ops-test-session-key-0123456789abcdef-0123",
    ),
];

#[test]
fn help_lists_every_setting_and_never_a_configured_value() {
    let env = [
        ("DATABASE_URL", "postgres://wp:hunter2@db/wp"),
        ("REDIS_URL", "redis://:hunter3@cache:6379"),
        (
            "WATCHPARTY_JWT_SECRET",
            "hunter4-hunter4-hunter4-hunter4-hunter4",
        ),
        (
            "WATCHPARTY_SESSION_KEY",
            "hunter5-hunter5-hunter5-hunter5-hunter5",
        ),
    ];
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
    ] {
        let (code, stdout, _, _) = outcome(args, &env);
        assert_eq!(code, Some(0), "{args:?}");
        assert!(
            !stdout.contains("hunter"),
            "{args:?} printed a secret:\n{stdout}"
        );
        assert!(
            stdout.contains("docs/configuration.md"),
            "{args:?}:\n{stdout}"
        );
    }
    let (_, serve_help, _, _) = outcome(&["--help"], &env);
    for setting in [
        "WATCHPARTY_BIND",
        "DATABASE_URL",
        "WATCHPARTY_DATABASE_CONNECT_TIMEOUT_SECS",
        "REDIS_URL",
        "WATCHPARTY_REDIS_PREFIX",
        "WATCHPARTY_HOST_GRACE_SECS",
        "WATCHPARTY_JWT_SECRET",
        "WATCHPARTY_SESSION_KEY",
        "WATCHPARTY_WS_TOKEN_TTL_SECS",
        "WATCHPARTY_ALLOWED_ORIGINS",
        "WATCHPARTY_TRUSTED_PROXIES",
        "WATCHPARTY_METRICS_BIND",
        "WATCHPARTY_MAX_REGISTRATIONS_PER_HOUR",
        "WATCHPARTY_MAX_CONNECTIONS_PER_ADDRESS",
        "WATCHPARTY_FORWARDED_HEADER",
        "WATCHPARTY_LOG_FORMAT",
    ] {
        assert!(serve_help.contains(setting), "--help misses {setting}");
    }
    // Migrating lists only what migrating uses.
    let (_, migrate_help, _, _) = outcome(&["migrate", "--help"], &env);
    assert!(migrate_help.contains("DATABASE_URL"));
    for serve_only in ["WATCHPARTY_BIND", "REDIS_URL", "WATCHPARTY_JWT_SECRET"] {
        assert!(
            !migrate_help.contains(serve_only),
            "migrate --help lists {serve_only}"
        );
    }
}

/// Arguments, environment, and what the one line must name.
type FailedStart<'a> = (&'a [&'a str], Vec<(&'a str, &'a str)>, Vec<&'a str>);

#[test]
fn start_up_failures_are_one_line_naming_the_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let silent = format!(
        "postgres://wp:hunter2@127.0.0.1:{}/wp",
        watchparty_persistence::scratch::silent_port().unwrap()
    );
    let refused_db = "postgres://wp:hunter2@127.0.0.1:1/wp";
    let with_secrets = |extra: (&'static str, &'static str)| -> Vec<(&'static str, &'static str)> {
        let mut env = SECRETS.to_vec();
        env.push(extra);
        env
    };
    let cases: Vec<FailedStart> = vec![
        (
            &[],
            vec![("WATCHPARTY_BIND", taken_addr.as_str())],
            vec!["WATCHPARTY_BIND", taken_addr.as_str()],
        ),
        (
            &[],
            vec![("DATABASE_URL", refused_db)],
            vec!["DATABASE_URL", "127.0.0.1"],
        ),
        (
            &["migrate"],
            vec![("DATABASE_URL", refused_db)],
            vec!["DATABASE_URL", "127.0.0.1"],
        ),
        (
            &[],
            vec![
                ("DATABASE_URL", silent.as_str()),
                ("WATCHPARTY_DATABASE_CONNECT_TIMEOUT_SECS", "2"),
            ],
            vec![
                "DATABASE_URL",
                "WATCHPARTY_DATABASE_CONNECT_TIMEOUT_SECS",
                "2 s",
            ],
        ),
        (
            &["migrate"],
            vec![
                ("DATABASE_URL", silent.as_str()),
                ("WATCHPARTY_DATABASE_CONNECT_TIMEOUT_SECS", "2"),
            ],
            vec!["DATABASE_URL", "WATCHPARTY_DATABASE_CONNECT_TIMEOUT_SECS"],
        ),
        (
            &[],
            with_secrets(("REDIS_URL", "redis://:hunter3@127.0.0.1:1")),
            vec!["REDIS_URL", "127.0.0.1:1"],
        ),
        (
            &[],
            with_secrets(("REDIS_URL", "redis://127.0.0.1:notaport")),
            vec!["REDIS_URL", "port"],
        ),
        (
            &[],
            vec![("WATCHPARTY_METRICS_BIND", "everywhere")],
            vec!["WATCHPARTY_METRICS_BIND"],
        ),
    ];
    for (args, mut env, named) in cases {
        // 8000 may be in use where the tests run: the cases that are not
        // about the listen address take any free port.
        if !env.iter().any(|(name, _)| *name == "WATCHPARTY_BIND") {
            env.push(("WATCHPARTY_BIND", "127.0.0.1:0"));
        }
        let (code, _, lines, secs) = outcome(args, &env);
        assert_eq!(code, Some(2), "{args:?} {env:?}: {lines:?}");
        assert_eq!(lines.len(), 1, "{args:?} {env:?}: {lines:?}");
        for name in named {
            assert!(
                lines[0].contains(name),
                "{env:?}: {:?} lacks {name}",
                lines[0]
            );
        }
        assert!(
            !lines[0].contains("hunter"),
            "a password was printed: {}",
            lines[0]
        );
        assert!(secs < 8.0, "{env:?}: took {secs:.1} s");
    }
    drop(taken);
}

#[test]
fn migrate_needs_only_its_settings_and_says_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    // A migration job sharing the servers' environment minus the secrets.
    let env = [
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("WATCHPARTY_BIND", "not an address"),
    ];
    let first = run(dir.path(), &["migrate"], &env);
    assert!(first.status.success(), "{first:?}");
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(said.starts_with("watchparty: applied "), "{said}");
    assert!(said.contains("sqlite://watchparty.db"), "{said}");
    let again = run(dir.path(), &["migrate"], &env);
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("is up to date"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_plain_in_a_file_and_clients_cannot_write_errors() {
    let same = SECRETS[0].1;
    let instance = Instance::start(&[
        ("WATCHPARTY_SESSION_KEY", same),
        ("WATCHPARTY_JWT_SECRET", same),
        ("WATCHPARTY_ALLOWED_ORIGINS", "*"),
    ])
    .await;
    // A request line no HTTP parser accepts, then a normal request.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", instance.port)).unwrap();
    std::io::Write::write_all(&mut raw, b"\x01\x02 BROKEN\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut raw, &mut answer);
    let (status, _) = instance.client().get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = instance.log();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log}"
    );
    assert!(
        !log.lines().any(|l| l.contains(" ERROR ")),
        "a client wrote an ERROR line:\n{log}"
    );
    assert!(
        log.contains("WATCHPARTY_JWT_SECRET equals WATCHPARTY_SESSION_KEY"),
        "{log}"
    );
    assert!(log.contains("WATCHPARTY_ALLOWED_ORIGINS is *"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_an_address_of_their_own() {
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let instance = Instance::start(&[("WATCHPARTY_METRICS_BIND", metrics_addr.as_str())]).await;
    let (status, _) = instance.client().get("/metrics").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "public port still serves /metrics"
    );
    let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("watchparty_live_sockets"), "{text}");
}

/// Every series the shipped Grafana dashboard queries is one the server exports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_queries_only_exported_metrics() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queried = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("watchparty_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                queried.insert(name);
            }
        }
    }
    assert!(queried.len() >= 6, "the dashboard queries {queried:?}");
    let server = TestServer::start().await;
    let exported = server.client().metrics().await;
    let families: std::collections::BTreeSet<&str> = exported
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in &queried {
        // A histogram's series are its family name plus a suffix.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| families.contains(base))
            .unwrap_or(name);
        assert!(
            families.contains(family),
            "the dashboard queries {name}, which /metrics does not export:\n{exported}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_schema_is_served() {
    let server = TestServer::start().await;
    let (status, schema) = server.client().get("/api/ws-schema.json").await;
    assert_eq!(status, StatusCode::OK);
    let checked_in: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/ws-schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        schema, checked_in,
        "the served schema is the checked-in one"
    );
    assert!(schema["$defs"]["ClientMessage"]["oneOf"].is_array());
    server.stop().await;
}

/// The documentation stands alone: a clone has no `shared/` folder, so no
/// document may point there, and every relative link leads to a file in the
/// repository.
#[test]
fn the_documentation_stands_alone() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut documents = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    for folder in ["docs", "crates"] {
        for entry in walk(&root.join(folder)) {
            if entry.extension().is_some_and(|e| e == "md") {
                documents.push(entry);
            }
        }
    }
    assert!(documents.len() > 8, "found only {documents:?}");
    let mut problems = Vec::new();
    for document in &documents {
        let text = std::fs::read_to_string(document).unwrap();
        let name = document.strip_prefix(root).unwrap_or(document).display();
        for outside in [
            "../shared",
            "shared/spec",
            "shared/reference",
            "contract.md",
        ] {
            if text.contains(outside) {
                problems.push(format!("{name} mentions {outside}"));
            }
        }
        for target in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            let target = target.split('#').next().unwrap_or_default().trim();
            let external = ["http://", "https://", "mailto:"]
                .iter()
                .any(|scheme| target.starts_with(scheme));
            if target.is_empty() || external {
                continue;
            }
            let resolved = document.parent().unwrap().join(target);
            if !resolved.exists() {
                problems.push(format!(
                    "{name} links to {target}, which is not in the repository"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every file below `dir`, skipping build output and dependencies.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let skipped = ["target", "node_modules", ".git"]
            .iter()
            .any(|name| path.file_name().is_some_and(|f| f == *name));
        if path.is_dir() && !skipped {
            found.extend(walk(&path));
        } else if path.is_file() {
            found.push(path);
        }
    }
    found
}

/// Every answer carries a request id; an error body carries the same one,
/// and the server's log line for that request names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_the_request_id_of_their_log_line() {
    let instance = Instance::single_node().await;
    let http = reqwest::Client::new();
    let mut ids = std::collections::BTreeSet::new();
    for path in ["/api/rooms/ZZZZZZZZZZ/", "/api/auth/me/", "/nowhere"] {
        let response = http.get(instance.url(path)).send().await.unwrap();
        let header = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("an X-Request-Id header");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["request_id"],
            header.as_str(),
            "{path}: {body}"
        );
        assert!(body["error"]["code"].is_string(), "{body}");
        ids.insert(header);
    }
    assert_eq!(ids.len(), 3, "one id per request");
    let ok = http.get(instance.url("/healthz")).send().await.unwrap();
    assert!(ok.headers().contains_key("x-request-id"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = instance.log();
    for id in &ids {
        assert!(
            log.lines()
                .any(|l| l.contains(id.as_str()) && l.contains("watchparty::access")),
            "no log line names {id}:\n{log}"
        );
    }
}
