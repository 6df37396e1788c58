//! The room engine: the one path every room change takes.
//!
//! lock → load → settle (an overdue grace) → `Room::apply` → store →
//! announce. Playback, chat, settings, deletion and the host's comings and
//! goings all go through [`RoomEngine::execute`] (or, for a caller that must
//! do more under the same lock, [`Locked::execute`]); nothing else builds a
//! room's events.

mod announce;
mod audit;
mod locks;
mod queue;
mod redelivery;
mod waits;

pub(crate) use announce::{removed_close, Announcer};
pub(crate) use locks::RoomLocks;
pub(crate) use queue::{QueueRequest, QueueTransition};
pub(crate) use redelivery::Redelivery;

use crate::rows::RoomRows;

use crate::clock::{rfc3339, Clock};
use crate::error::{Classify, ServiceError};
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::sync::MutexGuard;
use watchparty_domain::{
    action_time, Command, ConnectionId, Event, HostGrace, Millis, OnHostTimeout, Outcome,
    PeopleNeeded, PlaybackAction, QueueLimit, QueueRefusal, Rejection, Room, RoomCode, RoomStatus,
    UserId, MAX_QUEUE_ITEMS, MAX_QUEUE_ITEMS_PER_USER,
};
use watchparty_persistence::Database;
use watchparty_realtime_cache::RealtimeCache;

// The room's cross-instance lock: held for one store and its publish, so
// that every instance delivers a room's changes in the order they were
// stored (chat ids, playback versions), and for each step of a group wait.
const ROOM_LOCK_TTL: Duration = Duration::from_secs(5);
const ROOM_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Who asked for a change, as far as announcing it is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin<'a> {
    /// A user's socket: it does not hear the echo of its own playback
    /// command, and its user's name signs their chat and playback.
    Socket {
        /// The socket.
        connection: ConnectionId,
        /// Its user.
        user: UserId,
        /// Its user's display name.
        name: &'a str,
        /// When the person acted, by the server's clock as their client
        /// estimates it (contract §10): dates a playback change when recent.
        acted_at: Option<Millis>,
    },
    /// A user's HTTP request.
    Person {
        /// Who asked.
        user: UserId,
    },
    /// The server itself: the sweeper, presence (`by` is null).
    Service,
}

impl Origin<'_> {
    fn connection(&self) -> Option<ConnectionId> {
        match self {
            Origin::Socket { connection, .. } => Some(*connection),
            Origin::Person { .. } | Origin::Service => None,
        }
    }

    /// Who made the change; `None` when the server did.
    pub(crate) fn by(&self) -> Option<UserId> {
        match self {
            Origin::Socket { user, .. } | Origin::Person { user } => Some(*user),
            Origin::Service => None,
        }
    }
}

/// What executing a command came to.
#[derive(Debug)]
pub(crate) enum Transition {
    /// Stored and announced (or nothing to do): the room afterwards.
    Done(Box<Room>),
    /// The rules refused it; nothing changed.
    Rejected(Rejection),
}

/// What storing an outcome came to: `None` when somebody else changed the
/// room first and nothing was written.
type Saved = Option<Transition>;

/// How many times a command is applied again to a room that changed under
/// it on another instance before the caller hears "busy".
const ATTEMPTS: usize = 3;

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
    metrics: Arc<Metrics>,
    // This instance's copies of room rows, retired by every stored change.
    rows: RoomRows,
    // Wait deadlines for this instance's sweeper to wake at.
    deadlines: mpsc::UnboundedSender<(RoomCode, Millis)>,
}

