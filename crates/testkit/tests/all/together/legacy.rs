//! Part two's promise: a client written for §1–6 alone, which never uses the
//! new features, sees what it saw before. It reads the two opening messages
//! it knows, ignores message types and fields it does not, and drives
//! playback as a host.

use super::*;
use watchparty_testkit::TestServer;

/// The fields of `message` that §5 names, as a §1–6 client reads them.
fn known(message: &Value, fields: &[&str]) -> Value {
    let mut kept = serde_json::Map::new();
    for field in fields {
        let value = message
            .get(*field)
            .unwrap_or_else(|| panic!("a §5 field {field} is missing: {message}"));
        kept.insert((*field).to_owned(), value.clone());
    }
    Value::Object(kept)
}

/// The next message whose type a §1–6 client knows, skipping the others.
async fn next_known(socket: &mut WsClient) -> Value {
    const KNOWN: [&str; 13] = [
        "PLAYBACK_STATE",
        "PRESENCE",
        "USER_JOINED",
        "USER_LEFT",
        "PLAY",
        "PAUSE",
        "SEEK",
        "CHAT_MESSAGE",
        "PONG",
        "ERROR",
        "HOST_DISCONNECTED",
        "HOST_RECONNECTED",
        "ROOM_UPDATED",
    ];
    loop {
        let message = socket.recv().await;
        let kind = message["type"].as_str().unwrap_or_default();
        if KNOWN.contains(&kind) || kind == "ROOM_CLOSED" {
            return message;
        }
        assert!(
            ["CAPABILITIES"].contains(&kind),
            "with no new feature used, only CAPABILITIES is new: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sections_1_to_6_client_sees_what_it_saw_before() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    let (_, body) = ana.get(&format!("/api/rooms/{code}/")).await;
    let room_fields = [
        "code",
        "name",
        "host",
        "is_private",
        "is_chat_enabled",
        "media_url",
        "status",
        "viewer_count",
        "created_at",
    ];
    let room = known(&body["room"], &room_fields);
    assert_eq!(room["host"], public(&ana));
    assert_eq!(room["status"], "open");
    let joined = bob.join(&code).await;
    assert_eq!(joined["participant"]["role"], "viewer");
    assert_eq!(joined["participant"]["is_approved"], true);

    // The host: exactly the two opening messages first, in order.
    let mut host = ana.connect(&code).await.unwrap();
    let state = host.recv().await;
    assert_eq!(
        known(&state, &["type", "is_playing", "time"]),
        json!({"type": "PLAYBACK_STATE", "is_playing": false, "time": 0.0})
    );
    assert!(state["server_time"].is_i64());
    let presence = host.recv().await;
    assert_eq!(presence["type"], "PRESENCE");
    assert_eq!(presence["host_status"], "online");
    let users: Vec<Value> = presence["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| known(u, &["id", "display_name", "is_host"]))
        .collect();
    assert_eq!(
        users,
        vec![json!({"id": ana.id, "display_name": "ana", "is_host": true})]
    );

    let mut viewer = bob.connect(&code).await.unwrap();
    assert_eq!(next_known(&mut viewer).await["type"], "PLAYBACK_STATE");
    assert_eq!(next_known(&mut viewer).await["type"], "PRESENCE");
    let joined = next_known(&mut host).await;
    assert_eq!(joined, json!({"type": "USER_JOINED", "user": public(&bob)}));

    // The host's playback round trip, the others following with §5's fields.
    for (command, time) in [
        ("PLAY", 12.5),
        ("PAUSE", 20.0),
        ("SEEK", 90.0),
        ("PLAY", 90.0),
    ] {
        host.send(json!({"type": command, "time": time})).await;
        let got = next_known(&mut viewer).await;
        assert_eq!(
            known(&got, &["type", "time"]),
            json!({"type": command, "time": time})
        );
        assert!(got["server_time"].is_i64(), "{got}");
    }
    host.expect_silence(QUIET).await;
    // A viewer's playback is still ignored; chat works as before.
    viewer.send(json!({"type": "PAUSE", "time": 1.0})).await;
    viewer
        .send(json!({"type": "CHAT_MESSAGE", "message": "  hi  "}))
        .await;
    let chat = next_known(&mut host).await;
    assert_eq!(
        known(&chat, &["type", "user", "message"]),
        json!({"type": "CHAT_MESSAGE", "user": public(&bob), "message": "hi"})
    );
    assert_eq!(
        next_known(&mut viewer).await,
        chat,
        "the sender gets it too"
    );
    let (_, body) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(body["playback"]["is_playing"], true);
    assert_eq!(body["room"]["viewer_count"], 2);

    // Grace as §5 says: USER_LEFT, HOST_DISCONNECTED, PLAYBACK_STATE paused.
    host.close().await;
    assert_eq!(next_known(&mut viewer).await["type"], "USER_LEFT");
    let away = next_known(&mut viewer).await;
    assert_eq!(away["type"], "HOST_DISCONNECTED");
    assert_eq!(away["grace_seconds"], 30);
    let frozen = next_known(&mut viewer).await;
    assert_eq!(
        known(&frozen, &["type", "is_playing"]),
        json!({"type": "PLAYBACK_STATE", "is_playing": false})
    );
    let mut back = ana.connect(&code).await.unwrap();
    assert_eq!(next_known(&mut back).await["is_playing"], true);
    assert_eq!(next_known(&mut viewer).await["type"], "HOST_RECONNECTED");
    let resumed = next_known(&mut viewer).await;
    assert_eq!(
        known(&resumed, &["type", "is_playing"]),
        json!({"type": "PLAYBACK_STATE", "is_playing": true})
    );
    assert_eq!(next_known(&mut viewer).await["type"], "USER_JOINED");

    // Deleting: ROOM_CLOSED deleted, close 4001.
    assert_eq!(
        ana.delete(&format!("/api/rooms/{code}/")).await.0,
        StatusCode::NO_CONTENT
    );
    let closed = next_known(&mut viewer).await;
    assert_eq!(closed, json!({"type": "ROOM_CLOSED", "reason": "deleted"}));
    assert_eq!(viewer.closed_with().await, Some(4001));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_errors_gain_codes_and_keep_their_text() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    sockets[1]
        .send(json!({"type": "CHAT_MESSAGE", "message": "x".repeat(2001)}))
        .await;
    let error = sockets[1].recv_type("ERROR").await;
    assert_eq!(error["code"], "too_long", "rule 21: {error}");
    assert!(error["message"].is_string());
    let (status, body) = people[0]
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"is_chat_enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sockets[1].recv_until("ROOM_UPDATED").await;
    sockets[1]
        .send(json!({"type": "CHAT_MESSAGE", "message": "hello"}))
        .await;
    let error = sockets[1].recv_type("ERROR").await;
    assert_eq!(
        error,
        json!({"type": "ERROR", "code": "chat_disabled", "message": "Chat is disabled in this room"})
    );
    sockets[0].recv_until("ROOM_UPDATED").await;
    sockets[0].expect_silence(QUIET).await;
    server.stop().await;
}
