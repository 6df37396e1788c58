//! The parser of client frames against arbitrary and hostile input: it never
//! panics, accepts exactly what the protocol allows, and what it accepts
//! survives a round trip. 120 000 generated cases plus a fixed corpus of
//! malformed JSON. The coverage-guided version lives in `fuzz/` (nightly).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use watchparty_protocol::{parse_client_message, ClientMessage};

const CASES: u32 = 40_000;
const MAX_TIME: f64 = 1_000_000.0;

/// What docs/protocol.md says a frame is, decided without serde.
fn expected_valid(value: &Value) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    let number = |key: &str| object.get(key).and_then(Value::as_f64);
    // `if_version` is optional: absent, null, or a whole number from 0 up.
    let version_ok = match object.get("if_version") {
        None | Some(Value::Null) => true,
        Some(v) => v.as_u64().is_some(),
    };
    // `at` is optional too: absent, null, or any number.
    let at_ok = match object.get("at") {
        None | Some(Value::Null) => true,
        Some(v) => v.is_number(),
    };
    let version_ok = version_ok && at_ok;
    match object.get("type").and_then(Value::as_str) {
        Some("PLAY" | "PAUSE" | "SEEK") => {
            version_ok
                && number("time").is_some_and(|t| t.is_finite() && (0.0..=MAX_TIME).contains(&t))
        }
        Some("RATE") => version_ok && number("rate").is_some_and(|r| (0.25..=4.0).contains(&r)),
        Some("CHAT_MESSAGE") => object.get("message").is_some_and(Value::is_string),
        Some("PING") => object.get("client_time").is_some_and(Value::is_number),
        Some("PLAYER_STATE") => object
            .get("state")
            .and_then(Value::as_str)
            .is_some_and(|s| ["loading", "ready", "buffering", "error"].contains(&s)),
        Some("SET_WAIT") => object.get("wait").is_some_and(Value::is_boolean),
        Some("SYNC_REPORT") => {
            ["time", "at", "rtt_ms"]
                .iter()
                .all(|field| object.get(*field).is_some_and(Value::is_number))
                && object
                    .get("state")
                    .and_then(Value::as_str)
                    .is_some_and(|s| ["playing", "paused", "buffering"].contains(&s))
        }
        _ => false,
    }
}

/// An accepted message keeps its bounds and reads back the same.
fn check_accepted(message: &ClientMessage) {
    if let ClientMessage::Rate { rate, .. } = message {
        assert!((0.25..=4.0).contains(rate), "{rate}");
    }
    if let ClientMessage::Play { time, .. }
    | ClientMessage::Pause { time, .. }
    | ClientMessage::Seek { time, .. } = message
    {
        assert!(
            time.is_finite() && (0.0..=MAX_TIME).contains(time),
            "{time}"
        );
    }
    let again = serde_json::to_string(message).unwrap();
    assert_eq!(
        parse_client_message(&again).as_ref(),
        Some(message),
        "{again}"
    );
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        (0.0..=MAX_TIME).prop_map(Value::from),
        (-1.0e7..2.0e6f64).prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects shaped like client messages: a known or unknown type, the
/// protocol's field names or others, values of any type.
fn message_like() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just(Value::from("PLAY")),
        Just(Value::from("PAUSE")),
        Just(Value::from("SEEK")),
        Just(Value::from("RATE")),
        Just(Value::from("CHAT_MESSAGE")),
        Just(Value::from("PING")),
        Just(Value::from("seek")),
        Just(Value::from("PONG")),
        ".{0,10}".prop_map(Value::String),
        json(),
    ];
    let key = prop_oneof![
        Just("time".to_owned()),
        Just("rate".to_owned()),
        Just("if_version".to_owned()),
        Just("at".to_owned()),
        Just("message".to_owned()),
        Just("client_time".to_owned()),
        "[a-z_]{1,8}",
    ];
    let value = prop_oneof![number(), ".{0,20}".prop_map(Value::String), json()];
    (
        kind,
        prop::collection::btree_map(key, value, 0..4),
        any::<bool>(),
    )
        .prop_map(|(kind, fields, typed)| {
            let mut object: Map<String, Value> = fields.into_iter().collect();
            if typed {
                object.insert("type".into(), kind);
            }
            Value::Object(object)
        })
}

