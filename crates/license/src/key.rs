//! License keys: the signed payload, its canonical bytes, its text form and
//! the checks a key must pass before it is installed.
//!
//! Text form: `GHL1.<payload>.<signature>`, both parts base64url without
//! padding. The signature is Ed25519 over [`SIGNATURE_DOMAIN`] followed by the
//! canonical payload bytes. Whitespace anywhere in a pasted key is ignored.
//!
//! Canonical payload bytes (all integers big-endian, strings as a `u16`
//! byte length followed by UTF-8):
//!
//! | field | encoding |
//! |---|---|
//! | magic | `GHL` |
//! | format version | `u8` (currently 1) |
//! | license ID | string |
//! | issued at | `i64` Unix seconds |
//! | App Key | string, compact form (20 characters) |
//! | company | string |
//! | dossier | string |
//! | user limit | `u32`, at least 1 |
//! | license type | `u8`: 1 = Demo License, 2 = Subscription |
//! | Support End Date | `i16` year, `u8` month, `u8` day |
//! | push subscription | `u8`: 0 = Inactive, 1 = Active |
//! | options (format 2 only) | `u8` count, then per option `u8` tag and `u32` value |
//!
//! Format 1 is a key that grants no option: every key issued before the
//! options existed, and every key issued since without one, so a key means
//! exactly what it meant. Format 2 appends the options the vendor granted
//! ([`LicenseOptions`]): tags strictly ascending, values not zero (an absent
//! option is zero), at least one. A tag this build does not know refuses the
//! key (it grants something this Gatehouse could not honour).
//!
//! Decoding accepts exactly these bytes and nothing else (no trailing bytes,
//! no out-of-range values), so every payload has one encoding.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::app_key::AppKey;

/// Prefix of the text form; the digit is the text-form version.
pub const TEXT_PREFIX: &str = "GHL1.";

/// Signed together with the payload so a Gatehouse signature can never be
/// confused with a signature over anything else.
pub const SIGNATURE_DOMAIN: &[u8] = b"gatehouse license key v1\0";

/// The payload format of a key without options.
pub const FORMAT_VERSION: u8 = 1;

/// The payload format of a key with options; the newest this build reads.
pub const FORMAT_VERSION_OPTIONS: u8 = 2;

/// Largest overage allowance a key may grant, in percent of the limit.
pub const MAX_OVERAGE_PERCENT: u32 = 100;

/// Longest grace after the Support End Date a key may grant, in days.
pub const MAX_GRACE_DAYS: u32 = 90;

/// Most exempt or break-glass seats a key may grant.
pub const MAX_NAMED_SEATS: u32 = 10_000;

/// How far in the future a key's issue time may lie (clock skew between the
/// vendor and the installation).
pub const MAX_FUTURE_SKEW: SignedDuration = SignedDuration::from_mins(5);

/// Longest accepted text field, in bytes.
pub const MAX_FIELD_BYTES: usize = 256;

const MAGIC: &[u8; 3] = b"GHL";

/// Demo or paid subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LicenseType {
    Demo,
    Subscription,
}

impl LicenseType {
    fn code(self) -> u8 {
        match self {
            LicenseType::Demo => 1,
            LicenseType::Subscription => 2,
        }
    }

    fn from_code(code: u8) -> Option<LicenseType> {
        match code {
            1 => Some(LicenseType::Demo),
            2 => Some(LicenseType::Subscription),
            _ => None,
        }
    }
}

impl fmt::Display for LicenseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(crate::words::license_type(*self))
    }
}

/// What a vendor may grant beyond the limit and the Support End Date
/// (SPEC §16). Zero is "not granted": a key without options is today's
/// strict license.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LicenseOptions {
    /// New users are admitted up to `limit + floor(limit × N / 100)`.
    pub overage_percent: u32,
    /// Days after the Support End Date during which users already counted
    /// in the month still log in.
    pub grace_days: u32,
    /// Users an administrator may mark as never counted.
    pub exempt_seats: u32,
    /// Users an administrator may name who are never refused for the limit.
    pub reserved_seats: u32,
}

