//! Two controllers on two instances acting at the same moment: the room's
//! playback version decides, across instances as on one. One of two
//! commands made from the same version is applied; the other's sender hears
//! `stale_version`, and everyone else hears one change.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use std::time::Duration;
use watchparty_testkit::{StatusCode, TestServer};

const ROUNDS: u64 = 12;
const QUIET: Duration = Duration::from_millis(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_on_two_instances_never_both_apply_the_same_version() {
    let a = TestServer::production().start().await;
    let b = a.sibling().start().await;
    let ana = a.user("ana").await;
    let cy = b.user("cy").await;
    let bob = a.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut co_host = cy.on(&b).enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    let path = format!("/api/rooms/{code}/participants/{}/role/", cy.id);
    let request = ana
        .http
        .put(ana.url(&path))
        .json(&json!({"role": "co_host"}));
    let (status, body) = watchparty_testkit::answer(request.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    co_host.recv_until("CAPABILITIES").await;

    let version = |body: &serde_json::Value| body["playback"]["version"].as_u64().unwrap();
    let (_, room) = ana.get(&format!("/api/rooms/{code}/")).await;
    let start = version(&room);
    for round in 0..ROUNDS {
        let v = start + round;
        let (time_a, time_b) = (100.0 + round as f64, 200.0 + round as f64);
        tokio::join!(
            host.send(json!({"type": "SEEK", "time": time_a, "if_version": v})),
            co_host.send(json!({"type": "SEEK", "time": time_b, "if_version": v})),
        );
        let seek = viewer.recv_until("SEEK").await;
        assert_eq!(seek["version"], v + 1, "round {round}: {seek}");
        // The one whose SEEK lost hears why; the winner hears nothing.
        let (loser, winner) = if seek["time"] == time_a {
            (&mut co_host, &mut host)
        } else {
            (&mut host, &mut co_host)
        };
        let stale = loser.recv_until("ERROR").await;
        assert_eq!(stale["code"], "stale_version", "round {round}: {stale}");
        assert_eq!(stale["version"], v + 1);
        // The winner hears no refusal, the viewer no second SEEK.
        while let Some(heard) = winner.try_recv(QUIET).await {
            assert_ne!(heard["type"], "ERROR", "round {round}: {heard}");
        }
        while let Some(heard) = viewer.try_recv(QUIET).await {
            assert_ne!(heard["type"], "SEEK", "round {round}: {heard}");
        }
        let (_, room) = bob.get(&format!("/api/rooms/{code}/")).await;
        assert_eq!(version(&room), v + 1, "round {round}: {room}");
        assert_eq!(
            room["playback"]["time"].as_f64().unwrap().floor(),
            seek["time"]
        );
    }
    b.stop().await;
    a.stop().await;
}
