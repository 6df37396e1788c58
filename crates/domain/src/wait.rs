//! The group wait of contract §9 and §13 rules 1–4: who is waited for, for
//! how long, and how a wait ends — exactly once.
//!
//! This is live state, never room state: nothing of it is stored in the
//! database, so it is not part of [`crate::Room`]. The service keeps one
//! [`GroupWait`] per room beside the room and drives both: when a wait
//! starts it holds playback (a `PAUSE` through the room), when it ends it
//! plays again at [`WaitEnd::resume_at`]. Every method takes the instant in,
//! and every one that changes something first settles a deadline that has
//! passed, so the order in which the service calls them cannot let a wait
//! outlive its deadline. A refused `PLAYER_STATE` changes nothing at all: the
//! timer armed at [`GroupWait::next_deadline`] settles the deadline then.

use crate::ids::{ConnectionId, Millis, UserId};
use crate::roles::WaitPolicy;
use crate::sync::MAX_RTT_MS;
use std::collections::BTreeMap;

/// How long a wait lasts at most after a play, seek, resume or advance.
pub const WAIT_DEADLINE_MS: i64 = 10_000;
/// How long a wait lasts at most after someone rebuffers.
pub const REBUFFER_DEADLINE_MS: i64 = 5_000;
/// Two skips within this long exclude a user (§9).
pub const SKIP_WINDOW_MS: i64 = 5 * 60 * 1_000;
/// How long a user skipped twice is not waited for (§9).
pub const SKIP_EXCLUSION_MS: i64 = 10 * 60 * 1_000;
/// The furthest ahead a resume's `server_time` may lie (§9).
pub const MAX_RESUME_LEAD_MS: i64 = 500;
/// The part of the resume lead that lets a player act on the `PLAY` once it
/// has arrived.
pub const RESUME_MARGIN_MS: i64 = 100;
/// The round trip assumed for a socket that has not reported one.
pub const ASSUMED_RTT_MS: u32 = 400;

/// What a player says about itself (`PLAYER_STATE`'s `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlayerState {
    /// Still loading the video.
    Loading,
    /// Able to play from the held position at once.
    Ready,
    /// Stalled for data.
    Buffering,
    /// The player failed: this socket is never waited for while this is its
    /// last state.
    Error,
}

impl PlayerState {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlayerState::Loading => "loading",
            PlayerState::Ready => "ready",
            PlayerState::Buffering => "buffering",
            PlayerState::Error => "error",
        }
    }

    /// Reads the contract's name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "loading" => Some(PlayerState::Loading),
            "ready" => Some(PlayerState::Ready),
            "buffering" => Some(PlayerState::Buffering),
            "error" => Some(PlayerState::Error),
            _ => None,
        }
    }
}

/// Why a wait started (`WAITING`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitReason {
    /// A controller's `PLAY`.
    Play,
    /// A `SEEK` while playing (or during a wait).
    Seek,
    /// Playback resuming after the host's grace.
    Resume,
    /// A change of the current item.
    Advance,
    /// A waited-for player reported `buffering` while the room played
    /// (policy `always` only).
    Rebuffer,
}

impl WaitReason {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Play => "play",
            WaitReason::Seek => "seek",
            WaitReason::Resume => "resume",
            WaitReason::Advance => "advance",
            WaitReason::Rebuffer => "rebuffer",
        }
    }

    /// How long a wait for this reason lasts at most: 5 s for a rebuffer,
    /// 10 s otherwise.
    pub fn deadline_ms(self) -> i64 {
        match self {
            WaitReason::Rebuffer => REBUFFER_DEADLINE_MS,
            _ => WAIT_DEADLINE_MS,
        }
    }
}