impl LicenseOptions {
    /// Tag and value of each option, in tag order (the encoding's order).
    fn tagged(&self) -> [(u8, u32); 4] {
        [
            (1, self.overage_percent),
            (2, self.grace_days),
            (3, self.exempt_seats),
            (4, self.reserved_seats),
        ]
    }

    fn set(&mut self, tag: u8, value: u32) -> Result<(), String> {
        let field = match tag {
            1 => &mut self.overage_percent,
            2 => &mut self.grace_days,
            3 => &mut self.exempt_seats,
            4 => &mut self.reserved_seats,
            _ => {
                return Err(format!(
                    "the key grants an option (tag {tag}) this Gatehouse does not know; upgrade Gatehouse"
                ));
            }
        };
        *field = value;
        Ok(())
    }

    /// No option granted.
    pub fn is_empty(&self) -> bool {
        *self == LicenseOptions::default()
    }

    /// Seats past the limit the overage allowance grants for `user_limit`:
    /// `floor(user_limit × percent / 100)`.
    pub fn overage_seats(&self, user_limit: u32) -> u32 {
        let seats = u64::from(user_limit) * u64::from(self.overage_percent) / 100;
        u32::try_from(seats).unwrap_or(u32::MAX)
    }

    fn validate(&self) -> Result<(), PayloadError> {
        for (option, value, max) in [
            ("overage percent", self.overage_percent, MAX_OVERAGE_PERCENT),
            ("grace days", self.grace_days, MAX_GRACE_DAYS),
            ("exempt seats", self.exempt_seats, MAX_NAMED_SEATS),
            ("reserved seats", self.reserved_seats, MAX_NAMED_SEATS),
        ] {
            if value > max {
                return Err(PayloadError::OptionTooLarge { option, max });
            }
        }
        Ok(())
    }
}

/// Everything a license key says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicensePayload {
    pub license_id: String,
    pub issued_at: Timestamp,
    pub app_key: AppKey,
    pub company: String,
    pub dossier: String,
    pub user_limit: u32,
    pub license_type: LicenseType,
    /// Last day (inclusive, license time zone) on which the license is valid.
    pub support_end: Date,
    pub push_subscription: bool,
    /// What the vendor granted beyond the limit (none: format 1).
    pub options: LicenseOptions,
}

