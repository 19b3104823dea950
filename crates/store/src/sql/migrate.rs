//! Schema migrations and the seal of an older database (its secrets
//! encrypted, its license records tagged), in one transaction.

use std::str::FromStr;

use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{InstallationRecord, StoreError, StoreResult};
use gatehouse_license::SigningKey;
use gatehouse_license::jiff::civil::Date;

use super::{Db, Store, get};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::{timestamp, unavailable};

impl Store {
    /// Brings the schema up to date and seals the database, in one
    /// transaction. `true` when rows written before the database was
    /// sealed were sealed now (their plain values may linger in
    /// free space; the backend then rewrites its files).
    pub(crate) async fn migrate(&self) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if let Some(lock) = Store::MIGRATION_LOCK {
            sqlx::query(lock)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        let current: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                .fetch_one(&mut *tx)
                .await
                .map_err(unavailable)?;
        let known = Store::MIGRATIONS.len() as i64;
        if current > known {
            return Err(StoreError::Corrupt(format!(
                "database schema version {current} is newer than this Gatehouse understands ({known}); upgrade Gatehouse"
            )));
        }
        for (index, migration) in Store::MIGRATIONS.iter().enumerate().skip(current as usize) {
            sqlx::raw_sql(*migration)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(index as i64 + 1)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        let sealed_old_rows = self.seal_database(&mut tx).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(sealed_old_rows)
    }

    /// Seals a database written before it was sealed (schema 8 / 4):
    /// encrypts every secret and tags the license records under this
    /// store's sealing key, then records the key's id. A database
    /// already sealed under this key is left alone; under another
    /// key, it is [`StoreError::Sealing`] and nothing changes.
    pub(crate) async fn seal_database(
        &self,
        tx: &mut sqlx::Transaction<'static, Db>,
    ) -> StoreResult<bool> {
        let seal = self.seal();
        let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT key_id FROM seal WHERE id = 1")
            .fetch_optional(&mut **tx)
            .await
            .map_err(unavailable)?;
        match stored {
            Some(id) if id == seal.id() => return Ok(false),
            Some(id) => {
                let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
                return Err(StoreError::Sealing(format!(
                    "the database is sealed under another sealing key (key id {id}) than this one ({}); \
                     use the key file of the node that created the installation",
                    seal.id_text()
                )));
            }
            None => {}
        }
        if let Some(row) = sqlx::query(
            "SELECT signing_key, first_start, demo_support_end, time_zone FROM installation WHERE id = 1",
        )
        .fetch_optional(&mut **tx)
        .await
        .map_err(unavailable)?
        {
            let plain: Vec<u8> = get(&row, "signing_key")?;
            let key: [u8; 32] = plain.as_slice().try_into().map_err(|_| {
                StoreError::Corrupt("installation key is not 32 bytes".into())
            })?;
            let demo_support_end: String = get(&row, "demo_support_end")?;
            let record = InstallationRecord {
                signing_key: SigningKey::from_bytes(&key),
                first_start: timestamp(get(&row, "first_start")?)?,
                demo_support_end: Date::from_str(&demo_support_end)
                    .map_err(|e| StoreError::Corrupt(format!("demo end date: {e}")))?,
                time_zone: get(&row, "time_zone")?,
            };
            sqlx::query("UPDATE installation SET signing_key = $1 WHERE id = 1")
                .bind(sealing::seal_installation(seal, &record))
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        if let Some((generation, key)) = sqlx::query_as::<_, (i64, Option<String>)>(
            "SELECT generation, key FROM license WHERE id = 1",
        )
        .fetch_optional(&mut **tx)
        .await
        .map_err(unavailable)?
        {
            sqlx::query("UPDATE license SET tag = $1 WHERE id = 1")
                .bind(
                    sealing::Tagged::License {
                        generation,
                        key: key.as_deref(),
                    }
                    .tag(seal),
                )
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        if let Some((high_water, anchor)) =
            sqlx::query_as::<_, (i64, i64)>("SELECT high_water, anchor FROM clock WHERE id = 1")
                .fetch_optional(&mut **tx)
                .await
                .map_err(unavailable)?
        {
            sqlx::query("UPDATE clock SET tag = $1 WHERE id = 1")
                .bind(sealing::Tagged::Clock { high_water, anchor }.tag(seal))
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        let totp: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT seat_key, secret FROM totp")
            .fetch_all(&mut **tx)
            .await
            .map_err(unavailable)?;
        for (seat, secret) in totp {
            sqlx::query("UPDATE totp SET secret = $1 WHERE seat_key = $2")
                .bind(seal.seal(&sealing::totp_context(&seat), &secret))
                .bind(&seat)
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        let clients: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT name, secret FROM radius_clients")
                .fetch_all(&mut **tx)
                .await
                .map_err(unavailable)?;
        for (name, secret) in clients {
            sqlx::query("UPDATE radius_clients SET secret = $1 WHERE name = $2")
                .bind(seal.seal(&sealing::client_context(&name), &secret))
                .bind(&name)
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        let subscriptions: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT id, webpush_auth FROM push_devices WHERE webpush_auth IS NOT NULL",
        )
        .fetch_all(&mut **tx)
        .await
        .map_err(unavailable)?;
        for (id, auth) in subscriptions {
            sqlx::query("UPDATE push_devices SET webpush_auth = $1 WHERE id = $2")
                .bind(seal.seal(&sealing::webpush_context(&id), &auth))
                .bind(&id)
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        Store::seal_months(seal, tx, false).await?;
        let users: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT username, password_hash, enabled FROM local_users")
                .fetch_all(&mut **tx)
                .await
                .map_err(unavailable)?;
        for (name, password_hash, enabled) in users {
            sqlx::query("UPDATE local_users SET tag = $1 WHERE username = $2")
                .bind(
                    sealing::Tagged::LocalUser {
                        username: &name,
                        password_hash: &password_hash,
                        enabled: enabled != 0,
                        second_factor_exempt: false,
                        member_of: "",
                    }
                    .tag(seal),
                )
                .bind(&name)
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        let admins: Vec<(String, String)> =
            sqlx::query_as("SELECT name, password_hash FROM admins")
                .fetch_all(&mut **tx)
                .await
                .map_err(unavailable)?;
        for (name, password_hash) in admins {
            sqlx::query("UPDATE admins SET tag = $1 WHERE name = $2")
                .bind(
                    sealing::Tagged::Admin {
                        name: &name,
                        password_hash: &password_hash,
                    }
                    .tag(seal),
                )
                .bind(&name)
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        let tokens: Vec<(Vec<u8>, String)> =
            sqlx::query_as("SELECT token_hash, admin FROM admin_tokens")
                .fetch_all(&mut **tx)
                .await
                .map_err(unavailable)?;
        for (token_hash, admin) in tokens {
            sqlx::query("UPDATE admin_tokens SET tag = $1 WHERE token_hash = $2")
                .bind(
                    sealing::Tagged::Token {
                        token_hash: &token_hash,
                        admin: &admin,
                        // Schema 8 had no expiry.
                        expires_at: None,
                    }
                    .tag(seal),
                )
                .bind(&token_hash)
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        // Sessions end at the upgrade: signing in again is cheap.
        sqlx::query("DELETE FROM admin_sessions")
            .execute(&mut **tx)
            .await
            .map_err(unavailable)?;
        let devices: Vec<(String, String, Vec<u8>)> =
            sqlx::query_as("SELECT id, seat_key, public_key FROM push_devices")
                .fetch_all(&mut **tx)
                .await
                .map_err(unavailable)?;
        for (id, seat, public_key) in devices {
            sqlx::query("UPDATE push_devices SET tag = $1 WHERE id = $2")
                .bind(
                    sealing::Tagged::Device {
                        id: &id,
                        seat: &seat,
                        public_key: &public_key,
                    }
                    .tag(seal),
                )
                .bind(&id)
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        sqlx::query("INSERT INTO seal (id, key_id) VALUES (1, $1)")
            .bind(seal.id().to_vec())
            .execute(&mut **tx)
            .await
            .map_err(unavailable)?;
        let had_rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM installation")
            .fetch_one(&mut **tx)
            .await
            .map_err(unavailable)?;
        Ok(had_rows > 0)
    }

    /// Seals every month's count that is not sealed (or whose sealed
    /// count no longer opens): at the seal of an older database
    /// (`repair == false`: the counts as they are), and at every
    /// install (`repair`: the larger of the shown count and the
    /// month's ledger, so nobody counted is forgotten). Counts that
    /// open are left alone, so this costs a read of the months.
    pub(crate) async fn seal_months(
        seal: &SealingKey,
        tx: &mut sqlx::Transaction<'static, Db>,
        repair: bool,
    ) -> StoreResult<()> {
        let months: Vec<(String, i64, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT month, active_users, sealed_count FROM months")
                .fetch_all(&mut **tx)
                .await
                .map_err(unavailable)?;
        for (month, shown, sealed) in months {
            if sealing::open_count(seal, &month, sealed.as_deref()).is_some() {
                continue;
            }
            let count = if repair {
                let ledger: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM seats WHERE month = $1")
                    .bind(&month)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(unavailable)?;
                tracing::warn!(
                    %month,
                    shown,
                    ledger,
                    "the month's sealed user count did not open; sealed again from the larger of the shown count and the ledger"
                );
                shown.max(ledger)
            } else {
                shown
            };
            sqlx::query("UPDATE months SET active_users = $1, sealed_count = $2 WHERE month = $3")
                .bind(count)
                .bind(sealing::seal_count(seal, &month, count))
                .bind(&month)
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}
