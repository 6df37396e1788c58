//! Passwords (Argon2id) and WebSocket tokens (HS256 JWT, single use).

use crate::error::ServiceError;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use jsonwebtoken::{decode, encode, DecodingKey, EncodingKey, Header, Validation};
use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
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
    params: Params,
    permits: Arc<Semaphore>,
    // One Argon2 working area per permit, reused: allocating 19 MiB per hash
    // on ever-changing blocking threads left glibc holding hundreds of MiB
    // after a burst of sign-ups.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    // Verified against for unknown emails, so their timing matches known ones.
    dummy_hash: String,
}

// The tag length Argon2's PHC strings use by default.
const TAG_BYTES: usize = 32;

impl Passwords {
    pub(crate) async fn new() -> Result<Self, ServiceError> {
        // OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
        let params = Params::new(19 * 1024, 2, 1, None).map_err(|_| ServiceError::Internal)?;
        let parallel = std::thread::available_parallelism().map_or(2, usize::from);
        let mut passwords = Passwords {
            params,
            permits: Arc::new(Semaphore::new(parallel)),
            memory: Arc::new(Mutex::new(Vec::with_capacity(parallel))),
            dummy_hash: String::new(),
        };
        let random: [u8; 24] = os_random()?;
        passwords.dummy_hash = passwords.hash(format!("{random:?}")).await?;
        Ok(passwords)
    }

    pub(crate) async fn hash(&self, password: String) -> Result<String, ServiceError> {
        let salt_bytes: [u8; 16] = os_random()?;
        let params = self.params.clone();
        self.blocking(move |memory| {
            let internal = |_| ServiceError::Internal;
            let salt = SaltString::encode_b64(&salt_bytes).map_err(internal)?;
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let mut tag = [0u8; TAG_BYTES];
            argon
                .hash_password_into_with_memory(password.as_bytes(), &salt_bytes, &mut tag, memory)
                .map_err(|_| ServiceError::Internal)?;
            let phc = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).map_err(internal)?,
                salt: Some(salt.as_salt()),
                hash: Some(Output::new(&tag).map_err(internal)?),
            };
            Ok(phc.to_string())
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
        self.blocking(move |memory| {
            // Hashed first in every case: `known && matches(..)` would skip
            // the work for unknown emails, and the timing would tell.
            let matched = matches(&password, &hash, memory);
            Ok(known && matched)
        })
        .await
    }

    /// Runs `f` on a blocking thread with a working area of Argon2 blocks.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ServiceError::Internal)?;
        let pool = self.memory.clone();
        let blocks = self.params.block_count();
        tokio::task::spawn_blocking(move || {
            let taken = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut memory = taken.unwrap_or_else(|| vec![Block::default(); blocks]);
            let result = f(&mut memory);
            pool.lock().unwrap_or_else(|p| p.into_inner()).push(memory);
            result
        })
        .await
        .map_err(|_| ServiceError::Internal)?
    }
}

/// Whether `password` hashes to the PHC string `hash`, compared in constant time.
fn matches(password: &str, hash: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    // A hash made with other costs needs a working area of its own size.
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut tag = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut tag, memory.as_mut_slice())
        .is_ok()
        && Output::new(&tag).is_ok_and(|computed| computed == expected)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    #[tokio::test]
    async fn pooled_hashes_agree_with_the_argon2_crate_both_ways() {
        let passwords = Passwords::new().await.unwrap();
        let ours = passwords.hash("correct horse".to_owned()).await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let parsed = PasswordHash::new(&ours).unwrap();
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            passwords.params.clone(),
        );
        assert!(argon.verify_password(b"correct horse", &parsed).is_ok());

        // Hashes stored before the pool existed still verify.
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let theirs = argon
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        let ok = |p: &str, h: &str| passwords.verify(p.to_owned(), Some(h.to_owned()));
        assert!(ok("battery staple", &theirs).await.unwrap());
        assert!(!ok("battery stapler", &theirs).await.unwrap());
        assert!(ok("correct horse", &ours).await.unwrap());
        assert!(!ok("correct horse", "not a phc string").await.unwrap());
        // An unknown user never matches, even with the dummy's password.
        assert!(!passwords.verify("x".to_owned(), None).await.unwrap());
    }

    #[tokio::test]
    async fn the_working_memory_is_reused_not_reallocated() {
        let passwords = Passwords::new().await.unwrap();
        for _ in 0..8 {
            passwords.hash("again".to_owned()).await.unwrap();
        }
        let pooled = passwords.memory.lock().unwrap().len();
        assert!(pooled >= 1 && pooled <= std::thread::available_parallelism().unwrap().get());
    }
}
