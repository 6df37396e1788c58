//! The group wait, rule by rule (contract §9, §13 rules 1–4).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use watchparty_domain::{
    Budget, ConnectionId, GroupWait, Millis, PlayerState, PlayerStateRefusal, RoomNow, UserId,
    UserReadiness, WaitEnd, WaitEndCause, WaitEvent, WaitOutcome, WaitPolicy, WaitReason,
    WaitingFor, MAX_RESUME_LEAD_MS,
};

const ANA: UserId = UserId(1);
const BO: UserId = UserId(2);
const CY: UserId = UserId(3);

const PLAYING: RoomNow = RoomNow {
    playing: true,
    policy: WaitPolicy::Start,
};
const PAUSED: RoomNow = RoomNow {
    playing: false,
    policy: WaitPolicy::Start,
};

fn s(n: u64) -> ConnectionId {
    ConnectionId(n)
}

fn t(ms: i64) -> Millis {
    Millis(ms)
}

/// A room, paused, whose sockets 1, 2, 3 belong to Ana, Bo and Cy and have
/// reported the given states at instant 0.
fn room_with(states: &[(u64, UserId, PlayerState)]) -> GroupWait {
    let mut waits = GroupWait::new();
    for (socket, user, state) in states {
        waits.connect(s(*socket), *user, false, t(0));
        assert_eq!(waits.report(s(*socket), *state, PAUSED, t(0)), Ok(vec![]));
    }
    waits
}

fn report(waits: &mut GroupWait, socket: u64, state: PlayerState, at: i64) -> Vec<WaitEvent> {
    waits.report(s(socket), state, PAUSED, t(at)).unwrap()
}

fn play(waits: &mut GroupWait, at: i64) -> Vec<WaitEvent> {
    waits.start(WaitReason::Play, WaitPolicy::Start, t(at))
}

fn started(events: &[WaitEvent]) -> WaitingFor {
    match events {
        [.., WaitEvent::Started(waiting)] => waiting.clone(),
        other => panic!("expected a wait to start, got {other:?}"),
    }
}

fn ended(events: &[WaitEvent]) -> WaitEnd {
    match events {
        [WaitEvent::Ended(end), ..] => end.clone(),
        other => panic!("expected the wait to end, got {other:?}"),
    }
}

fn shrunk(events: &[WaitEvent]) -> Vec<UserId> {
    match events {
        [WaitEvent::Shrunk(waiting)] => waiting.users.clone(),
        other => panic!("expected the list to shrink, got {other:?}"),
    }
}

#[test]
fn a_client_that_never_reports_holds_nobody_up() {
    let mut waits = GroupWait::new();
    waits.connect(s(1), ANA, false, t(0));
    waits.connect(s(2), BO, false, t(0));
    // Rule 1: nobody would be waited for, so nothing starts and the PLAY
    // applies at once.
    assert!(play(&mut waits, 1_000).is_empty());
    assert!(waits.current().is_none());
    assert_eq!(waits.readiness_of(ANA), UserReadiness::Unreported);

    report(&mut waits, 2, PlayerState::Loading, 2_000);
    let waiting = started(&play(&mut waits, 3_000));
    assert_eq!(waiting.users, [BO]);
    assert!(!waits.current().unwrap().waits_for_socket(s(1)));
}

#[test]
fn everyone_waited_for_counts_as_not_ready_until_ready_after_waiting() {
    let mut waits = room_with(&[
        (1, ANA, PlayerState::Loading),
        (2, BO, PlayerState::Loading),
        (3, CY, PlayerState::Ready),
    ]);
    let waiting = started(&play(&mut waits, 1_000));
    // Cy was ready before, but must say so after WAITING (rule 2).
    assert_eq!(waiting.users, [ANA, BO, CY]);
    assert_eq!(waiting.reason, WaitReason::Play);
    assert_eq!(waiting.deadline, t(11_000));

    // The list shrinks one user at a time, WAITING again each time.
    assert_eq!(
        shrunk(&report(&mut waits, 3, PlayerState::Ready, 1_500)),
        [ANA, BO]
    );
    // A report that makes nobody ready announces nothing.
    assert!(report(&mut waits, 2, PlayerState::Buffering, 1_600).is_empty());
    assert_eq!(
        shrunk(&report(&mut waits, 1, PlayerState::Ready, 2_000)),
        [BO]
    );
    let end = ended(&report(&mut waits, 2, PlayerState::Ready, 2_400));
    assert_eq!(end.cause, WaitEndCause::Ready);
    assert_eq!(end.cause.outcome(), Some(WaitOutcome::Ready));
    assert!(end.skipped.is_empty());
    assert_eq!(
        (end.started_at, end.ended_at, end.duration_ms()),
        (t(1_000), t(2_400), 1_400)
    );
    let resume = end.resume_at.unwrap();
    assert!(resume > t(2_400) && resume <= t(2_400 + MAX_RESUME_LEAD_MS));
    assert!(waits.current().is_none());
}

