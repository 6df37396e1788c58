//! The queue of contract §12 and §13 rules 16–19: what plays next, in which
//! order, who may change it, and when it advances.
//!
//! [`Queue`] is plain data — the waiting items, the current item, the
//! `queue_version` and the mode — and [`Queue::apply`] is the only way it
//! changes: one [`QueueOp`] at one instant gives the queue afterwards and
//! at most one [`QueueEvent`] (`QUEUE_UPDATED`), or a [`QueueRefusal`] named
//! after the contract's error code, and then nothing changed at all.
//!
//! What the queue cannot know is passed in: the instant, the actor's
//! [`Capabilities`] (from [`crate::Room::capabilities_of`]), the ids of new
//! items (the database assigns them) and, for the automatic advance, the
//! room's [`PlaybackState`]. What it does not decide is left to the caller:
//! that a voter is a participant (a muted viewer in a room where viewers may
//! not queue holds no capability at all, yet may vote), that the room is not
//! in grace (§13 rule 6: an advance or a new video then answers `conflict`,
//! and `ENDED` and the automatic advance are ignored), and resetting playback
//! to paused at 0 whenever the current item changes
//! ([`QueueEvent::changes_current`]).
//!
//! **Order keys.** Waiting items carry an `order` key, unique in the queue,
//! that gives the manual play order. Keys are spread [`ORDER_GAP`] apart when
//! items are added, so a move takes a key halfway between its new
//! neighbours and touches one stored row. Only when that gap is used up
//! (about 32 moves into the same spot) is every waiting item renumbered, and
//! [`QueueOutcome::renumbered`] says so, so that the store rewrites all keys.
//! In `vote` mode the keys are kept too (new items go last), so switching
//! back to `manual` finds the order as it was added and moved.

use crate::error::ValidationError;
use crate::ids::{Millis, UserId};
use crate::playback::PlaybackState;
use crate::roles::{Capabilities, Capability, QueueMode};
use crate::values::{allowed_one_line, visible, MediaUrl, MAX_POSITION};
use std::collections::BTreeSet;

/// The most waiting items a room holds (§12, `queue_full`). The current
/// item is being watched, not waiting, and does not count.
pub const MAX_QUEUE_ITEMS: usize = 200;
/// The most waiting items one user may have added (§12, `queue_full`).
pub const MAX_QUEUE_ITEMS_PER_USER: usize = 20;
/// The longest title, in characters after trimming.
pub const QUEUE_TITLE_MAX_CHARS: usize = 200;
/// The distance between the order keys of items added one after another:
/// 2³² leaves room for 32 moves into the same spot before a renumbering,
/// and for 2³¹ items put first before the keys run out.
pub const ORDER_GAP: i64 = 1 << 32;

/// A queue item's storage identity, the `id` of `QueueItem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub i64);

/// A queue item's title: one line, 1 to [`QUEUE_TITLE_MAX_CHARS`]
/// characters after trimming, the same character rule as names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueTitle(String);

