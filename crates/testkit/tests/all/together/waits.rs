//! §9, buffering and the group wait, with rules 1–4 of §13: who is waited
//! for, what every socket sees when a wait starts, shrinks and ends, what a
//! controller's command does during one, the deadline and the skip-twice
//! rule, `SET_WAIT`, the room's `wait_policy`, the wait in `PlaybackState`,
//! grace, and a flood of `PLAYER_STATE`.
//!
//! Helpers here are shared with `instances::together`, which runs the same
//! rules across two instances.

use super::*;
use std::time::Instant;
use watchparty_testkit::{TestServer, WAIT};

/// The deadline of a start, seek, resume or advance wait.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// The deadline of a rebuffer wait.
pub const REBUFFER_DEADLINE: Duration = Duration::from_secs(5);
/// More than 4 `PLAYER_STATE`s a second from one socket are ignored: the
/// tests space their own reports so that none of them is.
const REPORT_SPACING: Duration = Duration::from_millis(260);

/// The local clock in milliseconds since the Unix epoch (the server runs on
/// this machine, so its clock is this one).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A PING answered: every message this socket sent before it has been handled.
pub async fn barrier(socket: &mut WsClient) {
    socket.send(json!({"type": "PING", "client_time": 7})).await;
    socket.recv_until("PONG").await;
}

/// Sends `PLAYER_STATE` (spaced so as to stay within the budget) and waits
/// until the server has handled it. Whatever arrives before the `PONG` is
/// returned.
pub async fn report(socket: &mut WsClient, state: &str) -> Vec<Value> {
    tokio::time::sleep(REPORT_SPACING).await;
    socket
        .send(json!({"type": "PLAYER_STATE", "state": state}))
        .await;
    socket.send(json!({"type": "PING", "client_time": 8})).await;
    let (_, before) = until(socket, "PONG").await;
    before
}

/// Sends `PLAYER_STATE` without waiting for anything (spaced as [`report`]).
pub async fn tell(socket: &mut WsClient, state: &str) {
    tokio::time::sleep(REPORT_SPACING).await;
    socket
        .send(json!({"type": "PLAYER_STATE", "state": state}))
        .await;
}

/// The ids of a list of `PublicUser`s, checking their shape.
pub fn ids(list: &Value) -> BTreeSet<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list of users: {list}"))
        .iter()
        .map(|u| {
            assert!(u["display_name"].is_string(), "a PublicUser: {u}");
            assert!(u.get("email").is_none(), "never an email: {u}");
            u["id"].as_i64().unwrap()
        })
        .collect()
}

/// The ids of these users.
pub fn who(users: &[&TestUser]) -> BTreeSet<i64> {
    users.iter().map(|u| u.id).collect()
}

/// The HTTP `PlaybackState` of a room.
pub async fn playback(actor: &TestUser, code: &str) -> Value {
    room(actor, code).await["playback"].clone()
}

