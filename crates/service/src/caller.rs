//! Who is asking.

use watchparty_domain::UserId;

/// A logged-in user and the client address their request came from (the
/// per-address limits count by it). Built by the web edge from the session
/// and the connection; every use case on behalf of a user takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub(crate) user: UserId,
    pub(crate) address: String,
}

impl Caller {
    /// The user with id `user`, connecting from `address` (an IP address as
    /// text, or whatever the edge could tell).
    pub fn new(user: i64, address: impl Into<String>) -> Self {
        Caller {
            user: UserId(user),
            address: address.into(),
        }
    }

    /// The user's id.
    pub fn user_id(&self) -> i64 {
        self.user.0
    }

    /// The client address.
    pub fn address(&self) -> &str {
        &self.address
    }
}
