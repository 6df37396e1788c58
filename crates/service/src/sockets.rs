//! The room socket's intents: connect, disconnect, and what a client sends
//! (parsed by the web edge). Room changes go through the room engine.

use crate::access::Lookup;
use crate::clock::rfc3339;
use crate::engine::{rejection_error, Origin, Transition};
use crate::error::{Classify, ServiceError};
use crate::hub::Outgoing;
use crate::lane::{DirectWrite, Lane};
use crate::slots::SocketSlot;
use crate::throttle::Limit;
use crate::views::{capabilities_message, playback_view};
use crate::{Caller, Service};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use watchparty_domain::{
    ChatText, Command, ConnectionId, Millis, PeopleNeeded, PlaybackAction, Position, Rate,
    Rejection, Role, Room, RoomCode, RoomStatus, UserId, ValidationError,
};
use watchparty_protocol::frame::Frame;
use watchparty_protocol::{self as wire, ClientMessage, ServerMessage};
use watchparty_realtime_cache::{HostStatus, Member};

const CHAT_DISABLED: &str = "Chat is disabled in this room";
const CHAT_TOO_FAST: &str = "You are sending messages too fast; wait a moment";
const CHAT_BUSY: &str = "The room is busy; send the message again";
const CHAT_NOT_STORED: &str = "The message was not sent: the service is briefly unavailable";
const MUTED: &str = "You are muted in this room";
const STALE: &str = "The playback changed before your command arrived; it was not applied";

/// Permission to open a room socket, checked before the upgrade.
#[derive(Debug, Clone)]
pub struct SocketTicket {
    user: UserId,
    display_name: String,
    room: RoomCode,
    slot: Arc<SocketSlot>,
    // The room as the check saw it (with the user's membership), and the
    // room's stamp read before: the opening uses it again while the stamp
    // still reads the same, instead of loading the room a second time.
    seen: Box<(Room, String)>,
    stamp: u64,
}

/// Who a live socket is; what the service needs on each intent.
#[derive(Debug, Clone)]
pub struct SocketHandle {
    pub(crate) id: ConnectionId,
    pub(crate) user: UserId,
    pub(crate) display_name: String,
    pub(crate) room: RoomCode,
    pub(crate) telemetry: Arc<crate::waits::Telemetry>,
    // Held while the socket lives: the user's place under the per-user cap.
    _slot: Arc<SocketSlot>,
}

/// An accepted room socket: its queue of frames to write, the lane the
/// hub shares with its task, and a signal raised when the client read too
/// slowly and must be closed.
#[derive(Debug)]
pub struct SocketSession {
    /// Who the socket is.
    pub handle: SocketHandle,
    /// Frames to write, in order; `PLAYBACK_STATE` and `PRESENCE` come first.
    /// With a direct writer, only what could not be written at once.
    pub outbox: mpsc::Receiver<Outgoing>,
    /// Under whose lock every write to the socket happens.
    pub lane: Arc<Lane>,
    /// Cancelled when the outbox overflowed.
    pub too_slow: CancellationToken,
}

/// What handling one client message came to: replies for that socket
/// alone (`PONG`, `ERROR`, `YOUR_SYNC`), and a failure for the edge to log.
#[derive(Debug, Default)]
pub struct Handled {
    /// Sent to the socket that sent the message, in order.
    pub replies: Vec<ServerMessage>,
    /// Something failed on the way; logged by the caller, with its cause.
    pub failure: Option<ServiceError>,
}

impl Handled {
    pub(crate) fn reply(message: ServerMessage) -> Self {
        Handled {
            replies: vec![message],
            failure: None,
        }
    }

    fn error(code: &str, text: &str) -> Self {
        Self::reply(ServerMessage::error(code, text))
    }

    pub(crate) fn failed(failure: ServiceError) -> Self {
        Handled {
            replies: Vec::new(),
            failure: Some(failure),
        }
    }
}

