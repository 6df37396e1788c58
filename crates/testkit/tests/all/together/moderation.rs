//! §8 moderation: kicks, bans, mutes, the audit log, and rules 13–15 of §13.

use super::*;
use watchparty_testkit::TestServer;

async fn kick(actor: &TestUser, code: &str, body: Value) -> (StatusCode, Value) {
    actor.post(&format!("/api/rooms/{code}/kicks/"), body).await
}

async fn ban(actor: &TestUser, code: &str, body: Value) -> (StatusCode, Value) {
    actor.post(&format!("/api/rooms/{code}/bans/"), body).await
}

async fn mute(actor: &TestUser, code: &str, body: Value) -> (StatusCode, Value) {
    actor.post(&format!("/api/rooms/{code}/mutes/"), body).await
}

/// `GET …/bans/`, which must answer 200.
async fn bans(actor: &TestUser, code: &str) -> Vec<Value> {
    let (status, body) = actor.get(&format!("/api/rooms/{code}/bans/")).await;
    assert_eq!(status, StatusCode::OK, "bans: {body}");
    body["bans"].as_array().unwrap().clone()
}

/// What a removed user's socket sees: `REMOVED`, then the close code.
async fn removal(socket: &mut WsClient) -> (Value, Option<u16>) {
    let (seen, close) = socket.drain_until_closed().await;
    let removed = seen
        .iter()
        .find(|m| m["type"] == "REMOVED")
        .unwrap_or_else(|| panic!("no REMOVED before the close: {seen:?}"))
        .clone();
    (removed, close)
}

