//! Sync telemetry arithmetic, rule by rule (contract §10, §13 rules 11, 12).
#![allow(clippy::unwrap_used, clippy::panic)]

use watchparty_domain::{
    action_time, assess_report, drift_summary, Millis, PlaybackState, Position, Rate,
    ReportedState, SocketSync, SyncRefusal, SyncReport, SyncVerdict,
};

/// Playing from 10 s since instant 100 000 at `rate`.
fn playing(rate: f64) -> PlaybackState {
    PlaybackState {
        is_playing: true,
        position: Position::new(10.0).unwrap(),
        updated_at: Millis(100_000),
        rate: Rate::new(rate).unwrap(),
        version: 3,
        item: None,
    }
}

fn report(time: f64, at: f64) -> SyncReport {
    SyncReport {
        time,
        at,
        rtt_ms: 60.0,
        state: ReportedState::Playing,
    }
}

#[test]
fn at_is_used_only_within_the_last_second_and_after_the_current_state() {
    let state = playing(1.0);
    let arrival = Millis(105_000);
    let at = |ms| action_time(Some(Millis(ms)), arrival, &state);
    assert_eq!(at(104_000), Millis(104_000), "exactly 1 000 ms before");
    assert_eq!(at(104_960), Millis(104_960));
    assert_eq!(at(105_000), Millis(105_000));
    assert_eq!(at(103_999), arrival, "too old");
    assert_eq!(at(105_001), arrival, "from the future");
    assert_eq!(action_time(None, arrival, &state), arrival);
    // Rule 11: never before the playback state it changes.
    let fresh = PlaybackState {
        updated_at: Millis(104_500),
        ..state
    };
    assert_eq!(action_time(Some(Millis(104_499)), arrival, &fresh), arrival);
    assert_eq!(
        action_time(Some(Millis(104_500)), arrival, &fresh),
        Millis(104_500)
    );
}

#[test]
fn drift_is_the_players_position_minus_the_rooms_at_at() {
    let arrival = Millis(110_000);
    // At 109 000 the room is at 19 s.
    let ahead = assess_report(&report(19.25, 109_000.0), arrival, &playing(1.0), false).unwrap();
    assert!((ahead.drift_ms - 250.0).abs() < 1e-6, "{}", ahead.drift_ms);
    let behind = assess_report(&report(18.6, 109_000.0), arrival, &playing(1.0), false).unwrap();
    assert!(
        (behind.drift_ms + 400.0).abs() < 1e-6,
        "{}",
        behind.drift_ms
    );
    assert_eq!((behind.rtt_ms, behind.received_at), (60.0, arrival));
    assert_eq!(behind.state, ReportedState::Playing);
    // At rate 2 the room is at 28 s then; a fractional `at` counts too.
    let fast = assess_report(&report(28.0, 109_000.5), arrival, &playing(2.0), false).unwrap();
    assert!((fast.drift_ms + 1.0).abs() < 1e-6, "{}", fast.drift_ms);
}

#[test]
fn a_report_counts_only_while_the_room_plays_and_does_not_wait() {
    let arrival = Millis(110_000);
    let fine = report(19.0, 109_000.0);
    let paused = PlaybackState {
        is_playing: false,
        ..playing(1.0)
    };
    assert_eq!(
        assess_report(&fine, arrival, &paused, false),
        Err(SyncRefusal::NotPlaying)
    );
    assert_eq!(
        assess_report(&fine, arrival, &paused, true),
        Err(SyncRefusal::Waiting)
    );
    assert!(assess_report(&fine, arrival, &playing(1.0), false).is_ok());
}

#[test]
fn at_must_lie_within_five_seconds_before_and_one_after_arrival() {
    let arrival = Millis(110_000);
    let state = playing(1.0);
    let check = |at: f64| assess_report(&report(19.0, at), arrival, &state, false).err();
    assert_eq!(check(105_000.0), None);
    assert_eq!(check(111_000.0), None);
    assert_eq!(check(104_999.0), Some(SyncRefusal::AtOutOfWindow));
    assert_eq!(check(111_000.5), Some(SyncRefusal::AtOutOfWindow));
    // Rule 12: not before the current playback state's server_time.
    let fresh = PlaybackState {
        updated_at: Millis(108_000),
        ..state
    };
    let early = assess_report(&report(19.0, 107_999.0), arrival, &fresh, false);
    assert_eq!(early, Err(SyncRefusal::AtBeforeState));
}

