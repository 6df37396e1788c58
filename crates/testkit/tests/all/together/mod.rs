//! Contract §7–§12 and the rules of §13 that settle them, black-box:
//! roles and capabilities, host changes, moderation, the group wait, sync
//! telemetry, playback rate, the queue, and the abuse the issues list. Written from the contract alone; the helpers here
//! speak it as a client written from that text would.
//!
//! Every test here runs on the backend `WATCHPARTY_TEST_BACKEND` names; the
//! two-instance tests are in `instances::together` and `instances::queue`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod abuse;
mod host_changes;
mod legacy;
mod moderation;
pub mod queue;
pub mod rate;
mod roles;
pub mod sync;
pub mod waits;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};
use watchparty_testkit::{Endpoint, StatusCode, TestUser, WsClient};

/// How long a test listens for something that must not come.
pub const QUIET: Duration = Duration::from_millis(400);

/// Every capability the contract's table names, and who holds them by default.
pub const HOST_CAPS: [&str; 7] = [
    "control_playback",
    "chat",
    "add_to_queue",
    "manage_queue",
    "moderate",
    "edit_room",
    "manage_roles",
];
pub const CO_HOST_CAPS: [&str; 6] = [
    "control_playback",
    "chat",
    "add_to_queue",
    "manage_queue",
    "moderate",
    "edit_room",
];
pub const VIEWER_CAPS: [&str; 2] = ["chat", "add_to_queue"];

