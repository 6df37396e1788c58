//! Accounts, logins and WebSocket tokens.

use crate::auth::os_random;
use crate::clock;
use crate::error::{invalid, store, ServiceError};
use crate::limits::network;
use crate::Service;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use watchparty_domain::{DisplayName, Email, Password, UserId};
use watchparty_persistence::{PersistenceError, StoredUser};
use watchparty_protocol::User;
use watchparty_realtime_cache::Counter;

// Failed logins counted per window; past a limit, attempts get 429 unseen.
const LOGIN_WINDOW: Duration = Duration::from_secs(300);
const MAX_FAILURES_PER_ADDRESS: u64 = 20;
const MAX_FAILURES_PER_EMAIL_FROM_ADDRESS: u64 = 5;
const MAX_FAILURES_PER_EMAIL: u64 = 50;
// An address an account logged in from stays known this long: from there,
// neither the account's own limit (the one a distributed attack fills) nor
// the address's (the one others behind the same NAT fill) applies.
const KNOWN_ADDRESS_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

fn user_view(user: StoredUser) -> User {
    User {
        id: user.id.0,
        email: user.email,
        display_name: user.display_name,
    }
}

/// A freshly issued WebSocket token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl Service {
    /// Creates an account. The caller logs the new user in. Each attempt from
    /// an address counts, whether it creates an account or finds the email
    /// taken, so that the limit answers both alike; the count is taken
    /// before the password is hashed.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        display_name: Option<&str>,
        client: &str,
    ) -> Result<User, ServiceError> {
        let email = Email::parse(email).map_err(invalid)?;
        let password = Password::parse(password).map_err(invalid)?;
        let display_name = match display_name {
            Some(name) => DisplayName::parse(name).map_err(invalid)?,
            None => DisplayName::from_email(&email),
        };
        let limits = self.inner.limits;
        let key = format!("register:addr:{}", network(client));
        let counter = Counter {
            key: &key,
            limit: Some(limits.registrations_per_address),
        };
        if self
            .inner
            .live
            .reserve(&[counter], limits.registration_window)
            .await
            .map_err(crate::error::live)?
            .is_some()
        {
            return Err(ServiceError::RateLimited);
        }
        let hash = self
            .inner
            .passwords
            .hash(password.expose().to_owned())
            .await?;
        match self
            .inner
            .db
            .create_user(&email, hash, &display_name, clock::now())
            .await
        {
            Ok(user) => Ok(user_view(user)),
            Err(PersistenceError::Conflict) => Err(ServiceError::EmailTaken),
            Err(e) => Err(store(e)),
        }
    }

    /// Checks a password. Throttled per client address (per /64 for IPv6),
    /// per email from that address and per email; a correct password is
    /// never delayed, only refused while throttled.
    ///
    /// Each attempt is counted as a failure before the password is hashed
    /// and given back if it succeeds, so no number of parallel attempts gets
    /// past a limit. From an address the account logged in from before,
    /// neither the per-email limit (which guesses from elsewhere fill) nor
    /// the per-address one (which others behind the same NAT fill) applies;
    /// the per-email-from-address limit always does.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &str,
    ) -> Result<User, ServiceError> {
        let live = &self.inner.live;
        let email = Email::parse(email).ok();
        let email_key = email.as_ref().map(|e| e.as_str()).unwrap_or("-");
        let net = network(client);
        let addr_key = format!("login:addr:{net}");
        let pair_key = format!("login:pair:{email_key}:{net}");
        let account_key = format!("login:email:{email_key}");
        let known_key = format!("login:known:{email_key}:{net}");
        let known = live
            .attempts(&known_key)
            .await
            .map_err(crate::error::live)?
            > 0;
        let unless_known = |limit| (!known).then_some(limit);
        let counters = [
            Counter {
                key: &addr_key,
                limit: unless_known(MAX_FAILURES_PER_ADDRESS),
            },
            Counter {
                key: &pair_key,
                limit: Some(MAX_FAILURES_PER_EMAIL_FROM_ADDRESS),
            },
            Counter {
                key: &account_key,
                limit: unless_known(MAX_FAILURES_PER_EMAIL),
            },
        ];
        if live
            .reserve(&counters, LOGIN_WINDOW)
            .await
            .map_err(crate::error::live)?
            .is_some()
        {
            self.inner.metrics.failed_logins.fetch_add(1, Relaxed);
            return Err(ServiceError::RateLimited);
        }
        match self.check_password(email.as_ref(), password).await {
            Ok(Some(user)) => {
                live.release(&[&addr_key, &account_key])
                    .await
                    .map_err(crate::error::live)?;
                live.clear_attempts(&pair_key)
                    .await
                    .map_err(crate::error::live)?;
                live.count_attempt(&known_key, KNOWN_ADDRESS_FOR)
                    .await
                    .map_err(crate::error::live)?;
                Ok(user_view(user))
            }
            Ok(None) => {
                // The reservation stands: it is this failure's count.
                self.inner.metrics.failed_logins.fetch_add(1, Relaxed);
                Err(ServiceError::InvalidCredentials)
            }
            Err(e) => {
                // Not an answer about the password: it must not count.
                if let Err(release) = live.release(&[&addr_key, &pair_key, &account_key]).await {
                    tracing::warn!(error = %release, "a login attempt stays counted");
                }
                Err(e)
            }
        }
    }

    /// The user whose password this is, or `None`; as slow for unknown emails.
    async fn check_password(
        &self,
        email: Option<&Email>,
        password: &str,
    ) -> Result<Option<StoredUser>, ServiceError> {
        let user = match email {
            Some(email) => self.inner.db.user_by_email(email).await.map_err(store)?,
            None => None,
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = self
            .inner
            .passwords
            .verify(password.to_owned(), hash)
            .await?;
        // A disabled account answers exactly like a wrong password.
        Ok(user.filter(|user| ok && !user.is_disabled))
    }

    /// A fresh identifier for a login session, which the tokens issued to
    /// it carry, so that [`Service::logout`] can refuse them.
    pub fn new_session_id(&self) -> Result<String, ServiceError> {
        let bytes: [u8; 16] = os_random()?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Ends a login session: the WebSocket tokens issued to it are refused
    /// from now on, on every instance.
    pub async fn logout(&self, session: &str) -> Result<(), ServiceError> {
        self.inner
            .live
            .count_attempt(&logged_out_key(session), self.inner.tokens.claim_ttl())
            .await
            .map_err(crate::error::live)?;
        Ok(())
    }

    /// Whether the session a token was issued to has logged out.
    pub(crate) async fn logged_out(&self, session: &str) -> Result<bool, ServiceError> {
        Ok(self
            .inner
            .live
            .attempts(&logged_out_key(session))
            .await
            .map_err(crate::error::live)?
            > 0)
    }

    /// The logged-in user; `NotAuthenticated` if the account is gone or
    /// disabled.
    pub async fn me(&self, user: i64) -> Result<User, ServiceError> {
        self.inner
            .db
            .user_by_id(UserId(user))
            .await
            .map_err(store)?
            .filter(|user| !user.is_disabled)
            .map(user_view)
            .ok_or(ServiceError::NotAuthenticated)
    }

    /// Whether a session's user may still act: the account exists and no
    /// operator disabled it. Asked on every request that carries a session.
    pub async fn is_active(&self, user: i64) -> Result<bool, ServiceError> {
        match self.me(user).await {
            Ok(_) => Ok(true),
            Err(ServiceError::NotAuthenticated) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A token that opens one WebSocket for this user, bound to the login
    /// session it is issued to.
    pub async fn issue_ws_token(
        &self,
        user: i64,
        session: Option<&str>,
    ) -> Result<IssuedToken, ServiceError> {
        self.me(user).await?;
        let token = self
            .inner
            .tokens
            .issue(UserId(user), session, clock::now())?;
        Ok(IssuedToken {
            token,
            expires_in: self.inner.tokens.ttl.as_secs(),
        })
    }
}

// Remembered as long as a token issued before the logout could verify.
fn logged_out_key(session: &str) -> String {
    format!("logout:{session}")
}
