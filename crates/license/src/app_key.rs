//! The App Key: a short, typeable fingerprint of an installation's public key.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

/// Crockford's base32 alphabet: no I, L, O or U, so a key read over the
/// phone or copied by hand survives.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Number of base32 characters in an App Key (100 bits of the fingerprint).
const CHARS: usize = 20;

/// Characters per dash-separated group when displayed.
const GROUP: usize = 5;

/// Domain separation for the fingerprint hash.
const FINGERPRINT_DOMAIN: &[u8] = b"gatehouse app key v1\0";

/// An installation's identity, derived from its Ed25519 public key.
///
/// Displayed as four groups of five Crockford base32 characters, e.g.
/// `7KQ3F-9XW2M-H4D8P-ZT6VA`. Parsing is forgiving the way people are:
/// case, dashes, spaces and the look-alikes `O`/`I`/`L` are accepted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppKey([u8; CHARS]);

impl AppKey {
    /// The App Key of an installation with this public key.
    pub fn of(public_key: &VerifyingKey) -> AppKey {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_DOMAIN)
            .chain_update(public_key.as_bytes())
            .finalize();
        let mut chars = [0u8; CHARS];
        // Read the digest as a big-endian bit string, five bits per character.
        for (index, out) in chars.iter_mut().enumerate() {
            let bit = index * 5;
            let byte = bit / 8;
            let pair = u16::from_be_bytes([digest[byte], digest[byte + 1]]);
            let shift = 16 - 5 - (bit % 8);
            *out = ALPHABET[usize::from((pair >> shift) & 0x1f)];
        }
        AppKey(chars)
    }

    /// The canonical text form, without dashes (what is signed into keys).
    pub fn compact(&self) -> &str {
        // Only ASCII from ALPHABET is ever stored.
        std::str::from_utf8(&self.0).expect("App Key characters are ASCII")
    }
}

/// Why a string is not an App Key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an App Key: expected {CHARS} characters of 0-9 and A-Z (without I, L, O, U), e.g. 7KQ3F-9XW2M-H4D8P-ZT6VA"
)]
pub struct AppKeyParseError;

impl FromStr for AppKey {
    type Err = AppKeyParseError;

    fn from_str(text: &str) -> Result<AppKey, AppKeyParseError> {
        let mut chars = [0u8; CHARS];
        let mut len = 0;
        for c in text.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let normalized = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !normalized.is_ascii() || !ALPHABET.contains(&(normalized as u8)) {
                return Err(AppKeyParseError);
            }
            if len == CHARS {
                return Err(AppKeyParseError);
            }
            chars[len] = normalized as u8;
            len += 1;
        }
        if len != CHARS {
            return Err(AppKeyParseError);
        }
        Ok(AppKey(chars))
    }
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, group) in self.compact().as_bytes().chunks(GROUP).enumerate() {
            if index > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> VerifyingKey {
        SigningKey::from_bytes(&[seed; 32]).verifying_key()
    }

    #[test]
    fn display_is_four_groups_of_five() {
        let text = AppKey::of(&key(1)).to_string();
        assert_eq!(text.len(), 23);
        assert_eq!(
            text.split('-').map(str::len).collect::<Vec<_>>(),
            [5, 5, 5, 5]
        );
    }

    #[test]
    fn different_public_keys_give_different_app_keys() {
        assert_ne!(AppKey::of(&key(1)), AppKey::of(&key(2)));
        assert_eq!(AppKey::of(&key(1)), AppKey::of(&key(1)));
    }

    #[test]
    fn parsing_forgives_case_dashes_and_look_alikes() {
        let app_key = AppKey::of(&key(7));
        let shown = app_key.to_string();
        assert_eq!(shown.parse::<AppKey>(), Ok(app_key));
        assert_eq!(shown.to_lowercase().parse::<AppKey>(), Ok(app_key));
        assert_eq!(shown.replace('-', " ").parse::<AppKey>(), Ok(app_key));
        assert_eq!(app_key.compact().parse::<AppKey>(), Ok(app_key));
        let with_look_alikes: String = shown
            .chars()
            .map(|c| match c {
                '0' => 'o',
                '1' => 'l',
                other => other,
            })
            .collect();
        assert_eq!(with_look_alikes.parse::<AppKey>(), Ok(app_key));
    }

    #[test]
    fn parsing_rejects_wrong_lengths_and_letters() {
        for bad in [
            "",
            "ABC",
            "7KQ3F-9XW2M-H4D8P-ZT6V",
            "7KQ3F-9XW2M-H4D8P-ZT6VAA",
            "7KQ3F-9XW2M-H4D8P-ZT6VU",
            "7KQ3F_9XW2M-H4D8P-ZT6VA",
        ] {
            assert_eq!(bad.parse::<AppKey>(), Err(AppKeyParseError), "{bad:?}");
        }
    }
}
