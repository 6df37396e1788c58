//! Rooms over HTTP: create, read, join, change, delete, list, history.
//! Changes go through the room engine; this file only reads and decides
//! what to ask of it.

use crate::access::{Lookup, Visible};
use crate::auth::os_random;
use crate::engine::{rejection_error, Origin, Transition};
use crate::error::{Classify, ServiceError};
use crate::views::{message_view, playback_view, room_view, stored_participant_view, RoomNames};
use crate::{Caller, Service};
use std::collections::HashMap;
use watchparty_domain::{
    Command, Control, MediaUrl, OnHostTimeout, QueueItem, QueueMode, Rejection, Room, RoomCode,
    RoomName, RoomSettings, SettingsChange, WaitPolicy,
};
use watchparty_persistence::{MessagePage, NewRoom, PersistenceError};
use watchparty_protocol as wire;
use watchparty_protocol::http::{CreateRoomRequest, MessagesQuery, UpdateRoomRequest};

/// The page sizes a listing accepts.
const PAGE_SIZES: std::ops::RangeInclusive<i64> = 1..=100;

fn page_size(limit: i64) -> Result<i64, ServiceError> {
    if PAGE_SIZES.contains(&limit) {
        Ok(limit)
    } else {
        Err(ServiceError::Validation(
            "limit must be between 1 and 100".into(),
        ))
    }
}

fn parse_media(raw: Option<String>) -> Result<Option<MediaUrl>, ServiceError> {
    match raw {
        Some(url) if !url.trim().is_empty() => Ok(Some(MediaUrl::parse(&url)?)),
        _ => Ok(None),
    }
}

impl Service {
    /// Opens a room hosted by the caller.
    pub async fn create_room(
        &self,
        caller: &Caller,
        request: CreateRoomRequest,
    ) -> Result<wire::Room, ServiceError> {
        let host = caller.user;
        let host_name = self
            .inner
            .db
            .user_by_id(host)
            .await
            .classify()?
            .ok_or(ServiceError::NotAuthenticated)?
            .display_name;
        let settings = RoomSettings {
            is_private: request.is_private.unwrap_or(false),
            is_chat_enabled: request.is_chat_enabled.unwrap_or(true),
            media_url: parse_media(request.media_url)?,
            ..RoomSettings::named(RoomName::parse(&request.name)?)
        };
        // 50 random bits make a collision rare; a unique index makes it harmless.
        for _ in 0..5 {
            let code = RoomCode::from_entropy(os_random()?);
            let now = self.now();
            // The room's video is its first current item (§12).
            let first_item = match &settings.media_url {
                Some(url) => {
                    let id = self.inner.db.reserve_item_id().await.classify()?;
                    Some(QueueItem::video(id, url.clone(), host, now))
                }
                None => None,
            };
            let new = NewRoom {
                code,
                host,
                settings: settings.clone(),
                now,
                first_item,
            };
            match self.inner.db.create_room(new).await {
                Ok(room) => {
                    let names = RoomNames {
                        owner: host_name.clone(),
                        adder: host_name.clone(),
                        host: host_name,
                    };
                    return Ok(room_view(&room, &names, 0, self.now()));
                }
                Err(PersistenceError::Conflict) => continue,
                Err(e) => return Err(e).classify(),
            }
        }
        Err(ServiceError::internal("five room-code collisions in a row"))
    }