impl RoomEngine {
    /// The engine, and the wait deadlines it arms for the sweeper to keep.
    pub(crate) fn new(
        db: Database,
        live: Arc<dyn RealtimeCache>,
        grace: HostGrace,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> (Self, mpsc::UnboundedReceiver<(RoomCode, Millis)>) {
        let (deadlines, armed) = mpsc::unbounded_channel();
        let engine = RoomEngine {
            announcer: Announcer::new(db.clone(), Arc::clone(&live), grace),
            rows: RoomRows::new(db.clone(), Arc::clone(&live)),
            db,
            live,
            locks: RoomLocks::new(),
            grace,
            clock,
            metrics,
            deadlines,
        };
        (engine, armed)
    }

    /// Turns domain events into messages and hands them to every instance.
    pub(crate) fn announcer(&self) -> &Announcer {
        &self.announcer
    }

    /// Now, by the service's clock.
    pub(crate) fn now(&self) -> Millis {
        self.clock.now()
    }

    /// This instance's copies of room rows.
    pub(crate) fn rows(&self) -> &RoomRows {
        &self.rows
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

    /// The stored room with its host's name and the participants and bans
    /// `people` names (what one command needs), settled; 404 once deleted.
    /// Without the lock: for reads.
    pub(crate) async fn load_with(
        &self,
        code: &RoomCode,
        people: &PeopleNeeded,
    ) -> Result<(Room, String), ServiceError> {
        match self.db.room_with(code, people).await.classify()? {
            Some((room, _)) if room.status == RoomStatus::Deleted => Err(ServiceError::NotFound),
            Some((room, host_name)) => self.settle(room, host_name).await,
            None => Err(ServiceError::NotFound),
        }
    }

    /// Settles a grace whose deadline has passed: the room closes, or with
    /// `on_host_timeout: promote` goes to the successor among the users
    /// connected now. Only the caller whose conditional update wins
    /// announces it.
    pub(crate) async fn settle(
        &self,
        room: Room,
        host_name: String,
    ) -> Result<(Room, String), ServiceError> {
        let now = self.now();
        let overdue = matches!(room.status, RoomStatus::Grace { deadline, .. } if now >= deadline);
        if !overdue {
            return Ok((room, host_name));
        }
        // The successor rule reads everyone, and who is connected now.
        let (room, connected) = if room.settings.on_host_timeout == OnHostTimeout::Promote {
            let whole = self
                .stored_room(&room.code)
                .await?
                .ok_or(ServiceError::NotFound)?;
            let members = self.live.members(&room.code).await.classify()?;
            (whole, members.into_iter().map(|m| m.user).collect())
        } else {
            (room, Vec::new())
        };
        let Some(outcome) = room.expire_or_promote(now, &connected) else {
            return Ok((room, host_name));
        };
        let records = audit::records(&outcome.events, None, now);
        let key = format!("room:{}", room.code);
        let token = self.lock_room(&key, Origin::Service).await?;
        let saved = self
            .db
            .save_room_audited(&room, &outcome.room, now, records)
            .await
            .classify();
        let announced = match saved {
            Ok(true) => {
                self.rows.changed(&room.code).await;
                let announce = async {
                    let host_name = self.announcer.name_of(outcome.room.host).await?;
                    let stored = Stored::default();
                    let origin = Origin::Service;
                    self.announcer
                        .announce(&outcome, &host_name, &stored, origin, now)
                        .await?;
                    Ok::<_, ServiceError>(Some(host_name))
                };
                announce.await
            }
            Ok(false) => Ok(None),
            Err(e) => Err(e),
        };
        self.unlock_room(&key, token).await;
        if let Some(host_name) = announced? {
            Ok((outcome.room, host_name))
        } else {
            let (fresh, host_name) = self
                .db
                .room_by_code(&room.code)
                .await
                .classify()?
                .ok_or(ServiceError::NotFound)?;
            Ok((fresh, host_name))
        }
    }

    /// The room as stored now, deleted or not, with everyone in it.
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
    ) -> Result<Saved, ServiceError> {
        let arrival = self.now();
        // A change is dated when the person made it, if their client says so
        // and it is recent: a controller far away does not put everyone behind.
        let now = match origin {
            Origin::Socket { acted_at, .. } => action_time(acted_at, arrival, &room.playback),
            Origin::Person { .. } | Origin::Service => arrival,
        };
        let asked = playback_action(&command);
        let outcome = match room.apply(command, now, self.grace) {
            Ok(outcome) => outcome,
            Err(rejection) => return Ok(Some(Transition::Rejected(rejection))),
        };
        // A PAUSE or SEEK to where a paused room rests changes nothing by
        // itself (§13 rule 10), but during a group wait it still ends or
        // restarts the wait: the wait has a look at it too.
        let resting = match asked {
            _ if !outcome.events.is_empty() => None,
            Some(action @ (PlaybackAction::Pause(_) | PlaybackAction::Seek(_))) => Some(Outcome {
                room: room.clone(),
                events: vec![Event::PlaybackChanged {
                    action,
                    playback: room.playback,
                }],
            }),
            _ => return Ok(Some(Transition::Done(Box::new(outcome.room)))),
        };
        let key = format!("room:{}", room.code);
        let token = self.lock_room(&key, origin).await?;
        // A playback command may start, force, restart or end a group wait.
        let seen = resting.as_ref().unwrap_or(&outcome);
        let done = match self.playback_with_wait(origin, room, seen, now).await {
            Ok(Some(plan)) => self.store_plan(room, host_name, plan, now).await,
            Ok(None) if resting.is_some() => Ok(Some(Transition::Done(Box::new(outcome.room)))),
            Ok(None) => {
                self.store_and_announce(origin, room, outcome, host_name, now)
                    .await
            }
            Err(e) => Err(e),
        };
        self.unlock_room(&key, token).await;
        done
    }

    /// Gives back the room's lock, if it was taken; one that cannot be
    /// given back expires by itself.
    async fn unlock_room(&self, key: &str, token: Option<watchparty_realtime_cache::LockToken>) {
        if let Some(token) = token {
            if let Err(e) = self.live.unlock(key, token).await {
                tracing::warn!(key, error = %e, "room lock not released; it expires by itself");
            }
        }
    }

    /// Takes the room's cross-instance lock for one store and publish.
    /// Other instances store this room's changes too; the lock spans them
    /// all, and only the storing and announcing. A person's change waits for
    /// it (busy after two seconds); the server's own (a grace starting, a
    /// promotion) goes on without it when live state cannot give it: the
    /// conditional update still keeps it exact, only the order of two
    /// announcements from two instances is then not guaranteed.
    async fn lock_room(
        &self,
        key: &str,
        origin: Origin<'_>,
    ) -> Result<Option<watchparty_realtime_cache::LockToken>, ServiceError> {
        let taken = self.live.lock(key, ROOM_LOCK_TTL, ROOM_LOCK_WAIT).await;
        match (taken, origin) {
            (Ok(Some(token)), _) => Ok(Some(token)),
            (Ok(None), Origin::Service) => Ok(None),
            (Err(e), Origin::Service) => {
                tracing::warn!(key, error = %e, "room lock unavailable; the server's change goes on");
                Ok(None)
            }
            (Ok(None), _) => Err(ServiceError::Busy),
            (Err(e), _) => Err(e).classify(),
        }
    }

    async fn store_and_announce(
        &self,
        origin: Origin<'_>,
        before: &Room,
        outcome: Outcome,
        host_name: &str,
        now: Millis,
    ) -> Result<Saved, ServiceError> {
        let records = audit::records(&outcome.events, origin.by(), now);
        if outcome.room != *before
            && !self
                .db
                .save_room_audited(before, &outcome.room, now, records)
                .await
                .classify()?
        {
            // Another instance or the sweeper got there first.
            tracing::debug!(room = %before.code, "room changed concurrently; applying again");
            return Ok(None);
        }
        if outcome.room != *before {
            self.rows.changed(&before.code).await;
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
        // A new host's name, for the views announced with the change.
        let host_name = if outcome.room.host == before.host {
            host_name.to_owned()
        } else {
            self.announcer.name_of(outcome.room.host).await?
        };
        self.announcer
            .announce(&outcome, &host_name, &stored, origin, now)
            .await?;
        Ok(Some(Transition::Done(Box::new(outcome.room))))
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

    /// The stored room with its host's name and only the people `people`
    /// names, settled.
    pub(crate) async fn load_with(
        &self,
        people: &PeopleNeeded,
    ) -> Result<(Room, String), ServiceError> {
        self.engine.load_with(self.code, people).await
    }

    /// Runs one step of the room's group wait (see `waits.rs`) under the
    /// room's cross-instance lock.
    pub(crate) async fn wait_step(
        &self,
        decide: impl FnOnce(
                &Room,
                &mut watchparty_domain::GroupWait,
                Millis,
            ) -> Vec<watchparty_domain::WaitEvent>
            + Send,
    ) -> Result<(), ServiceError> {
        self.engine.wait_step(self.code, decide).await
    }

    /// Settles what came due by itself: an overdue grace (closed, or
    /// handed to the successor), and mutes and bans that lapsed.
    pub(crate) async fn settle_due(&self) -> Result<(), ServiceError> {
        for _ in 0..ATTEMPTS {
            // Loading settles the grace; the lapses need everyone.
            let (room, host_name) = self.load_with(&PeopleNeeded::All).await?;
            let now = self.engine.now();
            let Some(outcome) = room.lapse_due(now) else {
                return self.advance_if_due(&room, now).await;
            };
            let saved = self
                .engine
                .store_and_announce(Origin::Service, &room, outcome, &host_name, now)
                .await?;
            if saved.is_some() {
                return Ok(());
            }
        }
        Err(ServiceError::Busy)
    }

    /// The server's own advance once the current item's end is reached
    /// while playing (§12): decided once across instances by the
    /// conditional update on the queue; a timer armed for an older state
    /// finds it not due, or the item no longer current, and does nothing.
    async fn advance_if_due(&self, room: &Room, now: Millis) -> Result<(), ServiceError> {
        if room.advance_due_at().is_none_or(|due| due > now) {
            return Ok(());
        }
        self.execute_queue(Origin::Service, QueueRequest::AutoAdvance)
            .await
            .map(|_| ())
    }

    /// Loads what the command needs, then applies, stores and announces it.
    /// A room another instance changed meanwhile is loaded again and the
    /// command applied to it afresh, a few times at most.
    pub(crate) async fn execute(
        &self,
        origin: Origin<'_>,
        command: Command,
    ) -> Result<Transition, ServiceError> {
        let people = command.people_needed();
        for _ in 0..ATTEMPTS {
            let (room, host_name) = self.load_with(&people).await?;
            let outcome = self
                .engine
                .apply(origin, &room, &host_name, command.clone())
                .await?;
            if let Some(transition) = outcome {
                return Ok(transition);
            }
        }
        Err(ServiceError::Busy)
    }
}

/// The playback action a command asks for, behind its `if_version` if any.
fn playback_action(command: &Command) -> Option<PlaybackAction> {
    match command {
        Command::Playback { action, .. } => Some(*action),
        Command::IfVersion { command, .. } => playback_action(command),
        _ => None,
    }
}

/// The service's answer to a refusal of the rules.
pub(crate) fn rejection_error(rejection: Rejection) -> ServiceError {
    match rejection {
        Rejection::NotHost => ServiceError::NotHost,
        Rejection::Closed => ServiceError::RoomClosed,
        Rejection::Deleted => ServiceError::NotFound,
        // Socket-only refusals (chat, playback) answered over HTTP: refused.
        Rejection::ChatDisabled
        | Rejection::HostAway
        | Rejection::Muted { .. }
        | Rejection::StaleVersion { .. } => ServiceError::Forbidden,
        // Changing a room needs `edit_room`; deleting it is the owner's (§4).
        Rejection::Forbidden => ServiceError::Forbidden,
        Rejection::NotOwner => ServiceError::NotOwner,
        Rejection::NotFound(_) => ServiceError::NotFound,
        Rejection::Conflict => ServiceError::Conflict,
        Rejection::NotConnected => ServiceError::NotConnected,
        Rejection::TargetOutranks => ServiceError::TargetOutranks,
        Rejection::Banned { until } => ServiceError::Banned {
            until: until.map(rfc3339),
        },
        Rejection::Queue(refusal) => queue_refusal_error(refusal),
    }
}

/// The HTTP answer to a refusal of the queue's rules (§12).
fn queue_refusal_error(refusal: QueueRefusal) -> ServiceError {
    match refusal {
        QueueRefusal::Forbidden => ServiceError::Forbidden,
        QueueRefusal::NotFound => ServiceError::NotFound,
        QueueRefusal::AfterItself => {
            ServiceError::Validation("an item cannot go after itself".into())
        }
        QueueRefusal::Conflict | QueueRefusal::NotDue => ServiceError::Conflict,
        QueueRefusal::StaleVersion { .. } => ServiceError::StaleVersion,
        QueueRefusal::QueueFull(QueueLimit::Room) => {
            ServiceError::QueueFull(format!("the queue holds {MAX_QUEUE_ITEMS} items already"))
        }
        QueueRefusal::QueueFull(QueueLimit::User) => ServiceError::QueueFull(format!(
            "you have {MAX_QUEUE_ITEMS_PER_USER} items waiting already"
        )),
    }
}
