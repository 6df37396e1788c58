//! §7 concurrent controllers (version, by, if_version) and §11 playback
//! rate, with rule 10 of §13.

use super::*;
use watchparty_testkit::TestServer;

/// The HTTP `PlaybackState` of a room.
async fn playback(actor: &TestUser, code: &str) -> Value {
    room(actor, code).await["playback"].clone()
}

fn version(message: &Value) -> i64 {
    message["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("version is an integer: {message}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_playback_message_carries_version_and_by() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let start = version(&playback(bob, &code).await);

    let steps = [
        json!({"type": "PLAY", "time": 1.0}),
        json!({"type": "PAUSE", "time": 2.0}),
        json!({"type": "SEEK", "time": 30.0}),
        json!({"type": "RATE", "rate": 1.25}),
    ];
    for (n, step) in steps.iter().enumerate() {
        sockets[0].send(step.clone()).await;
        let got = sockets[1].recv().await;
        assert_eq!(got["type"], step["type"], "{got}");
        assert_eq!(
            version(&got),
            start + 1 + n as i64,
            "each change adds 1: {got}"
        );
        assert_eq!(got["by"], public(ana), "{got}");
        assert!(got["server_time"].is_i64(), "{got}");
    }
    sockets[0].expect_silence(QUIET).await;
    let http = playback(bob, &code).await;
    assert_eq!(version(&http), start + 4);
    assert_eq!(http["rate"], 1.25);

    // A fresh socket's PLAYBACK_STATE carries the same version; nothing changed.
    let (_tab, [state, _, _]) = open(bob, &code).await;
    assert_eq!(version(&state), start + 4, "{state}");
    assert_eq!(state["rate"], 1.25);
    assert!(state.get("by").is_some(), "{state}");

    // The server's own freeze at the start of a grace: by null, version + 1.
    let host = sockets.remove(0);
    host.close().await;
    sockets[0].recv_until("HOST_DISCONNECTED").await;
    let frozen = sockets[0].recv_type("PLAYBACK_STATE").await;
    assert_eq!(frozen["by"], Value::Null);
    assert_eq!(frozen["rate"], 1.25, "{frozen}");
    // Paused already, the freeze may leave every field as it was (rule 10).
    assert!(version(&frozen) >= start + 4, "{frozen}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grace_freeze_of_a_playing_room_raises_the_version_with_by_null() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    sockets[0].send(json!({"type": "PLAY", "time": 5.0})).await;
    let play = sockets[1].recv_type("PLAY").await;
    let host = sockets.remove(0);
    host.close().await;
    sockets[0].recv_until("HOST_DISCONNECTED").await;
    let frozen = sockets[0].recv_type("PLAYBACK_STATE").await;
    assert_eq!(frozen["is_playing"], false);
    assert_eq!(frozen["by"], Value::Null, "{frozen}");
    assert_eq!(version(&frozen), version(&play) + 1, "{frozen}");
    assert_eq!(
        version(&playback(&people[1], &code).await),
        version(&play) + 1
    );

    // The resume: by null, version + 1 (rule 7).
    let _back = open(&people[0], &code).await;
    sockets[0].recv_until("HOST_RECONNECTED").await;
    let resumed = sockets[0].recv_type("PLAYBACK_STATE").await;
    assert_eq!(resumed["is_playing"], true);
    assert_eq!(resumed["by"], Value::Null);
    assert_eq!(version(&resumed), version(&play) + 2, "{resumed}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_version_is_refused_to_that_socket_alone() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    for socket in sockets.iter_mut() {
        socket.recv_until("PARTICIPANT_UPDATED").await;
    }
    sockets[1].recv_until("CAPABILITIES").await;
    let v = version(&playback(ana, &code).await);

    // Both controllers act on version v: the first wins, the second learns.
    sockets[0]
        .send(json!({"type": "SEEK", "time": 10.0, "if_version": v}))
        .await;
    let seek = sockets[2].recv_type("SEEK").await;
    assert_eq!(version(&seek), v + 1);
    sockets[1].recv_type("SEEK").await;
    sockets[1]
        .send(json!({"type": "SEEK", "time": 80.0, "if_version": v}))
        .await;
    let error = sockets[1].recv_type("ERROR").await;
    assert_eq!(error["code"], "stale_version", "{error}");
    assert_eq!(error["version"].as_i64(), Some(v + 1), "{error}");
    assert!(error["message"].is_string());
    for socket in pick(&mut sockets, &[0, 2]) {
        socket.expect_silence(QUIET).await;
    }
    let now = playback(ana, &code).await;
    assert_eq!(now["time"], 10.0, "the stale command was dropped");
    assert_eq!(version(&now), v + 1);

    // Every controller command takes if_version: PLAY, PAUSE, RATE too.
    for stale in [
        json!({"type": "PLAY", "time": 1.0, "if_version": v}),
        json!({"type": "PAUSE", "time": 1.0, "if_version": v}),
        json!({"type": "RATE", "rate": 2.0, "if_version": v}),
    ] {
        sockets[1].send(stale.clone()).await;
        let error = sockets[1].recv_type("ERROR").await;
        assert_eq!(error["code"], "stale_version", "{stale}: {error}");
    }
    sockets[2].expect_silence(QUIET).await;
    // The current version is accepted.
    sockets[1]
        .send(json!({"type": "PLAY", "time": 11.0, "if_version": v + 1}))
        .await;
    let play = sockets[2].recv_type("PLAY").await;
    assert_eq!(play["by"], public(bob));
    assert_eq!(version(&play), v + 2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capability_is_checked_before_if_version() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    sockets[0].send(json!({"type": "PLAY", "time": 1.0})).await;
    sockets[1].recv_type("PLAY").await;
    let v = version(&playback(&people[0], &code).await);
    for command in [
        json!({"type": "SEEK", "time": 9.0, "if_version": v - 1}),
        json!({"type": "PAUSE", "time": 9.0, "if_version": v - 1}),
        json!({"type": "RATE", "rate": 2.0, "if_version": v - 1}),
        json!({"type": "SEEK", "time": 9.0, "if_version": v}),
        json!({"type": "RATE", "rate": 2.0}),
    ] {
        sockets[1].send(command).await;
    }
    // Rule 10: a viewer's command is ignored silently, stale or not.
    sockets[1].expect_silence(QUIET).await;
    sockets[0].expect_silence(Duration::ZERO).await;
    let now = playback(&people[1], &code).await;
    assert_eq!(version(&now), v);
    assert_eq!(now["rate"], 1.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_changes_the_pace_of_the_position() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    sockets[0]
        .send(json!({"type": "PLAY", "time": 100.0}))
        .await;
    sockets[1].recv_type("PLAY").await;
    sockets[0].send(json!({"type": "RATE", "rate": 2.0})).await;
    let rate = sockets[1].recv_type("RATE").await;
    assert_eq!(rate["rate"], 2.0);
    assert_eq!(rate["by"], public(&people[0]));
    assert!(
        rate["time"].as_f64().unwrap() >= 100.0,
        "the position when the rate changed: {rate}"
    );
    assert!(rate["server_time"].is_i64());
    sockets[0].expect_silence(Duration::from_millis(100)).await;

    let a = playback(&people[1], &code).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let b = playback(&people[1], &code).await;
    assert_eq!(a["rate"], 2.0);
    let moved = b["time"].as_f64().unwrap() - a["time"].as_f64().unwrap();
    let elapsed =
        (b["server_time"].as_i64().unwrap() - a["server_time"].as_i64().unwrap()) as f64 / 1000.0;
    assert!(elapsed > 0.5, "{a} {b}");
    assert!(
        (moved - 2.0 * elapsed).abs() < 0.05,
        "time + rate × elapsed: moved {moved} in {elapsed} s"
    );
    // Continuous across the change: the RATE's own time is where it stood.
    let at_change = rate["time"].as_f64().unwrap()
        + 2.0 * (a["server_time"].as_i64().unwrap() - rate["server_time"].as_i64().unwrap()) as f64
            / 1000.0;
    assert!(
        (a["time"].as_f64().unwrap() - at_change).abs() < 0.05,
        "{rate} {a}"
    );

    // The bounds: 0.25 and 4 are accepted; beyond them, ignored.
    for r in [0.24, 4.01, 0.0, -1.0] {
        sockets[0].send(json!({"type": "RATE", "rate": r})).await;
    }
    sockets[0]
        .send(json!({"type": "RATE", "rate": "fast"}))
        .await;
    sockets[0].send(json!({"type": "RATE"})).await;
    sockets[1].expect_silence(QUIET).await;
    sockets[0].expect_silence(Duration::ZERO).await;
    for r in [0.25, 4.0] {
        sockets[0].send(json!({"type": "RATE", "rate": r})).await;
        assert_eq!(sockets[1].recv_type("RATE").await["rate"], r);
    }
    // Paused, the position stands still whatever the rate.
    sockets[0]
        .send(json!({"type": "PAUSE", "time": 50.0}))
        .await;
    let pause = sockets[1].recv_type("PAUSE").await;
    assert_eq!(pause["time"], 50.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = playback(&people[1], &code).await;
    assert_eq!(still["time"], 50.0);
    assert_eq!(still["rate"], 4.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_media_item_resets_the_rate() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    sockets[0].send(json!({"type": "RATE", "rate": 1.5})).await;
    sockets[1].recv_type("RATE").await;
    let before = version(&playback(&people[1], &code).await);
    let (status, body) = people[0]
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"media_url": "https://example.com/next.mp4"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ROOM_UPDATED always; a PLAYBACK_STATE for the new item, if one comes
    // (§13 rule 16, the queue's), says rate 1 too.
    let seen = gather(&mut sockets[1], Duration::from_millis(700)).await;
    assert!(types(&seen).contains(&"ROOM_UPDATED"), "{seen:?}");
    for state in seen.iter().filter(|m| m["type"] == "PLAYBACK_STATE") {
        assert_eq!(state["rate"], 1.0, "{state}");
        assert_eq!(state["is_playing"], false);
    }
    let http = playback(&people[1], &code).await;
    assert_eq!(
        http["rate"], 1.0,
        "a new media item resets the rate: {http}"
    );
    assert_eq!(http["time"], 0.0);
    assert!(
        version(&http) > before,
        "a new item is a playback change: {http}"
    );
    server.stop().await;
}

/// `rounds` times, two controllers send a SEEK with the same `if_version` at
/// once: the watcher sees exactly one SEEK at version + 1, and exactly one of
/// the two gets `stale_version` (§7: two controllers never fight).
pub async fn duel(
    asker: &TestUser,
    code: &str,
    mut controllers: [&mut WsClient; 2],
    watcher: &mut WsClient,
    rounds: u32,
) {
    for round in 0..rounds {
        let version = version(&playback(asker, code).await);
        let (ta, tb) = (f64::from(round) * 10.0 + 1.0, f64::from(round) * 10.0 + 2.0);
        let [first, second] = &mut controllers;
        tokio::join!(
            first.send(json!({"type": "SEEK", "time": ta, "if_version": version})),
            second.send(json!({"type": "SEEK", "time": tb, "if_version": version})),
        );
        let seeks: Vec<Value> = gather(watcher, Duration::from_millis(600))
            .await
            .into_iter()
            .filter(|m| m["type"] == "SEEK")
            .collect();
        assert_eq!(seeks.len(), 1, "round {round}: one winner: {seeks:?}");
        assert_eq!(seeks[0]["version"].as_i64(), Some(version + 1));
        let mut errors = 0;
        for socket in controllers.iter_mut() {
            for m in gather(socket, Duration::from_millis(200)).await {
                match m["type"].as_str() {
                    Some("ERROR") => {
                        assert_eq!(m["code"], "stale_version", "{m}");
                        assert_eq!(m["version"].as_i64(), Some(version + 1), "{m}");
                        errors += 1;
                    }
                    Some("SEEK") => assert_eq!(m["version"].as_i64(), Some(version + 1)),
                    _ => {}
                }
            }
        }
        assert_eq!(
            errors, 1,
            "round {round}: the later one learns it was stale"
        );
        assert_eq!(playback(asker, code).await["time"], seeks[0]["time"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_acting_on_one_version_never_both_win() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    assert_eq!(
        put_role(&people[0], &code, people[1].id, "co_host").await.0,
        StatusCode::OK
    );
    for socket in sockets.iter_mut() {
        gather(socket, QUIET).await;
    }
    let [host, co_host, watcher] = &mut sockets[..] else {
        unreachable!()
    };
    duel(&people[2], &code, [host, co_host], watcher, 10).await;
    server.stop().await;
}
