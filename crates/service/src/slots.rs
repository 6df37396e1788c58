//! How many room sockets each user holds on this instance, so that one
//! account cannot open connections without end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use watchparty_domain::UserId;

/// The live socket count per user on this instance.
#[derive(Debug, Default)]
pub(crate) struct UserSockets {
    counts: Mutex<HashMap<UserId, usize>>,
}

impl UserSockets {
    /// A place for one more socket of `user`, or `None` at `cap`.
    pub(crate) fn take(self: &Arc<Self>, user: UserId, cap: usize) -> Option<SocketSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(user).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            owner: Arc::clone(self),
            user,
        })
    }
}

/// One of a user's sockets on this instance, from the check before the
/// upgrade until the socket ends; dropping it gives the place back.
#[derive(Debug)]
pub(crate) struct SocketSlot {
    owner: Arc<UserSockets>,
    user: UserId,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_capped_and_given_back() {
        let sockets = Arc::new(UserSockets::default());
        let (ana, bob) = (UserId(1), UserId(2));
        let first = sockets.take(ana, 2).unwrap();
        let _second = sockets.take(ana, 2).unwrap();
        assert!(sockets.take(ana, 2).is_none(), "a third is refused");
        assert!(sockets.take(bob, 2).is_some(), "others are not affected");
        drop(first);
        assert!(
            sockets.take(ana, 2).is_some(),
            "a closed socket frees its place"
        );
    }
}
