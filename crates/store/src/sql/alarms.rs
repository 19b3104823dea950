//! The alarm settings and the outbox (`AlarmStore`): fired once per key,
//! leased to one sender, retried until sent.

use std::collections::HashSet;

use async_trait::async_trait;
use gatehouse_core::alarms::AlarmSettings;
use gatehouse_core::store::{AlarmRecord, AlarmStore, Delivery, NewAlarm, StoreError, StoreResult};
use gatehouse_license::alarms::AlarmKind;
use gatehouse_license::jiff::Timestamp;

use super::{DbRow, Store, get};
use crate::backend::Backend;
use crate::shared::{alarm_columns, count, joined, micros, numbers, timestamp, unavailable};

#[async_trait]
impl AlarmStore for Store {
    async fn alarm_settings(&self) -> StoreResult<Option<AlarmSettings>> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT days_before_end, user_limit_percent, recipients FROM alarm_settings WHERE id = 1",
        )
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        row.map(|(days, percent, recipients)| {
            AlarmSettings::new(
                numbers(&days)?,
                numbers(&percent)?,
                recipients.lines().map(str::to_string).collect(),
            )
            .map_err(|e| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }

    async fn set_alarm_settings(&self, settings: &AlarmSettings) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO alarm_settings (id, days_before_end, user_limit_percent, recipients) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET days_before_end = $1, user_limit_percent = $2, recipients = $3",
        )
        .bind(joined(settings.days_before_end()))
        .bind(joined(settings.user_limit_percent()))
        .bind(settings.recipients().join("\n"))
        .execute(self.writer())
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn fire_alarms(&self, alarms: &[NewAlarm]) -> StoreResult<Vec<bool>> {
        let mut tx = self.begin_write().await?;
        let mut queued = Vec::with_capacity(alarms.len());
        for alarm in alarms {
            let delivery = alarm.initial_delivery();
            let result = sqlx::query(
                "INSERT INTO alarm_outbox (alarm_key, kind, subject, body, recipients, created_at, delivery, next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (alarm_key) DO NOTHING",
            )
            .bind(&alarm.key)
            .bind(alarm.kind.as_str())
            .bind(&alarm.subject)
            .bind(&alarm.body)
            .bind(alarm.recipients.join("\n"))
            .bind(micros(alarm.created_at))
            .bind(delivery.as_str())
            .bind(micros(alarm.created_at))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            queued.push(result.rows_affected() == 1);
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(queued)
    }

    async fn fired_alarm_keys(&self) -> StoreResult<HashSet<String>> {
        let keys: Vec<String> = sqlx::query_scalar("SELECT alarm_key FROM alarm_outbox")
            .fetch_all(self.pool())
            .await
            .map_err(unavailable)?;
        Ok(keys.into_iter().collect())
    }

    async fn claim_alarms(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AlarmRecord>> {
        let rows = sqlx::query(Store::CLAIM_ALARMS)
            .bind(micros(lease_until))
            .bind(micros(now))
            .bind(i64::from(limit))
            .fetch_all(self.writer())
            .await
            .map_err(unavailable)?;
        let mut alarms = rows
            .iter()
            .map(alarm_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        alarms.sort_by_key(|alarm| alarm.id);
        Ok(alarms)
    }

    async fn alarm_sent(&self, id: i64, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE alarm_outbox SET delivery = 'sent', sent_at = $1, last_error = NULL WHERE id = $2",
        )
        .bind(micros(at))
        .bind(id)
        .execute(self.writer())
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn alarm_failed(&self, id: i64, error: &str, retry_at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE alarm_outbox SET last_error = $1, next_attempt_at = $2
             WHERE id = $3 AND delivery = 'queued'",
        )
        .bind(error)
        .bind(micros(retry_at))
        .bind(id)
        .execute(self.writer())
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn alarm_history(&self, limit: u32) -> StoreResult<Vec<AlarmRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            alarm_columns!(),
            " FROM alarm_outbox ORDER BY id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter().map(alarm_from_row).collect()
    }
}

fn alarm_from_row(row: &DbRow) -> StoreResult<AlarmRecord> {
    let kind: String = get(row, "kind")?;
    let delivery: String = get(row, "delivery")?;
    let recipients: String = get(row, "recipients")?;
    let sent_at: Option<i64> = get(row, "sent_at")?;
    Ok(AlarmRecord {
        id: get(row, "id")?,
        key: get(row, "alarm_key")?,
        kind: AlarmKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown alarm kind {kind:?}")))?,
        subject: get(row, "subject")?,
        body: get(row, "body")?,
        recipients: recipients.lines().map(str::to_string).collect(),
        created_at: timestamp(get(row, "created_at")?)?,
        delivery: Delivery::parse(&delivery)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery {delivery:?}")))?,
        attempts: count(get(row, "attempts")?)?,
        next_attempt_at: timestamp(get(row, "next_attempt_at")?)?,
        last_error: get(row, "last_error")?,
        sent_at: sent_at.map(timestamp).transpose()?,
    })
}
