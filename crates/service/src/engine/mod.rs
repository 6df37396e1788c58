//! The room engine: the one path every room change takes.
//!
//! lock → load → settle (an overdue grace) → `Room::apply` → store →
//! announce. Playback, chat, settings, deletion and the host's comings and
//! goings all go through [`RoomEngine::execute`] (or, for a caller that must
//! do more under the same lock, [`Locked::execute`]); nothing else builds a
//! room's events.

mod announce;
mod locks;
mod redelivery;

pub(crate) use announce::Announcer;
pub(crate) use locks::RoomLocks;
pub(crate) use redelivery::Redelivery;

use crate::clock::Clock;
use crate::error::{Classify, ServiceError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::MutexGuard;
use watchparty_domain::{
    Command, ConnectionId, Event, HostGrace, Millis, Outcome, Rejection, Room, RoomCode, RoomStatus,
};
use watchparty_persistence::Database;
use watchparty_realtime_cache::RealtimeCache;

// The cross-instance chat lock: held for one insert and one publish, so
// that message ids grow in the order every instance delivers them.
const CHAT_LOCK_TTL: Duration = Duration::from_secs(5);
const CHAT_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Who asked for a change, as far as announcing it is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin<'a> {
    /// A user's socket: it does not hear the echo of its own playback
    /// command, and its user's name signs their chat.
    Socket {
        /// The socket.
        connection: ConnectionId,
        /// Its user's display name.
        name: &'a str,
    },
    /// An HTTP request, the sweeper, or presence.
    Service,
}

impl Origin<'_> {
    fn connection(&self) -> Option<ConnectionId> {
        match self {
            Origin::Socket { connection, .. } => Some(*connection),
            Origin::Service => None,
        }
    }
}

/// What executing a command came to.
#[derive(Debug)]
pub(crate) enum Transition {
    /// Stored and announced (or nothing to do): the room afterwards.
    Done(Room),
    /// The rules refused it; nothing changed.
    Rejected(Rejection),
}

/// The chat messages a command stored, in the order of its events.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    /// (id, created at) of each `ChatPosted`.
    messages: Vec<(i64, Millis)>,
}

/// Applies, stores and announces room changes.
pub(crate) struct RoomEngine {
    db: Database,
    live: Arc<dyn RealtimeCache>,
    locks: RoomLocks,
    grace: HostGrace,
    clock: Arc<dyn Clock>,
    announcer: Announcer,
}

impl RoomEngine {
    pub(crate) fn new(
        db: Database,
        live: Arc<dyn RealtimeCache>,
        grace: HostGrace,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RoomEngine {
            announcer: Announcer::new(db.clone(), Arc::clone(&live), grace),
            db,
            live,
            locks: RoomLocks::new(),
            grace,
            clock,
        }
    }

    /// Turns domain events into messages and hands them to every instance.
    pub(crate) fn announcer(&self) -> &Announcer {
        &self.announcer
    }

    /// Now, by the service's clock.
    pub(crate) fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Takes the room's lock on this instance.
    pub(crate) async fn lock<'a>(&'a self, code: &'a RoomCode) -> Locked<'a> {
        Locked {
            engine: self,
            code,
            _guard: self.locks.lock(code).await,
        }
    }

    /// Executes one command on the room: the whole path under its lock.
    pub(crate) async fn execute(
        &self,
        origin: Origin<'_>,
        code: &RoomCode,
        command: Command,
    ) -> Result<Transition, ServiceError> {
        self.lock(code).await.execute(origin, command).await
    }

    /// The stored room with its host's name, settled; 404 once deleted.
    /// Without the lock: for reads, and for the sweeper, whose close is one
    /// conditional update that needs no lock.
    pub(crate) async fn load(&self, code: &RoomCode) -> Result<(Room, String), ServiceError> {
        match self.db.room_by_code(code).await.classify()? {
            Some((room, _)) if room.status == RoomStatus::Deleted => Err(ServiceError::NotFound),
            Some((room, host_name)) => Ok((self.settle(room, &host_name).await?, host_name)),
            None => Err(ServiceError::NotFound),
        }
    }

    /// Closes the room if its grace deadline has passed. Only the caller
    /// whose conditional update wins announces it.
    pub(crate) async fn settle(&self, room: Room, host_name: &str) -> Result<Room, ServiceError> {
        let now = self.now();
        let Some(outcome) = room.expire_if_due(now) else {
            return Ok(room);
        };
        if self
            .db
            .save_room(&room, &outcome.room, now)
            .await
            .classify()?
        {
            let stored = Stored::default();
            self.announcer
                .announce(&outcome, host_name, &stored, Origin::Service, now)
                .await?;
            Ok(outcome.room)
        } else {
            self.stored_room(&room.code)
                .await?
                .ok_or(ServiceError::NotFound)
        }
    }

    /// The room as stored now, deleted or not: what a lost conditional update yields to.
    async fn stored_room(&self, code: &RoomCode) -> Result<Option<Room>, ServiceError> {
        let found = self.db.room_by_code(code).await.classify()?;
        Ok(found.map(|(room, _)| room))
    }

