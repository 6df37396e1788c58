//! Who is in a room and what they may do, over HTTP (contract §7, §8):
//! participants, roles, host changes, kicks, bans, mutes and the audit
//! log. Every change goes through the room engine; this file reads,
//! checks the request's shape and decides what to ask of it.

use crate::access::{Lookup, Visible};
use crate::engine::{rejection_error, Origin, Transition};
use crate::error::{Classify, ServiceError};
use crate::views::{
    audit_view, ban_view, ban_with_names, participant_view, stored_participant_view,
};
use crate::{Caller, Service};
use watchparty_domain::{
    AssignedRole, BanDuration, Capability, Command, Reason, RejoinAfter, Room, RoomCode, UserId,
};
use watchparty_protocol::{self as wire, http};

/// The audit page sizes a request accepts.
const AUDIT_PAGE: std::ops::RangeInclusive<i64> = 1..=100;

fn reason(raw: Option<String>) -> Result<Option<Reason>, ServiceError> {
    match raw {
        Some(raw) => Ok(Reason::parse(&raw)?),
        None => Ok(None),
    }
}

fn duration(secs: Option<i64>) -> Result<Option<BanDuration>, ServiceError> {
    secs.map(BanDuration::from_secs)
        .transpose()
        .map_err(Into::into)
}