impl QueueTitle {
    /// `Ok(None)` for a blank title (as if none was given); refuses control
    /// and format characters ([`ValidationError::Characters`]) and more than
    /// 200 characters ([`ValidationError::Title`]).
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        let text = raw.trim();
        if !allowed_one_line(text) {
            Err(ValidationError::Characters("title"))
        } else if !visible(text) {
            Ok(None)
        } else if text.chars().count() > QUEUE_TITLE_MAX_CHARS {
            Err(ValidationError::Title)
        } else {
            Ok(Some(QueueTitle(text.to_owned())))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a queue item plays, in seconds: finite, above 0, at most
/// [`MAX_POSITION`] (no position lies beyond it).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct ItemDuration(f64);

impl ItemDuration {
    /// Accepts a finite number of seconds in `(0, 1_000_000]`.
    pub fn from_secs(seconds: f64) -> Result<Self, ValidationError> {
        if seconds.is_finite() && seconds > 0.0 && seconds <= MAX_POSITION {
            Ok(ItemDuration(seconds))
        } else {
            Err(ValidationError::ItemDuration)
        }
    }

    /// The duration in seconds.
    pub fn seconds(self) -> f64 {
        self.0
    }
}

/// One video in the queue (`QueueItem`, without the per-reader `voted_by_me`:
/// see [`QueueItem::voted_by`]).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    /// Storage identity, given by the caller when the item is added.
    pub id: ItemId,
    /// The video.
    pub media_url: MediaUrl,
    /// A title shown instead of the URL.
    pub title: Option<QueueTitle>,
    /// How long it plays, when known: the automatic advance needs it.
    pub duration: Option<ItemDuration>,
    /// Who added it (for a `PATCH` of `media_url`: who patched).
    pub added_by: UserId,
    /// When it was added; in `vote` mode the older of two items with as
    /// many votes plays first.
    pub added_at: Millis,
    /// Who voted for it, each user once.
    pub votes: BTreeSet<UserId>,
    /// The manual play order: lower first, unique among the waiting items
    /// (see the module's note on order keys). Kept, but meaningless, once
    /// the item is current.
    pub order: i64,
}

impl QueueItem {
    /// A video set as the room's `media_url` (at creation or by `PATCH`):
    /// an item with no title or duration and no votes.
    pub fn video(id: ItemId, media_url: MediaUrl, added_by: UserId, added_at: Millis) -> Self {
        QueueItem {
            id,
            media_url,
            title: None,
            duration: None,
            added_by,
            added_at,
            votes: BTreeSet::new(),
            order: 0,
        }
    }

    /// The number of votes (`votes`).
    pub fn vote_count(&self) -> usize {
        self.votes.len()
    }

    /// Whether `user` voted for it (`voted_by_me` for that reader).
    pub fn voted_by(&self, user: UserId) -> bool {
        self.votes.contains(&user)
    }
}

/// Where an added item goes (`position`); ignored in `vote` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddPosition {
    /// After every waiting item (the default).
    #[default]
    End,
    /// Before every waiting item.
    Next,
}

impl AddPosition {
    /// Reads the contract's `end` or `next`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "end" => Some(AddPosition::End),
            "next" => Some(AddPosition::Next),
            _ => None,
        }
    }
}

/// An advance's `if_current` (§13 rule 17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IfCurrent {
    /// Absent: no check.
    #[default]
    Unchecked,
    /// `null`: only if no item is current.
    NoItem,
    /// Only if this item is current.
    Item(ItemId),
}

impl IfCurrent {
    /// From a request body where `None` is an absent field and `Some(None)`
    /// is `null`.
    pub fn from_field(field: Option<Option<ItemId>>) -> Self {
        match field {
            None => IfCurrent::Unchecked,
            Some(None) => IfCurrent::NoItem,
            Some(Some(item)) => IfCurrent::Item(item),
        }
    }

    fn holds(self, current: Option<ItemId>) -> bool {
        match self {
            IfCurrent::Unchecked => true,
            IfCurrent::NoItem => current.is_none(),
            IfCurrent::Item(item) => current == Some(item),
        }
    }
}

/// Who asks, and what they may do in the room right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub user: UserId,
    /// Their capabilities now ([`crate::Room::capabilities_of`]).
    pub capabilities: Capabilities,
}

impl Actor {
    fn may(self, capability: Capability) -> bool {
        self.capabilities.contains(capability)
    }
}

