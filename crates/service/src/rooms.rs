//! Rooms over HTTP: create, read, join, change, delete, list, history; and
//! the transitions every path shares (apply a rule, store it, announce it).

use crate::auth::os_random;
use crate::clock::{self, rfc3339};
use crate::error::{invalid, live, store, ServiceError};
use crate::limits::network;
use crate::Service;
use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};
use watchparty_domain::{
    CloseReason, Command, ConnectionId, Event, MediaUrl, Millis, PlaybackAction, PlaybackState,
    Rejection, Room, RoomCode, RoomName, RoomSettings, RoomStatus, SettingsChange, UserId,
};
use watchparty_persistence::{MessagePage, NewRoom, PersistenceError, StoredParticipant};
use watchparty_protocol as wire;
use watchparty_realtime_cache::{Broadcast, Counter, HostStatus};

// Probing for codes that do not exist: misses allowed per window.
const PROBE_WINDOW: Duration = Duration::from_secs(60);
const MAX_MISSES_PER_USER: u64 = 30;
const MAX_MISSES_PER_ADDRESS: u64 = 60;

/// Serializes the changes of one room on this instance: striped, so the
/// number of locks is fixed whatever the number of rooms.
pub(crate) struct RoomLocks {
    stripes: Vec<Mutex<()>>,
    hasher: RandomState,
}

impl RoomLocks {
    pub(crate) fn new() -> Self {
        RoomLocks {
            stripes: (0..256).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }

    pub(crate) async fn lock(&self, code: &RoomCode) -> Option<MutexGuard<'_, ()>> {
        let index = self.hasher.hash_one(code) as usize % self.stripes.len();
        Some(self.stripes.get(index)?.lock().await)
    }
}

/// The body of `POST /api/rooms/`.
#[derive(Debug, Clone, Default)]
pub struct NewRoomRequest {
    /// Required.
    pub name: String,
    /// Default false.
    pub is_private: Option<bool>,
    /// Default true.
    pub is_chat_enabled: Option<bool>,
    /// Default none.
    pub media_url: Option<String>,
}

/// The body of `PATCH /api/rooms/{code}/`: absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct RoomChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new privacy flag.
    pub is_private: Option<bool>,
    /// A new chat flag.
    pub is_chat_enabled: Option<bool>,
    /// `Some(None)` clears the video.
    pub media_url: Option<Option<String>>,
}

/// The query of the chat history endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryQuery {
    /// 1 to 100, default 50.
    pub limit: Option<i64>,
    /// Messages older than this id.
    pub before: Option<i64>,
    /// Messages newer than this id.
    pub after: Option<i64>,
}

/// What applying a command came to.
pub(crate) enum Transition {
    /// Stored and announced.
    Done(Room),
    /// The rules refused it; nothing changed.
    Rejected(Rejection),
}

fn parse_media(raw: Option<String>) -> Result<Option<MediaUrl>, ServiceError> {
    match raw {
        Some(url) if !url.trim().is_empty() => MediaUrl::parse(&url).map(Some).map_err(invalid),
        _ => Ok(None),
    }
}

pub(crate) fn playback_view(playback: &PlaybackState, now: Millis) -> wire::Playback {
    wire::Playback {
        is_playing: playback.is_playing,
        time: playback.position_at(now),
        server_time: now.0,
    }
}

pub(crate) fn public_user(id: UserId, display_name: &str) -> wire::PublicUser {
    wire::PublicUser {
        id: id.0,
        display_name: display_name.to_owned(),
    }
}

fn status_name(status: RoomStatus) -> &'static str {
    match status {
        RoomStatus::Open => "open",
        RoomStatus::Grace { .. } => "grace",
        RoomStatus::Closed | RoomStatus::Deleted => "closed",
    }
}

