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

/// `/api/openapi.json` answers the checked-in document (which CI validates
/// against the OpenAPI schema), and the running router agrees with it path
/// by path: a method no path documents answers 405 whose `Allow` lists
/// exactly the documented methods. (The route table and the document are
/// compared both ways in crates/web/src/openapi.rs; this checks the server
/// that actually runs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_and_matches_the_router() {
    let server = TestServer::start().await;
    let (status, doc) = server.client().get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let checked_in: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(doc, checked_in, "the served document is the checked-in one");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 16, "{:?}", paths.keys());
    let http = reqwest::Client::new();
    for (path, item) in paths {
        let documented: std::collections::BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| ["get", "post", "patch", "delete", "put"].contains(&k.as_str()))
            .map(|k| k.to_uppercase())
            .collect();
        assert!(!documented.is_empty(), "{path}");
        let concrete = path.replace("{code}", "ABCDEFGHJK");
        let answer = http
            .request(reqwest::Method::OPTIONS, server.url(&concrete))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let allow: std::collections::BTreeSet<String> = answer.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        assert_eq!(allow, documented, "{path}");
    }
    server.stop().await;
}

/// One request as a browser-less client sends it (JSON type on every
/// request, so the cross-site guard lets bodiless POSTs through); the
/// answer's body whole, `request_id` included.
async fn exchange(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let mut request = http
        .request(method, url)
        .header("Content-Type", "application/json");
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let answer = request.send().await.unwrap();
    let status = answer.status();
    let text = answer.text().await.unwrap();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

/// Whether `body` is what the document promises for `method path` answering
/// `status`: the response's JSON schema, validated as JSON Schema 2020-12
/// (OpenAPI 3.1's dialect) with the document's components beside it.
fn conforms(
    doc: &serde_json::Value,
    method: &str,
    path: &str,
    status: StatusCode,
    body: &serde_json::Value,
) -> Result<(), String> {
    let response = &doc["paths"][path][method]["responses"][status.as_str()];
    assert!(
        response.is_object(),
        "{method} {path}: {status} is not documented"
    );
    if status == StatusCode::NO_CONTENT {
        assert!(response.get("content").is_none() && body.is_null());
        return Ok(());
    }
    let mut schema = response["content"]["application/json"]["schema"].clone();
    assert!(
        schema.is_object(),
        "{method} {path} {status}: no JSON body documented"
    );
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{method} {path} {status}: {body} does not conform: {errors:?}"
        ))
    }
}

