//! The service on a clock the test moves: a ten-minute grace runs out
//! without the test waiting ten minutes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;
use watchparty_protocol::http::CreateRoomRequest;
use watchparty_service::{
    Caller, ChatLimit, Config, DatabaseConfig, Limits, LiveStateBackend, ManualClock, Outgoing,
    Service, SocketSession,
};

async fn service(dir: &tempfile::TempDir, clock: Arc<ManualClock>) -> Service {
    let config = Config {
        database: DatabaseConfig {
            url: format!("sqlite://{}", dir.path().join("db.sqlite").display()),
            connect_timeout: Duration::from_secs(5),
        },
        live_state: LiveStateBackend::InProcess,
        host_grace: Duration::from_secs(600),
        jwt_secret: b"clock-test-secret-clock-test-secret-0123".to_vec().into(),
        ws_token_ttl: Duration::from_secs(60),
        outbox_capacity: 64,
        sweep_interval: Duration::from_millis(10),
        chat_limit: ChatLimit::default(),
        max_sockets_per_user: 8,
        limits: Limits::default(),
    };
    Service::start_with_clock(config, clock).await.unwrap()
}

async fn enter(service: &Service, caller: &Caller, code: &str) -> SocketSession {
    let token = service
        .issue_ws_token(caller.user_id(), None)
        .await
        .unwrap()
        .token;
    let ticket = service
        .authorize_socket(Some(&token), code, caller.address())
        .await
        .unwrap();
    service.open_socket(ticket, None).await.unwrap()
}

/// The `type` of the next text frame within `wait` real seconds.
async fn next_type(session: &mut SocketSession, wait: Duration) -> Option<String> {
    let frame = tokio::time::timeout(wait, session.outbox.recv())
        .await
        .ok()??;
    match frame {
        Outgoing::Frame(frame) => {
            let value: serde_json::Value = serde_json::from_slice(frame.payload()).unwrap();
            Some(value["type"].as_str().unwrap_or_default().to_owned())
        }
        Outgoing::Close(code) => Some(format!("close {code}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grace_runs_out_when_the_clock_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let service = service(&dir, Arc::clone(&clock)).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let sweeper = tokio::spawn({
        let service = service.clone();
        let stop = stop.clone();
        async move { service.run_grace_sweeper(stop).await }
    });
    let ana = service
        .register("ana@example.com", "correct horse", Some("ana"), "192.0.2.1")
        .await
        .unwrap();
    let bo = service
        .register("bo@example.com", "correct horse", Some("bo"), "192.0.2.2")
        .await
        .unwrap();
    let (ana, bo) = (
        Caller::new(ana.id, "192.0.2.1"),
        Caller::new(bo.id, "192.0.2.2"),
    );
    let room = service
        .create_room(
            &ana,
            CreateRoomRequest {
                name: "film".into(),
                is_private: None,
                is_chat_enabled: None,
                media_url: None,
            },
        )
        .await
        .unwrap();
    service.join_room(&bo, &room.code).await.unwrap();
    let host = enter(&service, &ana, &room.code).await;
    let mut viewer = enter(&service, &bo, &room.code).await;
    service.close_socket(&host.handle).await.unwrap();
    let wait = Duration::from_secs(5);
    let mut seen = Vec::new();
    while !seen.iter().any(|t| t == "HOST_DISCONNECTED") {
        seen.push(
            next_type(&mut viewer, wait)
                .await
                .expect("HOST_DISCONNECTED"),
        );
    }
    // The frozen playback follows the notice.
    assert_eq!(
        next_type(&mut viewer, wait).await.as_deref(),
        Some("PLAYBACK_STATE")
    );
    // Nine minutes in, the sweeper has run many times and the room is open.
    clock.advance(Duration::from_secs(540));
    assert_eq!(
        next_type(&mut viewer, Duration::from_millis(300)).await,
        None
    );
    let (view, _) = service.get_room(&bo, &room.code).await.unwrap();
    assert_eq!(view.status, "grace");
    // Past the deadline: the next sweep closes it, once.
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        next_type(&mut viewer, wait).await.as_deref(),
        Some("ROOM_CLOSED")
    );
    assert_eq!(
        next_type(&mut viewer, wait).await.as_deref(),
        Some("close 4002")
    );
    let (view, _) = service.get_room(&bo, &room.code).await.unwrap();
    assert_eq!(view.status, "closed");
    stop.cancel();
    sweeper.await.unwrap();
}
