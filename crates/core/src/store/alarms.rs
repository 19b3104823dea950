//! Alarm settings and the outbox.

use std::collections::HashSet;

use async_trait::async_trait;
use gatehouse_license::alarms::AlarmKind;
use gatehouse_license::jiff::Timestamp;

use super::StoreResult;
use crate::alarms::AlarmSettings;

/// An alarm that became due, with its message, ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlarm {
    /// Fires once per key (`gatehouse_license::alarms`).
    pub key: String,
    pub kind: AlarmKind,
    pub subject: String,
    pub body: String,
    /// Empty: nobody to tell; recorded as [`Delivery::NoRecipients`].
    pub recipients: Vec<String>,
    pub created_at: Timestamp,
    /// Recorded as fired but not sent ([`Delivery::Superseded`]): a more
    /// urgent alarm of the same kind fired with it.
    pub superseded: bool,
}

impl NewAlarm {
    /// How the alarm starts out in the outbox.
    pub fn initial_delivery(&self) -> Delivery {
        if self.superseded {
            Delivery::Superseded
        } else if self.recipients.is_empty() {
            Delivery::NoRecipients
        } else {
            Delivery::Queued
        }
    }
}

/// Where a queued alarm stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Waiting to be sent (again, after a failure: see `last_error`).
    Queued,
    Sent,
    /// No recipients were configured when it fired.
    NoRecipients,
    /// Not sent: a more urgent alarm of the same kind fired with it.
    Superseded,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Sent => "sent",
            Delivery::NoRecipients => "no_recipients",
            Delivery::Superseded => "superseded",
        }
    }

    pub fn parse(text: &str) -> Option<Delivery> {
        [
            Delivery::Queued,
            Delivery::Sent,
            Delivery::NoRecipients,
            Delivery::Superseded,
        ]
        .into_iter()
        .find(|d| d.as_str() == text)
    }
}

/// One alarm in the outbox: the history the Alarm page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRecord {
    pub id: i64,
    pub key: String,
    pub kind: AlarmKind,
    pub subject: String,
    pub body: String,
    pub recipients: Vec<String>,
    pub created_at: Timestamp,
    pub delivery: Delivery,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When a queued alarm may be tried (again).
    pub next_attempt_at: Timestamp,
    /// Why the latest attempt failed.
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
}

/// Alarm thresholds and recipients, and the alarm outbox: an alarm is
/// marked fired and queued for sending in one transaction, so it is never
/// lost and never fires twice, whichever process or node noticed it.
#[async_trait]
pub trait AlarmStore: Send + Sync {
    /// `None` until an administrator saves settings.
    async fn alarm_settings(&self) -> StoreResult<Option<AlarmSettings>>;

    async fn set_alarm_settings(&self, settings: &AlarmSettings) -> StoreResult<()>;

    /// Queues each alarm whose key has not fired before, in one
    /// transaction; `true` for each alarm recorded by this call, `false` for
    /// one that had already fired. Each starts out as
    /// [`NewAlarm::initial_delivery`] says.
    async fn fire_alarms(&self, alarms: &[NewAlarm]) -> StoreResult<Vec<bool>>;

    /// The key of every alarm that has fired.
    async fn fired_alarm_keys(&self) -> StoreResult<HashSet<String>>;

    /// Takes up to `limit` queued alarms due at `now` for sending: each
    /// one's attempts grow by one and its next attempt moves to
    /// `lease_until`, so no other sender takes it meanwhile (a sender that
    /// dies leaves it to be retried then). Oldest first.
    async fn claim_alarms(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AlarmRecord>>;

    async fn alarm_sent(&self, id: i64, at: Timestamp) -> StoreResult<()>;

    /// Records a failed attempt; the alarm stays queued until `retry_at`.
    async fn alarm_failed(&self, id: i64, error: &str, retry_at: Timestamp) -> StoreResult<()>;

    /// The newest `limit` alarms, newest first.
    async fn alarm_history(&self, limit: u32) -> StoreResult<Vec<AlarmRecord>>;
}
