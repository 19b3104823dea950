//! The application key file verifier (`gatehouse license verify-export`)
//! on arbitrary bytes: it answers, never panics.

#![no_main]

use gatehouse_core::export::verify;
use gatehouse_license::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let trusted = [SigningKey::from_bytes(&[42; 32]).verifying_key()];
    let _ = verify(data, &trusted);
});
