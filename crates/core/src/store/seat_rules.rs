//! The administrator's seat rules ([`crate::seat_rules`]): one tagged
//! record, saved whole over the generation it edited.

use async_trait::async_trait;
use gatehouse_license::jiff::Timestamp;

use super::{Checked, StoreResult};

/// The saved seat rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRulesRecord {
    /// Moves by one with every save (the first save is 1).
    pub generation: i64,
    /// The rules as JSON ([`SeatRules`](crate::seat_rules::SeatRules)).
    pub rules: String,
    pub saved_at: Timestamp,
    /// Who saved them (the audit actor).
    pub saved_by: String,
}

#[async_trait]
pub trait SeatRulesStore: Send + Sync {
    /// The saved rules; `None`: never saved. Not authentic: the record was
    /// changed outside Gatehouse.
    async fn seat_rules(&self) -> StoreResult<Option<Checked<SeatRulesRecord>>>;

    /// The saved rules' generation (0: never saved): one cheap read, so
    /// every node notices a save at its next tick.
    async fn seat_rules_generation(&self) -> StoreResult<i64>;

    /// Saves `rules` as generation `edited + 1` if the saved generation is
    /// still `edited` (0: none saved yet); `false` when another save came
    /// first (nothing written). Two processes can therefore never both
    /// take the last free mark.
    async fn save_seat_rules(
        &self,
        edited: i64,
        rules: &str,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool>;
}
