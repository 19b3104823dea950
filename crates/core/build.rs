//! Compiles the trusted vendor public keys into the server.
//!
//! `GATEHOUSE_TRUSTED_VENDOR_KEYS` lists public key files (written by
//! `gatehouse-vendor keygen`), separated by `:`. Unset, the build trusts the
//! development key `keys/dev-vendor.pub`, and the server says so at start.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const PREFIX: &str = "ed25519-public:";

fn main() {
    println!("cargo:rerun-if-env-changed=GATEHOUSE_TRUSTED_VENDOR_KEYS");
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dev_key = manifest_dir.join("../../keys/dev-vendor.pub");
    let files: Vec<PathBuf> = match env::var("GATEHOUSE_TRUSTED_VENDOR_KEYS") {
        Ok(list) if !list.trim().is_empty() => list.split(':').map(PathBuf::from).collect(),
        _ => vec![dev_key.clone()],
    };
    let dev_bytes = read_key(&dev_key).ok();
    let mut keys = Vec::new();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        match read_key(file) {
            Ok(key) => keys.push(key),
            Err(error) => panic!("GATEHOUSE_TRUSTED_VENDOR_KEYS: {}: {error}", file.display()),
        }
    }
    let trusts_dev = dev_bytes.is_some_and(|dev| keys.contains(&dev));
    let mut out = String::from(
        "/// Vendor public keys this build trusts.\npub const TRUSTED_VENDOR_KEYS: &[[u8; 32]] = &[\n",
    );
    for key in &keys {
        out.push_str(&format!("    {key:?},\n"));
    }
    out.push_str("];\n");
    out.push_str(&format!(
        "/// Whether the development key (keys/dev-vendor.pub) is among them.\npub const TRUSTS_DEVELOPMENT_KEY: bool = {trusts_dev};\n"
    ));
    let out_file =
        PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("trusted_vendor_keys.rs");
    fs::write(out_file, out).expect("write generated key list");
}

fn read_key(path: &Path) -> Result<[u8; 32], String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
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
