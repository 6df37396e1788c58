//! The group wait (contract §9, §13 rules 1–4) inside the room engine.
//!
//! The wait is live state beside the room ([`GroupWait`], in the realtime
//! cache); holding and resuming playback are room changes, stored like any
//! other. Every step — a controller's playback command, a `PLAYER_STATE`,
//! a `SET_WAIT`, a socket closing, a deadline — runs under the room's
//! cross-instance lock: load the room and the wait, let the domain decide,
//! store the room once (conditionally), announce, store the wait. So a wait
//! ends once, whichever instance decides it.

use super::{Origin, RoomEngine, Saved, Transition};
use crate::error::{Classify, ServiceError};
use crate::views::public_user;
use watchparty_domain::{
    Command, Event, GroupWait, HostGrace, Millis, Outcome, PeopleNeeded, PlaybackAction, Position,
    Room, RoomCode, UserId, WaitEndCause, WaitEvent, WaitReason, WaitingFor,
};
use watchparty_protocol::{self as wire, ServerMessage};
use watchparty_realtime_cache::LiveWait;

/// One thing to announce, in order.
enum Step<'a> {
    /// A room change and who made it.
    Change(Box<Outcome>, Origin<'a>),
    /// `WAITING` for this list.
    Waiting(WaitingFor),
    /// `WAIT_SKIPPED` for these users.
    Skipped(Vec<UserId>),
}

/// What a step of the wait came to: the room afterwards and what to say.
pub(super) struct Plan<'a> {
    room: Room,
    steps: Vec<Step<'a>>,
    live: LiveWait,
    grace: HostGrace,
}

impl<'a> Plan<'a> {
    fn new(room: &Room, live: LiveWait, grace: HostGrace) -> Self {
        Plan {
            room: room.clone(),
            steps: Vec::new(),
            live,
            grace,
        }
    }

    /// Applies a room change on top of what the plan did so far.
    fn change(&mut self, command: Command, origin: Origin<'a>, now: Millis) {
        // Grace holds the room itself; a wait step then changes nothing.
        if let Ok(outcome) = self.room.apply(command, now, self.grace) {
            if !outcome.events.is_empty() {
                self.room = outcome.room.clone();
                self.steps.push(Step::Change(Box::new(outcome), origin));
            }
        }
    }

    /// Turns the rules' wait events into room changes and messages. A
    /// wait that starts holds playback at `hold_at`; one that ends plays
    /// again from where it held, or from `forced_from` for a forcing `PLAY`.
    fn follow(
        &mut self,
        events: Vec<WaitEvent>,
        hold_at: Position,
        forced_from: Option<Position>,
        engine: &RoomEngine,
        now: Millis,
    ) {
        for event in events {
            match event {
                WaitEvent::Started(waiting) => {
                    let hold = Command::HoldForWait { position: hold_at };
                    self.change(hold, Origin::Service, now);
                    self.live.version = self.room.playback.version;
                    self.steps.push(Step::Waiting(waiting));
                }
                WaitEvent::Shrunk(waiting) => self.steps.push(Step::Waiting(waiting)),
                WaitEvent::Ended(end) => {
                    if let Some(outcome) = end.cause.outcome() {
                        engine.metrics.observe_wait(outcome, end.duration_ms());
                    }
                    if !end.skipped.is_empty() {
                        self.steps.push(Step::Skipped(end.skipped.clone()));
                    }
                    if let Some(start) = end.resume_at {
                        let position = match (end.cause, forced_from) {
                            (WaitEndCause::Forced, Some(from)) => from,
                            _ => self.room.playback.position,
                        };
                        let resume = Command::ResumeAfterWait { position, start };
                        self.change(resume, Origin::Service, now);
                    }
                }
            }
        }
    }
}

/// The position a room's playback has at `now`, as a position.
fn position_now(room: &Room, now: Millis) -> Position {
    Position::clamped(room.playback.position_at(now))
}

