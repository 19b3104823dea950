//! The policies saved through the panel, the API or the CLI: the whole
//! ordered list in one tagged record.

use async_trait::async_trait;
use gatehouse_license::jiff::Timestamp;

use super::{Checked, StoreResult};

/// The saved policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySetRecord {
    /// Moves by one with every save (the first save is 1).
    pub generation: i64,
    /// The policies as JSON (an array of
    /// [`PolicyText`](crate::policy::PolicyText), in order).
    pub policies: String,
    pub saved_at: Timestamp,
    /// The administrator who saved them.
    pub saved_by: String,
}

#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// The saved policies; `None`: never saved. Not authentic: the record
    /// was changed outside Gatehouse.
    async fn policy_set(&self) -> StoreResult<Option<Checked<PolicySetRecord>>>;

    /// The saved policies' generation (0: never saved): one cheap read, so
    /// every node notices a save at its next tick.
    async fn policy_generation(&self) -> StoreResult<i64>;

    /// Saves `policies` as generation `edited + 1` if the saved generation
    /// is still `edited` (0: none saved yet); `false` when another save
    /// came first (nothing written).
    async fn save_policy_set(
        &self,
        edited: i64,
        policies: &str,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool>;
}
