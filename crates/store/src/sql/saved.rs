//! Records saved whole (`PolicyStore`, `SeatRulesStore`): one row each,
//! tagged over its generation and the whole body; a save is conditional on
//! the generation it edited, so two saves never overwrite each other
//! unseen (and two nodes never both take the last of anything the record
//! limits).

use async_trait::async_trait;
use gatehouse_core::store::{
    Checked, PolicySetRecord, PolicyStore, SeatRulesRecord, SeatRulesStore, StoreResult,
};
use gatehouse_license::jiff::Timestamp;

use super::{Store, get};
use crate::backend::Backend;
use crate::sealing::Tagged;
use crate::shared::{micros, timestamp, unavailable};

/// A record saved whole: its table, the column of its body and its tag.
#[derive(Clone, Copy)]
struct Whole {
    table: &'static str,
    body: &'static str,
    tagged: for<'a> fn(i64, &'a str) -> Tagged<'a>,
}

fn policy_set(generation: i64, policies: &str) -> Tagged<'_> {
    Tagged::PolicySet {
        generation,
        policies,
    }
}

fn seat_rules(generation: i64, rules: &str) -> Tagged<'_> {
    Tagged::SeatRules { generation, rules }
}

const POLICIES: Whole = Whole {
    table: "policy_set",
    body: "policies",
    tagged: policy_set,
};

const SEAT_RULES: Whole = Whole {
    table: "seat_rules",
    body: "rules",
    tagged: seat_rules,
};

/// A saved record as read: generation, body, when and by whom, and whether
/// its tag verified.
struct Saved {
    generation: i64,
    body: String,
    saved_at: Timestamp,
    saved_by: String,
    authentic: bool,
}

impl Store {
    async fn read_whole(&self, whole: Whole) -> StoreResult<Option<Saved>> {
        // Table and column names are the constants above, never input.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT generation, {body} AS body, saved_at, saved_by, tag FROM {table} WHERE id = 1",
            body = whole.body,
            table = whole.table
        )))
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let generation: i64 = get(&row, "generation")?;
        let body: String = get(&row, "body")?;
        let tag: Option<Vec<u8>> = get(&row, "tag")?;
        let authentic = (whole.tagged)(generation, &body).verify(self.seal(), tag.as_deref());
        Ok(Some(Saved {
            generation,
            saved_at: timestamp(get(&row, "saved_at")?)?,
            saved_by: get(&row, "saved_by")?,
            body,
            authentic,
        }))
    }

    async fn whole_generation(&self, whole: Whole) -> StoreResult<i64> {
        let generation: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT generation FROM {} WHERE id = 1",
            whole.table
        )))
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        Ok(generation.unwrap_or(0))
    }

    async fn save_whole(
        &self,
        whole: Whole,
        edited: i64,
        body: &str,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool> {
        let generation = edited + 1;
        let tag = (whole.tagged)(generation, body).tag(self.seal());
        let statement = if edited == 0 {
            format!(
                "INSERT INTO {table} (id, generation, {body}, saved_at, saved_by, tag)
                 VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                table = whole.table,
                body = whole.body
            )
        } else {
            format!(
                "UPDATE {table} SET generation = $1, {body} = $2, saved_at = $3, saved_by = $4, tag = $5
                 WHERE id = 1 AND generation = $1 - 1",
                table = whole.table,
                body = whole.body
            )
        };
        let saved = sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(generation)
            .bind(body)
            .bind(micros(at))
            .bind(by)
            .bind(tag)
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(saved.rows_affected() == 1)
    }
}

#[async_trait]
impl PolicyStore for Store {
    async fn policy_set(&self) -> StoreResult<Option<Checked<PolicySetRecord>>> {
        Ok(self.read_whole(POLICIES).await?.map(|saved| Checked {
            authentic: saved.authentic,
            record: PolicySetRecord {
                generation: saved.generation,
                policies: saved.body,
                saved_at: saved.saved_at,
                saved_by: saved.saved_by,
            },
        }))
    }

    async fn policy_generation(&self) -> StoreResult<i64> {
        self.whole_generation(POLICIES).await
    }

    async fn save_policy_set(
        &self,
        edited: i64,
        policies: &str,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool> {
        self.save_whole(POLICIES, edited, policies, at, by).await
    }
}

#[async_trait]
impl SeatRulesStore for Store {
    async fn seat_rules(&self) -> StoreResult<Option<Checked<SeatRulesRecord>>> {
        Ok(self.read_whole(SEAT_RULES).await?.map(|saved| Checked {
            authentic: saved.authentic,
            record: SeatRulesRecord {
                generation: saved.generation,
                rules: saved.body,
                saved_at: saved.saved_at,
                saved_by: saved.saved_by,
            },
        }))
    }

    async fn seat_rules_generation(&self) -> StoreResult<i64> {
        self.whole_generation(SEAT_RULES).await
    }

    async fn save_seat_rules(
        &self,
        edited: i64,
        rules: &str,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool> {
        self.save_whole(SEAT_RULES, edited, rules, at, by).await
    }
}
