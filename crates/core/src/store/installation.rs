//! The installation, the license in force and the clock mark: what
//! the license rests on, each record checked (`Checked`) when read.

use async_trait::async_trait;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::Date;
use gatehouse_license::{Month, SigningKey};

use super::{Checked, StoreResult};

/// The installation's identity and first-start facts. Created once, never
/// changed.
#[derive(Clone)]
pub struct InstallationRecord {
    /// The installation's Ed25519 key (signs application key files; its
    /// public half is the App Key).
    pub signing_key: SigningKey,
    pub first_start: Timestamp,
    /// Fixed at first start so that restarts never move it.
    pub demo_support_end: Date,
    /// IANA name of the license time zone.
    pub time_zone: String,
}

impl std::fmt::Debug for InstallationRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationRecord")
            .field("signing_key", &"<secret>")
            .field("first_start", &self.first_start)
            .field("demo_support_end", &self.demo_support_end)
            .field("time_zone", &self.time_zone)
            .finish()
    }
}

/// The license row. `key` is `None` while the built-in demo is in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLicense {
    pub key: Option<String>,
    /// The key's limit (or the demo's) as written at install: a cache for
    /// people reading the database, never trusted (the key is the truth).
    pub user_limit: u32,
    /// Increases with every install, so other processes notice a new key.
    pub generation: i64,
}

/// The clock high-water mark as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockMark {
    /// The highest time recorded.
    pub high_water: Timestamp,
    /// The issue time (Unix seconds) of the vendor key that last
    /// re-anchored the clock, 0 if none did. A mark is only raised within
    /// its anchor, so a process that has not seen the newest anchor cannot
    /// write its old, far-ahead mark back.
    pub anchor: i64,
}

/// What [`SeatStore::admit`] enforces: the license in force as the service
/// verified it. The store counts under `user_limit` only while the license
/// row still holds the key whose SHA-256 is `key_digest` (and its tag
/// verifies); otherwise the request is [`AdmitOutcome::LicenseChanged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseBinding {
    /// SHA-256 of the key text in force, or of the empty string for the
    /// demo.
    pub key_digest: [u8; 32],
    /// The verified key's limit (or the demo's).
    pub user_limit: u32,
    /// Seats past the limit the verified key's overage allowance grants
    /// (SPEC §16); 0 without one.
    pub overage_seats: u32,
}

impl LicenseBinding {
    /// The digest of a license row's key (`None`: the demo).
    pub fn digest(key: Option<&str>) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(key.unwrap_or_default().as_bytes()).into()
    }
}

/// A license key to install, and what changes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseInstall<'a> {
    pub key: &'a str,
    pub user_limit: u32,
    /// The current month, whose history row takes the new limit.
    pub month: Month,
    pub at: Timestamp,
    /// Set the clock mark to this, even lower than the stored one (a fresh
    /// vendor key re-anchors a clock that ran ahead, or repairs a damaged
    /// one), in the same transaction.
    pub clock: Option<ClockMark>,
}

/// Installation identity, license and clock high-water mark. The
/// installation record is sealed whole under the sealing key (reads say
/// whether the plain columns beside it still agree); the license row and
/// the clock mark are tagged (reads say whether the tag verified).
#[async_trait]
pub trait InstallationStore: Send + Sync {
    async fn installation(&self) -> StoreResult<Option<Checked<InstallationRecord>>>;

    /// Stores `record` and the demo license (limit `demo_user_limit`) unless
    /// an installation exists; returns the installation that is stored
    /// either way, so two processes starting at once agree on one identity.
    async fn create_installation(
        &self,
        record: &InstallationRecord,
        demo_user_limit: u32,
    ) -> StoreResult<Checked<InstallationRecord>>;

    async fn license(&self) -> StoreResult<Checked<StoredLicense>>;

    /// Replaces the license in force (keeping the old one in the license
    /// history) and applies its limit to the month's history row; a
    /// month's sealed count that no longer opens is sealed again from the
    /// larger of its shown count and its ledger. Returns the new
    /// generation.
    async fn install_license(&self, install: &LicenseInstall<'_>) -> StoreResult<i64>;

    /// The generation of the license in force (cheap; polled).
    async fn license_generation(&self) -> StoreResult<i64>;

    /// Raises the recorded high-water mark to `mark.high_water` if it is
    /// higher and the stored mark has the same anchor; returns the stored
    /// mark after the update (a newer anchor, if another process
    /// re-anchored the clock).
    async fn record_time(&self, mark: &ClockMark) -> StoreResult<Checked<ClockMark>>;

    /// The stored mark, if any.
    async fn recorded_time(&self) -> StoreResult<Option<Checked<ClockMark>>>;
}
