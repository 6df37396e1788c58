use thiserror::Error;

/// Why a value from outside was refused. The message is safe to show a user.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// The email address is empty, too long or not of the form `local@domain`.
    #[error("email must be an address of the form name@domain, at most 254 characters")]
    Email,
    /// The password is shorter than 8 or longer than 1024 characters.
    #[error("password must be 8 to 1024 characters")]
    Password,
    /// The display name is empty after trimming, too long, or has control characters.
    #[error("display_name must be 1 to 50 characters")]
    DisplayName,
    /// The room name is empty after trimming, too long, or has control characters.
    #[error("name must be 1 to 100 characters")]
    RoomName,
    /// The media URL is not an http(s) URL of reasonable length.
    #[error("media_url must be an http:// or https:// URL of at most 2048 characters")]
    MediaUrl,
    /// A playback position outside 0..=1,000,000 seconds, or not a finite number.
    #[error("time must be a finite number of seconds between 0 and 1000000")]
    Position,
    /// Text with a control character (other than a line break or tab where
    /// text has lines) or an invisible format character other than the
    /// joiners; the field is named.
    #[error("{0} must not contain control characters or invisible formatting characters (such as U+0000, U+202E or U+200B)")]
    Characters(&'static str),
    /// A chat message longer than the limit.
    #[error("Message is too long (at most 2000 characters)")]
    ChatTooLong,
    /// A playback rate outside 0.25..=4, or not a finite number.
    #[error("rate must be a number from 0.25 to 4")]
    Rate,
    /// A moderation reason longer than 200 characters.
    #[error("reason must be at most 200 characters")]
    Reason,
    /// A duration outside its range; the field is named. Bans and mutes
    /// (`duration_secs`) take 1 to 31536000 seconds or null, kicks
    /// (`rejoin_after_secs`) 0 to 86400.
    #[error(
        "{0} is out of range (duration_secs: 1 to 31536000 or null; rejoin_after_secs: 0 to 86400)"
    )]
    Duration(&'static str),
    /// A queue item's title longer than 200 characters.
    #[error("title must be at most 200 characters")]
    Title,
    /// A queue item's duration that is not a number of seconds above 0 and
    /// at most 1000000.
    #[error("duration must be a number of seconds greater than 0 and at most 1000000, or null")]
    ItemDuration,
    /// Something that is not a room code.
    #[error("not a room code")]
    RoomCode,
}