    /// Applies a command to `room` (loaded under its lock), stores the
    /// result if nobody changed the room meanwhile, and announces it.
    async fn apply(
        &self,
        origin: Origin<'_>,
        room: &Room,
        host_name: &str,
        command: Command,
    ) -> Result<Transition, ServiceError> {
        let now = self.now();
        let outcome = match room.apply(command, now, self.grace) {
            Ok(outcome) => outcome,
            Err(rejection) => return Ok(Transition::Rejected(rejection)),
        };
        if outcome.events.is_empty() {
            return Ok(Transition::Done(outcome.room));
        }
        let posts_chat = outcome
            .events
            .iter()
            .any(|e| matches!(e, Event::ChatPosted { .. }));
        // Other instances store this room's messages too: the lock spans
        // them all, and only the storing and announcing.
        let chat_lock = posts_chat.then(|| format!("chat:{}", room.code));
        let token = match &chat_lock {
            Some(key) => {
                let taken = self
                    .live
                    .lock(key, CHAT_LOCK_TTL, CHAT_LOCK_WAIT)
                    .await
                    .classify()?;
                Some(taken.ok_or(ServiceError::Busy)?)
            }
            None => None,
        };
        let done = self
            .store_and_announce(origin, room, outcome, host_name, now)
            .await;
        if let (Some(key), Some(token)) = (&chat_lock, token) {
            if let Err(e) = self.live.unlock(key, token).await {
                tracing::warn!(room = %room.code, error = %e, "chat lock not released; it expires by itself");
            }
        }
        done
    }

    async fn store_and_announce(
        &self,
        origin: Origin<'_>,
        before: &Room,
        outcome: Outcome,
        host_name: &str,
        now: Millis,
    ) -> Result<Transition, ServiceError> {
        if outcome.room != *before
            && !self
                .db
                .save_room(before, &outcome.room, now)
                .await
                .classify()?
        {
            // Another instance or the sweeper got there first: report what is stored.
            tracing::debug!(room = %before.code, "room changed concurrently; command dropped");
            return Ok(match self.stored_room(&before.code).await? {
                Some(fresh) if fresh.status == RoomStatus::Deleted => {
                    Transition::Rejected(Rejection::Deleted)
                }
                Some(fresh) if fresh.status_at(now).is_final() => {
                    Transition::Rejected(Rejection::Closed)
                }
                Some(fresh) => Transition::Done(fresh),
                None => Transition::Rejected(Rejection::Deleted),
            });
        }
        let mut stored = Stored::default();
        for event in &outcome.events {
            if let Event::ChatPosted { author, text } = event {
                let id = self
                    .db
                    .insert_message(before.id, *author, text.as_str().to_owned(), now)
                    .await
                    .classify()?;
                stored.messages.push((id, now));
            }
        }
        self.announcer
            .announce(&outcome, host_name, &stored, origin, now)
            .await?;
        Ok(Transition::Done(outcome.room))
    }

    /// Publishes again the messages whose first publish failed.
    pub(crate) async fn redeliver(&self) {
        self.announcer.redeliver().await;
    }
}

/// A room held under its lock on this instance.
pub(crate) struct Locked<'a> {
    engine: &'a RoomEngine,
    code: &'a RoomCode,
    _guard: Option<MutexGuard<'a, ()>>,
}

impl Locked<'_> {
    /// The room's code.
    pub(crate) fn code(&self) -> &RoomCode {
        self.code
    }

    /// The stored room with its host's name, settled.
    pub(crate) async fn load(&self) -> Result<(Room, String), ServiceError> {
        self.engine.load(self.code).await
    }

    /// Loads the room, then applies, stores and announces the command.
    pub(crate) async fn execute(
        &self,
        origin: Origin<'_>,
        command: Command,
    ) -> Result<Transition, ServiceError> {
        let (room, host_name) = self.load().await?;
        self.engine.apply(origin, &room, &host_name, command).await
    }

    /// Applies, stores and announces a command on a room loaded under this lock.
    pub(crate) async fn apply(
        &self,
        origin: Origin<'_>,
        room: &Room,
        host_name: &str,
        command: Command,
    ) -> Result<Transition, ServiceError> {
        self.engine.apply(origin, room, host_name, command).await
    }
}

/// The service's answer to a refusal of the rules.
pub(crate) fn rejection_error(rejection: Rejection) -> ServiceError {
    match rejection {
        Rejection::NotHost => ServiceError::NotHost,
        Rejection::Closed => ServiceError::RoomClosed,
        Rejection::Deleted => ServiceError::NotFound,
        Rejection::ChatDisabled | Rejection::HostAway => ServiceError::Forbidden,
        // Changing a room needs `edit_room`; deleting it is the owner's (§4).
        Rejection::Forbidden => ServiceError::Forbidden,
        Rejection::NotOwner => ServiceError::NotOwner,
        Rejection::NotFound(_) => ServiceError::NotFound,
        // §7–§8 refusals: no command the service sends yet can yield them
        // (roles, bans, mutes and `if_version` are not wired, issue 14).
        Rejection::Conflict
        | Rejection::NotConnected
        | Rejection::TargetOutranks
        | Rejection::Banned { .. }
        | Rejection::Muted { .. }
        | Rejection::StaleVersion { .. } => {
            ServiceError::internal(format!("refusal not wired yet: {rejection:?}"))
        }
    }
}
