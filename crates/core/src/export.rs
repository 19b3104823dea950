//! The application key file (SPEC §5): license, App Key, Dossier, this
//! month's users and the monthly history in one JSON document, signed with
//! the installation key so an auditor or the vendor can trust it.
//!
//! Layout, byte for byte:
//!
//! ```text
//! {
//! "document": <the document, pretty-printed JSON>,
//! "signature": "<base64 Ed25519 signature>"
//! }
//! ```
//!
//! The signature covers [`SIGNATURE_DOMAIN`] followed by the exact bytes of
//! the document. Verification re-renders the file from its parts and
//! requires an exact match, so a change to any byte of the file is caught.
//! The document carries the installation's public key, whose fingerprint
//! must be the document's App Key, and the vendor-signed license key bound
//! to that App Key: a file re-signed with another key shows another App Key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_license::key::decode_signed;
use gatehouse_license::{AppKey, UsagePercent, VerifyingKey, words};
use gatehouse_license::{Signature, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::store::MonthUsageRecord;
use crate::tokens::{hex, unhex};
use crate::usage_chain;

pub const FORMAT: &str = "gatehouse-application-key-file";
pub const VERSION: u32 = 1;
pub const SIGNATURE_DOMAIN: &[u8] = b"gatehouse application key file v1\0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub format: String,
    pub version: u32,
    pub exported_at: String,
    pub app_key: String,
    /// Base64 of the installation's Ed25519 public key.
    pub installation_public_key: String,
    pub time_zone: String,
    pub license: LicenseSection,
    pub month: String,
    pub active_users: u32,
    pub users: Vec<UserRow>,
    pub history: Vec<HistoryRow>,
    /// The usage chains of this month and the one before (SPEC §16), those
    /// that exist; left out of the file when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage_chains: Vec<UsageChainSection>,
}

/// One month's usage chain ([`crate::usage_chain`]): its head and links,
/// pseudonyms and times only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageChainSection {
    pub month: String,
    /// Hex of the head.
    pub head: String,
    pub links: Vec<LinkRow>,
}

/// One admission in a usage chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRow {
    /// Hex of the seat's pseudonym.
    pub pseudonym: String,
    /// When the user was counted, Unix microseconds.
    pub at_us: i64,
}

impl UsageChainSection {
    pub fn new(month: &str, chain: &crate::store::UsageChainRecord) -> UsageChainSection {
        UsageChainSection {
            month: month.to_string(),
            head: hex(&chain.head),
            links: chain
                .links
                .iter()
                .map(|link| LinkRow {
                    pseudonym: hex(&link.pseudonym),
                    at_us: link.at_micros,
                })
                .collect(),
        }
    }

    /// The heads after each link, recomputed; `None` when a pseudonym is
    /// not one.
    fn heads(&self) -> Option<Vec<String>> {
        let links = self
            .links
            .iter()
            .map(|row| {
                Some(usage_chain::Link {
                    pseudonym: unhex(&row.pseudonym)?.try_into().ok()?,
                    at_micros: row.at_us,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(
            usage_chain::heads(&self.month, &links)
                .iter()
                .map(|head| hex(head))
                .collect(),
        )
    }
}

/// What `license verify-export` says about one month's usage chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFinding {
    /// The links lead to the head, and there is one per counted user.
    Verifies { month: String, users: usize },
    /// They do not.
    Broken { month: String, why: String },
    /// A month reported earlier has the same head now.
    Unchanged { month: String },
    /// A month reported earlier while in progress: its chain now still
    /// passes through the head reported then, at the count reported then.
    Extended {
        month: String,
        from: usize,
        to: usize,
    },
    /// A month reported earlier has another head now, or its chain no
    /// longer passes through the head reported then.
    Rewritten { month: String },
    /// Reported earlier, but nothing here to compare it with.
    Unverifiable { month: String, why: String },
}

impl ChainFinding {
    /// Whether the finding is a failure.
    pub fn fails(&self) -> bool {
        matches!(
            self,
            ChainFinding::Broken { .. } | ChainFinding::Rewritten { .. }
        )
    }
}

impl std::fmt::Display for ChainFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainFinding::Verifies { month, users } => {
                write!(f, "usage chain {month}: {users} users, verifies")
            }
            ChainFinding::Broken { month, why } => {
                write!(f, "usage chain {month}: does NOT verify ({why})")
            }
            ChainFinding::Unchanged { month } => {
                write!(f, "usage chain {month}: unchanged since the earlier report")
            }
            ChainFinding::Extended { month, from, to } => write!(
                f,
                "usage chain {month}: the {from} users of the earlier report are kept, {to} now"
            ),
            ChainFinding::Rewritten { month } => {
                write!(f, "usage chain {month}: REWRITTEN since the earlier report")
            }
            ChainFinding::Unverifiable { month, why } => {
                write!(f, "usage chain {month}: cannot be compared ({why})")
            }
        }
    }
}

