//! This instance's copies of room rows: each room's own row (with its host's
//! name and current item) and the memberships of the users who asked for it,
//! so that a join and a socket opening do not read the database again for
//! what it told a moment ago.
//!
//! A copy is only ever used while it is provably as fresh as the database:
//! every stored change of a room's rows bumps the room's stamp in live state
//! (`Stamps`, shared by every instance) once it is committed and before it is
//! announced; a copy records the stamp read *before* its rows were read, and
//! is used only while the stamp still reads the same. A change on any
//! instance therefore retires every instance's copy at once, whether or not
//! its broadcast arrives. Only the room's own events on this instance keep a
//! copy going (a join adds the joiner's membership); every other change
//! retires it, and the next reader loads the room again.
//!
//! What is never trusted from a copy: the *absence* of a membership (a join
//! on another instance does not bump the stamp, so a copy may not know of
//! it: the database is asked) and bans (a join checks them in the same
//! transaction that inserts the membership).
//!
//! The copies are bounded: at most [`CAPACITY`] rooms, the oldest copy
//! making room for a new one, and none older than [`MAX_AGE`], which bounds
//! what a change that bumps no stamp (an operator's `watchparty room close`,
//! which writes the database only, or a bump lost to a live-state failure)
//! can leave stale: no longer than the reconciler takes to act on it anyway.

use crate::error::{Classify, ServiceError};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watchparty_domain::{Room, RoomCode, UserId};
use watchparty_persistence::{Database, StoredParticipant};
use watchparty_realtime_cache::RealtimeCache;

/// How many rooms' copies an instance keeps.
pub(crate) const CAPACITY: usize = 4096;
/// How long a copy may be used at most, fresh stamp or not.
pub(crate) const MAX_AGE: Duration = crate::operator::RECONCILE_EVERY;

/// A room as a copy (or the database) told it at `stamp`, with one user's
/// membership.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// The room's row; its participants are `member`'s row alone, its bans
    /// none (a copy keeps no bans).
    pub(crate) room: Room,
    /// The host's display name.
    pub(crate) host_name: String,
    /// The user's membership, with their name.
    pub(crate) member: Option<StoredParticipant>,
    /// The room's stamp read before these rows were.
    pub(crate) stamp: u64,
}

#[derive(Debug, Clone)]
struct Copy {
    stamp: u64,
    loaded: Instant,
    // The room's own row: no participants, no bans.
    head: Room,
    host_name: String,
    members: HashMap<UserId, StoredParticipant>,
    co_hosts: Option<Vec<UserId>>,
    // Its place in `Copies::order`.
    generation: u64,
}

#[derive(Debug, Default)]
struct Copies {
    by_room: HashMap<RoomCode, Copy>,
    // Rooms by when their copy was made, oldest first; an entry whose
    // generation no longer matches its copy is skipped.
    order: VecDeque<(RoomCode, u64)>,
    next_generation: u64,
}

impl Copies {
    /// The copy of `code` made at `stamp`, not too old.
    fn fresh(&mut self, code: &RoomCode, stamp: u64) -> Option<&mut Copy> {
        let usable = self
            .by_room
            .get(code)
            .is_some_and(|c| c.stamp == stamp && c.loaded.elapsed() < MAX_AGE);
        if !usable {
            return None;
        }
        self.by_room.get_mut(code)
    }

