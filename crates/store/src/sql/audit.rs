//! The audit trail (`AuditStore`): entries appended in one chain of tags,
//! listed with filters, and the chain walked.

use async_trait::async_trait;
use gatehouse_core::audit::{AuditQuery, AuditRecord, ChainReport, MAX_LISTED, NewAuditEntry};
use gatehouse_core::store::{AuditStore, StoreResult};

use super::{Db, Store};
use crate::backend::Backend;
use crate::sealing::Tagged;
use crate::shared::{micros, timestamp, unavailable};

/// An entry row as read: id, at, actor, source, action, subject, detail,
/// prev_tag, tag.
type AuditRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
);

const COLUMNS: &str = "id, at, actor, source, action, subject, detail, prev_tag, tag";

/// Entries read per page while walking the chain.
const PAGE: i64 = 1000;

fn tagged(row: &AuditRow) -> Tagged<'_> {
    let (id, at, actor, source, action, subject, detail, prev_tag, _) = row;
    Tagged::AuditEntry {
        id: *id,
        at: *at,
        actor,
        source,
        action,
        subject,
        detail,
        prev_tag,
    }
}

fn record(store: &Store, row: AuditRow) -> StoreResult<AuditRecord> {
    let authentic = tagged(&row).verify(store.seal(), Some(&row.8));
    let (id, at, actor, source, action, subject, detail, _, _) = row;
    Ok(AuditRecord {
        id: id.max(0) as u64,
        entry: NewAuditEntry {
            at: timestamp(at)?,
            actor,
            source,
            action,
            subject,
            detail,
        },
        authentic,
    })
}

/// What a new entry follows: the entry the last append recorded in the
/// (authentic) head. Recording never heals a trail changed by hand: when
/// entries were removed from the end, the new one follows the removed
/// one (its id leaves the gap); when the head is gone or not authentic, it
/// follows a mark no entry has. Either way the walk finds the break at
/// the new entry, however many appends come after.
fn previous_entry(
    store: &Store,
    newest: Option<(i64, Vec<u8>)>,
    head: Option<(i64, Vec<u8>, Vec<u8>)>,
) -> (i64, Vec<u8>) {
    const BROKEN: &[u8] = b"audit head missing or altered";
    let newest_id = newest.as_ref().map_or(0, |(id, _)| *id);
    match head {
        Some((last_id, last_tag, tag)) => {
            let authentic = Tagged::AuditHead {
                last_id,
                last_tag: &last_tag,
            }
            .verify(store.seal(), Some(&tag));
            if authentic {
                (last_id.max(newest_id), last_tag)
            } else {
                (last_id.max(newest_id), BROKEN.to_vec())
            }
        }
        None => match newest {
            None => (0, Vec::new()),
            Some((id, _)) => (id, BROKEN.to_vec()),
        },
    }
}

#[async_trait]
impl AuditStore for Store {
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        if let Some(lock) = Store::AUDIT_LOCK {
            sqlx::query(lock)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        let newest: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT id, tag FROM audit_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
        let head: Option<(i64, Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT last_id, last_tag, tag FROM audit_head WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
        let (previous, prev_tag) = previous_entry(self, newest, head);
        let id = previous + 1;
        let row: AuditRow = (
            id,
            micros(entry.at),
            entry.actor.clone(),
            entry.source.clone(),
            entry.action.clone(),
            entry.subject.clone(),
            entry.detail.clone(),
            prev_tag,
            Vec::new(),
        );
        let tag = tagged(&row).tag(self.seal());
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, source, action, subject, detail, prev_tag, tag)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(row.1)
        .bind(&row.2)
        .bind(&row.3)
        .bind(&row.4)
        .bind(&row.5)
        .bind(&row.6)
        .bind(&row.7)
        .bind(&tag)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let head = Tagged::AuditHead {
            last_id: id,
            last_tag: &tag,
        }
        .tag(self.seal());
        sqlx::query(
            "INSERT INTO audit_head (id, last_id, last_tag, tag) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET last_id = $1, last_tag = $2, tag = $3",
        )
        .bind(id)
        .bind(&tag)
        .bind(head)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(id as u64)
    }

    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let mut select =
            sqlx::QueryBuilder::<Db>::new(format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1"));
        if let Some(since) = query.since {
            select.push(" AND at >= ").push_bind(micros(since));
        }
        if let Some(actor) = &query.actor {
            select.push(" AND actor = ").push_bind(actor.clone());
        }
        if let Some(action) = &query.action {
            // A prefix, compared as text (no LIKE wildcards to escape).
            select
                .push(" AND substr(action, 1, ")
                .push_bind(i32::try_from(action.chars().count()).unwrap_or(i32::MAX))
                .push(") = ")
                .push_bind(action.clone());
        }
        if let Some(before) = query.before {
            select
                .push(" AND id < ")
                .push_bind(before.min(i64::MAX as u64) as i64);
        }
        let limit = query.limit.clamp(1, MAX_LISTED);
        select
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows: Vec<AuditRow> = select
            .build_query_as()
            .fetch_all(self.pool())
            .await
            .map_err(unavailable)?;
        rows.into_iter().map(|row| record(self, row)).collect()
    }

    async fn verify_audit_chain(&self) -> StoreResult<ChainReport> {
        let mut entries = 0u64;
        let mut first_break = None;
        let mut last: Option<(i64, Vec<u8>)> = None;
        loop {
            let after = last.as_ref().map_or(0, |(id, _)| *id);
            let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT {PAGE}"
            )))
            .bind(after)
            .fetch_all(self.pool())
            .await
            .map_err(unavailable)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                entries += 1;
                let expected_prev: &[u8] = last.as_ref().map_or(&[], |(_, tag)| tag);
                let expected_id = last.as_ref().map_or(1, |(id, _)| id + 1);
                let linked = row.7 == expected_prev && row.0 == expected_id;
                let own = tagged(row).verify(self.seal(), Some(&row.8));
                if first_break.is_none() && !(linked && own) {
                    first_break = Some(row.0.max(0) as u64);
                }
                last = Some((row.0, row.8.clone()));
            }
        }
        let head: Option<(i64, Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT last_id, last_tag, tag FROM audit_head WHERE id = 1")
                .fetch_optional(self.pool())
                .await
                .map_err(unavailable)?;
        let head_mismatch = match (&head, &last) {
            (None, None) => false,
            (Some((last_id, last_tag, tag)), Some((id, newest_tag))) => {
                let authentic = Tagged::AuditHead {
                    last_id: *last_id,
                    last_tag,
                }
                .verify(self.seal(), Some(tag));
                !authentic || last_id != id || last_tag != newest_tag
            }
            _ => true,
        };
        Ok(ChainReport {
            entries,
            first_break,
            head_mismatch,
        })
    }
}