impl WaitPolicy {
    /// Whether a room with this policy waits after this trigger: `off`
    /// never, `start` after everything but a rebuffer, `always` after all.
    pub fn waits_on(self, reason: WaitReason) -> bool {
        match self {
            WaitPolicy::Off => false,
            WaitPolicy::Start => reason != WaitReason::Rebuffer,
            WaitPolicy::Always => true,
        }
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitEndCause {
    /// Everyone waited for is ready (or is no longer waited for).
    Ready,
    /// The deadline passed; whoever was not ready is skipped.
    Timeout,
    /// A controller's `PLAY` started playback at once.
    Forced,
    /// A controller's `PAUSE`: the room stays paused.
    Paused,
    /// A `SEEK` or a change of item replaced it with a new wait (or, when
    /// nobody would be waited for then, with playback at once).
    Restarted,
    /// The host's last socket closed: grace freezes the room, paused.
    HostAway,
}

impl WaitEndCause {
    /// The metric `outcome` of `watchparty_group_waits_total`; `None` for
    /// the ends that are not counted (§13 rule 3).
    pub fn outcome(self) -> Option<WaitOutcome> {
        match self {
            WaitEndCause::Ready => Some(WaitOutcome::Ready),
            WaitEndCause::Timeout => Some(WaitOutcome::Timeout),
            WaitEndCause::Forced => Some(WaitOutcome::Forced),
            WaitEndCause::Paused | WaitEndCause::Restarted | WaitEndCause::HostAway => None,
        }
    }

    /// Whether the room plays again after this end (one `PLAY` to all).
    pub fn resumes(self) -> bool {
        self.outcome().is_some()
    }
}

/// The `outcome` label of `watchparty_group_waits_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitOutcome {
    /// Everyone got ready.
    Ready,
    /// The deadline passed.
    Timeout,
    /// A controller started playback.
    Forced,
}

impl WaitOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitOutcome::Ready => "ready",
            WaitOutcome::Timeout => "timeout",
            WaitOutcome::Forced => "forced",
        }
    }
}

/// What `WAITING` (and `PlaybackState.waiting`) carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingFor {
    /// The users still not ready, by id.
    pub users: Vec<UserId>,
    /// Why the room waits.
    pub reason: WaitReason,
    /// When the wait ends at the latest.
    pub deadline: Millis,
}

/// How a wait ended: what the service announces and measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitEnd {
    /// Why it ended.
    pub cause: WaitEndCause,
    /// Why it had started.
    pub reason: WaitReason,
    /// When it started.
    pub started_at: Millis,
    /// When it ended.
    pub ended_at: Millis,
    /// Who was still not ready at the deadline (`WAIT_SKIPPED`, sent before
    /// the `PLAY`); empty unless the cause is [`WaitEndCause::Timeout`].
    pub skipped: Vec<UserId>,
    /// The `server_time` of the `PLAY` that every socket gets; `None` when
    /// the room does not play again ([`WaitEndCause::resumes`]).
    pub resume_at: Option<Millis>,
}

impl WaitEnd {
    /// How long the wait lasted (`watchparty_group_wait_seconds`).
    pub fn duration_ms(&self) -> i64 {
        self.ended_at.0.saturating_sub(self.started_at.0).max(0)
    }
}

/// What a call changed, in the order to announce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitEvent {
    /// A wait started: hold playback (`PAUSE` to all, `by` null, version
    /// + 1), then `WAITING`.
    Started(WaitingFor),
    /// The list of users waited for shrank and is not empty: `WAITING` again.
    Shrunk(WaitingFor),
    /// The wait ended.
    Ended(WaitEnd),
}

/// Why a `PLAYER_STATE` changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerStateRefusal {
    /// The socket is not known (never connected, or already gone).
    UnknownSocket,
}

/// What the room is doing, as the wait rules need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomNow {
    /// Whether playback is running (a held room is not).
    pub playing: bool,
    /// The room's `wait_policy`.
    pub policy: WaitPolicy,
}

/// A user's readiness, derived from their sockets (Redis `ready`, §13 rule 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserReadiness {
    /// At least one reporting socket is ready.
    Ready,
    /// They report, and none of their sockets is ready.
    NotReady,
    /// None of their sockets reports: they are never waited for.
    Unreported,
}

/// What the wait rules know of one socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketReadiness {
    /// Whose socket it is.
    pub user: UserId,
    /// Its last accepted `PLAYER_STATE`; `None`: it never reported, and is
    /// never waited for.
    pub last: Option<PlayerState>,
    /// Whether it has reported `ready` at least once since it connected.
    pub ready_once: bool,
    /// Whether it connected while the room played: then it is not waited
    /// for until `ready_once`.
    pub joined_while_playing: bool,
    /// Its latest reported round trip in milliseconds, if any.
    pub rtt_ms: Option<u32>,
}

