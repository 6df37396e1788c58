//! The bad input and abuse, each a test: a viewer at every moderator
//! endpoint, a co-host reaching above themself, a banned user's fresh
//! token, and a burst of role flips.

use super::*;
use watchparty_testkit::TestServer;

/// Everything a moderator could call, as `(what, status and body)`, by `actor` on `target`.
async fn every_moderator_call(
    actor: &TestUser,
    code: &str,
    target: &TestUser,
) -> Vec<(String, (StatusCode, Value))> {
    let id = target.id;
    let base = format!("/api/rooms/{code}");
    vec![
        (
            "PUT role co_host".into(),
            put_role(actor, code, id, "co_host").await,
        ),
        (
            "PUT role viewer".into(),
            put_role(actor, code, id, "viewer").await,
        ),
        (
            "POST host".into(),
            actor
                .post(&format!("{base}/host/"), json!({"user_id": id}))
                .await,
        ),
        (
            "POST kicks".into(),
            actor
                .post(
                    &format!("{base}/kicks/"),
                    json!({"user_id": id, "reason": "x"}),
                )
                .await,
        ),
        (
            "POST bans".into(),
            actor
                .post(&format!("{base}/bans/"), json!({"user_id": id}))
                .await,
        ),
        ("GET bans".into(), actor.get(&format!("{base}/bans/")).await),
        (
            "DELETE bans".into(),
            actor.delete(&format!("{base}/bans/{id}/")).await,
        ),
        (
            "POST mutes".into(),
            actor
                .post(&format!("{base}/mutes/"), json!({"user_id": id}))
                .await,
        ),
        (
            "DELETE mutes".into(),
            actor.delete(&format!("{base}/mutes/{id}/")).await,
        ),
        (
            "GET audit".into(),
            actor.get(&format!("{base}/audit/")).await,
        ),
        (
            "PATCH room".into(),
            actor
                .patch(
                    &format!("{base}/"),
                    json!({"name": "mine now", "control": "everyone"}),
                )
                .await,
        ),
        (
            "DELETE room".into(),
            actor.delete(&format!("{base}/")).await,
        ),
    ]
}

