//! The queries, written once for both backends.

use crate::connection::DbConnection;
use crate::error::PersistenceError;
use crate::people::{
    find_participant, insert_participant, load_people, write_people, AuditRecord, StoredParticipant,
};
use crate::schema::{chat_messages, rooms, users};
use crate::Database;
use diesel::prelude::*;
use watchparty_domain::{
    Control, DisplayName, Email, MediaUrl, Millis, OnHostTimeout, Participant, PeopleNeeded,
    PlaybackState, Position, QueueItem, QueueMode, Rate, Role, Room, RoomCode, RoomId, RoomName,
    RoomSettings, RoomStatus, UserId, WaitPolicy,
};

/// A registered user as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUser {
    /// Id.
    pub id: UserId,
    /// Normalized email.
    pub email: String,
    /// Name shown to others.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Whether an operator disabled the account: no login, no session.
    pub is_disabled: bool,
}

/// What it takes to open a room.
#[derive(Debug, Clone)]
pub struct NewRoom {
    /// A fresh code; a collision fails with [`PersistenceError::Conflict`].
    pub code: RoomCode,
    /// The creator, who hosts.
    pub host: UserId,
    /// The initial settings.
    pub settings: RoomSettings,
    /// Creation time.
    pub now: Millis,
    /// The current item a room created with a video starts with
    /// ([`QueueItem::video`], its id reserved with
    /// [`Database::reserve_item_id`]).
    pub first_item: Option<QueueItem>,
}

/// A stored chat message with its author's name.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Grows in delivery order within a room.
    pub id: i64,
    /// Author.
    pub user: UserId,
    /// Author's name.
    pub display_name: String,
    /// Text.
    pub text: String,
    /// When it was stored.
    pub created_at: Millis,
}

/// Which slice of a room's chat history to read; always returned oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagePage {
    /// The newest messages.
    Latest,
    /// Messages with ids below this one (scrolling back).
    Before(i64),
    /// Messages with ids above this one (filling a gap after a reconnect).
    After(i64),
}

#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = rooms)]
struct RoomRow {
    id: i64,
    code: String,
    name: String,
    host_id: i64,
    is_private: bool,
    is_chat_enabled: bool,
    media_url: Option<String>,
    status: String,
    grace_deadline: Option<i64>,
    was_playing: bool,
    is_playing: bool,
    position: f64,
    position_at: i64,
    created_at: i64,
    owner_id: i64,
    host_epoch: i64,
    control: String,
    on_host_timeout: String,
    wait_policy: String,
    viewers_can_queue: bool,
    queue_mode: String,
    rate: f64,
    playback_version: i64,
    current_item_id: Option<i64>,
    queue_version: i64,
}

pub(crate) fn corrupt(what: &str, value: &str) -> PersistenceError {
    PersistenceError::Corrupt(format!("{what} {value:?}"))
}

impl RoomRow {
    /// The room with its people: `participants` and `bans` are its own rows,
    /// all of them when `complete`, else those of the people asked for.
    fn into_room(
        self,
        people: crate::people::People,
        complete: bool,
        current_item: Option<QueueItem>,
    ) -> Result<Room, PersistenceError> {
        // rooms.current_item_id and the item marked current are written together.
        if self.current_item_id != current_item.as_ref().map(|i| i.id.0) {
            return Err(PersistenceError::Corrupt(format!(
                "room {}: current_item_id {:?} but current item {:?}",
                self.code,
                self.current_item_id,
                current_item.as_ref().map(|i| i.id)
            )));
        }
        let status = match (self.status.as_str(), self.grace_deadline) {
            ("open", _) => RoomStatus::Open,
            ("grace", Some(deadline)) => RoomStatus::Grace {
                deadline: Millis(deadline),
                was_playing: self.was_playing,
            },
            ("closed", _) => RoomStatus::Closed,
            ("deleted", _) => RoomStatus::Deleted,
            (other, _) => return Err(corrupt("room status", other)),
        };
        let media_url = match self.media_url {
            Some(url) => Some(MediaUrl::parse(&url).map_err(|_| corrupt("media url", &url))?),
            None => None,
        };
        let name = RoomName::parse(&self.name).map_err(|_| corrupt("room name", &self.name))?;
        let settings = RoomSettings {
            name,
            is_private: self.is_private,
            is_chat_enabled: self.is_chat_enabled,
            media_url,
            control: Control::parse(&self.control)
                .ok_or_else(|| corrupt("control", &self.control))?,
            on_host_timeout: OnHostTimeout::parse(&self.on_host_timeout)
                .ok_or_else(|| corrupt("on_host_timeout", &self.on_host_timeout))?,
            wait_policy: WaitPolicy::parse(&self.wait_policy)
                .ok_or_else(|| corrupt("wait_policy", &self.wait_policy))?,
            viewers_can_queue: self.viewers_can_queue,
            queue_mode: QueueMode::parse(&self.queue_mode)
                .ok_or_else(|| corrupt("queue_mode", &self.queue_mode))?,
        };
        let code = RoomCode::parse(&self.code).map_err(|_| corrupt("room code", &self.code))?;
        let host = UserId(self.host_id);
        // rooms.host_id says who hosts; the participant rows must agree, as
        // every write keeps them together in one transaction. A partial load
        // holds the host's row only if the host was asked for.
        let hosts: Vec<UserId> = people
            .participants
            .values()
            .filter(|p| p.role == watchparty_domain::Role::Host)
            .map(|p| p.user)
            .collect();
        let host_loaded = complete || people.participants.contains_key(&host);
        let agree = if host_loaded {
            hosts == [host]
        } else {
            hosts.is_empty()
        };
        if !agree {
            return Err(PersistenceError::Corrupt(format!(
                "room {}: host_id {} but host participants {hosts:?}",
                self.code, self.host_id
            )));
        }
        Ok(Room {
            id: RoomId(self.id),
            code,
            owner: UserId(self.owner_id),
            host,
            host_epoch: u64::try_from(self.host_epoch)
                .map_err(|_| corrupt("host_epoch", &self.host_epoch.to_string()))?,
            settings,
            status,
            playback: PlaybackState {
                is_playing: self.is_playing,
                position: Position::clamped(self.position),
                updated_at: Millis(self.position_at),
                rate: Rate::new(self.rate).map_err(|_| corrupt("rate", &self.rate.to_string()))?,
                version: u64::try_from(self.playback_version)
                    .map_err(|_| corrupt("playback_version", &self.playback_version.to_string()))?,
                item: current_item.as_ref().map(|i| i.id),
            },
            current_item,
            queue_version: u64::try_from(self.queue_version)
                .map_err(|_| corrupt("queue_version", &self.queue_version.to_string()))?,
            created_at: Millis(self.created_at),
            participants: people.participants,
            bans: people.bans,
        })
    }
}

