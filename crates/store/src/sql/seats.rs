//! The month's seats (`SeatStore`): admission in one transaction under
//! the month's lock, last logins and refusals written behind, the Users table
//! by keyset, usage and new users per day.

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use gatehouse_core::identity::SeatKey;
use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::{
    AdmitOutcome, AdmitRequest, DailyNewUsers, LicenseBinding, LoginRecord, MonthUsageRecord,
    RefusalRecord, RefusedUser, SeatCursor, SeatOrder, SeatQuery, SeatRecord, SeatStatus,
    SeatStore, SortValue, StoreError, StoreResult, UsageChainRecord,
};
use gatehouse_core::usage_chain;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::{Limits, Month};
use sqlx::QueryBuilder;

use super::{Db, Store, get};
use crate::backend::Backend;
use crate::plan::{MonthPlan, Planned, new_users_per_day, plan_month};
use crate::sealing;
use crate::shared::{
    ROWS_PER_INSERT, count, micros, month_text, parse_month, peak_tenths, seat_kind, source,
    timestamp, unavailable,
};

#[async_trait]
impl SeatStore for Store {
    async fn ledger_mismatches(&self) -> StoreResult<Vec<(String, i64, i64)>> {
        sqlx::query_as(crate::copy::MISMATCHED_MONTHS)
            .fetch_all(self.pool())
            .await
            .map_err(unavailable)
    }

