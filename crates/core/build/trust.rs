//! Which vendor public keys a build trusts: the logic of `build.rs`, kept
//! apart so that it is unit-tested (`vendor_keys::tests`).
//!
//! - `GATEHOUSE_TRUSTED_VENDOR_KEYS` lists public key files (written by
//!   `gatehouse-vendor keygen`), separated by `:`; relative paths are taken
//!   from the workspace root.
//! - The cargo feature `development-key` adds the published development
//!   key, `keys/dev-vendor.pub` (the tests turn it on).
//! - With neither, the build trusts no vendor key: only the demo license
//!   can run. Nothing is trusted by default, so a binary built the way the
//!   README builds it never accepts keys anyone can issue.

use std::path::{Path, PathBuf};

/// Starts a public key line in a vendor key file.
const PREFIX: &str = "ed25519-public:";

/// The keys a build trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKeys {
    /// Each trusted key's 32 bytes, in the order given, without repeats.
    pub keys: Vec<[u8; 32]>,
    /// The files they were read from (for `rerun-if-changed`).
    pub files: Vec<PathBuf>,
    /// Whether the development key is among them.
    pub development: bool,
}

/// `listed`: the value of `GATEHOUSE_TRUSTED_VENDOR_KEYS`, if set;
/// `development_feature`: whether the `development-key` feature is on;
/// `workspace`: the workspace root (relative paths and the development
/// key are found there).
pub fn trusted_keys(
    listed: Option<&str>,
    development_feature: bool,
    workspace: &Path,
) -> Result<TrustedKeys, String> {
    let dev_file = workspace.join("keys/dev-vendor.pub");
    let mut files: Vec<PathBuf> = listed
        .unwrap_or_default()
        .split(':')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| workspace.join(entry))
        .collect();
    if development_feature {
        files.push(dev_file.clone());
    }
    let dev_key = read_key(&dev_file).ok();
    let mut keys = Vec::new();
    for file in &files {
        let key = read_key(file).map_err(|error| {
            format!("GATEHOUSE_TRUSTED_VENDOR_KEYS: {}: {error}", file.display())
        })?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let development = dev_key.is_some_and(|dev| keys.contains(&dev));
    Ok(TrustedKeys {
        keys,
        files,
        development,
    })
}

impl TrustedKeys {
    /// The Rust source `vendor_keys.rs` includes.
    pub fn rust_source(&self) -> String {
        let mut out = String::from(
            "/// Vendor public keys this build trusts.\npub const TRUSTED_VENDOR_KEYS: &[[u8; 32]] = &[\n",
        );
        for key in &self.keys {
            out.push_str(&format!("    {key:?},\n"));
        }
        out.push_str("];\n");
        out.push_str(&format!(
            "/// Whether the development key (keys/dev-vendor.pub) is among them.\npub const TRUSTS_DEVELOPMENT_KEY: bool = {};\n",
            self.development
        ));
        out
    }
}

fn read_key(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .ok_or("no key line")?;
    let encoded = line
        .strip_prefix(PREFIX)
        .ok_or_else(|| {
            format!("expected a line starting with {PREFIX:?} (a vendor public key file)")
        })?
        .trim();
    let bytes = decode_base64(encoded).ok_or("the key is not valid base64")?;
    bytes
        .try_into()
        .map_err(|_| "the key is not 32 bytes".to_string())
}

/// Standard base64 with padding; enough for a 32-byte key, without a
/// build dependency.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let trimmed = text.trim_end_matches('=');
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in trimmed.bytes() {
        buffer = (buffer << 6) | value(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}
