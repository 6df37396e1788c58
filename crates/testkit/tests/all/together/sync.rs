//! §10, sync telemetry, with rule 12 of §13: the drift the server computes
//! from a `SYNC_REPORT`, when it cannot be known, what is ignored, the
//! resync of a socket that stays far off, and `SYNC_STATS` for controllers.
//! (`at` on a controller's command is tested in `sockets::messages`.)

use super::waits::{now_ms, playback, report, series};
use super::*;
use std::time::Instant;
use watchparty_testkit::TestServer;

/// Reports are at most one a second per socket; the tests space theirs by this.
pub const REPORT_GAP: Duration = Duration::from_millis(1100);

/// Where a room that played from `play` (a `PLAY` or `PLAYBACK_STATE` at
/// rate 1) stands at `at` ms.
pub fn position(play: &Value, at: i64) -> f64 {
    play["time"].as_f64().unwrap() + (at - play["server_time"].as_i64().unwrap()) as f64 / 1000.0
}

/// Sends a `SYNC_REPORT` saying the player stood `ahead` seconds off the
/// room's position (from `play`) now.
pub async fn sync_report(socket: &mut WsClient, play: &Value, ahead: f64, rtt_ms: i64) {
    let at = now_ms();
    socket
        .send(json!({
            "type": "SYNC_REPORT",
            "time": position(play, at) + ahead,
            "at": at,
            "rtt_ms": rtt_ms,
            "state": "playing",
        }))
        .await;
}

/// The next `YOUR_SYNC` on this socket, skipping anything else.
pub async fn your_sync(socket: &mut WsClient) -> Value {
    socket.recv_until("YOUR_SYNC").await
}

/// The next message of type `kind` within `within`, skipping others.
pub async fn next_of(socket: &mut WsClient, kind: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = socket
            .try_recv(left)
            .await
            .unwrap_or_else(|| panic!("no {kind} within {within:?}"));
        if m["type"] == kind {
            return m;
        }
    }
}

