//! The admission of one month's batch, decided before any row is written
//! (pure: the SQL in `sql/seats.rs` reads the inputs under the month's lock
//! and writes what this returns). Requests are decided in arrival order: a
//! user already in the ledger is let in without a seat; a new one takes a
//! seat while `active < limit`; the rest are refused. Two requests of one
//! new user in a batch take one seat.

use std::collections::{BTreeMap, HashSet};

use gatehouse_core::store::{AdmitOutcome, StoreResult};

use crate::shared::count;

/// What the batch comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MonthPlan {
    /// Each request's outcome, by its index in the batch.
    pub outcomes: Vec<(usize, AdmitOutcome)>,
    /// Requests that take a new seat (insert a ledger row).
    pub new_seats: Vec<usize>,
    /// Requests of users already counted (their last login is updated).
    pub returning: Vec<usize>,
    /// The month's count afterwards.
    pub active: i64,
}

/// Decides `requests` (index in the batch, seat key), in order, against a
/// month holding `active` users under `user_limit`, of whom `counted` are
/// in this batch already.
pub(crate) fn plan_month<'a>(
    requests: impl IntoIterator<Item = (usize, &'a str)>,
    mut counted: HashSet<String>,
    mut active: i64,
    user_limit: i64,
) -> StoreResult<MonthPlan> {
    let mut plan = MonthPlan {
        outcomes: Vec::new(),
        new_seats: Vec::new(),
        returning: Vec::new(),
        active,
    };
    for (i, seat) in requests {
        let outcome = if counted.contains(seat) {
            plan.returning.push(i);
            AdmitOutcome::AlreadyCounted {
                active_users: count(active)?,
            }
        } else if active < user_limit {
            active += 1;
            counted.insert(seat.to_string());
            plan.new_seats.push(i);
            AdmitOutcome::Counted {
                active_users: count(active)?,
            }
        } else {
            AdmitOutcome::LimitExceeded {
                active_users: count(active)?,
                user_limit: count(user_limit)?,
            }
        };
        plan.outcomes.push((i, outcome));
    }
    plan.active = active;
    Ok(plan)
}

/// New seats per day of the month, for `daily_new_users`.
pub(crate) fn new_users_per_day(days: impl IntoIterator<Item = i8>) -> BTreeMap<i8, i64> {
    let mut per_day = BTreeMap::new();
    for day in days {
        *per_day.entry(day).or_default() += 1;
    }
    per_day
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(seats: &[&str]) -> HashSet<String> {
        seats.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arrival_order_decides_the_last_seat() {
        let plan = plan_month(
            [(0, "local:a"), (1, "local:b"), (2, "local:c")],
            counted(&[]),
            8,
            10,
        )
        .unwrap();
        assert_eq!(plan.new_seats, [0, 1]);
        assert_eq!(plan.active, 10);
        assert_eq!(
            plan.outcomes,
            [
                (0, AdmitOutcome::Counted { active_users: 9 }),
                (1, AdmitOutcome::Counted { active_users: 10 }),
                (
                    2,
                    AdmitOutcome::LimitExceeded {
                        active_users: 10,
                        user_limit: 10
                    }
                ),
            ]
        );
    }

    #[test]
    fn counted_users_stay_in_over_a_full_or_lowered_limit() {
        let plan = plan_month([(3, "local:a")], counted(&["local:a"]), 12, 10).unwrap();
        assert_eq!(plan.returning, [3]);
        assert!(plan.new_seats.is_empty());
        assert_eq!(plan.active, 12);
        assert_eq!(
            plan.outcomes,
            [(3, AdmitOutcome::AlreadyCounted { active_users: 12 })]
        );
    }

    #[test]
    fn one_new_user_twice_in_a_batch_takes_one_seat() {
        let plan = plan_month([(0, "local:a"), (1, "local:a")], counted(&[]), 0, 5).unwrap();
        assert_eq!(plan.new_seats, [0]);
        assert_eq!(plan.returning, [1]);
        assert_eq!(plan.active, 1);
    }

    #[test]
    fn a_count_out_of_range_is_corrupt_not_a_panic() {
        assert!(plan_month([(0, "local:a")], counted(&[]), -5, 10).is_err());
    }

    #[test]
    fn new_users_are_counted_per_day() {
        assert_eq!(
            new_users_per_day([3, 1, 3, 3]),
            BTreeMap::from([(1, 1), (3, 3)])
        );
    }
}
