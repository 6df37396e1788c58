//! The room socket's part in the group wait and sync telemetry (contract
//! §9, §10): `PLAYER_STATE`, `SET_WAIT` and `SYNC_REPORT`, and `SYNC_STATS`
//! every five seconds to the controllers. The wait's own steps run in the
//! room engine (`engine/waits.rs`); nothing here touches the database
//! except to learn who may control playback for `SYNC_STATS`.

use crate::error::{Classify, ServiceError};
use crate::sockets::{Handled, SocketHandle};
use crate::views::{playback_view, public_user};
use crate::Service;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Mutex, MutexGuard};
use watchparty_domain::{
    drift_summary, Budget, Capability, Millis, PeopleNeeded, PlayerState, ReportedState, RoomCode,
    RoomNow, SocketSync, SyncReport, SyncVerdict, WaitReason, MAX_POSITION, MAX_RTT_MS,
};
use watchparty_protocol::{self as wire, PlayerStateName, ReportedStateName, ServerMessage};
use watchparty_realtime_cache::{Audience, Broadcast, SyncEntry};

/// What one socket keeps for the wait and telemetry: its allowances, its
/// latest sync figures, and whether the wait rules know it.
#[derive(Debug)]
pub(crate) struct SocketTelemetry {
    player_states: Budget,
    sync: SocketSync,
    /// Whether it ever sent `PLAYER_STATE` (only then is it in the wait).
    reported: bool,
    /// Whether the room played when it connected (§9: a joiner is not
    /// waited for until it reported ready once).
    joined_while_playing: bool,
}

/// A socket's telemetry, behind a lock its own task alone takes.
#[derive(Debug)]
pub(crate) struct Telemetry(Mutex<SocketTelemetry>);

impl Telemetry {
    pub(crate) fn new(joined_while_playing: bool) -> Self {
        Telemetry(Mutex::new(SocketTelemetry {
            player_states: Budget::player_state(),
            sync: SocketSync::new(),
            reported: false,
            joined_while_playing,
        }))
    }

    fn get(&self) -> MutexGuard<'_, SocketTelemetry> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the wait rules know this socket.
    pub(crate) fn reported(&self) -> bool {
        self.get().reported
    }
}

fn player_state(name: PlayerStateName) -> PlayerState {
    match name {
        PlayerStateName::Loading => PlayerState::Loading,
        PlayerStateName::Ready => PlayerState::Ready,
        PlayerStateName::Buffering => PlayerState::Buffering,
        PlayerStateName::Error => PlayerState::Error,
    }
}

fn reported_state(name: ReportedStateName) -> ReportedState {
    match name {
        ReportedStateName::Playing => ReportedState::Playing,
        ReportedStateName::Paused => ReportedState::Paused,
        ReportedStateName::Buffering => ReportedState::Buffering,
    }
}

impl Service {
    /// `PLAYER_STATE`: past the socket's allowance (4 a second) it is
    /// ignored; otherwise the wait rules hear it (a wait may start, shrink
    /// or end).
    pub(crate) async fn player_state(
        &self,
        socket: &SocketHandle,
        name: PlayerStateName,
    ) -> Handled {
        let now = self.now();
        let joined_while_playing = {
            let mut telemetry = socket.telemetry.get();
            if !telemetry.player_states.try_take(now) {
                return Handled::default();
            }
            telemetry.reported = true;
            telemetry.joined_while_playing
        };
        let state = player_state(name);
        let (id, user) = (socket.id, socket.user);
        let locked = self.inner.engine.lock(&socket.room).await;
        let step = locked.wait_step(move |room, wait, now| {
            let mut events = Vec::new();
            if !wait.sockets.contains_key(&id) {
                events.extend(wait.connect(id, user, joined_while_playing, now));
            }
            let room_now = RoomNow {
                playing: room.playback.is_playing,
                policy: room.settings.wait_policy,
            };
            events.extend(wait.report(id, state, room_now, now).unwrap_or_default());
            events
        });
        match step.await {
            Ok(()) => Handled::default(),
            Err(e) => Handled::failed(e),
        }
    }

    /// `SET_WAIT`: whether the room waits for this user; no reply.
    pub(crate) async fn set_wait(&self, socket: &SocketHandle, wait_for_me: bool) -> Handled {
        let user = socket.user;
        let locked = self.inner.engine.lock(&socket.room).await;
        let step = locked.wait_step(move |_, wait, now| wait.set_wait(user, wait_for_me, now));
        match step.await {
            Ok(()) => Handled::default(),
            Err(e) => Handled::failed(e),
        }
    }

    /// A socket that reported is gone: the wait stops waiting for it. The
    /// caller holds the room's lock on this instance.
    pub(crate) async fn wait_forgets(
        &self,
        locked: &crate::engine::Locked<'_>,
        socket: &SocketHandle,
    ) -> Result<(), ServiceError> {
        if !socket.telemetry.reported() {
            return Ok(());
        }
        let id = socket.id;
        locked
            .wait_step(move |_, wait, now| wait.disconnect(id, now))
            .await
    }

    /// The host is back and the room plays again after grace: a wait for
    /// the others starts when the policy and the players call for one. The
    /// caller holds the room's lock on this instance.
    pub(crate) async fn wait_after_grace(
        &self,
        locked: &crate::engine::Locked<'_>,
    ) -> Result<(), ServiceError> {
        locked
            .wait_step(|room, wait, now| {
                wait.start(WaitReason::Resume, room.settings.wait_policy, now)
            })
            .await
    }

