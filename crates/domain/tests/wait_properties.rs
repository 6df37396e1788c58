//! Random histories of sockets, reports and triggers against the group wait,
//! checking what every room relies on: a wait always ends, exactly once,
//! and never after its deadline; a client that never reports and a joiner
//! who never said ready are never waited for; nobody opted out is waited
//! for; a user skipped twice within five minutes is left alone for ten.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use watchparty_domain::{
    Budget, ConnectionId, GroupWait, Millis, PlayerState, RoomNow, UserId, WaitEndCause, WaitEvent,
    WaitPolicy, WaitReason, SKIP_EXCLUSION_MS, SKIP_WINDOW_MS,
};

/// Sockets 0..6 may report; 6 and 7 never do.
const SOCKETS: u64 = 8;
const SILENT: [u64; 2] = [6, 7];

#[derive(Debug, Clone)]
enum Op {
    Pass(i64),
    Connect {
        socket: u64,
        user: i64,
    },
    Disconnect(u64),
    Report {
        socket: u64,
        state: PlayerState,
        times: usize,
    },
    SetWait {
        user: i64,
        wait: bool,
    },
    Trigger {
        reason: WaitReason,
        policy: WaitPolicy,
    },
    Force,
    Pause,
    HostAway,
    Settle,
}

fn state() -> impl Strategy<Value = PlayerState> {
    prop_oneof![
        3 => Just(PlayerState::Ready),
        2 => Just(PlayerState::Loading),
        2 => Just(PlayerState::Buffering),
        1 => Just(PlayerState::Error),
    ]
}

fn reason() -> impl Strategy<Value = WaitReason> {
    prop_oneof![
        Just(WaitReason::Play),
        Just(WaitReason::Seek),
        Just(WaitReason::Resume),
        Just(WaitReason::Advance),
        Just(WaitReason::Rebuffer),
    ]
}

fn policy() -> impl Strategy<Value = WaitPolicy> {
    prop_oneof![
        1 => Just(WaitPolicy::Off),
        3 => Just(WaitPolicy::Start),
        2 => Just(WaitPolicy::Always),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Up to five minutes pass at once, so skips fall both inside and
        // outside the five-minute window.
        6 => prop_oneof![4 => 0i64..4_000, 1 => 0i64..300_000].prop_map(Op::Pass),
        3 => (0..SOCKETS, 0i64..4).prop_map(|(socket, user)| Op::Connect { socket, user }),
        1 => (0..SOCKETS).prop_map(Op::Disconnect),
        8 => (0..6u64, state(), prop_oneof![5 => Just(1usize), 1 => 2usize..12])
            .prop_map(|(socket, state, times)| Op::Report { socket, state, times }),
        1 => (0i64..4, any::<bool>()).prop_map(|(user, wait)| Op::SetWait { user, wait }),
        5 => (reason(), policy()).prop_map(|(reason, policy)| Op::Trigger { reason, policy }),
        1 => Just(Op::Force),
        1 => Just(Op::Pause),
        1 => Just(Op::HostAway),
        2 => Just(Op::Settle),
    ]
}

/// What the test knows, kept without the domain's code.
#[derive(Default)]
struct Seen {
    now: i64,
    playing: bool,
    policy_always: bool,
    /// The socket's user, for connected sockets.
    sockets: BTreeMap<u64, i64>,
    /// Sockets that connected while playing and have not said ready since.
    joiners: BTreeSet<u64>,
    opted_out: BTreeSet<i64>,
    /// Sockets whose last accepted state is `error`.
    errored: BTreeSet<u64>,
    /// Every instant each user was named in a WAIT_SKIPPED.
    skips: BTreeMap<UserId, Vec<i64>>,
    /// The wait in progress as the events told it: deadline and users.
    active: Option<(Millis, Vec<UserId>)>,
    started: usize,
    ended: usize,
}

