//! What a join costs the database: a user following a link joins over HTTP,
//! takes a WebSocket token and opens the room's socket up to its first
//! `PLAYBACK_STATE`. Counted by the server itself
//! (`watchparty_db_round_trips_total{work="requests"}` on `/metrics`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use watchparty_testkit::{ApiClient, TestServer, WsClient};

/// Round trips (and statements) a join may cost once the room's rows are
/// warm on the instance.
const MOST_ROUND_TRIPS: u64 = 3;

/// The database work done for requests so far: (round trips, statements).
pub(crate) async fn db_work(client: &ApiClient) -> (u64, u64) {
    let text = client.metrics().await;
    let read = |name: &str| {
        let line = format!("{name}{{work=\"requests\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("{name} in /metrics"))
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    (
        read("watchparty_db_round_trips_total"),
        read("watchparty_db_statements_total"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_into_a_warm_room_costs_at_most_three_round_trips() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let code = ana.create_room("link").await;
    let mut host = ana.enter(&code).await;
    let mut viewers = Vec::new();
    for n in 0..8 {
        viewers.push(server.user(&format!("viewer{n}")).await);
    }
    // The first viewer warms what a room's first join reads.
    let first = viewers.remove(0);
    let mut sockets: Vec<WsClient> = vec![first.enter(&code).await];
    host.recv_type("USER_JOINED").await;
    let client = server.client();
    let mut costs = Vec::new();
    for viewer in &viewers {
        let before = db_work(&client).await;
        viewer.join(&code).await;
        let token = viewer.token().await;
        let mut socket = WsClient::connect(server.port, &code, Some(&token), None)
            .await
            .expect("socket accepted");
        socket.recv_type("PLAYBACK_STATE").await;
        let after = db_work(&client).await;
        costs.push((after.0 - before.0, after.1 - before.1));
        sockets.push(socket);
        host.recv_type("USER_JOINED").await;
    }
    println!("per join (round trips, statements): {costs:?}");
    for (n, (round_trips, _)) in costs.iter().enumerate() {
        assert!(
            *round_trips <= MOST_ROUND_TRIPS,
            "join {n} made {round_trips} round trips: {costs:?}"
        );
    }
    // And joining again (a reload of the page) costs no more.
    let again = &viewers[0];
    let before = db_work(&client).await;
    again.join(&code).await;
    let token = again.token().await;
    let mut socket = WsClient::connect(server.port, &code, Some(&token), None)
        .await
        .expect("socket accepted");
    socket.recv_type("PLAYBACK_STATE").await;
    let after = db_work(&client).await;
    println!(
        "joining again: {:?}",
        (after.0 - before.0, after.1 - before.1)
    );
    assert!(after.0 - before.0 <= MOST_ROUND_TRIPS);
    server.stop().await;
}
