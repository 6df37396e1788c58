//! §7 host continuity: transfer, reclaim, claim during grace, promotion on
//! timeout, and rules 5, 7 and 8 of §13.

use super::*;
use watchparty_testkit::TestServer;

/// `POST …/host/` `{"user_id": to}` by `actor`.
async fn hand(actor: &TestUser, code: &str, to: Value) -> (StatusCode, Value) {
    actor
        .post(&format!("/api/rooms/{code}/host/"), json!({"user_id": to}))
        .await
}

/// Asserts a `HOST_CHANGED` message.
#[track_caller]
fn assert_host_changed(m: &Value, host: &TestUser, previous: &TestUser, reason: &str, epoch: i64) {
    assert_eq!(m["type"], "HOST_CHANGED", "{m}");
    assert_eq!(m["host"], public(host), "{m}");
    assert_eq!(m["previous"], public(previous), "{m}");
    assert_eq!(m["reason"], reason, "{m}");
    assert_eq!(m["host_epoch"].as_i64(), Some(epoch), "{m}");
}

/// The messages of interest in order, presence traffic left out.
fn relevant(messages: &[Value]) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| m["type"] != "USER_JOINED" && m["type"] != "USER_LEFT")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handing_over_sends_host_changed_room_updated_then_capabilities() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, _cat) = (&people[0], &people[1], &people[2]);
    let epoch = room(ana, &code).await["room"]["host_epoch"]
        .as_i64()
        .unwrap();
    ana.patch(&format!("/api/rooms/{code}/"), json!({"name": "renamed"}))
        .await;
    for socket in sockets.iter_mut() {
        socket.recv_type("ROOM_UPDATED").await;
    }

    let (status, body) = hand(ana, &code, json!(bob.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["host"], public(bob));
    assert_eq!(body["room"]["owner"], public(ana), "the owner stays");
    assert_eq!(body["room"]["host_epoch"].as_i64(), Some(epoch + 1));

    for (i, socket) in sockets.iter_mut().enumerate() {
        let seen = relevant(&gather(socket, Duration::from_millis(700)).await);
        let concerned = i < 2;
        let expected: Vec<&str> = if concerned {
            vec!["HOST_CHANGED", "ROOM_UPDATED", "CAPABILITIES"]
        } else {
            vec!["HOST_CHANGED", "ROOM_UPDATED"]
        };
        assert_eq!(types(&seen), expected, "socket {i} (rule 8): {seen:?}");
        assert_host_changed(&seen[0], bob, ana, "transferred", epoch + 1);
        assert_eq!(seen[1]["room"]["host"], public(bob));
        if concerned {
            let role = if i == 0 { "co_host" } else { "host" };
            assert_eq!(seen[2]["role"], role, "socket {i}: {}", seen[2]);
            let want = if i == 0 {
                set(&CO_HOST_CAPS)
            } else {
                set(&HOST_CAPS)
            };
            assert_eq!(caps(&seen[2]), want);
        }
    }
    let list = participants(ana, &code).await;
    assert_eq!(roster(&list)[0], (bob.id, "host".to_owned()));
    assert_eq!(
        roster(&list)[1],
        (ana.id, "co_host".to_owned()),
        "the previous host becomes co-host"
    );

    // The new host drives; the old one, a co-host now, still may.
    sockets[1].send(json!({"type": "PLAY", "time": 1.0})).await;
    assert_eq!(sockets[2].recv_type("PLAY").await["by"], public(bob));

    let entries = audit(bob, &code, "?limit=1").await;
    assert_eq!(entries[0]["action"], "host_changed", "{entries:?}");
    assert_eq!(entries[0]["actor"], public(ana));
    assert_eq!(entries[0]["target"], public(bob));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_endpoint_refuses_what_the_contract_refuses() {
    let server = TestServer::builder().host_grace_secs(1).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let dan = server.user("dan").await;
    dan.join(&code).await; // a participant, never connected
    let stranger = server.user("eve").await;
    let path = format!("/api/rooms/{code}/host/");

    for body in [
        json!({}),
        json!({"user_id": "bob"}),
        json!({"user_id": null}),
    ] {
        let answer = ana.post(&path, body.clone()).await;
        refused(
            &format!("POST host {body}"),
            &answer,
            StatusCode::BAD_REQUEST,
            "validation_error",
        );
    }
    refused(
        "a viewer handing over",
        &hand(cat, &code, json!(bob.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        "a viewer claiming",
        &hand(cat, &code, json!(cat.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    refused(
        "a co-host claiming outside grace",
        &hand(bob, &code, json!(bob.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        "handing to a non-participant",
        &hand(ana, &code, json!(stranger.id)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "an unknown room",
        &hand(ana, "ZZZZZZZZZZ", json!(bob.id)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "handing to a participant who is not connected",
        &hand(ana, &code, json!(dan.id)).await,
        StatusCode::CONFLICT,
        "not_connected",
    );
    // Handing the room to its current host changes nothing (rule 8).
    let epoch = room(ana, &code).await["room"]["host_epoch"].clone();
    let (status, body) = hand(ana, &code, json!(ana.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["host_epoch"], epoch);
    for socket in sockets.iter_mut() {
        let seen = relevant(&gather(socket, QUIET).await);
        assert!(
            seen.iter()
                .all(|m| m["type"] == "PARTICIPANT_UPDATED" || m["type"] == "CAPABILITIES"),
            "only the appointment's messages: {seen:?}"
        );
        assert!(!types(&seen).contains(&"HOST_CHANGED"), "{seen:?}");
    }
    assert!(audit(ana, &code, "")
        .await
        .iter()
        .all(|e| e["action"] != "host_changed"));

    // Grace runs out with the default on_host_timeout: closed, 410.
    let host_socket = sockets.remove(0);
    host_socket.close().await;
    for socket in sockets.iter_mut() {
        socket.recv_until("ROOM_CLOSED").await;
    }
    refused(
        "a closed room",
        &hand(ana, &code, json!(ana.id)).await,
        StatusCode::GONE,
        "room_closed",
    );
    refused(
        "a closed room, claim",
        &hand(bob, &code, json!(bob.id)).await,
        StatusCode::GONE,
        "room_closed",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_takes_the_room_back_while_connected() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    assert_eq!(hand(ana, &code, json!(bob.id)).await.0, StatusCode::OK);
    for socket in sockets.iter_mut() {
        socket.recv_until("ROOM_UPDATED").await;
    }
    for socket in sockets.iter_mut().take(2) {
        socket.recv_until("CAPABILITIES").await;
    }
    // The new host hands on to a viewer; the owner still reclaims.
    assert_eq!(hand(bob, &code, json!(cat.id)).await.0, StatusCode::OK);
    let epoch = room(ana, &code).await["room"]["host_epoch"]
        .as_i64()
        .unwrap();
    for socket in sockets.iter_mut() {
        let changed = socket.recv_until("HOST_CHANGED").await;
        assert_host_changed(&changed, cat, bob, "transferred", epoch);
        socket.recv_until("ROOM_UPDATED").await;
    }
    for socket in sockets.iter_mut().skip(1) {
        socket.recv_until("CAPABILITIES").await;
    }
    let (status, body) = hand(ana, &code, json!(ana.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["host"], public(ana));
    for (i, socket) in sockets.iter_mut().enumerate() {
        let seen = relevant(&gather(socket, Duration::from_millis(600)).await);
        let expected: Vec<&str> = if i == 1 {
            vec!["HOST_CHANGED", "ROOM_UPDATED"] // bob is not concerned
        } else {
            vec!["HOST_CHANGED", "ROOM_UPDATED", "CAPABILITIES"]
        };
        assert_eq!(types(&seen), expected, "socket {i}: {seen:?}");
        assert_host_changed(&seen[0], ana, cat, "reclaimed", epoch + 1);
    }
    let list = participants(ana, &code).await;
    assert_eq!(
        roster(&list)[0..3].to_vec(),
        vec![
            (ana.id, "host".to_owned()),
            (bob.id, "co_host".to_owned()),
            (cat.id, "co_host".to_owned()),
        ],
        "both previous hosts are co-hosts now"
    );
    // Only the owner reclaims: a co-host naming the owner is not the owner.
    refused(
        "a co-host handing to the owner",
        &hand(bob, &code, json!(ana.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // The owner takes the room back for herself; she hands it on only as host.
    let (status, body) = hand(ana, &code, json!(bob.id)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner is the host again: {body}"
    );
    refused(
        "the owner, not host, handing to someone else",
        &hand(ana, &code, json!(cat.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_reclaiming_while_away_starts_grace_at_once() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, _cat) = (&people[0], &people[1], &people[2]);
    assert_eq!(hand(ana, &code, json!(bob.id)).await.0, StatusCode::OK);
    sockets[1].send(json!({"type": "PLAY", "time": 10.0})).await;
    for socket in pick(&mut sockets, &[0, 2]) {
        socket.recv_until("PLAY").await;
    }
    let ana_socket = sockets.remove(0);
    ana_socket.close().await;
    for socket in sockets.iter_mut() {
        socket.recv_until("USER_LEFT").await;
    }

    // Away, the owner takes the room back over HTTP alone.
    let (status, body) = hand(ana, &code, json!(ana.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["host"], public(ana));
    for (i, socket) in sockets.iter_mut().enumerate() {
        let seen = relevant(&gather(socket, Duration::from_millis(800)).await);
        let kinds = types(&seen);
        let at = |kind: &str| {
            kinds
                .iter()
                .position(|k| *k == kind)
                .unwrap_or_else(|| panic!("socket {i}: no {kind} in {seen:?}"))
        };
        assert_eq!(seen[0]["type"], "HOST_CHANGED", "socket {i}: {seen:?}");
        assert_eq!(seen[0]["reason"], "reclaimed");
        assert!(at("HOST_CHANGED") < at("ROOM_UPDATED"), "{seen:?}");
        let away = at("HOST_DISCONNECTED");
        assert_eq!(
            kinds.get(away + 1),
            Some(&"PLAYBACK_STATE"),
            "rule 5: HOST_DISCONNECTED then PLAYBACK_STATE: {seen:?}"
        );
        let deadline = seen[away]["grace_expires_at"].as_str().unwrap();
        let left = seconds_until(deadline);
        assert!((28.0..=30.5).contains(&left), "a fresh deadline: {left} s");
        assert_eq!(seen[away]["grace_seconds"], 30);
        let frozen = &seen[away + 1];
        assert_eq!(frozen["is_playing"], false, "{frozen}");
        assert_eq!(
            frozen["by"],
            Value::Null,
            "a grace freeze has by null: {frozen}"
        );
        assert!(!kinds.contains(&"HOST_RECONNECTED"), "{seen:?}");
    }
    assert_eq!(room(bob, &code).await["room"]["status"], "grace");

    // Her return ends the grace as §5 says.
    let (mut back, [state, presence, _]) = open(ana, &code).await;
    assert_eq!(state["is_playing"], true, "resumed: {state}");
    assert_eq!(presence["host_status"], "online");
    for socket in sockets.iter_mut() {
        let (_, before) = until(socket, "HOST_RECONNECTED").await;
        assert!(!types(&before).contains(&"HOST_CHANGED"), "{before:?}");
        let resumed = socket.recv_type("PLAYBACK_STATE").await;
        assert_eq!(resumed["is_playing"], true);
        assert_eq!(resumed["by"], Value::Null);
    }
    back.expect_silence(Duration::from_millis(100)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_co_host_claims_the_room_during_grace_and_it_stays_paused() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    sockets[0].send(json!({"type": "PLAY", "time": 20.0})).await;
    sockets[2].recv_until("PLAY").await;
    let host_socket = sockets.remove(0);
    host_socket.close().await;
    let mut frozen_version = 0;
    for socket in sockets.iter_mut() {
        socket.recv_until("HOST_DISCONNECTED").await;
        let frozen = socket.recv_type("PLAYBACK_STATE").await;
        assert_eq!(frozen["by"], Value::Null, "{frozen}");
        frozen_version = frozen["version"].as_i64().unwrap();
    }
    let frozen = room(bob, &code).await["playback"].clone();

    // During grace every playback command is ignored (rule 6), even a co-host's.
    sockets[0].send(json!({"type": "PLAY", "time": 99.0})).await;
    sockets[1].expect_silence(QUIET).await;

    refused(
        "a viewer claiming in grace",
        &hand(cat, &code, json!(cat.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        "a co-host handing to someone else in grace",
        &hand(bob, &code, json!(cat.id)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, body) = hand(bob, &code, json!(bob.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["host"], public(bob));
    assert_eq!(
        body["room"]["status"], "open",
        "a change during grace ends it"
    );
    for (i, socket) in sockets.iter_mut().enumerate() {
        let seen = relevant(&gather(socket, Duration::from_millis(700)).await);
        let kinds = types(&seen);
        assert_eq!(kinds.first(), Some(&"HOST_CHANGED"), "socket {i}: {seen:?}");
        assert_host_changed(
            &seen[0],
            bob,
            ana,
            "claimed",
            seen[0]["host_epoch"].as_i64().unwrap(),
        );
        assert!(!kinds.contains(&"HOST_RECONNECTED"), "{seen:?}");
        let updated = kinds.iter().position(|k| *k == "ROOM_UPDATED");
        assert!(updated.is_some(), "rule 8: ROOM_UPDATED: {seen:?}");
        assert!(
            updated
                < kinds
                    .iter()
                    .position(|k| *k == "CAPABILITIES")
                    .or(Some(usize::MAX)),
            "{seen:?}"
        );
        // Rule 7: the others get PLAYBACK_STATE (by null), still paused (§7).
        let state = seen
            .iter()
            .find(|m| m["type"] == "PLAYBACK_STATE")
            .unwrap_or_else(|| {
                panic!("socket {i}: rule 7 PLAYBACK_STATE after HOST_CHANGED: {seen:?}")
            });
        assert_eq!(state["is_playing"], false, "{state}");
        assert_eq!(state["by"], Value::Null, "{state}");
        assert_eq!(state["time"], frozen["time"], "{state}");
        assert_eq!(
            state["version"].as_i64(),
            Some(frozen_version + 1),
            "rule 7: version + 1: {state}"
        );
        if i == 0 {
            assert_eq!(
                caps(seen.iter().find(|m| m["type"] == "CAPABILITIES").unwrap()),
                set(&HOST_CAPS)
            );
        }
    }
    let playback = room(bob, &code).await["playback"].clone();
    assert_eq!(
        playback["is_playing"], false,
        "paused until the new host plays"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(room(bob, &code).await["playback"]["time"], frozen["time"]);
    sockets[0].send(json!({"type": "PLAY", "time": 21.0})).await;
    let play = sockets[1].recv_until("PLAY").await;
    assert_eq!(play["by"], public(bob));
    // The old host comes back as a co-host: no HOST_RECONNECTED, only USER_JOINED.
    let (mut back, [_, presence, capabilities]) = open(ana, &code).await;
    assert_eq!(presence["host_status"], "online", "{presence}");
    assert_eq!(capabilities["role"], "co_host", "{capabilities}");
    for socket in sockets.iter_mut() {
        let seen = relevant(&gather(socket, QUIET).await);
        assert!(seen.is_empty(), "nothing but USER_JOINED: {seen:?}");
    }
    // The owner takes it back, connected now: reclaimed, no grace.
    assert_eq!(hand(ana, &code, json!(ana.id)).await.0, StatusCode::OK);
    let changed = back.recv_type("HOST_CHANGED").await;
    assert_eq!(changed["reason"], "reclaimed");
    let seen = relevant(&gather(&mut sockets[1], QUIET).await);
    assert_eq!(
        types(&seen),
        vec!["HOST_CHANGED", "ROOM_UPDATED"],
        "{seen:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_away_may_hand_over_to_someone_connected() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, _cat) = (&people[0], &people[1], &people[2]);
    let host = sockets.remove(0);
    host.close().await;
    for socket in sockets.iter_mut() {
        socket.recv_until("HOST_DISCONNECTED").await;
    }
    let (status, body) = hand(ana, &code, json!(bob.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["room"]["status"], "open",
        "a change during grace ends it"
    );
    for socket in sockets.iter_mut() {
        let (changed, before) = until(socket, "HOST_CHANGED").await;
        assert!(
            relevant(&before)
                .iter()
                .all(|m| m["type"] == "PLAYBACK_STATE"),
            "{before:?}"
        );
        assert_eq!(changed["reason"], "transferred");
        let rest = relevant(&gather(socket, QUIET).await);
        assert!(!types(&rest).contains(&"HOST_RECONNECTED"), "{rest:?}");
        assert!(
            !types(&rest).contains(&"HOST_DISCONNECTED"),
            "bob is here: {rest:?}"
        );
        assert!(
            rest.iter()
                .any(|m| m["type"] == "PLAYBACK_STATE" && m["by"].is_null()),
            "rule 7: PLAYBACK_STATE by null after the change: {rest:?}"
        );
    }
    assert_eq!(room(bob, &code).await["room"]["host"], public(bob));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_timeout_the_room_goes_to_the_first_connected_co_host() {
    let server = TestServer::builder().host_grace_secs(1).start().await;
    let (code, people, mut sockets) =
        gathering(&server, &["ana", "bob", "cat", "dan", "eve"]).await;
    let (ana, bob, cat, dan, eve) = (&people[0], &people[1], &people[2], &people[3], &people[4]);
    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"on_host_timeout": "promote"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Co-hosts in the order eve, dan, cat; eve then leaves, so dan is the one.
    for user in [eve, dan, cat] {
        assert_eq!(
            put_role(ana, &code, user.id, "co_host").await.0,
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let eve_socket = sockets.remove(4);
    eve_socket.close().await;
    let epoch = room(ana, &code).await["room"]["host_epoch"]
        .as_i64()
        .unwrap();
    let host_socket = sockets.remove(0);
    host_socket.close().await;
    for (i, socket) in sockets.iter_mut().enumerate() {
        let (changed, before) = until(socket, "HOST_CHANGED").await;
        assert!(types(&before).contains(&"HOST_DISCONNECTED"), "{before:?}");
        assert!(!types(&before).contains(&"ROOM_CLOSED"), "{before:?}");
        assert_host_changed(&changed, dan, ana, "promoted", epoch + 1);
        let rest = relevant(&gather(socket, Duration::from_millis(700)).await);
        assert!(
            !types(&rest).contains(&"ROOM_CLOSED"),
            "socket {i}: {rest:?}"
        );
        assert!(
            !types(&rest).contains(&"HOST_CHANGED"),
            "promoted once: {rest:?}"
        );
        // Rule 8 (HOST_CHANGED, ROOM_UPDATED, CAPABILITIES) with rule 7's
        // PLAYBACK_STATE for a change during grace somewhere after HOST_CHANGED.
        let kinds = types(&rest);
        let updated = kinds.iter().position(|k| *k == "ROOM_UPDATED");
        assert!(updated.is_some(), "socket {i}: ROOM_UPDATED: {rest:?}");
        let capabilities = kinds.iter().position(|k| *k == "CAPABILITIES");
        assert!(updated < capabilities.or(Some(usize::MAX)), "{rest:?}");
        // Rule 7: a host change during grace resumes as paused, by null.
        let state = rest
            .iter()
            .find(|m| m["type"] == "PLAYBACK_STATE")
            .unwrap_or_else(|| panic!("socket {i}: PLAYBACK_STATE after a promotion: {rest:?}"));
        assert_eq!(state["is_playing"], false, "{state}");
        assert_eq!(state["by"], Value::Null, "{state}");
    }
    let body = room(bob, &code).await;
    assert_eq!(body["room"]["host"], public(dan));
    assert_eq!(body["room"]["status"], "open");
    assert_eq!(body["room"]["owner"], public(ana));
    let entry = &audit(dan, &code, "?limit=1").await[0];
    assert_eq!(entry["action"], "host_changed", "{entry}");
    assert_eq!(
        entry["actor"],
        Value::Null,
        "the server promoted (rule 9): {entry}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_co_hosts_the_first_joined_unmuted_connected_participant_is_promoted() {
    let server = TestServer::builder().host_grace_secs(1).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat", "dan"]).await;
    let (ana, bob, cat, dan) = (&people[0], &people[1], &people[2], &people[3]);
    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"on_host_timeout": "promote"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // bob joined first but left; cat is muted; dan is the one.
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/mutes/"),
            json!({"user_id": cat.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bob_socket = sockets.remove(1);
    bob_socket.close().await;
    let host_socket = sockets.remove(0);
    host_socket.close().await;
    for socket in sockets.iter_mut() {
        let changed = socket.recv_until("HOST_CHANGED").await;
        assert_eq!(changed["host"], public(dan), "{changed}");
        assert_eq!(changed["reason"], "promoted");
        assert_eq!(changed["previous"], public(ana));
    }
    let list = participants(dan, &code).await;
    assert_eq!(roster(&list)[0], (dan.id, "host".to_owned()));
    assert!(list.iter().any(|p| p["user"]["id"] == bob.id));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_with_nobody_connected_closes_the_room() {
    let server = TestServer::builder().host_grace_secs(1).start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;

    // Nobody but the host ever connected: closed as in §5.
    let lonely = ana.create_room("lonely").await;
    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{lonely}/"),
            json!({"on_host_timeout": "promote"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bob.join(&lonely).await;
    let host = enter(&ana, &lonely).await;
    host.close().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while room(&ana, &lonely).await["room"]["status"] != "closed" {
        assert!(
            std::time::Instant::now() < deadline,
            "the lonely room never closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(room(&ana, &lonely).await["room"]["host"], public(&ana));

    // Only a muted participant connected: never promoted, so closed too.
    let code = ana.create_room("empty").await;
    ana.patch(
        &format!("/api/rooms/{code}/"),
        json!({"on_host_timeout": "promote"}),
    )
    .await;
    bob.join(&code).await; // a participant, never connected
    let cat = server.user("cat").await;
    let (mut watcher, _) = {
        cat.join(&code).await;
        let muted = ana
            .post(
                &format!("/api/rooms/{code}/mutes/"),
                json!({"user_id": cat.id}),
            )
            .await;
        assert_eq!(muted.0, StatusCode::OK, "{}", muted.1);
        open(&cat, &code).await
    };
    let host = enter(&ana, &code).await;
    watcher.recv_until("USER_JOINED").await;
    host.close().await;
    // Only a muted participant is connected: never promoted, so the room closes.
    let (seen, close) = watcher.drain_for(Duration::from_secs(6)).await;
    assert!(
        !types(&seen).contains(&"HOST_CHANGED"),
        "a muted user is never promoted: {seen:?}"
    );
    let closed = seen
        .iter()
        .find(|m| m["type"] == "ROOM_CLOSED")
        .expect("ROOM_CLOSED");
    assert_eq!(closed["reason"], "host_timeout");
    assert_eq!(close, Some(4002));
    assert_eq!(room(&ana, &code).await["room"]["status"], "closed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn becoming_host_lifts_ones_mute() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/mutes/"),
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["participant"]["is_muted"], true);
    for socket in sockets.iter_mut() {
        socket.recv_until("PARTICIPANT_UPDATED").await;
    }
    sockets[1].recv_until("CAPABILITIES").await;
    assert_eq!(hand(ana, &code, json!(bob.id)).await.0, StatusCode::OK);
    let seen = relevant(&gather(&mut sockets[1], Duration::from_millis(700)).await);
    // Rule 8: the lifted mute rides on the host change, no PARTICIPANT_UPDATED.
    assert_eq!(
        types(&seen),
        vec!["HOST_CHANGED", "ROOM_UPDATED", "CAPABILITIES"],
        "{seen:?}"
    );
    let capabilities = seen
        .iter()
        .rev()
        .find(|m| m["type"] == "CAPABILITIES")
        .expect("CAPABILITIES");
    assert_eq!(caps(capabilities), set(&HOST_CAPS));
    let list = participants(bob, &code).await;
    assert_eq!(list[0]["user"], public(bob));
    assert_eq!(list[0]["is_muted"], false, "{}", list[0]);
    sockets[1]
        .send(json!({"type": "CHAT_MESSAGE", "message": "I can talk again"}))
        .await;
    assert_eq!(
        sockets[1].recv_until("CHAT_MESSAGE").await["message"],
        "I can talk again"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_host_first_connects_the_room_is_not_in_grace() {
    let server = TestServer::builder().host_grace_secs(1).start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("early").await;
    bob.join(&code).await;
    let (mut early, [_, presence, _]) = open(&bob, &code).await;
    assert_eq!(presence["host_status"], "offline", "rule 5: {presence}");
    // Well past a grace period: still open, nothing announced.
    early.expect_silence(Duration::from_millis(2500)).await;
    assert_eq!(room(&bob, &code).await["room"]["status"], "open");
    let _host = open(&ana, &code).await;
    let joined = early.recv_type("USER_JOINED").await;
    assert_eq!(joined["user"], public(&ana));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_grace_a_new_media_url_answers_409_conflict() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    let host = sockets.remove(0);
    host.close().await;
    sockets[0].recv_until("HOST_DISCONNECTED").await;
    sockets[0].recv_type("PLAYBACK_STATE").await;
    let settled = |mut playback: Value| {
        playback.as_object_mut().unwrap().remove("server_time");
        playback
    };
    let frozen = settled(room(bob, &code).await["playback"].clone());
    let answer = bob
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"media_url": "https://example.com/other.mp4"}),
        )
        .await;
    refused(
        "PATCH media_url in grace",
        &answer,
        StatusCode::CONFLICT,
        "conflict",
    );
    let body = room(bob, &code).await;
    assert_eq!(body["room"]["media_url"], Value::Null, "nothing changed");
    assert_eq!(settled(body["playback"].clone()), frozen);
    // Rule 6: playback commands from anyone are ignored during grace.
    for command in [
        json!({"type": "PLAY", "time": 1.0}),
        json!({"type": "SEEK", "time": 9.0}),
        json!({"type": "RATE", "rate": 2.0}),
    ] {
        sockets[0].send(command).await;
    }
    sockets[0].expect_silence(QUIET).await;
    assert_eq!(settled(room(bob, &code).await["playback"].clone()), frozen);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_co_host_is_passed_over_by_the_promotion() {
    let server = TestServer::builder().host_grace_secs(1).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"on_host_timeout": "promote"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for user in [bob, cat] {
        assert_eq!(
            put_role(ana, &code, user.id, "co_host").await.0,
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/mutes/"),
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let host = sockets.remove(0);
    host.close().await;
    for socket in sockets.iter_mut() {
        let changed = socket.recv_until("HOST_CHANGED").await;
        assert_eq!(changed["host"], public(cat), "bob is muted: {changed}");
        assert_eq!(changed["reason"], "promoted");
    }
    server.stop().await;
}
