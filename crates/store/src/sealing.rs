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
//! | `portal_sessions` | `pending_totp` | `portal_sessions.pending_totp:<token hash>:<seat key>` |
//! | `months` | `sealed_count`: the count admissions decide on | `months.count:<month>` |
//!
//! Tagged ([`Tagged`] spells what each tag covers): the license row, the
//! clock mark, local accounts, administrators, API tokens, panel and portal
//! sessions, phones, enrollment links and the saved policies. A sealed value bound to another row does
//! not open, so a secret cannot be moved to another user or client; a tag
//! over other values does not verify.

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

/// A portal session's TOTP secret awaiting confirmation: bound to the
/// session and its user, so it cannot be moved to another.
pub(crate) fn pending_totp_context(token_hash: &[u8], seat: &str) -> String {
    format!(
        "portal_sessions.pending_totp:{}:{seat}",
        gatehouse_core::tokens::hex(token_hash)
    )
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

/// A tagged row: its table, and the fields its tag covers. The one place
/// each tag's contents are spelled, for writing, reading and the seal of an
/// older database alike.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tagged<'a> {
    /// The license row: its generation and key (`None`: the demo).
    License {
        generation: i64,
        key: Option<&'a str>,
    },
    /// The clock mark (Unix microseconds) and its anchor.
    Clock { high_water: i64, anchor: i64 },
    /// A phone: its id, user (seat key) and public key.
    Device {
        id: &'a str,
        seat: &'a str,
        public_key: &'a [u8],
    },
    /// An enrollment link: the hash of its secret, the device id it
    /// gives, its user and its expiry.
    Enrollment {
        token_hash: &'a [u8],
        device_id: &'a str,
        seat: &'a str,
        username: &'a str,
        expires_at: i64,
    },
    /// A local account: name, password hash, whether enabled, whether
    /// exempt from the second factor and its groups (`member_of`). The
    /// last two are covered only when set, so the tags of rows written
    /// before they existed still verify.
    LocalUser {
        username: &'a str,
        password_hash: &'a str,
        enabled: bool,
        second_factor_exempt: bool,
        member_of: &'a str,
    },
    /// The saved policies: the generation and the whole ordered list.
    PolicySet { generation: i64, policies: &'a str },
    /// The saved seat rules: the generation and the whole record.
    SeatRules { generation: i64, rules: &'a str },
    /// An administrator: name and password hash.
    Admin {
        name: &'a str,
        password_hash: &'a str,
    },
    /// An API token: its hash and administrator.
    Token {
        token_hash: &'a [u8],
        admin: &'a str,
        /// Covered when set, so tokens made before expiry existed verify.
        expires_at: Option<i64>,
    },
    /// An audit entry: its fields and the tag of the entry before it.
    AuditEntry {
        id: i64,
        at: i64,
        actor: &'a str,
        source: &'a str,
        action: &'a str,
        subject: &'a str,
        detail: &'a str,
        prev_tag: &'a [u8],
    },
    /// The newest audit entry as the last append left it.
    AuditHead { last_id: i64, last_tag: &'a [u8] },
    /// A panel session: who it signs in, its CSRF token, until when.
    Session {
        token_hash: &'a [u8],
        admin: &'a str,
        csrf: &'a str,
        expires_at: i64,
    },
    /// A portal session: who it signs in (seat key, name, source), what
    /// for, its CSRF token, until when.
    PortalSession {
        token_hash: &'a [u8],
        seat: &'a str,
        username: &'a str,
        source: &'a str,
        scope: &'a str,
        csrf: &'a str,
        expires_at: i64,
    },
}

impl Tagged<'_> {
    pub(crate) fn tag(&self, seal: &SealingKey) -> Vec<u8> {
        self.with_parts(|table, parts| seal.tag(table, parts))
    }

    /// Whether `tag` (absent on rows written in by hand) is this row's.
    pub(crate) fn verify(&self, seal: &SealingKey, tag: Option<&[u8]>) -> bool {
        tag.is_some_and(|tag| self.with_parts(|table, parts| seal.verify(table, parts, tag)))
    }

    fn with_parts<R>(&self, f: impl FnOnce(&str, &[&[u8]]) -> R) -> R {
        match *self {
            Tagged::License { generation, key } => {
                let generation = generation.to_be_bytes();
                match key {
                    None => f("license", &[&generation, b"demo", b""]),
                    Some(key) => f("license", &[&generation, b"key", key.as_bytes()]),
                }
            }
            Tagged::Clock { high_water, anchor } => {
                f("clock", &[&high_water.to_be_bytes(), &anchor.to_be_bytes()])
            }
            Tagged::Device {
                id,
                seat,
                public_key,
            } => f(
                "push_devices",
                &[id.as_bytes(), seat.as_bytes(), public_key],
            ),
            Tagged::Enrollment {
                token_hash,
                device_id,
                seat,
                username,
                expires_at,
            } => f(
                "push_enrollments",
                &[
                    token_hash,
                    device_id.as_bytes(),
                    seat.as_bytes(),
                    username.as_bytes(),
                    &expires_at.to_be_bytes(),
                ],
            ),
            Tagged::LocalUser {
                username,
                password_hash,
                enabled,
                second_factor_exempt,
                member_of,
            } => {
                let enabled = [u8::from(enabled)];
                let mut parts: Vec<&[u8]> =
                    vec![username.as_bytes(), password_hash.as_bytes(), &enabled];
                if second_factor_exempt {
                    parts.push(b"second-factor-exempt");
                }
                if !member_of.is_empty() {
                    parts.extend([b"member-of".as_slice(), member_of.as_bytes()]);
                }
                f("local_users", &parts)
            }
            Tagged::PolicySet {
                generation,
                policies,
            } => f(
                "policy_set",
                &[&generation.to_be_bytes(), policies.as_bytes()],
            ),
            Tagged::SeatRules { generation, rules } => {
                f("seat_rules", &[&generation.to_be_bytes(), rules.as_bytes()])
            }
            Tagged::Admin {
                name,
                password_hash,
            } => f("admins", &[name.as_bytes(), password_hash.as_bytes()]),
            Tagged::AuditEntry {
                id,
                at,
                actor,
                source,
                action,
                subject,
                detail,
                prev_tag,
            } => f(
                "audit_log",
                &[
                    &id.to_be_bytes(),
                    &at.to_be_bytes(),
                    actor.as_bytes(),
                    source.as_bytes(),
                    action.as_bytes(),
                    subject.as_bytes(),
                    detail.as_bytes(),
                    prev_tag,
                ],
            ),
            Tagged::AuditHead { last_id, last_tag } => {
                f("audit_head", &[&last_id.to_be_bytes(), last_tag])
            }
            Tagged::Token {
                token_hash,
                admin,
                expires_at,
            } => match expires_at {
                None => f("admin_tokens", &[token_hash, admin.as_bytes()]),
                Some(at) => f(
                    "admin_tokens",
                    &[
                        token_hash,
                        admin.as_bytes(),
                        b"expires-at",
                        &at.to_be_bytes(),
                    ],
                ),
            },
            Tagged::Session {
                token_hash,
                admin,
                csrf,
                expires_at,
            } => f(
                "admin_sessions",
                &[
                    token_hash,
                    admin.as_bytes(),
                    csrf.as_bytes(),
                    &expires_at.to_be_bytes(),
                ],
            ),
            Tagged::PortalSession {
                token_hash,
                seat,
                username,
                source,
                scope,
                csrf,
                expires_at,
            } => f(
                "portal_sessions",
                &[
                    token_hash,
                    seat.as_bytes(),
                    username.as_bytes(),
                    source.as_bytes(),
                    scope.as_bytes(),
                    csrf.as_bytes(),
                    &expires_at.to_be_bytes(),
                ],
            ),
        }
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

/// A seat's pseudonym in `month`'s usage chain
/// ([`gatehouse_core::usage_chain`]): keyed with the sealing key and the
/// month, so it names nobody to whoever lacks the key and links nobody
/// across months.
pub(crate) fn pseudonym(
    seal: &SealingKey,
    month: &str,
    seat_key: &str,
) -> [u8; gatehouse_core::usage_chain::PSEUDONYM_BYTES] {
    let tag = seal.tag(&format!("usage.pseudonym:{month}"), &[seat_key.as_bytes()]);
    let mut out = [0u8; gatehouse_core::usage_chain::PSEUDONYM_BYTES];
    out.copy_from_slice(&tag[..gatehouse_core::usage_chain::PSEUDONYM_BYTES]);
    out
}