/// The set of names in a list (a `CAPABILITIES` message's, or a constant).
pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// The capabilities a `CAPABILITIES` message grants.
pub fn caps(message: &Value) -> BTreeSet<String> {
    assert_eq!(
        message["type"], "CAPABILITIES",
        "not CAPABILITIES: {message}"
    );
    message["capabilities"]
        .as_array()
        .unwrap_or_else(|| panic!("capabilities is a list: {message}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// Connects (the user must already be a participant) and reads the three
/// opening messages: `PLAYBACK_STATE`, `PRESENCE`, `CAPABILITIES`, in order.
pub async fn open(user: &TestUser, code: &str) -> (WsClient, [Value; 3]) {
    let mut socket = user.connect(code).await.expect("socket accepted");
    let state = socket.recv().await;
    assert_eq!(state["type"], "PLAYBACK_STATE", "first: {state}");
    let presence = socket.recv().await;
    assert_eq!(presence["type"], "PRESENCE", "second: {presence}");
    let capabilities = socket.recv().await;
    assert_eq!(
        capabilities["type"], "CAPABILITIES",
        "third message after PRESENCE (§7): {capabilities}"
    );
    (socket, [state, presence, capabilities])
}

/// Joins over HTTP, then [`open`]s a socket; returns it past its three opening messages.
pub async fn enter(user: &TestUser, code: &str) -> WsClient {
    user.join(code).await;
    open(user, code).await.0
}

/// A public room created by `names[0]` (owner and host), everyone else
/// joined in order, every one connected, each socket past the `USER_JOINED`s
/// of those who came after it.
pub async fn gathering(
    server: &Endpoint,
    names: &[&str],
) -> (String, Vec<TestUser>, Vec<WsClient>) {
    gathering_with(server, names, json!({"name": "together"})).await
}

/// [`gathering`] with the room created from `body`.
pub async fn gathering_with(
    server: &Endpoint,
    names: &[&str],
    body: Value,
) -> (String, Vec<TestUser>, Vec<WsClient>) {
    let mut users = Vec::new();
    for name in names {
        users.push(server.user(name).await);
    }
    let code = users[0].create_room_with(body).await;
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(enter(user, &code).await);
    }
    let count = sockets.len();
    for (i, socket) in sockets.iter_mut().enumerate() {
        for _ in i + 1..count {
            socket.recv_type("USER_JOINED").await;
        }
    }
    (code, users, sockets)
}

/// `PUT …/participants/{id}/role/`.
pub async fn put_role(
    actor: &TestUser,
    code: &str,
    target: i64,
    role: &str,
) -> (StatusCode, Value) {
    let url = actor.url(&format!("/api/rooms/{code}/participants/{target}/role/"));
    watchparty_testkit::answer(
        actor
            .http
            .put(url)
            .json(&json!({"role": role}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A PUT with any body.
pub async fn put(actor: &TestUser, path: &str, body: Value) -> (StatusCode, Value) {
    let url = actor.url(path);
    watchparty_testkit::answer(actor.http.put(url).json(&body).send().await.unwrap()).await
}

/// `GET …/participants/`, which must answer 200.
pub async fn participants(actor: &TestUser, code: &str) -> Vec<Value> {
    let (status, body) = actor.get(&format!("/api/rooms/{code}/participants/")).await;
    assert_eq!(status, StatusCode::OK, "participants: {body}");
    body["participants"].as_array().unwrap().clone()
}

/// (user id, role) of each participant, in the order listed.
pub fn roster(list: &[Value]) -> Vec<(i64, String)> {
    list.iter()
        .map(|p| {
            (
                p["user"]["id"].as_i64().unwrap(),
                p["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `GET /api/rooms/{code}/`, which must answer 200: `{"room", "playback"}`.
pub async fn room(actor: &TestUser, code: &str) -> Value {
    let (status, body) = actor.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(status, StatusCode::OK, "room: {body}");
    body
}

/// `GET …/audit/{query}`, which must answer 200: the entries.
pub async fn audit(actor: &TestUser, code: &str, query: &str) -> Vec<Value> {
    let (status, body) = actor.get(&format!("/api/rooms/{code}/audit/{query}")).await;
    assert_eq!(status, StatusCode::OK, "audit: {body}");
    body["entries"].as_array().unwrap().clone()
}

/// The error code of an error answer.
pub fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// Asserts status and error code together, naming the request.
#[track_caller]
pub fn refused(what: &str, answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(
        (answer.0, code_of(&answer.1)),
        (status, code),
        "{what}: expected {status} {code}, got {} {}",
        answer.0,
        answer.1
    );
}

/// Every message that arrives on `socket` within `wait`.
pub async fn gather(socket: &mut WsClient, wait: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match socket.try_recv(left).await {
            Some(message) => seen.push(message),
            None => return seen,
        }
    }
}

/// The types of `messages`, in order.
pub fn types(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["type"].as_str().unwrap_or("?"))
        .collect()
}

/// Reads until a message of type `kind` arrives, returning it and what came before.
pub async fn until(socket: &mut WsClient, kind: &str) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let message = socket.recv().await;
        if message["type"] == kind {
            return (message, before);
        }
        before.push(message);
    }
}

/// A `PublicUser` as the contract writes it.
pub fn public(user: &TestUser) -> Value {
    json!({"id": user.id, "display_name": user.name})
}

/// An RFC 3339 time as a `SystemTime`.
pub fn instant(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339:?} is not RFC 3339 UTC: {e}"))
}

/// Seconds from now until `rfc3339` (negative when past).
pub fn seconds_until(rfc3339: &str) -> f64 {
    let at = instant(rfc3339);
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => ahead.as_secs_f64(),
        Err(past) => -past.duration().as_secs_f64(),
    }
}

/// Checks the shape of a §7 `Participant`.
#[track_caller]
pub fn assert_participant(p: &Value) {
    for field in [
        "user",
        "role",
        "is_approved",
        "joined_at",
        "is_muted",
        "muted_until",
        "is_connected",
    ] {
        assert!(p.get(field).is_some(), "Participant lacks {field}: {p}");
    }
    assert!(p["user"].get("email").is_none(), "never an email: {p}");
    assert!(
        p["is_connected"].is_boolean() && p["is_muted"].is_boolean(),
        "{p}"
    );
}

/// The sockets at `which` (by index), each borrowed once.
pub fn pick<'a>(sockets: &'a mut [WsClient], which: &[usize]) -> Vec<&'a mut WsClient> {
    sockets
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| which.contains(i))
        .map(|(_, s)| s)
        .collect()
}

/// The same user logged in afresh on `server` (sessions may not survive a restart).
pub async fn login(server: &Endpoint, user: &TestUser) -> TestUser {
    let client = server.client();
    let (status, body) = client
        .post(
            "/api/auth/login/",
            json!({"email": user.email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "login: {body}");
    TestUser {
        client,
        ..user.clone()
    }
}
