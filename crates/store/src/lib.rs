//! Implementations of Gatehouse's [`Store`](gatehouse_core::Store).
//!
//! Only this crate knows SQL. [`SqliteStore`] is the embedded default (one
//! file in the data directory). Every backend passes the conformance suite
//! in `tests/conformance`, which is the written contract of the trait.

mod shared;
mod sqlite;

pub use sqlite::SqliteStore;
