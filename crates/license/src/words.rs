//! The words administrators read about the license, in one place: the CLI,
//! the panel, the API and the alarm emails all call these, so the same fact
//! is never spelled two ways.

use jiff::civil::Date;

use crate::admission::SeatKind;
use crate::calendar::Month;
use crate::key::{LicenseOptions, LicenseType};
use crate::license::{Projection, UsagePercent};

/// The days left of a license: `12 days remaining`, `1 day remaining`,
/// `last day` (the Support End Date itself), `expired yesterday`,
/// `expired 3 days ago`.
pub fn remaining(days: i32) -> String {
    match days {
        ..-1 => format!("expired {} days ago", days.unsigned_abs()),
        -1 => "expired yesterday".into(),
        0 => "last day".into(),
        1 => "1 day remaining".into(),
        days => format!("{days} days remaining"),
    }
}

/// `Demo License` or `Subscription`, as the License page shows it.
pub fn license_type(kind: LicenseType) -> &'static str {
    match kind {
        LicenseType::Demo => "Demo License",
        LicenseType::Subscription => "Subscription",
    }
}

/// The options a key grants beyond the limit, as label and value, in the
/// order the License page lists them; an option not granted is left out
/// (SPEC §16).
pub fn options(options: &LicenseOptions, user_limit: u32) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if options.overage_percent > 0 {
        let seats = options.overage_seats(user_limit);
        rows.push((
            "Overage Allowance",
            format!(
                "{}% ({} past the limit, up to {})",
                options.overage_percent,
                users(seats),
                user_limit.saturating_add(seats)
            ),
        ));
    }
    if options.grace_days > 0 {
        rows.push((
            "Grace Period",
            format!("{} after the Support End Date", days(options.grace_days)),
        ));
    }
    if options.exempt_seats > 0 {
        rows.push(("Exempt Accounts", format!("up to {}", options.exempt_seats)));
    }
    if options.reserved_seats > 0 {
        rows.push((
            "Break-glass Seats",
            format!("up to {}", options.reserved_seats),
        ));
    }
    rows
}

/// How a user got their seat, as the Users table says it: `Within limit`,
/// `Overage`, `Break-glass`.
pub fn seat_kind(kind: SeatKind) -> &'static str {
    match kind {
        SeatKind::Within => "Within limit",
        SeatKind::Overage => "Overage",
        SeatKind::Reserved => "Break-glass",
    }
}

/// `1 day`, `14 days`.
pub fn days(count: u32) -> String {
    if count == 1 {
        "1 day".into()
    } else {
        format!("{count} days")
    }
}

/// The Push Subscription field: `Active` or `Inactive` (SPEC §1).
pub fn push_subscription(active: bool) -> &'static str {
    if active { "Active" } else { "Inactive" }
}

/// `1 user counted in 2026-12`, `25 users counted in 2026-12`.
pub fn users_counted(count: u32, month: Month) -> String {
    format!("{} counted in {month}", users(count))
}

/// `1 user`, `0 users`, `25 users`.
pub fn users(count: u32) -> String {
    if count == 1 {
        "1 user".into()
    } else {
        format!("{count} users")
    }
}

/// Where this month's pace leads, in a sentence (the Analytics page).
pub fn projection(projection: Projection, active: u32, limit: u32) -> String {
    match projection {
        Projection::NoData => "Nobody has been counted this month yet.".into(),
        Projection::Reached => format!(
            "The user limit is reached this month ({active}/{limit}): new users are refused."
        ),
        Projection::ReachedOn(date) => {
            format!("At this rate the limit is reached on {date} ({active}/{limit} so far).")
        }
        Projection::NotThisMonth => {
            format!("At this rate the limit is not reached this month ({active}/{limit} so far).")
        }
    }
}

/// `User limit reached 85.5% (171/200)` (SPEC §7).
pub fn user_limit_reached(active_users: u32, user_limit: u32) -> String {
    format!(
        "User limit reached {}% ({active_users}/{user_limit})",
        UsagePercent::of(active_users, user_limit)
    )
}

/// A user-limit alarm recorded with a more urgent one: it names its own
/// threshold, `User limit at or above 75% (171/200)`.
pub fn user_limit_passed(threshold: u32, active_users: u32, user_limit: u32) -> String {
    format!("User limit at or above {threshold}% ({active_users}/{user_limit})")
}