impl Service {
    /// The room's participants, host first, then co-hosts, then viewers by
    /// `joined_at`; for participants only.
    pub async fn participants(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<Vec<wire::Participant>, ServiceError> {
        let Visible {
            room, participant, ..
        } = self.find_room(caller, code, Lookup::Peek).await?;
        if participant.is_none() {
            return Err(ServiceError::Forbidden);
        }
        let stored = self.inner.db.participants(room.id).await.classify()?;
        let members = self.inner.live.members(&room.code).await.classify()?;
        let now = self.now();
        Ok(stored
            .iter()
            .map(|p| {
                let connected = members.iter().any(|m| m.user == p.user);
                stored_participant_view(p, connected, now)
            })
            .collect())
    }

    /// The host makes a participant a co-host or a viewer.
    pub async fn set_role(
        &self,
        caller: &Caller,
        code: &str,
        target: i64,
        request: http::SetRoleRequest,
    ) -> Result<wire::Participant, ServiceError> {
        let role = AssignedRole::parse(&request.role).ok_or_else(|| {
            ServiceError::Validation("role must be \"co_host\" or \"viewer\"".into())
        })?;
        let target = UserId(target);
        let command = Command::SetRole {
            actor: caller.user,
            target,
            role,
        };
        let room = self.change(caller, code, command).await?;
        self.participant_in(&room, target).await
    }

    /// `POST …/host/`: the host hands over to someone connected, the owner
    /// takes the room back, or a co-host claims it during grace.
    pub async fn change_host(
        &self,
        caller: &Caller,
        code: &str,
        request: http::ChangeHostRequest,
    ) -> Result<wire::Room, ServiceError> {
        let Visible { room, .. } = self.find_room(caller, code, Lookup::Peek).await?;
        let target = UserId(request.user_id);
        let announcer = self.inner.engine.announcer();
        let target_connected = announcer.is_connected(&room.code, target).await?;
        let command = Command::ChangeHost {
            actor: caller.user,
            target,
            target_connected,
        };
        let room = self.command(caller, &room.code, command).await?;
        let host_name = announcer.name_of(room.host).await?;
        announcer
            .room_view_live(&room, &host_name, self.now())
            .await
    }

    /// A moderator removes a participant, who may come back after a while.
    pub async fn kick(
        &self,
        caller: &Caller,
        code: &str,
        request: http::KickRequest,
    ) -> Result<(), ServiceError> {
        let rejoin_after = match request.rejoin_after_secs {
            Some(secs) => RejoinAfter::from_secs(secs)?,
            None => RejoinAfter::default(),
        };
        let command = Command::Kick {
            actor: caller.user,
            target: UserId(request.user_id),
            reason: reason(request.reason)?,
            rejoin_after,
        };
        self.change(caller, code, command).await.map(drop)
    }

    /// A moderator bans a user (a participant or not), replacing a ban in force.
    pub async fn ban(
        &self,
        caller: &Caller,
        code: &str,
        request: http::BanRequest,
    ) -> Result<http::Ban, ServiceError> {
        let target = UserId(request.user_id);
        let command = Command::Ban {
            actor: caller.user,
            target,
            reason: reason(request.reason)?,
            duration: duration(request.duration_secs)?,
        };
        let Visible { room, .. } = self.find_room(caller, code, Lookup::Peek).await?;
        // A ban may name someone who never joined, but not nobody.
        let announcer = self.inner.engine.announcer();
        if self.inner.db.user_by_id(target).await.classify()?.is_none() {
            // Only a moderator learns whether an id is taken.
            if !room.may(caller.user, Capability::Moderate, self.now()) {
                return Err(ServiceError::Forbidden);
            }
            return Err(ServiceError::NotFound);
        }
        let room = self.command(caller, &room.code, command).await?;
        let ban = room
            .bans
            .get(&target)
            .ok_or_else(|| ServiceError::internal("a ban was not stored"))?;
        let name = announcer.name_of(ban.user).await?;
        let by_name = announcer.name_of(ban.by).await?;
        Ok(ban_with_names(ban, &name, &by_name))
    }

    /// The kicks and bans in force, for moderators.
    pub async fn bans(&self, caller: &Caller, code: &str) -> Result<Vec<http::Ban>, ServiceError> {
        let room = self.moderated(caller, code).await?;
        let bans = self
            .inner
            .db
            .active_bans(room.id, self.now())
            .await
            .classify()?;
        Ok(bans.iter().map(ban_view).collect())
    }

    /// A moderator lifts a kick or a ban; 404 when there is none.
    pub async fn unban(
        &self,
        caller: &Caller,
        code: &str,
        target: i64,
    ) -> Result<(), ServiceError> {
        let command = Command::Unban {
            actor: caller.user,
            target: UserId(target),
        };
        self.change(caller, code, command).await.map(drop)
    }

    /// A moderator mutes a participant, for a while or until lifted.
    pub async fn mute(
        &self,
        caller: &Caller,
        code: &str,
        request: http::MuteRequest,
    ) -> Result<wire::Participant, ServiceError> {
        let target = UserId(request.user_id);
        let command = Command::Mute {
            actor: caller.user,
            target,
            duration: duration(request.duration_secs)?,
        };
        let room = self.change(caller, code, command).await?;
        self.participant_in(&room, target).await
    }

    /// A moderator lifts a mute; 404 when there is none.
    pub async fn unmute(
        &self,
        caller: &Caller,
        code: &str,
        target: i64,
    ) -> Result<wire::Participant, ServiceError> {
        let target = UserId(target);
        let command = Command::Unmute {
            actor: caller.user,
            target,
        };
        let room = self.change(caller, code, command).await?;
        self.participant_in(&room, target).await
    }

    /// A page of the room's audit log, newest first, for moderators.
    pub async fn audit(
        &self,
        caller: &Caller,
        code: &str,
        query: http::AuditQuery,
    ) -> Result<Vec<http::AuditEntry>, ServiceError> {
        let limit = query.limit.unwrap_or(50);
        if !AUDIT_PAGE.contains(&limit) {
            return Err(ServiceError::Validation(
                "limit must be between 1 and 100".into(),
            ));
        }
        let room = self.moderated(caller, code).await?;
        let entries = self
            .inner
            .db
            .audit_entries(room.id, query.before, limit)
            .await
            .classify()?;
        Ok(entries.into_iter().map(audit_view).collect())
    }

    /// The room, if the caller may moderate it (403 otherwise).
    async fn moderated(&self, caller: &Caller, code: &str) -> Result<Room, ServiceError> {
        let Visible { room, .. } = self.find_room(caller, code, Lookup::Peek).await?;
        if room.may(caller.user, Capability::Moderate, self.now()) {
            Ok(room)
        } else {
            Err(ServiceError::Forbidden)
        }
    }

    /// Finds the room, then has the engine execute the caller's command.
    async fn change(
        &self,
        caller: &Caller,
        code: &str,
        command: Command,
    ) -> Result<Room, ServiceError> {
        let Visible { room, .. } = self.find_room(caller, code, Lookup::Peek).await?;
        self.command(caller, &room.code, command).await
    }

    /// The caller's command through the engine; a refusal becomes its error.
    async fn command(
        &self,
        caller: &Caller,
        code: &RoomCode,
        command: Command,
    ) -> Result<Room, ServiceError> {
        let origin = Origin::Person { user: caller.user };
        match self.inner.engine.execute(origin, code, command).await? {
            Transition::Done(room) => Ok(*room),
            Transition::Rejected(rejection) => Err(rejection_error(rejection)),
        }
    }

    /// A participant of `room` as the protocol shows them now.
    async fn participant_in(
        &self,
        room: &Room,
        user: UserId,
    ) -> Result<wire::Participant, ServiceError> {
        let participant = room.participants.get(&user).ok_or(ServiceError::NotFound)?;
        let announcer = self.inner.engine.announcer();
        let name = announcer.name_of(user).await?;
        let connected = announcer.is_connected(&room.code, user).await?;
        Ok(participant_view(participant, &name, connected, self.now()))
    }
}
