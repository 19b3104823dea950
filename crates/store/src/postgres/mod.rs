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

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{StoreError, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow, PgSslMode};
use sqlx::{PgPool, Postgres};

use crate::backend::Backend;
use crate::shared::{alarm_columns, unavailable};

/// Schema migrations, in order; the database records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("001_initial.sql"),
    include_str!("002_push.sql"),
    include_str!("003_push_users.sql"),
    include_str!("004_sealing.sql"),
    include_str!("005_hardening.sql"),
    include_str!("006_groups.sql"),
    include_str!("007_policies.sql"),
    include_str!("008_admin_lifecycle.sql"),
    include_str!("009_audit.sql"),
    include_str!("010_seat_kinds.sql"),
    include_str!("011_seat_rules.sql"),
    include_str!("012_usage_chain.sql"),
    include_str!("013_seat_budgets.sql"),
    include_str!("014_portal.sql"),
];

/// How long a request waits for a pooled connection before the database
/// counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Gatehouse's store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Seals secrets and tags the license records (`gatehouse_core::seal`).
    seal: Arc<SealingKey>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`,
    /// with the usual `sslmode`, …) with at most `max_connections`, brings
    /// the schema up to date and seals it under `seal` (a database sealed
    /// under another key is [`StoreError::Sealing`]).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        seal: Arc<SealingKey>,
    ) -> StoreResult<PgStore> {
        let options = connect_options(url).map_err(StoreError::Unavailable)?;
        let options = options
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
        let store = PgStore { pool, seal };
        if store.migrate().await? {
            // The plain secrets the seal replaced linger in dead row
            // versions until the tables are rewritten (best effort: it
            // needs the tables' owner).
            let rewrite = "VACUUM FULL installation, totp, radius_clients, push_devices";
            if let Err(error) = sqlx::query(rewrite).execute(&store.pool).await {
                tracing::warn!(%error, "could not rewrite the sealed tables; run {rewrite:?} as their owner to drop the old plain values");
            }
        }
        Ok(store)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl Backend for PgStore {
    type Db = Postgres;

    const MIGRATIONS: &'static [&'static str] = MIGRATIONS;
    /// Nodes starting at once take turns (any fixed key will do).
    const MIGRATION_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(4713300651)");
    /// One user's pushes counted and a new one inserted by one transaction
    /// at a time (any node): a transaction-scoped lock on the seat key.
    const SEAT_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(7110440, hashtext($1))");
    const AUDIT_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(4713300653)");
    const ADMINS_LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(4713300652)");
    /// The month's count, its row locked until the admission commits.
    const LOCK_MONTH: &'static str =
        "SELECT active_users, sealed_count, chain_head FROM months WHERE month = $1 FOR UPDATE";
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
    /// A transaction (READ COMMITTED; what must not change is locked by
    /// the statements themselves).
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(unavailable)
    }

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Where single write statements go (the same pool: PostgreSQL
    /// writers do not contend for one lock).
    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn seal(&self) -> &SealingKey {
        &self.seal
    }
}

/// Checks how `url` would connect, without connecting: PostgreSQL on
/// another host must be reached over TLS with its certificate verified
/// (`sslmode=verify-full`, or `verify-ca`; `sslrootcert=FILE` for a private
/// CA). Anything less would send the password, and every license and
/// ledger row, in clear to whoever is on the path, or to whoever answers in
/// the server's place. Loopback and Unix-socket connections may use any
/// mode. The error says what to change (and never shows the password).
pub fn check_url(url: &str) -> Result<(), String> {
    connect_options(url).map(|_| ())
}

fn connect_options(url: &str) -> Result<PgConnectOptions, String> {
    let options = url
        .parse::<PgConnectOptions>()
        .map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;
    let local = options.get_socket().is_some()
        || options.get_host().starts_with('/')
        || gatehouse_tls::is_loopback_host(options.get_host());
    let verified = matches!(
        options.get_ssl_mode(),
        PgSslMode::VerifyFull | PgSslMode::VerifyCa
    );
    if !local && !verified {
        return Err(format!(
            "PostgreSQL at {} is not on this host: connect with TLS and a verified certificate \
             (add sslmode=verify-full to the URL, and sslrootcert=FILE for a private CA)",
            options.get_host()
        ));
    }
    Ok(options)
}

/// The shared SQL, compiled for PostgreSQL.
#[path = "../sql/mod.rs"]
#[allow(
    clippy::duplicate_mod,
    reason = "compiled once per backend on purpose: the same SQL for each database type"
)]
mod sql;

type Store = PgStore;
type Db = Postgres;
type DbRow = PgRow;

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn another_host_needs_a_verified_certificate() {
        for url in [
            "postgres://gh:pw@db.example.com/gatehouse",
            "postgres://gh:pw@db.example.com/gatehouse?sslmode=disable",
            "postgres://gh:pw@db.example.com/gatehouse?sslmode=prefer",
            "postgres://gh:pw@db.example.com/gatehouse?sslmode=require",
            "postgres://gh:pw@192.0.2.7:5432/gatehouse?sslmode=require",
        ] {
            let error = check_url(url).unwrap_err();
            assert!(
                error.contains("sslmode=verify-full") && !error.contains("pw"),
                "{url}: {error}"
            );
        }
        for url in [
            "postgres://gh:pw@db.example.com/gatehouse?sslmode=verify-full",
            "postgres://gh:pw@db.example.com/gatehouse?sslmode=verify-ca&sslrootcert=/etc/ca.pem",
            "postgres://gh@127.0.0.1:5432/gatehouse",
            "postgres://gh@localhost/gatehouse?sslmode=disable",
            "postgres://gh@[::1]:5432/gatehouse",
            "postgres:///gatehouse?host=/var/run/postgresql",
        ] {
            assert_eq!(check_url(url), Ok(()), "{url}");
        }
        assert!(check_url("postgres://gh@db/x?sslmode=sometimes").is_err());
    }
}