#[test]
fn readiness_latches_for_the_rest_of_a_wait() {
    let mut waits = room_with(&[
        (1, ANA, PlayerState::Loading),
        (2, BO, PlayerState::Loading),
    ]);
    started(&play(&mut waits, 0));
    assert_eq!(
        shrunk(&report(&mut waits, 1, PlayerState::Ready, 100)),
        [BO]
    );
    // Ana flips back: the list never grows again, so a flapping player
    // cannot keep a wait alive.
    assert!(report(&mut waits, 1, PlayerState::Buffering, 200).is_empty());
    assert_eq!(waits.waiting().unwrap().users, [BO]);
    assert_eq!(
        ended(&report(&mut waits, 2, PlayerState::Ready, 300)).cause,
        WaitEndCause::Ready
    );
}

#[test]
fn a_user_is_ready_when_any_of_their_sockets_is() {
    let mut waits = room_with(&[
        (1, ANA, PlayerState::Loading),
        (2, ANA, PlayerState::Loading),
        (3, BO, PlayerState::Loading),
    ]);
    assert_eq!(waits.readiness_of(ANA), UserReadiness::NotReady);
    assert_eq!(started(&play(&mut waits, 0)).users, [ANA, BO]);
    assert_eq!(
        shrunk(&report(&mut waits, 2, PlayerState::Ready, 100)),
        [BO]
    );
    assert_eq!(waits.readiness_of(ANA), UserReadiness::Ready);
}

#[test]
fn a_socket_whose_last_state_is_error_is_never_waited_for() {
    let mut waits = room_with(&[(1, ANA, PlayerState::Error), (2, BO, PlayerState::Loading)]);
    assert_eq!(started(&play(&mut waits, 0)).users, [BO]);
    // An error during the wait stops waiting for that socket; nobody is left.
    let end = ended(&report(&mut waits, 2, PlayerState::Error, 500));
    assert_eq!(end.cause, WaitEndCause::Ready);

    let mut lone = room_with(&[(1, ANA, PlayerState::Error)]);
    assert!(play(&mut lone, 0).is_empty(), "rule 1: nobody to wait for");
}

#[test]
fn a_joiner_never_stalls_a_playing_room() {
    let mut waits = room_with(&[(1, ANA, PlayerState::Ready)]);
    waits.connect(s(2), BO, true, t(0));
    report(&mut waits, 2, PlayerState::Loading, 100);
    // Ana is waited for, the joiner is not.
    assert_eq!(
        started(&waits.start(WaitReason::Seek, WaitPolicy::Start, t(200))).users,
        [ANA]
    );
    assert!(!waits.current().unwrap().waits_for_socket(s(2)));
    assert_eq!(
        ended(&report(&mut waits, 1, PlayerState::Ready, 300)).cause,
        WaitEndCause::Ready
    );

    // Only the joiner reports: nothing to wait for.
    let mut alone = GroupWait::new();
    alone.connect(s(2), BO, true, t(0));
    alone
        .report(s(2), PlayerState::Buffering, PLAYING, t(0))
        .unwrap();
    assert!(alone
        .start(WaitReason::Seek, WaitPolicy::Always, t(100))
        .is_empty());

    // Once it has said ready, it is waited for like anyone.
    alone
        .report(s(2), PlayerState::Ready, PLAYING, t(200))
        .unwrap();
    alone
        .report(s(2), PlayerState::Loading, PLAYING, t(300))
        .unwrap();
    assert_eq!(
        started(&alone.start(WaitReason::Seek, WaitPolicy::Start, t(400))).users,
        [BO]
    );
}

