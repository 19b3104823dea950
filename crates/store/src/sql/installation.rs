//! The installation, the license in force and the clock mark
//! (`InstallationStore`): each row tagged, the month's count sealed at every
//! install.

use async_trait::async_trait;
use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{
    Checked, ClockMark, InstallationRecord, InstallationStore, LicenseInstall, StoreError,
    StoreResult, StoredLicense,
};
use gatehouse_license::jiff::Timestamp;

use super::{Db, DbRow, Store, get};
use crate::backend::Backend;
use crate::sealing;
use crate::shared::{count, micros, month_text, timestamp, unavailable};

impl Store {
    /// Raises the clock mark to `at` within `anchor` (`None`: the
    /// stored anchor), only over an authentic mark: a mark changed
    /// outside Gatehouse is left as it is, for the service to see.
    /// Returns the stored mark afterwards.
    pub(crate) async fn raise_clock(
        seal: &SealingKey,
        tx: &mut sqlx::Transaction<'static, Db>,
        at: Timestamp,
        anchor: Option<i64>,
    ) -> StoreResult<Checked<ClockMark>> {
        let at_micros = micros(at);
        // Another node may raise it between the read and the
        // conditional update (PostgreSQL); then read again.
        for _ in 0..16 {
            let row: Option<(i64, i64, Option<Vec<u8>>)> =
                sqlx::query_as("SELECT high_water, anchor, tag FROM clock WHERE id = 1")
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(unavailable)?;
            match row {
                None => {
                    let anchor = anchor.unwrap_or(0);
                    let inserted = sqlx::query(
                        "INSERT INTO clock (id, high_water, anchor, tag) VALUES (1, $1, $2, $3)
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .bind(at_micros)
                    .bind(anchor)
                    .bind(
                        sealing::Tagged::Clock {
                            high_water: at_micros,
                            anchor,
                        }
                        .tag(seal),
                    )
                    .execute(&mut **tx)
                    .await
                    .map_err(unavailable)?;
                    if inserted.rows_affected() == 1 {
                        return Ok(Checked {
                            record: ClockMark {
                                high_water: at,
                                anchor,
                            },
                            authentic: true,
                        });
                    }
                }
                Some((high_water, stored_anchor, tag)) => {
                    let authentic = sealing::Tagged::Clock {
                        high_water,
                        anchor: stored_anchor,
                    }
                    .verify(seal, tag.as_deref());
                    let same_anchor = anchor.is_none_or(|anchor| anchor == stored_anchor);
                    if !(authentic && same_anchor && high_water < at_micros) {
                        return Ok(Checked {
                            record: ClockMark {
                                high_water: timestamp(high_water)?,
                                anchor: stored_anchor,
                            },
                            authentic,
                        });
                    }
                    let raised = sqlx::query(
                        "UPDATE clock SET high_water = $1, tag = $2
                         WHERE id = 1 AND high_water = $3 AND anchor = $4",
                    )
                    .bind(at_micros)
                    .bind(
                        sealing::Tagged::Clock {
                            high_water: at_micros,
                            anchor: stored_anchor,
                        }
                        .tag(seal),
                    )
                    .bind(high_water)
                    .bind(stored_anchor)
                    .execute(&mut **tx)
                    .await
                    .map_err(unavailable)?;
                    if raised.rows_affected() == 1 {
                        return Ok(Checked {
                            record: ClockMark {
                                high_water: at,
                                anchor: stored_anchor,
                            },
                            authentic: true,
                        });
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "the clock mark kept changing; try again".into(),
        ))
    }
}

/// The sealed installation record, and whether the plain
/// columns beside it still show it (`authentic`).
fn installation_from_row(
    seal: &SealingKey,
    row: &DbRow,
) -> StoreResult<Checked<InstallationRecord>> {
    let sealed: Vec<u8> = get(row, "signing_key")?;
    let record = sealing::open_installation(seal, &sealed)?;
    let first_start: i64 = get(row, "first_start")?;
    let demo_support_end: String = get(row, "demo_support_end")?;
    let time_zone: String = get(row, "time_zone")?;
    let authentic = first_start == micros(record.first_start)
        && demo_support_end == record.demo_support_end.to_string()
        && time_zone == record.time_zone;
    Ok(Checked { record, authentic })
}

const INSTALLATION_COLUMNS: &str =
    "SELECT signing_key, first_start, demo_support_end, time_zone FROM installation WHERE id = 1";

#[async_trait]
impl InstallationStore for Store {
    async fn installation(&self) -> StoreResult<Option<Checked<InstallationRecord>>> {
        let row = sqlx::query(INSTALLATION_COLUMNS)
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?;
        row.as_ref()
            .map(|row| installation_from_row(self.seal(), row))
            .transpose()
    }

    async fn create_installation(
        &self,
        record: &InstallationRecord,
        demo_user_limit: u32,
    ) -> StoreResult<Checked<InstallationRecord>> {
        let seal = self.seal();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO installation (id, signing_key, first_start, demo_support_end, time_zone)
             VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(sealing::seal_installation(seal, record))
        .bind(micros(record.first_start))
        .bind(record.demo_support_end.to_string())
        .bind(&record.time_zone)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO license (id, key, user_limit, generation, tag) VALUES (1, NULL, $1, 1, $2)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(i64::from(demo_user_limit))
        .bind(
            sealing::Tagged::License {
                generation: 1,
                key: None,
            }
            .tag(seal),
        )
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        let row = sqlx::query(INSTALLATION_COLUMNS)
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        let stored = installation_from_row(seal, &row)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(stored)
    }

    async fn license(&self) -> StoreResult<Checked<StoredLicense>> {
        let row = sqlx::query("SELECT key, user_limit, generation, tag FROM license WHERE id = 1")
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                StoreError::Corrupt("no license row: the installation was never created".into())
            })?;
        let key: Option<String> = get(&row, "key")?;
        let generation: i64 = get(&row, "generation")?;
        let tag: Option<Vec<u8>> = get(&row, "tag")?;
        let authentic = sealing::Tagged::License {
            generation,
            key: key.as_deref(),
        }
        .verify(self.seal(), tag.as_deref());
        Ok(Checked {
            record: StoredLicense {
                key,
                user_limit: count(get(&row, "user_limit")?)?,
                generation,
            },
            authentic,
        })
    }

    async fn install_license(&self, install: &LicenseInstall<'_>) -> StoreResult<i64> {
        let limit = i64::from(install.user_limit);
        let mut tx = self.begin_write().await?;
        let generation: i64 = sqlx::query_scalar(
            "UPDATE license SET key = $1, user_limit = $2, generation = generation + 1, installed_at = $3
             WHERE id = 1 RETURNING generation",
        )
        .bind(install.key)
        .bind(limit)
        .bind(micros(install.at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| StoreError::Corrupt("no license row: the installation was never created".into()))?;
        sqlx::query("UPDATE license SET tag = $1 WHERE id = 1")
            .bind(
                sealing::Tagged::License {
                    generation,
                    key: Some(install.key),
                }
                .tag(self.seal()),
            )
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO license_history (key, user_limit, installed_at) VALUES ($1, $2, $3)",
        )
        .bind(install.key)
        .bind(limit)
        .bind(micros(install.at))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "UPDATE months SET user_limit = $1,
                 peak_tenths = CASE WHEN peak_tenths > active_users * 1000 / $1
                                    THEN peak_tenths ELSE active_users * 1000 / $1 END
             WHERE month = $2",
        )
        .bind(limit)
        .bind(month_text(install.month))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        Store::seal_months(self.seal(), &mut tx, true).await?;
        if let Some(mark) = install.clock {
            let high_water = micros(mark.high_water);
            sqlx::query(
                "INSERT INTO clock (id, high_water, anchor, tag) VALUES (1, $1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET high_water = excluded.high_water,
                     anchor = excluded.anchor, tag = excluded.tag",
            )
            .bind(high_water)
            .bind(mark.anchor)
            .bind(
                sealing::Tagged::Clock {
                    high_water,
                    anchor: mark.anchor,
                }
                .tag(self.seal()),
            )
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(generation)
    }

    async fn license_generation(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT generation FROM license WHERE id = 1")
            .fetch_optional(self.pool())
            .await
            .map_err(unavailable)
            .map(|generation| generation.unwrap_or(0))
    }

    async fn record_time(&self, mark: &ClockMark) -> StoreResult<Checked<ClockMark>> {
        let mut tx = self.begin_write().await?;
        let stored =
            Store::raise_clock(self.seal(), &mut tx, mark.high_water, Some(mark.anchor)).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(stored)
    }

    async fn recorded_time(&self) -> StoreResult<Option<Checked<ClockMark>>> {
        let row: Option<(i64, i64, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT high_water, anchor, tag FROM clock WHERE id = 1")
                .fetch_optional(self.pool())
                .await
                .map_err(unavailable)?;
        row.map(|(high_water, anchor, tag)| {
            Ok(Checked {
                authentic: sealing::Tagged::Clock { high_water, anchor }
                    .verify(self.seal(), tag.as_deref()),
                record: ClockMark {
                    high_water: timestamp(high_water)?,
                    anchor,
                },
            })
        })
        .transpose()
    }
}
