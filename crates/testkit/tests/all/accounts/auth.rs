//! docs/protocol.md, accounts, sessions and tokens.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use watchparty_testkit::{StatusCode, TestServer, WsClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_logs_in_and_answers_the_user() {
    let server = TestServer::start().await;
    let client = server.client();
    let (status, body) = client
        .post(
            "/api/auth/register/",
            json!({"email": "  Ana@Example.com ", "password": "password123"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["user"]["email"], "ana@example.com");
    assert_eq!(
        body["user"]["display_name"], "ana",
        "defaults to the local part"
    );
    assert!(body["user"]["id"].is_i64());
    let (status, me) = client.get("/api/auth/me/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"], body["user"]);

    let again = server.client();
    let (status, body) = again
        .post(
            "/api/auth/register/",
            json!({"email": "ANA@example.com", "password": "password456"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "email_taken");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_are_validation_errors() {
    let server = TestServer::start().await;
    let client = server.client();
    let long_name = "x".repeat(51);
    let long_email = format!("{}@example.com", "a".repeat(250));
    for body in [
        json!({"email": "ana@example.com", "password": "short"}),
        json!({"email": "not-an-email", "password": "password123"}),
        json!({"email": long_email, "password": "password123"}),
        json!({"email": "ana@example.com", "password": "password123", "display_name": "   "}),
        json!({"email": "ana@example.com", "password": "password123", "display_name": long_name}),
        json!({"email": "ana@example.com", "password": "x".repeat(1025)}),
        json!({"email": "ana@example.com"}),
        json!({"email": 5, "password": "password123"}),
    ] {
        let (status, answer) = client.post("/api/auth/register/", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"]["code"], "validation_error", "{body}");
        assert!(answer["error"]["message"].is_string());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_logout_and_session_rotation() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let client = server.client();
    let (status, unknown) = client
        .post(
            "/api/auth/login/",
            json!({"email": "nobody@example.com", "password": "whatever1"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, wrong) = client
        .post(
            "/api/auth/login/",
            json!({"email": ana.email, "password": "wrong password"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown, wrong,
        "unknown email and wrong password answer alike"
    );
    assert_eq!(wrong["error"]["code"], "invalid_credentials");

    // Log in twice in a row: the cookie (the session id) changes each time.
    let login = || async {
        let response = client
            .http
            .post(client.url("/api/auth/login/"))
            .json(&json!({"email": ana.email.to_uppercase(), "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "plain HTTP from an untrusted peer: {cookie}"
        );
        cookie.split(';').next().unwrap().to_owned()
    };
    let first = login().await;
    let second = login().await;
    assert_ne!(first, second, "the session id changes on login");

    let (status, _) = client.get("/api/auth/me/").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = client.post_empty("/api/auth/logout/").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = client.get("/api/auth/me/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "not_authenticated");

    // The old cookie is dead server-side, not just forgotten by the client.
    let replay = reqwest::Client::new()
        .get(client.url("/api/auth/me/"))
        .header("cookie", &second)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

/// The session cookie set by a registration that claims to come over HTTPS.
async fn cookie_claiming_https(server: &TestServer) -> String {
    let body = json!({"email": "sec@example.com", "password": "password123"});
    let response = reqwest::Client::new()
        .post(server.url("/api/auth/register/"))
        .header("x-forwarded-proto", "https")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers().get("set-cookie").unwrap();
    cookie.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_cookie_only_behind_a_trusted_https_proxy() {
    let trusting = TestServer::builder()
        .trusted_proxies(&["127.0.0.1/32"])
        .start()
        .await;
    let cookie = cookie_claiming_https(&trusting).await;
    assert!(cookie.contains("Secure"), "{cookie}");
    trusting.stop().await;

    let untrusting = TestServer::start().await;
    let cookie = cookie_claiming_https(&untrusting).await;
    assert!(
        !cookie.contains("Secure"),
        "an untrusted peer cannot claim HTTPS: {cookie}"
    );
    untrusting.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_must_be_json() {
    let server = TestServer::start().await;
    let client = server.client();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = client
            .http
            .post(client.url("/api/auth/register/"))
            .header("content-type", content_type)
            .body(r#"{"email":"a@b.c","password":"password123"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unsupported_media_type");
    }
    let response = client
        .http
        .post(client.url("/api/auth/register/"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "no content type at all"
    );
    let response = client
        .http
        .post(client.url("/api/auth/register/"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_need_a_session_and_bearer_never_authenticates() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let (status, body) = ana.post_empty("/api/auth/token/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 60);
    let token = body["token"].as_str().unwrap().to_owned();

    let stranger = server.client();
    let (status, _) = stranger.post_empty("/api/auth/token/").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let code = ana.create_room("room").await;
    for (method, path) in [
        ("GET", "/api/auth/me/"),
        ("DELETE", &*format!("/api/rooms/{code}/")),
        ("PATCH", &*format!("/api/rooms/{code}/")),
    ] {
        let response = stranger
            .http
            .request(method.parse().unwrap(), stranger.url(path))
            .bearer_auth(&token)
            .json(&json!({"name": "stolen"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
    let (status, _) = ana.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(status, StatusCode::OK, "the room survived");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_opens_one_socket_only() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let code = ana.create_room("room").await;
    let token = ana.token().await;
    let first = WsClient::connect(server.port, &code, Some(&token), None).await;
    assert!(first.is_ok());
    let second = WsClient::connect(server.port, &code, Some(&token), None).await;
    assert_eq!(second.err(), Some(StatusCode::UNAUTHORIZED));
    for bad in [
        None,
        Some("garbage"),
        Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."),
    ] {
        let refused = WsClient::connect(server.port, &code, bad, None).await;
        assert_eq!(refused.err(), Some(StatusCode::UNAUTHORIZED), "{bad:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_account_and_address() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let attacker = server.client();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let (status, _) = attacker
            .post(
                "/api/auth/login/",
                json!({"email": ana.email, "password": "guess-guess"}),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(
        *statuses.last().unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "{statuses:?}"
    );
    let (status, body) = attacker
        .post(
            "/api/auth/login/",
            json!({"email": ana.email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "guessing stays blocked even with the right password"
    );
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another account from the same address is not locked out.
    let (status, _) = server
        .client()
        .post(
            "/api/auth/login/",
            json!({"email": bob.email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}
