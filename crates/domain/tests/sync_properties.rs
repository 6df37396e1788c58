//! Sync telemetry arithmetic over random playback states and reports: a
//! player exactly on the room's timeline has no drift, whatever the rate;
//! nothing absurd is ever counted; `at` is used only where rule 11 allows.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use watchparty_domain::{
    action_time, assess_report, Millis, PlaybackState, Position, Rate, ReportedState, SyncReport,
};

fn playing() -> impl Strategy<Value = PlaybackState> {
    (0.0f64..100_000.0, 0.25f64..=4.0, 0i64..1_000_000_000).prop_map(|(pos, rate, at)| {
        PlaybackState {
            is_playing: true,
            position: Position::new(pos).unwrap(),
            updated_at: Millis(at),
            rate: Rate::new(rate).unwrap(),
            version: 1,
            item: None,
        }
    })
}

/// Any number a JSON parser could hand over, absurd ones often.
fn wild() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(1e12),
        Just(-1e12),
        Just(f64::MAX),
        any::<f64>(),
        -10.0f64..10.0,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_player_on_the_rooms_timeline_has_no_drift(
        state in playing(),
        since in 0i64..600_000,
        lag in 0i64..5_000,
        fraction in 0.0f64..1.0,
    ) {
        let at_ms = state.updated_at.0 + since;
        let arrival = Millis(at_ms + lag);
        let at = at_ms as f64 + fraction;
        let time = state.position.seconds()
            + state.rate.get() * (since as f64 + fraction) / 1000.0;
        prop_assume!(time <= 1_000_000.0);
        let report = SyncReport { time, at, rtt_ms: 80.0, state: ReportedState::Playing };
        let sample = assess_report(&report, arrival, &state, false).unwrap();
        prop_assert!(sample.drift_ms.abs() < 1e-3, "drift {}", sample.drift_ms);
    }

    #[test]
    fn absurd_reports_are_never_counted(
        state in playing(),
        time in wild(),
        at_offset in wild(),
        rtt_ms in wild(),
        arrival_after in 0i64..10_000,
    ) {
        let arrival = Millis(state.updated_at.0 + arrival_after);
        let report = SyncReport {
            time,
            at: arrival.0 as f64 + at_offset,
            rtt_ms,
            state: ReportedState::Buffering,
        };
        if let Ok(sample) = assess_report(&report, arrival, &state, false) {
            prop_assert!(time.is_finite() && (0.0..=1_000_000.0).contains(&time));
            prop_assert!(rtt_ms.is_finite() && (0.0..=60_000.0).contains(&rtt_ms));
            prop_assert!((-5_000.0..=1_000.0).contains(&at_offset));
            prop_assert!(sample.drift_ms.is_finite());
        }
    }

    #[test]
    fn at_is_used_only_within_the_last_second_and_after_the_current_state(
        state in playing(),
        arrival_after in 0i64..5_000,
        at_offset in -3_000i64..3_000,
    ) {
        let arrival = Millis(state.updated_at.0 + arrival_after);
        let at = Millis(arrival.0 + at_offset);
        let used = action_time(Some(at), arrival, &state);
        let allowed = (-1_000..=0).contains(&at_offset) && at >= state.updated_at;
        prop_assert_eq!(used, if allowed { at } else { arrival });
    }
}
