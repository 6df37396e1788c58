//! The HTTP edge under attack (issue 19, items 1, 4, 7, 12 and the Origin
//! scheme of 15): stalled bodies from one address, forged forwarding
//! headers, cross-site requests, and the headers every answer carries.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use watchparty_testkit::{ApiClient, Instance, TestServer, WsClient};

/// The server's bound on a body's arrival.
const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// How late past the deadline a 408 may come on a machine busy with the
/// attack and other tests: the bound says "answered", not "held for ever".
const ANSWER_SLACK: Duration = Duration::from_secs(5);

/// A TCP connection to `port` from `source` (any address in 127/8 is loopback).
async fn connect_from(source: &str, port: u16) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse().unwrap())?;
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
}

/// Everything the server sends until it closes or `wait` passes.
async fn read_answer(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&answer).into()),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) if answer.is_empty() => return None,
            Err(_) => return Some(String::from_utf8_lossy(&answer).into()),
        }
    }
}

/// The head of a login whose body announces 60 000 bytes; one is sent.
fn stalled_login(port: u16, extra: &str) -> String {
    format!(
        "POST /api/auth/login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: 60000\r\n{extra}\r\n{{"
    )
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What a victim measured: `/healthz` and login latencies.
#[derive(Default)]
struct Victim {
    health: Vec<Duration>,
    login: Vec<Duration>,
}

impl Victim {
    fn report(&self, label: &str) -> String {
        format!(
            "{label}: /healthz p50 {:.1} ms p99 {:.1} ms ({} requests), login p50 {:.1} ms p99 {:.1} ms ({})",
            ms(percentile(&self.health, 0.5)),
            ms(percentile(&self.health, 0.99)),
            self.health.len(),
            ms(percentile(&self.login, 0.5)),
            ms(percentile(&self.login, 0.99)),
            self.login.len(),
        )
    }
}

/// A client on 127.0.0.1 doing `/healthz` every 20 ms and a login every
/// 500 ms for `duration`; every request must succeed.
async fn measure_victim(client: &ApiClient, email: &str, duration: Duration) -> Victim {
    let mut victim = Victim::default();
    let started = Instant::now();
    let mut next_login = Instant::now();
    while started.elapsed() < duration {
        let t = Instant::now();
        let (status, body) = client.get("/healthz").await;
        assert_eq!(status, StatusCode::OK, "healthz: {body}");
        victim.health.push(t.elapsed());
        if Instant::now() >= next_login {
            let t = Instant::now();
            let (status, body) = client
                .post(
                    "/api/auth/login/",
                    json!({"email": email, "password": "correct horse battery"}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "login: {body}");
            victim.login.push(t.elapsed());
            next_login += Duration::from_millis(500);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    victim
}

/// How the attacking connections fared.
#[derive(Default)]
struct Attack {
    attempts: AtomicUsize,
    refused: AtomicUsize,
    held: AtomicUsize,
    most_held: AtomicUsize,
    /// Seconds from the stalled request to its 408.
    timed_out: Mutex<Vec<Duration>>,
    /// Answers that were neither a refusal nor a 408.
    unexpected: Mutex<Vec<String>>,
}

/// One attacking connection, reopened until `stop`: the head of a login,
/// one body byte, then silence.
async fn stall_forever(port: u16, attack: Arc<Attack>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        attack.attempts.fetch_add(1, Ordering::Relaxed);
        let Ok(mut stream) = connect_from("127.0.0.2", port).await else {
            attack.refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let sent = Instant::now();
        if stream
            .write_all(stalled_login(port, "").as_bytes())
            .await
            .is_err()
        {
            attack.refused.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // A refused connection hears at once; a held one after the bound.
        match read_answer(&mut stream, Duration::from_millis(500)).await {
            Some(answer) => {
                if !(answer.is_empty() || answer.starts_with("HTTP/1.1 429")) {
                    attack.unexpected.lock().unwrap().push(answer);
                }
                attack.refused.fetch_add(1, Ordering::Relaxed);
                drop(stream);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            None => {
                let now = attack.held.fetch_add(1, Ordering::Relaxed) + 1;
                attack.most_held.fetch_max(now, Ordering::Relaxed);
            }
        }
        let answer = read_answer(&mut stream, BODY_DEADLINE + Duration::from_secs(5)).await;
        attack.held.fetch_sub(1, Ordering::Relaxed);
        match answer {
            Some(a) if a.starts_with("HTTP/1.1 408") && a.contains("request_timeout") => {
                attack.timed_out.lock().unwrap().push(sent.elapsed());
            }
            // A refusal that came late: the server was slow to accept.
            Some(a) if a.is_empty() || a.starts_with("HTTP/1.1 429") => {
                attack.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => attack.unexpected.lock().unwrap().push(format!(
                "{:?} after {:?}",
                other,
                sent.elapsed()
            )),
        }
    }
}

/// Issue 19, item 1: a thousand stalled bodies from one address, against
/// the real binary with a soft limit of 1 024 open files.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_bodies_from_one_address_leave_everyone_else_served() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    const ATTACKERS: usize = 1_000;
    let server = Instance::start_with_file_limit(&[], Some(1024)).await;
    let port = server.port;
    let victim = server.client();
    let email = register_victim(&victim).await;
    // Warm up, then the normal latency.
    measure_victim(&victim, &email, Duration::from_millis(500)).await;
    let before = measure_victim(&victim, &email, Duration::from_secs(5)).await;

    let attack = Arc::new(Attack::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for wave in 0..ATTACKERS / 100 {
        for _ in 0..100 {
            tasks.push(tokio::spawn(stall_forever(
                port,
                Arc::clone(&attack),
                Arc::clone(&stop),
            )));
        }
        if wave == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // A chunked body that stalls is bounded too.
    let mut chunked = connect_from("127.0.0.3", port).await.unwrap();
    let chunked_sent = Instant::now();
    chunked
        .write_all(
            format!(
                "POST /api/auth/logout/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                 Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"a\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let chunked_answer = tokio::spawn(async move {
        let answer = read_answer(&mut chunked, BODY_DEADLINE + Duration::from_secs(5)).await;
        (answer, chunked_sent.elapsed())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Long enough to see the first held connections answered 408 and reopened.
    let during = measure_victim(&victim, &email, BODY_DEADLINE + Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    let attempts = attack.attempts.load(Ordering::Relaxed);
    let most_held = attack.most_held.load(Ordering::Relaxed);
    let refused = attack.refused.load(Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    let timed_out = attack.timed_out.lock().unwrap().clone();
    let unexpected = attack.unexpected.lock().unwrap().clone();
    let (chunked_answer, chunked_took) = chunked_answer.await.unwrap();

    println!("FIGURE {}", before.report("victim without attack"));
    println!(
        "FIGURE {} (attack from 127.0.0.2: {attempts} stalled connections opened, at most \
         {most_held} unanswered after 0.5 s, {refused} refused, {} held and answered 408 after {:.1}–{:.1} s)",
        during.report("victim during attack"),
        timed_out.len(),
        timed_out.iter().min().map_or(0.0, Duration::as_secs_f64),
        timed_out.iter().max().map_or(0.0, Duration::as_secs_f64),
    );
    assert!(attempts >= ATTACKERS, "only {attempts} connections tried");
    assert!(
        unexpected.is_empty(),
        "unexpected answers: {:?}",
        &unexpected[..unexpected.len().min(3)]
    );
    // The test lasts less than two body deadlines, so every connection the
    // server held was answered 408 once: that many were held at once.
    assert!(
        timed_out.len() <= 256,
        "one address held {} connections at once",
        timed_out.len()
    );
    assert!(refused > 0, "no connection over the cap was refused");
    assert!(!timed_out.is_empty(), "no stalled request was answered 408");
    for took in &timed_out {
        assert!(
            *took >= BODY_DEADLINE - Duration::from_millis(500)
                && *took <= BODY_DEADLINE + ANSWER_SLACK,
            "a stalled body was answered after {took:?}"
        );
    }
    let chunked_answer = chunked_answer.unwrap_or_default();
    assert!(
        chunked_answer.starts_with("HTTP/1.1 408"),
        "the stalled chunked body got {chunked_answer:?} after {chunked_took:?}"
    );
    assert!(chunked_took <= BODY_DEADLINE + ANSWER_SLACK);
    // The victim kept being served, at about its normal pace.
    assert!(
        percentile(&during.health, 0.99) < Duration::from_millis(500),
        "{}",
        during.report("during")
    );
    assert!(
        percentile(&during.login, 0.99) < Duration::from_millis(1500),
        "{}",
        during.report("during")
    );
    let log = server.log();
    assert!(
        !log.contains("Too many open files"),
        "the server ran out of files"
    );
    // The operator hears of it, without a line per refusal.
    let warnings = log.matches("refusing connections").count();
    assert!(
        (1..=3).contains(&warnings),
        "{warnings} warnings about refused connections"
    );
}

/// Registers a user on `client`'s server and returns the email.
async fn register_victim(client: &ApiClient) -> String {
    let email = format!("victim{}@example.com", std::process::id());
    let (status, body) = client
        .post(
            "/api/auth/register/",
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    email
}

/// Behind a trusted proxy the proxy's connections are exempt from the
/// per-address cap; one forwarded client may have only so many requests in
/// flight, and others are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_one_forwarded_client_cannot_hold_every_request() {
    const IN_FLIGHT: usize = 256;
    let server = TestServer::builder()
        .trusted_proxies(&["127.0.0.1/32"])
        .with(|s| s.clients.max_connections_per_address = IN_FLIGHT)
        .start()
        .await;
    let port = server.port;
    let mut stalled = Vec::new();
    for _ in 0..IN_FLIGHT {
        let mut stream = connect_from("127.0.0.1", port).await.unwrap();
        stream
            .write_all(stalled_login(port, "X-Forwarded-For: [2001:db8::9]:5000\r\n").as_bytes())
            .await
            .unwrap();
        stalled.push(stream);
    }
    // Let the server take them all in: 256 requests of 2001:db8::9 in flight.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let health = |address: &'static str| {
        let client = server.client();
        async move {
            let response = client
                .http
                .get(client.url("/healthz"))
                .header("x-forwarded-for", address)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    // IPv6 clients count per /64: one host has a whole one.
    let (status, body) = health("2001:db8::10").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    for other in ["203.0.113.10", "2001:db8:0:1::9"] {
        let (status, _) = health(other).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{other}, another client behind the proxy"
        );
    }
    drop(stalled);
    let started = Instant::now();
    loop {
        let (status, _) = health("2001:db8::9").await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the client's requests were not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

/// A login through the "proxy" with these `X-Forwarded-For` lines.
async fn login_via(client: &ApiClient, lines: &[&str], email: &str, password: &str) -> StatusCode {
    let mut request = client.http.post(client.url("/api/auth/login/"));
    for line in lines {
        request = request.header("x-forwarded-for", *line);
    }
    let response = request
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    response.status()
}

/// Issue 19, item 4: the right-most untrusted address across all lines, and
/// `ip:port` entries are clients of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_are_read_across_lines_and_with_ports() {
    let server = TestServer::builder()
        .trusted_proxies(&["127.0.0.1/32"])
        .start()
        .await;
    let client = server.client();
    // The client forged a first line; the proxy appended the real one.
    let mut statuses = Vec::new();
    for i in 0..24 {
        let forged = format!("6.6.6.{i}");
        let email = format!("nobody{i}@example.com");
        statuses.push(login_via(&client, &[&forged, "198.51.100.7"], &email, "guess-guess").await);
    }
    assert!(
        statuses[..20]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[20..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "the forged line won: {statuses:?}"
    );

    // `ip:port` clients: one exhausts its own limit, the other is untouched.
    let owner = server.user("owner").await;
    for i in 0..20 {
        let email = format!("someone{i}@example.com");
        let status = login_via(&client, &["203.0.113.5:40001"], &email, "guess-guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let status = login_via(
        &client,
        &["203.0.113.5:40002"],
        &owner.email,
        "correct horse battery",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "its own limit holds");
    for address in ["203.0.113.6:40001", "[2001:db8::6]:443"] {
        let status = login_via(&client, &[address], &owner.email, "correct horse battery").await;
        assert_eq!(status, StatusCode::OK, "{address} shares nobody's limit");
    }
    server.stop().await;
}

/// A request with headers `headers` (and no body), as `client`.
async fn send(
    client: &ApiClient,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = client
        .http
        .request(method.parse().unwrap(), client.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Issue 19, item 7: body-less state changes need JSON or a same-origin page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_cannot_change_state() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    let own = format!("http://127.0.0.1:{}", server.port);
    let form = ("content-type", "application/x-www-form-urlencoded");
    let other_scheme = own.replace("http:", "https:");
    let room = format!("/api/rooms/{code}/");
    let join = format!("/api/rooms/{code}/join/");
    for (method, path, headers) in [
        (
            "POST",
            "/api/auth/token/",
            vec![form, ("origin", "http://evil.example")],
        ),
        ("POST", "/api/auth/token/", vec![("origin", "null")]),
        (
            "POST",
            "/api/auth/token/",
            vec![("origin", "http://127.0.0.1.evil.example")],
        ),
        // Same host and port, another scheme: another origin.
        (
            "POST",
            "/api/auth/token/",
            vec![("origin", other_scheme.as_str())],
        ),
        (
            "POST",
            "/api/auth/logout/",
            vec![form, ("sec-fetch-site", "same-site")],
        ),
        (
            "POST",
            join.as_str(),
            vec![
                ("content-type", "text/plain"),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
        (
            "DELETE",
            room.as_str(),
            vec![("origin", "http://evil.example")],
        ),
    ] {
        let (status, body) = send(&bob, method, path, &headers).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {path} {headers:?}: {body}"
        );
        assert_eq!(body["error"]["code"], "forbidden");
        let (status, _) = send(&ana, method, path, &headers).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} {headers:?}");
    }
    // Nothing changed: both still logged in, Bob not a participant, the room there.
    assert_eq!(bob.get("/api/auth/me/").await.0, StatusCode::OK);
    assert_eq!(ana.get(&room).await.0, StatusCode::OK);
    assert_eq!(
        bob.get(&format!("{room}messages/")).await.0,
        StatusCode::FORBIDDEN
    );

    // Without any browser header, a form's body is refused as not JSON...
    let (status, body) = send(&bob, "POST", "/api/auth/logout/", &[form]).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(bob.get("/api/auth/me/").await.0, StatusCode::OK);
    // ...while no body at all is a script's request, not a page's: the
    // contract asks a body, not its absence, to be JSON.
    let script = server.user("script").await;
    let (status, body) = send(&script, "POST", &join, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(&script, "POST", "/api/auth/token/", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The page's own requests pass, whichever header shows it.
    let (status, body) = send(&bob, "POST", &join, &[("origin", &own)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = send(
        &bob,
        "POST",
        "/api/auth/token/",
        &[("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &bob,
        "POST",
        "/api/auth/token/",
        &[("origin", &format!("{own}/"))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // JSON needs a CORS preflight this server never approves: it is no form post.
    let (status, _) = send(
        &bob,
        "POST",
        "/api/auth/token/",
        &[
            ("content-type", "application/json"),
            ("origin", "http://evil.example"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &bob,
        "POST",
        "/api/auth/logout/",
        &[("sec-fetch-site", "none")],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(
        &ana,
        "DELETE",
        &room,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    server.stop().await;
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Issue 19, item 12: the headers every answer carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_the_security_headers() {
    let server = TestServer::builder()
        .trusted_proxies(&["127.0.0.1/32"])
        .start()
        .await;
    let ana = server.user("ana").await;
    let code = ana.create_room("film").await;
    let http = &ana.http;
    let get = |path: &str| http.get(ana.url(path));

    for path in ["/api/auth/me/", "/api/auth/me"] {
        let response = get(path).send().await.unwrap();
        assert_eq!(
            header(&response, "cache-control"),
            Some("no-store"),
            "{path}"
        );
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    }
    let response = http
        .post(ana.url("/api/auth/login/"))
        .json(&json!({"email": "x@example.com", "password": "wrong-wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    for path in [
        "/healthz",
        "/api/rooms/public/",
        "/nowhere",
        &format!("/api/rooms/{code}/"),
    ] {
        let response = get(path).send().await.unwrap();
        assert_eq!(
            header(&response, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header(&response, "strict-transport-security"),
            None,
            "{path}: plain HTTP"
        );
        assert_ne!(
            header(&response, "cache-control"),
            Some("no-store"),
            "{path}"
        );
    }

    // 405 names what is allowed.
    for (method, path, allow) in [
        ("PUT", format!("/api/rooms/{code}/"), "GET, PATCH, DELETE"),
        ("GET", "/api/auth/login/".to_owned(), "POST"),
        ("POST", "/healthz".to_owned(), "GET"),
        ("DELETE", format!("/api/rooms/{code}/join/"), "POST"),
    ] {
        let response = http
            .request(method.parse().unwrap(), ana.url(&path))
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(header(&response, "allow"), Some(allow), "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }

    // HTTPS per the trusted proxy: HSTS, on errors too.
    for path in ["/healthz", "/nowhere", "/api/auth/me/"] {
        let response = get(path)
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        let hsts = header(&response, "strict-transport-security").unwrap_or_default();
        assert!(hsts.starts_with("max-age="), "{path}: {hsts:?}");
    }
    server.stop().await;

    // An untrusted peer's claim of HTTPS is not believed.
    let server = TestServer::start().await;
    let client = server.client();
    let response = client
        .http
        .get(client.url("/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "strict-transport-security"), None);
    server.stop().await;
}

/// Issue 19, item 15 (Origin part): same-origin means the same scheme too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_origins_must_match_the_scheme() {
    let server = TestServer::builder()
        .trusted_proxies(&["127.0.0.1/32"])
        .start()
        .await;
    let ana = server.user("ana").await;
    let code = ana.create_room("film").await;
    let port = server.port;
    for origin in [
        format!("ftp://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{}", port + 1),
    ] {
        let token = ana.token().await;
        let refused = WsClient::connect(port, &code, Some(&token), Some(&origin)).await;
        assert_eq!(refused.err(), Some(StatusCode::FORBIDDEN), "{origin}");
    }
    let token = ana.token().await;
    let own = format!("http://127.0.0.1:{port}");
    let socket = WsClient::connect(port, &code, Some(&token), Some(&own)).await;
    assert!(socket.is_ok(), "the page's own origin");
    socket.unwrap().close().await;

    // Behind a TLS-terminating proxy the page is https://.
    let connect = |origin: String| {
        let ana = ana.clone();
        let code = code.clone();
        async move {
            let token = ana.token().await;
            let mut request = format!("ws://127.0.0.1:{port}/ws/rooms/{code}/?token={token}")
                .into_client_request()
                .unwrap();
            let headers = request.headers_mut();
            headers.insert("origin", origin.parse().unwrap());
            headers.insert("x-forwarded-proto", "https".parse().unwrap());
            match tokio_tungstenite::connect_async(request).await {
                Ok(_) => StatusCode::SWITCHING_PROTOCOLS,
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                    StatusCode::from_u16(r.status().as_u16()).unwrap()
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert_eq!(
        connect(format!("https://127.0.0.1:{port}")).await,
        StatusCode::SWITCHING_PROTOCOLS
    );
    assert_eq!(
        connect(format!("http://127.0.0.1:{port}")).await,
        StatusCode::FORBIDDEN
    );
    server.stop().await;
}

/// Issue 19, item 1: connections that send nothing cost only bounded time —
/// one idle after its answer (keep-alive), one that never sends a head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_silent_connections_are_closed() {
    let server = TestServer::start().await;
    let port = server.port;
    let idle = async {
        let mut stream = connect_from("127.0.0.1", port).await.unwrap();
        stream
            .write_all(
                format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        let answered = Instant::now();
        // The rest of the answer, then the end of the connection.
        read_answer(&mut stream, Duration::from_secs(15)).await;
        answered.elapsed()
    };
    let silent = async {
        let mut stream = connect_from("127.0.0.1", port).await.unwrap();
        let opened = Instant::now();
        let answer = read_answer(&mut stream, Duration::from_secs(15)).await;
        (answer.unwrap_or_default(), opened.elapsed())
    };
    let (idle_for, (silent_answer, silent_for)) = tokio::join!(idle, silent);
    println!(
        "FIGURE an idle keep-alive connection closed after {:.1} s; a connection without a \
         request head after {:.1} s ({:?})",
        idle_for.as_secs_f64(),
        silent_for.as_secs_f64(),
        silent_answer.lines().next().unwrap_or("nothing")
    );
    assert!(
        idle_for < Duration::from_secs(8),
        "idle for {idle_for:?} and still open"
    );
    assert!(
        silent_for < Duration::from_secs(8),
        "silent for {silent_for:?} and still open"
    );
    server.stop().await;
}