#[test]
fn the_deadline_ends_the_wait_and_names_who_was_skipped() {
    let mut waits = room_with(&[
        (1, ANA, PlayerState::Loading),
        (2, BO, PlayerState::Loading),
    ]);
    started(&play(&mut waits, 1_000));
    report(&mut waits, 1, PlayerState::Ready, 2_000);
    assert!(waits.settle(t(10_999)).is_empty(), "not yet");
    assert_eq!(waits.next_deadline(), Some(t(11_000)));
    // The timer fires late: the wait still ended at its deadline, and the
    // PLAY starts from the moment it is sent.
    let end = ended(&waits.settle(t(11_200)));
    assert_eq!(end.cause, WaitEndCause::Timeout);
    assert_eq!(end.cause.outcome(), Some(WaitOutcome::Timeout));
    assert_eq!(end.skipped, [BO]);
    assert_eq!((end.ended_at, end.duration_ms()), (t(11_000), 10_000));
    let resume = end.resume_at.unwrap();
    assert!(resume > t(11_200) && resume <= t(11_200 + MAX_RESUME_LEAD_MS));
    // Exactly once.
    assert!(waits.settle(t(11_300)).is_empty());
    assert!(waits.force(t(11_300)).is_empty());
}

#[test]
fn a_report_after_the_deadline_finds_the_wait_already_over() {
    let mut waits = room_with(&[(1, ANA, PlayerState::Loading)]);
    started(&play(&mut waits, 0));
    let events = report(&mut waits, 1, PlayerState::Ready, 10_000);
    assert_eq!(events.len(), 1, "{events:?}");
    let end = ended(&events);
    assert_eq!((end.cause, end.skipped), (WaitEndCause::Timeout, vec![ANA]));
    // The report itself was recorded.
    assert_eq!(waits.readiness_of(ANA), UserReadiness::Ready);
}

#[test]
fn the_policy_decides_which_triggers_wait() {
    let triggers = [
        WaitReason::Play,
        WaitReason::Seek,
        WaitReason::Resume,
        WaitReason::Advance,
        WaitReason::Rebuffer,
    ];
    for reason in triggers {
        assert!(!WaitPolicy::Off.waits_on(reason));
        assert_eq!(
            WaitPolicy::Start.waits_on(reason),
            reason != WaitReason::Rebuffer
        );
        assert!(WaitPolicy::Always.waits_on(reason));
        let deadline = if reason == WaitReason::Rebuffer {
            5_000
        } else {
            10_000
        };
        assert_eq!(reason.deadline_ms(), deadline);

        let mut waits = room_with(&[(1, ANA, PlayerState::Loading)]);
        assert!(waits.start(reason, WaitPolicy::Off, t(0)).is_empty());
        let waiting = started(&waits.start(reason, WaitPolicy::Always, t(0)));
        assert_eq!((waiting.reason, waiting.deadline), (reason, t(deadline)));
    }
}

#[test]
fn a_rebuffer_waits_only_with_policy_always_while_playing() {
    let always = RoomNow {
        playing: true,
        policy: WaitPolicy::Always,
    };
    let mut waits = room_with(&[(1, ANA, PlayerState::Ready), (2, BO, PlayerState::Ready)]);
    // Policy start, or a paused room: buffering is just a state.
    assert!(waits
        .report(s(2), PlayerState::Buffering, PLAYING, t(1_000))
        .unwrap()
        .is_empty());
    let paused_always = RoomNow {
        playing: false,
        ..always
    };
    assert!(waits
        .report(s(2), PlayerState::Buffering, paused_always, t(2_000))
        .unwrap()
        .is_empty());

    let events = waits
        .report(s(2), PlayerState::Buffering, always, t(3_000))
        .unwrap();
    let waiting = started(&events);
    assert_eq!(waiting.reason, WaitReason::Rebuffer);
    assert_eq!(waiting.deadline, t(8_000));
    assert_eq!(waiting.users, [ANA, BO]);
    // Further buffering during the wait starts nothing more.
    assert!(waits
        .report(s(2), PlayerState::Buffering, always, t(3_100))
        .unwrap()
        .is_empty());

    // Someone who opted out does not hold the room by rebuffering.
    let mut waits = room_with(&[(1, ANA, PlayerState::Ready), (2, BO, PlayerState::Ready)]);
    assert!(waits.set_wait(BO, false, t(0)).is_empty());
    assert!(waits
        .report(s(2), PlayerState::Buffering, always, t(1_000))
        .unwrap()
        .is_empty());
    assert!(waits.current().is_none());
}