/// Why a payload cannot be encoded: a field the format cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("{field} is longer than {MAX_FIELD_BYTES} bytes")]
    TooLong { field: &'static str },
    #[error("{field} contains a control character")]
    ControlCharacter { field: &'static str },
    #[error("user limit must be at least 1")]
    ZeroUserLimit,
    #[error("Support End Date {0} is outside the years 1970-9999")]
    DateOutOfRange(Date),
    #[error("{option} must be at most {max}")]
    OptionTooLarge { option: &'static str, max: u32 },
}

impl LicensePayload {
    /// The payload format this key is encoded in: 1 without options, 2
    /// with.
    pub fn format_version(&self) -> u8 {
        if self.options.is_empty() {
            FORMAT_VERSION
        } else {
            FORMAT_VERSION_OPTIONS
        }
    }

    /// Checks the rules the encoding enforces, so an issuer learns about a
    /// bad field before a key is made.
    pub fn validate(&self) -> Result<(), PayloadError> {
        for (field, value) in [
            ("license ID", &self.license_id),
            ("company", &self.company),
            ("dossier", &self.dossier),
        ] {
            if value.len() > MAX_FIELD_BYTES {
                return Err(PayloadError::TooLong { field });
            }
            if value.chars().any(char::is_control) {
                return Err(PayloadError::ControlCharacter { field });
            }
        }
        if self.user_limit == 0 {
            return Err(PayloadError::ZeroUserLimit);
        }
        if !(1970..=9999).contains(&self.support_end.year()) {
            return Err(PayloadError::DateOutOfRange(self.support_end));
        }
        self.options.validate()
    }

    /// The canonical bytes that are signed.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PayloadError> {
        self.validate()?;
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.push(self.format_version());
        put_str(&mut out, &self.license_id);
        out.extend_from_slice(&self.issued_at.as_second().to_be_bytes());
        put_str(&mut out, self.app_key.compact());
        put_str(&mut out, &self.company);
        put_str(&mut out, &self.dossier);
        out.extend_from_slice(&self.user_limit.to_be_bytes());
        out.push(self.license_type.code());
        out.extend_from_slice(&self.support_end.year().to_be_bytes());
        out.push(self.support_end.month() as u8);
        out.push(self.support_end.day() as u8);
        out.push(u8::from(self.push_subscription));
        if !self.options.is_empty() {
            let granted: Vec<(u8, u32)> = self
                .options
                .tagged()
                .into_iter()
                .filter(|&(_, value)| value != 0)
                .collect();
            out.push(granted.len() as u8);
            for (tag, value) in granted {
                out.push(tag);
                out.extend_from_slice(&value.to_be_bytes());
            }
        }
        Ok(out)
    }

    /// Decodes canonical payload bytes; anything else is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<LicensePayload, String> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(3)? != MAGIC {
            return Err("not a Gatehouse license payload".into());
        }
        let format_version = reader.u8()?;
        if !(FORMAT_VERSION..=FORMAT_VERSION_OPTIONS).contains(&format_version) {
            return Err(format!(
                "license format version {format_version} is not supported by this Gatehouse (supports {FORMAT_VERSION} to {FORMAT_VERSION_OPTIONS}); upgrade Gatehouse"
            ));
        }
        let license_id = reader.string("license ID")?;
        let issued_at = Timestamp::from_second(reader.i64()?)
            .map_err(|_| "issue time is out of range".to_string())?;
        let app_key = reader
            .string("App Key")?
            .parse::<AppKey>()
            .map_err(|e| e.to_string())?;
        let company = reader.string("company")?;
        let dossier = reader.string("dossier")?;
        let user_limit = reader.u32()?;
        let license_type = LicenseType::from_code(reader.u8()?)
            .ok_or_else(|| "unknown license type".to_string())?;
        let year = reader.i16()?;
        let month = reader.u8()?;
        let day = reader.u8()?;
        let support_end = Date::new(year, month as i8, day as i8)
            .map_err(|_| "Support End Date is not a valid date".to_string())?;
        let push_subscription = match reader.u8()? {
            0 => false,
            1 => true,
            _ => return Err("push subscription flag is not 0 or 1".into()),
        };
        let mut options = LicenseOptions::default();
        if format_version == FORMAT_VERSION_OPTIONS {
            // Canonical form (ascending tags, no zero, at least one) is
            // checked below by encoding again.
            for _ in 0..reader.u8()? {
                let tag = reader.u8()?;
                options.set(tag, reader.u32()?)?;
            }
        }
        if reader.at != bytes.len() {
            return Err("unexpected bytes after the payload".into());
        }
        let payload = LicensePayload {
            license_id,
            issued_at,
            app_key,
            company,
            dossier,
            user_limit,
            license_type,
            support_end,
            push_subscription,
            options,
        };
        payload.validate().map_err(|e| e.to_string())?;
        // Canonical form only: the compact App Key is the one encoding.
        if payload.to_bytes().as_deref() != Ok(bytes) {
            return Err("payload is not in canonical form".into());
        }
        Ok(payload)
    }
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    // validate() keeps every field within MAX_FIELD_BYTES, far below u16::MAX.
    let len = u16::try_from(value.len()).expect("field length checked by validate()");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| "payload is truncated".to_string())?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn string(&mut self, field: &str) -> Result<String, String> {
        let len = usize::from(u16::from_be_bytes(self.array()?));
        if len > MAX_FIELD_BYTES {
            return Err(format!("{field} is too long"));
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{field} is not valid UTF-8"))
    }
}

/// A key that passed every check, with the text it was read from
/// (whitespace removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedKey {
    pub payload: LicensePayload,
    pub text: String,
}

