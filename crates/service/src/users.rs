//! Accounts, logins and WebSocket tokens.

use crate::clock;
use crate::error::{invalid, store, ServiceError};
use crate::Service;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use watchparty_domain::{DisplayName, Email, Password, UserId};
use watchparty_persistence::{PersistenceError, StoredUser};
use watchparty_protocol::User;

// Failed logins counted per window; past a limit, attempts get 429 unseen.
const LOGIN_WINDOW: Duration = Duration::from_secs(300);
const MAX_FAILURES_PER_ADDRESS: u64 = 20;
const MAX_FAILURES_PER_EMAIL_FROM_ADDRESS: u64 = 5;
const MAX_FAILURES_PER_EMAIL: u64 = 50;
// An address an account logged in from stays known this long: from there,
// the account's own limit (the one a distributed attack fills) does not apply.
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
    /// Creates an account. The caller logs the new user in.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> Result<User, ServiceError> {
        let email = Email::parse(email).map_err(invalid)?;
        let password = Password::parse(password).map_err(invalid)?;
        let display_name = match display_name {
            Some(name) => DisplayName::parse(name).map_err(invalid)?,
            None => DisplayName::from_email(&email),
        };
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

    /// Checks a password. Throttled per client address and per email; a
    /// correct password is never delayed, only refused while throttled. An
    /// address the account logged in from before is exempt from the
    /// per-email limit, so guessing from elsewhere cannot lock its owner out.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &str,
    ) -> Result<User, ServiceError> {
        let live = &self.inner.live;
        let email = Email::parse(email).ok();
        let email_key = email.as_ref().map(|e| e.as_str()).unwrap_or("-");
        let keys = [
            (format!("login:addr:{client}"), MAX_FAILURES_PER_ADDRESS),
            (
                format!("login:pair:{email_key}:{client}"),
                MAX_FAILURES_PER_EMAIL_FROM_ADDRESS,
            ),
            (format!("login:email:{email_key}"), MAX_FAILURES_PER_EMAIL),
        ];
        let known_key = format!("login:known:{email_key}:{client}");
        let known = live
            .attempts(&known_key)
            .await
            .map_err(crate::error::live)?
            > 0;
        // The per-email limit is the last of the three.
        let applicable = if known { keys.len() - 1 } else { keys.len() };
        for (key, limit) in keys.iter().take(applicable) {
            if live.attempts(key).await.map_err(crate::error::live)? >= *limit {
                self.inner.metrics.failed_logins.fetch_add(1, Relaxed);
                return Err(ServiceError::RateLimited);
            }
        }
        let user = match &email {
            Some(email) => self.inner.db.user_by_email(email).await.map_err(store)?,
            None => None,
        };
        let hash = user.as_ref().map(|u| u.password_hash.clone());
        let ok = self
            .inner
            .passwords
            .verify(password.to_owned(), hash)
            .await?;
        match user {
            // A disabled account answers exactly like a wrong password.
            Some(user) if ok && !user.is_disabled => {
                let (pair_key, _) = &keys[1];
                live.clear_attempts(pair_key)
                    .await
                    .map_err(crate::error::live)?;
                live.count_attempt(&known_key, KNOWN_ADDRESS_FOR)
                    .await
                    .map_err(crate::error::live)?;
                Ok(user_view(user))
            }
            _ => {
                self.inner.metrics.failed_logins.fetch_add(1, Relaxed);
                for (key, _) in &keys {
                    live.count_attempt(key, LOGIN_WINDOW)
                        .await
                        .map_err(crate::error::live)?;
                }
                Err(ServiceError::InvalidCredentials)
            }
        }
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

    /// A token that opens one WebSocket for this user.
    pub async fn issue_ws_token(&self, user: i64) -> Result<IssuedToken, ServiceError> {
        self.me(user).await?;
        let token = self.inner.tokens.issue(UserId(user), clock::now())?;
        Ok(IssuedToken {
            token,
            expires_in: self.inner.tokens.ttl.as_secs(),
        })
    }
}