    fn insert(&mut self, code: RoomCode, mut copy: Copy) {
        if let Some(old) = self.by_room.get(&code) {
            copy.generation = old.generation;
            self.by_room.insert(code, copy);
            return;
        }
        while self.by_room.len() >= CAPACITY {
            let Some((oldest, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .by_room
                .get(&oldest)
                .is_some_and(|c| c.generation == generation)
            {
                self.by_room.remove(&oldest);
            }
        }
        self.next_generation += 1;
        copy.generation = self.next_generation;
        self.order.push_back((code.clone(), copy.generation));
        self.by_room.insert(code, copy);
        // Entries of copies retired meanwhile are dropped now and then.
        if self.order.len() > 2 * CAPACITY {
            let by_room = &self.by_room;
            self.order.retain(|(code, generation)| {
                by_room
                    .get(code)
                    .is_some_and(|c| c.generation == *generation)
            });
        }
    }
}

/// This instance's copies of room rows (see the module's documentation).
pub(crate) struct RoomRows {
    db: Database,
    live: Arc<dyn RealtimeCache>,
    copies: Mutex<Copies>,
}

impl RoomRows {
    pub(crate) fn new(db: Database, live: Arc<dyn RealtimeCache>) -> Self {
        RoomRows {
            db,
            live,
            copies: Mutex::default(),
        }
    }

    fn copies(&self) -> std::sync::MutexGuard<'_, Copies> {
        self.copies.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The room's stamp now.
    pub(crate) async fn stamp(&self, code: &RoomCode) -> Result<u64, ServiceError> {
        self.live.stamp(code).await.classify()
    }

    /// The room with `user`'s membership, from a copy whose stamp is the
    /// room's stamp now when it knows the user as a member, otherwise from
    /// the database (one round trip), which refreshes the copy. `None` for
    /// an unknown code.
    pub(crate) async fn member(
        &self,
        code: &RoomCode,
        user: UserId,
    ) -> Result<Option<Seen>, ServiceError> {
        let stamp = self.stamp(code).await?;
        if let Some(seen) = self.copied(code, user, stamp) {
            return Ok(Some(seen));
        }
        self.load(code, user, stamp).await
    }

    /// Like [`RoomRows::member`], for a join: the room's own row is enough
    /// (the join decides membership and bans in the database); the copy is
    /// used for it whether or not it knows the user. `member` is the user's
    /// membership when the database told it.
    pub(crate) async fn for_join(
        &self,
        code: &RoomCode,
        user: UserId,
    ) -> Result<Option<Seen>, ServiceError> {
        let stamp = self.stamp(code).await?;
        let head = {
            let mut copies = self.copies();
            copies
                .fresh(code, stamp)
                .map(|c| (c.head.clone(), c.host_name.clone()))
        };
        if let Some((room, host_name)) = head {
            return Ok(Some(Seen {
                room,
                host_name,
                member: None,
                stamp,
            }));
        }
        self.load(code, user, stamp).await
    }

    /// The copy's answer for a member it knows, at `stamp`.
    fn copied(&self, code: &RoomCode, user: UserId, stamp: u64) -> Option<Seen> {
        let mut copies = self.copies();
        let copy = copies.fresh(code, stamp)?;
        let member = copy.members.get(&user)?.clone();
        let mut room = copy.head.clone();
        room.participants.insert(user, member.participant());
        Some(Seen {
            room,
            host_name: copy.host_name.clone(),
            member: Some(member),
            stamp,
        })
    }

    /// Reads the room and the user's membership from the database and
    /// keeps them, as of `stamp` (read before).
    async fn load(
        &self,
        code: &RoomCode,
        user: UserId,
        stamp: u64,
    ) -> Result<Option<Seen>, ServiceError> {
        let Some(((room, host_name), name)) =
            self.db.room_with_member(code, user).await.classify()?
        else {
            return Ok(None);
        };
        let member = match (room.participants.get(&user), name) {
            (Some(p), Some(display_name)) => Some(StoredParticipant::of(p, display_name)),
            _ => None,
        };
        let mut head = room.clone();
        head.participants.clear();
        head.bans.clear();
        {
            let mut copies = self.copies();
            match copies.fresh(code, stamp) {
                // The same stamp: the room's row is the copy's; add the member.
                Some(copy) => {
                    if let Some(member) = &member {
                        copy.members.insert(user, member.clone());
                    }
                }
                None => {
                    let copy = Copy {
                        stamp,
                        loaded: Instant::now(),
                        head,
                        host_name: host_name.clone(),
                        members: member.iter().map(|m| (user, m.clone())).collect(),
                        co_hosts: None,
                        generation: 0,
                    };
                    copies.insert(code.clone(), copy);
                }
            }
        }
        Ok(Some(Seen {
            room,
            host_name,
            member,
            stamp,
        }))
    }

    /// A join this instance stored: the copy made at `stamp` (read before
    /// the join) learns the new membership. A copy made since, at another
    /// stamp, is left alone: it may have seen the membership removed.
    pub(crate) fn joined(&self, code: &RoomCode, stamp: u64, member: &StoredParticipant) {
        let mut copies = self.copies();
        if let Some(copy) = copies.by_room.get_mut(code) {
            if copy.stamp == stamp {
                copy.members.insert(member.user, member.clone());
            }
        }
    }

    /// The room's co-hosts, from the copy at `stamp` or from the database.
    pub(crate) async fn co_hosts(
        &self,
        room: &Room,
        stamp: u64,
    ) -> Result<Vec<UserId>, ServiceError> {
        let known = {
            let mut copies = self.copies();
            copies
                .fresh(&room.code, stamp)
                .and_then(|c| c.co_hosts.clone())
        };
        if let Some(co_hosts) = known {
            return Ok(co_hosts);
        }
        let co_hosts = self.db.co_hosts(room.id).await.classify()?;
        if let Some(copy) = self.copies().fresh(&room.code, stamp) {
            copy.co_hosts = Some(co_hosts.clone());
        }
        Ok(co_hosts)
    }

    /// A change of the room was stored here: every instance's copy is
    /// retired (the stamp moves), this one's at once. Called once the change
    /// is committed and before it is announced.
    pub(crate) async fn changed(&self, code: &RoomCode) {
        self.copies().by_room.remove(code);
        if let Err(e) = self.live.bump_stamp(code).await {
            // Other instances' copies then last until their age runs out.
            tracing::warn!(room = %code, error = %e, "room stamp not bumped; other instances' copies of the room expire by age");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use watchparty_domain::{Millis, RoomId, RoomName, RoomSettings};

    fn copy_of(n: u32, stamp: u64) -> (RoomCode, Copy) {
        // Five bits of `n` per character.
        let mut entropy = [0u8; 10];
        for (i, byte) in entropy.iter_mut().enumerate() {
            *byte = u8::try_from((n >> (5 * i).min(31)) & 31).unwrap();
        }
        let code = RoomCode::from_entropy(entropy);
        let settings = RoomSettings::named(RoomName::parse("room").unwrap());
        let head = Room::new(
            RoomId(i64::from(n)),
            code.clone(),
            UserId(1),
            settings,
            Millis(0),
        );
        let copy = Copy {
            stamp,
            loaded: Instant::now(),
            head,
            host_name: "ana".into(),
            members: HashMap::new(),
            co_hosts: None,
            generation: 0,
        };
        (code, copy)
    }

    #[test]
    fn copies_are_bounded_and_the_oldest_goes_first() {
        let mut copies = Copies::default();
        let total = u32::try_from(CAPACITY).unwrap() + 10;
        for n in 0..total {
            let (code, copy) = copy_of(n, 1);
            copies.insert(code, copy);
            // Made again: it keeps its place, and takes none more.
            if n % 7 == 0 {
                let (code, copy) = copy_of(n, 2);
                copies.insert(code, copy);
            }
        }
        assert_eq!(copies.by_room.len(), CAPACITY);
        assert!(copies.order.len() <= 2 * CAPACITY);
        for n in 0..10 {
            assert!(
                copies.fresh(&copy_of(n, 1).0, 1).is_none(),
                "room {n} evicted"
            );
        }
        assert!(copies.fresh(&copy_of(total - 1, 1).0, 1).is_some());
        assert!(copies.fresh(&copy_of(10, 1).0, 1).is_some());
    }

    #[test]
    fn a_copy_serves_only_at_its_stamp_and_age() {
        let mut copies = Copies::default();
        let (code, copy) = copy_of(1, 5);
        copies.insert(code.clone(), copy);
        assert!(copies.fresh(&code, 5).is_some());
        assert!(copies.fresh(&code, 6).is_none(), "the room changed since");
        let old = Instant::now().checked_sub(MAX_AGE).unwrap();
        copies.by_room.get_mut(&code).unwrap().loaded = old;
        assert!(copies.fresh(&code, 5).is_none(), "too old");
    }
}