fn room_view(room: &Room, host_name: &str, viewer_count: u64, now: Millis) -> wire::Room {
    wire::Room {
        code: room.code.to_string(),
        name: room.settings.name.as_str().to_owned(),
        host: public_user(room.host, host_name),
        is_private: room.settings.is_private,
        is_chat_enabled: room.settings.is_chat_enabled,
        media_url: room
            .settings
            .media_url
            .as_ref()
            .map(|u| u.as_str().to_owned()),
        status: status_name(room.status_at(now)).to_owned(),
        viewer_count,
        created_at: rfc3339(room.created_at),
    }
}

fn participant_view(p: &StoredParticipant) -> wire::Participant {
    wire::Participant {
        user: public_user(p.user, &p.display_name),
        role: if p.is_host { "host" } else { "viewer" }.to_owned(),
        is_approved: true,
        joined_at: rfc3339(p.joined_at),
    }
}

impl Service {
    /// Opens a room hosted by `user`.
    pub async fn create_room(
        &self,
        user: i64,
        request: NewRoomRequest,
    ) -> Result<wire::Room, ServiceError> {
        let host = UserId(user);
        let host_name = self
            .inner
            .db
            .user_by_id(host)
            .await
            .map_err(store)?
            .ok_or(ServiceError::NotAuthenticated)?
            .display_name;
        let settings = RoomSettings {
            name: RoomName::parse(&request.name).map_err(invalid)?,
            is_private: request.is_private.unwrap_or(false),
            is_chat_enabled: request.is_chat_enabled.unwrap_or(true),
            media_url: parse_media(request.media_url)?,
        };
        // 50 random bits make a collision rare; a unique index makes it harmless.
        for _ in 0..5 {
            let code = RoomCode::from_entropy(os_random()?);
            let new = NewRoom {
                code,
                host,
                settings: settings.clone(),
                now: clock::now(),
            };
            match self.inner.db.create_room(new).await {
                Ok(room) => return Ok(room_view(&room, &host_name, 0, clock::now())),
                Err(PersistenceError::Conflict) => continue,
                Err(e) => return Err(store(e)),
            }
        }
        tracing::error!("five room-code collisions in a row");
        Err(ServiceError::Internal)
    }

    /// A room and its playback, for a user allowed to see it.
    pub async fn get_room(
        &self,
        user: i64,
        code: &str,
        client: &str,
    ) -> Result<(wire::Room, wire::Playback), ServiceError> {
        let (room, host_name, _) = self.visible_room(UserId(user), code, client).await?;
        let now = clock::now();
        let view = self.room_view_live(&room, &host_name, now).await?;
        Ok((view, playback_view(&room.playback, now)))
    }

    /// Makes `user` a participant; joining again answers the same.
    pub async fn join_room(
        &self,
        user: i64,
        code: &str,
        client: &str,
    ) -> Result<(wire::Room, wire::Participant), ServiceError> {
        let user = UserId(user);
        let (room, host_name, existing) = self.find_room_for(user, code, client, true).await?;
        if room.status.is_final() {
            return Err(ServiceError::RoomClosed);
        }
        let participant = match existing {
            Some(p) => p,
            None => self
                .inner
                .db
                .join(room.id, user, clock::now())
                .await
                .map_err(store)?,
        };
        let view = self.room_view_live(&room, &host_name, clock::now()).await?;
        Ok((view, participant_view(&participant)))
    }

    /// The host changes the room; live sockets get `ROOM_UPDATED`.
    pub async fn update_room(
        &self,
        user: i64,
        code: &str,
        changes: RoomChanges,
        client: &str,
    ) -> Result<wire::Room, ServiceError> {
        let change = SettingsChange {
            name: changes
                .name
                .as_deref()
                .map(RoomName::parse)
                .transpose()
                .map_err(invalid)?,
            is_private: changes.is_private,
            is_chat_enabled: changes.is_chat_enabled,
            media_url: changes.media_url.map(parse_media).transpose()?,
        };
        let (room, _, _) = self.visible_room(UserId(user), code, client).await?;
        let _guard = self.inner.room_locks.lock(&room.code).await;
        let (room, host_name) = self.reload(&room.code).await?;
        let command = Command::UpdateSettings {
            actor: UserId(user),
            change,
        };
        match self.transition(&room, &host_name, command, None).await? {
            Transition::Done(room) => self.room_view_live(&room, &host_name, clock::now()).await,
            Transition::Rejected(rejection) => Err(rejection_error(rejection)),
        }
    }

