//! Passwords (Argon2id) and WebSocket tokens (HS256 JWT, single use).

use crate::error::ServiceError;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use jsonwebtoken::{decode, encode, DecodingKey, EncodingKey, Header, Validation};
use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use watchparty_domain::{Millis, UserId};

/// Fills a buffer from the operating system's random source.
pub(crate) fn os_random<const N: usize>() -> Result<[u8; N], ServiceError> {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "OS random source failed");
        ServiceError::Internal
    })?;
    Ok(bytes)
}

/// Hashes and verifies passwords off the async reactor, a bounded number at once.
pub(crate) struct Passwords {
    argon: Argon2<'static>,
    permits: Arc<Semaphore>,
    // Verified against for unknown emails, so their timing matches known ones.
    dummy_hash: String,
}

impl Passwords {
    pub(crate) async fn new() -> Result<Self, ServiceError> {
        // OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
        let params = Params::new(19 * 1024, 2, 1, None).map_err(|_| ServiceError::Internal)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let parallel = std::thread::available_parallelism().map_or(2, usize::from);
        let mut passwords = Passwords {
            argon,
            permits: Arc::new(Semaphore::new(parallel)),
            dummy_hash: String::new(),
        };
        let random: [u8; 24] = os_random()?;
        passwords.dummy_hash = passwords.hash(format!("{random:?}")).await?;
        Ok(passwords)
    }

    pub(crate) async fn hash(&self, password: String) -> Result<String, ServiceError> {
        let salt_bytes: [u8; 16] = os_random()?;
        let argon = self.argon.clone();
        self.blocking(move || {
            let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| ServiceError::Internal)?;
            argon
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|_| ServiceError::Internal)
        })
        .await
    }

    /// Checks `password` against `hash`, or against the dummy hash when there
    /// is no user, so both cases cost the same.
    pub(crate) async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, ServiceError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.clone());
        let argon = self.argon.clone();
        self.blocking(move || {
            let matches = PasswordHash::new(&hash)
                .map(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false);
            Ok(known && matches)
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ServiceError::Internal)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| ServiceError::Internal)?
    }
}

const ISSUER: &str = "watchparty";
const AUDIENCE: &str = "watchparty-ws";
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    iat: u64,
    iss: String,
    aud: String,
    jti: String,
}

/// A token verified by signature and times, not yet claimed.
pub(crate) struct VerifiedToken {
    pub(crate) user: UserId,
    pub(crate) jti: String,
}

/// Issues and verifies the short-lived tokens that open one WebSocket each.
pub(crate) struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub(crate) ttl: Duration,
}

impl Tokens {
    /// Fails if the crypto backend cannot sign and verify: better at start-up than on first use.
    pub(crate) fn new(secret: &[u8], ttl: Duration) -> Result<Self, ServiceError> {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "aud", "iss"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        let tokens = Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        };
        let probe = tokens.issue(UserId(0), crate::clock::now())?;
        tokens.verify(&probe).map_err(|_| ServiceError::Internal)?;
        Ok(tokens)
    }

    pub(crate) fn issue(&self, user: UserId, now: Millis) -> Result<String, ServiceError> {
        let iat = u64::try_from(now.0 / 1000).unwrap_or(0);
        let jti: [u8; 16] = os_random()?;
        let claims = Claims {
            sub: user.0.to_string(),
            iat,
            exp: iat + self.ttl.as_secs(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
        };
        encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.encoding,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "cannot sign a token");
            ServiceError::Internal
        })
    }

    pub(crate) fn verify(&self, token: &str) -> Result<VerifiedToken, ServiceError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ServiceError::NotAuthenticated)?;
        let user = data
            .claims
            .sub
            .parse()
            .map(UserId)
            .map_err(|_| ServiceError::NotAuthenticated)?;
        if data.claims.jti.is_empty() {
            return Err(ServiceError::NotAuthenticated);
        }
        Ok(VerifiedToken {
            user,
            jti: data.claims.jti,
        })
    }

    /// How long a claimed jti must be remembered: as long as its token could verify.
    pub(crate) fn claim_ttl(&self) -> Duration {
        self.ttl + Duration::from_secs(LEEWAY_SECS + 1)
    }
}
