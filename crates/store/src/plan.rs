//! The admission of one month's batch, decided before any row is written
//! (pure: the SQL in `sql/seats.rs` reads the inputs under the month's lock
//! and writes what this returns). Requests are decided in arrival order: a
//! user already in the ledger is let in without a seat; a new one takes a
//! seat while `active < limit + overage allowance` (past the limit, an
//! overage seat); the rest are refused. Two requests of one new user in a
//! batch take one seat.

use std::collections::{BTreeMap, HashMap, HashSet};

use gatehouse_core::store::{AdmitOutcome, StoreResult};
use gatehouse_license::admission::{Budget, Limits, NewSeat, SeatKind, Standing, new_seat};

use crate::shared::count;

/// What the batch comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MonthPlan {
    /// Each request's outcome, by its index in the batch.
    pub outcomes: Vec<(usize, AdmitOutcome)>,
    /// Requests that take a new seat (insert a ledger row), with the kind
    /// of seat each takes.
    pub new_seats: Vec<(usize, SeatKind)>,
    /// Requests of users already counted (their last login is updated).
    pub returning: Vec<usize>,
    /// The month's count afterwards.
    pub active: i64,
}

/// One request as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned<'a> {
    /// Its index in the batch.
    pub index: usize,
    pub seat: &'a str,
    /// Break-glass.
    pub reserved: bool,
    /// The seat budget it counts against: name and size.
    pub budget: Option<(&'a str, u32)>,
}

