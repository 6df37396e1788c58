//! The room socket's intents: connect, disconnect, and what a client sends
//! (parsed by the web edge). Room changes go through the room engine.

use crate::access::Lookup;
use crate::engine::{rejection_error, Origin, Transition};
use crate::error::{Classify, ServiceError};
use crate::hub::Outgoing;
use crate::slots::SocketSlot;
use crate::throttle::Limit;
use crate::views::playback_view;
use crate::{Caller, Service};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use watchparty_domain::{
    ChatText, Command, ConnectionId, PlaybackAction, Position, Rejection, RoomCode, RoomStatus,
    UserId,
};
use watchparty_protocol::{self as wire, ClientMessage, ServerMessage};
use watchparty_realtime_cache::{HostStatus, Member};

const CHAT_DISABLED: &str = "Chat is disabled in this room";
const CHAT_TOO_FAST: &str = "You are sending messages too fast; wait a moment";
const CHAT_BUSY: &str = "The room is busy; send the message again";
const CHAT_NOT_STORED: &str = "The message was not sent: the service is briefly unavailable";

/// Permission to open a room socket, checked before the upgrade.
#[derive(Debug, Clone)]
pub struct SocketTicket {
    user: UserId,
    display_name: String,
    room: RoomCode,
    is_host: bool,
    slot: Arc<SocketSlot>,
}

/// Who a live socket is; what the service needs on each intent.
#[derive(Debug, Clone)]
pub struct SocketHandle {
    id: ConnectionId,
    user: UserId,
    display_name: String,
    room: RoomCode,
    is_host: bool,
    // Held while the socket lives: the user's place under the per-user cap.
    _slot: Arc<SocketSlot>,
}

/// An accepted room socket: its queue of frames to write, and a signal
/// raised when the client read too slowly and must be closed.
#[derive(Debug)]
pub struct SocketSession {
    /// Who the socket is.
    pub handle: SocketHandle,
    /// Frames to write, in order; `PLAYBACK_STATE` and `PRESENCE` come first.
    pub outbox: mpsc::Receiver<Outgoing>,
    /// Cancelled when the outbox overflowed.
    pub too_slow: CancellationToken,
}

/// What handling one client message came to: a reply for that socket
/// alone (`PONG`, `ERROR`), and a failure for the edge to log.
#[derive(Debug, Default)]
pub struct Handled {
    /// Sent to the socket that sent the message.
    pub reply: Option<ServerMessage>,
    /// Something failed on the way; logged by the caller, with its cause.
    pub failure: Option<ServiceError>,
}

impl Handled {
    fn reply(message: ServerMessage) -> Self {
        Handled {
            reply: Some(message),
            failure: None,
        }
    }

    fn error_text(text: &str) -> Self {
        Self::reply(ServerMessage::Error {
            message: text.to_owned(),
        })
    }

    fn failed(failure: ServiceError) -> Self {
        Handled {
            reply: None,
            failure: Some(failure),
        }
    }
}

