//! Who is in a room and what was done to them: participants with roles and
//! mutes, kicks and bans, and the audit log (contract §7, §8).

use crate::connection::DbConnection;
use crate::error::PersistenceError;
use crate::queries::corrupt;
use crate::schema::{participants, room_audit, room_bans, users};
use crate::Database;
use diesel::prelude::*;
use std::collections::{BTreeMap, HashMap};
use watchparty_domain::{
    Ban, BanKind, Expiry, Millis, Participant, Reason, Role, Room, RoomId, UserId,
};

diesel::alias!(users as actors: Actors, users as targets: Targets);

/// A user's membership of a room, with their name.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredParticipant {
    /// Who.
    pub user: UserId,
    /// Their name.
    pub display_name: String,
    /// Host, co-host or viewer.
    pub role: Role,
    /// When they first joined (the owner: when the room was created).
    pub joined_at: Millis,
    /// When they last became a co-host; `None` unless a co-host.
    pub became_co_host_at: Option<Millis>,
    /// Their mute as stored, if any; one whose expiry has passed no longer
    /// holds ([`Participant::is_muted_at`]).
    pub muted: Option<Expiry>,
}

impl StoredParticipant {
    /// The membership `p` of the user called `display_name`.
    pub fn of(p: &Participant, display_name: String) -> Self {
        StoredParticipant {
            user: p.user,
            display_name,
            role: p.role,
            joined_at: p.joined_at,
            became_co_host_at: p.became_co_host_at,
            muted: p.muted,
        }
    }

    /// Whether they host the room.
    pub fn is_host(&self) -> bool {
        self.role == Role::Host
    }

    /// The participant as the rules see it.
    pub fn participant(&self) -> Participant {
        Participant {
            user: self.user,
            role: self.role,
            joined_at: self.joined_at,
            became_co_host_at: self.became_co_host_at,
            muted: self.muted,
        }
    }
}

/// A user named in a listing: id and display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// Who.
    pub user: UserId,
    /// Their name now.
    pub display_name: String,
}

/// A kick or ban with the names of the user kept out and the moderator.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBan {
    /// The ban as the rules see it.
    pub ban: Ban,
    /// The name of the user kept out.
    pub display_name: String,
    /// The name of the moderator who placed it.
    pub by_name: String,
}

/// What an audit entry records (contract §13 rule 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// `role_changed`.
    RoleChanged,
    /// `host_changed`.
    HostChanged,
    /// `room_updated`.
    RoomUpdated,
    /// `kicked`.
    Kicked,
    /// `banned`.
    Banned,
    /// `unbanned`.
    Unbanned,
    /// `muted`.
    Muted,
    /// `unmuted`.
    Unmuted,
    /// `queue_item_removed` (by someone other than its adder).
    QueueItemRemoved,
    /// `queue_moved`.
    QueueMoved,
    /// `queue_advanced` (by a person).
    QueueAdvanced,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 11] = [
        AuditAction::RoleChanged,
        AuditAction::HostChanged,
        AuditAction::RoomUpdated,
        AuditAction::Kicked,
        AuditAction::Banned,
        AuditAction::Unbanned,
        AuditAction::Muted,
        AuditAction::Unmuted,
        AuditAction::QueueItemRemoved,
        AuditAction::QueueMoved,
        AuditAction::QueueAdvanced,
    ];

    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::RoleChanged => "role_changed",
            AuditAction::HostChanged => "host_changed",
            AuditAction::RoomUpdated => "room_updated",
            AuditAction::Kicked => "kicked",
            AuditAction::Banned => "banned",
            AuditAction::Unbanned => "unbanned",
            AuditAction::Muted => "muted",
            AuditAction::Unmuted => "unmuted",
            AuditAction::QueueItemRemoved => "queue_item_removed",
            AuditAction::QueueMoved => "queue_moved",
            AuditAction::QueueAdvanced => "queue_advanced",
        }
    }

    /// Reads the contract's name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// An audit entry to store.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// What was done.
    pub action: AuditAction,
    /// Who did it; `None` when the server did it by itself.
    pub actor: Option<UserId>,
    /// To whom, if to someone.
    pub target: Option<UserId>,
    /// What changed: a JSON object, serialized by the caller (stored as is).
    pub detail: String,
    /// When.
    pub at: Millis,
}

