//! The configuration parser and its checks (`gatehouse.toml`) on arbitrary
//! text: an error that names the key, or a configuration; never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, reason = "only the parser is fuzzed")]
#[path = "../../bin/gatehouse/src/config/mod.rs"]
mod config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::from_toml(std::path::Path::new("/nonexistent-gatehouse-data"), text);
    }
});
