//! §7–§11 with two instances on one PostgreSQL and one Redis: an effect
//! requested on one instance reaches sockets on the other within 1 s, a
//! removal closes a socket on the other, a burst of role flips through both
//! leaves one list, racing sweepers promote once, a group wait across the two
//! ends once, and sync telemetry reaches a controller on the other instance.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::together::abuse::{assert_consistent, check_transcripts, flip_roles, listen};
use crate::together::sync::{assert_drift, next_of, sync_report, your_sync};
use crate::together::waits::{
    report, tell, wait_ends_everywhere, wait_starts_everywhere, who, DEADLINE,
};
use crate::together::{caps, open, public, put_role, room, set, types, CO_HOST_CAPS, QUIET};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use watchparty_testkit::{redis_cli, test_redis, StatusCode, TestServer, TestUser, WsClient};

/// The next message of type `kind`, which must come within 1 s of `since`.
async fn within_a_second(socket: &mut WsClient, kind: &str, since: Instant) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(1), socket.recv_until(kind))
        .await
        .unwrap_or_else(|_| panic!("no {kind} within 1 s"));
    let late = since.elapsed();
    assert!(late <= Duration::from_secs(1), "{kind} after {late:?}");
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effects_requested_on_one_instance_reach_sockets_on_the_other_within_a_second() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let cat = b.user("cat").await;
    let code = ana.create_room("across").await;
    bob.join(&code).await;
    cat.join(&code).await;
    let (mut host, _) = open(&ana, &code).await;
    let (mut bob_b, _) = open(&bob, &code).await;
    let (mut cat_b, _) = open(&cat, &code).await;
    host.recv_type("USER_JOINED").await;
    host.recv_type("USER_JOINED").await;
    bob_b.recv_type("USER_JOINED").await;

    // A role change over HTTP on A.
    let since = Instant::now();
    assert_eq!(
        put_role(&ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    let updated = within_a_second(&mut cat_b, "PARTICIPANT_UPDATED", since).await;
    assert_eq!(updated["participant"]["role"], "co_host");
    let capabilities = within_a_second(&mut bob_b, "CAPABILITIES", since).await;
    assert_eq!(caps(&capabilities), set(&CO_HOST_CAPS));

    // A's participants list sees B's sockets.
    let list = crate::together::participants(&ana, &code).await;
    assert!(
        list.iter().all(|p| p["is_connected"] == true),
        "every socket counts, whichever instance: {list:?}"
    );

    // A RATE from a socket on A.
    let since = Instant::now();
    host.send(json!({"type": "RATE", "rate": 1.5})).await;
    let rate = within_a_second(&mut cat_b, "RATE", since).await;
    assert_eq!(rate["by"], public(&ana));
    // And a co-host's SEEK on B reaches A.
    let since = Instant::now();
    bob_b.send(json!({"type": "SEEK", "time": 33.0})).await;
    let seek = within_a_second(&mut host, "SEEK", since).await;
    assert_eq!(seek["by"], public(&bob));
    assert_eq!(seek["version"], rate["version"].as_i64().unwrap() + 1);

    // A settings PATCH on A; a mute on A; the host handed over on B.
    let since = Instant::now();
    ana.patch(
        &format!("/api/rooms/{code}/"),
        json!({"control": "everyone"}),
    )
    .await;
    let updated = within_a_second(&mut cat_b, "ROOM_UPDATED", since).await;
    assert_eq!(updated["room"]["control"], "everyone");
    let capabilities = within_a_second(&mut cat_b, "CAPABILITIES", since).await;
    assert!(caps(&capabilities).contains("control_playback"));
    let since = Instant::now();
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/mutes/"),
            json!({"user_id": cat.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let capabilities = within_a_second(&mut cat_b, "CAPABILITIES", since).await;
    assert!(!caps(&capabilities).contains("chat"), "{capabilities}");
    cat_b
        .send(json!({"type": "CHAT_MESSAGE", "message": "hm"}))
        .await;
    assert_eq!(cat_b.recv_until("ERROR").await["code"], "muted");
    let since = Instant::now();
    let (status, body) = ana
        .on(&b)
        .post(
            &format!("/api/rooms/{code}/host/"),
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changed = within_a_second(&mut host, "HOST_CHANGED", since).await;
    assert_eq!(changed["host"], public(&bob));
    assert_eq!(changed["reason"], "transferred");
    within_a_second(&mut host, "ROOM_UPDATED", since).await;
    within_a_second(&mut host, "CAPABILITIES", since).await;
    for server in [&a, &b] {
        let body = room(&ana.on(server), &code).await;
        assert_eq!(body["room"]["host"], public(&bob));
        assert_eq!(body["playback"]["rate"], 1.5);
    }

    // A timed mute asked on A lapses on B's socket (rule 9: within 1 s of its end).
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/mutes/"),
            json!({"user_id": cat.id, "duration_secs": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let asked = Instant::now();
    loop {
        let updated = tokio::time::timeout(
            Duration::from_secs(3),
            cat_b.recv_until("PARTICIPANT_UPDATED"),
        )
        .await
        .expect("the lapse within 3 s of a 1 s mute");
        if updated["participant"]["is_muted"] == false {
            assert_eq!(updated["by"], Value::Null, "{updated}");
            break;
        }
    }
    assert!(
        asked.elapsed() <= Duration::from_millis(2100),
        "lapse after {:?}",
        asked.elapsed()
    );
    let capabilities = cat_b.recv_until("CAPABILITIES").await;
    assert!(caps(&capabilities).contains("chat"), "{capabilities}");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_reaches_a_socket_on_the_other_instance() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let cat = b.user("cat").await;
    let code = ana.create_room("across").await;
    for user in [&bob, &cat] {
        user.join(&code).await;
    }
    let (mut host, _) = open(&ana, &code).await;
    let (mut bob_b, _) = open(&bob, &code).await;
    let (mut bob_a, _) = open(&bob.on(&a), &code).await;
    let (mut cat_b, _) = open(&cat, &code).await;
    host.recv_type("USER_JOINED").await;
    host.recv_type("USER_JOINED").await;

    let since = Instant::now();
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/kicks/"),
            json!({"user_id": bob.id, "reason": "out"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for socket in [&mut bob_b, &mut bob_a] {
        let removed = within_a_second(socket, "REMOVED", since).await;
        assert_eq!(removed["action"], "kicked");
        assert_eq!(removed["reason"], "out");
        assert_eq!(socket.closed_with().await, Some(4003));
    }
    for socket in [&mut cat_b, &mut host] {
        let removed = within_a_second(socket, "PARTICIPANT_REMOVED", since).await;
        assert_eq!(removed["user"], public(&bob));
        let left = socket.recv_type("USER_LEFT").await;
        assert_eq!(left["user"]["id"], bob.id, "one USER_LEFT after it");
        socket.expect_silence(QUIET).await;
    }
    for server in [&a, &b] {
        let answer = bob
            .on(server)
            .post_empty(&format!("/api/rooms/{code}/join/"))
            .await;
        assert_eq!(answer.0, StatusCode::FORBIDDEN, "{}", answer.1);
        assert_eq!(answer.1["error"]["code"], "banned");
        assert_eq!(
            bob.on(server).connect(&code).await.err(),
            Some(StatusCode::FORBIDDEN)
        );
    }

    // A ban on B closes cat's socket on B with 4004, and A's host learns it.
    let since = Instant::now();
    let (status, body) = ana
        .on(&b)
        .post(
            &format!("/api/rooms/{code}/bans/"),
            json!({"user_id": cat.id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let removed = within_a_second(&mut cat_b, "REMOVED", since).await;
    assert_eq!(removed["action"], "banned");
    assert_eq!(cat_b.closed_with().await, Some(4004));
    within_a_second(&mut host, "PARTICIPANT_REMOVED", since).await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_role_flips_through_both_instances_leave_one_list() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let code = ana.create_room("flips").await;
    let mut people = vec![ana.clone()];
    let mut sockets = Vec::new();
    let mut owners = Vec::new();
    let (socket, _) = open(&ana, &code).await;
    sockets.push(socket);
    owners.push(ana.id);
    for (n, name) in ["bob", "cat", "dan"].into_iter().enumerate() {
        let user = if n % 2 == 0 {
            b.user(name).await
        } else {
            a.user(name).await
        };
        user.join(&code).await;
        // One socket on each instance.
        for server in [&a, &b] {
            let (socket, _) = open(&user.on(server), &code).await;
            sockets.push(socket);
            owners.push(user.id);
        }
        people.push(user);
    }
    let readers = listen(sockets);
    let host_b = ana.on(&b);
    let started = Instant::now();
    let last = flip_roles(&[&ana, &host_b], &code, &people[1..], 1000).await;
    eprintln!(
        "1 000 role flips through two instances in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    for server in [&a, &b] {
        assert_consistent(&ana.on(server), &code, &people, &last).await;
    }
    check_transcripts(readers, &owners, &last).await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_promote_the_same_room_once() {
    let a = TestServer::production().host_grace_secs(1).start().await;
    let b = a.sibling().start().await;
    for round in 0..3 {
        let ana = a.user("ana").await;
        let code = ana.create_room("relay").await;
        let (status, body) = ana
            .patch(
                &format!("/api/rooms/{code}/"),
                json!({"on_host_timeout": "promote"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut watchers: Vec<(TestUser, WsClient)> = Vec::new();
        for (n, server) in [&a, &b, &a, &b].into_iter().enumerate() {
            let user = server.user(&format!("w{n}")).await;
            user.join(&code).await;
            let (socket, _) = open(&user, &code).await;
            watchers.push((user, socket));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let epoch = room(&ana, &code).await["room"]["host_epoch"]
            .as_i64()
            .unwrap();
        let (host, _) = open(&ana, &code).await;
        host.close().await;
        let first = watchers[0].0.clone();
        for (i, (_, socket)) in watchers.iter_mut().enumerate() {
            let mut seen = Vec::new();
            // Grace 1 s, the decision within 2 s, then a quiet moment.
            let deadline = Instant::now() + Duration::from_secs(4);
            while Instant::now() < deadline {
                match socket.try_recv(Duration::from_millis(200)).await {
                    Some(m) => seen.push(m),
                    None if socket.is_closed() => break,
                    None => {}
                }
            }
            let changes: Vec<&Value> = seen
                .iter()
                .filter(|m| m["type"] == "HOST_CHANGED")
                .collect();
            assert_eq!(
                changes.len(),
                1,
                "round {round}, socket {i}: one HOST_CHANGED: {:?}",
                types(&seen)
            );
            assert_eq!(changes[0]["reason"], "promoted");
            assert_eq!(changes[0]["host"], public(&first), "the first who joined");
            assert_eq!(changes[0]["host_epoch"].as_i64(), Some(epoch + 1));
            assert!(!types(&seen).contains(&"ROOM_CLOSED"), "{seen:?}");
        }
        for server in [&a, &b] {
            let body = room(&ana.on(server), &code).await;
            assert_eq!(body["room"]["host"], public(&first));
            assert_eq!(body["room"]["host_epoch"].as_i64(), Some(epoch + 1));
            assert_eq!(body["room"]["status"], "open");
        }
        let audit = crate::together::audit(&first, &code, "").await;
        let promotions = audit
            .iter()
            .filter(|e| e["action"] == "host_changed")
            .count();
        assert_eq!(promotions, 1, "recorded once: {audit:?}");
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_host_changes_on_two_instances_make_one_host() {
    let a = TestServer::production().host_grace_secs(30).start().await;
    let b = a.sibling().start().await;
    for round in 0..3 {
        let ana = a.user("ana").await;
        let bob = a.user("bob").await;
        let cat = b.user("cat").await;
        let code = ana.create_room("race").await;
        bob.join(&code).await;
        cat.join(&code).await;
        for user in [&bob, &cat] {
            assert_eq!(
                put_role(&ana, &code, user.id, "co_host").await.0,
                StatusCode::OK
            );
        }
        let (mut bob_a, _) = open(&bob, &code).await;
        let (mut cat_b, _) = open(&cat, &code).await;
        let (host, _) = open(&ana, &code).await;
        host.close().await;
        for socket in [&mut bob_a, &mut cat_b] {
            socket.recv_until("HOST_DISCONNECTED").await;
        }
        let epoch = room(&ana, &code).await["room"]["host_epoch"]
            .as_i64()
            .unwrap();

        // Both co-hosts claim at once, one through each instance.
        let path = format!("/api/rooms/{code}/host/");
        let (by_bob, by_cat) = tokio::join!(
            bob.post(&path, json!({"user_id": bob.id})),
            cat.post(&path, json!({"user_id": cat.id})),
        );
        let won: Vec<bool> = [&by_bob, &by_cat]
            .iter()
            .map(|(s, _)| *s == StatusCode::OK)
            .collect();
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one claim wins: {by_bob:?} {by_cat:?}"
        );
        let loser = if won[0] { &by_cat } else { &by_bob };
        assert_eq!(
            loser.0,
            StatusCode::FORBIDDEN,
            "no longer in grace: {loser:?}"
        );
        let winner = if won[0] { &bob } else { &cat };
        for socket in [&mut bob_a, &mut cat_b] {
            let (changed, _) = crate::together::until(socket, "HOST_CHANGED").await;
            assert_eq!(changed["host"], public(winner));
            assert_eq!(changed["reason"], "claimed");
            assert_eq!(changed["host_epoch"].as_i64(), Some(epoch + 1));
            let rest = crate::together::gather(socket, QUIET).await;
            assert!(
                !types(&rest).contains(&"HOST_CHANGED"),
                "one change: {rest:?}"
            );
        }
        for server in [&a, &b] {
            let body = room(&ana.on(server), &code).await;
            assert_eq!(body["room"]["host"], public(winner));
            assert_eq!(body["room"]["host_epoch"].as_i64(), Some(epoch + 1));
        }
    }
    b.stop().await;
    a.stop().await;
}

/// Two instances; Ana hosts on A, Bob co-hosts on B and Cat watches on B,
/// each with a socket open.
pub(super) struct Duel {
    pub(super) a: TestServer,
    pub(super) b: TestServer,
    pub(super) ana: TestUser,
    pub(super) bob: TestUser,
    pub(super) cat: TestUser,
    pub(super) code: String,
    pub(super) host: WsClient,
    pub(super) co_host: WsClient,
    pub(super) watcher: WsClient,
}

impl Duel {
    pub(super) async fn start() -> Duel {
        let a = TestServer::production().start().await;
        let b = a.sibling().start().await;
        let ana = a.user("ana").await;
        let bob = b.user("bob").await;
        let cat = b.user("cat").await;
        let code = ana.create_room("duel").await;
        bob.join(&code).await;
        cat.join(&code).await;
        assert_eq!(
            put_role(&ana, &code, bob.id, "co_host").await.0,
            StatusCode::OK
        );
        let (host, _) = open(&ana, &code).await;
        let (co_host, _) = open(&bob, &code).await;
        let (watcher, _) = open(&cat, &code).await;
        Duel {
            a,
            b,
            ana,
            bob,
            cat,
            code,
            host,
            co_host,
            watcher,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_on_two_instances_acting_on_one_version_never_both_win() {
    let Duel {
        a,
        b,
        ana,
        code,
        mut host,
        mut co_host,
        mut watcher,
        ..
    } = Duel::start().await;
    crate::together::rate::duel(&ana, &code, [&mut host, &mut co_host], &mut watcher, 10).await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_commands_on_two_instances_get_distinct_versions() {
    let Duel {
        a,
        b,
        ana,
        cat,
        code,
        mut host,
        mut co_host,
        mut watcher,
        ..
    } = Duel::start().await;
    for round in 0..10 {
        let version = room(&ana, &code).await["playback"]["version"]
            .as_i64()
            .unwrap();
        let (ta, tb) = (f64::from(round) * 10.0 + 1.0, f64::from(round) * 10.0 + 2.0);
        tokio::join!(
            host.send(json!({"type": "SEEK", "time": ta})),
            co_host.send(json!({"type": "SEEK", "time": tb})),
        );
        let seeks: Vec<Value> = crate::together::gather(&mut watcher, Duration::from_millis(600))
            .await
            .into_iter()
            .filter(|m| m["type"] == "SEEK")
            .collect();
        // Both instances and the last SEEK announced tell the same state.
        let mut states = Vec::new();
        for server in [&a, &b] {
            let mut playback = room(&cat.on(server), &code).await["playback"].clone();
            playback.as_object_mut().unwrap().remove("server_time");
            states.push(playback);
        }
        assert_eq!(states[0], states[1], "round {round}: A and B disagree");
        let last = seeks.last().expect("a SEEK");
        assert_eq!(
            states[0]["time"], last["time"],
            "round {round}: {seeks:?} {states:?}"
        );
        // Each change has its own version: v + 1, then v + 2.
        let versions: Vec<i64> = seeks
            .iter()
            .map(|m| m["version"].as_i64().unwrap())
            .collect();
        assert_eq!(
            versions,
            vec![version + 1, version + 2],
            "round {round}: {seeks:?}"
        );
        assert_eq!(states[0]["version"].as_i64(), Some(version + 2));
        crate::together::gather(&mut host, Duration::from_millis(100)).await;
        crate::together::gather(&mut co_host, Duration::from_millis(100)).await;
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_mute_lapses_once_whatever_instances_sweep() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let code = ana.create_room("lapse").await;
    bob.join(&code).await;
    let (mut host, _) = open(&ana, &code).await;
    let (mut on_b, _) = open(&bob, &code).await;
    let (mut on_a, _) = open(&bob.on(&a), &code).await;
    host.recv_type("USER_JOINED").await;
    for round in 0..5 {
        let (status, body) = ana
            .post(
                &format!("/api/rooms/{code}/mutes/"),
                json!({"user_id": bob.id, "duration_secs": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let wait = Duration::from_millis(2800);
        let (x, y, z) = tokio::join!(
            crate::together::gather(&mut host, wait),
            crate::together::gather(&mut on_b, wait),
            crate::together::gather(&mut on_a, wait),
        );
        for (name, seen) in [("host", x), ("bob on B", y), ("bob on A", z)] {
            let lapses = seen
                .iter()
                .filter(|m| {
                    m["type"] == "PARTICIPANT_UPDATED" && m["participant"]["is_muted"] == false
                })
                .count();
            assert_eq!(lapses, 1, "round {round}, {name}: one lapse: {seen:?}");
        }
        let entries = crate::together::audit(&ana, &code, "?limit=5").await;
        let unmutes = entries
            .iter()
            .take_while(|e| e["action"] != "muted")
            .count();
        assert!(
            unmutes <= 1,
            "the lapse is recorded at most once: {entries:?}"
        );
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_handing_over_twice_at_once_through_two_instances_hands_over_once() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    for round in 0..3 {
        let ana = a.user("ana").await;
        let bob = a.user("bob").await;
        let cat = b.user("cat").await;
        let code = ana.create_room("race").await;
        bob.join(&code).await;
        cat.join(&code).await;
        let (mut host, _) = open(&ana, &code).await;
        let (mut bob_a, _) = open(&bob, &code).await;
        let (mut cat_b, _) = open(&cat, &code).await;
        let epoch = room(&ana, &code).await["room"]["host_epoch"]
            .as_i64()
            .unwrap();
        let path = format!("/api/rooms/{code}/host/");
        let ana_b = ana.on(&b);
        let (to_bob, to_cat) = tokio::join!(
            ana.post(&path, json!({"user_id": bob.id})),
            ana_b.post(&path, json!({"user_id": cat.id})),
        );
        let wins = [&to_bob, &to_cat]
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .count();
        assert_eq!(
            wins, 1,
            "round {round}: one hand-over: {to_bob:?} {to_cat:?}"
        );
        for socket in [&mut host, &mut bob_a, &mut cat_b] {
            let seen = crate::together::gather(socket, Duration::from_millis(700)).await;
            let changes: Vec<&Value> = seen
                .iter()
                .filter(|m| m["type"] == "HOST_CHANGED")
                .collect();
            assert_eq!(changes.len(), 1, "round {round}: {seen:?}");
            assert_eq!(changes[0]["host_epoch"].as_i64(), Some(epoch + 1));
        }
    }
    b.stop().await;
    a.stop().await;
}

/// How long the other instance may take to learn of a player state (§7–12:
/// within 1 s).
const PROPAGATION: Duration = Duration::from_millis(1100);

/// Two instances: Ana hosts on A with Cat watching there; Bob and Dan watch
/// on B. Bob's player reports `state`; nobody else's does.
struct Spread {
    a: TestServer,
    b: TestServer,
    ana: TestUser,
    bob: TestUser,
    code: String,
    /// Ana's and Cat's sockets (A), then Bob's and Dan's (B).
    sockets: Vec<WsClient>,
}

impl Spread {
    async fn start(state: &str) -> Spread {
        let a = TestServer::production().start().await;
        let b = a.sibling().start().await;
        let ana = a.user("ana").await;
        let cat = a.user("cat").await;
        let bob = b.user("bob").await;
        let dan = b.user("dan").await;
        let code = ana.create_room("together").await;
        for user in [&cat, &bob, &dan] {
            user.join(&code).await;
        }
        let mut sockets = Vec::new();
        for user in [&ana, &cat, &bob, &dan] {
            sockets.push(open(user, &code).await.0);
        }
        for socket in sockets.iter_mut() {
            crate::together::gather(socket, QUIET).await;
        }
        report(&mut sockets[2], state).await;
        tokio::time::sleep(PROPAGATION).await;
        Spread {
            a,
            b,
            ana,
            bob,
            code,
            sockets,
        }
    }

    async fn stop(self) {
        self.b.stop().await;
        self.a.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_across_two_instances_ends_with_one_play_per_socket() {
    let mut spread = Spread::start("ready").await;
    let bob = spread.bob.clone();
    for round in 0..3 {
        let held = 10.0 * f64::from(round + 1);
        spread.sockets[0]
            .send(json!({"type": "PLAY", "time": held}))
            .await;
        wait_starts_everywhere(
            spread.sockets.iter_mut().collect(),
            held,
            &who(&[&bob]),
            "play",
            DEADLINE,
        )
        .await;
        // Bob's ready on B ends the wait that A's host started: once.
        spread.sockets[2]
            .send(json!({"type": "PLAYER_STATE", "state": "ready"}))
            .await;
        wait_ends_everywhere(spread.sockets.iter_mut().collect(), held, None, DEADLINE).await;
        for server in [&spread.a, &spread.b] {
            let state = room(&spread.ana.on(server), &spread.code).await["playback"].clone();
            assert_eq!(state["is_playing"], true, "round {round}: {state}");
            assert_eq!(state.get("waiting"), Some(&Value::Null), "{state}");
        }
        spread.sockets[0]
            .send(json!({"type": "PAUSE", "time": held + 5.0}))
            .await;
        for socket in spread.sockets.iter_mut().skip(1) {
            socket.recv_type("PAUSE").await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    spread.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_across_two_instances_is_announced_once_on_both() {
    let mut spread = Spread::start("loading").await;
    let bob = spread.bob.clone();
    spread.sockets[0]
        .send(json!({"type": "PLAY", "time": 5.0}))
        .await;
    let (_, waiting) = wait_starts_everywhere(
        spread.sockets.iter_mut().collect(),
        5.0,
        &who(&[&bob]),
        "play",
        DEADLINE,
    )
    .await;
    // The state on B tells the wait A started.
    let state = room(&bob, &spread.code).await["playback"].clone();
    assert_eq!(state["waiting"]["deadline"], waiting["deadline"], "{state}");
    // Bob never gets ready: WAIT_SKIPPED, then one PLAY, on every socket of
    // both instances.
    wait_ends_everywhere(
        spread.sockets.iter_mut().collect(),
        5.0,
        Some(&who(&[&bob])),
        DEADLINE + Duration::from_secs(3),
    )
    .await;
    spread.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_stats_reach_a_controller_on_the_other_instance() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let code = ana.create_room("telemetry").await;
    bob.join(&code).await;
    let (mut host, _) = open(&ana, &code).await;
    let (mut viewer, _) = open(&bob, &code).await;
    host.recv_type("USER_JOINED").await;
    host.send(json!({"type": "PLAY", "time": 100.0})).await;
    let play = viewer.recv_type("PLAY").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // B computes the drift from the state A set.
    sync_report(&mut viewer, &play, 2.0, 25).await;
    assert_drift(&your_sync(&mut viewer).await, 2000.0);
    let stats = next_of(&mut host, "SYNC_STATS", Duration::from_secs(8)).await;
    let users = stats["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{stats}");
    assert_eq!(users[0]["user"], public(&bob));
    assert!(
        (users[0]["drift_ms"].as_f64().unwrap() - 2000.0).abs() <= 60.0,
        "{stats}"
    );
    assert_eq!(users[0]["rtt_ms"].as_f64(), Some(25.0), "{stats}");
    // Only controllers: the viewer on B hears none.
    let seen = crate::together::gather(&mut viewer, QUIET).await;
    assert!(!types(&seen).contains(&"SYNC_STATS"), "{seen:?}");
    b.stop().await;
    a.stop().await;
}

/// The fields of a Redis hash.
fn hash(url: &str, key: &str) -> std::collections::HashMap<String, String> {
    let lines: Vec<String> = redis_cli(url, &["HGETALL", key])
        .lines()
        .map(str::to_owned)
        .collect();
    lines
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

/// Polls `check` for up to 1.5 s (an instance learns within 1 s).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_millis(1500);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_ready_and_sync_keys_in_redis_are_the_contracts() {
    let mut spread = Spread::start("ready").await;
    let redis = test_redis();
    let prefix = spread.a.redis_prefix().to_owned();
    let key = |what: &str| format!("{prefix}:room:{}:{what}", spread.code);
    let bob_id = spread.bob.id.to_string();
    let ana_id = spread.ana.id.to_string();

    // Only users who report a player state are in the ready hash.
    let ready = hash(&redis, &key("ready"));
    assert_eq!(
        ready.get(&bob_id).map(String::as_str),
        Some("ready"),
        "{ready:?}"
    );
    assert!(
        !ready.contains_key(&ana_id),
        "Ana never reported: {ready:?}"
    );
    assert_eq!(redis_cli(&redis, &["EXISTS", &key("wait")]), "0");

    spread.sockets[0]
        .send(json!({"type": "PLAY", "time": 10.0}))
        .await;
    let (pause, waiting) = wait_starts_everywhere(
        spread.sockets.iter_mut().collect(),
        10.0,
        &who(&[&spread.bob]),
        "play",
        DEADLINE,
    )
    .await;
    let wait = hash(&redis, &key("wait"));
    assert_eq!(
        wait.get("reason").map(String::as_str),
        Some("play"),
        "{wait:?}"
    );
    assert_eq!(
        wait.get("deadline").and_then(|d| d.parse::<i64>().ok()),
        waiting["deadline"].as_i64(),
        "{wait:?}"
    );
    assert_eq!(
        wait.get("version").and_then(|v| v.parse::<i64>().ok()),
        pause["version"].as_i64(),
        "the version at which the wait started: {wait:?}"
    );
    // Bob's player loads: not ready.
    report(&mut spread.sockets[2], "loading").await;
    eventually("Bob's loading player makes him not_ready", || {
        hash(&redis, &key("ready")).get(&bob_id).map(String::as_str) == Some("not_ready")
    })
    .await;

    tell(&mut spread.sockets[2], "ready").await;
    wait_ends_everywhere(spread.sockets.iter_mut().collect(), 10.0, None, DEADLINE).await;
    eventually("the wait key goes with the wait", || {
        redis_cli(&redis, &["EXISTS", &key("wait")]) == "0"
    })
    .await;
    assert_eq!(
        hash(&redis, &key("ready")).get(&bob_id).map(String::as_str),
        Some("ready")
    );

    // A sync report: the sync hash, expiring 30 s after it.
    let play = room(&spread.bob, &spread.code).await["playback"].clone();
    sync_report(&mut spread.sockets[2], &play, 0.5, 20).await;
    assert_drift(&your_sync(&mut spread.sockets[2]).await, 500.0);
    eventually("Bob's report is in the sync hash", || {
        redis_cli(&redis, &["HEXISTS", &key("sync"), &bob_id]) == "1"
    })
    .await;
    let ttl: i64 = redis_cli(&redis, &["TTL", &key("sync")]).parse().unwrap();
    assert!(
        (1..=30).contains(&ttl),
        "expires 30 s after the last report: TTL {ttl}"
    );
    spread.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_set_wait_count_across_instances() {
    let mut spread = Spread::start("ready").await;
    let bob = spread.bob.clone();
    // Bob has a second player, on A, still loading.
    let (mut bob_a, _) = open(&bob.on(&spread.a), &spread.code).await;
    report(&mut bob_a, "loading").await;
    tokio::time::sleep(PROPAGATION).await;
    spread.sockets[0]
        .send(json!({"type": "PLAY", "time": 4.0}))
        .await;
    let mut all: Vec<&mut WsClient> = spread.sockets.iter_mut().collect();
    all.push(&mut bob_a);
    wait_starts_everywhere(all, 4.0, &who(&[&bob]), "play", DEADLINE).await;
    // His player on A gets ready: Bob is ready, whichever instance heard it.
    tell(&mut bob_a, "ready").await;
    let mut all: Vec<&mut WsClient> = spread.sockets.iter_mut().collect();
    all.push(&mut bob_a);
    wait_ends_everywhere(all, 4.0, None, DEADLINE).await;
    spread.sockets[0]
        .send(json!({"type": "PAUSE", "time": 5.0}))
        .await;
    for socket in spread.sockets.iter_mut().skip(1) {
        socket.recv_type("PAUSE").await;
    }
    bob_a.recv_type("PAUSE").await;

    // Out of waits, said on B: the host's PLAY on A applies at once.
    spread.sockets[2]
        .send(json!({"type": "SET_WAIT", "wait": false}))
        .await;
    crate::together::waits::barrier(&mut spread.sockets[2]).await;
    tokio::time::sleep(PROPAGATION).await;
    spread.sockets[0]
        .send(json!({"type": "PLAY", "time": 5.0}))
        .await;
    for socket in spread.sockets.iter_mut().skip(1) {
        let play = socket.recv().await;
        assert_eq!(play["type"], "PLAY", "nobody to wait for: {play}");
        assert_eq!(play["by"], public(&spread.ana), "{play}");
    }
    assert_eq!(bob_a.recv_type("PLAY").await["by"], public(&spread.ana));
    spread.sockets[0].expect_silence(QUIET).await;
    spread.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_outlives_the_instance_that_started_it() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = b.user("ana").await;
    let bob = b.user("bob").await;
    let cat = a.user("cat").await;
    let code = ana.create_room("relay").await;
    for user in [&bob, &cat] {
        user.join(&code).await;
    }
    assert_eq!(
        put_role(&ana, &code, cat.id, "co_host").await.0,
        StatusCode::OK
    );
    let (mut host, _) = open(&ana, &code).await;
    let (mut viewer, _) = open(&bob, &code).await;
    let (mut co_host, _) = open(&cat, &code).await;
    for socket in [&mut host, &mut viewer, &mut co_host] {
        crate::together::gather(socket, QUIET).await;
    }
    report(&mut viewer, "loading").await;
    tokio::time::sleep(PROPAGATION).await;
    // The co-host on A starts a wait; then A goes away.
    co_host.send(json!({"type": "PLAY", "time": 9.0})).await;
    let (_, waiting) = wait_starts_everywhere(
        vec![&mut host, &mut viewer, &mut co_host],
        9.0,
        &who(&[&bob]),
        "play",
        DEADLINE,
    )
    .await;
    a.stop().await;
    // B keeps the deadline: Bob is named, then one PLAY.
    let mut seen = Vec::new();
    let end = Instant::now() + DEADLINE + Duration::from_secs(4);
    for socket in [&mut host, &mut viewer] {
        loop {
            let m = socket
                .try_recv(end.saturating_duration_since(Instant::now()))
                .await
                .unwrap_or_else(|| panic!("no PLAY after the deadline: {seen:?}"));
            let done = m["type"] == "PLAY";
            seen.push(m);
            if done {
                break;
            }
        }
        let kinds = types(&seen);
        let skipped = kinds.iter().position(|k| *k == "WAIT_SKIPPED");
        assert!(skipped.is_some(), "WAIT_SKIPPED before the PLAY: {seen:?}");
        let play = seen.last().unwrap();
        assert_eq!(play["by"], Value::Null, "{play}");
        assert!(
            play["server_time"].as_i64() >= waiting["deadline"].as_i64(),
            "{play} {waiting}"
        );
        seen.clear();
    }
    for socket in [&mut host, &mut viewer] {
        let rest = crate::together::gather(socket, QUIET).await;
        assert!(!types(&rest).contains(&"PLAY"), "once: {rest:?}");
    }
    b.stop().await;
}