    /// `SYNC_REPORT`: numbers that mean nothing are ignored; past the
    /// socket's allowance (one a second) too. Otherwise `YOUR_SYNC` with the
    /// drift the server computes from its own playback (null when the
    /// report does not count), and a resync after two far reports in a row.
    pub(crate) async fn sync_report(
        &self,
        socket: &SocketHandle,
        report: (f64, f64, f64, ReportedStateName),
    ) -> Handled {
        let (time, at, rtt_ms, state) = report;
        let sane = time.is_finite()
            && (0.0..=MAX_POSITION).contains(&time)
            && rtt_ms.is_finite()
            && (0.0..=MAX_RTT_MS).contains(&rtt_ms)
            && at.is_finite();
        if !sane {
            return Handled::default();
        }
        let now = self.now();
        let inner = &self.inner;
        let playback = match inner.live.playback(&socket.room).await.classify() {
            Ok(playback) => playback,
            Err(e) => return Handled::failed(e),
        };
        let report = SyncReport {
            time,
            at,
            rtt_ms,
            state: reported_state(state),
        };
        let verdict = match playback {
            Some(playback) => {
                // A held room is paused: a report during a wait does not count.
                let verdict = socket
                    .telemetry
                    .get()
                    .sync
                    .report(&report, now, &playback, false);
                verdict
            }
            None => SyncVerdict::Refused(watchparty_domain::SyncRefusal::NotPlaying),
        };
        let not_counted = ServerMessage::YourSync {
            drift_ms: None,
            rtt_ms,
        };
        match verdict {
            SyncVerdict::OverBudget => Handled::default(),
            SyncVerdict::Refused(_) => Handled::reply(not_counted),
            SyncVerdict::Counted { sample, resync } => {
                inner.metrics.observe_sync(sample.drift_ms, sample.rtt_ms);
                let entry = SyncEntry {
                    user: socket.user,
                    display_name: socket.display_name.clone(),
                    drift_ms: sample.drift_ms,
                    rtt_ms: sample.rtt_ms,
                    state: sample.state,
                    updated_at: now,
                };
                let mut handled = Handled::reply(ServerMessage::YourSync {
                    drift_ms: Some(sample.drift_ms),
                    rtt_ms,
                });
                if let Err(e) = inner.live.record_sync(&socket.room, entry).await.classify() {
                    handled.failure = Some(e);
                }
                if let (true, Some(playback)) = (resync, playback) {
                    inner.metrics.resyncs.fetch_add(1, Relaxed);
                    let mut state =
                        ServerMessage::playback_state(playback_view(&playback, now), None);
                    if let ServerMessage::PlaybackState { resync, .. } = &mut state {
                        *resync = Some(true);
                    }
                    handled.replies.push(state);
                }
                handled
            }
        }
    }

    /// `SYNC_STATS` to this instance's sockets whose user may control
    /// playback, in every room with a report younger than 30 s. Every
    /// instance does this for its own sockets, so each controller's socket
    /// gets one every five seconds.
    pub(crate) async fn send_sync_stats(&self) {
        let now = self.now();
        for (code, users) in self.inner.hub.local_members() {
            if let Err(e) = self.sync_stats_for(&code, users, now).await {
                let cause = e.cause_chain().unwrap_or_default();
                tracing::debug!(room = %code, error = %e, cause, "SYNC_STATS not sent");
            }
        }
    }

    async fn sync_stats_for(
        &self,
        code: &RoomCode,
        users: Vec<watchparty_domain::UserId>,
        now: Millis,
    ) -> Result<(), ServiceError> {
        let inner = &self.inner;
        let entries = inner.live.sync_entries(code, now).await.classify()?;
        let drifts: Vec<f64> = entries.iter().map(|e| e.drift_ms).collect();
        let Some(summary) = drift_summary(&drifts) else {
            return Ok(());
        };
        let (room, _) = inner
            .engine
            .load_with(code, &PeopleNeeded::Only(users.clone()))
            .await?;
        let controllers: Vec<_> = users
            .into_iter()
            .filter(|user| room.may(*user, Capability::ControlPlayback, now))
            .collect();
        if controllers.is_empty() {
            return Ok(());
        }
        let stats = ServerMessage::SyncStats {
            users: entries
                .into_iter()
                .map(|e| wire::SyncLine {
                    user: public_user(e.user, &e.display_name),
                    drift_ms: e.drift_ms,
                    rtt_ms: e.rtt_ms,
                    state: e.state.as_str().to_owned(),
                    updated_at: e.updated_at.0,
                })
                .collect(),
            p50_abs_drift_ms: summary.p50_abs_drift_ms,
            p95_abs_drift_ms: summary.p95_abs_drift_ms,
        };
        let broadcast = Broadcast {
            payload: stats.to_json().into(),
            to: Audience::Users(controllers),
            except: None,
            then_close: None,
        };
        inner.hub.deliver_here(code, &broadcast);
        Ok(())
    }

    /// Settles the waits whose deadline has passed, on every instance's
    /// sweeper: the instance that armed a deadline may have died.
    pub(crate) async fn settle_due_waits(&self) {
        let engine = &self.inner.engine;
        let due = match self.inner.live.waits_due(engine.now()).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "sweeper cannot read wait deadlines");
                return;
            }
        };
        for code in due {
            if let Err(e) = engine.settle_wait(&code).await {
                let cause = e.cause_chain().unwrap_or_default();
                tracing::debug!(room = %code, error = %e, cause, "a wait deadline was left for the next sweep");
            }
        }
    }
}