#[test]
fn a_controllers_play_forces_the_start() {
    let mut waits = room_with(&[(1, ANA, PlayerState::Loading)]);
    assert!(waits.force(t(0)).is_empty(), "no wait, nothing to force");
    started(&play(&mut waits, 0));
    let end = ended(&waits.force(t(4_000)));
    assert_eq!(end.cause, WaitEndCause::Forced);
    assert_eq!(end.cause.outcome(), Some(WaitOutcome::Forced));
    assert!(end.skipped.is_empty(), "WAIT_SKIPPED only at a deadline");
    assert!(end.resume_at.unwrap() <= t(4_000 + MAX_RESUME_LEAD_MS));
    // Forcing is not a skip.
    assert!(!waits.is_excluded(ANA, t(5_000)));
}

#[test]
fn pause_host_away_and_restarts_end_a_wait_uncounted() {
    for cause in [WaitEndCause::Paused, WaitEndCause::HostAway] {
        let mut waits = room_with(&[(1, ANA, PlayerState::Loading)]);
        started(&play(&mut waits, 0));
        let events = match cause {
            WaitEndCause::Paused => waits.pause(t(3_000)),
            _ => waits.host_away(t(3_000)),
        };
        let end = ended(&events);
        assert_eq!(end.cause, cause);
        assert_eq!((end.cause.outcome(), end.resume_at), (None, None));
        assert!(waits.current().is_none());
    }
}

#[test]
fn a_seek_or_an_advance_restarts_the_wait_with_a_new_deadline() {
    for reason in [WaitReason::Seek, WaitReason::Advance] {
        let mut waits = room_with(&[
            (1, ANA, PlayerState::Loading),
            (2, BO, PlayerState::Loading),
        ]);
        started(&play(&mut waits, 0));
        report(&mut waits, 1, PlayerState::Ready, 1_000);
        let events = waits.start(reason, WaitPolicy::Start, t(4_000));
        let end = ended(&events);
        assert_eq!(
            (end.cause, end.cause.outcome()),
            (WaitEndCause::Restarted, None)
        );
        let waiting = started(&events);
        assert_eq!(events.len(), 2);
        assert_eq!((waiting.reason, waiting.deadline), (reason, t(14_000)));
        // Ana's ready was for the old position: she is waited for again.
        assert_eq!(waiting.users, [ANA, BO]);
    }
    // A restart with nobody left to wait for ends the old wait only: the
    // command then applies at once.
    let mut waits = room_with(&[(1, ANA, PlayerState::Loading)]);
    started(&play(&mut waits, 0));
    assert!(waits.set_wait(ANA, false, t(10)).len() == 1);
    assert!(waits
        .start(WaitReason::Seek, WaitPolicy::Start, t(20))
        .is_empty());
}

#[test]
fn the_last_waited_socket_closing_ends_the_wait_as_ready() {
    let mut waits = room_with(&[
        (1, ANA, PlayerState::Loading),
        (2, BO, PlayerState::Loading),
    ]);
    started(&play(&mut waits, 0));
    assert_eq!(shrunk(&waits.disconnect(s(1), t(100))), [BO]);
    let end = ended(&waits.disconnect(s(2), t(200)));
    assert_eq!(end.cause, WaitEndCause::Ready);
}