/// A stored counter (`host_epoch`, the playback version) as a column value.
fn counter(value: u64) -> i64 {
    // Both grow by one per change: i64::MAX is never reached.
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn status_name(status: RoomStatus) -> &'static str {
    match status {
        RoomStatus::Open => "open",
        RoomStatus::Grace { .. } => "grace",
        RoomStatus::Closed => "closed",
        RoomStatus::Deleted => "deleted",
    }
}

fn grace_fields(status: RoomStatus) -> (Option<i64>, bool) {
    match status {
        RoomStatus::Grace {
            deadline,
            was_playing,
        } => (Some(deadline.0), was_playing),
        _ => (None, false),
    }
}

type UserRow = (i64, String, String, String, Option<i64>);

fn user_from_row((id, email, display_name, password_hash, disabled_at): UserRow) -> StoredUser {
    StoredUser {
        id: UserId(id),
        email,
        display_name,
        password_hash,
        is_disabled: disabled_at.is_some(),
    }
}

const USER_COLUMNS: (
    users::id,
    users::email,
    users::display_name,
    users::password_hash,
    users::disabled_at,
) = (
    users::id,
    users::email,
    users::display_name,
    users::password_hash,
    users::disabled_at,
);

/// The conditional update of the room's own row; `false` when the stored
/// row no longer matches `before`.
fn update_room_row(
    conn: &mut DbConnection,
    before: &Room,
    after: &Room,
    now: Millis,
) -> Result<bool, PersistenceError> {
    let expected_status = status_name(before.status);
    // Non-grace rooms store no deadline; i64::MIN never matches a real one.
    let expected_deadline = grace_fields(before.status).0.unwrap_or(i64::MIN);
    let (deadline, was_playing) = grace_fields(after.status);
    let deleted_at = (after.status == RoomStatus::Deleted).then_some(now.0);
    let (was, settings) = (&before.settings, &after.settings);
    let playback = after.playback;
    let changed = diesel::update(rooms::table)
        .filter(rooms::id.eq(before.id.0))
        .filter(rooms::status.eq(expected_status))
        .filter(
            rooms::grace_deadline
                .eq(expected_deadline)
                .or(rooms::grace_deadline.is_null()),
        )
        // Two instances changing the host from the same epoch: one wins.
        .filter(rooms::host_epoch.eq(counter(before.host_epoch)))
        // Two instances changing playback from the same version (every
        // change of playback, a new video's included, moves it): one wins,
        // the other applies its command again to what won.
        .filter(rooms::playback_version.eq(counter(before.playback.version)))
        // Nor one instance's queue change another's.
        .filter(rooms::queue_version.eq(counter(before.queue_version)))
        // Nor may one instance's settings overwrite another's made meanwhile.
        .filter(rooms::name.eq(was.name.as_str()))
        .filter(rooms::is_private.eq(was.is_private))
        .filter(rooms::is_chat_enabled.eq(was.is_chat_enabled))
        .filter(rooms::control.eq(was.control.as_str()))
        .filter(rooms::on_host_timeout.eq(was.on_host_timeout.as_str()))
        .filter(rooms::wait_policy.eq(was.wait_policy.as_str()))
        .filter(rooms::viewers_can_queue.eq(was.viewers_can_queue))
        .filter(rooms::queue_mode.eq(was.queue_mode.as_str()))
        .set((
            (
                rooms::name.eq(settings.name.as_str()),
                rooms::is_private.eq(settings.is_private),
                rooms::is_chat_enabled.eq(settings.is_chat_enabled),
                rooms::media_url.eq(settings.media_url.as_ref().map(MediaUrl::as_str)),
                rooms::control.eq(settings.control.as_str()),
                rooms::on_host_timeout.eq(settings.on_host_timeout.as_str()),
                rooms::wait_policy.eq(settings.wait_policy.as_str()),
                rooms::viewers_can_queue.eq(settings.viewers_can_queue),
                rooms::queue_mode.eq(settings.queue_mode.as_str()),
            ),
            (
                rooms::status.eq(status_name(after.status)),
                rooms::grace_deadline.eq(deadline),
                rooms::was_playing.eq(was_playing),
                rooms::deleted_at.eq(deleted_at),
                rooms::host_id.eq(after.host.0),
                rooms::host_epoch.eq(counter(after.host_epoch)),
            ),
            (
                rooms::is_playing.eq(playback.is_playing),
                rooms::position.eq(playback.position.seconds()),
                rooms::position_at.eq(playback.updated_at.0),
                rooms::rate.eq(playback.rate.get()),
                rooms::playback_version.eq(counter(playback.version)),
            ),
            (
                rooms::current_item_id.eq(after.current_item.as_ref().map(|i| i.id.0)),
                rooms::queue_version.eq(counter(after.queue_version)),
                rooms::advance_at.eq(after.advance_due_at().map(|at| at.0)),
            ),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// A room with its host's display name, as views need both.
pub type RoomWithHost = (Room, String);

/// The room with this code, its host's name, its participants and its bans
/// in one statement, hence one round trip and one consistent snapshot on
/// both backends (a room is loaded for every command, so this is the hot
/// read). One row per participant and per ban, the room's columns repeated;
/// `entry` says which a row is, NULL for a room with neither.
fn room_by_code_sql(placeholder: &str, people: &PeopleNeeded, voters: &str) -> String {
    // User ids are integers, written into the statement as such: nothing
    // a client typed reaches it.
    let only = match people {
        PeopleNeeded::All => String::new(),
        PeopleNeeded::Only(users) if users.is_empty() => " AND 1 = 0".to_owned(),
        PeopleNeeded::Only(users) => {
            let ids: Vec<String> = users.iter().map(|u| u.0.to_string()).collect();
            format!(" AND x.user_id IN ({})", ids.join(", "))
        }
    };
    format!(
        "SELECT r.id, r.code, r.name, r.host_id, r.is_private, r.is_chat_enabled, r.media_url, \
         r.status, r.grace_deadline, r.was_playing, r.is_playing, r.position, r.position_at, \
         r.created_at, r.owner_id, r.host_epoch, r.control, r.on_host_timeout, r.wait_policy, \
         r.viewers_can_queue, r.queue_mode, r.rate, r.playback_version, \
         r.current_item_id, r.queue_version, \
         c.media_url AS c_media_url, c.title AS c_title, c.duration AS c_duration, \
         c.added_by AS c_added_by, c.added_at AS c_added_at, c.sort_key AS c_sort_key, \
         (SELECT {voters} FROM queue_votes v WHERE v.item_id = r.current_item_id) AS c_voters, \
         u.display_name AS host_name, x.entry, x.user_id AS e_user, x.label AS e_label, \
         x.t1 AS e_t1, x.t2 AS e_t2, x.flag AS e_flag, x.t3 AS e_t3, x.reason AS e_reason, \
         x.by_id AS e_by \
         FROM rooms r \
         JOIN users u ON u.id = r.host_id \
         LEFT JOIN queue_items c ON c.id = r.current_item_id \
         LEFT JOIN ( \
           SELECT 'p' AS entry, room_id, user_id, role AS label, joined_at AS t1, \
             became_co_host_at AS t2, muted AS flag, muted_until AS t3, \
             CAST(NULL AS TEXT) AS reason, CAST(NULL AS BIGINT) AS by_id \
           FROM participants \
           UNION ALL \
           SELECT 'b', room_id, user_id, kind, created_at, CAST(NULL AS BIGINT), FALSE, \
             expires_at, reason, by_id \
           FROM room_bans \
         ) x ON x.room_id = r.id{only} \
         WHERE r.code = {placeholder}"
    )
}

/// One row of [`room_by_code_sql`].
#[derive(QueryableByName)]
struct WholeRoomRow {
    #[diesel(embed)]
    room: RoomRow,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    c_media_url: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    c_title: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
    c_duration: Option<f64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    c_added_by: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    c_added_at: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    c_sort_key: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    c_voters: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    host_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    entry: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    e_user: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    e_label: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    e_t1: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    e_t2: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    e_flag: Option<bool>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    e_t3: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    e_reason: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    e_by: Option<i64>,
}

/// Folds the rows of one room back into the room.
fn whole_room(
    rows: Vec<WholeRoomRow>,
    complete: bool,
) -> Result<Option<RoomWithHost>, PersistenceError> {
    use crate::people::{BanRow, ParticipantRow};
    let mut people = crate::people::People::default();
    let mut head = None;
    for row in rows {
        let missing = || PersistenceError::Corrupt("room row without its entry's columns".into());
        match row.entry.as_deref() {
            Some("p") => {
                let participant = ParticipantRow {
                    room_id: row.room.id,
                    user_id: row.e_user.ok_or_else(missing)?,
                    role: row.e_label.ok_or_else(missing)?,
                    joined_at: row.e_t1.ok_or_else(missing)?,
                    became_co_host_at: row.e_t2,
                    muted: row.e_flag.ok_or_else(missing)?,
                    muted_until: row.e_t3,
                }
                .into_participant()?;
                people.participants.insert(participant.user, participant);
            }
            Some("b") => {
                let ban = BanRow {
                    room_id: row.room.id,
                    user_id: row.e_user.ok_or_else(missing)?,
                    kind: row.e_label.ok_or_else(missing)?,
                    reason: row.e_reason,
                    by_id: row.e_by.ok_or_else(missing)?,
                    created_at: row.e_t1.ok_or_else(missing)?,
                    expires_at: row.e_t3,
                }
                .into_ban()?;
                people.bans.insert(ban.user, ban);
            }
            Some(other) => return Err(corrupt("room entry", other)),
            None => {}
        }
        if head.is_none() {
            let current = match (row.room.current_item_id, row.c_media_url) {
                (Some(id), Some(url)) => Some(crate::queue::item_from_columns(
                    id,
                    url,
                    row.c_title,
                    row.c_duration,
                    row.c_added_by.unwrap_or_default(),
                    row.c_added_at.unwrap_or_default(),
                    row.c_sort_key.unwrap_or_default(),
                    crate::queue::voters_from_list(row.c_voters.as_deref())?,
                )?),
                _ => None,
            };
            head = Some((row.room, row.host_name, current));
        }
    }
    head.map(|(room, host_name, current)| {
        room.into_room(people, complete, current)
            .map(|room| (room, host_name))
    })
    .transpose()
}

/// One room's load, its statement written for both backends.
struct RoomLoad {
    code: String,
    complete: bool,
    sqlite: String,
    postgres: String,
}

impl RoomLoad {
    fn new(code: &RoomCode, people: &PeopleNeeded) -> Self {
        RoomLoad {
            code: code.as_str().to_owned(),
            complete: *people == PeopleNeeded::All,
            sqlite: room_by_code_sql("?", people, "group_concat(v.user_id, ',')"),
            postgres: room_by_code_sql("$1", people, "string_agg(CAST(v.user_id AS TEXT), ',')"),
        }
    }

    fn run(&self, conn: &mut DbConnection) -> Result<Option<RoomWithHost>, PersistenceError> {
        let rows = match conn {
            DbConnection::Sqlite(c) => diesel::sql_query(&self.sqlite)
                .bind::<diesel::sql_types::Text, _>(&self.code)
                .load::<WholeRoomRow>(c)?,
            DbConnection::Postgresql(c) => diesel::sql_query(&self.postgres)
                .bind::<diesel::sql_types::Text, _>(&self.code)
                .load::<WholeRoomRow>(c)?,
        };
        whole_room(rows, self.complete)
    }
}

/// Rows of rooms with their hosts' names, completed with their
/// participants and bans: one query per table for all of them.
fn rooms_with_hosts(
    conn: &mut DbConnection,
    rows: Vec<(RoomRow, String)>,
) -> Result<Vec<RoomWithHost>, PersistenceError> {
    let ids: Vec<i64> = rows.iter().map(|(row, _)| row.id).collect();
    let mut people = load_people(conn, &ids)?;
    let mut items = crate::queue::load_items(conn, &ids, true)?;
    rows.into_iter()
        .map(|(row, host)| {
            let own = people.remove(&row.id).unwrap_or_default();
            let current = items.remove(&row.id).and_then(|(current, _)| current);
            row.into_room(own, true, current).map(|room| (room, host))
        })
        .collect()
}

/// Runs `f` on one consistent snapshot of the database, so that a room and
/// its participants read in separate queries belong together even while
/// another instance writes (PostgreSQL's default isolation gives each
/// statement its own snapshot; SQLite's read transaction already has one).
pub(crate) fn snapshot<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, PersistenceError>,
) -> Result<T, PersistenceError> {
    use diesel::connection::SimpleConnection;
    conn.transaction(|conn| {
        if let DbConnection::Postgresql(pg) = conn {
            pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        f(conn)
    })
}

/// Open rooms, and grace rooms whose deadline has not passed, that are not private.
#[diesel::dsl::auto_type]
fn publicly_listed(now: i64) -> _ {
    let open: &'static str = "open";
    let grace: &'static str = "grace";
    let public: bool = false;
    rooms::is_private.eq(public).and(
        rooms::status
            .eq(open)
            .or(rooms::status.eq(grace).and(rooms::grace_deadline.gt(now))),
    )
}

impl Database {
    /// Stores a new user; [`PersistenceError::Conflict`] when the email is taken.
    pub async fn create_user(
        &self,
        email: &Email,
        password_hash: String,
        display_name: &DisplayName,
        now: Millis,
    ) -> Result<StoredUser, PersistenceError> {
        let email = email.as_str().to_owned();
        let display_name = display_name.as_str().to_owned();
        self.write(move |conn| {
            let id = diesel::insert_into(users::table)
                .values((
                    users::email.eq(&email),
                    users::password_hash.eq(&password_hash),
                    users::display_name.eq(&display_name),
                    users::created_at.eq(now.0),
                ))
                .returning(users::id)
                .get_result::<i64>(conn)?;
            Ok(StoredUser {
                id: UserId(id),
                email,
                display_name,
                password_hash,
                is_disabled: false,
            })
        })
        .await
    }

    /// The user with this (normalized) email.
    pub async fn user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<StoredUser>, PersistenceError> {
        let email = email.as_str().to_owned();
        self.run(move |conn| {
            let row = users::table
                .filter(users::email.eq(email))
                .select(USER_COLUMNS)
                .first::<UserRow>(conn)
                .optional()?;
            Ok(row.map(user_from_row))
        })
        .await
    }

    /// The user with this id.
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<StoredUser>, PersistenceError> {
        self.run(move |conn| {
            let row = users::table
                .find(id.0)
                .select(USER_COLUMNS)
                .first::<UserRow>(conn)
                .optional()?;
            Ok(row.map(user_from_row))
        })
        .await
    }

    /// Stores a new room with its host as the first participant.
    pub async fn create_room(&self, new: NewRoom) -> Result<Room, PersistenceError> {
        self.write(move |conn| {
            conn.transaction(|conn| {
                let NewRoom {
                    code,
                    host,
                    settings,
                    now,
                    first_item,
                } = new;
                let id = diesel::insert_into(rooms::table)
                    .values((
                        rooms::code.eq(code.as_str()),
                        rooms::name.eq(settings.name.as_str()),
                        rooms::host_id.eq(host.0),
                        rooms::is_private.eq(settings.is_private),
                        rooms::is_chat_enabled.eq(settings.is_chat_enabled),
                        rooms::media_url.eq(settings.media_url.as_ref().map(MediaUrl::as_str)),
                        rooms::status.eq("open"),
                        rooms::was_playing.eq(false),
                        rooms::is_playing.eq(false),
                        rooms::position.eq(0.0),
                        rooms::position_at.eq(now.0),
                        rooms::created_at.eq(now.0),
                        rooms::owner_id.eq(host.0),
                        rooms::host_epoch.eq(0),
                        rooms::control.eq(settings.control.as_str()),
                        rooms::on_host_timeout.eq(settings.on_host_timeout.as_str()),
                        rooms::wait_policy.eq(settings.wait_policy.as_str()),
                        rooms::viewers_can_queue.eq(settings.viewers_can_queue),
                        rooms::queue_mode.eq(settings.queue_mode.as_str()),
                        rooms::rate.eq(Rate::NORMAL.get()),
                        rooms::playback_version.eq(0),
                    ))
                    .returning(rooms::id)
                    .get_result::<i64>(conn)?;
                let mut room = Room::new(RoomId(id), code, host, settings, now);
                for founder in room.participants.values() {
                    insert_participant(conn, id, founder)?;
                }
                if let Some(item) = first_item {
                    // The room's video is its first current item (§12).
                    let before = room.clone();
                    room.current_item = Some(item);
                    room.playback.item = room.current_item.as_ref().map(|i| i.id);
                    if !update_room_row(conn, &before, &room, now)? {
                        return Err(PersistenceError::Conflict);
                    }
                    crate::queue::write_current(conn, &before, &room)?;
                }
                Ok(room)
            })
        })
        .await
    }

    /// The room with this code, deleted or not, with its host's name and
    /// all its participants and bans.
    pub async fn room_by_code(
        &self,
        code: &RoomCode,
    ) -> Result<Option<RoomWithHost>, PersistenceError> {
        self.room_with(code, &PeopleNeeded::All).await
    }

    /// The room with this code, deleted or not, with its host's name and
    /// only the participants and bans `people` names: what the rules need
    /// for one command. Saving it writes only what changed among those.
    pub async fn room_with(
        &self,
        code: &RoomCode,
        people: &PeopleNeeded,
    ) -> Result<Option<RoomWithHost>, PersistenceError> {
        let load = RoomLoad::new(code, people);
        self.run(move |conn| load.run(conn)).await
    }

    /// The room with this code as [`Database::room_with`] loads it for
    /// `PeopleNeeded::Only(vec![user])`, and, when `user` is one of its
    /// participants, their display name: one round trip (a second statement
    /// reads the name, only for a participant).
    pub async fn room_with_member(
        &self,
        code: &RoomCode,
        user: UserId,
    ) -> Result<Option<(RoomWithHost, Option<String>)>, PersistenceError> {
        let load = RoomLoad::new(code, &PeopleNeeded::Only(vec![user]));
        self.run(move |conn| {
            let Some((room, host_name)) = load.run(conn)? else {
                return Ok(None);
            };
            let name = if room.participants.contains_key(&user) {
                users::table
                    .filter(users::id.eq(user.0))
                    .select(users::display_name)
                    .first::<String>(conn)
                    .optional()?
            } else {
                None
            };
            Ok(Some(((room, host_name), name)))
        })
        .await
    }

    /// The publicly listed rooms among `codes` (rooms with live viewers).
    pub async fn public_rooms_among(
        &self,
        codes: Vec<RoomCode>,
        now: Millis,
    ) -> Result<Vec<RoomWithHost>, PersistenceError> {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        self.run(move |conn| {
            snapshot(conn, |conn| {
                let codes: Vec<&str> = codes.iter().map(RoomCode::as_str).collect();
                let rows = rooms::table
                    .inner_join(users::table)
                    .filter(publicly_listed(now.0))
                    .filter(rooms::code.eq_any(codes))
                    .select((RoomRow::as_select(), users::display_name))
                    .load::<(RoomRow, String)>(conn)?;
                rooms_with_hosts(conn, rows)
            })
        })
        .await
    }

    /// Publicly listed rooms not among `codes`, newest first.
    pub async fn public_rooms_except(
        &self,
        codes: Vec<RoomCode>,
        now: Millis,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<RoomWithHost>, PersistenceError> {
        self.run(move |conn| {
            snapshot(conn, |conn| {
                let codes: Vec<&str> = codes.iter().map(RoomCode::as_str).collect();
                let rows = rooms::table
                    .inner_join(users::table)
                    .filter(publicly_listed(now.0))
                    .filter(rooms::code.ne_all(codes))
                    .order((rooms::created_at.desc(), rooms::id.desc()))
                    .limit(limit)
                    .offset(offset)
                    .select((RoomRow::as_select(), users::display_name))
                    .load::<(RoomRow, String)>(conn)?;
                rooms_with_hosts(conn, rows)
            })
        })
        .await
    }

    /// Writes `after` over `before`, only if the stored room still has
    /// `before`'s status, grace deadline and `host_epoch`. `false` means
    /// somebody else changed it first (another instance, the sweeper, a
    /// racing host change): nothing was written. The participants and bans
    /// that differ between `before` and `after` are written in the same
    /// transaction, so concurrent changes to different people both land.
    pub async fn save_room(
        &self,
        before: &Room,
        after: &Room,
        now: Millis,
    ) -> Result<bool, PersistenceError> {
        self.save_room_audited(before, after, now, Vec::new()).await
    }

    /// [`Database::save_room`], also recording `audit` entries for the room
    /// in the same transaction: stored exactly when the change is.
    pub async fn save_room_audited(
        &self,
        before: &Room,
        after: &Room,
        now: Millis,
        audit: Vec<AuditRecord>,
    ) -> Result<bool, PersistenceError> {
        self.save_room_with_queue(before, after, None, now, audit)
            .await
    }

    /// [`Database::save_room_audited`] for a queue operation: the waiting
    /// items that differ between `waiting` `.0` (before) and `.1` (after)
    /// are written in the same transaction.
    pub async fn save_queue(
        &self,
        before: &Room,
        after: &Room,
        waiting: (Vec<QueueItem>, Vec<QueueItem>),
        now: Millis,
        audit: Vec<AuditRecord>,
    ) -> Result<bool, PersistenceError> {
        self.save_room_with_queue(before, after, Some(waiting), now, audit)
            .await
    }

    async fn save_room_with_queue(
        &self,
        before: &Room,
        after: &Room,
        waiting: Option<(Vec<QueueItem>, Vec<QueueItem>)>,
        now: Millis,
        audit: Vec<AuditRecord>,
    ) -> Result<bool, PersistenceError> {
        let before = before.clone();
        let after = after.clone();
        self.write(move |conn| {
            let saved = conn.transaction(|conn| {
                if !update_room_row(conn, &before, &after, now)? {
                    return Ok(false);
                }
                write_people(conn, before.id.0, &before, &after)?;
                if let Some((was, now)) = &waiting {
                    crate::queue::write_waiting(conn, &after, was, now)?;
                }
                crate::queue::write_current(conn, &before, &after)?;
                for record in &audit {
                    crate::people::insert_audit_record(conn, after.id, record)?;
                }
                Ok(true)
            });
            match saved {
                // Someone changed one of these people meanwhile: rolled back.
                Err(PersistenceError::Conflict) => Ok(false),
                other => other,
            }
        })
        .await
    }

    /// Codes of live rooms that change by themselves by `now`: a current
    /// item that played to its end, a timed mute or ban that lapsed, or a grace that ran out in a room whose
    /// `on_host_timeout` is `promote` (the others are closed in bulk by
    /// [`Database::close_expired_graces`]). Each is settled under its lock.
    pub async fn rooms_due(&self, now: Millis) -> Result<Vec<RoomCode>, PersistenceError> {
        use crate::schema::{participants, room_bans};
        self.run(move |conn| {
            let muted = participants::table
                .filter(participants::muted.eq(true))
                .filter(participants::muted_until.le(now.0))
                .select(participants::room_id);
            let lapsed = room_bans::table
                .filter(room_bans::expires_at.le(now.0))
                .select(room_bans::room_id);
            let promote: &'static str = "promote";
            let codes = rooms::table
                .filter(rooms::status.eq_any(["open", "grace"]))
                .filter(
                    rooms::status
                        .eq("grace")
                        .and(rooms::on_host_timeout.eq(promote))
                        .and(rooms::grace_deadline.le(now.0))
                        .or(rooms::id.eq_any(muted))
                        .or(rooms::id.eq_any(lapsed))
                        .or(rooms::advance_at.le(now.0)),
                )
                .select(rooms::code)
                .load::<String>(conn)?;
            codes
                .iter()
                .map(|c| RoomCode::parse(c).map_err(|_| corrupt("room code", c)))
                .collect()
        })
        .await
    }

    /// Codes of rooms whose grace deadline has passed by `now`.
    pub async fn expired_graces(&self, now: Millis) -> Result<Vec<RoomCode>, PersistenceError> {
        self.run(move |conn| {
            let codes = rooms::table
                .filter(rooms::status.eq("grace"))
                .filter(rooms::grace_deadline.le(now.0))
                .select(rooms::code)
                .load::<String>(conn)?;
            codes
                .iter()
                .map(|c| RoomCode::parse(c).map_err(|_| corrupt("room code", c)))
                .collect()
        })
        .await
    }

    /// Closes every room whose grace deadline has passed by `now`, in one
    /// conditional update, and returns their codes. Across instances each
    /// room is returned to exactly one caller: the update that changed it.
    /// Rooms whose `on_host_timeout` is `promote` are left alone: whether
    /// they close depends on who is connected, so they are settled one by
    /// one (`Room::expire_or_promote`, then [`Database::save_room`]).
    pub async fn close_expired_graces(
        &self,
        now: Millis,
    ) -> Result<Vec<RoomCode>, PersistenceError> {
        self.write(move |conn| {
            let codes = diesel::update(rooms::table)
                .filter(rooms::status.eq(status_name(RoomStatus::Grace {
                    deadline: now,
                    was_playing: false,
                })))
                .filter(rooms::grace_deadline.le(now.0))
                .filter(rooms::on_host_timeout.eq(OnHostTimeout::Close.as_str()))
                .set((
                    rooms::status.eq(status_name(RoomStatus::Closed)),
                    rooms::grace_deadline.eq(None::<i64>),
                    rooms::was_playing.eq(false),
                ))
                .returning(rooms::code)
                .get_results::<String>(conn)?;
            codes
                .iter()
                .map(|c| RoomCode::parse(c).map_err(|_| corrupt("room code", c)))
                .collect()
        })
        .await
    }

    /// The co-hosts of the room: with the host, who is not a viewer (what a
    /// socket's `PRESENCE` needs, without reading every viewer).
    pub async fn co_hosts(&self, room: RoomId) -> Result<Vec<UserId>, PersistenceError> {
        use crate::schema::participants;
        self.run(move |conn| {
            let ids = participants::table
                .filter(participants::room_id.eq(room.0))
                .filter(participants::role.eq(Role::CoHost.as_str()))
                .select(participants::user_id)
                .load::<i64>(conn)?;
            Ok(ids.into_iter().map(UserId).collect())
        })
        .await
    }

    /// This user's membership of this room, if any.
    pub async fn participant(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Option<StoredParticipant>, PersistenceError> {
        self.run(move |conn| find_participant(conn, room, user))
            .await
    }

    /// Makes the user a viewer of the room, or returns their existing
    /// membership. A user kept out by a kick or ban in force at `now` is
    /// refused with [`PersistenceError::Banned`] and stays out.
    pub async fn join(
        &self,
        room: RoomId,
        user: UserId,
        now: Millis,
    ) -> Result<StoredParticipant, PersistenceError> {
        self.write(move |conn| {
            conn.transaction(|conn| {
                if let Some(until) = crate::people::ban_in_force(conn, room, user, now)? {
                    return Err(PersistenceError::Banned(until));
                }
                if let Some(existing) = find_participant(conn, room, user)? {
                    return Ok(existing);
                }
                // A concurrent join of the same user may win the race: same
                // answer. The insert runs in a savepoint so that PostgreSQL's
                // transaction survives the refused insert.
                let viewer = Participant::viewer(user, now);
                match conn.transaction(|conn| insert_participant(conn, room.0, &viewer)) {
                    Ok(())
                    | Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => {}
                    Err(e) => return Err(e.into()),
                }
                find_participant(conn, room, user)?.ok_or_else(|| {
                    PersistenceError::Corrupt("participant vanished after insert".into())
                })
            })
        })
        .await
    }

    /// Stores a chat message and returns its id.
    pub async fn insert_message(
        &self,
        room: RoomId,
        user: UserId,
        text: String,
        now: Millis,
    ) -> Result<i64, PersistenceError> {
        self.write(move |conn| {
            let id = diesel::insert_into(chat_messages::table)
                .values((
                    chat_messages::room_id.eq(room.0),
                    chat_messages::user_id.eq(user.0),
                    chat_messages::message.eq(text),
                    chat_messages::created_at.eq(now.0),
                ))
                .returning(chat_messages::id)
                .get_result::<i64>(conn)?;
            Ok(id)
        })
        .await
    }

    /// A page of a room's chat history, oldest first.
    pub async fn messages(
        &self,
        room: RoomId,
        page: MessagePage,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, PersistenceError> {
        self.run(move |conn| {
            let base = chat_messages::table
                .inner_join(users::table)
                .filter(chat_messages::room_id.eq(room.0))
                .select((
                    chat_messages::id,
                    chat_messages::user_id,
                    users::display_name,
                    chat_messages::message,
                    chat_messages::created_at,
                ))
                .limit(limit);
            type Row = (i64, i64, String, String, i64);
            let rows: Vec<Row> = match page {
                MessagePage::Latest => {
                    let mut rows = base.order(chat_messages::id.desc()).load::<Row>(conn)?;
                    rows.reverse();
                    rows
                }
                MessagePage::Before(before) => {
                    let mut rows = base
                        .filter(chat_messages::id.lt(before))
                        .order(chat_messages::id.desc())
                        .load::<Row>(conn)?;
                    rows.reverse();
                    rows
                }
                MessagePage::After(after) => base
                    .filter(chat_messages::id.gt(after))
                    .order(chat_messages::id.asc())
                    .load::<Row>(conn)?,
            };
            Ok(rows
                .into_iter()
                .map(|(id, user, display_name, text, created_at)| StoredMessage {
                    id,
                    user: UserId(user),
                    display_name,
                    text,
                    created_at: Millis(created_at),
                })
                .collect())
        })
        .await
    }
}

/// What operators do, from the command line, on the database the servers share.
impl Database {
    /// Disables (`Some(now)`) or enables (`None`) the account with this email;
    /// `None` when there is no such account.
    pub async fn set_user_disabled(
        &self,
        email: &Email,
        disabled_at: Option<Millis>,
    ) -> Result<Option<StoredUser>, PersistenceError> {
        let email = email.as_str().to_owned();
        self.write(move |conn| {
            let changed = diesel::update(users::table.filter(users::email.eq(&email)))
                .set(users::disabled_at.eq(disabled_at.map(|t| t.0)))
                .execute(conn)?;
            if changed == 0 {
                return Ok(None);
            }
            let row = users::table
                .filter(users::email.eq(&email))
                .select(USER_COLUMNS)
                .first::<UserRow>(conn)?;
            Ok(Some(user_from_row(row)))
        })
        .await
    }

    /// Up to `limit` users with ids above `after`, by id.
    pub async fn users_after(
        &self,
        after: UserId,
        limit: i64,
    ) -> Result<Vec<StoredUser>, PersistenceError> {
        self.run(move |conn| {
            let rows = users::table
                .filter(users::id.gt(after.0))
                .order(users::id.asc())
                .limit(limit)
                .select(USER_COLUMNS)
                .load::<UserRow>(conn)?;
            Ok(rows.into_iter().map(user_from_row).collect())
        })
        .await
    }

    /// Which of `ids` are disabled accounts (or no longer exist).
    pub async fn inactive_users_among(
        &self,
        ids: Vec<UserId>,
    ) -> Result<Vec<UserId>, PersistenceError> {
        self.run(move |conn| {
            let wanted: Vec<i64> = ids.iter().map(|u| u.0).collect();
            let active: Vec<i64> = users::table
                .filter(users::id.eq_any(&wanted))
                .filter(users::disabled_at.is_null())
                .select(users::id)
                .load(conn)?;
            Ok(ids.into_iter().filter(|u| !active.contains(&u.0)).collect())
        })
        .await
    }

    /// Which of `codes` name rooms that were deleted (or no longer exist).
    pub async fn deleted_rooms_among(
        &self,
        codes: Vec<RoomCode>,
    ) -> Result<Vec<RoomCode>, PersistenceError> {
        self.run(move |conn| {
            let wanted: Vec<&str> = codes.iter().map(RoomCode::as_str).collect();
            let live: Vec<String> = rooms::table
                .filter(rooms::code.eq_any(&wanted))
                .filter(rooms::status.ne("deleted"))
                .select(rooms::code)
                .load(conn)?;
            Ok(codes
                .into_iter()
                .filter(|c| !live.iter().any(|l| l == c.as_str()))
                .collect())
        })
        .await
    }
}
