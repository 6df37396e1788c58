//! Which rooms a user may see, within a budget against probing for codes.

use crate::error::ServiceError;
use crate::throttle::{network, Limit};
use crate::{Caller, Service};
use watchparty_domain::{Room, RoomCode, RoomStatus};
use watchparty_persistence::StoredParticipant;

/// Why a room is looked up: to look at it, or to join it (the code is the
/// invitation: a private room can be joined, not peeked at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Read it: a private room is hidden from non-participants.
    Peek,
    /// Become a participant: a private room is found by its code.
    Join,
}

/// A room a caller may see, settled, with its host's name and the caller's
/// membership (for a join, `None` may also mean "not known": the join
/// itself decides).
pub(crate) struct Visible {
    pub(crate) room: Room,
    pub(crate) host_name: String,
    pub(crate) participant: Option<StoredParticipant>,
    /// The room's stamp read before `room` was (see `rows.rs`).
    pub(crate) stamp: u64,
}

impl Service {
    /// Finds a room for the caller within the probing budget: unknown,
    /// deleted and private-to-others answer alike (404), and too many such
    /// misses answer 429. The user's budget is reserved before the lookup
    /// and given back on a hit, so parallel guesses cannot outrun it; the
    /// address's is checked before and counted on a miss. (Reserving the
    /// address's would refuse many users behind one address who open rooms
    /// at the same moment; one user's parallel guesses are what the user's
    /// reservation stops.)
    pub(crate) async fn find_room(
        &self,
        caller: &Caller,
        code: &str,
        why: Lookup,
    ) -> Result<Visible, ServiceError> {
        let throttle = self.throttle();
        let by_user = Limit::LookupMissesByUser(caller.user);
        let by_address = Limit::LookupMissesFromAddress {
            network: network(&caller.address),
        };
        if throttle.is_spent(&by_address).await? {
            return Err(ServiceError::RateLimited);
        }
        if !throttle
            .reserve(std::slice::from_ref(&by_user), &[])
            .await?
        {
            return Err(ServiceError::RateLimited);
        }
        let found = self.lookup(caller, code, why).await;
        if !matches!(found, Err(ServiceError::NotFound)) {
            // A hit, or a failure that says nothing about the code: not a miss.
            throttle.release(&[by_user]).await?;
            return found;
        }
        if !throttle.hit(&by_address).await? {
            return Err(ServiceError::RateLimited);
        }
        Err(ServiceError::NotFound)
    }

    /// The room as the caller may see it, settled; `NotFound` for an unknown
    /// code, a deleted room, and a private room to a non-participant who is
    /// not joining.
    async fn lookup(
        &self,
        caller: &Caller,
        code: &str,
        why: Lookup,
    ) -> Result<Visible, ServiceError> {
        // The caller's own participation and ban are all a lookup reads, and
        // a join only the room's row: from this instance's copy of them when
        // it is provably fresh (rows.rs), otherwise in one round trip.
        let rows = self.inner.engine.rows();
        let found = match (RoomCode::parse(code), why) {
            (Ok(code), Lookup::Peek) => rows.member(&code, caller.user).await?,
            (Ok(code), Lookup::Join) => rows.for_join(&code, caller.user).await?,
            (Err(_), _) => None,
        };
        let Some(seen) = found.filter(|seen| seen.room.status != RoomStatus::Deleted) else {
            return Err(ServiceError::NotFound);
        };
        let (room, participant) = (seen.room, seen.member);
        let private = room.settings.is_private;
        // A private room is, to someone it keeps out, an unknown code. (A
        // copy holds no bans, but it only ever answers for a member, or for
        // a join, which checks bans itself.)
        let banned = room.ban_on(caller.user, self.now()).is_some();
        if private && (banned || (participant.is_none() && why == Lookup::Peek)) {
            return Err(ServiceError::NotFound);
        }
        let (room, host_name) = self.inner.engine.settle(room, seen.host_name).await?;
        Ok(Visible {
            room,
            host_name,
            participant,
            stamp: seen.stamp,
        })
    }
}
