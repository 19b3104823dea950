//! What the service benchmarks share: a licensed service on a fresh
//! SQLite database file under the target directory.

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::Store;
use gatehouse_core::{Gatehouse, Settings, SystemClock};
use gatehouse_license::jiff::civil::date;
use gatehouse_store::SqliteStore;
use gatehouse_testkit::{TestLicense, issue_key};

/// The sealing key the benchmarks' databases are sealed under.
pub fn test_seal() -> Arc<SealingKey> {
    Arc::new(SealingKey::from_bytes([7; 32]))
}

/// A store on a fresh database file named for `name`.
pub async fn fresh_sqlite(name: &str) -> Arc<dyn Store> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("bench")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Arc::new(
        SqliteStore::open(&dir.join("gatehouse.db"), test_seal())
            .await
            .unwrap(),
    )
}

/// A service on `store`, in UTC, on the system clock.
pub async fn open(store: Arc<dyn Store>) -> Gatehouse {
    Gatehouse::open(
        store,
        Settings {
            time_zone: Some(gatehouse_license::jiff::tz::TimeZone::UTC),
            ..Settings::new(Arc::new(SystemClock))
        },
    )
    .await
    .unwrap()
}

/// `gatehouse` with a license for `limit` users installed.
pub async fn licensed(gatehouse: Gatehouse, limit: u32) -> Arc<Gatehouse> {
    let key = issue_key(
        gatehouse.app_key(),
        &TestLicense::subscription(limit, date(2099, 12, 31), gatehouse.now()),
    );
    gatehouse.install_license(&key).await.unwrap();
    Arc::new(gatehouse)
}