    /// The host deletes the room: every socket gets `ROOM_CLOSED` and 4001.
    pub async fn delete_room(
        &self,
        user: i64,
        code: &str,
        client: &str,
    ) -> Result<(), ServiceError> {
        let (room, _, _) = self.visible_room(UserId(user), code, client).await?;
        let _guard = self.inner.room_locks.lock(&room.code).await;
        let (room, host_name) = self.reload(&room.code).await?;
        match self
            .transition(
                &room,
                &host_name,
                Command::Delete {
                    actor: UserId(user),
                },
                None,
            )
            .await?
        {
            Transition::Done(_) => Ok(()),
            Transition::Rejected(rejection) => Err(rejection_error(rejection)),
        }
    }

    /// Public rooms, most viewers first, then newest.
    pub async fn list_public(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<wire::Room>, ServiceError> {
        if !(1..=100).contains(&limit) {
            return Err(ServiceError::Validation(
                "limit must be between 1 and 100".into(),
            ));
        }
        if offset < 0 {
            return Err(ServiceError::Validation(
                "offset must not be negative".into(),
            ));
        }
        let now = clock::now();
        let counts: HashMap<RoomCode, u64> = self
            .inner
            .live
            .live_rooms()
            .await
            .map_err(live)?
            .into_iter()
            .collect();
        let codes: Vec<RoomCode> = counts.keys().cloned().collect();
        let mut busy = self
            .inner
            .db
            .public_rooms_among(codes.clone(), now)
            .await
            .map_err(store)?;
        let count_of = |room: &Room| counts.get(&room.code).copied().unwrap_or(0);
        busy.sort_by(|(a, _), (b, _)| {
            count_of(b)
                .cmp(&count_of(a))
                .then(b.created_at.cmp(&a.created_at))
                .then(b.id.cmp(&a.id))
        });
        let busy_len = i64::try_from(busy.len()).unwrap_or(i64::MAX);
        let mut page: Vec<wire::Room> = busy
            .iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|(room, host)| room_view(room, host, count_of(room), now))
            .collect();
        let missing = limit - i64::try_from(page.len()).unwrap_or(0);
        if missing > 0 {
            let quiet_offset = (offset - busy_len).max(0);
            let quiet = self
                .inner
                .db
                .public_rooms_except(codes, now, missing, quiet_offset)
                .await
                .map_err(store)?;
            page.extend(
                quiet
                    .iter()
                    .map(|(room, host)| room_view(room, host, count_of(room), now)),
            );
        }
        Ok(page)
    }

    /// A page of chat history, oldest first; participants only.
    pub async fn history(
        &self,
        user: i64,
        code: &str,
        query: HistoryQuery,
        client: &str,
    ) -> Result<Vec<wire::ChatMessage>, ServiceError> {
        let limit = query.limit.unwrap_or(50);
        if !(1..=100).contains(&limit) {
            return Err(ServiceError::Validation(
                "limit must be between 1 and 100".into(),
            ));
        }
        let page = match (query.before, query.after) {
            (Some(_), Some(_)) => {
                return Err(ServiceError::Validation(
                    "give before or after, not both".into(),
                ))
            }
            (Some(before), None) => MessagePage::Before(before),
            (None, Some(after)) => MessagePage::After(after),
            (None, None) => MessagePage::Latest,
        };
        let (room, _, participant) = self.visible_room(UserId(user), code, client).await?;
        if participant.is_none() {
            return Err(ServiceError::Forbidden);
        }
        let messages = self
            .inner
            .db
            .messages(room.id, page, limit)
            .await
            .map_err(store)?;
        Ok(messages
            .into_iter()
            .map(|m| wire::ChatMessage {
                id: m.id,
                user: public_user(m.user, &m.display_name),
                message: m.text,
                created_at: rfc3339(m.created_at),
            })
            .collect())
    }