/// Frames the protocol accepts, with extra fields it ignores.
fn valid_message() -> impl Strategy<Value = Value> {
    let body = prop_oneof![
        (
            prop_oneof![Just("PLAY"), Just("PAUSE"), Just("SEEK")],
            0.0..=MAX_TIME
        )
            .prop_map(|(kind, time)| serde_json::json!({"type": kind, "time": time})),
        (0.25..=4.0f64, any::<u32>()).prop_map(
            |(rate, v)| serde_json::json!({"type": "RATE", "rate": rate, "if_version": v})
        ),
        ".{0,40}".prop_map(|m| serde_json::json!({"type": "CHAT_MESSAGE", "message": m})),
        number().prop_map(|n| serde_json::json!({"type": "PING", "client_time": n})),
    ];
    let extra = prop::collection::btree_map("x[a-z_]{0,6}", json(), 0..3);
    (body, extra).prop_map(|(mut body, extra)| {
        if let Value::Object(object) = &mut body {
            object.extend(extra);
        }
        body
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn any_text_is_parsed_or_ignored_never_a_panic(text in ".{0,64}") {
        if let Some(message) = parse_client_message(&text) {
            check_accepted(&message);
        }
    }

    #[test]
    fn message_shaped_json_is_accepted_exactly_when_the_contract_allows(value in message_like()) {
        let text = value.to_string();
        let parsed = parse_client_message(&text);
        prop_assert_eq!(parsed.is_some(), expected_valid(&value), "{}", text);
        if let Some(message) = parsed {
            check_accepted(&message);
        }
    }

    #[test]
    fn damaged_valid_frames_are_ignored_or_still_valid(
        value in valid_message(),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let text = value.to_string();
        prop_assert!(parse_client_message(&text).is_some(), "{}", text);
        // Every strict prefix of a JSON object is malformed.
        let end = cut.index(text.len());
        if let Some(prefix) = text.get(..end) {
            prop_assert!(parse_client_message(prefix).is_none(), "{}", prefix);
        }
        // One byte replaced: whatever it yields, it obeys the protocol.
        let mut bytes = text.clone().into_bytes();
        let at = cut.index(bytes.len());
        bytes[at] = byte;
        if let Ok(changed) = String::from_utf8(bytes) {
            if let Some(message) = parse_client_message(&changed) {
                check_accepted(&message);
                let value: Value = serde_json::from_str(&changed).unwrap();
                prop_assert!(expected_valid(&value), "{}", changed);
            }
        }
    }
}

#[test]
fn a_corpus_of_malformed_json_is_ignored() {
    let deep_arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    let deep_in_message = format!(
        r#"{{"type":"CHAT_MESSAGE","message":"x","extra":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let corpus: Vec<String> = vec![
        deep_arrays,
        deep_objects,
        deep_in_message,
        // Wrong types.
        r#"{"type":"SEEK","time":"12"}"#.into(),
        r#"{"type":"SEEK","time":null}"#.into(),
        r#"{"type":"SEEK","time":[1]}"#.into(),
        r#"{"type":"SEEK","time":{"t":1}}"#.into(),
        r#"{"type":"CHAT_MESSAGE","message":42}"#.into(),
        r#"{"type":"PING","client_time":"now"}"#.into(),
        r#"{"type":7,"time":1}"#.into(),
        r#"["SEEK",1]"#.into(),
        "null".into(),
        "42".into(),
        r#""SEEK""#.into(),
        // Numbers out of range or not numbers.
        r#"{"type":"SEEK","time":1e400}"#.into(),
        r#"{"type":"SEEK","time":-1e400}"#.into(),
        r#"{"type":"SEEK","time":1000000.0001}"#.into(),
        r#"{"type":"SEEK","time":-0.5}"#.into(),
        r#"{"type":"SEEK","time":NaN}"#.into(),
        r#"{"type":"SEEK","time":Infinity}"#.into(),
        r#"{"type":"SEEK","time":99999999999999999999999999999999}"#.into(),
        // Unknown or differently spelled types.
        r#"{"type":"seek","time":1}"#.into(),
        r#"{"type":"PONG","client_time":1}"#.into(),
        r#"{"type":"ROOM_CLOSED","reason":"deleted"}"#.into(),
        r#"{"time":1}"#.into(),
        // Not JSON.
        "".into(),
        " ".into(),
        "{".into(),
        r#"{"type":"SEEK","time":1"#.into(),
        r#"{"type":"SEEK","time":1}}"#.into(),
        r#"{"type":"SEEK","time":1} trailing"#.into(),
        r#"{"type":"CHAT_MESSAGE","message":"\ud800"}"#.into(),
        r#"{"type":"CHAT_MESSAGE","message":"\x"}"#.into(),
        "\u{feff}{\"type\":\"PING\",\"client_time\":1}".into(),
    ];
    // Every strict prefix of every valid frame, too.
    let valid = [
        r#"{"type":"PLAY","time":12.5}"#,
        r#"{"type":"PAUSE","time":0}"#,
        r#"{"type":"SEEK","time":1000000}"#,
        r#"{"type":"CHAT_MESSAGE","message":"héllo ✓"}"#,
        r#"{"type":"PING","client_time":1763928000000}"#,
    ];
    let prefixes = valid
        .iter()
        .flat_map(|v| (0..v.len()).filter_map(move |end| v.get(..end).map(str::to_owned)));
    let mut count = 0;
    for text in corpus.into_iter().chain(prefixes) {
        assert!(parse_client_message(&text).is_none(), "accepted {text:.80}");
        count += 1;
    }
    for text in valid {
        assert!(parse_client_message(text).is_some(), "{text}");
    }
    assert!(count > 180, "{count}");
}