/// A stored audit entry with names.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAuditEntry {
    /// Grows with every entry; page with `before`.
    pub id: i64,
    /// What was done.
    pub action: AuditAction,
    /// Who did it; `None`: the server.
    pub actor: Option<Named>,
    /// To whom.
    pub target: Option<Named>,
    /// The JSON object as stored.
    pub detail: String,
    /// When.
    pub at: Millis,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = participants)]
pub(crate) struct ParticipantRow {
    pub(crate) room_id: i64,
    pub(crate) user_id: i64,
    pub(crate) role: String,
    pub(crate) joined_at: i64,
    pub(crate) became_co_host_at: Option<i64>,
    pub(crate) muted: bool,
    pub(crate) muted_until: Option<i64>,
}

impl ParticipantRow {
    pub(crate) fn into_participant(self) -> Result<Participant, PersistenceError> {
        let role = match self.role.as_str() {
            "host" => Role::Host,
            "co_host" => Role::CoHost,
            "viewer" => Role::Viewer,
            other => return Err(corrupt("participant role", other)),
        };
        Ok(Participant {
            user: UserId(self.user_id),
            role,
            joined_at: Millis(self.joined_at),
            became_co_host_at: self.became_co_host_at.map(Millis),
            muted: self.muted.then_some(expiry(self.muted_until)),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = room_bans)]
pub(crate) struct BanRow {
    pub(crate) room_id: i64,
    pub(crate) user_id: i64,
    pub(crate) kind: String,
    pub(crate) reason: Option<String>,
    pub(crate) by_id: i64,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
}

impl BanRow {
    pub(crate) fn into_ban(self) -> Result<Ban, PersistenceError> {
        let kind = match self.kind.as_str() {
            "kick" => BanKind::Kick,
            "ban" => BanKind::Ban,
            other => return Err(corrupt("ban kind", other)),
        };
        let reason = match self.reason {
            Some(text) => Reason::parse(&text).map_err(|_| corrupt("ban reason", &text))?,
            None => None,
        };
        Ok(Ban {
            user: UserId(self.user_id),
            kind,
            reason,
            by: UserId(self.by_id),
            created_at: Millis(self.created_at),
            expires: expiry(self.expires_at),
        })
    }
}

/// NULL is "until lifted".
fn expiry(until: Option<i64>) -> Expiry {
    match until {
        Some(t) => Expiry::At(Millis(t)),
        None => Expiry::UntilLifted,
    }
}

/// A room's participants and bans, as `Room` holds them.
#[derive(Debug, Default)]
pub(crate) struct People {
    pub(crate) participants: BTreeMap<UserId, Participant>,
    pub(crate) bans: BTreeMap<UserId, Ban>,
}

/// The people of every room in `rooms`: two queries whatever their number.
/// Bans are read as stored, lapsed or not: the rules tell which hold, and
/// `Room::lapse_due` clears the lapsed ones (and the next save deletes them).
pub(crate) fn load_people(
    conn: &mut DbConnection,
    rooms: &[i64],
) -> Result<HashMap<i64, People>, PersistenceError> {
    let mut people: HashMap<i64, People> = HashMap::new();
    if rooms.is_empty() {
        return Ok(people);
    }
    let participant_rows = participants::table
        .filter(participants::room_id.eq_any(rooms))
        .select(ParticipantRow::as_select())
        .load(conn)?;
    for row in participant_rows {
        let room = row.room_id;
        let participant = row.into_participant()?;
        people
            .entry(room)
            .or_default()
            .participants
            .insert(participant.user, participant);
    }
    let ban_rows = room_bans::table
        .filter(room_bans::room_id.eq_any(rooms))
        .select(BanRow::as_select())
        .load(conn)?;
    for row in ban_rows {
        let room = row.room_id;
        let ban = row.into_ban()?;
        people.entry(room).or_default().bans.insert(ban.user, ban);
    }
    Ok(people)
}

/// Writes the participants and bans that differ between `before` and
/// `after`, and only those: a concurrent change to someone else stays. Each
/// row is changed only if it is still as `before` had it, so two instances
/// changing one person from the same state (a mute lapsing on both
/// sweepers, one user joining twice) cannot both succeed: the loser gets
/// [`PersistenceError::Conflict`], which rolls its transaction back.
pub(crate) fn write_people(
    conn: &mut DbConnection,
    room: i64,
    before: &Room,
    after: &Room,
) -> Result<(), PersistenceError> {
    let lost = |done: bool| {
        if done {
            Ok(())
        } else {
            Err(PersistenceError::Conflict)
        }
    };
    for (user, was) in before
        .participants
        .iter()
        .filter(|(u, _)| !after.participants.contains_key(u))
    {
        let gone = diesel::delete(
            participants::table
                .filter(participants::room_id.eq(room))
                .filter(participants::user_id.eq(user.0))
                .filter(participants::role.eq(was.role.as_str())),
        )
        .execute(conn)?;
        lost(gone == 1)?;
    }
    for participant in after
        .participants
        .values()
        .filter(|p| before.participants.get(&p.user) != Some(*p))
    {
        match before.participants.get(&participant.user) {
            Some(was) => lost(update_participant(conn, room, was, participant)?)?,
            // A unique violation (someone inserted them meanwhile) is a Conflict.
            None => insert_participant(conn, room, participant)?,
        }
    }
    for (user, was) in before
        .bans
        .iter()
        .filter(|(u, _)| !after.bans.contains_key(u))
    {
        lost(delete_ban(conn, room, *user, was)? == 1)?;
    }
    for ban in after
        .bans
        .values()
        .filter(|b| before.bans.get(&b.user) != Some(*b))
    {
        // A ban replaces the one in force: one row per user and room.
        if let Some(was) = before.bans.get(&ban.user) {
            lost(delete_ban(conn, room, ban.user, was)? == 1)?;
        }
        diesel::insert_into(room_bans::table)
            .values((
                room_bans::room_id.eq(room),
                room_bans::user_id.eq(ban.user.0),
                room_bans::kind.eq(ban.kind.as_str()),
                room_bans::reason.eq(ban.reason.as_ref().map(Reason::as_str)),
                room_bans::by_id.eq(ban.by.0),
                room_bans::created_at.eq(ban.created_at.0),
                room_bans::expires_at.eq(ban.expires.instant().map(|t| t.0)),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes `user`'s ban if it is still the one `was` describes.
fn delete_ban(conn: &mut DbConnection, room: i64, user: UserId, was: &Ban) -> QueryResult<usize> {
    diesel::delete(
        room_bans::table
            .filter(room_bans::room_id.eq(room))
            .filter(room_bans::user_id.eq(user.0))
            .filter(room_bans::created_at.eq(was.created_at.0))
            .filter(room_bans::kind.eq(was.kind.as_str())),
    )
    .execute(conn)
}

fn mute_columns(participant: &Participant) -> (bool, Option<i64>) {
    match participant.muted {
        None => (false, None),
        Some(expiry) => (true, expiry.instant().map(|t| t.0)),
    }
}

diesel::define_sql_function! {
    /// SQL's `COALESCE` for a nullable time and its stand-in.
    fn coalesce(value: diesel::sql_types::Nullable<diesel::sql_types::BigInt>, otherwise: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt;
}

/// Updates a participant's row if it still holds what `was` says.
fn update_participant(
    conn: &mut DbConnection,
    room: i64,
    was: &Participant,
    participant: &Participant,
) -> QueryResult<bool> {
    let (muted, muted_until) = mute_columns(participant);
    let (was_muted, was_muted_until) = mute_columns(was);
    // NULL never equals NULL: "no expiry" is compared as i64::MIN, never a real one.
    let expected_until = was_muted_until.unwrap_or(i64::MIN);
    let changed = diesel::update(
        participants::table
            .filter(participants::room_id.eq(room))
            .filter(participants::user_id.eq(participant.user.0))
            .filter(participants::role.eq(was.role.as_str()))
            .filter(participants::muted.eq(was_muted))
            .filter(coalesce(participants::muted_until, i64::MIN).eq(expected_until)),
    )
    .set((
        participants::role.eq(participant.role.as_str()),
        participants::joined_at.eq(participant.joined_at.0),
        participants::became_co_host_at.eq(participant.became_co_host_at.map(|t| t.0)),
        participants::muted.eq(muted),
        participants::muted_until.eq(muted_until),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

pub(crate) fn insert_participant(
    conn: &mut DbConnection,
    room: i64,
    participant: &Participant,
) -> QueryResult<()> {
    let (muted, muted_until) = mute_columns(participant);
    diesel::insert_into(participants::table)
        .values((
            participants::room_id.eq(room),
            participants::user_id.eq(participant.user.0),
            participants::role.eq(participant.role.as_str()),
            participants::joined_at.eq(participant.joined_at.0),
            participants::became_co_host_at.eq(participant.became_co_host_at.map(|t| t.0)),
            participants::muted.eq(muted),
            participants::muted_until.eq(muted_until),
        ))
        .execute(conn)
        .map(drop)
}

fn stored_participant(
    (row, display_name): (ParticipantRow, String),
) -> Result<StoredParticipant, PersistenceError> {
    Ok(StoredParticipant::of(
        &row.into_participant()?,
        display_name,
    ))
}

pub(crate) fn find_participant(
    conn: &mut DbConnection,
    room: RoomId,
    user: UserId,
) -> Result<Option<StoredParticipant>, PersistenceError> {
    participants::table
        .inner_join(users::table)
        .filter(participants::room_id.eq(room.0))
        .filter(participants::user_id.eq(user.0))
        .select((ParticipantRow::as_select(), users::display_name))
        .first::<(ParticipantRow, String)>(conn)
        .optional()?
        .map(stored_participant)
        .transpose()
}

/// The expiry of the kick or ban keeping `user` out of `room` at `now`:
/// `Some(None)` until lifted, `None` when nothing keeps them out.
pub(crate) fn ban_in_force(
    conn: &mut DbConnection,
    room: RoomId,
    user: UserId,
    now: Millis,
) -> Result<Option<Option<Millis>>, PersistenceError> {
    let found = room_bans::table
        .filter(room_bans::room_id.eq(room.0))
        .filter(room_bans::user_id.eq(user.0))
        .filter(
            room_bans::expires_at
                .is_null()
                .or(room_bans::expires_at.gt(now.0)),
        )
        .select(room_bans::expires_at)
        .first::<Option<i64>>(conn)
        .optional()?;
    Ok(found.map(|until| until.map(Millis)))
}

pub(crate) fn insert_audit_record(
    conn: &mut DbConnection,
    room: RoomId,
    record: &AuditRecord,
) -> Result<i64, PersistenceError> {
    let id = diesel::insert_into(room_audit::table)
        .values((
            room_audit::room_id.eq(room.0),
            room_audit::action.eq(record.action.as_str()),
            room_audit::actor_id.eq(record.actor.map(|u| u.0)),
            room_audit::target_id.eq(record.target.map(|u| u.0)),
            room_audit::detail.eq(&record.detail),
            room_audit::at.eq(record.at.0),
        ))
        .returning(room_audit::id)
        .get_result::<i64>(conn)?;
    Ok(id)
}

fn named(id: Option<i64>, name: Option<String>) -> Option<Named> {
    match (id, name) {
        (Some(id), Some(display_name)) => Some(Named {
            user: UserId(id),
            display_name,
        }),
        _ => None,
    }
}

impl Database {
    /// The room's participants with their names, as `GET …/participants/`
    /// lists them: the host, then co-hosts, then viewers, each by `joined_at`
    /// (then user id). A kicked or banned user is not among them: placing
    /// the ban deleted their row in the same transaction.
    pub async fn participants(
        &self,
        room: RoomId,
    ) -> Result<Vec<StoredParticipant>, PersistenceError> {
        self.run(move |conn| {
            let rows = participants::table
                .inner_join(users::table)
                .filter(participants::room_id.eq(room.0))
                .select((ParticipantRow::as_select(), users::display_name))
                .load::<(ParticipantRow, String)>(conn)?;
            let mut all = rows
                .into_iter()
                .map(stored_participant)
                .collect::<Result<Vec<_>, _>>()?;
            all.sort_by_key(|p| (p.role, p.joined_at, p.user));
            Ok(all)
        })
        .await
    }

    /// The kicks and bans in force at `now` (`GET …/bans/`), oldest first,
    /// with the names of the user and the moderator.
    pub async fn active_bans(
        &self,
        room: RoomId,
        now: Millis,
    ) -> Result<Vec<StoredBan>, PersistenceError> {
        self.run(move |conn| {
            let rows = room_bans::table
                .inner_join(users::table.on(users::id.eq(room_bans::user_id)))
                .inner_join(actors.on(actors.field(users::id).eq(room_bans::by_id)))
                .filter(room_bans::room_id.eq(room.0))
                .filter(
                    room_bans::expires_at
                        .is_null()
                        .or(room_bans::expires_at.gt(now.0)),
                )
                .order((room_bans::created_at.asc(), room_bans::user_id.asc()))
                .select((
                    BanRow::as_select(),
                    users::display_name,
                    actors.field(users::display_name),
                ))
                .load::<(BanRow, String, String)>(conn)?;
            rows.into_iter()
                .map(|(row, display_name, by_name)| {
                    Ok(StoredBan {
                        ban: row.into_ban()?,
                        display_name,
                        by_name,
                    })
                })
                .collect()
        })
        .await
    }

    /// Records one audit entry for the room and returns its id. Prefer
    /// [`Database::save_room_audited`] for an entry about a room change: it
    /// is stored exactly when the change is.
    pub async fn insert_audit(
        &self,
        room: RoomId,
        record: AuditRecord,
    ) -> Result<i64, PersistenceError> {
        self.write(move |conn| insert_audit_record(conn, room, &record))
            .await
    }

    /// Up to `limit` audit entries of the room, newest first, with ids
    /// below `before` when given (`GET …/audit/?limit&before`).
    pub async fn audit_entries(
        &self,
        room: RoomId,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StoredAuditEntry>, PersistenceError> {
        type Row = (
            i64,
            String,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<String>,
            String,
            i64,
        );
        self.run(move |conn| {
            let rows = room_audit::table
                .left_join(actors.on(room_audit::actor_id.eq(actors.field(users::id).nullable())))
                .left_join(
                    targets.on(room_audit::target_id.eq(targets.field(users::id).nullable())),
                )
                .filter(room_audit::room_id.eq(room.0))
                .filter(room_audit::id.lt(before.unwrap_or(i64::MAX)))
                .order(room_audit::id.desc())
                .limit(limit)
                .select((
                    room_audit::id,
                    room_audit::action,
                    room_audit::actor_id,
                    actors.field(users::display_name).nullable(),
                    room_audit::target_id,
                    targets.field(users::display_name).nullable(),
                    room_audit::detail,
                    room_audit::at,
                ))
                .load::<Row>(conn)?;
            rows.into_iter()
                .map(
                    |(id, action, actor, actor_name, target, target_name, detail, at)| {
                        Ok(StoredAuditEntry {
                            id,
                            action: AuditAction::parse(&action)
                                .ok_or_else(|| corrupt("audit action", &action))?,
                            actor: named(actor, actor_name),
                            target: named(target, target_name),
                            detail,
                            at: Millis(at),
                        })
                    },
                )
                .collect()
        })
        .await
    }
}