#[test]
fn absurd_values_are_refused() {
    let arrival = Millis(110_000);
    let state = playing(1.0);
    let check = |r: SyncReport| assess_report(&r, arrival, &state, false).err();
    for time in [f64::NAN, f64::INFINITY, -1.0, 1e12] {
        assert_eq!(
            check(report(time, 109_000.0)),
            Some(SyncRefusal::BadTime),
            "{time}"
        );
    }
    for at in [f64::NAN, f64::NEG_INFINITY, -5.0, 1e12, 1e300] {
        assert_eq!(
            check(report(19.0, at)),
            Some(SyncRefusal::AtOutOfWindow),
            "{at}"
        );
    }
    for rtt_ms in [f64::NAN, -0.5, 1e12, f64::INFINITY] {
        let r = SyncReport {
            rtt_ms,
            ..report(19.0, 109_000.0)
        };
        assert_eq!(check(r), Some(SyncRefusal::BadRtt), "{rtt_ms}");
    }
}

#[test]
fn two_far_reports_in_a_row_earn_one_resync() {
    let state = playing(1.0);
    let mut sync = SocketSync::new();
    // Report n arrives at 110 000 + n s and speaks of the instant before.
    let mut send = |n: i64, drift_s: f64, waiting: bool| {
        let arrival = 110_000 + n * 1_000;
        let at = arrival - 500;
        let room = 10.0 + (at - 100_000) as f64 / 1000.0;
        sync.report(
            &report(room + drift_s, at as f64),
            Millis(arrival),
            &state,
            waiting,
        )
    };
    let resynced = |v: SyncVerdict| match v {
        SyncVerdict::Counted { resync, .. } => resync,
        other => panic!("not counted: {other:?}"),
    };
    assert!(!resynced(send(0, 1.6, false)));
    assert!(resynced(send(1, -1.7, false)), "second in a row");
    // The count starts afresh after a resync.
    assert!(!resynced(send(2, 2.0, false)));
    assert!(resynced(send(3, 2.0, false)));
    // A near report breaks the run.
    assert!(!resynced(send(4, 2.0, false)));
    assert!(!resynced(send(5, 0.2, false)));
    assert!(!resynced(send(6, 2.0, false)));
    // So does one that does not count (during a wait).
    assert_eq!(
        send(7, 2.0, true),
        SyncVerdict::Refused(SyncRefusal::Waiting)
    );
    assert!(!resynced(send(8, 2.0, false)));
    // Exactly 1.5 s is not beyond it.
    assert!(!resynced(send(9, 1.5, false)));
}

#[test]
fn more_than_one_report_a_second_is_ignored() {
    let state = playing(1.0);
    let mut sync = SocketSync::new();
    let r = report(19.0, 109_000.0);
    assert!(matches!(
        sync.report(&r, Millis(110_000), &state, false),
        SyncVerdict::Counted { .. }
    ));
    assert_eq!(
        sync.report(&r, Millis(110_999), &state, false),
        SyncVerdict::OverBudget
    );
    assert!(matches!(
        sync.report(&r, Millis(111_000), &state, false),
        SyncVerdict::Counted { .. }
    ));
    let latest = sync.latest().unwrap();
    assert!(latest.is_fresh(Millis(140_999)));
    assert!(
        !latest.is_fresh(Millis(141_000)),
        "gone 30 s after its last report"
    );
}

#[test]
fn a_refused_report_records_nothing() {
    let mut sync = SocketSync::new();
    let paused = PlaybackState {
        is_playing: false,
        ..playing(1.0)
    };
    let verdict = sync.report(&report(19.0, 109_000.0), Millis(110_000), &paused, false);
    assert_eq!(verdict, SyncVerdict::Refused(SyncRefusal::NotPlaying));
    assert!(sync.latest().is_none());
}

#[test]
fn percentiles_are_nearest_rank_of_absolute_drift() {
    assert_eq!(drift_summary(&[]), None);
    assert_eq!(drift_summary(&[f64::NAN]), None);
    let one = drift_summary(&[-40.0]).unwrap();
    assert_eq!((one.p50_abs_drift_ms, one.p95_abs_drift_ms), (40.0, 40.0));
    // 1..=20 ms, signs mixed: the 10th and the 19th smallest.
    let drifts: Vec<f64> = (1..=20)
        .map(|i| if i % 2 == 0 { i as f64 } else { -(i as f64) })
        .collect();
    let summary = drift_summary(&drifts).unwrap();
    assert_eq!(
        (summary.p50_abs_drift_ms, summary.p95_abs_drift_ms),
        (10.0, 19.0)
    );
    let with_nan = [drifts.clone(), vec![f64::NAN]].concat();
    assert_eq!(drift_summary(&with_nan), Some(summary));
}

#[test]
fn reported_states_are_the_contracts() {
    for name in ["playing", "paused", "buffering"] {
        assert_eq!(ReportedState::parse(name).unwrap().as_str(), name);
    }
    assert_eq!(ReportedState::parse("ready"), None);
}
