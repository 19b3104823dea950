//! The admission decision of SPEC §3: may this user enter now?
//!
//! The decision is pure. The store repeats the limit part atomically when a
//! new user is counted; this function is also what is asked before a second
//! factor is requested, so a refused user is never prompted for a code.

use jiff::Timestamp;

use crate::license::LicenseStatus;

/// The exact text of a limit refusal (RADIUS Reply-Message, CLI, panel).
pub const USER_LIMIT_EXCEEDED: &str =
    "User limit exceeded, please contact your system administrator";

/// The exact text of a refusal for a full seat budget (SPEC §16).
pub fn budget_exceeded(budget: &str) -> String {
    format!("User limit exceeded for {budget}, please contact your system administrator")
}

/// The exact text of an expiry refusal.
pub const LICENSE_EXPIRED: &str = "License expired, please contact your system administrator";

/// The exact text of a refusal while the license records are damaged
/// (SPEC §11).
pub const LICENSE_DAMAGED: &str = "License data damaged, please contact your system administrator";

/// The log event when a license record's binding to the installation does
/// not verify: logins fail closed until a valid vendor key is installed.
pub const LICENSE_DATA_DAMAGED_EVENT: &str = "License data damaged";

/// The log event when a row that only caches a signed value disagrees with
/// it (the signed value is used).
pub const LICENSE_RECORD_ALTERED_EVENT: &str = "License record altered outside Gatehouse";

/// The log event written with the username when a new user is turned away.
pub const LICENSE_USER_LIMIT_EXCEEDED_EVENT: &str = "License user limit exceeded";

/// The log event written when an authentication is refused for expiry.
pub const LICENSE_EXPIRED_EVENT: &str = "License expired";

/// What the month looks like to one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatState {
    /// Users counted this month.
    pub active_users: u32,
    /// Whether this user is one of them.
    pub already_counted: bool,
}

/// What an administrator decided about one user, within what the license
/// grants (SPEC §16). The default is an ordinary user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// Never counted (a service or monitoring account).
    pub exempt: bool,
    /// Break-glass: counted, but never refused for the limit.
    pub reserved: bool,
    /// The seat budget the user falls under, if any.
    pub budget: Option<Budget>,
}

/// One seat budget as it stands this month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Users counted this month under the budget.
    pub used: u32,
    /// Users the budget may hold.
    pub size: u32,
}

/// The seats a month has: the limit and the allowance past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub user_limit: u32,
    /// Seats past the limit the vendor's overage allowance grants.
    pub overage_seats: u32,
}

impl Limits {
    /// The most users counted for the limit: `user_limit + overage_seats`.
    pub fn cap(self) -> u32 {
        self.user_limit.saturating_add(self.overage_seats)
    }
}

/// How a newly counted user got their seat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SeatKind {
    /// Within the user limit.
    #[default]
    Within,
    /// Past the limit, within the vendor's overage allowance.
    Overage,
    /// Past the limit as a break-glass user.
    Reserved,
}

impl SeatKind {
    /// The stored and exported form.
    pub fn as_str(self) -> &'static str {
        match self {
            SeatKind::Within => "within",
            SeatKind::Overage => "overage",
            SeatKind::Reserved => "reserved",
        }
    }

    pub fn parse(text: &str) -> Option<SeatKind> {
        [SeatKind::Within, SeatKind::Overage, SeatKind::Reserved]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Whether a new user takes a seat in a month holding `active` users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewSeat {
    Take(SeatKind),
    /// The month is full under the limit and its allowance.
    LimitExceeded,
    /// The user's seat budget is full (the month is not).
    BudgetExceeded,
}

/// The limit part of admission, for a user not counted yet: the one rule
/// the service asks before a second factor and the store applies under the
/// month's lock. A break-glass user always takes a seat; anyone else takes
/// one while the month is below its cap and their budget below its size.
pub fn new_seat(limits: Limits, active: u32, standing: Standing) -> NewSeat {
    let kind = if active < limits.user_limit {
        SeatKind::Within
    } else if standing.reserved {
        return NewSeat::Take(SeatKind::Reserved);
    } else if active < limits.cap() {
        SeatKind::Overage
    } else {
        return NewSeat::LimitExceeded;
    };
    match standing.budget {
        Some(budget) if !standing.reserved && budget.used >= budget.size => NewSeat::BudgetExceeded,
        _ => NewSeat::Take(kind),
    }
}

/// The parts of the license in force that admission needs, resolved for
/// the license time zone so the decision is a few comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub limits: Limits,
    /// 00:00 after the Support End Date, license time zone.
    pub expires_at: Timestamp,
    /// The end of the grace the key grants after the Support End Date
    /// (`expires_at` when it grants none).
    pub grace_ends_at: Timestamp,
}

