//! The queue (contract §12) inside the room engine: a queue operation takes
//! the same path as every room change — lock, load (the room and its
//! waiting items), apply the rules, store conditionally, announce — and an
//! advance while the room plays goes on as a group wait (reason `advance`).

use super::{audit, Locked, Origin, RoomEngine, Stored, ATTEMPTS};
use crate::error::{Classify, ServiceError};
use watchparty_domain::{
    AddPosition, Event, IfCurrent, ItemDuration, ItemId, MediaUrl, Millis, PeopleNeeded,
    QueueApplied, QueueOp, QueueOutcome, QueueTitle, Rejection, Room, UserId,
};

/// A queue operation as asked, before the room is loaded: the actor's
/// capabilities, and the new item's id, come from there.
#[derive(Debug, Clone)]
pub(crate) enum QueueRequest {
    /// `POST …/queue/`.
    Add {
        /// The video.
        media_url: MediaUrl,
        /// Its title.
        title: Option<QueueTitle>,
        /// Its length.
        duration: Option<ItemDuration>,
        /// `end` or `next`.
        position: AddPosition,
    },
    /// `DELETE …/queue/{item_id}/`.
    Remove(ItemId),
    /// `POST …/queue/{item_id}/move/`.
    Move {
        /// The item.
        item: ItemId,
        /// The item it goes after; `None`: to the front.
        after: Option<ItemId>,
        /// The client's `if_version`.
        if_version: Option<u64>,
    },
    /// `PUT …/vote/`.
    Vote(ItemId),
    /// `DELETE …/vote/`.
    Unvote(ItemId),
    /// `POST …/queue/advance/`.
    Advance(IfCurrent),
    /// `ENDED` from a socket.
    Ended(ItemId),
    /// The server's own advance at the current item's end.
    AutoAdvance,
}

impl QueueRequest {
    /// The rules' operation on `room` by `user` at `now`; `None` when there
    /// is nothing to ask (an automatic advance with no current item).
    fn op(
        &self,
        room: &Room,
        user: Option<UserId>,
        now: Millis,
        id: Option<ItemId>,
    ) -> Option<QueueOp> {
        let actor = |user: Option<UserId>| user.map(|u| room.queue_actor(u, now));
        Some(match self.clone() {
            QueueRequest::Add {
                media_url,
                title,
                duration,
                position,
            } => QueueOp::Add {
                actor: actor(user)?,
                id: id?,
                media_url,
                title,
                duration,
                position,
            },
            QueueRequest::Remove(item) => QueueOp::Remove {
                actor: actor(user)?,
                item,
            },
            QueueRequest::Move {
                item,
                after,
                if_version,
            } => QueueOp::Move {
                actor: actor(user)?,
                item,
                after,
                if_version,
            },
            QueueRequest::Vote(item) => QueueOp::Vote { user: user?, item },
            QueueRequest::Unvote(item) => QueueOp::Unvote { user: user?, item },
            QueueRequest::Advance(if_current) => QueueOp::Advance {
                actor: actor(user)?,
                if_current,
            },
            QueueRequest::Ended(item) => QueueOp::Ended {
                actor: actor(user)?,
                item,
            },
            QueueRequest::AutoAdvance => QueueOp::AutoAdvance {
                item: room.current_item.as_ref()?.id,
                playback: room.playback,
            },
        })
    }

    /// Whether a person asked to move on (an advance or `ENDED`): audited.
    fn is_advance_by_person(&self) -> bool {
        matches!(self, QueueRequest::Advance(_) | QueueRequest::Ended(_))
    }
}

/// What a queue operation came to.
#[derive(Debug)]
pub(crate) enum QueueTransition {
    /// Stored and announced (or nothing to do): the room and queue afterwards.
    Done(Box<(Room, QueueOutcome)>),
    /// The rules refused it; nothing changed.
    Rejected(Rejection),
}

impl RoomEngine {
    /// Executes one queue operation on the room: the whole path under its lock.
    pub(crate) async fn execute_queue(
        &self,
        origin: Origin<'_>,
        code: &watchparty_domain::RoomCode,
        request: QueueRequest,
    ) -> Result<QueueTransition, ServiceError> {
        self.lock(code).await.execute_queue(origin, request).await
    }

