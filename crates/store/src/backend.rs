//! What a database backend gives the shared SQL (`sql/`): its database
//! type, its migrations, the few statements that differ between SQLite and
//! PostgreSQL, and where reads and writes go. [`crate::SqliteStore`] and
//! [`crate::PgStore`] implement it; `sql/` is compiled once for each.

use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::StoreResult;

pub(crate) trait Backend {
    /// The sqlx database.
    type Db: sqlx::Database;

    /// Schema migrations, in order; the database records how many ran.
    const MIGRATIONS: &'static [&'static str];
    /// Taken inside the migration transaction so nodes starting at once
    /// take turns (`None`: the write transaction already serialises them).
    const MIGRATION_LOCK: Option<&'static str>;
    /// Taken (on the seat key, `$1`) before a user's pushes are counted
    /// and a new one inserted (`None`: the write transaction already
    /// serialises them).
    const SEAT_LOCK: Option<&'static str>;
    /// Taken before an audit entry is appended, so appends on every node
    /// form one chain (`None`: the write transaction already serialises
    /// them).
    const AUDIT_LOCK: Option<&'static str>;
    /// Taken before an administrator is deleted, so two deletions at once
    /// cannot both see the other administrator remain (`None`: the write
    /// transaction already serialises them).
    const ADMINS_LOCK: Option<&'static str>;
    /// The month's count (`$1`: the month), read inside the admission
    /// transaction so it cannot change before the commit.
    const LOCK_MONTH: &'static str;
    /// Leases due alarms to one sender (`$1`: the lease's end, `$2`: now,
    /// `$3`: how many), returning their columns.
    const CLAIM_ALARMS: &'static str;

    /// Where reads go.
    fn pool(&self) -> &sqlx::Pool<Self::Db>;
    /// Where single write statements go.
    fn writer(&self) -> &sqlx::Pool<Self::Db>;
    /// A write transaction: nothing it reads under the locks above can
    /// change before its commit.
    fn begin_write(
        &self,
    ) -> impl Future<Output = StoreResult<sqlx::Transaction<'static, Self::Db>>> + Send;
    /// Seals secrets and tags the license records.
    fn seal(&self) -> &SealingKey;
}
