//! Lockouts: failures in a row and the locks they lead to.

use async_trait::async_trait;
use gatehouse_license::jiff::Timestamp;

use super::StoreResult;
use crate::identity::SeatKey;

/// Failed logins in a row and the locks they lead to (SPEC §12), shared
/// by every node. Rows exist only for users with failures or a lock.
#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// Records one failure of `seat` at `at` and, when it reaches the
    /// policy's threshold, locks the user, in one transaction: returns the
    /// lock this failure set, if any. A wrong password equal to the one
    /// counted last (`Failure::Password` digest) is not counted again.
    async fn record_failure(
        &self,
        seat: &SeatKey,
        username: &str,
        failure: &Failure,
        policy: &LockoutPolicy,
        at: Timestamp,
    ) -> StoreResult<Option<LockRecord>>;

    /// Forgets the failures and locks of `seat` (a successful login).
    async fn clear_failures(&self, seat: &SeatKey) -> StoreResult<()>;

    /// Every user with failures or a lock (the in-memory copy each node
    /// keeps; the lock may have ended before `at`).
    async fn lockouts(&self) -> StoreResult<Vec<LockRecord>>;

    /// Ends the lock and forgets the failures of the user whose seat key or
    /// username is `who`; `false` when there was none.
    async fn unlock(&self, who: &str) -> StoreResult<bool>;

    /// Changes whenever failures are recorded or cleared or a lock is set
    /// or ended: processes compare it to know when their copy is stale.
    async fn lockout_generation(&self) -> StoreResult<i64>;
}

/// What failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A wrong password; `digest` identifies the password typed (keyed,
    /// never the text), so the same wrong password counts once in a row.
    Password { digest: [u8; 32] },
    /// A wrong one-time code or a denied push.
    SecondFactor,
}

/// `[lockout]`: after how many failures in a row a user is locked, and
/// for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Wrong one-time codes or denied pushes in a row (0: never).
    pub otp_failures: u32,
    /// Wrong passwords in a row (0: never).
    pub password_failures: u32,
    /// The first lock; each further lock in a row lasts twice as long.
    pub first_lock: std::time::Duration,
    /// The longest lock.
    pub longest_lock: std::time::Duration,
}

impl Default for LockoutPolicy {
    fn default() -> LockoutPolicy {
        LockoutPolicy {
            otp_failures: 5,
            password_failures: 10,
            first_lock: std::time::Duration::from_secs(15 * 60),
            longest_lock: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

impl LockoutPolicy {
    /// How long the `locks`-th lock in a row lasts (1: the first).
    pub fn lock_length(&self, locks: u32) -> std::time::Duration {
        let doubled = self
            .first_lock
            .saturating_mul(1u32 << locks.saturating_sub(1).min(20));
        doubled.min(self.longest_lock)
    }
}

/// A user's failures in a row and lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRecord {
    pub seat: SeatKey,
    pub username: String,
    pub otp_failures: u32,
    pub password_failures: u32,
    /// Locks in a row (each doubles the next).
    pub locks: u32,
    pub last_failure_at: Timestamp,
    /// The lock's start and end; `None`: not locked (failures only).
    pub locked: Option<(Timestamp, Timestamp)>,
}

impl LockRecord {
    /// Whether the user is locked at `at`.
    pub fn locked_at(&self, at: Timestamp) -> bool {
        self.locked.is_some_and(|(_, until)| at < until)
    }
}