/// The drift of a `YOUR_SYNC`, which must be a number.
#[track_caller]
pub fn drift(message: &Value) -> f64 {
    message["drift_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("drift_ms is a number: {message}"))
}

/// Asserts the drift is `expected` ms, give or take rounding.
#[track_caller]
pub fn assert_drift(message: &Value, expected: f64) {
    let got = drift(message);
    assert!(
        (got - expected).abs() <= 60.0,
        "drift {got} ms, expected about {expected}: {message}"
    );
}

/// A room in which `names[0]` pressed PLAY at 100 s with nobody reporting a
/// player state (so without a wait); returns the `PLAY` the others got.
async fn playing(
    server: &TestServer,
    names: &[&str],
) -> (String, Vec<TestUser>, Vec<WsClient>, Value) {
    let (code, people, mut sockets) = gathering(server, names).await;
    sockets[0]
        .send(json!({"type": "PLAY", "time": 100.0}))
        .await;
    let mut play = Value::Null;
    for socket in sockets.iter_mut().skip(1) {
        play = socket.recv_type("PLAY").await;
    }
    (code, people, sockets, play)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn your_sync_carries_the_drift_the_server_computes() {
    let server = TestServer::start().await;
    let (_code, _people, mut sockets, play) = playing(&server, &["ana", "bob"]).await;
    let bob = &mut sockets[1];

    // Two seconds ahead of the room.
    sync_report(bob, &play, 2.0, 40).await;
    let sync = your_sync(bob).await;
    assert_drift(&sync, 2000.0);
    assert_eq!(sync["rtt_ms"].as_f64(), Some(40.0), "{sync}");

    // Half a second behind; a drift figure of the client's own is not taken.
    tokio::time::sleep(REPORT_GAP).await;
    let at = now_ms();
    bob.send(json!({
        "type": "SYNC_REPORT", "time": position(&play, at) - 0.5, "at": at,
        "rtt_ms": 55, "state": "playing", "drift_ms": 99_999,
    }))
    .await;
    let sync = your_sync(bob).await;
    assert_drift(&sync, -500.0);
    assert_eq!(sync["rtt_ms"].as_f64(), Some(55.0), "{sync}");
    // A second report within the same second is ignored.
    sync_report(bob, &play, 3.0, 40).await;
    let rest = gather(bob, QUIET).await;
    assert!(
        !types(&rest).contains(&"YOUR_SYNC"),
        "more than one report a second is ignored: {rest:?}"
    );

    // In step.
    tokio::time::sleep(REPORT_GAP).await;
    sync_report(bob, &play, 0.0, 12).await;
    assert_drift(&your_sync(bob).await, 0.0);

    // At rate 2 the room's position runs twice as fast (§11): one second
    // ahead of it is still +1000.
    sockets[0].send(json!({"type": "RATE", "rate": 2.0})).await;
    let bob = &mut sockets[1];
    let rate = bob.recv_type("RATE").await;
    tokio::time::sleep(REPORT_GAP).await;
    let at = now_ms();
    let there = rate["time"].as_f64().unwrap()
        + 2.0 * (at - rate["server_time"].as_i64().unwrap()) as f64 / 1000.0;
    bob.send(json!({"type": "SYNC_REPORT", "time": there + 1.0, "at": at, "rtt_ms": 12, "state": "playing"}))
        .await;
    assert_drift(&your_sync(bob).await, 1000.0);

    let text = server.client().metrics().await;
    for name in [
        "watchparty_viewer_drift_seconds_count",
        "watchparty_viewer_rtt_seconds_count",
    ] {
        assert!(
            series(&text, name).unwrap_or(0.0) >= 4.0,
            "{name} counts the four reports:\n{text}"
        );
    }
    assert!(
        text.contains("watchparty_viewer_drift_seconds_bucket"),
        "a histogram:\n{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drift_is_null_when_the_room_is_paused_waiting_or_the_time_is_off() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (bob, cat) = (&people[1], &people[2]);
    let null = |m: &Value| assert_eq!(m["drift_ms"], Value::Null, "{m}");

    // Paused.
    let state = playback(bob, &code).await;
    let at = now_ms();
    sockets[1]
        .send(json!({"type": "SYNC_REPORT", "time": state["time"], "at": at, "rtt_ms": 20, "state": "paused"}))
        .await;
    null(&your_sync(&mut sockets[1]).await);

    // Playing, but `at` before the playing state began.
    sockets[0]
        .send(json!({"type": "PLAY", "time": 100.0}))
        .await;
    let play = sockets[1].recv_type("PLAY").await;
    sockets[2].recv_type("PLAY").await;
    tokio::time::sleep(REPORT_GAP).await;
    let before = play["server_time"].as_i64().unwrap() - 300;
    sockets[1]
        .send(json!({"type": "SYNC_REPORT", "time": 100.0, "at": before, "rtt_ms": 20, "state": "playing"}))
        .await;
    null(&your_sync(&mut sockets[1]).await);

    // More than 5 s before its arrival, and more than 1 s after.
    for offset in [-6_000, 2_000] {
        tokio::time::sleep(REPORT_GAP).await;
        let at = now_ms() + offset;
        sockets[1]
            .send(json!({"type": "SYNC_REPORT", "time": position(&play, at), "at": at, "rtt_ms": 20, "state": "playing"}))
            .await;
        null(&your_sync(&mut sockets[1]).await);
    }

    // During a wait.
    report(&mut sockets[2], "ready").await;
    sockets[0]
        .send(json!({"type": "SEEK", "time": 200.0}))
        .await;
    for socket in sockets.iter_mut() {
        let waiting = socket.recv_until("WAITING").await;
        assert_eq!(waiting["for"], json!([public(cat)]));
    }
    tokio::time::sleep(REPORT_GAP).await;
    sockets[1]
        .send(json!({"type": "SYNC_REPORT", "time": 200.0, "at": now_ms(), "rtt_ms": 20, "state": "paused"}))
        .await;
    null(&your_sync(&mut sockets[1]).await);

    // Nothing of these was recorded: no controller hears of Bob.
    let seen = gather(&mut sockets[0], Duration::from_millis(5_500)).await;
    for m in seen.iter().filter(|m| m["type"] == "SYNC_STATS") {
        assert!(
            !m["users"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["user"]["id"] == bob.id),
            "a report with a null drift is not recorded: {m}"
        );
    }

    // Once playing again, a report counts.
    report(&mut sockets[2], "ready").await;
    let resumed = sockets[1].recv_until("PLAY").await;
    tokio::time::sleep(REPORT_GAP).await;
    sync_report(&mut sockets[1], &resumed, 0.0, 20).await;
    assert_drift(&your_sync(&mut sockets[1]).await, 0.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_reports_are_ignored_and_the_socket_stays_open() {
    let server = TestServer::start().await;
    let (_code, _people, mut sockets, play) = playing(&server, &["ana", "bob"]).await;
    let at = now_ms();
    let good = position(&play, at);
    // A `time` that is no position, an `rtt_ms` that is no round trip, a
    // field of the wrong type or missing: ignored, no reply (§5).
    let absurd = [
        json!({"type": "SYNC_REPORT", "time": -5.0, "at": at, "rtt_ms": 20, "state": "playing"}),
        json!({"type": "SYNC_REPORT", "time": 1e12, "at": at, "rtt_ms": 20, "state": "playing"}),
        json!({"type": "SYNC_REPORT", "time": "12", "at": at, "rtt_ms": 20, "state": "playing"}),
        json!({"type": "SYNC_REPORT", "time": good, "at": at, "rtt_ms": -3, "state": "playing"}),
        json!({"type": "SYNC_REPORT", "time": good, "at": at, "rtt_ms": 1e12, "state": "playing"}),
        json!({"type": "SYNC_REPORT", "time": good, "at": at, "rtt_ms": "fast", "state": "playing"}),
        json!({"type": "SYNC_REPORT", "time": good, "at": "now", "rtt_ms": 20, "state": "playing"}),
        json!({"type": "SYNC_REPORT", "time": good, "at": at, "rtt_ms": 20, "state": "dancing"}),
        json!({"type": "SYNC_REPORT", "at": at, "rtt_ms": 20, "state": "playing"}),
        json!({"type": "SYNC_REPORT", "time": null, "at": at, "rtt_ms": 20, "state": "playing"}),
        json!({"type": "SYNC_REPORT"}),
    ];
    for report in absurd {
        sockets[1].send(report).await;
    }
    super::waits::barrier(&mut sockets[1]).await;
    let seen = gather(&mut sockets[1], QUIET).await;
    assert!(!sockets[1].is_closed(), "the socket stays open");
    assert!(
        !types(&seen).contains(&"YOUR_SYNC"),
        "absurd reports get no reply: {seen:?}"
    );
    // An `at` far from now is a time the drift cannot be known at: at most a
    // null drift.
    for at in [json!(-1), json!(1e18)] {
        tokio::time::sleep(REPORT_GAP).await;
        sockets[1]
            .send(json!({"type": "SYNC_REPORT", "time": good, "at": at, "rtt_ms": 20, "state": "playing"}))
            .await;
        super::waits::barrier(&mut sockets[1]).await;
        for m in gather(&mut sockets[1], QUIET).await {
            assert!(m["type"] != "YOUR_SYNC" || m["drift_ms"].is_null(), "{m}");
        }
    }
    assert!(!sockets[1].is_closed(), "the socket stays open");
    sockets[0].expect_silence(Duration::ZERO).await;
    // A sound report afterwards is answered as usual.
    tokio::time::sleep(REPORT_GAP).await;
    sync_report(&mut sockets[1], &play, 0.25, 20).await;
    let sync = your_sync(&mut sockets[1]).await;
    assert_drift(&sync, 250.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reports_far_off_in_a_row_resync_that_socket_alone() {
    let server = TestServer::start().await;
    let (_code, _people, mut sockets, play) = playing(&server, &["ana", "bob", "cat"]).await;
    // Far off, then close: no resync.
    for (n, ahead) in [2.0, 0.1, 2.0].into_iter().enumerate() {
        if n > 0 {
            tokio::time::sleep(REPORT_GAP).await;
        }
        sync_report(&mut sockets[1], &play, ahead, 30).await;
        assert_drift(&your_sync(&mut sockets[1]).await, ahead * 1000.0);
        let rest = gather(&mut sockets[1], Duration::from_millis(200)).await;
        assert!(
            !types(&rest).contains(&"PLAYBACK_STATE"),
            "report {n}: one far-off report is not enough: {rest:?}"
        );
    }
    // Far off twice in a row (behind this time): a fresh state for Bob.
    tokio::time::sleep(REPORT_GAP).await;
    sync_report(&mut sockets[1], &play, -1.8, 30).await;
    let mut seen = Vec::new();
    let state = loop {
        let m = sockets[1].recv().await;
        if m["type"] == "PLAYBACK_STATE" {
            break m;
        }
        seen.push(m);
    };
    assert_eq!(state["resync"], true, "{state}");
    assert_eq!(state["is_playing"], true);
    let now = position(&play, state["server_time"].as_i64().unwrap());
    assert!(
        (state["time"].as_f64().unwrap() - now).abs() < 0.1,
        "the room's position: {state}"
    );
    let sync = if let Some(s) = seen.iter().find(|m| m["type"] == "YOUR_SYNC") {
        s.clone()
    } else {
        your_sync(&mut sockets[1]).await
    };
    assert_drift(&sync, -1800.0);
    for socket in pick(&mut sockets, &[0, 2]) {
        let rest = gather(socket, QUIET).await;
        assert!(
            !types(&rest).contains(&"PLAYBACK_STATE"),
            "to that socket only: {rest:?}"
        );
    }
    let text = server.client().metrics().await;
    assert_eq!(
        series(&text, "watchparty_resyncs_total"),
        Some(1.0),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_stats_go_every_five_seconds_to_controllers_only() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat", "dan"]).await;
    let (ana, bob, cat, dan) = (&people[0], &people[1], &people[2], &people[3]);
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    for socket in sockets.iter_mut() {
        gather(socket, QUIET).await;
    }
    sockets[0]
        .send(json!({"type": "PLAY", "time": 100.0}))
        .await;
    let mut play = Value::Null;
    for socket in sockets.iter_mut().skip(1) {
        play = socket.recv_type("PLAY").await;
    }
    sync_report(&mut sockets[2], &play, 2.0, 30).await;
    assert_drift(&your_sync(&mut sockets[2]).await, 2000.0);
    sync_report(&mut sockets[3], &play, -1.0, 80).await;
    assert_drift(&your_sync(&mut sockets[3]).await, -1000.0);

    // The host: a SYNC_STATS naming both within 5 s (and one more tick).
    let deadline = Instant::now() + Duration::from_secs(12);
    let (first, first_at) = loop {
        let m = sockets[0]
            .try_recv(deadline.saturating_duration_since(Instant::now()))
            .await
            .expect("SYNC_STATS within 12 s of the reports");
        if m["type"] == "SYNC_STATS" && m["users"].as_array().map_or(0, Vec::len) >= 2 {
            break (m, Instant::now());
        }
    };
    let users = first["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "the two who reported: {first}");
    for (user, expected, rtt) in [(cat, 2000.0, 30), (dan, -1000.0, 80)] {
        let entry = users
            .iter()
            .find(|u| u["user"]["id"] == user.id)
            .unwrap_or_else(|| panic!("{} listed: {first}", user.name));
        assert_eq!(entry["user"], public(user), "{entry}");
        assert!(
            (entry["drift_ms"].as_f64().unwrap() - expected).abs() <= 60.0,
            "{entry}"
        );
        assert_eq!(entry["rtt_ms"].as_f64(), Some(rtt as f64), "{entry}");
        assert_eq!(entry["state"], "playing", "{entry}");
        assert!(!entry["updated_at"].is_null(), "{entry}");
    }
    let p50 = first["p50_abs_drift_ms"].as_f64().unwrap();
    let p95 = first["p95_abs_drift_ms"].as_f64().unwrap();
    assert!(
        (940.0..=2060.0).contains(&p50) && (940.0..=2060.0).contains(&p95) && p50 <= p95,
        "percentiles of |1000| and |2000|: {first}"
    );

    // Every 5 seconds.
    let second = next_of(&mut sockets[0], "SYNC_STATS", Duration::from_secs(8)).await;
    let gap = first_at.elapsed();
    assert!(
        gap >= Duration::from_millis(4_000) && gap <= Duration::from_millis(6_500),
        "SYNC_STATS every 5 s: {gap:?}"
    );
    assert_eq!(second["users"].as_array().unwrap().len(), 2, "{second}");

    // The co-host got them too; the viewers never.
    let seen = gather(&mut sockets[1], QUIET).await;
    assert!(
        types(&seen).iter().filter(|t| **t == "SYNC_STATS").count() >= 2,
        "a co-host holds control_playback: {:?}",
        types(&seen)
    );
    for socket in pick(&mut sockets, &[2, 3]) {
        let seen = gather(socket, QUIET).await;
        assert!(
            !types(&seen).contains(&"SYNC_STATS"),
            "not to viewers: {seen:?}"
        );
    }

    // With control for everyone, every viewer holds control_playback: the
    // stats reach them too.
    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"control": "everyone"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for socket in pick(&mut sockets, &[2, 3]) {
        let stats = next_of(socket, "SYNC_STATS", Duration::from_secs(7)).await;
        assert_eq!(stats["users"].as_array().unwrap().len(), 2, "{stats}");
    }
    server.stop().await;
}
