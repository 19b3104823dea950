//! Compiles the trusted vendor public keys into the server; which ones is
//! decided by `build/trust.rs` (nothing by default; see there).

use std::env;
use std::fs;
use std::path::PathBuf;

#[path = "build/trust.rs"]
mod trust;

fn main() {
    println!("cargo:rerun-if-env-changed=GATEHOUSE_TRUSTED_VENDOR_KEYS");
    println!("cargo:rerun-if-changed=build/trust.rs");
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.join("../..");
    let listed = env::var("GATEHOUSE_TRUSTED_VENDOR_KEYS").ok();
    let development = env::var_os("CARGO_FEATURE_DEVELOPMENT_KEY").is_some();
    let trusted = match trust::trusted_keys(listed.as_deref(), development, &workspace) {
        Ok(trusted) => trusted,
        Err(error) => panic!("{error}"),
    };
    for file in &trusted.files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let out_file =
        PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("trusted_vendor_keys.rs");
    fs::write(out_file, trusted.rust_source()).expect("write generated key list");
}
