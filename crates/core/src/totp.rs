//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30 s).
//!
//! Pure functions; replay protection (each time step is accepted at most
//! once per user) is enforced by the store, atomically.

use std::fmt;

use gatehouse_license::jiff::Timestamp;
use hmac::{KeyInit as _, Mac as _};
use subtle::ConstantTimeEq as _;

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds per time step.
pub const PERIOD: i64 = 30;
/// Secret length (RFC 4226 recommends 160 bits).
pub const SECRET_BYTES: usize = 20;
/// Steps accepted either side of now (clock drift between phone and server).
pub const WINDOW: i64 = 1;

/// How a user presents their code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpMode {
    /// Password first; the server answers with a challenge for the code.
    Challenge,
    /// The code typed right after the password, in the same field.
    Append,
}

impl TotpMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TotpMode::Challenge => "challenge",
            TotpMode::Append => "append",
        }
    }

    pub fn parse(text: &str) -> Option<TotpMode> {
        match text {
            "challenge" => Some(TotpMode::Challenge),
            "append" => Some(TotpMode::Append),
            _ => None,
        }
    }
}

/// A shared TOTP secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        TotpSecret(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> TotpSecret {
        TotpSecret(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps expect.
    pub fn to_base32(&self) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::new();
        let mut buffer = 0u32;
        let mut bits = 0;
        for &byte in &self.0 {
            buffer = (buffer << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
        }
        out
    }

    /// Reads RFC 4648 base32 (case and padding forgiven), as shown at
    /// enrollment.
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        let mut out = Vec::new();
        let mut buffer = 0u32;
        let mut bits = 0;
        for c in text.trim_end_matches('=').chars() {
            let value = match c.to_ascii_uppercase() {
                c @ 'A'..='Z' => c as u32 - 'A' as u32,
                c @ '2'..='7' => c as u32 - '2' as u32 + 26,
                _ => return None,
            };
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        (!out.is_empty()).then_some(TotpSecret(out))
    }

    /// The `otpauth://` URI an authenticator app scans.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
            issuer = percent_encode(issuer),
            account = percent_encode(account),
            secret = self.to_base32(),
        )
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<secret>)")
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The time step `at` falls in.
pub fn step_of(at: Timestamp) -> i64 {
    at.as_second().div_euclid(PERIOD)
}

/// The HOTP value (RFC 4226) for `step`, as `DIGITS` decimal digits.
pub fn code_at(secret: &TotpSecret, step: i64) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS as u32),
        width = DIGITS
    )
}

/// The step within ±[`WINDOW`] of `now` whose code is `code`, if any. The
/// comparison takes the same time whichever step matches.
pub fn matching_step(secret: &TotpSecret, code: &str, now: Timestamp) -> Option<i64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    let mut found = None;
    for step in current - WINDOW..=current + WINDOW {
        let matches: bool = code_at(secret, step)
            .as_bytes()
            .ct_eq(code.as_bytes())
            .into();
        if matches && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// Splits `password+code` typed in one field. `None` when the text does
/// not end in [`DIGITS`] digits after a non-empty password.
pub fn split_appended(typed: &str) -> Option<(&str, &str)> {
    let split = typed.len().checked_sub(DIGITS)?;
    if split == 0 || !typed.is_char_boundary(split) {
        return None;
    }
    let (password, code) = typed.split_at(split);
    code.bytes()
        .all(|b| b.is_ascii_digit())
        .then_some((password, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    /// RFC 6238 Appendix B, SHA1, last six of the eight digits.
    #[test]
    fn rfc_6238_test_vectors() {
        let cases = [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ];
        for (seconds, code) in cases {
            let at = Timestamp::from_second(seconds).unwrap();
            assert_eq!(code_at(&rfc_secret(), step_of(at)), code, "T={seconds}");
        }
    }

    #[test]
    fn codes_one_step_either_side_are_accepted() {
        let secret = rfc_secret();
        let now = Timestamp::from_second(1_234_567_890).unwrap();
        let step = step_of(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at(&secret, step + offset);
            assert_eq!(
                matching_step(&secret, &code, now),
                accepted.then_some(step + offset),
                "offset {offset}"
            );
        }
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "12345a", now), None);
        assert_eq!(matching_step(&secret, "", now), None);
    }

    #[test]
    fn base32_and_uri_match_authenticator_apps() {
        assert_eq!(rfc_secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(TotpSecret::from_bytes(b"f".to_vec()).to_base32(), "MY");
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            Some(rfc_secret())
        );
        assert_eq!(
            TotpSecret::from_base32("gezdgnbvgy3tqojqgezdgnbvgy3tqojq"),
            Some(rfc_secret())
        );
        assert_eq!(
            TotpSecret::from_base32("MY======"),
            Some(TotpSecret::from_bytes(b"f".to_vec()))
        );
        assert_eq!(TotpSecret::from_base32("GEZ1"), None);
        assert_eq!(TotpSecret::from_base32(""), None);
        assert_eq!(
            rfc_secret().otpauth_uri("Gatehouse", "john doe"),
            "otpauth://totp/Gatehouse:john%20doe?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Gatehouse&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{:?}", rfc_secret()), "TotpSecret(<secret>)");
    }

    #[test]
    fn password_and_code_typed_together_split_at_the_last_six_digits() {
        assert_eq!(split_appended("hunter2123456"), Some(("hunter2", "123456")));
        assert_eq!(
            split_appended("pässwörd000000"),
            Some(("pässwörd", "000000"))
        );
        assert_eq!(
            split_appended("123456"),
            None,
            "a code alone has no password"
        );
        assert_eq!(split_appended("hunter2"), None);
        assert_eq!(split_appended("hunter12345x"), None);
        assert_eq!(split_appended("ab€12345"), None);
    }
}
