//! The room socket's intents: connect, disconnect, and what a client sends.

use crate::clock;
use crate::error::{live, store, ServiceError};
use crate::hub::Outgoing;
use crate::rooms::{playback_view, public_user, rejection_error, Transition};
use crate::slots::SocketSlot;
use crate::Service;
use bytestring::ByteString;
use std::borrow::Cow;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use watchparty_domain::{
    ChatText, Command, ConnectionId, PlaybackAction, Position, Rejection, RoomCode, RoomId,
    RoomStatus, UserId,
};
use watchparty_protocol::{self as wire, parse_client_message, ClientMessage, ServerMessage};
use watchparty_realtime_cache::{HostStatus, Member};

const CHAT_DISABLED: &str = "Chat is disabled in this room";
const CHAT_TOO_FAST: &str = "You are sending messages too fast; wait a moment";
const CHAT_BUSY: &str = "The room is busy; send the message again";
const CHAT_NOT_STORED: &str = "The message was not sent: the service is briefly unavailable";

/// How much chat one user may send: past `messages` in `window`, an `ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLimit {
    /// Messages per window.
    pub messages: u64,
    /// The window they are counted over.
    pub window: Duration,
}

impl Default for ChatLimit {
    /// Two messages a second on average, in bursts of twenty: a person typing
    /// fast never meets it, a script does.
    fn default() -> Self {
        ChatLimit {
            messages: 20,
            window: Duration::from_secs(10),
        }
    }
}
// The cross-instance chat lock: held for one insert and one publish.
const CHAT_LOCK_TTL: Duration = Duration::from_secs(5);
const CHAT_LOCK_WAIT: Duration = Duration::from_secs(2);

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