impl SocketReadiness {
    /// Whether a wait starting now would wait for this socket (before the
    /// per-user rules): it reported, its last state is not `error`, and it
    /// is not a joiner who never said `ready`.
    fn eligible(&self) -> bool {
        match self.last {
            None | Some(PlayerState::Error) => false,
            Some(_) => !self.joined_while_playing || self.ready_once,
        }
    }
}

/// What the wait rules keep of a user for the room's lifetime, across
/// reconnects (§13 rule 4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserWaitRecord {
    /// `SET_WAIT false`: never waited for.
    pub opted_out: bool,
    /// When they were skipped within the last five minutes (at most one:
    /// the second excludes them and clears the list).
    pub skips: Vec<Millis>,
    /// Not waited for before this instant (skip-twice rule).
    pub excluded_until: Option<Millis>,
}

impl UserWaitRecord {
    fn excluded_at(&self, now: Millis) -> bool {
        self.excluded_until.is_some_and(|until| now < until)
    }

    /// Counts a skip; two within [`SKIP_WINDOW_MS`] exclude the user for
    /// [`SKIP_EXCLUSION_MS`] and start the count afresh.
    fn skipped(&mut self, now: Millis) {
        let since = now.0.saturating_sub(SKIP_WINDOW_MS);
        self.skips.retain(|t| t.0 > since);
        self.skips.push(now);
        if self.skips.len() >= 2 {
            self.excluded_until = Some(now.plus_millis(SKIP_EXCLUSION_MS));
            self.skips.clear();
        }
    }
}

/// A wait in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// Why it started.
    pub reason: WaitReason,
    /// When it started.
    pub started_at: Millis,
    /// When it ends at the latest.
    pub deadline: Millis,
    /// The sockets waited for, fixed when it started (it only loses
    /// members), and whether each counts as ready.
    pub waited: BTreeMap<ConnectionId, WaitedSocket>,
}

/// A socket a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitedSocket {
    /// Whose socket it is.
    pub user: UserId,
    /// Whether it (or another waited-for socket of the same user) said
    /// `ready` after the `WAITING`.
    pub ready: bool,
}

impl Wait {
    /// The users still waited for: those with a waited-for socket and none
    /// of them ready, by id.
    pub fn waiting_for(&self) -> Vec<UserId> {
        let mut ready: BTreeMap<UserId, bool> = BTreeMap::new();
        for socket in self.waited.values() {
            *ready.entry(socket.user).or_insert(false) |= socket.ready;
        }
        ready
            .into_iter()
            .filter_map(|(user, is_ready)| (!is_ready).then_some(user))
            .collect()
    }

    /// Whether this socket is one the wait waits for.
    pub fn waits_for_socket(&self, socket: ConnectionId) -> bool {
        self.waited.contains_key(&socket)
    }

    fn view(&self) -> WaitingFor {
        WaitingFor {
            users: self.waiting_for(),
            reason: self.reason,
            deadline: self.deadline,
        }
    }
}

/// One room's readiness and waits: sockets, the users' `SET_WAIT` and skip
/// records (kept for the room's lifetime, across reconnects), and the wait
/// in progress, if any.
///
/// Plain data, like [`crate::Room`]: a service with several instances can
/// keep it in shared live state, load it, apply one call and store it back
/// atomically, so that a wait ends once whichever instance decides it. The
/// `PLAYER_STATE` allowance is not part of it: it belongs to the socket,
/// where it lives ([`crate::Budget::player_state`]), checked before
/// [`GroupWait::report`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupWait {
    /// The room's live sockets.
    pub sockets: BTreeMap<ConnectionId, SocketReadiness>,
    /// Users with a socket here, and every user with a `SET_WAIT` or a skip
    /// to remember, kept for the room's lifetime.
    pub users: BTreeMap<UserId, UserWaitRecord>,
    /// The wait in progress, if any.
    pub wait: Option<Wait>,
}

impl GroupWait {
    /// A room with no sockets and no wait.
    pub fn new() -> Self {
        GroupWait::default()
    }

    /// The wait in progress, if any.
    pub fn current(&self) -> Option<&Wait> {
        self.wait.as_ref()
    }

    /// What `WAITING` would say now, if a wait is in progress.
    pub fn waiting(&self) -> Option<WaitingFor> {
        self.wait.as_ref().map(Wait::view)
    }