    async fn admit(&self, requests: &[AdmitRequest]) -> StoreResult<Vec<AdmitOutcome>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let mut outcomes: Vec<Option<AdmitOutcome>> = vec![None; requests.len()];
        let months: BTreeSet<Month> = requests.iter().map(|r| r.month).collect();
        for month in months {
            let month_key = month_text(month);
            let in_month: Vec<usize> = (0..requests.len())
                .filter(|&i| requests[i].month == month)
                .collect();
            sqlx::query(
                "INSERT INTO months (month, active_users, user_limit, peak_tenths, sealed_count, chain_head) VALUES ($1, 0, $2, 0, $3, $4)
                 ON CONFLICT (month) DO NOTHING",
            )
            .bind(&month_key)
            .bind(i64::from(requests[in_month[0]].license.user_limit))
            .bind(sealing::seal_count(self.seal(), &month_key, 0))
            .bind(usage_chain::genesis(&month_key).to_vec())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            let (shown, sealed, stored_head): (i64, Option<Vec<u8>>, Option<Vec<u8>>) =
                sqlx::query_as(Store::LOCK_MONTH)
                    .bind(&month_key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            // The sealed count decides who is let in: the shown
            // one lowered by hand frees no seat; a sealed one
            // that does not open stops admissions.
            let Some(active) = sealing::open_count(self.seal(), &month_key, sealed.as_deref())
            else {
                return Err(StoreError::Altered(format!(
                    "the user count of {month_key}"
                )));
            };
            if shown != active {
                tracing::error!(
                    month = %month_key,
                    shown,
                    sealed = active,
                    "{}: the month's user count column differs from its sealed count; the sealed count applies",
                    gatehouse_license::admission::LICENSE_RECORD_ALTERED_EVENT
                );
            }
            // The license in force, read under the month's lock
            // (an install updates this row too, so it cannot
            // commit in between): only requests made under the
            // very key it holds, with an authentic row, are
            // decided, under that verified key's limit. The
            // row's own user_limit column is never read.
            let (key, generation, tag): (Option<String>, i64, Option<Vec<u8>>) =
                sqlx::query_as("SELECT key, generation, tag FROM license WHERE id = 1")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| {
                        StoreError::Corrupt(
                            "no license row: the installation was never created".into(),
                        )
                    })?;
            let in_force = sealing::Tagged::License {
                generation,
                key: key.as_deref(),
            }
            .verify(self.seal(), tag.as_deref())
            .then(|| LicenseBinding::digest(key.as_deref()));
            let (indices, changed): (Vec<usize>, Vec<usize>) = in_month
                .into_iter()
                .partition(|&i| in_force == Some(requests[i].license.key_digest));
            for i in changed {
                outcomes[i] = Some(AdmitOutcome::LicenseChanged);
            }
            let Some(&first) = indices.first() else {
                continue;
            };
            let license = requests[first].license;
            let user_limit = i64::from(license.user_limit);

            // Who in this batch is already in the ledger?
            let mut counted: HashSet<String> = HashSet::new();
            for chunk in indices.chunks(ROWS_PER_INSERT * 4) {
                let mut query =
                    QueryBuilder::<Db>::new("SELECT seat_key FROM seats WHERE month = ");
                query.push_bind(&month_key).push(" AND seat_key IN (");
                let mut keys = query.separated(", ");
                for &i in chunk {
                    keys.push_bind(requests[i].seat.as_str());
                }
                query.push(")");
                let found: Vec<String> = query
                    .build_query_scalar()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                counted.extend(found);
            }

            // The users of each seat budget the batch names, read under
            // the month's lock like the count.
            let budgets: BTreeSet<&str> = indices
                .iter()
                .filter_map(|&i| requests[i].budget.as_ref().map(|b| b.name.as_str()))
                .collect();
            let mut budget_used = HashMap::new();
            for name in budgets {
                let used = count_budget(&mut *tx, &month_key, name).await?;
                budget_used.insert(name.to_string(), used);
            }

            // Decide in arrival order.
            let MonthPlan {
                outcomes: decided,
                new_seats,
                returning,
                active,
            } = plan_month(
                indices.iter().map(|&i| Planned {
                    index: i,
                    seat: requests[i].seat.as_str(),
                    reserved: requests[i].reserved,
                    budget: requests[i]
                        .budget
                        .as_ref()
                        .map(|b| (b.name.as_str(), b.size)),
                }),
                counted,
                active,
                Limits {
                    user_limit: license.user_limit,
                    overage_seats: license.overage_seats,
                },
                budget_used,
            )?;
            for (i, outcome) in decided {
                outcomes[i] = Some(outcome);
            }

            // The month's usage chain goes on through the new seats, in
            // the order they were counted (a month begun before the chain
            // existed stays unchained).
            let first_place = active - new_seats.len() as i64 + 1;
            let mut chain = chain_head(&month_key, stored_head)?;
            let places: Vec<Option<i64>> = (0..new_seats.len())
                .map(|k| {
                    let head = chain.as_mut()?;
                    let (i, _) = new_seats[k];
                    *head = usage_chain::next(
                        head,
                        &usage_chain::Link {
                            pseudonym: sealing::pseudonym(
                                self.seal(),
                                &month_key,
                                requests[i].seat.as_str(),
                            ),
                            at_micros: micros(requests[i].at),
                        },
                    );
                    Some(first_place + k as i64)
                })
                .collect();
            for (chunk, places) in new_seats
                .chunks(ROWS_PER_INSERT)
                .zip(places.chunks(ROWS_PER_INSERT))
            {
                let mut query = QueryBuilder::<Db>::new(
                    "INSERT INTO seats (month, seat_key, username, display_name, source, first_seen, last_login, last_client, kind, chain_seq, budget) ",
                );
                query.push_values(chunk.iter().zip(places), |mut row, (&(i, kind), place)| {
                    let request = &requests[i];
                    row.push_bind(&month_key)
                        .push_bind(request.seat.as_str())
                        .push_bind(&request.username)
                        .push_bind(&request.display_name)
                        .push_bind(request.source.as_str())
                        .push_bind(micros(request.at))
                        .push_bind(micros(request.at))
                        .push_bind(&request.client)
                        .push_bind(kind.as_str())
                        .push_bind(*place)
                        .push_bind(request.budget.as_ref().map(|b| b.name.as_str()));
                });
                query.build().execute(&mut *tx).await.map_err(unavailable)?;
            }
            for (day, users) in new_users_per_day(new_seats.iter().map(|&(i, _)| requests[i].day)) {
                sqlx::query(
                    "INSERT INTO daily_new_users (month, day, users) VALUES ($1, $2, $3)
                     ON CONFLICT (month, day) DO UPDATE SET users = daily_new_users.users + excluded.users",
                )
                .bind(&month_key)
                .bind(i64::from(day))
                .bind(users)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            }
            let returning: Vec<LastLogin<'_>> = returning
                .iter()
                .map(|&i| LastLogin {
                    month: &month_key,
                    seat: &requests[i].seat,
                    at: requests[i].at,
                    client: &requests[i].client,
                })
                .collect();
            update_last_logins(&mut tx, &returning).await?;
            sqlx::query(
                "UPDATE months SET active_users = $1, user_limit = $2,
                     peak_tenths = CASE WHEN peak_tenths > $3 THEN peak_tenths ELSE $3 END,
                     sealed_count = $5, chain_head = $6
                 WHERE month = $4",
            )
            .bind(active)
            .bind(user_limit)
            .bind(peak_tenths(active, user_limit))
            .bind(&month_key)
            .bind(sealing::seal_count(self.seal(), &month_key, active))
            .bind(chain.map(|head| head.to_vec()))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(outcomes
            .into_iter()
            .map(|o| o.expect("every request was decided"))
            .collect())
    }

