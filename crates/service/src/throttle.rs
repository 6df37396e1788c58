//! Every rate limit the service keeps, as one [`Limit`] type: what it
//! counts, under which key, how many per window; and the limits an operator
//! may tune.

use crate::error::{Classify, ServiceError};
use crate::Config;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;
use watchparty_domain::UserId;
use watchparty_realtime_cache::{Counter, RealtimeCache};

// Failed logins counted per window; past a limit, attempts get 429 unseen.
const LOGIN_WINDOW: Duration = Duration::from_secs(300);
const MAX_FAILURES_PER_ADDRESS: u64 = 20;
const MAX_FAILURES_PER_EMAIL_FROM_ADDRESS: u64 = 5;
const MAX_FAILURES_PER_EMAIL: u64 = 50;
// An address an account logged in from stays known this long: from there,
// neither the account's own limit (the one a distributed attack fills) nor
// the address's (the one others behind the same NAT fill) applies.
const KNOWN_ADDRESS_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
// Probing for room codes that do not exist: misses allowed per window.
const PROBE_WINDOW: Duration = Duration::from_secs(60);
const MAX_MISSES_PER_USER: u64 = 30;
const MAX_MISSES_PER_ADDRESS: u64 = 60;

/// How much chat one user may send: past `messages` in `window`, an `ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLimit {
    /// Messages per window.
    pub messages: u64,
    /// The window they are counted over.
    pub window: Duration,
}

impl Default for ChatLimit {
    /// Two messages a second on average, in bursts of twenty: a person typing
    /// fast never meets it, a script does.
    fn default() -> Self {
        ChatLimit {
            messages: 20,
            window: Duration::from_secs(10),
        }
    }
}

/// Limits on what one client address may do, beyond the fixed ones of
/// docs/protocol.md. The defaults suit a public service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Registrations one address (one /64 for IPv6) may attempt per window,
    /// whether they create an account or find the email taken.
    pub registrations_per_address: u64,
    /// The window registrations are counted over.
    pub registration_window: Duration,
}

impl Default for Limits {
    /// A hundred registrations an hour: a school or an office behind one
    /// address signing up together fits; a script testing which emails have
    /// accounts, or making accounts to get around per-user caps, does not.
    fn default() -> Self {
        Limits {
            registrations_per_address: 100,
            registration_window: Duration::from_secs(3600),
        }
    }
}

/// One thing the service counts, and whose. Addresses are counted by
/// [`network`]; emails as the client typed them once parsed (`-` if not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Limit {
    /// Registrations from one network.
    Registrations { network: String },
    /// Failed logins from one network (not applied from a known address).
    LoginFailuresFromAddress { network: String },
    /// Failed logins to one email from one network: always applied.
    LoginFailuresForEmailFromAddress { email: String, network: String },
    /// Failed logins to one email from anywhere (not from a known address).
    LoginFailuresForEmail { email: String },
    /// Successful logins of an email from a network: makes it known.
    KnownLoginAddress { email: String, network: String },
    /// Room codes one user looked up that do not exist (or are hidden).
    LookupMissesByUser(UserId),
    /// Room codes looked up from one network that do not exist.
    LookupMissesFromAddress { network: String },
    /// Chat messages one user sent.
    ChatMessages(UserId),
}

impl Limit {
    /// The counter's key in live state; unique per limit and subject.
    pub(crate) fn key(&self) -> String {
        match self {
            Limit::Registrations { network } => format!("register:addr:{network}"),
            Limit::LoginFailuresFromAddress { network } => format!("login:addr:{network}"),
            Limit::LoginFailuresForEmailFromAddress { email, network } => {
                format!("login:pair:{email}:{network}")
            }
            Limit::LoginFailuresForEmail { email } => format!("login:email:{email}"),
            Limit::KnownLoginAddress { email, network } => {
                format!("login:known:{email}:{network}")
            }
            Limit::LookupMissesByUser(user) => format!("probe:user:{}", user.0),
            Limit::LookupMissesFromAddress { network } => format!("probe:addr:{network}"),
            Limit::ChatMessages(user) => format!("chat:{}", user.0),
        }
    }

    /// How many a window allows; `None` for a count that never refuses.
    pub(crate) fn budget(&self, config: &Config) -> Option<u64> {
        match self {
            Limit::Registrations { .. } => Some(config.limits.registrations_per_address),
            Limit::LoginFailuresFromAddress { .. } => Some(MAX_FAILURES_PER_ADDRESS),
            Limit::LoginFailuresForEmailFromAddress { .. } => {
                Some(MAX_FAILURES_PER_EMAIL_FROM_ADDRESS)
            }
            Limit::LoginFailuresForEmail { .. } => Some(MAX_FAILURES_PER_EMAIL),
            Limit::KnownLoginAddress { .. } => None,
            Limit::LookupMissesByUser(_) => Some(MAX_MISSES_PER_USER),
            Limit::LookupMissesFromAddress { .. } => Some(MAX_MISSES_PER_ADDRESS),
            Limit::ChatMessages(_) => Some(config.chat_limit.messages),
        }
    }

