//! What of a room's changes the audit log keeps (`GET …/audit/`): every
//! role, host, settings, kick, ban and mute change, stored in the same
//! transaction as the change itself.

use crate::clock::rfc3339;
use serde_json::json;
use watchparty_domain::{BanKind, Event, Millis, ParticipantChange, QueueChange, UserId};
use watchparty_persistence::{AuditAction, AuditRecord};

/// The audit entries for `events`, done by `actor` (`None`: by the server) at `at`.
pub(super) fn records(events: &[Event], actor: Option<UserId>, at: Millis) -> Vec<AuditRecord> {
    let record = |action, actor, target, detail: serde_json::Value| AuditRecord {
        action,
        actor,
        target,
        detail: detail.to_string(),
        at,
    };
    events
        .iter()
        .filter_map(|event| match event {
            Event::SettingsChanged { fields, .. } => {
                let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
                Some(record(
                    AuditAction::RoomUpdated,
                    actor,
                    None,
                    json!({ "fields": names }),
                ))
            }
            Event::ParticipantUpdated {
                participant,
                change,
                by,
            } => {
                let (action, detail) = match change {
                    ParticipantChange::Role(role) => {
                        (AuditAction::RoleChanged, json!({ "role": role.as_str() }))
                    }
                    ParticipantChange::Muted(expiry) => (
                        AuditAction::Muted,
                        json!({ "until": expiry.instant().map(rfc3339) }),
                    ),
                    ParticipantChange::Unmuted => (AuditAction::Unmuted, json!({})),
                };
                Some(record(action, *by, Some(participant.user), detail))
            }
            Event::HostChanged(change) => Some(record(
                AuditAction::HostChanged,
                change.by,
                Some(change.host),
                json!({
                    "reason": change.reason.as_str(),
                    "previous": change.previous.0,
                    "host_epoch": change.host_epoch,
                }),
            )),
            Event::BanPlaced { ban, .. } => {
                let action = match ban.kind {
                    BanKind::Kick => AuditAction::Kicked,
                    BanKind::Ban => AuditAction::Banned,
                };
                Some(record(
                    action,
                    Some(ban.by),
                    Some(ban.user),
                    json!({
                        "reason": ban.reason.as_ref().map(|r| r.as_str()),
                        "until": ban.expires.instant().map(rfc3339),
                    }),
                ))
            }
            Event::BanLifted { user, kind, by } => Some(record(
                AuditAction::Unbanned,
                *by,
                Some(*user),
                json!({ "kind": kind.as_str() }),
            )),
            _ => None,
        })
        .collect()
}

/// The audit entries of a queue operation (§13 rule 15): an item removed by
/// someone other than its adder, a move, and an advance a person asked for
/// (`advance_by_person`: `POST …/advance/` or `ENDED`).
pub(super) fn queue_records(
    events: &[Event],
    advance_by_person: bool,
    at: Millis,
) -> Vec<AuditRecord> {
    events
        .iter()
        .filter_map(|event| {
            let Event::QueueChanged(change) = event else {
                return None;
            };
            let by = change.by?;
            let item = change.item.as_ref();
            let detail = |item: &watchparty_domain::QueueItem| {
                json!({ "item_id": item.id.0, "media_url": item.media_url.as_str() })
            };
            let (action, target, detail) = match change.op {
                QueueChange::Removed => {
                    let item = item.filter(|i| i.added_by != by)?;
                    (AuditAction::QueueItemRemoved, Some(item.added_by), detail(item))
                }
                QueueChange::Moved => (AuditAction::QueueMoved, None, detail(item?)),
                QueueChange::Advanced if advance_by_person => (
                    AuditAction::QueueAdvanced,
                    None,
                    item.map(detail).unwrap_or_else(|| json!({ "item_id": null })),
                ),
                _ => return None,
            };
            Some(AuditRecord {
                action,
                actor: Some(by),
                target,
                detail: detail.to_string(),
                at,
            })
        })
        .collect()
}