    /// A room `user` may see: unknown, deleted and private-to-others answer
    /// alike (404), and too many such misses answer 429.
    pub(crate) async fn visible_room(
        &self,
        user: UserId,
        code: &str,
        client: &str,
    ) -> Result<(Room, String, Option<StoredParticipant>), ServiceError> {
        self.find_room_for(user, code, client, false).await
    }

    /// Finds a room for `user` within the probing budget. The user's budget
    /// is reserved before the lookup and given back on a hit, so parallel
    /// guesses cannot outrun it; the address's is checked before and counted
    /// on a miss, and a miss past it answers 429 too. (Reserving the
    /// address's would refuse many users behind one address who open rooms
    /// at the same moment; one user's parallel guesses are what the user's
    /// reservation stops.)
    async fn find_room_for(
        &self,
        user: UserId,
        code: &str,
        client: &str,
        joining: bool,
    ) -> Result<(Room, String, Option<StoredParticipant>), ServiceError> {
        let live_state = &self.inner.live;
        let user_key = format!("probe:user:{}", user.0);
        let addr_key = format!("probe:addr:{}", network(client));
        if live_state.attempts(&addr_key).await.map_err(live)? >= MAX_MISSES_PER_ADDRESS {
            return Err(ServiceError::RateLimited);
        }
        let reservation = [Counter {
            key: &user_key,
            limit: Some(MAX_MISSES_PER_USER),
        }];
        if live_state
            .reserve(&reservation, PROBE_WINDOW)
            .await
            .map_err(live)?
            .is_some()
        {
            return Err(ServiceError::RateLimited);
        }
        let found = self.lookup(user, code, joining).await;
        if !matches!(found, Err(ServiceError::NotFound)) {
            // A hit, or a failure that says nothing about the code: not a miss.
            live_state.release(&[&user_key]).await.map_err(live)?;
            return found;
        }
        let misses = live_state
            .count_attempt(&addr_key, PROBE_WINDOW)
            .await
            .map_err(live)?;
        if misses > MAX_MISSES_PER_ADDRESS {
            return Err(ServiceError::RateLimited);
        }
        Err(ServiceError::NotFound)
    }

    /// The room as `user` may see it, settled; `NotFound` for an unknown
    /// code, a deleted room, and a private room to a non-participant who is
    /// not joining.
    async fn lookup(
        &self,
        user: UserId,
        code: &str,
        joining: bool,
    ) -> Result<(Room, String, Option<StoredParticipant>), ServiceError> {
        let found = match RoomCode::parse(code) {
            Ok(code) => self.inner.db.room_by_code(&code).await.map_err(store)?,
            Err(_) => None,
        };
        let Some((room, host_name)) = found.filter(|(room, _)| room.status != RoomStatus::Deleted)
        else {
            return Err(ServiceError::NotFound);
        };
        let participant = self
            .inner
            .db
            .participant(room.id, user)
            .await
            .map_err(store)?;
        // The code is the invitation: a private room can be joined, not peeked at.
        if room.settings.is_private && participant.is_none() && !joining {
            return Err(ServiceError::NotFound);
        }
        let room = self.settle(room, &host_name).await?;
        Ok((room, host_name, participant))
    }

    /// The stored room with its host's name, fresh and settled; 404 once deleted.
    pub(crate) async fn reload(&self, code: &RoomCode) -> Result<(Room, String), ServiceError> {
        match self.inner.db.room_by_code(code).await.map_err(store)? {
            Some((room, _)) if room.status == RoomStatus::Deleted => Err(ServiceError::NotFound),
            Some((room, host_name)) => Ok((self.settle(room, &host_name).await?, host_name)),
            None => Err(ServiceError::NotFound),
        }
    }

