//! The sealing key: what keeps the database alone from being enough.
//!
//! Someone with read-write access to the database (a PostgreSQL
//! administrator, a stolen backup, anyone on the path to it) but not to the
//! data directory must neither read the installation's secrets nor change
//! its license terms unnoticed (SPEC §11). The sealing key lives in a file
//! of its own (`storage.key_file`, `sealing.key` in the data directory by
//! default; every node of a PostgreSQL installation holds a copy) and
//! never in the database. Under it:
//!
//! - secrets are **sealed** (AES-256-GCM, a random nonce each time): the
//!   installation key, TOTP seeds, RADIUS shared secrets, Web Push
//!   credentials. Each is bound to where it is stored (its context: table,
//!   column and row key), so a sealed value moved to another row does not
//!   open;
//! - the records the license rests on carry a **tag** (HMAC-SHA-256): the
//!   installation record (first start, demo terms, time zone), the license
//!   row and the clock high-water mark. A record whose tag does not verify
//!   was changed outside Gatehouse.
//!
//! The store applies both at its boundary ([`crate::store`] records carry
//! plain values and an `authentic` flag); what a failed tag means is the
//! service's decision (`License data damaged`). Pure: no I/O besides the
//! randomness of [`SealingKey::generate`] and of each nonce.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::{hkdf, hmac};

/// The line a key file's key is on.
pub const KEY_FILE_PREFIX: &str = "gatehouse-sealing-key-v1:";

/// Default file name, in the data directory.
pub const DEFAULT_KEY_FILE: &str = "sealing.key";

/// First byte of every sealed value: the format (AES-256-GCM, 96-bit
/// random nonce).
const SEALED_V1: u8 = 1;

/// Bytes a sealed value adds to its plaintext.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + 16;

/// Why a key file or a sealed value could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("not a Gatehouse sealing key file (expected one line starting with {KEY_FILE_PREFIX})")]
    NotAKeyFile,
    #[error("the sealing key is not 32 bytes of base64")]
    BadKey,
    #[error("no randomness available: {0}")]
    Randomness(String),
    /// The value was not sealed with this key in this context, or it was
    /// altered.
    #[error("a sealed value does not open with this sealing key")]
    DoesNotOpen,
}

/// The installation's sealing key (32 random bytes), with the keys derived
/// from it.
pub struct SealingKey {
    master: [u8; 32],
    aead: LessSafeKey,
    mac: hmac::Key,
    id: [u8; 16],
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &self.id_text())
            .finish_non_exhaustive()
    }
}

/// A length for HKDF output that is not a ring key type.
struct Bytes(usize);

impl hkdf::KeyType for Bytes {
    fn len(&self) -> usize {
        self.0
    }
}

impl SealingKey {
    /// A new random key.
    pub fn generate() -> Result<SealingKey, SealError> {
        let mut master = [0u8; 32];
        getrandom::fill(&mut master).map_err(|e| SealError::Randomness(e.to_string()))?;
        Ok(SealingKey::from_bytes(master))
    }

