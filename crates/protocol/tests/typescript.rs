//! The web client's TypeScript declarations: checked in and current.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ts_rs::{Config, TS};
use watchparty_protocol::{
    typescript_definitions, ChatMessage, ClientMessage, Participant, Room, ServerMessage,
};

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/client/protocol.d.ts");

/// `crates/web/client/protocol.d.ts` is what the code generates; a message or
/// field added, removed or changed without regenerating it fails here (and
/// the client's JavaScript is then type-checked against the new file by tsc).
/// Regenerate with
/// `WATCHPARTY_BLESS=1 cargo test -p watchparty-protocol --test typescript`.
#[test]
fn the_checked_in_typescript_is_current() {
    let generated = typescript_definitions();
    if std::env::var_os("WATCHPARTY_BLESS").is_some() {
        std::fs::write(CHECKED_IN, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "crates/web/client/protocol.d.ts is stale: run \
         WATCHPARTY_BLESS=1 cargo test -p watchparty-protocol --test typescript"
    );
}

/// Every shape a message refers to is declared in the file too: a new type
/// reachable from a message but missing from the generator's list would
/// leave the client's declarations pointing at nothing.
#[test]
fn every_referenced_type_is_declared() {
    let generated = typescript_definitions();
    let declared: Vec<&str> = generated
        .lines()
        .filter_map(|l| l.strip_prefix("export type "))
        .filter_map(|l| l.split_once(" = ").map(|(name, _)| name))
        .collect();
    assert!(declared.contains(&"ClientMessage"), "{declared:?}");
    assert!(declared.contains(&"ServerMessage"), "{declared:?}");
    let cfg = Config::new();
    let mut referenced = Vec::new();
    referenced.extend(ClientMessage::dependencies(&cfg));
    referenced.extend(ServerMessage::dependencies(&cfg));
    referenced.extend(Room::dependencies(&cfg));
    referenced.extend(Participant::dependencies(&cfg));
    referenced.extend(ChatMessage::dependencies(&cfg));
    // The walk itself sees the shapes the messages carry.
    for shape in [
        "PublicUser",
        "PresentUser",
        "HostStatus",
        "Room",
        "CloseReason",
    ] {
        assert!(
            referenced.iter().any(|d| d.ts_name == shape),
            "{shape} not among the dependencies"
        );
    }
    for dependency in referenced {
        assert!(
            declared.contains(&dependency.ts_name.as_str()),
            "{} is referenced but not declared",
            dependency.ts_name
        );
    }
}

/// Ids and epoch milliseconds are `i64` in Rust but plain JSON numbers on the
/// wire: the declarations say `number`, never `bigint`.
#[test]
fn wide_integers_are_numbers() {
    let generated = typescript_definitions();
    assert!(!generated.contains("bigint"));
    assert!(generated.contains("server_time: number"));
    assert!(generated.contains("client_time: number"));
    assert!(generated.contains(r#"{ "type": "HOST_RECONNECTED" }"#));
}
