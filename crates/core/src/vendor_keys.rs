//! The vendor public keys compiled into this build (see `build.rs`).

use gatehouse_license::VerifyingKey;

include!(concat!(env!("OUT_DIR"), "/trusted_vendor_keys.rs"));

/// The trusted vendor keys, parsed.
pub fn trusted() -> Vec<VerifyingKey> {
    TRUSTED_VENDOR_KEYS
        .iter()
        .map(|bytes| {
            VerifyingKey::from_bytes(bytes).expect("build.rs embeds valid Ed25519 public keys")
        })
        .collect()
}

/// True when this build accepts keys signed with the public development
/// key; production builds must not.
pub fn trusts_development_key() -> bool {
    TRUSTS_DEVELOPMENT_KEY
}
