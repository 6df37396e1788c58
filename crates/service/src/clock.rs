use std::time::{Duration, SystemTime, UNIX_EPOCH};
use watchparty_domain::Millis;

/// The wall clock, the one place the service reads it.
pub(crate) fn now() -> Millis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    Millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// RFC 3339 UTC with milliseconds, as every time in the protocol.
pub(crate) fn rfc3339(at: Millis) -> String {
    let ms = u64::try_from(at.0).unwrap_or(0);
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}
