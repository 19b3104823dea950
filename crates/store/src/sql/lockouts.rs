//! Lockouts (`LockoutStore`): failures counted and a user locked in one
//! transaction, a counter every node watches.

use async_trait::async_trait;
use gatehouse_core::identity::SeatKey;
use gatehouse_core::store::{Failure, LockRecord, LockoutPolicy, LockoutStore, StoreResult};
use gatehouse_license::jiff::Timestamp;

use super::{DbRow, Store, get};
use crate::backend::Backend;
use crate::shared::{micros, timestamp, unavailable};

const LOCKOUT_COLUMNS: &str = "seat_key, username, otp_failures, password_failures, locks, last_failure_at, locked_at, locked_until";

fn lock_from_row(row: &DbRow) -> StoreResult<LockRecord> {
    let count = |name: &str| -> StoreResult<u32> {
        Ok(u32::try_from(get::<i64>(row, name)?).unwrap_or(u32::MAX))
    };
    let locked = match (
        get::<Option<i64>>(row, "locked_at")?,
        get::<Option<i64>>(row, "locked_until")?,
    ) {
        (Some(from), Some(until)) => Some((timestamp(from)?, timestamp(until)?)),
        _ => None,
    };
    Ok(LockRecord {
        seat: SeatKey::from_stored(get::<String>(row, "seat_key")?),
        username: get(row, "username")?,
        otp_failures: count("otp_failures")?,
        password_failures: count("password_failures")?,
        locks: count("locks")?,
        last_failure_at: timestamp(get(row, "last_failure_at")?)?,
        locked,
    })
}

/// A run of failures older than this starts again from zero.
const FAILURE_RUN: gatehouse_license::jiff::SignedDuration =
    gatehouse_license::jiff::SignedDuration::from_hours(24);

#[async_trait]
impl LockoutStore for Store {
    async fn record_failure(
        &self,
        seat: &SeatKey,
        username: &str,
        failure: &Failure,
        policy: &LockoutPolicy,
        at: Timestamp,
    ) -> StoreResult<Option<LockRecord>> {
        let (otp, password, digest) = match failure {
            Failure::Password { digest } => (0i64, 1i64, Some(digest.to_vec())),
            Failure::SecondFactor => (1, 0, None),
        };
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO lockouts (seat_key, username, otp_failures, password_failures, last_password, last_failure_at, locks)
             VALUES ($1, $2, $3, $4, $5, $6, 0)
             ON CONFLICT (seat_key) DO UPDATE SET
               username = $2,
               otp_failures = CASE WHEN lockouts.last_failure_at < $7 THEN $3
                                   ELSE lockouts.otp_failures + $3 END,
               password_failures = CASE WHEN lockouts.last_failure_at < $7 THEN $4
                                        WHEN $4 = 1 AND lockouts.last_password = $5 THEN lockouts.password_failures
                                        ELSE lockouts.password_failures + $4 END,
               last_password = CASE WHEN $4 = 1 THEN $5 ELSE lockouts.last_password END,
               locks = CASE WHEN lockouts.last_failure_at < $7 THEN 0 ELSE lockouts.locks END,
               last_failure_at = $6
             RETURNING {LOCKOUT_COLUMNS}"
        )))
        .bind(seat.as_str())
        .bind(username)
        .bind(otp)
        .bind(password)
        .bind(digest)
        .bind(micros(at))
        .bind(micros(at - FAILURE_RUN))
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        let mut record = lock_from_row(&row)?;
        let reached = |failures: u32, threshold: u32| threshold > 0 && failures >= threshold;
        let mut locked = None;
        if !record.locked_at(at)
            && (reached(record.otp_failures, policy.otp_failures)
                || reached(record.password_failures, policy.password_failures))
        {
            let locks = record.locks.saturating_add(1);
            let length =
                gatehouse_license::jiff::SignedDuration::try_from(policy.lock_length(locks))
                    .unwrap_or(FAILURE_RUN);
            let until = at.checked_add(length).unwrap_or(at);
            sqlx::query(
                "UPDATE lockouts SET otp_failures = 0, password_failures = 0, last_password = NULL,
                                     locks = $2, locked_at = $3, locked_until = $4
                 WHERE seat_key = $1",
            )
            .bind(seat.as_str())
            .bind(i64::from(locks))
            .bind(micros(at))
            .bind(micros(until))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            record.otp_failures = 0;
            record.password_failures = 0;
            record.locks = locks;
            record.locked = Some((at, until));
            locked = Some(record);
        }
        sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'lockouts'")
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(locked)
    }

    async fn clear_failures(&self, seat: &SeatKey) -> StoreResult<()> {
        self.delete_lockouts("seat_key = $1", seat.as_str())
            .await
            .map(|_| ())
    }

    async fn lockouts(&self) -> StoreResult<Vec<LockRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOCKOUT_COLUMNS} FROM lockouts ORDER BY username, seat_key"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter().map(lock_from_row).collect()
    }

    async fn unlock(&self, who: &str) -> StoreResult<bool> {
        self.delete_lockouts("seat_key = $1 OR username = $1", who)
            .await
    }

    async fn lockout_generation(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT value FROM counters WHERE name = 'lockouts'")
            .fetch_one(self.pool())
            .await
            .map_err(unavailable)
    }
}

impl Store {
    /// Deletes the lockout rows `condition` (on `$1`) selects,
    /// and marks the change for every node.
    async fn delete_lockouts(&self, condition: &'static str, value: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM lockouts WHERE {condition}"
        )))
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if deleted > 0 {
            sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'lockouts'")
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
        }
        Ok(deleted > 0)
    }
}