/// Something asked of the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueOp {
    /// `POST …/queue/` (needs `add_to_queue`). With no current item the new
    /// item becomes current at once; otherwise it waits, counted against
    /// the limits.
    Add {
        /// Who adds.
        actor: Actor,
        /// The new item's id, unused by any item in the queue.
        id: ItemId,
        /// The video.
        media_url: MediaUrl,
        /// An optional title.
        title: Option<QueueTitle>,
        /// An optional duration.
        duration: Option<ItemDuration>,
        /// Where it goes in `manual` mode.
        position: AddPosition,
    },
    /// `DELETE …/queue/{item_id}/` (the adder, or `manage_queue`); never the
    /// current item.
    Remove {
        /// Who removes.
        actor: Actor,
        /// Which item.
        item: ItemId,
    },
    /// `POST …/queue/{item_id}/move/` (needs `manage_queue`; `manual` mode).
    Move {
        /// Who moves.
        actor: Actor,
        /// Which waiting item.
        item: ItemId,
        /// The waiting item it goes after; `None`: to the front.
        after: Option<ItemId>,
        /// The client's `if_version`: refused unless `queue_version` is still it.
        if_version: Option<u64>,
    },
    /// `PUT …/queue/{item_id}/vote/` by a participant (the caller checks
    /// that): at most one vote per user and item; voting again changes
    /// nothing.
    Vote {
        /// Who votes.
        user: UserId,
        /// For which item (waiting or current).
        item: ItemId,
    },
    /// `DELETE …/queue/{item_id}/vote/` by a participant: a vote never cast
    /// is fine and changes nothing.
    Unvote {
        /// Whose vote.
        user: UserId,
        /// On which item.
        item: ItemId,
    },
    /// `POST …/queue/advance/` (needs `control_playback`).
    Advance {
        /// Who advances.
        actor: Actor,
        /// The client's `if_current`.
        if_current: IfCurrent,
    },
    /// `ENDED` from a controller's client: advances only if `item` is still
    /// current, for items of known duration too.
    Ended {
        /// Who reports.
        actor: Actor,
        /// The item that ended.
        item: ItemId,
    },
    /// The server's own advance, once the current item's duration is
    /// reached while playing ([`Queue::due_at`]): only if `item` is still
    /// current and due at the instant applied.
    AutoAdvance {
        /// The item the timer was armed for.
        item: ItemId,
        /// The room's playback now (of the current item).
        playback: PlaybackState,
    },
    /// A `PATCH` of `queue_mode` (needs `edit_room`).
    SetMode {
        /// Who changes it.
        actor: Actor,
        /// The new mode.
        mode: QueueMode,
    },
    /// A `PATCH` of `media_url` (needs `edit_room`): the new video replaces
    /// the current item; `None` leaves no item current. The waiting items
    /// stay as they are.
    ReplaceCurrent {
        /// Who patches.
        actor: Actor,
        /// The new current item's id and video; `None` for `media_url: null`.
        replacement: Option<(ItemId, MediaUrl)>,
    },
}

/// The `op` of `QUEUE_UPDATED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueChange {
    /// An item was added to the waiting items.
    Added,
    /// A waiting item was removed.
    Removed,
    /// A waiting item moved, or the mode changed (no item).
    Moved,
    /// A vote was cast or withdrawn.
    Voted,
    /// The current item changed, however it happened (§13 rule 16).
    Advanced,
}

impl QueueChange {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueChange::Added => "added",
            QueueChange::Removed => "removed",
            QueueChange::Moved => "moved",
            QueueChange::Voted => "voted",
            QueueChange::Advanced => "advanced",
        }
    }
}

/// One change of the queue: exactly one `QUEUE_UPDATED` to every socket.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEvent {
    /// The `queue_version` afterwards: one more than before.
    pub version: u64,
    /// What happened.
    pub op: QueueChange,
    /// The item concerned: added, removed, moved or voted on, or the new
    /// current item for `advanced` (none when nothing is current now, and
    /// for a change of mode).
    pub item: Option<QueueItem>,
    /// Who did it; `None` for the server's automatic advance.
    pub by: Option<UserId>,
}

impl QueueEvent {
    /// Whether the current item changed: then the room announces
    /// `ROOM_UPDATED` and `PLAYBACK_STATE` for the new item at 0 (§13 rule 16).
    pub fn changes_current(&self) -> bool {
        self.op == QueueChange::Advanced
    }
}

/// An accepted operation.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueOutcome {
    /// The queue afterwards.
    pub queue: Queue,
    /// What to announce; `None` when nothing changed (voting twice, a
    /// vote never cast, a move to where the item already is, the same mode
    /// or video again): then nothing is stored or sent.
    pub event: Option<QueueEvent>,
    /// The item the HTTP answer shows: the added item (current or waiting),
    /// the item voted on; `None` otherwise.
    pub item: Option<QueueItem>,
    /// Whether every waiting item got a new order key (a gap was used up):
    /// the store rewrites them all instead of one row.
    pub renumbered: bool,
}