impl Service {
    /// Checks a WebSocket request before the upgrade: a valid, unused token
    /// whose session has not logged out (401), a user under the per-instance
    /// socket cap (429, too many tabs), a room the user may see (404 like an
    /// unknown code, counted as a miss in the same budget as HTTP lookups: 429
    /// once spent; 410 once closed), and a participant (403).
    pub async fn authorize_socket(
        &self,
        token: Option<&str>,
        code: &str,
        address: &str,
    ) -> Result<SocketTicket, ServiceError> {
        let verified = self
            .inner
            .tokens
            .verify(token.ok_or(ServiceError::NotAuthenticated)?, self.now())?;
        if let Some(session) = &verified.session {
            if self.logged_out(session).await? {
                return Err(ServiceError::NotAuthenticated);
            }
        }
        let slot = self
            .inner
            .user_sockets
            .take(verified.user, self.inner.config.max_sockets_per_user)
            .ok_or(ServiceError::TooManySockets)?;
        let caller = Caller {
            user: verified.user,
            address: address.to_owned(),
        };
        let visible = self.find_room(&caller, code, Lookup::Peek).await?;
        let (room, participant) = (visible.room, visible.participant);
        let (host_name, stamp) = (visible.host_name, visible.stamp);
        if room.status.is_final() {
            return Err(ServiceError::RoomClosed);
        }
        let participant = participant.ok_or(ServiceError::Forbidden)?;
        let claim_key = format!("jti:{}", verified.jti);
        if !self
            .inner
            .live
            .claim_once(&claim_key, self.inner.tokens.claim_ttl())
            .await
            .classify()?
        {
            return Err(ServiceError::NotAuthenticated);
        }
        Ok(SocketTicket {
            user: verified.user,
            display_name: participant.display_name,
            room: room.code.clone(),
            slot: Arc::new(slot),
            seen: Box::new((room, host_name)),
            stamp,
        })
    }

