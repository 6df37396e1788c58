//! Who is in the room and who drives it: joins, roles, host changes and
//! moderation (contract §7, §8, §13 rules 5–9 and 13–14).

use super::{
    CloseReason, Event, HostChange, HostChangeReason, HostGrace, Missing, Outcome,
    ParticipantChange, Rejection, Room, RoomStatus,
};
use crate::ids::{Millis, UserId};
use crate::members::{Ban, BanDuration, BanKind, Expiry, Participant, Reason, RejoinAfter};
use crate::roles::{AssignedRole, Capability, OnHostTimeout, Role};

/// Whether the new host has a live socket in the room when they become host.
#[derive(Debug, Clone, Copy)]
enum Arrival {
    /// Connected: the room is open (a grace in progress ends).
    Connected,
    /// Away: grace starts at once, with a fresh deadline (§13 rule 5).
    Away(HostGrace),
}

impl Room {
    /// Settles an overdue grace at `now`, given who is connected now (live
    /// state). With `on_host_timeout: close`, or with nobody eligible, the
    /// room closes as in section 5. With `promote`, it goes to the successor
    /// ([`Room::successor`]) and opens again, playback paused where it froze.
    /// `None` when nothing is due.
    pub fn expire_or_promote(&self, now: Millis, connected: &[UserId]) -> Option<Outcome> {
        let RoomStatus::Grace { deadline, .. } = self.status else {
            return None;
        };
        if now < deadline {
            return None;
        }
        if self.settings.on_host_timeout == OnHostTimeout::Promote {
            if let Some(successor) = self.successor(now, connected) {
                return Some(self.hand_over(
                    successor,
                    HostChangeReason::Promoted,
                    None,
                    Arrival::Connected,
                    now,
                ));
            }
        }
        Some(Outcome {
            room: Room {
                status: RoomStatus::Closed,
                ..self.clone()
            },
            events: vec![Event::Closed {
                reason: CloseReason::HostTimeout,
            }],
        })
    }

    /// Who would be promoted at `now`: the co-host connected now who became
    /// co-host first, else the connected participant who joined first; never
    /// the host, never someone muted. Ties go to the lower user id.
    pub fn successor(&self, now: Millis, connected: &[UserId]) -> Option<UserId> {
        let eligible = || {
            self.participants.values().filter(|p| {
                p.user != self.host && connected.contains(&p.user) && !p.is_muted_at(now)
            })
        };
        let co_host = eligible()
            .filter(|p| p.role == Role::CoHost)
            .min_by_key(|p| (p.became_co_host_at, p.joined_at, p.user));
        co_host
            .or_else(|| eligible().min_by_key(|p| (p.joined_at, p.user)))
            .map(|p| p.user)
    }

    /// Lifts the mutes and clears the bans whose expiry has passed by `now`;
    /// `None` when none has. Lapses are the server's own changes (`by` null).
    pub fn lapse_due(&self, now: Millis) -> Option<Outcome> {
        if self.status.is_final() {
            return None;
        }
        let mut room = self.clone();
        let mut events = Vec::new();
        for participant in room.participants.values_mut() {
            if participant.muted.is_some_and(|m| !m.holds_at(now)) {
                participant.muted = None;
                events.push(Event::ParticipantUpdated {
                    participant: participant.clone(),
                    change: ParticipantChange::Unmuted,
                    by: None,
                });
            }
        }
        room.bans.retain(|user, ban| {
            let holds = ban.holds_at(now);
            if !holds {
                events.push(Event::BanLifted {
                    user: *user,
                    kind: ban.kind,
                    by: None,
                });
            }
            holds
        });
        (!events.is_empty()).then_some(Outcome { room, events })
    }

    pub(super) fn join(&self, user: UserId, now: Millis) -> Result<Outcome, Rejection> {
        if let Some(ban) = self.ban_on(user, now) {
            return Err(Rejection::Banned {
                until: ban.expires.instant(),
            });
        }
        if self.participants.contains_key(&user) {
            return Ok(self.unchanged_with(Vec::new()));
        }
        let participant = Participant::viewer(user, now);
        let mut room = self.clone();
        room.participants.insert(user, participant.clone());
        Ok(Outcome {
            room,
            events: vec![Event::ParticipantJoined { participant }],
        })
    }