/// Which limit an add ran into (`queue_full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueLimit {
    /// The room holds [`MAX_QUEUE_ITEMS`] waiting items.
    Room,
    /// The user added [`MAX_QUEUE_ITEMS_PER_USER`] of the waiting items.
    User,
}

/// Why an operation was refused; the queue is unchanged. Each is named
/// after the contract's error code ([`QueueRefusal::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRefusal {
    /// `forbidden`: the actor lacks the capability, or removes someone
    /// else's item without `manage_queue`. For `ENDED` the service ignores
    /// it silently (§13 rule 17).
    Forbidden,
    /// `not_found`: no such item in this queue (waiting or current).
    NotFound,
    /// `validation_error`: a move `after` the moved item itself.
    AfterItself,
    /// `conflict`: a move in `vote` mode, a move of (or after) the current
    /// item, removing the current item, advancing with neither a current
    /// nor a waiting item, or an id already in the queue.
    Conflict,
    /// `stale_version`: a stale `if_version` or `if_current` (for `ENDED`
    /// and the automatic advance: the item is no longer current, and the
    /// service drops it silently).
    StaleVersion {
        /// The `queue_version` now.
        version: u64,
        /// The current item now.
        current: Option<ItemId>,
    },
    /// `queue_full`: a limit would be passed.
    QueueFull(QueueLimit),
    /// The automatic advance fired before the current item's end (a timer
    /// armed for an older playback state): nothing happens; arm again at
    /// [`Queue::due_at`]. Never sent to a client.
    NotDue,
}

impl QueueRefusal {
    /// The contract's error code.
    pub fn code(self) -> &'static str {
        match self {
            QueueRefusal::Forbidden => "forbidden",
            QueueRefusal::NotFound => "not_found",
            QueueRefusal::AfterItself => "validation_error",
            QueueRefusal::Conflict | QueueRefusal::NotDue => "conflict",
            QueueRefusal::StaleVersion { .. } => "stale_version",
            QueueRefusal::QueueFull(_) => "queue_full",
        }
    }
}

/// A room's queue: the waiting items, the current item, `queue_version`
/// and the mode.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Queue {
    /// The waiting items by ascending `order` key (the manual order);
    /// [`Queue::play_order`] gives the order of play in either mode.
    pub items: Vec<QueueItem>,
    /// The item being watched; its URL is the room's `media_url`.
    pub current: Option<QueueItem>,
    /// `queue_version`: one more with every change, never otherwise.
    pub version: u64,
    /// How the waiting items are ordered.
    pub mode: QueueMode,
}

impl Queue {
    /// An empty queue at version 0.
    pub fn new(mode: QueueMode) -> Self {
        Queue {
            mode,
            ..Queue::default()
        }
    }

    /// The queue of a room created with a `media_url`: that video is the
    /// current item from the start, at version 0.
    pub fn starting_with(mode: QueueMode, current: QueueItem) -> Self {
        Queue {
            current: Some(current),
            ..Queue::new(mode)
        }
    }

    /// A queue as loaded from storage, the waiting items in any order: they
    /// are put in order-key order (then id, should two keys be equal).
    pub fn loaded(
        mode: QueueMode,
        version: u64,
        current: Option<QueueItem>,
        mut items: Vec<QueueItem>,
    ) -> Self {
        items.sort_by_key(|item| (item.order, item.id));
        Queue {
            items,
            current,
            version,
            mode,
        }
    }

    /// The current item's id (`item_id`), if any.
    pub fn current_id(&self) -> Option<ItemId> {
        self.current.as_ref().map(|item| item.id)
    }

    /// The waiting items in play order: `manual` by order key; `vote` most
    /// votes first, then oldest (then lowest id).
    pub fn play_order(&self) -> Vec<&QueueItem> {
        let mut items: Vec<&QueueItem> = self.items.iter().collect();
        if self.mode == QueueMode::Vote {
            items.sort_by(|a, b| {
                b.vote_count()
                    .cmp(&a.vote_count())
                    .then(a.added_at.cmp(&b.added_at))
                    .then(a.id.cmp(&b.id))
            });
        }
        items
    }