/// `License expires in 30 days (Support End Date 2027-01-31)`; "in 1 day"
/// and "today" where those read better.
pub fn license_expires(days_remaining: i32, support_end: Date) -> String {
    let when = match days_remaining {
        ..=0 => "today".to_string(),
        1 => "in 1 day".to_string(),
        days => format!("in {days} days"),
    };
    format!("License expires {when} (Support End Date {support_end})")
}

/// A day alarm recorded with a more urgent one: it names its own
/// threshold, `License expires within 60 days (Support End Date 2027-01-31)`.
pub fn license_expires_within(threshold: u32, support_end: Date) -> String {
    let within = if threshold == 1 {
        "1 day".to_string()
    } else {
        format!("{threshold} days")
    };
    format!("License expires within {within} (Support End Date {support_end})")
}

/// `License expired on 2027-01-31`.
pub fn license_expired(support_end: Date) -> String {
    format!("License expired on {support_end}")
}

/// A license in its grace (SPEC §16): the panel's banner, the daily alarm
/// and `license show` say it in these words:
/// `License expired on 2027-01-31; grace period ends 2027-02-14 (12 days remaining): users counted this month still log in, new users are refused`.
pub fn license_in_grace(support_end: Date, grace_end: Date, days_remaining: i32) -> String {
    format!(
        "License expired on {support_end}; grace period ends {grace_end} ({}): users counted this month still log in, new users are refused",
        remaining(days_remaining)
    )
}

/// A seat budget's alarm: `Seat budget contractors-vpn reached 90.0% (36/40)`.
pub fn budget_reached(name: &str, used: u32, size: u32) -> String {
    format!(
        "Seat budget {name} reached {}% ({used}/{size})",
        UsagePercent::of(used, size)
    )
}

/// The first user admitted past the limit on the overage allowance:
/// `User limit exceeded: 201/200, within the overage allowance (up to 220)`.
pub fn overage_in_use(active_users: u32, user_limit: u32, cap: u32) -> String {
    format!(
        "User limit exceeded: {active_users}/{user_limit}, within the overage allowance (up to {cap})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn days_remaining_read_the_same_everywhere() {
        let end = date(2027, 1, 31);
        // (days remaining, the license's words, an alarm's subject)
        let cases = [
            (-3, "expired 3 days ago", None),
            (-1, "expired yesterday", None),
            (
                0,
                "last day",
                Some("License expires today (Support End Date 2027-01-31)"),
            ),
            (
                1,
                "1 day remaining",
                Some("License expires in 1 day (Support End Date 2027-01-31)"),
            ),
            (
                30,
                "30 days remaining",
                Some("License expires in 30 days (Support End Date 2027-01-31)"),
            ),
        ];
        for (days, words, subject) in cases {
            assert_eq!(remaining(days), words, "{days}");
            if let Some(subject) = subject {
                assert_eq!(license_expires(days, end), subject, "{days}");
            }
        }
        assert_eq!(license_expired(end), "License expired on 2027-01-31");
        assert_eq!(
            license_expires_within(60, end),
            "License expires within 60 days (Support End Date 2027-01-31)"
        );
    }

    #[test]
    fn counts_take_their_plural() {
        let month = Month::new(2026, 12).unwrap();
        assert_eq!(users_counted(0, month), "0 users counted in 2026-12");
        assert_eq!(users_counted(1, month), "1 user counted in 2026-12");
        assert_eq!(users_counted(2, month), "2 users counted in 2026-12");
    }

    #[test]
    fn fixed_words() {
        assert_eq!(license_type(LicenseType::Demo), "Demo License");
        assert_eq!(license_type(LicenseType::Subscription), "Subscription");
        assert_eq!(push_subscription(true), "Active");
        assert_eq!(push_subscription(false), "Inactive");
        assert_eq!(
            user_limit_reached(171, 200),
            "User limit reached 85.5% (171/200)"
        );
        assert_eq!(
            user_limit_passed(75, 171, 200),
            "User limit at or above 75% (171/200)"
        );
    }

    #[test]
    fn projections_in_a_sentence() {
        assert_eq!(
            projection(Projection::ReachedOn(date(2026, 12, 20)), 10, 25),
            "At this rate the limit is reached on 2026-12-20 (10/25 so far)."
        );
        assert_eq!(
            projection(Projection::NoData, 0, 25),
            "Nobody has been counted this month yet."
        );
    }
}