    /// A room and its playback, for a caller allowed to see it.
    pub async fn get_room(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<(wire::Room, wire::Playback), ServiceError> {
        let Visible {
            room, host_name, ..
        } = self.find_room(caller, code, Lookup::Peek).await?;
        let now = self.now();
        let announcer = self.inner.engine.announcer();
        let view = announcer.room_view_live(&room, &host_name, now).await?;
        let mut playback = playback_view(&room.playback, now);
        playback.waiting = self.inner.engine.waiting_view(&room.code).await?;
        Ok((view, playback))
    }

    /// Makes the caller a participant; joining again answers the same.
    pub async fn join_room(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<(wire::Room, wire::Participant), ServiceError> {
        let Visible {
            room,
            host_name,
            participant: _,
            stamp,
        } = self.find_room(caller, code, Lookup::Join).await?;
        if room.status.is_final() {
            return Err(ServiceError::RoomClosed);
        }
        // The rules of a join (a kick or ban in force keeps the user out; a
        // member stays as they are; anyone else becomes a viewer) are decided
        // in the transaction that stores it, for members too: a copy of the
        // room's rows that missed a kick must never let its user back in. A
        // join announces nothing and changes no other row, so it does not
        // bump the room's stamp: this instance's copy learns of it, and the
        // others ask the database about a member they do not know.
        let db = &self.inner.db;
        let participant = match db.join(room.id, caller.user, self.now()).await {
            Ok(joined) => {
                self.inner.engine.rows().joined(&room.code, stamp, &joined);
                joined
            }
            // Like any other refusal of a private room: unknown.
            Err(PersistenceError::Banned(_)) if room.settings.is_private => {
                return Err(ServiceError::NotFound)
            }
            Err(PersistenceError::Banned(until)) => {
                return Err(rejection_error(Rejection::Banned { until }))
            }
            Err(e) => return Err(e).classify(),
        };
        let now = self.now();
        let announcer = self.inner.engine.announcer();
        let view = announcer.room_view_live(&room, &host_name, now).await?;
        let connected = announcer.is_connected(&room.code, caller.user).await?;
        Ok((view, stored_participant_view(&participant, connected, now)))
    }

    /// A holder of `edit_room` changes the room; live sockets get
    /// `ROOM_UPDATED` (and `CAPABILITIES` when who may do what changed).
    pub async fn update_room(
        &self,
        caller: &Caller,
        code: &str,
        changes: UpdateRoomRequest,
    ) -> Result<wire::Room, ServiceError> {
        let setting = |field: &'static str, raw: Option<String>, parse: fn(&str) -> bool| match raw
        {
            Some(value) if !parse(&value) => Err(ServiceError::Validation(format!(
                "{field} has no value {value:?}"
            ))),
            other => Ok(other),
        };
        let control = setting("control", changes.control, |v| Control::parse(v).is_some())?;
        let on_host_timeout = setting("on_host_timeout", changes.on_host_timeout, |v| {
            OnHostTimeout::parse(v).is_some()
        })?;
        let wait_policy = setting("wait_policy", changes.wait_policy, |v| {
            WaitPolicy::parse(v).is_some()
        })?;
        let queue_mode = setting("queue_mode", changes.queue_mode, |v| {
            QueueMode::parse(v).is_some()
        })?;
        let media_url = changes.media_url.map(parse_media).transpose()?;
        // A new video becomes a new current item, whose id is reserved first.
        let new_item = match media_url {
            Some(Some(_)) => Some(self.inner.db.reserve_item_id().await.classify()?),
            _ => None,
        };
        let change = SettingsChange {
            name: changes.name.as_deref().map(RoomName::parse).transpose()?,
            is_private: changes.is_private,
            is_chat_enabled: changes.is_chat_enabled,
            media_url,
            control: control.as_deref().and_then(Control::parse),
            on_host_timeout: on_host_timeout.as_deref().and_then(OnHostTimeout::parse),
            wait_policy: wait_policy.as_deref().and_then(WaitPolicy::parse),
            viewers_can_queue: changes.viewers_can_queue,
            queue_mode: queue_mode.as_deref().and_then(QueueMode::parse),
            new_item,
        };
        let Visible { room, .. } = self.find_room(caller, code, Lookup::Peek).await?;
        let command = Command::UpdateSettings {
            actor: caller.user,
            change,
        };
        let origin = Origin::Person { user: caller.user };
        let engine = &self.inner.engine;
        match engine.execute(origin, &room.code, command).await? {
            Transition::Done(room) => {
                let host_name = engine.announcer().name_of(room.host).await?;
                engine
                    .announcer()
                    .room_view_live(&room, &host_name, self.now())
                    .await
            }
            Transition::Rejected(rejection) => Err(rejection_error(rejection)),
        }
    }

    /// The host deletes the room: every socket gets `ROOM_CLOSED` and 4001.
    pub async fn delete_room(&self, caller: &Caller, code: &str) -> Result<(), ServiceError> {
        let Visible { room, .. } = self.find_room(caller, code, Lookup::Peek).await?;
        let command = Command::Delete { actor: caller.user };
        match self
            .inner
            .engine
            .execute(Origin::Person { user: caller.user }, &room.code, command)
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
        let limit = page_size(limit)?;
        if offset < 0 {
            return Err(ServiceError::Validation(
                "offset must not be negative".into(),
            ));
        }
        let now = self.now();
        let counts: HashMap<RoomCode, u64> = self
            .inner
            .live
            .live_rooms()
            .await
            .classify()?
            .into_iter()
            .collect();
        let codes: Vec<RoomCode> = counts.keys().cloned().collect();
        let mut busy = self
            .inner
            .db
            .public_rooms_among(codes.clone(), now)
            .await
            .classify()?;
        let count_of = |room: &Room| counts.get(&room.code).copied().unwrap_or(0);
        busy.sort_by(|(a, _), (b, _)| {
            count_of(b)
                .cmp(&count_of(a))
                .then(b.created_at.cmp(&a.created_at))
                .then(b.id.cmp(&a.id))
        });
        let busy_len = i64::try_from(busy.len()).unwrap_or(i64::MAX);
        let mut shown: Vec<(Room, String)> = busy
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(0))
            .collect();
        let missing = limit - i64::try_from(shown.len()).unwrap_or(0);
        if missing > 0 {
            let quiet_offset = (offset - busy_len).max(0);
            let quiet = self
                .inner
                .db
                .public_rooms_except(codes, now, missing, quiet_offset)
                .await
                .classify()?;
            shown.extend(quiet);
        }
        let announcer = self.inner.engine.announcer();
        let mut page = Vec::with_capacity(shown.len());
        for (room, host) in &shown {
            let names = announcer.names(room, host).await?;
            page.push(room_view(room, &names, count_of(room), now));
        }
        Ok(page)
    }

    /// A page of chat history, oldest first; participants only.
    pub async fn history(
        &self,
        caller: &Caller,
        code: &str,
        query: MessagesQuery,
    ) -> Result<Vec<wire::ChatMessage>, ServiceError> {
        let limit = page_size(query.limit.unwrap_or(50))?;
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
        let Visible {
            room, participant, ..
        } = self.find_room(caller, code, Lookup::Peek).await?;
        if participant.is_none() {
            return Err(ServiceError::Forbidden);
        }
        let messages = self
            .inner
            .db
            .messages(room.id, page, limit)
            .await
            .classify()?;
        Ok(messages.into_iter().map(message_view).collect())
    }
}
