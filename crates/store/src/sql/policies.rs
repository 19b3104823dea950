//! The saved policies (`PolicyStore`): one row, tagged over its
//! generation and the whole list; a save is conditional on the generation
//! it edited.

use async_trait::async_trait;
use gatehouse_core::store::{Checked, PolicySetRecord, PolicyStore, StoreResult};
use gatehouse_license::jiff::Timestamp;

use super::{Store, get};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::{micros, timestamp, unavailable};

#[async_trait]
impl PolicyStore for Store {
    async fn policy_set(&self) -> StoreResult<Option<Checked<PolicySetRecord>>> {
        let row = sqlx::query(
            "SELECT generation, policies, saved_at, saved_by, tag FROM policy_set WHERE id = 1",
        )
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let record = PolicySetRecord {
            generation: get(&row, "generation")?,
            policies: get(&row, "policies")?,
            saved_at: timestamp(get(&row, "saved_at")?)?,
            saved_by: get(&row, "saved_by")?,
        };
        let tag: Option<Vec<u8>> = get(&row, "tag")?;
        let authentic = sealing::Tagged::PolicySet {
            generation: record.generation,
            policies: &record.policies,
        }
        .verify(self.seal(), tag.as_deref());
        Ok(Some(Checked { record, authentic }))
    }

    async fn policy_generation(&self) -> StoreResult<i64> {
        let generation: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM policy_set WHERE id = 1")
                .fetch_optional(self.pool())
                .await
                .map_err(unavailable)?;
        Ok(generation.unwrap_or(0))
    }

    async fn save_policy_set(
        &self,
        edited: i64,
        policies: &str,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool> {
        let generation = edited + 1;
        let tag = sealing::Tagged::PolicySet {
            generation,
            policies,
        }
        .tag(self.seal());
        let statement = if edited == 0 {
            "INSERT INTO policy_set (id, generation, policies, saved_at, saved_by, tag)
             VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING"
        } else {
            "UPDATE policy_set SET generation = $1, policies = $2, saved_at = $3, saved_by = $4, tag = $5
             WHERE id = 1 AND generation = $1 - 1"
        };
        let saved = sqlx::query(statement)
            .bind(generation)
            .bind(policies)
            .bind(micros(at))
            .bind(by)
            .bind(tag)
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(saved.rows_affected() == 1)
    }
}