fn text(message: &ServerMessage) -> ByteString {
    ByteString::from(message.to_json())
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
        client: &str,
    ) -> Result<SocketTicket, ServiceError> {
        let verified = self
            .inner
            .tokens
            .verify(token.ok_or(ServiceError::NotAuthenticated)?, clock::now())?;
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
        let (room, _, participant) = self.visible_room(verified.user, code, client).await?;
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
            .map_err(live)?
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
        let _guard = inner.room_locks.lock(&ticket.room).await;
        let (mut room, host_name) = self.reload(&ticket.room).await?;
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
            room = match self
                .transition(&room, &host_name, Command::HostConnected, None)
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
        inner.live.subscribe(&room.code).await.map_err(live)?;
        inner
            .live
            .set_playback(&room.code, room.playback)
            .await
            .map_err(live)?;
        if ticket.is_host {
            inner
                .live
                .set_host_status(&room.code, HostStatus::Online)
                .await
                .map_err(live)?;
        }
        let first = inner
            .live
            .add_connection(&room.code, id, member)
            .await
            .map_err(live)?;
        let members = match inner.live.members(&room.code).await {
            Ok(members) => members,
            Err(e) => {
                let _ = inner
                    .live
                    .remove_connection(&room.code, id, ticket.user)
                    .await;
                return Err(live(e));
            }
        };
        let now = clock::now();
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
            let joined = ServerMessage::UserJoined {
                user: public_user(ticket.user, &ticket.display_name),
            };
            // The socket is open either way; a lost announcement is logged, not fatal.
            if let Err(e) = self.publish(&room.code, &joined, Some(id), None).await {
                tracing::warn!(room = %room.code, error = %e, "USER_JOINED not announced");
            }
        }
        let handle = SocketHandle {
            id,
            user: ticket.user,
            display_name: ticket.display_name,
            room: ticket.room,
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
    /// grace when it was the host's last.
    pub async fn close_socket(&self, handle: &SocketHandle) {
        if let Err(e) = self.close_socket_inner(handle).await {
            tracing::warn!(room = %handle.room, error = %e, "socket cleanup incomplete");
        }
    }

    async fn close_socket_inner(&self, handle: &SocketHandle) -> Result<(), ServiceError> {
        let inner = &self.inner;
        let _guard = inner.room_locks.lock(&handle.room).await;
        inner.metrics.live_sockets.fetch_sub(1, Relaxed);
        let last_here = inner.hub.remove(&handle.room, handle.id);
        let last_of_user = inner
            .live
            .remove_connection(&handle.room, handle.id, handle.user)
            .await
            .map_err(live)?;
        if last_of_user {
            self.user_left(
                &handle.room,
                handle.user,
                &handle.display_name,
                handle.is_host,
            )
            .await?;
        }
        if last_here {
            inner.live.unsubscribe(&handle.room).await.map_err(live)?;
        }
        Ok(())
    }

    /// Handles one text frame. Returns a reply for this socket alone
    /// (`PONG`, `ERROR`); everything the protocol says to ignore gives `None`.
    pub async fn on_text(&self, handle: &SocketHandle, frame: &str) -> Option<ByteString> {
        self.inner.metrics.messages_in.fetch_add(1, Relaxed);
        let message = parse_client_message(frame)?;
        let result = match message {
            ClientMessage::Ping { client_time } => {
                return Some(text(&ServerMessage::Pong {
                    client_time,
                    server_time: clock::now().0,
                }));
            }
            ClientMessage::Play { time } => self.playback(handle, time, PlaybackAction::Play).await,
            ClientMessage::Pause { time } => {
                self.playback(handle, time, PlaybackAction::Pause).await
            }
            ClientMessage::Seek { time } => self.playback(handle, time, PlaybackAction::Seek).await,
            ClientMessage::ChatMessage { message } => {
                // A message that could not be stored was sent to nobody: its
                // author hears so instead of waiting for an echo that never comes.
                self.chat(handle, &message).await.or_else(|e| {
                    tracing::warn!(room = %handle.room, error = %e, "chat message not stored");
                    Ok(Some(Cow::Borrowed(CHAT_NOT_STORED)))
                })
            }
        };
        match result {
            Ok(reply) => reply.map(|message| {
                text(&ServerMessage::Error {
                    message: message.into_owned(),
                })
            }),
            Err(e) => {
                tracing::warn!(room = %handle.room, error = %e, "socket intent failed");
                None
            }
        }
    }

    async fn playback(
        &self,
        handle: &SocketHandle,
        time: f64,
        action: fn(Position) -> PlaybackAction,
    ) -> Result<Option<Cow<'static, str>>, ServiceError> {
        // Non-hosts are ignored before any work: no reply, no lock, no query.
        let (true, Ok(position)) = (handle.is_host, Position::new(time)) else {
            return Ok(None);
        };
        let _guard = self.inner.room_locks.lock(&handle.room).await;
        let (room, host_name) = self.reload(&handle.room).await?;
        let command = Command::Playback {
            actor: handle.user,
            action: action(position),
        };
        self.transition(&room, &host_name, command, Some(handle.id))
            .await?;
        Ok(None)
    }

    async fn chat(
        &self,
        handle: &SocketHandle,
        raw: &str,
    ) -> Result<Option<Cow<'static, str>>, ServiceError> {
        let text = match ChatText::parse(raw) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(None),
            // Too long, or characters no backend may store (NUL among them).
            Err(refused) => return Ok(Some(Cow::Owned(refused.to_string()))),
        };
        let key = format!("chat:{}", handle.user.0);
        let limit = self.inner.config.chat_limit;
        if self
            .inner
            .live
            .count_attempt(&key, limit.window)
            .await
            .map_err(live)?
            > limit.messages
        {
            return Ok(Some(Cow::Borrowed(CHAT_TOO_FAST)));
        }
        // Stored and published under the room's lock: ids grow in delivery order.
        let _guard = self.inner.room_locks.lock(&handle.room).await;
        let (room, _) = self.reload(&handle.room).await?;
        match room.apply(
            Command::Chat { actor: handle.user },
            clock::now(),
            self.inner.grace,
        ) {
            Ok(_) => {}
            Err(Rejection::ChatDisabled) => return Ok(Some(Cow::Borrowed(CHAT_DISABLED))),
            Err(_) => return Ok(None),
        }
        // Other instances store this room's messages too: the lock spans
        // them all, so that ids grow in the order Redis delivers them.
        let lock_key = format!("chat:{}", room.code);
        let live_state = &self.inner.live;
        let Some(token) = live_state
            .lock(&lock_key, CHAT_LOCK_TTL, CHAT_LOCK_WAIT)
            .await
            .map_err(live)?
        else {
            return Ok(Some(Cow::Borrowed(CHAT_BUSY)));
        };
        let sent = self
            .store_and_send(handle, &room.code, room.id, &text)
            .await;
        if let Err(e) = live_state.unlock(&lock_key, token).await {
            tracing::warn!(room = %room.code, error = %e, "chat lock not released; it expires by itself");
        }
        sent.map(|()| None)
    }

    async fn store_and_send(
        &self,
        handle: &SocketHandle,
        code: &RoomCode,
        room: RoomId,
        text: &ChatText,
    ) -> Result<(), ServiceError> {
        let now = clock::now();
        let id = self
            .inner
            .db
            .insert_message(room, handle.user, text.as_str().to_owned(), now)
            .await
            .map_err(store)?;
        let message = ServerMessage::ChatMessage {
            id,
            user: public_user(handle.user, &handle.display_name),
            message: text.as_str().to_owned(),
            created_at: clock::rfc3339(now),
        };
        self.publish(code, &message, None, None).await
    }
}