/// Which departure a closed socket is: only a host's may start a grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Departure {
    /// A user who was not the host when the socket opened.
    Viewer,
    /// Possibly the host: the room is checked.
    MaybeHost,
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
            is_host: room.host == verified.user,
            room: room.code,
            slot: Arc::new(slot),
        })
    }

    /// Registers an upgraded socket: it gets `PLAYBACK_STATE` then
    /// `PRESENCE`, the others `USER_JOINED` if this is the user's first
    /// socket, and a returning host ends the room's grace.
    pub async fn open_socket(&self, ticket: SocketTicket) -> Result<SocketSession, ServiceError> {
        let inner = &self.inner;
        let locked = inner.engine.lock(&ticket.room).await;
        let (mut room, host_name) = locked.load().await?;
        if room.status.is_final() {
            return Err(ServiceError::RoomClosed);
        }
        let id =
            ConnectionId(inner.connection_prefix | inner.next_connection.fetch_add(1, Relaxed));
        let member = Member {
            user: ticket.user,
            display_name: ticket.display_name.clone(),
        };
        if ticket.is_host {
            // The grace may end here or, on another instance, by its deadline:
            // whichever conditional update wins decides, and a closed room is
            // never joined by its host.
            room = match locked
                .apply(Origin::Service, &room, &host_name, Command::HostConnected)
                .await?
            {
                Transition::Done(resumed) if !resumed.status.is_final() => resumed,
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
        if ticket.is_host {
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
        let members = match inner.live.members(&room.code).await {
            Ok(members) => members,
            Err(e) => {
                let _ = inner
                    .live
                    .remove_connection(&room.code, id, ticket.user)
                    .await;
                return Err(e).classify();
            }
        };
        let now = self.now();
        // Grace is the database's word; otherwise live presence decides, so a
        // room whose host never connected (or whose host's instance died
        // before grace could start) reads "offline", never "online" with
        // nobody there. The host's own socket is in `members` already.
        let host_here = members.iter().any(|m| m.user == room.host);
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
                })
                .collect(),
            host_status,
        };
        // Room for both opening frames, so queueing them cannot fail.
        let (tx, outbox) = mpsc::channel(inner.config.outbox_capacity.max(4));
        let too_slow = CancellationToken::new();
        // Queued before the socket joins the hub, so nothing can come first.
        for opening in [
            ServerMessage::from(playback_view(&room.playback, now)),
            presence,
        ] {
            let _ = tx.try_send(Outgoing::Text(opening.to_json().into()));
        }
        inner
            .hub
            .add(&room.code, id, ticket.user, tx, too_slow.clone());
        inner.metrics.live_sockets.fetch_add(1, Relaxed);
        if first {
            let announcer = inner.engine.announcer();
            let (user, name) = (ticket.user, ticket.display_name.as_str());
            if let Err(e) = announcer.user_joined(&room.code, user, name, id).await {
                let cause = e.cause_chain().unwrap_or_default();
                tracing::warn!(room = %room.code, error = %e, cause, "USER_JOINED not announced");
            }
        }
        let handle = SocketHandle {
            id,
            user: ticket.user,
            display_name: ticket.display_name,
            room: ticket.room.clone(),
            is_host: ticket.is_host,
            _slot: ticket.slot,
        };
        Ok(SocketSession {
            handle,
            outbox,
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
        if last_of_user {
            let departure = if handle.is_host {
                Departure::MaybeHost
            } else {
                Departure::Viewer
            };
            self.user_left(&locked, handle.user, &handle.display_name, departure)
                .await?;
        }
        drop(locked);
        if last_here {
            inner.live.unsubscribe(&handle.room).await.classify()?;
        }
        Ok(())
    }

    /// A user's last socket in a room is gone: tell the others, and start
    /// the grace if it was the host's. The caller holds the room's lock.
    pub(crate) async fn user_left(
        &self,
        locked: &crate::engine::Locked<'_>,
        user: UserId,
        display_name: &str,
        departure: Departure,
    ) -> Result<(), ServiceError> {
        let code = locked.code();
        // Grace matters more than the announcement: go on if it is lost.
        let announcer = self.inner.engine.announcer();
        if let Err(e) = announcer.user_left(code, user, display_name).await {
            let cause = e.cause_chain().unwrap_or_default();
            tracing::warn!(room = %code, error = %e, cause, "USER_LEFT not announced");
        }
        if departure == Departure::Viewer {
            return Ok(());
        }
        match locked.load().await {
            Ok((room, host_name)) if room.host == user => {
                locked
                    .apply(
                        Origin::Service,
                        &room,
                        &host_name,
                        Command::HostDisconnected,
                    )
                    .await?;
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
            ClientMessage::Play { time } => self.playback(socket, time, PlaybackAction::Play).await,
            ClientMessage::Pause { time } => {
                self.playback(socket, time, PlaybackAction::Pause).await
            }
            ClientMessage::Seek { time } => self.playback(socket, time, PlaybackAction::Seek).await,
            ClientMessage::ChatMessage { message } => self.chat(socket, &message).await,
        }
    }

    async fn playback(
        &self,
        socket: &SocketHandle,
        time: f64,
        action: fn(Position) -> PlaybackAction,
    ) -> Handled {
        // Non-hosts are ignored before any work: no reply, no lock, no query.
        let (true, Ok(position)) = (socket.is_host, Position::new(time)) else {
            return Handled::default();
        };
        let command = Command::Playback {
            actor: socket.user,
            action: action(position),
        };
        match self
            .inner
            .engine
            .execute(socket.origin(), &socket.room, command)
            .await
        {
            // A refused command is ignored, as the protocol says.
            Ok(_) => Handled::default(),
            Err(e) => Handled::failed(e),
        }
    }

    async fn chat(&self, socket: &SocketHandle, raw: &str) -> Handled {
        let text = match ChatText::parse(raw) {
            Ok(Some(text)) => text,
            Ok(None) => return Handled::default(),
            // Too long, or characters no backend may store (NUL among them).
            Err(refused) => return Handled::error_text(&refused.to_string()),
        };
        match self.throttle().hit(&Limit::ChatMessages(socket.user)).await {
            Ok(true) => {}
            Ok(false) => return Handled::error_text(CHAT_TOO_FAST),
            Err(e) => return self.chat_not_stored(e),
        }
        let command = Command::PostChat {
            actor: socket.user,
            text,
        };
        let engine = &self.inner.engine;
        match engine.execute(socket.origin(), &socket.room, command).await {
            Ok(Transition::Done(_)) => Handled::default(),
            Ok(Transition::Rejected(Rejection::ChatDisabled)) => Handled::error_text(CHAT_DISABLED),
            Ok(Transition::Rejected(_)) => Handled::default(),
            Err(ServiceError::Busy) => Handled::error_text(CHAT_BUSY),
            Err(e) => self.chat_not_stored(e),
        }
    }

    /// A message that could not be stored was sent to nobody: its author
    /// hears so instead of waiting for an echo that never comes.
    fn chat_not_stored(&self, failure: ServiceError) -> Handled {
        Handled {
            failure: Some(failure),
            ..Handled::error_text(CHAT_NOT_STORED)
        }
    }
}

impl SocketHandle {
    fn origin(&self) -> Origin<'_> {
        Origin::Socket {
            connection: self.id,
            name: &self.display_name,
        }
    }
}
