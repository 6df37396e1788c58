//! §7 roles and capabilities: the Room's new fields, the participants list,
//! appointing and demoting co-hosts, CAPABILITIES, and the new settings.

use super::*;
use watchparty_testkit::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_room_has_its_owner_and_the_default_settings() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let (status, created) = ana.post("/api/rooms/", json!({"name": "film"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let code = created["room"]["code"].as_str().unwrap().to_owned();
    let fetched = room(&ana, &code).await;
    for room in [&created["room"], &fetched["room"]] {
        assert_eq!(room["owner"], public(&ana), "the creator owns it: {room}");
        assert_eq!(room["host"], public(&ana), "and hosts it: {room}");
        assert_eq!(room["control"], "host", "{room}");
        assert_eq!(room["on_host_timeout"], "close", "{room}");
        assert_eq!(room["wait_policy"], "start", "{room}");
        assert_eq!(room["viewers_can_queue"], true, "{room}");
        assert_eq!(room["queue_mode"], "manual", "{room}");
        assert!(room["host_epoch"].is_number(), "host_epoch: {room}");
    }
    let playback = &fetched["playback"];
    assert_eq!(playback["rate"], 1.0, "§11 rate defaults to 1: {playback}");
    assert!(
        playback["version"].is_number(),
        "rule 10 version over HTTP: {playback}"
    );

    // The join answer's participant is a §7 Participant (rule 21).
    let joined = bob.join(&code).await;
    let participant = &joined["participant"];
    assert_participant(participant);
    assert_eq!(participant["user"], public(&bob));
    assert_eq!(participant["role"], "viewer");
    assert_eq!(participant["is_muted"], false);
    assert_eq!(participant["muted_until"], Value::Null);
    assert_eq!(participant["is_connected"], false);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_follow_presence_and_presence_carries_roles() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let bob = server.user("bob").await;
    let code = ana.create_room("film").await;
    bob.join(&code).await;

    let (mut host, [state, presence, capabilities]) = open(&ana, &code).await;
    assert_eq!(state["rate"], 1.0, "{state}");
    assert!(state["version"].is_number(), "{state}");
    assert!(
        state.get("by").is_some(),
        "PLAYBACK_STATE carries by: {state}"
    );
    assert_eq!(
        presence["users"],
        json!([{"id": ana.id, "display_name": "ana", "is_host": true, "role": "host"}])
    );
    assert_eq!(capabilities["role"], "host");
    assert_eq!(caps(&capabilities), set(&HOST_CAPS));

    let (mut viewer, [_, presence, capabilities]) = open(&bob, &code).await;
    let mut users = presence["users"].as_array().unwrap().clone();
    users.sort_by_key(|u| u["id"].as_i64());
    let mut expected = vec![
        json!({"id": ana.id, "display_name": "ana", "is_host": true, "role": "host"}),
        json!({"id": bob.id, "display_name": "bob", "is_host": false, "role": "viewer"}),
    ];
    expected.sort_by_key(|u| u["id"].as_i64());
    assert_eq!(users, expected);
    assert_eq!(capabilities["role"], "viewer");
    assert_eq!(caps(&capabilities), set(&VIEWER_CAPS));
    host.recv_type("USER_JOINED").await;
    host.expect_silence(QUIET).await;
    viewer.expect_silence(Duration::ZERO).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_co_host_drives_playback_until_demoted() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let mut bob_tab2 = open(bob, &code).await.0;

    let answer = put_role(ana, &code, bob.id, "co_host").await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_participant(&answer.1["participant"]);
    assert_eq!(answer.1["participant"]["role"], "co_host");
    assert_eq!(answer.1["participant"]["user"], public(bob));
    assert_eq!(answer.1["participant"]["is_connected"], true);

    for (i, socket) in sockets.iter_mut().enumerate() {
        let updated = socket.recv_until("PARTICIPANT_UPDATED").await;
        assert_eq!(updated["participant"]["user"], public(bob), "socket {i}");
        assert_eq!(updated["participant"]["role"], "co_host");
        assert_eq!(updated["by"], public(ana));
    }
    for socket in [&mut sockets[1], &mut bob_tab2] {
        let capabilities = socket.recv_until("CAPABILITIES").await;
        assert_eq!(capabilities["role"], "co_host");
        assert_eq!(caps(&capabilities), set(&CO_HOST_CAPS));
    }
    for socket in pick(&mut sockets, &[0, 2]) {
        let rest = gather(socket, QUIET).await;
        assert!(
            !types(&rest).contains(&"CAPABILITIES"),
            "only the user concerned gets CAPABILITIES: {rest:?}"
        );
    }

    // Joining again answers the §7 Participant with its role (rule 21); a
    // new socket's PRESENCE and CAPABILITIES say co_host.
    let again = bob.join(&code).await;
    assert_eq!(again["participant"]["role"], "co_host", "{again}");
    let (tab3, [_, presence, capabilities]) = open(bob, &code).await;
    let me = presence["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == bob.id)
        .cloned()
        .unwrap();
    assert_eq!(me["role"], "co_host", "{presence}");
    assert_eq!(me["is_host"], false);
    assert_eq!(capabilities["role"], "co_host");
    tab3.close().await;

    // The co-host seeks: the others follow, with by and a version.
    let before = room(cat, &code).await["playback"]["version"]
        .as_i64()
        .unwrap();
    sockets[1].send(json!({"type": "SEEK", "time": 42.0})).await;
    for socket in pick(&mut sockets, &[0, 2])
        .into_iter()
        .chain([&mut bob_tab2])
    {
        let seek = socket.recv_type("SEEK").await;
        assert_eq!(seek["time"], 42.0);
        assert_eq!(seek["by"], public(bob));
        assert_eq!(seek["version"].as_i64(), Some(before + 1), "{seek}");
    }
    sockets[1].expect_silence(QUIET).await;

    // Demoted, the same seek is ignored.
    let answer = put_role(ana, &code, bob.id, "viewer").await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_eq!(answer.1["participant"]["role"], "viewer");
    let capabilities = sockets[1].recv_until("CAPABILITIES").await;
    assert_eq!(caps(&capabilities), set(&VIEWER_CAPS));
    bob_tab2.recv_until("CAPABILITIES").await;
    sockets[2].recv_until("PARTICIPANT_UPDATED").await;
    sockets[1].send(json!({"type": "SEEK", "time": 7.0})).await;
    sockets[2].expect_silence(QUIET).await;
    let playback = &room(cat, &code).await["playback"];
    assert_eq!(playback["time"], 42.0, "a viewer's SEEK changes nothing");
    assert_eq!(playback["version"].as_i64(), Some(before + 1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_endpoint_refuses_what_the_contract_refuses() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let stranger = server.user("dan").await;
    let path = |id: i64| format!("/api/rooms/{code}/participants/{id}/role/");

    for body in [
        json!({"role": "host"}),
        json!({"role": "admin"}),
        json!({"role": 1}),
        json!({}),
    ] {
        let answer = put(ana, &path(bob.id), body.clone()).await;
        refused(
            &format!("PUT role {body}"),
            &answer,
            StatusCode::BAD_REQUEST,
            "validation_error",
        );
    }
    refused(
        "a viewer appointing",
        &put_role(cat, &code, bob.id, "co_host").await,
        StatusCode::FORBIDDEN,
        "not_host",
    );
    refused(
        "a stranger appointing",
        &put_role(&stranger, &code, bob.id, "co_host").await,
        StatusCode::FORBIDDEN,
        "not_host",
    );
    refused(
        "a target who never joined",
        &put_role(ana, &code, stranger.id, "co_host").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "a user id that names nobody",
        &put_role(ana, &code, 987_654_321, "co_host").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    refused(
        "demoting the host",
        &put_role(ana, &code, ana.id, "viewer").await,
        StatusCode::CONFLICT,
        "conflict",
    );
    refused(
        "an unknown room",
        &put_role(ana, "ZZZZZZZZZZ", bob.id, "co_host").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let anonymous = server.client();
    let answer = watchparty_testkit::answer(
        anonymous
            .http
            .put(anonymous.url(&path(bob.id)))
            .json(&json!({"role": "co_host"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    refused(
        "not logged in",
        &answer,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    );

    // A co-host holds no manage_roles.
    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    for socket in sockets.iter_mut() {
        socket.recv_until("PARTICIPANT_UPDATED").await;
    }
    sockets[1].recv_until("CAPABILITIES").await;
    refused(
        "a co-host appointing",
        &put_role(bob, &code, cat.id, "co_host").await,
        StatusCode::FORBIDDEN,
        "not_host",
    );

    // A role it already has: 200, nothing sent, nothing recorded (rule 8).
    let entries = audit(ana, &code, "").await.len();
    let answer = put_role(ana, &code, bob.id, "co_host").await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_eq!(answer.1["participant"]["role"], "co_host");
    let answer = put_role(ana, &code, cat.id, "viewer").await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    assert_eq!(
        audit(ana, &code, "").await.len(),
        entries,
        "nothing recorded"
    );
    let list = participants(ana, &code).await;
    assert_eq!(
        roster(&list),
        vec![
            (ana.id, "host".to_owned()),
            (bob.id, "co_host".to_owned()),
            (cat.id, "viewer".to_owned())
        ]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_are_listed_host_then_co_hosts_then_viewers() {
    let server = TestServer::start().await;
    let ana = server.user("ana").await;
    let code = ana.create_room("film").await;
    let mut people = Vec::new();
    for name in ["bob", "cat", "dan", "eve"] {
        let user = server.user(name).await;
        user.join(&code).await;
        people.push(user);
        // joined_at must differ between them.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (bob, cat, dan, eve) = (&people[0], &people[1], &people[2], &people[3]);
    // Co-hosts cat and eve, appointed in join order; bob and dan stay viewers.
    assert_eq!(
        put_role(&ana, &code, cat.id, "co_host").await.0,
        StatusCode::OK
    );
    assert_eq!(
        put_role(&ana, &code, eve.id, "co_host").await.0,
        StatusCode::OK
    );
    let _dan_socket = open(dan, &code).await.0;

    let list = participants(bob, &code).await;
    for p in &list {
        assert_participant(p);
        assert_eq!(p["is_approved"], true);
    }
    assert_eq!(
        roster(&list),
        vec![
            (ana.id, "host".to_owned()),
            (cat.id, "co_host".to_owned()),
            (eve.id, "co_host".to_owned()),
            (bob.id, "viewer".to_owned()),
            (dan.id, "viewer".to_owned()),
        ]
    );
    let connected: Vec<bool> = list.iter().map(|p| p["is_connected"] == true).collect();
    assert_eq!(
        connected,
        vec![false, false, false, false, true],
        "{list:?}"
    );

    let outsider = server.user("zed").await;
    let (status, body) = outsider
        .get(&format!("/api/rooms/{code}/participants/"))
        .await;
    refused(
        "a non-participant",
        &(status, body),
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, body) = server
        .client()
        .get(&format!("/api/rooms/{code}/participants/"))
        .await;
    refused(
        "no session",
        &(status, body),
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    );
    let (status, body) = bob.get("/api/rooms/ZZZZZZZZZZ/participants/").await;
    refused(
        "unknown room",
        &(status, body),
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // A private room's list is hidden from outsiders as an unknown code.
    let private = ana
        .create_room_with(json!({"name": "secret", "is_private": true}))
        .await;
    let (status, body) = outsider
        .get(&format!("/api/rooms/{private}/participants/"))
        .await;
    refused(
        "private room, outsider",
        &(status, body),
        StatusCode::NOT_FOUND,
        "not_found",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_everyone_lets_viewers_drive_and_queue_setting_narrows_them() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);

    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"control": "everyone"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["control"], "everyone");
    for socket in sockets.iter_mut() {
        let updated = socket.recv_until("ROOM_UPDATED").await;
        assert_eq!(updated["room"]["control"], "everyone");
    }
    let capabilities = sockets[1].recv_until("CAPABILITIES").await;
    assert_eq!(capabilities["role"], "viewer");
    assert_eq!(
        caps(&capabilities),
        set(&["control_playback", "chat", "add_to_queue"])
    );
    // The host's capabilities did not change: no CAPABILITIES for them.
    let rest = gather(&mut sockets[0], QUIET).await;
    assert!(!types(&rest).contains(&"CAPABILITIES"), "{rest:?}");

    sockets[1].send(json!({"type": "PLAY", "time": 3.0})).await;
    let play = sockets[0].recv_type("PLAY").await;
    assert_eq!(play["by"], public(bob));
    assert_eq!(play["time"], 3.0);

    let (status, body) = ana
        .patch(
            &format!("/api/rooms/{code}/"),
            json!({"control": "host", "viewers_can_queue": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["room"]["viewers_can_queue"], false);
    let capabilities = sockets[1].recv_until("CAPABILITIES").await;
    assert_eq!(caps(&capabilities), set(&["chat"]));
    sockets[1].send(json!({"type": "PAUSE", "time": 4.0})).await;
    sockets[0].recv_until("ROOM_UPDATED").await;
    sockets[0].expect_silence(QUIET).await;
    assert_eq!(room(bob, &code).await["playback"]["is_playing"], true);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_settings_are_patched_by_edit_room_holders_alone() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let path = format!("/api/rooms/{code}/");

    let answer = cat
        .patch(&path, json!({"on_host_timeout": "promote"}))
        .await;
    refused(
        "a viewer's PATCH",
        &answer,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    for body in [
        json!({"control": "all"}),
        json!({"on_host_timeout": "wait"}),
        json!({"wait_policy": "never"}),
        json!({"viewers_can_queue": "yes"}),
        json!({"queue_mode": "random"}),
    ] {
        let answer = ana.patch(&path, body.clone()).await;
        refused(
            &format!("PATCH {body}"),
            &answer,
            StatusCode::BAD_REQUEST,
            "validation_error",
        );
    }
    for socket in sockets.iter_mut() {
        socket.expect_silence(Duration::from_millis(150)).await;
    }

    assert_eq!(
        put_role(ana, &code, bob.id, "co_host").await.0,
        StatusCode::OK
    );
    for socket in sockets.iter_mut() {
        socket.recv_until("PARTICIPANT_UPDATED").await;
    }
    sockets[1].recv_until("CAPABILITIES").await;
    let (status, body) = bob
        .patch(
            &path,
            json!({"on_host_timeout": "promote", "wait_policy": "off", "queue_mode": "vote"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a co-host holds edit_room: {body}");
    assert_eq!(body["room"]["on_host_timeout"], "promote");
    assert_eq!(body["room"]["wait_policy"], "off");
    assert_eq!(body["room"]["queue_mode"], "vote");
    for socket in sockets.iter_mut() {
        let updated = socket.recv_until("ROOM_UPDATED").await;
        assert_eq!(updated["room"]["on_host_timeout"], "promote");
        // A new play order is one queue change, with no item (§13 rule 18).
        let reordered = socket.recv_type("QUEUE_UPDATED").await;
        assert_eq!(reordered["op"], "moved");
        assert!(reordered.get("item").is_none(), "{reordered}");
    }
    let entries = audit(ana, &code, "").await;
    assert_eq!(entries[0]["action"], "room_updated", "{entries:?}");
    assert_eq!(entries[0]["actor"], public(bob));
    let mut fields: Vec<String> = entries[0]["detail"]["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("detail.fields: {}", entries[0]))
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    fields.sort();
    assert_eq!(fields, vec!["on_host_timeout", "queue_mode", "wait_policy"]);

    // An empty PATCH, and one that repeats the current values: 200, nothing
    // sent, nothing recorded (§7, rule 8).
    let count = entries.len();
    for body in [
        json!({}),
        json!({"on_host_timeout": "promote", "name": "together"}),
    ] {
        let (status, answer) = ana.patch(&path, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "PATCH {body}: {answer}");
        assert_eq!(answer["room"]["on_host_timeout"], "promote");
    }
    for socket in sockets.iter_mut() {
        socket.expect_silence(QUIET).await;
    }
    assert_eq!(audit(ana, &code, "").await.len(), count);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_belongs_to_the_owner_alone() {
    let server = TestServer::start().await;
    let (code, people, mut sockets) = gathering(&server, &["ana", "bob", "cat"]).await;
    let (ana, bob, cat) = (&people[0], &people[1], &people[2]);
    let path = format!("/api/rooms/{code}/");
    assert_eq!(
        put_role(ana, &code, cat.id, "co_host").await.0,
        StatusCode::OK
    );
    refused(
        "a co-host deleting",
        &cat.delete(&path).await,
        StatusCode::FORBIDDEN,
        "not_owner",
    );

    let (status, body) = ana
        .post(
            &format!("/api/rooms/{code}/host/"),
            json!({"user_id": bob.id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    refused(
        "the host who is not the owner deleting",
        &bob.delete(&path).await,
        StatusCode::FORBIDDEN,
        "not_owner",
    );
    assert_eq!(ana.delete(&path).await.0, StatusCode::NO_CONTENT);
    for socket in sockets.iter_mut() {
        assert_eq!(socket.recv_until("ROOM_CLOSED").await["reason"], "deleted");
        assert_eq!(socket.closed_with().await, Some(4001));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_and_host_epoch_are_not_settings() {
    let server = TestServer::start().await;
    let (code, people, _sockets) = gathering(&server, &["ana", "bob"]).await;
    let (ana, bob) = (&people[0], &people[1]);
    let before = room(ana, &code).await["room"].clone();
    for body in [
        json!({"host_epoch": 99}),
        json!({"owner": {"id": bob.id, "display_name": "bob"}}),
        json!({"owner": bob.id}),
    ] {
        let (status, answer) = ana
            .patch(&format!("/api/rooms/{code}/"), body.clone())
            .await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "PATCH {body}: {status} {answer}"
        );
        let after = room(ana, &code).await["room"].clone();
        assert_eq!(after["owner"], before["owner"], "PATCH {body}");
        assert_eq!(after["host_epoch"], before["host_epoch"], "PATCH {body}");
    }
    server.stop().await;
}
