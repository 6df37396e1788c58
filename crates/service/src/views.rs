//! Domain and stored values as the protocol shows them.

use crate::clock::rfc3339;
use watchparty_domain::{
    Ban, Capabilities, Expiry, Millis, Participant, PlaybackState, QueueItem, Role, Room,
    RoomStatus, UserId,
};
use watchparty_persistence::{StoredAuditEntry, StoredBan, StoredMessage, StoredParticipant};
use watchparty_protocol::{self as wire, http};

/// Playback as of `now`, with the server time it was computed at.
pub(crate) fn playback_view(playback: &PlaybackState, now: Millis) -> wire::Playback {
    wire::Playback {
        is_playing: playback.is_playing,
        time: playback.position_at(now),
        server_time: now.0,
        rate: playback.rate.get(),
        version: playback.version,
        waiting: None,
        item_id: playback.item.map(|item| item.0),
    }
}

/// A queue item as the protocol shows it; `voted_by_me` for an HTTP
/// answer to that user, `None` for `QUEUE_UPDATED` (§13 rule 19).
pub(crate) fn queue_item_view(
    item: &QueueItem,
    adder_name: &str,
    voted_by_me: Option<UserId>,
) -> wire::QueueItem {
    wire::QueueItem {
        id: item.id.0,
        media_url: item.media_url.as_str().to_owned(),
        title: item.title.as_ref().map(|t| t.as_str().to_owned()),
        duration: item.duration.map(|d| d.seconds()),
        added_by: public_user(item.added_by, adder_name),
        added_at: rfc3339(item.added_at),
        votes: u64::try_from(item.vote_count()).unwrap_or(u64::MAX),
        voted_by_me: voted_by_me.map(|user| item.voted_by(user)),
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

/// The names a room's view shows: its host's and its owner's.
#[derive(Debug, Clone)]
pub(crate) struct RoomNames {
    /// The host's display name.
    pub(crate) host: String,
    /// The owner's display name (the host's when they are the same user).
    pub(crate) owner: String,
    /// The display name of whoever added the current item (empty without one).
    pub(crate) adder: String,
}

/// A room as of `now`, with its live viewer count.
pub(crate) fn room_view(
    room: &Room,
    names: &RoomNames,
    viewer_count: u64,
    now: Millis,
) -> wire::Room {
    let settings = &room.settings;
    wire::Room {
        code: room.code.to_string(),
        name: settings.name.as_str().to_owned(),
        host: public_user(room.host, &names.host),
        owner: public_user(room.owner, &names.owner),
        is_private: settings.is_private,
        is_chat_enabled: settings.is_chat_enabled,
        media_url: settings.media_url.as_ref().map(|u| u.as_str().to_owned()),
        status: status_name(room.status_at(now)).to_owned(),
        viewer_count,
        created_at: rfc3339(room.created_at),
        control: settings.control.as_str().to_owned(),
        on_host_timeout: settings.on_host_timeout.as_str().to_owned(),
        wait_policy: settings.wait_policy.as_str().to_owned(),
        viewers_can_queue: settings.viewers_can_queue,
        queue_mode: settings.queue_mode.as_str().to_owned(),
        host_epoch: room.host_epoch,
        current_item: room
            .current_item
            .as_ref()
            .map(|item| queue_item_view(item, &names.adder, None)),
        queue_version: room.queue_version,
    }
}

/// A participant as of `now`: a lapsed mute no longer shows.
pub(crate) fn participant_view(
    participant: &Participant,
    display_name: &str,
    is_connected: bool,
    now: Millis,
) -> wire::Participant {
    let mute = participant.mute_at(now);
    wire::Participant {
        user: public_user(participant.user, display_name),
        role: participant.role.as_str().to_owned(),
        is_approved: true,
        joined_at: rfc3339(participant.joined_at),
        is_muted: mute.is_some(),
        muted_until: mute.and_then(Expiry::instant).map(rfc3339),
        is_connected,
    }
}

/// A stored participant as of `now`.
pub(crate) fn stored_participant_view(
    p: &StoredParticipant,
    is_connected: bool,
    now: Millis,
) -> wire::Participant {
    participant_view(&p.participant(), &p.display_name, is_connected, now)
}

/// What `CAPABILITIES` tells a user's sockets.
pub(crate) fn capabilities_message(role: Role, capabilities: Capabilities) -> wire::ServerMessage {
    wire::ServerMessage::Capabilities {
        role: role.as_str().to_owned(),
        capabilities: capabilities
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

/// A kick or ban in force.
pub(crate) fn ban_view(stored: &StoredBan) -> http::Ban {
    ban_with_names(&stored.ban, &stored.display_name, &stored.by_name)
}

/// A kick or ban, with the names of the user kept out and the moderator.
pub(crate) fn ban_with_names(ban: &Ban, name: &str, by_name: &str) -> http::Ban {
    http::Ban {
        user: public_user(ban.user, name),
        kind: ban.kind.as_str().to_owned(),
        reason: ban.reason.as_ref().map(|r| r.as_str().to_owned()),
        by: public_user(ban.by, by_name),
        created_at: rfc3339(ban.created_at),
        expires_at: ban.expires.instant().map(rfc3339),
    }
}

/// An audit entry; a detail that is not stored JSON shows as an empty object.
pub(crate) fn audit_view(entry: StoredAuditEntry) -> http::AuditEntry {
    let named =
        |n: Option<watchparty_persistence::Named>| n.map(|n| public_user(n.user, &n.display_name));
    http::AuditEntry {
        id: entry.id,
        action: entry.action.as_str().to_owned(),
        actor: named(entry.actor),
        target: named(entry.target),
        detail: serde_json::from_str(&entry.detail)
            .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new())),
        at: rfc3339(entry.at),
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
