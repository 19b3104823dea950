//! Administrators, sessions, API tokens and the sign-in limits
//! (`AdminStore`).

use async_trait::async_trait;
use gatehouse_core::identity::Username;
use gatehouse_core::store::{AdminRecord, AdminStore, AttemptKey, SessionRecord, StoreResult};
use gatehouse_license::jiff::Timestamp;

use super::{Store, inserted};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::{hash32, micros, timestamp, unavailable, username};

#[async_trait]
impl AdminStore for Store {
    async fn add_admin(&self, admin: &AdminRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO admins (name, password_hash, created_at, tag) VALUES ($1, $2, $3, $4)",
        )
        .bind(admin.name.as_str())
        .bind(&admin.password_hash)
        .bind(micros(admin.created_at))
        .bind(
            sealing::Tagged::Admin {
                name: admin.name.as_str(),
                password_hash: &admin.password_hash,
            }
            .tag(self.seal()),
        )
        .execute(self.writer())
        .await;
        inserted(result)
    }

    async fn admin(&self, name: &Username) -> StoreResult<Option<AdminRecord>> {
        let row: Option<(String, String, i64, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT name, password_hash, created_at, tag FROM admins WHERE name = $1",
        )
        .bind(name.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        // An administrator written in outside Gatehouse is
        // nobody.
        let row = row.filter(|(name, password_hash, _, tag)| {
            sealing::Tagged::Admin {
                name,
                password_hash,
            }
            .verify(self.seal(), tag.as_deref())
        });
        row.map(|(name, password_hash, created_at, _)| {
            Ok(AdminRecord {
                name: username(name)?,
                password_hash,
                created_at: timestamp(created_at)?,
            })
        })
        .transpose()
    }

    async fn admin_count(&self) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admins")
            .fetch_one(self.pool())
            .await
            .map_err(unavailable)?;
        Ok(count.max(0) as u64)
    }

    async fn add_admin_token(
        &self,
        token_hash: &[u8; 32],
        admin: &Username,
        at: Timestamp,
    ) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO admin_tokens (token_hash, admin, created_at, tag) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash.to_vec())
        .bind(admin.as_str())
        .bind(micros(at))
        .bind(
            sealing::Tagged::Token {
                token_hash,
                admin: admin.as_str(),
            }
            .tag(self.seal()),
        )
        .execute(self.writer())
        .await;
        inserted(result)
    }

    async fn admin_for_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<Username>> {
        let row: Option<(String, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT admin, tag FROM admin_tokens WHERE token_hash = $1")
                .bind(token_hash.to_vec())
                .fetch_optional(self.pool())
                .await
                .map_err(unavailable)?;
        row.filter(|(admin, tag)| {
            sealing::Tagged::Token { token_hash, admin }.verify(self.seal(), tag.as_deref())
        })
        .map(|(admin, _)| username(admin))
        .transpose()
    }

    async fn add_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO admin_sessions (token_hash, admin, csrf, created_at, expires_at, tag) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.token_hash.to_vec())
        .bind(session.admin.as_str())
        .bind(&session.csrf)
        .bind(micros(session.created_at))
        .bind(micros(session.expires_at))
        .bind(
            sealing::Tagged::Session {
                token_hash: &session.token_hash,
                admin: session.admin.as_str(),
                csrf: &session.csrf,
                expires_at: micros(session.expires_at),
            }
            .tag(self.seal()),
        )
        .execute(self.writer())
        .await;
        inserted(result)
    }

    async fn session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        let row: Option<(Vec<u8>, String, String, i64, i64, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT token_hash, admin, csrf, created_at, expires_at, tag FROM admin_sessions WHERE token_hash = $1",
        )
        .bind(token_hash.to_vec())
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        let row = row.filter(|(hash, admin, csrf, _, expires_at, tag)| {
            sealing::Tagged::Session {
                token_hash: hash,
                admin,
                csrf,
                expires_at: *expires_at,
            }
            .verify(self.seal(), tag.as_deref())
        });
        row.map(|(token_hash, admin, csrf, created_at, expires_at, _)| {
            Ok(SessionRecord {
                token_hash: hash32(token_hash)?,
                admin: username(admin)?,
                csrf,
                created_at: timestamp(created_at)?,
                expires_at: timestamp(expires_at)?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> StoreResult<()> {
        sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
            .bind(token_hash.to_vec())
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
            .bind(micros(now))
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }

    async fn reserve_sign_in(
        &self,
        keys: &[AttemptKey],
        window: std::time::Duration,
        at: Timestamp,
    ) -> StoreResult<Option<(usize, Timestamp)>> {
        let window = gatehouse_license::jiff::SignedDuration::try_from(window)
            .unwrap_or(gatehouse_license::jiff::SignedDuration::from_hours(1));
        let ended = micros(at - window);
        let mut tx = self.begin_write().await?;
        // Windows that ended are forgotten (the table stays as
        // small as the attempts of the last window).
        sqlx::query("DELETE FROM sign_in_attempts WHERE window_start <= $1")
            .bind(ended)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        for (index, key) in keys.iter().enumerate() {
            let (start, attempts): (i64, i64) = sqlx::query_as(
                "INSERT INTO sign_in_attempts (key, window_start, attempts) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET attempts = sign_in_attempts.attempts + 1
                 RETURNING window_start, attempts",
            )
            .bind(&key.key)
            .bind(micros(at))
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
            if attempts > i64::from(key.limit) {
                // Dropped uncommitted: nothing is reserved.
                return Ok(Some((index, timestamp(start)? + window)));
            }
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(None)
    }

    async fn release_sign_in(&self, keys: &[AttemptKey]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for key in keys {
            sqlx::query("UPDATE sign_in_attempts SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0")
                .bind(&key.key)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }
}
