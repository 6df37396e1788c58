//! Accounts, logins and WebSocket tokens.

use crate::auth::os_random;
use crate::error::{Classify, ServiceError};
use crate::throttle::{network, Limit};
use crate::Service;
use std::sync::atomic::Ordering::Relaxed;
use watchparty_domain::{DisplayName, Email, Password, UserId};
use watchparty_persistence::{PersistenceError, StoredUser};
use watchparty_protocol::User;

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
        let email = Email::parse(email)?;
        let password = Password::parse(password)?;
        let display_name = match display_name {
            Some(name) => DisplayName::parse(name)?,
            None => DisplayName::from_email(&email),
        };
        let registration = Limit::Registrations {
            network: network(client),
        };
        if !self.throttle().reserve(&[registration], &[]).await? {
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
            .create_user(&email, hash, &display_name, self.now())
            .await
        {
            Ok(user) => Ok(user_view(user)),
            Err(PersistenceError::Conflict) => Err(ServiceError::EmailTaken),
            Err(e) => Err(e).classify(),
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
        let throttle = self.throttle();
        let email = Email::parse(email).ok();
        let typed = email.as_ref().map_or("-", |e| e.as_str()).to_owned();
        let net = network(client);
        let from_address = Limit::LoginFailuresFromAddress {
            network: net.clone(),
        };
        let pair = Limit::LoginFailuresForEmailFromAddress {
            email: typed.clone(),
            network: net.clone(),
        };
        let account = Limit::LoginFailuresForEmail {
            email: typed.clone(),
        };
        let known_address = Limit::KnownLoginAddress {
            email: typed,
            network: net,
        };
        let known = throttle.count(&known_address).await? > 0;
        // From a known address only the per-email-from-address limit refuses;
        // the others still count, in the same atomic step.
        let (enforced, counted_only) = if known {
            (
                vec![pair.clone()],
                vec![from_address.clone(), account.clone()],
            )
        } else {
            (
                vec![from_address.clone(), pair.clone(), account.clone()],
                vec![],
            )
        };
        if !throttle.reserve(&enforced, &counted_only).await? {
            self.inner.metrics.failed_logins.fetch_add(1, Relaxed);
            return Err(ServiceError::RateLimited);
        }
        match self.check_password(email.as_ref(), password).await {
            Ok(Some(user)) => {
                throttle.release(&[from_address, account]).await?;
                throttle.clear(&pair).await?;
                throttle.hit(&known_address).await?;
                Ok(user_view(user))
            }
            Ok(None) => {
                // The reservation stands: it is this failure's count.
                self.inner.metrics.failed_logins.fetch_add(1, Relaxed);
                Err(ServiceError::InvalidCredentials)
            }
            Err(e) => {
                // Not an answer about the password: it must not count.
                if let Err(release) = throttle.release(&[from_address, pair, account]).await {
                    let cause = release.cause_chain().unwrap_or_default();
                    tracing::warn!(error = %release, cause, "a login attempt stays counted");
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
            Some(email) => self.inner.db.user_by_email(email).await.classify()?,
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
            .classify()?;
        Ok(())
    }

    /// Whether the session a token was issued to has logged out.
    pub(crate) async fn logged_out(&self, session: &str) -> Result<bool, ServiceError> {
        Ok(self
            .inner
            .live
            .attempts(&logged_out_key(session))
            .await
            .classify()?
            > 0)
    }

    /// The logged-in user; `NotAuthenticated` if the account is gone or
    /// disabled.
    pub async fn me(&self, user: i64) -> Result<User, ServiceError> {
        self.inner
            .db
            .user_by_id(UserId(user))
            .await
            .classify()?
            .filter(|user| !user.is_disabled)
            .map(user_view)
            .ok_or(ServiceError::NotAuthenticated)
    }

    /// Whether a session's user may still act: the account exists and no
    /// operator disabled it. Asked on every request that carries a session.
    pub async fn is_active(&self, user: i64) -> Result<bool, ServiceError> {
        Ok(self.active_account(user).await?.is_some())
    }

    /// The account of a session's user if it may still act (it exists and
    /// no operator disabled it), as proof for the rest of the same request;
    /// `None` otherwise. One round trip.
    pub async fn active_account(&self, user: i64) -> Result<Option<ActiveAccount>, ServiceError> {
        match self.me(user).await {
            Ok(_) => Ok(Some(ActiveAccount { user: UserId(user) })),
            Err(ServiceError::NotAuthenticated) => Ok(None),
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
        let account = self
            .active_account(user)
            .await?
            .ok_or(ServiceError::NotAuthenticated)?;
        self.issue_ws_token_to(&account, session)
    }

    /// [`Service::issue_ws_token`] for an account this request already
    /// found active: no second look at the database.
    pub fn issue_ws_token_to(
        &self,
        account: &ActiveAccount,
        session: Option<&str>,
    ) -> Result<IssuedToken, ServiceError> {
        let token = self.inner.tokens.issue(account.user, session, self.now())?;
        Ok(IssuedToken {
            token,
            expires_in: self.inner.tokens.ttl.as_secs(),
        })
    }
}

/// An account found active (existing, not disabled) by the check a request
/// starts with; only [`Service::active_account`] makes one, and it is good
/// for that request alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveAccount {
    user: UserId,
}

impl ActiveAccount {
    /// The account's user id.
    pub fn user_id(&self) -> i64 {
        self.user.0
    }
}

// Remembered as long as a token issued before the logout could verify.
fn logged_out_key(session: &str) -> String {
    format!("logout:{session}")
}