/// The playback version of a message or state.
pub fn version(message: &Value) -> i64 {
    message["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("version is an integer: {message}"))
}

/// Checks a `WAITING` (or a `PlaybackState`'s `waiting`): who, why, and a
/// deadline about `deadline` from now.
#[track_caller]
pub fn assert_waiting(waiting: &Value, expected: &BTreeSet<i64>, reason: &str, deadline: Duration) {
    assert_eq!(&ids(&waiting["for"]), expected, "for: {waiting}");
    assert_eq!(waiting["reason"], reason, "reason: {waiting}");
    let ahead = waiting["deadline"]
        .as_i64()
        .unwrap_or_else(|| panic!("deadline in ms: {waiting}"))
        - now_ms();
    let full = deadline.as_millis() as i64;
    assert!(
        ahead <= full + 100 && ahead >= full - 1500,
        "the deadline is {deadline:?} after the start, now {ahead} ms ahead: {waiting}"
    );
}

/// The start of a wait as every socket sees it (§13 rule 2): `PAUSE` at the
/// held position with `by` null, then `WAITING`. Returns both.
pub async fn wait_starts(
    socket: &mut WsClient,
    held: f64,
    expected: &BTreeSet<i64>,
    reason: &str,
    deadline: Duration,
) -> (Value, Value) {
    let pause = socket.recv().await;
    assert_eq!(pause["type"], "PAUSE", "a wait starts with PAUSE: {pause}");
    assert_eq!(pause["by"], Value::Null, "the server's own PAUSE: {pause}");
    assert_close(&pause["time"], held, "the held position");
    let waiting = socket.recv().await;
    assert_eq!(waiting["type"], "WAITING", "then WAITING: {waiting}");
    assert_waiting(&waiting, expected, reason, deadline);
    (pause, waiting)
}

/// [`wait_starts`] on each socket; the `PAUSE`s agree. Returns the first
/// socket's `PAUSE` and `WAITING`.
pub async fn wait_starts_everywhere(
    sockets: Vec<&mut WsClient>,
    held: f64,
    expected: &BTreeSet<i64>,
    reason: &str,
    deadline: Duration,
) -> (Value, Value) {
    let mut first: Option<(Value, Value)> = None;
    for socket in sockets {
        let (pause, waiting) = wait_starts(socket, held, expected, reason, deadline).await;
        match &first {
            None => first = Some((pause, waiting)),
            Some((p, w)) => {
                assert_eq!(version(&pause), version(p), "one PAUSE: {pause} {p}");
                assert_eq!(waiting["deadline"], w["deadline"], "one deadline");
            }
        }
    }
    first.expect("at least one socket")
}

#[track_caller]
pub fn assert_close(value: &Value, expected: f64, what: &str) {
    let got = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: a number, got {value}"));
    assert!(
        (got - expected).abs() < 0.05,
        "{what}: expected {expected}, got {got}"
    );
}

/// The end of a wait on one socket: reads up to the `PLAY` (before it only
/// `WAITING`s and, when `skipped` is given, exactly one `WAIT_SKIPPED` naming
/// them) and checks it: `by` null, at `time`, `server_time` at most 500 ms
/// ahead. Returns the `PLAY`.
pub async fn wait_ends(
    socket: &mut WsClient,
    time: f64,
    skipped: Option<&BTreeSet<i64>>,
    within: Duration,
) -> Value {
    let mut before = Vec::new();
    let play = loop {
        let message = socket
            .try_recv(within)
            .await
            .unwrap_or_else(|| panic!("no PLAY within {within:?}; got {before:?}"));
        if message["type"] == "PLAY" {
            break message;
        }
        before.push(message);
    };
    let received = now_ms();
    let skips: Vec<&Value> = before
        .iter()
        .filter(|m| m["type"] == "WAIT_SKIPPED")
        .collect();
    match skipped {
        None => assert!(skips.is_empty(), "no deadline passed: {before:?}"),
        Some(users) => {
            assert_eq!(
                skips.len(),
                1,
                "one WAIT_SKIPPED before the PLAY: {before:?}"
            );
            assert_eq!(&ids(&skips[0]["users"]), users, "{}", skips[0]);
        }
    }
    for message in &before {
        assert!(
            message["type"] == "WAITING" || message["type"] == "WAIT_SKIPPED",
            "only WAITING / WAIT_SKIPPED before the PLAY: {before:?}"
        );
    }
    assert_eq!(play["by"], Value::Null, "the server's own PLAY: {play}");
    assert_close(&play["time"], time, "the PLAY's position");
    let ahead = play["server_time"]
        .as_i64()
        .unwrap_or_else(|| panic!("server_time in ms: {play}"))
        - received;
    assert!(
        (-300..=505).contains(&ahead),
        "server_time is the moment to start, at most 500 ms ahead: {ahead} ms ({play})"
    );
    play
}

/// [`wait_ends`] on each socket, then nothing more: one PLAY each, the same one.
pub async fn wait_ends_everywhere(
    sockets: Vec<&mut WsClient>,
    time: f64,
    skipped: Option<&BTreeSet<i64>>,
    within: Duration,
) -> Value {
    let mut first: Option<Value> = None;
    let mut all = Vec::new();
    for socket in sockets {
        let play = wait_ends(socket, time, skipped, within).await;
        if let Some(p) = &first {
            assert_eq!(play["server_time"], p["server_time"], "one start for all");
            assert_eq!(version(&play), version(p));
        } else {
            first = Some(play);
        }
        all.push(socket);
    }
    for socket in all {
        let rest = gather(socket, QUIET).await;
        assert!(
            !rest.iter().any(|m| m["type"] == "PLAY"
                || m["type"] == "WAITING"
                || m["type"] == "WAIT_SKIPPED"),
            "the wait ends once: {rest:?}"
        );
    }
    first.expect("at least one socket")
}

/// The value of a Prometheus series (exactly `series`, labels included);
/// `None` when the text does not have it.
pub fn series(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().unwrap())
    })
}

/// The count of waits with this `outcome` (0 while the series is absent).
pub fn waits_counted(text: &str, outcome: &str) -> f64 {
    series(
        text,
        &format!("watchparty_group_waits_total{{outcome=\"{outcome}\"}}"),
    )
    .unwrap_or(0.0)
}

/// `PATCH`es the room's `wait_policy`; each socket reads its `ROOM_UPDATED`.
/// Ana, Bob and Cat in Ana's room; the players of `waited` (indexes: 1 is
/// Bob, 2 Cat) report, and Ana's `PLAY` at `at` makes the room wait for
/// them: the room, its people and sockets, and the wait's `PAUSE` and
/// `WAITING`.
async fn waiting_on(
    server: &TestServer,
    waited: &[usize],
    at: f64,
) -> (String, Vec<TestUser>, Vec<WsClient>, Value, Value) {
    let (code, people, mut sockets) = gathering(server, &["ana", "bob", "cat"]).await;
    for i in waited {
        report(&mut sockets[*i], "ready").await;
    }
    sockets[0].send(json!({"type": "PLAY", "time": at})).await;
    let users: Vec<&TestUser> = waited.iter().map(|i| &people[*i]).collect();
    let (start, waiting) = wait_starts_everywhere(
        sockets.iter_mut().collect(),
        at,
        &who(&users),
        "play",
        DEADLINE,
    )
    .await;
    (code, people, sockets, start, waiting)
}