/// Why a key is refused. The current license stays in force.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    #[error("malformed license key: {0}")]
    Malformed(String),
    #[error(
        "license key signature is not valid: the key was not issued by a trusted vendor, or it was altered"
    )]
    BadSignature,
    #[error(
        "license key is signed with the published development vendor key, which this build does not trust (it is for tests and evaluation only); request a key from the vendor"
    )]
    DevelopmentKey,
    #[error(
        "license key is bound to App Key {key_app_key}, not to this installation's App Key {this_app_key}"
    )]
    OtherAppKey {
        key_app_key: AppKey,
        this_app_key: AppKey,
    },
    #[error(
        "license key is issued in the future ({issued_at}, more than 5 minutes ahead of this server's time {now}); check the system clock"
    )]
    IssuedInFuture {
        issued_at: Timestamp,
        now: Timestamp,
    },
    #[error("license key expired on {support_end} (its Support End Date); request a renewed key")]
    Expired { support_end: Date },
    #[error(
        "the installation's clock record was changed outside Gatehouse: only a freshly issued license key (issued within the last 24 hours, newer than the installed one) can repair it; request a new key"
    )]
    NotFresh,
    #[error(
        "license key {license_id} was issued on {issued_at}, before the installed license (issued {installed_issued_at}); the installed license supersedes it"
    )]
    Superseded {
        license_id: String,
        issued_at: Timestamp,
        installed_issued_at: Timestamp,
    },
}

/// Splits the text form and checks the signature against the trusted vendor
/// keys. Returns the payload and the normalised text.
pub fn decode_signed(text: &str, trusted: &[VerifyingKey]) -> Result<VerifiedKey, KeyRefusal> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let malformed = |why: &str| KeyRefusal::Malformed(why.to_string());
    if compact.is_empty() {
        return Err(malformed("the key is empty"));
    }
    let body = compact
        .strip_prefix(TEXT_PREFIX)
        .ok_or_else(|| malformed("a Gatehouse license key starts with GHL1."))?;
    let (payload_b64, signature_b64) = body
        .split_once('.')
        .ok_or_else(|| malformed("the signature part is missing"))?;
    let payload_bytes = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| malformed("the payload is not valid base64url"))?;
    let signature_bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| malformed("the signature is not valid base64url"))?
        .try_into()
        .map_err(|_| malformed("the signature has the wrong length"))?;
    let signature = Signature::from_bytes(&signature_bytes);
    let message = signed_message(&payload_bytes);
    let signed_by_trusted_vendor = trusted
        .iter()
        .any(|vendor| vendor.verify_strict(&message, &signature).is_ok());
    if !signed_by_trusted_vendor {
        // Say so plainly when the key is genuine but made with the public
        // development key: the build, not the key, is what refuses it.
        let development = VerifyingKey::from_bytes(&crate::key_file::DEVELOPMENT_PUBLIC_KEY)
            .is_ok_and(|dev| dev.verify_strict(&message, &signature).is_ok());
        return Err(if development {
            KeyRefusal::DevelopmentKey
        } else {
            KeyRefusal::BadSignature
        });
    }
    let payload = LicensePayload::from_bytes(&payload_bytes).map_err(KeyRefusal::Malformed)?;
    Ok(VerifiedKey {
        payload,
        text: compact,
    })
}

/// What a new key is checked against.
#[derive(Debug)]
pub struct InstallContext<'a> {
    /// Vendor public keys this build trusts.
    pub trusted: &'a [VerifyingKey],
    /// This installation's App Key.
    pub app_key: AppKey,
    /// Effective time (see [`crate::clock`]).
    pub now: Timestamp,
    /// Expiry of the candidate is judged in the license time zone.
    pub zone: &'a jiff::tz::TimeZone,
    /// Issue time of the installed vendor key, if one is installed (the
    /// built-in demo is not a vendor key).
    pub installed_issued_at: Option<Timestamp>,
}

/// Runs every check a key must pass to be installed, in the order an
/// administrator would want them reported.
pub fn check_key(text: &str, context: &InstallContext<'_>) -> Result<VerifiedKey, KeyRefusal> {
    let verified = decode_signed(text, context.trusted)?;
    let payload = &verified.payload;
    if payload.app_key != context.app_key {
        return Err(KeyRefusal::OtherAppKey {
            key_app_key: payload.app_key,
            this_app_key: context.app_key,
        });
    }
    if payload.issued_at > add_or_max(context.now, MAX_FUTURE_SKEW) {
        return Err(KeyRefusal::IssuedInFuture {
            issued_at: payload.issued_at,
            now: context.now,
        });
    }
    if crate::calendar::is_expired(payload.support_end, context.zone, context.now) {
        return Err(KeyRefusal::Expired {
            support_end: payload.support_end,
        });
    }
    if let Some(installed_issued_at) = context.installed_issued_at
        && payload.issued_at < installed_issued_at
    {
        return Err(KeyRefusal::Superseded {
            license_id: payload.license_id.clone(),
            issued_at: payload.issued_at,
            installed_issued_at,
        });
    }
    Ok(verified)
}

