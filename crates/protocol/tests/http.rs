//! The HTTP bodies read what docs/protocol.md says clients send.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use watchparty_protocol::http::{CreateRoomRequest, ErrorBody, RegisterRequest, UpdateRoomRequest};

/// PATCH tells an absent `media_url` (leave the video) from `null` (remove
/// it), and writes each back the same way.
#[test]
fn a_patch_tells_absent_from_null() {
    let read = |v: serde_json::Value| serde_json::from_value::<UpdateRoomRequest>(v).unwrap();
    assert_eq!(read(json!({})).media_url, None);
    assert_eq!(read(json!({"media_url": null})).media_url, Some(None));
    assert_eq!(
        read(json!({"media_url": "https://example.com/v.mp4"})).media_url,
        Some(Some("https://example.com/v.mp4".to_owned()))
    );
    let clear = UpdateRoomRequest {
        media_url: Some(None),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&clear).unwrap(),
        json!({"media_url": null})
    );
    assert_eq!(
        serde_json::to_value(UpdateRoomRequest::default()).unwrap(),
        json!({})
    );
}

/// Optional fields may be left out or sent as null; unknown fields are ignored.
#[test]
fn optional_fields_and_unknown_fields() {
    let room: CreateRoomRequest =
        serde_json::from_value(json!({"name": "film", "media_url": null, "extra": 1})).unwrap();
    assert_eq!(room.media_url, None);
    assert_eq!(room.is_private, None);
    let user: RegisterRequest = serde_json::from_value(
        json!({"email": "a@example.com", "password": "12345678", "display_name": null}),
    )
    .unwrap();
    assert_eq!(user.display_name, None);
    assert!(serde_json::from_value::<CreateRoomRequest>(json!({"is_private": true})).is_err());
}

/// The error body is `{"error": {"code", "message", "request_id"}}`; a body
/// built outside a request (no id known) leaves the field out.
#[test]
fn an_error_body_carries_its_request_id() {
    assert_eq!(
        serde_json::to_value(ErrorBody::new(
            "not_found",
            "not found",
            Some("ab12".into())
        ))
        .unwrap(),
        json!({"error": {"code": "not_found", "message": "not found", "request_id": "ab12"}})
    );
    assert_eq!(
        serde_json::to_value(ErrorBody::new("not_found", "not found", None)).unwrap(),
        json!({"error": {"code": "not_found", "message": "not found"}})
    );
}
