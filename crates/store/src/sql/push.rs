//! Phones, enrollment links and pushes (`PushStore`): the per-user limits
//! counted and a push inserted in one transaction, decisions recorded once.

use async_trait::async_trait;
use gatehouse_core::identity::SeatKey;
use gatehouse_core::push::{Decision, PendingPush, PushMode, WebPushSubscription};
use gatehouse_core::push::{EnrollmentRefusal, EnrollmentToken};
use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{
    DeviceRecord, EnrollmentRecord, LinkEnrollment, PushLimited, PushLimits, PushRecord, PushStore,
    PushUser, StoreError, StoreResult,
};
use gatehouse_license::jiff::Timestamp;
use sqlx::QueryBuilder;

use super::{Db, DbRow, Store, get, inserted};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::{
    ROWS_PER_INSERT, device_columns, micros, push_columns, timestamp, unavailable,
};

fn device_from_row(seal: &SealingKey, row: &DbRow) -> StoreResult<DeviceRecord> {
    let id: String = get(row, "id")?;
    let seat: String = get(row, "seat_key")?;
    let public_key: Vec<u8> = get(row, "public_key")?;
    let tag: Option<Vec<u8>> = get(row, "tag")?;
    let device = sealing::Tagged::Device {
        id: &id,
        seat: &seat,
        public_key: &public_key,
    };
    if !device.verify(seal, tag.as_deref()) {
        return Err(StoreError::Corrupt(format!(
            "push device {id} was written outside Gatehouse (its tag does not verify); it approves nothing"
        )));
    }
    let auth = get::<Option<Vec<u8>>>(row, "webpush_auth")?
        .map(|sealed| {
            sealing::open(
                seal,
                &sealing::webpush_context(&id),
                &sealed,
                &format!("the Web Push secret of device {id}"),
            )
        })
        .transpose()?;
    Ok(DeviceRecord {
        id,
        seat: SeatKey::from_stored(seat),
        username: get(row, "username")?,
        label: get(row, "label")?,
        public_key,
        created_at: timestamp(get(row, "created_at")?)?,
        webpush: match (
            get::<Option<String>>(row, "webpush_endpoint")?,
            get::<Option<Vec<u8>>>(row, "webpush_p256dh")?,
            auth,
        ) {
            (Some(endpoint), Some(p256dh), Some(auth)) => Some(WebPushSubscription {
                endpoint,
                p256dh,
                auth,
            }),
            _ => None,
        },
    })
}

