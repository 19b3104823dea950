//! Local users and TOTP enrollments (`LocalUserStore`,
//! `SecondFactorStore`): each row tagged, secrets sealed.

use async_trait::async_trait;
use gatehouse_core::identity::{SeatKey, Username};
use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{
    LocalUserRecord, LocalUserStore, SecondFactorStore, StoreError, StoreResult, TotpRecord,
};
use gatehouse_core::totp::{TotpMode, TotpSecret};

use super::{DbRow, Store, get, inserted};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::{micros, timestamp, unavailable};

impl Store {
    /// Changes a local user's password hash, whether enabled and
    /// whether exempt from the second factor (`None`: kept),
    /// tagging the row anew; `false` when there is no such user. A
    /// change of another column meanwhile (another node) is read
    /// again, so the tag always covers what the row holds. Setting
    /// a password makes an account altered outside Gatehouse good
    /// again, disabled and not exempt until set so through
    /// Gatehouse: flags written in are never made authentic.
    pub(crate) async fn change_local_user(
        &self,
        username: &Username,
        password_hash: Option<&str>,
        enabled: Option<bool>,
        second_factor_exempt: Option<bool>,
    ) -> StoreResult<bool> {
        for _ in 0..16 {
            let row: Option<(String, i64, i64, Option<Vec<u8>>)> =
                sqlx::query_as("SELECT password_hash, enabled, second_factor_exempt, tag FROM local_users WHERE username = $1")
                    .bind(username.as_str())
                    .fetch_optional(self.writer())
                    .await
                    .map_err(unavailable)?;
            let Some((old_hash, old_enabled, old_exempt, tag)) = row else {
                return Ok(false);
            };
            // Flags written in outside Gatehouse are not carried
            // into the new tag: a row whose tag fails keeps only
            // what this call sets (disabled, not exempt otherwise).
            let authentic = sealing::Tagged::LocalUser {
                username: username.as_str(),
                password_hash: &old_hash,
                enabled: old_enabled != 0,
                second_factor_exempt: old_exempt != 0,
            }
            .verify(self.seal(), tag.as_deref());
            let new_hash = password_hash.unwrap_or(&old_hash);
            let new_enabled = enabled.unwrap_or(authentic && old_enabled != 0);
            let new_exempt = second_factor_exempt.unwrap_or(authentic && old_exempt != 0);
            let changed = sqlx::query(
                "UPDATE local_users SET password_hash = $1, enabled = $2, second_factor_exempt = $3, tag = $4
                 WHERE username = $5 AND password_hash = $6 AND enabled = $7 AND second_factor_exempt = $8",
            )
            .bind(new_hash)
            .bind(i64::from(new_enabled))
            .bind(i64::from(new_exempt))
            .bind(sealing::Tagged::LocalUser { username: username.as_str(), password_hash: new_hash, enabled: new_enabled, second_factor_exempt: new_exempt }.tag(self.seal()))
            .bind(username.as_str())
            .bind(&old_hash)
            .bind(old_enabled)
            .bind(old_exempt)
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
            if changed.rows_affected() == 1 {
                return Ok(true);
            }
        }
        Err(StoreError::Unavailable(
            "the account kept changing; try again".into(),
        ))
    }
}

/// A local account; one whose tag fails (a password or account
/// written in outside Gatehouse) is shown disabled, with no
/// password that any text matches: it signs nobody in.
fn local_user_from_row(seal: &SealingKey, row: &DbRow) -> StoreResult<LocalUserRecord> {
    let username: String = get(row, "username")?;
    let password_hash: String = get(row, "password_hash")?;
    let enabled = get::<i64>(row, "enabled")? != 0;
    let second_factor_exempt = get::<i64>(row, "second_factor_exempt")? != 0;
    let tag: Option<Vec<u8>> = get(row, "tag")?;
    let authentic = sealing::Tagged::LocalUser {
        username: &username,
        password_hash: &password_hash,
        enabled,
        second_factor_exempt,
    }
    .verify(seal, tag.as_deref());
    if !authentic {
        tracing::error!(
            username = %username,
            "local account changed outside Gatehouse (its tag does not verify): it signs nobody in; set its password again"
        );
    }
    Ok(LocalUserRecord {
        username: Username::parse(&username)
            .map_err(|e| StoreError::Corrupt(format!("username {username:?}: {e}")))?,
        display_name: get(row, "display_name")?,
        password_hash: if authentic {
            password_hash
        } else {
            ALTERED_PASSWORD.to_string()
        },
        enabled: enabled && authentic,
        second_factor_exempt: second_factor_exempt && authentic,
        created_at: timestamp(get(row, "created_at")?)?,
    })
}