    /// Registers an upgraded socket: it gets `PLAYBACK_STATE` then
    /// `PRESENCE`, the others `USER_JOINED` if this is the user's first
    /// socket, and a returning host ends the room's grace.
    ///
    /// With `direct`, frames for an idle socket are written at once by the
    /// delivering thread; without it, every frame goes through the outbox.
    pub async fn open_socket(
        &self,
        ticket: SocketTicket,
        direct: Option<Arc<dyn DirectWrite>>,
    ) -> Result<SocketSession, ServiceError> {
        let inner = &self.inner;
        let locked = inner.engine.lock(&ticket.room).await;
        // The room as the upgrade check saw it, if no change of it was
        // stored since on any instance (the stamp reads the same: rows.rs);
        // otherwise as stored now. Either way as fresh as the database, so
        // that a user removed meanwhile is refused here.
        let rows = inner.engine.rows();
        let stamp = rows.stamp(&ticket.room).await?;
        let (mut room, _) = if stamp == ticket.stamp {
            let (room, host_name) = (*ticket.seen).clone();
            inner.engine.settle(room, host_name).await?
        } else {
            let me = PeopleNeeded::Only(vec![ticket.user]);
            locked.load_with(&me).await?
        };
        if room.status.is_final() {
            return Err(ServiceError::RoomClosed);
        }
        // Removed between the upgrade check and now: refused like a stranger.
        let role = room.role_of(ticket.user).ok_or(ServiceError::Forbidden)?;
        let capabilities =
            capabilities_message(role, room.capabilities_of(ticket.user, self.now()));
        let is_host = room.host == ticket.user;
        let id =
            ConnectionId(inner.connection_prefix | inner.next_connection.fetch_add(1, Relaxed));
        let member = Member {
            user: ticket.user,
            display_name: ticket.display_name.clone(),
        };
        let resumes_after_grace = is_host
            && matches!(
                room.status,
                RoomStatus::Grace {
                    was_playing: true,
                    ..
                }
            );
        if is_host {
            // The grace may end here or, on another instance, by its deadline:
            // whichever conditional update wins decides, and a closed room is
            // never joined by its host.
            room = match locked
                .execute(Origin::Service, Command::HostConnected)
                .await?
            {
                Transition::Done(resumed) if !resumed.status.is_final() => *resumed,
                Transition::Done(_) => return Err(ServiceError::RoomClosed),
                Transition::Rejected(rejection) => return Err(rejection_error(rejection)),
            };
        }
        // Everything that can fail comes before the socket is registered, or
        // is undone, so a refused socket leaves no ghost in presence.
        // Subscribing first makes this room one the live state keeps for this instance.
        inner.live.subscribe(&room.code).await.classify()?;
        inner
            .live
            .set_playback(&room.code, room.playback)
            .await
            .classify()?;
        if is_host {
            inner
                .live
                .set_host_status(&room.code, HostStatus::Online)
                .await
                .classify()?;
        }
        let first = inner
            .live
            .add_connection(&room.code, id, member)
            .await
            .classify()?;
        // Who is here, and which of them co-host (the host is known): what
        // PRESENCE shows, read without loading every viewer's row.
        let present = async {
            let members = inner.live.members(&room.code).await.classify()?;
            let co_hosts = rows.co_hosts(&room, stamp).await?;
            Ok::<_, ServiceError>((members, co_hosts))
        };
        let (members, co_hosts) = match present.await {
            Ok(present) => present,
            Err(e) => {
                let _ = inner
                    .live
                    .remove_connection(&room.code, id, ticket.user)
                    .await;
                return Err(e);
            }
        };
        let now = self.now();
        // Grace is the database's word; otherwise live presence decides, so a
        // room whose host never connected (or whose host's instance died
        // before grace could start) reads "offline", never "online" with
        // nobody there. The host's own socket is in `members` already.
        let host_here = members.iter().any(|m| m.user == room.host);
        let role_of = |user: UserId| {
            if user == room.host {
                Role::Host
            } else if co_hosts.contains(&user) {
                Role::CoHost
            } else {
                Role::Viewer
            }
        };
        let host_status = match room.status {
            RoomStatus::Grace { .. } => wire::HostStatus::Grace,
            _ if host_here => wire::HostStatus::Online,
            _ => wire::HostStatus::Offline,
        };
        let presence = ServerMessage::Presence {
            users: members
                .into_iter()
                .map(|m| wire::PresentUser {
                    id: m.user.0,
                    display_name: m.display_name,
                    is_host: m.user == room.host,
                    role: role_of(m.user).as_str().to_owned(),
                })
                .collect(),
            host_status,
        };
        let mut playback = playback_view(&room.playback, now);
        playback.waiting = inner.engine.waiting_view(&room.code).await.unwrap_or(None);
        // Room for the three opening frames, so queueing them cannot fail.
        let (tx, outbox) = mpsc::channel(inner.config.outbox_capacity.max(4));
        let too_slow = CancellationToken::new();
        let lane = Arc::new(Lane::new(tx, too_slow.clone(), direct));
        // Through the lane before the socket joins the hub, so nothing can
        // come first: written, or queued and counted.
        for opening in [
            ServerMessage::playback_state(playback, None),
            presence,
            capabilities,
        ] {
            let _ = lane.offer(Outgoing::Frame(Frame::text(&opening.to_json())));
        }
        inner
            .hub
            .add(&room.code, id, ticket.user, Arc::clone(&lane));
        inner.metrics.live_sockets.fetch_add(1, Relaxed);
        if first {
            let announcer = inner.engine.announcer();
            let (user, name) = (ticket.user, ticket.display_name.as_str());
            if let Err(e) = announcer.user_joined(&room.code, user, name, id).await {
                let cause = e.cause_chain().unwrap_or_default();
                tracing::warn!(room = %room.code, error = %e, cause, "USER_JOINED not announced");
            }
        }
        if resumes_after_grace {
            // The others may need a moment to be ready again (§13 rule 7).
            if let Err(e) = self.wait_after_grace(&locked).await {
                let cause = e.cause_chain().unwrap_or_default();
                tracing::warn!(room = %room.code, error = %e, cause, "no wait after grace");
            }
        }
        let handle = SocketHandle {
            id,
            user: ticket.user,
            display_name: ticket.display_name,
            room: ticket.room.clone(),
            telemetry: Arc::new(crate::waits::Telemetry::new(room.playback.is_playing)),
            _slot: ticket.slot,
        };
        Ok(SocketSession {
            handle,
            outbox,
            lane,
            too_slow,
        })
    }

