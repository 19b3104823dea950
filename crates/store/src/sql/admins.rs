//! Administrators, sessions, API tokens and the sign-in limits
//! (`AdminStore`).

use async_trait::async_trait;
use gatehouse_core::identity::Username;
use gatehouse_core::store::{
    AdminRecord, AdminRemoval, AdminStore, AttemptKey, SessionRecord, StoreResult, TokenRecord,
};
use gatehouse_license::jiff::Timestamp;

use super::{Store, inserted};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::{hash32, micros, timestamp, unavailable, username};

/// An administrator row as read: name, password hash, created, must
/// change, tag.
type AdminRow = (String, String, i64, i64, Option<Vec<u8>>);

/// An API token row as read: hash, administrator, created, expires, label,
/// tag.
type TokenRow = (Vec<u8>, String, i64, Option<i64>, String, Option<Vec<u8>>);

/// `SELECT` of an [`AdminRow`], then the rest of the statement.
macro_rules! select_admins {
    ($rest:literal) => {
        concat!(
            "SELECT name, password_hash, created_at, must_change_password, tag FROM admins",
            $rest
        )
    };
}

/// `SELECT` of a [`TokenRow`], then the rest of the statement.
macro_rules! select_tokens {
    ($rest:literal) => {
        concat!(
            "SELECT token_hash, admin, created_at, expires_at, label, tag FROM admin_tokens",
            $rest
        )
    };
}

/// An administrator row whose tag verifies (one written in outside
/// Gatehouse is nobody).
fn authentic_admin(store: &Store, row: AdminRow) -> StoreResult<Option<AdminRecord>> {
    let (name, password_hash, created_at, must_change, tag) = row;
    let tagged = sealing::Tagged::Admin {
        name: &name,
        password_hash: &password_hash,
    };
    if !tagged.verify(store.seal(), tag.as_deref()) {
        return Ok(None);
    }
    Ok(Some(AdminRecord {
        name: username(name)?,
        password_hash,
        created_at: timestamp(created_at)?,
        must_change_password: must_change != 0,
    }))
}

/// A token row whose tag verifies.
fn authentic_token(store: &Store, row: TokenRow) -> StoreResult<Option<TokenRecord>> {
    let (token_hash, admin, created_at, expires_at, label, tag) = row;
    let tagged = sealing::Tagged::Token {
        token_hash: &token_hash,
        admin: &admin,
        expires_at,
    };
    if !tagged.verify(store.seal(), tag.as_deref()) {
        return Ok(None);
    }
    Ok(Some(TokenRecord {
        token_hash: hash32(token_hash)?,
        admin: username(admin)?,
        created_at: timestamp(created_at)?,
        expires_at: expires_at.map(timestamp).transpose()?,
        label,
    }))
}

#[async_trait]
impl AdminStore for Store {
    async fn add_admin(&self, admin: &AdminRecord) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO admins (name, password_hash, created_at, must_change_password, tag) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(admin.name.as_str())
        .bind(&admin.password_hash)
        .bind(micros(admin.created_at))
        .bind(i64::from(admin.must_change_password))
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
        let row: Option<AdminRow> = sqlx::query_as(select_admins!(" WHERE name = $1"))
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?;
        match row {
            Some(row) => authentic_admin(self, row),
            None => Ok(None),
        }
    }

    async fn admin_count(&self) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admins")
            .fetch_one(self.pool())
            .await
            .map_err(unavailable)?;
        Ok(count.max(0) as u64)
    }

    async fn admins(&self) -> StoreResult<Vec<AdminRecord>> {
        let rows: Vec<AdminRow> = sqlx::query_as(select_admins!(" ORDER BY name"))
            .fetch_all(self.pool())
            .await
            .map_err(unavailable)?;
        let mut admins = Vec::with_capacity(rows.len());
        for row in rows {
            admins.extend(authentic_admin(self, row)?);
        }
        Ok(admins)
    }

    async fn set_admin_password(
        &self,
        name: &Username,
        password_hash: &str,
        must_change_password: bool,
        keep: Option<&[u8; 32]>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE admins SET password_hash = $1, must_change_password = $2, tag = $3 WHERE name = $4",
        )
        .bind(password_hash)
        .bind(i64::from(must_change_password))
        .bind(
            sealing::Tagged::Admin {
                name: name.as_str(),
                password_hash,
            }
            .tag(self.seal()),
        )
        .bind(name.as_str())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM admin_sessions WHERE admin = $1 AND token_hash <> $2")
            .bind(name.as_str())
            .bind(keep.map(|hash| hash.to_vec()).unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn delete_admin(&self, name: &Username) -> StoreResult<AdminRemoval> {
        let mut tx = self.begin_write().await?;
        if let Some(lock) = Store::ADMINS_LOCK {
            sqlx::query(lock)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        let rows: Vec<AdminRow> = sqlx::query_as(select_admins!(""))
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?;
        let mut found = false;
        let mut others = 0;
        for row in rows {
            let this = row.0 == name.as_str();
            // Found by name, authentic or not: a row written in by hand can
            // be deleted. Only authentic others count as someone left.
            found |= this;
            if !this && authentic_admin(self, row)?.is_some() {
                others += 1;
            }
        }
        if !found {
            return Ok(AdminRemoval::Missing);
        }
        if others == 0 {
            return Ok(AdminRemoval::LastOne);
        }
        // Tokens and sessions go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM admins WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(AdminRemoval::Deleted)
    }

    async fn add_admin_token(&self, token: &TokenRecord) -> StoreResult<()> {
        let expires_at = token.expires_at.map(micros);
        let result = sqlx::query(
            "INSERT INTO admin_tokens (token_hash, admin, created_at, expires_at, label, tag) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token.token_hash.to_vec())
        .bind(token.admin.as_str())
        .bind(micros(token.created_at))
        .bind(expires_at)
        .bind(&token.label)
        .bind(
            sealing::Tagged::Token {
                token_hash: &token.token_hash,
                admin: token.admin.as_str(),
                expires_at,
            }
            .tag(self.seal()),
        )
        .execute(self.writer())
        .await;
        inserted(result)
    }

    async fn admin_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<TokenRecord>> {
        let row: Option<TokenRow> = sqlx::query_as(select_tokens!(" WHERE token_hash = $1"))
            .bind(token_hash.to_vec())
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?;
        match row {
            Some(row) => authentic_token(self, row),
            None => Ok(None),
        }
    }

    async fn admin_tokens(&self, admin: &Username) -> StoreResult<Vec<TokenRecord>> {
        let rows: Vec<TokenRow> = sqlx::query_as(select_tokens!(
            " WHERE admin = $1 ORDER BY created_at, token_hash"
        ))
        .bind(admin.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        let mut tokens = Vec::with_capacity(rows.len());
        for row in rows {
            tokens.extend(authentic_token(self, row)?);
        }
        Ok(tokens)
    }

    async fn delete_admin_token(
        &self,
        admin: &Username,
        token_hash: &[u8; 32],
    ) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM admin_tokens WHERE admin = $1 AND token_hash = $2")
            .bind(admin.as_str())
            .bind(token_hash.to_vec())
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_admin_sessions(&self, admin: &Username) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM admin_sessions WHERE admin = $1")
            .bind(admin.as_str())
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }

    async fn admin_session_count(&self, admin: &Username, now: Timestamp) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM admin_sessions WHERE admin = $1 AND expires_at > $2",
        )
        .bind(admin.as_str())
        .bind(micros(now))
        .fetch_one(self.pool())
        .await
        .map_err(unavailable)?;
        Ok(count.max(0) as u64)
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
