//! The published JSON Schema of the WebSocket messages: checked in, current,
//! and in agreement with what the parser accepts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use watchparty_protocol::{parse_client_message, ws_schema};

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ws-schema.json");

/// `docs/ws-schema.json` is what the code generates; a message type added,
/// removed or changed without regenerating it fails here. Regenerate with
/// `WATCHPARTY_BLESS=1 cargo test -p watchparty-protocol --test schema`.
#[test]
fn the_checked_in_schema_is_current() {
    let generated = serde_json::to_string_pretty(&ws_schema()).unwrap() + "\n";
    if std::env::var_os("WATCHPARTY_BLESS").is_some() {
        std::fs::write(CHECKED_IN, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/ws-schema.json is stale: run WATCHPARTY_BLESS=1 cargo test -p watchparty-protocol --test schema"
    );
}

#[test]
fn every_message_type_is_in_the_schema() {
    let schema = ws_schema();
    let types = |kind: &str| -> Vec<String> {
        schema["$defs"][kind]["oneOf"]
            .as_array()
            .expect("a list of messages")
            .iter()
            .map(|m| {
                m["properties"]["type"]["const"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(
        types("ClientMessage"),
        [
            "PLAY",
            "PAUSE",
            "SEEK",
            "RATE",
            "CHAT_MESSAGE",
            "PING",
            "PLAYER_STATE",
            "SET_WAIT",
            "SYNC_REPORT",
            "ENDED"
        ]
    );
    let server = types("ServerMessage");
    for expected in [
        "PLAYBACK_STATE",
        "PRESENCE",
        "USER_JOINED",
        "USER_LEFT",
        "PLAY",
        "PAUSE",
        "SEEK",
        "CHAT_MESSAGE",
        "PONG",
        "ERROR",
        "HOST_DISCONNECTED",
        "HOST_RECONNECTED",
        "ROOM_UPDATED",
        "ROOM_CLOSED",
        "RATE",
        "HOST_CHANGED",
        "PARTICIPANT_UPDATED",
        "CAPABILITIES",
        "REMOVED",
        "PARTICIPANT_REMOVED",
        "WAITING",
        "WAIT_SKIPPED",
        "YOUR_SYNC",
        "SYNC_STATS",
        "QUEUE_UPDATED",
    ] {
        assert!(server.iter().any(|t| t == expected), "{expected} missing");
    }
}

/// A client that follows the schema is understood; what the parser ignores
/// for its shape, the schema refuses too.
#[test]
fn the_schema_and_the_parser_agree_on_client_messages() {
    let valid = [
        json!({"type": "PLAY", "time": 12.5}),
        json!({"type": "PAUSE", "time": 0}),
        json!({"type": "SEEK", "time": 1_000_000}),
        json!({"type": "CHAT_MESSAGE", "message": " hi "}),
        json!({"type": "PING", "client_time": 1_763_928_000_123_u64}),
        json!({"type": "PING", "client_time": 0.25}),
    ];
    for message in valid {
        support::conforms("ClientMessage", &message).unwrap();
        assert!(
            parse_client_message(&message.to_string()).is_some(),
            "{message}"
        );
    }
    let invalid: [Value; 8] = [
        json!({"type": "PLAY"}),
        json!({"type": "PLAY", "time": -1}),
        json!({"type": "PLAY", "time": 1_000_000.5}),
        json!({"type": "PLAY", "time": "3"}),
        json!({"type": "DANCE"}),
        json!({"type": "CHAT_MESSAGE", "message": 5}),
        json!({"type": "PING", "client_time": "x"}),
        json!({"time": 3}),
    ];
    for message in invalid {
        assert!(
            support::conforms("ClientMessage", &message).is_err(),
            "the schema accepts {message}"
        );
        assert_eq!(
            parse_client_message(&message.to_string()),
            None,
            "{message}"
        );
    }
}
