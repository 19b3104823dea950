//! Who is a user: canonical usernames and the seat key a person is counted
//! under.

use std::fmt;
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization as _;

/// Longest accepted username, in bytes after normalisation (RADIUS
/// User-Name carries at most 253 bytes).
pub const MAX_USERNAME_BYTES: usize = 253;

/// A canonical local username: Unicode NFKC, lowercased. `John`, `JOHN` and
/// the full-width `Ｊｏｈｎ` are all `john`. The only way to build one is
/// [`Username::parse`], so every seat key of a local user is canonical.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

/// Why a string cannot be a username.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("username is empty")]
    Empty,
    #[error("username is longer than {MAX_USERNAME_BYTES} bytes")]
    TooLong,
    #[error("username contains a control character")]
    ControlCharacter,
    #[error("username starts or ends with whitespace")]
    SurroundingWhitespace,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Username, UsernameError> {
        let canonical = if raw.is_ascii() {
            // ASCII is already NFKC, and stays so when lowercased.
            raw.to_ascii_lowercase()
        } else {
            // Lowercasing can produce text that is not NFKC; normalise again
            // so the form is stable (parse(parse(x)) == parse(x)).
            let lowered: String = raw.nfkc().collect::<String>().to_lowercase();
            lowered.nfkc().collect()
        };
        if canonical.is_empty() {
            return Err(UsernameError::Empty);
        }
        if canonical.len() > MAX_USERNAME_BYTES {
            return Err(UsernameError::TooLong);
        }
        if canonical.chars().any(char::is_control) {
            return Err(UsernameError::ControlCharacter);
        }
        if canonical.starts_with(char::is_whitespace) || canonical.ends_with(char::is_whitespace) {
            return Err(UsernameError::SurroundingWhitespace);
        }
        Ok(Username(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({:?})", self.0)
    }
}

/// Where a user's identity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Local,
    Directory,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Directory => "directory",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        match text {
            "local" => Some(Source::Local),
            "directory" => Some(Source::Directory),
            _ => None,
        }
    }
}

/// The key a person is counted under, unique across sources: `local:<name>`
/// for local users, `directory:<stable id>` for directory entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeatKey(Arc<str>);

impl SeatKey {
    pub fn local(username: &Username) -> SeatKey {
        SeatKey(format!("local:{username}").into())
    }

    /// A directory entry's stable identity (objectGUID, entryUUID, …).
    pub fn directory(stable_id: &str) -> SeatKey {
        SeatKey(format!("directory:{stable_id}").into())
    }

    /// Rebuilds a key read back from the store.
    pub fn from_stored(text: String) -> SeatKey {
        SeatKey(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for SeatKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A person who passed the first factor: what is counted and what the Users
/// table shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub seat: SeatKey,
    /// Login name as displayed (canonical for local users).
    pub username: Arc<str>,
    pub display_name: Arc<str>,
    pub source: Source,
}

impl Identity {
    pub fn local(username: &Username, display_name: &str) -> Identity {
        Identity {
            seat: SeatKey::local(username),
            username: username.as_str().into(),
            display_name: display_name.into(),
            source: Source::Local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_are_one_user() {
        let cases = [
            ("john", "john"),
            ("John", "john"),
            ("JOHN", "john"),
            ("Ｊｏｈｎ", "john"), // full-width forms (NFKC)
            ("ﬁona", "fiona"),    // ligature (NFKC)
            ("ÉLODIE", "élodie"),
            ("E\u{301}lodie", "élodie"), // combining accent composes
            ("john@Example.COM", "john@example.com"),
        ];
        for (raw, canonical) in cases {
            assert_eq!(Username::parse(raw).unwrap().as_str(), canonical, "{raw:?}");
        }
        assert_eq!(
            SeatKey::local(&Username::parse("John").unwrap()),
            SeatKey::local(&Username::parse("john").unwrap())
        );
    }

    #[test]
    fn canonicalisation_is_idempotent() {
        for raw in ["İstanbul", "ΣΊΣΥΦΟΣ", "Ǆemal", "Straße", "ﬃ"] {
            let once = Username::parse(raw).unwrap();
            assert_eq!(Username::parse(once.as_str()).unwrap(), once, "{raw:?}");
        }
    }

    #[test]
    fn invalid_usernames_are_refused() {
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(
            Username::parse(&"a".repeat(254)),
            Err(UsernameError::TooLong)
        );
        assert_eq!(
            Username::parse("jo\nhn"),
            Err(UsernameError::ControlCharacter)
        );
        assert_eq!(
            Username::parse("john\0"),
            Err(UsernameError::ControlCharacter)
        );
        assert_eq!(
            Username::parse(" john"),
            Err(UsernameError::SurroundingWhitespace)
        );
    }

    #[test]
    fn seat_keys_of_different_sources_never_collide() {
        let local = SeatKey::local(&Username::parse("abc").unwrap());
        let directory = SeatKey::directory("abc");
        assert_ne!(local, directory);
    }
}