impl Terms {
    /// The Support End Date has passed at `now`: the one comparison every
    /// expiry check makes (the date form is [`crate::calendar::is_expired`]).
    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// Past the Support End Date and past any grace: nobody logs in.
    pub fn closed(&self, now: Timestamp) -> bool {
        now >= self.grace_ends_at
    }

    /// Valid, in grace or expired at `now` (damage is the service's to
    /// know).
    pub fn status(&self, now: Timestamp) -> LicenseStatus {
        if self.closed(now) {
            LicenseStatus::Expired
        } else if self.expired(now) {
            LicenseStatus::Grace
        } else {
            LicenseStatus::Valid
        }
    }
}

/// The outcome for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted earlier this month: free for the rest of the month.
    AlreadyCounted,
    /// An exempt account: accepted, never counted.
    Exempt,
    /// A new user given a seat of this kind: count, then accept.
    Admit(SeatKind),
    /// A new user and no free seat.
    LimitExceeded,
    /// A new user whose seat budget is full.
    BudgetExceeded,
    /// The Support End Date has passed (and, for a user not counted this
    /// month or past the grace, nobody enters).
    Expired,
}

/// Decides admission. Past the grace nobody enters; within it only users
/// counted this month and exempt accounts do; users already counted stay in
/// all month even when the limit is full or was lowered.
pub fn decide(terms: Terms, now: Timestamp, seats: SeatState, standing: Standing) -> Admission {
    if terms.closed(now) {
        Admission::Expired
    } else if standing.exempt {
        Admission::Exempt
    } else if seats.already_counted {
        Admission::AlreadyCounted
    } else if terms.expired(now) {
        Admission::Expired
    } else {
        match new_seat(terms.limits, seats.active_users, standing) {
            NewSeat::Take(kind) => Admission::Admit(kind),
            NewSeat::LimitExceeded => Admission::LimitExceeded,
            NewSeat::BudgetExceeded => Admission::BudgetExceeded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    const NOW: &str = "2026-11-28T12:00:00Z";
    const END: &str = "2027-02-01T00:00:00Z";
    const GRACE_END: &str = "2027-02-15T00:00:00Z";

    fn terms(user_limit: u32) -> Terms {
        granted(user_limit, 0)
    }

    fn granted(user_limit: u32, overage_seats: u32) -> Terms {
        Terms {
            limits: Limits {
                user_limit,
                overage_seats,
            },
            expires_at: ts(END),
            grace_ends_at: ts(END),
        }
    }

    fn with_grace(terms: Terms) -> Terms {
        Terms {
            grace_ends_at: ts(GRACE_END),
            ..terms
        }
    }

    fn seats(active_users: u32, already_counted: bool) -> SeatState {
        SeatState {
            active_users,
            already_counted,
        }
    }

    const ORDINARY: Standing = Standing {
        exempt: false,
        reserved: false,
        budget: None,
    };
    const EXEMPT: Standing = Standing {
        exempt: true,
        ..ORDINARY
    };
    const RESERVED: Standing = Standing {
        reserved: true,
        ..ORDINARY
    };

    fn budgeted(used: u32, size: u32) -> Standing {
        Standing {
            budget: Some(Budget { used, size }),
            ..ORDINARY
        }
    }

    /// SPEC §3, one row per rule: a key without options.
    #[test]
    fn admission_rules() {
        let cases = [
            (
                "limit not full: new user admitted",
                terms(200),
                seats(150, false),
                Admission::Admit(SeatKind::Within),
            ),
            (
                "last free seat",
                terms(200),
                seats(199, false),
                Admission::Admit(SeatKind::Within),
            ),
            (
                "limit full: new user refused",
                terms(200),
                seats(200, false),
                Admission::LimitExceeded,
            ),
            (
                "limit full: returning user enters",
                terms(200),
                seats(200, true),
                Admission::AlreadyCounted,
            ),
            (
                "lower limit than count: counted users stay",
                terms(100),
                seats(150, true),
                Admission::AlreadyCounted,
            ),
            (
                "lower limit than count: new users refused",
                terms(100),
                seats(150, false),
                Admission::LimitExceeded,
            ),
            (
                "higher limit lets refused users in",
                terms(300),
                seats(200, false),
                Admission::Admit(SeatKind::Within),
            ),
            (
                "new month starts from zero",
                terms(200),
                seats(0, false),
                Admission::Admit(SeatKind::Within),
            ),
        ];
        for (rule, terms, seats, expected) in cases {
            assert_eq!(decide(terms, ts(NOW), seats, ORDINARY), expected, "{rule}");
        }
    }

    #[test]
    fn expiry_refuses_everyone_including_counted_users() {
        let expired_at = ts(END);
        for standing in [ORDINARY, EXEMPT, RESERVED] {
            for counted in [true, false] {
                assert_eq!(
                    decide(terms(200), expired_at, seats(10, counted), standing),
                    Admission::Expired
                );
            }
        }
        let last_second = ts("2027-01-31T23:59:59Z");
        assert_eq!(
            decide(terms(200), last_second, seats(10, true), ORDINARY),
            Admission::AlreadyCounted
        );
    }

    /// SPEC §16: every option, alone and together, at its boundaries.
    /// Limit 200 with 10% overage: 20 seats past the limit, cap 220.
    #[test]
    fn options_at_their_boundaries() {
        use Admission::*;
        use SeatKind::*;
        let strict = terms(200);
        let overage = granted(200, 20);
        let grace = with_grace(terms(200));
        let all = with_grace(granted(200, 20));
        let now = ts(NOW);
        let in_grace = ts(END);
        let grace_last_second = ts("2027-02-14T23:59:59Z");
        let after_grace = ts(GRACE_END);
        #[rustfmt::skip]
        let cases = [
            // Overage allowance.
            ("strict: limit full", strict, now, seats(200, false), ORDINARY, LimitExceeded),
            ("overage: last seat within the limit", overage, now, seats(199, false), ORDINARY, Admit(Within)),
            ("overage: first seat past the limit", overage, now, seats(200, false), ORDINARY, Admit(Overage)),
            ("overage: last seat of the allowance", overage, now, seats(219, false), ORDINARY, Admit(Overage)),
            ("overage: allowance full", overage, now, seats(220, false), ORDINARY, LimitExceeded),
            ("overage: counted user past the cap", overage, now, seats(230, true), ORDINARY, AlreadyCounted),
            // Break-glass seats.
            ("reserved: limit not full, an ordinary seat", strict, now, seats(10, false), RESERVED, Admit(Within)),
            ("reserved: strict limit full", strict, now, seats(200, false), RESERVED, Admit(Reserved)),
            ("reserved: allowance full", overage, now, seats(220, false), RESERVED, Admit(Reserved)),
            ("reserved: far past the cap", overage, now, seats(400, false), RESERVED, Admit(Reserved)),
            ("reserved: counted already", overage, now, seats(400, true), RESERVED, AlreadyCounted),
            ("reserved: in grace, not counted", all, in_grace, seats(10, false), RESERVED, Expired),
            ("reserved: after grace", all, after_grace, seats(10, true), RESERVED, Expired),
            // Exempt accounts.
            ("exempt: month empty", strict, now, seats(0, false), EXEMPT, Exempt),
            ("exempt: month full", strict, now, seats(200, false), EXEMPT, Exempt),
            ("exempt: allowance full", overage, now, seats(220, false), EXEMPT, Exempt),
            ("exempt: counted before being marked", strict, now, seats(200, true), EXEMPT, Exempt),
            ("exempt: in grace", grace, in_grace, seats(200, false), EXEMPT, Exempt),
            ("exempt: expired without grace", strict, in_grace, seats(10, false), EXEMPT, Expired),
            ("exempt: after grace", all, after_grace, seats(10, false), EXEMPT, Expired),
            // Seat budgets.
            ("budget: last seat", strict, now, seats(10, false), budgeted(39, 40), Admit(Within)),
            ("budget: full, month not", strict, now, seats(10, false), budgeted(40, 40), BudgetExceeded),
            ("budget: full, month full too", strict, now, seats(200, false), budgeted(40, 40), LimitExceeded),
            ("budget: room, month full", strict, now, seats(200, false), budgeted(1, 40), LimitExceeded),
            ("budget: room, overage seat", overage, now, seats(205, false), budgeted(1, 40), Admit(Overage)),
            ("budget: full, overage left", overage, now, seats(205, false), budgeted(40, 40), BudgetExceeded),
            ("budget: full, counted user", strict, now, seats(10, true), budgeted(40, 40), AlreadyCounted),
            ("budget: empty budget", strict, now, seats(10, false), budgeted(0, 0), BudgetExceeded),
            (
                "budget: full, break-glass user",
                strict, now, seats(10, false),
                Standing { reserved: true, ..budgeted(40, 40) },
                Admit(Within),
            ),
            (
                "budget: full, exempt account",
                strict, now, seats(10, false),
                Standing { exempt: true, ..budgeted(40, 40) },
                Exempt,
            ),
            // Grace after the Support End Date.
            ("grace: last second before the end", grace, ts("2027-01-31T23:59:59Z"), seats(10, false), ORDINARY, Admit(Within)),
            ("grace: counted user at the end", grace, in_grace, seats(10, true), ORDINARY, AlreadyCounted),
            ("grace: new user at the end", grace, in_grace, seats(10, false), ORDINARY, Expired),
            ("grace: counted user, last second", grace, grace_last_second, seats(10, true), ORDINARY, AlreadyCounted),
            ("grace: counted user after it", grace, after_grace, seats(10, true), ORDINARY, Expired),
            ("grace: no grace granted", strict, in_grace, seats(10, true), ORDINARY, Expired),
            ("grace: new user with overage left", all, in_grace, seats(205, false), ORDINARY, Expired),
            ("grace: new user with a budget", all, in_grace, seats(10, false), budgeted(0, 40), Expired),
            ("grace: counted user past the cap", all, grace_last_second, seats(300, true), ORDINARY, AlreadyCounted),
        ];
        for (rule, terms, at, seats, standing, expected) in cases {
            assert_eq!(decide(terms, at, seats, standing), expected, "{rule}");
        }
    }

    #[test]
    fn seat_kinds_round_trip_their_stored_form() {
        for kind in [SeatKind::Within, SeatKind::Overage, SeatKind::Reserved] {
            assert_eq!(SeatKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SeatKind::parse("Overage"), None);
    }

    #[test]
    fn the_cap_never_overflows() {
        let limits = Limits {
            user_limit: u32::MAX,
            overage_seats: u32::MAX,
        };
        assert_eq!(limits.cap(), u32::MAX);
        assert_eq!(new_seat(limits, u32::MAX, ORDINARY), NewSeat::LimitExceeded);
    }
}