impl Seen {
    /// Checks one call's events against the history and folds them in.
    fn absorb(&mut self, events: &[WaitEvent]) -> Result<(), TestCaseError> {
        for event in events {
            match event {
                WaitEvent::Started(waiting) => {
                    prop_assert!(self.active.is_none(), "a wait started over another");
                    prop_assert!(!waiting.users.is_empty(), "rule 1");
                    let length = waiting.deadline.0 - self.now;
                    let expected = if waiting.reason == WaitReason::Rebuffer {
                        5_000
                    } else {
                        10_000
                    };
                    prop_assert_eq!(length, expected);
                    for user in &waiting.users {
                        prop_assert!(!self.opted_out.contains(&user.0), "opted out {user:?}");
                        self.check_not_excluded(*user)?;
                    }
                    self.active = Some((waiting.deadline, waiting.users.clone()));
                    self.started += 1;
                    self.playing = false;
                }
                WaitEvent::Shrunk(waiting) => {
                    let Some((deadline, users)) = &self.active else {
                        return Err(TestCaseError::fail("shrunk without a wait"));
                    };
                    prop_assert_eq!(waiting.deadline, *deadline);
                    prop_assert!(!waiting.users.is_empty());
                    prop_assert!(waiting.users.len() < users.len(), "the list only shrinks");
                    prop_assert!(waiting.users.iter().all(|u| users.contains(u)));
                    self.active = Some((*deadline, waiting.users.clone()));
                }
                WaitEvent::Ended(end) => {
                    let Some((deadline, users)) = self.active.take() else {
                        return Err(TestCaseError::fail("ended twice, or never started"));
                    };
                    self.ended += 1;
                    prop_assert!(end.ended_at <= deadline, "outlived its deadline");
                    prop_assert!(end.ended_at.0 <= self.now);
                    if end.cause == WaitEndCause::Timeout {
                        prop_assert_eq!(end.ended_at, deadline);
                        prop_assert_eq!(
                            &end.skipped,
                            &users,
                            "the skipped are those still waited for"
                        );
                        for user in &end.skipped {
                            self.skips.entry(*user).or_default().push(end.ended_at.0);
                        }
                    } else {
                        prop_assert!(end.skipped.is_empty(), "WAIT_SKIPPED only at a deadline");
                    }
                    match end.resume_at {
                        Some(at) => {
                            prop_assert!(end.cause.outcome().is_some());
                            prop_assert!(at.0 > self.now && at.0 <= self.now + 500);
                            self.playing = true;
                        }
                        None => {
                            prop_assert!(end.cause.outcome().is_none());
                            self.playing = false;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Two skips within five minutes exclude a user for ten minutes after the second.
    fn check_not_excluded(&self, user: UserId) -> Result<(), TestCaseError> {
        let skips = self.skips.get(&user).map(Vec::as_slice).unwrap_or_default();
        for pair in skips.windows(2) {
            let (first, second) = (pair[0], pair[1]);
            if second - first < SKIP_WINDOW_MS {
                prop_assert!(
                    self.now >= second + SKIP_EXCLUSION_MS || self.now < second,
                    "{user:?} skipped at {first} and {second}, waited for at {}",
                    self.now
                );
            }
        }
        Ok(())
    }

    /// After every call: no wait outlives its deadline, and no silent
    /// socket, joiner or opted-out user is waited for.
    fn check_live(&self, waits: &GroupWait) -> Result<(), TestCaseError> {
        match (waits.current(), &self.active) {
            (None, None) => {}
            (Some(wait), Some((deadline, users))) => {
                prop_assert!(
                    Millis(self.now) < wait.deadline,
                    "a passed deadline was not settled"
                );
                prop_assert_eq!(wait.deadline, *deadline);
                prop_assert_eq!(&wait.waiting_for(), users);
                for socket in SILENT {
                    prop_assert!(!wait.waits_for_socket(ConnectionId(socket)));
                }
                for socket in &self.joiners {
                    prop_assert!(
                        !wait.waits_for_socket(ConnectionId(*socket)),
                        "joiner {socket} stalls the room"
                    );
                }
                for socket in &self.errored {
                    prop_assert!(
                        !wait.waits_for_socket(ConnectionId(*socket)),
                        "errored {socket}"
                    );
                }
                for (socket, user) in &self.sockets {
                    if self.opted_out.contains(user) {
                        prop_assert!(!wait.waits_for_socket(ConnectionId(*socket)));
                    }
                }
            }
            (live, seen) => {
                return Err(TestCaseError::fail(format!(
                    "live {live:?}, announced {seen:?}"
                )))
            }
        }
        Ok(())
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut waits = GroupWait::new();
    let mut seen = Seen::default();
    let mut budgets: BTreeMap<u64, Budget> = BTreeMap::new();
    for op in ops {
        let room = RoomNow {
            playing: seen.playing,
            policy: if seen.policy_always {
                WaitPolicy::Always
            } else {
                WaitPolicy::Start
            },
        };
        let now = Millis(seen.now);
        let events = match op {
            Op::Pass(ms) => {
                // Time passing calls nothing: the next call settles it.
                seen.now += ms;
                continue;
            }
            Op::Connect { socket, user } => {
                let events = waits.connect(ConnectionId(socket), UserId(user), seen.playing, now);
                budgets.insert(socket, Budget::player_state());
                seen.sockets.insert(socket, user);
                seen.errored.remove(&socket);
                if seen.playing {
                    seen.joiners.insert(socket);
                } else {
                    seen.joiners.remove(&socket);
                }
                events
            }
            Op::Disconnect(socket) => {
                seen.sockets.remove(&socket);
                seen.joiners.remove(&socket);
                seen.errored.remove(&socket);
                waits.disconnect(ConnectionId(socket), now)
            }
            Op::Report {
                socket,
                state,
                times,
            } => {
                let mut events = Vec::new();
                let mut accepted = 0;
                let budget = budgets.entry(socket).or_insert_with(Budget::player_state);
                for _ in 0..times {
                    // The service's path: the socket's allowance, then the rules.
                    if !budget.try_take(now) {
                        continue;
                    }
                    if let Ok(more) = waits.report(ConnectionId(socket), state, room, now) {
                        accepted += 1;
                        events.extend(more);
                    }
                }
                prop_assert!(accepted <= 4, "a flood beyond the budget");
                if accepted > 0 && state == PlayerState::Ready {
                    seen.joiners.remove(&socket);
                }
                if accepted > 0 && state == PlayerState::Error {
                    seen.errored.insert(socket);
                } else if accepted > 0 {
                    seen.errored.remove(&socket);
                }
                if accepted == 0 {
                    // A refused report changes nothing, a passed deadline
                    // included: the timer settles that.
                    prop_assert!(events.is_empty());
                    continue;
                }
                events
            }
            Op::SetWait { user, wait } => {
                if wait {
                    seen.opted_out.remove(&user);
                } else {
                    seen.opted_out.insert(user);
                }
                waits.set_wait(UserId(user), wait, now)
            }
            Op::Trigger { reason, policy } => {
                seen.policy_always = policy == WaitPolicy::Always;
                let events = waits.start(reason, policy, now);
                seen.absorb(&events)?;
                if !events.iter().any(|e| matches!(e, WaitEvent::Started(_))) {
                    // The command applied at once: the room plays.
                    seen.playing = true;
                }
                seen.check_live(&waits)?;
                continue;
            }
            Op::Force => waits.force(now),
            Op::Pause => {
                seen.playing = false;
                waits.pause(now)
            }
            Op::HostAway => {
                seen.playing = false;
                waits.host_away(now)
            }
            Op::Settle => waits.settle(now),
        };
        seen.absorb(&events)?;
        seen.check_live(&waits)?;
    }
    // Whatever happened, the wait in progress ends by its deadline, and
    // every wait that started ended exactly once.
    seen.now += 10_000;
    let events = waits.settle(Millis(seen.now));
    seen.absorb(&events)?;
    prop_assert!(waits.current().is_none());
    prop_assert_eq!(seen.started, seen.ended);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_wait_ends_once_by_its_deadline_and_waits_only_for_whom_it_may(
        ops in prop::collection::vec(op(), 1..120)
    ) {
        run(ops)?;
    }

    #[test]
    fn a_budget_never_lets_more_than_its_limit_through_in_any_window(
        limit in 1usize..6,
        gaps in prop::collection::vec(prop_oneof![3 => 0i64..50, 1 => 0i64..1_500], 1..200),
    ) {
        let mut budget = Budget::new(limit, 1_000);
        let mut now = 0;
        let mut accepted = Vec::new();
        for gap in gaps {
            now += gap;
            let recent = accepted.iter().filter(|t| **t > now - 1_000).count();
            let taken = budget.try_take(Millis(now));
            // Refused exactly when the window ending now is full.
            prop_assert_eq!(taken, recent < limit, "at {}", now);
            if taken {
                accepted.push(now);
            }
        }
        for (i, first) in accepted.iter().enumerate() {
            let within = accepted[i..].iter().filter(|t| **t < first + 1_000).count();
            prop_assert!(within <= limit);
        }
    }
}
