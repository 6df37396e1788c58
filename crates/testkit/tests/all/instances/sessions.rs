//! HTTP sessions live in Redis in production mode: they must come back with
//! it, on every instance, whatever the instance met while it was away.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::time::{Duration, Instant};
use watchparty_testkit::{scratch_postgres, Instance, OwnRedis, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_work_again_as_soon_as_redis_is_back() {
    let mut redis = OwnRedis::start().await;
    let keys = format!("wpsessions{}", std::process::id());
    let instance = Instance::production(&scratch_postgres(), &redis.url(), &keys).await;
    let ana = instance.user("ana").await;
    redis.stop();
    // A request with a session while Redis is away: its store fails.
    let (status, body) = ana.get("/api/auth/me/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    redis.restart().await;
    let back = Instant::now();
    // Sessions were in Redis, which came back empty: log in again.
    let login = json!({"email": ana.email, "password": "correct horse battery"});
    loop {
        let (status, body) = instance
            .client()
            .post("/api/auth/login/", login.clone())
            .await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "still {status} {body} {:?} after Redis came back",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "FIGURE a session request met Redis away; after Redis came back, login answered 200 \
         after {:.1} s",
        back.elapsed().as_secs_f64()
    );
}