    async fn seat_status(&self, month: Month, seat: &SeatKey) -> StoreResult<SeatStatus> {
        let month_key = month_text(month);
        // One statement, so the count and the membership come from one snapshot.
        let (shown, sealed, counted): (Option<i64>, Option<Vec<u8>>, bool) = sqlx::query_as(
            "SELECT (SELECT active_users FROM months WHERE month = $1),
                    (SELECT sealed_count FROM months WHERE month = $1),
                    EXISTS (SELECT 1 FROM seats WHERE month = $1 AND seat_key = $2)",
        )
        .bind(&month_key)
        .bind(seat.as_str())
        .fetch_one(self.pool())
        .await
        .map_err(unavailable)?;
        Ok(SeatStatus {
            active_users: shown_count(self.seal(), &month_key, shown, sealed)?,
            counted,
        })
    }

    async fn active_users(&self, month: Month) -> StoreResult<u32> {
        let month_key = month_text(month);
        let row: Option<(i64, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT active_users, sealed_count FROM months WHERE month = $1")
                .bind(&month_key)
                .fetch_optional(self.pool())
                .await
                .map_err(unavailable)?;
        let (shown, sealed) = row.unzip();
        shown_count(self.seal(), &month_key, shown, sealed.flatten())
    }

    async fn budget_usage(&self, month: Month) -> StoreResult<Vec<(String, u32)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT budget, COUNT(*) FROM seats WHERE month = $1 AND budget IS NOT NULL
             GROUP BY budget ORDER BY budget",
        )
        .bind(month_text(month))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.into_iter()
            .map(|(name, used)| Ok((name, count(used)?)))
            .collect()
    }

    async fn budget_used(&self, month: Month, name: &str) -> StoreResult<u32> {
        count_budget(self.pool(), &month_text(month), name).await
    }

    async fn record_logins(&self, logins: &[LoginRecord]) -> StoreResult<()> {
        if logins.is_empty() {
            return Ok(());
        }
        // Logins are of one month or two: each spelled once.
        let mut months: HashMap<Month, String> = HashMap::new();
        for login in logins {
            months
                .entry(login.month)
                .or_insert_with(|| month_text(login.month));
        }
        let logins: Vec<LastLogin<'_>> = logins
            .iter()
            .map(|login| LastLogin {
                month: &months[&login.month],
                seat: &login.seat,
                at: login.at,
                client: &login.client,
            })
            .collect();
        let mut tx = self.begin_write().await?;
        update_last_logins(&mut tx, &logins).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn record_refusals(&self, refusals: &[RefusalRecord]) -> StoreResult<()> {
        if refusals.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for refusal in refusals {
            sqlx::query(
                "INSERT INTO limit_refusals (month, seat_key, username, first_refused, last_refused, attempts, last_client)
                 VALUES ($1, $2, $3, $4, $4, $5, $6)
                 ON CONFLICT (month, seat_key) DO UPDATE SET
                     attempts = limit_refusals.attempts + excluded.attempts,
                     first_refused = CASE WHEN limit_refusals.first_refused < excluded.first_refused
                                          THEN limit_refusals.first_refused ELSE excluded.first_refused END,
                     last_client = CASE WHEN excluded.last_refused >= limit_refusals.last_refused
                                        THEN excluded.last_client ELSE limit_refusals.last_client END,
                     last_refused = CASE WHEN limit_refusals.last_refused > excluded.last_refused
                                         THEN limit_refusals.last_refused ELSE excluded.last_refused END",
            )
            .bind(month_text(refusal.month))
            .bind(refusal.seat.as_str())
            .bind(&refusal.username)
            .bind(micros(refusal.at))
            .bind(i64::from(refusal.attempts))
            .bind(&refusal.client)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn refused_users(&self, month: Month) -> StoreResult<Vec<RefusedUser>> {
        let rows = sqlx::query(
            "SELECT username, first_refused, last_refused, attempts, last_client FROM limit_refusals
             WHERE month = $1 ORDER BY last_refused DESC, seat_key",
        )
        .bind(month_text(month))
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(RefusedUser {
                    username: get(row, "username")?,
                    first_refused: timestamp(get(row, "first_refused")?)?,
                    last_refused: timestamp(get(row, "last_refused")?)?,
                    attempts: count(get(row, "attempts")?)?,
                    last_client: get(row, "last_client")?,
                })
            })
            .collect()
    }

    async fn seats(&self, query: &SeatQuery) -> StoreResult<Vec<SeatRecord>> {
        let column = match query.order {
            SeatOrder::Username => "username",
            SeatOrder::FirstSeen => "first_seen",
            SeatOrder::LastLogin => "last_login",
        };
        let mut sql = QueryBuilder::<Db>::new(
            "SELECT seat_key, username, display_name, source, first_seen, last_login, last_client, kind, budget FROM seats WHERE month = ",
        );
        sql.push_bind(month_text(query.month));
        if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
            // A prefix is a range of the (month, username) index.
            let low = search.to_lowercase();
            let high = format!("{low}\u{10FFFF}");
            sql.push(" AND username >= ")
                .push_bind(low)
                .push(" AND username < ")
                .push_bind(high);
        }
        if let Some(SeatCursor { value, seat }) = &query.after {
            sql.push(format!(
                " AND ({column}, seat_key) {} (",
                if query.descending { "<" } else { ">" }
            ));
            match value {
                SortValue::Text(text) => sql.push_bind(text.clone()),
                SortValue::Time(at) => sql.push_bind(micros(*at)),
            };
            sql.push(", ")
                .push_bind(seat.as_str().to_string())
                .push(")");
        }
        let direction = if query.descending { "DESC" } else { "ASC" };
        sql.push(format!(
            " ORDER BY {column} {direction}, seat_key {direction}"
        ));
        if let Some(limit) = query.limit {
            sql.push(" LIMIT ").push_bind(i64::from(limit));
        }
        let rows = sql
            .build()
            .fetch_all(self.pool())
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(SeatRecord {
                    seat: SeatKey::from_stored(get(row, "seat_key")?),
                    username: get(row, "username")?,
                    display_name: get(row, "display_name")?,
                    source: source(&get::<String>(row, "source")?)?,
                    first_seen: timestamp(get(row, "first_seen")?)?,
                    last_login: timestamp(get(row, "last_login")?)?,
                    last_client: get(row, "last_client")?,
                    kind: seat_kind(&get::<String>(row, "kind")?)?,
                    budget: get(row, "budget")?,
                })
            })
            .collect()
    }

    async fn daily_new_users(&self, month: Month) -> StoreResult<Vec<DailyNewUsers>> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT day, users FROM daily_new_users WHERE month = $1 ORDER BY day")
                .bind(month_text(month))
                .fetch_all(self.pool())
                .await
                .map_err(unavailable)?;
        rows.into_iter()
            .map(|(day, users)| {
                Ok(DailyNewUsers {
                    day: i8::try_from(day)
                        .map_err(|_| StoreError::Corrupt(format!("day {day}")))?,
                    users: count(users)?,
                })
            })
            .collect()
    }

    async fn month_usage(&self) -> StoreResult<Vec<MonthUsageRecord>> {
        let rows = sqlx::query(
            "SELECT month, active_users, user_limit, peak_tenths, chain_head FROM months ORDER BY month",
        )
        .fetch_all(self.pool())
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let month: String = get(row, "month")?;
                Ok(MonthUsageRecord {
                    chain_head: chain_head(&month, get(row, "chain_head")?)?,
                    month: parse_month(&month)?,
                    active_users: count(get(row, "active_users")?)?,
                    user_limit: count(get(row, "user_limit")?)?,
                    peak_tenths: u64::try_from(get::<i64>(row, "peak_tenths")?)
                        .map_err(|_| StoreError::Corrupt("negative peak".into()))?,
                })
            })
            .collect()
    }

    async fn usage_chain(&self, month: Month) -> StoreResult<Option<UsageChainRecord>> {
        let month_key = month_text(month);
        let mut tx = self.pool().begin().await.map_err(unavailable)?;
        let stored: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT chain_head FROM months WHERE month = $1")
                .bind(&month_key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
        let Some(head) = chain_head(&month_key, stored.flatten())? else {
            return Ok(None);
        };
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT seat_key, first_seen FROM seats WHERE month = $1 AND chain_seq IS NOT NULL ORDER BY chain_seq",
        )
        .bind(&month_key)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        let links = rows
            .iter()
            .map(|(seat_key, first_seen)| usage_chain::Link {
                pseudonym: sealing::pseudonym(self.seal(), &month_key, seat_key),
                at_micros: *first_seen,
            })
            .collect();
        Ok(Some(UsageChainRecord { head, links }))
    }
}