    /// When the wait in progress ends at the latest: arm a timer for it and
    /// call [`GroupWait::settle`] then.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.wait.as_ref().map(|w| w.deadline)
    }

    /// A socket of `user` connected at `now`. One that connects while the
    /// room plays is not waited for until it has reported `ready` once.
    ///
    /// Socket ids are unique, so this normally announces nothing; an id that
    /// is already known is first disconnected (which may shrink or end the
    /// wait in progress), never silently reassigned to another user.
    pub fn connect(
        &mut self,
        socket: ConnectionId,
        user: UserId,
        room_playing: bool,
        now: Millis,
    ) -> Vec<WaitEvent> {
        let events = if self.sockets.contains_key(&socket) {
            self.disconnect(socket, now)
        } else {
            self.settle(now)
        };
        self.sockets.insert(
            socket,
            SocketReadiness {
                user,
                last: None,
                ready_once: false,
                joined_while_playing: room_playing,
                rtt_ms: None,
            },
        );
        self.users.entry(user).or_default();
        events
    }

    /// A socket closed. The wait stops waiting for it; if that leaves
    /// nobody to wait for, the wait ends as ready. The user's `SET_WAIT`
    /// and skips stay; a user with neither, and no socket left, is
    /// forgotten, so a busy public room does not keep every passer-by.
    pub fn disconnect(&mut self, socket: ConnectionId, now: Millis) -> Vec<WaitEvent> {
        let mut events = self.settle(now);
        if let Some(gone) = self.sockets.remove(&socket) {
            let still_here = self.sockets.values().any(|s| s.user == gone.user);
            let remembered = self
                .users
                .get(&gone.user)
                .is_some_and(|u| *u != UserWaitRecord::default());
            if !still_here && !remembered {
                self.users.remove(&gone.user);
            }
        }
        self.shrink(now, &mut events, |waited| {
            waited.remove(&socket);
        });
        events
    }

    /// The socket's round trip, from its latest counted `SYNC_REPORT`: it
    /// sets how far ahead a resume starts. Values that are not a finite
    /// number from 0 to [`crate::MAX_RTT_MS`] are ignored.
    pub fn note_rtt(&mut self, socket: ConnectionId, rtt_ms: f64) {
        if rtt_ms.is_finite() && (0.0..=MAX_RTT_MS).contains(&rtt_ms) {
            if let Some(s) = self.sockets.get_mut(&socket) {
                // In range, so the cast is exact up to the rounding.
                s.rtt_ms = Some(rtt_ms.round() as u32);
            }
        }
    }

    /// A `PLAYER_STATE` arrived at `now` while the room is as `room` says.
    ///
    /// The caller first checks the socket's allowance
    /// ([`crate::Budget::player_state`]: more than 4 a second are ignored).
    /// From a socket it does not know, it is refused and changes nothing,
    /// not even a passed deadline. Otherwise the socket's state is recorded;
    /// during a wait, `ready` marks the user's waited-for sockets ready for
    /// the rest of that wait and `error` stops waiting for the socket; with
    /// policy `always`, `buffering` from a socket that would be waited for,
    /// while the room plays, starts a rebuffer wait.
    pub fn report(
        &mut self,
        socket: ConnectionId,
        state: PlayerState,
        room: RoomNow,
        now: Millis,
    ) -> Result<Vec<WaitEvent>, PlayerStateRefusal> {
        let entry = self
            .sockets
            .get_mut(&socket)
            .ok_or(PlayerStateRefusal::UnknownSocket)?;
        entry.last = Some(state);
        if state == PlayerState::Ready {
            entry.ready_once = true;
        }
        let mut events = self.settle(now);
        match state {
            // Readiness latches per user for the rest of the wait: once one
            // of their sockets said ready, closing that socket does not put
            // them back on the list, which only ever shrinks.
            PlayerState::Ready => self.shrink(now, &mut events, |waited| {
                if let Some(user) = waited.get(&socket).map(|w| w.user) {
                    for waited in waited.values_mut().filter(|w| w.user == user) {
                        waited.ready = true;
                    }
                }
            }),
            PlayerState::Error => self.shrink(now, &mut events, |waited| {
                waited.remove(&socket);
            }),
            PlayerState::Buffering
                if self.wait.is_none()
                    && room.playing
                    && room.policy.waits_on(WaitReason::Rebuffer)
                    && self.would_wait_for(socket, now) =>
            {
                events.extend(self.start(WaitReason::Rebuffer, room.policy, now));
            }
            PlayerState::Buffering | PlayerState::Loading => {}
        }
        Ok(events)
    }

    /// `SET_WAIT`: whether the user is waited for (for all their sockets,
    /// for the room's lifetime). Opting out during a wait stops waiting for
    /// them at once.
    pub fn set_wait(&mut self, user: UserId, wait: bool, now: Millis) -> Vec<WaitEvent> {
        let mut events = self.settle(now);
        self.users.entry(user).or_default().opted_out = !wait;
        if !wait {
            self.shrink(now, &mut events, |waited| {
                waited.retain(|_, w| w.user != user);
            });
        }
        events
    }

    /// A trigger: a `PLAY`, a `SEEK` while playing or during a wait, a
    /// resume after grace, a change of item. A wait in progress ends
    /// ([`WaitEndCause::Restarted`]); a new one starts when the policy
    /// waits on `reason` and at least one socket would be waited for.
    /// With no [`WaitEvent::Started`] in the answer the command applies at
    /// once, as in §5 (§13 rule 1).
    ///
    /// A controller's `PLAY` during a wait is not a trigger but
    /// [`GroupWait::force`].
    pub fn start(&mut self, reason: WaitReason, policy: WaitPolicy, now: Millis) -> Vec<WaitEvent> {
        let mut events = self.settle(now);
        events.extend(self.end(WaitEndCause::Restarted, now));
        if !policy.waits_on(reason) {
            return events;
        }
        let waited: BTreeMap<ConnectionId, WaitedSocket> = self
            .sockets
            .keys()
            .filter(|socket| self.would_wait_for(**socket, now))
            .filter_map(|socket| {
                // Every waited-for socket counts as not ready until it says
                // `ready` after this WAITING (§13 rule 2).
                self.sockets.get(socket).map(|s| {
                    let waited = WaitedSocket {
                        user: s.user,
                        ready: false,
                    };
                    (*socket, waited)
                })
            })
            .collect();
        if waited.is_empty() {
            return events;
        }
        let wait = Wait {
            reason,
            started_at: now,
            deadline: now.plus_millis(reason.deadline_ms()),
            waited,
        };
        events.push(WaitEvent::Started(wait.view()));
        self.wait = Some(wait);
        events
    }

    /// A controller's `PLAY` during a wait: it ends at once, forced, and
    /// playback starts from the `PLAY`'s own position. Nothing happens when
    /// no wait is in progress: that `PLAY` is a trigger ([`GroupWait::start`]).
    /// When the deadline has passed already, the answer is the timeout and
    /// the room resumes from it.
    pub fn force(&mut self, now: Millis) -> Vec<WaitEvent> {
        let mut events = self.settle(now);
        events.extend(self.end(WaitEndCause::Forced, now));
        events
    }

    /// A controller's `PAUSE` during a wait: it ends, not counted, and the
    /// room stays paused.
    pub fn pause(&mut self, now: Millis) -> Vec<WaitEvent> {
        let mut events = self.settle(now);
        events.extend(self.end(WaitEndCause::Paused, now));
        events
    }

    /// The host's last socket closed: a wait in progress ends, not counted;
    /// grace freezes the room. The resume after grace is a new trigger
    /// ([`WaitReason::Resume`]).
    pub fn host_away(&mut self, now: Millis) -> Vec<WaitEvent> {
        let mut events = self.settle(now);
        events.extend(self.end(WaitEndCause::HostAway, now));
        events
    }

    /// Ends the wait in progress if its deadline has passed by `now`:
    /// whoever is not ready then is skipped, and counted towards the
    /// skip-twice rule. Every other method does this first.
    pub fn settle(&mut self, now: Millis) -> Vec<WaitEvent> {
        let (deadline, skipped) = match &self.wait {
            Some(wait) if now >= wait.deadline => (wait.deadline, wait.waiting_for()),
            _ => return Vec::new(),
        };
        for user in &skipped {
            // Counted at the deadline, not when a late timer noticed it.
            self.users.entry(*user).or_default().skipped(deadline);
        }
        // The PLAY goes out now, so it starts from now; the wait itself
        // lasted exactly until its deadline.
        let resume_at = self.resume_instant(now);
        self.wait
            .take()
            .map(|wait| {
                WaitEvent::Ended(WaitEnd {
                    cause: WaitEndCause::Timeout,
                    reason: wait.reason,
                    started_at: wait.started_at,
                    ended_at: deadline,
                    skipped,
                    resume_at: Some(resume_at),
                })
            })
            .into_iter()
            .collect()
    }

    /// Whether a wait starting at `now` would wait for this socket.
    pub fn would_wait_for(&self, socket: ConnectionId, now: Millis) -> bool {
        self.sockets.get(&socket).is_some_and(|s| {
            s.eligible()
                && self
                    .users
                    .get(&s.user)
                    .is_none_or(|u| !u.opted_out && !u.excluded_at(now))
        })
    }

    /// Whether `user` is excluded by the skip-twice rule at `now`.
    pub fn is_excluded(&self, user: UserId, now: Millis) -> bool {
        self.users.get(&user).is_some_and(|u| u.excluded_at(now))
    }

    /// Whether `user` opted out with `SET_WAIT`.
    pub fn opted_out(&self, user: UserId) -> bool {
        self.users.get(&user).is_some_and(|u| u.opted_out)
    }

    /// The user's readiness from their sockets' last states: ready when any
    /// reporting socket is ready.
    pub fn readiness_of(&self, user: UserId) -> UserReadiness {
        let mut states = self
            .sockets
            .values()
            .filter(|s| s.user == user)
            .filter_map(|s| s.last)
            .peekable();
        if states.peek().is_none() {
            UserReadiness::Unreported
        } else if states.any(|state| state == PlayerState::Ready) {
            UserReadiness::Ready
        } else {
            UserReadiness::NotReady
        }
    }

    /// The instant a resume starts when the room plays again at `now`:
    /// `now` plus half the largest round trip among the sockets that start
    /// together (the ready waited-for sockets; a socket without a reported
    /// round trip, or none being ready, counts as [`ASSUMED_RTT_MS`]), plus
    /// [`RESUME_MARGIN_MS`],
    /// never more than [`MAX_RESUME_LEAD_MS`] ahead. The slowest of them
    /// then hears the `PLAY` before its moment comes.
    pub fn resume_instant(&self, now: Millis) -> Millis {
        let sockets: Vec<&SocketReadiness> = match &self.wait {
            Some(wait) => wait
                .waited
                .iter()
                .filter(|(_, waited)| waited.ready)
                .filter_map(|(id, _)| self.sockets.get(id))
                .collect(),
            None => Vec::new(),
        };
        let rtt = sockets
            .iter()
            .map(|s| s.rtt_ms.unwrap_or(ASSUMED_RTT_MS))
            .max()
            .unwrap_or(ASSUMED_RTT_MS);
        let lead = i64::from(rtt / 2) + RESUME_MARGIN_MS;
        now.plus_millis(lead.clamp(0, MAX_RESUME_LEAD_MS))
    }

    /// Applies a change to the waited-for sockets and announces what it did:
    /// the end (as ready) when nobody is left, else `WAITING` again when the
    /// list of users shrank.
    fn shrink(
        &mut self,
        now: Millis,
        events: &mut Vec<WaitEvent>,
        change: impl FnOnce(&mut BTreeMap<ConnectionId, WaitedSocket>),
    ) {
        let Some(wait) = self.wait.as_mut() else {
            return;
        };
        let before = wait.waiting_for().len();
        change(&mut wait.waited);
        let after = wait.waiting_for();
        if after.is_empty() {
            events.extend(self.end(WaitEndCause::Ready, now));
        } else if after.len() < before {
            events.push(WaitEvent::Shrunk(wait.view()));
        }
    }

    /// Ends the wait in progress, once: afterwards there is none.
    fn end(&mut self, cause: WaitEndCause, now: Millis) -> Option<WaitEvent> {
        let resume_at = cause.resumes().then(|| self.resume_instant(now));
        let wait = self.wait.take()?;
        Some(WaitEvent::Ended(WaitEnd {
            cause,
            reason: wait.reason,
            started_at: wait.started_at,
            ended_at: now,
            skipped: Vec::new(),
            resume_at,
        }))
    }
}