    pub(super) fn set_role(
        &self,
        actor: UserId,
        target: UserId,
        role: AssignedRole,
        now: Millis,
    ) -> Result<Outcome, Rejection> {
        if !self.may(actor, Capability::ManageRoles, now) {
            return Err(Rejection::NotHost);
        }
        let current = self
            .participants
            .get(&target)
            .ok_or(Rejection::NotFound(Missing::Participant))?;
        if current.role == Role::Host {
            return Err(Rejection::Conflict);
        }
        let role = Role::from(role);
        if current.role == role {
            return Ok(self.unchanged_with(Vec::new()));
        }
        let participant = Participant {
            role,
            became_co_host_at: (role == Role::CoHost).then_some(now),
            ..current.clone()
        };
        Ok(self.with_participant(participant, ParticipantChange::Role(role), actor))
    }

    pub(super) fn change_host(
        &self,
        actor: UserId,
        target: UserId,
        target_connected: bool,
        now: Millis,
        grace: HostGrace,
    ) -> Result<Outcome, Rejection> {
        let arrival = if target_connected {
            Arrival::Connected
        } else {
            Arrival::Away(grace)
        };
        let reason = if actor == self.owner && target == self.owner {
            // The owner's right: at any time, connected or not.
            HostChangeReason::Reclaimed
        } else if actor == self.host {
            if !self.participants.contains_key(&target) {
                return Err(Rejection::NotFound(Missing::Participant));
            }
            if target != self.host && !target_connected {
                return Err(Rejection::NotConnected);
            }
            HostChangeReason::Transferred
        } else if target == actor
            && self.role_of(actor) == Some(Role::CoHost)
            && matches!(self.status, RoomStatus::Grace { .. })
        {
            HostChangeReason::Claimed
        } else {
            return Err(Rejection::Forbidden);
        };
        if target == self.host {
            // Handing the room to its host changes nothing (§13 rule 8).
            return Ok(self.unchanged_with(Vec::new()));
        }
        Ok(self.hand_over(target, reason, Some(actor), arrival, now))
    }

    /// Makes `new_host` the host: the previous host becomes a co-host, the
    /// new one loses any mute, the epoch grows, and a grace ends (or starts,
    /// when the new host is away).
    fn hand_over(
        &self,
        new_host: UserId,
        reason: HostChangeReason,
        by: Option<UserId>,
        arrival: Arrival,
        now: Millis,
    ) -> Outcome {
        let mut room = self.clone();
        let previous = self.host;
        if let Some(p) = room.participants.get_mut(&previous) {
            p.role = Role::CoHost;
            p.became_co_host_at = Some(now);
        }
        let next = room
            .participants
            .entry(new_host)
            .or_insert_with(|| Participant::viewer(new_host, now));
        next.role = Role::Host;
        next.became_co_host_at = None;
        next.muted = None;
        room.host = new_host;
        room.host_epoch = self.host_epoch.saturating_add(1);
        let mut events = vec![Event::HostChanged(HostChange {
            host: new_host,
            previous,
            reason,
            host_epoch: room.host_epoch,
            by,
        })];
        let in_grace = matches!(self.status, RoomStatus::Grace { .. });
        match arrival {
            Arrival::Connected if in_grace => {
                // Still paused where it froze, until the new host plays.
                let playback = self.announced(self.playback.at(now, false));
                room.status = RoomStatus::Open;
                room.playback = playback;
                events.push(Event::GraceEnded { playback });
            }
            Arrival::Connected => {}
            Arrival::Away(grace) => {
                let deadline = now.plus_millis(grace.millis);
                let playback = self.announced(self.playback.at(now, false));
                // A grace that started earlier froze a paused room: nothing
                // to resume when this host arrives.
                let was_playing = !in_grace && self.playback.is_playing;
                room.status = RoomStatus::Grace {
                    deadline,
                    was_playing,
                };
                room.playback = playback;
                events.push(Event::GraceStarted { deadline, playback });
            }
        }
        Outcome { room, events }
    }

    /// Who may moderate whom (§8): the actor needs `moderate`; the target
    /// must not be the owner, the host, the actor, or — for a co-host
    /// acting — another co-host.
    fn may_moderate(&self, actor: UserId, target: UserId) -> Result<(), Rejection> {
        let outranks = target == self.owner
            || target == self.host
            || target == actor
            || (self.role_of(actor) == Some(Role::CoHost)
                && self.role_of(target) == Some(Role::CoHost));
        if outranks {
            Err(Rejection::TargetOutranks)
        } else {
            Ok(())
        }
    }

