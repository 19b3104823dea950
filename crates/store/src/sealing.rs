//! Where the sealing key (`gatehouse_core::seal`) meets the rows: the
//! context each sealed column is bound to, and what each tagged record's
//! tag covers. Written once here so that sealing at the upgrade, writing
//! and reading agree byte for byte.
//!
//! | table | sealed | context |
//! |---|---|---|
//! | `installation` | `signing_key`: the whole record (key, first start, demo end, time zone) | `installation` |
//! | `totp` | `secret` | `totp.secret:<seat key>` |
//! | `radius_clients` | `secret` | `radius_clients.secret:<name>` |
//! | `push_devices` | `webpush_auth` | `push_devices.webpush_auth:<device id>` |
//! | `months` | `sealed_count`: the count admissions decide on | `months.count:<month>` |
//!
//! Tagged: `license` (generation, key text), `clock` (high-water mark,
//! anchor), `local_users` (name, password hash, enabled), `admins` (name,
//! password hash), `admin_tokens` and `admin_sessions` (token hash,
//! administrator, and a session's CSRF token and expiry), `push_devices` (id, user, public key), `push_enrollments`
//! (secret's hash, device id, user, expiry). A sealed value bound to another row does not open, so a secret
//! cannot be moved to another user or client; a tag over other values does
//! not verify.

use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{InstallationRecord, StoreError, StoreResult};
use gatehouse_license::SigningKey;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::Date;

pub(crate) const INSTALLATION: &str = "installation";

pub(crate) fn totp_context(seat: &str) -> String {
    format!("totp.secret:{seat}")
}

pub(crate) fn client_context(name: &str) -> String {
    format!("radius_clients.secret:{name}")
}

pub(crate) fn webpush_context(device: &str) -> String {
    format!("push_devices.webpush_auth:{device}")
}

/// Opens a sealed column; `what` names it in the error.
pub(crate) fn open(
    seal: &SealingKey,
    context: &str,
    sealed: &[u8],
    what: &str,
) -> StoreResult<Vec<u8>> {
    seal.open(context, sealed).map_err(|_| {
        StoreError::Corrupt(format!(
            "{what} does not open with the sealing key: it was changed outside Gatehouse"
        ))
    })
}

/// The installation record, sealed whole into `installation.signing_key`:
/// the key, first start, demo end and time zone. The plain columns beside
/// it only show these values to people reading the database; the sealed
/// record is what Gatehouse uses, so changing a column changes nothing
/// (and is noticed).
pub(crate) fn seal_installation(seal: &SealingKey, record: &InstallationRecord) -> Vec<u8> {
    let mut plain = Vec::with_capacity(64);
    plain.push(1); // format
    plain.extend_from_slice(&record.signing_key.to_bytes());
    plain.extend_from_slice(&record.first_start.as_microsecond().to_be_bytes());
    for text in [
        record.demo_support_end.to_string(),
        record.time_zone.clone(),
    ] {
        plain.extend_from_slice(&(text.len() as u16).to_be_bytes());
        plain.extend_from_slice(text.as_bytes());
    }
    seal.seal(INSTALLATION, &plain)
}

