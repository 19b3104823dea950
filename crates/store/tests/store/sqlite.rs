//! The SQLite store against the conformance suite, plus what only a file
//! on disk can show: durability across reopening.

use crate::{conformance, tampering};

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse_core::identity::{SeatKey, Source, Username};
use gatehouse_core::store::{
    AdmitOutcome, AdmitRequest, InstallationStore as _, SeatQuery, SeatStore as _, Store,
};
use gatehouse_store::SqliteStore;

/// A fresh database file for one test, under cargo's target/tmp.
fn database_path(case: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("sqlite-store")
        .join(case);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("gatehouse.db")
}

async fn fresh(case: &str) -> Option<Arc<dyn Store>> {
    Some(Arc::new(
        SqliteStore::open(&database_path(case), test_seal())
            .await
            .unwrap(),
    ))
}

conformance_suite!(fresh);

async fn fresh_with_raw(case: &str) -> Option<(Arc<dyn Store>, tampering::Raw)> {
    let path = database_path(&format!("tampering-{case}"));
    let store = SqliteStore::open(&path, test_seal()).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    Some((Arc::new(store), tampering::Raw::Sqlite { pool, path }))
}

tampering_suite!(fresh_with_raw);

#[tokio::test]
async fn committed_admissions_survive_reopening() {
    let path = database_path("committed_admissions_survive_reopening");
    {
        let store = SqliteStore::open(&path, test_seal()).await.unwrap();
        store
            .create_installation(
                &gatehouse_core::store::InstallationRecord {
                    signing_key: gatehouse_license::SigningKey::from_bytes(&[5; 32]),
                    first_start: conformance::ts("2026-11-01T00:00:00Z"),
                    demo_support_end: "2026-12-01".parse().unwrap(),
                    time_zone: "UTC".into(),
                },
                25,
            )
            .await
            .unwrap();
        let request = AdmitRequest {
            license: gatehouse_core::store::LicenseBinding {
                key_digest: gatehouse_core::store::LicenseBinding::digest(None),
                user_limit: 25,
                overage_seats: 0,
            },
            month: conformance::month("2026-11"),
            day: 2,
            seat: SeatKey::local(&Username::parse("alice").unwrap()),
            username: "alice".into(),
            display_name: "Alice".into(),
            source: Source::Local,
            client: "vpn".into(),
            at: conformance::ts("2026-11-02T00:00:00Z"),
            reserved: false,
            budget: None,
        };
        assert_eq!(
            store.admit(&[request]).await.unwrap(),
            vec![AdmitOutcome::Counted {
                active_users: 1,
                kind: gatehouse_license::SeatKind::Within
            }]
        );
        // No close(): the process could die here.
    }
    let reopened = SqliteStore::open(&path, test_seal()).await.unwrap();
    let seats = reopened
        .seats(&SeatQuery::all(conformance::month("2026-11")))
        .await
        .unwrap();
    assert_eq!(seats.len(), 1);
    assert_eq!(
        reopened
            .installation()
            .await
            .unwrap()
            .unwrap()
            .record
            .signing_key
            .to_bytes(),
        [5; 32]
    );
}

#[tokio::test]
async fn a_database_from_a_newer_gatehouse_is_refused() {
    let path = database_path("a_database_from_a_newer_gatehouse_is_refused");
    SqliteStore::open(&path, test_seal())
        .await
        .unwrap()
        .close()
        .await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO schema_version (version) VALUES (99)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let error = SqliteStore::open(&path, test_seal()).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("newer than this Gatehouse understands"),
        "{error}"
    );
}

/// The sealing key the tests' databases are sealed under.
fn test_seal() -> std::sync::Arc<gatehouse_core::seal::SealingKey> {
    std::sync::Arc::new(gatehouse_core::seal::SealingKey::from_bytes([7; 32]))
}

#[tokio::test]
async fn a_schema_7_database_is_sealed_in_place_and_refuses_another_key() {
    let path = database_path("schema7-upgrade");
    std::fs::copy(
        gatehouse_testkit::workspace_root()
            .join("bin/gatehouse/tests/fixtures/schema7/gatehouse.db"),
        &path,
    )
    .unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let seal = Arc::new(gatehouse_core::seal::SealingKey::generate().unwrap());
    let open = || {
        let (path, seal) = (path.clone(), seal.clone());
        async move { Arc::new(SqliteStore::open(&path, seal).await.unwrap()) as Arc<dyn Store> }
    };
    tampering::schema7_upgrades_in_place(
        tampering::Raw::Sqlite {
            pool,
            path: path.clone(),
        },
        open,
    )
    .await;
    let other = Arc::new(gatehouse_core::seal::SealingKey::generate().unwrap());
    let error = SqliteStore::open(&path, other).await.unwrap_err();
    assert!(
        matches!(&error, gatehouse_core::StoreError::Sealing(why) if why.contains("another sealing key")),
        "{error}"
    );
}
