//! Failing dependencies and dying instances (docs/reliability.md, "Faults"):
//! production mode on a real PostgreSQL and Redis, with the faults made real
//! too — a paused or emptied Redis process, `kill -9`, a proxy that cuts or
//! slows the connections. Each test prints the figure the matrix cites.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use futures_util::future::join_all;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use watchparty::settings::ChatLimit;
use watchparty_testkit::{
    redis_cli, scratch_postgres, test_redis, ApiClient, FaultProxy, Impairment, Instance, OwnRedis,
    StatusCode, TestServer, TestUser, WsClient,
};

/// The `Instant` of an RFC 3339 UTC time (`2026-11-24T10:00:00.250Z`) the
/// server sent, by the shared wall clock.
fn instant_of(rfc3339: &str) -> Instant {
    let number = |range: std::ops::Range<usize>| -> i64 { rfc3339[range].parse().unwrap() };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let seconds = number(11..13) * 3600 + number(14..16) * 60 + number(17..19);
    let fraction: f64 = format!("0{}", rfc3339[19..].trim_end_matches('Z'))
        .parse()
        .unwrap_or(0.0);
    // Days since 1970-01-01 of a proleptic Gregorian date (March-based years).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = of_era * 365 + of_era / 4 - of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let at = (days * 86_400 + seconds) as f64 + fraction;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    if at >= now {
        Instant::now() + Duration::from_secs_f64(at - now)
    } else {
        Instant::now() - Duration::from_secs_f64(now - at)
    }
}

/// A prefix of Redis keys no other test uses.
fn prefix(test: &str) -> String {
    format!("wp{test}{}", std::process::id())
}

