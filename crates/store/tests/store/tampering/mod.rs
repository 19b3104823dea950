//! SPEC §11 against every backend: what someone with read-write access to
//! the database, but not to the sealing key file, can do with plain SQL.
//! Each case changes rows as such a person would and checks that the
//! license and the secrets hold.
//!
//! A backend's test file invokes [`tampering_suite!`] with an async
//! function that yields a fresh store and a [`Raw`] connection to the same
//! database.

use std::sync::Arc;

use gatehouse_core::clients::RadiusClient;
use gatehouse_core::identity::{SeatKey, Source, Username};
use gatehouse_core::push::{EnrollmentRefusal, WebPushSubscription};
use gatehouse_core::store::{
    AdmitOutcome, AdmitRequest, ClockMark, DeviceRecord, InstallationRecord, LicenseBinding,
    LicenseInstall, Store, StoreError, TokenRecord, TotpRecord,
};
use gatehouse_core::totp::TotpSecret;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::date;
use gatehouse_license::{Month, SigningKey};

use crate::conformance::Whole;

/// Plain SQL on the store's database, as the person with database access
/// would type it.
pub enum Raw {
    Sqlite {
        pool: sqlx::SqlitePool,
        path: std::path::PathBuf,
    },
    Postgres(sqlx::PgPool),
}

impl Raw {
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite { pool, .. } => {
                sqlx::raw_sql(sql).execute(pool).await.unwrap();
            }
            Raw::Postgres(pool) => {
                sqlx::raw_sql(sql).execute(pool).await.unwrap();
            }
        }
    }

    /// Everything the database holds, as someone who reads it sees it:
    /// SQLite's file and journal bytes, or every PostgreSQL row as text.
    pub async fn everything(&self) -> Vec<u8> {
        match self {
            Raw::Sqlite { path, .. } => {
                let mut bytes = std::fs::read(path).unwrap();
                let wal = path.with_extension("db-wal");
                if let Ok(journal) = std::fs::read(wal) {
                    bytes.extend(journal);
                }
                bytes
            }
            Raw::Postgres(pool) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                let mut bytes = Vec::new();
                for table in tables {
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT t::text FROM \"{table}\" t"
                    )))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    for row in rows {
                        bytes.extend(row.into_bytes());
                        bytes.push(b'\n');
                    }
                }
                bytes
            }
        }
    }
}

/// Whether `haystack` holds `secret`, as raw bytes or as hex (how
/// PostgreSQL shows `bytea`).
pub fn holds(haystack: &[u8], secret: &[u8]) -> bool {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    haystack.windows(secret.len()).any(|w| w == secret)
        || haystack
            .windows(hex.len())
            .any(|w| w.eq_ignore_ascii_case(hex.as_bytes()))
}

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

const NOV: &str = "2026-11";

fn installation() -> InstallationRecord {
    InstallationRecord {
        signing_key: SigningKey::from_bytes(&[0x42; 32]),
        first_start: ts("2026-11-01T08:00:00Z"),
        demo_support_end: date(2026, 12, 1),
        time_zone: "Europe/Istanbul".into(),
    }
}

async fn installed(store: &dyn Store, key: &str, limit: u32) -> LicenseBinding {
    store
        .create_installation(&installation(), 25)
        .await
        .unwrap();
    store
        .install_license(&LicenseInstall {
            key,
            user_limit: limit,
            month: NOV.parse().unwrap(),
            at: ts("2026-11-01T09:00:00Z"),
            clock: None,
        })
        .await
        .unwrap();
    LicenseBinding {
        key_digest: LicenseBinding::digest(Some(key)),
        user_limit: limit,
        overage_seats: 0,
    }
}

fn request(license: LicenseBinding, name: &str) -> AdmitRequest {
    AdmitRequest {
        license,
        month: NOV.parse::<Month>().unwrap(),
        day: 10,
        seat: SeatKey::local(&Username::parse(name).unwrap()),
        username: name.into(),
        display_name: name.into(),
        source: Source::Local,
        client: "vpn".into(),
        at: ts("2026-11-10T10:00:00Z"),
        reserved: false,
        budget: None,
    }
}

fn counted(outcomes: &[AdmitOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, AdmitOutcome::Counted { .. }))
        .count()
}

pub async fn a_limit_written_into_the_license_row_is_never_enforced(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    let license = installed(store.as_ref(), "GHL1.three", 3).await;
    raw.execute("UPDATE license SET user_limit = 1000").await;
    raw.execute("UPDATE months SET user_limit = 1000").await;
    let requests: Vec<AdmitRequest> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|name| request(license, name))
        .collect();
    let outcomes = store.admit(&requests).await.unwrap();
    assert_eq!(counted(&outcomes), 3, "{outcomes:?}");
    assert_eq!(
        outcomes[3],
        AdmitOutcome::LimitExceeded {
            active_users: 3,
            user_limit: 3
        }
    );
    // The column is only a cache: the row's tag does not cover it.
    let stored = store.license().await.unwrap();
    assert!(stored.authentic);
}

