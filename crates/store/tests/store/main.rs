//! The store backends against the written contract of
//! `gatehouse_core::Store` (`conformance`) and against someone with plain
//! SQL access to the database (`tampering`), plus what only each backend
//! can show. One test binary for both backends.

#[macro_use]
mod conformance;
#[macro_use]
mod tampering;

mod postgres;
mod sqlite;
