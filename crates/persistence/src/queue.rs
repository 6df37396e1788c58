//! Queue items and votes (contract §12): the current item travels with the
//! room; the waiting items are read and written only for queue operations.

use crate::connection::DbConnection;
use crate::error::PersistenceError;
use crate::queries::{corrupt, snapshot};
use crate::schema::{counters, queue_items, queue_votes, users};
use crate::Database;
use diesel::prelude::*;
use std::collections::{BTreeSet, HashMap};
use watchparty_domain::{
    ItemDuration, ItemId, MediaUrl, Millis, QueueItem, QueueTitle, Room, RoomId, UserId,
};

#[derive(Queryable, Selectable)]
#[diesel(table_name = queue_items)]
pub(crate) struct ItemRow {
    pub(crate) id: i64,
    pub(crate) room_id: i64,
    pub(crate) media_url: String,
    pub(crate) title: Option<String>,
    pub(crate) duration: Option<f64>,
    pub(crate) added_by: i64,
    pub(crate) added_at: i64,
    pub(crate) sort_key: i64,
    pub(crate) is_current: bool,
}

impl ItemRow {
    pub(crate) fn into_item(self, votes: BTreeSet<UserId>) -> Result<QueueItem, PersistenceError> {
        item_from_columns(
            self.id,
            self.media_url,
            self.title,
            self.duration,
            self.added_by,
            self.added_at,
            self.sort_key,
            votes,
        )
    }
}

/// A queue item from its stored columns.
#[allow(clippy::too_many_arguments)]
pub(crate) fn item_from_columns(
    id: i64,
    media_url: String,
    title: Option<String>,
    duration: Option<f64>,
    added_by: i64,
    added_at: i64,
    order: i64,
    votes: BTreeSet<UserId>,
) -> Result<QueueItem, PersistenceError> {
    let url = MediaUrl::parse(&media_url).map_err(|_| corrupt("item media url", &media_url))?;
    let title = match title {
        Some(text) => QueueTitle::parse(&text).map_err(|_| corrupt("item title", &text))?,
        None => None,
    };
    let duration = match duration {
        Some(secs) => Some(
            ItemDuration::from_secs(secs).map_err(|_| corrupt("duration", &secs.to_string()))?,
        ),
        None => None,
    };
    Ok(QueueItem {
        id: ItemId(id),
        media_url: url,
        title,
        duration,
        added_by: UserId(added_by),
        added_at: Millis(added_at),
        votes,
        order,
    })
}

/// The voters of a current item as the room query folds them: user ids
/// joined by commas.
pub(crate) fn voters_from_list(list: Option<&str>) -> Result<BTreeSet<UserId>, PersistenceError> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(BTreeSet::new());
    };
    list.split(',')
        .map(|id| {
            id.trim()
                .parse()
                .map(UserId)
                .map_err(|_| corrupt("voter", id))
        })
        .collect()
}

/// The items of these rooms (only the current ones when `current_only`),
/// with their votes: two queries whatever their number. Waiting items come
/// in order-key order.
pub(crate) fn load_items(
    conn: &mut DbConnection,
    rooms: &[i64],
    current_only: bool,
) -> Result<HashMap<i64, StoredQueue>, PersistenceError> {
    let mut out: HashMap<i64, StoredQueue> = HashMap::new();
    if rooms.is_empty() {
        return Ok(out);
    }
    let mut query = queue_items::table
        .filter(queue_items::room_id.eq_any(rooms))
        .select(ItemRow::as_select())
        .order((queue_items::sort_key, queue_items::id))
        .into_boxed();
    if current_only {
        query = query.filter(queue_items::is_current.eq(true));
    }
    let rows: Vec<ItemRow> = query.load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut votes: HashMap<i64, BTreeSet<UserId>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let pairs: Vec<(i64, i64)> = queue_votes::table
            .filter(queue_votes::item_id.eq_any(chunk))
            .select((queue_votes::item_id, queue_votes::user_id))
            .load(conn)?;
        for (item, user) in pairs {
            votes.entry(item).or_default().insert(UserId(user));
        }
    }
    for row in rows {
        let (room, current) = (row.room_id, row.is_current);
        let voters = votes.remove(&row.id).unwrap_or_default();
        let item = row.into_item(voters)?;
        let entry = out.entry(room).or_default();
        if current {
            entry.0 = Some(item);
        } else {
            entry.1.push(item);
        }
    }
    Ok(out)
}

/// Inserts a queue item of `room`.
fn insert_item(
    conn: &mut DbConnection,
    room: i64,
    item: &QueueItem,
    is_current: bool,
) -> Result<(), PersistenceError> {
    diesel::insert_into(queue_items::table)
        .values((
            queue_items::id.eq(item.id.0),
            queue_items::room_id.eq(room),
            queue_items::media_url.eq(item.media_url.as_str()),
            queue_items::title.eq(item.title.as_ref().map(QueueTitle::as_str)),
            queue_items::duration.eq(item.duration.map(ItemDuration::seconds)),
            queue_items::added_by.eq(item.added_by.0),
            queue_items::added_at.eq(item.added_at.0),
            queue_items::sort_key.eq(item.order),
            queue_items::is_current.eq(is_current),
        ))
        .execute(conn)?;
    insert_votes(conn, item.id, item.votes.iter().copied())
}