/// A bystander sees `PARTICIPANT_REMOVED` for `who`, then `USER_LEFT` for them.
async fn sees_removed(socket: &mut WsClient, who: &TestUser, action: &str, by: &TestUser) {
    let (removed, before) = until(socket, "PARTICIPANT_REMOVED").await;
    assert!(
        !before
            .iter()
            .any(|m| m["type"] == "USER_LEFT" && m["user"]["id"] == who.id),
        "PARTICIPANT_REMOVED comes before USER_LEFT: {before:?}"
    );
    assert_eq!(removed["user"], public(who), "{removed}");
    assert_eq!(removed["action"], action);
    assert_eq!(removed["by"], public(by));
    let left = socket.recv_until("USER_LEFT").await;
    assert_eq!(left["user"]["id"], who.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_removes_at_once_and_lapses() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let mut bob_tab2 = open(bob, &code).await.0;

    let started = SystemTime::now();
    let (status, body) = kick(
        ana,
        &code,
        json!({"user_id": bob.id, "reason": "spoilers", "rejoin_after_secs": 3}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for socket in [&mut sockets[1], &mut bob_tab2] {
        let (removed, close) = removal(socket).await;
        assert_eq!(removed["action"], "kicked", "{removed}");
        assert_eq!(removed["reason"], "spoilers");
        let until = instant(removed["until"].as_str().expect("a kick's until is a time"));
        let lapse = until.duration_since(started).unwrap().as_secs_f64();
        assert!((2.0..=4.5).contains(&lapse), "until ≈ now + 3 s: {lapse}");
        assert_eq!(close, Some(4003));
    }
    for socket in pick(&mut sockets, &[0, 2]) {
        sees_removed(socket, bob, "kicked", ana).await;
    }
    let list = participants(ana, &code).await;
    assert!(
        list.iter().all(|p| p["user"]["id"] != bob.id),
        "no longer a participant: {list:?}"
    );

    let listed = bans(ana, &code).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["kind"], "kick");
    assert_eq!(listed[0]["user"], public(bob));
    assert_eq!(listed[0]["by"], public(ana));
    assert_eq!(listed[0]["reason"], "spoilers");
    assert!(listed[0]["expires_at"].is_string());

    let answer = bob.post_empty(&format!("/api/rooms/{code}/join/")).await;
    refused(
        "joining while kicked",
        &answer,
        StatusCode::FORBIDDEN,
        "banned",
    );
    assert!(
        answer.1["error"]["until"].is_string(),
        "403 banned carries until: {}",
        answer.1
    );
    assert_eq!(bob.connect(&code).await.err(), Some(StatusCode::FORBIDDEN));

    // After the lapse the user may join again.
    let wait = seconds_until(listed[0]["expires_at"].as_str().unwrap());
    tokio::time::sleep(Duration::from_secs_f64(wait.max(0.0) + 0.3)).await;
    let joined = bob.join(&code).await;
    assert_eq!(joined["participant"]["role"], "viewer");
    assert!(
        bans(ana, &code).await.is_empty(),
        "a lapsed kick is not active"
    );
    let _ = cat;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_keeps_the_user_out_until_lifted() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let (status, body) = ban(ana, &code, json!({"user_id": bob.id, "reason": "abuse"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let ban_body = &body["ban"];
    assert_eq!(ban_body["user"], public(bob));
    assert_eq!(ban_body["reason"], "abuse");
    assert_eq!(ban_body["by"], public(ana));
    assert_eq!(ban_body["expires_at"], Value::Null);
    assert_eq!(ban_body["kind"], "ban");
    assert!(
        ban_body["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{ban_body}"
    );

    let (removed, close) = removal(&mut sockets[1]).await;
    assert_eq!(removed["action"], "banned");
    assert_eq!(removed["reason"], "abuse");
    assert_eq!(removed["until"], Value::Null);
    assert_eq!(close, Some(4004));
    for socket in pick(&mut sockets, &[0, 2]) {
        sees_removed(socket, bob, "banned", ana).await;
    }

    let answer = bob.post_empty(&format!("/api/rooms/{code}/join/")).await;
    refused(
        "joining while banned",
        &answer,
        StatusCode::FORBIDDEN,
        "banned",
    );
    assert_eq!(answer.1["error"]["until"], Value::Null, "{}", answer.1);
    assert!(
        answer.1["error"].get("until").is_some(),
        "until is present: {}",
        answer.1
    );
    assert_eq!(
        bob.connect(&code).await.err(),
        Some(StatusCode::FORBIDDEN),
        "a fresh token is refused"
    );
    let answer = bob.get(&format!("/api/rooms/{code}/messages/")).await;
    assert_eq!(answer.0, StatusCode::FORBIDDEN, "history: {}", answer.1);

    // Lifting it: 204, then the user may come back; lifting again: 404.
    let path = format!("/api/rooms/{code}/bans/{}/", bob.id);
    assert_eq!(
        cat.delete(&path).await.0,
        StatusCode::FORBIDDEN,
        "a viewer lifts nothing"
    );
    let (status, body) = ana.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    refused(
        "lifting a ban that does not exist",
        &ana.delete(&path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert!(bans(ana, &code).await.is_empty());
    bob.join(&code).await;
    let _back = open(bob, &code).await;
    let actions: Vec<Value> = audit(ana, &code, "")
        .await
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions[..2],
        [json!("unbanned"), json!("banned")],
        "{actions:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_answers_a_banned_user_as_an_unknown_code() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana
        .create_room_with(json!({"name": "secret", "is_private": true}))
        .await;
    // bob becomes a participant the way a private room allows, then is banned.
    let joined = bob.post_empty(&format!("/api/rooms/{code}/join/")).await;
    let (status, body) = ban(
        &ana,
        &code,
        json!({"user_id": bob.id, "duration_secs": 600}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let expires = body["ban"]["expires_at"]
        .as_str()
        .expect("a timed ban expires");
    let left = seconds_until(expires);
    assert!((595.0..=601.0).contains(&left), "{left}");

    for (what, tail) in [
        ("room", ""),
        ("history", "messages/"),
        ("participants", "participants/"),
    ] {
        let answer = bob.get(&format!("/api/rooms/{code}/{tail}")).await;
        let unknown = bob.get(&format!("/api/rooms/ZZZZZZZZZZ/{tail}")).await;
        assert_eq!(answer.0, StatusCode::NOT_FOUND, "{what}: {}", answer.1);
        assert_eq!(
            answer.1, unknown.1,
            "{what} answers exactly as an unknown code"
        );
    }
    let answer = bob.post_empty(&format!("/api/rooms/{code}/join/")).await;
    assert_eq!(
        answer.0,
        StatusCode::NOT_FOUND,
        "join (before: {joined:?}): {}",
        answer.1
    );
    assert_eq!(bob.connect(&code).await.err(), Some(StatusCode::NOT_FOUND));
    // Rule 14: every endpoint, the moderators' too, answers as an unknown code.
    for (what, tail, body) in [
        ("kicks", "kicks/", json!({"user_id": ana.id})),
        ("bans", "bans/", json!({"user_id": ana.id})),
        ("mutes", "mutes/", json!({"user_id": ana.id})),
        ("host", "host/", json!({"user_id": bob.id})),
    ] {
        let answer = bob
            .post(&format!("/api/rooms/{code}/{tail}"), body.clone())
            .await;
        let unknown = bob
            .post(&format!("/api/rooms/ZZZZZZZZZZ/{tail}"), body)
            .await;
        assert_eq!(answer.0, StatusCode::NOT_FOUND, "POST {what}: {}", answer.1);
        assert_eq!(answer.1, unknown.1, "POST {what}");
    }
    for tail in ["audit/", "bans/"] {
        let answer = bob.get(&format!("/api/rooms/{code}/{tail}")).await;
        assert_eq!(answer.0, StatusCode::NOT_FOUND, "GET {tail}: {}", answer.1);
    }
    let answer = put_role(&bob, &code, ana.id, "viewer").await;
    assert_eq!(answer.0, StatusCode::NOT_FOUND, "PUT role: {}", answer.1);
    let answer = bob
        .patch(&format!("/api/rooms/{code}/"), json!({"name": "x"}))
        .await;
    assert_eq!(answer.0, StatusCode::NOT_FOUND, "PATCH: {}", answer.1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_reasons_and_targets_are_validated() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let id = bob.id;
    for body in [
        json!({"user_id": id, "duration_secs": 0}),
        json!({"user_id": id, "duration_secs": 31_536_001}),
        json!({"user_id": id, "duration_secs": -5}),
        json!({"user_id": id, "duration_secs": "600"}),
        json!({"user_id": id, "reason": 7}),
        json!({"user_id": "bob"}),
        json!({}),
    ] {
        refused(
            &format!("ban {body}"),
            &ban(ana, &code, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "validation_error",
        );
    }
    for body in [
        json!({"user_id": id, "rejoin_after_secs": 86_401}),
        json!({"user_id": id, "rejoin_after_secs": -1}),
        json!({"user_id": id, "rejoin_after_secs": "5"}),
        json!({"user_id": id, "reason": ["x"]}),
        json!({}),
    ] {
        refused(
            &format!("kick {body}"),
            &kick(ana, &code, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "validation_error",
        );
    }
    for body in [
        json!({"user_id": id, "duration_secs": 0}),
        json!({"user_id": id, "duration_secs": 31_536_001}),
        json!({"user_id": id, "duration_secs": "1"}),
        json!({}),
    ] {
        refused(
            &format!("mute {body}"),
            &mute(ana, &code, body.clone()).await,
            StatusCode::BAD_REQUEST,
            "validation_error",
        );
    }
    // Nothing happened to bob.
    sockets[1].expect_silence(QUIET).await;
    assert!(bans(ana, &code).await.is_empty());
    assert!(audit(ana, &code, "").await.is_empty());

    refused(
        "a ban naming nobody",
        &ban(ana, &code, json!({"user_id": 987_654_321})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let stranger = server.user("zed").await;
    refused(
        "kicking a non-participant",
        &kick(ana, &code, json!({"user_id": stranger.id})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "muting a non-participant",
        &mute(ana, &code, json!({"user_id": stranger.id})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "unmuting someone not muted",
        &ana.delete(&format!("/api/rooms/{code}/mutes/{id}/")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "unknown room",
        &kick(ana, "ZZZZZZZZZZ", json!({"user_id": id})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // The edges are accepted.
    let (status, body) = ban(
        ana,
        &code,
        json!({"user_id": stranger.id, "duration_secs": 31_536_000}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a ban may name a user who never joined: {body}"
    );
    // It sends nothing (rule 14); banning again replaces the ban.
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    let (status, body) = ban(
        ana,
        &code,
        json!({"user_id": stranger.id, "duration_secs": 60, "reason": "again"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let listed = bans(ana, &code).await;
    assert_eq!(listed.len(), 1, "replaced, not added: {listed:?}");
    assert_eq!(listed[0]["reason"], "again");
    let (status, body) = kick(ana, &code, json!({"user_id": id, "rejoin_after_secs": 0})).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "rejoin_after_secs 0: {body}"
    );
    assert_eq!(removal(&mut sockets[1]).await.1, Some(4003));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_acts_on_the_owner_the_host_or_themself() {
    let server = TestServer::start().await;
    let (code, people, _sockets) = gathering(&server, &["ana", "bob", "cat", "dan"]).await;
    let (ana, bob, cat, dan) = (&people[0], &people[1], &people[2], &people[3]);
    // bob hosts, ana (the owner) and cat are co-hosts, dan a viewer.
    assert_eq!(
        put_role(ana, &code, cat.id, "co_host").await.0,
        StatusCode::OK
    );
    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/host/"),
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let cases: [(&str, &TestUser, &TestUser); 6] = [
        ("the host on the owner", bob, ana),
        ("the host on themself", bob, bob),
        ("a co-host on the host", cat, bob),
        ("a co-host on the owner", cat, ana),
        ("the owner (a co-host) on the host", ana, bob),
        ("a co-host on another co-host", ana, cat),
    ];
    for (what, actor, target) in cases {
        for (verb, answer) in [
            (
                "kick",
                kick(actor, &code, json!({"user_id": target.id})).await,
            ),
            (
                "ban",
                ban(actor, &code, json!({"user_id": target.id})).await,
            ),
            (
                "mute",
                mute(actor, &code, json!({"user_id": target.id})).await,
            ),
        ] {
            refused(
                &format!("{verb}: {what}"),
                &answer,
                StatusCode::FORBIDDEN,
                "target_outranks",
            );
        }
    }
    // The host may act on a co-host and a viewer.
    let (status, body) = mute(bob, &code, json!({"user_id": cat.id})).await;
    assert_eq!(status, StatusCode::OK, "the host mutes a co-host: {body}");
    let (status, body) = mute(cat, &code, json!({"user_id": dan.id})).await;
    assert_eq!(status, StatusCode::OK, "a co-host mutes a viewer: {body}");
    let list = participants(ana, &code).await;
    assert_eq!(list.len(), 4, "nobody removed: {list:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_participant_watches_but_cannot_chat() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, _cat) = (&people[0], &people[1], &people[2]);
    let (status, body) = mute(ana, &code, json!({"user_id": bob.id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_participant(&body["participant"]);
    assert_eq!(body["participant"]["is_muted"], true);
    assert_eq!(body["participant"]["muted_until"], Value::Null);
    for socket in sockets.iter_mut() {
        let updated = socket.recv_until("PARTICIPANT_UPDATED").await;
        assert_eq!(updated["participant"]["user"], public(bob));
        assert_eq!(updated["participant"]["is_muted"], true);
        assert_eq!(updated["by"], public(ana));
    }
    let capabilities = sockets[1].recv_until("CAPABILITIES").await;
    assert_eq!(caps(&capabilities), set(&["add_to_queue"]), "chat is gone");

    let stored = ana.history_ids(&code, "").await.len();
    sockets[1]
        .send(json!({"type": "CHAT_MESSAGE", "message": "let me speak"}))
        .await;
    let error = sockets[1].recv_type("ERROR").await;
    assert_eq!(error["code"], "muted");
    assert_eq!(error["message"], "You are muted in this room");
    assert_eq!(error["until"], Value::Null);
    assert!(error.get("until").is_some(), "{error}");
    for socket in pick(&mut sockets, &[0, 2]) {
        socket.expect_silence(QUIET).await;
    }
    assert_eq!(
        ana.history_ids(&code, "").await.len(),
        stored,
        "nothing stored"
    );

    // Still watching: playback reaches the muted user.
    sockets[0].send(json!({"type": "SEEK", "time": 5.0})).await;
    sockets[1].recv_type("SEEK").await;

    let (status, body) = ana
        .delete(&format!("/api/rooms/{code}/mutes/{}/", bob.id))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["participant"]["is_muted"], false);
    for socket in sockets.iter_mut() {
        let updated = socket.recv_until("PARTICIPANT_UPDATED").await;
        assert_eq!(updated["participant"]["is_muted"], false);
    }
    assert_eq!(
        caps(&sockets[1].recv_until("CAPABILITIES").await),
        set(&VIEWER_CAPS)
    );
    sockets[1]
        .send(json!({"type": "CHAT_MESSAGE", "message": "thanks"}))
        .await;
    assert_eq!(
        sockets[1].recv_type("CHAT_MESSAGE").await["message"],
        "thanks"
    );
    let actions: Vec<Value> = audit(ana, &code, "")
        .await
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(actions, vec![json!("unmuted"), json!("muted")]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_mute_lapses_within_a_second() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let asked = SystemTime::now();
    let (status, body) = mute(ana, &code, json!({"user_id": bob.id, "duration_secs": 1})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let until_text = body["participant"]["muted_until"]
        .as_str()
        .expect("muted_until a time")
        .to_owned();
    let until = instant(&until_text);
    sockets[1].recv_until("PARTICIPANT_UPDATED").await;
    sockets[1].recv_until("CAPABILITIES").await;
    sockets[1]
        .send(json!({"type": "CHAT_MESSAGE", "message": "hello?"}))
        .await;
    let error = sockets[1].recv_type("ERROR").await;
    assert_eq!(error["code"], "muted");
    assert_eq!(instant(error["until"].as_str().expect("until")), until);

    // Rule 9: the lapse is announced within 1 s, by null, with new capabilities.
    let updated = sockets[1].recv_type("PARTICIPANT_UPDATED").await;
    let late = SystemTime::now()
        .duration_since(until)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    assert_eq!(updated["participant"]["is_muted"], false, "{updated}");
    assert_eq!(updated["by"], Value::Null, "{updated}");
    let capabilities = sockets[1].recv_type("CAPABILITIES").await;
    assert_eq!(caps(&capabilities), set(&VIEWER_CAPS));
    // muted_until may be written to the second; the request's own time is exact.
    let since_asked = asked.elapsed().unwrap().as_secs_f64();
    assert!(
        since_asked <= 2.1,
        "the lapse came {since_asked:.2} s after a 1 s mute was asked ({late:.2} s after muted_until {until_text})"
    );
    eprintln!("timed mute: lapse announced {late:.3} s after muted_until, {since_asked:.3} s after the request");
    let other = sockets[0].recv_until("PARTICIPANT_UPDATED").await;
    let other = if other["participant"]["is_muted"] == true {
        sockets[0].recv_until("PARTICIPANT_UPDATED").await
    } else {
        other
    };
    assert_eq!(other["participant"]["is_muted"], false);
    sockets[1]
        .send(json!({"type": "CHAT_MESSAGE", "message": "back"}))
        .await;
    assert_eq!(
        sockets[1].recv_type("CHAT_MESSAGE").await["message"],
        "back"
    );
    let entry = &audit(ana, &code, "?limit=1").await[0];
    if entry["action"] == "unmuted" {
        assert_eq!(
            entry["actor"],
            Value::Null,
            "a lapse is the server's: {entry}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_reaches_everyone_even_when_the_user_is_away() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, _bob) = (&people[0], &people[1]);
    let cat = server.user("cat").await;
    cat.join(&code).await; // never connected
    let (status, body) = kick(ana, &code, json!({"user_id": cat.id})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for socket in sockets.iter_mut() {
        let removed = socket.recv_type("PARTICIPANT_REMOVED").await;
        assert_eq!(removed["user"], public(&cat));
        assert_eq!(removed["action"], "kicked");
        assert_eq!(removed["by"], public(ana));
        socket.expect_silence(QUIET).await; // no USER_LEFT: cat was never there
    }
    let listed = bans(ana, &code).await;
    let expires = listed[0]["expires_at"].as_str().unwrap();
    let left = seconds_until(expires);
    assert!(
        (295.0..=301.0).contains(&left),
        "rejoin_after_secs defaults to 300: {left}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_every_change_newest_first_in_pages() {
    let server = TestServer::start().await;
    let (code, people, _sockets) = gathering(&server, &["ana", "bob", "cat", "dan"]).await;
    let (ana, bob, cat, dan) = (&people[0], &people[1], &people[2], &people[3]);
    let stranger = server.user("zed").await;
    let ok = |answer: (StatusCode, Value)| {
        assert!(answer.0.is_success(), "{}", answer.1);
    };
    ok(put_role(ana, &code, bob.id, "co_host").await);
    ok(ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"name": "renamed", "control": "everyone"}),
        )
        .await);
    ok(mute(bob, &code, json!({"user_id": cat.id})).await);
    ok(ana
        .delete(&format!("/api/rooms/{code}/mutes/{}/", cat.id))
        .await);
    ok(kick(
        bob,
        &code,
        json!({"user_id": dan.id, "reason": "noise", "rejoin_after_secs": 60}),
    )
    .await);
    ok(ban(
        ana,
        &code,
        json!({"user_id": stranger.id, "reason": "troll"}),
    )
    .await);
    ok(ana
        .delete(&format!("/api/rooms/{code}/bans/{}/", stranger.id))
        .await);
    ok(ana
        .post(
            &format!("/api/rooms/{code}/host/"),
            json!({"user_id": bob.id}),
        )
        .await);

    let entries = audit(ana, &code, "").await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "host_changed",
            "unbanned",
            "banned",
            "kicked",
            "unmuted",
            "muted",
            "room_updated",
            "role_changed"
        ]
    );
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    for entry in &entries {
        assert!(
            entry["at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{entry}"
        );
        assert!(entry["detail"].is_object(), "detail is an object: {entry}");
    }
    let by_action = |action: &str| entries.iter().find(|e| e["action"] == action).unwrap();
    let role = by_action("role_changed");
    assert_eq!(
        (role["actor"].clone(), role["target"].clone()),
        (public(ana), public(bob))
    );
    assert_eq!(role["detail"]["role"], "co_host", "{role}");
    let updated = by_action("room_updated");
    assert_eq!(updated["target"], Value::Null, "{updated}");
    let mut fields: Vec<&str> = updated["detail"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, vec!["control", "name"]);
    let kicked = by_action("kicked");
    assert_eq!(
        (kicked["actor"].clone(), kicked["target"].clone()),
        (public(bob), public(dan))
    );
    assert_eq!(kicked["detail"]["reason"], "noise", "{kicked}");
    assert!(kicked["detail"]["until"].is_string(), "{kicked}");
    let banned = by_action("banned");
    assert_eq!(banned["target"], public(&stranger));
    assert_eq!(banned["detail"]["reason"], "troll");
    assert_eq!(banned["detail"]["until"], Value::Null);
    assert!(banned["detail"].get("until").is_some(), "{banned}");
    assert_eq!(by_action("muted")["actor"], public(bob));

    // Pages: limit, then before the last id seen.
    let first = audit(bob, &code, "?limit=3").await;
    assert_eq!(first, entries[..3].to_vec());
    let second = audit(bob, &code, &format!("?limit=3&before={}", ids[2])).await;
    assert_eq!(second, entries[3..6].to_vec());
    let last = audit(bob, &code, &format!("?limit=50&before={}", ids[5])).await;
    assert_eq!(last, entries[6..].to_vec());

    // Without moderate: 403; an outsider: 403 too.
    refused(
        "a viewer's audit",
        &cat.get(&format!("/api/rooms/{code}/audit/")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        "a viewer's bans",
        &cat.get(&format!("/api/rooms/{code}/bans/")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_mutes_and_the_audit_survive_a_restart() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, sockets) = gathering(&server, &["ana", "bob", "cat", "dan"]).await;
    let (ana, bob, cat, dan) = (&people[0], &people[1], &people[2], &people[3]);
    assert_eq!(
        put_role(ana, &code, dan.id, "co_host").await.0,
        StatusCode::OK
    );
    let (status, body) = ban(ana, &code, json!({"user_id": bob.id, "reason": "r"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = mute(ana, &code, json!({"user_id": cat.id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let banned = bans(ana, &code).await;
    let entries = audit(ana, &code, "").await;
    drop(sockets);

    let server = server.restart().await;
    let ana = login(&server, ana).await;
    let bob = login(&server, bob).await;
    let cat = login(&server, cat).await;
    assert_eq!(bans(&ana, &code).await, banned);
    assert_eq!(audit(&ana, &code, "").await, entries);
    let answer = bob.post_empty(&format!("/api/rooms/{code}/join/")).await;
    refused(
        "join after the restart",
        &answer,
        StatusCode::FORBIDDEN,
        "banned",
    );
    let list = participants(&ana, &code).await;
    let roles = roster(&list);
    assert!(roles.contains(&(dan.id, "co_host".to_owned())), "{roles:?}");
    let muted = list.iter().find(|p| p["user"]["id"] == cat.id).unwrap();
    assert_eq!(muted["is_muted"], true, "{muted}");
    let (mut socket, [_, _, capabilities]) = open(&cat, &code).await;
    assert!(!caps(&capabilities).contains("chat"), "{capabilities}");
    socket
        .send(json!({"type": "CHAT_MESSAGE", "message": "still muted?"}))
        .await;
    assert_eq!(socket.recv_until("ERROR").await["code"], "muted");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifting_a_kick_lets_the_user_back_at_once_and_a_ban_replaces_a_kick() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let mut bob_tab2 = open(bob, &code).await.0;

    // A mute reaches every tab of the user.
    assert_eq!(
        mute(ana, &code, json!({"user_id": bob.id})).await.0,
        StatusCode::OK
    );
    for socket in [&mut sockets[1], &mut bob_tab2] {
        assert_eq!(
            caps(&socket.recv_until("CAPABILITIES").await),
            set(&["add_to_queue"])
        );
    }

    assert_eq!(
        kick(ana, &code, json!({"user_id": bob.id})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(bob_tab2.closed_with().await, Some(4003));
    let (status, body) = ana
        .delete(&format!("/api/rooms/{code}/bans/{}/", bob.id))
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a kick is lifted like a ban: {body}"
    );
    let joined = bob.join(&code).await;
    assert_eq!(joined["participant"]["role"], "viewer");

    // Kicked, then banned: one entry, of kind ban.
    assert_eq!(
        kick(ana, &code, json!({"user_id": cat.id, "reason": "first"}))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = ban(ana, &code, json!({"user_id": cat.id, "reason": "second"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let listed = bans(ana, &code).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["kind"], "ban");
    assert_eq!(listed[0]["reason"], "second");
    assert_eq!(listed[0]["expires_at"], Value::Null);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_ban_expires_by_itself() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let (status, body) = ban(ana, &code, json!({"user_id": bob.id, "duration_secs": 1})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (removed, close) = removal(&mut sockets[1]).await;
    assert_eq!(removed["action"], "banned");
    let until = removed["until"].as_str().expect("a timed ban's until");
    assert_eq!(
        instant(until),
        instant(body["ban"]["expires_at"].as_str().unwrap())
    );
    assert_eq!(close, Some(4004));
    let answer = bob.post_empty(&format!("/api/rooms/{code}/join/")).await;
    refused(
        "join while banned",
        &answer,
        StatusCode::FORBIDDEN,
        "banned",
    );
    tokio::time::sleep(Duration::from_secs_f64(seconds_until(until).max(0.0) + 0.3)).await;
    assert!(
        bans(ana, &code).await.is_empty(),
        "an expired ban is not active"
    );
    let joined = bob.join(&code).await;
    assert_eq!(joined["participant"]["role"], "viewer");
    let _back = open(bob, &code).await;
    server.stop().await;
}
