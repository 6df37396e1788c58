//! Forged and tampered WebSocket tokens, signed with the server's own secret
//! where that is the point: every one is refused with 401 before the upgrade,
//! and a correctly forged control token proves the forgery itself is right.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};
use watchparty_testkit::{TestServer, WsClient};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &[u8]) -> String {
    encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_forged_token_is_refused_before_the_upgrade() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let code = ana.create_room("room").await;
    let secret = server.settings().auth.jwt_secret.expose().to_vec();
    let mut jti = 0;
    let mut claims = |change: &dyn Fn(&mut Value)| {
        jti += 1;
        let mut claims = json!({
            "sub": ana.id.to_string(),
            "iat": now(),
            "exp": now() + 60,
            "iss": "watchparty",
            "aud": "watchparty-ws",
            "jti": format!("forged-{jti}"),
        });
        change(&mut claims);
        claims
    };
    let valid = |c: &Value| sign(c, Algorithm::HS256, &secret);
    let unsigned = |c: &Value| {
        let token = valid(c);
        let body = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{body}.")
    };

    let control = valid(&claims(&|_| {}));
    let forged: Vec<(&str, String)> = vec![
        ("alg none", unsigned(&claims(&|_| {}))),
        (
            "wrong alg",
            sign(&claims(&|_| {}), Algorithm::HS512, &secret),
        ),
        (
            "bad signature",
            sign(
                &claims(&|_| {}),
                Algorithm::HS256,
                b"another-secret-another-secret-0123",
            ),
        ),
        (
            "expired",
            valid(&claims(&|c| c["exp"] = json!(now() - 3600))),
        ),
        (
            "not yet valid",
            valid(&claims(&|c| c["nbf"] = json!(now() + 3600))),
        ),
        (
            "exp as a string",
            valid(&claims(&|c| c["exp"] = json!((now() + 60).to_string()))),
        ),
        (
            "no exp",
            valid(&claims(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
        ),
        (
            "wrong aud",
            valid(&claims(&|c| c["aud"] = json!("someone-else"))),
        ),
        (
            "wrong iss",
            valid(&claims(&|c| c["iss"] = json!("someone-else"))),
        ),
        ("no jti", valid(&claims(&|c| c["jti"] = json!("")))),
        (
            "sub not a number",
            valid(&claims(&|c| c["sub"] = json!("ana"))),
        ),
        ("truncated", control[..control.len() - 3].to_owned()),
    ];
    for (what, token) in &forged {
        let refused = WsClient::connect(server.port, &code, Some(token), None).await;
        assert_eq!(refused.err(), Some(StatusCode::UNAUTHORIZED), "{what}");
    }
    // The forgery is right: the same recipe with nothing wrong opens a socket,
    // and opens it once.
    assert!(WsClient::connect(server.port, &code, Some(&control), None)
        .await
        .is_ok());
    let replayed = WsClient::connect(server.port, &code, Some(&control), None).await;
    assert_eq!(
        replayed.err(),
        Some(StatusCode::UNAUTHORIZED),
        "replayed jti"
    );
    eprintln!("{} forged tokens and a replay: all 401", forged.len());
    server.stop().await;
}
