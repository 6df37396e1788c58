/// A registered user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

/// A room's storage identity; clients know rooms by their [`crate::RoomCode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomId(pub i64);

/// One live WebSocket, unique across every instance of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// An instant as milliseconds since the Unix epoch. The domain never reads a
/// clock: callers pass the instant in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Millis(pub i64);

impl Millis {
    /// The instant `ms` milliseconds later (saturating).
    pub fn plus_millis(self, ms: i64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// The instant `secs` seconds later (saturating).
    pub fn plus_secs(self, secs: u64) -> Millis {
        self.plus_millis(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
    }
}
