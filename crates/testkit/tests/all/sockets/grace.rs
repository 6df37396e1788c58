//! docs/protocol.md, host grace: the room waits for its host, then closes once.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use std::time::{Duration, Instant};
use watchparty_testkit::{Party, StatusCode, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_leaving_freezes_playback_and_returning_resumes_it() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let Party {
        host: ana,
        viewer: bob,
        code,
        host_socket: mut host,
        viewer_socket: mut viewer,
    } = server.party().await;
    host.send(json!({"type": "PLAY", "time": 50.0})).await;
    viewer.recv_type("PLAY").await;

    host.close().await;
    viewer.recv_type("USER_LEFT").await;
    let away = viewer.recv_type("HOST_DISCONNECTED").await;
    assert_eq!(away["grace_seconds"], 30);
    assert!(away["grace_expires_at"].as_str().unwrap().ends_with('Z'));
    let frozen = viewer.recv_type("PLAYBACK_STATE").await;
    assert_eq!(frozen["is_playing"], false);
    let frozen_at = frozen["time"].as_f64().unwrap();
    assert!(frozen_at >= 50.0);

    let (_, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(room["room"]["status"], "grace");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(
        room["playback"]["time"].as_f64().unwrap(),
        frozen_at,
        "frozen while the host is away"
    );

    // Grace does not stop chat nor newcomers.
    viewer
        .send(json!({"type": "CHAT_MESSAGE", "message": "where did ana go"}))
        .await;
    viewer.recv_type("CHAT_MESSAGE").await;
    let cat = server.user("cat").await;
    let mut late = cat.enter(&code).await;
    viewer.recv_type("USER_JOINED").await;

    let mut back = ana.connect(&code).await.unwrap();
    let state = back.recv_type("PLAYBACK_STATE").await;
    assert_eq!(
        state["is_playing"], true,
        "the returning host gets the resumed state"
    );
    let presence = back.recv_type("PRESENCE").await;
    back.recv_type("CAPABILITIES").await;
    assert_eq!(presence["host_status"], "online");
    for socket in [&mut viewer, &mut late] {
        socket.recv_type("HOST_RECONNECTED").await;
        let resumed = socket.recv_type("PLAYBACK_STATE").await;
        assert_eq!(resumed["is_playing"], true);
        assert!(resumed["time"].as_f64().unwrap() >= frozen_at);
        socket.recv_type("USER_JOINED").await;
    }
    let (_, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(room["room"]["status"], "open");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_expiry_closes_the_room_once() {
    let server = TestServer::builder().host_grace_secs(1).start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    let host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    let mut viewer_tab = bob.enter(&code).await;
    host.close().await;
    let started = Instant::now();
    viewer.recv_type("USER_LEFT").await;
    viewer.recv_type("HOST_DISCONNECTED").await;
    viewer.recv_type("PLAYBACK_STATE").await;
    for socket in [&mut viewer, &mut viewer_tab] {
        let closed = socket.recv_until("ROOM_CLOSED").await;
        assert_eq!(closed["reason"], "host_timeout");
        assert_eq!(socket.closed_with().await, Some(4002));
    }
    assert!(
        started.elapsed() < Duration::from_secs(1 + 2),
        "closed within 2 s of the deadline"
    );

    let (status, body) = bob.post_empty(&format!("/api/rooms/{code}/join/")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::GONE, &json!("room_closed"))
    );
    let (status, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(room["room"]["status"], "closed");
    assert_eq!(bob.connect(&code).await.err(), Some(StatusCode::GONE));
    assert_eq!(
        ana.connect(&code).await.err(),
        Some(StatusCode::GONE),
        "a late host does not reopen it"
    );
    let (status, _) = ana
        .patch(&format!("/api/rooms/{code}/"), json!({"name": "again"}))
        .await;
    assert_eq!(status, StatusCode::GONE);
    let (_, listed) = bob.get("/api/rooms/public/").await;
    assert!(
        listed["rooms"].as_array().unwrap().is_empty(),
        "closed rooms are not listed"
    );
    let (status, _) = ana.delete(&format!("/api/rooms/{code}/")).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a closed room can still be deleted"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_forgets_nor_resets_a_running_grace() {
    let server = TestServer::builder().host_grace_secs(3).start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    let host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    host.close().await;
    let away = viewer.recv_until("HOST_DISCONNECTED").await;
    let expires_at = away["grace_expires_at"].as_str().unwrap().to_owned();
    let started = Instant::now();

    let server = server.restart().await;
    let bob = bob.client.clone();
    // Sessions lived in the old process; log in again on the new one.
    let client = server.client();
    let (status, _) = client
        .post(
            "/api/auth/login/",
            json!({"email": format!("{}", ana.email), "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, room) = client.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        room["room"]["status"], "grace",
        "the grace survived the restart"
    );
    drop(bob);

    // It ends at the original deadline, not three seconds after the restart.
    loop {
        let (_, room) = client.get(&format!("/api/rooms/{code}/")).await;
        if room["room"]["status"] == "closed" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3 + 2),
            "not closed by {expires_at} + 2 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(started.elapsed() < Duration::from_secs(3 + 2));
    server.stop().await;
}