#[test]
fn set_wait_is_per_user_and_outlives_reconnects() {
    let mut waits = room_with(&[
        (1, ANA, PlayerState::Loading),
        (2, ANA, PlayerState::Loading),
    ]);
    assert!(
        waits.set_wait(ANA, false, t(0)).is_empty(),
        "no reply, nothing announced"
    );
    waits.disconnect(s(1), t(10));
    waits.disconnect(s(2), t(10));
    waits.connect(s(3), ANA, false, t(15));
    report(&mut waits, 3, PlayerState::Loading, 20);
    assert!(waits.opted_out(ANA));
    assert!(play(&mut waits, 30).is_empty());

    assert!(waits.set_wait(ANA, true, t(40)).is_empty());
    assert_eq!(started(&play(&mut waits, 50)).users, [ANA]);
    // Opting out during a wait stops waiting for them at once.
    let end = ended(&waits.set_wait(ANA, false, t(60)));
    assert_eq!(end.cause, WaitEndCause::Ready);
}

#[test]
fn opting_out_during_a_wait_shrinks_the_list() {
    let mut waits = room_with(&[
        (1, ANA, PlayerState::Loading),
        (2, BO, PlayerState::Loading),
    ]);
    started(&play(&mut waits, 0));
    assert_eq!(shrunk(&waits.set_wait(ANA, false, t(10))), [BO]);
    // Opting back in does not add them to the wait in progress.
    assert!(waits.set_wait(ANA, true, t(20)).is_empty());
    assert_eq!(waits.waiting().unwrap().users, [BO]);
}

/// A wait from `start` that times out, skipping whoever still loads.
fn time_out(waits: &mut GroupWait, start: i64) -> WaitEnd {
    let events = play(waits, start);
    if events.is_empty() {
        panic!("no wait at {start}");
    }
    ended(&waits.settle(t(start + 10_000)))
}

#[test]
fn a_user_skipped_twice_in_five_minutes_is_not_waited_for_ten_minutes() {
    let mut waits = room_with(&[(1, ANA, PlayerState::Loading), (2, BO, PlayerState::Ready)]);
    // Bo answers every wait; Ana loads for ever.
    let wait_once = |waits: &mut GroupWait, at: i64| {
        let events = play(waits, at);
        if events.is_empty() {
            return None;
        }
        let _ = waits.report(s(2), PlayerState::Ready, PAUSED, t(at + 100));
        let end = ended(&waits.settle(t(at + 10_000)));
        Some(end.skipped)
    };
    assert_eq!(wait_once(&mut waits, 0), Some(vec![ANA]));
    assert!(!waits.is_excluded(ANA, t(20_000)));
    // Second skip at 4 min 10 s: within five minutes of the first.
    assert_eq!(wait_once(&mut waits, 240_000), Some(vec![ANA]));
    let second = 250_000;
    assert!(waits.is_excluded(ANA, t(second)));
    // For ten minutes the room waits only for Bo, and he is quick.
    let events = play(&mut waits, second + 1_000);
    assert_eq!(started(&events).users, [BO]);
    assert_eq!(
        ended(&report(&mut waits, 2, PlayerState::Ready, second + 1_100)).cause,
        WaitEndCause::Ready
    );
    assert!(waits.is_excluded(ANA, t(second + 599_999)));
    assert!(!waits.is_excluded(ANA, t(second + 600_000)));
    // Then Ana is waited for again, and one skip alone excludes nobody.
    assert_eq!(wait_once(&mut waits, second + 600_000), Some(vec![ANA]));
    assert!(!waits.is_excluded(ANA, t(second + 620_000)));
}

#[test]
fn skips_more_than_five_minutes_apart_do_not_exclude() {
    let mut waits = room_with(&[(1, ANA, PlayerState::Loading)]);
    assert_eq!(time_out(&mut waits, 0).skipped, [ANA]);
    // The second deadline passes exactly five minutes after the first.
    assert_eq!(time_out(&mut waits, 300_000).skipped, [ANA]);
    assert!(!waits.is_excluded(ANA, t(310_001)));
    assert_eq!(time_out(&mut waits, 320_000).skipped, [ANA]);
    assert!(waits.is_excluded(ANA, t(330_000)));
    // Excluded and alone: nothing to wait for.
    assert!(play(&mut waits, 331_000).is_empty());
}