/// Opens what [`seal_installation`] sealed.
pub(crate) fn open_installation(
    seal: &SealingKey,
    sealed: &[u8],
) -> StoreResult<InstallationRecord> {
    let plain = open(seal, INSTALLATION, sealed, "the installation record")?;
    let corrupt = || StoreError::Corrupt("the sealed installation record is malformed".into());
    let mut rest = plain.as_slice();
    let mut take = |n: usize| -> StoreResult<&[u8]> {
        if rest.len() < n {
            return Err(corrupt());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    if take(1)? != [1] {
        return Err(corrupt());
    }
    let key: [u8; 32] = take(32)?.try_into().map_err(|_| corrupt())?;
    let first_start = i64::from_be_bytes(take(8)?.try_into().map_err(|_| corrupt())?);
    let mut text = || -> StoreResult<String> {
        let len = u16::from_be_bytes(take(2)?.try_into().map_err(|_| corrupt())?);
        String::from_utf8(take(usize::from(len))?.to_vec()).map_err(|_| corrupt())
    };
    let demo_support_end = text()?;
    let time_zone = text()?;
    Ok(InstallationRecord {
        signing_key: SigningKey::from_bytes(&key),
        first_start: Timestamp::from_microsecond(first_start).map_err(|_| corrupt())?,
        demo_support_end: demo_support_end.parse::<Date>().map_err(|_| corrupt())?,
        time_zone,
    })
}

/// The license row's tag: its generation and key (`None`: the demo).
pub(crate) fn license_tag(seal: &SealingKey, generation: i64, key: Option<&str>) -> Vec<u8> {
    seal.tag("license", &license_parts(&generation.to_be_bytes(), key))
}

pub(crate) fn license_authentic(
    seal: &SealingKey,
    generation: i64,
    key: Option<&str>,
    tag: Option<&[u8]>,
) -> bool {
    tag.is_some_and(|tag| {
        seal.verify(
            "license",
            &license_parts(&generation.to_be_bytes(), key),
            tag,
        )
    })
}

fn license_parts<'a>(generation: &'a [u8; 8], key: Option<&'a str>) -> [&'a [u8]; 3] {
    match key {
        None => [generation, b"demo", b""],
        Some(key) => [generation, b"key", key.as_bytes()],
    }
}

/// The clock row's tag: the mark (Unix microseconds) and its anchor.
pub(crate) fn clock_tag(seal: &SealingKey, high_water: i64, anchor: i64) -> Vec<u8> {
    seal.tag("clock", &[&high_water.to_be_bytes(), &anchor.to_be_bytes()])
}

pub(crate) fn clock_authentic(
    seal: &SealingKey,
    high_water: i64,
    anchor: i64,
    tag: Option<&[u8]>,
) -> bool {
    tag.is_some_and(|tag| {
        seal.verify(
            "clock",
            &[&high_water.to_be_bytes(), &anchor.to_be_bytes()],
            tag,
        )
    })
}

/// A phone's tag: its id, user (seat key) and public key.
pub(crate) fn device_tag(seal: &SealingKey, id: &str, seat: &str, public_key: &[u8]) -> Vec<u8> {
    seal.tag(
        "push_devices",
        &[id.as_bytes(), seat.as_bytes(), public_key],
    )
}

pub(crate) fn device_authentic(
    seal: &SealingKey,
    id: &str,
    seat: &str,
    public_key: &[u8],
    tag: Option<&[u8]>,
) -> bool {
    tag.is_some_and(|tag| {
        seal.verify(
            "push_devices",
            &[id.as_bytes(), seat.as_bytes(), public_key],
            tag,
        )
    })
}

/// What an enrollment link's tag covers: the hash of its secret, the
/// device id it gives, its user and its expiry.
pub(crate) struct EnrollmentFields<'a> {
    pub token_hash: &'a [u8],
    pub device_id: &'a str,
    pub seat: &'a str,
    pub username: &'a str,
    pub expires_at: i64,
}

impl EnrollmentFields<'_> {
    pub(crate) fn tag(&self, seal: &SealingKey) -> Vec<u8> {
        let expires_at = self.expires_at.to_be_bytes();
        seal.tag("push_enrollments", &self.parts(&expires_at))
    }

    pub(crate) fn verify(&self, seal: &SealingKey, tag: &[u8]) -> bool {
        let expires_at = self.expires_at.to_be_bytes();
        seal.verify("push_enrollments", &self.parts(&expires_at), tag)
    }

    fn parts<'a>(&'a self, expires_at: &'a [u8; 8]) -> [&'a [u8]; 5] {
        [
            self.token_hash,
            self.device_id.as_bytes(),
            self.seat.as_bytes(),
            self.username.as_bytes(),
            expires_at,
        ]
    }
}

/// A month's count, sealed with its month (`months.sealed_count`): the
/// count admissions are decided on; `active_users` only shows it.
pub(crate) fn seal_count(seal: &SealingKey, month: &str, active_users: i64) -> Vec<u8> {
    seal.seal(
        &format!("months.count:{month}"),
        &active_users.to_be_bytes(),
    )
}

/// The count [`seal_count`] sealed, if it opens.
pub(crate) fn open_count(seal: &SealingKey, month: &str, sealed: Option<&[u8]>) -> Option<i64> {
    let plain = seal.open(&format!("months.count:{month}"), sealed?).ok()?;
    Some(i64::from_be_bytes(plain.try_into().ok()?))
}

/// A local user's tag: name, password hash and whether enabled.
pub(crate) fn local_user_tag(
    seal: &SealingKey,
    username: &str,
    password_hash: &str,
    enabled: bool,
) -> Vec<u8> {
    seal.tag(
        "local_users",
        &local_user_parts(username, password_hash, &[u8::from(enabled)]),
    )
}

pub(crate) fn local_user_authentic(
    seal: &SealingKey,
    username: &str,
    password_hash: &str,
    enabled: bool,
    tag: Option<&[u8]>,
) -> bool {
    tag.is_some_and(|tag| {
        seal.verify(
            "local_users",
            &local_user_parts(username, password_hash, &[u8::from(enabled)]),
            tag,
        )
    })
}

fn local_user_parts<'a>(
    username: &'a str,
    password_hash: &'a str,
    enabled: &'a [u8],
) -> [&'a [u8]; 3] {
    [username.as_bytes(), password_hash.as_bytes(), enabled]
}

/// A tag over a credential row (`admins`, `admin_tokens`,
/// `admin_sessions`): `table` names it, `parts` are its columns that say
/// who signs in and until when.
pub(crate) fn credential_tag(seal: &SealingKey, table: &str, parts: &[&[u8]]) -> Vec<u8> {
    seal.tag(table, parts)
}

pub(crate) fn credential_authentic(
    seal: &SealingKey,
    table: &str,
    parts: &[&[u8]],
    tag: Option<&[u8]>,
) -> bool {
    tag.is_some_and(|tag| seal.verify(table, parts, tag))
}