fn add_or_max(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn signed_message(payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_DOMAIN.len() + payload.len());
    message.extend_from_slice(SIGNATURE_DOMAIN);
    message.extend_from_slice(payload);
    message
}

/// Signs a payload into the text form. Only the vendor tool enables this
/// (and this crate's own tests).
#[cfg(any(feature = "issue", test))]
pub fn issue(
    payload: &LicensePayload,
    vendor: &ed25519_dalek::SigningKey,
) -> Result<String, PayloadError> {
    Ok(sign_bytes(&payload.to_bytes()?, vendor))
}

/// The text form of payload bytes signed by `vendor`.
#[cfg(any(feature = "issue", test))]
fn sign_bytes(bytes: &[u8], vendor: &ed25519_dalek::SigningKey) -> String {
    use ed25519_dalek::Signer as _;
    let signature = vendor.sign(&signed_message(bytes));
    format!(
        "{TEXT_PREFIX}{}.{}",
        URL_SAFE_NO_PAD.encode(bytes),
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use jiff::civil::date;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    fn vendor() -> SigningKey {
        SigningKey::from_bytes(&[42; 32])
    }

    fn installation_app_key() -> AppKey {
        AppKey::of(&SigningKey::from_bytes(&[7; 32]).verifying_key())
    }

    fn now() -> Timestamp {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    fn payload() -> LicensePayload {
        LicensePayload {
            license_id: "L-2026-0042".into(),
            issued_at: "2026-11-28T11:00:00Z".parse().unwrap(),
            app_key: installation_app_key(),
            company: "Example Networks Ltd.".into(),
            dossier: "D-1234".into(),
            user_limit: 200,
            license_type: LicenseType::Subscription,
            support_end: date(2027, 1, 31),
            push_subscription: true,
            options: LicenseOptions::default(),
        }
    }

    fn context<'a>(trusted: &'a [VerifyingKey], zone: &'a TimeZone) -> InstallContext<'a> {
        InstallContext {
            trusted,
            app_key: installation_app_key(),
            now: now(),
            zone,
            installed_issued_at: None,
        }
    }

    /// Replaces one base64url character of the payload part with another
    /// valid one, so the key still decodes but no longer matches.
    fn flip_payload_char(key: &str, index: usize) -> String {
        let mut chars: Vec<char> = key.chars().collect();
        let at = TEXT_PREFIX.len() + index;
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect()
    }

    #[test]
    fn an_issued_key_verifies_and_round_trips() {
        let key = issue(&payload(), &vendor()).unwrap();
        let trusted = [vendor().verifying_key()];
        let zone = TimeZone::UTC;
        let verified = check_key(&key, &context(&trusted, &zone)).unwrap();
        assert_eq!(verified.payload, payload());
        assert_eq!(verified.text, key);
    }

    #[test]
    fn whitespace_and_line_breaks_in_a_pasted_key_are_ignored() {
        let key = issue(&payload(), &vendor()).unwrap();
        let pasted: String = key
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let sep = match i % 17 {
                    0 => "\r\n",
                    5 => " ",
                    9 => "\t",
                    _ => "",
                };
                sep.chars().chain(std::iter::once(c)).collect::<Vec<_>>()
            })
            .collect();
        let pasted = format!("  \n{pasted}\n\n");
        let trusted = [vendor().verifying_key()];
        let zone = TimeZone::UTC;
        let verified = check_key(&pasted, &context(&trusted, &zone)).unwrap();
        assert_eq!(verified.text, key);
    }

    /// Every refusal reason, each named in its message.
    #[test]
    fn every_refusal_reason_is_named() {
        let trusted = [vendor().verifying_key()];
        let zone = TimeZone::UTC;
        let good = issue(&payload(), &vendor()).unwrap();
        let other_vendor = SigningKey::from_bytes(&[43; 32]);
        let other_app_key = AppKey::of(&SigningKey::from_bytes(&[8; 32]).verifying_key());

        let future = LicensePayload {
            issued_at: now()
                .checked_add(SignedDuration::from_secs(5 * 60 + 1))
                .unwrap(),
            ..payload()
        };
        let slightly_ahead = LicensePayload {
            issued_at: now().checked_add(SignedDuration::from_mins(5)).unwrap(),
            ..payload()
        };
        let expired = LicensePayload {
            support_end: date(2026, 11, 27),
            ..payload()
        };
        let last_day = LicensePayload {
            support_end: date(2026, 11, 28),
            ..payload()
        };
        let mut unsupported_version = payload().to_bytes().unwrap();
        unsupported_version[3] = 3;

        type Expect = fn(&Result<VerifiedKey, KeyRefusal>) -> bool;
        let cases: Vec<(&str, String, Expect, &str)> = vec![
            (
                "empty",
                "  \n".into(),
                |r| matches!(r, Err(KeyRefusal::Malformed(_))),
                "malformed",
            ),
            (
                "wrong prefix",
                good.replacen("GHL1.", "XYZ1.", 1),
                |r| matches!(r, Err(KeyRefusal::Malformed(_))),
                "malformed",
            ),
            (
                "no signature",
                good.rsplit_once('.').unwrap().0.to_string(),
                |r| matches!(r, Err(KeyRefusal::Malformed(_))),
                "malformed",
            ),
            (
                "not base64",
                good.replacen("GHL1.", "GHL1.*", 1),
                |r| matches!(r, Err(KeyRefusal::Malformed(_))),
                "malformed",
            ),
            (
                "short signature",
                good[..good.len() - 4].to_string(),
                |r| matches!(r, Err(KeyRefusal::Malformed(_))),
                "malformed",
            ),
            (
                "unsupported format",
                sign_bytes(&unsupported_version, &vendor()),
                |r| matches!(r, Err(KeyRefusal::Malformed(m)) if m.contains("version 3")),
                "malformed",
            ),
            (
                "altered payload",
                flip_payload_char(&good, 30),
                |r| matches!(r, Err(KeyRefusal::BadSignature)),
                "signature is not valid",
            ),
            (
                "untrusted vendor",
                issue(&payload(), &other_vendor).unwrap(),
                |r| matches!(r, Err(KeyRefusal::BadSignature)),
                "signature is not valid",
            ),
            (
                "other App Key",
                issue(
                    &LicensePayload {
                        app_key: other_app_key,
                        ..payload()
                    },
                    &vendor(),
                )
                .unwrap(),
                |r| matches!(r, Err(KeyRefusal::OtherAppKey { .. })),
                "bound to App Key",
            ),
            (
                "issued > 5 min ahead",
                issue(&future, &vendor()).unwrap(),
                |r| matches!(r, Err(KeyRefusal::IssuedInFuture { .. })),
                "issued in the future",
            ),
            (
                "issued exactly 5 min ahead",
                issue(&slightly_ahead, &vendor()).unwrap(),
                |r| r.is_ok(),
                "",
            ),
            (
                "already expired",
                issue(&expired, &vendor()).unwrap(),
                |r| matches!(r, Err(KeyRefusal::Expired { .. })),
                "expired on 2026-11-27",
            ),
            (
                "last valid day",
                issue(&last_day, &vendor()).unwrap(),
                |r| r.is_ok(),
                "",
            ),
        ];
        for (name, key, expect, message) in cases {
            let result = check_key(&key, &context(&trusted, &zone));
            assert!(expect(&result), "{name}: got {result:?}");
            if let Err(refusal) = result {
                assert!(
                    refusal.to_string().contains(message),
                    "{name}: message {refusal}"
                );
            }
        }
    }

    #[test]
    fn an_older_key_than_the_installed_one_is_superseded() {
        let trusted = [vendor().verifying_key()];
        let zone = TimeZone::UTC;
        let key = issue(&payload(), &vendor()).unwrap();
        let mut ctx = context(&trusted, &zone);
        ctx.installed_issued_at = Some(
            payload()
                .issued_at
                .checked_add(SignedDuration::from_secs(1))
                .unwrap(),
        );
        assert!(matches!(
            check_key(&key, &ctx),
            Err(KeyRefusal::Superseded { .. })
        ));
        // Re-installing the same key is fine.
        ctx.installed_issued_at = Some(payload().issued_at);
        assert!(check_key(&key, &ctx).is_ok());
    }

    #[test]
    fn any_trusted_vendor_key_may_sign() {
        let old_vendor = SigningKey::from_bytes(&[41; 32]);
        let trusted = [old_vendor.verifying_key(), vendor().verifying_key()];
        let zone = TimeZone::UTC;
        let key = issue(&payload(), &vendor()).unwrap();
        assert!(check_key(&key, &context(&trusted, &zone)).is_ok());
    }

    #[test]
    fn non_canonical_payloads_are_refused() {
        let mut bytes = payload().to_bytes().unwrap();
        bytes.push(0);
        assert!(
            LicensePayload::from_bytes(&bytes)
                .unwrap_err()
                .contains("unexpected bytes")
        );
        let bytes = payload().to_bytes().unwrap();
        assert!(
            LicensePayload::from_bytes(&bytes[..bytes.len() - 1])
                .unwrap_err()
                .contains("truncated")
        );
        let mut bytes = payload().to_bytes().unwrap();
        *bytes.last_mut().unwrap() = 2;
        assert!(LicensePayload::from_bytes(&bytes).is_err());
    }

    #[test]
    fn payload_validation_names_the_field() {
        let long = LicensePayload {
            company: "x".repeat(MAX_FIELD_BYTES + 1),
            ..payload()
        };
        assert_eq!(
            long.to_bytes(),
            Err(PayloadError::TooLong { field: "company" })
        );
        let control = LicensePayload {
            dossier: "D\n1".into(),
            ..payload()
        };
        assert_eq!(
            control.to_bytes(),
            Err(PayloadError::ControlCharacter { field: "dossier" })
        );
        let zero = LicensePayload {
            user_limit: 0,
            ..payload()
        };
        assert_eq!(zero.to_bytes(), Err(PayloadError::ZeroUserLimit));
    }

    fn with_options(options: LicenseOptions) -> LicensePayload {
        LicensePayload {
            options,
            ..payload()
        }
    }

    /// The bytes of [`payload`] up to the options block, in format 2.
    fn format_two_prefix() -> Vec<u8> {
        let mut bytes = payload().to_bytes().unwrap();
        bytes[3] = FORMAT_VERSION_OPTIONS;
        bytes
    }

    #[test]
    fn options_are_format_two_and_round_trip_through_a_signed_key() {
        assert_eq!(payload().to_bytes().unwrap()[3], 1, "no option: format 1");
        let granted = with_options(LicenseOptions {
            overage_percent: 10,
            grace_days: 14,
            exempt_seats: 0,
            reserved_seats: 2,
        });
        let bytes = granted.to_bytes().unwrap();
        assert_eq!(bytes[3], FORMAT_VERSION_OPTIONS);
        let mut expected = format_two_prefix();
        expected.extend_from_slice(&[3, 1, 0, 0, 0, 10, 2, 0, 0, 0, 14, 4, 0, 0, 0, 2]);
        assert_eq!(bytes, expected);
        let key = issue(&granted, &vendor()).unwrap();
        let trusted = [vendor().verifying_key()];
        let zone = TimeZone::UTC;
        assert_eq!(
            check_key(&key, &context(&trusted, &zone)).unwrap().payload,
            granted
        );
        assert_eq!(granted.options.overage_seats(200), 20);
        assert_eq!(
            with_options(LicenseOptions {
                overage_percent: 15,
                ..LicenseOptions::default()
            })
            .options
            .overage_seats(13),
            1,
            "rounded down"
        );
    }

    #[test]
    fn an_options_block_has_one_encoding() {
        let refused = |options: &[u8]| {
            let mut bytes = format_two_prefix();
            bytes.extend_from_slice(options);
            LicensePayload::from_bytes(&bytes).unwrap_err()
        };
        assert!(refused(&[0]).contains("canonical"), "empty block");
        assert!(
            refused(&[1, 1, 0, 0, 0, 0]).contains("canonical"),
            "zero value"
        );
        assert!(
            refused(&[2, 2, 0, 0, 0, 1, 1, 0, 0, 0, 1]).contains("canonical"),
            "descending tags"
        );
        assert!(
            refused(&[2, 1, 0, 0, 0, 1, 1, 0, 0, 0, 2]).contains("canonical"),
            "a tag twice"
        );
        assert!(
            refused(&[1, 9, 0, 0, 0, 1]).contains("tag 9"),
            "unknown tag"
        );
        assert!(refused(&[1, 1, 0, 0]).contains("truncated"));
        assert!(refused(&[1, 1, 0, 0, 0, 101]).contains("overage percent must be at most 100"));
        // Format 1 carries no block.
        let mut bytes = payload().to_bytes().unwrap();
        bytes.extend_from_slice(&[1, 1, 0, 0, 0, 10]);
        assert!(
            LicensePayload::from_bytes(&bytes)
                .unwrap_err()
                .contains("unexpected bytes")
        );
    }

    #[test]
    fn options_past_their_bounds_are_never_issued() {
        for (options, message) in [
            (
                LicenseOptions {
                    overage_percent: 101,
                    ..LicenseOptions::default()
                },
                "overage percent must be at most 100",
            ),
            (
                LicenseOptions {
                    grace_days: 91,
                    ..LicenseOptions::default()
                },
                "grace days must be at most 90",
            ),
            (
                LicenseOptions {
                    exempt_seats: 10_001,
                    ..LicenseOptions::default()
                },
                "exempt seats must be at most 10000",
            ),
            (
                LicenseOptions {
                    reserved_seats: 10_001,
                    ..LicenseOptions::default()
                },
                "reserved seats must be at most 10000",
            ),
        ] {
            assert_eq!(
                issue(&with_options(options), &vendor())
                    .unwrap_err()
                    .to_string(),
                message
            );
        }
    }

    proptest! {
        #[test]
        fn every_valid_payload_round_trips(
            license_id in "[A-Za-z0-9-]{0,40}",
            company in "\\PC{0,60}",
            dossier in "[A-Z0-9-]{0,20}",
            user_limit in 1u32..,
            demo in any::<bool>(),
            push in any::<bool>(),
            seconds in 0i64..4_000_000_000,
            days in 0i32..20_000,
            options in (
                prop_oneof![Just(0u32), 1..=MAX_OVERAGE_PERCENT],
                prop_oneof![Just(0u32), 1..=MAX_GRACE_DAYS],
                prop_oneof![Just(0u32), 1..=MAX_NAMED_SEATS],
                prop_oneof![Just(0u32), 1..=MAX_NAMED_SEATS],
            ),
        ) {
            let payload = LicensePayload {
                license_id,
                issued_at: Timestamp::from_second(seconds).unwrap(),
                app_key: installation_app_key(),
                company,
                dossier,
                user_limit,
                license_type: if demo { LicenseType::Demo } else { LicenseType::Subscription },
                support_end: date(1970, 1, 1).checked_add(jiff::Span::new().days(days)).unwrap(),
                push_subscription: push,
                options: LicenseOptions {
                    overage_percent: options.0,
                    grace_days: options.1,
                    exempt_seats: options.2,
                    reserved_seats: options.3,
                },
            };
            let bytes = payload.to_bytes().unwrap();
            prop_assert_eq!(bytes[3], payload.format_version());
            prop_assert_eq!(LicensePayload::from_bytes(&bytes).unwrap(), payload);
        }

        #[test]
        fn arbitrary_text_never_panics_and_never_verifies(text in "\\PC{0,300}") {
            let trusted = [vendor().verifying_key()];
            prop_assert!(decode_signed(&text, &trusted).is_err());
        }

        #[test]
        fn arbitrary_payload_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = LicensePayload::from_bytes(&bytes);
        }
    }
}