#[test]
fn player_state_beyond_four_a_second_is_ignored() {
    // The allowance lives with the socket; the service asks it first.
    let mut waits = room_with(&[]);
    waits.connect(s(1), ANA, false, t(0));
    let mut budget = Budget::player_state();
    let mut send = |waits: &mut GroupWait, state, at| {
        if budget.try_take(t(at)) {
            Some(waits.report(s(1), state, PAUSED, t(at)))
        } else {
            None
        }
    };
    for i in 0..4 {
        assert_eq!(
            send(&mut waits, PlayerState::Loading, 1_000 + i),
            Some(Ok(vec![]))
        );
    }
    // The fifth within the second changes nothing, not even the state.
    assert_eq!(send(&mut waits, PlayerState::Ready, 1_500), None);
    assert_eq!(waits.readiness_of(ANA), UserReadiness::NotReady);
    // A second after the first, one more fits.
    assert_eq!(
        send(&mut waits, PlayerState::Ready, 2_000),
        Some(Ok(vec![]))
    );
    assert_eq!(waits.readiness_of(ANA), UserReadiness::Ready);
    assert_eq!(
        waits.report(s(9), PlayerState::Ready, PAUSED, t(2_000)),
        Err(PlayerStateRefusal::UnknownSocket)
    );
}

#[test]
fn the_resume_instant_leads_by_half_the_slowest_round_trip_capped_at_500_ms() {
    let lead = |rtts: &[Option<f64>]| {
        let mut waits = GroupWait::new();
        for (i, rtt) in rtts.iter().enumerate() {
            let socket = s(i as u64);
            waits.connect(socket, UserId(i as i64), false, t(0));
            waits
                .report(socket, PlayerState::Loading, PAUSED, t(0))
                .unwrap();
            if let Some(rtt) = rtt {
                waits.note_rtt(socket, *rtt);
            }
        }
        started(&play(&mut waits, 1_000));
        let mut end = None;
        for i in 0..rtts.len() {
            let events = waits
                .report(s(i as u64), PlayerState::Ready, PAUSED, t(2_000))
                .unwrap();
            if let [WaitEvent::Ended(e)] = &events[..] {
                end = Some(e.clone());
            }
        }
        end.unwrap().resume_at.unwrap().0 - 2_000
    };
    assert_eq!(lead(&[Some(40.0), Some(120.0)]), 160);
    assert_eq!(
        lead(&[Some(40.0), None]),
        300,
        "an unknown round trip counts as 400 ms"
    );
    assert_eq!(lead(&[Some(2_000.0)]), 500);
    // Absurd round trips are not recorded.
    assert_eq!(lead(&[Some(f64::NAN)]), 300);
    assert_eq!(lead(&[Some(-5.0)]), 300);
}

#[test]
fn names_are_the_contracts() {
    let states = ["loading", "ready", "buffering", "error"];
    for name in states {
        assert_eq!(PlayerState::parse(name).unwrap().as_str(), name);
    }
    assert_eq!(PlayerState::parse("READY"), None);
    let reasons = [
        (WaitReason::Play, "play"),
        (WaitReason::Seek, "seek"),
        (WaitReason::Resume, "resume"),
        (WaitReason::Advance, "advance"),
        (WaitReason::Rebuffer, "rebuffer"),
    ];
    for (reason, name) in reasons {
        assert_eq!(reason.as_str(), name);
    }
    let outcomes = [
        WaitOutcome::Ready,
        WaitOutcome::Timeout,
        WaitOutcome::Forced,
    ];
    let names: Vec<_> = outcomes.iter().map(|o| o.as_str()).collect();
    assert_eq!(names, ["ready", "timeout", "forced"]);
}

#[test]
fn a_passer_by_is_forgotten_but_a_choice_or_a_skip_is_kept() {
    let mut waits = GroupWait::new();
    waits.connect(s(1), ANA, false, t(0));
    waits.connect(s(2), BO, false, t(0));
    waits.set_wait(BO, false, t(0));
    waits.disconnect(s(1), t(10));
    waits.disconnect(s(2), t(10));
    assert!(
        !waits.users.contains_key(&ANA),
        "nothing to remember of Ana"
    );
    assert!(waits.opted_out(BO), "Bo's SET_WAIT outlives his sockets");
}