async fn set_policy(host: &TestUser, code: &str, policy: &str, sockets: &mut [WsClient]) {
    let (status, body) = host
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"wait_policy": policy}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "wait_policy {policy}: {body}");
    assert_eq!(body["room"]["wait_policy"], policy, "{body}");
    for socket in sockets.iter_mut() {
        socket.recv_until("ROOM_UPDATED").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_anyone_to_wait_for_a_play_applies_at_once() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let ana = &people[0];
    assert_eq!(
        room(ana, &code).await["room"]["wait_policy"],
        "start",
        "the default policy"
    );
    // Bob never reports (a client of §1–6); Cat's player is broken.
    let seen = report(&mut sockets[2], "error").await;
    assert!(seen.is_empty(), "PLAYER_STATE gets no reply: {seen:?}");
    let v = version(&playback(ana, &code).await);
    sockets[0].send(json!({"type": "PLAY", "time": 5.0})).await;
    for socket in pick(&mut sockets, &[1, 2]) {
        let play = socket.recv().await;
        assert_eq!(play["type"], "PLAY", "no wait: {play}");
        assert_eq!(play["by"], public(ana), "{play}");
        assert_eq!(play["time"], 5.0);
        assert_eq!(version(&play), v + 1);
        socket.expect_silence(QUIET).await;
    }
    sockets[0].expect_silence(Duration::ZERO).await;
    let state = playback(ana, &code).await;
    assert_eq!(state["is_playing"], true, "{state}");
    assert_eq!(state.get("waiting"), Some(&Value::Null), "{state}");

    // A seek while playing, the same.
    sockets[0].send(json!({"type": "SEEK", "time": 50.0})).await;
    for socket in pick(&mut sockets, &[1, 2]) {
        let seek = socket.recv_type("SEEK").await;
        assert_eq!(seek["by"], public(ana));
    }
    sockets[0].expect_silence(QUIET).await;

    // Cat's player recovers: now she would be waited for.
    report(&mut sockets[2], "ready").await;
    sockets[0].send(json!({"type": "SEEK", "time": 70.0})).await;
    wait_starts_everywhere(
        sockets.iter_mut().collect(),
        70.0,
        &who(&[&people[2]]),
        "seek",
        DEADLINE,
    )
    .await;
    // Broken again during the wait: no longer waited for, so the wait is over.
    tell(&mut sockets[2], "error").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), 70.0, None, WAIT).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_holds_everyone_then_starts_everyone_together() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (bob, cat) = (&people[1], &people[2]);
    let before = playback(cat, &code).await;
    assert_eq!(before.get("waiting"), Some(&Value::Null), "{before}");
    // Bob's player reports; Cat's tab is chat-only.
    report(&mut sockets[1], "ready").await;
    let v = version(&before);

    let asked = now_ms();
    sockets[0].send(json!({"type": "PLAY", "time": 10.0})).await;
    let (pause, waiting) = wait_starts_everywhere(
        sockets.iter_mut().collect(),
        10.0,
        &who(&[bob]),
        "play",
        DEADLINE,
    )
    .await;
    assert_eq!(version(&pause), v + 1, "{pause}");
    assert!(waiting["deadline"].as_i64().unwrap() >= asked + 9_900);

    // The wait, over HTTP and to a socket that connects now.
    let state = playback(cat, &code).await;
    assert_eq!(state["is_playing"], false, "held: {state}");
    assert_close(&state["time"], 10.0, "held position");
    assert_eq!(version(&state), v + 1);
    assert_eq!(state["waiting"]["for"], waiting["for"], "{state}");
    assert_eq!(state["waiting"]["reason"], "play");
    assert_eq!(state["waiting"]["deadline"], waiting["deadline"]);
    let (mut tab, [opening, _, _]) = open(cat, &code).await;
    assert_eq!(opening["is_playing"], false, "{opening}");
    assert_eq!(opening["waiting"], state["waiting"], "{opening}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let held = playback(cat, &code).await;
    assert_eq!(held["time"], state["time"], "held, not advancing: {held}");

    // Bob's "ready" before the wait does not count: nothing ends it yet.
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    // Still loading, still waited for.
    report(&mut sockets[1], "loading").await;
    sockets[0].expect_silence(QUIET).await;
    tell(&mut sockets[1], "ready").await;
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut tab);
    let play = wait_ends_everywhere(all, 10.0, None, WAIT).await;
    assert_eq!(version(&play), v + 2, "the end raises the version: {play}");
    let state = playback(cat, &code).await;
    assert_eq!(state["is_playing"], true, "{state}");
    assert_eq!(state.get("waiting"), Some(&Value::Null), "{state}");
    assert_eq!(version(&state), v + 2);

    let text = server.client().metrics().await;
    assert_eq!(waits_counted(&text, "ready"), 1.0, "{text}");
    assert!(
        series(&text, "watchparty_group_wait_seconds_count").unwrap_or(0.0) >= 1.0,
        "the wait's duration is observed:\n{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_shrinks_as_users_get_ready_and_any_socket_of_a_user_counts() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (bob, cat) = (&people[1], &people[2]);
    // Bob has two players; Cat one.
    let (mut bob_tab, _) = open(bob, &code).await;
    report(&mut sockets[1], "ready").await;
    report(&mut bob_tab, "ready").await;
    report(&mut sockets[2], "ready").await;

    sockets[0].send(json!({"type": "PLAY", "time": 3.0})).await;
    let both = who(&[bob, cat]);
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut bob_tab);
    wait_starts_everywhere(all, 3.0, &both, "play", DEADLINE).await;

    // Bob's second tab is ready: Bob is no longer waited for.
    tell(&mut bob_tab, "ready").await;
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut bob_tab);
    for socket in all {
        let shrunk = socket.recv_type("WAITING").await;
        assert_waiting(&shrunk, &who(&[cat]), "play", DEADLINE);
    }
    let state = playback(cat, &code).await;
    assert_eq!(ids(&state["waiting"]["for"]), who(&[cat]), "{state}");
    // Cat buffers: still waited for, nothing changes.
    report(&mut sockets[2], "buffering").await;
    sockets[0].expect_silence(QUIET).await;
    tell(&mut sockets[2], "ready").await;
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut bob_tab);
    wait_ends_everywhere(all, 3.0, None, WAIT).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_while_playing_waits_a_seek_while_paused_does_not() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    report(&mut sockets[1], "ready").await;
    // Paused: a SEEK is just a SEEK.
    sockets[0].send(json!({"type": "SEEK", "time": 20.0})).await;
    let seek = sockets[1].recv_type("SEEK").await;
    assert_eq!(seek["by"], public(ana));
    sockets[0].expect_silence(QUIET).await;
    sockets[1].expect_silence(Duration::ZERO).await;

    // Playing (through a first wait), a SEEK waits: reason seek.
    sockets[0].send(json!({"type": "PLAY", "time": 20.0})).await;
    wait_starts_everywhere(
        sockets.iter_mut().collect(),
        20.0,
        &who(&[bob]),
        "play",
        DEADLINE,
    )
    .await;
    tell(&mut sockets[1], "ready").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), 20.0, None, WAIT).await;
    // With the default policy, buffering while playing starts no wait.
    report(&mut sockets[1], "buffering").await;
    sockets[0].expect_silence(QUIET).await;
    report(&mut sockets[1], "ready").await;

    let v = version(&playback(bob, &code).await);
    sockets[0].send(json!({"type": "SEEK", "time": 90.0})).await;
    let (pause, _) = wait_starts_everywhere(
        sockets.iter_mut().collect(),
        90.0,
        &who(&[bob]),
        "seek",
        DEADLINE,
    )
    .await;
    assert_eq!(version(&pause), v + 1);
    tell(&mut sockets[1], "ready").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), 90.0, None, WAIT).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_during_a_wait_restarts_it_at_the_new_position() {
    let server = TestServer::start().await;
    let (code, people, mut sockets, _, first) = waiting_on(&server, &[1, 2], 5.0).await;
    let (bob, cat) = (&people[1], &people[2]);
    // Bob is ready for this wait; Cat is not.
    tell(&mut sockets[1], "ready").await;
    for socket in sockets.iter_mut() {
        let shrunk = socket.recv_type("WAITING").await;
        assert_eq!(ids(&shrunk["for"]), who(&[cat]));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let v = version(&playback(cat, &code).await);

    sockets[0].send(json!({"type": "SEEK", "time": 42.0})).await;
    for socket in sockets.iter_mut() {
        let (waiting, before) = until(socket, "WAITING").await;
        // A new wait at the new position, every waited-for socket not ready
        // again (Bob's "ready" was for the old one), a new deadline.
        assert_waiting(&waiting, &who(&[bob, cat]), "seek", DEADLINE);
        assert!(
            waiting["deadline"].as_i64() > first["deadline"].as_i64(),
            "{waiting} after {first}"
        );
        assert!(
            before
                .iter()
                .any(|m| (m["type"] == "PAUSE" || m["type"] == "SEEK")
                    && (m["time"].as_f64().unwrap() - 42.0).abs() < 0.05),
            "the held position moves to 42 before the new WAITING: {before:?}"
        );
        assert!(
            !before
                .iter()
                .any(|m| m["type"] == "PLAY" || m["type"] == "WAIT_SKIPPED"),
            "{before:?}"
        );
    }
    let state = playback(cat, &code).await;
    assert_eq!(state["is_playing"], false);
    assert_close(&state["time"], 42.0, "held at the new position");
    assert_eq!(state["waiting"]["reason"], "seek", "{state}");
    assert!(version(&state) > v);
    tell(&mut sockets[1], "ready").await;
    for socket in sockets.iter_mut() {
        let shrunk = socket.recv_type("WAITING").await;
        assert_eq!(ids(&shrunk["for"]), who(&[cat]));
    }
    tell(&mut sockets[2], "ready").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), 42.0, None, WAIT).await;
    // Ended by SEEK (not counted), then by ready (counted once).
    let text = server.client().metrics().await;
    assert_eq!(waits_counted(&text, "ready"), 1.0, "{text}");
    assert_eq!(waits_counted(&text, "forced"), 0.0, "{text}");
    assert_eq!(waits_counted(&text, "timeout"), 0.0, "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_during_a_wait_ends_it_paused() {
    // Anywhere, and where the room is held (a player paused where it waits
    // sends just that): either ends the wait.
    for at in [12.0, 8.0] {
        let server = TestServer::start().await;
        let (code, people, mut sockets, start, _) = waiting_on(&server, &[1], 8.0).await;
        let (ana, bob) = (&people[0], &people[1]);
        sockets[0].send(json!({"type": "PAUSE", "time": at})).await;
        // "PAUSE to all", the controller's socket included.
        for socket in sockets.iter_mut() {
            let pause = socket.recv_type("PAUSE").await;
            assert_eq!(pause["by"], public(ana), "{pause}");
            assert_eq!(pause["time"], at);
            assert_eq!(version(&pause), version(&start) + 1, "{pause}");
        }
        let state = playback(bob, &code).await;
        assert_eq!(state["is_playing"], false);
        assert_eq!(state["time"], at);
        assert_eq!(
            state.get("waiting"),
            Some(&Value::Null),
            "the wait is over: {state}"
        );
        // Bob's ready changes nothing now.
        report(&mut sockets[1], "ready").await;
        for socket in sockets.iter_mut() {
            socket.expect_silence(QUIET).await;
        }
        let text = server.client().metrics().await;
        for outcome in ["ready", "timeout", "forced"] {
            assert_eq!(waits_counted(&text, outcome), 0.0, "not counted: {text}");
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_to_where_the_room_is_held_restarts_the_wait() {
    let server = TestServer::start().await;
    let (code, people, mut sockets, start, first) = waiting_on(&server, &[1], 8.0).await;
    let bob = &people[1];
    sockets[0].send(json!({"type": "SEEK", "time": 8.0})).await;
    let (pause, again) = wait_starts_everywhere(
        sockets.iter_mut().collect(),
        8.0,
        &who(&[bob]),
        "seek",
        DEADLINE,
    )
    .await;
    assert_eq!(version(&pause), version(&start) + 1, "{pause}");
    assert!(
        again["deadline"].as_i64() >= first["deadline"].as_i64(),
        "a new deadline: {first} then {again}"
    );
    let state = playback(bob, &code).await;
    assert_eq!(state["waiting"]["reason"], "seek", "{state}");
    tell(&mut sockets[1], "ready").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), 8.0, None, WAIT).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forcing_play_during_a_wait_starts_from_its_own_time() {
    let server = TestServer::start().await;
    let (code, people, mut sockets, start, _) = waiting_on(&server, &[1], 8.0).await;
    let bob = &people[1];
    // A viewer's PLAY forces nothing (§7: no control_playback, ignored).
    sockets[2].send(json!({"type": "PLAY", "time": 90.0})).await;
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    sockets[0].send(json!({"type": "PLAY", "time": 40.0})).await;
    // One PLAY to every socket, the controller's included; no WAIT_SKIPPED
    // (no deadline passed).
    let play = wait_ends_everywhere(sockets.iter_mut().collect(), 40.0, None, WAIT).await;
    assert_eq!(version(&play), version(&start) + 1, "{play}");
    let state = playback(bob, &code).await;
    assert_eq!(state["is_playing"], true);
    assert_eq!(state.get("waiting"), Some(&Value::Null));
    // Bob, still not ready, holds nobody up now.
    report(&mut sockets[1], "loading").await;
    sockets[0].expect_silence(QUIET).await;
    let text = server.client().metrics().await;
    assert_eq!(waits_counted(&text, "forced"), 1.0, "{text}");
    assert_eq!(waits_counted(&text, "ready"), 0.0, "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_during_a_wait_applies_and_the_wait_goes_on() {
    let server = TestServer::start().await;
    let (code, people, mut sockets, start, waiting) = waiting_on(&server, &[1], 8.0).await;
    let (ana, bob) = (&people[0], &people[1]);
    sockets[0].send(json!({"type": "RATE", "rate": 2.0})).await;
    for socket in pick(&mut sockets, &[1, 2]) {
        let rate = socket.recv_type("RATE").await;
        assert_eq!(rate["rate"], 2.0);
        assert_eq!(rate["by"], public(ana));
        assert_eq!(version(&rate), version(&start) + 1, "{rate}");
        assert_close(&rate["time"], 8.0, "still held");
    }
    let state = playback(bob, &code).await;
    assert_eq!(state["rate"], 2.0);
    assert_eq!(state["is_playing"], false, "still waiting: {state}");
    assert_eq!(state["waiting"]["deadline"], waiting["deadline"], "{state}");
    for socket in sockets.iter_mut() {
        let rest = gather(socket, QUIET).await;
        assert!(
            !rest
                .iter()
                .any(|m| m["type"] == "PLAY" || m["type"] == "WAITING"),
            "the wait goes on: {rest:?}"
        );
    }
    tell(&mut sockets[1], "ready").await;
    let play = wait_ends_everywhere(sockets.iter_mut().collect(), 8.0, None, WAIT).await;
    assert_eq!(version(&play), version(&start) + 2);
    assert_eq!(playback(bob, &code).await["rate"], 2.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_skips_who_is_not_ready_and_twice_skipped_is_not_waited_for() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (bob, cat) = (&people[1], &people[2]);
    report(&mut sockets[1], "loading").await;
    report(&mut sockets[2], "ready").await;
    for (round, held) in [(1, 10.0), (2, 30.0)] {
        let started = Instant::now();
        let command = if round == 1 {
            json!({"type": "PLAY", "time": held})
        } else {
            json!({"type": "SEEK", "time": held})
        };
        sockets[0].send(command).await;
        let reason = if round == 1 { "play" } else { "seek" };
        let (_, waiting) = wait_starts_everywhere(
            sockets.iter_mut().collect(),
            held,
            &who(&[bob, cat]),
            reason,
            DEADLINE,
        )
        .await;
        tell(&mut sockets[2], "ready").await;
        for socket in sockets.iter_mut() {
            let shrunk = socket.recv_type("WAITING").await;
            assert_eq!(ids(&shrunk["for"]), who(&[bob]), "round {round}");
        }
        // Bob never gets ready: at the deadline he is named, then everyone plays.
        let play = wait_ends_everywhere(
            sockets.iter_mut().collect(),
            held,
            Some(&who(&[bob])),
            DEADLINE + Duration::from_secs(3),
        )
        .await;
        assert!(
            started.elapsed() >= DEADLINE - Duration::from_millis(300),
            "round {round}: not before the deadline ({:?})",
            started.elapsed()
        );
        assert!(
            play["server_time"].as_i64().unwrap() >= waiting["deadline"].as_i64().unwrap(),
            "round {round}: {play} {waiting}"
        );
        assert_eq!(playback(cat, &code).await["is_playing"], true);
    }
    let text = server.client().metrics().await;
    assert_eq!(waits_counted(&text, "timeout"), 2.0, "{text}");

    // Skipped twice within 5 minutes: not waited for in the next wait, even
    // from a fresh socket (rule 4: for the room's lifetime).
    let old = sockets.remove(1);
    old.close().await;
    sockets[0].recv_type("USER_LEFT").await;
    sockets[1].recv_type("USER_LEFT").await;
    let (mut fresh, _) = open(bob, &code).await;
    for socket in sockets.iter_mut() {
        socket.recv_type("USER_JOINED").await;
    }
    // Ready once (a joiner of a playing room is not waited for before),
    // then loading: he would be waited for, but for the two skips.
    report(&mut fresh, "ready").await;
    report(&mut fresh, "loading").await;
    sockets[0].send(json!({"type": "SEEK", "time": 60.0})).await;
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut fresh);
    let (_, waiting) = wait_starts_everywhere(all, 60.0, &who(&[cat]), "seek", DEADLINE).await;
    assert!(!ids(&waiting["for"]).contains(&bob.id));
    tell(&mut sockets[1], "ready").await;
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut fresh);
    wait_ends_everywhere(all, 60.0, None, WAIT).await;
    server.stop().await;
}

/// Every socket but the host's (the first), and one more.
fn watchers<'a>(sockets: &'a mut [WsClient], extra: &'a mut WsClient) -> Vec<&'a mut WsClient> {
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().skip(1).collect();
    all.push(extra);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_wait_opts_a_user_out_and_back_in_on_every_socket() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let (mut bob_tab, _) = open(bob, &code).await;
    report(&mut sockets[1], "ready").await;
    report(&mut bob_tab, "ready").await;
    // Out, from one tab: no reply, and neither tab is waited for.
    sockets[1]
        .send(json!({"type": "SET_WAIT", "wait": false}))
        .await;
    let seen = report(&mut sockets[1], "ready").await;
    assert!(seen.is_empty(), "SET_WAIT gets no reply: {seen:?}");
    sockets[0].send(json!({"type": "PLAY", "time": 4.0})).await;
    for socket in watchers(&mut sockets, &mut bob_tab) {
        let play = socket.recv().await;
        assert_eq!(play["type"], "PLAY", "nobody to wait for (rule 1): {play}");
        assert_eq!(play["by"], public(ana));
    }
    sockets[0].expect_silence(QUIET).await;
    sockets[0].send(json!({"type": "PAUSE", "time": 6.0})).await;
    for socket in watchers(&mut sockets, &mut bob_tab) {
        socket.recv_type("PAUSE").await;
    }

    // The choice outlives the socket that made it (rule 4).
    let tab = std::mem::replace(&mut bob_tab, open(bob, &code).await.0);
    tab.close().await;
    report(&mut bob_tab, "ready").await;
    sockets[0].send(json!({"type": "PLAY", "time": 6.0})).await;
    for socket in watchers(&mut sockets, &mut bob_tab) {
        assert_eq!(socket.recv_type("PLAY").await["by"], public(ana));
    }
    sockets[0].send(json!({"type": "PAUSE", "time": 7.0})).await;
    for socket in watchers(&mut sockets, &mut bob_tab) {
        socket.recv_type("PAUSE").await;
    }

    // Back in, from the other tab: waited for again.
    bob_tab
        .send(json!({"type": "SET_WAIT", "wait": true}))
        .await;
    let seen = report(&mut bob_tab, "ready").await;
    assert!(seen.is_empty(), "SET_WAIT gets no reply: {seen:?}");
    sockets[0].send(json!({"type": "PLAY", "time": 7.0})).await;
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut bob_tab);
    wait_starts_everywhere(all, 7.0, &who(&[bob]), "play", DEADLINE).await;
    tell(&mut bob_tab, "ready").await;
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut bob_tab);
    wait_ends_everywhere(all, 7.0, None, WAIT).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_joins_a_playing_room_is_not_waited_for_until_ready_once() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "cat"]).await;
    let ana = &people[0];
    let bob = server.user("bob").await;
    sockets[0].send(json!({"type": "PLAY", "time": 1.0})).await;
    sockets[1].recv_type("PLAY").await;
    // Bob arrives while the room plays, and his player loads.
    let mut joiner = enter(&bob, &code).await;
    for socket in sockets.iter_mut() {
        socket.recv_type("USER_JOINED").await;
    }
    report(&mut joiner, "loading").await;
    sockets[0]
        .send(json!({"type": "SEEK", "time": 100.0}))
        .await;
    for socket in [&mut sockets[1], &mut joiner] {
        let seek = socket.recv().await;
        assert_eq!(seek["type"], "SEEK", "the joiner holds nobody up: {seek}");
        assert_eq!(seek["by"], public(ana));
    }
    sockets[0].expect_silence(QUIET).await;
    report(&mut joiner, "buffering").await;
    sockets[0].expect_silence(QUIET).await;
    // Ready once: from now on a wait waits for him.
    report(&mut joiner, "ready").await;
    sockets[0]
        .send(json!({"type": "SEEK", "time": 200.0}))
        .await;
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut joiner);
    wait_starts_everywhere(all, 200.0, &who(&[&bob]), "seek", DEADLINE).await;
    tell(&mut joiner, "ready").await;
    let mut all: Vec<&mut WsClient> = sockets.iter_mut().collect();
    all.push(&mut joiner);
    wait_ends_everywhere(all, 200.0, None, WAIT).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_policy_off_never_waits() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let ana = &people[0];
    set_policy(ana, &code, "off", &mut sockets).await;
    report(&mut sockets[1], "ready").await;
    sockets[0].send(json!({"type": "PLAY", "time": 2.0})).await;
    let play = sockets[1].recv_type("PLAY").await;
    assert_eq!(play["by"], public(ana));
    sockets[0].send(json!({"type": "SEEK", "time": 30.0})).await;
    assert_eq!(sockets[1].recv_type("SEEK").await["by"], public(ana));
    report(&mut sockets[1], "buffering").await;
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    assert_eq!(playback(ana, &code).await["is_playing"], true);
    report(&mut sockets[1], "ready").await;

    // Nor after a grace: the room resumes playing at once.
    let host = sockets.remove(0);
    host.close().await;
    sockets[0].recv_until("HOST_DISCONNECTED").await;
    sockets[0].recv_type("PLAYBACK_STATE").await;
    let (_host, _) = open(ana, &code).await;
    sockets[0].recv_until("HOST_RECONNECTED").await;
    let resumed = sockets[0].recv_type("PLAYBACK_STATE").await;
    assert_eq!(resumed["is_playing"], true, "{resumed}");
    assert_eq!(resumed.get("waiting"), Some(&Value::Null), "{resumed}");
    let rest = gather(&mut sockets[0], QUIET).await;
    assert!(
        !types(&rest).contains(&"WAITING") && !types(&rest).contains(&"PAUSE"),
        "{rest:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_policy_always_waits_for_a_rebuffer_with_a_shorter_deadline() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    set_policy(ana, &code, "always", &mut sockets).await;
    report(&mut sockets[1], "ready").await;
    sockets[0].send(json!({"type": "PLAY", "time": 2.0})).await;
    wait_starts_everywhere(
        sockets.iter_mut().collect(),
        2.0,
        &who(&[bob]),
        "play",
        DEADLINE,
    )
    .await;
    tell(&mut sockets[1], "ready").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), 2.0, None, WAIT).await;

    // Bob's player stalls while the room plays: everyone holds where it stands.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tell(&mut sockets[1], "buffering").await;
    let mut held = None;
    for socket in sockets.iter_mut() {
        let pause = socket.recv_type("PAUSE").await;
        assert_eq!(pause["by"], Value::Null, "{pause}");
        let at = pause["time"].as_f64().unwrap();
        assert!(at > 2.2, "held where it had got to: {pause}");
        held = Some(at);
        let waiting = socket.recv_type("WAITING").await;
        assert_waiting(&waiting, &who(&[bob]), "rebuffer", REBUFFER_DEADLINE);
    }
    let held = held.unwrap();
    let state = playback(ana, &code).await;
    assert_eq!(state["waiting"]["reason"], "rebuffer", "{state}");
    tell(&mut sockets[1], "ready").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), held, None, WAIT).await;

    // A joiner's player buffering holds nobody up, even now (§9: joiners
    // never stall a playing room).
    let dan = server.user("dan").await;
    let mut joiner = enter(&dan, &code).await;
    for socket in sockets.iter_mut() {
        socket.recv_type("USER_JOINED").await;
    }
    report(&mut joiner, "loading").await;
    report(&mut joiner, "buffering").await;
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    assert_eq!(playback(ana, &code).await["is_playing"], true);

    // Stalled for good: skipped after 5 s.
    tell(&mut sockets[1], "buffering").await;
    let started = Instant::now();
    let mut held = 0.0;
    for socket in sockets.iter_mut() {
        let pause = socket.recv_type("PAUSE").await;
        held = pause["time"].as_f64().unwrap();
        let waiting = socket.recv_type("WAITING").await;
        assert_waiting(&waiting, &who(&[bob]), "rebuffer", REBUFFER_DEADLINE);
    }
    wait_ends_everywhere(
        sockets.iter_mut().collect(),
        held,
        Some(&who(&[bob])),
        REBUFFER_DEADLINE + Duration::from_secs(3),
    )
    .await;
    let took = started.elapsed();
    assert!(
        took >= REBUFFER_DEADLINE - Duration::from_millis(300) && took < DEADLINE,
        "a rebuffer wait lasts 5 s, not 10: {took:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosts_departure_ends_a_wait_and_the_resume_waits_anew() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    report(&mut sockets[1], "ready").await;
    sockets[0].send(json!({"type": "PLAY", "time": 8.0})).await;
    wait_starts_everywhere(
        sockets.iter_mut().collect(),
        8.0,
        &who(&[bob]),
        "play",
        DEADLINE,
    )
    .await;

    // The host's last socket closes during the wait: grace, paused, no wait.
    let host = sockets.remove(0);
    host.close().await;
    for socket in sockets.iter_mut() {
        socket.recv_until("HOST_DISCONNECTED").await;
        let frozen = socket.recv_type("PLAYBACK_STATE").await;
        assert_eq!(frozen["is_playing"], false, "{frozen}");
        assert_eq!(frozen["by"], Value::Null);
        assert_eq!(
            frozen.get("waiting"),
            Some(&Value::Null),
            "the wait ended: {frozen}"
        );
    }
    let state = playback(bob, &code).await;
    assert_eq!(state.get("waiting"), Some(&Value::Null), "{state}");
    // Bob's ready no longer ends anything.
    report(&mut sockets[0], "ready").await;
    for socket in sockets.iter_mut() {
        let rest = gather(socket, QUIET).await;
        assert!(
            !rest
                .iter()
                .any(|m| m["type"] == "PLAY" || m["type"] == "WAIT_SKIPPED"),
            "{rest:?}"
        );
    }

    // Back: the room resumes and, Bob being someone to wait for, waits
    // again (reason resume; docs/protocol.md, "Waiting for each other").
    let host = comes_back(ana, &code, &mut sockets, bob, 8.0).await;
    assert_eq!(playback(bob, &code).await["is_playing"], true);

    // The host leaves a playing room and comes back: the resume waits for
    // Bob (reason resume), after HOST_RECONNECTED and the resumed state.
    host.close().await;
    for socket in sockets.iter_mut() {
        socket.recv_until("HOST_DISCONNECTED").await;
        let frozen = socket.recv_type("PLAYBACK_STATE").await;
        assert_eq!(frozen["is_playing"], false, "{frozen}");
    }
    let frozen_at = playback(bob, &code).await["time"].as_f64().unwrap();
    comes_back(ana, &code, &mut sockets, bob, frozen_at).await;
    server.stop().await;
}

