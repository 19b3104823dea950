//! The SQL of every store area, written once in a form both SQLite and
//! PostgreSQL run (numbered `$N` placeholders, `CASE` for two-value
//! max/min, the target table named in upserts).
//!
//! Each backend compiles this module for itself (`#[path]` in
//! `sqlite/mod.rs` and `postgres/mod.rs`), naming its store, database and
//! row types `Store`, `Db` and `DbRow`; what differs between them is the
//! [`Backend`](crate::backend::Backend) they implement. The files are
//! ordinary Rust, so rustfmt formats them and compiler errors point at
//! the line.

mod admins;
mod alarms;
mod audit;
mod clients;
mod installation;
mod lockouts;
mod migrate;
mod portal;
mod push;
mod saved;
mod seats;
mod users;

use gatehouse_core::store::{StoreError, StoreResult};
use sqlx::Row as _;

use super::{Db, DbRow, Store};
use crate::shared::unavailable;

/// The outcome of an INSERT into a table with a unique key.
pub(super) fn inserted(
    result: Result<<Db as sqlx::Database>::QueryResult, sqlx::Error>,
) -> StoreResult<()> {
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
            Err(StoreError::AlreadyExists)
        }
        Err(error) => Err(unavailable(error)),
    }
}

/// A column of `row` as `T`; a value that does not decode is corrupt data.
pub(super) fn get<'r, T>(row: &'r DbRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    row.try_get(column)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}
