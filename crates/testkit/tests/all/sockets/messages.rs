//! docs/protocol.md, the room WebSocket.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use watchparty_testkit::{Party, StatusCode, TestServer, WsClient};

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_sends_state_then_presence_and_announces_once_per_user() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    bob.join(&code).await;

    let mut host = ana.connect(&code).await.unwrap();
    let state = host.recv().await;
    assert_eq!(state["type"], "PLAYBACK_STATE", "first message: {state}");
    assert_eq!(
        (state["is_playing"].clone(), state["time"].clone()),
        (json!(false), json!(0.0))
    );
    let presence = host.recv_type("PRESENCE").await;
    host.recv_type("CAPABILITIES").await;
    assert_eq!(
        presence["users"],
        json!([{"id": ana.id, "display_name": "ana", "is_host": true, "role": "host"}])
    );
    assert_eq!(presence["host_status"], "online");
    host.expect_silence(QUIET).await;

    let mut tab1 = bob.connect(&code).await.unwrap();
    tab1.recv_type("PLAYBACK_STATE").await;
    let presence = tab1.recv_type("PRESENCE").await;
    tab1.recv_type("CAPABILITIES").await;
    assert_eq!(
        presence["users"].as_array().unwrap().len(),
        2,
        "the newcomer is included: {presence}"
    );
    let joined = host.recv_type("USER_JOINED").await;
    assert_eq!(joined["user"], json!({"id": bob.id, "display_name": "bob"}));
    tab1.expect_silence(QUIET).await;

    // A second tab of the same user: no new USER_JOINED, and no PLAYBACK_STATE but its own.
    let mut tab2 = bob.connect(&code).await.unwrap();
    tab2.recv_type("PLAYBACK_STATE").await;
    let presence = tab2.recv_type("PRESENCE").await;
    tab2.recv_type("CAPABILITIES").await;
    assert_eq!(
        presence["users"].as_array().unwrap().len(),
        2,
        "distinct users: {presence}"
    );
    host.expect_silence(QUIET).await;
    tab1.expect_silence(Duration::ZERO).await;

    let (_, room) = ana.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(room["room"]["viewer_count"], 2);

    tab1.close().await;
    host.expect_silence(QUIET).await;
    tab2.close().await;
    let left = host.recv_type("USER_LEFT").await;
    assert_eq!(left["user"], json!({"id": bob.id, "display_name": "bob"}));
    host.expect_silence(QUIET).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_host_moves_playback() {
    let server = TestServer::start().await;
    let Party {
        viewer: bob,
        code,
        host_socket: mut host,
        viewer_socket: mut viewer,
        ..
    } = server.party().await;

    for kind in ["PLAY", "PAUSE", "SEEK"] {
        viewer.send(json!({"type": kind, "time": 99.0})).await;
    }
    host.expect_silence(QUIET).await;
    viewer.expect_silence(Duration::ZERO).await;
    let (_, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(room["playback"]["time"], 0.0, "nothing changed");

    host.send(json!({"type": "PLAY", "time": 12.5})).await;
    let play = viewer.recv_type("PLAY").await;
    assert_eq!(play["time"], 12.5);
    assert!(play["server_time"].as_i64().unwrap() > 0);
    host.expect_silence(QUIET).await;

    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    let time = room["playback"]["time"].as_f64().unwrap();
    assert!(room["playback"]["is_playing"].as_bool().unwrap());
    assert!(
        time > 12.9 && time < 20.0,
        "the server advances time while playing: {time}"
    );

    host.send(json!({"type": "SEEK", "time": 100})).await;
    assert_eq!(viewer.recv_type("SEEK").await["time"], 100.0);
    let (_, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert!(
        room["playback"]["is_playing"].as_bool().unwrap(),
        "seek keeps playing"
    );
    host.send(json!({"type": "PAUSE", "time": 101.0})).await;
    assert_eq!(viewer.recv_type("PAUSE").await["time"], 101.0);

    // A late joiner lands at the right second.
    let cat = server.user("cat").await;
    cat.join(&code).await;
    let mut late = cat.connect(&code).await.unwrap();
    let state = late.recv_type("PLAYBACK_STATE").await;
    assert_eq!(
        (state["is_playing"].clone(), state["time"].clone()),
        (json!(false), json!(101.0))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_stored_then_delivered_to_everyone() {
    let server = TestServer::start().await;
    let Party {
        host: ana,
        viewer: bob,
        code,
        host_socket: mut host,
        viewer_socket: mut viewer,
    } = server.party().await;

    viewer
        .send(json!({"type": "CHAT_MESSAGE", "message": "  hi all  "}))
        .await;
    let mine = viewer.recv_type("CHAT_MESSAGE").await;
    let theirs = host.recv_type("CHAT_MESSAGE").await;
    assert_eq!(mine, theirs);
    assert_eq!(mine["message"], "hi all");
    assert_eq!(mine["user"], json!({"id": bob.id, "display_name": "bob"}));
    assert!(mine["id"].is_i64() && mine["created_at"].is_string());
    let (_, history) = ana.get(&format!("/api/rooms/{code}/messages/")).await;
    assert_eq!(history["messages"][0]["id"], mine["id"]);

    viewer
        .send(json!({"type": "CHAT_MESSAGE", "message": "   "}))
        .await;
    viewer.expect_silence(QUIET).await;
    viewer
        .send(json!({"type": "CHAT_MESSAGE", "message": "x".repeat(2001)}))
        .await;
    let error = viewer.recv_type("ERROR").await;
    assert!(error["message"].as_str().unwrap().contains("too long"));
    host.expect_silence(QUIET).await;

    let (status, _) = ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"is_chat_enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    host.recv_type("ROOM_UPDATED").await;
    viewer.recv_type("ROOM_UPDATED").await;
    viewer
        .send(json!({"type": "CHAT_MESSAGE", "message": "anyone?"}))
        .await;
    assert_eq!(
        viewer.recv().await,
        json!({"type": "ERROR", "code": "chat_disabled", "message": "Chat is disabled in this room"})
    );
    host.expect_silence(QUIET).await;
    let (_, history) = ana.get(&format!("/api/rooms/{code}/messages/")).await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        1,
        "nothing stored while disabled"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_rate_limited_per_user() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut delivered = 0;
    let mut refused = 0;
    for i in 0..30 {
        host.send(json!({"type": "CHAT_MESSAGE", "message": format!("spam {i}")}))
            .await;
        match host.recv().await["type"].as_str().unwrap() {
            "CHAT_MESSAGE" => delivered += 1,
            "ERROR" => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        delivered >= 10 && refused >= 1,
        "delivered {delivered}, refused {refused}"
    );
    let (_, history) = ana
        .get(&format!("/api/rooms/{code}/messages/?limit=100"))
        .await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        delivered,
        "refused messages are not stored"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_and_junk_is_ignored() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    host.send(json!({"type": "PING", "client_time": 1763928000123u64}))
        .await;
    let pong = host.recv_type("PONG").await;
    assert_eq!(pong["client_time"], 1763928000123u64);
    assert!(pong["server_time"].as_i64().unwrap() > 0);

    for junk in [
        "not json",
        "{}",
        r#"{"type":"DANCE"}"#,
        r#"{"type":"PLAY"}"#,
        r#"{"type":"PLAY","time":-5}"#,
        r#"{"type":"SEEK","time":1e9}"#,
        r#"{"type":"SEEK","time":"12"}"#,
        r#"{"type":"CHAT_MESSAGE"}"#,
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ] {
        host.send_raw(Message::text(junk)).await;
    }
    host.send_raw(Message::binary(vec![1u8, 2, 3])).await;
    host.expect_silence(QUIET).await;
    host.send(json!({"type": "PING", "client_time": 1.5})).await;
    assert_eq!(
        host.recv_type("PONG").await["client_time"],
        1.5,
        "still open and answering"
    );
    let (_, room) = ana.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(room["playback"]["time"], 0.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_happen_before_the_upgrade() {
    let server = TestServer::builder()
        .allowed_origins(&["https://friends.example"])
        .start()
        .await;
    let ana = server.user("ana").await;
    let eve = server.user("eve").await;
    let code = ana.create_room("film").await;
    assert_eq!(
        eve.connect(&code).await.err(),
        Some(StatusCode::FORBIDDEN),
        "not a participant"
    );
    assert_eq!(
        ana.connect("ZZZZZZZZZZ").await.err(),
        Some(StatusCode::NOT_FOUND)
    );
    let token = ana.token().await;
    let evil = WsClient::connect(
        server.port,
        &code,
        Some(&token),
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(evil.err(), Some(StatusCode::FORBIDDEN));
    // The refused attempt did not spend the token's single use.
    let same_origin = format!("http://127.0.0.1:{}", server.port);
    assert!(
        WsClient::connect(server.port, &code, Some(&token), Some(&same_origin))
            .await
            .is_ok()
    );
    let token = ana.token().await;
    assert!(WsClient::connect(
        server.port,
        &code,
        Some(&token),
        Some("https://friends.example")
    )
    .await
    .is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_stops_reading_is_closed_not_buffered() {
    // Room for a reading host that falls a few dozen updates behind on a
    // busy machine (shedding it would start a grace and refuse new videos).
    let server = TestServer::builder().outbox_capacity(128).start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    // Bob completes the upgrade with a tiny receive buffer, then never reads.
    let _stalled = bob.enter_raw(&code, Some(2048)).await;
    host.recv_type("USER_JOINED").await;

    // The host keeps reading; it must see Bob shed while it is served.
    let bob_id = bob.id;
    // It hands its socket back when done: closing it would start a grace,
    // which refuses new videos to the updates still on their way.
    let reader = tokio::spawn(async move {
        loop {
            let Some(message) = host.try_recv(Duration::from_secs(20)).await else {
                return (false, host);
            };
            if message["type"] == "USER_LEFT" && message["user"]["id"] == bob_id {
                return (true, host);
            }
        }
    });
    // Room updates of 2 KB each until Bob is shed. The server caps its
    // kernel send buffer, so that takes well under 2 MB: left to autotuning
    // the kernel alone would hold up to 4 MB for him.
    let path = format!("/api/rooms/{code}/");
    let mut sent = 0;
    for i in 0..4000 {
        if reader.is_finished() {
            break;
        }
        sent += 1;
        let url = format!("https://example.com/{i}/{}", "v".repeat(2000));
        let (status, _) = ana.patch(&path, json!({"media_url": url})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (shed, _host) = reader.await.unwrap();
    assert!(shed, "the stalled socket was never shed");
    assert!(sent < 1000, "shed only after {sent} updates of 2 KB");
    let metrics = server.client().metrics().await;
    assert!(
        !metrics.contains("watchparty_slow_consumers_closed_total 0"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_holds_a_bounded_number_of_sockets() {
    const CAP: usize = 3;
    let server = TestServer::builder()
        .with(|s| s.rooms.max_sockets_per_user = CAP)
        .start()
        .await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    bob.join(&code).await;
    let mut tabs = Vec::new();
    for _ in 0..CAP {
        tabs.push(ana.connect(&code).await.expect("under the cap"));
    }
    let refused = ana.connect(&code).await.err();
    assert_eq!(refused, Some(StatusCode::TOO_MANY_REQUESTS));
    // The refusal says what is wrong (too many tabs), not "too many attempts",
    // which would read like a login throttle.
    let token = ana.token().await;
    let answer = ana
        .http
        .get(ana.url(&format!("/ws/rooms/{code}/?token={token}")))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tabs or windows") && !message.contains("attempts"),
        "{body}"
    );
    // Somebody else is not affected.
    let mut other = bob.connect(&code).await.expect("bob's own place");
    other.recv_type("PLAYBACK_STATE").await;
    // A closed socket gives its place back.
    tabs.pop().unwrap().close().await;
    let freed = Instant::now();
    loop {
        match ana.connect(&code).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
                assert!(
                    freed.elapsed() < Duration::from_secs(5),
                    "place never freed"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    println!("FIGURE {CAP} sockets per user: the next one is refused with 429 before the upgrade, others unaffected, and a closed one frees its place");
    server.stop().await;
}

/// Milliseconds since the Unix epoch by this machine's clock, which the
/// server shares.
fn epoch_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// A controller's `at` dates its command when it lies within the last
/// second (and after the current state): a host far away does not put
/// everyone behind by its upload delay. Otherwise the arrival time counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controllers_at_dates_the_change_when_it_is_recent() {
    let server = TestServer::start().await;
    let Party {
        host_socket: mut host,
        viewer_socket: mut viewer,
        ..
    } = server.party().await;
    // An `at` is never earlier than the state it changes: let the room's
    // first state grow older than the `at` below.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let at = epoch_ms() - 300;
    host.send(json!({"type": "PLAY", "time": 10.0, "at": at}))
        .await;
    let play = viewer.recv_type("PLAY").await;
    assert_eq!(play["server_time"], at, "{play}");
    assert_eq!(play["time"], 10.0);

    // Too old, in the future, or before the state it changes: on arrival.
    for offset in [-5_000, 5_000] {
        let sent = epoch_ms();
        host.send(json!({"type": "SEEK", "time": 20.0, "at": sent + offset}))
            .await;
        let seek = viewer.recv_type("SEEK").await;
        let stamped = seek["server_time"].as_i64().unwrap();
        assert!(
            stamped >= sent && stamped <= epoch_ms(),
            "at {offset:+} ms: stamped {stamped}, sent at {sent}"
        );
    }
    let state_at = epoch_ms();
    host.send(json!({"type": "PAUSE", "time": 21.0, "at": state_at - 900}))
        .await;
    let pause = viewer.recv_type("PAUSE").await;
    assert!(
        pause["server_time"].as_i64().unwrap() >= state_at - 10,
        "an at before the seek it follows is not used: {pause}"
    );
    server.stop().await;
}
