//! What operators do from the command line (`watchparty user …`,
//! `watchparty room close`), on the database the servers share, and how every
//! serving instance then carries it out on its own sockets.
//!
//! The command line writes the database only: it cannot reach a server's
//! memory. Each instance looks, every few seconds, at the users and rooms of
//! its own sockets and ends what the database says has ended.

use crate::clock::rfc3339;
use crate::clock::{Clock, SystemClock};
use crate::engine::removed_close;
use crate::error::{Classify, ServiceError};
use crate::{open_database, DatabaseConfig, Service, StartupError};
use std::time::Duration;
use watchparty_domain::{BanKind, Command, Email, PeopleNeeded, RoomCode, UserId};
use watchparty_persistence::{Database, StoredUser};
use watchparty_protocol as wire;
use watchparty_realtime_cache::{Audience, Broadcast, BroadcastSink};

/// How often an instance checks its sockets against the database; a disabled
/// account's or a closed room's sockets end within this (well inside 30 s).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(5);

/// The close code for the sockets of an account an operator disabled.
pub const ACCOUNT_DISABLED_CLOSE: u16 = 1008;

/// An account as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id.
    pub id: i64,
    /// Its (normalized) email.
    pub email: String,
    /// The name others see.
    pub display_name: String,
    /// Whether it is disabled.
    pub is_disabled: bool,
}

impl From<StoredUser> for Account {
    fn from(user: StoredUser) -> Self {
        Account {
            id: user.id.0,
            email: user.email,
            display_name: user.display_name,
            is_disabled: user.is_disabled,
        }
    }
}

/// The operator's side: the database and nothing else.
#[derive(Debug, Clone)]
pub struct Operator {
    db: Database,
}

impl Operator {
    /// Opens (and migrates) the database the servers use.
    pub async fn open(database: &DatabaseConfig) -> Result<Self, StartupError> {
        let (db, _) = open_database(&database.url, database.connect_timeout).await?;
        Ok(Operator { db })
    }

    /// Up to `limit` accounts with ids above `after`, by id.
    pub async fn accounts(&self, after: i64, limit: i64) -> Result<Vec<Account>, ServiceError> {
        let users = self.db.users_after(UserId(after), limit).await.classify()?;
        Ok(users.into_iter().map(Account::from).collect())
    }

    /// Disables or enables the account with this email: a disabled account
    /// cannot log in, and its sessions and sockets end. `NotFound` when no
    /// account has the email.
    pub async fn set_disabled(&self, email: &str, disabled: bool) -> Result<Account, ServiceError> {
        let email = Email::parse(email).map_err(|_| ServiceError::NotFound)?;
        let at = disabled.then(|| SystemClock.now());
        match self.db.set_user_disabled(&email, at).await.classify()? {
            Some(user) => Ok(user.into()),
            None => Err(ServiceError::NotFound),
        }
    }

    /// Closes a room for good, as its owner's delete would: the serving
    /// instances announce `ROOM_CLOSED` `deleted` and close its sockets with
    /// 4001. `NotFound` for an unknown or already deleted code.
    pub async fn close_room(&self, code: &str) -> Result<(), ServiceError> {
        let code = RoomCode::parse(code).map_err(|_| ServiceError::NotFound)?;
        let (room, _) = self
            .db
            .room_by_code(&code)
            .await
            .classify()?
            .ok_or(ServiceError::NotFound)?;
        let now = SystemClock.now();
        // The owner's own command, so the room ends exactly as a delete ends it.
        let outcome = room
            .apply(
                Command::Delete { actor: room.owner },
                now,
                watchparty_domain::HostGrace::from_secs(0),
            )
            .map_err(|_| ServiceError::NotFound)?;
        if self
            .db
            .save_room(&room, &outcome.room, now)
            .await
            .classify()?
        {
            Ok(())
        } else {
            // Someone changed the room meanwhile (a host, the sweeper): the
            // operator asks again and sees the room as it is now.
            Err(ServiceError::unavailable(
                "the room changed while it was being closed",
            ))
        }
    }
}

impl Service {
    /// Ends, on this instance, the sockets of disabled accounts and of rooms
    /// deleted behind its back (by `watchparty room close`), every
    /// [`RECONCILE_EVERY`], until `stop` is cancelled.
    pub async fn run_reconciler(&self, stop: tokio_util::sync::CancellationToken) {
        let mut tick = tokio::time::interval(RECONCILE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.reconcile().await {
                let cause = e.cause_chain().unwrap_or_default();
                tracing::warn!(error = %e, cause, "cannot check sockets against the database");
            }
        }
    }

    async fn reconcile(&self) -> Result<(), ServiceError> {
        let inner = &self.inner;
        // Polled whatever the traffic: counted apart from requests.
        let db = inner.db.background();
        let users = inner.hub.local_users();
        if !users.is_empty() {
            for user in db.inactive_users_among(users).await.classify()? {
                tracing::info!(user = user.0, "closing the sockets of a disabled account");
                inner.hub.close_user(user, ACCOUNT_DISABLED_CLOSE);
            }
        }
        let rooms = inner.hub.local_rooms();
        if !rooms.is_empty() {
            let closed = wire::ServerMessage::RoomClosed {
                reason: wire::CloseReason::Deleted,
            };
            for code in db.deleted_rooms_among(rooms).await.classify()? {
                tracing::info!(room = %code, "closing the sockets of a room closed by an operator");
                // This instance's sockets only: every instance does its own.
                inner.hub.deliver(
                    &code,
                    &Broadcast {
                        payload: closed.to_json().into(),
                        to: Audience::Everyone,
                        except: None,
                        then_close: Some(wire::CloseReason::Deleted.close_code()),
                    },
                );
            }
        }
        self.close_removed().await
    }

    /// Closes this instance's sockets of users who are no longer
    /// participants (kicked or banned): the removal's own message may have
    /// been lost between instances, the database's word is not.
    async fn close_removed(&self) -> Result<(), ServiceError> {
        let inner = &self.inner;
        let now = self.now();
        let db = inner.db.background();
        for (code, users) in inner.hub.local_members() {
            let people = PeopleNeeded::Only(users.clone());
            let Some((room, _)) = db.room_with(&code, &people).await.classify()? else {
                continue;
            };
            for user in users
                .into_iter()
                .filter(|u| !room.participants.contains_key(u))
            {
                let ban = room.ban_on(user, now);
                let kind = ban.map_or(BanKind::Kick, |b| b.kind);
                let notice = wire::ServerMessage::Removed {
                    action: kind.action().to_owned(),
                    reason: ban.and_then(|b| b.reason.as_ref().map(|r| r.as_str().to_owned())),
                    until: ban.and_then(|b| b.expires.instant()).map(rfc3339),
                };
                tracing::info!(room = %code, user = user.0, "closing the sockets of a removed participant");
                inner.hub.deliver(
                    &code,
                    &Broadcast {
                        payload: notice.to_json().into(),
                        to: Audience::Users(vec![user]),
                        except: None,
                        then_close: Some(removed_close(kind)),
                    },
                );
            }
        }
        Ok(())
    }
}