    /// Closes the room if its grace deadline has passed. Only the caller
    /// whose conditional update wins announces it.
    pub(crate) async fn settle(&self, room: Room, host_name: &str) -> Result<Room, ServiceError> {
        let now = clock::now();
        let Some(outcome) = room.expire_if_due(now) else {
            return Ok(room);
        };
        if self
            .inner
            .db
            .save_room(&room, &outcome.room, now)
            .await
            .map_err(store)?
        {
            self.announce(&outcome.room, host_name, &outcome.events, None, now)
                .await?;
            Ok(outcome.room)
        } else {
            self.stored_room(&room.code)
                .await?
                .ok_or(ServiceError::NotFound)
        }
    }

    /// The room as stored now, deleted or not: what a lost conditional update yields to.
    async fn stored_room(&self, code: &RoomCode) -> Result<Option<Room>, ServiceError> {
        let found = self.inner.db.room_by_code(code).await.map_err(store)?;
        Ok(found.map(|(room, _)| room))
    }

    /// Applies a command to `room` (loaded under its lock), stores the
    /// result if nobody changed the room meanwhile, and announces it.
    pub(crate) async fn transition(
        &self,
        room: &Room,
        host_name: &str,
        command: Command,
        except: Option<ConnectionId>,
    ) -> Result<Transition, ServiceError> {
        let now = clock::now();
        let outcome = match room.apply(command, now, self.inner.grace) {
            Ok(outcome) => outcome,
            Err(rejection) => return Ok(Transition::Rejected(rejection)),
        };
        if outcome.events.is_empty() {
            return Ok(Transition::Done(outcome.room));
        }
        if !self
            .inner
            .db
            .save_room(room, &outcome.room, now)
            .await
            .map_err(store)?
        {
            // Another instance or the sweeper got there first: report what is stored.
            tracing::debug!(room = %room.code, "room changed concurrently; command dropped");
            return Ok(match self.stored_room(&room.code).await? {
                Some(fresh) if fresh.status == RoomStatus::Deleted => {
                    Transition::Rejected(Rejection::Deleted)
                }
                Some(fresh) if fresh.status_at(now).is_final() => {
                    Transition::Rejected(Rejection::Closed)
                }
                Some(fresh) => Transition::Done(fresh),
                None => Transition::Rejected(Rejection::Deleted),
            });
        }
        self.announce(&outcome.room, host_name, &outcome.events, except, now)
            .await?;
        Ok(Transition::Done(outcome.room))
    }

    /// Turns the rules' events into messages for every socket in the room,
    /// and keeps the live cache in step.
    async fn announce(
        &self,
        room: &Room,
        host_name: &str,
        events: &[Event],
        except: Option<ConnectionId>,
        now: Millis,
    ) -> Result<(), ServiceError> {
        let cache = &self.inner.live;
        for event in events {
            match event {
                Event::PlaybackChanged { action, playback } => {
                    cache
                        .set_playback(&room.code, *playback)
                        .await
                        .map_err(live)?;
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
                        grace_seconds: self.inner.grace.secs(),
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
                Event::Closed { reason } => {
                    let reason = match reason {
                        CloseReason::Deleted => wire::CloseReason::Deleted,
                        CloseReason::HostTimeout => wire::CloseReason::HostTimeout,
                    };
                    let message = wire::ServerMessage::RoomClosed { reason };
                    self.publish(&room.code, &message, None, Some(reason.close_code()))
                        .await?;
                    cache.forget_room(&room.code).await.map_err(live)?;
                }
                Event::SettingsChanged { playback_reset } => {
                    let view = self.room_view_live(room, host_name, now).await?;
                    self.publish(
                        &room.code,
                        &wire::ServerMessage::RoomUpdated { room: view },
                        except,
                        None,
                    )
                    .await?;
                    if *playback_reset {
                        cache
                            .set_playback(&room.code, room.playback)
                            .await
                            .map_err(live)?;
                        self.publish(
                            &room.code,
                            &playback_view(&room.playback, now).into(),
                            except,
                            None,
                        )
                        .await?;
                    }
                }
                Event::ChatAccepted => {}
            }
        }
        Ok(())
    }

    /// The host left or came back: cache it, then announce it followed by
    /// the playback that results.
    async fn host_status_changed(
        &self,
        room: &Room,
        status: HostStatus,
        notice: &wire::ServerMessage,
        playback: &PlaybackState,
        except: Option<ConnectionId>,
        now: Millis,
    ) -> Result<(), ServiceError> {
        let cache = &self.inner.live;
        cache
            .set_playback(&room.code, *playback)
            .await
            .map_err(live)?;
        cache
            .set_host_status(&room.code, status)
            .await
            .map_err(live)?;
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
        let broadcast = Broadcast {
            payload: Bytes::from(message.to_json()),
            except,
            then_close,
        };
        self.inner.live.publish(room, broadcast).await.map_err(live)
    }

    pub(crate) async fn room_view_live(
        &self,
        room: &Room,
        host_name: &str,
        now: Millis,
    ) -> Result<wire::Room, ServiceError> {
        let viewers = self
            .inner
            .live
            .viewer_count(&room.code)
            .await
            .map_err(live)?;
        Ok(room_view(room, host_name, viewers, now))
    }

    /// Closes every room whose grace ran out, and announces the sockets of
    /// instances that died, until `stop` is cancelled. Every instance runs
    /// one; conditional updates and atomic removals make each happen once.
    pub async fn run_grace_sweeper(&self, stop: tokio_util::sync::CancellationToken) {
        // A zero period would make tokio panic; a millisecond is the floor.
        let period = self
            .inner
            .config
            .sweep_interval
            .max(Duration::from_millis(1));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_reap = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.close_expired_graces().await;
            if last_reap.elapsed() >= REAP_EVERY {
                last_reap = tokio::time::Instant::now();
                self.announce_departed().await;
            }
        }
    }

