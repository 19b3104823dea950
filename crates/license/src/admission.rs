//! The admission decision of SPEC §3: may this user enter now?
//!
//! The decision is pure. The store repeats the limit part atomically when a
//! new user is counted; this function is also what is asked before a second
//! factor is requested, so a refused user is never prompted for a code.

use jiff::Timestamp;

/// The exact text of a limit refusal (RADIUS Reply-Message, CLI, panel).
pub const USER_LIMIT_EXCEEDED: &str =
    "User limit exceeded, please contact your system administrator";

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

/// The parts of the license in force that admission needs, resolved for
/// the license time zone so the decision is a pair of comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub user_limit: u32,
    /// 00:00 after the Support End Date, license time zone.
    pub expires_at: Timestamp,
}

impl Terms {
    /// The Support End Date has passed at `now`: the one comparison every
    /// expiry check makes (the date form is [`crate::calendar::is_expired`]).
    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

/// The outcome for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted earlier this month: free for the rest of the month.
    AlreadyCounted,
    /// A new user and a free seat: count, then accept.
    Admit,
    /// A new user and no free seat.
    LimitExceeded,
    /// The Support End Date has passed: nobody enters.
    Expired,
}

/// Decides admission. Expiry wins over everything; users already counted
/// stay in all month even when the limit is full or was lowered.
pub fn decide(terms: Terms, now: Timestamp, seats: SeatState) -> Admission {
    if terms.expired(now) {
        Admission::Expired
    } else if seats.already_counted {
        Admission::AlreadyCounted
    } else if seats.active_users < terms.user_limit {
        Admission::Admit
    } else {
        Admission::LimitExceeded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    const NOW: &str = "2026-11-28T12:00:00Z";

    fn terms(user_limit: u32) -> Terms {
        Terms {
            user_limit,
            expires_at: ts("2027-02-01T00:00:00Z"),
        }
    }

    fn seats(active_users: u32, already_counted: bool) -> SeatState {
        SeatState {
            active_users,
            already_counted,
        }
    }

    /// SPEC §3, one row per rule.
    #[test]
    fn admission_rules() {
        let cases = [
            (
                "limit not full: new user admitted",
                terms(200),
                seats(150, false),
                Admission::Admit,
            ),
            (
                "last free seat",
                terms(200),
                seats(199, false),
                Admission::Admit,
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
                Admission::Admit,
            ),
            (
                "new month starts from zero",
                terms(200),
                seats(0, false),
                Admission::Admit,
            ),
        ];
        for (rule, terms, seats, expected) in cases {
            assert_eq!(decide(terms, ts(NOW), seats), expected, "{rule}");
        }
    }

    #[test]
    fn expiry_refuses_everyone_including_counted_users() {
        let expired_at = ts("2027-02-01T00:00:00Z");
        assert_eq!(
            decide(terms(200), expired_at, seats(10, true)),
            Admission::Expired
        );
        assert_eq!(
            decide(terms(200), expired_at, seats(10, false)),
            Admission::Expired
        );
        let last_second = ts("2027-01-31T23:59:59Z");
        assert_eq!(
            decide(terms(200), last_second, seats(10, true)),
            Admission::AlreadyCounted
        );
    }
}
