//! Any bytes as a client's text frame: the parser never panics, and what it
//! accepts obeys the protocol and reads back the same after serializing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchparty_protocol::{parse_client_message, ClientMessage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(message) = parse_client_message(text) else {
        return;
    };
    if let ClientMessage::Play { time, .. } | ClientMessage::Pause { time, .. } | ClientMessage::Seek { time, .. } =
        &message
    {
        assert!(time.is_finite() && (0.0..=1_000_000.0).contains(time));
    }
    let again = serde_json::to_string(&message).expect("an accepted message serializes");
    assert_eq!(parse_client_message(&again), Some(message));
});