    /// Forgets a closed socket: `USER_LEFT` when it was the user's last, and
    /// grace when it was the host's last. A failure is returned for the
    /// edge to log; the socket is forgotten on this instance either way.
    pub async fn close_socket(&self, handle: &SocketHandle) -> Result<(), ServiceError> {
        let inner = &self.inner;
        let locked = inner.engine.lock(&handle.room).await;
        inner.metrics.live_sockets.fetch_sub(1, Relaxed);
        let last_here = inner.hub.remove(&handle.room, handle.id);
        let last_of_user = inner
            .live
            .remove_connection(&handle.room, handle.id, handle.user)
            .await
            .classify()?;
        // The wait stops waiting for it; a failure here must not keep the
        // host's grace from starting.
        if let Err(e) = self.wait_forgets(&locked, handle).await {
            let cause = e.cause_chain().unwrap_or_default();
            tracing::warn!(room = %handle.room, error = %e, cause, "a closed socket stays in the wait until its deadline");
        }
        if last_of_user {
            self.user_left(&locked, handle.user, &handle.display_name)
                .await?;
        }
        drop(locked);
        if last_here {
            inner.live.unsubscribe(&handle.room).await.classify()?;
        }
        Ok(())
    }

    /// A user's last socket in a room is gone: tell the others, and start
    /// the grace if it was the host's (whoever hosts now: the host may have
    /// changed since the socket opened). The caller holds the room's lock.
    pub(crate) async fn user_left(
        &self,
        locked: &crate::engine::Locked<'_>,
        user: UserId,
        display_name: &str,
    ) -> Result<(), ServiceError> {
        let code = locked.code();
        // Grace matters more than the announcement: go on if it is lost.
        let announcer = self.inner.engine.announcer();
        if let Err(e) = announcer.user_left(code, user, display_name).await {
            let cause = e.cause_chain().unwrap_or_default();
            tracing::warn!(room = %code, error = %e, cause, "USER_LEFT not announced");
        }
        match locked.load_with(&PeopleNeeded::Only(Vec::new())).await {
            Ok((room, _)) if room.host == user => {
                // A wait in progress ends with the host gone; the room was
                // about to play, so it plays again when the host is back.
                let held = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let seen = std::sync::Arc::clone(&held);
                let ended = locked
                    .wait_step(move |_, wait, now| {
                        seen.store(wait.current().is_some(), Relaxed);
                        wait.host_away(now)
                    })
                    .await;
                if let Err(e) = ended {
                    let cause = e.cause_chain().unwrap_or_default();
                    tracing::warn!(room = %code, error = %e, cause, "the wait could not be ended for grace");
                }
                let command = if held.load(Relaxed) {
                    Command::HostDisconnectedDuringWait
                } else {
                    Command::HostDisconnected
                };
                locked.execute(Origin::Service, command).await?;
                Ok(())
            }
            Ok(_) | Err(ServiceError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Counts one frame received on a room socket, whatever it holds.
    pub fn count_frame_in(&self) {
        self.inner.metrics.messages_in.fetch_add(1, Relaxed);
    }

    /// Handles one client message (the web edge parsed it; anything the
    /// protocol says to ignore never gets here).
    pub async fn handle(&self, socket: &SocketHandle, message: ClientMessage) -> Handled {
        match message {
            ClientMessage::Ping { client_time } => Handled::reply(ServerMessage::Pong {
                client_time,
                server_time: self.now().0,
            }),
            ClientMessage::Play {
                time,
                if_version,
                at,
            } => {
                self.playback(socket, time, PlaybackAction::Play, if_version, at)
                    .await
            }
            ClientMessage::Pause {
                time,
                if_version,
                at,
            } => {
                self.playback(socket, time, PlaybackAction::Pause, if_version, at)
                    .await
            }
            ClientMessage::Seek {
                time,
                if_version,
                at,
            } => {
                self.playback(socket, time, PlaybackAction::Seek, if_version, at)
                    .await
            }
            ClientMessage::Rate {
                rate,
                if_version,
                at,
            } => {
                let Ok(rate) = Rate::new(rate) else {
                    return Handled::default();
                };
                let command = Command::SetRate {
                    actor: socket.user,
                    rate,
                };
                self.control(socket, command.if_version(if_version), at)
                    .await
            }
            ClientMessage::ChatMessage { message } => self.chat(socket, &message).await,
            ClientMessage::PlayerState { state } => self.player_state(socket, state).await,
            ClientMessage::SetWait { wait } => self.set_wait(socket, wait).await,
            ClientMessage::SyncReport {
                time,
                at,
                rtt_ms,
                state,
            } => self.sync_report(socket, (time, at, rtt_ms, state)).await,
            ClientMessage::Ended { item_id } => self.ended(socket, item_id).await,
        }
    }

    async fn playback(
        &self,
        socket: &SocketHandle,
        time: f64,
        action: fn(Position) -> PlaybackAction,
        if_version: Option<u64>,
        at: Option<f64>,
    ) -> Handled {
        let Ok(position) = Position::new(time) else {
            return Handled::default();
        };
        let command = Command::Playback {
            actor: socket.user,
            action: action(position),
        };
        self.control(socket, command.if_version(if_version), at)
            .await
    }

    /// A playback command: refusals are ignored, as the protocol says,
    /// except a stale `if_version`, which the sender alone hears about.
    /// `at`, when the person acted by the server's clock as the client
    /// estimates it, dates the change if it is recent enough.
    async fn control(&self, socket: &SocketHandle, command: Command, at: Option<f64>) -> Handled {
        let engine = &self.inner.engine;
        let acted_at = at
            .filter(|ms| ms.is_finite() && (0.0..=i64::MAX as f64).contains(ms))
            .map(|ms| Millis(ms.round() as i64));
        let origin = socket.origin(acted_at);
        match engine.execute(origin, &socket.room, command).await {
            Ok(Transition::Rejected(Rejection::StaleVersion { current })) => {
                Handled::reply(ServerMessage::Error {
                    code: "stale_version".to_owned(),
                    message: STALE.to_owned(),
                    version: Some(current),
                    until: None,
                })
            }
            Ok(_) => Handled::default(),
            Err(e) => Handled::failed(e),
        }
    }

    async fn chat(&self, socket: &SocketHandle, raw: &str) -> Handled {
        let text = match ChatText::parse(raw) {
            Ok(Some(text)) => text,
            Ok(None) => return Handled::default(),
            Err(refused @ ValidationError::ChatTooLong) => {
                return Handled::error("too_long", &refused.to_string())
            }
            // Characters no backend may store (NUL among them).
            Err(refused) => return Handled::error("validation_error", &refused.to_string()),
        };
        match self.throttle().hit(&Limit::ChatMessages(socket.user)).await {
            Ok(true) => {}
            Ok(false) => return Handled::error("rate_limited", CHAT_TOO_FAST),
            Err(e) => return self.chat_not_stored(e),
        }
        let command = Command::PostChat {
            actor: socket.user,
            text,
        };
        let engine = &self.inner.engine;
        match engine
            .execute(socket.origin(None), &socket.room, command)
            .await
        {
            Ok(Transition::Done(_)) => Handled::default(),
            Ok(Transition::Rejected(Rejection::ChatDisabled)) => {
                Handled::error("chat_disabled", CHAT_DISABLED)
            }
            Ok(Transition::Rejected(Rejection::Muted { until })) => {
                Handled::reply(ServerMessage::Error {
                    code: "muted".to_owned(),
                    message: MUTED.to_owned(),
                    version: None,
                    until: Some(until.map(rfc3339)),
                })
            }
            Ok(Transition::Rejected(_)) => Handled::default(),
            Err(ServiceError::Busy) => Handled::error("unavailable", CHAT_BUSY),
            Err(e) => self.chat_not_stored(e),
        }
    }

    /// A message that could not be stored was sent to nobody: its author
    /// hears so instead of waiting for an echo that never comes.
    fn chat_not_stored(&self, failure: ServiceError) -> Handled {
        Handled {
            failure: Some(failure),
            ..Handled::error("unavailable", CHAT_NOT_STORED)
        }
    }
}

impl SocketHandle {
    /// This socket as the origin of a change made `acted_at` (by the
    /// client's word; `None`: on arrival).
    fn origin(&self, acted_at: Option<Millis>) -> Origin<'_> {
        Origin::Socket {
            connection: self.id,
            user: self.user,
            name: &self.display_name,
            acted_at,
        }
    }
}
