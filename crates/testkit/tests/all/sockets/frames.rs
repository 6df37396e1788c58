//! docs/protocol.md, closing: broken WebSocket frames close the offending socket with the
//! right code, and nobody else notices.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;
use std::time::{Duration, Instant};
use watchparty_testkit::{Instance, RawSocket, TestServer, WsClient};

/// Sends `bytes` on a fresh socket, expects close `expected`, then checks the
/// bystander is still served. Returns how long the close took and the
/// bystander's round trip.
async fn check(
    server: &TestServer,
    bytes: Vec<u8>,
    expected: u16,
    bystander: &mut WsClient,
) -> (Duration, Duration) {
    let ana = server.user("abuser").await;
    let code = ana.create_room("abuse").await;
    let token = ana.token().await;
    let mut raw = RawSocket::connect(server.port, &code, &token).await;
    let sent = Instant::now();
    raw.send(&bytes).await;
    assert_eq!(
        raw.close_code(Duration::from_secs(3)).await,
        Some(expected),
        "expected close {expected}"
    );
    let closed = sent.elapsed();
    let pinged = Instant::now();
    bystander
        .send(json!({"type": "PING", "client_time": expected}))
        .await;
    assert_eq!(bystander.recv_type("PONG").await["client_time"], expected);
    (closed, pinged.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_close_with_the_right_code() {
    let server = TestServer::start().await;
    let bob = server.user("bob").await;
    let room = bob.create_room("bystanders").await;
    let mut bystander = bob.enter(&room).await;

    let unmasked = RawSocket::frame(0x1, br#"{"type":"PING","client_time":1}"#, false);
    let mut timings = vec![check(&server, unmasked, 1002, &mut bystander).await];
    let bad_opcode = RawSocket::frame(0x3, b"??", true);
    timings.push(check(&server, bad_opcode, 1002, &mut bystander).await);
    let bad_utf8 = RawSocket::frame(0x1, &[0x7b, 0xff, 0xfe, 0x7d], true);
    timings.push(check(&server, bad_utf8, 1007, &mut bystander).await);
    let oversized = RawSocket::frame(0x1, &vec![b' '; 64 * 1024 + 1], true);
    timings.push(check(&server, oversized, 1009, &mut bystander).await);
    // A huge frame is refused from its header, before its payload arrives.
    let mut announced = vec![0x81, 0x80 | 127];
    announced.extend_from_slice(&(1u64 << 30).to_be_bytes());
    announced.extend_from_slice(&[1, 2, 3, 4]);
    timings.push(check(&server, announced, 1009, &mut bystander).await);
    // Fragments adding up to more than the limit.
    let mut fragments = RawSocket::frame_with(false, 0x1, &vec![b' '; 40 * 1024], true);
    fragments.extend(RawSocket::frame_with(
        true,
        0x0,
        &vec![b' '; 40 * 1024],
        true,
    ));
    timings.push(check(&server, fragments, 1009, &mut bystander).await);
    let slowest = timings.iter().map(|t| t.0).max().unwrap();
    let bystander = timings.iter().map(|t| t.1).max().unwrap();
    println!(
        "FIGURE {} broken frames: each closed with its code, the slowest in {:.1} ms; the bystander's \
         PING right after each, slowest {:.1} ms",
        timings.len(),
        slowest.as_secs_f64() * 1000.0,
        bystander.as_secs_f64() * 1000.0
    );
    assert!(slowest < Duration::from_secs(1), "a close took {slowest:?}");
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
    watcher.recv_type("CAPABILITIES").await;
    // The message is stored on its own schedule: look until it shows or
    // the usual wait is over.
    let deadline = Instant::now() + watchparty_testkit::WAIT;
    let (stored, history) = loop {
        let (_, history) = ana.get(&format!("/api/rooms/{code}/messages/")).await;
        let stored = history["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["message"] == "stitched together");
        if stored || Instant::now() > deadline {
            break (stored, history);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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
    let _cpu = watchparty_testkit::cpu_heavy().await;
    const FLOOD_SECS: u64 = 10;
    const SEEKS: u64 = 100;
    let server = TestServer::start().await;
    let limit = server.settings().rooms.frame_limit;
    let mut party = server.party().await;
    let carol = server.user("carol").await;
    let mut watcher = carol.enter(&party.code).await;
    party.host_socket.recv_type("USER_JOINED").await;
    party.viewer_socket.recv_type("USER_JOINED").await;

    let start = tokio::time::Instant::now();
    // Bob sends 10 000 frames a second: PINGs, and SEEKs he may not send.
    let mut flooder = party.viewer_socket;
    let flood = async {
        // 10 000 frames a second, caught up every millisecond.
        let mut sent = 0u64;
        while start.elapsed() < Duration::from_secs(FLOOD_SECS) {
            let due = (start.elapsed().as_secs_f64() * 10_000.0) as u64;
            while sent < due {
                let frame = if sent % 2 == 0 {
                    json!({"type": "PING", "client_time": sent})
                } else {
                    json!({"type": "SEEK", "time": 1})
                };
                flooder.send(frame).await;
                sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sent
    };
    // Meanwhile the host seeks ten times a second, on a fixed schedule.
    let mut host = party.host_socket;
    let seeks = async {
        for i in 0..SEEKS {
            tokio::time::sleep_until(start + Duration::from_millis(100 * i)).await;
            // From 1 s: a seek to where the paused room rests (0) changes nothing.
            host.send(json!({"type": "SEEK", "time": i + 1})).await;
        }
    };
    // Carol measures each SEEK from its scheduled send.
    let watch = async {
        let mut delays = Vec::new();
        while (delays.len() as u64) < SEEKS {
            let message = watcher.recv().await;
            if message["type"] == "SEEK" {
                let i = message["time"].as_f64().unwrap() as u64 - 1;
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
    assert!(sent > FLOOD_SECS * 5_000, "the flood was {sent} frames");
    assert!((pongs as f64) <= allowed, "{pongs} PONGs for {sent} frames");
    tokio::time::sleep(Duration::from_secs(1)).await;
    flooder
        .send(json!({"type": "PING", "client_time": -1}))
        .await;
    assert_eq!(flooder.recv_until("PONG").await["client_time"], -1);

    delays.sort();
    let p99 = delays[delays.len() * 99 / 100];
    println!(
        "FIGURE {sent} frames in {FLOOD_SECS} s from one client: {pongs} answered, not disconnected; \
         the room's other socket got all {SEEKS} SEEKs, p99 {:.1} ms",
        p99.as_secs_f64() * 1000.0
    );
    server.stop().await;
}

/// Pings through `socket` every 10 ms until `stop`; the round trips.
async fn ping_until(
    socket: &mut WsClient,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Duration> {
    let mut trips = Vec::new();
    while !*stop.borrow() {
        let sent = Instant::now();
        socket.send(json!({"type": "PING", "client_time": 1})).await;
        socket.recv_until("PONG").await;
        trips.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    trips.sort();
    trips
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_cost_the_server_no_memory() {
    let _cpu = watchparty_testkit::cpu_heavy().await;
    // The server in a process of its own, so its memory is its own.
    let server = Instance::single_node().await;
    let ana = server.user("ana").await;
    let code = ana.create_room("abuse").await;
    let bob = server.user("bob").await;
    let mut bystander = bob.enter(&code).await;
    let before = server.rss_kib();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let measuring = ping_until(&mut bystander, stopped);
    let abusing = async {
        let chunk = vec![b' '; 1 << 20];
        // 1 GiB announced in one frame header, then 100 MiB of its payload.
        let mut raw = RawSocket::connect(server.port, &code, &ana.token().await).await;
        let mut header = vec![0x81, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 30).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        raw.send(&header).await;
        let announced_code = raw.close_code(Duration::from_secs(3)).await;
        // The rest of the payload, as fast as the connection takes it.
        let announced = raw.stream(&chunk, 100 << 20).await;
        let peak_announced = server.rss_kib();
        // 10 MB as 16 KiB fragments of one message.
        let mut raw = RawSocket::connect(server.port, &code, &ana.token().await).await;
        raw.send(&RawSocket::frame_with(false, 0x1, &chunk[..16 << 10], true))
            .await;
        let fragment = RawSocket::frame_with(false, 0x0, &chunk[..16 << 10], true);
        let mut fragmented = 0;
        for _ in 0..4 {
            fragmented += raw.stream(&fragment, fragment.len() as u64).await;
        }
        let fragmented_code = raw.close_code(Duration::from_secs(3)).await;
        fragmented += raw.stream(&fragment, 10_000_000 - fragmented).await;
        let peak_fragmented = server.rss_kib();
        stop.send(true).unwrap();
        (
            announced,
            announced_code,
            peak_announced,
            fragmented,
            fragmented_code,
            peak_fragmented,
        )
    };
    let (
        trips,
        (announced, announced_code, peak_announced, fragmented, fragmented_code, peak_fragmented),
    ) = tokio::join!(measuring, abusing);
    let grown = peak_announced.max(peak_fragmented).saturating_sub(before);
    let p99 = trips[(trips.len() * 99 / 100).min(trips.len() - 1)];
    println!(
        "FIGURE a 1 GiB frame announced: closed {announced_code:?}, then the connection dropped after \
         {} KiB of the 100 MiB; 10 MB in 16 KiB fragments: closed {fragmented_code:?}, dropped after {} KiB; server memory \
         {:+} KiB at the peak; a bystander's PING meanwhile: {} round trips, p99 {:.1} ms",
        announced / 1024,
        fragmented / 1024,
        grown,
        trips.len(),
        p99.as_secs_f64() * 1000.0
    );
    assert!(
        announced < 100 << 20,
        "the server read 100 MiB of a refused frame"
    );
    assert!(
        fragmented < 10_000_000,
        "the server read 10 MB of a refused message"
    );
    assert_eq!(announced_code, Some(1009));
    assert_eq!(fragmented_code, Some(1009));
    assert!(grown < 10 * 1024, "the server grew {grown} KiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_trickling_connections_are_closed() {
    let server = TestServer::builder()
        .heartbeat(Duration::from_millis(500), Duration::from_secs(2))
        .start()
        .await;
    let ana = server.user("ana").await;
    let code = ana.create_room("film").await;
    // Waits until the peer closes `stream` while `write` trickles a byte
    // every 250 ms (or nothing); how long the connection lived.
    async fn lifetime(mut stream: tokio::net::TcpStream, trickle: &[u8]) -> Duration {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let started = Instant::now();
        let mut next = 0;
        let mut buffer = [0u8; 4096];
        loop {
            assert!(started.elapsed() < Duration::from_secs(60), "never closed");
            tokio::select! {
                read = stream.read(&mut buffer) => match read {
                    Ok(0) | Err(_) => return started.elapsed(),
                    Ok(_) => {}
                },
                _ = tokio::time::sleep(Duration::from_millis(250)) => {
                    if let Some(byte) = trickle.get(next) {
                        if stream.write_all(&[*byte]).await.is_err() {
                            return started.elapsed();
                        }
                        next += 1;
                    }
                }
            }
        }
    }
    let connect = || tokio::net::TcpStream::connect(("127.0.0.1", server.port));
    // A connection that never says anything.
    let idle = lifetime(connect().await.unwrap(), b"").await;
    // A request head sent a byte at a time, never finished.
    let head = b"GET /api/rooms/public/ HTTP/1.1\r\nHost: x\r\nX-Slow: ".repeat(10);
    let slow_head = lifetime(connect().await.unwrap(), &head).await;
    // An upgraded socket that trickles one frame a byte at a time and never
    // answers a ping.
    let token = ana.token().await;
    let upgraded = RawSocket::connect(server.port, &code, &token).await;
    let frame = RawSocket::frame(0x1, &vec![b' '; 60_000], true);
    let trickled = lifetime(upgraded.into_inner(), &frame).await;
    println!(
        "FIGURE idle TCP connection closed after {:.1} s; a request head trickled a byte every 250 ms \
         closed after {:.1} s; an upgraded socket trickling a frame closed after {:.1} s (heartbeat \
         timeout 2 s here, 45 s by default)",
        idle.as_secs_f64(),
        slow_head.as_secs_f64(),
        trickled.as_secs_f64()
    );
    assert!(
        trickled < Duration::from_secs(4),
        "trickling kept a socket {trickled:?}"
    );
    server.stop().await;
}
