//! The service's time. Everything that decides by the time (grace expiry,
//! token lifetimes, message timestamps) reads one [`Clock`], so that a test
//! can move time instead of sleeping through it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use watchparty_domain::Millis;

/// Where the service reads the time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now(&self) -> Millis;
}

/// The wall clock: production's.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis();
        Millis(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told: for tests of deadlines.
///
/// ```
/// use std::time::Duration;
/// use watchparty_service::{Clock, ManualClock};
///
/// let clock = ManualClock::starting_now();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(600));
/// assert_eq!(clock.now().0 - before.0, 600_000);
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn at(at: Millis) -> Self {
        ManualClock {
            now: AtomicI64::new(at.0),
        }
    }

    /// A clock stopped at the wall clock's present time (tokens and
    /// timestamps stay plausible).
    pub fn starting_now() -> Self {
        Self::at(SystemClock.now())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        Millis(self.now.load(Ordering::SeqCst))
    }
}

/// RFC 3339 UTC with milliseconds, as every time in the protocol.
pub(crate) fn rfc3339(at: Millis) -> String {
    let ms = u64::try_from(at.0).unwrap_or(0);
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}
