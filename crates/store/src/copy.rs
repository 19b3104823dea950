//! Moving an embedded installation to PostgreSQL (`gatehouse migrate`):
//! every table copied in one PostgreSQL transaction, then checked.
//!
//! The two schemas have the same tables and columns (the PostgreSQL schema
//! is the SQLite one in PostgreSQL's types), so rows are copied column by
//! column as they are: the installation key (and with it the App Key), the
//! license and its history, the clock, every month's ledger and counters,
//! refusals, local users and their TOTP, RADIUS clients, administrators,
//! sessions and tokens, alarm settings and the alarm outbox, phones and
//! enrollment links. Sealed values and tags are copied as they are: both
//! databases are sealed under the installation's one sealing key (`seal`
//! is not copied; the destination was sealed under the same key when it
//! was opened).

use std::collections::BTreeMap;

use gatehouse_core::store::{StoreError, StoreResult};
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

use crate::backend::Backend;
use crate::shared::unavailable;
use crate::{PgStore, SqliteStore};

/// Tables in the order they are copied (referenced tables first).
/// `counters` is not copied: the destination's triggers move it.
pub(crate) const TABLES: &[&str] = &[
    "installation",
    "license",
    "license_history",
    "clock",
    "months",
    "seats",
    "daily_new_users",
    "limit_refusals",
    "local_groups",
    "local_users",
    "totp",
    "radius_clients",
    "admins",
    "admin_tokens",
    "admin_sessions",
    "portal_sessions",
    "alarm_settings",
    "alarm_outbox",
    "push_devices",
    "pushes",
    "push_modes",
    "push_revoked",
    "push_enrollments",
    "policy_set",
    "seat_rules",
    "audit_log",
    "audit_head",
];

/// Tables whose `id` PostgreSQL generates: copied with their ids, and the
/// sequence moved past them.
const IDENTITY_TABLES: &[&str] = &["license_history", "alarm_outbox"];

/// Rows per INSERT.
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// What a copy between two databases needs: both sealed under one key,
/// and no installation (`existing` rows) in the destination yet.
pub(crate) fn may_copy(
    from: &gatehouse_core::seal::SealingKey,
    to: &gatehouse_core::seal::SealingKey,
    existing: i64,
    occupied: &str,
) -> StoreResult<()> {
    if from.id() != to.id() {
        return Err(StoreError::Sealing(
            "the two databases are opened under different sealing keys".into(),
        ));
    }
    if existing != 0 {
        return Err(StoreError::Corrupt(occupied.into()));
    }
    Ok(())
}

/// Months whose count differs from their ledger: month, count, ledger
/// rows (both databases run it).
pub(crate) const MISMATCHED_MONTHS: &str =
    "SELECT CAST(m.month AS TEXT), m.active_users, COUNT(s.seat_key)
     FROM months m LEFT JOIN seats s ON s.month = m.month
     GROUP BY m.month, m.active_users HAVING m.active_users <> COUNT(s.seat_key)";

/// Rows copied per table.
pub type CopyReport = BTreeMap<&'static str, u64>;

/// One value as SQLite stores it.
pub(crate) enum Value {
    Null,
    Integer(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// Copies everything in `from` to `to`, which must hold no installation
/// yet. Nothing is written unless everything is; afterwards every table's
/// row count is compared, and every month's count with its ledger.
pub async fn copy_sqlite_to_postgres(from: &SqliteStore, to: &PgStore) -> StoreResult<CopyReport> {
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM installation")
        .fetch_one(to.pool())
        .await
        .map_err(unavailable)?;
    may_copy(
        from.seal(),
        to.seal(),
        existing,
        "the PostgreSQL database already holds an installation; migrate into an empty database",
    )?;
    let mut tx = to.pool().begin().await.map_err(unavailable)?;
    let mut report = CopyReport::new();
    for &table in TABLES {
        let columns = postgres_columns(to, table).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(from.pool())
            .await
            .map_err(unavailable)?;
        let mut values: Vec<Vec<(String, Value)>> = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut record = Vec::new();
            for column in row.columns() {
                let name = column.name().to_string();
                if !columns.contains_key(&name) {
                    return Err(StoreError::Corrupt(format!(
                        "{table}.{name} has no place in the PostgreSQL schema; upgrade Gatehouse on both sides"
                    )));
                }
                record.push((name, sqlite_value(row, column.ordinal(), table)?));
            }
            values.push(record);
        }
        for chunk in values.chunks(ROWS_PER_INSERT) {
            let Some(first) = chunk.first() else { break };
            let names: Vec<&str> = first.iter().map(|(name, _)| name.as_str()).collect();
            let overriding = if IDENTITY_TABLES.contains(&table) {
                " OVERRIDING SYSTEM VALUE"
            } else {
                ""
            };
            let mut insert = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
                "INSERT INTO {table} ({}){overriding} ",
                names.join(", ")
            ));
            insert.push_values(chunk, |mut row, record| {
                for (name, value) in record {
                    let kind = columns[name].as_str();
                    match value {
                        Value::Integer(v) => row.push_bind(*v),
                        Value::Text(v) => row.push_bind(v.clone()),
                        Value::Blob(v) => row.push_bind(v.clone()),
                        Value::Null if kind == "bytea" => row.push_bind(None::<Vec<u8>>),
                        Value::Null if kind == "bigint" => row.push_bind(None::<i64>),
                        Value::Null => row.push_bind(None::<String>),
                    };
                }
            });
            insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        if IDENTITY_TABLES.contains(&table) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
            )))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        report.insert(table, rows.len() as u64);
    }
    tx.commit().await.map_err(unavailable)?;
    verify(to, &report).await?;
    Ok(report)
}

/// Column name → PostgreSQL data type of `table`.
async fn postgres_columns(to: &PgStore, table: &str) -> StoreResult<BTreeMap<String, String>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(to.pool())
    .await
    .map_err(unavailable)?;
    if rows.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "the PostgreSQL schema has no table {table}"
        )));
    }
    Ok(rows.into_iter().collect())
}

fn sqlite_value(row: &sqlx::sqlite::SqliteRow, index: usize, table: &str) -> StoreResult<Value> {
    let raw = row.try_get_raw(index).map_err(unavailable)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_string();
    let value = match kind.as_str() {
        "INTEGER" => Value::Integer(row.try_get(index).map_err(unavailable)?),
        "TEXT" => Value::Text(row.try_get(index).map_err(unavailable)?),
        "BLOB" => Value::Blob(row.try_get(index).map_err(unavailable)?),
        other => {
            return Err(StoreError::Corrupt(format!(
                "{table}: unexpected SQLite value of type {other}"
            )));
        }
    };
    Ok(value)
}

/// Every table holds as many rows as were copied, and every month's count
/// equals its ledger.
async fn verify(to: &PgStore, report: &CopyReport) -> StoreResult<()> {
    for (&table, &copied) in report {
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(to.pool())
                .await
                .map_err(unavailable)?;
        if rows as u64 != copied {
            return Err(StoreError::Corrupt(format!(
                "{table}: copied {copied} rows but PostgreSQL holds {rows}"
            )));
        }
    }
    let mismatched: Vec<(String, i64, i64)> = sqlx::query_as(MISMATCHED_MONTHS)
        .fetch_all(to.pool())
        .await
        .map_err(unavailable)?;
    if let Some((month, counted, ledger)) = mismatched.first() {
        return Err(StoreError::Corrupt(format!(
            "month {month}: count {counted} but {ledger} users in the ledger"
        )));
    }
    Ok(())
}