/// Adds a phone row (tagged), unless its id is taken or was
/// revoked.
async fn insert_device(
    seal: &SealingKey,
    tx: &mut sqlx::Transaction<'static, Db>,
    device: &DeviceRecord,
) -> StoreResult<()> {
    let revoked: Option<i64> =
        sqlx::query_scalar("SELECT revoked_at FROM push_revoked WHERE id = $1")
            .bind(&device.id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(unavailable)?;
    if revoked.is_some() {
        return Err(StoreError::AlreadyExists);
    }
    let result = sqlx::query(
        "INSERT INTO push_devices (id, seat_key, username, label, public_key, created_at, tag)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&device.id)
    .bind(device.seat.as_str())
    .bind(&device.username)
    .bind(&device.label)
    .bind(device.public_key.clone())
    .bind(micros(device.created_at))
    .bind(
        sealing::Tagged::Device {
            id: &device.id,
            seat: device.seat.as_str(),
            public_key: &device.public_key,
        }
        .tag(seal),
    )
    .execute(&mut **tx)
    .await;
    inserted(result)
}

const ENROLLMENT_COLUMNS: &str =
    "SELECT token_hash, seat_key, username, expires_at, used_at, device_id, tag
     FROM push_enrollments WHERE token_hash = $1";

/// The link a row holds, if it can still enroll at `at`. A row
/// whose tag fails was not made by Gatehouse: not a link.
fn enrollment_from_row(
    seal: &SealingKey,
    row: &DbRow,
    at: Timestamp,
) -> StoreResult<Result<EnrollmentToken, EnrollmentRefusal>> {
    let token_hash: Vec<u8> = get(row, "token_hash")?;
    let seat: String = get(row, "seat_key")?;
    let user: String = get(row, "username")?;
    let expires_at: i64 = get(row, "expires_at")?;
    let used_at: Option<i64> = get(row, "used_at")?;
    let id: String = get(row, "device_id")?;
    let tag: Vec<u8> = get(row, "tag")?;
    let fields = sealing::Tagged::Enrollment {
        token_hash: &token_hash,
        device_id: &id,
        seat: &seat,
        username: &user,
        expires_at,
    };
    if !fields.verify(seal, Some(&tag)) {
        return Ok(Err(EnrollmentRefusal::Malformed));
    }
    if used_at.is_some() {
        return Ok(Err(EnrollmentRefusal::Used));
    }
    let expires_at = timestamp(expires_at)?;
    if at >= expires_at {
        return Ok(Err(EnrollmentRefusal::Expired));
    }
    Ok(Ok(EnrollmentToken {
        id,
        seat: SeatKey::from_stored(seat),
        user,
        expires_at,
    }))
}

fn push_from_row(row: &DbRow) -> StoreResult<PushRecord> {
    let decision: Option<String> = get(row, "decision")?;
    Ok(PushRecord {
        push: PendingPush {
            id: get(row, "id")?,
            seat: SeatKey::from_stored(get(row, "seat_key")?),
            user: get(row, "username")?,
            client: get(row, "client")?,
            source: get(row, "source")?,
            created_at: timestamp(get(row, "created_at")?)?,
            expires_at: timestamp(get(row, "expires_at")?)?,
            nonce: get(row, "nonce")?,
            number: get::<Option<i64>>(row, "number")?
                .map(|n| {
                    u8::try_from(n).map_err(|_| StoreError::Corrupt(format!("push number {n}")))
                })
                .transpose()?,
            choices: get::<String>(row, "choices")?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(|c| {
                    c.parse::<u8>()
                        .map_err(|_| StoreError::Corrupt(format!("push choice {c:?}")))
                })
                .collect::<StoreResult<Vec<u8>>>()?,
            decided: decision
                .map(|text| {
                    Decision::parse(&text).ok_or_else(|| {
                        StoreError::Corrupt(format!("unknown push decision {text:?}"))
                    })
                })
                .transpose()?,
        },
        decided_by: get(row, "decided_by")?,
        decided_at: get::<Option<i64>>(row, "decided_at")?
            .map(timestamp)
            .transpose()?,
    })
}

#[async_trait]
impl PushStore for Store {
    async fn add_device(&self, device: &DeviceRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let revoked: Option<i64> =
            sqlx::query_scalar("SELECT revoked_at FROM push_revoked WHERE id = $1")
                .bind(&device.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
        if revoked.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        insert_device(self.seal(), &mut tx, device).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn add_enrollment(&self, record: &EnrollmentRecord) -> StoreResult<()> {
        let token = &record.token;
        let expires_at = micros(token.expires_at);
        let result = sqlx::query(
            "INSERT INTO push_enrollments (token_hash, seat_key, username, created_at, expires_at, device_id, tag)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(record.token_hash.to_vec())
        .bind(token.seat.as_str())
        .bind(&token.user)
        .bind(micros(record.created_at))
        .bind(expires_at)
        .bind(&token.id)
        .bind(
            sealing::Tagged::Enrollment {
                token_hash: &record.token_hash,
                device_id: &token.id,
                seat: token.seat.as_str(),
                username: &token.user,
                expires_at,
            }
            .tag(self.seal()),
        )
        .execute(self.writer())
        .await;
        inserted(result)
    }

    async fn enrollment(
        &self,
        token_hash: &[u8; 32],
        at: Timestamp,
    ) -> StoreResult<Result<EnrollmentToken, EnrollmentRefusal>> {
        let row = sqlx::query(ENROLLMENT_COLUMNS)
            .bind(token_hash.to_vec())
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?;
        row.map_or(Ok(Err(EnrollmentRefusal::Malformed)), |row| {
            enrollment_from_row(self.seal(), &row, at)
        })
    }

    async fn enroll_device(
        &self,
        enrollment: &LinkEnrollment<'_>,
    ) -> StoreResult<Result<DeviceRecord, EnrollmentRefusal>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(ENROLLMENT_COLUMNS)
            .bind(enrollment.token_hash.to_vec())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let token = match row {
            None => return Ok(Err(EnrollmentRefusal::Malformed)),
            Some(row) => match enrollment_from_row(self.seal(), &row, enrollment.at)? {
                Ok(token) => token,
                Err(refusal) => return Ok(Err(refusal)),
            },
        };
        // Used once, whichever node gets there first.
        let used = sqlx::query(
            "UPDATE push_enrollments SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(micros(enrollment.at))
        .bind(enrollment.token_hash.to_vec())
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if used.rows_affected() != 1 {
            return Ok(Err(EnrollmentRefusal::Used));
        }
        let device = DeviceRecord {
            id: token.id,
            seat: token.seat,
            username: token.user,
            label: enrollment.label.to_string(),
            public_key: enrollment.public_key.to_vec(),
            created_at: enrollment.at,
            webpush: None,
        };
        match insert_device(self.seal(), &mut tx, &device).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Ok(Err(EnrollmentRefusal::Used)),
            Err(error) => return Err(error),
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(Ok(device))
    }

    async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            device_columns!(),
            " FROM push_devices WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        row.as_ref()
            .map(|row| device_from_row(self.seal(), row))
            .transpose()
    }

    async fn devices(&self, seat: &SeatKey) -> StoreResult<Vec<DeviceRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            device_columns!(),
            " FROM push_devices WHERE seat_key = $1 ORDER BY created_at, id"
        ))
        .bind(seat.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| device_from_row(self.seal(), row))
            .collect()
    }

    async fn remove_device(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM push_devices WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO push_revoked (id, revoked_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(micros(at))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn set_device_webpush(
        &self,
        id: &str,
        subscription: Option<&WebPushSubscription>,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE push_devices SET webpush_endpoint = $1, webpush_p256dh = $2, webpush_auth = $3 WHERE id = $4",
        )
        .bind(subscription.map(|s| s.endpoint.clone()))
        .bind(subscription.map(|s| s.p256dh.clone()))
        .bind(subscription.map(|s| self.seal().seal(&sealing::webpush_context(id), &s.auth)))
        .bind(id)
        .execute(self.writer())
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn all_devices(&self) -> StoreResult<Vec<DeviceRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            device_columns!(),
            " FROM push_devices ORDER BY seat_key, created_at, id"
        ))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| device_from_row(self.seal(), row))
            .collect()
    }

    async fn push_user(&self, seat: &SeatKey) -> StoreResult<PushUser> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM push_devices WHERE seat_key = $1) AS devices,
                    (SELECT mode FROM push_modes WHERE seat_key = $1) AS mode",
        )
        .bind(seat.as_str())
        .fetch_one(self.pool())
        .await
        .map_err(unavailable)?;
        let devices: i64 = get(&row, "devices")?;
        let mode: Option<String> = get(&row, "mode")?;
        Ok(PushUser {
            devices: u32::try_from(devices).unwrap_or(u32::MAX),
            mode: mode
                .map(|text| {
                    PushMode::parse(&text)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown push mode {text:?}")))
                })
                .transpose()?,
        })
    }

    async fn set_push_mode(&self, seat: &SeatKey, mode: Option<PushMode>) -> StoreResult<()> {
        let query = match mode {
            Some(mode) => sqlx::query(
                "INSERT INTO push_modes (seat_key, mode) VALUES ($1, $2)
                 ON CONFLICT (seat_key) DO UPDATE SET mode = excluded.mode",
            )
            .bind(seat.as_str())
            .bind(mode.as_str()),
            None => sqlx::query("DELETE FROM push_modes WHERE seat_key = $1").bind(seat.as_str()),
        };
        query.execute(self.writer()).await.map_err(unavailable)?;
        Ok(())
    }

    async fn create_push(
        &self,
        push: &PendingPush,
        limits: PushLimits,
    ) -> StoreResult<Result<(), PushLimited>> {
        let mut tx = self.begin_write().await?;
        if let Some(lock) = Store::SEAT_LOCK {
            sqlx::query(lock)
                .bind(push.seat.as_str())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        let hour_ago = push.created_at - gatehouse_license::jiff::SignedDuration::from_hours(1);
        let (waiting, last_hour): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN decision IS NULL AND expires_at > $2 THEN 1 ELSE 0 END), 0), COUNT(*)
             FROM pushes WHERE seat_key = $1 AND created_at > $3",
        )
        .bind(push.seat.as_str())
        .bind(micros(push.created_at))
        .bind(micros(hour_ago))
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        if waiting >= i64::from(limits.waiting) {
            return Ok(Err(PushLimited::Waiting));
        }
        if last_hour >= i64::from(limits.per_hour) {
            return Ok(Err(PushLimited::PerHour));
        }
        let result = sqlx::query(
            "INSERT INTO pushes (id, seat_key, username, client, source, created_at, expires_at, nonce, number, choices)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&push.id)
        .bind(push.seat.as_str())
        .bind(&push.user)
        .bind(&push.client)
        .bind(push.source.as_deref())
        .bind(micros(push.created_at))
        .bind(micros(push.expires_at))
        .bind(&push.nonce)
        .bind(push.number.map(i64::from))
        .bind(push.choices.iter().map(u8::to_string).collect::<Vec<_>>().join(","))
        .execute(&mut *tx)
        .await;
        inserted(result)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Ok(()))
    }

    async fn push(&self, id: &str) -> StoreResult<Option<PushRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            push_columns!(),
            " FROM pushes WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(unavailable)?;
        row.as_ref().map(push_from_row).transpose()
    }

    async fn decided_pushes(&self, ids: &[String]) -> StoreResult<Vec<String>> {
        let mut decided = Vec::new();
        for chunk in ids.chunks(ROWS_PER_INSERT * 4) {
            let mut query = QueryBuilder::<Db>::new(
                "SELECT id FROM pushes WHERE decision IS NOT NULL AND id IN (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            query.push(")");
            let found: Vec<String> = query
                .build_query_scalar()
                .fetch_all(self.pool())
                .await
                .map_err(unavailable)?;
            decided.extend(found);
        }
        Ok(decided)
    }

    async fn pending_pushes(&self, seat: &SeatKey, now: Timestamp) -> StoreResult<Vec<PushRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            push_columns!(),
            " FROM pushes WHERE seat_key = $1 AND decision IS NULL AND expires_at > $2
              ORDER BY created_at, id"
        ))
        .bind(seat.as_str())
        .bind(micros(now))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter().map(push_from_row).collect()
    }

    async fn decide_push(
        &self,
        id: &str,
        decision: Decision,
        device: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE pushes SET decision = $1, decided_by = $2, decided_at = $3
             WHERE id = $4 AND decision IS NULL AND expires_at > $3",
        )
        .bind(decision.as_str())
        .bind(device)
        .bind(micros(at))
        .bind(id)
        .execute(self.writer())
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn close_push(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE pushes SET expires_at = $1 WHERE id = $2 AND decision IS NULL AND expires_at > $1",
        )
        .bind(micros(at))
        .bind(id)
        .execute(self.writer())
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn recent_pushes(&self, limit: u32) -> StoreResult<Vec<PushRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            push_columns!(),
            " FROM pushes ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter().map(push_from_row).collect()
    }

    async fn delete_expired_pushes(&self, before: Timestamp) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM pushes WHERE expires_at < $1")
            .bind(micros(before))
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM push_enrollments WHERE expires_at < $1")
            .bind(micros(before))
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        sqlx::query("DELETE FROM push_revoked WHERE revoked_at < $1")
            .bind(micros(before))
            .execute(self.writer())
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
