//! The audit trail through the service ([`crate::audit`]): recording a
//! change under the actor of the request, listing, and walking the chain.

use super::Gatehouse;
use crate::audit::{AuditQuery, AuditRecord, ChainReport, NewAuditEntry, current};
use crate::store::StoreError;

impl Gatehouse {
    /// Records a change the service has just made, under the actor of the
    /// request (or command) that asked for it, and logs it
    /// (`gatehouse::audit`). The change is done by then: a database that
    /// fails here loses the entry, which is logged as an error.
    pub(crate) async fn audit(&self, action: &str, subject: &str, detail: serde_json::Value) {
        let actor = current();
        let entry = NewAuditEntry {
            at: self.now(),
            actor: actor.who,
            source: actor.from,
            action: action.to_string(),
            subject: subject.to_string(),
            detail: if detail.is_null() {
                String::new()
            } else {
                detail.to_string()
            },
        };
        tracing::info!(
            target: "gatehouse::audit",
            actor = entry.actor.as_str(),
            from = entry.source.as_str(),
            action = entry.action.as_str(),
            subject = entry.subject.as_str(),
            detail = entry.detail.as_str(),
            "administrative change"
        );
        if let Err(error) = self.store().append_audit(&entry).await {
            tracing::error!(%error, action, subject, "could not record an administrative change in the audit trail");
        }
    }

    /// Audit entries, newest first.
    pub async fn audit_entries(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        self.store().audit_entries(query).await
    }

    /// Months whose count differs from their ledger (none on a sound
    /// installation): `gatehouse verify`.
    pub async fn ledger_mismatches(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        self.store().ledger_mismatches().await
    }

    /// Months whose stored usage chain does not lead to its head, or does
    /// not hold one link per counted user (none on a sound installation):
    /// `gatehouse verify`.
    pub async fn usage_chain_breaks(&self) -> Result<Vec<String>, StoreError> {
        let mut broken = Vec::new();
        for month in self.store().month_usage().await? {
            let Some(chain) = self.store().usage_chain(month.month).await? else {
                continue;
            };
            let name = month.month.to_string();
            if crate::usage_chain::head(&name, &chain.links) != chain.head
                || chain.links.len() != month.active_users as usize
            {
                broken.push(name);
            }
        }
        Ok(broken)
    }

    /// Walks the whole audit trail, checking every tag and link.
    pub async fn verify_audit(&self) -> Result<ChainReport, StoreError> {
        self.store().verify_audit_chain().await
    }
}