    /// Stores an accepted queue operation if nobody changed the room or its
    /// queue meanwhile, then announces it; a new item that plays (or a wait
    /// in progress) then goes on as a group wait. `None`: changed meanwhile.
    async fn store_queue(
        &self,
        origin: Origin<'_>,
        (before, host_name): (&Room, &str),
        (applied, new_item_plays): (&QueueApplied, Option<bool>),
        waiting_before: Vec<watchparty_domain::QueueItem>,
        request: &QueueRequest,
        now: Millis,
    ) -> Result<Option<()>, ServiceError> {
        let after = &applied.outcome.room;
        let records =
            audit::queue_records(&applied.outcome.events, request.is_advance_by_person(), now);
        let waiting = (waiting_before, applied.queue.queue.items.clone());
        let saved = self
            .db
            .save_queue(before, after, waiting, now, records)
            .await
            .classify()?;
        if !saved {
            return Ok(None);
        }
        self.rows.changed(&before.code).await;
        self.announcer
            .announce(&applied.outcome, host_name, &Stored::default(), origin, now)
            .await?;
        if let Some(plays) = new_item_plays {
            self.wait_after_advance(after, host_name, plays, now)
                .await?;
        }
        Ok(Some(()))
    }
}

impl Locked<'_> {
    /// Loads the room and its queue, applies the operation, stores and
    /// announces it. A room or queue another instance changed meanwhile is
    /// loaded again and the operation applied afresh, a few times at most.
    pub(crate) async fn execute_queue(
        &self,
        origin: Origin<'_>,
        request: QueueRequest,
    ) -> Result<QueueTransition, ServiceError> {
        let engine = self.engine;
        // A new item's id is taken once, whatever the retries.
        let id = match request {
            QueueRequest::Add { .. } => Some(engine.db.reserve_item_id().await.classify()?),
            _ => None,
        };
        // The cross-instance lock is held from the load to the announcement:
        // queue changes from several instances then wait their turn instead
        // of losing their conditional update again and again (every change
        // raises `queue_version`). Writers that take no lock (the server's
        // own changes when live state is away) are still caught by the
        // conditional update, and the operation is applied again.
        let key = format!("room:{}", self.code);
        let token = engine.lock_room(&key, origin).await?;
        let done = self.apply_queue_locked(origin, &request, id).await;
        engine.unlock_room(&key, token).await;
        done
    }

    async fn apply_queue_locked(
        &self,
        origin: Origin<'_>,
        request: &QueueRequest,
        id: Option<ItemId>,
    ) -> Result<QueueTransition, ServiceError> {
        let engine = self.engine;
        let user = origin.by();
        let people = PeopleNeeded::Only(user.into_iter().collect());
        for _ in 0..ATTEMPTS {
            let (room, host_name) = self.load_with(&people).await?;
            let (current, waiting) = engine.db.queue_of(room.id).await.classify()?;
            if current.as_ref().map(|i| i.id) != room.current_item.as_ref().map(|i| i.id) {
                // The queue moved on between the two reads: read both again.
                continue;
            }
            let now = engine.now();
            let Some(op) = request.op(&room, user, now, id) else {
                return Ok(QueueTransition::Rejected(Rejection::Conflict));
            };
            let applied = match room.apply_queue(op, waiting.clone(), now) {
                Ok(applied) => applied,
                Err(rejection) => return Ok(QueueTransition::Rejected(rejection)),
            };
            if applied.outcome.events.is_empty() {
                return Ok(QueueTransition::Done(Box::new((room, applied.queue))));
            }
            let mut applied = applied;
            let new_item_plays = new_item_plays(&applied);
            if new_item_plays == Some(true)
                && engine
                    .advance_would_wait(&applied.outcome.room, now)
                    .await?
            {
                applied.hold_new_item();
            }
            let stored = engine
                .store_queue(
                    origin,
                    (&room, &host_name),
                    (&applied, new_item_plays),
                    waiting,
                    request,
                    now,
                )
                .await?;
            if stored.is_some() {
                let room = applied.outcome.room;
                return Ok(QueueTransition::Done(Box::new((room, applied.queue))));
            }
            tracing::debug!(room = %room.code, "queue changed concurrently; applying again");
        }
        Err(ServiceError::Busy)
    }
}

/// Whether the current item changed and the new one plays (before any
/// hold for a wait); `None` when the current item did not change.
fn new_item_plays(applied: &QueueApplied) -> Option<bool> {
    applied.outcome.events.iter().find_map(|e| match e {
        Event::ItemChanged { playback } => Some(playback.is_playing),
        _ => None,
    })
}
