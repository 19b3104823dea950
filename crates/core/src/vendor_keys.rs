//! The vendor public keys compiled into this build (see `build.rs` and
//! `build/trust.rs`): none by default; the development key only when the
//! build was made to trust it.

use gatehouse_license::VerifyingKey;
use gatehouse_license::key_file::fingerprint;

include!(concat!(env!("OUT_DIR"), "/trusted_vendor_keys.rs"));

/// Said wherever the build's trust is shown (`gatehouse --version`,
/// `serve`'s start line, the License page) when the development key is
/// trusted.
pub const DEVELOPMENT_KEY_TRUSTED: &str = "development key trusted";

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

/// The fingerprint of each trusted key (`SHA256:…`), in build order.
pub fn fingerprints() -> Vec<String> {
    trusted().iter().map(fingerprint).collect()
}

/// One line for people: the fingerprints, and whether the development key
/// is trusted.
pub fn summary() -> String {
    let keys = fingerprints();
    let mut text = if keys.is_empty() {
        "trusted vendor keys: none (only the demo license can run)".to_string()
    } else {
        format!("trusted vendor keys: {}", keys.join(", "))
    };
    if trusts_development_key() {
        text.push_str("; ");
        text.push_str(DEVELOPMENT_KEY_TRUSTED);
    }
    text
}

#[cfg(test)]
#[path = "../build/trust.rs"]
mod trust;

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use gatehouse_license::KeyRefusal;
    use gatehouse_license::key::decode_signed;

    use super::trust::trusted_keys;

    fn workspace() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// A genuine key made with the development key (its secret half is in
    /// the repository).
    const DEV_SIGNED: &str = "GHL1.R0hMAQAJZml4dHVyZS03AAAAAGsOz98AFDBGM1pQV0I4M1BKMkRFUzlNV01RABVGaXh0dXJlIE5ldHdvcmtzIEx0ZC4AA0QtNwAAACgCCDMMHwE.YNDdzKGbtnAGKPcEzH9LYY_s-QKFzPvkjdylOZcctJhWVRaoqoXquhmZxydE6di81TlagffcT0bKV7vWRwjQDA";

    fn keys(bytes: &[[u8; 32]]) -> Vec<gatehouse_license::VerifyingKey> {
        bytes
            .iter()
            .map(|b| gatehouse_license::VerifyingKey::from_bytes(b).unwrap())
            .collect()
    }

    #[test]
    fn a_default_build_trusts_no_key_and_refuses_development_keys_saying_why() {
        // What `cargo build --release` does with nothing set.
        let default = trusted_keys(None, false, &workspace()).unwrap();
        assert!(
            default.keys.is_empty() && !default.development,
            "{default:?}"
        );
        assert!(
            default
                .rust_source()
                .contains("TRUSTS_DEVELOPMENT_KEY: bool = false")
        );
        let refusal = decode_signed(DEV_SIGNED, &keys(&default.keys)).unwrap_err();
        assert_eq!(refusal, KeyRefusal::DevelopmentKey);
        assert!(
            refusal
                .to_string()
                .contains("development vendor key, which this build does not trust"),
            "{refusal}"
        );
        // An empty list is the same as none.
        assert_eq!(
            trusted_keys(Some(" "), false, &workspace()).unwrap(),
            default
        );
    }

    #[test]
    fn trusting_the_development_key_is_an_explicit_choice() {
        for (listed, feature) in [(Some("keys/dev-vendor.pub"), false), (None, true)] {
            let trusted = trusted_keys(listed, feature, &workspace()).unwrap();
            assert!(trusted.development, "{listed:?} {feature}");
            assert_eq!(trusted.keys.len(), 1);
            assert!(
                trusted
                    .rust_source()
                    .contains("TRUSTS_DEVELOPMENT_KEY: bool = true")
            );
            assert!(decode_signed(DEV_SIGNED, &keys(&trusted.keys)).is_ok());
        }
        // Both at once trust it once.
        let both = trusted_keys(Some("keys/dev-vendor.pub"), true, &workspace()).unwrap();
        assert_eq!(both.keys.len(), 1);
    }

    #[test]
    fn a_listed_file_that_is_not_a_public_key_stops_the_build() {
        let error = trusted_keys(Some("keys/dev-vendor.key"), false, &workspace()).unwrap_err();
        assert!(
            error.starts_with("GATEHOUSE_TRUSTED_VENDOR_KEYS:"),
            "{error}"
        );
        let error = trusted_keys(Some("keys/nonexistent.pub"), false, &workspace()).unwrap_err();
        assert!(error.contains("nonexistent.pub"), "{error}");
    }

    #[test]
    fn the_summary_names_every_key_and_the_development_key() {
        let summary = super::summary();
        for fingerprint in super::fingerprints() {
            assert!(summary.contains(&fingerprint), "{summary}");
        }
        assert_eq!(
            summary.ends_with(super::DEVELOPMENT_KEY_TRUSTED),
            super::trusts_development_key()
        );
    }
}
