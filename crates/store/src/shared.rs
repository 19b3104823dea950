//! What every backend shares: the SQL (written once, portable between
//! SQLite and PostgreSQL: numbered `$N` placeholders, `CASE` for
//! two-value max/min, the target table named in upserts) and the trait
//! implementations around it, stamped out for each backend by
//! [`impl_store!`]. A backend provides its pool, `begin_write`, its
//! migrations and the few statements that differ (`LOCK_MONTH`,
//! `CLAIM_ALARMS`, `MIGRATION_LOCK`).

use std::str::FromStr;

use gatehouse_core::identity::{Source, Username};
use gatehouse_core::store::{StoreError, StoreResult};
use gatehouse_license::Month;
use gatehouse_license::jiff::Timestamp;

/// Rows per multi-row INSERT: bound parameters stay well below every
/// backend's limit.
pub(crate) const ROWS_PER_INSERT: usize = 100;

pub(crate) fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

pub(crate) fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

pub(crate) fn timestamp(micros: i64) -> StoreResult<Timestamp> {
    Timestamp::from_microsecond(micros)
        .map_err(|_| StoreError::Corrupt(format!("time {micros} out of range")))
}

pub(crate) fn month_text(month: Month) -> String {
    month.to_string()
}

pub(crate) fn parse_month(text: &str) -> StoreResult<Month> {
    Month::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn count(value: i64) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("count {value} out of range")))
}

pub(crate) fn source(text: &str) -> StoreResult<Source> {
    Source::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown source {text:?}")))
}

pub(crate) fn peak_tenths(active_users: i64, user_limit: i64) -> i64 {
    if user_limit <= 0 {
        0
    } else {
        active_users * 1000 / user_limit
    }
}

pub(crate) fn username(text: String) -> StoreResult<Username> {
    Username::parse(&text).map_err(|e| StoreError::Corrupt(format!("name {text:?}: {e}")))
}

pub(crate) fn hash32(bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("stored hash is not 32 bytes".into()))
}

pub(crate) fn numbers(text: &str) -> StoreResult<Vec<u32>> {
    text.split(',')
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse()
                .map_err(|_| StoreError::Corrupt(format!("threshold {n:?}")))
        })
        .collect()
}

