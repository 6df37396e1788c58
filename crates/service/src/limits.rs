//! What the per-address limits count by, and the limits an operator may tune.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

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
