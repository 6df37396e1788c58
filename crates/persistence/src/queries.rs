//! The queries, written once for both backends.

use crate::connection::DbConnection;
use crate::error::PersistenceError;
use crate::schema::{chat_messages, participants, rooms, users};
use crate::Database;
use diesel::prelude::*;
use watchparty_domain::{
    DisplayName, Email, MediaUrl, Millis, PlaybackState, Position, Room, RoomCode, RoomId,
    RoomName, RoomSettings, RoomStatus, UserId,
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
}

/// A user's membership of a room.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredParticipant {
    /// Who.
    pub user: UserId,
    /// Their name.
    pub display_name: String,
    /// Whether they host the room.
    pub is_host: bool,
    /// When they first joined.
    pub joined_at: Millis,
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

#[derive(Queryable, Selectable)]
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
}

fn corrupt(what: &str, value: &str) -> PersistenceError {
    PersistenceError::Corrupt(format!("{what} {value:?}"))
}

impl RoomRow {
    fn into_room(self) -> Result<Room, PersistenceError> {
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
            is_private: self.is_private,
            is_chat_enabled: self.is_chat_enabled,
            media_url,
            ..RoomSettings::named(name)
        };
        // Roles, bans, mutes, the owner and the playback rate and version
        // are not stored yet (issue 14): the host is the creator, owner and
        // only participant the rules see, as before roles existed.
        let mut room = Room::new(
            RoomId(self.id),
            RoomCode::parse(&self.code).map_err(|_| corrupt("room code", &self.code))?,
            UserId(self.host_id),
            settings,
            Millis(self.created_at),
        );
        room.status = status;
        room.playback = PlaybackState {
            is_playing: self.is_playing,
            position: Position::clamped(self.position),
            updated_at: Millis(self.position_at),
            ..room.playback
        };
        Ok(room)
    }
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

/// A room with its host's display name, as views need both.
pub type RoomWithHost = (Room, String);

fn rooms_with_hosts(rows: Vec<(RoomRow, String)>) -> Result<Vec<RoomWithHost>, PersistenceError> {
    rows.into_iter()
        .map(|(row, host)| row.into_room().map(|room| (room, host)))
        .collect()
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
                    ))
                    .returning(rooms::id)
                    .get_result::<i64>(conn)?;
                insert_participant(conn, id, host, "host", now)?;
                Ok(Room::new(RoomId(id), code, host, settings, now))
            })
        })
        .await
    }

    /// The room with this code, deleted or not, with its host's name.
    pub async fn room_by_code(
        &self,
        code: &RoomCode,
    ) -> Result<Option<RoomWithHost>, PersistenceError> {
        let code = code.as_str().to_owned();
        self.run(move |conn| {
            let rows = rooms::table
                .inner_join(users::table)
                .filter(rooms::code.eq(code))
                .select((RoomRow::as_select(), users::display_name))
                .load::<(RoomRow, String)>(conn)?;
            Ok(rooms_with_hosts(rows)?.into_iter().next())
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
            let codes: Vec<&str> = codes.iter().map(RoomCode::as_str).collect();
            let rows = rooms::table
                .inner_join(users::table)
                .filter(publicly_listed(now.0))
                .filter(rooms::code.eq_any(codes))
                .select((RoomRow::as_select(), users::display_name))
                .load::<(RoomRow, String)>(conn)?;
            rooms_with_hosts(rows)
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
            rooms_with_hosts(rows)
        })
        .await
    }

    /// Writes `after` over `before`, only if the stored room still has
    /// `before`'s status and grace deadline. `false` means somebody else
    /// changed it first (another instance, the sweeper): nothing was written.
    pub async fn save_room(
        &self,
        before: &Room,
        after: &Room,
        now: Millis,
    ) -> Result<bool, PersistenceError> {
        let id = before.id.0;
        let expected_status = status_name(before.status);
        // Non-grace rooms store no deadline; i64::MIN never matches a real one.
        let expected_deadline = grace_fields(before.status).0.unwrap_or(i64::MIN);
        let (deadline, was_playing) = grace_fields(after.status);
        let deleted_at = (after.status == RoomStatus::Deleted).then_some(now.0);
        let name = after.settings.name.as_str().to_owned();
        let media_url = after
            .settings
            .media_url
            .as_ref()
            .map(|u| u.as_str().to_owned());
        let status = status_name(after.status);
        let settings = after.settings.clone();
        let playback = after.playback;
        self.write(move |conn| {
            let changed = diesel::update(rooms::table)
                .filter(rooms::id.eq(id))
                .filter(rooms::status.eq(expected_status))
                .filter(
                    rooms::grace_deadline
                        .eq(expected_deadline)
                        .or(rooms::grace_deadline.is_null()),
                )
                .set((
                    rooms::name.eq(name),
                    rooms::is_private.eq(settings.is_private),
                    rooms::is_chat_enabled.eq(settings.is_chat_enabled),
                    rooms::media_url.eq(media_url),
                    rooms::status.eq(status),
                    rooms::grace_deadline.eq(deadline),
                    rooms::was_playing.eq(was_playing),
                    rooms::is_playing.eq(playback.is_playing),
                    rooms::position.eq(playback.position.seconds()),
                    rooms::position_at.eq(playback.updated_at.0),
                    rooms::deleted_at.eq(deleted_at),
                ))
                .execute(conn)?;
            Ok(changed == 1)
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

    /// This user's membership of this room, if any.
    pub async fn participant(
        &self,
        room: RoomId,
        user: UserId,
    ) -> Result<Option<StoredParticipant>, PersistenceError> {
        self.run(move |conn| find_participant(conn, room, user))
            .await
    }

    /// Makes the user a viewer of the room, or returns their existing membership.
    pub async fn join(
        &self,
        room: RoomId,
        user: UserId,
        now: Millis,
    ) -> Result<StoredParticipant, PersistenceError> {
        self.write(move |conn| {
            if let Some(existing) = find_participant(conn, room, user)? {
                return Ok(existing);
            }
            match insert_participant(conn, room.0, user, "viewer", now) {
                // A concurrent join of the same user won the race: same answer.
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

fn insert_participant(
    conn: &mut DbConnection,
    room: i64,
    user: UserId,
    role: &str,
    now: Millis,
) -> QueryResult<()> {
    diesel::insert_into(participants::table)
        .values((
            participants::room_id.eq(room),
            participants::user_id.eq(user.0),
            participants::role.eq(role),
            participants::joined_at.eq(now.0),
        ))
        .execute(conn)
        .map(drop)
}

fn find_participant(
    conn: &mut DbConnection,
    room: RoomId,
    user: UserId,
) -> Result<Option<StoredParticipant>, PersistenceError> {
    let row = participants::table
        .inner_join(users::table)
        .filter(participants::room_id.eq(room.0))
        .filter(participants::user_id.eq(user.0))
        .select((
            participants::role,
            users::display_name,
            participants::joined_at,
        ))
        .first::<(String, String, i64)>(conn)
        .optional()?;
    Ok(
        row.map(|(role, display_name, joined_at)| StoredParticipant {
            user,
            display_name,
            is_host: role == "host",
            joined_at: Millis(joined_at),
        }),
    )
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