    /// The item an advance would make current: the first in play order.
    pub fn next_item(&self) -> Option<&QueueItem> {
        self.play_order().into_iter().next()
    }

    /// The item with this id, waiting or current.
    pub fn find(&self, id: ItemId) -> Option<&QueueItem> {
        self.current
            .iter()
            .chain(self.items.iter())
            .find(|item| item.id == id)
    }

    /// How many waiting items `user` added (at most
    /// [`MAX_QUEUE_ITEMS_PER_USER`]).
    pub fn waiting_of(&self, user: UserId) -> usize {
        self.items.iter().filter(|i| i.added_by == user).count()
    }

    /// When the current item's duration is reached, given the room's
    /// playback of it: the instant at which to arm the automatic advance.
    /// `None` while paused, with no current item, or when its duration is
    /// unknown (a controller's `ENDED` advances it then). Re-arm whenever
    /// playback or the current item changes.
    pub fn due_at(&self, playback: &PlaybackState) -> Option<Millis> {
        let duration = self.current.as_ref()?.duration?.seconds();
        if !playback.is_playing {
            return None;
        }
        let remaining = (duration - playback.position.seconds()).max(0.0);
        // Rounded up: firing a millisecond early would cut the end and be
        // refused as `NotDue`.
        let ms = (remaining / playback.rate.get() * 1000.0).ceil();
        // At most 4e12 ms (10⁶ s at rate 0.25): well within i64.
        Some(playback.updated_at.plus_millis(ms as i64))
    }

    /// Applies `op` at `now`. Every accepted change raises `version` by
    /// exactly one and gives one event; a refusal changes nothing.
    pub fn apply(&self, op: QueueOp, now: Millis) -> Result<QueueOutcome, QueueRefusal> {
        match op {
            QueueOp::Add {
                actor,
                id,
                media_url,
                title,
                duration,
                position,
            } => {
                let item = QueueItem {
                    id,
                    media_url,
                    title,
                    duration,
                    added_by: actor.user,
                    added_at: now,
                    votes: BTreeSet::new(),
                    order: 0,
                };
                self.add(actor, item, position)
            }
            QueueOp::Remove { actor, item } => self.remove(actor, item),
            QueueOp::Move {
                actor,
                item,
                after,
                if_version,
            } => self.move_item(actor, item, after, if_version),
            QueueOp::Vote { user, item } => self.vote(user, item, true),
            QueueOp::Unvote { user, item } => self.vote(user, item, false),
            QueueOp::Advance { actor, if_current } => {
                if !actor.may(Capability::ControlPlayback) {
                    return Err(QueueRefusal::Forbidden);
                }
                self.advance(Some(actor.user), if_current)
            }
            QueueOp::Ended { actor, item } => {
                if !actor.may(Capability::ControlPlayback) {
                    return Err(QueueRefusal::Forbidden);
                }
                self.advance(Some(actor.user), IfCurrent::Item(item))
            }
            QueueOp::AutoAdvance { item, playback } => {
                if self.current_id() != Some(item) {
                    return Err(self.stale());
                }
                match self.due_at(&playback) {
                    Some(due) if due <= now => self.advance(None, IfCurrent::Item(item)),
                    _ => Err(QueueRefusal::NotDue),
                }
            }
            QueueOp::SetMode { actor, mode } => {
                if !actor.may(Capability::EditRoom) {
                    return Err(QueueRefusal::Forbidden);
                }
                if mode == self.mode {
                    return Ok(self.unchanged(None));
                }
                let queue = Queue {
                    mode,
                    ..self.clone()
                };
                Ok(queue.changed(QueueChange::Moved, None, Some(actor.user), None, false))
            }
            QueueOp::ReplaceCurrent { actor, replacement } => {
                if !actor.may(Capability::EditRoom) {
                    return Err(QueueRefusal::Forbidden);
                }
                self.replace_current(actor.user, replacement, now)
            }
        }
    }

    fn stale(&self) -> QueueRefusal {
        QueueRefusal::StaleVersion {
            version: self.version,
            current: self.current_id(),
        }
    }

    fn unchanged(&self, item: Option<QueueItem>) -> QueueOutcome {
        QueueOutcome {
            queue: self.clone(),
            event: None,
            item,
            renumbered: false,
        }
    }

