//! Golden JSON for every message of docs/protocol.md: the exact bytes clients see.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use watchparty_protocol::*;

fn user() -> PublicUser {
    PublicUser {
        id: 7,
        display_name: "ana".into(),
    }
}

fn room() -> Room {
    Room {
        code: "K7Q2M9XAPD".into(),
        name: "Friday film".into(),
        host: user(),
        owner: user(),
        is_private: false,
        is_chat_enabled: true,
        media_url: None,
        status: "open".into(),
        viewer_count: 3,
        created_at: "2026-11-23T20:00:00Z".into(),
        control: "host".into(),
        on_host_timeout: "close".into(),
        wait_policy: "start".into(),
        viewers_can_queue: true,
        queue_mode: "manual".into(),
        host_epoch: 0,
        current_item: None,
        queue_version: 0,
    }
}

fn golden(message: ServerMessage, expected: Value) {
    let text = message.to_json();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        expected,
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<ServerMessage>(&text).unwrap(),
        message
    );
    // What docs/ws-schema.json promises holds for every golden message.
    let conforms = support::conforms("ServerMessage", &expected);
    assert!(
        conforms.is_ok(),
        "{expected} does not match the published schema: {conforms:?}"
    );
}

#[test]
fn server_messages_match_the_contract() {
    let t = 1_763_928_000_000;
    golden(
        ServerMessage::PlaybackState {
            is_playing: false,
            time: 12.5,
            server_time: t,
            rate: 1.0,
            version: 3,
            by: None,
            waiting: None,
            item_id: None,
            resync: None,
        },
        json!({"type": "PLAYBACK_STATE", "is_playing": false, "time": 12.5, "server_time": t,
               "rate": 1.0, "version": 3, "by": null, "waiting": null, "item_id": null}),
    );
    let ana = PublicUser {
        id: 7,
        display_name: "ana".into(),
    };
    golden(
        ServerMessage::PlaybackState {
            is_playing: false,
            time: 60.0,
            server_time: t,
            rate: 1.0,
            version: 4,
            by: None,
            waiting: Some(Waiting {
                waiting_for: vec![ana.clone()],
                reason: "seek".into(),
                deadline: t + 10_000,
            }),
            item_id: Some(41),
            resync: Some(true),
        },
        json!({"type": "PLAYBACK_STATE", "is_playing": false, "time": 60.0, "server_time": t,
               "rate": 1.0, "version": 4, "by": null,
               "waiting": {"for": [{"id": 7, "display_name": "ana"}], "reason": "seek",
                           "deadline": t + 10_000},
               "item_id": 41, "resync": true}),
    );
    golden(
        ServerMessage::Waiting {
            waiting_for: vec![ana.clone()],
            reason: "play".into(),
            deadline: t + 10_000,
        },
        json!({"type": "WAITING", "for": [{"id": 7, "display_name": "ana"}], "reason": "play",
               "deadline": t + 10_000}),
    );
    golden(
        ServerMessage::WaitSkipped {
            users: vec![ana.clone()],
        },
        json!({"type": "WAIT_SKIPPED", "users": [{"id": 7, "display_name": "ana"}]}),
    );
    golden(
        ServerMessage::YourSync {
            drift_ms: Some(-412.5),
            rtt_ms: 38.0,
        },
        json!({"type": "YOUR_SYNC", "drift_ms": -412.5, "rtt_ms": 38.0}),
    );
    golden(
        ServerMessage::YourSync {
            drift_ms: None,
            rtt_ms: 38.0,
        },
        json!({"type": "YOUR_SYNC", "drift_ms": null, "rtt_ms": 38.0}),
    );
    golden(
        ServerMessage::SyncStats {
            users: vec![SyncLine {
                user: ana.clone(),
                drift_ms: -412.5,
                rtt_ms: 38.0,
                state: "playing".into(),
                updated_at: t,
            }],
            p50_abs_drift_ms: 412.5,
            p95_abs_drift_ms: 412.5,
        },
        json!({"type": "SYNC_STATS",
               "users": [{"user": {"id": 7, "display_name": "ana"}, "drift_ms": -412.5,
                          "rtt_ms": 38.0, "state": "playing", "updated_at": t}],
               "p50_abs_drift_ms": 412.5, "p95_abs_drift_ms": 412.5}),
    );
    golden(
        ServerMessage::Presence {
            users: vec![PresentUser {
                id: 7,
                display_name: "ana".into(),
                is_host: true,
                role: "host".into(),
            }],
            host_status: HostStatus::Online,
        },
        json!({"type": "PRESENCE", "users": [{"id": 7, "display_name": "ana", "is_host": true, "role": "host"}], "host_status": "online"}),
    );
    golden(
        ServerMessage::Presence {
            users: vec![],
            host_status: HostStatus::Grace,
        },
        json!({"type": "PRESENCE", "users": [], "host_status": "grace"}),
    );
    golden(
        ServerMessage::Presence {
            users: vec![],
            host_status: HostStatus::Offline,
        },
        json!({"type": "PRESENCE", "users": [], "host_status": "offline"}),
    );
    golden(
        ServerMessage::UserJoined { user: user() },
        json!({"type": "USER_JOINED", "user": {"id": 7, "display_name": "ana"}}),
    );
    golden(
        ServerMessage::UserLeft { user: user() },
        json!({"type": "USER_LEFT", "user": {"id": 7, "display_name": "ana"}}),
    );
    golden(
        ServerMessage::Play {
            time: 1.0,
            server_time: t,
            version: 4,
            by: Some(user()),
        },
        json!({"type": "PLAY", "time": 1.0, "server_time": t, "version": 4,
               "by": {"id": 7, "display_name": "ana"}}),
    );
    golden(
        ServerMessage::Pause {
            time: 2.0,
            server_time: t,
            version: 4,
            by: Some(user()),
        },
        json!({"type": "PAUSE", "time": 2.0, "server_time": t, "version": 4,
               "by": {"id": 7, "display_name": "ana"}}),
    );
    golden(
        ServerMessage::Seek {
            time: 3.5,
            server_time: t,
            version: 4,
            by: Some(user()),
        },
        json!({"type": "SEEK", "time": 3.5, "server_time": t, "version": 4,
               "by": {"id": 7, "display_name": "ana"}}),
    );
    golden(
        ServerMessage::ChatMessage {
            id: 42,
            user: user(),
            message: "hi".into(),
            created_at: "2026-11-23T20:00:00Z".into(),
        },
        json!({"type": "CHAT_MESSAGE", "id": 42, "user": {"id": 7, "display_name": "ana"}, "message": "hi", "created_at": "2026-11-23T20:00:00Z"}),
    );
    golden(
        ServerMessage::Pong {
            client_time: serde_json::Number::from(123u64),
            server_time: t,
        },
        json!({"type": "PONG", "client_time": 123, "server_time": t}),
    );
    golden(
        ServerMessage::error("chat_disabled", "Chat is disabled in this room"),
        json!({"type": "ERROR", "code": "chat_disabled", "message": "Chat is disabled in this room"}),
    );
    golden(
        ServerMessage::Error {
            code: "stale_version".into(),
            message: "stale".into(),
            version: Some(9),
            until: None,
        },
        json!({"type": "ERROR", "code": "stale_version", "message": "stale", "version": 9}),
    );
    golden(
        ServerMessage::Error {
            code: "muted".into(),
            message: "You are muted in this room".into(),
            version: None,
            until: Some(None),
        },
        json!({"type": "ERROR", "code": "muted", "message": "You are muted in this room", "until": null}),
    );
    golden(
        ServerMessage::Rate {
            rate: 1.5,
            time: 10.0,
            server_time: t,
            version: 5,
            by: Some(user()),
        },
        json!({"type": "RATE", "rate": 1.5, "time": 10.0, "server_time": t, "version": 5,
               "by": {"id": 7, "display_name": "ana"}}),
    );
    golden(
        ServerMessage::HostChanged {
            host: user(),
            previous: PublicUser {
                id: 8,
                display_name: "bo".into(),
            },
            reason: "transferred".into(),
            host_epoch: 1,
        },
        json!({"type": "HOST_CHANGED", "host": {"id": 7, "display_name": "ana"},
               "previous": {"id": 8, "display_name": "bo"}, "reason": "transferred", "host_epoch": 1}),
    );
    golden(
        ServerMessage::Capabilities {
            role: "co_host".into(),
            capabilities: vec!["control_playback".into(), "chat".into()],
        },
        json!({"type": "CAPABILITIES", "role": "co_host", "capabilities": ["control_playback", "chat"]}),
    );
    golden(
        ServerMessage::ParticipantUpdated {
            participant: Participant {
                user: user(),
                role: "viewer".into(),
                is_approved: true,
                joined_at: "2026-11-23T20:00:00Z".into(),
                is_muted: true,
                muted_until: None,
                is_connected: false,
            },
            by: None,
        },
        json!({"type": "PARTICIPANT_UPDATED", "participant": {"user": {"id": 7, "display_name": "ana"},
               "role": "viewer", "is_approved": true, "joined_at": "2026-11-23T20:00:00Z",
               "is_muted": true, "muted_until": null, "is_connected": false}, "by": null}),
    );
    golden(
        ServerMessage::Removed {
            action: "kicked".into(),
            reason: Some("spam".into()),
            until: Some("2026-11-23T20:05:00Z".into()),
        },
        json!({"type": "REMOVED", "action": "kicked", "reason": "spam", "until": "2026-11-23T20:05:00Z"}),
    );
    golden(
        ServerMessage::ParticipantRemoved {
            user: user(),
            action: "banned".into(),
            by: PublicUser {
                id: 8,
                display_name: "bo".into(),
            },
        },
        json!({"type": "PARTICIPANT_REMOVED", "user": {"id": 7, "display_name": "ana"},
               "action": "banned", "by": {"id": 8, "display_name": "bo"}}),
    );
    golden(
        ServerMessage::HostDisconnected {
            grace_expires_at: "2026-11-23T20:10:00Z".into(),
            grace_seconds: 600,
        },
        json!({"type": "HOST_DISCONNECTED", "grace_expires_at": "2026-11-23T20:10:00Z", "grace_seconds": 600}),
    );
    golden(
        ServerMessage::HostReconnected,
        json!({"type": "HOST_RECONNECTED"}),
    );
    golden(
        ServerMessage::RoomUpdated {
            room: Box::new(room()),
        },
        json!({"type": "ROOM_UPDATED", "room": {
            "code": "K7Q2M9XAPD", "name": "Friday film", "host": {"id": 7, "display_name": "ana"},
            "owner": {"id": 7, "display_name": "ana"},
            "is_private": false, "is_chat_enabled": true, "media_url": null,
            "status": "open", "viewer_count": 3, "created_at": "2026-11-23T20:00:00Z",
            "control": "host", "on_host_timeout": "close", "wait_policy": "start",
            "viewers_can_queue": true, "queue_mode": "manual", "host_epoch": 0,
            "current_item": null, "queue_version": 0}}),
    );
    let item = QueueItem {
        id: 41,
        media_url: "https://example.com/b.mp4".into(),
        title: Some("Second".into()),
        duration: Some(61.5),
        added_by: ana.clone(),
        added_at: "2026-11-23T20:00:00Z".into(),
        votes: 2,
        voted_by_me: None,
    };
    golden(
        ServerMessage::QueueUpdated {
            queue_version: 5,
            op: "added".into(),
            item: Some(item),
            by: Some(ana.clone()),
        },
        json!({"type": "QUEUE_UPDATED", "queue_version": 5, "op": "added",
               "item": {"id": 41, "media_url": "https://example.com/b.mp4", "title": "Second",
                        "duration": 61.5, "added_by": {"id": 7, "display_name": "ana"},
                        "added_at": "2026-11-23T20:00:00Z", "votes": 2},
               "by": {"id": 7, "display_name": "ana"}}),
    );
    golden(
        ServerMessage::QueueUpdated {
            queue_version: 6,
            op: "advanced".into(),
            item: None,
            by: None,
        },
        json!({"type": "QUEUE_UPDATED", "queue_version": 6, "op": "advanced", "by": null}),
    );
    golden(
        ServerMessage::RoomClosed {
            reason: CloseReason::Deleted,
        },
        json!({"type": "ROOM_CLOSED", "reason": "deleted"}),
    );
    golden(
        ServerMessage::RoomClosed {
            reason: CloseReason::HostTimeout,
        },
        json!({"type": "ROOM_CLOSED", "reason": "host_timeout"}),
    );
    assert_eq!(CloseReason::Deleted.close_code(), 4001);
    assert_eq!(CloseReason::HostTimeout.close_code(), 4002);
}