/// Everything a moderator can read about the room, to compare before and after.
async fn snapshot(host: &TestUser, code: &str) -> Value {
    let body = room(host, code).await;
    json!({
        "room": body["room"],
        "playback_version": body["playback"]["version"],
        "participants": participants(host, code).await,
        "bans": host.get(&format!("/api/rooms/{code}/bans/")).await.1,
        "audit": audit(host, code, "").await,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_calling_every_moderator_endpoint_gets_403_and_changes_nothing() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let before = snapshot(ana, &code).await;
    for target in [cat, ana, bob] {
        for (what, answer) in every_moderator_call(bob, &code, target).await {
            assert_eq!(
                answer.0,
                StatusCode::FORBIDDEN,
                "a viewer's {what} on {}: {}",
                target.name,
                answer.1
            );
            let expected: &[&str] = match what.as_str() {
                "PUT role co_host" | "PUT role viewer" => &["not_host"],
                "DELETE room" => &["not_owner"],
                // On the host or the owner, target_outranks may answer first.
                _ => &["forbidden", "target_outranks"],
            };
            assert!(
                expected.contains(&code_of(&answer.1)),
                "{what} on {}: {}",
                target.name,
                answer.1
            );
        }
    }
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    // Without a session at all: 401 everywhere.
    let anonymous = TestUser {
        client: server.client(),
        ..bob.clone()
    };
    for (what, answer) in every_moderator_call(&anonymous, &code, cat).await {
        refused(
            &format!("anonymous {what}"),
            &answer,
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        );
    }
    assert_eq!(snapshot(ana, &code).await, before, "nothing changed");
    // Still there, still a viewer.
    sockets[1]
        .send(json!({"type": "PING", "client_time": 1}))
        .await;
    sockets[1].recv_type("PONG").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_co_host_cannot_act_on_another_co_host_the_host_or_the_owner() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat", "dan"]).await;
    let (ana, bob, cat, dan) = (&people[0], &people[1], &people[2], &people[3]);
    // dan hosts; ana (the owner), bob and cat are co-hosts.
    for user in [bob, cat, dan] {
        assert_eq!(
            put_role(ana, &code, user.id, "co_host").await.0,
            StatusCode::OK
        );
    }
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/host/"),
            json!({"user_id": dan.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for socket in sockets.iter_mut() {
        gather(socket, QUIET).await;
    }
    let before = snapshot(dan, &code).await;
    for target in [cat, dan, ana] {
        let base = format!("/api/rooms/{code}");
        let id = target.id;
        for (what, answer) in [
            (
                "kick",
                bob.post(&format!("{base}/kicks/"), json!({"user_id": id}))
                    .await,
            ),
            (
                "ban",
                bob.post(
                    &format!("{base}/bans/"),
                    json!({"user_id": id, "duration_secs": 60}),
                )
                .await,
            ),
            (
                "mute",
                bob.post(&format!("{base}/mutes/"), json!({"user_id": id}))
                    .await,
            ),
        ] {
            refused(
                &format!("bob's {what} on {}", target.name),
                &answer,
                StatusCode::FORBIDDEN,
                "target_outranks",
            );
        }
        refused(
            &format!("bob's role change of {}", target.name),
            &put_role(bob, &code, id, "viewer").await,
            StatusCode::FORBIDDEN,
            "not_host",
        );
        refused(
            &format!("bob handing the room to {}", target.name),
            &bob.post(&format!("{base}/host/"), json!({"user_id": id}))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    assert_eq!(snapshot(dan, &code).await, before, "nothing changed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_users_tokens_are_refused_at_the_upgrade() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let early = bob.token().await; // asked for before the ban
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/bans/"),
            json!({"user_id": bob.id, "duration_secs": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(sockets[1].closed_with().await, Some(4004));
    let port = server.port;
    assert_eq!(
        WsClient::connect(port, &code, Some(&early), None)
            .await
            .err(),
        Some(StatusCode::FORBIDDEN),
        "a token from before the ban"
    );
    for _ in 0..3 {
        let fresh = bob.token().await;
        assert_eq!(
            WsClient::connect(port, &code, Some(&fresh), None)
                .await
                .err(),
            Some(StatusCode::FORBIDDEN),
            "a fresh token"
        );
    }
    // Joining again over HTTP does not get round it.
    let answer = bob.post_empty(&format!("/api/rooms/{code}/join/")).await;
    refused("join", &answer, StatusCode::FORBIDDEN, "banned");
    assert!(instant(answer.1["error"]["until"].as_str().expect("until")) > SystemTime::now());
    assert_eq!(bob.connect(&code).await.err(), Some(StatusCode::FORBIDDEN));
    sockets[0].recv_until("USER_LEFT").await;
    sockets[0].expect_silence(QUIET).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_role_flips_in_a_burst_leave_a_consistent_list() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    let server = TestServer::start().await;
    let (code, people, sockets) = gathering(&server, &["ana", "bob", "cat", "dan"]).await;
    let ana = &people[0];
    let readers = listen(sockets);
    let started = std::time::Instant::now();
    let last = flip_roles(&[ana], &code, &people[1..], 1000).await;
    eprintln!(
        "1 000 role flips in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_consistent(ana, &code, &people, &last).await;
    let owners: Vec<i64> = people.iter().map(|p| p.id).collect();
    check_transcripts(readers, &owners, &last).await;
    server.stop().await;
}

/// Reads every socket on a task of its own until it has been quiet for 2 s,
/// so that a burst never fills a socket's queue on the server.
pub fn listen(sockets: Vec<WsClient>) -> Vec<tokio::task::JoinHandle<Vec<Value>>> {
    sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while let Some(m) = socket.try_recv(Duration::from_secs(2)).await {
                    seen.push(m);
                }
                seen
            })
        })
        .collect()
}

/// `count` role flips by the host (through each of `hosts`, the same user on
/// several instances, in turn), one sequence per target running side by
/// side; returns each target's last role.
pub async fn flip_roles(
    hosts: &[&TestUser],
    code: &str,
    targets: &[TestUser],
    count: usize,
) -> std::collections::BTreeMap<i64, &'static str> {
    let lanes = targets.iter().enumerate().map(|(lane, target)| async move {
        let mut role = "viewer";
        let mut n = lane;
        while n < count {
            role = if role == "viewer" {
                "co_host"
            } else {
                "viewer"
            };
            let host = hosts[n % hosts.len()];
            let answer = put_role(host, code, target.id, role).await;
            assert_eq!(answer.0, StatusCode::OK, "flip {n}: {}", answer.1);
            assert_eq!(answer.1["participant"]["role"], role);
            n += targets.len();
        }
        (target.id, role)
    });
    futures_util::future::join_all(lanes)
        .await
        .into_iter()
        .collect()
}

/// The participants list is the host and each target with its last role.
pub async fn assert_consistent(
    asker: &TestUser,
    code: &str,
    people: &[TestUser],
    last: &std::collections::BTreeMap<i64, &'static str>,
) {
    let got = roster(&participants(asker, code).await);
    assert_eq!(got.len(), people.len(), "{got:?}");
    assert_eq!(got[0], (people[0].id, "host".to_owned()), "{got:?}");
    for (id, role) in last {
        assert!(
            got.contains(&(*id, (*role).to_owned())),
            "user {id} ends {role}: {got:?}"
        );
    }
    // Host, then co-hosts, then viewers.
    let rank = |r: &str| match r {
        "host" => 0,
        "co_host" => 1,
        _ => 2,
    };
    assert!(
        got.windows(2).all(|w| rank(&w[0].1) <= rank(&w[1].1)),
        "{got:?}"
    );
}

/// Every socket's (owned by `owners[i]`) last `PARTICIPANT_UPDATED` for each user names that user's
/// last role, and each target's last `CAPABILITIES` is that role's.
pub async fn check_transcripts(
    readers: Vec<tokio::task::JoinHandle<Vec<Value>>>,
    owners: &[i64],
    last: &std::collections::BTreeMap<i64, &'static str>,
) {
    for (i, reader) in readers.into_iter().enumerate() {
        let seen = reader.await.unwrap();
        let mut last_seen = std::collections::BTreeMap::new();
        for m in seen.iter().filter(|m| m["type"] == "PARTICIPANT_UPDATED") {
            last_seen.insert(
                m["participant"]["user"]["id"].as_i64().unwrap(),
                m["participant"]["role"].clone(),
            );
        }
        for (id, role) in last {
            assert_eq!(
                last_seen.get(id),
                Some(&json!(role)),
                "socket {i}, user {id}"
            );
        }
        if let Some(role) = last.get(&owners[i]) {
            let capabilities = seen
                .iter()
                .rev()
                .find(|m| m["type"] == "CAPABILITIES")
                .unwrap_or_else(|| panic!("socket {i} got CAPABILITIES"));
            assert_eq!(
                capabilities["role"], *role,
                "socket {i} ends on its last role"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_holds_in_its_own_room_only() {
    let server = TestServer::start().await;
    let (code, people, _sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let other = ana.create_room("another").await;
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/bans/"),
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    bob.join(&other).await;
    let (mut socket, _) = open(bob, &other).await;
    socket
        .send(json!({"type": "CHAT_MESSAGE", "message": "hi"}))
        .await;
    assert_eq!(socket.recv_until("CHAT_MESSAGE").await["message"], "hi");
    // And a room of bob's own is his to run.
    let own = bob.create_room("mine").await;
    let _ = enter(bob, &own).await;
    server.stop().await;
}
