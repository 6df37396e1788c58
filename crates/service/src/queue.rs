//! The queue over HTTP and the socket (contract §12): what to watch next.
//! Every change goes through the room engine; this file reads requests,
//! checks who may see the room, and shapes the answers.

use crate::access::{Lookup, Visible};
use crate::engine::{rejection_error, Origin, QueueRequest, QueueTransition};
use crate::error::{Classify, ServiceError};
use crate::sockets::{Handled, SocketHandle};
use crate::views::queue_item_view;
use crate::{Caller, Service};
use std::collections::HashMap;
use watchparty_domain::{
    AddPosition, IfCurrent, ItemDuration, ItemId, MediaUrl, QueueItem, QueueOutcome, QueueTitle,
    Rejection, Room, UserId,
};
use watchparty_protocol::http::{
    AddItemRequest, AddedItem, AdvanceRequest, ItemResponse, MoveItemRequest, QueueList,
    QueueVersion,
};
use watchparty_protocol::{self as wire};

impl Service {
    /// `GET …/queue/`: the current item and the waiting items in play
    /// order; participants only.
    pub async fn queue(&self, caller: &Caller, code: &str) -> Result<QueueList, ServiceError> {
        let room = self.queue_room(caller, code).await?;
        let (_, waiting) = self.inner.db.queue_of(room.id).await.classify()?;
        let queue = room.queue(waiting);
        let current = queue.current.clone();
        let shown: Vec<&QueueItem> = current.iter().chain(queue.play_order()).collect();
        let names = self.adder_names(&shown).await?;
        let view = |item: &QueueItem| {
            let name = names.get(&item.added_by).map_or("", String::as_str);
            queue_item_view(item, name, Some(caller.user))
        };
        Ok(QueueList {
            current: current.as_ref().map(view),
            items: queue.play_order().into_iter().map(view).collect(),
            queue_version: queue.version,
        })
    }

    /// `POST …/queue/`: adds an item (current at once when nothing is).
    pub async fn add_to_queue(
        &self,
        caller: &Caller,
        code: &str,
        request: AddItemRequest,
    ) -> Result<AddedItem, ServiceError> {
        let media_url = MediaUrl::parse(&request.media_url)?;
        let title = match request.title.as_deref() {
            Some(text) => QueueTitle::parse(text)?,
            None => None,
        };
        let duration = request.duration.map(ItemDuration::from_secs).transpose()?;
        let position = match request.position.as_deref() {
            None => AddPosition::End,
            Some(text) => AddPosition::parse(text).ok_or_else(|| {
                ServiceError::Validation(format!("position has no value {text:?}"))
            })?,
        };
        let ask = QueueRequest::Add {
            media_url,
            title,
            duration,
            position,
        };
        let (room, outcome) = self.queue_change(caller, code, ask).await?;
        let item = outcome
            .item
            .ok_or_else(|| ServiceError::internal("an added item was not returned"))?;
        Ok(AddedItem {
            item: self.item_view(&item, caller.user).await?,
            queue_version: room.queue_version,
        })
    }

    /// `DELETE …/queue/{item_id}/`: by its adder, or with `manage_queue`.
    pub async fn remove_from_queue(
        &self,
        caller: &Caller,
        code: &str,
        item: i64,
    ) -> Result<(), ServiceError> {
        let ask = QueueRequest::Remove(ItemId(item));
        self.queue_change(caller, code, ask).await.map(|_| ())
    }

    /// `POST …/queue/{item_id}/move/` (needs `manage_queue`, `manual` mode).
    pub async fn move_in_queue(
        &self,
        caller: &Caller,
        code: &str,
        item: i64,
        request: MoveItemRequest,
    ) -> Result<QueueVersion, ServiceError> {
        let ask = QueueRequest::Move {
            item: ItemId(item),
            after: request.after.map(ItemId),
            if_version: request.if_version,
        };
        let (room, _) = self.queue_change(caller, code, ask).await?;
        Ok(QueueVersion {
            queue_version: room.queue_version,
        })
    }

