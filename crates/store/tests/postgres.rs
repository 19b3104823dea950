//! The PostgreSQL store against the conformance suite, each case in a
//! database of its own on the server `GATEHOUSE_TEST_POSTGRES_URL` names.

mod conformance;

use std::sync::Arc;

use gatehouse_core::store::Store;
use gatehouse_store::PgStore;
use gatehouse_testkit::{fresh_postgres_database, postgres_url};
use sqlx::Connection as _;

/// A new, empty database for `case` (dropped first if a run left it).
async fn fresh_database(case: &str) -> Option<String> {
    let server = postgres_url(case)?;
    Some(fresh_postgres_database(&server, case))
}

async fn fresh(case: &str) -> Option<Arc<dyn Store>> {
    let url = fresh_database(case).await?;
    Some(Arc::new(PgStore::connect(&url, 8).await.unwrap()))
}

conformance_suite!(fresh);

#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let Some(url) = fresh_database("nodes_starting_together_migrate_once").await else {
        return;
    };
    let (a, b, c) = tokio::join!(
        PgStore::connect(&url, 2),
        PgStore::connect(&url, 2),
        PgStore::connect(&url, 2)
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
