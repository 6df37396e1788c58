//! Validated values: once constructed, a value is known to be acceptable.

use crate::error::ValidationError;
use std::fmt;

/// The characters of a room code: A–Z and 2–9 without the look-alikes I, O, 0 and 1.
/// Thirty-two symbols, so each random byte gives five unbiased bits.
pub const ROOM_CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of a generated room code: 10 symbols of 5 bits is 50 bits of entropy.
pub const ROOM_CODE_LEN: usize = 10;
/// Longest chat message, in characters, after trimming.
pub const CHAT_TEXT_MAX_CHARS: usize = 2000;
/// The largest playback position, in seconds.
pub const MAX_POSITION: f64 = 1_000_000.0;

/// Zero width non-joiner: kept, Persian, Indic and other scripts need it.
pub const ZWNJ: char = '\u{200C}';
/// Zero width joiner: kept, emoji sequences and Indic scripts need it.
pub const ZWJ: char = '\u{200D}';
// Waving black flag: the base of the emoji tag sequences (England, Scotland, Wales).
const BLACK_FLAG: char = '\u{1F3F4}';
const CANCEL_TAG: char = '\u{E007F}';

/// Unicode's format characters, general category Cf (Unicode 16): invisible
/// characters that change how text around them is shown (U+202E turns it
/// right to left, U+200B is an invisible space).
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

fn is_format(c: char) -> bool {
    FORMAT_CHARACTERS
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
}

fn is_tag(c: char) -> bool {
    ('\u{E0020}'..='\u{E007E}').contains(&c)
}

/// Whether text may hold a line break and a tab (chat), or is one line (names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    One,
    Many,
}

/// The one rule for text people show each other (chat, display names, room
/// names), the same whatever the database: no control characters (NUL
/// included), except a line break (`\n`) and a tab where text has lines;
/// no U+2028/U+2029 line separators; no format characters (category Cf),
/// except the joiners ZWNJ and ZWJ and the tag characters of an emoji tag
/// sequence (a black flag, tag letters, a cancel tag).
fn allowed_text(text: &str, lines: Lines) -> bool {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let fine = match c {
            '\n' | '\t' => lines == Lines::Many,
            '\u{2028}' | '\u{2029}' => false,
            ZWNJ | ZWJ => true,
            BLACK_FLAG => {
                if chars.peek().copied().is_some_and(is_tag) {
                    while chars.next_if(|t| is_tag(*t)).is_some() {}
                    chars.next() == Some(CANCEL_TAG)
                } else {
                    true
                }
            }
            c => !c.is_control() && !is_format(c),
        };
        if !fine {
            return false;
        }
    }
    true
}

/// The text rule for one line of text (names, moderation reasons).
pub(crate) fn allowed_one_line(text: &str) -> bool {
    allowed_text(text, Lines::One)
}

/// Whether text shows anything: not only blanks and joiners.
pub(crate) fn visible(text: &str) -> bool {
    text.chars()
        .any(|c| !c.is_whitespace() && c != ZWNJ && c != ZWJ)
}

/// A room's public code, always stored and shown upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomCode(String);

impl RoomCode {
    /// A code from random bytes (the caller reads them from the OS random source).
    pub fn from_entropy(bytes: [u8; ROOM_CODE_LEN]) -> Self {
        let code = bytes
            .iter()
            .filter_map(|b| {
                ROOM_CODE_ALPHABET
                    .get(usize::from(b & 31))
                    .copied()
                    .map(char::from)
            })
            .collect();
        RoomCode(code)
    }

