//! Contract §5: broken WebSocket frames close the offending socket with the
//! right code, and nobody else notices.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use std::time::Duration;
use watchparty_testkit::{RawSocket, TestServer, WsClient};

async fn check(server: &TestServer, bytes: Vec<u8>, expected: u16, bystander: &mut WsClient) {
    let ana = server.user("abuser").await;
    let code = ana.create_room("abuse").await;
    let token = ana.token().await;
    let mut raw = RawSocket::connect(server.port, &code, &token).await;
    raw.send(&bytes).await;
    eprintln!("checking close {expected}");
    assert_eq!(
        raw.close_code(Duration::from_secs(3)).await,
        Some(expected),
        "expected close {expected}"
    );
    bystander
        .send(json!({"type": "PING", "client_time": expected}))
        .await;
    assert_eq!(bystander.recv_type("PONG").await["client_time"], expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_close_with_the_right_code() {
    let server = TestServer::start().await;
    let bob = server.user("bob").await;
    let room = bob.create_room("bystanders").await;
    let mut bystander = bob.enter(&room).await;

    let unmasked = RawSocket::frame(0x1, br#"{"type":"PING","client_time":1}"#, false);
    check(&server, unmasked, 1002, &mut bystander).await;
    let bad_opcode = RawSocket::frame(0x3, b"??", true);
    check(&server, bad_opcode, 1002, &mut bystander).await;
    let bad_utf8 = RawSocket::frame(0x1, &[0x7b, 0xff, 0xfe, 0x7d], true);
    check(&server, bad_utf8, 1007, &mut bystander).await;
    let oversized = RawSocket::frame(0x1, &vec![b' '; 64 * 1024 + 1], true);
    check(&server, oversized, 1009, &mut bystander).await;
    // A huge frame is refused from its header, before its payload arrives.
    let mut announced = vec![0x81, 0x80 | 127];
    announced.extend_from_slice(&(1u64 << 30).to_be_bytes());
    announced.extend_from_slice(&[1, 2, 3, 4]);
    check(&server, announced, 1009, &mut bystander).await;
    // Fragments adding up to more than the limit.
    let mut fragments = RawSocket::frame_with(false, 0x1, &vec![b' '; 40 * 1024], true);
    fragments.extend(RawSocket::frame_with(
        true,
        0x0,
        &vec![b' '; 40 * 1024],
        true,
    ));
    check(&server, fragments, 1009, &mut bystander).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_within_the_limit_are_one_message() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let code = ana.create_room("film").await;
    let token = ana.token().await;
    let mut raw = RawSocket::connect(server.port, &code, &token).await;
    let text = br#"{"type":"CHAT_MESSAGE","message":"stitched together"}"#;
    let (head, tail) = text.split_at(20);
    let mut bytes = RawSocket::frame_with(false, 0x1, head, true);
    bytes.extend(RawSocket::frame_with(true, 0x0, tail, true));
    raw.send(&bytes).await;
    let mut watcher = ana.connect(&code).await.unwrap();
    watcher.recv_type("PLAYBACK_STATE").await;
    watcher.recv_type("PRESENCE").await;
    let (_, history) = ana.get(&format!("/api/rooms/{code}/messages/")).await;
    let stored = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["message"] == "stitched together");
    assert!(stored, "{history}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_dropped_by_the_heartbeat() {
    let server = TestServer::builder()
        .heartbeat(Duration::from_millis(200), Duration::from_millis(700))
        .start()
        .await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    let mut host = ana.enter(&code).await;
    // A raw client that completes the upgrade and then never answers a ping.
    let mut silent = bob.enter_raw(&code, None).await;
    host.recv_type("USER_JOINED").await;
    // The host's real client answers pings by itself while it reads.
    let left = host.recv_until("USER_LEFT").await;
    assert_eq!(left["user"]["id"], bob.id);
    assert_eq!(silent.close_code(Duration::from_secs(3)).await, Some(1001));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_limited_not_disconnected() {
    const FLOOD_SECS: u64 = 3;
    const SEEKS: u64 = 30;
    let server = TestServer::start().await;
    let limit = server.settings().frame_limit;
    let mut party = server.party().await;
    let carol = server.user("carol").await;
    let mut watcher = carol.enter(&party.code).await;
    party.host_socket.recv_type("USER_JOINED").await;
    party.viewer_socket.recv_type("USER_JOINED").await;

    let start = tokio::time::Instant::now();
    // Bob sends 10 000 frames a second: PINGs, and SEEKs he may not send.
    let mut flooder = party.viewer_socket;
    let flood = async {
        let mut sent = 0u64;
        while start.elapsed() < Duration::from_secs(FLOOD_SECS) {
            for _ in 0..50 {
                let frame = if sent % 2 == 0 {
                    json!({"type": "PING", "client_time": sent})
                } else {
                    json!({"type": "SEEK", "time": 1})
                };
                flooder.send(frame).await;
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sent
    };
    // Meanwhile the host seeks ten times a second, on a fixed schedule.
    let mut host = party.host_socket;
    let seeks = async {
        for i in 0..SEEKS {
            tokio::time::sleep_until(start + Duration::from_millis(100 * i)).await;
            host.send(json!({"type": "SEEK", "time": i})).await;
        }
    };
    // Carol measures each SEEK from its scheduled send.
    let watch = async {
        let mut delays = Vec::new();
        while (delays.len() as u64) < SEEKS {
            let message = watcher.recv().await;
            if message["type"] == "SEEK" {
                let i = message["time"].as_f64().unwrap() as u64;
                let due = start + Duration::from_millis(100 * i);
                delays.push(due.elapsed());
            }
        }
        delays
    };
    let (sent, (), mut delays) = tokio::join!(flood, seeks, watch);

    // Bob was answered within his budget, and is still connected: once it
    // refills, a PING gets its PONG.
    let mut pongs = 0u64;
    while let Some(message) = flooder.try_recv(Duration::from_millis(300)).await {
        if message["type"] == "PONG" {
            pongs += 1;
        }
    }
    let allowed = limit.burst + limit.per_second * (FLOOD_SECS as f64 + 1.0);
    assert!(sent > 20_000, "the flood was {sent} frames");
    assert!((pongs as f64) <= allowed, "{pongs} PONGs for {sent} frames");
    tokio::time::sleep(Duration::from_secs(1)).await;
    flooder
        .send(json!({"type": "PING", "client_time": -1}))
        .await;
    assert_eq!(flooder.recv_until("PONG").await["client_time"], -1);

    delays.sort();
    let p99 = delays[delays.len() * 99 / 100];
    eprintln!(
        "{sent} frames in {FLOOD_SECS} s from one client: {pongs} answered, not disconnected; \
         the room's other socket got all {SEEKS} SEEKs, p99 {p99:?}"
    );
    server.stop().await;
}
