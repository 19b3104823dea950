//! License keys: the text form and signature check (`decode_signed`,
//! `check_key`) on arbitrary text, and the payload parser behind the
//! signature, reached by signing the fuzzer's bytes with a vendor key the
//! harness trusts: a payload that parses must survive the whole round trip.

#![no_main]

use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_license::key::{InstallContext, LicensePayload, check_key, decode_signed, issue};
use gatehouse_license::{AppKey, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let vendor = SigningKey::from_bytes(&[42; 32]);
    let trusted = [vendor.verifying_key()];
    let installation = AppKey::of(&SigningKey::from_bytes(&[7; 32]).verifying_key());
    let zone = TimeZone::UTC;
    let context = |now: Timestamp| InstallContext {
        trusted: &trusted,
        app_key: installation,
        now,
        zone: &zone,
        installed_issued_at: None,
    };
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_signed(text, &trusted);
        let _ = check_key(text, &context(Timestamp::UNIX_EPOCH));
    }
    if let Ok(payload) = LicensePayload::from_bytes(data)
        && let Ok(text) = issue(&payload, &vendor)
    {
        let verified = decode_signed(&text, &trusted).expect("a key just issued verifies");
        assert_eq!(verified.payload, payload);
        let _ = check_key(&text, &context(payload.issued_at));
    }
});
