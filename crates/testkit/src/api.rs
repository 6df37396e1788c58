//! HTTP clients: one cookie jar each, answers as `(status, JSON body)`.

use crate::{RawSocket, StatusCode, TestServer, WsClient, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_USER: AtomicU64 = AtomicU64::new(1);

const JSON: &str = "application/json";

/// HTTP with a cookie jar, answering `(status, JSON body)`.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    port: u16,
    /// The underlying client, for requests the helpers do not cover.
    pub http: reqwest::Client,
}

/// The status and JSON body of an answer. An error body's `request_id` is
/// different for every request by design, so it is left out here, where
/// tests compare answers; `ops.rs` checks the id itself.
pub async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let mut body = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
        error.remove("request_id");
    }
    (status, body)
}

impl ApiClient {
    /// A client of the server at `base` (`http://host:port`) with its own
    /// cookie jar, not logged in.
    pub fn new(base: &str, port: u16) -> ApiClient {
        ApiClient {
            base: base.to_owned(),
            port,
            http: reqwest::Client::builder()
                .cookie_store(true)
                .timeout(WAIT)
                .build()
                .unwrap(),
        }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        answer(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        answer(
            self.http
                .post(self.url(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// POST without a body. Like the web client it says `Content-Type:
    /// application/json`: a state-changing request without it (or a
    /// same-origin `Origin`) is refused as possibly cross-site.
    pub async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        let request = self.http.post(self.url(path)).header("content-type", JSON);
        answer(request.send().await.unwrap()).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        answer(
            self.http
                .patch(self.url(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        answer(
            self.http
                .put(self.url(path))
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// DELETE, with `Content-Type: application/json` as [`ApiClient::post_empty`].
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let request = self
            .http
            .delete(self.url(path))
            .header("content-type", JSON);
        answer(request.send().await.unwrap()).await
    }

    /// The same client (same cookie jar) talking to another instance.
    pub fn on(&self, server: &TestServer) -> ApiClient {
        self.at(&server.url(""), server.port)
    }

    /// The same client talking to `base` (`http://host:port`), such as a proxy.
    pub fn at(&self, base: &str, port: u16) -> ApiClient {
        ApiClient {
            base: base.to_owned(),
            port,
            http: self.http.clone(),
        }
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// A room's chat history with `query` (such as `?after=3`); fails unless 200.
    pub async fn history(&self, code: &str, query: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/rooms/{code}/messages/{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "history: {body}");
        body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Every message of a room's history after id `after`, oldest first,
    /// fetched page by page.
    pub async fn history_after(&self, code: &str, after: i64) -> Vec<Value> {
        let mut messages: Vec<Value> = Vec::new();
        loop {
            let last = messages
                .last()
                .and_then(|m| m["id"].as_i64())
                .unwrap_or(after);
            let page = self
                .history(code, &format!("?after={last}&limit=100"))
                .await;
            let full = page.len() == 100;
            messages.extend(page);
            if !full {
                return messages;
            }
        }
    }

    /// The codes the public listing shows for `query` (such as `?limit=100`),
    /// in order; fails unless 200.
    pub async fn public_codes(&self, query: &str) -> Vec<String> {
        let (status, body) = self.get(&format!("/api/rooms/public/{query}")).await;
        assert_eq!(status, StatusCode::OK, "public listing: {body}");
        body["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The ids of a room's chat history with `query`.
    pub async fn history_ids(&self, code: &str, query: &str) -> Vec<i64> {
        self.history(code, query)
            .await
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    }

    /// `GET /api/rooms/{code}/queue/`: `{"current", "items", "queue_version"}`.
    pub async fn queue(&self, code: &str) -> (StatusCode, Value) {
        self.get(&format!("/api/rooms/{code}/queue/")).await
    }

    /// `POST /api/rooms/{code}/queue/` with `{"media_url", "title"?, "duration"?, "position"?}`.
    pub async fn enqueue(&self, code: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/api/rooms/{code}/queue/"), body).await
    }

    /// `DELETE /api/rooms/{code}/queue/{item}/`.
    pub async fn unqueue(&self, code: &str, item: i64) -> (StatusCode, Value) {
        self.delete(&format!("/api/rooms/{code}/queue/{item}/"))
            .await
    }

    /// `POST /api/rooms/{code}/queue/{item}/move/` with `{"after", "if_version"?}`.
    pub async fn move_item(&self, code: &str, item: i64, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/api/rooms/{code}/queue/{item}/move/"), body)
            .await
    }

    /// `PUT /api/rooms/{code}/queue/{item}/vote/`.
    pub async fn vote(&self, code: &str, item: i64) -> (StatusCode, Value) {
        let request = self
            .http
            .put(self.url(&format!("/api/rooms/{code}/queue/{item}/vote/")))
            .header("content-type", JSON);
        answer(request.send().await.unwrap()).await
    }

    /// `DELETE /api/rooms/{code}/queue/{item}/vote/`.
    pub async fn unvote(&self, code: &str, item: i64) -> (StatusCode, Value) {
        self.delete(&format!("/api/rooms/{code}/queue/{item}/vote/"))
            .await
    }

    /// `POST /api/rooms/{code}/queue/advance/` with `{"if_current"?}`.
    pub async fn advance(&self, code: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/api/rooms/{code}/queue/advance/"), body)
            .await
    }

    /// A fresh WebSocket token for the logged-in user.
    pub async fn token(&self) -> String {
        let (status, body) = self.post_empty("/api/auth/token/").await;
        assert_eq!(status, StatusCode::OK, "token: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Opens the room socket with a fresh token; `Err(status)` when refused.
    pub async fn connect(&self, code: &str) -> Result<WsClient, StatusCode> {
        let token = self.token().await;
        WsClient::connect(self.port, code, Some(&token), None).await
    }
}

/// A registered, logged-in user.
#[derive(Clone)]
pub struct TestUser {
    /// User id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Email used to register.
    pub email: String,
    /// Their logged-in HTTP client.
    pub client: ApiClient,
}

impl std::ops::Deref for TestUser {
    type Target = ApiClient;
    fn deref(&self) -> &ApiClient {
        &self.client
    }
}

impl TestUser {
    /// Registers a new user through `client` (a unique email from `name`,
    /// the password "correct horse battery") and returns it logged in.
    pub async fn register(client: ApiClient, name: &str) -> TestUser {
        let n = NEXT_USER.fetch_add(1, Ordering::Relaxed);
        let email = format!("{name}.{n}@example.com");
        let (status, body) = client
            .post(
                "/api/auth/register/",
                json!({"email": email, "password": "correct horse battery", "display_name": name}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {name}: {body}");
        TestUser {
            id: body["user"]["id"].as_i64().unwrap(),
            name: name.to_owned(),
            email,
            client,
        }
    }

    /// The same user, logged in with the same cookie, on another instance.
    pub fn on(&self, server: &TestServer) -> TestUser {
        TestUser {
            client: self.client.on(server),
            ..self.clone()
        }
    }

    /// Creates a public room and returns its code.
    pub async fn create_room(&self, name: &str) -> String {
        self.create_room_with(json!({"name": name})).await
    }

    /// Creates a room from a full body and returns its code.
    pub async fn create_room_with(&self, body: Value) -> String {
        let (status, answer) = self.post("/api/rooms/", body).await;
        assert_eq!(status, StatusCode::CREATED, "create room: {answer}");
        answer["room"]["code"].as_str().unwrap().to_owned()
    }

    /// Joins a room over HTTP, asserting success.
    pub async fn join(&self, code: &str) -> Value {
        let (status, body) = self.post_empty(&format!("/api/rooms/{code}/join/")).await;
        assert_eq!(status, StatusCode::OK, "join: {body}");
        body
    }

    /// Joins over HTTP, then opens a hand-made socket (optionally with a small
    /// kernel receive buffer) that reads nothing unless told to.
    pub async fn enter_raw(&self, code: &str, recv_buffer: Option<u32>) -> RawSocket {
        self.join(code).await;
        let token = self.token().await;
        RawSocket::connect_with_buffer(self.client.port, code, &token, recv_buffer).await
    }

    /// Joins over HTTP, connects, and reads the three opening messages.
    pub async fn enter(&self, code: &str) -> WsClient {
        self.join(code).await;
        let mut socket = self.connect(code).await.expect("socket accepted");
        socket.recv_type("PLAYBACK_STATE").await;
        socket.recv_type("PRESENCE").await;
        socket.recv_type("CAPABILITIES").await;
        socket
    }
}