pub(crate) fn joined(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The columns [`alarm_from_row`] reads (a macro, so queries stay static
/// strings).
macro_rules! alarm_columns {
    () => {
        "id, alarm_key, kind, subject, body, recipients, created_at, delivery, attempts, next_attempt_at, last_error, sent_at"
    };
}

pub(crate) use alarm_columns;

/// The columns `push_from_row` reads.
macro_rules! push_columns {
    () => {
        "id, seat_key, username, client, source, created_at, expires_at, nonce, number, choices, decision, decided_by, decided_at"
    };
}

pub(crate) use push_columns;

/// The columns `device_from_row` reads, in a `SELECT`.
macro_rules! device_columns {
    () => {
        "id, seat_key, username, label, public_key, created_at, webpush_endpoint, webpush_p256dh, webpush_auth, tag"
    };
}

pub(crate) use device_columns;

/// The store traits for `$store` (with a `pool` of `$db` and the items
/// listed in the module docs), rows read as `$row`.
macro_rules! impl_store {
    ($store:ident, $db:ident, $row:ident) => {
        mod generated {
            use super::{$store, $db, $row};
            use std::collections::{BTreeMap, BTreeSet, HashSet};
            use std::str::FromStr;

            use async_trait::async_trait;
            use gatehouse_core::alarms::AlarmSettings;
            use gatehouse_core::clients::RadiusClient;
            use gatehouse_core::identity::{SeatKey, Username};
            use gatehouse_core::store::{
                AdminRecord, AdminStore, AdmitOutcome, AdmitRequest, AlarmRecord, AlarmStore, ClientStore,
                DailyNewUsers, Delivery, InstallationRecord, InstallationStore, LocalUserRecord,
                LocalUserStore, LoginRecord, MonthUsageRecord, NewAlarm, RefusalRecord, RefusedUser,
                SeatCursor, SeatOrder, SeatQuery, SeatRecord, SeatStatus, SeatStore, SecondFactorStore,
                SessionRecord, SortValue, StoreError, StoreResult, StoredLicense, TotpRecord,
                DeviceRecord, PushRecord, PushStore, PushUser, Checked, ClockMark, LicenseBinding,
                LicenseInstall, EnrollmentRecord, LinkEnrollment, PushLimits, PushLimited,
                Failure, LockRecord, LockoutPolicy, LockoutStore, AttemptKey,
            };
            use gatehouse_core::push::{EnrollmentRefusal, EnrollmentToken};
            use gatehouse_core::seal::SealingKey;
            use crate::sealing;
            use gatehouse_core::push::{Decision, PendingPush, PushMode, WebPushSubscription};
            use gatehouse_core::totp::{TotpMode, TotpSecret};
            use gatehouse_license::alarms::AlarmKind;
            use gatehouse_license::jiff::Timestamp;
            use gatehouse_license::jiff::civil::Date;
            use gatehouse_license::{Month, SigningKey};
            use sqlx::{QueryBuilder, Row};

            use crate::shared::*;

            impl $store {
            /// Brings the schema up to date and seals the database, in one
            /// transaction. `true` when rows written before the database was
            /// sealed were sealed now (their plain values may linger in
            /// free space; the backend then rewrites its files).
            pub(crate) async fn migrate(&self) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                if let Some(lock) = <$store>::MIGRATION_LOCK {
                    sqlx::query(lock).execute(&mut *tx).await.map_err(unavailable)?;
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
                let known = <$store>::MIGRATIONS.len() as i64;
                if current > known {
                    return Err(StoreError::Corrupt(format!(
                        "database schema version {current} is newer than this Gatehouse understands ({known}); upgrade Gatehouse"
                    )));
                }
                for (index, migration) in <$store>::MIGRATIONS.iter().enumerate().skip(current as usize) {
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
            async fn seal_database(&self, tx: &mut sqlx::Transaction<'static, $db>) -> StoreResult<bool> {
                let seal = self.seal.as_ref();
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
                        .bind(sealing::Tagged::License { generation, key: key.as_deref() }.tag(seal))
                        .execute(&mut **tx)
                        .await
                        .map_err(unavailable)?;
                }
                if let Some((high_water, anchor)) = sqlx::query_as::<_, (i64, i64)>(
                    "SELECT high_water, anchor FROM clock WHERE id = 1",
                )
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
                <$store>::seal_months(seal, tx, false).await?;
                let users: Vec<(String, String, i64)> =
                    sqlx::query_as("SELECT username, password_hash, enabled FROM local_users")
                        .fetch_all(&mut **tx)
                        .await
                        .map_err(unavailable)?;
                for (name, password_hash, enabled) in users {
                    sqlx::query("UPDATE local_users SET tag = $1 WHERE username = $2")
                        .bind(sealing::Tagged::LocalUser { username: &name, password_hash: &password_hash, enabled: enabled != 0, second_factor_exempt: false }.tag(seal))
                        .bind(&name)
                        .execute(&mut **tx)
                        .await
                        .map_err(unavailable)?;
                }
                let admins: Vec<(String, String)> = sqlx::query_as("SELECT name, password_hash FROM admins")
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(unavailable)?;
                for (name, password_hash) in admins {
                    sqlx::query("UPDATE admins SET tag = $1 WHERE name = $2")
                        .bind(sealing::Tagged::Admin { name: &name, password_hash: &password_hash }.tag(seal))
                        .bind(&name)
                        .execute(&mut **tx)
                        .await
                        .map_err(unavailable)?;
                }
                let tokens: Vec<(Vec<u8>, String)> = sqlx::query_as("SELECT token_hash, admin FROM admin_tokens")
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(unavailable)?;
                for (token_hash, admin) in tokens {
                    sqlx::query("UPDATE admin_tokens SET tag = $1 WHERE token_hash = $2")
                        .bind(sealing::Tagged::Token { token_hash: &token_hash, admin: &admin }.tag(seal))
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
                        .bind(sealing::Tagged::Device { id: &id, seat: &seat, public_key: &public_key }.tag(seal))
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
            async fn seal_months(
                seal: &SealingKey,
                tx: &mut sqlx::Transaction<'static, $db>,
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

            /// Changes a local user's password hash, whether enabled and
            /// whether exempt from the second factor (`None`: kept),
            /// tagging the row anew; `false` when there is no such user. A
            /// change of another column meanwhile (another node) is read
            /// again, so the tag always covers what the row holds. Setting
            /// a password makes an account altered outside Gatehouse good
            /// again, disabled and not exempt until set so through
            /// Gatehouse: flags written in are never made authentic.
            async fn change_local_user(
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
                    .verify(&self.seal, tag.as_deref());
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
                    .bind(sealing::Tagged::LocalUser { username: username.as_str(), password_hash: new_hash, enabled: new_enabled, second_factor_exempt: new_exempt }.tag(&self.seal))
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
                Err(StoreError::Unavailable("the account kept changing; try again".into()))
            }

            /// Raises the clock mark to `at` within `anchor` (`None`: the
            /// stored anchor), only over an authentic mark: a mark changed
            /// outside Gatehouse is left as it is, for the service to see.
            /// Returns the stored mark afterwards.
            async fn raise_clock(
                seal: &SealingKey,
                tx: &mut sqlx::Transaction<'static, $db>,
                at: Timestamp,
                anchor: Option<i64>,
            ) -> StoreResult<Checked<ClockMark>> {
                let at_micros = micros(at);
                // Another node may raise it between the read and the
                // conditional update (PostgreSQL); then read again.
                for _ in 0..16 {
                    let row: Option<(i64, i64, Option<Vec<u8>>)> =
                        sqlx::query_as("SELECT high_water, anchor, tag FROM clock WHERE id = 1")
                            .fetch_optional(&mut **tx)
                            .await
                            .map_err(unavailable)?;
                    match row {
                        None => {
                            let anchor = anchor.unwrap_or(0);
                            let inserted = sqlx::query(
                                "INSERT INTO clock (id, high_water, anchor, tag) VALUES (1, $1, $2, $3)
                                 ON CONFLICT (id) DO NOTHING",
                            )
                            .bind(at_micros)
                            .bind(anchor)
                            .bind(sealing::Tagged::Clock { high_water: at_micros, anchor }.tag(seal))
                            .execute(&mut **tx)
                            .await
                            .map_err(unavailable)?;
                            if inserted.rows_affected() == 1 {
                                return Ok(Checked { record: ClockMark { high_water: at, anchor }, authentic: true });
                            }
                        }
                        Some((high_water, stored_anchor, tag)) => {
                            let authentic =
                                sealing::Tagged::Clock { high_water, anchor: stored_anchor }.verify(seal, tag.as_deref());
                            let same_anchor = anchor.is_none_or(|anchor| anchor == stored_anchor);
                            if !(authentic && same_anchor && high_water < at_micros) {
                                return Ok(Checked {
                                    record: ClockMark { high_water: timestamp(high_water)?, anchor: stored_anchor },
                                    authentic,
                                });
                            }
                            let raised = sqlx::query(
                                "UPDATE clock SET high_water = $1, tag = $2
                                 WHERE id = 1 AND high_water = $3 AND anchor = $4",
                            )
                            .bind(at_micros)
                            .bind(sealing::Tagged::Clock { high_water: at_micros, anchor: stored_anchor }.tag(seal))
                            .bind(high_water)
                            .bind(stored_anchor)
                            .execute(&mut **tx)
                            .await
                            .map_err(unavailable)?;
                            if raised.rows_affected() == 1 {
                                return Ok(Checked {
                                    record: ClockMark { high_water: at, anchor: stored_anchor },
                                    authentic: true,
                                });
                            }
                        }
                    }
                }
                Err(StoreError::Unavailable("the clock mark kept changing; try again".into()))
            }
            }

            /// The outcome of an INSERT into a table with a unique key.
            fn inserted(result: Result<<$db as sqlx::Database>::QueryResult, sqlx::Error>) -> StoreResult<()> {
                match result {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                        Err(StoreError::AlreadyExists)
                    }
                    Err(error) => Err(unavailable(error)),
                }
            }







            fn get<'r, T>(row: &'r $row, column: &str) -> StoreResult<T>
            where
                T: sqlx::Decode<'r, $db> + sqlx::Type<$db>,
            {
                row.try_get(column)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            }



            /// The sealed installation record, and whether the plain
            /// columns beside it still show it (`authentic`).
            fn installation_from_row(seal: &SealingKey, row: &$row) -> StoreResult<Checked<InstallationRecord>> {
                let sealed: Vec<u8> = get(row, "signing_key")?;
                let record = sealing::open_installation(seal, &sealed)?;
                let first_start: i64 = get(row, "first_start")?;
                let demo_support_end: String = get(row, "demo_support_end")?;
                let time_zone: String = get(row, "time_zone")?;
                let authentic = first_start == micros(record.first_start)
                    && demo_support_end == record.demo_support_end.to_string()
                    && time_zone == record.time_zone;
                Ok(Checked { record, authentic })
            }

            const INSTALLATION_COLUMNS: &str =
                "SELECT signing_key, first_start, demo_support_end, time_zone FROM installation WHERE id = 1";

            #[async_trait]
            impl InstallationStore for $store {
                async fn installation(&self) -> StoreResult<Option<Checked<InstallationRecord>>> {
                    let row = sqlx::query(INSTALLATION_COLUMNS)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.as_ref().map(|row| installation_from_row(&self.seal, row)).transpose()
                }

                async fn create_installation(
                    &self,
                    record: &InstallationRecord,
                    demo_user_limit: u32,
                ) -> StoreResult<Checked<InstallationRecord>> {
                    let seal = self.seal.as_ref();
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO installation (id, signing_key, first_start, demo_support_end, time_zone)
                         VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(sealing::seal_installation(seal, record))
                    .bind(micros(record.first_start))
                    .bind(record.demo_support_end.to_string())
                    .bind(&record.time_zone)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                    sqlx::query(
                        "INSERT INTO license (id, key, user_limit, generation, tag) VALUES (1, NULL, $1, 1, $2)
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(i64::from(demo_user_limit))
                    .bind(sealing::Tagged::License { generation: 1, key: None }.tag(seal))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                    let row = sqlx::query(INSTALLATION_COLUMNS)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    let stored = installation_from_row(seal, &row)?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(stored)
                }

                async fn license(&self) -> StoreResult<Checked<StoredLicense>> {
                    let row = sqlx::query("SELECT key, user_limit, generation, tag FROM license WHERE id = 1")
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?
                        .ok_or_else(|| {
                            StoreError::Corrupt("no license row: the installation was never created".into())
                        })?;
                    let key: Option<String> = get(&row, "key")?;
                    let generation: i64 = get(&row, "generation")?;
                    let tag: Option<Vec<u8>> = get(&row, "tag")?;
                    let authentic =
                        sealing::Tagged::License { generation, key: key.as_deref() }.verify(&self.seal, tag.as_deref());
                    Ok(Checked {
                        record: StoredLicense {
                            key,
                            user_limit: count(get(&row, "user_limit")?)?,
                            generation,
                        },
                        authentic,
                    })
                }

                async fn install_license(&self, install: &LicenseInstall<'_>) -> StoreResult<i64> {
                    let limit = i64::from(install.user_limit);
                    let mut tx = self.begin_write().await?;
                    let generation: i64 = sqlx::query_scalar(
                        "UPDATE license SET key = $1, user_limit = $2, generation = generation + 1, installed_at = $3
                         WHERE id = 1 RETURNING generation",
                    )
                    .bind(install.key)
                    .bind(limit)
                    .bind(micros(install.at))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| StoreError::Corrupt("no license row: the installation was never created".into()))?;
                    sqlx::query("UPDATE license SET tag = $1 WHERE id = 1")
                        .bind(sealing::Tagged::License { generation, key: Some(install.key) }.tag(&self.seal))
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    sqlx::query(
                        "INSERT INTO license_history (key, user_limit, installed_at) VALUES ($1, $2, $3)",
                    )
                    .bind(install.key)
                    .bind(limit)
                    .bind(micros(install.at))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                    sqlx::query(
                        "UPDATE months SET user_limit = $1,
                             peak_tenths = CASE WHEN peak_tenths > active_users * 1000 / $1
                                                THEN peak_tenths ELSE active_users * 1000 / $1 END
                         WHERE month = $2",
                    )
                    .bind(limit)
                    .bind(month_text(install.month))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                    <$store>::seal_months(&self.seal, &mut tx, true).await?;
                    if let Some(mark) = install.clock {
                        let high_water = micros(mark.high_water);
                        sqlx::query(
                            "INSERT INTO clock (id, high_water, anchor, tag) VALUES (1, $1, $2, $3)
                             ON CONFLICT (id) DO UPDATE SET high_water = excluded.high_water,
                                 anchor = excluded.anchor, tag = excluded.tag",
                        )
                        .bind(high_water)
                        .bind(mark.anchor)
                        .bind(sealing::Tagged::Clock { high_water, anchor: mark.anchor }.tag(&self.seal))
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    }
                    tx.commit().await.map_err(unavailable)?;
                    Ok(generation)
                }

                async fn license_generation(&self) -> StoreResult<i64> {
                    sqlx::query_scalar("SELECT generation FROM license WHERE id = 1")
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)
                        .map(|generation| generation.unwrap_or(0))
                }

                async fn record_time(&self, mark: &ClockMark) -> StoreResult<Checked<ClockMark>> {
                    let mut tx = self.begin_write().await?;
                    let stored = <$store>::raise_clock(&self.seal, &mut tx, mark.high_water, Some(mark.anchor)).await?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(stored)
                }

                async fn recorded_time(&self) -> StoreResult<Option<Checked<ClockMark>>> {
                    let row: Option<(i64, i64, Option<Vec<u8>>)> =
                        sqlx::query_as("SELECT high_water, anchor, tag FROM clock WHERE id = 1")
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(unavailable)?;
                    row.map(|(high_water, anchor, tag)| {
                        Ok(Checked {
                            authentic: sealing::Tagged::Clock { high_water, anchor }.verify(&self.seal, tag.as_deref()),
                            record: ClockMark { high_water: timestamp(high_water)?, anchor },
                        })
                    })
                    .transpose()
                }
            }

            #[async_trait]
            impl SeatStore for $store {
                async fn admit(&self, requests: &[AdmitRequest]) -> StoreResult<Vec<AdmitOutcome>> {
                    if requests.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut tx = self.begin_write().await?;
                    let mut outcomes: Vec<Option<AdmitOutcome>> = vec![None; requests.len()];
                    let months: BTreeSet<Month> = requests.iter().map(|r| r.month).collect();
                    for month in months {
                        let month_key = month_text(month);
                        let in_month: Vec<usize> = (0..requests.len())
                            .filter(|&i| requests[i].month == month)
                            .collect();
                        sqlx::query(
                            "INSERT INTO months (month, active_users, user_limit, peak_tenths, sealed_count) VALUES ($1, 0, $2, 0, $3)
                             ON CONFLICT (month) DO NOTHING",
                        )
                        .bind(&month_key)
                        .bind(i64::from(requests[in_month[0]].license.user_limit))
                        .bind(sealing::seal_count(&self.seal, &month_key, 0))
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                        let (shown, sealed): (i64, Option<Vec<u8>>) = sqlx::query_as(<$store>::LOCK_MONTH)
                                .bind(&month_key)
                                .fetch_one(&mut *tx)
                                .await
                                .map_err(unavailable)?;
                        // The sealed count decides who is let in: the shown
                        // one lowered by hand frees no seat; a sealed one
                        // that does not open stops admissions.
                        let Some(mut active) = sealing::open_count(&self.seal, &month_key, sealed.as_deref()) else {
                            return Err(StoreError::Altered(format!("the user count of {month_key}")));
                        };
                        if shown != active {
                            tracing::error!(
                                month = %month_key,
                                shown,
                                sealed = active,
                                "{}: the month's user count column differs from its sealed count; the sealed count applies",
                                gatehouse_license::admission::LICENSE_RECORD_ALTERED_EVENT
                            );
                        }
                        // The license in force, read under the month's lock
                        // (an install updates this row too, so it cannot
                        // commit in between): only requests made under the
                        // very key it holds, with an authentic row, are
                        // decided, under that verified key's limit. The
                        // row's own user_limit column is never read.
                        let (key, generation, tag): (Option<String>, i64, Option<Vec<u8>>) =
                            sqlx::query_as("SELECT key, generation, tag FROM license WHERE id = 1")
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(unavailable)?
                                .ok_or_else(|| {
                                    StoreError::Corrupt("no license row: the installation was never created".into())
                                })?;
                        let in_force = sealing::Tagged::License { generation, key: key.as_deref() }.verify(&self.seal, tag.as_deref())
                            .then(|| LicenseBinding::digest(key.as_deref()));
                        let (indices, changed): (Vec<usize>, Vec<usize>) = in_month
                            .into_iter()
                            .partition(|&i| in_force == Some(requests[i].license.key_digest));
                        for i in changed {
                            outcomes[i] = Some(AdmitOutcome::LicenseChanged);
                        }
                        let Some(&first) = indices.first() else {
                            continue;
                        };
                        let user_limit = i64::from(requests[first].license.user_limit);

                        // Who in this batch is already in the ledger?
                        let mut counted: HashSet<String> = HashSet::new();
                        for chunk in indices.chunks(ROWS_PER_INSERT * 4) {
                            let mut query =
                                QueryBuilder::<$db>::new("SELECT seat_key FROM seats WHERE month = ");
                            query.push_bind(&month_key).push(" AND seat_key IN (");
                            let mut keys = query.separated(", ");
                            for &i in chunk {
                                keys.push_bind(requests[i].seat.as_str());
                            }
                            query.push(")");
                            let found: Vec<String> = query
                                .build_query_scalar()
                                .fetch_all(&mut *tx)
                                .await
                                .map_err(unavailable)?;
                            counted.extend(found);
                        }

                        // Decide in arrival order.
                        let mut new_seats = Vec::new();
                        let mut returning = Vec::new();
                        for &i in &indices {
                            let seat = requests[i].seat.as_str();
                            outcomes[i] = Some(if counted.contains(seat) {
                                returning.push(i);
                                AdmitOutcome::AlreadyCounted {
                                    active_users: count(active)?,
                                }
                            } else if active < user_limit {
                                active += 1;
                                counted.insert(seat.to_string());
                                new_seats.push(i);
                                AdmitOutcome::Counted {
                                    active_users: count(active)?,
                                }
                            } else {
                                AdmitOutcome::LimitExceeded {
                                    active_users: count(active)?,
                                    user_limit: count(user_limit)?,
                                }
                            });
                        }

                        for chunk in new_seats.chunks(ROWS_PER_INSERT) {
                            let mut query = QueryBuilder::<$db>::new(
                                "INSERT INTO seats (month, seat_key, username, display_name, source, first_seen, last_login, last_client) ",
                            );
                            query.push_values(chunk, |mut row, &i| {
                                let request = &requests[i];
                                row.push_bind(&month_key)
                                    .push_bind(request.seat.as_str())
                                    .push_bind(&request.username)
                                    .push_bind(&request.display_name)
                                    .push_bind(request.source.as_str())
                                    .push_bind(micros(request.at))
                                    .push_bind(micros(request.at))
                                    .push_bind(&request.client);
                            });
                            query.build().execute(&mut *tx).await.map_err(unavailable)?;
                        }
                        let mut per_day: BTreeMap<i8, i64> = BTreeMap::new();
                        for &i in &new_seats {
                            *per_day.entry(requests[i].day).or_default() += 1;
                        }
                        for (day, users) in per_day {
                            sqlx::query(
                                "INSERT INTO daily_new_users (month, day, users) VALUES ($1, $2, $3)
                                 ON CONFLICT (month, day) DO UPDATE SET users = daily_new_users.users + excluded.users",
                            )
                            .bind(&month_key)
                            .bind(i64::from(day))
                            .bind(users)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                        }
                        for &i in &returning {
                            update_last_login(
                                &mut tx,
                                &month_key,
                                &requests[i].seat,
                                requests[i].at,
                                &requests[i].client,
                            )
                            .await?;
                        }
                        sqlx::query(
                            "UPDATE months SET active_users = $1, user_limit = $2,
                                 peak_tenths = CASE WHEN peak_tenths > $3 THEN peak_tenths ELSE $3 END,
                                 sealed_count = $5
                             WHERE month = $4",
                        )
                        .bind(active)
                        .bind(user_limit)
                        .bind(peak_tenths(active, user_limit))
                        .bind(&month_key)
                        .bind(sealing::seal_count(&self.seal, &month_key, active))
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    }
                    tx.commit().await.map_err(unavailable)?;
                    Ok(outcomes
                        .into_iter()
                        .map(|o| o.expect("every request was decided"))
                        .collect())
                }

                async fn seat_status(&self, month: Month, seat: &SeatKey) -> StoreResult<SeatStatus> {
                    let month_key = month_text(month);
                    // One statement, so the count and the membership come from one snapshot.
                    let (shown, sealed, counted): (Option<i64>, Option<Vec<u8>>, bool) = sqlx::query_as(
                        "SELECT (SELECT active_users FROM months WHERE month = $1),
                                (SELECT sealed_count FROM months WHERE month = $1),
                                EXISTS (SELECT 1 FROM seats WHERE month = $1 AND seat_key = $2)",
                    )
                    .bind(&month_key)
                    .bind(seat.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    Ok(SeatStatus {
                        active_users: shown_count(&self.seal, &month_key, shown, sealed)?,
                        counted,
                    })
                }

                async fn active_users(&self, month: Month) -> StoreResult<u32> {
                    let month_key = month_text(month);
                    let row: Option<(i64, Option<Vec<u8>>)> =
                        sqlx::query_as("SELECT active_users, sealed_count FROM months WHERE month = $1")
                            .bind(&month_key)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(unavailable)?;
                    let (shown, sealed) = row.unzip();
                    shown_count(&self.seal, &month_key, shown, sealed.flatten())
                }

                async fn record_logins(&self, logins: &[LoginRecord]) -> StoreResult<()> {
                    if logins.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    for login in logins {
                        update_last_login(
                            &mut tx,
                            &month_text(login.month),
                            &login.seat,
                            login.at,
                            &login.client,
                        )
                        .await?;
                    }
                    tx.commit().await.map_err(unavailable)
                }

                async fn record_refusals(&self, refusals: &[RefusalRecord]) -> StoreResult<()> {
                    if refusals.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    for refusal in refusals {
                        sqlx::query(
                            "INSERT INTO limit_refusals (month, seat_key, username, first_refused, last_refused, attempts, last_client)
                             VALUES ($1, $2, $3, $4, $4, $5, $6)
                             ON CONFLICT (month, seat_key) DO UPDATE SET
                                 attempts = limit_refusals.attempts + excluded.attempts,
                                 first_refused = CASE WHEN limit_refusals.first_refused < excluded.first_refused
                                                      THEN limit_refusals.first_refused ELSE excluded.first_refused END,
                                 last_client = CASE WHEN excluded.last_refused >= limit_refusals.last_refused
                                                    THEN excluded.last_client ELSE limit_refusals.last_client END,
                                 last_refused = CASE WHEN limit_refusals.last_refused > excluded.last_refused
                                                     THEN limit_refusals.last_refused ELSE excluded.last_refused END",
                        )
                        .bind(month_text(refusal.month))
                        .bind(refusal.seat.as_str())
                        .bind(&refusal.username)
                        .bind(micros(refusal.at))
                        .bind(i64::from(refusal.attempts))
                        .bind(&refusal.client)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    }
                    tx.commit().await.map_err(unavailable)
                }

                async fn refused_users(&self, month: Month) -> StoreResult<Vec<RefusedUser>> {
                    let rows = sqlx::query(
                        "SELECT username, first_refused, last_refused, attempts, last_client FROM limit_refusals
                         WHERE month = $1 ORDER BY last_refused DESC, seat_key",
                    )
                    .bind(month_text(month))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter()
                        .map(|row| {
                            Ok(RefusedUser {
                                username: get(row, "username")?,
                                first_refused: timestamp(get(row, "first_refused")?)?,
                                last_refused: timestamp(get(row, "last_refused")?)?,
                                attempts: count(get(row, "attempts")?)?,
                                last_client: get(row, "last_client")?,
                            })
                        })
                        .collect()
                }

                async fn seats(&self, query: &SeatQuery) -> StoreResult<Vec<SeatRecord>> {
                    let column = match query.order {
                        SeatOrder::Username => "username",
                        SeatOrder::FirstSeen => "first_seen",
                        SeatOrder::LastLogin => "last_login",
                    };
                    let mut sql = QueryBuilder::<$db>::new(
                        "SELECT seat_key, username, display_name, source, first_seen, last_login, last_client FROM seats WHERE month = ",
                    );
                    sql.push_bind(month_text(query.month));
                    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
                        // A prefix is a range of the (month, username) index.
                        let low = search.to_lowercase();
                        let high = format!("{low}\u{10FFFF}");
                        sql.push(" AND username >= ")
                            .push_bind(low)
                            .push(" AND username < ")
                            .push_bind(high);
                    }
                    if let Some(SeatCursor { value, seat }) = &query.after {
                        sql.push(format!(
                            " AND ({column}, seat_key) {} (",
                            if query.descending { "<" } else { ">" }
                        ));
                        match value {
                            SortValue::Text(text) => sql.push_bind(text.clone()),
                            SortValue::Time(at) => sql.push_bind(micros(*at)),
                        };
                        sql.push(", ")
                            .push_bind(seat.as_str().to_string())
                            .push(")");
                    }
                    let direction = if query.descending { "DESC" } else { "ASC" };
                    sql.push(format!(
                        " ORDER BY {column} {direction}, seat_key {direction}"
                    ));
                    if let Some(limit) = query.limit {
                        sql.push(" LIMIT ").push_bind(i64::from(limit));
                    }
                    let rows = sql
                        .build()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    rows.iter()
                        .map(|row| {
                            Ok(SeatRecord {
                                seat: SeatKey::from_stored(get(row, "seat_key")?),
                                username: get(row, "username")?,
                                display_name: get(row, "display_name")?,
                                source: source(&get::<String>(row, "source")?)?,
                                first_seen: timestamp(get(row, "first_seen")?)?,
                                last_login: timestamp(get(row, "last_login")?)?,
                                last_client: get(row, "last_client")?,
                            })
                        })
                        .collect()
                }

                async fn daily_new_users(&self, month: Month) -> StoreResult<Vec<DailyNewUsers>> {
                    let rows: Vec<(i64, i64)> =
                        sqlx::query_as("SELECT day, users FROM daily_new_users WHERE month = $1 ORDER BY day")
                            .bind(month_text(month))
                            .fetch_all(&self.pool)
                            .await
                            .map_err(unavailable)?;
                    rows.into_iter()
                        .map(|(day, users)| {
                            Ok(DailyNewUsers {
                                day: i8::try_from(day)
                                    .map_err(|_| StoreError::Corrupt(format!("day {day}")))?,
                                users: count(users)?,
                            })
                        })
                        .collect()
                }

                async fn month_usage(&self) -> StoreResult<Vec<MonthUsageRecord>> {
                    let rows = sqlx::query(
                        "SELECT month, active_users, user_limit, peak_tenths FROM months ORDER BY month",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter()
                        .map(|row| {
                            Ok(MonthUsageRecord {
                                month: parse_month(&get::<String>(row, "month")?)?,
                                active_users: count(get(row, "active_users")?)?,
                                user_limit: count(get(row, "user_limit")?)?,
                                peak_tenths: u64::try_from(get::<i64>(row, "peak_tenths")?)
                                    .map_err(|_| StoreError::Corrupt("negative peak".into()))?,
                            })
                        })
                        .collect()
                }
            }

            async fn update_last_login(
                tx: &mut sqlx::Transaction<'static, $db>,
                month: &str,
                seat: &SeatKey,
                at: Timestamp,
                client: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE seats SET last_client = CASE WHEN $1 >= last_login THEN $2 ELSE last_client END,
                                      last_login = CASE WHEN last_login > $1 THEN last_login ELSE $1 END
                     WHERE month = $3 AND seat_key = $4",
                )
                .bind(micros(at))
                .bind(client)
                .bind(month)
                .bind(seat.as_str())
                .execute(&mut **tx)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            /// A local account; one whose tag fails (a password or account
            /// written in outside Gatehouse) is shown disabled, with no
            /// password that any text matches: it signs nobody in.
            fn local_user_from_row(seal: &SealingKey, row: &$row) -> StoreResult<LocalUserRecord> {
                let username: String = get(row, "username")?;
                let password_hash: String = get(row, "password_hash")?;
                let enabled = get::<i64>(row, "enabled")? != 0;
                let second_factor_exempt = get::<i64>(row, "second_factor_exempt")? != 0;
                let tag: Option<Vec<u8>> = get(row, "tag")?;
                let authentic =
                    sealing::Tagged::LocalUser { username: &username, password_hash: &password_hash, enabled, second_factor_exempt }.verify(seal, tag.as_deref());
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
                    password_hash: if authentic { password_hash } else { ALTERED_PASSWORD.to_string() },
                    enabled: enabled && authentic,
                    second_factor_exempt: second_factor_exempt && authentic,
                    created_at: timestamp(get(row, "created_at")?)?,
                })
            }

            /// Stands for a password hash whose row was changed outside
            /// Gatehouse: not a PHC string, so no password verifies.
            const ALTERED_PASSWORD: &str = "!altered outside Gatehouse";

            const LOCAL_USER_COLUMNS: &str = "username, display_name, password_hash, enabled, second_factor_exempt, created_at, tag";

            #[async_trait]
            impl LocalUserStore for $store {
                async fn local_user(&self, username: &Username) -> StoreResult<Option<LocalUserRecord>> {
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {LOCAL_USER_COLUMNS} FROM local_users WHERE username = $1"
                    )))
                    .bind(username.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    row.as_ref().map(|row| local_user_from_row(&self.seal, row)).transpose()
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
                    .bind(sealing::Tagged::LocalUser { username: user.username.as_str(), password_hash: &user.password_hash, enabled: user.enabled, second_factor_exempt: user.second_factor_exempt }.tag(&self.seal))
                    .execute(self.writer())
                    .await;
                    inserted(result)
                }

                async fn set_local_user_enabled(
                    &self,
                    username: &Username,
                    enabled: bool,
                ) -> StoreResult<bool> {
                    self.change_local_user(username, None, Some(enabled), None).await
                }

                async fn set_local_user_password(
                    &self,
                    username: &Username,
                    password_hash: &str,
                ) -> StoreResult<bool> {
                    self.change_local_user(username, Some(password_hash), None, None).await
                }

                async fn set_local_user_second_factor_exempt(
                    &self,
                    username: &Username,
                    exempt: bool,
                ) -> StoreResult<bool> {
                    self.change_local_user(username, None, None, Some(exempt)).await
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
                        .fetch_one(&self.pool)
                        .await
                        .map_err(unavailable)
                }

                async fn local_users(&self) -> StoreResult<Vec<LocalUserRecord>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {LOCAL_USER_COLUMNS} FROM local_users ORDER BY username"
                    )))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter().map(|row| local_user_from_row(&self.seal, row)).collect()
                }
            }

            #[async_trait]
            impl SecondFactorStore for $store {
                async fn totp(&self, seat: &SeatKey) -> StoreResult<Option<TotpRecord>> {
                    let row = sqlx::query("SELECT secret, mode, enrolled_at FROM totp WHERE seat_key = $1")
                        .bind(seat.as_str())
                        .fetch_optional(&self.pool)
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
                        &self.seal,
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
                    .bind(self.seal.seal(&sealing::totp_context(record.seat.as_str()), record.secret.as_bytes()))
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

            fn client_from_row(seal: &SealingKey, row: &$row) -> StoreResult<RadiusClient> {
                let name: String = get(row, "name")?;
                let sealed: Vec<u8> = get(row, "secret")?;
                let secret = sealing::open(
                    seal,
                    &sealing::client_context(&name),
                    &sealed,
                    &format!("the shared secret of RADIUS client {name:?}"),
                )?;
                let networks: String = get(row, "networks")?;
                let networks = networks
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(|n| {
                        n.parse()
                            .map_err(|e: gatehouse_core::clients::NetworkParseError| {
                                StoreError::Corrupt(e.to_string())
                            })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(RadiusClient {
                    name,
                    networks,
                    secret,
                    require_message_authenticator: get::<i64>(row, "require_message_authenticator")? != 0,
                    limit_proxy_state: get::<i64>(row, "limit_proxy_state")? != 0,
                })
            }

            #[async_trait]
            impl ClientStore for $store {
                async fn radius_clients(&self) -> StoreResult<Vec<RadiusClient>> {
                    let rows = sqlx::query(
                        "SELECT name, networks, secret, require_message_authenticator, limit_proxy_state
                         FROM radius_clients ORDER BY name",
                    )
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter().map(|row| client_from_row(&self.seal, row)).collect()
                }

                async fn add_radius_client(&self, client: &RadiusClient) -> StoreResult<()> {
                    let networks: Vec<String> = client.networks.iter().map(ToString::to_string).collect();
                    let result = sqlx::query(
                        "INSERT INTO radius_clients (name, networks, secret, require_message_authenticator, limit_proxy_state)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&client.name)
                    .bind(networks.join(","))
                    .bind(self.seal.seal(&sealing::client_context(&client.name), &client.secret))
                    .bind(i64::from(client.require_message_authenticator))
                    .bind(i64::from(client.limit_proxy_state))
                    .execute(self.writer())
                    .await;
                    inserted(result)
                }

                async fn delete_radius_client(&self, name: &str) -> StoreResult<bool> {
                    let result = sqlx::query("DELETE FROM radius_clients WHERE name = $1")
                        .bind(name)
                        .execute(self.writer())
                        .await
                        .map_err(unavailable)?;
                    Ok(result.rows_affected() == 1)
                }
            }



            #[async_trait]
            impl AdminStore for $store {
                async fn add_admin(&self, admin: &AdminRecord) -> StoreResult<()> {
                    let result =
                        sqlx::query("INSERT INTO admins (name, password_hash, created_at, tag) VALUES ($1, $2, $3, $4)")
                            .bind(admin.name.as_str())
                            .bind(&admin.password_hash)
                            .bind(micros(admin.created_at))
                            .bind(
                                sealing::Tagged::Admin {
                                    name: admin.name.as_str(),
                                    password_hash: &admin.password_hash,
                                }
                                .tag(&self.seal),
                            )
                            .execute(self.writer())
                            .await;
                    inserted(result)
                }

                async fn admin(&self, name: &Username) -> StoreResult<Option<AdminRecord>> {
                    let row: Option<(String, String, i64, Option<Vec<u8>>)> =
                        sqlx::query_as("SELECT name, password_hash, created_at, tag FROM admins WHERE name = $1")
                            .bind(name.as_str())
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(unavailable)?;
                    // An administrator written in outside Gatehouse is
                    // nobody.
                    let row = row.filter(|(name, password_hash, _, tag)| {
                        sealing::Tagged::Admin { name, password_hash }.verify(&self.seal, tag.as_deref())
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
                        .fetch_one(&self.pool)
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
                    .bind(sealing::Tagged::Token { token_hash, admin: admin.as_str() }.tag(&self.seal))
                    .execute(self.writer())
                    .await;
                    inserted(result)
                }

                async fn admin_for_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<Username>> {
                    let row: Option<(String, Option<Vec<u8>>)> =
                        sqlx::query_as("SELECT admin, tag FROM admin_tokens WHERE token_hash = $1")
                            .bind(token_hash.to_vec())
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(unavailable)?;
                    row.filter(|(admin, tag)| {
                        sealing::Tagged::Token { token_hash, admin }.verify(&self.seal, tag.as_deref())
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
                        .tag(&self.seal),
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
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    let row = row.filter(|(hash, admin, csrf, _, expires_at, tag)| {
                        sealing::Tagged::Session {
                            token_hash: hash,
                            admin,
                            csrf,
                            expires_at: *expires_at,
                        }
                        .verify(&self.seal, tag.as_deref())
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




            #[async_trait]
            impl AlarmStore for $store {
                async fn alarm_settings(&self) -> StoreResult<Option<AlarmSettings>> {
                    let row: Option<(String, String, String)> = sqlx::query_as(
                        "SELECT days_before_end, user_limit_percent, recipients FROM alarm_settings WHERE id = 1",
                    )
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    row.map(|(days, percent, recipients)| {
                        AlarmSettings::new(
                            numbers(&days)?,
                            numbers(&percent)?,
                            recipients.lines().map(str::to_string).collect(),
                        )
                        .map_err(|e| StoreError::Corrupt(e.to_string()))
                    })
                    .transpose()
                }

                async fn set_alarm_settings(&self, settings: &AlarmSettings) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO alarm_settings (id, days_before_end, user_limit_percent, recipients) VALUES (1, $1, $2, $3)
                         ON CONFLICT (id) DO UPDATE SET days_before_end = $1, user_limit_percent = $2, recipients = $3",
                    )
                    .bind(joined(settings.days_before_end()))
                    .bind(joined(settings.user_limit_percent()))
                    .bind(settings.recipients().join("\n"))
                    .execute(self.writer())
                    .await
                    .map_err(unavailable)?;
                    Ok(())
                }

                async fn fire_alarms(&self, alarms: &[NewAlarm]) -> StoreResult<Vec<bool>> {
                    let mut tx = self.begin_write().await?;
                    let mut queued = Vec::with_capacity(alarms.len());
                    for alarm in alarms {
                        let delivery = alarm.initial_delivery();
                        let result = sqlx::query(
                            "INSERT INTO alarm_outbox (alarm_key, kind, subject, body, recipients, created_at, delivery, next_attempt_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                             ON CONFLICT (alarm_key) DO NOTHING",
                        )
                        .bind(&alarm.key)
                        .bind(alarm.kind.as_str())
                        .bind(&alarm.subject)
                        .bind(&alarm.body)
                        .bind(alarm.recipients.join("\n"))
                        .bind(micros(alarm.created_at))
                        .bind(delivery.as_str())
                        .bind(micros(alarm.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                        queued.push(result.rows_affected() == 1);
                    }
                    tx.commit().await.map_err(unavailable)?;
                    Ok(queued)
                }

                async fn fired_alarm_keys(&self) -> StoreResult<HashSet<String>> {
                    let keys: Vec<String> = sqlx::query_scalar("SELECT alarm_key FROM alarm_outbox")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    Ok(keys.into_iter().collect())
                }

                async fn claim_alarms(
                    &self,
                    now: Timestamp,
                    lease_until: Timestamp,
                    limit: u32,
                ) -> StoreResult<Vec<AlarmRecord>> {
                    let rows = sqlx::query(<$store>::CLAIM_ALARMS)
                    .bind(micros(lease_until))
                    .bind(micros(now))
                    .bind(i64::from(limit))
                    .fetch_all(self.writer())
                    .await
                    .map_err(unavailable)?;
                    let mut alarms = rows
                        .iter()
                        .map(alarm_from_row)
                        .collect::<StoreResult<Vec<_>>>()?;
                    alarms.sort_by_key(|alarm| alarm.id);
                    Ok(alarms)
                }

                async fn alarm_sent(&self, id: i64, at: Timestamp) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE alarm_outbox SET delivery = 'sent', sent_at = $1, last_error = NULL WHERE id = $2",
                    )
                    .bind(micros(at))
                    .bind(id)
                    .execute(self.writer())
                    .await
                    .map_err(unavailable)?;
                    Ok(())
                }

                async fn alarm_failed(&self, id: i64, error: &str, retry_at: Timestamp) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE alarm_outbox SET last_error = $1, next_attempt_at = $2
                         WHERE id = $3 AND delivery = 'queued'",
                    )
                    .bind(error)
                    .bind(micros(retry_at))
                    .bind(id)
                    .execute(self.writer())
                    .await
                    .map_err(unavailable)?;
                    Ok(())
                }

                async fn alarm_history(&self, limit: u32) -> StoreResult<Vec<AlarmRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        alarm_columns!(),
                        " FROM alarm_outbox ORDER BY id DESC LIMIT $1"
                    ))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter().map(alarm_from_row).collect()
                }
            }

            fn alarm_from_row(row: &$row) -> StoreResult<AlarmRecord> {
                let kind: String = get(row, "kind")?;
                let delivery: String = get(row, "delivery")?;
                let recipients: String = get(row, "recipients")?;
                let sent_at: Option<i64> = get(row, "sent_at")?;
                Ok(AlarmRecord {
                    id: get(row, "id")?,
                    key: get(row, "alarm_key")?,
                    kind: AlarmKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown alarm kind {kind:?}")))?,
                    subject: get(row, "subject")?,
                    body: get(row, "body")?,
                    recipients: recipients.lines().map(str::to_string).collect(),
                    created_at: timestamp(get(row, "created_at")?)?,
                    delivery: Delivery::parse(&delivery)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery {delivery:?}")))?,
                    attempts: count(get(row, "attempts")?)?,
                    next_attempt_at: timestamp(get(row, "next_attempt_at")?)?,
                    last_error: get(row, "last_error")?,
                    sent_at: sent_at.map(timestamp).transpose()?,
                })
            }

            fn device_from_row(seal: &SealingKey, row: &$row) -> StoreResult<DeviceRecord> {
                let id: String = get(row, "id")?;
                let seat: String = get(row, "seat_key")?;
                let public_key: Vec<u8> = get(row, "public_key")?;
                let tag: Option<Vec<u8>> = get(row, "tag")?;
                let device = sealing::Tagged::Device { id: &id, seat: &seat, public_key: &public_key };
                if !device.verify(seal, tag.as_deref()) {
                    return Err(StoreError::Corrupt(format!(
                        "push device {id} was written outside Gatehouse (its tag does not verify); it approves nothing"
                    )));
                }
                let auth = get::<Option<Vec<u8>>>(row, "webpush_auth")?
                    .map(|sealed| {
                        sealing::open(
                            seal,
                            &sealing::webpush_context(&id),
                            &sealed,
                            &format!("the Web Push secret of device {id}"),
                        )
                    })
                    .transpose()?;
                Ok(DeviceRecord {
                    id,
                    seat: SeatKey::from_stored(seat),
                    username: get(row, "username")?,
                    label: get(row, "label")?,
                    public_key,
                    created_at: timestamp(get(row, "created_at")?)?,
                    webpush: match (
                        get::<Option<String>>(row, "webpush_endpoint")?,
                        get::<Option<Vec<u8>>>(row, "webpush_p256dh")?,
                        auth,
                    ) {
                        (Some(endpoint), Some(p256dh), Some(auth)) => Some(WebPushSubscription {
                            endpoint,
                            p256dh,
                            auth,
                        }),
                        _ => None,
                    },
                })
            }

            /// Adds a phone row (tagged), unless its id is taken or was
            /// revoked.
            async fn insert_device(
                seal: &SealingKey,
                tx: &mut sqlx::Transaction<'static, $db>,
                device: &DeviceRecord,
            ) -> StoreResult<()> {
                let revoked: Option<i64> = sqlx::query_scalar("SELECT revoked_at FROM push_revoked WHERE id = $1")
                    .bind(&device.id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(unavailable)?;
                if revoked.is_some() {
                    return Err(StoreError::AlreadyExists);
                }
                let result = sqlx::query(
                    "INSERT INTO push_devices (id, seat_key, username, label, public_key, created_at, tag)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&device.id)
                .bind(device.seat.as_str())
                .bind(&device.username)
                .bind(&device.label)
                .bind(device.public_key.clone())
                .bind(micros(device.created_at))
                .bind(sealing::Tagged::Device { id: &device.id, seat: device.seat.as_str(), public_key: &device.public_key }.tag(seal))
                .execute(&mut **tx)
                .await;
                inserted(result)
            }

            const ENROLLMENT_COLUMNS: &str =
                "SELECT token_hash, seat_key, username, expires_at, used_at, device_id, tag
                 FROM push_enrollments WHERE token_hash = $1";

            /// The link a row holds, if it can still enroll at `at`. A row
            /// whose tag fails was not made by Gatehouse: not a link.
            fn enrollment_from_row(
                seal: &SealingKey,
                row: &$row,
                at: Timestamp,
            ) -> StoreResult<Result<EnrollmentToken, EnrollmentRefusal>> {
                let token_hash: Vec<u8> = get(row, "token_hash")?;
                let seat: String = get(row, "seat_key")?;
                let user: String = get(row, "username")?;
                let expires_at: i64 = get(row, "expires_at")?;
                let used_at: Option<i64> = get(row, "used_at")?;
                let id: String = get(row, "device_id")?;
                let tag: Vec<u8> = get(row, "tag")?;
                let fields = sealing::Tagged::Enrollment {
                    token_hash: &token_hash,
                    device_id: &id,
                    seat: &seat,
                    username: &user,
                    expires_at,
                };
                if !fields.verify(seal, Some(&tag)) {
                    return Ok(Err(EnrollmentRefusal::Malformed));
                }
                if used_at.is_some() {
                    return Ok(Err(EnrollmentRefusal::Used));
                }
                let expires_at = timestamp(expires_at)?;
                if at >= expires_at {
                    return Ok(Err(EnrollmentRefusal::Expired));
                }
                Ok(Ok(EnrollmentToken {
                    id,
                    seat: SeatKey::from_stored(seat),
                    user,
                    expires_at,
                }))
            }

            /// A month's count as shown: the sealed one (0 for a month without a
            /// row); the plain column only when the sealed one does not open
            /// (admission then refuses to decide on it).
            fn shown_count(
                seal: &SealingKey,
                month: &str,
                shown: Option<i64>,
                sealed: Option<Vec<u8>>,
            ) -> StoreResult<u32> {
                let Some(shown) = shown else {
                    return Ok(0);
                };
                count(sealing::open_count(seal, month, sealed.as_deref()).unwrap_or(shown))
            }

            fn push_from_row(row: &$row) -> StoreResult<PushRecord> {
                let decision: Option<String> = get(row, "decision")?;
                Ok(PushRecord {
                    push: PendingPush {
                        id: get(row, "id")?,
                        seat: SeatKey::from_stored(get(row, "seat_key")?),
                        user: get(row, "username")?,
                        client: get(row, "client")?,
                        source: get(row, "source")?,
                        created_at: timestamp(get(row, "created_at")?)?,
                        expires_at: timestamp(get(row, "expires_at")?)?,
                        nonce: get(row, "nonce")?,
                        number: get::<Option<i64>>(row, "number")?
                            .map(|n| u8::try_from(n).map_err(|_| StoreError::Corrupt(format!("push number {n}"))))
                            .transpose()?,
                        choices: get::<String>(row, "choices")?
                            .split(',')
                            .filter(|c| !c.is_empty())
                            .map(|c| c.parse::<u8>().map_err(|_| StoreError::Corrupt(format!("push choice {c:?}"))))
                            .collect::<StoreResult<Vec<u8>>>()?,
                        decided: decision
                            .map(|text| {
                                Decision::parse(&text).ok_or_else(|| {
                                    StoreError::Corrupt(format!("unknown push decision {text:?}"))
                                })
                            })
                            .transpose()?,
                    },
                    decided_by: get(row, "decided_by")?,
                    decided_at: get::<Option<i64>>(row, "decided_at")?
                        .map(timestamp)
                        .transpose()?,
                })
            }

            #[async_trait]
            impl PushStore for $store {
                async fn add_device(&self, device: &DeviceRecord) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    let revoked: Option<i64> = sqlx::query_scalar("SELECT revoked_at FROM push_revoked WHERE id = $1")
                        .bind(&device.id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    if revoked.is_some() {
                        return Err(StoreError::AlreadyExists);
                    }
                    insert_device(&self.seal, &mut tx, device).await?;
                    tx.commit().await.map_err(unavailable)
                }

                async fn add_enrollment(&self, record: &EnrollmentRecord) -> StoreResult<()> {
                    let token = &record.token;
                    let expires_at = micros(token.expires_at);
                    let result = sqlx::query(
                        "INSERT INTO push_enrollments (token_hash, seat_key, username, created_at, expires_at, device_id, tag)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(record.token_hash.to_vec())
                    .bind(token.seat.as_str())
                    .bind(&token.user)
                    .bind(micros(record.created_at))
                    .bind(expires_at)
                    .bind(&token.id)
                    .bind(
                        sealing::Tagged::Enrollment {
                            token_hash: &record.token_hash,
                            device_id: &token.id,
                            seat: token.seat.as_str(),
                            username: &token.user,
                            expires_at,
                        }
                        .tag(&self.seal),
                    )
                    .execute(self.writer())
                    .await;
                    inserted(result)
                }

                async fn enrollment(
                    &self,
                    token_hash: &[u8; 32],
                    at: Timestamp,
                ) -> StoreResult<Result<EnrollmentToken, EnrollmentRefusal>> {
                    let row = sqlx::query(ENROLLMENT_COLUMNS)
                        .bind(token_hash.to_vec())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.map_or(Ok(Err(EnrollmentRefusal::Malformed)), |row| {
                        enrollment_from_row(&self.seal, &row, at)
                    })
                }

                async fn enroll_device(
                    &self,
                    enrollment: &LinkEnrollment<'_>,
                ) -> StoreResult<Result<DeviceRecord, EnrollmentRefusal>> {
                    let mut tx = self.begin_write().await?;
                    let row = sqlx::query(ENROLLMENT_COLUMNS)
                        .bind(enrollment.token_hash.to_vec())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    let token = match row {
                        None => return Ok(Err(EnrollmentRefusal::Malformed)),
                        Some(row) => match enrollment_from_row(&self.seal, &row, enrollment.at)? {
                            Ok(token) => token,
                            Err(refusal) => return Ok(Err(refusal)),
                        },
                    };
                    // Used once, whichever node gets there first.
                    let used = sqlx::query(
                        "UPDATE push_enrollments SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
                    )
                    .bind(micros(enrollment.at))
                    .bind(enrollment.token_hash.to_vec())
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                    if used.rows_affected() != 1 {
                        return Ok(Err(EnrollmentRefusal::Used));
                    }
                    let device = DeviceRecord {
                        id: token.id,
                        seat: token.seat,
                        username: token.user,
                        label: enrollment.label.to_string(),
                        public_key: enrollment.public_key.to_vec(),
                        created_at: enrollment.at,
                        webpush: None,
                    };
                    match insert_device(&self.seal, &mut tx, &device).await {
                        Ok(()) => {}
                        Err(StoreError::AlreadyExists) => return Ok(Err(EnrollmentRefusal::Used)),
                        Err(error) => return Err(error),
                    }
                    tx.commit().await.map_err(unavailable)?;
                    Ok(Ok(device))
                }

                async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
                    let row = sqlx::query(concat!("SELECT ", device_columns!(), " FROM push_devices WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    row.as_ref().map(|row| device_from_row(&self.seal, row)).transpose()
                }

                async fn devices(&self, seat: &SeatKey) -> StoreResult<Vec<DeviceRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        device_columns!(),
                        " FROM push_devices WHERE seat_key = $1 ORDER BY created_at, id"
                    ))
                    .bind(seat.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter().map(|row| device_from_row(&self.seal, row)).collect()
                }

                async fn remove_device(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let result = sqlx::query("DELETE FROM push_devices WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    if result.rows_affected() == 0 {
                        return Ok(false);
                    }
                    sqlx::query("INSERT INTO push_revoked (id, revoked_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
                        .bind(id)
                        .bind(micros(at))
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(true)
                }

                async fn set_device_webpush(
                    &self,
                    id: &str,
                    subscription: Option<&WebPushSubscription>,
                ) -> StoreResult<bool> {
                    let result = sqlx::query(
                        "UPDATE push_devices SET webpush_endpoint = $1, webpush_p256dh = $2, webpush_auth = $3 WHERE id = $4",
                    )
                    .bind(subscription.map(|s| s.endpoint.clone()))
                    .bind(subscription.map(|s| s.p256dh.clone()))
                    .bind(subscription.map(|s| self.seal.seal(&sealing::webpush_context(id), &s.auth)))
                    .bind(id)
                    .execute(self.writer())
                    .await
                    .map_err(unavailable)?;
                    Ok(result.rows_affected() == 1)
                }

                async fn all_devices(&self) -> StoreResult<Vec<DeviceRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        device_columns!(),
                        " FROM push_devices ORDER BY seat_key, created_at, id"
                    ))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter().map(|row| device_from_row(&self.seal, row)).collect()
                }

                async fn push_user(&self, seat: &SeatKey) -> StoreResult<PushUser> {
                    let row = sqlx::query(
                        "SELECT (SELECT COUNT(*) FROM push_devices WHERE seat_key = $1) AS devices,
                                (SELECT mode FROM push_modes WHERE seat_key = $1) AS mode",
                    )
                    .bind(seat.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    let devices: i64 = get(&row, "devices")?;
                    let mode: Option<String> = get(&row, "mode")?;
                    Ok(PushUser {
                        devices: u32::try_from(devices).unwrap_or(u32::MAX),
                        mode: mode
                            .map(|text| {
                                PushMode::parse(&text).ok_or_else(|| {
                                    StoreError::Corrupt(format!("unknown push mode {text:?}"))
                                })
                            })
                            .transpose()?,
                    })
                }

                async fn set_push_mode(&self, seat: &SeatKey, mode: Option<PushMode>) -> StoreResult<()> {
                    let query = match mode {
                        Some(mode) => sqlx::query(
                            "INSERT INTO push_modes (seat_key, mode) VALUES ($1, $2)
                             ON CONFLICT (seat_key) DO UPDATE SET mode = excluded.mode",
                        )
                        .bind(seat.as_str())
                        .bind(mode.as_str()),
                        None => sqlx::query("DELETE FROM push_modes WHERE seat_key = $1").bind(seat.as_str()),
                    };
                    query.execute(self.writer()).await.map_err(unavailable)?;
                    Ok(())
                }

                async fn create_push(
                    &self,
                    push: &PendingPush,
                    limits: PushLimits,
                ) -> StoreResult<Result<(), PushLimited>> {
                    let mut tx = self.begin_write().await?;
                    if let Some(lock) = <$store>::SEAT_LOCK {
                        sqlx::query(lock).bind(push.seat.as_str()).execute(&mut *tx).await.map_err(unavailable)?;
                    }
                    let hour_ago = push.created_at - gatehouse_license::jiff::SignedDuration::from_hours(1);
                    let (waiting, last_hour): (i64, i64) = sqlx::query_as(
                        "SELECT COALESCE(SUM(CASE WHEN decision IS NULL AND expires_at > $2 THEN 1 ELSE 0 END), 0), COUNT(*)
                         FROM pushes WHERE seat_key = $1 AND created_at > $3",
                    )
                    .bind(push.seat.as_str())
                    .bind(micros(push.created_at))
                    .bind(micros(hour_ago))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                    if waiting >= i64::from(limits.waiting) {
                        return Ok(Err(PushLimited::Waiting));
                    }
                    if last_hour >= i64::from(limits.per_hour) {
                        return Ok(Err(PushLimited::PerHour));
                    }
                    let result = sqlx::query(
                        "INSERT INTO pushes (id, seat_key, username, client, source, created_at, expires_at, nonce, number, choices)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&push.id)
                    .bind(push.seat.as_str())
                    .bind(&push.user)
                    .bind(&push.client)
                    .bind(push.source.as_deref())
                    .bind(micros(push.created_at))
                    .bind(micros(push.expires_at))
                    .bind(&push.nonce)
                    .bind(push.number.map(i64::from))
                    .bind(push.choices.iter().map(u8::to_string).collect::<Vec<_>>().join(","))
                    .execute(&mut *tx)
                    .await;
                    inserted(result)?;
                    tx.commit().await.map_err(unavailable)?;
                    Ok(Ok(()))
                }

                async fn push(&self, id: &str) -> StoreResult<Option<PushRecord>> {
                    let row = sqlx::query(concat!("SELECT ", push_columns!(), " FROM pushes WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                    row.as_ref().map(push_from_row).transpose()
                }

                async fn decided_pushes(&self, ids: &[String]) -> StoreResult<Vec<String>> {
                    let mut decided = Vec::new();
                    for chunk in ids.chunks(ROWS_PER_INSERT * 4) {
                        let mut query = QueryBuilder::<$db>::new(
                            "SELECT id FROM pushes WHERE decision IS NOT NULL AND id IN (",
                        );
                        let mut list = query.separated(", ");
                        for id in chunk {
                            list.push_bind(id);
                        }
                        query.push(")");
                        let found: Vec<String> = query
                            .build_query_scalar()
                            .fetch_all(&self.pool)
                            .await
                            .map_err(unavailable)?;
                        decided.extend(found);
                    }
                    Ok(decided)
                }

                async fn pending_pushes(
                    &self,
                    seat: &SeatKey,
                    now: Timestamp,
                ) -> StoreResult<Vec<PushRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        push_columns!(),
                        " FROM pushes WHERE seat_key = $1 AND decision IS NULL AND expires_at > $2
                          ORDER BY created_at, id"
                    ))
                    .bind(seat.as_str())
                    .bind(micros(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter().map(push_from_row).collect()
                }

                async fn decide_push(
                    &self,
                    id: &str,
                    decision: Decision,
                    device: &str,
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    let result = sqlx::query(
                        "UPDATE pushes SET decision = $1, decided_by = $2, decided_at = $3
                         WHERE id = $4 AND decision IS NULL AND expires_at > $3",
                    )
                    .bind(decision.as_str())
                    .bind(device)
                    .bind(micros(at))
                    .bind(id)
                    .execute(self.writer())
                    .await
                    .map_err(unavailable)?;
                    Ok(result.rows_affected() == 1)
                }

                async fn close_push(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
                    let result = sqlx::query(
                        "UPDATE pushes SET expires_at = $1 WHERE id = $2 AND decision IS NULL AND expires_at > $1",
                    )
                    .bind(micros(at))
                    .bind(id)
                    .execute(self.writer())
                    .await
                    .map_err(unavailable)?;
                    Ok(result.rows_affected() == 1)
                }

                async fn recent_pushes(&self, limit: u32) -> StoreResult<Vec<PushRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        push_columns!(),
                        " FROM pushes ORDER BY created_at DESC, id DESC LIMIT $1"
                    ))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter().map(push_from_row).collect()
                }

                async fn delete_expired_pushes(&self, before: Timestamp) -> StoreResult<u64> {
                    let result = sqlx::query("DELETE FROM pushes WHERE expires_at < $1")
                        .bind(micros(before))
                        .execute(self.writer())
                        .await
                        .map_err(unavailable)?;
                    sqlx::query("DELETE FROM push_enrollments WHERE expires_at < $1")
                        .bind(micros(before))
                        .execute(self.writer())
                        .await
                        .map_err(unavailable)?;
                    sqlx::query("DELETE FROM push_revoked WHERE revoked_at < $1")
                        .bind(micros(before))
                        .execute(self.writer())
                        .await
                        .map_err(unavailable)?;
                    Ok(result.rows_affected())
                }
            }
            const LOCKOUT_COLUMNS: &str = "seat_key, username, otp_failures, password_failures, locks, last_failure_at, locked_at, locked_until";

            fn lock_from_row(row: &$row) -> StoreResult<LockRecord> {
                let count = |name: &str| -> StoreResult<u32> {
                    Ok(u32::try_from(get::<i64>(row, name)?).unwrap_or(u32::MAX))
                };
                let locked = match (get::<Option<i64>>(row, "locked_at")?, get::<Option<i64>>(row, "locked_until")?) {
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
            impl LockoutStore for $store {
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
                        let length = gatehouse_license::jiff::SignedDuration::try_from(policy.lock_length(locks))
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
                    self.delete_lockouts("seat_key = $1", seat.as_str()).await.map(|_| ())
                }

                async fn lockouts(&self) -> StoreResult<Vec<LockRecord>> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {LOCKOUT_COLUMNS} FROM lockouts ORDER BY username, seat_key"
                    )))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                    rows.iter().map(lock_from_row).collect()
                }

                async fn unlock(&self, who: &str) -> StoreResult<bool> {
                    self.delete_lockouts("seat_key = $1 OR username = $1", who).await
                }

                async fn lockout_generation(&self) -> StoreResult<i64> {
                    sqlx::query_scalar("SELECT value FROM counters WHERE name = 'lockouts'")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(unavailable)
                }
            }

            impl $store {
                /// Deletes the lockout rows `condition` (on `$1`) selects,
                /// and marks the change for every node.
                async fn delete_lockouts(&self, condition: &'static str, value: &str) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let deleted = sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM lockouts WHERE {condition}")))
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
        }
    };
}
pub(crate) use impl_store;
