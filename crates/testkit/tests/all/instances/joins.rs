//! Joins with two instances on one PostgreSQL and one Redis: instance A
//! keeps copies of a room's rows for its joins and sockets, and a change
//! stored through instance B (a kick, a ban, new settings, a new co-host) is
//! what A answers with at once, well within 1 s: a removed user gets no
//! socket and no join on A from a copy made before.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::instances::together::Duel;
use crate::rooms::joins::db_work;
use crate::together::{open, put_role, refused, room};
use serde_json::json;
use std::time::{Duration, Instant};
use watchparty_testkit::{StatusCode, TestUser};

/// What A answers `who` for a join and a socket now: the join's status and
/// body, and the socket's refusal (`None`: accepted).
async fn join_and_socket(
    who: &TestUser,
    code: &str,
) -> ((StatusCode, serde_json::Value), Option<StatusCode>) {
    let join = who.post_empty(&format!("/api/rooms/{code}/join/")).await;
    let socket = who.connect(code).await.err();
    (join, socket)
}

/// A moderator's `action` (`kicks` or `bans`) on `who` posted through the
/// other instance (`by`); this instance then refuses `who`'s join and socket
/// at once.
async fn kept_out_at_once(by: &TestUser, action: &str, who: &TestUser, code: &str) {
    let since = Instant::now();
    let (status, body) = by
        .post(
            &format!("/api/rooms/{code}/{action}/"),
            json!({"user_id": who.id}),
        )
        .await;
    assert!(status.is_success(), "{action}: {status} {body}");
    let (join, socket) = join_and_socket(who, code).await;
    refused(
        &format!("a join on A after {action}"),
        &join,
        StatusCode::FORBIDDEN,
        "banned",
    );
    assert_eq!(
        socket,
        Some(StatusCode::FORBIDDEN),
        "a socket on A after {action}"
    );
    within_a_second(since, action);
}

/// `since` was less than a second ago.
fn within_a_second(since: Instant, what: &str) {
    let took = since.elapsed();
    assert!(took < Duration::from_secs(1), "{what} after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_is_what_the_other_answers_joins_with() {
    let Duel {
        a,
        b,
        ana,
        cat,
        code,
        mut host,
        // Kept open: PRESENCE lists who is connected.
        co_host: _co_host,
        watcher: _watcher,
        ..
    } = Duel::start().await;
    // Dan and Eve are on A: A's copy of the room knows them as members.
    let dan = a.user("dan").await;
    let eve = a.user("eve").await;
    let mut dan_socket = crate::together::enter(&dan, &code).await;
    let _eve_socket = crate::together::enter(&eve, &code).await;
    host.recv_until("USER_JOINED").await;

    // The copy serves the room: joining again and a socket cost A its two
    // account checks and the join's own transaction (a member joins through
    // it too, so that a copy that missed a kick never lets its user back in).
    let before = db_work(&a.client()).await;
    let (join, socket) = join_and_socket(&dan, &code).await;
    assert_eq!(join.0, StatusCode::OK, "{}", join.1);
    assert_eq!(socket, None, "dan's second socket");
    let after = db_work(&a.client()).await;
    assert_eq!(after.0 - before.0, 3, "served from A's copy");

    // A kick through B: A refuses Dan's join and socket at once.
    kept_out_at_once(&ana.on(&b), "kicks", &dan, &code).await;
    let (seen, _) = dan_socket.drain_until_closed().await;
    assert!(seen.iter().any(|m| m["type"] == "REMOVED"), "{seen:?}");

    // A ban through B: the same for Eve.
    kept_out_at_once(&ana.on(&b), "bans", &eve, &code).await;

    // New settings through B: A tells them.
    let since = Instant::now();
    let (status, body) = ana
        .on(&b)
        .patch(&format!("/api/rooms/{code}/"), json!({"name": "renamed"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(room(&ana, &code).await["room"]["name"], "renamed");
    within_a_second(since, "the new name seen on A");

    // A new co-host through B: a socket opening on A lists her as one.
    let since = Instant::now();
    assert_eq!(
        put_role(&ana.on(&b), &code, cat.id, "co_host").await.0,
        StatusCode::OK
    );
    let (_, [_, presence, _]) = open(&ana, &code).await;
    let cat_there = presence["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == cat.id)
        .unwrap_or_else(|| panic!("cat in {presence}"))
        .clone();
    assert_eq!(cat_there["role"], "co_host", "{presence}");
    within_a_second(since, "the new co-host seen on A");

    // Her membership removed through B (a kick): her join on A is refused.
    let kicked = ana
        .on(&b)
        .post(
            &format!("/api/rooms/{code}/kicks/"),
            json!({"user_id": cat.id}),
        )
        .await;
    assert_eq!(kicked.0, StatusCode::NO_CONTENT, "{}", kicked.1);
    assert_eq!(
        cat.on(&a).connect(&code).await.err(),
        Some(StatusCode::FORBIDDEN),
        "a removed co-host's socket on A"
    );
    b.stop().await;
    a.stop().await;
}
