//! The audit trail's entries ([`crate::audit`]): appended, listed, and the
//! chain of their tags walked.

use async_trait::async_trait;

use super::StoreResult;
use crate::audit::{AuditQuery, AuditRecord, ChainReport, NewAuditEntry};

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry after the newest one, its tag covering the newest
    /// one's; atomic across nodes (two appends at once get consecutive ids
    /// and a whole chain). Returns the entry's id.
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<u64>;

    /// Entries matching `query`, newest first.
    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;

    /// Walks every entry, oldest first, checking each tag and each link.
    async fn verify_audit_chain(&self) -> StoreResult<ChainReport>;
}
