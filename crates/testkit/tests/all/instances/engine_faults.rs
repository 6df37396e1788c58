//! The room engine under faults: a busy room still closes on time when the
//! database is far away, a chat message that was stored is delivered even
//! when its first publish fails, and a removal whose announcement never
//! reaches an instance still closes the removed user's socket there.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use std::time::{Duration, Instant};
use watchparty_testkit::{
    redis_cli, scratch_postgres, FaultProxy, Impairment, Instance, OwnRedis, StatusCode, TestServer,
};

/// How far `rfc3339` (a UTC time the server sent) is in the past, by the
/// wall clock both share; negative if it is still to come.
fn seconds_since(rfc3339: &str) -> f64 {
    let at = humantime::parse_rfc3339(rfc3339).unwrap();
    let now = std::time::SystemTime::now();
    match now.duration_since(at) {
        Ok(past) => past.as_secs_f64(),
        Err(future) => -future.duration().as_secs_f64(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_room_closes_within_two_seconds_of_its_deadline_with_100_ms_to_the_database() {
    let (postgres, database) = FaultProxy::in_front_of(&scratch_postgres()).await;
    let server = TestServer::builder()
        .database_url(&database)
        .host_grace_secs(3)
        .start()
        .await;
    let host = server.user("host").await;
    let code = host.create_room("busy").await;
    let host_socket = host.enter(&code).await;
    let mut talkers = Vec::new();
    for n in 0..10 {
        let viewer = server.user(&format!("talker{n}")).await;
        let socket = viewer.enter(&code).await;
        talkers.push(socket);
    }
    let watcher_user = server.user("watcher").await;
    let mut watcher = watcher_user.enter(&code).await;
    postgres.impair(Some(Impairment {
        one_way: Duration::from_millis(100),
        loss: 0.0,
    }));
    // Ten people chatting twice a second each, more than one room's lock
    // gets through at 200 ms a query: up to ten messages (one per socket)
    // wait on the room's lock at any time, about four seconds of work.
    let chatters: Vec<_> = talkers
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let started = Instant::now();
                let mut n = 0u32;
                // Until the room closes (its sockets with it), at most a minute.
                while started.elapsed() < Duration::from_secs(60) {
                    n += 1;
                    let message = json!({"type": "CHAT_MESSAGE", "message": format!("m{n}")});
                    if !socket.try_send(message).await {
                        return;
                    }
                    // Reading what the room says, as a client does: a socket
                    // that does not read is closed as too slow.
                    let next = Instant::now() + Duration::from_millis(500);
                    while Instant::now() < next {
                        if socket.is_closed() {
                            return;
                        }
                        socket.try_recv(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    host_socket.close().await;
    let mut deadline = None;
    let mut late = None;
    let give_up = Instant::now() + Duration::from_secs(60);
    while late.is_none() && Instant::now() < give_up {
        let Some(message) = watcher.try_recv(Duration::from_secs(1)).await else {
            continue;
        };
        match message["type"].as_str() {
            Some("HOST_DISCONNECTED") => {
                deadline = Some(message["grace_expires_at"].as_str().unwrap().to_owned());
            }
            Some("ROOM_CLOSED") => {
                let deadline = deadline.as_deref().expect("HOST_DISCONNECTED first");
                late = Some(seconds_since(deadline));
            }
            _ => {}
        }
    }
    let late = late.expect("the room closed");
    println!(
        "FIGURE a room with ten people chatting, 100 ms each way to PostgreSQL: ROOM_CLOSED \
         {late:.2} s after the grace deadline"
    );
    assert!(late < 2.0, "closed {late:.2} s after its deadline");
    postgres.impair(None);
    for chatter in chatters {
        chatter.await.unwrap();
    }
    let (status, body) = watcher_user.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["status"], "closed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_message_stored_while_redis_stops_answering_still_reaches_the_room() {
    let (postgres, database) = FaultProxy::in_front_of(&scratch_postgres()).await;
    let redis = OwnRedis::start().await;
    let keys = format!("wpredeliver{}", std::process::id());
    let instance = Instance::production(&database, &redis.url(), &keys).await;
    let ana = instance.user("ana").await;
    let bob = instance.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut author = bob.enter(&code).await;
    host.recv_type("USER_JOINED").await;
    // Slow queries give a window between taking the room's chat lock (in
    // Redis) and publishing the stored message (in Redis too).
    postgres.impair(Some(Impairment {
        one_way: Duration::from_millis(500),
        loss: 0.0,
    }));
    author
        .send(json!({"type": "CHAT_MESSAGE", "message": "still here"}))
        .await;
    let lock = format!("{keys}:lock:room:{code}");
    let watching = Instant::now();
    while redis_cli(&redis.url(), &["EXISTS", &lock]) != "1" {
        assert!(
            watching.elapsed() < Duration::from_secs(20),
            "the chat lock was never taken"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The message is being stored; Redis stops answering before its publish.
    redis.pause();
    let paused = Instant::now();
    while !instance.log().contains("stored but not yet published") {
        assert!(
            paused.elapsed() < Duration::from_secs(20),
            "the publish never failed:\n{}",
            instance.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    postgres.impair(None);
    redis.resume();
    let resumed = Instant::now();
    let delivered = host.recv_until("CHAT_MESSAGE").await;
    let late = resumed.elapsed();
    assert_eq!(delivered["message"], "still here");
    assert_eq!(delivered["user"]["display_name"], "bob");
    let echoed = author.recv_until("CHAT_MESSAGE").await;
    assert_eq!(echoed["id"], delivered["id"]);
    let history = ana.history(&code, "").await;
    let stored: Vec<_> = history
        .iter()
        .filter(|m| m["message"] == "still here")
        .collect();
    assert_eq!(stored.len(), 1, "{history:?}");
    assert_eq!(stored[0]["id"], delivered["id"]);
    // The instance's log is a file its process writes on its own time.
    let logged = Instant::now();
    while !instance.log().contains("delivered late") {
        assert!(
            logged.elapsed() < Duration::from_secs(5),
            "{}",
            instance.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "FIGURE a chat message stored while Redis was paused reached both sockets {:.2} s after \
         Redis answered again",
        late.as_secs_f64()
    );
}

/// Instance B shares A's database but not its Redis channels, so nothing A
/// publishes reaches B: a kick made on A is, for B, a removal whose
/// announcement was lost. B's own check of its sockets against the
/// database still closes the kicked user's socket there, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_whose_announcement_is_lost_still_closes_the_socket_within_30_s() {
    let a = TestServer::production().start().await;
    let b = a
        .sibling()
        .redis_url(&watchparty_testkit::test_redis())
        .start()
        .await;
    let ana = a.user("ana").await;
    let bob = b.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    let kick = json!({"user_id": bob.id, "reason": "spoilers", "rejoin_after_secs": 600});
    let (status, body) = ana.post(&format!("/api/rooms/{code}/kicks/"), kick).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let kicked = Instant::now();
    // The check runs every 5 s; the bound is 30 s.
    let removed = loop {
        let left = Duration::from_secs(30).saturating_sub(kicked.elapsed());
        let message = viewer.try_recv(left).await.expect("REMOVED within 30 s");
        if message["type"] == "REMOVED" {
            break message;
        }
    };
    let late = kicked.elapsed();
    assert_eq!(removed["action"], "kicked");
    assert_eq!(removed["reason"], "spoilers");
    assert!(removed["until"].is_string(), "{removed}");
    assert_eq!(viewer.closed_with().await, Some(4003));
    assert!(
        late < Duration::from_secs(30),
        "closed {late:?} after the kick"
    );
    // A heard it the usual way, and Bob cannot come back through B.
    host.recv_until("PARTICIPANT_REMOVED").await;
    let (status, body) = bob.post_empty(&format!("/api/rooms/{code}/join/")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "banned");
    println!(
        "FIGURE a kick never announced to the kicked user's instance closed the socket there \
         {:.2} s later",
        late.as_secs_f64()
    );
    b.stop().await;
    a.stop().await;
}

/// §9 across instances: the instance that started a wait is killed the
/// moment its hold reaches the others. The wait was stored before anything
/// was announced, so the survivor ends it at its deadline: the viewer it
/// waited for is named, then one `PLAY`. The room never stays held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_whose_instance_is_killed_at_its_hold_still_ends() {
    use crate::together::waits::{report, who};
    let database = scratch_postgres();
    let redis = OwnRedis::start().await;
    let keys = format!("wpwaitkill{}", std::process::id());
    let mut a = Instance::production(&database, &redis.url(), &keys).await;
    let b = Instance::production(&database, &redis.url(), &keys).await;
    let ana = b.user("ana").await;
    let bob = b.user("bob").await;
    let cat = a.user("cat").await;
    let code = ana.create_room("kept").await;
    bob.join(&code).await;
    cat.join(&code).await;
    let (status, _) = crate::together::put_role(&ana, &code, cat.id, "co_host").await;
    assert_eq!(status, StatusCode::OK);
    let mut host = ana.enter(&code).await;
    let mut viewer = bob.enter(&code).await;
    let mut co_host = cat.enter(&code).await;
    for socket in [&mut host, &mut viewer, &mut co_host] {
        crate::together::gather(socket, Duration::from_millis(500)).await;
    }
    report(&mut viewer, "loading").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    co_host.send(json!({"type": "PLAY", "time": 15.0})).await;
    let pause = host.recv_type("PAUSE").await;
    a.kill();
    assert_eq!(pause["by"], serde_json::Value::Null, "{pause}");
    let give_up = Instant::now() + Duration::from_secs(20);
    for socket in [&mut host, &mut viewer] {
        let mut seen = Vec::new();
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            let message = socket
                .try_recv(left)
                .await
                .unwrap_or_else(|| panic!("the wait never ended: {seen:?}"));
            let done = message["type"] == "PLAY";
            seen.push(message);
            if done {
                break;
            }
        }
        let skipped = seen.iter().find(|m| m["type"] == "WAIT_SKIPPED");
        let skipped = skipped.unwrap_or_else(|| panic!("Bob is named first: {seen:?}"));
        let named: std::collections::BTreeSet<i64> = skipped["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect();
        assert_eq!(named, who(&[&bob]));
        let play = seen.last().unwrap();
        assert_eq!(play["by"], serde_json::Value::Null, "{play}");
        assert_eq!(play["time"], 15.0, "{play}");
    }
    let (status, room) = bob.get(&format!("/api/rooms/{code}/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(room["playback"]["is_playing"], true, "{room}");
    assert_eq!(room["playback"]["waiting"], serde_json::Value::Null);
}
