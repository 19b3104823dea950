//! The fixture every service test opens: a fresh SQLite store sealed under
//! a fixed key, cheap password hashing, and no second factor required
//! (license rules are under test) unless a test asks for one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gatehouse_core::store::{SeatQuery, Store};
use gatehouse_core::{Gatehouse, ManualClock, MfaSettings, PasswordParams, Settings};
use gatehouse_license::Month;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_store::SqliteStore;

pub fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// The directory of test `name` in `area`, under cargo's target/tmp.
pub fn test_dir(area: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(area)
        .join(name)
}

/// A fresh, empty directory for test `name`; the database path in it.
pub fn fresh_database(area: &str, name: &str) -> PathBuf {
    let dir = test_dir(area, name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("gatehouse.db")
}

pub fn fast_passwords() -> PasswordParams {
    PasswordParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    }
}

/// No second factor required: license rules, not the second factor, are
/// under test (the `front_door` tests open with the default).
pub fn license_rules_only() -> MfaSettings {
    MfaSettings {
        required: false,
        ..MfaSettings::default()
    }
}

/// The tests' settings: `zone`, cheap hashing, [`license_rules_only`].
pub fn settings(clock: Arc<ManualClock>, zone: &TimeZone) -> Settings {
    Settings {
        time_zone: Some(zone.clone()),
        password: fast_passwords(),
        mfa: license_rules_only(),
        ..Settings::new(clock)
    }
}

/// The service over the SQLite database at `path`.
pub async fn open(path: &Path, settings: Settings) -> Gatehouse {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path, test_seal()).await.unwrap());
    Gatehouse::open(store, settings).await.unwrap()
}

/// The usernames counted in `month`, in the Users table's order.
pub async fn counted_in(gatehouse: &Gatehouse, month: Month) -> Vec<String> {
    gatehouse
        .users(&SeatQuery::all(month))
        .await
        .unwrap()
        .into_iter()
        .map(|seat| seat.username)
        .collect()
}

/// The sealing key the tests' databases are sealed under.
pub fn test_seal() -> Arc<gatehouse_core::seal::SealingKey> {
    Arc::new(gatehouse_core::seal::SealingKey::from_bytes([7; 32]))
}
