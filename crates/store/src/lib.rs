//! Implementations of Gatehouse's [`Store`](gatehouse_core::Store).
//!
//! Only this crate knows SQL. [`SqliteStore`] is the embedded default (one
//! file in the data directory); [`PgStore`] lets several nodes share one
//! PostgreSQL database. Every backend passes the conformance suite
//! in `tests/store/conformance`, which is the written contract of the trait.

mod backend;
mod backup;
mod copy;
mod plan;
mod postgres;
mod sealing;
mod shared;
mod sqlite;

pub use backup::{check_sqlite, copy_postgres_to_sqlite, snapshot_sqlite};
pub use copy::{CopyReport, copy_sqlite_to_postgres};
pub use postgres::{PgStore, check_url as check_postgres_url};
pub use sqlite::SqliteStore;