pub async fn a_key_swapped_into_the_license_row_fails_its_tag(store: Arc<dyn Store>, raw: Raw) {
    let license = installed(store.as_ref(), "GHL1.small", 2).await;
    // An older key, a demo, or any other text: none is in force.
    for sql in [
        "UPDATE license SET key = 'GHL1.big'",
        "UPDATE license SET key = NULL",
        "UPDATE license SET generation = generation + 5",
    ] {
        raw.execute(sql).await;
        assert!(!store.license().await.unwrap().authentic, "{sql}");
        let outcomes = store.admit(&[request(license, "a")]).await.unwrap();
        assert_eq!(outcomes, vec![AdmitOutcome::LicenseChanged], "{sql}");
        let swapped = LicenseBinding {
            key_digest: LicenseBinding::digest(Some("GHL1.big")),
            user_limit: 1000,
            overage_seats: 0,
        };
        let outcomes = store.admit(&[request(swapped, "a")]).await.unwrap();
        assert_eq!(outcomes, vec![AdmitOutcome::LicenseChanged], "{sql}");
    }
}

pub async fn a_lowered_count_frees_no_seat(store: Arc<dyn Store>, raw: Raw) {
    let license = installed(store.as_ref(), "GHL1.two", 2).await;
    let outcomes = store
        .admit(&[request(license, "a"), request(license, "b")])
        .await
        .unwrap();
    assert_eq!(counted(&outcomes), 2);
    // The shown count and the ledger lowered: the sealed count decides.
    raw.execute("UPDATE months SET active_users = 0").await;
    raw.execute("DELETE FROM seats").await;
    assert_eq!(
        store.admit(&[request(license, "c")]).await.unwrap(),
        vec![AdmitOutcome::LimitExceeded {
            active_users: 2,
            user_limit: 2
        }]
    );
    assert_eq!(store.active_users(NOV.parse().unwrap()).await.unwrap(), 2);
    // A sealed count that does not open stops admissions...
    raw.execute("UPDATE months SET sealed_count = NULL").await;
    assert!(matches!(
        store.admit(&[request(license, "c")]).await,
        Err(StoreError::Altered(_))
    ));
    // ...until a key installed after it seals the month again, forgetting
    // nobody counted: the larger of the shown count and the ledger.
    raw.execute("UPDATE months SET active_users = 1").await;
    store
        .install_license(&LicenseInstall {
            key: "GHL1.two-again",
            user_limit: 2,
            month: NOV.parse().unwrap(),
            at: ts("2026-11-11T00:00:00Z"),
            clock: None,
        })
        .await
        .unwrap();
    let again = LicenseBinding {
        key_digest: LicenseBinding::digest(Some("GHL1.two-again")),
        user_limit: 2,
        overage_seats: 0,
    };
    assert_eq!(
        store
            .admit(&[request(again, "c"), request(again, "d")])
            .await
            .unwrap(),
        vec![
            AdmitOutcome::Counted {
                active_users: 2,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::LimitExceeded {
                active_users: 2,
                user_limit: 2
            }
        ]
    );
}

pub async fn an_edited_clock_mark_is_seen_and_never_written_over(store: Arc<dyn Store>, raw: Raw) {
    let mark = |at: &str| ClockMark {
        high_water: ts(at),
        anchor: 0,
    };
    store
        .record_time(&mark("2027-03-01T00:00:00Z"))
        .await
        .unwrap();
    raw.execute("UPDATE clock SET high_water = 1700000000000000")
        .await;
    let read = store.recorded_time().await.unwrap().unwrap();
    assert!(!read.authentic);
    // A later mark does not cover the edit up with a fresh tag.
    let after = store
        .record_time(&mark("2027-03-02T00:00:00Z"))
        .await
        .unwrap();
    assert!(!after.authentic);
    assert_eq!(
        after.record.high_water.as_microsecond(),
        1_700_000_000_000_000
    );
    // Nor does a new anchor written in by hand.
    raw.execute("UPDATE clock SET anchor = 1999999999").await;
    assert!(!store.recorded_time().await.unwrap().unwrap().authentic);
}

pub async fn the_installation_columns_only_show_the_sealed_record(store: Arc<dyn Store>, raw: Raw) {
    store
        .create_installation(&installation(), 25)
        .await
        .unwrap();
    raw.execute(
        "UPDATE installation SET demo_support_end = '2099-12-31', time_zone = 'UTC', first_start = 4102444800000000",
    )
    .await;
    let read = store.installation().await.unwrap().unwrap();
    assert!(!read.authentic);
    let record = read.record;
    assert_eq!(record.demo_support_end, date(2026, 12, 1));
    assert_eq!(record.time_zone, "Europe/Istanbul");
    assert_eq!(record.first_start, ts("2026-11-01T08:00:00Z"));
    assert_eq!(record.signing_key.to_bytes(), [0x42; 32]);
    // Another installation's sealed record, or garbage, does not open.
    raw.execute("UPDATE installation SET signing_key = signing_key || signing_key")
        .await;
    assert!(matches!(
        store.installation().await,
        Err(StoreError::Corrupt(_))
    ));
}

pub async fn the_database_alone_gives_no_secret(store: Arc<dyn Store>, raw: Raw) {
    store
        .create_installation(&installation(), 25)
        .await
        .unwrap();
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    let mallory = SeatKey::local(&Username::parse("mallory").unwrap());
    let totp = b"secret-totp-seed-20b";
    for seat in [&alice, &mallory] {
        store
            .enroll_totp(&TotpRecord {
                seat: seat.clone(),
                secret: TotpSecret::from_bytes(totp.to_vec()),
                mode: None,
                enrolled_at: ts("2026-11-01T09:00:00Z"),
            })
            .await
            .unwrap();
    }
    let shared_secret = b"the-radius-shared-secret";
    store
        .add_radius_client(&RadiusClient {
            name: "vpn".into(),
            networks: vec!["10.0.0.0/8".parse().unwrap()],
            secret: shared_secret.to_vec(),
            require_message_authenticator: true,
            limit_proxy_state: true,
        })
        .await
        .unwrap();
    store
        .add_device(&DeviceRecord {
            id: "phone".into(),
            seat: alice.clone(),
            username: "alice".into(),
            label: "Alice's phone".into(),
            public_key: vec![4; 65],
            created_at: ts("2026-11-01T09:00:00Z"),
            webpush: None,
        })
        .await
        .unwrap();
    let auth = [0xa7u8; 16];
    store
        .set_device_webpush(
            "phone",
            Some(&WebPushSubscription {
                endpoint: "https://push.example.com/x".into(),
                p256dh: vec![4; 65],
                auth: auth.to_vec(),
            }),
        )
        .await
        .unwrap();
    // Through the store: all there.
    assert_eq!(
        store.totp(&alice).await.unwrap().unwrap().secret.as_bytes(),
        totp
    );
    assert_eq!(
        store.radius_clients().await.unwrap()[0].secret,
        shared_secret
    );
    assert_eq!(
        store
            .device("phone")
            .await
            .unwrap()
            .unwrap()
            .webpush
            .unwrap()
            .auth,
        auth
    );
    // In the database: none of it (though plain values are plainly there,
    // so the search sees what a reader sees).
    let everything = raw.everything().await;
    assert!(holds(&everything, b"local:alice") && holds(&everything, b"Alice's phone"));
    for (what, secret) in [
        ("installation key", &[0x42u8; 32][..]),
        ("TOTP seed", &totp[..]),
        ("shared secret", &shared_secret[..]),
        ("Web Push secret", &auth[..]),
    ] {
        assert!(!holds(&everything, secret), "the database shows the {what}");
    }
    // A sealed seed copied onto another user's row does not open there:
    // nobody can give themselves someone else's (or a known) seed.
    raw.execute(
        "UPDATE totp SET secret = (SELECT secret FROM totp WHERE seat_key = 'local:alice') WHERE seat_key = 'local:mallory'",
    )
    .await;
    assert!(store.totp(&mallory).await.is_err());
    raw.execute("UPDATE radius_clients SET name = 'other'")
        .await;
    assert!(store.radius_clients().await.is_err());
}

pub async fn rows_written_in_are_neither_phones_nor_links(store: Arc<dyn Store>, raw: Raw) {
    store
        .create_installation(&installation(), 25)
        .await
        .unwrap();
    // A phone of the attacker's, for alice, and a link whose secret the
    // attacker chose (its hash written in).
    let secret = "A".repeat(43);
    let token_hash = gatehouse_core::push::EnrollmentToken::hash(&secret).unwrap();
    let hash: String = token_hash.iter().map(|b| format!("{b:02x}")).collect();
    let bytes = |hex: &str| match raw {
        Raw::Sqlite { .. } => format!("x'{hex}'"),
        Raw::Postgres(_) => format!("'\\x{hex}'::bytea"),
    };
    raw.execute(&format!(
        "INSERT INTO push_devices (id, seat_key, username, label, public_key, created_at) \
         VALUES ('rogue', 'local:alice', 'alice', 'x', {}, 0)",
        bytes("04")
    ))
    .await;
    assert!(matches!(
        store.device("rogue").await,
        Err(StoreError::Corrupt(_))
    ));
    raw.execute(&format!(
        "INSERT INTO push_enrollments (token_hash, seat_key, username, created_at, expires_at, device_id, tag) \
         VALUES ({}, 'local:alice', 'alice', 0, 4102444800000000, 'rogue-link', {})",
        bytes(&hash),
        bytes("00")
    ))
    .await;
    assert_eq!(
        store
            .enrollment(&token_hash, ts("2026-11-10T00:00:00Z"))
            .await
            .unwrap(),
        Err(EnrollmentRefusal::Malformed)
    );
}

pub async fn credentials_written_in_sign_nobody_in(store: Arc<dyn Store>, raw: Raw) {
    use gatehouse_core::store::{AdminRecord, LocalUserRecord, SessionRecord};
    store
        .create_installation(&installation(), 25)
        .await
        .unwrap();
    let alice = Username::parse("alice").unwrap();
    store
        .add_local_user(&LocalUserRecord {
            username: alice.clone(),
            display_name: "Alice".into(),
            password_hash: "$argon2id$alice".into(),
            enabled: true,
            second_factor_exempt: false,
            groups: Vec::new(),
            created_at: ts("2026-11-01T09:00:00Z"),
        })
        .await
        .unwrap();
    let root = Username::parse("root").unwrap();
    store
        .add_admin(&AdminRecord {
            name: root.clone(),
            password_hash: "$argon2id$root".into(),
            created_at: ts("2026-11-01T09:00:00Z"),
            must_change_password: false,
        })
        .await
        .unwrap();
    let token = |hash: u8, expires_at: Option<&str>| TokenRecord {
        token_hash: [hash; 32],
        admin: root.clone(),
        created_at: ts("2026-11-01T09:00:00Z"),
        expires_at: expires_at.map(ts),
        label: String::new(),
    };
    store.add_admin_token(&token(1, None)).await.unwrap();
    store
        .add_admin_token(&token(5, Some("2026-11-02T09:00:00Z")))
        .await
        .unwrap();
    store
        .add_admin_token(&token(6, Some("2026-11-02T09:00:00Z")))
        .await
        .unwrap();
    store
        .add_session(&SessionRecord {
            token_hash: [2; 32],
            admin: root.clone(),
            csrf: "csrf".into(),
            created_at: ts("2026-11-01T09:00:00Z"),
            expires_at: ts("2026-11-01T21:00:00Z"),
        })
        .await
        .unwrap();
    // What Gatehouse wrote signs in.
    assert!(store.admin(&root).await.unwrap().is_some());
    assert_eq!(
        store.admin_token(&[1; 32]).await.unwrap(),
        Some(token(1, None))
    );
    assert!(store.admin_token(&[5; 32]).await.unwrap().is_some());
    assert!(store.session(&[2; 32]).await.unwrap().is_some());
    let read = store.local_user(&alice).await.unwrap().unwrap();
    assert!(read.enabled && read.password_hash == "$argon2id$alice");
    // What is written in, or changed, signs nobody in.
    let bytes = |hex: &str| match raw {
        Raw::Sqlite { .. } => format!("x'{hex}'"),
        Raw::Postgres(_) => format!("'\\x{hex}'::bytea"),
    };
    raw.execute("INSERT INTO admins (name, password_hash, created_at) VALUES ('mallory', '$argon2id$mallory', 0)")
        .await;
    raw.execute(&format!(
        "INSERT INTO admin_tokens (token_hash, admin, created_at) VALUES ({}, 'root', 0)",
        bytes(&"03".repeat(32))
    ))
    .await;
    raw.execute(&format!(
        "INSERT INTO admin_sessions (token_hash, admin, csrf, created_at, expires_at) VALUES ({}, 'root', 'x', 0, 4102444800000000)",
        bytes(&"04".repeat(32))
    ))
    .await;
    raw.execute("UPDATE admin_sessions SET expires_at = 4102444800000000")
        .await;
    // A token's expiry pushed out, or taken away: the token is refused.
    raw.execute(&format!(
        "UPDATE admin_tokens SET expires_at = 4102444800000000 WHERE token_hash = {}",
        bytes(&"05".repeat(32))
    ))
    .await;
    raw.execute(&format!(
        "UPDATE admin_tokens SET expires_at = NULL WHERE token_hash = {}",
        bytes(&"06".repeat(32))
    ))
    .await;
    raw.execute("UPDATE admins SET password_hash = '$argon2id$chosen' WHERE name = 'root'")
        .await;
    raw.execute("UPDATE local_users SET password_hash = '$argon2id$chosen'")
        .await;
    let mallory = Username::parse("mallory").unwrap();
    assert!(store.admin(&mallory).await.unwrap().is_none());
    // An administrator written in is nobody to keep the panel open with:
    // with root's row tampered too, no authentic administrator would
    // remain after deleting either, so neither is deleted.
    assert!(store.admins().await.unwrap().is_empty());
    assert_eq!(
        store.delete_admin(&root).await.unwrap(),
        gatehouse_core::store::AdminRemoval::LastOne
    );
    assert_eq!(
        store.delete_admin(&mallory).await.unwrap(),
        gatehouse_core::store::AdminRemoval::LastOne
    );
    assert!(store.admin(&root).await.unwrap().is_none());
    assert_eq!(store.admin_token(&[3; 32]).await.unwrap(), None);
    assert_eq!(
        store.admin_token(&[5; 32]).await.unwrap(),
        None,
        "an expiry pushed out"
    );
    assert_eq!(
        store.admin_token(&[6; 32]).await.unwrap(),
        None,
        "an expiry taken away"
    );
    assert_eq!(
        store.admin_token(&[1; 32]).await.unwrap(),
        Some(token(1, None))
    );
    assert!(store.session(&[4; 32]).await.unwrap().is_none());
    assert!(
        store.session(&[2; 32]).await.unwrap().is_none(),
        "a session made to last"
    );
    let read = store.local_user(&alice).await.unwrap().unwrap();
    assert!(!read.enabled && read.password_hash != "$argon2id$chosen");
    // A password set through Gatehouse makes the account good again.
    assert!(
        store
            .set_local_user_password(&alice, "$argon2id$new")
            .await
            .unwrap()
    );
    assert!(store.set_local_user_enabled(&alice, true).await.unwrap());
    let read = store.local_user(&alice).await.unwrap().unwrap();
    assert!(read.enabled && read.password_hash == "$argon2id$new");
    // An exemption from the second factor written in exempts nobody (and
    // the account signs nobody in); one set through Gatehouse holds.
    raw.execute("UPDATE local_users SET second_factor_exempt = 1")
        .await;
    let read = store.local_user(&alice).await.unwrap().unwrap();
    assert!(!read.second_factor_exempt && !read.enabled);
    assert!(
        store
            .set_local_user_password(&alice, "$argon2id$again")
            .await
            .unwrap()
    );
    assert!(store.set_local_user_enabled(&alice, true).await.unwrap());
    assert!(
        !store
            .local_user(&alice)
            .await
            .unwrap()
            .unwrap()
            .second_factor_exempt
    );
    assert!(
        store
            .set_local_user_second_factor_exempt(&alice, true)
            .await
            .unwrap()
    );
    let read = store.local_user(&alice).await.unwrap().unwrap();
    assert!(read.second_factor_exempt && read.enabled);
}

/// Group membership is in the account's tag: a membership written in or
/// removed by hand moves nobody between policies; the account signs
/// nobody in (and is in no group) until its password is set again.
pub async fn group_memberships_written_in_or_out_fail_the_tag(store: Arc<dyn Store>, raw: Raw) {
    use gatehouse_core::store::{LocalGroupName, LocalUserRecord};
    store
        .create_installation(&installation(), 25)
        .await
        .unwrap();
    let at = ts("2026-11-01T09:00:00Z");
    let group = |name: &str| LocalGroupName::parse(name).unwrap();
    for name in ["contractors", "vpn-admins"] {
        store.add_local_group(&group(name), at).await.unwrap();
    }
    for (name, groups) in [("alice", vec![group("contractors")]), ("bob", vec![])] {
        store
            .add_local_user(&LocalUserRecord {
                username: Username::parse(name).unwrap(),
                display_name: name.into(),
                password_hash: format!("$argon2id${name}"),
                enabled: true,
                second_factor_exempt: false,
                groups,
                created_at: at,
            })
            .await
            .unwrap();
    }
    let (alice, bob) = (
        Username::parse("alice").unwrap(),
        Username::parse("bob").unwrap(),
    );
    // Out of a group a policy denies; into one it allows.
    raw.execute("UPDATE local_users SET member_of = '' WHERE username = 'alice'")
        .await;
    raw.execute("UPDATE local_users SET member_of = 'vpn-admins' WHERE username = 'bob'")
        .await;
    for user in [&alice, &bob] {
        let read = store.local_user(user).await.unwrap().unwrap();
        assert!(
            !read.enabled && read.groups.is_empty() && read.password_hash.starts_with('!'),
            "{read:?}"
        );
    }
    // Setting the password through Gatehouse keeps none of it.
    assert!(
        store
            .set_local_user_password(&bob, "$argon2id$new")
            .await
            .unwrap()
    );
    let read = store.local_user(&bob).await.unwrap().unwrap();
    assert!(read.groups.is_empty() && !read.enabled);
    // Deleting a group leaves an altered row as it is (still refused).
    assert!(
        store
            .delete_local_group(&group("vpn-admins"))
            .await
            .unwrap()
    );
    assert!(!store.local_user(&alice).await.unwrap().unwrap().enabled);
}

/// The saved policies are one tagged record: a policy written in, taken
/// out or moved by hand fails the tag, and so does an edited generation.
pub async fn records_saved_whole_written_in_fail_their_tag(store: Arc<dyn Store>, raw: Raw) {
    store
        .create_installation(&installation(), 25)
        .await
        .unwrap();
    let at = ts("2026-11-01T09:00:00Z");
    for (whole, table, column, saved, edits) in [
        (
            Whole::Policies,
            "policy_set",
            "policies",
            r#"[{"name":"deny contractors"},{"name":"everyone"}]"#,
            [
                r#"[{"name":"everyone"}]"#,
                r#"[{"name":"everyone"},{"name":"deny contractors"}]"#,
            ],
        ),
        (
            Whole::SeatRules,
            "seat_rules",
            "rules",
            r#"{"marks":[{"username":"monitor","mark":"exempt"}]}"#,
            [
                r#"{"marks":[{"username":"monitor","mark":"exempt"},{"username":"alice","mark":"exempt"}]}"#,
                r#"{"marks":[{"username":"alice","mark":"exempt"}]}"#,
            ],
        ),
    ] {
        assert!(
            whole
                .save(store.as_ref(), 0, saved, at, "root")
                .await
                .unwrap()
        );
        assert!(whole.read(store.as_ref()).await.unwrap().4);
        let statements = [
            format!("UPDATE {table} SET {column} = '{}'", edits[0]),
            format!("UPDATE {table} SET {column} = '{}'", edits[1]),
            format!("UPDATE {table} SET generation = 7"),
        ];
        for statement in statements {
            raw.execute(&format!(
                "UPDATE {table} SET {column} = '{}', generation = 1",
                saved.replace('\'', "''")
            ))
            .await;
            assert!(whole.read(store.as_ref()).await.unwrap().4);
            raw.execute(&statement).await;
            assert!(!whole.read(store.as_ref()).await.unwrap().4, "{statement}");
        }
        // A save through Gatehouse makes it good again.
        let generation = whole.generation(store.as_ref()).await;
        assert!(
            whole
                .save(store.as_ref(), generation, "[]", at, "root")
                .await
                .unwrap()
        );
        assert!(whole.read(store.as_ref()).await.unwrap().4);
    }
}

/// SPEC §16: seats edited, removed or reordered by hand leave the month's
/// usage chain leading elsewhere than its head.
pub async fn seats_changed_by_hand_break_the_usage_chain(store: Arc<dyn Store>, raw: Raw) {
    let license = installed(store.as_ref(), "GHL1.chain", 10).await;
    let batch: Vec<AdmitRequest> = ["a", "b", "c"]
        .iter()
        .map(|name| request(license, name))
        .collect();
    store.admit(&batch).await.unwrap();
    let nov = NOV.parse::<Month>().unwrap();
    let verifies = |chain: gatehouse_core::store::UsageChainRecord| {
        gatehouse_core::usage_chain::head(NOV, &chain.links) == chain.head
    };
    assert!(verifies(store.usage_chain(nov).await.unwrap().unwrap()));
    for (statement, undo) in [
        (
            "UPDATE seats SET first_seen = first_seen + 1 WHERE seat_key = 'local:b'",
            "UPDATE seats SET first_seen = first_seen - 1 WHERE seat_key = 'local:b'",
        ),
        (
            "UPDATE seats SET chain_seq = 4 - chain_seq WHERE chain_seq IN (1, 3)",
            "UPDATE seats SET chain_seq = 4 - chain_seq WHERE chain_seq IN (1, 3)",
        ),
        (
            "UPDATE seats SET seat_key = 'local:z' WHERE seat_key = 'local:c'",
            "UPDATE seats SET seat_key = 'local:c' WHERE seat_key = 'local:z'",
        ),
        (
            "UPDATE seats SET chain_seq = NULL WHERE seat_key = 'local:c'",
            "UPDATE seats SET chain_seq = 3 WHERE seat_key = 'local:c'",
        ),
    ] {
        raw.execute(statement).await;
        assert!(
            !verifies(store.usage_chain(nov).await.unwrap().unwrap()),
            "{statement}"
        );
        raw.execute(undo).await;
        assert!(verifies(store.usage_chain(nov).await.unwrap().unwrap()));
    }
}

/// The schema-7 installation of `bin/gatehouse/tests/fixtures/schema7`
/// (made by Gatehouse before databases were sealed): its description.
pub fn schema7() -> serde_json::Value {
    let path = gatehouse_testkit::workspace_root()
        .join("bin/gatehouse/tests/fixtures/schema7/fixture.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// What a reader sees of the secrets the fixture holds, in plain
/// values: `(what, bytes)`.
fn schema7_secrets(fixture: &serde_json::Value) -> Vec<(&'static str, Vec<u8>)> {
    let text = |key: &str| fixture[key].as_str().unwrap().to_string();
    vec![
        ("installation key", hex(&text("installation_key_hex"))),
        (
            "TOTP seed",
            TotpSecret::from_base32(&text("totp_secret"))
                .unwrap()
                .as_bytes()
                .to_vec(),
        ),
        ("shared secret", text("radius_secret").into_bytes()),
        ("Web Push secret", hex(&text("webpush_auth_hex"))),
    ]
}

/// The sealed columns, to compare before and after a second start.
async fn sealed_columns(raw: &Raw) -> Vec<Vec<u8>> {
    let queries = [
        "SELECT signing_key FROM installation",
        "SELECT secret FROM totp ORDER BY seat_key",
        "SELECT secret FROM radius_clients ORDER BY name",
        "SELECT webpush_auth FROM push_devices WHERE webpush_auth IS NOT NULL ORDER BY id",
        "SELECT tag FROM license",
        "SELECT tag FROM clock",
        "SELECT sealed_count FROM months ORDER BY month",
        "SELECT tag FROM push_devices ORDER BY id",
    ];
    let mut values = Vec::new();
    for query in queries {
        let query = sqlx::AssertSqlSafe(query);
        let rows: Vec<Vec<u8>> = match raw {
            Raw::Sqlite { pool, .. } => sqlx::query_scalar(query).fetch_all(pool).await.unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(query).fetch_all(pool).await.unwrap(),
        };
        values.extend(rows);
    }
    values
}

/// An installation written by Gatehouse at schema 7 (`raw` holds it,
/// not yet opened by this version): `open` opens it under a new sealing
/// key, twice. Everything is still there and works, no secret is left
/// readable, and the second start changes nothing.
pub async fn schema7_upgrades_in_place<F, Fut>(raw: Raw, open: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn Store>>,
{
    let fixture = schema7();
    let secrets = schema7_secrets(&fixture);
    let before = raw.everything().await;
    for (what, secret) in &secrets {
        assert!(
            holds(&before, secret),
            "the fixture holds its {what} in clear"
        );
    }
    let store = open().await;
    let installation = store.installation().await.unwrap().unwrap();
    assert!(installation.authentic);
    assert_eq!(
        installation.record.signing_key.to_bytes().to_vec(),
        secrets[0].1
    );
    assert_eq!(installation.record.time_zone, "Europe/Istanbul");
    let license = store.license().await.unwrap();
    assert!(license.authentic);
    assert_eq!(
        license.record.key.as_deref(),
        fixture["license_key"].as_str()
    );
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    assert_eq!(
        store.totp(&alice).await.unwrap().unwrap().secret.as_bytes(),
        secrets[1].1
    );
    let clients = store.radius_clients().await.unwrap();
    assert_eq!(
        (clients[0].name.as_str(), &clients[0].secret),
        ("vpn", &secrets[2].1)
    );
    let device = store
        .device(fixture["device"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(device.username, "carol");
    assert_eq!(device.webpush.unwrap().auth, secrets[3].1);
    assert!(store.recorded_time().await.unwrap().unwrap().authentic);
    // The ledger, under the installed key: alice and bob are counted, and
    // the month's count is good to decide on.
    let month: Month = fixture["month"].as_str().unwrap().parse().unwrap();
    let license = LicenseBinding {
        key_digest: LicenseBinding::digest(fixture["license_key"].as_str()),
        user_limit: 40,
        overage_seats: 0,
    };
    let outcomes = store
        .admit(&[AdmitRequest {
            month,
            ..request(license, "bob")
        }])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![AdmitOutcome::AlreadyCounted { active_users: 2 }]
    );
    let after = raw.everything().await;
    for (what, secret) in &secrets {
        assert!(
            !holds(&after, secret),
            "the upgraded database shows the {what}"
        );
    }
    // A second start changes nothing.
    let sealed = sealed_columns(&raw).await;
    drop(store);
    let again = open().await;
    assert!(again.installation().await.unwrap().unwrap().authentic);
    assert_eq!(sealed_columns(&raw).await, sealed);
}

/// The audit trail against someone with SQL access: an entry edited, one
/// deleted from the middle, one written in, and the newest ones removed
/// are each found by the walk; an edited entry is listed as not authentic.
pub async fn audit_entries_changed_by_hand_break_the_chain(store: Arc<dyn Store>, raw: Raw) {
    use gatehouse_core::audit::{AuditQuery, NewAuditEntry};
    let entry = |n: i64| NewAuditEntry {
        at: ts("2026-11-01T09:00:00Z") + gatehouse_license::jiff::SignedDuration::from_mins(n),
        actor: "admin:root".into(),
        source: "192.0.2.7".into(),
        action: "local_user.delete".into(),
        subject: format!("user{n}"),
        detail: String::new(),
    };
    for n in 1..=6 {
        store.append_audit(&entry(n)).await.unwrap();
    }
    assert!(store.verify_audit_chain().await.unwrap().intact());
    // Edited: who did it.
    raw.execute("UPDATE audit_log SET actor = 'admin:mallory' WHERE id = 4")
        .await;
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(report.first_break, Some(4), "{report:?}");
    let listed = store
        .audit_entries(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let authentic: Vec<(u64, bool)> = listed.iter().map(|r| (r.id, r.authentic)).collect();
    assert_eq!(
        authentic,
        [
            (6, true),
            (5, true),
            (4, false),
            (3, true),
            (2, true),
            (1, true)
        ]
    );
    raw.execute("UPDATE audit_log SET actor = 'admin:root' WHERE id = 4")
        .await;
    assert!(
        store.verify_audit_chain().await.unwrap().intact(),
        "put back as it was"
    );
    // Deleted from the middle.
    raw.execute("DELETE FROM audit_log WHERE id = 3").await;
    assert_eq!(
        store.verify_audit_chain().await.unwrap().first_break,
        Some(4)
    );
    // Appending goes on after a break, and the break stays visible.
    store.append_audit(&entry(7)).await.unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!((report.first_break, report.entries), (Some(4), 6));
    // The newest entries removed, with nothing else touched: the head
    // says so.
    let fresh_start = store.verify_audit_chain().await.unwrap();
    assert!(!fresh_start.head_mismatch);
    raw.execute("DELETE FROM audit_log WHERE id = 7").await;
    assert!(store.verify_audit_chain().await.unwrap().head_mismatch);

    // Everything removed: the head still tells.
    raw.execute("DELETE FROM audit_log").await;
    let emptied = store.verify_audit_chain().await.unwrap();
    assert!(emptied.head_mismatch && emptied.entries == 0, "{emptied:?}");
}

fn audit_entry(n: i64) -> gatehouse_core::audit::NewAuditEntry {
    gatehouse_core::audit::NewAuditEntry {
        at: ts("2026-11-01T09:00:00Z") + gatehouse_license::jiff::SignedDuration::from_mins(n),
        actor: "cli".into(),
        source: "local user root".into(),
        action: "group.add".into(),
        subject: format!("group{n}"),
        detail: String::new(),
    }
}

/// Newest entries removed by hand stay visible however many entries are
/// appended afterwards: the next one follows the removed one.
pub async fn audit_entries_removed_from_the_end_stay_visible(store: Arc<dyn Store>, raw: Raw) {
    for n in 1..=5 {
        store.append_audit(&audit_entry(n)).await.unwrap();
    }
    raw.execute("DELETE FROM audit_log WHERE id >= 4").await;
    let report = store.verify_audit_chain().await.unwrap();
    assert!(
        report.head_mismatch && report.first_break.is_none(),
        "{report:?}"
    );
    for n in 6..=8 {
        store.append_audit(&audit_entry(n)).await.unwrap();
    }
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(report.first_break, Some(6), "{report:?}");
}

/// A head deleted or edited by hand is not trusted: the next entry
/// follows nothing, and the break stays.
pub async fn an_audit_head_removed_or_edited_breaks_the_next_entry(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    for n in 1..=3 {
        store.append_audit(&audit_entry(n)).await.unwrap();
    }
    raw.execute("DELETE FROM audit_head").await;
    assert!(store.verify_audit_chain().await.unwrap().head_mismatch);
    store.append_audit(&audit_entry(4)).await.unwrap();
    store.append_audit(&audit_entry(5)).await.unwrap();
    assert_eq!(
        store.verify_audit_chain().await.unwrap().first_break,
        Some(4)
    );
    raw.execute("UPDATE audit_head SET last_id = 9").await;
    store.append_audit(&audit_entry(6)).await.unwrap();
    let report = store.verify_audit_chain().await.unwrap();
    assert_eq!(report.first_break, Some(4), "{report:?}");
    assert_eq!(report.entries, 6);
}

/// One `#[tokio::test]` per case; `$make` is an async function of the case
/// name yielding `Option<(Arc<dyn Store>, Raw)>` (`None`: SKIP).
#[macro_export]
macro_rules! tampering_suite {
    ($make:expr) => {
        $crate::tampering_suite!(@cases $make;
            a_limit_written_into_the_license_row_is_never_enforced,
            a_key_swapped_into_the_license_row_fails_its_tag,
            a_lowered_count_frees_no_seat,
            an_edited_clock_mark_is_seen_and_never_written_over,
            the_installation_columns_only_show_the_sealed_record,
            the_database_alone_gives_no_secret,
            rows_written_in_are_neither_phones_nor_links,
            credentials_written_in_sign_nobody_in,
            portal_sessions_changed_by_hand_sign_nobody_in,
            group_memberships_written_in_or_out_fail_the_tag,
            records_saved_whole_written_in_fail_their_tag,
            seats_changed_by_hand_break_the_usage_chain,
            audit_entries_changed_by_hand_break_the_chain,
            audit_entries_removed_from_the_end_stay_visible,
            an_audit_head_removed_or_edited_breaks_the_next_entry,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        mod tampering_cases {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some((store, raw)) = ($make)(stringify!($case)).await {
                        tampering::$case(store, raw).await;
                    }
                }
            )*
        }
    };
}

/// A portal session row changed in the database (another user, a wider
/// scope, a longer life) signs nobody in, and a TOTP secret moved from one
/// session to another does not open there.
pub async fn portal_sessions_changed_by_hand_sign_nobody_in(store: Arc<dyn Store>, raw: Raw) {
    use crate::conformance::portal_session_of;
    use gatehouse_core::store::PortalScope;
    let sessions = [
        portal_session_of("alice", 1, PortalScope::Enroll, "2026-11-01T09:30:00Z"),
        portal_session_of("alice", 2, PortalScope::Enroll, "2026-11-01T09:30:00Z"),
        portal_session_of("alice", 3, PortalScope::Enroll, "2026-11-01T09:30:00Z"),
        portal_session_of("alice", 4, PortalScope::Enroll, "2026-11-01T09:30:00Z"),
    ];
    for session in &sessions {
        store.add_portal_session(session).await.unwrap();
        assert!(
            store
                .portal_session(&session.token_hash)
                .await
                .unwrap()
                .is_some()
        );
    }
    let secret = TotpSecret::from_bytes(vec![7; 20]);
    store
        .set_portal_pending_totp(&[4; 32], "local:alice", Some(&secret))
        .await
        .unwrap();
    let first = |column: &str, value: &str, hash: u8| {
        format!("UPDATE portal_sessions SET {column} = {value} WHERE csrf = 'csrf-{hash}'")
    };
    for (sql, hash) in [
        (first("seat", "'local:bob'", 1), 1),
        (first("scope", "'full'", 2), 2),
        (first("expires_at", "expires_at + 86400000000", 3), 3),
    ] {
        raw.execute(&sql).await;
        assert_eq!(
            store.portal_session(&[hash; 32]).await.unwrap(),
            None,
            "{sql}"
        );
    }
    // Session 4's secret copied into another row does not open there.
    raw.execute(
        "UPDATE portal_sessions SET pending_totp = (SELECT pending_totp FROM portal_sessions WHERE csrf = 'csrf-4') WHERE csrf = 'csrf-1'",
    )
    .await;
    raw.execute(
        "UPDATE portal_sessions SET seat = 'local:alice', csrf = 'csrf-1' WHERE csrf = 'csrf-1'",
    )
    .await;
    assert!(matches!(
        store.portal_session(&[1; 32]).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        store
            .portal_session(&[4; 32])
            .await
            .unwrap()
            .unwrap()
            .pending_totp,
        Some(secret)
    );
}
