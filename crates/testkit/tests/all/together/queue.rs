//! §12, the queue, with rules 16–19 of §13: who may read and change it,
//! adding (and the first item becoming current at once), removing, moving,
//! votes and the two play orders, advancing by hand, by `ENDED` and by
//! itself at an item's end, a `PATCH` of `media_url` or `queue_mode`, and
//! the queue during grace; then the bad input and abuse, each a
//! test.
//!
//! Helpers here are shared with `instances::queue`, which runs the same
//! rules across two instances.

use super::waits::{
    assert_close, barrier, playback, report, tell, version, wait_ends_everywhere,
    wait_starts_everywhere, who, DEADLINE,
};
use super::*;
use futures_util::stream::{self, StreamExt};
use std::time::Instant;
use watchparty_testkit::{TestServer, WAIT};

/// A media URL of its own for `name`.
pub fn media(name: &str) -> String {
    format!("https://media.example/{name}.mp4")
}

/// The id of a `QueueItem`.
#[track_caller]
pub fn item_id(item: &Value) -> i64 {
    item["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("an item id: {item}"))
}

/// The `queue_version` of an answer, a message or a `Room`.
#[track_caller]
pub fn queue_version(body: &Value) -> i64 {
    body["queue_version"]
        .as_i64()
        .unwrap_or_else(|| panic!("queue_version is an integer: {body}"))
}

/// `POST …/queue/` with `body`, which must answer 201 `{"item", "queue_version"}`.
pub async fn add_with(user: &TestUser, code: &str, body: Value) -> Value {
    let (status, answer) = user.enqueue(code, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "add {body}: {answer}");
    assert_item(&answer["item"], true);
    queue_version(&answer);
    answer
}

/// Adds [`media`]`(name)` at the end; returns the new item.
pub async fn add(user: &TestUser, code: &str, name: &str) -> Value {
    add_with(user, code, json!({"media_url": media(name)})).await["item"].clone()
}

/// `GET …/queue/`, which must answer 200 `{"current", "items", "queue_version"}`.
pub async fn queue_of(user: &TestUser, code: &str) -> Value {
    let (status, body) = user.queue(code).await;
    assert_eq!(status, StatusCode::OK, "queue: {body}");
    let items = body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items is a list: {body}"));
    for item in items {
        assert_item(item, true);
    }
    if !body["current"].is_null() {
        assert_item(&body["current"], true);
    }
    queue_version(&body);
    body
}

/// The ids of the waiting items of a queue, in play order.
pub fn waiting(queue: &Value) -> Vec<i64> {
    queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(item_id)
        .collect()
}

/// The id of a queue's current item.
pub fn current_of(queue: &Value) -> Option<i64> {
    queue["current"]["id"].as_i64()
}

/// Checks the shape of a §12 `QueueItem`. Over HTTP it carries the
/// requester's `voted_by_me`; in `QUEUE_UPDATED` it must not (rule 19).
#[track_caller]
pub fn assert_item(item: &Value, over_http: bool) {
    item_id(item);
    assert!(item["media_url"].is_string(), "media_url: {item}");
    assert!(
        item["title"].is_null() || item["title"].is_string(),
        "title: {item}"
    );
    assert!(
        item["duration"].is_null() || item["duration"].is_number(),
        "duration: {item}"
    );
    assert!(
        item.get("title").is_some() && item.get("duration").is_some(),
        "{item}"
    );
    let adder = &item["added_by"];
    assert!(
        adder["id"].is_i64() && adder["display_name"].is_string(),
        "added_by is a PublicUser: {item}"
    );
    assert!(adder.get("email").is_none(), "never an email: {item}");
    instant(
        item["added_at"]
            .as_str()
            .unwrap_or_else(|| panic!("added_at: {item}")),
    );
    assert!(item["votes"].is_u64(), "votes: {item}");
    if over_http {
        assert!(
            item["voted_by_me"].is_boolean(),
            "an HTTP answer carries voted_by_me: {item}"
        );
    } else {
        assert!(
            item.get("voted_by_me").is_none(),
            "QUEUE_UPDATED's item omits voted_by_me (rule 19): {item}"
        );
    }
}

/// An item as every socket sees it: without `voted_by_me`.
pub fn shared(item: &Value) -> Value {
    let mut item = item.clone();
    item.as_object_mut().unwrap().remove("voted_by_me");
    item
}

/// Whether a `QUEUE_UPDATED` names no item.
pub fn without_item(message: &Value) -> bool {
    message.get("item").is_none_or(Value::is_null)
}

/// The next message, which must be `QUEUE_UPDATED` with this `op`,
/// `queue_version` and `by`.
pub async fn queue_updated(socket: &mut WsClient, op: &str, version: i64, by: &Value) -> Value {
    let message = socket.recv_type("QUEUE_UPDATED").await;
    assert_eq!(message["op"], op, "{message}");
    assert_eq!(queue_version(&message), version, "{message}");
    assert_eq!(&message["by"], by, "by: {message}");
    if !without_item(&message) {
        assert_item(&message["item"], false);
    }
    message
}

/// A change of current item on one socket (rule 16): `QUEUE_UPDATED`
/// `advanced` naming the new item (or none), `ROOM_UPDATED` showing it,
/// then `PLAYBACK_STATE` for it at 0, in this order. Returns the three.
pub async fn advanced(
    socket: &mut WsClient,
    version: i64,
    by: &Value,
    item: Option<&Value>,
) -> [Value; 3] {
    let update = queue_updated(socket, "advanced", version, by).await;
    match item {
        Some(item) => assert_eq!(update["item"], shared(item), "the new current item"),
        None => assert!(without_item(&update), "no item is current: {update}"),
    }
    let room = socket.recv_type("ROOM_UPDATED").await;
    let shown = &room["room"];
    assert_eq!(queue_version(shown), version, "{room}");
    match item {
        Some(item) => {
            assert_eq!(shown["current_item"]["id"], item["id"], "{room}");
            assert_eq!(shown["media_url"], item["media_url"], "{room}");
        }
        None => {
            assert_eq!(shown["current_item"], Value::Null, "{room}");
            assert_eq!(shown["media_url"], Value::Null, "{room}");
        }
    }
    let state = socket.recv_type("PLAYBACK_STATE").await;
    assert_eq!(
        state["item_id"],
        item.map_or(Value::Null, |i| i["id"].clone()),
        "{state}"
    );
    assert!(
        state["time"]
            .as_f64()
            .is_some_and(|t| (0.0..0.5).contains(&t)),
        "the new item from 0: {state}"
    );
    [update, room, state]
}

/// The room's audit entries with this `action`.
pub async fn audited(host: &TestUser, code: &str, action: &str) -> Vec<Value> {
    audit(host, code, "?limit=100")
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// Ana (host), Bob and Cat (viewers) in Ana's room, connected and quiet;
/// with `opening`, the room was created with a `media_url`, so that an
/// item of Ana's is current from the start.
pub async fn queue_room(
    server: &Endpoint,
    opening: bool,
) -> (String, Vec<TestUser>, Vec<WsClient>) {
    let body = if opening {
        json!({"name": "queue", "media_url": media("opening")})
    } else {
        json!({"name": "queue"})
    };
    gathering_with(server, &["ana", "bob", "cat"], body).await
}

/// Asserts that nothing at all reaches these sockets for [`QUIET`].
pub async fn all_quiet(sockets: &mut [WsClient]) {
    for (i, rest) in drain(sockets).await.iter().enumerate() {
        assert!(rest.is_empty(), "socket {i} expected nothing: {rest:?}");
    }
}

/// Everything that reaches each of these sockets within [`QUIET`], all
/// listened to at once.
pub async fn drain(sockets: &mut [WsClient]) -> Vec<Vec<Value>> {
    futures_util::future::join_all(sockets.iter_mut().map(|s| gather(s, QUIET))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_answers_its_participants_only() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let dan = server.user("dan").await;
    let open_code = ana.create_room("open").await;
    let closed = ana
        .create_room_with(json!({"name": "closed", "is_private": true}))
        .await;
    bob.join(&open_code).await;

    let fresh = queue_of(&ana, &open_code).await;
    assert_eq!(fresh["current"], Value::Null, "{fresh}");
    assert_eq!(fresh["items"], json!([]), "{fresh}");
    assert_eq!(
        queue_of(&bob, &open_code).await,
        fresh,
        "the same for a viewer"
    );
    let shown = room(&bob, &open_code).await;
    assert_eq!(shown["room"]["current_item"], Value::Null, "{shown}");
    assert_eq!(shown["room"]["queue_version"], fresh["queue_version"]);
    assert!(
        shown["playback"].get("item_id").is_some_and(Value::is_null),
        "PlaybackState has item_id, null with no item: {shown}"
    );

    // Bob adds one item, so that every refusal below has something to hide.
    let item = add(&bob, &open_code, "a").await;
    let id = item_id(&item);

    refused(
        "a stranger reading a public room's queue",
        &dan.queue(&open_code).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    for (who, user) in [
        ("a stranger", &dan),
        ("a participant of another room", &bob),
    ] {
        refused(
            &format!("{who} reading a private room's queue"),
            &user.queue(&closed).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    refused(
        "an unknown code",
        &ana.queue("ZZZZZZZZZZ").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "nobody logged in",
        &server.client().queue(&open_code).await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    );
    // Nor may the stranger change it.
    for (what, answer) in [
        (
            "add",
            dan.enqueue(&open_code, json!({"media_url": media("x")}))
                .await,
        ),
        ("vote", dan.vote(&open_code, id).await),
        ("unvote", dan.unvote(&open_code, id).await),
        ("remove", dan.unqueue(&open_code, id).await),
        ("advance", dan.advance(&open_code, json!({})).await),
    ] {
        refused(
            &format!("a stranger's {what}"),
            &answer,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    let after = queue_of(&ana, &open_code).await;
    assert_eq!(current_of(&after), Some(id), "{after}");
    assert_eq!(after["current"]["votes"], 0, "{after}");
    assert_eq!(queue_version(&after), queue_version(&fresh) + 1, "{after}");

    // The room's settings decide what a viewer holds: without
    // viewers_can_queue Bob may not add; with control "everyone" he advances.
    let settings = format!("/api/rooms/{open_code}/");
    let (status, body) = ana
        .patch(&settings, json!({"viewers_can_queue": false}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refused(
        "a viewer's add without viewers_can_queue",
        &bob.enqueue(&open_code, json!({"media_url": media("b")}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        "a viewer's advance under control: host",
        &bob.advance(&open_code, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, body) = ana.patch(&settings, json!({"control": "everyone"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = bob.advance(&open_code, json!({"if_current": id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["current_item"], Value::Null, "{body}");
    assert_eq!(
        queue_version(&queue_of(&ana, &open_code).await),
        queue_version(&fresh) + 2
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_item_added_to_a_room_without_one_becomes_current_paused_at_0() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, false).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    // The room plays (no item yet): the new item must still start paused at 0.
    sockets[0].send(json!({"type": "PLAY", "time": 30.0})).await;
    for socket in pick(&mut sockets, &[1, 2]) {
        socket.recv_type("PLAY").await;
    }
    let before = queue_version(&queue_of(ana, &code).await);
    let playback_before = version(&playback(ana, &code).await);

    let body = json!({"media_url": media("first"), "title": "First", "duration": 90.5});
    let answer = add_with(bob, &code, body).await;
    let item = &answer["item"];
    assert_eq!(item["media_url"], media("first"));
    assert_eq!(item["title"], "First");
    assert_eq!(item["duration"], 90.5);
    assert_eq!(item["added_by"], public(bob));
    assert_eq!(item["votes"], 0);
    assert_eq!(item["voted_by_me"], false);
    let age = -seconds_until(item["added_at"].as_str().unwrap());
    assert!((-2.0..30.0).contains(&age), "added just now: {item}");
    assert_eq!(queue_version(&answer), before + 1, "one change: {answer}");

    for socket in sockets.iter_mut() {
        let [_, _, state] = advanced(socket, before + 1, &public(bob), Some(item)).await;
        assert_eq!(state["is_playing"], false, "paused: {state}");
        assert_eq!(version(&state), playback_before + 1, "{state}");
    }
    let queue = queue_of(cat, &code).await;
    assert_eq!(&queue["current"], item, "the same item, as Cat sees it");
    assert_eq!(waiting(&queue), Vec::<i64>::new(), "current, not waiting");
    assert_eq!(queue_version(&queue), before + 1);
    let shown = room(cat, &code).await;
    assert_eq!(shown["room"]["current_item"]["id"], item["id"], "{shown}");
    assert_eq!(shown["room"]["media_url"], media("first"));
    assert_eq!(queue_version(&shown["room"]), before + 1);
    assert_eq!(shown["playback"]["item_id"], item["id"]);
    assert_eq!(shown["playback"]["is_playing"], false);
    assert_close(&shown["playback"]["time"], 0.0, "paused at 0");

    // A second item waits: one QUEUE_UPDATED `added`, nothing else (rule 20).
    let second = add(cat, &code, "second").await;
    for socket in sockets.iter_mut() {
        let update = queue_updated(socket, "added", before + 2, &public(cat)).await;
        assert_eq!(update["item"], shared(&second));
    }
    all_quiet(&mut sockets).await;
    let queue = queue_of(ana, &code).await;
    assert_eq!(current_of(&queue), Some(item_id(item)));
    assert_eq!(waiting(&queue), vec![item_id(&second)]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_wait_in_the_order_added_and_next_goes_first() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);

    // A room created with a media_url starts with that item current.
    let queue = queue_of(bob, &code).await;
    let opening = queue["current"].clone();
    assert_eq!(opening["media_url"], media("opening"), "{queue}");
    assert_eq!(opening["added_by"], public(ana), "{queue}");
    let shown = room(bob, &code).await;
    assert_eq!(
        shown["room"]["current_item"]["id"], opening["id"],
        "{shown}"
    );
    assert_eq!(shown["room"]["media_url"], media("opening"), "{shown}");
    assert_eq!(shown["playback"]["item_id"], opening["id"], "{shown}");
    // A new socket's PLAYBACK_STATE names it too.
    let (tab, [state, _, _]) = open(bob, &code).await;
    assert_eq!(state["item_id"], opening["id"], "{state}");
    tab.close().await;
    drain(&mut sockets).await;
    let start = queue_version(&queue);

    let a = add(bob, &code, "a").await;
    let b = add_with(
        cat,
        &code,
        json!({"media_url": media("b"), "position": "end"}),
    )
    .await["item"]
        .clone();
    let c = add_with(
        ana,
        &code,
        json!({"media_url": media("c"), "position": "next"}),
    )
    .await["item"]
        .clone();
    let d = add(bob, &code, "d").await;
    assert_eq!(a["title"], Value::Null, "no title given: {a}");
    assert_eq!(a["duration"], Value::Null, "no duration given: {a}");
    for socket in sockets.iter_mut() {
        for (n, (item, adder)) in [(&a, bob), (&b, cat), (&c, ana), (&d, bob)]
            .into_iter()
            .enumerate()
        {
            let update = queue_updated(socket, "added", start + 1 + n as i64, &public(adder)).await;
            assert_eq!(update["item"], shared(item));
        }
    }
    all_quiet(&mut sockets).await;
    let queue = queue_of(cat, &code).await;
    assert_eq!(
        waiting(&queue),
        [&c, &a, &b, &d].map(item_id).to_vec(),
        "next goes first, the rest as added"
    );
    assert_eq!(
        queue["current"]["id"], opening["id"],
        "the current item stays"
    );
    assert_eq!(queue_version(&queue), start + 4);
    assert_eq!(queue_version(&room(cat, &code).await["room"]), start + 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_are_removed_by_their_adder_or_by_manage_queue_but_never_the_current_one() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let a = item_id(&add(bob, &code, "a").await);
    let b = item_id(&add(bob, &code, "b").await);
    let c = item_id(&add(cat, &code, "c").await);
    let queue = queue_of(ana, &code).await;
    let opening = current_of(&queue).unwrap();
    let start = queue_version(&queue);
    drain(&mut sockets).await;

    refused(
        "a viewer removing another's item",
        &cat.unqueue(&code, a).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        "removing the current item",
        &ana.unqueue(&code, opening).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    all_quiet(&mut sockets).await;

    // Bob removes his own; Ana (manage_queue) removes Cat's.
    let answer = bob.unqueue(&code, a).await;
    assert_eq!(answer.0, StatusCode::NO_CONTENT, "{}", answer.1);
    for socket in sockets.iter_mut() {
        let update = queue_updated(socket, "removed", start + 1, &public(bob)).await;
        assert!(
            without_item(&update) || update["item"]["id"] == a,
            "{update}"
        );
    }
    let answer = ana.unqueue(&code, c).await;
    assert_eq!(answer.0, StatusCode::NO_CONTENT, "{}", answer.1);
    for socket in sockets.iter_mut() {
        let update = queue_updated(socket, "removed", start + 2, &public(ana)).await;
        assert!(
            without_item(&update) || update["item"]["id"] == c,
            "{update}"
        );
    }
    refused(
        "removing an item already gone",
        &bob.unqueue(&code, a).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "removing an unknown item",
        &ana.unqueue(&code, 987_654_321).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    all_quiet(&mut sockets).await;
    let queue = queue_of(cat, &code).await;
    assert_eq!(waiting(&queue), vec![b]);
    assert_eq!(current_of(&queue), Some(opening));
    assert_eq!(queue_version(&queue), start + 2);

    // Only the removal by someone other than the adder is audited.
    let entries = audited(ana, &code, "queue_item_removed").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"], public(ana), "{}", entries[0]);
    assert!(entries[0]["detail"].is_object(), "{}", entries[0]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_belongs_to_manage_queue_and_a_stale_if_version_changes_nothing() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        ids.push(item_id(&add(bob, &code, name).await));
    }
    let [a, b, c, d] = ids[..] else {
        unreachable!()
    };
    let start = queue_version(&queue_of(ana, &code).await);
    drain(&mut sockets).await;

    refused(
        "a viewer moving even their own item",
        &bob.move_item(&code, d, json!({"after": null})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        "a move after the item itself",
        &ana.move_item(&code, b, json!({"after": b})).await,
        StatusCode::BAD_REQUEST,
        "validation_error",
    );
    refused(
        "moving an unknown item",
        &ana.move_item(&code, 987_654_321, json!({"after": null}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "a move after an unknown item",
        &ana.move_item(&code, b, json!({"after": 987_654_321})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    all_quiet(&mut sockets).await;

    // To the front, to the end, and between two, the last with if_version.
    let moves = [
        (c, json!({"after": null}), vec![c, a, b, d]),
        (c, json!({"after": d}), vec![a, b, d, c]),
        (
            a,
            json!({"after": b, "if_version": start + 2}),
            vec![b, a, d, c],
        ),
    ];
    for (n, (id, body, order)) in moves.into_iter().enumerate() {
        let expected = start + 1 + n as i64;
        let (status, answer) = ana.move_item(&code, id, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "move {body}: {answer}");
        assert_eq!(answer, json!({"queue_version": expected}));
        for socket in sockets.iter_mut() {
            let update = queue_updated(socket, "moved", expected, &public(ana)).await;
            assert!(
                without_item(&update) || update["item"]["id"] == id,
                "{update}"
            );
        }
        assert_eq!(waiting(&queue_of(cat, &code).await), order, "after {body}");
    }

    // A stale if_version: 409, and nothing changes or is sent.
    refused(
        "a stale if_version",
        &ana.move_item(&code, d, json!({"after": null, "if_version": start + 1}))
            .await,
        StatusCode::CONFLICT,
        "stale_version",
    );
    all_quiet(&mut sockets).await;
    let queue = queue_of(cat, &code).await;
    assert_eq!(waiting(&queue), vec![b, a, d, c]);
    assert_eq!(queue_version(&queue), start + 3);

    let entries = audited(ana, &code, "queue_moved").await;
    assert_eq!(entries.len(), 3, "one per move: {entries:?}");
    assert!(
        entries.iter().all(|e| e["actor"] == public(ana)),
        "{entries:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_must_say_where_to() {
    // `after` is required (null: to the front); a move without it is a
    // client's mistake, answered 400, not a silent move to the front.
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let first = item_id(&add(bob, &code, "a").await);
    let second = item_id(&add(bob, &code, "b").await);
    let before = queue_of(ana, &code).await;
    drain(&mut sockets).await;
    for body in [
        json!({}),
        json!({"if_version": queue_version(&before)}),
        json!({"after": "front"}),
    ] {
        refused(
            "a move without a usable `after`",
            &ana.move_item(&code, second, body).await,
            StatusCode::BAD_REQUEST,
            "validation_error",
        );
    }
    assert_eq!(waiting(&queue_of(ana, &code).await), vec![first, second]);
    all_quiet(&mut sockets).await;
    let (status, body) = ana.move_item(&code, second, json!({"after": null})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(waiting(&queue_of(ana, &code).await), vec![second, first]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_moves_into_one_spot_keep_the_order_right() {
    // Each move puts the last item second: always between the first item
    // and the one after it, the spot where a store's order keys run out first.
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let mut order = Vec::new();
    for name in ["a", "b", "c", "d"] {
        order.push(item_id(&add(bob, &code, name).await));
    }
    let start = queue_version(&queue_of(ana, &code).await);
    drain(&mut sockets).await;
    for round in 0..40 {
        let moved = order.pop().unwrap();
        order.insert(1, moved);
        let (status, body) = ana
            .move_item(&code, moved, json!({"after": order[0]}))
            .await;
        assert_eq!(status, StatusCode::OK, "round {round}: {body}");
        assert_eq!(queue_version(&body), start + 1 + round);
        let queue = queue_of(bob, &code).await;
        assert_eq!(waiting(&queue), order, "round {round}");
    }
    // Every socket saw the forty moves in order.
    for socket in sockets.iter_mut() {
        for round in 0..40 {
            queue_updated(socket, "moved", start + 1 + round, &public(ana)).await;
        }
    }
    all_quiet(&mut sockets).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_moves_by_two_managers_lose_and_duplicate_nothing() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    let mut items = Vec::new();
    for n in 0..8 {
        items.push(item_id(&add(cat, &code, &format!("i{n}")).await));
    }
    let start = queue_version(&queue_of(ana, &code).await);
    drain(&mut sockets).await;
    // 40 moves at once, each of item (7k mod 8) after item (3k mod 8) or to
    // the front, half by Ana and half by Bob.
    let moves = (0..40usize).map(|k| {
        let (mover, moved) = (if k % 2 == 0 { ana } else { bob }, items[(7 * k) % 8]);
        let after = match k % 5 {
            0 => Value::Null,
            _ => json!(items[(3 * k + 1) % 8]),
        };
        let code = code.clone();
        async move {
            let body = json!({"after": after});
            let answer = mover.move_item(&code, moved, body.clone()).await;
            (moved, body, answer)
        }
    });
    let answers = futures_util::future::join_all(moves).await;
    for (moved, body, (status, answer)) in &answers {
        let after_itself = body["after"].as_i64() == Some(*moved);
        if after_itself {
            assert_eq!(*status, StatusCode::BAD_REQUEST, "{moved} {body}: {answer}");
        } else {
            assert_eq!(*status, StatusCode::OK, "{moved} {body}: {answer}");
        }
    }
    let queue = queue_of(cat, &code).await;
    let mut now = waiting(&queue);
    now.sort_unstable();
    let mut expected = items.clone();
    expected.sort_unstable();
    assert_eq!(now, expected, "the same eight items, once each");
    // One QUEUE_UPDATED per change, versions without a gap or a repeat.
    let changes = queue_version(&queue) - start;
    for (i, got) in drain(&mut sockets).await.iter().enumerate() {
        let versions: Vec<i64> = got
            .iter()
            .inspect(|m| assert_eq!(m["op"], "moved", "socket {i}: {m}"))
            .map(queue_version)
            .collect();
        assert_eq!(
            versions,
            (start + 1..=start + changes).collect::<Vec<_>>(),
            "socket {i}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_count_once_per_user_and_order_the_queue_only_in_vote_mode() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let dan = server.user("dan").await;
    let a = item_id(&add(bob, &code, "a").await);
    let b = item_id(&add(cat, &code, "b").await);
    let c = item_id(&add(bob, &code, "c").await);
    let start = queue_version(&queue_of(ana, &code).await);
    drain(&mut sockets).await;

    // Cat votes for C: counted once, however often she says so.
    let (status, answer) = cat.vote(&code, c).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_item(&answer["item"], true);
    assert_eq!(answer["item"]["id"], c);
    assert_eq!(answer["item"]["votes"], 1);
    assert_eq!(answer["item"]["voted_by_me"], true);
    for socket in sockets.iter_mut() {
        let update = queue_updated(socket, "voted", start + 1, &public(cat)).await;
        assert_eq!(update["item"]["id"], c);
        assert_eq!(update["item"]["votes"], 1);
    }
    let (status, again) = cat.vote(&code, c).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["item"]["votes"], 1, "still one vote: {again}");
    assert_eq!(again["item"]["voted_by_me"], true);
    // Removing a vote never cast: 200, nothing changes.
    let (status, never) = cat.unvote(&code, a).await;
    assert_eq!(status, StatusCode::OK, "{never}");
    assert_eq!(never["item"]["votes"], 0);
    assert_eq!(never["item"]["voted_by_me"], false);
    all_quiet(&mut sockets).await;
    assert_eq!(queue_version(&queue_of(ana, &code).await), start + 1);

    // voted_by_me is the requester's own.
    let find = |queue: &Value, id: i64| -> Value {
        queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(find(&queue_of(cat, &code).await, c)["voted_by_me"], true);
    assert_eq!(find(&queue_of(bob, &code).await, c)["voted_by_me"], false);
    assert_eq!(find(&queue_of(bob, &code).await, c)["votes"], 1);

    // Ana votes for C too, Cat for B as well: several items per user.
    assert_eq!(ana.vote(&code, c).await.1["item"]["votes"], 2);
    assert_eq!(cat.vote(&code, b).await.1["item"]["votes"], 1);
    for socket in sockets.iter_mut() {
        queue_updated(socket, "voted", start + 2, &public(ana)).await;
        queue_updated(socket, "voted", start + 3, &public(cat)).await;
    }
    refused(
        "a stranger's vote",
        &dan.vote(&code, c).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        "a vote for an unknown item",
        &cat.vote(&code, 987_654_321).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // In manual mode votes leave the order alone.
    assert_eq!(waiting(&queue_of(ana, &code).await), vec![a, b, c]);

    // Vote mode: ROOM_UPDATED and one QUEUE_UPDATED `moved` without an item.
    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"queue_mode": "vote"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["queue_mode"], "vote");
    for got in drain(&mut sockets).await {
        let mut kinds = types(&got);
        kinds.sort_unstable();
        assert_eq!(kinds, ["QUEUE_UPDATED", "ROOM_UPDATED"], "{got:?}");
        let update = got.iter().find(|m| m["type"] == "QUEUE_UPDATED").unwrap();
        assert_eq!(update["op"], "moved", "{update}");
        assert!(without_item(update), "{update}");
        assert_eq!(queue_version(update), start + 4);
        assert_eq!(update["by"], public(ana));
        let room = got.iter().find(|m| m["type"] == "ROOM_UPDATED").unwrap();
        assert_eq!(room["room"]["queue_mode"], "vote");
    }
    // Most votes first, then oldest; `position` is ignored; move refused.
    assert_eq!(waiting(&queue_of(ana, &code).await), vec![c, b, a]);
    let e = item_id(
        &add_with(
            bob,
            &code,
            json!({"media_url": media("e"), "position": "next"}),
        )
        .await["item"],
    );
    assert_eq!(waiting(&queue_of(ana, &code).await), vec![c, b, a, e]);
    refused(
        "a move in vote mode",
        &ana.move_item(&code, e, json!({"after": null})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    // C loses a vote: B and C tie at one, and B is older.
    assert_eq!(ana.unvote(&code, c).await.1["item"]["votes"], 1);
    assert_eq!(waiting(&queue_of(ana, &code).await), vec![b, c, a, e]);
    for socket in sockets.iter_mut() {
        queue_updated(socket, "added", start + 5, &public(bob)).await;
        queue_updated(socket, "voted", start + 6, &public(ana)).await;
    }
    all_quiet(&mut sockets).await;

    // The advance takes the first in vote order.
    let (status, body) = ana.advance(&code, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["current_item"]["id"], b, "{body}");
    assert_eq!(waiting(&queue_of(ana, &code).await), vec![c, a, e]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advancing_takes_the_next_item_then_none_then_refuses() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let a = add(bob, &code, "a").await;
    let b = add_with(
        cat,
        &code,
        json!({"media_url": media("b"), "title": "B", "duration": 3600}),
    )
    .await["item"]
        .clone();
    let queue = queue_of(ana, &code).await;
    let opening = current_of(&queue).unwrap();
    let start = queue_version(&queue);
    drain(&mut sockets).await;

    refused(
        "a viewer advancing",
        &bob.advance(&code, json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    refused(
        "if_current naming a waiting item",
        &ana.advance(&code, json!({"if_current": item_id(&a)})).await,
        StatusCode::CONFLICT,
        "stale_version",
    );
    refused(
        "if_current null while an item is current",
        &ana.advance(&code, json!({"if_current": null})).await,
        StatusCode::CONFLICT,
        "stale_version",
    );
    all_quiet(&mut sockets).await;
    let queue = queue_of(ana, &code).await;
    assert_eq!(current_of(&queue), Some(opening), "nothing changed");
    assert_eq!(queue_version(&queue), start);

    // if_current absent: no check. Paused, the next item is paused at 0.
    let playback_before = version(&playback(ana, &code).await);
    let (status, body) = ana.advance(&code, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["current_item"]["id"], a["id"], "{body}");
    assert_eq!(body["room"]["media_url"], a["media_url"], "{body}");
    assert_eq!(queue_version(&body["room"]), start + 1);
    for socket in sockets.iter_mut() {
        let [_, _, state] = advanced(socket, start + 1, &public(ana), Some(&a)).await;
        assert_eq!(state["is_playing"], false, "{state}");
        assert_eq!(state["by"], public(ana), "by the person who asked: {state}");
        assert_eq!(version(&state), playback_before + 1, "{state}");
    }
    let queue = queue_of(cat, &code).await;
    assert_eq!(current_of(&queue), Some(item_id(&a)));
    assert_eq!(
        waiting(&queue),
        vec![item_id(&b)],
        "it left the waiting items"
    );

    // While playing, the next item plays from 0.
    sockets[0].send(json!({"type": "PLAY", "time": 40.0})).await;
    for socket in pick(&mut sockets, &[1, 2]) {
        socket.recv_type("PLAY").await;
    }
    let (status, body) = ana.advance(&code, json!({"if_current": item_id(&a)})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for socket in sockets.iter_mut() {
        let [_, _, state] = advanced(socket, start + 2, &public(ana), Some(&b)).await;
        assert_eq!(state["is_playing"], true, "still playing: {state}");
        assert_eq!(state["by"], public(ana), "{state}");
    }
    let now = playback(cat, &code).await;
    assert_eq!(now["item_id"], b["id"], "{now}");
    assert_eq!(now["is_playing"], true, "{now}");
    assert!(now["time"].as_f64().unwrap() < 5.0, "from 0: {now}");

    // Nothing waits: no item current, paused at 0.
    let (status, body) = ana.advance(&code, json!({"if_current": item_id(&b)})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["current_item"], Value::Null, "{body}");
    assert_eq!(body["room"]["media_url"], Value::Null, "{body}");
    for socket in sockets.iter_mut() {
        let [_, _, state] = advanced(socket, start + 3, &public(ana), None).await;
        assert_eq!(state["is_playing"], false, "paused: {state}");
    }
    let now = playback(cat, &code).await;
    assert_eq!(now["item_id"], Value::Null, "{now}");
    assert_eq!(now["is_playing"], false, "{now}");
    assert_close(&now["time"], 0.0, "at 0");

    // Neither a current nor a waiting item: conflict, whatever if_current says.
    for body in [json!({}), json!({"if_current": null})] {
        refused(
            &format!("advancing nothing with {body}"),
            &ana.advance(&code, body.clone()).await,
            StatusCode::CONFLICT,
            "conflict",
        );
    }
    all_quiet(&mut sockets).await;
    assert_eq!(queue_version(&queue_of(ana, &code).await), start + 3);

    let entries = audited(ana, &code, "queue_advanced").await;
    assert_eq!(entries.len(), 3, "one per advance by a person: {entries:?}");
    assert!(
        entries.iter().all(|e| e["actor"] == public(ana)),
        "{entries:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_advances_only_from_a_controller_and_only_the_current_item() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let a = add_with(
        bob,
        &code,
        json!({"media_url": media("a"), "duration": 100}),
    )
    .await["item"]
        .clone();
    let b = add(bob, &code, "b").await;
    let queue = queue_of(ana, &code).await;
    let opening = current_of(&queue).unwrap();
    let start = queue_version(&queue);
    drain(&mut sockets).await;

    // A viewer's ENDED, and a controller's ENDED of an item not current.
    sockets[1]
        .send(json!({"type": "ENDED", "item_id": opening}))
        .await;
    barrier(&mut sockets[1]).await;
    sockets[0]
        .send(json!({"type": "ENDED", "item_id": item_id(&a)}))
        .await;
    barrier(&mut sockets[0]).await;
    all_quiet(&mut sockets).await;
    assert_eq!(current_of(&queue_of(ana, &code).await), Some(opening));

    // The host's ENDED of the current item advances, by her.
    sockets[0]
        .send(json!({"type": "ENDED", "item_id": opening}))
        .await;
    for socket in sockets.iter_mut() {
        let [_, _, state] = advanced(socket, start + 1, &public(ana), Some(&a)).await;
        assert_eq!(state["by"], public(ana), "{state}");
    }
    // The same ENDED again (a second tab, a late player): it is no longer current.
    sockets[0]
        .send(json!({"type": "ENDED", "item_id": opening}))
        .await;
    barrier(&mut sockets[0]).await;
    all_quiet(&mut sockets).await;
    // ENDED of an item of known duration is accepted too.
    sockets[0]
        .send(json!({"type": "ENDED", "item_id": item_id(&a)}))
        .await;
    for socket in sockets.iter_mut() {
        advanced(socket, start + 2, &public(ana), Some(&b)).await;
    }
    all_quiet(&mut sockets).await;
    let queue = queue_of(ana, &code).await;
    assert_eq!(current_of(&queue), Some(item_id(&b)));
    assert_eq!(waiting(&queue), Vec::<i64>::new());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_advances_by_itself_once_at_an_items_end_while_playing() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, false).await;
    let (ana, bob) = (&people[0], &people[1]);
    let short = add_with(
        ana,
        &code,
        json!({"media_url": media("short"), "duration": 1.5}),
    )
    .await["item"]
        .clone();
    let next = add(bob, &code, "next").await;
    let start = queue_version(&queue_of(ana, &code).await);
    drain(&mut sockets).await;

    // Paused short of the end, it never ends.
    sockets[0].send(json!({"type": "SEEK", "time": 1.2})).await;
    for socket in pick(&mut sockets, &[1, 2]) {
        socket.recv_type("SEEK").await;
    }
    sockets[1].expect_silence(Duration::from_millis(900)).await;

    // Playing from 1.0, the end comes 0.5 s later; the advance within 2 s of it.
    let played = Instant::now();
    sockets[0].send(json!({"type": "PLAY", "time": 1.0})).await;
    for socket in pick(&mut sockets, &[1, 2]) {
        socket.recv_type("PLAY").await;
    }
    let update = tokio::time::timeout(
        Duration::from_secs(4),
        sockets[1].recv_until("QUEUE_UPDATED"),
    )
    .await
    .expect("the automatic advance");
    let after = played.elapsed();
    assert!(
        after >= Duration::from_millis(400) && after <= Duration::from_millis(2700),
        "the end is 0.5 s after the PLAY; the advance came after {after:?}"
    );
    assert_eq!(update["op"], "advanced", "{update}");
    assert_eq!(update["by"], Value::Null, "the server's own: {update}");
    assert_eq!(update["item"], shared(&next), "{update}");
    assert_eq!(queue_version(&update), start + 1);
    let room_updated = sockets[1].recv_type("ROOM_UPDATED").await;
    assert_eq!(room_updated["room"]["current_item"]["id"], next["id"]);
    let state = sockets[1].recv_type("PLAYBACK_STATE").await;
    assert_eq!(state["item_id"], next["id"], "{state}");
    assert_eq!(state["by"], Value::Null, "{state}");
    assert_eq!(state["is_playing"], true, "still playing: {state}");
    assert!(state["time"].as_f64().unwrap() < 0.5, "from 0: {state}");
    for socket in pick(&mut sockets, &[0, 2]) {
        let [_, _, state] = advanced(socket, start + 1, &Value::Null, Some(&next)).await;
        assert_eq!(state["by"], Value::Null, "{state}");
    }
    // Once: nothing more (the next item has no duration).
    all_quiet(&mut sockets).await;
    let queue = queue_of(ana, &code).await;
    assert_eq!(current_of(&queue), Some(item_id(&next)));
    assert_eq!(queue_version(&queue), start + 1);
    assert_ne!(item_id(&short), item_id(&next));
    assert!(
        audited(ana, &code, "queue_advanced").await.is_empty(),
        "the automatic advance is not a person's"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_automatic_advance_follows_the_rate_and_a_seek() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, false).await;
    let (ana, bob) = (&people[0], &people[1]);
    // 6 s at 4× end 1.5 s after a PLAY from 0 (at 1×: 6 s).
    add_with(
        ana,
        &code,
        json!({"media_url": media("fast"), "duration": 6}),
    )
    .await;
    let long = add_with(
        bob,
        &code,
        json!({"media_url": media("long"), "duration": 3600}),
    )
    .await["item"]
        .clone();
    let start = queue_version(&queue_of(ana, &code).await);
    sockets[0].send(json!({"type": "RATE", "rate": 4.0})).await;
    drain(&mut sockets).await;
    let played = Instant::now();
    sockets[0].send(json!({"type": "PLAY", "time": 0.0})).await;
    let update = tokio::time::timeout(
        Duration::from_secs(5),
        sockets[1].recv_until("QUEUE_UPDATED"),
    )
    .await
    .expect("the automatic advance");
    let after = played.elapsed();
    assert!(
        after >= Duration::from_millis(1400) && after <= Duration::from_millis(3600),
        "6 s at 4× end after 1.5 s; the advance came after {after:?}"
    );
    assert_eq!(update["item"]["id"], long["id"], "{update}");
    assert_eq!(queue_version(&update), start + 1);
    let state = sockets[1].recv_until("PLAYBACK_STATE").await;
    assert_eq!(state["is_playing"], true, "{state}");

    // A SEEK to near the end of the 3600 s item ends it soon after.
    drain(&mut sockets).await;
    let sought = Instant::now();
    sockets[0]
        .send(json!({"type": "SEEK", "time": 3599.5}))
        .await;
    let update = tokio::time::timeout(
        Duration::from_secs(4),
        sockets[1].recv_until("QUEUE_UPDATED"),
    )
    .await
    .expect("the automatic advance after the SEEK");
    assert!(
        sought.elapsed() <= Duration::from_millis(2700),
        "0.5 s left; the advance came after {:?}",
        sought.elapsed()
    );
    assert_eq!(update["op"], "advanced", "{update}");
    assert!(without_item(&update), "nothing waits: {update}");
    assert_eq!(update["by"], Value::Null);
    // The 3600 s item played at 1× (§11: a new media item resets the rate).
    assert_eq!(
        state["rate"], 1.0,
        "a new item resets the rate to 1 (§11): {state}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_advance_while_playing_waits_for_the_players_that_report() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let a = add(bob, &code, "a").await;
    drain(&mut sockets).await;
    // Bob's player reports; the room plays once he is ready.
    report(&mut sockets[1], "ready").await;
    sockets[0].send(json!({"type": "PLAY", "time": 5.0})).await;
    wait_starts_everywhere(
        sockets.iter_mut().collect(),
        5.0,
        &who(&[bob]),
        "play",
        DEADLINE,
    )
    .await;
    tell(&mut sockets[1], "ready").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), 5.0, None, WAIT).await;

    // The advance: the new item, then a wait for Bob (reason advance).
    let (status, body) = ana.advance(&code, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for socket in sockets.iter_mut() {
        let (waiting, before) = until(socket, "WAITING").await;
        let kinds = types(&before);
        assert_eq!(
            kinds[..2],
            ["QUEUE_UPDATED", "ROOM_UPDATED"],
            "the change of item first: {before:?}"
        );
        assert_eq!(before[0]["op"], "advanced");
        assert_eq!(before[0]["item"]["id"], a["id"]);
        assert_eq!(waiting["reason"], "advance", "{waiting}");
        assert_eq!(super::waits::ids(&waiting["for"]), who(&[bob]), "{waiting}");
    }
    let held = playback(ana, &code).await;
    assert_eq!(held["item_id"], a["id"], "{held}");
    assert_eq!(held["is_playing"], false, "held during the wait: {held}");
    assert_eq!(held["waiting"]["reason"], "advance", "{held}");
    // Bob's player is ready for the new item: everyone starts it at 0.
    tell(&mut sockets[1], "ready").await;
    wait_ends_everywhere(sockets.iter_mut().collect(), 0.0, None, WAIT).await;
    let now = playback(ana, &code).await;
    assert_eq!(now["item_id"], a["id"], "{now}");
    assert_eq!(now["is_playing"], true, "{now}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_of_media_url_replaces_the_current_item() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let a = item_id(&add(bob, &code, "a").await);
    let queue = queue_of(ana, &code).await;
    let opening = current_of(&queue).unwrap();
    let start = queue_version(&queue);
    sockets[0].send(json!({"type": "PLAY", "time": 12.0})).await;
    drain(&mut sockets).await;

    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"media_url": media("replacement")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let current = body["room"]["current_item"].clone();
    assert_eq!(current["media_url"], media("replacement"), "{body}");
    assert_eq!(current["added_by"], public(ana), "{body}");
    assert_ne!(current["id"], opening, "a new item: {body}");
    assert_eq!(body["room"]["media_url"], media("replacement"));
    assert_eq!(queue_version(&body["room"]), start + 1);
    for socket in sockets.iter_mut() {
        let [update, _, state] = advanced(socket, start + 1, &public(ana), Some(&current)).await;
        assert_eq!(update["item"]["media_url"], media("replacement"));
        assert_eq!(
            state["is_playing"], false,
            "a new video starts paused: {state}"
        );
    }
    all_quiet(&mut sockets).await;
    let queue = queue_of(bob, &code).await;
    assert_eq!(queue["current"]["id"], current["id"]);
    assert_eq!(waiting(&queue), vec![a], "the waiting items stay");
    refused(
        "a vote for the replaced item",
        &bob.vote(&code, opening).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let now = playback(bob, &code).await;
    assert_eq!(now["item_id"], current["id"], "{now}");

    // Clearing the video leaves no item current: a change of current item too.
    let (status, body) = ana
        .patch(&format!("/api/rooms/{code}/"), json!({"media_url": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["current_item"], Value::Null, "{body}");
    for socket in sockets.iter_mut() {
        advanced(socket, start + 2, &public(ana), None).await;
    }
    all_quiet(&mut sockets).await;
    let queue = queue_of(bob, &code).await;
    assert_eq!(current_of(&queue), None, "{queue}");
    assert_eq!(waiting(&queue), vec![a], "the waiting items stay");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_grace_advancing_and_a_new_video_conflict_and_ended_is_ignored() {
    let server = TestServer::builder().host_grace_secs(30).start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    let a = item_id(&add(cat, &code, "a").await);
    let queue = queue_of(ana, &code).await;
    let opening = current_of(&queue).unwrap();
    let start = queue_version(&queue);
    let host = sockets.remove(0);
    host.close().await;
    for socket in sockets.iter_mut() {
        socket.recv_until("HOST_DISCONNECTED").await;
        socket.recv_type("PLAYBACK_STATE").await;
    }
    drain(&mut sockets).await;
    assert_eq!(room(cat, &code).await["room"]["status"], "grace");

    for (who, user) in [("the co-host", bob), ("the host, by HTTP", ana)] {
        refused(
            &format!("{who} advancing during grace"),
            &user.advance(&code, json!({})).await,
            StatusCode::CONFLICT,
            "conflict",
        );
        refused(
            &format!("{who} patching media_url during grace"),
            &user
                .patch(
                    &format!("/api/rooms/{code}/"),
                    json!({"media_url": media("during-grace")}),
                )
                .await,
            StatusCode::CONFLICT,
            "conflict",
        );
    }
    sockets[0]
        .send(json!({"type": "ENDED", "item_id": opening}))
        .await;
    barrier(&mut sockets[0]).await;
    all_quiet(&mut sockets).await;
    let queue = queue_of(cat, &code).await;
    assert_eq!(current_of(&queue), Some(opening), "{queue}");
    assert_eq!(waiting(&queue), vec![a]);
    assert_eq!(queue_version(&queue), start);
    let shown = room(cat, &code).await;
    assert_eq!(shown["room"]["media_url"], media("opening"), "{shown}");
    assert_eq!(shown["playback"]["item_id"], opening, "{shown}");
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Bad input and abuse.

/// Asserts that `answer` is 400 `validation_error`.
#[track_caller]
fn invalid(what: &str, answer: &(StatusCode, Value)) {
    refused(what, answer, StatusCode::BAD_REQUEST, "validation_error");
}

/// Whether a room's queue and sockets are as before: same version, same
/// items, nothing sent.
async fn unchanged(user: &TestUser, code: &str, before: &Value, sockets: &mut [WsClient]) {
    let now = queue_of(user, code).await;
    assert_eq!(&now, before, "the queue is unchanged");
    all_quiet(sockets).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_urls_other_than_http_or_https_are_refused_everywhere() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let before = queue_of(ana, &code).await;
    for url in [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        " javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,<script>alert(1)</script>",
        "data:video/mp4;base64,AAAA",
        "ftp://media.example/a.mp4",
        "//media.example/a.mp4",
        "media.example/a.mp4",
    ] {
        invalid(
            &format!("adding {url:?}"),
            &bob.enqueue(&code, json!({"media_url": url})).await,
        );
        invalid(
            &format!("patching media_url {url:?}"),
            &ana.patch(&format!("/api/rooms/{code}/"), json!({"media_url": url}))
                .await,
        );
        invalid(
            &format!("creating a room with {url:?}"),
            &ana.post("/api/rooms/", json!({"name": "x", "media_url": url}))
                .await,
        );
    }
    // An empty URL is no URL to queue (a PATCH may clear the video with it).
    invalid(
        "adding an empty URL",
        &bob.enqueue(&code, json!({"media_url": ""})).await,
    );
    invalid(
        "adding no URL",
        &bob.enqueue(&code, json!({"title": "nothing"})).await,
    );
    unchanged(ana, &code, &before, &mut sockets).await;
    assert_eq!(
        room(ana, &code).await["room"]["media_url"],
        media("opening")
    );
    // http and https are fine.
    for url in ["http://media.example/a.mp4", "HTTPS://media.example/b.mp4"] {
        let (status, body) = bob.enqueue(&code, json!({"media_url": url})).await;
        assert_eq!(status, StatusCode::CREATED, "{url}: {body}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_url_over_2048_characters_is_refused() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let before = queue_of(ana, &code).await;
    let at_length = |n: usize| {
        let head = "https://media.example/";
        format!("{head}{}", "a".repeat(n - head.len()))
    };
    let long = at_length(2049);
    invalid(
        "adding 2049 characters",
        &bob.enqueue(&code, json!({"media_url": long})).await,
    );
    invalid(
        "patching 2049 characters",
        &ana.patch(&format!("/api/rooms/{code}/"), json!({"media_url": long}))
            .await,
    );
    invalid(
        "creating with 2049 characters",
        &ana.post("/api/rooms/", json!({"name": "x", "media_url": long}))
            .await,
    );
    invalid(
        "adding a megabyte",
        &bob.enqueue(&code, json!({"media_url": at_length(1 << 20)}))
            .await,
    );
    unchanged(ana, &code, &before, &mut sockets).await;
    let fits = at_length(2048);
    let item = add_with(bob, &code, json!({"media_url": fits})).await["item"].clone();
    assert_eq!(item["media_url"], fits, "stored as given");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_with_control_characters_are_refused() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let before = queue_of(ana, &code).await;
    for title in [
        "nul\u{0}byte",
        "two\nlines",
        "carriage\rreturn",
        "tab\there",
        "bell\u{7}",
        "\u{1b}[2J\u{1b}[Hcleared",
        "delete\u{7f}",
        "c1\u{85}next line",
    ] {
        invalid(
            &format!("the title {title:?}"),
            &bob.enqueue(&code, json!({"media_url": media("t"), "title": title}))
                .await,
        );
    }
    unchanged(ana, &code, &before, &mut sockets).await;
    let item = add_with(
        bob,
        &code,
        json!({"media_url": media("t"), "title": "Ça va — “fine” 🎬"}),
    )
    .await["item"]
        .clone();
    assert_eq!(item["title"], "Ça va — “fine” 🎬");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_over_200_characters_are_refused() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let before = queue_of(ana, &code).await;
    for title in ["x".repeat(201), "é".repeat(201), "x".repeat(100_000)] {
        invalid(
            &format!("a title of {} characters", title.chars().count()),
            &bob.enqueue(&code, json!({"media_url": media("t"), "title": title}))
                .await,
        );
    }
    // Nor a duration that is not a positive number of seconds.
    for duration in [json!(-1), json!(0), json!("long"), json!(1e300)] {
        invalid(
            &format!("the duration {duration}"),
            &bob.enqueue(
                &code,
                json!({"media_url": media("t"), "duration": duration}),
            )
            .await,
        );
    }
    invalid(
        "a position other than end or next",
        &bob.enqueue(
            &code,
            json!({"media_url": media("t"), "position": "middle"}),
        )
        .await,
    );
    unchanged(ana, &code, &before, &mut sockets).await;
    // 200 characters fit, counted as characters, not bytes.
    let title = "é".repeat(200);
    let item = add_with(bob, &code, json!({"media_url": media("t"), "title": title})).await["item"]
        .clone();
    assert_eq!(item["title"], title.as_str());
    server.stop().await;
}

/// Answers of `count` adds by `user` at once, `width` in flight at a time.
async fn flood_adds(
    user: &TestUser,
    code: &str,
    count: usize,
    width: usize,
) -> Vec<(StatusCode, Value)> {
    stream::iter(0..count)
        .map(|n| {
            let user = user.clone();
            let code = code.to_owned();
            async move {
                user.enqueue(
                    &code,
                    json!({"media_url": media(&format!("{}-{n}", user.name))}),
                )
                .await
            }
        })
        .buffer_unordered(width)
        .collect()
        .await
}

/// Counts the answers: (201s, 409 `queue_full`s); anything else fails.
#[track_caller]
fn tally(answers: &[(StatusCode, Value)]) -> (usize, usize) {
    let mut counts = (0, 0);
    for (status, body) in answers {
        match (*status, code_of(body)) {
            (StatusCode::CREATED, _) => counts.0 += 1,
            (StatusCode::CONFLICT, "queue_full") => counts.1 += 1,
            _ => panic!("an add answers 201 or 409 queue_full, not {status} {body}"),
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_adds_from_one_account_stops_at_20_waiting_and_others_still_add() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let start = queue_version(&queue_of(ana, &code).await);

    let answers = flood_adds(bob, &code, 400, 25).await;
    assert_eq!(tally(&answers), (20, 380), "20 waiting items of one user");
    let queue = queue_of(ana, &code).await;
    assert_eq!(waiting(&queue).len(), 20);
    assert!(
        queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["added_by"] == public(bob)),
        "{queue}"
    );
    assert_eq!(
        queue_version(&queue),
        start + 20,
        "a refused add changes nothing"
    );
    // Every socket saw exactly the 20, with consecutive versions.
    let watcher = &mut sockets[2];
    for n in 0..20 {
        queue_updated(watcher, "added", start + 1 + n, &public(bob)).await;
    }
    watcher.expect_silence(QUIET).await;

    // Cat still adds; Bob's next is refused until one of his leaves.
    add(cat, &code, "cat").await;
    refused(
        "Bob's 21st",
        &bob.enqueue(&code, json!({"media_url": media("more")}))
            .await,
        StatusCode::CONFLICT,
        "queue_full",
    );
    let first = waiting(&queue)[0];
    let answer = bob.unqueue(&code, first).await;
    assert_eq!(answer.0, StatusCode::NO_CONTENT, "{}", answer.1);
    add(bob, &code, "again").await;
    refused(
        "Bob's 21st again",
        &bob.enqueue(&code, json!({"media_url": media("more")}))
            .await,
        StatusCode::CONFLICT,
        "queue_full",
    );
    // The current item is not waiting: advancing to one of Bob's frees a place.
    let (status, body) = ana.advance(&code, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    add(bob, &code, "after-advance").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_adds_beyond_what_one_account_may_have_in_flight_is_refused_clearly() {
    // One account may have 30 room lookups in flight at once (the budget
    // against guessing codes in parallel, §4): a burst beyond that answers
    // 429 for the excess — a clear refusal, never an error or a hang — and
    // nothing past the queue's own limit is stored. The burst over, the
    // same account is answered as before.
    let _cpu = watchparty_testkit::cpu_heavy().await;
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let code = ana
        .create_room_with(json!({"name": "burst", "media_url": media("opening")}))
        .await;
    let answers = flood_adds(&ana, &code, 80, 80).await;
    let mut stored = 0;
    for (status, body) in &answers {
        match (*status, code_of(body)) {
            (StatusCode::CREATED, _) => stored += 1,
            (StatusCode::CONFLICT, "queue_full")
            | (StatusCode::TOO_MANY_REQUESTS, "rate_limited") => {}
            _ => {
                panic!("an add in a burst answers 201, 409 queue_full or 429, not {status} {body}")
            }
        }
    }
    assert!(stored <= 20, "{stored} stored");
    let queue = queue_of(&ana, &code).await;
    assert_eq!(waiting(&queue).len(), stored);
    let reads = futures_util::future::join_all((0..10).map(|_| ana.queue(&code))).await;
    for (status, body) in reads {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_holds_at_most_200_waiting_items_however_many_add_at_once() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let code = ana
        .create_room_with(json!({"name": "full", "media_url": media("opening")}))
        .await;
    let mut adders = Vec::new();
    for n in 0..12 {
        let user = server.user(&format!("adder{n}")).await;
        user.join(&code).await;
        adders.push(user);
    }
    // 12 users × 20 at once: each within their own limit, 240 for 200 places.
    let floods = adders.iter().map(|user| flood_adds(user, &code, 20, 10));
    let answers: Vec<(StatusCode, Value)> = futures_util::future::join_all(floods)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(tally(&answers), (200, 40), "200 waiting items at most");
    let queue = queue_of(&ana, &code).await;
    assert_eq!(waiting(&queue).len(), 200);
    assert!(current_of(&queue).is_some());
    refused(
        "the host's add to a full room",
        &ana.enqueue(&code, json!({"media_url": media("one-more")}))
            .await,
        StatusCode::CONFLICT,
        "queue_full",
    );
    // One leaves, one more fits.
    let answer = ana.unqueue(&code, waiting(&queue)[0]).await;
    assert_eq!(answer.0, StatusCode::NO_CONTENT, "{}", answer.1);
    add(&ana, &code, "fits").await;
    assert_eq!(waiting(&queue_of(&ana, &code).await).len(), 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_of_another_room_are_not_found() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let other = ana
        .create_room_with(json!({"name": "other", "media_url": media("other")}))
        .await;
    bob.join(&other).await;
    let theirs = item_id(&add(bob, &other, "theirs").await);
    let mine = item_id(&add(bob, &code, "mine").await);
    drain(&mut sockets).await;
    let before = queue_of(ana, &code).await;
    let before_other = queue_of(ana, &other).await;
    for (what, answer) in [
        ("vote", bob.vote(&code, theirs).await),
        ("unvote", bob.unvote(&code, theirs).await),
        ("remove", bob.unqueue(&code, theirs).await),
        (
            "move",
            ana.move_item(&code, theirs, json!({"after": null})).await,
        ),
        (
            "move after",
            ana.move_item(&code, mine, json!({"after": theirs})).await,
        ),
        (
            "advance if_current",
            ana.advance(&code, json!({"if_current": current_of(&before_other)}))
                .await,
        ),
    ] {
        if what == "advance if_current" {
            refused(what, &answer, StatusCode::CONFLICT, "stale_version");
        } else {
            refused(
                &format!("{what} with another room's item"),
                &answer,
                StatusCode::NOT_FOUND,
                "not_found",
            );
        }
    }
    unchanged(ana, &code, &before, &mut sockets).await;
    assert_eq!(queue_of(ana, &other).await, before_other);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_an_item_after_itself_is_refused() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob) = (&people[0], &people[1]);
    let a = item_id(&add(bob, &code, "a").await);
    let b = item_id(&add(bob, &code, "b").await);
    drain(&mut sockets).await;
    let before = queue_of(ana, &code).await;
    for (id, body) in [
        (a, json!({"after": a})),
        (b, json!({"after": b})),
        (b, json!({"after": b, "if_version": queue_version(&before)})),
    ] {
        invalid(
            &format!("moving {id} with {body}"),
            &ana.move_item(&code, id, body.clone()).await,
        );
    }
    unchanged(ana, &code, &before, &mut sockets).await;
    assert_eq!(waiting(&before), vec![a, b]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advancing_an_empty_queue_is_a_conflict() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, false).await;
    let ana = &people[0];
    let before = queue_of(ana, &code).await;
    let shown = room(ana, &code).await;
    for body in [json!({}), json!({"if_current": null})] {
        refused(
            &format!("advancing an empty queue with {body}"),
            &ana.advance(&code, body.clone()).await,
            StatusCode::CONFLICT,
            "conflict",
        );
    }
    refused(
        "advancing an empty queue with a made-up if_current",
        &ana.advance(&code, json!({"if_current": 987_654_321})).await,
        StatusCode::CONFLICT,
        "stale_version",
    );
    unchanged(ana, &code, &before, &mut sockets).await;
    let after = room(ana, &code).await;
    assert_eq!(after["room"], shown["room"]);
    assert_eq!(version(&after["playback"]), version(&shown["playback"]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_controllers_advancing_at_once_with_the_same_if_current_advance_once() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = queue_room(&server, true).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    for n in 0..6 {
        add(cat, &code, &format!("item{n}")).await;
    }
    drain(&mut sockets).await;
    for round in 0..6 {
        let queue = queue_of(cat, &code).await;
        let current = current_of(&queue).unwrap();
        let next = queue["items"][0].clone();
        let body = json!({"if_current": current});
        let (first, second) = tokio::join!(
            ana.advance(&code, body.clone()),
            bob.advance(&code, body.clone())
        );
        let winner = match (first.0, second.0) {
            (StatusCode::OK, _) => {
                refused(
                    "the later advance",
                    &second,
                    StatusCode::CONFLICT,
                    "stale_version",
                );
                ana
            }
            (_, StatusCode::OK) => {
                refused(
                    "the later advance",
                    &first,
                    StatusCode::CONFLICT,
                    "stale_version",
                );
                bob
            }
            _ => panic!("round {round}: one advance wins: {first:?} {second:?}"),
        };
        let version = queue_version(&queue) + 1;
        let watcher = &mut sockets[2];
        advanced(watcher, version, &public(winner), Some(&next)).await;
        for socket in pick(&mut sockets, &[0, 1]) {
            advanced(socket, version, &public(winner), Some(&next)).await;
        }
        let after = queue_of(cat, &code).await;
        assert_eq!(current_of(&after), Some(item_id(&next)), "round {round}");
        assert_eq!(queue_version(&after), version, "round {round}");
    }
    // A second advance in any round would have been read above or arrive now.
    all_quiet(&mut sockets).await;
    let entries = audited(ana, &code, "queue_advanced").await;
    assert_eq!(entries.len(), 6, "one per round: {entries:?}");
    server.stop().await;
}