/// Users counted in `month` against the budget `name`.
async fn count_budget<'e>(
    executor: impl sqlx::Executor<'e, Database = Db>,
    month: &str,
    name: &str,
) -> StoreResult<u32> {
    let used: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM seats WHERE month = $1 AND budget = $2")
            .bind(month)
            .bind(name)
            .fetch_one(executor)
            .await
            .map_err(unavailable)?;
    count(used)
}

/// A stored chain head: `None` for an unchained month.
fn chain_head(month: &str, stored: Option<Vec<u8>>) -> StoreResult<Option<[u8; 32]>> {
    stored
        .map(|head| <[u8; 32]>::try_from(head.as_slice()))
        .transpose()
        .map_err(|_| StoreError::Corrupt(format!("the usage chain head of {month}")))
}

/// A seat's login to record: moves its last login (and client) forward,
/// never back; a seat that is not there is left alone.
struct LastLogin<'a> {
    month: &'a str,
    seat: &'a SeatKey,
    at: Timestamp,
    client: &'a str,
}

/// Records `logins` (at most one per seat and month), a few hundred seats
/// to a statement.
async fn update_last_logins(
    tx: &mut sqlx::Transaction<'static, Db>,
    logins: &[LastLogin<'_>],
) -> StoreResult<()> {
    for chunk in logins.chunks(ROWS_PER_INSERT * 4) {
        let mut query = QueryBuilder::<Db>::new(
            "WITH logins (login_month, login_seat, login_at, login_client) AS (",
        );
        query.push_values(chunk, |mut row, login| {
            row.push_bind(login.month)
                .push_bind(login.seat.as_str())
                .push_bind(micros(login.at))
                .push_bind(login.client);
        });
        query.push(
            ") UPDATE seats SET
                 last_client = CASE WHEN logins.login_at >= seats.last_login
                                    THEN logins.login_client ELSE seats.last_client END,
                 last_login = CASE WHEN seats.last_login > logins.login_at
                                   THEN seats.last_login ELSE logins.login_at END
             FROM logins
             WHERE seats.month = logins.login_month AND seats.seat_key = logins.login_seat",
        );
        // Not kept prepared: every batch size is a statement of its own.
        query
            .build()
            .persistent(false)
            .execute(&mut **tx)
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

/// A month's count as shown: the sealed one (0 for a month without a
/// row); the plain column only when the sealed one does not open
/// (admission then refuses to decide on it).
fn shown_count(
    seal: &SealingKey,
    month: &str,
    shown: Option<i64>,
    sealed: Option<Vec<u8>>,
) -> StoreResult<u32> {
    let Some(shown) = shown else {
        return Ok(0);
    };
    count(sealing::open_count(seal, month, sealed.as_deref()).unwrap_or(shown))
}
