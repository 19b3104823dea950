//! Text files holding vendor keys.
//!
//! ```text
//! # any comment lines
//! ed25519-public: <base64 of 32 bytes>      (vendor.pub)
//! ed25519-secret: <base64 of 32 bytes>      (vendor.key)
//! ```
//!
//! The typed prefix keeps a secret key from being mistaken for a public one.
//! Parsing and formatting only; reading and writing files is the caller's.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};

pub const PUBLIC_PREFIX: &str = "ed25519-public:";

/// The published development vendor key (`keys/dev-vendor.pub`): its
/// secret half is in the Gatehouse repository, so anyone can issue keys
/// with it. Only builds made to trust it (tests, evaluation) do; a key it
/// signed is otherwise refused as [`crate::KeyRefusal::DevelopmentKey`].
pub const DEVELOPMENT_PUBLIC_KEY: [u8; 32] = [
    0x09, 0xea, 0xcd, 0x73, 0xc5, 0xba, 0x57, 0xd2, 0xeb, 0x28, 0xbd, 0xbb, 0xc5, 0x51, 0x50, 0x0d,
    0xba, 0xfa, 0x10, 0xa6, 0x6e, 0x38, 0x47, 0xa9, 0x2d, 0xe6, 0x95, 0x83, 0x49, 0x80, 0xff, 0xa4,
];

/// How a vendor public key is named to people: `SHA256:` and the
/// unpadded base64 of the key's SHA-256, as OpenSSH names keys.
pub fn fingerprint(key: &VerifyingKey) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}
pub const SECRET_PREFIX: &str = "ed25519-secret:";

/// Why a key file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    #[error("expected one line starting with {0:?}")]
    MissingKeyLine(&'static str),
    #[error("the key is not 32 bytes of base64")]
    BadKey,
}

fn key_bytes(text: &str, prefix: &'static str) -> Result<[u8; 32], KeyFileError> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    let line = lines.next().ok_or(KeyFileError::MissingKeyLine(prefix))?;
    if lines.next().is_some() {
        return Err(KeyFileError::MissingKeyLine(prefix));
    }
    let encoded = line
        .strip_prefix(prefix)
        .ok_or(KeyFileError::MissingKeyLine(prefix))?
        .trim();
    STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(KeyFileError::BadKey)
}

pub fn parse_public(text: &str) -> Result<VerifyingKey, KeyFileError> {
    VerifyingKey::from_bytes(&key_bytes(text, PUBLIC_PREFIX)?).map_err(|_| KeyFileError::BadKey)
}

pub fn parse_secret(text: &str) -> Result<SigningKey, KeyFileError> {
    Ok(SigningKey::from_bytes(&key_bytes(text, SECRET_PREFIX)?))
}

/// `comment` lines are written first, each prefixed with `# `.
pub fn format_public(key: &VerifyingKey, comment: &[&str]) -> String {
    format_key(PUBLIC_PREFIX, key.as_bytes(), comment)
}

pub fn format_secret(key: &SigningKey, comment: &[&str]) -> String {
    format_key(SECRET_PREFIX, &key.to_bytes(), comment)
}

fn format_key(prefix: &str, bytes: &[u8; 32], comment: &[&str]) -> String {
    let mut out = String::new();
    for line in comment {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(prefix);
    out.push(' ');
    out.push_str(&STANDARD.encode(bytes));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_key_constant_is_the_published_file() {
        let published = include_str!("../../../keys/dev-vendor.pub");
        assert_eq!(
            parse_public(published).unwrap().to_bytes(),
            DEVELOPMENT_PUBLIC_KEY
        );
        let fingerprint = fingerprint(&parse_public(published).unwrap());
        assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
        assert_eq!(fingerprint.len(), "SHA256:".len() + 43);
    }

    #[test]
    fn keys_round_trip_and_are_not_interchangeable() {
        let secret = SigningKey::from_bytes(&[9; 32]);
        let secret_text = format_secret(&secret, &["keep this secret"]);
        let public_text = format_public(&secret.verifying_key(), &[]);
        assert_eq!(
            parse_secret(&secret_text).unwrap().to_bytes(),
            secret.to_bytes()
        );
        assert_eq!(parse_public(&public_text).unwrap(), secret.verifying_key());
        assert_eq!(
            parse_public(&secret_text),
            Err(KeyFileError::MissingKeyLine(PUBLIC_PREFIX))
        );
        assert!(parse_secret(&public_text).is_err());
        assert_eq!(
            parse_public("ed25519-public: AAAA"),
            Err(KeyFileError::BadKey)
        );
        assert!(parse_public("").is_err());
    }
}