/// Answers have the documented shapes: every body of this walk through the
/// API, successes and refusals, validates against the schema the OpenAPI
/// document gives for its path, method and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_conform_to_the_openapi_document() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let (_, doc) = server.client().get("/api/openapi.json").await;
    let cookies = || {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap()
    };
    let (ana, bob) = (cookies(), cookies());
    let url = |path: &str| server.url(path);
    let mut checked = 0;
    let mut step = |method: Method, path: &str, status: StatusCode, body: &serde_json::Value| {
        conforms(&doc, &method.as_str().to_lowercase(), path, status, body).unwrap();
        checked += 1;
    };

    for (who, name) in [(&ana, "ana"), (&bob, "bob")] {
        let body = json!({"email": format!("{name}@example.com"), "password": "long enough"});
        let (status, answer) =
            exchange(who, Method::POST, url("/api/auth/register/"), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED);
        step(Method::POST, "/api/auth/register/", status, &answer);
    }
    let taken = json!({"email": "ana@example.com", "password": "long enough"});
    let (status, answer) =
        exchange(&bob, Method::POST, url("/api/auth/register/"), Some(taken)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    step(Method::POST, "/api/auth/register/", status, &answer);
    let wrong = json!({"email": "ana@example.com", "password": "not the one"});
    let (status, answer) = exchange(&bob, Method::POST, url("/api/auth/login/"), Some(wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    step(Method::POST, "/api/auth/login/", status, &answer);
    let (status, answer) = exchange(&ana, Method::GET, url("/api/auth/me/"), None).await;
    assert_eq!(status, StatusCode::OK);
    step(Method::GET, "/api/auth/me/", status, &answer);
    let (status, answer) = exchange(&ana, Method::POST, url("/api/auth/token/"), None).await;
    assert_eq!(status, StatusCode::OK);
    step(Method::POST, "/api/auth/token/", status, &answer);

    let room = json!({"name": "film", "media_url": "https://example.com/v.mp4"});
    let (status, answer) = exchange(&ana, Method::POST, url("/api/rooms/"), Some(room)).await;
    assert_eq!(status, StatusCode::CREATED);
    step(Method::POST, "/api/rooms/", status, &answer);
    let code = answer["room"]["code"].as_str().unwrap().to_owned();
    let (status, answer) = exchange(&ana, Method::POST, url("/api/rooms/"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    step(Method::POST, "/api/rooms/", status, &answer);
    let (status, answer) =
        exchange(&bob, Method::GET, url("/api/rooms/public/?limit=5"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["rooms"].as_array().unwrap().len(), 1);
    step(Method::GET, "/api/rooms/public/", status, &answer);
    let (status, answer) =
        exchange(&bob, Method::GET, url("/api/rooms/public/?limit=0"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    step(Method::GET, "/api/rooms/public/", status, &answer);
    let room_path = format!("/api/rooms/{code}/");
    let (status, answer) =
        exchange(&bob, Method::POST, url(&format!("{room_path}join/")), None).await;
    assert_eq!(status, StatusCode::OK);
    step(Method::POST, "/api/rooms/{code}/join/", status, &answer);
    let (status, answer) = exchange(&bob, Method::GET, url(&room_path), None).await;
    assert_eq!(status, StatusCode::OK);
    step(Method::GET, "/api/rooms/{code}/", status, &answer);
    let (status, answer) = exchange(
        &bob,
        Method::PATCH,
        url(&room_path),
        Some(json!({"name": "mine"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    step(Method::PATCH, "/api/rooms/{code}/", status, &answer);
    let (status, answer) = exchange(
        &ana,
        Method::PATCH,
        url(&room_path),
        Some(json!({"media_url": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer["room"]["media_url"].is_null());
    step(Method::PATCH, "/api/rooms/{code}/", status, &answer);
    let (status, answer) = exchange(
        &bob,
        Method::GET,
        url(&format!("{room_path}messages/")),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    step(Method::GET, "/api/rooms/{code}/messages/", status, &answer);
    let (status, answer) = exchange(&bob, Method::GET, url("/api/rooms/ABCDEFGHJK/"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    step(Method::GET, "/api/rooms/{code}/", status, &answer);
    let (status, answer) = exchange(&ana, Method::DELETE, url(&room_path), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    step(Method::DELETE, "/api/rooms/{code}/", status, &answer);
    let (status, answer) = exchange(&ana, Method::POST, url("/api/auth/logout/"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    step(Method::POST, "/api/auth/logout/", status, &answer);
    let (status, answer) = exchange(&ana, Method::GET, url("/api/auth/me/"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    step(Method::GET, "/api/auth/me/", status, &answer);
    let (status, answer) =
        exchange(&ana, Method::GET, url(&format!("/ws/rooms/{code}/")), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not an upgrade");
    step(Method::GET, "/ws/rooms/{code}/", status, &answer);
    for path in ["/healthz", "/readyz"] {
        let (status, answer) = exchange(&ana, Method::GET, url(path), None).await;
        assert_eq!(status, StatusCode::OK);
        step(Method::GET, path, status, &answer);
    }
    assert_eq!(checked, 22);
    // The check can fail: a body off its schema is refused.
    let off = json!({"user": {"id": "7", "email": "a@example.com", "display_name": "a"}});
    assert!(conforms(&doc, "get", "/api/auth/me/", StatusCode::OK, &off).is_err());
    let bare = json!({"error": {"code": "not_found", "message": "not found"}});
    assert!(
        conforms(
            &doc,
            "get",
            "/api/rooms/{code}/",
            StatusCode::NOT_FOUND,
            &bare
        )
        .is_err(),
        "an error without its request_id is refused"
    );
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
