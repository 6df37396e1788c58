//! Sync telemetry (contract §10, §13 rules 11 and 12): when a controller's
//! action happened, how far a viewer is from the room, and when to resync
//! them. Arithmetic only: the service keeps one [`SocketSync`] per socket in
//! live state and computes drift from its own playback state, never taking a
//! drift figure from a client.

use crate::budget::Budget;
use crate::ids::Millis;
use crate::playback::PlaybackState;
use crate::values::MAX_POSITION;

/// How far before its arrival a controller's `at` may lie and still be used.
pub const ACTION_AT_WINDOW_MS: i64 = 1_000;
/// How far before its arrival a `SYNC_REPORT`'s `at` may lie.
pub const REPORT_AT_BEFORE_MS: i64 = 5_000;
/// How far after its arrival a `SYNC_REPORT`'s `at` may lie (clock offset
/// estimates overshoot a little).
pub const REPORT_AT_AFTER_MS: i64 = 1_000;
/// The largest round trip a report may claim: a minute. Anything beyond is
/// not a measurement.
pub const MAX_RTT_MS: f64 = 60_000.0;
/// |drift| beyond this, twice in a row, earns a resync.
pub const RESYNC_DRIFT_MS: f64 = 1_500.0;
/// A report older than this no longer counts in `SYNC_STATS`, and telemetry
/// is gone.
pub const SYNC_FRESH_MS: i64 = 30_000;
/// How often controllers get `SYNC_STATS`.
pub const SYNC_STATS_EVERY_MS: i64 = 5_000;

/// The instant a controller's `PLAY`, `PAUSE`, `SEEK` or `RATE` takes effect
/// (its `server_time`): the `at` it carried when that lies within the last
/// [`ACTION_AT_WINDOW_MS`] before `arrival` and is no earlier than the
/// current playback state's `server_time`; otherwise the arrival time.
pub fn action_time(at: Option<Millis>, arrival: Millis, current: &PlaybackState) -> Millis {
    match at {
        Some(at)
            if at <= arrival
                && at.0 >= arrival.0.saturating_sub(ACTION_AT_WINDOW_MS)
                && at >= current.updated_at =>
        {
            at
        }
        _ => arrival,
    }
}

/// The player's state in a `SYNC_REPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportedState {
    /// Playing.
    Playing,
    /// Paused.
    Paused,
    /// Stalled for data.
    Buffering,
}

impl ReportedState {
    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportedState::Playing => "playing",
            ReportedState::Paused => "paused",
            ReportedState::Buffering => "buffering",
        }
    }

    /// Reads the contract's name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "playing" => Some(ReportedState::Playing),
            "paused" => Some(ReportedState::Paused),
            "buffering" => Some(ReportedState::Buffering),
            _ => None,
        }
    }
}

/// A `SYNC_REPORT` as it arrived, not yet trusted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncReport {
    /// The player's position in seconds at `at`.
    pub time: f64,
    /// The client's estimate of the server's clock when it read `time`, in
    /// milliseconds (a JSON number: it may be fractional or absurd).
    pub at: f64,
    /// The client's round trip to the server, in milliseconds.
    pub rtt_ms: f64,
    /// The player's state.
    pub state: ReportedState,
}

/// Why a `SYNC_REPORT` counts for nothing: `YOUR_SYNC` then carries
/// `"drift_ms": null` and nothing is recorded (§13 rule 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRefusal {
    /// The room is paused.
    NotPlaying,
    /// The room is holding for a group wait.
    Waiting,
    /// `time` is not a finite position from 0 to 1 000 000 s.
    BadTime,
    /// `rtt_ms` is not a finite number from 0 to [`MAX_RTT_MS`].
    BadRtt,
    /// `at` is not a finite instant within 5 s before and 1 s after arrival.
    AtOutOfWindow,
    /// `at` is earlier than the current playback state's `server_time`: the
    /// report speaks of a playback the room no longer has.
    AtBeforeState,
}

/// A counted report: what `YOUR_SYNC` and `SYNC_STATS` carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncSample {
    /// The player's position minus the room's at `at`, in milliseconds
    /// (positive: ahead).
    pub drift_ms: f64,
    /// The round trip the client reported.
    pub rtt_ms: f64,
    /// The player's state.
    pub state: ReportedState,
    /// When the server received it (`updated_at`).
    pub received_at: Millis,
}

impl SyncSample {
    /// Whether it still counts in `SYNC_STATS` at `now` (younger than 30 s).
    pub fn is_fresh(&self, now: Millis) -> bool {
        now.0.saturating_sub(self.received_at.0) < SYNC_FRESH_MS
    }
}

