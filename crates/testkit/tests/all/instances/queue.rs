//! §12 with two instances on one PostgreSQL and one Redis: every queue
//! change requested on one instance reaches sockets on the other within
//! 1 s, and the automatic advance racing a manual one through the other
//! instance advances once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::instances::together::Duel;
use crate::together::queue::{
    add, add_with, advanced, current_of, item_id, media, queue_of, queue_updated, queue_version,
    waiting,
};
use crate::together::waits::now_ms;
use crate::together::{gather, open, public, put_role, refused};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use watchparty_testkit::{StatusCode, TestServer, TestUser, WsClient};

/// One second from now: by then every instance has learnt of a change.
fn a_second() -> Instant {
    Instant::now() + Duration::from_secs(1)
}

/// `what` finishes by `deadline`, or the test fails naming it.
async fn by<T>(deadline: Instant, what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout_at(deadline, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not arrive within 1 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_changes_on_one_instance_reach_sockets_on_the_other_within_a_second() {
    // Ana on A; Bob (co-host) and Cat on B.
    let Duel {
        a,
        b,
        ana,
        bob,
        cat,
        code,
        host,
        co_host,
        watcher,
    } = Duel::start().await;
    let mut sockets = [host, co_host, watcher];
    for socket in sockets.iter_mut() {
        gather(socket, Duration::from_millis(300)).await;
    }
    let start = queue_version(&queue_of(&ana, &code).await);

    // The first item, added on A, is current on B's sockets.
    let first = add(&ana, &code, "first").await;
    let deadline = a_second();
    for socket in sockets.iter_mut() {
        by(
            deadline,
            "the first item's advance",
            advanced(socket, start + 1, &public(&ana), Some(&first)),
        )
        .await;
    }
    // Bob and Cat add on B; Ana's socket on A hears of it.
    let x = add(&bob, &code, "x").await;
    let deadline = a_second();
    for socket in sockets.iter_mut() {
        let update = by(
            deadline,
            "added",
            queue_updated(socket, "added", start + 2, &public(&bob)),
        )
        .await;
        assert_eq!(update["item"]["id"], x["id"]);
    }
    let y = add(&cat, &code, "y").await;
    let deadline = a_second();
    for socket in sockets.iter_mut() {
        by(
            deadline,
            "added",
            queue_updated(socket, "added", start + 3, &public(&cat)),
        )
        .await;
    }
    // Cat votes on B.
    assert_eq!(cat.vote(&code, item_id(&x)).await.0, StatusCode::OK);
    let deadline = a_second();
    for socket in sockets.iter_mut() {
        let update = by(
            deadline,
            "voted",
            queue_updated(socket, "voted", start + 4, &public(&cat)),
        )
        .await;
        assert_eq!(update["item"]["votes"], 1, "{update}");
    }
    // Ana moves on A.
    let (status, body) = ana
        .move_item(&code, item_id(&y), json!({"after": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = a_second();
    for socket in sockets.iter_mut() {
        by(
            deadline,
            "moved",
            queue_updated(socket, "moved", start + 5, &public(&ana)),
        )
        .await;
    }
    assert_eq!(
        waiting(&queue_of(&cat, &code).await),
        vec![item_id(&y), item_id(&x)],
        "B reads A's move"
    );
    // Bob, co-host, removes Cat's item on B.
    let answer = bob.unqueue(&code, item_id(&y)).await;
    assert_eq!(answer.0, StatusCode::NO_CONTENT, "{}", answer.1);
    let deadline = a_second();
    for socket in sockets.iter_mut() {
        by(
            deadline,
            "removed",
            queue_updated(socket, "removed", start + 6, &public(&bob)),
        )
        .await;
    }
    // Ana's player on A and Bob's on B report the same end at once: one
    // advance, by whichever came first, reaches every socket. (X has Cat's
    // vote by now.)
    let mut x = x;
    x["votes"] = json!(1);
    let ended = json!({"type": "ENDED", "item_id": item_id(&first)});
    let [ana_a, bob_b, _] = &mut sockets;
    tokio::join!(ana_a.send(ended.clone()), bob_b.send(ended.clone()));
    let winner = by(a_second(), "the ENDED advance", async {
        let update = sockets[2].recv_type("QUEUE_UPDATED").await;
        assert_eq!(update["op"], "advanced", "{update}");
        assert_eq!(queue_version(&update), start + 7, "{update}");
        assert_eq!(update["item"]["id"], x["id"], "{update}");
        update["by"].clone()
    })
    .await;
    assert!(
        winner == public(&ana) || winner == public(&bob),
        "by one of the two: {winner}"
    );
    let [cat_b, ..] = &mut sockets[2..] else {
        unreachable!()
    };
    cat_b.recv_type("ROOM_UPDATED").await;
    cat_b.recv_type("PLAYBACK_STATE").await;
    let deadline = a_second();
    for socket in sockets[..2].iter_mut() {
        by(
            deadline,
            "the ENDED advance",
            advanced(socket, start + 7, &winner, Some(&x)),
        )
        .await;
    }
    // Ana advances through B to nothing; everyone hears it.
    let (status, body) = ana
        .on(&b)
        .advance(&code, json!({"if_current": item_id(&x)}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = a_second();
    for socket in sockets.iter_mut() {
        by(
            deadline,
            "the advance to nothing",
            advanced(socket, start + 8, &public(&ana), None),
        )
        .await;
    }
    // Both instances tell the same queue and room.
    let on_a = queue_of(&ana, &code).await;
    let on_b = queue_of(&ana.on(&b), &code).await;
    assert_eq!(on_a, on_b);
    assert_eq!(queue_version(&on_a), start + 8);
    assert_eq!(current_of(&on_a), None);
    b.stop().await;
    a.stop().await;
}

/// One room racing its automatic advance: Ana (host) watches on A, Cat on
/// B; Bob, co-host, asks B to advance `offset_ms` after the short item's
/// end. Exactly one advance reaches both sockets, and its `by` names the
/// winner.
async fn race(a: &TestServer, b: &TestServer, people: [&TestUser; 3], offset_ms: i64) {
    let [ana, bob, cat] = people;
    let code = ana.create_room("race").await;
    bob.join(&code).await;
    cat.join(&code).await;
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    let (host, _) = open(ana, &code).await;
    let (watcher, _) = open(&cat.on(b), &code).await;
    let mut sockets: [WsClient; 2] = [host, watcher];

    let short = add_with(
        ana,
        &code,
        json!({"media_url": media("short"), "duration": 1.5}),
    )
    .await["item"]
        .clone();
    let next = add(ana, &code, "next").await;
    let start = queue_version(&queue_of(ana, &code).await);
    for socket in sockets.iter_mut() {
        gather(socket, Duration::from_millis(300)).await;
    }

    sockets[0].send(json!({"type": "PLAY", "time": 0.0})).await;
    let play = sockets[1].recv_type("PLAY").await;
    let due = play["server_time"].as_i64().unwrap() + 1500;
    let wake = due + offset_ms - now_ms();
    if wake > 0 {
        tokio::time::sleep(Duration::from_millis(wake as u64)).await;
    }
    let manual = bob
        .on(b)
        .advance(&code, json!({"if_current": item_id(&short)}))
        .await;
    let winner = match manual.0 {
        StatusCode::OK => public(bob),
        _ => {
            refused(
                &format!("the manual advance {offset_ms} ms after the end"),
                &manual,
                StatusCode::CONFLICT,
                "stale_version",
            );
            Value::Null
        }
    };
    eprintln!(
        "offset {offset_ms} ms: {}",
        if winner.is_null() {
            "the automatic advance won"
        } else {
            "the manual advance won"
        }
    );
    // Listen past the automatic advance's latest moment (2 s after the end).
    let listen = Duration::from_millis((due + 2600 - now_ms()).max(600) as u64);
    for (i, socket) in sockets.iter_mut().enumerate() {
        let seen = gather(socket, listen).await;
        let updates: Vec<&Value> = seen
            .iter()
            .filter(|m| m["type"] == "QUEUE_UPDATED")
            .collect();
        assert_eq!(
            updates.len(),
            1,
            "offset {offset_ms} ms, socket {i}: one advance: {seen:?}"
        );
        let update = updates[0];
        assert_eq!(update["op"], "advanced", "{update}");
        assert_eq!(update["item"]["id"], next["id"], "{update}");
        assert_eq!(queue_version(update), start + 1, "{update}");
        assert_eq!(update["by"], winner, "the winner's advance: {update}");
        let kinds: Vec<&str> = seen
            .iter()
            .filter_map(|m| m["type"].as_str())
            .filter(|t| *t == "ROOM_UPDATED" || *t == "PLAYBACK_STATE")
            .collect();
        assert_eq!(kinds, ["ROOM_UPDATED", "PLAYBACK_STATE"], "{seen:?}");
    }
    for server in [a, b] {
        let queue = queue_of(&ana.on(server), &code).await;
        assert_eq!(current_of(&queue), Some(item_id(&next)), "{queue}");
        assert_eq!(queue_version(&queue), start + 1, "{queue}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_advance_racing_a_manual_one_on_the_other_instance_advances_once() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let bob = a.user("bob").await;
    let cat = a.user("cat").await;
    let people = [&ana, &bob, &cat];
    // Five rooms at once, the manual advance a little before, at, and after
    // the item's end.
    tokio::join!(
        race(&a, &b, people, -40),
        race(&a, &b, people, 0),
        race(&a, &b, people, 60),
        race(&a, &b, people, 120),
        race(&a, &b, people, 180),
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_arriving_at_once_on_two_instances_all_land() {
    // Queue changes on two instances wait their turn on the room's lock:
    // none is refused as busy, and each lands once, in one version order.
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let host = a.user("host").await;
    let code = host
        .create_room_with(json!({"name": "rush", "media_url": media("opening")}))
        .await;
    let mut people = Vec::new();
    for n in 0..8 {
        let server = if n % 2 == 0 { &a } else { &b };
        let user = server.user(&format!("p{n}")).await;
        user.join(&code).await;
        people.push(user);
    }
    let start = queue_version(&queue_of(&host, &code).await);
    for round in 0..3 {
        let adds = people.iter().map(|user| {
            let code = code.clone();
            async move {
                user.enqueue(
                    &code,
                    json!({"media_url": media(&format!("{}-{round}", user.name))}),
                )
                .await
            }
        });
        for (status, body) in futures_util::future::join_all(adds).await {
            assert_eq!(status, StatusCode::CREATED, "round {round}: {body}");
        }
    }
    let queue = queue_of(&host, &code).await;
    assert_eq!(waiting(&queue).len(), 24);
    assert_eq!(queue_version(&queue), start + 24, "one version per add");
    let votes = people.iter().map(|user| {
        let code = code.clone();
        let item = waiting(&queue)[0];
        async move { user.vote(&code, item).await }
    });
    for (status, body) in futures_util::future::join_all(votes).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let queue = queue_of(&host, &code).await;
    assert_eq!(queue["items"][0]["votes"], 8, "{queue}");
    b.stop().await;
    a.stop().await;
}