impl RoomEngine {
    /// A controller's playback command that the rules accepted (`outcome`,
    /// from `room`): with the room's wait, what it comes to (§9, §13 rules
    /// 1–3). `None`: the wait has nothing to do with it, store it as it is.
    pub(super) async fn playback_with_wait<'a>(
        &self,
        origin: Origin<'a>,
        room: &Room,
        outcome: &Outcome,
        now: Millis,
    ) -> Result<Option<Plan<'a>>, ServiceError> {
        let Some(action) = outcome.events.iter().find_map(|e| match e {
            Event::PlaybackChanged { action, .. } => Some(*action),
            _ => None,
        }) else {
            return Ok(None);
        };
        let live = self.load_wait(&room.code, now).await?;
        let mut plan = Plan::new(room, live, self.grace);
        let policy = room.settings.wait_policy;
        let waiting = plan.live.wait.current().is_some();
        let wait = &mut plan.live.wait;
        match action {
            // A PLAY during a wait forces it: everyone starts from its time.
            PlaybackAction::Play(from) if waiting => {
                let events = wait.force(now);
                plan.follow(events, from, Some(from), self, now);
            }
            PlaybackAction::Play(at) => {
                let events = wait.start(WaitReason::Play, policy, now);
                if !starts(&events) {
                    return Ok(None);
                }
                plan.follow(events, at, None, self, now);
            }
            PlaybackAction::Seek(at) if waiting || room.playback.is_playing => {
                let events = wait.start(WaitReason::Seek, policy, now);
                if starts(&events) {
                    plan.follow(events, at, None, self, now);
                } else if waiting {
                    // The wait restarted with nobody left to wait for: the
                    // room was about to play, so it plays from the seek.
                    plan.follow(events, at, None, self, now);
                    let start = plan.live.wait.resume_instant(now);
                    plan.change(
                        Command::ResumeAfterWait {
                            position: at,
                            start,
                        },
                        Origin::Service,
                        now,
                    );
                } else {
                    return Ok(None);
                }
            }
            PlaybackAction::Pause(at) if waiting => {
                let events = wait.pause(now);
                plan.follow(events, at, None, self, now);
                // Paused, PAUSE to all: the controller's own socket too,
                // signed by them, one version further even where it held.
                let by = match origin {
                    Origin::Socket { user, .. } | Origin::Person { user } => {
                        Origin::Person { user }
                    }
                    Origin::Service => Origin::Service,
                };
                plan.change(Command::HoldForWait { position: at }, by, now);
            }
            PlaybackAction::Seek(_) | PlaybackAction::Pause(_) => return Ok(None),
        }
        Ok(Some(plan))
    }

    /// Whether an advance in `room` that leaves it playing would wait for
    /// someone (§9 reason `advance`): then the new item is announced held.
    pub(super) async fn advance_would_wait(
        &self,
        room: &Room,
        now: Millis,
    ) -> Result<bool, ServiceError> {
        let mut wait = self.load_wait(&room.code, now).await?.wait;
        let events = wait.start(WaitReason::Advance, room.settings.wait_policy, now);
        Ok(starts(&events))
    }

    /// After an advance (stored and announced, `room` afterwards, which was
    /// `playing` or about to): the room waits for everyone to load the new
    /// item (§9 reason `advance`, §13 rule 3), a wait in progress starting
    /// again. With nobody to wait for, a held room plays the new item at once.
    pub(super) async fn wait_after_advance(
        &self,
        room: &Room,
        host_name: &str,
        playing: bool,
        now: Millis,
    ) -> Result<(), ServiceError> {
        let live = self.load_wait(&room.code, now).await?;
        let waiting = live.wait.current().is_some();
        if !playing && !waiting {
            return Ok(());
        }
        let before = live.clone();
        let mut plan = Plan::new(room, live, self.grace);
        if room.current_item.is_none() {
            // Nothing left to watch: nothing to wait for either.
            let events = plan.live.wait.pause(now);
            plan.follow(events, Position::ZERO, None, self, now);
            return self
                .store_plan(room, host_name, plan, now)
                .await
                .map(|_| ());
        }
        let policy = room.settings.wait_policy;
        let events = plan.live.wait.start(WaitReason::Advance, policy, now);
        let started = starts(&events);
        plan.follow(events, Position::ZERO, None, self, now);
        if !started && !plan.room.playback.is_playing {
            let start = plan.live.wait.resume_instant(now);
            let resume = Command::ResumeAfterWait {
                position: Position::ZERO,
                start,
            };
            plan.change(resume, Origin::Service, now);
        }
        if plan.live == before && plan.steps.is_empty() {
            return Ok(());
        }
        if self.store_plan(room, host_name, plan, now).await?.is_none() {
            tracing::debug!(room = %room.code, "room changed before an advance's wait; left as it is");
        }
        Ok(())
    }

    /// Runs one step of the room's wait that is not a controller's command
    /// (`PLAYER_STATE`, `SET_WAIT`, a socket gone, a deadline, a resume
    /// after grace) under the room's cross-instance lock. `decide` gets the
    /// room and its wait at `now` and answers the rules' events.
    pub(crate) async fn wait_step(
        &self,
        code: &RoomCode,
        decide: impl FnOnce(&Room, &mut GroupWait, Millis) -> Vec<WaitEvent> + Send,
    ) -> Result<(), ServiceError> {
        let key = format!("room:{code}");
        let Some(token) = self
            .live
            .lock(&key, super::ROOM_LOCK_TTL, super::ROOM_LOCK_WAIT)
            .await
            .classify()?
        else {
            return Err(ServiceError::Busy);
        };
        let done = self.wait_step_locked(code, decide).await;
        self.unlock_room(&key, Some(token)).await;
        done
    }

    async fn wait_step_locked(
        &self,
        code: &RoomCode,
        decide: impl FnOnce(&Room, &mut GroupWait, Millis) -> Vec<WaitEvent> + Send,
    ) -> Result<(), ServiceError> {
        let (room, host_name) = self
            .load_with(code, &PeopleNeeded::Only(Vec::new()))
            .await?;
        if room.status.is_final() {
            return Ok(());
        }
        let now = self.now();
        let live = self.load_wait(code, now).await?;
        let before = live.clone();
        let mut plan = Plan::new(&room, live, self.grace);
        let events = decide(&room, &mut plan.live.wait, now);
        let hold_at = position_now(&room, now);
        plan.follow(events, hold_at, None, self, now);
        if plan.live == before && plan.steps.is_empty() {
            return Ok(());
        }
        // A room changed under us (by a writer that did not take the lock)
        // leaves the wait as it was; the next step decides again.
        if self
            .store_plan(&room, &host_name, plan, now)
            .await?
            .is_none()
        {
            tracing::debug!(room = %code, "room changed during a wait step; left for the next");
        }
        Ok(())
    }

    /// The room's wait as stored. During a wait, each socket's latest round
    /// trip (from its user's sync reports) is noted too: the resume then
    /// starts as far ahead as the slowest ready player needs, not more.
    async fn load_wait(&self, code: &RoomCode, now: Millis) -> Result<LiveWait, ServiceError> {
        let mut live = self.live.load_wait(code).await.classify()?;
        if live.wait.current().is_some() {
            let reports = self.live.sync_entries(code, now).await.classify()?;
            for report in reports {
                let sockets: Vec<_> = live
                    .wait
                    .sockets
                    .iter()
                    .filter(|(_, s)| s.user == report.user)
                    .map(|(id, _)| *id)
                    .collect();
                for socket in sockets {
                    live.wait.note_rtt(socket, report.rtt_ms);
                }
            }
        }
        Ok(live)
    }

    /// Stores the room once (from `before` to where the plan leaves it),
    /// then the wait (arming its deadline on this instance), then announces
    /// the plan's steps in order. `None` when the room changed
    /// meanwhile and nothing was written.
    pub(super) async fn store_plan(
        &self,
        before: &Room,
        host_name: &str,
        plan: Plan<'_>,
        now: Millis,
    ) -> Result<Saved, ServiceError> {
        if plan.room != *before {
            let saved = self
                .db
                .save_room_audited(before, &plan.room, now, Vec::new())
                .await
                .classify()?;
            if !saved {
                return Ok(None);
            }
            self.rows.changed(&before.code).await;
        }
        // The wait is stored before anything is announced: an instance that
        // dies from here on leaves a wait the others end at its deadline,
        // never a held room that nobody resumes.
        self.live
            .store_wait(&before.code, &plan.live)
            .await
            .classify()?;
        if let Some(deadline) = plan.live.wait.next_deadline() {
            self.arm_deadline(&before.code, deadline);
        }
        for step in &plan.steps {
            match step {
                Step::Change(outcome, origin) => {
                    let stored = super::Stored::default();
                    self.announcer
                        .announce(outcome, host_name, &stored, *origin, now)
                        .await?;
                }
                Step::Waiting(waiting) => {
                    let message = self.waiting_message(&before.code, waiting).await?;
                    self.announcer
                        .publish(&before.code, &message, None, None)
                        .await?;
                }
                Step::Skipped(users) => {
                    let users = self.public_users(&before.code, users).await?;
                    let message = ServerMessage::WaitSkipped { users };
                    self.announcer
                        .publish(&before.code, &message, None, None)
                        .await?;
                }
            }
        }
        Ok(Some(Transition::Done(Box::new(plan.room))))
    }

    /// `WAITING` as the protocol shows it.
    async fn waiting_message(
        &self,
        code: &RoomCode,
        waiting: &WaitingFor,
    ) -> Result<ServerMessage, ServiceError> {
        Ok(ServerMessage::Waiting {
            waiting_for: self.public_users(code, &waiting.users).await?,
            reason: waiting.reason.as_str().to_owned(),
            deadline: waiting.deadline.0,
        })
    }

    /// The wait in progress in `code`, as `PlaybackState.waiting` shows it.
    pub(crate) async fn waiting_view(
        &self,
        code: &RoomCode,
    ) -> Result<Option<wire::Waiting>, ServiceError> {
        let live = self.live.load_wait(code).await.classify()?;
        match live.wait.waiting() {
            Some(waiting) => Ok(Some(wire::Waiting {
                waiting_for: self.public_users(code, &waiting.users).await?,
                reason: waiting.reason.as_str().to_owned(),
                deadline: waiting.deadline.0,
            })),
            None => Ok(None),
        }
    }

    /// Users with their names: from presence (they are connected, mostly),
    /// else from the database.
    async fn public_users(
        &self,
        code: &RoomCode,
        users: &[UserId],
    ) -> Result<Vec<wire::PublicUser>, ServiceError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let members = self.live.members(code).await.classify()?;
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            let name = match members.iter().find(|m| m.user == *user) {
                Some(member) => member.display_name.clone(),
                None => self.announcer.name_of(*user).await?,
            };
            out.push(public_user(*user, &name));
        }
        Ok(out)
    }

    /// Settles the room's wait if its deadline has passed: `WAIT_SKIPPED`,
    /// then the `PLAY`. Run by the timer armed when the wait started and
    /// by every instance's sweeper; whichever comes first decides.
    pub(crate) async fn settle_wait(&self, code: &RoomCode) -> Result<(), ServiceError> {
        let _guard = self.locks.lock(code).await;
        self.wait_step(code, |_, wait, now| wait.settle(now)).await
    }

    /// Asks this instance's sweeper to wake at `deadline` and settle the
    /// room's wait (a little after it, so the rules see it passed).
    fn arm_deadline(&self, code: &RoomCode, deadline: Millis) {
        // Nobody listening means the process is stopping: nothing to keep.
        let _ = self.deadlines.send((code.clone(), deadline.plus_millis(5)));
    }
}

/// Whether the rules' answer starts a wait.
fn starts(events: &[WaitEvent]) -> bool {
    events.iter().any(|e| matches!(e, WaitEvent::Started(_)))
}
