//! Backups: a consistent snapshot of a running installation in one SQLite
//! file, whatever the installation's database; and the checks a restored
//! database must pass.
//!
//! From SQLite, `VACUUM INTO` writes the snapshot (one read transaction:
//! writers go on meanwhile). From PostgreSQL, every table is read in one
//! `REPEATABLE READ` transaction and written into a fresh SQLite database
//! sealed under the same key. A backup is restored into SQLite by copying
//! the file, into PostgreSQL by [`crate::copy_sqlite_to_postgres`]. The
//! sealing key is never in a backup.

use std::path::Path;

use gatehouse_core::store::{StoreError, StoreResult};
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

use crate::backend::Backend;
use crate::copy::{CopyReport, TABLES, Value};
use crate::shared::unavailable;
use crate::{PgStore, SqliteStore};

/// Writes a snapshot of `from` to `to`, which must be an empty file (or
/// not exist yet).
pub async fn snapshot_sqlite(from: &SqliteStore, to: &Path) -> StoreResult<()> {
    let target = to
        .to_str()
        .ok_or_else(|| StoreError::Unavailable(format!("{} is not UTF-8", to.display())))?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(from.pool())
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Copies every table of `from`, as one snapshot, into `to`: a SQLite
/// database sealed under the same key, holding no installation yet.
pub async fn copy_postgres_to_sqlite(from: &PgStore, to: &SqliteStore) -> StoreResult<CopyReport> {
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM installation")
        .fetch_one(to.pool())
        .await
        .map_err(unavailable)?;
    crate::copy::may_copy(
        from.seal(),
        to.seal(),
        existing,
        "the SQLite database already holds an installation",
    )?;
    let mut snapshot = from.pool().begin().await.map_err(unavailable)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *snapshot)
        .await
        .map_err(unavailable)?;
    let mut write = to.begin_write().await?;
    let mut report = CopyReport::new();
    for &table in TABLES {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
            .fetch_all(&mut *snapshot)
            .await
            .map_err(unavailable)?;
        for chunk in rows.chunks(crate::copy::ROWS_PER_INSERT) {
            let Some(first) = chunk.first() else { break };
            let names: Vec<&str> = first.columns().iter().map(|c| c.name()).collect();
            let mut values = Vec::with_capacity(chunk.len());
            for row in chunk {
                let mut record = Vec::with_capacity(names.len());
                for index in 0..names.len() {
                    record.push(postgres_value(row, index, table)?);
                }
                values.push(record);
            }
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "INSERT INTO {table} ({}) ",
                names.join(", ")
            ));
            insert.push_values(&values, |mut row, record| {
                for value in record {
                    match value {
                        Value::Integer(v) => row.push_bind(*v),
                        Value::Text(v) => row.push_bind(v.clone()),
                        Value::Blob(v) => row.push_bind(v.clone()),
                        Value::Null => row.push_bind(None::<i64>),
                    };
                }
            });
            insert
                .build()
                .execute(&mut *write)
                .await
                .map_err(unavailable)?;
        }
        report.insert(table, rows.len() as u64);
    }
    write.commit().await.map_err(unavailable)?;
    snapshot.rollback().await.map_err(unavailable)?;
    Ok(report)
}

fn postgres_value(row: &sqlx::postgres::PgRow, index: usize, table: &str) -> StoreResult<Value> {
    let raw = row.try_get_raw(index).map_err(unavailable)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_string();
    let value = match kind.as_str() {
        "INT8" => Value::Integer(row.try_get(index).map_err(unavailable)?),
        "INT4" => Value::Integer(i64::from(
            row.try_get::<i32, _>(index).map_err(unavailable)?,
        )),
        "INT2" => Value::Integer(i64::from(
            row.try_get::<i16, _>(index).map_err(unavailable)?,
        )),
        "BOOL" => Value::Integer(i64::from(
            row.try_get::<bool, _>(index).map_err(unavailable)?,
        )),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
            Value::Text(row.try_get(index).map_err(unavailable)?)
        }
        "BYTEA" => Value::Blob(row.try_get(index).map_err(unavailable)?),
        other => {
            return Err(StoreError::Corrupt(format!(
                "{table}: unexpected PostgreSQL value of type {other}"
            )));
        }
    };
    Ok(value)
}

/// What a restored (or backed up) database must show: an installation,
/// and every month's count equal to its ledger. Returns the tables' row
/// counts.
pub async fn check_sqlite(store: &SqliteStore) -> StoreResult<CopyReport> {
    let installations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM installation")
        .fetch_one(store.pool())
        .await
        .map_err(unavailable)?;
    if installations != 1 {
        return Err(StoreError::Corrupt(
            "the backup holds no installation".into(),
        ));
    }
    let mut report = CopyReport::new();
    for &table in TABLES {
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(store.pool())
                .await
                .map_err(unavailable)?;
        report.insert(table, rows.max(0) as u64);
    }
    let mismatched: Vec<(String, i64, i64)> = sqlx::query_as(crate::copy::MISMATCHED_MONTHS)
        .fetch_all(store.pool())
        .await
        .map_err(unavailable)?;
    if let Some((month, counted, ledger)) = mismatched.first() {
        return Err(StoreError::Corrupt(format!(
            "month {month}: count {counted} but {ledger} users in the ledger"
        )));
    }
    Ok(report)
}
