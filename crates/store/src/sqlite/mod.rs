//! The embedded store: one SQLite file in the data directory.
//!
//! Writers: every write of this process goes through one connection of
//! its own (`writer`), so writes queue in the process, in order, instead of
//! several connections contending for SQLite's write lock and sleeping in
//! its busy handler (which collapsed throughput with a thousand logins
//! creating pushes at once). Reads use a pool of their own; in WAL mode
//! they never wait for the writer.
//!
//! Durability: WAL journal with `synchronous = FULL`, so a commit has
//! reached the disk before `admit` returns. Every write transaction starts
//! with `BEGIN IMMEDIATE`, taking SQLite's single write lock up front, so
//! the count read inside [`SqliteStore::admit`] cannot change before the
//! commit, even when another process (a CLI command beside `serve`) writes
//! to the same file.
//!
//! The SQL is written to run unchanged on PostgreSQL too: numbered `$N`
//! placeholders, `CASE` instead of SQLite's two-argument `MAX`/`MIN`, and
//! the target table named in `ON CONFLICT … DO UPDATE` expressions (where
//! PostgreSQL would find a bare column ambiguous).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{StoreError, StoreResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Sqlite, SqlitePool};

use crate::backend::Backend;
use crate::shared::{alarm_columns, unavailable};

/// Schema migrations, in order; the database records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("001_initial.sql"),
    include_str!("002_totp_and_clients.sql"),
    include_str!("003_directory_generation.sql"),
    include_str!("004_panel.sql"),
    include_str!("005_alarms.sql"),
    include_str!("006_push.sql"),
    include_str!("007_push_users.sql"),
    include_str!("008_sealing.sql"),
    include_str!("009_hardening.sql"),
    include_str!("010_groups.sql"),
    include_str!("011_policies.sql"),
    include_str!("012_admin_lifecycle.sql"),
    include_str!("013_audit.sql"),
    include_str!("014_seat_kinds.sql"),
    include_str!("015_seat_rules.sql"),
    include_str!("016_usage_chain.sql"),
    include_str!("017_seat_budgets.sql"),
    include_str!("018_portal.sql"),
];

/// Longest a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// Gatehouse's store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads.
    pool: SqlitePool,
    /// Writes: one connection.
    writer: SqlitePool,
    /// Seals secrets and tags the license records (`gatehouse_core::seal`).
    seal: Arc<SealingKey>,
}

impl SqliteStore {
    /// Opens (creating if needed, with owner-only permissions) the database
    /// at `path`, brings its schema up to date and seals it under `seal`
    /// (a database sealed under another key is [`StoreError::Sealing`]).
    pub async fn open(path: &Path, seal: Arc<SealingKey>) -> StoreResult<SqliteStore> {
        create_private_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let cannot_open = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(cannot_open)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(cannot_open)?;
        let store = SqliteStore { pool, writer, seal };
        if store.migrate().await? {
            // The plain secrets the seal replaced may linger in free pages
            // of the file: rewrite it, and empty the journal.
            for statement in ["VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"] {
                sqlx::query(statement)
                    .execute(&store.writer)
                    .await
                    .map_err(unavailable)?;
            }
        }
        Ok(store)
    }

    /// Closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

impl Backend for SqliteStore {
    type Db = Sqlite;

    const MIGRATIONS: &'static [&'static str] = MIGRATIONS;
    /// SQLite's write lock (`BEGIN IMMEDIATE`) already serialises writers.
    const MIGRATION_LOCK: Option<&'static str> = None;
    /// The write transaction already serialises per-user checks.
    const SEAT_LOCK: Option<&'static str> = None;
    const AUDIT_LOCK: Option<&'static str> = None;
    const ADMINS_LOCK: Option<&'static str> = None;
    /// The month's count, read inside the admission transaction (which
    /// holds the write lock).
    const LOCK_MONTH: &'static str =
        "SELECT active_users, sealed_count, chain_head FROM months WHERE month = $1";
    /// Lease due alarms to one sender.
    const CLAIM_ALARMS: &'static str = concat!(
        "UPDATE alarm_outbox SET attempts = attempts + 1, next_attempt_at = $1
         WHERE id IN (SELECT id FROM alarm_outbox
                      WHERE delivery = 'queued' AND next_attempt_at <= $2
                      ORDER BY id LIMIT $3)
         RETURNING ",
        alarm_columns!()
    );

    /// Starts a write transaction holding SQLite's write lock from the
    /// start, so nothing read inside it can change before the commit.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)
    }

    /// Reads: a pool of their own (WAL readers never wait for the writer).
    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Where single write statements go.
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn seal(&self) -> &SealingKey {
        &self.seal
    }
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> StoreResult<()> {
    Ok(())
}

/// The shared SQL, compiled for SQLite.
#[path = "../sql/mod.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "compiled once per backend on purpose: the same SQL for each database type"
)]
mod sql;

type Store = SqliteStore;
type Db = Sqlite;
type DbRow = SqliteRow;
