//! `PRESENCE.host_status` before, during and after the host's first
//! connection: "offline" until the host has connected, then "online", then
//! "grace" when the host leaves — and never "online" with no host there.
//! The first test runs on whichever backend `WATCHPARTY_TEST_BACKEND` names
//! (in-process live state, or Redis with `production`); the second always
//! runs two instances on Redis.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use serde_json::{json, Value};
use std::time::Duration;
use watchparty_testkit::{TestServer, TestUser, WsClient};

const QUIET: Duration = Duration::from_millis(300);

/// Joins over HTTP, connects, and returns the socket with its `PRESENCE`.
async fn arrive(user: &TestUser, code: &str) -> (WsClient, Value) {
    user.join(code).await;
    let mut socket = user.connect(code).await.expect("socket accepted");
    socket.recv_type("PLAYBACK_STATE").await;
    let presence = socket.recv_type("PRESENCE").await;
    socket.recv_type("CAPABILITIES").await;
    (socket, presence)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_is_offline_until_first_connected_then_online_then_in_grace() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;

    // A viewer who comes first: the host is not there and the room is not in grace.
    let (mut early, presence) = arrive(&bob, &code).await;
    assert_eq!(presence["host_status"], "offline", "{presence}");
    assert_eq!(
        presence["users"],
        json!([{"id": bob.id, "display_name": "bob", "is_host": false, "role": "viewer"}])
    );
    let (_, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_ne!(
        room["room"]["status"], "grace",
        "no grace before the host came: {room}"
    );
    early.expect_silence(QUIET).await;

    // The host's first socket: the early viewer learns it from USER_JOINED.
    let (mut host, presence) = arrive(&ana, &code).await;
    assert_eq!(presence["host_status"], "online", "{presence}");
    let joined = early.recv().await;
    assert_eq!(joined["type"], "USER_JOINED", "{joined}");
    assert_eq!(joined["user"], json!({"id": ana.id, "display_name": "ana"}));
    early.expect_silence(QUIET).await;

    // Anyone arriving now sees the host online.
    let cat = server.user("cat").await;
    let (_late, presence) = arrive(&cat, &code).await;
    assert_eq!(presence["host_status"], "online", "{presence}");
    let hosts: Vec<&Value> = presence["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["is_host"] == true)
        .collect();
    assert_eq!(hosts.len(), 1, "the host is listed: {presence}");
    host.recv_type("USER_JOINED").await;

    // The host leaves: grace, and a newcomer reads "grace", not "offline".
    host.close().await;
    early.recv_until("HOST_DISCONNECTED").await;
    let dan = server.user("dan").await;
    let (_dan, presence) = arrive(&dan, &code).await;
    assert_eq!(presence["host_status"], "grace", "{presence}");

    // Back within grace: online again.
    let (_back, presence) = arrive(&ana, &code).await;
    assert_eq!(presence["host_status"], "online", "{presence}");
    early.recv_until("HOST_RECONNECTED").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_instances_the_host_is_offline_until_their_first_socket_opens_anywhere() {
    let a = TestServer::production().host_grace_secs(30).start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let code = ana.create_room("film").await;

    let (mut viewer, presence) = arrive(&bob, &code).await;
    assert_eq!(presence["host_status"], "offline", "{presence}");

    // The host connects on the other instance.
    let (_host, presence) = arrive(&ana, &code).await;
    assert_eq!(presence["host_status"], "online", "{presence}");
    let joined = viewer.recv_type("USER_JOINED").await;
    assert_eq!(joined["user"]["id"], ana.id);

    let cat = b.user("cat").await;
    let (_late, presence) = arrive(&cat, &code).await;
    assert_eq!(
        presence["host_status"], "online",
        "an instance without the host's socket still sees them: {presence}"
    );
    b.stop().await;
    a.stop().await;
}
