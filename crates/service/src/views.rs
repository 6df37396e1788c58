//! Domain and stored values as the protocol shows them.

use crate::clock::rfc3339;
use watchparty_domain::{Millis, PlaybackState, Room, RoomStatus, UserId};
use watchparty_persistence::{StoredMessage, StoredParticipant};
use watchparty_protocol as wire;

/// Playback as of `now`, with the server time it was computed at.
pub(crate) fn playback_view(playback: &PlaybackState, now: Millis) -> wire::Playback {
    wire::Playback {
        is_playing: playback.is_playing,
        time: playback.position_at(now),
        server_time: now.0,
    }
}

/// A user as other users see them.
pub(crate) fn public_user(id: UserId, display_name: &str) -> wire::PublicUser {
    wire::PublicUser {
        id: id.0,
        display_name: display_name.to_owned(),
    }
}

fn status_name(status: RoomStatus) -> &'static str {
    match status {
        RoomStatus::Open => "open",
        RoomStatus::Grace { .. } => "grace",
        RoomStatus::Closed | RoomStatus::Deleted => "closed",
    }
}

/// A room as of `now`, with its host's name and live viewer count.
pub(crate) fn room_view(
    room: &Room,
    host_name: &str,
    viewer_count: u64,
    now: Millis,
) -> wire::Room {
    wire::Room {
        code: room.code.to_string(),
        name: room.settings.name.as_str().to_owned(),
        host: public_user(room.host, host_name),
        is_private: room.settings.is_private,
        is_chat_enabled: room.settings.is_chat_enabled,
        media_url: room
            .settings
            .media_url
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        status: status_name(room.status_at(now)).to_owned(),
        viewer_count,
        created_at: rfc3339(room.created_at),
    }
}

/// A membership of a room.
pub(crate) fn participant_view(p: &StoredParticipant) -> wire::Participant {
    wire::Participant {
        user: public_user(p.user, &p.display_name),
        role: p.role.as_str().to_owned(),
        is_approved: true,
        joined_at: rfc3339(p.joined_at),
    }
}

/// A stored chat message, as history pages and live sockets show it.
pub(crate) fn message_view(m: StoredMessage) -> wire::ChatMessage {
    wire::ChatMessage {
        id: m.id,
        user: public_user(m.user, &m.display_name),
        message: m.text,
        created_at: rfc3339(m.created_at),
    }
}
