//! Domain events → protocol messages → every instance's sockets, and the
//! contract's copy of each room's playback and host status in live state.

use super::{Origin, Redelivery, Stored};
use crate::clock::rfc3339;
use crate::error::{Classify, ServiceError};
use crate::views::{
    capabilities_message, participant_view, playback_view, public_user, queue_item_view, room_view,
    RoomNames,
};
use bytes::Bytes;
use std::sync::Arc;
use watchparty_domain::{
    BanKind, Capabilities, CloseReason, ConnectionId, Control, Event, HostGrace, Millis, Outcome,
    PlaybackAction, PlaybackState, Role, Room, RoomCode, SettingField, UserId,
};
use watchparty_persistence::Database;
use watchparty_protocol as wire;
use watchparty_realtime_cache::{Audience, Broadcast, HostStatus, RealtimeCache};

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
        // `by` signs playback changes only; a join or a chat needs no lookup.
        let signs = outcome.events.iter().any(|e| {
            matches!(
                e,
                Event::PlaybackChanged { .. }
                    | Event::RateChanged { .. }
                    | Event::ItemChanged { .. }
                    | Event::QueueChanged(_)
                    | Event::SettingsChanged {
                        playback_reset: true,
                        ..
                    }
            )
        });
        let by = match origin {
            _ if !signs => None,
            Origin::Socket { user, name, .. } => Some(public_user(user, name)),
            Origin::Person { user } => Some(public_user(user, &self.name_of(user).await?)),
            Origin::Service => None,
        };
        let mut messages = stored.messages.iter();
        for event in &outcome.events {
            match event {
                Event::PlaybackChanged { action, playback } => {
                    self.live
                        .set_playback(&room.code, *playback)
                        .await
                        .classify()?;
                    // A resume after a wait starts a moment ahead, when
                    // every player can start together.
                    let (time, server_time, version) = (
                        playback.position.seconds(),
                        playback.updated_at.0.max(now.0),
                        playback.version,
                    );
                    let by = by.clone();
                    let message = match action {
                        PlaybackAction::Play(_) => wire::ServerMessage::Play {
                            time,
                            server_time,
                            version,
                            by,
                        },
                        PlaybackAction::Pause(_) => wire::ServerMessage::Pause {
                            time,
                            server_time,
                            version,
                            by,
                        },
                        PlaybackAction::Seek(_) => wire::ServerMessage::Seek {
                            time,
                            server_time,
                            version,
                            by,
                        },
                    };
                    self.publish(&room.code, &message, except, None).await?;
                }
                Event::RateChanged { playback } => {
                    self.live
                        .set_playback(&room.code, *playback)
                        .await
                        .classify()?;
                    let message = wire::ServerMessage::Rate {
                        rate: playback.rate.get(),
                        time: playback.position_at(now),
                        server_time: now.0,
                        version: playback.version,
                        by: by.clone(),
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
                Event::GraceEnded { playback } => {
                    self.live
                        .set_playback(&room.code, *playback)
                        .await
                        .classify()?;
                    self.live
                        .set_host_status(&room.code, HostStatus::Online)
                        .await
                        .classify()?;
                    let state =
                        wire::ServerMessage::playback_state(playback_view(playback, now), None);
                    self.publish(&room.code, &state, None, None).await?;
                }
                Event::Closed { reason } => self.closed(&room.code, *reason).await?,
                Event::QueueChanged(change) => {
                    // The server's own advance is signed by nobody.
                    let by = change.by.and(by.clone());
                    let item = match &change.item {
                        Some(item) => {
                            let adder = match &by {
                                Some(who) if who.id == item.added_by.0 => who.display_name.clone(),
                                _ => self.name_of(item.added_by).await?,
                            };
                            Some(queue_item_view(item, &adder, None))
                        }
                        None => None,
                    };
                    let updated = wire::ServerMessage::QueueUpdated {
                        queue_version: change.version,
                        op: change.op.as_str().to_owned(),
                        item,
                        by,
                    };
                    self.publish(&room.code, &updated, None, None).await?;
                }
                Event::ItemChanged { playback } => {
                    let view = self.room_view_live(room, host_name, now).await?;
                    let updated = wire::ServerMessage::RoomUpdated {
                        room: Box::new(view),
                    };
                    self.publish(&room.code, &updated, None, None).await?;
                    self.live
                        .set_playback(&room.code, *playback)
                        .await
                        .classify()?;
                    let state = wire::ServerMessage::playback_state(
                        playback_view(playback, now),
                        by.clone(),
                    );
                    self.publish(&room.code, &state, None, None).await?;
                }
                Event::SettingsChanged {
                    playback_reset,
                    fields,
                } => {
                    let view = self.room_view_live(room, host_name, now).await?;
                    self.publish(
                        &room.code,
                        &wire::ServerMessage::RoomUpdated {
                            room: Box::new(view),
                        },
                        except,
                        None,
                    )
                    .await?;
                    if *playback_reset {
                        self.live
                            .set_playback(&room.code, room.playback)
                            .await
                            .classify()?;
                        let state = wire::ServerMessage::playback_state(
                            playback_view(&room.playback, now),
                            by.clone(),
                        );
                        self.publish(&room.code, &state, except, None).await?;
                    }
                    if fields.iter().any(|f| f.affects_capabilities()) {
                        self.capabilities_of_everyone(room, fields, now).await?;
                    }
                }
                Event::ChatPosted { author, text } => {
                    let Some(&(id, created_at)) = messages.next() else {
                        return Err(ServiceError::internal("a chat event was not stored"));
                    };
                    let name = match origin {
                        Origin::Socket { name, .. } => name.to_owned(),
                        Origin::Person { .. } | Origin::Service => self.name_of(*author).await?,
                    };
                    let message = wire::ServerMessage::ChatMessage {
                        id,
                        user: public_user(*author, &name),
                        message: text.as_str().to_owned(),
                        created_at: rfc3339(created_at),
                    };
                    // Stored means delivered: a failed publish is retried
                    // until live state answers again.
                    let broadcast = broadcast(&message, Audience::Everyone, None, None);
                    if let Err(e) = self.live.publish(&room.code, broadcast.clone()).await {
                        tracing::warn!(room = %room.code, error = %e, "chat message stored but not yet published; retrying");
                        self.redelivery.push(room.code.clone(), broadcast);
                    }
                }
                // Stored with the room; a socket announces itself when it opens.
                Event::ParticipantJoined { .. } | Event::BanLifted { .. } => {}
                Event::ParticipantUpdated {
                    participant, by, ..
                } => {
                    let connected = self.is_connected(&room.code, participant.user).await?;
                    let name = self.name_of(participant.user).await?;
                    let by = match by {
                        Some(user) => Some(public_user(*user, &self.name_of(*user).await?)),
                        None => None,
                    };
                    let updated = wire::ServerMessage::ParticipantUpdated {
                        participant: participant_view(participant, &name, connected, now),
                        by,
                    };
                    self.publish(&room.code, &updated, None, None).await?;
                    self.capabilities_of(room, &[participant.user], now).await?;
                }
                Event::HostChanged(change) => {
                    let changed = wire::ServerMessage::HostChanged {
                        host: public_user(change.host, host_name),
                        previous: public_user(
                            change.previous,
                            &self.name_of(change.previous).await?,
                        ),
                        reason: change.reason.as_str().to_owned(),
                        host_epoch: change.host_epoch,
                    };
                    self.publish(&room.code, &changed, None, None).await?;
                    let view = self.room_view_live(room, host_name, now).await?;
                    let updated = wire::ServerMessage::RoomUpdated {
                        room: Box::new(view),
                    };
                    self.publish(&room.code, &updated, None, None).await?;
                    self.capabilities_of(room, &[change.host, change.previous], now)
                        .await?;
                }
                Event::BanPlaced { ban, removed } => {
                    if !*removed {
                        continue;
                    }
                    let close = removed_close(ban.kind);
                    let notice = wire::ServerMessage::Removed {
                        action: ban.kind.action().to_owned(),
                        reason: ban.reason.as_ref().map(|r| r.as_str().to_owned()),
                        until: ban.expires.instant().map(rfc3339),
                    };
                    let them = Audience::Users(vec![ban.user]);
                    self.live
                        .publish(&room.code, broadcast(&notice, them, None, Some(close)))
                        .await
                        .classify()?;
                    let by_name = self.name_of(ban.by).await?;
                    let gone = wire::ServerMessage::ParticipantRemoved {
                        user: public_user(ban.user, &self.name_of(ban.user).await?),
                        action: ban.kind.action().to_owned(),
                        by: public_user(ban.by, &by_name),
                    };
                    self.publish(&room.code, &gone, None, None).await?;
                }
            }
        }
        Ok(())
    }

    /// `CAPABILITIES` for the sockets of `users`, as `room` now gives them.
    async fn capabilities_of(
        &self,
        room: &Room,
        users: &[UserId],
        now: Millis,
    ) -> Result<(), ServiceError> {
        for &user in users {
            let Some(role) = room.role_of(user) else {
                continue;
            };
            let message = capabilities_message(role, room.capabilities_of(user, now));
            let to = Audience::Users(vec![user]);
            self.live
                .publish(&room.code, broadcast(&message, to, None, None))
                .await
                .classify()?;
        }
        Ok(())
    }

    /// `CAPABILITIES` for every connected user whose capabilities the
    /// change of `fields` changed: one broadcast per distinct answer, however
    /// many users share it.
    async fn capabilities_of_everyone(
        &self,
        room: &Room,
        fields: &[SettingField],
        now: Millis,
    ) -> Result<(), ServiceError> {
        // Both settings that decide capabilities have two values: what they
        // were is the other one.
        let mut was = room.clone();
        for field in fields {
            match field {
                SettingField::Control => {
                    was.settings.control = match room.settings.control {
                        Control::Host => Control::Everyone,
                        Control::Everyone => Control::Host,
                    }
                }
                SettingField::ViewersCanQueue => {
                    was.settings.viewers_can_queue = !room.settings.viewers_can_queue
                }
                _ => {}
            }
        }
        let members = self.live.members(&room.code).await.classify()?;
        let mut groups: Vec<(Role, Capabilities, Vec<UserId>)> = Vec::new();
        for member in members {
            let Some(role) = room.role_of(member.user) else {
                continue;
            };
            let capabilities = room.capabilities_of(member.user, now);
            if capabilities == was.capabilities_of(member.user, now) {
                continue;
            }
            match groups
                .iter_mut()
                .find(|(r, c, _)| *r == role && *c == capabilities)
            {
                Some((_, _, users)) => users.push(member.user),
                None => groups.push((role, capabilities, vec![member.user])),
            }
        }
        for (role, capabilities, users) in groups {
            let message = capabilities_message(role, capabilities);
            self.live
                .publish(
                    &room.code,
                    broadcast(&message, Audience::Users(users), None, None),
                )
                .await
                .classify()?;
        }
        Ok(())
    }

    /// Whether `user` has a live socket in the room, on any instance.
    pub(crate) async fn is_connected(
        &self,
        code: &RoomCode,
        user: UserId,
    ) -> Result<bool, ServiceError> {
        let members = self.live.members(code).await.classify()?;
        Ok(members.iter().any(|m| m.user == user))
    }

    /// A user's display name now (empty for an account that is gone).
    pub(crate) async fn name_of(&self, user: UserId) -> Result<String, ServiceError> {
        let found = self.db.user_by_id(user).await.classify()?;
        Ok(found.map(|u| u.display_name).unwrap_or_default())
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
        self.live.forget_wait(code).await.classify()?;
        self.live.forget_room(code).await.classify()
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
        let state = wire::ServerMessage::playback_state(playback_view(playback, now), None);
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
            .publish(
                room,
                broadcast(message, Audience::Everyone, except, then_close),
            )
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
        let names = self.names(room, host_name).await?;
        Ok(room_view(room, &names, viewers, now))
    }

    /// The host's and the owner's names; one lookup when they differ.
    pub(crate) async fn names(
        &self,
        room: &Room,
        host_name: &str,
    ) -> Result<RoomNames, ServiceError> {
        let owner = if room.owner == room.host {
            host_name.to_owned()
        } else {
            self.name_of(room.owner).await?
        };
        let adder = match &room.current_item {
            None => String::new(),
            Some(item) if item.added_by == room.host => host_name.to_owned(),
            Some(item) if item.added_by == room.owner => owner.clone(),
            Some(item) => self.name_of(item.added_by).await?,
        };
        Ok(RoomNames {
            host: host_name.to_owned(),
            owner,
            adder,
        })
    }

    /// Publishes again, oldest first, what could not be published.
    pub(super) async fn redeliver(&self) {
        self.redelivery.retry(&*self.live).await;
    }
}

/// The close code after `REMOVED`: 4003 for a kick, 4004 for a ban.
pub(crate) fn removed_close(kind: BanKind) -> u16 {
    match kind {
        BanKind::Kick => 4003,
        BanKind::Ban => 4004,
    }
}

fn broadcast(
    message: &wire::ServerMessage,
    to: Audience,
    except: Option<ConnectionId>,
    then_close: Option<u16>,
) -> Broadcast {
    Broadcast {
        payload: Bytes::from(message.to_json()),
        to,
        except,
        then_close,
    }
}