    pub fn from_bytes(master: [u8; 32]) -> SealingKey {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"gatehouse sealing key v1").extract(&master);
        let expand = |info: &'static [u8], out: &mut [u8]| {
            prk.expand(&[info], Bytes(out.len()))
                .and_then(|okm| okm.fill(out))
                .expect("HKDF-SHA-256 yields 32 bytes");
        };
        let mut aead = [0u8; 32];
        expand(b"aead", &mut aead);
        let mut mac = [0u8; 32];
        expand(b"mac", &mut mac);
        let mut id = [0u8; 16];
        expand(b"id", &mut id);
        SealingKey {
            master,
            aead: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &aead).expect("AES-256 takes 32 bytes"),
            ),
            mac: hmac::Key::new(hmac::HMAC_SHA256, &mac),
            id,
        }
    }

    /// Names the key without revealing it: stored in the database, so a
    /// node started with another key file is told so instead of failing
    /// on every record.
    pub fn id(&self) -> [u8; 16] {
        self.id
    }

    /// [`id`](Self::id) in hex, for messages.
    pub fn id_text(&self) -> String {
        crate::tokens::hex(&self.id)
    }

    /// The key file's text.
    pub fn to_file_text(&self) -> String {
        format!(
            "# Gatehouse sealing key. It encrypts the secrets in this installation's\n\
             # database and authenticates its license records. Keep it off the\n\
             # database server, give every node a copy, and back it up with the\n\
             # database: without it the database cannot be used.\n\
             {KEY_FILE_PREFIX} {}\n",
            STANDARD.encode(self.master)
        )
    }

    /// Reads a key file's text (comment lines allowed).
    pub fn from_file_text(text: &str) -> Result<SealingKey, SealError> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        let line = lines.next().ok_or(SealError::NotAKeyFile)?;
        if lines.next().is_some() {
            return Err(SealError::NotAKeyFile);
        }
        let encoded = line
            .strip_prefix(KEY_FILE_PREFIX)
            .ok_or(SealError::NotAKeyFile)?
            .trim();
        let master: [u8; 32] = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(SealError::BadKey)?;
        Ok(SealingKey::from_bytes(master))
    }

    /// Encrypts `plaintext` for `context` (where it is stored).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        // Without randomness nothing can be sealed safely; a process that
        // has none cannot do anything useful either.
        getrandom::fill(&mut nonce).expect("the operating system provides randomness");
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .expect("AES-GCM seals any length a database row holds");
        out.extend_from_slice(&body);
        out
    }

    /// Decrypts what [`seal`](Self::seal) made for the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < SEAL_OVERHEAD || sealed[0] != SEALED_V1 {
            return Err(SealError::DoesNotOpen);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN])
            .map_err(|_| SealError::DoesNotOpen)?;
        let mut body = sealed[1 + NONCE_LEN..].to_vec();
        let plaintext = self
            .aead
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| SealError::DoesNotOpen)?;
        Ok(plaintext.to_vec())
    }

    /// The tag of a record: HMAC-SHA-256 over `context` and each field,
    /// every part length-prefixed so no two records share an encoding.
    pub fn tag(&self, context: &str, fields: &[&[u8]]) -> Vec<u8> {
        let mut mac = hmac::Context::with_key(&self.mac);
        for part in std::iter::once(context.as_bytes()).chain(fields.iter().copied()) {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.sign().as_ref().to_vec()
    }

    /// Whether `tag` is the tag of the record (constant time).
    pub fn verify(&self, context: &str, fields: &[&[u8]], tag: &[u8]) -> bool {
        use subtle::ConstantTimeEq as _;
        let expected = self.tag(context, fields);
        expected.as_slice().ct_eq(tag).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let key = SealingKey::from_bytes([7; 32]);
        let sealed = key.seal("totp.secret:local:alice", b"JBSWY3DPEHPK3PXP");
        assert_eq!(sealed.len(), 16 + SEAL_OVERHEAD);
        assert!(
            !sealed
                .windows(16)
                .any(|window| window == b"JBSWY3DPEHPK3PXP"),
            "the plaintext is not in the sealed value"
        );
        assert_eq!(
            key.open("totp.secret:local:alice", &sealed).unwrap(),
            b"JBSWY3DPEHPK3PXP"
        );
        // Moved to another row, another key, altered, truncated: refused.
        assert_eq!(
            key.open("totp.secret:local:mallory", &sealed),
            Err(SealError::DoesNotOpen)
        );
        let other = SealingKey::from_bytes([8; 32]);
        assert_eq!(
            other.open("totp.secret:local:alice", &sealed),
            Err(SealError::DoesNotOpen)
        );
        for index in [0, 5, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[index] ^= 1;
            assert!(key.open("totp.secret:local:alice", &altered).is_err());
        }
        assert!(key.open("totp.secret:local:alice", &sealed[..20]).is_err());
        // A fresh nonce each time: the same secret never looks the same.
        assert_ne!(
            sealed,
            key.seal("totp.secret:local:alice", b"JBSWY3DPEHPK3PXP")
        );
    }

    #[test]
    fn a_tag_covers_every_field_and_their_boundaries() {
        let key = SealingKey::from_bytes([7; 32]);
        let tag = key.tag("clock", &[b"1796132832050775", b"0"]);
        assert!(key.verify("clock", &[b"1796132832050775", b"0"], &tag));
        assert!(!key.verify("clock", &[b"1696132832050775", b"0"], &tag));
        assert!(!key.verify("clock", &[b"179613283205077", b"50"], &tag));
        assert!(!key.verify("license", &[b"1796132832050775", b"0"], &tag));
        assert!(!SealingKey::from_bytes([8; 32]).verify(
            "clock",
            &[b"1796132832050775", b"0"],
            &tag
        ));
        assert!(!key.verify("clock", &[b"1796132832050775", b"0"], &tag[..31]));
    }

    #[test]
    fn the_key_file_round_trips_and_names_the_key_without_showing_it() {
        let key = SealingKey::generate().unwrap();
        let text = key.to_file_text();
        let read = SealingKey::from_file_text(&text).unwrap();
        assert_eq!(read.id(), key.id());
        assert_eq!(
            read.open("x", &key.seal("x", b"secret")).unwrap(),
            b"secret"
        );
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.id_text()));
        assert!(!shown.contains(&STANDARD.encode(key.master)));
        assert_ne!(key.id(), SealingKey::generate().unwrap().id());
        for bad in ["", "ed25519-secret: AAAA", "gatehouse-sealing-key-v1: AAAA"] {
            assert!(SealingKey::from_file_text(bad).is_err(), "{bad:?}");
        }
    }
}