/// Checks a report against the room's playback and computes the drift:
/// `(time − position the room had at at) × 1000`.
///
/// `waiting` says whether the room holds for a group wait. Checked in
/// order: the room plays and does not wait, the values are numbers in
/// range, `at` is within the window around `arrival` and no earlier than
/// the playback state's `server_time`.
pub fn assess_report(
    report: &SyncReport,
    arrival: Millis,
    playback: &PlaybackState,
    waiting: bool,
) -> Result<SyncSample, SyncRefusal> {
    if waiting {
        return Err(SyncRefusal::Waiting);
    }
    if !playback.is_playing {
        return Err(SyncRefusal::NotPlaying);
    }
    if !(report.time.is_finite() && (0.0..=MAX_POSITION).contains(&report.time)) {
        return Err(SyncRefusal::BadTime);
    }
    if !(report.rtt_ms.is_finite() && (0.0..=MAX_RTT_MS).contains(&report.rtt_ms)) {
        return Err(SyncRefusal::BadRtt);
    }
    let earliest = arrival.0.saturating_sub(REPORT_AT_BEFORE_MS) as f64;
    let latest = arrival.0.saturating_add(REPORT_AT_AFTER_MS) as f64;
    if !(report.at.is_finite() && (earliest..=latest).contains(&report.at)) {
        return Err(SyncRefusal::AtOutOfWindow);
    }
    // Within a few seconds of a real instant: this cast neither saturates
    // nor loses anything that matters (a fraction of a millisecond).
    let at = Millis(report.at.floor() as i64);
    if at < playback.updated_at {
        return Err(SyncRefusal::AtBeforeState);
    }
    let fraction = report.at - report.at.floor();
    let room_at = playback.position_at(at) + playback.rate.get() * fraction / 1000.0;
    Ok(SyncSample {
        drift_ms: (report.time - room_at) * 1000.0,
        rtt_ms: report.rtt_ms,
        state: report.state,
        received_at: arrival,
    })
}

/// What became of a `SYNC_REPORT`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SyncVerdict {
    /// More than one a second from this socket: ignored, no reply.
    OverBudget,
    /// Not counted: `YOUR_SYNC` with `"drift_ms": null`.
    Refused(SyncRefusal),
    /// Counted: `YOUR_SYNC` with the drift, and when `resync`, a fresh
    /// `PLAYBACK_STATE` with `"resync": true` to this socket.
    Counted {
        /// The drift and round trip.
        sample: SyncSample,
        /// Whether this is the second report in a row beyond 1.5 s.
        resync: bool,
    },
}

/// One socket's telemetry: its report allowance, its latest counted sample
/// and how many counted reports in a row were beyond [`RESYNC_DRIFT_MS`].
#[derive(Debug, Clone, PartialEq)]
pub struct SocketSync {
    budget: Budget,
    far_in_a_row: u8,
    latest: Option<SyncSample>,
}

impl Default for SocketSync {
    fn default() -> Self {
        SocketSync::new()
    }
}

impl SocketSync {
    /// A socket that has not reported.
    pub fn new() -> Self {
        SocketSync {
            budget: Budget::sync_report(),
            far_in_a_row: 0,
            latest: None,
        }
    }

    /// The latest counted sample, if any (stale ones included: check
    /// [`SyncSample::is_fresh`]).
    pub fn latest(&self) -> Option<&SyncSample> {
        self.latest.as_ref()
    }

    /// Takes a report that arrived at `arrival`. A report that does not
    /// count breaks a run of far ones: two in a row means two counted
    /// reports with nothing between them, so a wait or a pause in between
    /// starts the count afresh. After a resync the count starts afresh too,
    /// so a player that cannot keep up is resynced every other report at
    /// most, not every time.
    pub fn report(
        &mut self,
        report: &SyncReport,
        arrival: Millis,
        playback: &PlaybackState,
        waiting: bool,
    ) -> SyncVerdict {
        if !self.budget.try_take(arrival) {
            return SyncVerdict::OverBudget;
        }
        match assess_report(report, arrival, playback, waiting) {
            Err(refusal) => {
                self.far_in_a_row = 0;
                SyncVerdict::Refused(refusal)
            }
            Ok(sample) => {
                self.latest = Some(sample);
                if sample.drift_ms.abs() > RESYNC_DRIFT_MS {
                    self.far_in_a_row = self.far_in_a_row.saturating_add(1);
                } else {
                    self.far_in_a_row = 0;
                }
                let resync = self.far_in_a_row >= 2;
                if resync {
                    self.far_in_a_row = 0;
                }
                SyncVerdict::Counted { sample, resync }
            }
        }
    }
}

/// The figures of `SYNC_STATS`: the median and 95th percentile of the
/// absolute drifts, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftSummary {
    /// `p50_abs_drift_ms`.
    pub p50_abs_drift_ms: f64,
    /// `p95_abs_drift_ms`.
    pub p95_abs_drift_ms: f64,
}

/// The nearest-rank percentiles of the absolute drifts; `None` without any
/// (non-finite values are left out). Nearest rank, because every figure it
/// gives is a drift some viewer really had.
pub fn drift_summary(drifts: &[f64]) -> Option<DriftSummary> {
    let mut abs: Vec<f64> = drifts
        .iter()
        .filter(|d| d.is_finite())
        .map(|d| d.abs())
        .collect();
    if abs.is_empty() {
        return None;
    }
    abs.sort_by(f64::total_cmp);
    let rank = |p: f64| -> f64 {
        // Nearest rank: the smallest value with at least p of them at or below.
        let n = abs.len();
        let index = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        abs.get(index).copied().unwrap_or(0.0)
    };
    Some(DriftSummary {
        p50_abs_drift_ms: rank(0.50),
        p95_abs_drift_ms: rank(0.95),
    })
}