    /// `PUT` (`cast`) or `DELETE …/queue/{item_id}/vote/`: one vote per user
    /// and item; repeating either changes nothing.
    pub async fn vote_in_queue(
        &self,
        caller: &Caller,
        code: &str,
        item: i64,
        cast: bool,
    ) -> Result<ItemResponse, ServiceError> {
        let ask = if cast {
            QueueRequest::Vote(ItemId(item))
        } else {
            QueueRequest::Unvote(ItemId(item))
        };
        let (_, outcome) = self.queue_change(caller, code, ask).await?;
        let voted = outcome
            .item
            .ok_or_else(|| ServiceError::internal("a voted item was not returned"))?;
        Ok(ItemResponse {
            item: self.item_view(&voted, caller.user).await?,
        })
    }

    /// `POST …/queue/advance/` (needs `control_playback`).
    pub async fn advance_queue(
        &self,
        caller: &Caller,
        code: &str,
        request: AdvanceRequest,
    ) -> Result<wire::Room, ServiceError> {
        let if_current = IfCurrent::from_field(request.if_current.map(|c| c.map(ItemId)));
        let ask = QueueRequest::Advance(if_current);
        let (room, _) = self.queue_change(caller, code, ask).await?;
        let engine = &self.inner.engine;
        let host_name = engine.announcer().name_of(room.host).await?;
        engine
            .announcer()
            .room_view_live(&room, &host_name, self.now())
            .await
    }

    /// `ENDED` from a socket: advances if the item is still current and the
    /// user holds `control_playback`; anything else is ignored silently.
    pub(crate) async fn ended(&self, socket: &SocketHandle, item: i64) -> Handled {
        let origin = Origin::Socket {
            connection: socket.id,
            user: socket.user,
            name: &socket.display_name,
            acted_at: None,
        };
        let engine = &self.inner.engine;
        let ask = QueueRequest::Ended(ItemId(item));
        match engine.execute_queue(origin, &socket.room, ask).await {
            Ok(_) => Handled::default(),
            Err(e) => Handled::failed(e),
        }
    }

    /// The room for a queue request: visible to the caller, who must be a
    /// participant (403 otherwise).
    async fn queue_room(&self, caller: &Caller, code: &str) -> Result<Room, ServiceError> {
        let Visible {
            room, participant, ..
        } = self.find_room(caller, code, Lookup::Peek).await?;
        if participant.is_none() {
            return Err(ServiceError::Forbidden);
        }
        Ok(room)
    }

    /// Runs a queue change asked by `caller` through the room engine.
    async fn queue_change(
        &self,
        caller: &Caller,
        code: &str,
        ask: QueueRequest,
    ) -> Result<(Room, QueueOutcome), ServiceError> {
        let room = self.queue_room(caller, code).await?;
        if room.status.is_final() {
            return Err(ServiceError::RoomClosed);
        }
        let origin = Origin::Person { user: caller.user };
        match self
            .inner
            .engine
            .execute_queue(origin, &room.code, ask)
            .await?
        {
            QueueTransition::Done(done) => Ok(*done),
            QueueTransition::Rejected(rejection) => Err(queue_rejection(rejection)),
        }
    }

    /// An item as `user` sees it in an HTTP answer.
    async fn item_view(
        &self,
        item: &QueueItem,
        user: UserId,
    ) -> Result<wire::QueueItem, ServiceError> {
        let names = self.adder_names(&[item]).await?;
        let name = names.get(&item.added_by).map_or("", String::as_str);
        Ok(queue_item_view(item, name, Some(user)))
    }

    /// The names of the users who added these items: one query.
    async fn adder_names(
        &self,
        items: &[&QueueItem],
    ) -> Result<HashMap<UserId, String>, ServiceError> {
        let mut ids: Vec<UserId> = items.iter().map(|i| i.added_by).collect();
        ids.sort();
        ids.dedup();
        self.inner.db.display_names(ids).await.classify()
    }
}

/// The answer to a refused queue request: the rules' refusal, and the
/// room's own states (closed: 410; the host away: an advance is a conflict).
fn queue_rejection(rejection: Rejection) -> ServiceError {
    match rejection {
        Rejection::HostAway => ServiceError::Conflict,
        other => rejection_error(other),
    }
}
