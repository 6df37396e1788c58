//! docs/protocol.md, several instances: on one PostgreSQL and one Redis they behave as
//! one service, directly and behind nginx (`deploy/nginx.conf`). These tests
//! always run in production mode. Faults (a dying instance, Redis or
//! PostgreSQL away) are in `faults.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde_json::json;
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use watchparty_testkit::{free_port, redis_cli, test_redis, ApiClient, StatusCode, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_are_one_service() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let (status, me) = ana.on(&b).get("/api/auth/me/").await;
    assert_eq!(status, StatusCode::OK, "a login made on A is valid on B");
    assert_eq!(me["user"]["id"], ana.id);

    let bob = b.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    let joined = host.recv_type("USER_JOINED").await;
    assert_eq!(joined["user"]["id"], bob.id, "presence crosses instances");

    for server in [&a, &b] {
        let (_, room) = ana.on(server).get(&format!("/api/rooms/{code}/")).await;
        assert_eq!(
            room["room"]["viewer_count"], 2,
            "the same count on every instance"
        );
        let (_, listed) = server.client().get("/api/rooms/public/").await;
        assert_eq!(listed["rooms"][0]["viewer_count"], 2);
    }

    host.send(json!({"type": "PLAY", "time": 12.5})).await;
    assert_eq!(viewer.recv_type("PLAY").await["time"], 12.5);
    viewer
        .send(json!({"type": "CHAT_MESSAGE", "message": "hello from B"}))
        .await;
    let on_b = viewer.recv_type("CHAT_MESSAGE").await;
    let on_a = host.recv_type("CHAT_MESSAGE").await;
    assert_eq!(on_a, on_b);

    // Deletion on A closes the sockets on B.
    let (status, _) = ana.delete(&format!("/api/rooms/{code}/")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for socket in [&mut viewer, &mut host] {
        assert_eq!(socket.recv_until("ROOM_CLOSED").await["reason"], "deleted");
        assert_eq!(socket.closed_with().await, Some(4001));
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_expiry_is_announced_once_per_socket() {
    let a = TestServer::production().host_grace_secs(1).start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let cat = a.user("cat").await;
    let code = ana.create_room("film").await;
    let host = ana.enter(&code).await;
    let mut on_b = bob.enter(&code).await;
    let mut on_a = cat.enter(&code).await;
    host.close().await;
    for socket in [&mut on_b, &mut on_a] {
        let (seen, code) = socket.drain_until_closed().await;
        let closed = seen.iter().filter(|m| m["type"] == "ROOM_CLOSED").count();
        assert_eq!(closed, 1, "exactly one ROOM_CLOSED: {seen:?}");
        assert_eq!(code, Some(4002));
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_keys_are_the_contracts() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let redis = test_redis();
    let prefix = a.redis_prefix().to_owned();
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let _viewer = bob.enter(&code).await;
    host.recv_type("USER_JOINED").await;
    host.send(json!({"type": "PLAY", "time": 12.5})).await;
    host.send(json!({"type": "PING", "client_time": 1})).await;
    host.recv_until("PONG").await;

    let key = |what: &str| format!("{prefix}:room:{code}:{what}");
    let state: Vec<String> = redis_cli(&redis, &["HGETALL", &key("state")])
        .lines()
        .map(str::to_owned)
        .collect();
    let fields: std::collections::HashMap<&str, &str> = state
        .chunks(2)
        .map(|pair| (pair[0].as_str(), pair[1].as_str()))
        .collect();
    assert_eq!(fields.get("is_playing"), Some(&"1"), "{state:?}");
    assert_eq!(
        fields.get("time").map(|t| t.parse::<f64>().unwrap()),
        Some(12.5)
    );
    assert!(fields.get("updated_at").unwrap().parse::<i64>().unwrap() > 1_700_000_000_000);
    assert_eq!(redis_cli(&redis, &["GET", &key("host")]), "online");
    let participants: BTreeSet<i64> = redis_cli(&redis, &["SMEMBERS", &key("participants")])
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(participants, BTreeSet::from([ana.id, bob.id]));
    let live_rooms = format!("{prefix}:rooms:live");
    assert_eq!(redis_cli(&redis, &["SISMEMBER", &live_rooms, &code]), "1");

    host.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis_cli(&redis, &["GET", &key("host")]) != "grace" {
        assert!(Instant::now() < deadline, "host status never became grace");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        redis_cli(&redis, &["SMEMBERS", &key("participants")]),
        bob.id.to_string()
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_from_every_instance_arrives_in_id_order_everywhere() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let host = a.user("host").await;
    let code = host.create_room("busy chat").await;
    let mut sockets = Vec::new();
    for (i, server) in [&a, &b, &a, &b].into_iter().enumerate() {
        let user = server.user(&format!("chatter{i}")).await;
        sockets.push(user.enter(&code).await);
    }
    // Everyone talks at once, on both instances.
    futures_util::future::join_all(
        sockets
            .iter_mut()
            .enumerate()
            .map(|(i, socket)| async move {
                for n in 0..15 {
                    socket
                        .send(json!({"type": "CHAT_MESSAGE", "message": format!("{i}-{n}")}))
                        .await;
                }
            }),
    )
    .await;
    let mut transcripts = Vec::new();
    for socket in &mut sockets {
        let mut ids = Vec::new();
        while ids.len() < 60 {
            let message = socket.recv().await;
            if message["type"] == "CHAT_MESSAGE" {
                ids.push(message["id"].as_i64().unwrap());
            }
        }
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "delivered out of id order: {ids:?}"
        );
        transcripts.push(ids);
    }
    let stored = host.history_ids(&code, "?limit=100").await;
    for ids in transcripts {
        assert_eq!(ids, stored, "each transcript equals the stored history");
    }
    b.stop().await;
    a.stop().await;
}

/// nginx running `deploy/nginx.conf` in a temp dir, stopped when dropped.
struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstreams: [u16; 2]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nginx.conf");
        let path = dir.path().display().to_string();
        let config = std::fs::read_to_string(root)
            .unwrap()
            .replace("127.0.0.1:8001", &format!("127.0.0.1:{}", upstreams[0]))
            .replace("127.0.0.1:8002", &format!("127.0.0.1:{}", upstreams[1]))
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
            .replace("/run/nginx-watchparty.pid", &format!("{path}/nginx.pid"))
            .replace("/var/log/nginx/", &format!("{path}/"));
        std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
        let child = Command::new("nginx")
            .args([
                "-p",
                &path,
                "-c",
                &format!("{path}/nginx.conf"),
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs (Debian package nginx)");
        Nginx { child, port, dir }
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("watchparty-access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its workers; SIGKILL would orphan them.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the proxy: the same helpers, pointed at nginx.
fn through(nginx: &Nginx, base: &ApiClient) -> ApiClient {
    base.at(&format!("http://127.0.0.1:{}", nginx.port), nginx.port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_two_instances_are_one() {
    let a = TestServer::production()
        .trusted_proxies(&["127.0.0.1/32"])
        .start()
        .await;
    let b = a.sibling().start().await;
    let nginx = Nginx::start([a.port, b.port]);
    let ready = Instant::now();
    let probe = through(&nginx, &a.client());
    while probe.http.get(probe.url("/healthz")).send().await.is_err() {
        assert!(
            ready.elapsed() < Duration::from_secs(10),
            "nginx did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let ana = through(&nginx, &a.client());
    let bob = through(&nginx, &a.client());
    for (client, email) in [(&ana, "ana@example.com"), (&bob, "bob@example.com")] {
        let (status, _) = client
            .post(
                "/api/auth/register/",
                json!({"email": email, "password": "password123"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // Round robin: consecutive requests land on both instances, and the
    // session is valid on each.
    for _ in 0..4 {
        assert_eq!(ana.get("/api/auth/me/").await.0, StatusCode::OK);
    }
    let (_, room) = ana.post("/api/rooms/", json!({"name": "proxied"})).await;
    let code = room["room"]["code"].as_str().unwrap().to_owned();
    assert_eq!(
        bob.post_empty(&format!("/api/rooms/{code}/join/")).await.0,
        StatusCode::OK
    );

    let mut host = ana.connect(&code).await.unwrap();
    host.recv_type("PLAYBACK_STATE").await;
    host.recv_type("PRESENCE").await;
    host.recv_type("CAPABILITIES").await;
    let mut viewer = bob.connect(&code).await.unwrap();
    viewer.recv_type("PLAYBACK_STATE").await;
    viewer.recv_type("PRESENCE").await;
    viewer.recv_type("CAPABILITIES").await;
    host.recv_type("USER_JOINED").await;
    host.send(json!({"type": "SEEK", "time": 30.0})).await;
    assert_eq!(viewer.recv_type("SEEK").await["time"], 30.0);
    viewer
        .send(json!({"type": "CHAT_MESSAGE", "message": "via nginx"}))
        .await;
    assert_eq!(host.recv_type("CHAT_MESSAGE").await["message"], "via nginx");
    for _ in 0..4 {
        let (_, got) = bob.get(&format!("/api/rooms/{code}/")).await;
        assert_eq!(
            got["room"]["viewer_count"], 2,
            "the same answer from every instance"
        );
    }

    let upstreams: std::collections::BTreeSet<String> = nginx
        .access_log()
        .lines()
        .filter_map(|line| line.rsplit(' ').next().map(str::to_owned))
        .collect();
    assert!(upstreams.len() >= 2, "both instances served: {upstreams:?}");
    // nginx logs a WebSocket when it closes.
    host.close().await;
    viewer.close().await;
    let closed = Instant::now();
    while !nginx.access_log().contains("/ws/rooms/") {
        assert!(
            closed.elapsed() < Duration::from_secs(5),
            "{}",
            nginx.access_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !nginx.access_log().contains("token="),
        "no token in the proxy's log"
    );
    b.stop().await;
    a.stop().await;
}

/// `watchparty user …` / `watchparty room …` on the deployment's database:
/// (exit code, stdout, stderr).
fn operator(database_url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(watchparty_testkit::watchparty_binary())
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_disable_accounts_and_close_rooms_on_every_instance() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let database = a.settings().database.url.clone();
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    host.recv_type("USER_JOINED").await;

    let (status, listed, _) = operator(&database, &["user", "list"]);
    assert_eq!(status, Some(0));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[1].starts_with(&format!("{}\t{}\t", bob.id, bob.email)),
        "{listed}"
    );
    assert!(lines[1].ends_with("\tactive"), "{listed}");
    let (_, first_page, _) = operator(&database, &["user", "list", "--limit", "1"]);
    assert!(
        first_page.contains(&format!("--after {}", ana.id)),
        "a full page says how to get the next: {first_page}"
    );

    // Disabled on the database: bob's socket on B ends, his sessions end,
    // and he cannot log in again.
    let disabled_at = Instant::now();
    let (status, said, _) = operator(&database, &["user", "disable", &bob.email]);
    assert_eq!(status, Some(0), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("disabled"), "{said}");
    let (_, closed) = viewer.drain_for(Duration::from_secs(30)).await;
    assert_eq!(closed, Some(1008));
    let took = disabled_at.elapsed();
    assert!(took < Duration::from_secs(30), "closed after {took:?}");
    let left = host.recv_type("USER_LEFT").await;
    assert_eq!(left["user"]["id"], bob.id);
    for server in [&a, &b] {
        let (status, _) = bob.on(server).get("/api/auth/me/").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the session ends");
        let (status, body) = server
            .client()
            .post(
                "/api/auth/login/",
                json!({"email": bob.email, "password": "correct horse battery"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "invalid_credentials");
    }
    let (_, listed, _) = operator(&database, &["user", "list"]);
    assert!(listed.contains("\tdisabled"), "{listed}");

    // Enabled again: the right password works.
    let (status, said, _) = operator(&database, &["user", "enable", &bob.email]);
    assert_eq!((status, said.lines().count()), (Some(0), 1), "{said}");
    let (status, _) = b
        .client()
        .post(
            "/api/auth/login/",
            json!({"email": bob.email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Unknown email or code: one line, non-zero.
    for args in [
        &["user", "disable", "nobody@example.com"][..],
        &["room", "close", "ZZZZZZZZZZ"],
    ] {
        let (status, said, complaint) = operator(&database, args);
        assert_eq!(status, Some(1), "{args:?}: {said}{complaint}");
        assert_eq!(complaint.lines().count(), 1, "{complaint}");
        assert!(said.is_empty());
    }

    // A room closed by an operator ends as its owner's delete would.
    let mut viewer = ana.on(&b).enter(&code).await;
    let (status, said, _) = operator(&database, &["room", "close", &code.to_lowercase()]);
    assert_eq!((status, said.lines().count()), (Some(0), 1), "{said}");
    for socket in [&mut host, &mut viewer] {
        let (seen, closed) = socket.drain_for(Duration::from_secs(30)).await;
        assert!(
            seen.iter()
                .any(|m| m["type"] == "ROOM_CLOSED" && m["reason"] == "deleted"),
            "{seen:?}"
        );
        assert_eq!(closed, Some(4001));
    }
    let (status, _) = ana.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = operator(&database, &["room", "close", &code]);
    assert_eq!(status, Some(1), "a closed room cannot be closed twice");
    b.stop().await;
    a.stop().await;
}