#[test]
fn client_messages_parse() {
    assert_eq!(
        parse_client_message(r#"{"type":"PLAY","time":12.5}"#),
        Some(ClientMessage::Play {
            time: 12.5,
            if_version: None,
            at: None
        })
    );
    assert_eq!(
        parse_client_message(r#"{"type":"PAUSE","time":0}"#),
        Some(ClientMessage::Pause {
            time: 0.0,
            if_version: None,
            at: None
        })
    );
    assert_eq!(
        parse_client_message(r#"{"type":"SEEK","time":1000000}"#),
        Some(ClientMessage::Seek {
            time: 1e6,
            if_version: None,
            at: None
        })
    );
    assert_eq!(
        parse_client_message(r#"{"type":"SEEK","time":4,"if_version":7}"#),
        Some(ClientMessage::Seek {
            time: 4.0,
            if_version: Some(7),
            at: None
        })
    );
    assert_eq!(
        parse_client_message(r#"{"type":"PLAY","time":3,"at":1763928000123.4}"#),
        Some(ClientMessage::Play {
            time: 3.0,
            if_version: None,
            at: Some(1_763_928_000_123.4)
        })
    );
    assert_eq!(
        parse_client_message(r#"{"type":"RATE","rate":1.5}"#),
        Some(ClientMessage::Rate {
            rate: 1.5,
            if_version: None,
            at: None
        })
    );
    for refused in [
        r#"{"type":"RATE","rate":0.2}"#,
        r#"{"type":"RATE","rate":4.01}"#,
        r#"{"type":"RATE"}"#,
        r#"{"type":"SEEK","time":4,"if_version":-1}"#,
        r#"{"type":"SEEK","time":4,"if_version":"7"}"#,
    ] {
        assert_eq!(parse_client_message(refused), None, "{refused}");
    }
    assert_eq!(
        parse_client_message(r#"{"type":"CHAT_MESSAGE","message":" hi "}"#),
        Some(ClientMessage::ChatMessage {
            message: " hi ".into()
        })
    );
    let ping = parse_client_message(r#"{"type":"PING","client_time":1763928000123}"#).unwrap();
    let ClientMessage::Ping { client_time } = ping else {
        panic!("not a ping")
    };
    assert_eq!(client_time.to_string(), "1763928000123");
    assert_eq!(
        parse_client_message(r#"{"type":"PLAYER_STATE","state":"buffering"}"#),
        Some(ClientMessage::PlayerState {
            state: PlayerStateName::Buffering
        })
    );
    assert_eq!(
        parse_client_message(r#"{"type":"SET_WAIT","wait":false}"#),
        Some(ClientMessage::SetWait { wait: false })
    );
    // Absurd numbers parse: the server refuses them by their meaning.
    assert_eq!(
        parse_client_message(
            r#"{"type":"SYNC_REPORT","time":-3,"at":1e12,"rtt_ms":40.5,"state":"playing"}"#
        ),
        Some(ClientMessage::SyncReport {
            time: -3.0,
            at: 1e12,
            rtt_ms: 40.5,
            state: ReportedStateName::Playing
        })
    );
    assert_eq!(
        parse_client_message(r#"{"type":"ENDED","item_id":41}"#),
        Some(ClientMessage::Ended { item_id: 41 })
    );
}

#[test]
fn junk_is_ignored() {
    let deep = "[".repeat(10_000);
    for junk in [
        "",
        "null",
        "{",
        "[]",
        r#"{"type":"PLAY"}"#,
        r#"{"type":"PLAY","time":-1}"#,
        r#"{"type":"PLAY","time":1000000.5}"#,
        r#"{"type":"PLAY","time":"3"}"#,
        r#"{"type":"SEEK","time":1e400}"#,
        r#"{"type":"DANCE"}"#,
        r#"{"type":"CHAT_MESSAGE","message":5}"#,
        r#"{"type":"PING","client_time":"x"}"#,
        r#"{"type":"PLAYER_STATE","state":"asleep"}"#,
        r#"{"type":"PLAYER_STATE"}"#,
        r#"{"type":"SET_WAIT","wait":"no"}"#,
        r#"{"type":"SYNC_REPORT","time":1,"at":2,"rtt_ms":3,"state":"ready"}"#,
        r#"{"type":"SYNC_REPORT","time":NaN,"at":2,"rtt_ms":3,"state":"playing"}"#,
        r#"{"type":"SYNC_REPORT","time":1,"at":2,"state":"playing"}"#,
        r#"{"time":3}"#,
        deep.as_str(),
    ] {
        assert_eq!(parse_client_message(junk), None, "{junk:.40}");
    }
}