    /// `self` is the queue with the change made; this raises the version
    /// and describes the change.
    fn changed(
        mut self,
        op: QueueChange,
        item: Option<QueueItem>,
        by: Option<UserId>,
        answer: Option<QueueItem>,
        renumbered: bool,
    ) -> QueueOutcome {
        self.version = self.version.saturating_add(1);
        let event = QueueEvent {
            version: self.version,
            op,
            item,
            by,
        };
        QueueOutcome {
            queue: self,
            event: Some(event),
            item: answer,
            renumbered,
        }
    }

    fn add(
        &self,
        actor: Actor,
        mut item: QueueItem,
        position: AddPosition,
    ) -> Result<QueueOutcome, QueueRefusal> {
        if !actor.may(Capability::AddToQueue) {
            return Err(QueueRefusal::Forbidden);
        }
        if self.find(item.id).is_some() {
            return Err(QueueRefusal::Conflict);
        }
        if self.current.is_none() {
            // Nothing to watch: the item is watched at once, never waits.
            let queue = Queue {
                current: Some(item.clone()),
                ..self.clone()
            };
            return Ok(queue.changed(
                QueueChange::Advanced,
                Some(item.clone()),
                Some(actor.user),
                Some(item),
                false,
            ));
        }
        if self.items.len() >= MAX_QUEUE_ITEMS {
            return Err(QueueRefusal::QueueFull(QueueLimit::Room));
        }
        if self.waiting_of(actor.user) >= MAX_QUEUE_ITEMS_PER_USER {
            return Err(QueueRefusal::QueueFull(QueueLimit::User));
        }
        let mut items = self.items.clone();
        let index = match (self.mode, position) {
            (QueueMode::Manual, AddPosition::Next) => 0,
            _ => items.len(),
        };
        item.order = 0;
        items.insert(index, item);
        let renumbered = place(&mut items, index);
        let added = items.get(index).cloned();
        let queue = Queue {
            items,
            ..self.clone()
        };
        Ok(queue.changed(
            QueueChange::Added,
            added.clone(),
            Some(actor.user),
            added,
            renumbered,
        ))
    }

    fn remove(&self, actor: Actor, id: ItemId) -> Result<QueueOutcome, QueueRefusal> {
        let item = self.find(id).ok_or(QueueRefusal::NotFound)?;
        if item.added_by != actor.user && !actor.may(Capability::ManageQueue) {
            return Err(QueueRefusal::Forbidden);
        }
        if self.current_id() == Some(id) {
            // The current item is left by advancing, never by removal.
            return Err(QueueRefusal::Conflict);
        }
        let removed = item.clone();
        let queue = Queue {
            items: self.items.iter().filter(|i| i.id != id).cloned().collect(),
            ..self.clone()
        };
        Ok(queue.changed(
            QueueChange::Removed,
            Some(removed),
            Some(actor.user),
            None,
            false,
        ))
    }

    fn move_item(
        &self,
        actor: Actor,
        id: ItemId,
        after: Option<ItemId>,
        if_version: Option<u64>,
    ) -> Result<QueueOutcome, QueueRefusal> {
        if !actor.may(Capability::ManageQueue) {
            return Err(QueueRefusal::Forbidden);
        }
        if after == Some(id) {
            return Err(QueueRefusal::AfterItself);
        }
        if if_version.is_some_and(|v| v != self.version) {
            return Err(self.stale());
        }
        for named in std::iter::once(id).chain(after) {
            if self.find(named).is_none() {
                return Err(QueueRefusal::NotFound);
            }
            if self.current_id() == Some(named) {
                return Err(QueueRefusal::Conflict);
            }
        }
        if self.mode == QueueMode::Vote {
            return Err(QueueRefusal::Conflict);
        }
        let from = self
            .items
            .iter()
            .position(|i| i.id == id)
            .ok_or(QueueRefusal::NotFound)?;
        let mut items = self.items.clone();
        let moving = items.remove(from);
        let to = match after {
            None => 0,
            Some(after) => items
                .iter()
                .position(|i| i.id == after)
                .map(|i| i + 1)
                .ok_or(QueueRefusal::NotFound)?,
        };
        if to == from {
            // Already there: nothing to store or announce.
            return Ok(self.unchanged(None));
        }
        items.insert(to, moving);
        let renumbered = place(&mut items, to);
        let moved = items.get(to).cloned();
        let queue = Queue {
            items,
            ..self.clone()
        };
        Ok(queue.changed(
            QueueChange::Moved,
            moved,
            Some(actor.user),
            None,
            renumbered,
        ))
    }

