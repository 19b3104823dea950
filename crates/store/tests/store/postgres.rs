//! The PostgreSQL store against the conformance suite, each case in a
//! database of its own on the server `GATEHOUSE_TEST_POSTGRES_URL` names.

use crate::{conformance, tampering};

use std::sync::Arc;

use gatehouse_core::store::Store;
use gatehouse_store::PgStore;
use gatehouse_testkit::{fresh_postgres_database, peer, postgres_tls_ca, postgres_url, temp_dir};
use sqlx::Connection as _;

/// A new, empty database for `case` (dropped first if a run left it).
async fn fresh_database(case: &str) -> Option<String> {
    let server = postgres_url(case)?;
    Some(fresh_postgres_database(&server, case))
}

async fn fresh(case: &str) -> Option<Arc<dyn Store>> {
    let url = fresh_database(case).await?;
    Some(Arc::new(
        PgStore::connect(&url, 8, test_seal()).await.unwrap(),
    ))
}

conformance_suite!(fresh);

async fn fresh_with_raw(case: &str) -> Option<(Arc<dyn Store>, tampering::Raw)> {
    let url = fresh_database(&format!("tamper_{case}")).await?;
    let store = PgStore::connect(&url, 4, test_seal()).await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    Some((Arc::new(store), tampering::Raw::Postgres(pool)))
}

tampering_suite!(fresh_with_raw);

#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let Some(url) = fresh_database("nodes_starting_together_migrate_once").await else {
        return;
    };
    let (a, b, c) = tokio::join!(
        PgStore::connect(&url, 2, test_seal()),
        PgStore::connect(&url, 2, test_seal()),
        PgStore::connect(&url, 2, test_seal())
    );
    for store in [a, b, c] {
        store.unwrap().close().await;
    }
    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_version ORDER BY version")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    let once_each: Vec<i64> = (1..=versions.len() as i64).collect();
    assert_eq!(versions, once_each, "every migration ran exactly once");
}

/// `url` with `query` added to its parameters.
fn with_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

#[tokio::test]
async fn tls_with_a_verified_certificate_and_a_wrong_ca_refused() {
    const TEST: &str = "tls_with_a_verified_certificate_and_a_wrong_ca_refused";
    let Some(server) = postgres_url(TEST) else {
        return;
    };
    let Some(ca) = postgres_tls_ca(TEST) else {
        return;
    };
    let Some(openssl) = peer("openssl", TEST) else {
        return;
    };
    let url = fresh_postgres_database(&server, TEST);
    // The certificate is checked against the private CA and the host name
    // (both spellings of this host are in the server's certificate).
    for host_url in [url.clone(), url.replace("127.0.0.1", "localhost")] {
        let verified = with_query(
            &host_url,
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        );
        let store = PgStore::connect(&verified, 2, test_seal()).await.unwrap();
        store.close().await;
        let mut connection = sqlx::PgConnection::connect(&verified).await.unwrap();
        let (ssl, version): (bool, String) =
            sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&mut connection)
                .await
                .unwrap();
        assert!(ssl && version.starts_with("TLS"), "{ssl} {version}");
    }
    // Another CA's word for the same server is not enough.
    let other = temp_dir();
    let made = std::process::Command::new(openssl)
        .current_dir(other.path())
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=Someone Else's CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let wrong = with_query(
        &url,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other.path().join("ca.pem").display()
        ),
    );
    let error = PgStore::connect(&wrong, 2, test_seal())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot connect") && error.to_lowercase().contains("certificate"),
        "{error}"
    );
    // Without a verified certificate, another host is refused before any
    // connection is tried.
    let elsewhere = PgStore::connect(
        "postgres://gatehouse:secret@db.example.com/gatehouse?sslmode=require",
        2,
        test_seal(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        elsewhere.contains("sslmode=verify-full") && !elsewhere.contains("secret"),
        "{elsewhere}"
    );
}

/// The sealing key the tests' databases are sealed under.
fn test_seal() -> std::sync::Arc<gatehouse_core::seal::SealingKey> {
    std::sync::Arc::new(gatehouse_core::seal::SealingKey::from_bytes([7; 32]))
}

#[tokio::test]
async fn a_schema_7_database_is_sealed_in_place_and_refuses_another_key() {
    const TEST: &str = "a_schema_7_database_is_sealed_in_place";
    let Some(url) = fresh_database(TEST).await else {
        return;
    };
    if peer("psql", TEST).is_none() {
        return;
    }
    // The dump of a schema-7 installation, restored as an administrator
    // would.
    gatehouse_testkit::psql_file(
        &url,
        &gatehouse_testkit::workspace_root()
            .join("bin/gatehouse/tests/fixtures/schema7/postgres.sql"),
    );
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let seal = Arc::new(gatehouse_core::seal::SealingKey::generate().unwrap());
    let open = || {
        let (url, seal) = (url.clone(), seal.clone());
        async move { Arc::new(PgStore::connect(&url, 2, seal).await.unwrap()) as Arc<dyn Store> }
    };
    tampering::schema7_upgrades_in_place(tampering::Raw::Postgres(pool), open).await;
    let other = Arc::new(gatehouse_core::seal::SealingKey::generate().unwrap());
    let error = PgStore::connect(&url, 2, other).await.unwrap_err();
    assert!(
        matches!(&error, gatehouse_core::StoreError::Sealing(why) if why.contains("another sealing key")),
        "{error}"
    );
}