    fn require_moderator(&self, actor: UserId, now: Millis) -> Result<(), Rejection> {
        if self.may(actor, Capability::Moderate, now) {
            Ok(())
        } else {
            Err(Rejection::Forbidden)
        }
    }

    fn participant_of(&self, target: UserId) -> Result<&Participant, Rejection> {
        self.participants
            .get(&target)
            .ok_or(Rejection::NotFound(Missing::Participant))
    }

    pub(super) fn kick(
        &self,
        actor: UserId,
        target: UserId,
        reason: Option<Reason>,
        rejoin_after: RejoinAfter,
        now: Millis,
    ) -> Result<Outcome, Rejection> {
        self.require_moderator(actor, now)?;
        self.participant_of(target)?;
        self.may_moderate(actor, target)?;
        let ban = Ban {
            user: target,
            kind: BanKind::Kick,
            reason,
            by: actor,
            created_at: now,
            expires: Expiry::At(now.plus_secs(rejoin_after.secs())),
        };
        Ok(self.keep_out(ban))
    }

    pub(super) fn ban(
        &self,
        actor: UserId,
        target: UserId,
        reason: Option<Reason>,
        duration: Option<BanDuration>,
        now: Millis,
    ) -> Result<Outcome, Rejection> {
        self.require_moderator(actor, now)?;
        self.may_moderate(actor, target)?;
        let ban = Ban {
            user: target,
            kind: BanKind::Ban,
            reason,
            by: actor,
            created_at: now,
            expires: BanDuration::expiry(duration, now),
        };
        Ok(self.keep_out(ban))
    }

    /// Places a ban (replacing any) and removes its user from the participants.
    fn keep_out(&self, ban: Ban) -> Outcome {
        let mut room = self.clone();
        let removed = room.participants.remove(&ban.user).is_some();
        room.bans.insert(ban.user, ban.clone());
        Outcome {
            room,
            events: vec![Event::BanPlaced { ban, removed }],
        }
    }

    pub(super) fn unban(
        &self,
        actor: UserId,
        target: UserId,
        now: Millis,
    ) -> Result<Outcome, Rejection> {
        self.require_moderator(actor, now)?;
        let kind = self
            .ban_on(target, now)
            .ok_or(Rejection::NotFound(Missing::Ban))?
            .kind;
        let mut room = self.clone();
        room.bans.remove(&target);
        Ok(Outcome {
            room,
            events: vec![Event::BanLifted {
                user: target,
                kind,
                by: Some(actor),
            }],
        })
    }

    pub(super) fn mute(
        &self,
        actor: UserId,
        target: UserId,
        duration: Option<BanDuration>,
        now: Millis,
    ) -> Result<Outcome, Rejection> {
        self.require_moderator(actor, now)?;
        let current = self.participant_of(target)?;
        self.may_moderate(actor, target)?;
        let expiry = BanDuration::expiry(duration, now);
        if current.mute_at(now) == Some(expiry) {
            // Muted until lifted already: nothing changes (§13 rule 8).
            return Ok(self.unchanged_with(Vec::new()));
        }
        let participant = Participant {
            muted: Some(expiry),
            ..current.clone()
        };
        Ok(self.with_participant(participant, ParticipantChange::Muted(expiry), actor))
    }

    pub(super) fn unmute(
        &self,
        actor: UserId,
        target: UserId,
        now: Millis,
    ) -> Result<Outcome, Rejection> {
        self.require_moderator(actor, now)?;
        let current = self.participant_of(target)?;
        self.may_moderate(actor, target)?;
        if current.mute_at(now).is_none() {
            return Err(Rejection::NotFound(Missing::Mute));
        }
        let participant = Participant {
            muted: None,
            ..current.clone()
        };
        Ok(self.with_participant(participant, ParticipantChange::Unmuted, actor))
    }

    fn with_participant(
        &self,
        participant: Participant,
        change: ParticipantChange,
        by: UserId,
    ) -> Outcome {
        let mut room = self.clone();
        room.participants
            .insert(participant.user, participant.clone());
        Outcome {
            room,
            events: vec![Event::ParticipantUpdated {
                participant,
                change,
                by: Some(by),
            }],
        }
    }
}
