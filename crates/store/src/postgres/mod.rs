//! Gatehouse on PostgreSQL (`storage.url = "postgres://…"`): several nodes
//! share one database, one license and one monthly count.
//!
//! Transactions run at READ COMMITTED. An admission locks its month's row
//! (`SELECT … FOR UPDATE`) before reading the count, so admissions of one
//! month are serialised across every node and the count can never pass
//! the limit; the seat's primary key makes a second insert of the same
//! person impossible anyway. Senders lease alarms with `FOR UPDATE SKIP
//! LOCKED`, so two nodes never take the same one. Migrations take an
//! advisory lock: nodes starting together migrate once.

use std::time::Duration;

use gatehouse_core::store::{StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres};

use crate::shared::{alarm_columns, unavailable};

/// Schema migrations, in order; the database records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("001_initial.sql"),
    include_str!("002_push.sql"),
    include_str!("003_push_users.sql"),
];

/// How long a request waits for a pooled connection before the database
/// counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Gatehouse's store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    const MIGRATIONS: &'static [&'static str] = MIGRATIONS;
    /// Nodes starting at once take turns (any fixed key will do).
    const MIGRATION_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(4713300651)");
    /// The month's count, its row locked until the admission commits.
    const LOCK_MONTH: &'static str = "SELECT active_users FROM months WHERE month = $1 FOR UPDATE";
    /// Lease due alarms to one sender; rows another node is leasing right
    /// now are skipped, not waited for.
    const CLAIM_ALARMS: &'static str = concat!(
        "UPDATE alarm_outbox SET attempts = attempts + 1, next_attempt_at = $1
         WHERE id IN (SELECT id FROM alarm_outbox
                      WHERE delivery = 'queued' AND next_attempt_at <= $2
                      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING ",
        alarm_columns!()
    );

    /// Connects to `url` (`postgres://user:password@host:port/database`,
    /// with the usual `sslmode`, …) with at most `max_connections`, and
    /// brings the schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<PgStore> {
        let options: PgConnectOptions = url
            .parse::<PgConnectOptions>()
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?
            // Plan each statement with its parameters: a plan cached while
            // a table was small (a new month's ledger) would otherwise keep
            // scanning it whole as it grows.
            .options([("plan_cache_mode", "force_custom_plan")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}")))?;
        let store = PgStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// A transaction (READ COMMITTED; what must not change is locked by
    /// the statements themselves).
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(unavailable)
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Where single write statements go (the same pool: PostgreSQL
    /// writers do not contend for one lock).
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

crate::shared::impl_store!(PgStore, Postgres, PgRow);