/// Decides `requests`, in order, against a month holding `active` users
/// under `limits`, of whom `counted` are in this batch already, and
/// `budget_used` users of each budget (by name; absent: none yet); a new
/// user's seat follows [`gatehouse_license::admission::new_seat`].
pub(crate) fn plan_month<'a>(
    requests: impl IntoIterator<Item = Planned<'a>>,
    mut counted: HashSet<String>,
    active: i64,
    limits: Limits,
    mut budget_used: HashMap<String, u32>,
) -> StoreResult<MonthPlan> {
    let mut active = count(active)?;
    let mut plan = MonthPlan {
        outcomes: Vec::new(),
        new_seats: Vec::new(),
        returning: Vec::new(),
        active: i64::from(active),
    };
    for Planned {
        index: i,
        seat,
        reserved,
        budget,
    } in requests
    {
        let outcome = if counted.contains(seat) {
            plan.returning.push(i);
            AdmitOutcome::AlreadyCounted {
                active_users: active,
            }
        } else {
            let standing = Standing {
                reserved,
                budget: budget.map(|(name, size)| Budget {
                    used: budget_used.get(name).copied().unwrap_or(0),
                    size,
                }),
                ..Standing::default()
            };
            match new_seat(limits, active, standing) {
                NewSeat::Take(kind) => {
                    active += 1;
                    if let Some((name, _)) = budget {
                        *budget_used.entry(name.to_string()).or_default() += 1;
                    }
                    counted.insert(seat.to_string());
                    plan.new_seats.push((i, kind));
                    AdmitOutcome::Counted {
                        active_users: active,
                        kind,
                    }
                }
                NewSeat::LimitExceeded => AdmitOutcome::LimitExceeded {
                    active_users: active,
                    user_limit: limits.user_limit,
                },
                NewSeat::BudgetExceeded => AdmitOutcome::BudgetExceeded {
                    active_users: active,
                },
            }
        };
        plan.outcomes.push((i, outcome));
    }
    plan.active = i64::from(active);
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

    fn plain(index: usize, seat: &str, reserved: bool) -> Planned<'_> {
        Planned {
            index,
            seat,
            reserved,
            budget: None,
        }
    }

    fn limit(user_limit: u32) -> Limits {
        Limits {
            user_limit,
            overage_seats: 0,
        }
    }

    #[test]
    fn arrival_order_decides_the_last_seat() {
        let plan = plan_month(
            [
                plain(0, "local:a", false),
                plain(1, "local:b", false),
                plain(2, "local:c", false),
            ],
            counted(&[]),
            8,
            limit(10),
            HashMap::new(),
        )
        .unwrap();
        assert_eq!(
            plan.new_seats,
            [(0, SeatKind::Within), (1, SeatKind::Within)]
        );
        assert_eq!(plan.active, 10);
        assert_eq!(
            plan.outcomes,
            [
                (
                    0,
                    AdmitOutcome::Counted {
                        active_users: 9,
                        kind: SeatKind::Within
                    }
                ),
                (
                    1,
                    AdmitOutcome::Counted {
                        active_users: 10,
                        kind: SeatKind::Within
                    }
                ),
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
    fn overage_seats_follow_the_limit_until_the_allowance_is_full() {
        let limits = Limits {
            user_limit: 2,
            overage_seats: 1,
        };
        let plan = plan_month(
            [
                plain(0, "local:a", false),
                plain(1, "local:b", false),
                plain(2, "local:c", false),
                plain(3, "local:d", false),
            ],
            counted(&[]),
            1,
            limits,
            HashMap::new(),
        )
        .unwrap();
        assert_eq!(
            plan.new_seats,
            [(0, SeatKind::Within), (1, SeatKind::Overage)]
        );
        assert_eq!(plan.active, 3);
        assert_eq!(
            plan.outcomes[2..],
            [
                (
                    2,
                    AdmitOutcome::LimitExceeded {
                        active_users: 3,
                        user_limit: 2
                    }
                ),
                (
                    3,
                    AdmitOutcome::LimitExceeded {
                        active_users: 3,
                        user_limit: 2
                    }
                ),
            ]
        );
    }

    #[test]
    fn break_glass_users_take_a_seat_past_the_full_allowance() {
        let limits = Limits {
            user_limit: 2,
            overage_seats: 0,
        };
        let plan = plan_month(
            [
                plain(0, "local:a", true),
                plain(1, "local:b", false),
                plain(2, "local:c", true),
            ],
            counted(&[]),
            2,
            limits,
            HashMap::new(),
        )
        .unwrap();
        assert_eq!(
            plan.new_seats,
            [(0, SeatKind::Reserved), (2, SeatKind::Reserved)]
        );
        assert_eq!(plan.active, 4);
        assert_eq!(
            plan.outcomes[1],
            (
                1,
                AdmitOutcome::LimitExceeded {
                    active_users: 3,
                    user_limit: 2
                }
            )
        );
    }

    #[test]
    fn a_full_budget_refuses_its_users_while_others_go_on() {
        let budgeted = |index, seat, name| Planned {
            index,
            seat,
            reserved: false,
            budget: Some((name, 2)),
        };
        let plan = plan_month(
            [
                budgeted(0, "local:a", "contractors"),
                budgeted(1, "local:b", "contractors"),
                budgeted(2, "local:c", "wifi"),
                plain(3, "local:d", false),
                Planned {
                    reserved: true,
                    ..budgeted(4, "local:e", "contractors")
                },
            ],
            counted(&[]),
            0,
            limit(10),
            HashMap::from([("contractors".to_string(), 1)]),
        )
        .unwrap();
        assert_eq!(
            plan.outcomes[..2],
            [
                (
                    0,
                    AdmitOutcome::Counted {
                        active_users: 1,
                        kind: SeatKind::Within
                    }
                ),
                (1, AdmitOutcome::BudgetExceeded { active_users: 1 }),
            ]
        );
        assert_eq!(
            plan.new_seats,
            [
                (0, SeatKind::Within),
                (2, SeatKind::Within),
                (3, SeatKind::Within),
                (4, SeatKind::Within)
            ],
            "another budget, no budget and a break-glass user go on"
        );
    }

    #[test]
    fn counted_users_stay_in_over_a_full_or_lowered_limit() {
        let plan = plan_month(
            [plain(3, "local:a", false)],
            counted(&["local:a"]),
            12,
            limit(10),
            HashMap::new(),
        )
        .unwrap();
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
        let plan = plan_month(
            [plain(0, "local:a", false), plain(1, "local:a", false)],
            counted(&[]),
            0,
            limit(5),
            HashMap::new(),
        )
        .unwrap();
        assert_eq!(plan.new_seats, [(0, SeatKind::Within)]);
        assert_eq!(plan.returning, [1]);
        assert_eq!(plan.active, 1);
    }

    #[test]
    fn a_count_out_of_range_is_corrupt_not_a_panic() {
        assert!(
            plan_month(
                [plain(0, "local:a", false)],
                counted(&[]),
                -5,
                limit(10),
                HashMap::new()
            )
            .is_err()
        );
    }

    #[test]
    fn new_users_are_counted_per_day() {
        assert_eq!(
            new_users_per_day([3, 1, 3, 3]),
            BTreeMap::from([(1, 1), (3, 3)])
        );
    }
}