    /// Reads a code as a user typed it: case-insensitive, surrounding blanks ignored.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let code = raw.trim().to_ascii_uppercase();
        let valid_len = (ROOM_CODE_LEN..=32).contains(&code.len());
        if valid_len && code.bytes().all(|b| ROOM_CODE_ALPHABET.contains(&b)) {
            Ok(RoomCode(code))
        } else {
            Err(ValidationError::RoomCode)
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed and lower-cased so that comparison ignores case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain`, at most 254 characters after trimming.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let email = raw.trim().to_lowercase();
        let mut parts = email.split('@');
        let well_formed = matches!(
            (parts.next(), parts.next(), parts.next()),
            (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty()
        );
        let clean = !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_format(c));
        if well_formed && clean && email.chars().count() <= 254 {
            Ok(Email(email))
        } else {
            Err(ValidationError::Email)
        }
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, the default display name.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

/// A password as typed: 8 to 1024 characters. It is only ever hashed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Accepts 8 to 1024 characters, taken as typed (no trimming).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let len = raw.chars().count();
        if (8..=1024).contains(&len) {
            Ok(Password(raw.to_owned()))
        } else {
            Err(ValidationError::Password)
        }
    }

    /// The secret, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A name shown to other users: 1 to 50 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Accepts 1 to 50 characters after trimming, on one line, without
    /// control or format characters (see [`ValidationError::Characters`]).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        let len = name.chars().count();
        if !allowed_text(name, Lines::One) {
            Err(ValidationError::Characters("display_name"))
        } else if (1..=50).contains(&len) && visible(name) {
            Ok(DisplayName(name.to_owned()))
        } else {
            Err(ValidationError::DisplayName)
        }
    }

    /// The default for a new user: the email's local part, cut to 50 characters.
    pub fn from_email(email: &Email) -> Self {
        DisplayName(email.local_part().chars().take(50).collect())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A room's name: 1 to 100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    /// Accepts 1 to 100 characters after trimming, on one line, without
    /// control or format characters (see [`ValidationError::Characters`]).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        let len = name.chars().count();
        if !allowed_text(name, Lines::One) {
            Err(ValidationError::Characters("name"))
        } else if (1..=100).contains(&len) && visible(name) {
            Ok(RoomName(name.to_owned()))
        } else {
            Err(ValidationError::RoomName)
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The video a room watches: an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUrl(String);

impl MediaUrl {
    /// Accepts an `http://` or `https://` URL of at most 2048 characters, no blanks.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let url = raw.trim();
        let lower = url.to_ascii_lowercase();
        let scheme_len = if lower.starts_with("https://") {
            8
        } else if lower.starts_with("http://") {
            7
        } else {
            return Err(ValidationError::MediaUrl);
        };
        let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if clean && url.len() > scheme_len && url.chars().count() <= 2048 {
            Ok(MediaUrl(url.to_owned()))
        } else {
            Err(ValidationError::MediaUrl)
        }
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A chat message's text: trimmed, non-empty, at most 2000 characters; it
/// may have several lines and tabs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatText(String);

impl ChatText {
    /// `Ok(None)` for a blank message (ignored by the rules), an error when
    /// too long or when it holds characters the text rule refuses
    /// ([`ValidationError::Characters`]), NUL among them.
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        let text = raw.trim();
        if !allowed_text(text, Lines::Many) {
            Err(ValidationError::Characters("Message"))
        } else if !visible(text) {
            Ok(None)
        } else if text.chars().count() > CHAT_TEXT_MAX_CHARS {
            Err(ValidationError::ChatTooLong)
        } else {
            Ok(Some(ChatText(text.to_owned())))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A playback position in seconds: finite, from 0 to [`MAX_POSITION`].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Position(f64);

impl Position {
    /// The start of the video.
    pub const ZERO: Position = Position(0.0);

    /// Accepts a finite number of seconds within 0..=1,000,000.
    pub fn new(seconds: f64) -> Result<Self, ValidationError> {
        if seconds.is_finite() && (0.0..=MAX_POSITION).contains(&seconds) {
            Ok(Position(seconds))
        } else {
            Err(ValidationError::Position)
        }
    }

    /// Forces a computed value into range (NaN becomes 0).
    pub fn clamped(seconds: f64) -> Self {
        if seconds.is_nan() {
            Position::ZERO
        } else {
            Position(seconds.clamp(0.0, MAX_POSITION))
        }
    }

    /// The position in seconds.
    pub fn seconds(self) -> f64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_distinct_entropies_give_a_million_distinct_codes() {
        // Codes differ whenever the 50 bits they are made of differ: no two
        // rooms can share a code unless the OS drew the same 50 bits twice.
        let mut seen = std::collections::HashSet::with_capacity(1_000_000);
        for i in 0..1_000_000u64 {
            // An odd multiplier is a bijection on 50-bit numbers: distinct
            // inputs, spread over every bit. The high bits of each byte are
            // set to show that they are ignored.
            let bits = i.wrapping_mul(0x2545_F491_4F6C_DD1D) & ((1 << 50) - 1);
            let bytes: [u8; ROOM_CODE_LEN] =
                std::array::from_fn(|k| ((bits >> (5 * k)) & 31) as u8 | 0xE0);
            let code = RoomCode::from_entropy(bytes);
            assert_eq!(RoomCode::parse(code.as_str()).as_ref(), Ok(&code));
            assert!(seen.insert(code), "collision at {i}");
        }
    }

    #[test]
    fn room_codes_are_case_insensitive_and_use_the_alphabet() {
        let code = RoomCode::from_entropy([0, 1, 2, 3, 4, 5, 6, 7, 8, 255]);
        assert_eq!(code.as_str().len(), ROOM_CODE_LEN);
        let lower = code.as_str().to_lowercase();
        assert_eq!(RoomCode::parse(&lower), Ok(code));
        assert!(RoomCode::parse("K7Q2M9XAP0").is_err(), "0 is a look-alike");
        assert!(RoomCode::parse("SHORT").is_err());
        assert!(RoomCode::parse("ÄÄÄÄÄÄÄÄÄÄ").is_err());
    }

    #[test]
    fn emails_are_normalized() {
        let email = Email::parse("  Ana@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ana@example.com");
        assert_eq!(email.local_part(), "ana");
        for bad in [
            "",
            "ana",
            "@x",
            "a@",
            "a@b@c",
            "a b@c",
            &format!("{}@x.io", "a".repeat(260)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_limits() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(1025)).is_err());
        assert!(DisplayName::parse("   ").is_err());
        assert_eq!(DisplayName::parse(" ana ").unwrap().as_str(), "ana");
        assert!(DisplayName::parse(&"é".repeat(51)).is_err());
        assert_eq!(ChatText::parse("  "), Ok(None));
        assert!(ChatText::parse(&"x".repeat(2001)).is_err());
        assert_eq!(
            ChatText::parse(&"x".repeat(2000))
                .unwrap()
                .unwrap()
                .as_str()
                .len(),
            2000
        );
        assert!(MediaUrl::parse("javascript:alert(1)").is_err());
        assert!(MediaUrl::parse("https://").is_err());
        assert!(MediaUrl::parse("https://example.com/v.mp4").is_ok());
    }

    #[test]
    fn control_characters_are_refused_except_lines_and_tabs_in_chat() {
        for bad in [
            "a\u{0}b",
            "a\rb",
            "a\u{1b}[31mb",
            "a\u{7f}",
            "a\u{85}b",
            "a\u{2028}b",
        ] {
            assert_eq!(
                ChatText::parse(bad),
                Err(ValidationError::Characters("Message")),
                "{bad:?}"
            );
            assert!(DisplayName::parse(bad).is_err(), "{bad:?}");
            assert!(RoomName::parse(bad).is_err(), "{bad:?}");
        }
        let lines = ChatText::parse("one\n\ttwo").unwrap().unwrap();
        assert_eq!(lines.as_str(), "one\n\ttwo");
        for one_line in ["ana\nbob", "ana\tbob"] {
            assert_eq!(
                DisplayName::parse(one_line),
                Err(ValidationError::Characters("display_name"))
            );
            assert_eq!(
                RoomName::parse(one_line),
                Err(ValidationError::Characters("name"))
            );
        }
        // NUL reaches no database: refused at the edge of every text value.
        assert!(Email::parse("a\u{0}@x.io").is_err());
        assert!(MediaUrl::parse("https://x.io/\u{0}").is_err());
    }

    #[test]
    fn invisible_format_characters_are_refused_except_the_joiners() {
        for bad in [
            "admin\u{202E}nimda",
            "ana\u{200B}",
            "\u{2066}ana\u{2069}",
            "ana\u{200F}",
            "\u{FEFF}ana",
            "ad\u{00AD}min",
            "ana\u{2060}",
            "ana\u{E0041}\u{E0042}",
            // Tag characters outside a flag, or a flag sequence left open.
            "\u{1F3F4}\u{E0067}\u{E0062}",
        ] {
            assert_eq!(
                DisplayName::parse(bad),
                Err(ValidationError::Characters("display_name")),
                "{bad:?}"
            );
            assert!(RoomName::parse(bad).is_err(), "{bad:?}");
            assert!(ChatText::parse(bad).is_err(), "{bad:?}");
        }
        for good in [
            // Family: man, ZWJ, woman, ZWJ, girl.
            "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
            // Persian "mi-khaham" needs ZWNJ.
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}",
            // Devanagari half forms use ZWJ.
            "\u{0915}\u{094D}\u{200D}\u{0937}",
            // The flag of Scotland: black flag, tags g b s c t, cancel tag.
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "\u{1F3F4} a plain black flag",
            "שלום עולם",
        ] {
            assert_eq!(DisplayName::parse(good).unwrap().as_str(), good);
            assert_eq!(RoomName::parse(good).unwrap().as_str(), good);
            assert_eq!(ChatText::parse(good).unwrap().unwrap().as_str(), good);
        }
        // Joiners alone show nothing: not a name, and a blank message.
        assert_eq!(
            DisplayName::parse("\u{200D}\u{200C}"),
            Err(ValidationError::DisplayName)
        );
        assert_eq!(ChatText::parse(" \u{200D} "), Ok(None));
        assert!(Email::parse("ana\u{202E}@example.com").is_err());
    }

    #[test]
    fn the_format_table_is_category_cf() {
        // Spot checks against Unicode's data, one from each end of the table.
        for cf in [
            '\u{00AD}',
            '\u{061C}',
            '\u{200B}',
            '\u{202E}',
            '\u{FEFF}',
            '\u{E0001}',
            '\u{E007F}',
        ] {
            assert!(is_format(cf), "{cf:?}");
        }
        for not_cf in ['a', ' ', '\u{0300}', '\u{FE0F}', '\u{2028}', '\u{1F3F4}'] {
            assert!(!is_format(not_cf), "{not_cf:?}");
        }
        let sorted = FORMAT_CHARACTERS
            .windows(2)
            .all(|w| w[0].0 <= w[0].1 && w[0].1 < w[1].0);
        assert!(sorted);
    }

    #[test]
    fn positions() {
        assert!(Position::new(f64::NAN).is_err());
        assert!(Position::new(f64::INFINITY).is_err());
        assert!(Position::new(-0.1).is_err());
        assert!(Position::new(1_000_000.5).is_err());
        assert_eq!(Position::new(12.5).unwrap().seconds(), 12.5);
        assert_eq!(Position::clamped(f64::NAN), Position::ZERO);
    }
}
