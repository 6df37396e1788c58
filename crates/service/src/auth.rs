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
    if let Err(e) = rand::rngs::OsRng.try_fill_bytes(&mut bytes) {
        return Err(ServiceError::internal(format!("OS random source: {e}")));
    }
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
        let params = Params::new(19 * 1024, 2, 1, None)
            .map_err(|e| ServiceError::internal(e.to_string()))?;
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
            let salt = SaltString::encode_b64(&salt_bytes)
                .map_err(|e| ServiceError::internal(e.to_string()))?;
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let mut tag = [0u8; TAG_BYTES];
            argon
                .hash_password_into_with_memory(password.as_bytes(), &salt_bytes, &mut tag, memory)
                .map_err(|e| ServiceError::internal(e.to_string()))?;
            let phc = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params)
                    .map_err(|e| ServiceError::internal(e.to_string()))?,
                salt: Some(salt.as_salt()),
                hash: Some(Output::new(&tag).map_err(|e| ServiceError::internal(e.to_string()))?),
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
            .map_err(ServiceError::internal)?;
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
        .map_err(ServiceError::internal)?
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
/// How far in the future a token's `iat` may be: clocks of instances differ
/// a little. There is no leeway on `exp` (docs/protocol.md, "WebSocket tokens").
const IAT_LEEWAY_SECS: u64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    iat: u64,
    iss: String,
    aud: String,
    jti: String,
    /// The login session the token was issued to: logging out refuses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    /// The process that issued it, in single-instance mode, where the
    /// single-use ledger lives in that process and dies with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    boot: Option<String>,
}

/// A token verified by signature and times, not yet claimed.
pub(crate) struct VerifiedToken {
    pub(crate) user: UserId,
    pub(crate) jti: String,
    pub(crate) session: Option<String>,
}

/// Single-instance mode: which process this is, and when it started.
struct Boot {
    id: String,
    started_secs: u64,
}

/// Issues and verifies the short-lived tokens that open one WebSocket each.
pub(crate) struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub(crate) ttl: Duration,
    boot: Option<Boot>,
}