    /// The window counts are kept over, from the first one.
    pub(crate) fn window(&self, config: &Config) -> Duration {
        match self {
            Limit::Registrations { .. } => config.limits.registration_window,
            Limit::LoginFailuresFromAddress { .. }
            | Limit::LoginFailuresForEmailFromAddress { .. }
            | Limit::LoginFailuresForEmail { .. } => LOGIN_WINDOW,
            Limit::KnownLoginAddress { .. } => KNOWN_ADDRESS_FOR,
            Limit::LookupMissesByUser(_) | Limit::LookupMissesFromAddress { .. } => PROBE_WINDOW,
            Limit::ChatMessages(_) => config.chat_limit.window,
        }
    }
}

/// Counts [`Limit`]s in live state, shared by every instance.
pub(crate) struct Throttle<'a> {
    pub(crate) live: &'a dyn RealtimeCache,
    pub(crate) config: &'a Config,
}

impl Throttle<'_> {
    /// The count so far in the current window.
    pub(crate) async fn count(&self, limit: &Limit) -> Result<u64, ServiceError> {
        self.live.attempts(&limit.key()).await.classify()
    }

    /// Whether the limit's budget is spent already.
    pub(crate) async fn is_spent(&self, limit: &Limit) -> Result<bool, ServiceError> {
        let budget = limit.budget(self.config).unwrap_or(u64::MAX);
        Ok(self.count(limit).await? >= budget)
    }

    /// Counts one; `true` while the count stays within the budget.
    pub(crate) async fn hit(&self, limit: &Limit) -> Result<bool, ServiceError> {
        let count = self
            .live
            .count_attempt(&limit.key(), limit.window(self.config))
            .await
            .classify()?;
        Ok(count <= limit.budget(self.config).unwrap_or(u64::MAX))
    }

    /// Counts one under every limit at once, before the work it stands for,
    /// so that parallel attempts cannot outrun a budget: `false`, counting
    /// nothing, if an `enforced` budget is spent. The `counted_only` limits
    /// are counted in the same step but never refuse. All share the first
    /// one's window.
    pub(crate) async fn reserve(
        &self,
        enforced: &[Limit],
        counted_only: &[Limit],
    ) -> Result<bool, ServiceError> {
        let Some(first) = enforced.first().or(counted_only.first()) else {
            return Ok(true);
        };
        let limits = enforced
            .iter()
            .map(|limit| (limit, limit.budget(self.config)))
            .chain(counted_only.iter().map(|limit| (limit, None)));
        let keyed: Vec<(String, Option<u64>)> = limits
            .map(|(limit, budget)| (limit.key(), budget))
            .collect();
        let counters: Vec<Counter<'_>> = keyed
            .iter()
            .map(|(key, budget)| Counter {
                key,
                limit: *budget,
            })
            .collect();
        let refused = self
            .live
            .reserve(&counters, first.window(self.config))
            .await
            .classify()?;
        Ok(refused.is_none())
    }

    /// Gives back one counted under each limit (an attempt that turned out
    /// not to count); never below zero.
    pub(crate) async fn release(&self, limits: &[Limit]) -> Result<(), ServiceError> {
        let keys: Vec<String> = limits.iter().map(Limit::key).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.live.release(&keys).await.classify()
    }

    /// Forgets the count.
    pub(crate) async fn clear(&self, limit: &Limit) -> Result<(), ServiceError> {
        self.live.clear_attempts(&limit.key()).await.classify()
    }
}

/// The network a per-address limit counts a client under: an IPv4 address
/// as it is, an IPv6 address by its /64 (one subscriber gets a whole /64 and
/// may use any address in it). Anything unparsable is counted as given.
pub(crate) fn network(client: &str) -> String {
    match client.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => client.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_64_and_ipv4_per_address() {
        assert_eq!(network("203.0.113.7"), "203.0.113.7");
        assert_eq!(network("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            network("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            network("2001:db8:1:2::5")
        );
        assert_ne!(network("2001:db8:1:3::5"), network("2001:db8:1:2::5"));
        assert_eq!(network("::ffff:198.51.100.4"), "198.51.100.4");
        assert_eq!(network("unknown"), "unknown");
    }
}
