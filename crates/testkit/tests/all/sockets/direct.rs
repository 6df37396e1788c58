//! Broadcasts written straight to an idle socket by the delivering thread,
//! or queued behind a frame the kernel did not take whole: either way in
//! order, whole, and never mixed with pings or the close frame.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use watchparty_testkit::{TestServer, TestUser, WsClient};

/// One server frame: its opcode and payload.
async fn read_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await.ok()?;
    assert_eq!(
        head[0] & 0xf0,
        0x80,
        "a frame without FIN, or bytes of two frames mixed"
    );
    assert_eq!(
        head[1] & 0x80,
        0,
        "a masked server frame: bytes of two frames mixed"
    );
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).await.ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).await.ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    assert!(
        len < 1 << 20,
        "a frame of {len} bytes: bytes of two frames mixed"
    );
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await.ok()?;
    Some((head[0] & 0x0f, payload))
}

/// What a frame's payload says, asserting it is a whole message.
fn message(opcode: u8, payload: &[u8]) -> Option<Value> {
    if opcode == 0x9 {
        return None;
    }
    assert_eq!(opcode, 0x1, "unexpected opcode");
    let parsed = serde_json::from_slice::<Value>(payload);
    assert!(
        parsed.is_ok(),
        "a text frame holds one JSON message: {parsed:?}"
    );
    parsed.ok()
}

/// The `n` of a media URL the test set.
fn index_of(message: &Value) -> u64 {
    let url = message["room"]["media_url"].as_str().unwrap();
    url.trim_start_matches("https://example.com/")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The host, reading everything it gets, so that its socket is no reason
/// for a grace (which would refuse new videos).
fn keep_reading(mut host: WsClient) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while host.try_recv(Duration::from_secs(30)).await.is_some() {} })
}

async fn set_video(ana: &TestUser, code: &str, i: u64) {
    let url = format!("https://example.com/{i}/{}", "v".repeat(2000));
    let (status, _) = ana
        .patch(&format!("/api/rooms/{code}/"), json!({"media_url": url}))
        .await;
    assert!(status.is_success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reaches_a_socket_in_order_whether_written_at_once_or_queued() {
    // Writers changing the room at once, each in its own order.
    const WRITERS: u64 = 4;
    const EACH: u64 = 60;
    // Pings every 20 ms go between the broadcasts; the outbox holds what
    // piles up while the client looks away.
    let server = TestServer::builder()
        .outbox_capacity(1024)
        .heartbeat(Duration::from_millis(20), Duration::from_secs(60))
        .start()
        .await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    let host = keep_reading(ana.enter(&code).await);
    let mut stream = bob.enter_raw(&code, Some(4096)).await.into_inner();

    let reader = tokio::spawn(async move {
        let mut opening = Vec::new();
        let mut seen = Vec::new();
        while seen.len() < (WRITERS * EACH) as usize {
            let (opcode, payload) = read_frame(&mut stream)
                .await
                .expect("the socket stays open");
            let Some(message) = message(opcode, &payload) else {
                continue;
            };
            if opening.len() < 3 {
                opening.push(message["type"].as_str().unwrap().to_owned());
            } else if message["type"] == "ROOM_UPDATED" {
                seen.push(index_of(&message));
                // The client looks away for a moment: the kernel fills,
                // frames are cut and queued, then written by the task
                // while new ones keep coming.
                if seen.len() == 20 {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
            }
        }
        (opening, seen)
    });
    let ana = std::sync::Arc::new(ana);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (ana, code) = (ana.clone(), code.clone());
            tokio::spawn(async move {
                for k in 0..EACH {
                    set_video(&ana, &code, w * 1000 + k).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let (opening, seen) = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("every update arrived")
        .unwrap();
    assert_eq!(opening, ["PLAYBACK_STATE", "PRESENCE", "CAPABILITIES"]);
    // Each writer's changes arrive, each once, in the order it made them.
    for w in 0..WRITERS {
        let own: Vec<u64> = seen
            .iter()
            .filter(|i| *i / 1000 == w)
            .map(|i| i % 1000)
            .collect();
        assert_eq!(own, (0..EACH).collect::<Vec<_>>(), "writer {w}");
    }
    let metrics = server.client().metrics().await;
    assert!(
        metrics.contains("watchparty_slow_consumers_closed_total 0"),
        "a paused client was shed: {metrics}"
    );
    host.abort();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_gets_whole_frames_then_1013() {
    let server = TestServer::builder().outbox_capacity(8).start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    let host = keep_reading(ana.enter(&code).await);
    let mut stream = bob.enter_raw(&code, Some(2048)).await.into_inner();

    let mut sent = 0;
    loop {
        set_video(&ana, &code, sent).await;
        sent += 1;
        let metrics = server.client().metrics().await;
        if !metrics.contains("watchparty_slow_consumers_closed_total 0") {
            break;
        }
        assert!(sent < 1000, "never shed");
    }
    // Whatever was written before the shedding arrives whole and in
    // order, and the close frame comes last, after a whole frame.
    let mut seen = Vec::new();
    let code = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut stream))
            .await
            .expect("the server ends the connection");
        let (opcode, payload) = frame.expect("a close frame before the end of the stream");
        if opcode == 0x8 {
            break u16::from_be_bytes([payload[0], payload[1]]);
        }
        if let Some(message) = message(opcode, &payload) {
            if message["type"] == "ROOM_UPDATED" {
                seen.push(index_of(&message));
            }
        }
    };
    assert_eq!(code, 1013);
    assert!(
        !seen.is_empty() && seen.len() < sent as usize,
        "{seen:?} of {sent}"
    );
    assert_eq!(seen, (0..seen.len() as u64).collect::<Vec<_>>());
    host.abort();
    server.stop().await;
}