fn secs(at: Millis) -> u64 {
    u64::try_from(at.0 / 1000).unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `sub` is a user id written the one way `i64` writes it: no sign,
/// no leading zero, no blank, so one user has one spelling.
fn canonical_user(sub: &str) -> Option<UserId> {
    let id: i64 = sub.parse().ok()?;
    (id >= 0 && id.to_string() == sub).then_some(UserId(id))
}

impl Tokens {
    /// `started` is given in single-instance mode (the ledger of spent tokens
    /// is in memory): tokens of an earlier process are refused. Fails if the
    /// crypto backend cannot sign and verify (at `now`): better at start-up
    /// than on first use.
    pub(crate) fn new(
        secret: &[u8],
        ttl: Duration,
        started: Option<Millis>,
        now: Millis,
    ) -> Result<Self, ServiceError> {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "aud", "iss"]);
        // `exp` is checked by `verify` against the service's clock, without leeway.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.validate_nbf = true;
        let boot = match started {
            Some(at) => Some(Boot {
                id: hex(&os_random::<16>()?),
                started_secs: secs(at),
            }),
            None => None,
        };
        let tokens = Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            boot,
        };
        let probe = tokens.issue(UserId(0), None, now)?;
        if tokens.verify(&probe, now).is_err() {
            return Err(ServiceError::internal(
                "a token signed at start-up does not verify",
            ));
        }
        Ok(tokens)
    }

    pub(crate) fn issue(
        &self,
        user: UserId,
        session: Option<&str>,
        now: Millis,
    ) -> Result<String, ServiceError> {
        let iat = secs(now);
        let claims = Claims {
            sub: user.0.to_string(),
            iat,
            exp: iat + self.ttl.as_secs(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: hex(&os_random::<16>()?),
            sid: session.map(str::to_owned),
            boot: self.boot.as_ref().map(|b| b.id.clone()),
        };
        encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.encoding,
        )
        .map_err(ServiceError::internal)
    }

    /// Checks the signature and every claim at `now`. The checks beyond the
    /// signature matter only if the secret leaked or a bug issued a bad
    /// token: defence in depth.
    pub(crate) fn verify(&self, token: &str, now: Millis) -> Result<VerifiedToken, ServiceError> {
        let refused = ServiceError::NotAuthenticated;
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ServiceError::NotAuthenticated)?
            .claims;
        let now = secs(now);
        let lifetime = claims.exp.checked_sub(claims.iat);
        if claims.exp <= now
            || claims.iat > now + IAT_LEEWAY_SECS
            || lifetime.is_none_or(|l| l > self.ttl.as_secs())
            || claims.jti.is_empty()
        {
            return Err(refused);
        }
        if let Some(boot) = &self.boot {
            // Ours carry the process's id; one without it (only someone with
            // the secret makes those) must at least postdate the start.
            let earlier = match &claims.boot {
                Some(id) => *id != boot.id,
                None => claims.iat < boot.started_secs,
            };
            if earlier {
                return Err(refused);
            }
        }
        let user = canonical_user(&claims.sub).ok_or(refused)?;
        Ok(VerifiedToken {
            user,
            jti: claims.jti,
            session: claims.sid,
        })
    }

    /// How long a claimed jti (or a logged-out session) must be remembered:
    /// as long as a token could verify.
    pub(crate) fn claim_ttl(&self) -> Duration {
        self.ttl + Duration::from_secs(IAT_LEEWAY_SECS + 1)
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

    const SECRET: &[u8] = b"unit-test-jwt-secret-unit-test-jwt-secret";
    const NOW: Millis = Millis(1_800_000_000_500);
    const NOW_SECS: u64 = 1_800_000_000;

    fn tokens(started: Option<Millis>) -> Tokens {
        Tokens::new(SECRET, Duration::from_secs(60), started, NOW).unwrap()
    }

    /// A token signed with the real secret from claims that start valid.
    fn signed(change: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut claims = serde_json::json!({
            "sub": "42", "iat": NOW_SECS, "exp": NOW_SECS + 60,
            "iss": ISSUER, "aud": AUDIENCE, "jti": "j1",
        });
        change(&mut claims);
        encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    #[test]
    fn a_hand_signed_control_token_verifies() {
        let verified = tokens(None).verify(&signed(|_| {}), NOW).unwrap();
        assert_eq!(verified.user, UserId(42));
        assert_eq!(verified.session, None);
        let issued = tokens(None).issue(UserId(7), Some("s1"), NOW).unwrap();
        let verified = tokens(None).verify(&issued, NOW).unwrap();
        assert_eq!(
            (verified.user, verified.session.as_deref()),
            (UserId(7), Some("s1"))
        );
    }

    #[test]
    fn lifetimes_beyond_the_configured_one_are_refused() {
        let tokens = tokens(None);
        for (what, token) in [
            (
                "far-future exp",
                signed(|c| c["exp"] = (NOW_SECS + 3600).into()),
            ),
            (
                "one second too long",
                signed(|c| c["exp"] = (NOW_SECS + 61).into()),
            ),
            (
                "exp before iat",
                signed(|c| c["exp"] = (NOW_SECS - 1).into()),
            ),
            (
                "iat in the future",
                signed(|c| {
                    c["iat"] = (NOW_SECS + 30).into();
                    c["exp"] = (NOW_SECS + 90).into();
                }),
            ),
        ] {
            assert!(tokens.verify(&token, NOW).is_err(), "{what}");
        }
        // A clock a few seconds ahead is tolerated.
        let skewed = signed(|c| {
            c["iat"] = (NOW_SECS + 5).into();
            c["exp"] = (NOW_SECS + 65).into();
        });
        assert!(tokens.verify(&skewed, NOW).is_ok());
    }

    #[test]
    fn exp_has_no_leeway() {
        let tokens = tokens(None);
        let token = signed(|_| {});
        assert!(tokens.verify(&token, Millis(NOW.0 + 59_499)).is_ok());
        assert!(tokens.verify(&token, Millis(NOW.0 + 59_500)).is_err());
        assert!(tokens.verify(&token, Millis(NOW.0 + 64_000)).is_err());
    }

    #[test]
    fn the_subject_must_be_a_canonical_integer() {
        let tokens = tokens(None);
        for sub in [
            "+42", "042", " 42", "42 ", "-42", "-0", "4_2", "42.0", "", "ana",
        ] {
            let token = signed(|c| c["sub"] = sub.into());
            assert!(tokens.verify(&token, NOW).is_err(), "{sub:?}");
        }
        assert!(tokens
            .verify(&signed(|c| c["sub"] = "0".into()), NOW)
            .is_ok());
    }

    #[test]
    fn a_single_instance_refuses_tokens_of_an_earlier_process() {
        let earlier = tokens(Some(Millis(NOW.0 - 10_000)));
        let token = earlier
            .issue(UserId(1), None, Millis(NOW.0 - 5_000))
            .unwrap();
        assert!(earlier.verify(&token, NOW).is_ok());
        let restarted = tokens(Some(Millis(NOW.0 - 1_000)));
        assert!(
            restarted.verify(&token, NOW).is_err(),
            "another process's id"
        );
        // Without a process id (hand-signed with the secret), iat decides.
        let before_start = signed(|c| {
            c["iat"] = (NOW_SECS - 2).into();
            c["exp"] = (NOW_SECS + 58).into();
        });
        assert!(restarted.verify(&before_start, NOW).is_err());
        assert!(restarted.verify(&signed(|_| {}), NOW).is_ok());
        // With shared live state (Redis) every process accepts every token.
        assert!(tokens(None).verify(&token, NOW).is_ok());
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