/// Stands for a password hash whose row was changed outside
/// Gatehouse: not a PHC string, so no password verifies.
const ALTERED_PASSWORD: &str = "!altered outside Gatehouse";

const LOCAL_USER_COLUMNS: &str =
    "username, display_name, password_hash, enabled, second_factor_exempt, created_at, tag";

#[async_trait]
impl LocalUserStore for Store {
    async fn local_user(&self, username: &Username) -> StoreResult<Option<LocalUserRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOCAL_USER_COLUMNS} FROM local_users WHERE username = $1"
        )))
        .bind(username.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        row.as_ref()
            .map(|row| local_user_from_row(self.seal(), row))
            .transpose()
    }

    async fn add_local_user(&self, user: &LocalUserRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO local_users (username, display_name, password_hash, enabled, second_factor_exempt, created_at, tag) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(user.username.as_str())
        .bind(&user.display_name)
        .bind(&user.password_hash)
        .bind(i64::from(user.enabled))
        .bind(i64::from(user.second_factor_exempt))
        .bind(micros(user.created_at))
        .bind(sealing::Tagged::LocalUser { username: user.username.as_str(), password_hash: &user.password_hash, enabled: user.enabled, second_factor_exempt: user.second_factor_exempt }.tag(self.seal()))
        .execute(self.writer())
        .await;
        inserted(result)
    }

    async fn set_local_user_enabled(
        &self,
        username: &Username,
        enabled: bool,
    ) -> StoreResult<bool> {
        self.change_local_user(username, None, Some(enabled), None)
            .await
    }

    async fn set_local_user_password(
        &self,
        username: &Username,
        password_hash: &str,
    ) -> StoreResult<bool> {
        self.change_local_user(username, Some(password_hash), None, None)
            .await
    }

    async fn set_local_user_second_factor_exempt(
        &self,
        username: &Username,
        exempt: bool,
    ) -> StoreResult<bool> {
        self.change_local_user(username, None, None, Some(exempt))
            .await
    }

    async fn delete_local_user(&self, username: &Username) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM local_users WHERE username = $1")
            .bind(username.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM totp WHERE seat_key = $1")
            .bind(SeatKey::local(username).as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn local_directory_generation(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT value FROM counters WHERE name = 'local_directory'")
            .fetch_one(self.pool())
            .await
            .map_err(unavailable)
    }

    async fn local_users(&self) -> StoreResult<Vec<LocalUserRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOCAL_USER_COLUMNS} FROM local_users ORDER BY username"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| local_user_from_row(self.seal(), row))
            .collect()
    }
}

#[async_trait]
impl SecondFactorStore for Store {
    async fn totp(&self, seat: &SeatKey) -> StoreResult<Option<TotpRecord>> {
        let row = sqlx::query("SELECT secret, mode, enrolled_at FROM totp WHERE seat_key = $1")
            .bind(seat.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mode: Option<String> = get(&row, "mode")?;
        let mode = match mode {
            None => None,
            Some(text) => Some(
                TotpMode::parse(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown TOTP mode {text:?}")))?,
            ),
        };
        let sealed: Vec<u8> = get(&row, "secret")?;
        let secret = sealing::open(
            self.seal(),
            &sealing::totp_context(seat.as_str()),
            &sealed,
            &format!("the TOTP secret of {}", seat.as_str()),
        )?;
        Ok(Some(TotpRecord {
            seat: seat.clone(),
            secret: TotpSecret::from_bytes(secret),
            mode,
            enrolled_at: timestamp(get(&row, "enrolled_at")?)?,
        }))
    }

    async fn enroll_totp(&self, record: &TotpRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO totp (seat_key, secret, mode, last_step, enrolled_at) VALUES ($1, $2, $3, -1, $4)
             ON CONFLICT (seat_key) DO UPDATE SET
                 secret = excluded.secret, mode = excluded.mode, last_step = -1, enrolled_at = excluded.enrolled_at",
        )
        .bind(record.seat.as_str())
        .bind(self.seal().seal(&sealing::totp_context(record.seat.as_str()), record.secret.as_bytes()))
        .bind(record.mode.map(TotpMode::as_str))
        .bind(micros(record.enrolled_at))
        .execute(self.writer())
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn remove_totp(&self, seat: &SeatKey) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM totp WHERE seat_key = $1")
            .bind(seat.as_str())
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn use_totp_step(&self, seat: &SeatKey, step: i64) -> StoreResult<bool> {
        let result =
            sqlx::query("UPDATE totp SET last_step = $2 WHERE seat_key = $1 AND last_step < $2")
                .bind(seat.as_str())
                .bind(step)
                .execute(self.writer())
                .await
                .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }
}