    fn vote(&self, user: UserId, id: ItemId, cast: bool) -> Result<QueueOutcome, QueueRefusal> {
        let item = self.find(id).ok_or(QueueRefusal::NotFound)?;
        if item.voted_by(user) == cast {
            // A second vote, or withdrawing one never cast: no change.
            return Ok(self.unchanged(Some(item.clone())));
        }
        let mut queue = self.clone();
        let mut voted = None;
        for candidate in queue.current.iter_mut().chain(queue.items.iter_mut()) {
            if candidate.id == id {
                if cast {
                    candidate.votes.insert(user);
                } else {
                    candidate.votes.remove(&user);
                }
                voted = Some(candidate.clone());
            }
        }
        Ok(queue.changed(QueueChange::Voted, voted.clone(), Some(user), voted, false))
    }

    fn advance(
        &self,
        by: Option<UserId>,
        if_current: IfCurrent,
    ) -> Result<QueueOutcome, QueueRefusal> {
        if !if_current.holds(self.current_id()) {
            return Err(self.stale());
        }
        let next = self.next_item().cloned();
        if next.is_none() && self.current.is_none() {
            return Err(QueueRefusal::Conflict);
        }
        let next_id = next.as_ref().map(|item| item.id);
        let queue = Queue {
            items: self
                .items
                .iter()
                .filter(|i| Some(i.id) != next_id)
                .cloned()
                .collect(),
            current: next.clone(),
            ..self.clone()
        };
        Ok(queue.changed(QueueChange::Advanced, next, by, None, false))
    }

    fn replace_current(
        &self,
        by: UserId,
        replacement: Option<(ItemId, MediaUrl)>,
        now: Millis,
    ) -> Result<QueueOutcome, QueueRefusal> {
        let current_url = self.current.as_ref().map(|item| &item.media_url);
        if current_url == replacement.as_ref().map(|(_, url)| url) {
            return Ok(self.unchanged(None));
        }
        let current = match replacement {
            None => None,
            Some((id, media_url)) => {
                if self.items.iter().any(|i| i.id == id) {
                    return Err(QueueRefusal::Conflict);
                }
                Some(QueueItem::video(id, media_url, by, now))
            }
        };
        let queue = Queue {
            current: current.clone(),
            ..self.clone()
        };
        Ok(queue.changed(QueueChange::Advanced, current, Some(by), None, false))
    }
}

/// Gives the item at `index` an order key between its neighbours, which
/// are already in order; when no key fits there, renumbers every item
/// [`ORDER_GAP`] apart. Returns whether it renumbered.
fn place(items: &mut [QueueItem], index: usize) -> bool {
    let before = index
        .checked_sub(1)
        .and_then(|i| items.get(i))
        .map(|i| i.order);
    let after = items.get(index + 1).map(|i| i.order);
    let key = match (before, after) {
        (None, None) => Some(0),
        (Some(low), None) => low.checked_add(ORDER_GAP),
        (None, Some(high)) => high.checked_sub(ORDER_GAP),
        (Some(low), Some(high)) => {
            let (low, high) = (i128::from(low), i128::from(high));
            // Halfway, in i128 so that keys of opposite signs cannot overflow.
            (high - low >= 2)
                .then(|| low + (high - low) / 2)
                .and_then(|mid| i64::try_from(mid).ok())
        }
    };
    match (key, items.get_mut(index)) {
        (Some(key), Some(item)) => {
            item.order = key;
            false
        }
        _ => {
            let mut key = 0i64;
            for item in items.iter_mut() {
                item.order = key;
                key = key.saturating_add(ORDER_GAP);
            }
            true
        }
    }
}
