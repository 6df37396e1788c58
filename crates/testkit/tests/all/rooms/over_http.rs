//! docs/protocol.md, rooms over HTTP.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use std::time::Duration;
use watchparty_testkit::{Party, StatusCode, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_get_and_join() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let (status, body) = ana
        .post("/api/rooms/", json!({"name": "  Friday film "}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let room = &body["room"];
    let code = room["code"].as_str().unwrap();
    assert!(
        code.len() >= 10
            && code
                .chars()
                .all(|c| "ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(c)),
        "{code}"
    );
    assert_eq!(room["name"], "Friday film");
    assert_eq!(room["host"], json!({"id": ana.id, "display_name": "ana"}));
    assert_eq!(room["is_private"], false);
    assert_eq!(room["is_chat_enabled"], true);
    assert_eq!(room["media_url"], serde_json::Value::Null);
    assert_eq!(room["status"], "open");
    assert_eq!(room["viewer_count"], 0);
    assert!(room["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, got) = ana
        .get(&format!("/api/rooms/{}/", code.to_lowercase()))
        .await;
    assert_eq!(status, StatusCode::OK, "codes match case-insensitively");
    assert_eq!(got["room"]["code"], code);
    assert_eq!(got["playback"]["is_playing"], false);
    assert_eq!(got["playback"]["time"], 0.0);
    assert!(got["playback"]["server_time"].as_i64().unwrap() > 1_700_000_000_000);

    let bob = server.user("bob").await;
    let first = bob.join(code).await;
    assert_eq!(first["participant"]["role"], "viewer");
    assert_eq!(first["participant"]["is_approved"], true);
    assert_eq!(
        first["participant"]["user"],
        json!({"id": bob.id, "display_name": "bob"})
    );
    assert!(
        first["participant"].get("email").is_none() && first["room"]["host"].get("email").is_none()
    );
    let again = bob.join(code).await;
    assert_eq!(
        again["participant"], first["participant"],
        "joining is idempotent"
    );
    let host_join = ana.join(code).await;
    assert_eq!(host_join["participant"]["role"], "host");

    // Without a trailing slash, the same answers.
    let (status, _) = ana.get(&format!("/api/rooms/{code}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .client()
        .post("/api/rooms/", json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = ana.post("/api/rooms/", json!({"name": ""})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("validation_error"))
    );
    let (status, _) = ana
        .post(
            "/api/rooms/",
            json!({"name": "x", "media_url": "javascript:alert(1)"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_deleted_and_private_rooms_answer_alike() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let eve = server.user("eve").await;
    let private = ana
        .create_room_with(json!({"name": "secret", "is_private": true}))
        .await;
    let deleted = ana.create_room("gone").await;
    let (status, _) = ana.delete(&format!("/api/rooms/{deleted}/")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (s1, unknown) = eve.get("/api/rooms/ZZZZZZZZZZ/").await;
    let (s2, hidden) = eve.get(&format!("/api/rooms/{private}/")).await;
    let (s3, gone) = eve.get(&format!("/api/rooms/{deleted}/")).await;
    let (s4, malformed) = eve.get("/api/rooms/not-a-code!/").await;
    assert_eq!([s1, s2, s3, s4], [StatusCode::NOT_FOUND; 4]);
    assert!(
        unknown == hidden && hidden == gone && gone == malformed,
        "{unknown} {hidden} {gone} {malformed}"
    );
    assert_eq!(unknown["error"]["code"], "not_found");
    for path in [
        format!("/api/rooms/{deleted}/join/"),
        format!("/api/rooms/{deleted}/messages/"),
    ] {
        let (status, _) = if path.ends_with("join/") {
            ana.post_empty(&path).await
        } else {
            ana.get(&path).await
        };
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // The code is the invitation: a private room can be joined, then seen.
    eve.join(&private).await;
    let (status, _) = eve.get(&format!("/api/rooms/{private}/")).await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_codes_is_throttled() {
    let server = TestServer::start().await;
    let eve = server.user("eve").await;
    let mut last = StatusCode::OK;
    for i in 0..40 {
        let (status, _) = eve
            .get(
                &format!("/api/rooms/ZZZZZZZZ{:02}/", i % 100)
                    .replace('0', "A")
                    .replace('1', "B"),
            )
            .await;
        last = status;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_updates_the_room_and_sockets_hear_it() {
    let server = TestServer::start().await;
    let Party {
        host: ana,
        viewer: bob,
        code,
        host_socket: mut host,
        viewer_socket: mut viewer,
    } = server.party().await;

    host.send(json!({"type": "PLAY", "time": 30.0})).await;
    viewer.recv_type("PLAY").await;

    let (status, body) = bob
        .patch(&format!("/api/rooms/{code}/"), json!({"name": "mine"}))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let (status, body) = ana
        .patch(&format!("/api/rooms/{code}/"), json!({"name": ""}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{code}"),
            json!({"name": "Saturday film", "media_url": "https://example.com/v.mp4"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["name"], "Saturday film");
    assert_eq!(body["room"]["viewer_count"], 2);
    for socket in [&mut host, &mut viewer] {
        // The new video replaces the current item (§12): the queue says so first.
        let advanced = socket.recv_type("QUEUE_UPDATED").await;
        assert_eq!(advanced["op"], "advanced");
        assert_eq!(advanced["item"]["media_url"], "https://example.com/v.mp4");
        let updated = socket.recv_type("ROOM_UPDATED").await;
        assert_eq!(updated["room"]["media_url"], "https://example.com/v.mp4");
        let playback = socket.recv_type("PLAYBACK_STATE").await;
        assert_eq!(
            (playback["is_playing"].clone(), playback["time"].clone()),
            (json!(false), json!(0.0)),
            "a new video starts paused at 0"
        );
    }
    let (_, got) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(got["playback"]["is_playing"], false);

    // Clearing the video with an explicit null; absent fields stay.
    let (status, body) = ana
        .patch(&format!("/api/rooms/{code}/"), json!({"media_url": null}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["room"]["media_url"], serde_json::Value::Null);
    assert_eq!(body["room"]["name"], "Saturday film");
    for socket in [&mut host, &mut viewer] {
        let advanced = socket.recv_type("QUEUE_UPDATED").await;
        assert!(
            advanced.get("item").is_none(),
            "no item is current: {advanced}"
        );
        socket.recv_type("ROOM_UPDATED").await;
        let playback = socket.recv_type("PLAYBACK_STATE").await;
        assert_eq!(playback["item_id"], serde_json::Value::Null);
    }

    // A change that changes nothing answers 200 and announces nothing.
    for unchanged in [
        json!({}),
        json!({"name": "Saturday film", "media_url": null}),
    ] {
        let (status, body) = ana.patch(&format!("/api/rooms/{code}/"), unchanged).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["room"]["name"], "Saturday film");
    }
    for socket in [&mut host, &mut viewer] {
        socket.expect_silence(Duration::from_millis(300)).await;
    }

    let (status, body) = bob.delete(&format!("/api/rooms/{code}/")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("not_owner"))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_closes_every_socket_and_the_room_is_gone() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    let mut viewer_tab = bob.enter(&code).await;
    let (status, _) = ana.delete(&format!("/api/rooms/{code}/")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for socket in [&mut host, &mut viewer, &mut viewer_tab] {
        let closed = socket.recv_until("ROOM_CLOSED").await;
        assert_eq!(closed["reason"], "deleted");
        assert_eq!(socket.closed_with().await, Some(4001));
    }
    for (status, _) in [
        ana.get(&format!("/api/rooms/{code}/")).await,
        bob.post_empty(&format!("/api/rooms/{code}/join/")).await,
        ana.patch(&format!("/api/rooms/{code}/"), json!({"name": "x"}))
            .await,
        ana.delete(&format!("/api/rooms/{code}/")).await,
    ] {
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(bob.connect(&code).await.err(), Some(StatusCode::NOT_FOUND));
    let (_, listed) = server.client().get("/api/rooms/public/").await;
    assert!(listed["rooms"].as_array().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_listing_orders_by_viewers_then_newest() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let quiet_old = ana.create_room("quiet old").await;
    let busy = ana.create_room("busy").await;
    let _private = ana
        .create_room_with(json!({"name": "hidden", "is_private": true}))
        .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let quiet_new = ana.create_room("quiet new").await;
    let _a = ana.enter(&busy).await;
    let _b = bob.enter(&busy).await;

    let anonymous = server.client();
    let (status, body) = anonymous.get("/api/rooms/public/").await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<&str> = body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        vec![busy.as_str(), quiet_new.as_str(), quiet_old.as_str()]
    );
    assert_eq!(body["rooms"][0]["viewer_count"], 2);

    let (_, page) = anonymous.get("/api/rooms/public/?limit=1&offset=1").await;
    assert_eq!(page["rooms"][0]["code"], quiet_new);
    let (_, page) = anonymous.get("/api/rooms/public?limit=2&offset=2").await;
    assert_eq!(page["rooms"].as_array().unwrap().len(), 1);
    for bad in ["limit=0", "limit=101", "limit=abc", "offset=-1"] {
        let (status, body) = anonymous.get(&format!("/api/rooms/public/?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_history_pages_and_fills_gaps() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let eve = server.user("eve").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        host.send(json!({"type": "CHAT_MESSAGE", "message": format!("  hello {i} ")}))
            .await;
        let message = host.recv_type("CHAT_MESSAGE").await;
        assert_eq!(message["message"], format!("hello {i}"));
        ids.push(message["id"].as_i64().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let (status, body) = bob.get(&format!("/api/rooms/{code}/messages/")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden")),
        "participants only"
    );
    bob.join(&code).await;
    let (status, body) = bob.get(&format!("/api/rooms/{code}/messages/")).await;
    assert_eq!(status, StatusCode::OK);
    let all = body["messages"].as_array().unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[0]["user"], json!({"id": ana.id, "display_name": "ana"}));
    assert_eq!(all[4]["message"], "hello 4");

    let latest = bob.history_ids(&code, "?limit=2").await;
    assert_eq!(latest, ids[3..].to_vec(), "the newest, oldest first");
    let before = bob
        .history_ids(&code, &format!("?before={}&limit=2", ids[3]))
        .await;
    assert_eq!(before, ids[1..3].to_vec());
    let after = bob.history_ids(&code, &format!("?after={}", ids[1])).await;
    assert_eq!(after, ids[2..].to_vec());
    let (status, _) = bob
        .get(&format!("/api/rooms/{code}/messages/?limit=500"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let private = ana
        .create_room_with(json!({"name": "p", "is_private": true}))
        .await;
    let (status, _) = eve.get(&format!("/api/rooms/{private}/messages/")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a private room's history is not even acknowledged"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_methods_answer_in_the_error_shape() {
    let server = TestServer::start().await;
    let client = server.client();
    let (status, body) = client.get("/api/nothing-here/").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    let (status, body) = client.get("/api/auth/login/").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"]["code"].is_string());
    server.stop().await;
}
