//! The queue as part of the room (contract §12, §13 rules 16–19): a queue
//! operation applied to the room changes its current item, its
//! `queue_version` and, when the current item changes, its playback.

use super::{Event, Outcome, Rejection, Room, RoomStatus};
use crate::ids::{Millis, UserId};
use crate::playback::PlaybackState;
use crate::queue::{Actor, Queue, QueueItem, QueueOp, QueueOutcome};

/// An accepted queue operation.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueApplied {
    /// The room afterwards and what to announce: [`Event::QueueChanged`],
    /// then [`Event::ItemChanged`] when the current item changed. No events
    /// when nothing changed.
    pub outcome: Outcome,
    /// The queue afterwards, with the item the answer shows.
    pub queue: QueueOutcome,
}

impl QueueApplied {
    /// The new item held paused at 0 instead of playing: the room is about
    /// to wait for everyone to load it (§9, reason `advance`), so no client
    /// starts it before the others.
    /// Nothing changes when the current item did not.
    pub fn hold_new_item(&mut self) {
        for event in &mut self.outcome.events {
            if let Event::ItemChanged { playback } = event {
                playback.is_playing = false;
                self.outcome.room.playback.is_playing = false;
            }
        }
    }
}

impl Room {
    /// The room's queue, given its waiting items (as stored).
    pub fn queue(&self, waiting: Vec<QueueItem>) -> Queue {
        Queue::loaded(
            self.settings.queue_mode,
            self.queue_version,
            self.current_item.clone(),
            waiting,
        )
    }

    /// `user` as the queue sees them at `now`: with their capabilities.
    pub fn queue_actor(&self, user: UserId, now: Millis) -> Actor {
        Actor {
            user,
            capabilities: self.capabilities_of(user, now),
        }
    }

    /// When the server advances by itself: the current item's end, while
    /// playing (stored with the room, so that any instance's sweeper finds
    /// it). `None` while paused, in grace, or for an item of unknown length.
    pub fn advance_due_at(&self) -> Option<Millis> {
        if self.status != RoomStatus::Open {
            return None;
        }
        self.queue(Vec::new()).due_at(&self.playback)
    }

    /// Applies a queue operation at `now`, given the room's waiting items.
    ///
    /// A change of current item resets playback to the new item at 0 at
    /// normal speed, playing if the room was playing an item. While the host is away
    /// (§13 rule 6) an advance is refused with [`Rejection::Conflict`], and
    /// `ENDED` and the automatic advance with [`Rejection::HostAway`] (the
    /// service ignores those). Voting and listing need only participation,
    /// which the caller checks.
    pub fn apply_queue(
        &self,
        op: QueueOp,
        waiting: Vec<QueueItem>,
        now: Millis,
    ) -> Result<QueueApplied, Rejection> {
        match self.status_at(now) {
            RoomStatus::Deleted => return Err(Rejection::Deleted),
            RoomStatus::Closed => return Err(Rejection::Closed),
            RoomStatus::Grace { .. } => match op {
                QueueOp::Advance { .. } => return Err(Rejection::Conflict),
                QueueOp::Ended { .. } | QueueOp::AutoAdvance { .. } => {
                    return Err(Rejection::HostAway)
                }
                _ => {}
            },
            RoomStatus::Open => {}
        }
        let queue = self
            .queue(waiting)
            .apply(op, now)
            .map_err(Rejection::Queue)?;
        let Some(event) = queue.event.clone() else {
            return Ok(QueueApplied {
                outcome: self.unchanged_with(Vec::new()),
                queue,
            });
        };
        let mut room = Room {
            current_item: queue.queue.current.clone(),
            queue_version: queue.queue.version,
            ..self.clone()
        };
        let changes_current = event.changes_current();
        let mut events = vec![Event::QueueChanged(event)];
        if changes_current {
            room.settings.media_url = room.current_item.as_ref().map(|i| i.media_url.clone());
            // The next item plays on if one was playing; a first item, or
            // none, rests at 0. A new item starts at normal speed (§11).
            let plays_on = self.playback.is_playing
                && self.current_item.is_some()
                && room.current_item.is_some();
            room.playback = self.announced(PlaybackState {
                is_playing: plays_on,
                item: room.current_item.as_ref().map(|i| i.id),
                ..PlaybackState::paused_at_start(now)
            });
            // In grace (a first item added), the host's return must not
            // resume the new item as if it had been playing.
            if let RoomStatus::Grace { deadline, .. } = room.status {
                room.status = RoomStatus::Grace {
                    deadline,
                    was_playing: false,
                };
            }
            events.push(Event::ItemChanged {
                playback: room.playback,
            });
        }
        Ok(QueueApplied {
            outcome: Outcome { room, events },
            queue,
        })
    }
}