    async fn close_expired_graces(&self) {
        let due = match self.inner.db.expired_graces(clock::now()).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "grace sweeper cannot read the database");
                return;
            }
        };
        for code in due {
            let _guard = self.inner.room_locks.lock(&code).await;
            if let Err(e) = self.reload(&code).await {
                tracing::warn!(room = %code, error = %e, "grace sweeper could not close a room");
            }
        }
    }

    /// Sockets of a dead instance: `USER_LEFT` for users gone, grace for hosts gone.
    async fn announce_departed(&self) {
        let departed = match self.inner.live.reap_departed().await {
            Ok(departed) => departed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for sockets of dead instances");
                return;
            }
        };
        for gone in departed.into_iter().filter(|d| d.last_of_user) {
            let _guard = self.inner.room_locks.lock(&gone.room).await;
            if let Err(e) = self
                .user_left(&gone.room, gone.user, &gone.display_name, true)
                .await
            {
                tracing::warn!(room = %gone.room, error = %e, "could not announce a departed user");
            }
        }
    }

    /// A user's last socket in a room is gone: tell the others, and start the
    /// grace if it was the host (checked only when `may_be_host`). The caller
    /// holds the room's lock.
    pub(crate) async fn user_left(
        &self,
        code: &RoomCode,
        user: UserId,
        display_name: &str,
        may_be_host: bool,
    ) -> Result<(), ServiceError> {
        let left = wire::ServerMessage::UserLeft {
            user: public_user(user, display_name),
        };
        // Grace matters more than the announcement: go on if it is lost.
        if let Err(e) = self.publish(code, &left, None, None).await {
            tracing::warn!(room = %code, error = %e, "USER_LEFT not announced");
        }
        if !may_be_host {
            return Ok(());
        }
        match self.reload(code).await {
            Ok((room, host_name)) if room.host == user => {
                self.transition(&room, &host_name, Command::HostDisconnected, None)
                    .await?;
                Ok(())
            }
            Ok(_) | Err(ServiceError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// How often connections of dead instances are looked for.
const REAP_EVERY: Duration = Duration::from_secs(5);

pub(crate) fn rejection_error(rejection: Rejection) -> ServiceError {
    match rejection {
        Rejection::NotHost => ServiceError::NotHost,
        Rejection::Closed => ServiceError::RoomClosed,
        Rejection::Deleted => ServiceError::NotFound,
        Rejection::ChatDisabled | Rejection::HostAway => ServiceError::Forbidden,
    }
}