/// Polls `done` every 100 ms until it holds; fails after `limit`. Returns
/// how long it took.
async fn within<F: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> F,
) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// The host SEEKs once a second (to `from` + 1, + 2, …) until one reaches
/// the viewer; fails after `limit`. Returns how long it took.
async fn seeks_cross(
    host: &mut WsClient,
    viewer: &mut WsClient,
    from: f64,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    let mut time = from;
    loop {
        assert!(
            started.elapsed() < limit,
            "no SEEK crossed within {limit:?}"
        );
        time += 1.0;
        host.send(json!({"type": "SEEK", "time": time})).await;
        let tried = Instant::now() + Duration::from_secs(1);
        while let Some(message) = viewer
            .try_recv(tried.saturating_duration_since(Instant::now()))
            .await
        {
            if message["type"] == "SEEK" && message["time"] == time {
                return started.elapsed();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_for_30_seconds_bounds_every_wait_and_recovers() {
    let redis = OwnRedis::start().await;
    let database = scratch_postgres();
    let keys = prefix("pause");
    let a = Instance::production(&database, &redis.url(), &keys).await;
    let b = Instance::production(&database, &redis.url(), &keys).await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    host.recv_type("USER_JOINED").await;
    let memory_before = a.rss_kib();

    redis.pause();
    let paused = Instant::now();
    let room = format!("/api/rooms/{code}/");
    let anonymous = a.client();
    let (mut probes, mut worst, mut answered) = (0u32, Duration::ZERO, BTreeSet::new());
    let mut seek = 0.0;
    while paused.elapsed() < Duration::from_secs(30) {
        // The host keeps steering; each SEEK needs Redis to reach anyone.
        seek += 1.0;
        host.send(json!({"type": "SEEK", "time": seek})).await;
        let requests = [
            (&ana.client, room.as_str()),
            (&bob.client, "/api/auth/me/"),
            (&anonymous, "/api/rooms/public/"),
            (&anonymous, "/readyz"),
            (&anonymous, "/healthz"),
        ];
        let timed = join_all(requests.iter().map(|(client, path)| async move {
            let sent = Instant::now();
            let (status, body) = client.get(path).await;
            (sent.elapsed(), status, body, *path)
        }))
        .await;
        for (took, status, body, path) in timed {
            probes += 1;
            worst = worst.max(took);
            // Readiness answers in a shape of its own (docs/protocol.md, for operators).
            let shaped = body["error"]["code"].is_string() || path == "/readyz";
            assert!(
                status.is_success() || shaped,
                "{path}: {status} outside the error shape: {body}"
            );
            answered.insert(format!("{path} {}", status.as_u16()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let memory_during = a.rss_kib();
    redis.resume();
    let resumed = Instant::now();

    // Recovery: events cross instances again, readiness returns, and a
    // newcomer on the other instance is announced.
    let recovered = seeks_cross(&mut host, &mut viewer, 10_000.0, Duration::from_secs(30)).await;
    let probe = &anonymous;
    within(Duration::from_secs(15), "ready again", || async move {
        probe.get("/readyz").await.0 == StatusCode::OK
    })
    .await;
    let cat = b.user("cat").await;
    let _cat_socket = cat.enter(&code).await;
    host.recv_until("USER_JOINED").await;
    let (status, body) = ana.get(&room).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["viewer_count"], 3);
    let grown = memory_during.saturating_sub(memory_before);
    println!(
        "FIGURE redis paused 30 s: {probes} requests while paused, slowest {:.0} ms, answers {answered:?}; \
         server memory +{} KiB; SEEKs cross instances again {:.1} s after resume ({:.1} s total)",
        worst.as_secs_f64() * 1000.0,
        grown,
        recovered.as_secs_f64(),
        resumed.elapsed().as_secs_f64()
    );
    assert!(
        worst < Duration::from_secs(3),
        "a request waited {worst:?} for a paused Redis"
    );
    assert!(
        grown < 20 * 1024,
        "memory grew {grown} KiB while Redis was paused"
    );
    assert!(!a.log().contains("panicked") && !b.log().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_loses_nothing_stored_and_presence_comes_back() {
    let mut redis = OwnRedis::start().await;
    let redis_url = redis.url();
    let a = TestServer::production().redis_url(&redis_url).start().await;
    let b = a.sibling().start().await;
    let keys = a.redis_prefix().to_owned();
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let cat = a.user("cat").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    let leaver = cat.enter(&code).await;
    host.recv_type("USER_JOINED").await;
    host.recv_type("USER_JOINED").await;
    host.send(json!({"type": "CHAT_MESSAGE", "message": "before the restart"}))
        .await;
    viewer.recv_until("CHAT_MESSAGE").await;

    redis.stop();
    // While Redis is away: not ready, and requests that need it fail in the
    // protocol's error shape instead of hanging.
    let probe = a.client();
    assert_eq!(
        probe.get("/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, body) = probe.get("/api/rooms/public/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    // Someone leaves while Redis is down: they must not come back as a ghost.
    leaver.close().await;
    redis.restart().await;

    // Each instance writes back the presence of its own sockets.
    let participants = format!("{keys}:room:{code}:participants");
    let expected = BTreeSet::from([ana.id.to_string(), bob.id.to_string()]);
    let (expected, participants, url) = (&expected, &participants, redis.url());
    let url = &url;
    let rebuilt = within(Duration::from_secs(15), "presence rebuilt", || async move {
        let members: BTreeSet<String> = redis_cli(url, &["SMEMBERS", participants])
            .lines()
            .map(str::to_owned)
            .collect();
        assert!(members.is_subset(expected), "a ghost: {members:?}");
        members == *expected
    })
    .await;
    // The sockets carry on across instances.
    let crossing = seeks_cross(&mut host, &mut viewer, 40.0, Duration::from_secs(15)).await;
    // Sessions lived in Redis: log in again. Stored data is all there.
    let client = a.client();
    let login = json!({"email": ana.email, "password": "correct horse battery"});
    assert_eq!(
        client.post("/api/auth/login/", login).await.0,
        StatusCode::OK
    );
    let history = client.history(&code, "").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["message"], "before the restart");
    let (_, room) = client.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(room["room"]["viewer_count"], 2, "no ghost in the count");
    println!(
        "FIGURE redis restarted empty: presence rebuilt in {:.1} s without the user who left meanwhile; \
         events cross instances {:.1} s later; 1 of 1 stored chat message kept",
        rebuilt.as_secs_f64(),
        crossing.as_secs_f64()
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_for_10_seconds_never_broadcasts_unsaved_chat() {
    let (proxy, through) = FaultProxy::in_front_of(&scratch_postgres()).await;
    let server = TestServer::production()
        .database_url(&through)
        .start()
        .await;
    let mut party = server.party().await;
    let client = server.client();
    assert_eq!(client.get("/readyz").await.0, StatusCode::OK);

    proxy.cut();
    let cut = Instant::now();
    let probe = &client;
    within(
        Duration::from_secs(10),
        "not ready without a database",
        || async move { probe.get("/readyz").await.0 == StatusCode::SERVICE_UNAVAILABLE },
    )
    .await;
    // A request that needs the database fails in the error shape.
    let (status, body) = client.get("/api/rooms/public/").await;
    assert!(status.is_server_error(), "{status}");
    assert!(body["error"]["code"].is_string(), "{body}");
    // Chat during the outage: its author hears it was not sent; nobody else hears anything.
    party
        .viewer_socket
        .send(json!({"type": "CHAT_MESSAGE", "message": "lost in the outage"}))
        .await;
    let sent = Instant::now();
    let refusal = party
        .viewer_socket
        .try_recv(Duration::from_secs(10))
        .await
        .expect("an answer to chat sent during the outage");
    let refused_after = sent.elapsed();
    assert_eq!(refusal["type"], "ERROR", "{refusal}");
    let remaining = Duration::from_secs(10).saturating_sub(cut.elapsed());
    party
        .host_socket
        .expect_silence(remaining.max(Duration::from_secs(1)))
        .await;

    proxy.restore();
    let recovered = within(Duration::from_secs(15), "ready again", || async move {
        probe.get("/readyz").await.0 == StatusCode::OK
    })
    .await;
    party
        .viewer_socket
        .send(json!({"type": "CHAT_MESSAGE", "message": "after the outage"}))
        .await;
    let echoed = party.viewer_socket.recv_type("CHAT_MESSAGE").await;
    assert_eq!(echoed["message"], "after the outage");
    assert_eq!(
        party.host_socket.recv_type("CHAT_MESSAGE").await["id"],
        echoed["id"]
    );
    let history = party.host.history(&party.code, "").await;
    let texts: Vec<&str> = history
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["after the outage"]);
    println!(
        "FIGURE postgres down {:.1} s: the unsaved chat message got ERROR after {:.1} s and reached nobody; \
         ready {:.1} s after PostgreSQL came back, without a restart; history holds only what was broadcast",
        cut.elapsed().as_secs_f64() - recovered.as_secs_f64(),
        refused_after.as_secs_f64(),
        recovered.as_secs_f64()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_killed_mid_grace_the_room_still_closes_on_time() {
    let database = scratch_postgres();
    let redis = test_redis();
    let keys = prefix("killall");
    let grace = [("WATCHPARTY_HOST_GRACE_SECS", "4")];
    let env = |extra: &[(&'static str, &'static str)]| {
        let mut env = vec![
            ("DATABASE_URL", database.as_str()),
            ("REDIS_URL", redis.as_str()),
            ("WATCHPARTY_REDIS_PREFIX", keys.as_str()),
        ];
        env.extend_from_slice(extra);
        env
    };
    let mut a = Instance::start(&env(&grace)).await;
    let mut b = Instance::start(&env(&grace)).await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let code = ana.create_room("film").await;
    let host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    host.close().await;
    let away = viewer.recv_until("HOST_DISCONNECTED").await;
    let deadline = instant_of(away["grace_expires_at"].as_str().unwrap());

    tokio::time::sleep(Duration::from_secs(1)).await;
    a.kill();
    b.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.restart().await;
    b.restart().await;
    let path = &format!("/api/rooms/{code}/");
    let bob = &bob;
    within(
        Duration::from_secs(10),
        "closed after the restart",
        || async move {
            let (status, body) = bob.get(path).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["room"]["status"] == "closed" {
                return true;
            }
            assert!(
                Instant::now() < deadline + Duration::from_secs(2),
                "still {} 2 s after the deadline",
                body["room"]["status"]
            );
            false
        },
    )
    .await;
    let closed_at = Instant::now();
    assert!(
        closed_at + Duration::from_millis(100) >= deadline,
        "closed early"
    );
    println!(
        "FIGURE kill -9 of both instances 1 s into a 4 s grace, restarted 1.5 s later: \
         the room closed {:+.0} ms from its deadline (polled every 100 ms)",
        (closed_at.saturating_duration_since(deadline).as_secs_f64()
            - deadline.saturating_duration_since(closed_at).as_secs_f64())
            * 1000.0
    );
    assert!(!a.log().contains("panicked") && !b.log().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_is_healed_within_the_lease() {
    let database = scratch_postgres();
    let redis = test_redis();
    let keys = prefix("kill");
    let mut a = Instance::production(&database, &redis, &keys).await;
    let b = Instance::production(&database, &redis, &keys).await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let code = ana.create_room("r").await;
    let _host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;

    // kill -9 the instance that holds the host's socket.
    let killed = Instant::now();
    a.kill();
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|m: &Value| m["type"] == "HOST_DISCONNECTED")
    {
        match viewer
            .try_recv(Duration::from_secs(60).saturating_sub(killed.elapsed()))
            .await
        {
            Some(message) => seen.push(message),
            None => panic!("not healed within a minute: {seen:?}"),
        }
    }
    let healed = killed.elapsed();
    let left = seen
        .iter()
        .find(|m| m["type"] == "USER_LEFT")
        .expect("USER_LEFT for the host");
    assert_eq!(left["user"]["display_name"], "ana");
    let (_, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(room["room"]["status"], "grace");
    assert_eq!(room["room"]["viewer_count"], 1);
    println!(
        "FIGURE kill -9 of the host's instance: USER_LEFT and HOST_DISCONNECTED on the other after {:.1} s \
         (the lease is 20 s, renewed every 5 s)",
        healed.as_secs_f64()
    );
    // The lease, plus one look for expired leases.
    assert!(
        healed <= Duration::from_secs(25),
        "past the lease: {healed:?}"
    );
}

/// One client of the reset test: its transcript, merged from live messages
/// and the history it fetches after each reconnect.
struct Transcript {
    /// The client's display name, to tell its own echoes.
    me: String,
    ids: Vec<i64>,
    /// Own messages sent on the current socket and not yet answered (echo or ERROR).
    in_flight: u32,
    /// Own messages unanswered when their socket was reset: their fate is unknown.
    at_risk: u32,
    resets: u32,
    closed_by_server: u32,
    out_of_order: Vec<(i64, i64)>,
    refusals: u32,
    refusal_texts: BTreeSet<String>,
}

impl Transcript {
    /// A live message on the current socket, whose previous one was `socket_last`.
    fn live(&mut self, message: &Value, socket_last: &mut i64) {
        let own = message["type"] == "ERROR" || message["user"]["display_name"] == *self.me;
        if own {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        if message["type"] == "ERROR" {
            self.refusals += 1;
            self.refusal_texts
                .insert(message["message"].as_str().unwrap_or_default().to_owned());
        }
        if message["type"] != "CHAT_MESSAGE" {
            return;
        }
        let id = message["id"].as_i64().unwrap();
        if id <= *socket_last {
            self.out_of_order.push((*socket_last, id));
        }
        *socket_last = id;
        // After a reconnect, the history fetched may already hold it.
        if self.ids.last().is_none_or(|last| id > *last) {
            self.ids.push(id);
        }
    }

    /// Fetches what was missed since the last message seen.
    async fn catch_up(&mut self, client: &ApiClient, code: &str) {
        let after = self.ids.last().copied().unwrap_or(0);
        let missed = client.history_after(code, after).await;
        self.ids
            .extend(missed.iter().map(|m| m["id"].as_i64().unwrap()));
    }
}

/// Connects `user` to instance `servers[at % len]`, past the opening messages.
async fn reconnect(user: &TestUser, servers: &[TestServer], at: usize, code: &str) -> WsClient {
    let server = &servers[at % servers.len()];
    let mut socket = user.on(server).connect(code).await.expect("accepted");
    socket.recv_type("PLAYBACK_STATE").await;
    socket.recv_type("PRESENCE").await;
    socket.recv_type("CAPABILITIES").await;
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcripts_equal_the_database_through_connection_resets() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    const CLIENTS: usize = 20;
    const MESSAGES: usize = 500;
    const EVERY: Duration = Duration::from_millis(40);
    let a = TestServer::production()
        .with(|s| {
            s.rooms.chat_limit = ChatLimit {
                messages: 1_000,
                window: Duration::from_secs(1),
            }
        })
        .start()
        .await;
    let servers = vec![a.sibling().start().await, a.sibling().start().await, a];
    let host = servers[0].user("host").await;
    let code = host.create_room("busy").await;
    let mut users = Vec::new();
    for i in 0..CLIENTS {
        let user = servers[i % 3].user(&format!("c{i}")).await;
        user.join(&code).await;
        users.push(user);
    }
    let started = Instant::now();
    let transcripts = join_all(users.iter().enumerate().map(|(i, user)| {
        let servers = &servers;
        let code = code.as_str();
        async move {
            let mut at = i;
            let mut transcript = Transcript {
                me: format!("c{i}"),
                ids: Vec::new(),
                in_flight: 0,
                at_risk: 0,
                resets: 0,
                closed_by_server: 0,
                out_of_order: Vec::new(),
                refusals: 0,
                refusal_texts: BTreeSet::new(),
            };
            // As a client entering a room: connect, then load what came before.
            let mut socket = reconnect(user, servers, at, code).await;
            let mut socket_last = 0;
            transcript.catch_up(user, code).await;
            // Deterministic per client: a reset after roughly 1 % of sends.
            let mut draw = 0x2545_f491_4f6c_dd1d_u64 ^ (i as u64 + 1);
            let mut next_send = Instant::now();
            for n in 0..MESSAGES {
                while let Some(message) = socket
                    .try_recv(next_send.saturating_duration_since(Instant::now()))
                    .await
                {
                    transcript.live(&message, &mut socket_last);
                }
                if socket.is_closed() {
                    // Too slow a reader is let go (close 1013): reconnect and catch up.
                    transcript.closed_by_server += 1;
                    transcript.at_risk += std::mem::take(&mut transcript.in_flight);
                    socket = reconnect(user, servers, at, code).await;
                    socket_last = 0;
                    transcript.catch_up(user, code).await;
                }
                next_send += EVERY;
                socket
                    .send(json!({"type": "CHAT_MESSAGE", "message": format!("c{i}-{n}")}))
                    .await;
                transcript.in_flight += 1;
                draw ^= draw << 13;
                draw ^= draw >> 7;
                draw ^= draw << 17;
                if draw % 100 == 0 {
                    socket.reset();
                    transcript.resets += 1;
                    // Frames the server had not read yet die with the connection.
                    transcript.at_risk += std::mem::take(&mut transcript.in_flight);
                    at += 1;
                    socket = reconnect(user, servers, at, code).await;
                    socket_last = 0;
                    transcript.catch_up(user, code).await;
                }
            }
            // Read until quiet: everything sent by anyone has arrived.
            while let Some(message) = socket.try_recv(Duration::from_secs(3)).await {
                transcript.live(&message, &mut socket_last);
            }
            if socket.is_closed() {
                transcript.closed_by_server += 1;
                transcript.catch_up(user, code).await;
            }
            transcript
        }
    }))
    .await;
    let elapsed = started.elapsed();

    let stored = host.history_after(&code, 0).await;
    let stored_ids: Vec<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    let texts: BTreeSet<&str> = stored
        .iter()
        .map(|m| m["message"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), stored.len(), "a message was stored twice");
    let resets: u32 = transcripts.iter().map(|t| t.resets).sum();
    let refusals: u32 = transcripts.iter().map(|t| t.refusals).sum();
    let closed_by_server: u32 = transcripts.iter().map(|t| t.closed_by_server).sum();
    let refusal_texts: BTreeSet<&String> =
        transcripts.iter().flat_map(|t| &t.refusal_texts).collect();
    for (i, transcript) in transcripts.iter().enumerate() {
        // A message is stored, or was refused with an ERROR to its author, or
        // was unanswered when its socket was reset (its fate went with it).
        let prefix = format!("c{i}-");
        let stored_of_client = texts.iter().filter(|t| t.starts_with(&prefix)).count();
        assert!(
            stored_of_client + (transcript.at_risk + transcript.refusals) as usize >= MESSAGES,
            "client {i}: {stored_of_client} of {MESSAGES} stored, {} ERRORs, {} unanswered at a reset",
            transcript.refusals,
            transcript.at_risk
        );
        assert!(
            transcript.out_of_order.is_empty(),
            "client {i}: one socket delivered ids out of order: {:?}",
            transcript.out_of_order
        );
        let seen: BTreeSet<i64> = transcript.ids.iter().copied().collect();
        let missing: Vec<&Value> = stored
            .iter()
            .filter(|m| !seen.contains(&m["id"].as_i64().unwrap()))
            .collect();
        assert!(
            missing.is_empty(),
            "client {i} ({} resets, {} closed by the server) never saw {missing:?}",
            transcript.resets,
            transcript.closed_by_server
        );
        assert_eq!(transcript.ids, stored_ids, "client {i}'s transcript");
    }
    println!(
        "FIGURE 3 instances x {CLIENTS} clients x {MESSAGES} messages in {:.1} s: {} stored \
         (the others refused with ERROR or unanswered when their socket was reset), \
         {resets} connection resets, {closed_by_server} sockets closed as too slow and caught up, \
         {refusals} ERRORs {refusal_texts:?}, \
         {CLIENTS} transcripts equal to the database: 0 lost, 0 duplicated, same order",
        elapsed.as_secs_f64(),
        stored_ids.len()
    );
    assert!(resets > 0, "the test reset no connection");
    for server in servers {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_closing_at_once_leave_once_a_thousand_times() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    // 50 users × 20 rounds, the users in parallel: a round is two tabs of
    // one user opening at once on two instances, then closing at once.
    const USERS: usize = 50;
    const ROUNDS: usize = 20;
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let code = ana.create_room("film").await;
    let mut observer = ana.enter(&code).await;
    let mut users = Vec::new();
    for i in 0..USERS {
        let user = a.user(&format!("tabs{i}")).await;
        user.join(&code).await;
        users.push(user);
    }
    let opening = |user: &TestUser, server: &TestServer| {
        let user = user.on(server);
        let code = code.clone();
        async move {
            let mut socket = user.connect(&code).await.expect("accepted");
            socket.recv_type("PLAYBACK_STATE").await;
            socket.recv_type("PRESENCE").await;
            socket.recv_type("CAPABILITIES").await;
            socket
        }
    };
    let started = Instant::now();
    let rounds = join_all(users.iter().map(|user| async {
        for _ in 0..ROUNDS {
            let (first, second) = tokio::join!(opening(user, &a), opening(user, &b));
            tokio::join!(first.close(), second.close());
        }
    }));
    // The observer follows every user's presence as it happens.
    let expected = USERS * ROUNDS * 2;
    let observe = async {
        let mut last: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
        let mut events = 0;
        while events < expected {
            let message = observer
                .try_recv(Duration::from_secs(30))
                .await
                .expect("presence events keep coming");
            let kind = message["type"].as_str().unwrap().to_owned();
            let user = message["user"]["id"].as_i64().unwrap();
            let previous = last.insert(user, kind.clone());
            let fine = match kind.as_str() {
                "USER_JOINED" => previous.as_deref() != Some("USER_JOINED"),
                "USER_LEFT" => previous.as_deref() == Some("USER_JOINED"),
                _ => false,
            };
            assert!(fine, "user {user}: {kind} after {previous:?}");
            events += 1;
        }
        last
    };
    let (_, last) = tokio::join!(rounds, observe);
    assert!(last.values().all(|kind| kind == "USER_LEFT"));
    observer.expect_silence(Duration::from_secs(1)).await;
    println!(
        "FIGURE two tabs of one user on two instances opening and closing at once, {} rounds \
         ({USERS} users in parallel) in {:.1} s: exactly one USER_JOINED and one USER_LEFT each round",
        USERS * ROUNDS,
        started.elapsed().as_secs_f64()
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_lossy_dependencies_leave_no_panic_and_no_stuck_room() {
    let (postgres, database) = FaultProxy::in_front_of(&scratch_postgres()).await;
    let redis = OwnRedis::start().await;
    let (cache, redis_url) = FaultProxy::in_front_of(&redis.url()).await;
    let keys = prefix("lossy");
    let env = [
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("WATCHPARTY_REDIS_PREFIX", keys.as_str()),
        ("WATCHPARTY_HOST_GRACE_SECS", "3"),
    ];
    let a = Instance::start(&env).await;
    let b = Instance::start(&env).await;
    // Three rooms, each with its host on A and two viewers on B.
    let mut rooms = Vec::new();
    for r in 0..3 {
        let host = a.user(&format!("host{r}")).await;
        let code = host.create_room(&format!("room {r}")).await;
        let host_socket = host.enter(&code).await;
        let mut viewers = Vec::new();
        for v in 0..2 {
            let viewer = b.user(&format!("viewer{r}-{v}")).await;
            let socket = viewer.enter(&code).await;
            viewers.push((viewer, socket));
        }
        rooms.push((host, code, host_socket, viewers));
    }
    // From here on, every query and every Redis command crosses a bad network.
    let impairment = Impairment {
        one_way: Duration::from_millis(100),
        loss: 0.05,
    };
    postgres.impair(Some(impairment));
    cache.impair(Some(impairment));
    // Ten seconds of steering and chat in every room, at a pace a room
    // keeps up with when each query takes a few hundred milliseconds.
    let busy = Instant::now();
    let mut step = 0u32;
    while busy.elapsed() < Duration::from_secs(10) {
        step += 1;
        for (_, _, host_socket, viewers) in &mut rooms {
            host_socket
                .send(json!({"type": "SEEK", "time": f64::from(step)}))
                .await;
            let (_, socket) = &mut viewers[step as usize % 2];
            socket
                .send(json!({"type": "CHAT_MESSAGE", "message": format!("m{step}")}))
                .await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Room 0's host leaves: its grace must run out on time, lossy network or not.
    let (_, closing, host_socket, mut viewers) = rooms.remove(0);
    host_socket.close().await;
    let left = Instant::now();
    let (_, watcher) = &mut viewers[0];
    let (seen, close_code) = watcher.drain_for(Duration::from_secs(20)).await;
    let closed_after = left.elapsed();
    let closings = seen.iter().filter(|m| m["type"] == "ROOM_CLOSED").count();
    assert_eq!(closings, 1, "exactly one ROOM_CLOSED: {seen:?}");
    let away = seen
        .iter()
        .find(|m| m["type"] == "HOST_DISCONNECTED")
        .expect("HOST_DISCONNECTED");
    let deadline = instant_of(away["grace_expires_at"].as_str().unwrap());
    let late = Instant::now().saturating_duration_since(deadline);
    // Stuck means never closing; how late it closed on this network is the figure
    // (the protocol's 2 s assumes a healthy network to PostgreSQL and Redis).
    assert!(
        late < Duration::from_secs(10),
        "closed {late:?} after the deadline"
    );
    let (status, body) = viewers[1].0.get(&format!("/api/rooms/{closing}/")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["status"], "closed");
    // The other rooms are open, with everyone counted, and their chat is
    // what the host saw.
    for (host, code, mut host_socket, _viewers) in rooms {
        let mut chat_seen = Vec::new();
        while let Some(message) = host_socket.try_recv(Duration::from_secs(3)).await {
            if message["type"] == "CHAT_MESSAGE" {
                chat_seen.push(message["id"].as_i64().unwrap());
            }
        }
        let (status, body) = host.get(&format!("/api/rooms/{code}/")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["room"]["status"], "open");
        assert_eq!(body["room"]["viewer_count"], 3);
        let stored = host.history_ids(&code, "?limit=100").await;
        assert_eq!(chat_seen, stored, "room {code}: chat seen vs stored");
    }
    let panics = a.log().matches("panicked").count() + b.log().matches("panicked").count();
    assert_eq!(panics, 0, "{}\n{}", a.log(), b.log());
    println!(
        "FIGURE 100 ms each way and 5 % of chunks delayed 200 ms more, to PostgreSQL and Redis, \
         {step} rounds of SEEK and chat in 3 rooms: 0 panics; the abandoned room closed {:.1} s \
         after its host left, {:.2} s after its deadline (grace 3 s; close code {close_code:?}); \
         the others open, counted and with chat as stored",
        closed_after.as_secs_f64(),
        late.as_secs_f64()
    );
}