/// Checks the usage chains a verified document carries: each must lead to
/// its head and to the head its month's history row names, and this
/// month's must hold one link per counted user.
pub fn check_usage(document: &Document) -> Vec<ChainFinding> {
    document
        .usage_chains
        .iter()
        .map(|chain| {
            let broken = |why: &str| ChainFinding::Broken {
                month: chain.month.clone(),
                why: why.to_string(),
            };
            let Some(heads) = chain.heads() else {
                return broken("a pseudonym is not 16 bytes of hex");
            };
            let head = heads
                .last()
                .cloned()
                .unwrap_or_else(|| hex(&usage_chain::genesis(&chain.month)));
            if head != chain.head {
                return broken("its links do not lead to its head");
            }
            let history = document.history.iter().find(|row| row.month == chain.month);
            if history.and_then(|row| row.chain_head.as_deref()) != Some(chain.head.as_str()) {
                return broken("the month's history names another head");
            }
            if history.is_some_and(|row| row.users as usize != chain.links.len()) {
                return broken("it does not hold one link per counted user");
            }
            ChainFinding::Verifies {
                month: chain.month.clone(),
                users: chain.links.len(),
            }
        })
        .collect()
}

/// Compares a verified document with an earlier one of the same
/// installation: every month the earlier one reported must be unchanged (a
/// month then in progress may only have grown, through the head reported
/// then). A month whose links the later document carries is judged by its
/// links, recomputed, never by the head it states.
pub fn compare_reports(earlier: &Document, later: &Document) -> Vec<ChainFinding> {
    earlier
        .history
        .iter()
        .filter_map(|before| Some((before, before.chain_head.as_deref()?)))
        .map(|(before, head)| {
            let month = before.month.clone();
            let from = before.users as usize;
            if let Some(chain) = later.usage_chains.iter().find(|c| c.month == before.month) {
                let heads = chain.heads().unwrap_or_default();
                let through = match from {
                    0 => Some(hex(&usage_chain::genesis(&chain.month))),
                    n => heads.get(n - 1).cloned(),
                };
                return match (through.as_deref() == Some(head), heads.len()) {
                    (false, _) => ChainFinding::Rewritten { month },
                    (true, to) if to == from => ChainFinding::Unchanged { month },
                    (true, to) => ChainFinding::Extended { month, from, to },
                };
            }
            match later.history.iter().find(|row| row.month == before.month) {
                Some(now) if now.chain_head.as_deref() == Some(head) => {
                    ChainFinding::Unchanged { month }
                }
                Some(_) => ChainFinding::Unverifiable {
                    month,
                    why: "its head moved, and the later report carries none of its links".into(),
                },
                None => ChainFinding::Rewritten { month },
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LicenseSection {
    pub company: String,
    pub dossier: String,
    pub license_id: String,
    pub license_type: String,
    pub user_limit: u32,
    pub support_end_date: String,
    pub push_subscription: String,
    pub issued_at: String,
    pub status: String,
    /// The vendor-signed key; `None` while the built-in demo is in force.
    pub key: Option<String>,
    /// What the key grants beyond the limit (SPEC §16); left out of the
    /// file when it grants nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<OptionsSection>,
}

/// A key's options, each 0 when not granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionsSection {
    pub overage_percent: u32,
    pub grace_days: u32,
    pub exempt_seats: u32,
    pub reserved_seats: u32,
}

impl OptionsSection {
    /// The section for `options`; `None` when none is granted.
    pub fn of(options: &gatehouse_license::LicenseOptions) -> Option<OptionsSection> {
        (!options.is_empty()).then_some(OptionsSection {
            overage_percent: options.overage_percent,
            grace_days: options.grace_days,
            exempt_seats: options.exempt_seats,
            reserved_seats: options.reserved_seats,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRow {
    pub username: String,
    pub display_name: String,
    pub source: String,
    pub first_seen: String,
    pub last_login: String,
    pub last_client: String,
    /// `overage` or `reserved` for a seat past the user limit; left out of
    /// the file for a seat within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryRow {
    pub month: String,
    pub users: u32,
    pub user_limit: u32,
    pub peak_percent: String,
    /// Hex of the month's usage chain head; left out for a month begun
    /// before the chain existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_head: Option<String>,
}

impl From<&MonthUsageRecord> for HistoryRow {
    fn from(month: &MonthUsageRecord) -> HistoryRow {
        HistoryRow {
            month: month.month.to_string(),
            users: month.active_users,
            user_limit: month.user_limit,
            peak_percent: UsagePercent::from_tenths(month.peak_tenths).to_string(),
            chain_head: month.chain_head.map(|head| hex(&head)),
        }
    }
}

/// The signed file of `document`, byte for byte as [`verify`] expects it.
pub(crate) fn sign(document: &Document, key: &SigningKey) -> String {
    use gatehouse_license::Signer as _;
    let body = serde_json::to_string_pretty(document).expect("the document always serializes");
    let signature = key.sign(&signed_message(body.as_bytes()));
    render(&body, &STANDARD.encode(signature.to_bytes()))
}

fn render(document: &str, signature: &str) -> String {
    format!("{{\n\"document\": {document},\n\"signature\": \"{signature}\"\n}}\n")
}

fn signed_message(document: &[u8]) -> Vec<u8> {
    [SIGNATURE_DOMAIN, document].concat()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedFile<'a> {
    #[serde(borrow)]
    document: &'a RawValue,
    signature: String,
}

/// Why a file is not a valid application key file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tampered {
    #[error("not an application key file: {0}")]
    Unreadable(String),
    #[error("the file is not byte-for-byte as exported")]
    Altered,
    #[error("the installation public key does not match the App Key {0}")]
    WrongPublicKey(String),
    #[error("the signature does not match the document")]
    BadSignature,
    #[error("the embedded license key is not valid: {0}")]
    BadLicenseKey(String),
    #[error("the license fields differ from the embedded license key ({0})")]
    LicenseMismatch(&'static str),
}

/// Checks a file; `trusted` are the vendor keys the embedded license key
/// must be signed with.
pub fn verify(file: &[u8], trusted: &[VerifyingKey]) -> Result<Document, Tampered> {
    let text = std::str::from_utf8(file).map_err(|_| Tampered::Unreadable("not UTF-8".into()))?;
    let signed: SignedFile<'_> =
        serde_json::from_str(text).map_err(|e| Tampered::Unreadable(e.to_string()))?;
    let body = signed.document.get();
    if render(body, &signed.signature) != text {
        return Err(Tampered::Altered);
    }
    let document: Document =
        serde_json::from_str(body).map_err(|e| Tampered::Unreadable(e.to_string()))?;
    if document.format != FORMAT || document.version != VERSION {
        return Err(Tampered::Unreadable(format!(
            "format {:?} version {} (expected {FORMAT:?} version {VERSION})",
            document.format, document.version
        )));
    }
    let app_key: AppKey = document
        .app_key
        .parse()
        .map_err(|_| Tampered::WrongPublicKey(document.app_key.clone()))?;
    let public_key = STANDARD
        .decode(&document.installation_public_key)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
        .filter(|key| AppKey::of(key) == app_key)
        .ok_or_else(|| Tampered::WrongPublicKey(document.app_key.clone()))?;
    let signature = STANDARD
        .decode(&signed.signature)
        .ok()
        .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        .map(|bytes| Signature::from_bytes(&bytes))
        .ok_or(Tampered::BadSignature)?;
    public_key
        .verify_strict(&signed_message(body.as_bytes()), &signature)
        .map_err(|_| Tampered::BadSignature)?;
    if let Some(key) = &document.license.key {
        check_license_section(&document.license, key, app_key, trusted)?;
    }
    Ok(document)
}

fn check_license_section(
    section: &LicenseSection,
    key: &str,
    app_key: AppKey,
    trusted: &[VerifyingKey],
) -> Result<(), Tampered> {
    let verified =
        decode_signed(key, trusted).map_err(|e| Tampered::BadLicenseKey(e.to_string()))?;
    let payload = verified.payload;
    if payload.app_key != app_key {
        return Err(Tampered::LicenseMismatch("App Key"));
    }
    let checks: [(&'static str, bool); 7] = [
        ("company", payload.company == section.company),
        ("dossier", payload.dossier == section.dossier),
        ("license ID", payload.license_id == section.license_id),
        (
            "license type",
            words::license_type(payload.license_type) == section.license_type,
        ),
        ("user limit", payload.user_limit == section.user_limit),
        (
            "Support End Date",
            payload.support_end.to_string() == section.support_end_date,
        ),
        (
            "push subscription",
            words::push_subscription(payload.push_subscription) == section.push_subscription,
        ),
    ];
    match checks.into_iter().find(|(_, same)| !same) {
        Some((field, _)) => Err(Tampered::LicenseMismatch(field)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Document {
        let key = SigningKey::from_bytes(&[3; 32]);
        Document {
            format: FORMAT.into(),
            version: VERSION,
            exported_at: "2026-11-28T12:00:00Z".into(),
            app_key: AppKey::of(&key.verifying_key()).to_string(),
            installation_public_key: STANDARD.encode(key.verifying_key().as_bytes()),
            time_zone: "UTC".into(),
            license: LicenseSection {
                company: String::new(),
                dossier: String::new(),
                license_id: "demo".into(),
                license_type: "Demo License".into(),
                user_limit: 25,
                support_end_date: "2026-12-28".into(),
                push_subscription: "Active".into(),
                issued_at: "2026-11-28T11:00:00Z".into(),
                status: "valid".into(),
                key: None,
                options: None,
            },
            month: "2026-11".into(),
            active_users: 1,
            users: vec![UserRow {
                username: "alice".into(),
                display_name: "Alice".into(),
                source: "local".into(),
                first_seen: "2026-11-28T11:30:00Z".into(),
                last_login: "2026-11-28T11:45:00Z".into(),
                last_client: "vpn-1".into(),
                seat: None,
            }],
            history: vec![],
            usage_chains: vec![],
        }
    }

    #[test]
    fn a_signed_file_verifies() {
        let file = sign(&document(), &SigningKey::from_bytes(&[3; 32]));
        assert_eq!(verify(file.as_bytes(), &[]), Ok(document()));
    }

    #[test]
    fn options_and_seats_past_the_limit_are_in_the_file_only_when_there_are_any() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let plain = sign(&document(), &key);
        assert!(!plain.contains("\"options\"") && !plain.contains("\"seat\""));
        let mut granted = document();
        granted.license.options = OptionsSection::of(&gatehouse_license::LicenseOptions {
            overage_percent: 10,
            ..Default::default()
        });
        granted.users[0].seat = Some("overage".into());
        let file = sign(&granted, &key);
        assert!(file.contains("\"overage_percent\": 10"), "{file}");
        assert!(file.contains("\"seat\": \"overage\""), "{file}");
        assert_eq!(verify(file.as_bytes(), &[]), Ok(granted));
    }

    /// A document of `month` whose chain holds `users` links (and whose
    /// history row says so).
    fn chained(month: &str, users: u8) -> Document {
        let links: Vec<usage_chain::Link> = (0..users)
            .map(|n| usage_chain::Link {
                pseudonym: [n; usage_chain::PSEUDONYM_BYTES],
                at_micros: 1_795_000_000_000_000 + i64::from(n),
            })
            .collect();
        let chain = crate::store::UsageChainRecord {
            head: usage_chain::head(month, &links),
            links,
        };
        let mut doc = document();
        doc.month = month.to_string();
        doc.active_users = u32::from(users);
        doc.history = vec![HistoryRow {
            month: month.to_string(),
            users: u32::from(users),
            user_limit: 25,
            peak_percent: "0.0".into(),
            chain_head: Some(hex(&chain.head)),
        }];
        doc.usage_chains = vec![UsageChainSection::new(month, &chain)];
        doc
    }

    #[test]
    fn a_usage_chain_verifies_and_an_edited_link_does_not() {
        let doc = chained("2026-12", 3);
        assert_eq!(
            check_usage(&doc),
            [ChainFinding::Verifies {
                month: "2026-12".into(),
                users: 3
            }]
        );
        let broken = |edit: fn(&mut Document)| {
            let mut doc = chained("2026-12", 3);
            edit(&mut doc);
            check_usage(&doc)
        };
        for (what, edit) in [
            (
                "a time",
                (|d: &mut Document| d.usage_chains[0].links[1].at_us += 1) as fn(&mut Document),
            ),
            ("a removed link", |d| {
                d.usage_chains[0].links.pop();
            }),
            ("the order", |d| d.usage_chains[0].links.swap(0, 2)),
            ("the count", |d| d.history[0].users = 4),
            ("the history head", |d| {
                d.history[0].chain_head = Some("00".repeat(32))
            }),
            ("a pseudonym", |d| {
                d.usage_chains[0].links[0].pseudonym = "zz".into()
            }),
        ] {
            let findings = broken(edit);
            assert!(findings[0].fails(), "{what}: {findings:?}");
        }
    }

    #[test]
    fn a_later_report_keeps_every_month_an_earlier_one_reported() {
        let mut earlier = chained("2026-12", 2);
        // The month then in progress has grown by the later report.
        let later = chained("2026-12", 4);
        assert_eq!(
            compare_reports(&earlier, &later),
            [ChainFinding::Extended {
                month: "2026-12".into(),
                from: 2,
                to: 4
            }]
        );
        assert_eq!(
            compare_reports(&later, &later),
            [ChainFinding::Unchanged {
                month: "2026-12".into()
            }]
        );
        // Rewritten: the earlier head is not on the later chain.
        earlier.history[0].chain_head = Some("11".repeat(32));
        assert!(compare_reports(&earlier, &later)[0].fails());
        // Judged by the links, not by the head the later report states: a
        // link removed is caught even with the old head kept.
        let mut removed = later.clone();
        removed.usage_chains[0].links.remove(1);
        assert!(compare_reports(&later, &removed)[0].fails());
        // Without links, a moved head cannot be judged either way.
        let mut headless = later.clone();
        headless.usage_chains.clear();
        headless.history[0].chain_head = Some("22".repeat(32));
        assert!(matches!(
            compare_reports(&later, &headless)[0],
            ChainFinding::Unverifiable { .. }
        ));
        // A month the later report no longer has.
        let mut gone = later.clone();
        gone.history.clear();
        gone.usage_chains.clear();
        assert!(compare_reports(&later, &gone)[0].fails());
        assert_eq!(
            ChainFinding::Rewritten {
                month: "2026-11".into()
            }
            .to_string(),
            "usage chain 2026-11: REWRITTEN since the earlier report"
        );
    }

    #[test]
    fn changing_any_single_byte_is_detected() {
        let file = sign(&document(), &SigningKey::from_bytes(&[3; 32])).into_bytes();
        for index in 0..file.len() {
            for replacement in [b' ', b'x', b'0', b'\n'] {
                if file[index] == replacement {
                    continue;
                }
                let mut edited = file.clone();
                edited[index] = replacement;
                assert!(
                    verify(&edited, &[]).is_err(),
                    "byte {index} -> {replacement:?} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn a_file_re_signed_with_another_key_fails_unless_the_app_key_changes_too() {
        let forger = SigningKey::from_bytes(&[4; 32]);
        let mut doc = document();
        doc.active_users = 0;
        doc.installation_public_key = STANDARD.encode(forger.verifying_key().as_bytes());
        let forged = sign(&doc, &forger);
        assert!(matches!(
            verify(forged.as_bytes(), &[]),
            Err(Tampered::WrongPublicKey(_))
        ));
        // A consistent forgery is only possible under another App Key, which
        // the vendor does not know for this customer.
        doc.app_key = AppKey::of(&forger.verifying_key()).to_string();
        let forged = sign(&doc, &forger);
        let verified = verify(forged.as_bytes(), &[]).unwrap();
        assert_ne!(verified.app_key, document().app_key);
    }

    #[test]
    fn a_signature_from_another_key_is_refused() {
        let file = sign(&document(), &SigningKey::from_bytes(&[4; 32]));
        assert_eq!(verify(file.as_bytes(), &[]), Err(Tampered::BadSignature));
    }
}
