//! Domain events → protocol messages → every instance's sockets, and the
//! contract's copy of each room's playback and host status in live state.

use super::{Origin, Redelivery, Stored};
use crate::clock::rfc3339;
use crate::error::{Classify, ServiceError};
use crate::views::{playback_view, public_user, room_view};
use bytes::Bytes;
use std::sync::Arc;
use watchparty_domain::{
    CloseReason, ConnectionId, Event, HostGrace, Millis, Outcome, PlaybackAction, PlaybackState,
    Room, RoomCode, UserId,
};
use watchparty_persistence::Database;
use watchparty_protocol as wire;
use watchparty_realtime_cache::{Broadcast, HostStatus, RealtimeCache};

/// Announces what happened to rooms.
pub(crate) struct Announcer {
    db: Database,
    live: Arc<dyn RealtimeCache>,
    grace: HostGrace,
    redelivery: Redelivery,
}

impl Announcer {
    pub(super) fn new(db: Database, live: Arc<dyn RealtimeCache>, grace: HostGrace) -> Self {
        Announcer {
            db,
            live,
            grace,
            redelivery: Redelivery::default(),
        }
    }

    /// Turns the rules' events into messages for every socket in the room,
    /// and keeps the live copy in step. `stored` holds what the store step
    /// wrote for the chat events, in order.
    pub(super) async fn announce(
        &self,
        outcome: &Outcome,
        host_name: &str,
        stored: &Stored,
        origin: Origin<'_>,
        now: Millis,
    ) -> Result<(), ServiceError> {
        let room = &outcome.room;
        let except = origin.connection();
        let mut messages = stored.messages.iter();
        for event in &outcome.events {
            match event {
                Event::PlaybackChanged { action, playback } => {
                    self.live
                        .set_playback(&room.code, *playback)
                        .await
                        .classify()?;
                    let (time, server_time) = (playback.position.seconds(), now.0);
                    let message = match action {
                        PlaybackAction::Play(_) => wire::ServerMessage::Play { time, server_time },
                        PlaybackAction::Pause(_) => {
                            wire::ServerMessage::Pause { time, server_time }
                        }
                        PlaybackAction::Seek(_) => wire::ServerMessage::Seek { time, server_time },
                    };
                    self.publish(&room.code, &message, except, None).await?;
                }
                Event::GraceStarted { deadline, playback } => {
                    let away = wire::ServerMessage::HostDisconnected {
                        grace_expires_at: rfc3339(*deadline),
                        grace_seconds: self.grace.secs(),
                    };
                    self.host_status_changed(room, HostStatus::Grace, &away, playback, except, now)
                        .await?;
                }
                Event::HostReturned { playback } => {
                    let back = wire::ServerMessage::HostReconnected;
                    self.host_status_changed(
                        room,
                        HostStatus::Online,
                        &back,
                        playback,
                        except,
                        now,
                    )
                    .await?;
                }
                Event::Closed { reason } => self.closed(&room.code, *reason).await?,
                Event::SettingsChanged { playback_reset, .. } => {
                    let view = self.room_view_live(room, host_name, now).await?;
                    self.publish(
                        &room.code,
                        &wire::ServerMessage::RoomUpdated { room: view },
                        except,
                        None,
                    )
                    .await?;
                    if *playback_reset {
                        self.live
                            .set_playback(&room.code, room.playback)
                            .await
                            .classify()?;
                        self.publish(
                            &room.code,
                            &playback_view(&room.playback, now).into(),
                            except,
                            None,
                        )
                        .await?;
                    }
                }
                Event::ChatPosted { author, text } => {
                    let Some(&(id, created_at)) = messages.next() else {
                        return Err(ServiceError::internal("a chat event was not stored"));
                    };
                    let name = match origin {
                        Origin::Socket { name, .. } => name.to_owned(),
                        Origin::Service => self.author_name(*author).await?,
                    };
                    let message = wire::ServerMessage::ChatMessage {
                        id,
                        user: public_user(*author, &name),
                        message: text.as_str().to_owned(),
                        created_at: rfc3339(created_at),
                    };
                    // Stored means delivered: a failed publish is retried
                    // until live state answers again.
                    let broadcast = broadcast(&message, None, None);
                    if let Err(e) = self.live.publish(&room.code, broadcast.clone()).await {
                        tracing::warn!(room = %room.code, error = %e, "chat message stored but not yet published; retrying");
                        self.redelivery.push(room.code.clone(), broadcast);
                    }
                }
                // §7, §8, §11 events: no command the service sends yet can
                // yield them (issue 14 wires them).
                Event::RateChanged { .. }
                | Event::ParticipantJoined { .. }
                | Event::ParticipantUpdated { .. }
                | Event::HostChanged(_)
                | Event::GraceEnded { .. }
                | Event::BanPlaced { .. }
                | Event::BanLifted { .. } => {
                    return Err(ServiceError::internal(format!(
                        "event not wired yet: {event:?}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// A user's first socket in the room opened: everyone else hears it.
    pub(crate) async fn user_joined(
        &self,
        code: &RoomCode,
        user: UserId,
        name: &str,
        socket: ConnectionId,
    ) -> Result<(), ServiceError> {
        let joined = wire::ServerMessage::UserJoined {
            user: public_user(user, name),
        };
        self.publish(code, &joined, Some(socket), None).await
    }

    /// A user's last socket in the room closed.
    pub(crate) async fn user_left(
        &self,
        code: &RoomCode,
        user: UserId,
        name: &str,
    ) -> Result<(), ServiceError> {
        let left = wire::ServerMessage::UserLeft {
            user: public_user(user, name),
        };
        self.publish(code, &left, None, None).await
    }

    /// The room ended: every socket hears why and is closed, and live
    /// state forgets the room.
    pub(crate) async fn closed(
        &self,
        code: &RoomCode,
        reason: CloseReason,
    ) -> Result<(), ServiceError> {
        let reason = match reason {
            CloseReason::Deleted => wire::CloseReason::Deleted,
            CloseReason::HostTimeout => wire::CloseReason::HostTimeout,
        };
        let message = wire::ServerMessage::RoomClosed { reason };
        self.publish(code, &message, None, Some(reason.close_code()))
            .await?;
        self.live.forget_room(code).await.classify()
    }

    async fn author_name(&self, author: UserId) -> Result<String, ServiceError> {
        let user = self.db.user_by_id(author).await.classify()?;
        Ok(user.map(|u| u.display_name).unwrap_or_default())
    }

    /// The host left or came back: copy it to live state, then announce it
    /// followed by the playback that results.
    async fn host_status_changed(
        &self,
        room: &Room,
        status: HostStatus,
        notice: &wire::ServerMessage,
        playback: &PlaybackState,
        except: Option<ConnectionId>,
        now: Millis,
    ) -> Result<(), ServiceError> {
        self.live
            .set_playback(&room.code, *playback)
            .await
            .classify()?;
        self.live
            .set_host_status(&room.code, status)
            .await
            .classify()?;
        self.publish(&room.code, notice, except, None).await?;
        let state = playback_view(playback, now).into();
        self.publish(&room.code, &state, except, None).await
    }

    /// Serializes once and hands the bytes to every instance's sockets.
    pub(crate) async fn publish(
        &self,
        room: &RoomCode,
        message: &wire::ServerMessage,
        except: Option<ConnectionId>,
        then_close: Option<u16>,
    ) -> Result<(), ServiceError> {
        self.live
            .publish(room, broadcast(message, except, then_close))
            .await
            .classify()
    }

    /// The room as the protocol shows it, with its live viewer count.
    pub(crate) async fn room_view_live(
        &self,
        room: &Room,
        host_name: &str,
        now: Millis,
    ) -> Result<wire::Room, ServiceError> {
        let viewers = self.live.viewer_count(&room.code).await.classify()?;
        Ok(room_view(room, host_name, viewers, now))
    }

    /// Publishes again, oldest first, what could not be published.
    pub(super) async fn redeliver(&self) {
        self.redelivery.retry(&*self.live).await;
    }
}

fn broadcast(
    message: &wire::ServerMessage,
    except: Option<ConnectionId>,
    then_close: Option<u16>,
) -> Broadcast {
    Broadcast {
        payload: Bytes::from(message.to_json()),
        except,
        then_close,
    }
}
