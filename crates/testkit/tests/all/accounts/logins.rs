//! Logins under attack (docs/protocol.md): password guessing from many addresses, probing
//! which emails exist, and a burst of logins, each with its figure
//! (docs/reliability.md, "HTTP"). The server trusts 127.0.0.1 as a proxy,
//! so `X-Forwarded-For` plays the part of many client addresses.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use futures_util::future::join_all;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use watchparty_testkit::{ApiClient, StatusCode, TestServer};

/// A server that believes `X-Forwarded-For` from the tests.
async fn behind_a_proxy() -> TestServer {
    TestServer::builder()
        .trusted_proxies(&["127.0.0.1/32"])
        .start()
        .await
}

/// A login attempt from `address`; the status, the body and how long it took.
async fn login_from(
    client: &ApiClient,
    address: &str,
    email: &str,
    password: &str,
) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let response = client
        .http
        .post(client.url("/api/auth/login/"))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let (status, body) = watchparty_testkit::answer(response).await;
    (status, body, started.elapsed())
}

/// The emails of `count` new accounts.
async fn emails(server: &TestServer, name: &str, count: usize) -> Vec<String> {
    let mut emails = Vec::with_capacity(count);
    for i in 0..count {
        emails.push(server.user(&format!("{name}{i}")).await.email.clone());
    }
    emails
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_still_logs_in_while_many_addresses_guess_the_password() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    let server = behind_a_proxy().await;
    let ana = server.user("ana").await;
    let owner = server.client();
    let home = "203.0.113.7";
    let (status, _, _) = login_from(&owner, home, &ana.email, "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "the owner logs in from home once");

    // A botnet: each address guesses once, so no per-address limit is met.
    let attacker = server.client();
    let mut refused = 0;
    let mut guessed = 0;
    for i in 0..80 {
        let address = format!("198.51.100.{i}");
        let (status, body, _) = login_from(&attacker, &address, &ana.email, "guess-guess").await;
        guessed += 1;
        match status {
            StatusCode::UNAUTHORIZED => assert_eq!(refused, 0, "throttling let go again"),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(body["error"]["code"], "rate_limited");
                refused += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(refused >= 20, "the account was never throttled: {refused}");
    // Even the right password is refused from an address never seen with it…
    let (status, _, _) = login_from(
        &server.client(),
        "192.0.2.1",
        &ana.email,
        "correct horse battery",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // …but its owner, from where they logged in before, gets in.
    let (status, body, _) = login_from(&owner, home, &ana.email, "correct horse battery").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // And guessing from the owner's address is still limited per address and account.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            login_from(&attacker, home, &ana.email, "guess-guess")
                .await
                .0,
        );
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    println!(
        "FIGURE {guessed} guesses from {guessed} addresses: {} answered 401, {refused} answered 429; \
         the owner from a known address logged in, the right password from a new address got 429",
        guessed - refused
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_emails_and_wrong_passwords_answer_alike() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    const TRIES: usize = 200;
    let server = behind_a_proxy().await;
    // Wrong passwords spread over accounts so that none is throttled.
    let accounts = emails(&server, "known", 5).await;
    let client = server.client();
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    let mut bodies = std::collections::BTreeSet::new();
    for i in 0..TRIES {
        // Alternating, so that drift in the machine's speed hits both alike.
        let (status, body, took) = login_from(
            &client,
            &format!("10.1.{}.{}", i / 250, i % 250),
            &format!("nobody{i}@example.com"),
            "guess-guess",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        bodies.insert(body.to_string());
        unknown.push(took);
        let (status, body, took) = login_from(
            &client,
            &format!("10.2.{}.{}", i / 250, i % 250),
            &accounts[i % accounts.len()],
            "guess-guess",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        bodies.insert(body.to_string());
        wrong.push(took);
    }
    assert_eq!(bodies.len(), 1, "the answers differ: {bodies:?}");
    let (unknown, wrong) = (median(unknown), median(wrong));
    let difference = unknown.abs_diff(wrong);
    println!(
        "FIGURE {TRIES} unknown emails and {TRIES} wrong passwords: one identical body; median \
         {:.1} ms and {:.1} ms, {:.2} ms apart",
        unknown.as_secs_f64() * 1000.0,
        wrong.as_secs_f64() * 1000.0,
        difference.as_secs_f64() * 1000.0
    );
    assert!(
        difference < Duration::from_millis(5),
        "an attacker can tell: {difference:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_leaves_the_rest_responsive() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    const LOGINS: usize = 64;
    let server = behind_a_proxy().await;
    let emails = emails(&server, "burst", LOGINS).await;
    let reader = server.user("reader").await;
    let code = reader.create_room("film").await;
    let burst = server.client();
    let measuring = tokio::sync::watch::channel(true);
    let still = measuring.1;
    let latencies = tokio::spawn({
        let reader = reader.clone();
        async move {
            let mut took = Vec::new();
            let paths = [
                "/api/rooms/public/".to_owned(),
                "/api/auth/me/".to_owned(),
                format!("/api/rooms/{code}/"),
            ];
            let mut i = 0;
            while *still.borrow() {
                let started = Instant::now();
                let (status, body) = reader.get(&paths[i % paths.len()]).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                took.push(started.elapsed());
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            took
        }
    });
    let started = Instant::now();
    let answers = join_all(emails.iter().enumerate().map(|(i, email)| {
        let burst = &burst;
        async move {
            login_from(
                burst,
                &format!("10.3.0.{i}"),
                email,
                "correct horse battery",
            )
            .await
        }
    }))
    .await;
    let burst_took = started.elapsed();
    measuring.0.send(false).unwrap();
    let mut took = latencies.await.unwrap();
    for (status, body, _) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    took.sort();
    let p99 = took[(took.len() * 99 / 100).min(took.len() - 1)];
    println!(
        "FIGURE {LOGINS} concurrent logins took {:.2} s; meanwhile {} other requests, p99 {:.1} ms, max {:.1} ms",
        burst_took.as_secs_f64(),
        took.len(),
        p99.as_secs_f64() * 1000.0,
        took.last().unwrap().as_secs_f64() * 1000.0
    );
    server.stop().await;
}