fn insert_votes(
    conn: &mut DbConnection,
    item: ItemId,
    users: impl Iterator<Item = UserId>,
) -> Result<(), PersistenceError> {
    for user in users {
        diesel::insert_into(queue_votes::table)
            .values((
                queue_votes::item_id.eq(item.0),
                queue_votes::user_id.eq(user.0),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes an item and its votes; `Conflict` when it was already gone.
fn delete_item(conn: &mut DbConnection, room: i64, item: ItemId) -> Result<(), PersistenceError> {
    diesel::delete(queue_votes::table.filter(queue_votes::item_id.eq(item.0))).execute(conn)?;
    let gone = diesel::delete(
        queue_items::table
            .filter(queue_items::id.eq(item.0))
            .filter(queue_items::room_id.eq(room)),
    )
    .execute(conn)?;
    if gone == 1 {
        Ok(())
    } else {
        Err(PersistenceError::Conflict)
    }
}

/// Writes the votes that differ between two versions of one item.
fn write_votes(
    conn: &mut DbConnection,
    before: &QueueItem,
    after: &QueueItem,
) -> Result<(), PersistenceError> {
    for gone in before.votes.difference(&after.votes) {
        diesel::delete(
            queue_votes::table
                .filter(queue_votes::item_id.eq(after.id.0))
                .filter(queue_votes::user_id.eq(gone.0)),
        )
        .execute(conn)?;
    }
    // A vote that exists already (a race) is a unique violation: Conflict.
    insert_votes(
        conn,
        after.id,
        after.votes.difference(&before.votes).copied(),
    )
}

/// Writes the change of the room's current item: the old one is deleted
/// (it was played), the new one marked current (a waiting item that
/// advanced) or inserted (a new video); the votes of a current item that
/// stayed are brought up to date.
pub(crate) fn write_current(
    conn: &mut DbConnection,
    before: &Room,
    after: &Room,
) -> Result<(), PersistenceError> {
    let room = after.id.0;
    match (&before.current_item, &after.current_item) {
        (Some(was), Some(now)) if was.id == now.id => return write_votes(conn, was, now),
        (None, None) => return Ok(()),
        _ => {}
    }
    if let Some(was) = &before.current_item {
        delete_item(conn, room, was.id)?;
    }
    if let Some(now) = &after.current_item {
        let promoted = diesel::update(
            queue_items::table
                .filter(queue_items::id.eq(now.id.0))
                .filter(queue_items::room_id.eq(room))
                .filter(queue_items::is_current.eq(false)),
        )
        .set(queue_items::is_current.eq(true))
        .execute(conn)?;
        if promoted == 0 {
            insert_item(conn, room, now, true)?;
        }
    }
    Ok(())
}

/// Writes the difference between two versions of the waiting items: new
/// ones inserted, gone ones deleted (unless they became current), moved
/// ones given their new key, votes brought up to date.
pub(crate) fn write_waiting(
    conn: &mut DbConnection,
    room: &Room,
    before: &[QueueItem],
    after: &[QueueItem],
) -> Result<(), PersistenceError> {
    let was: HashMap<ItemId, &QueueItem> = before.iter().map(|i| (i.id, i)).collect();
    let now: HashMap<ItemId, &QueueItem> = after.iter().map(|i| (i.id, i)).collect();
    let current = room.current_item.as_ref().map(|i| i.id);
    for item in before {
        if !now.contains_key(&item.id) && Some(item.id) != current {
            delete_item(conn, room.id.0, item.id)?;
        }
    }
    for item in after {
        match was.get(&item.id) {
            None => insert_item(conn, room.id.0, item, false)?,
            Some(old) => {
                if old.order != item.order {
                    diesel::update(queue_items::table.filter(queue_items::id.eq(item.id.0)))
                        .set(queue_items::sort_key.eq(item.order))
                        .execute(conn)?;
                }
                write_votes(conn, old, item)?;
            }
        }
    }
    Ok(())
}

/// The current and waiting items of one room, as one snapshot.
pub type StoredQueue = (Option<QueueItem>, Vec<QueueItem>);

impl Database {
    /// A room's current item and waiting items (in order-key order), with
    /// their votes.
    pub async fn queue_of(&self, room: RoomId) -> Result<StoredQueue, PersistenceError> {
        self.run(move |conn| {
            snapshot(conn, |conn| {
                let mut all = load_items(conn, &[room.0], false)?;
                Ok(all.remove(&room.0).unwrap_or_default())
            })
        })
        .await
    }

    /// A fresh queue item id, never handed out before (on any instance).
    pub async fn reserve_item_id(&self) -> Result<ItemId, PersistenceError> {
        self.write(|conn| {
            let value = diesel::update(counters::table.filter(counters::name.eq("queue_item")))
                .set(counters::value.eq(counters::value + 1))
                .returning(counters::value)
                .get_result::<i64>(conn)?;
            Ok(ItemId(value))
        })
        .await
    }

    /// Display names of these users (those that exist).
    pub async fn display_names(
        &self,
        ids: Vec<UserId>,
    ) -> Result<HashMap<UserId, String>, PersistenceError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        self.run(move |conn| {
            let raw: Vec<i64> = ids.iter().map(|u| u.0).collect();
            let rows: Vec<(i64, String)> = users::table
                .filter(users::id.eq_any(raw))
                .select((users::id, users::display_name))
                .load(conn)?;
            Ok(rows.into_iter().map(|(id, n)| (UserId(id), n)).collect())
        })
        .await
    }
}