/// The host (away, in grace) connects again to a room that was playing, or
/// waiting to: every other socket gets `HOST_RECONNECTED`, the resumed
/// `PLAYBACK_STATE` (`by` null), then a wait for `waited` (rule 7, then rule
/// 2: `PAUSE`, `WAITING` with reason `resume`). The returning host's socket
/// learns of it too. `waited` gets ready, and all get one `PLAY`. Returns the
/// host's new socket; `sockets` are the others', `waited`'s first.
async fn comes_back(
    host_user: &TestUser,
    code: &str,
    sockets: &mut [WsClient],
    waited: &TestUser,
    frozen_at: f64,
) -> WsClient {
    let (mut host, [opening, _, _]) = open(host_user, code).await;
    for socket in sockets.iter_mut() {
        socket.recv_until("HOST_RECONNECTED").await;
        let resumed = socket.recv_type("PLAYBACK_STATE").await;
        assert_eq!(resumed["by"], Value::Null, "{resumed}");
        let (waiting, mut between) = until(socket, "WAITING").await;
        between.retain(|m| m["type"] != "USER_JOINED");
        assert_eq!(
            types(&between),
            ["PAUSE"],
            "rule 7, then rule 2: PAUSE, WAITING: {between:?}"
        );
        assert_eq!(between[0]["by"], Value::Null);
        assert_close(&between[0]["time"], frozen_at, "held where it froze");
        assert_waiting(&waiting, &who(&[waited]), "resume", DEADLINE);
    }
    tell(&mut sockets[0], "ready").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), frozen_at, None, WAIT).await;
    // The returning host's socket learns of the wait too (in its opening
    // state or as it starts), and gets the same one PLAY.
    let mut seen = vec![opening];
    loop {
        let message = host.recv().await;
        let done = message["type"] == "PLAY";
        seen.push(message);
        if done {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|m| m["reason"] == "resume" || m["waiting"]["reason"] == "resume"),
        "the host's socket sees the resume wait: {seen:?}"
    );
    let play = seen.last().unwrap();
    assert_eq!(play["by"], Value::Null, "{play}");
    assert_close(&play["time"], frozen_at, "the PLAY's position");
    let rest = gather(&mut host, QUIET).await;
    assert!(!types(&rest).contains(&"PLAY"), "one PLAY: {rest:?}");
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_player_states_changes_nothing_beyond_the_budget() {
    // The per-socket frame limit (tested in sockets::frames) would drop most
    // of the flood before §9's own budget saw it: lifted here.
    let server = TestServer::builder()
        .with(|s| {
            s.rooms.frame_limit = watchparty::settings::FrameLimit {
                per_second: 1e9,
                burst: 1e9,
            }
        })
        .start()
        .await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let bob = &people[1];
    report(&mut sockets[1], "ready").await;
    sockets[0].send(json!({"type": "PLAY", "time": 8.0})).await;
    wait_starts_everywhere(
        sockets.iter_mut().collect(),
        8.0,
        &who(&[bob]),
        "play",
        DEADLINE,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // 1 000 reports at once, the last one "ready": it is far beyond 4 a
    // second, so it is ignored and the wait goes on.
    for n in 0..999 {
        let state = ["loading", "buffering"][n % 2];
        sockets[1]
            .send(json!({"type": "PLAYER_STATE", "state": state}))
            .await;
    }
    sockets[1]
        .send(json!({"type": "PLAYER_STATE", "state": "ready"}))
        .await;
    barrier(&mut sockets[1]).await;
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    assert!(
        !sockets[1].is_closed(),
        "the flood does not close the socket"
    );
    let state = playback(bob, &code).await;
    assert_eq!(ids(&state["waiting"]["for"]), who(&[bob]), "{state}");
    // A second later the budget is back: "ready" counts.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sockets[1]
        .send(json!({"type": "PLAYER_STATE", "state": "ready"}))
        .await;
    wait_ends_everywhere(sockets.iter_mut().collect(), 8.0, None, WAIT).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waited_for_user_who_leaves_holds_nobody_up() {
    let server = TestServer::start().await;
    let (_code, people, mut sockets, _, _) = waiting_on(&server, &[1, 2], 6.0).await;
    let bob = &people[1];
    tell(&mut sockets[2], "ready").await;
    for socket in sockets.iter_mut() {
        let shrunk = socket.recv_type("WAITING").await;
        assert_eq!(ids(&shrunk["for"]), who(&[bob]));
    }
    // Bob closes his only tab: nobody is left to wait for, so the wait ends
    // now, long before its deadline, and nobody is named as skipped.
    let gone = sockets.remove(1);
    gone.close().await;
    for socket in sockets.iter_mut() {
        let seen = gather(socket, Duration::from_secs(2)).await;
        let kinds = types(&seen);
        assert_eq!(
            kinds.iter().filter(|k| **k == "USER_LEFT").count(),
            1,
            "{seen:?}"
        );
        assert!(
            !kinds.contains(&"WAIT_SKIPPED"),
            "no deadline passed: {seen:?}"
        );
        let plays: Vec<&Value> = seen.iter().filter(|m| m["type"] == "PLAY").collect();
        assert_eq!(plays.len(), 1, "one PLAY, now: {seen:?}");
        assert_eq!(plays[0]["by"], Value::Null);
        assert_close(&plays[0]["time"], 6.0, "the held position");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_wait_holds_in_its_own_room_only() {
    let server = TestServer::start().await;
    let (_first, people, mut here) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let second = ana.create_room("elsewhere").await;
    let mut there = [enter(ana, &second).await, enter(bob, &second).await];
    there[0].recv_type("USER_JOINED").await;
    report(&mut here[1], "ready").await;
    report(&mut there[1], "ready").await;
    // Out of waits in the first room only (rule 4: per user and per room).
    here[1]
        .send(json!({"type": "SET_WAIT", "wait": false}))
        .await;
    barrier(&mut here[1]).await;
    here[0].send(json!({"type": "PLAY", "time": 3.0})).await;
    assert_eq!(here[1].recv_type("PLAY").await["by"], public(ana));
    there[0].send(json!({"type": "PLAY", "time": 3.0})).await;
    wait_starts_everywhere(
        there.iter_mut().collect(),
        3.0,
        &who(&[bob]),
        "play",
        DEADLINE,
    )
    .await;
    tell(&mut there[1], "ready").await;
    wait_ends_everywhere(there.iter_mut().collect(), 3.0, None, WAIT).await;
    server.stop().await;
}
