//! The license in force: a verified vendor key, or the built-in demo.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::admission::{Limits, Terms};
use crate::app_key::AppKey;
use crate::calendar::{add_days, days_remaining, expires_at};
use crate::key::{LicenseOptions, LicensePayload, LicenseType};

/// Length of the demo that starts on first start.
pub const DEMO_DAYS: i32 = 30;

/// Users per month during the demo.
pub const DEMO_USER_LIMIT: u32 = 25;

/// License ID shown for the built-in demo.
pub const DEMO_LICENSE_ID: &str = "demo";

/// Where the license in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseSource {
    /// The demo every installation starts with; never renewed.
    BuiltInDemo,
    /// A vendor key, as installed (whitespace removed).
    Key(String),
}

/// The license in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub payload: LicensePayload,
    pub source: LicenseSource,
}

/// Valid, in grace, expired or damaged, as shown in `license show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseStatus {
    Valid,
    /// Past the Support End Date, within the grace the key grants: users
    /// counted this month still log in, new users are refused (SPEC §16).
    Grace,
    Expired,
    /// The license records were changed outside Gatehouse (their tags do
    /// not verify): nobody logs in until a valid vendor key is installed.
    Damaged,
}

impl LicenseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LicenseStatus::Valid => "valid",
            LicenseStatus::Grace => "grace",
            LicenseStatus::Expired => "expired",
            LicenseStatus::Damaged => "damaged",
        }
    }

    /// Only renewal is open (SPEC §2, §11).
    pub fn locked(self) -> bool {
        matches!(self, LicenseStatus::Expired | LicenseStatus::Damaged)
    }
}

impl License {
    /// The demo of an installation first started at `first_start`: 30 days,
    /// 25 users, push active. Its Support End Date is fixed at first start
    /// (see [`demo_support_end`]) and stored; this only rebuilds the view.
    pub fn demo(app_key: AppKey, first_start: Timestamp, support_end: Date) -> License {
        License {
            payload: LicensePayload {
                license_id: DEMO_LICENSE_ID.to_string(),
                issued_at: first_start,
                app_key,
                company: String::new(),
                dossier: String::new(),
                user_limit: DEMO_USER_LIMIT,
                license_type: LicenseType::Demo,
                support_end,
                push_subscription: true,
                options: LicenseOptions::default(),
            },
            source: LicenseSource::BuiltInDemo,
        }
    }

    /// Issue time of the installed vendor key; `None` for the built-in demo.
    pub fn vendor_issued_at(&self) -> Option<Timestamp> {
        match self.source {
            LicenseSource::BuiltInDemo => None,
            LicenseSource::Key(_) => Some(self.payload.issued_at),
        }
    }

    /// Admission terms in `zone`.
    pub fn terms(&self, zone: &TimeZone) -> Terms {
        let payload = &self.payload;
        Terms {
            limits: Limits {
                user_limit: payload.user_limit,
                overage_seats: payload.options.overage_seats(payload.user_limit),
            },
            expires_at: expires_at(payload.support_end, zone),
            grace_ends_at: expires_at(self.grace_end(), zone),
        }
    }

    /// The last day of the grace after the Support End Date (the Support
    /// End Date itself when the key grants none).
    pub fn grace_end(&self) -> Date {
        add_days(
            self.payload.support_end,
            i32::try_from(self.payload.options.grace_days).unwrap_or(i32::MAX),
        )
    }

    pub fn status(&self, zone: &TimeZone, now: Timestamp) -> LicenseStatus {
        self.terms(zone).status(now)
    }

    /// Whole days of grace left, 0 on its last day; `None` outside a grace.
    pub fn grace_days_remaining(&self, zone: &TimeZone, now: Timestamp) -> Option<i32> {
        (self.status(zone, now) == LicenseStatus::Grace)
            .then(|| days_remaining(self.grace_end(), zone, now))
    }

    /// Whole days left, 0 on the Support End Date itself.
    pub fn days_remaining(&self, zone: &TimeZone, now: Timestamp) -> i32 {
        days_remaining(self.payload.support_end, zone, now)
    }
}

/// The Support End Date of a demo begun at `first_start`: the 30th day after
/// the first start's date in `zone`, so the demo always lasts at least 30
/// full days.
pub fn demo_support_end(first_start: Timestamp, zone: &TimeZone) -> Date {
    add_days(zone.to_datetime(first_start).date(), DEMO_DAYS)
}

/// `active / limit` as a percentage with one decimal, rounded down so a
/// display never claims a threshold that was not reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsagePercent {
    tenths: u64,
}

impl UsagePercent {
    pub fn of(active: u32, limit: u32) -> UsagePercent {
        let tenths = if limit == 0 {
            0
        } else {
            u64::from(active) * 1000 / u64::from(limit)
        };
        UsagePercent { tenths }
    }

    /// Tenths of a percent (855 for 85.5%).
    pub fn tenths(self) -> u64 {
        self.tenths
    }

    pub fn from_tenths(tenths: u64) -> UsagePercent {
        UsagePercent { tenths }
    }
}

impl fmt::Display for UsagePercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tenths / 10, self.tenths % 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use jiff::civil::date;

    fn app_key() -> AppKey {
        AppKey::of(&SigningKey::from_bytes(&[1; 32]).verifying_key())
    }

    #[test]
    fn demo_is_thirty_days_twenty_five_users_push_active() {
        let zone = TimeZone::get("Europe/Istanbul").unwrap();
        let first_start: Timestamp = "2026-11-28T22:30:00Z".parse().unwrap(); // Nov 29 01:30 in Istanbul
        let end = demo_support_end(first_start, &zone);
        assert_eq!(end, date(2026, 12, 29));
        let demo = License::demo(app_key(), first_start, end);
        assert_eq!(demo.payload.user_limit, 25);
        assert!(demo.payload.push_subscription);
        assert_eq!(demo.payload.license_type.to_string(), "Demo License");
        assert_eq!(demo.vendor_issued_at(), None);
        let thirty_days_later = first_start
            .checked_add(jiff::SignedDuration::from_hours(30 * 24))
            .unwrap();
        assert_eq!(demo.status(&zone, thirty_days_later), LicenseStatus::Valid);
        let after_end: Timestamp = "2026-12-29T21:00:00Z".parse().unwrap(); // Dec 30 00:00 Istanbul
        assert_eq!(demo.status(&zone, after_end), LicenseStatus::Expired);
    }

    #[test]
    fn a_grace_runs_whole_days_after_the_support_end_date() {
        let zone = TimeZone::get("Europe/Istanbul").unwrap();
        let mut license = License::demo(
            app_key(),
            "2026-11-01T00:00:00Z".parse().unwrap(),
            date(2026, 11, 30),
        );
        license.payload.options.grace_days = 3;
        let at = |text: &str| -> Timestamp { text.parse().unwrap() };
        // Midnight after Nov 30 in Istanbul is 21:00 UTC.
        assert_eq!(
            license.status(&zone, at("2026-11-30T20:59:59Z")),
            LicenseStatus::Valid
        );
        assert_eq!(
            license.grace_days_remaining(&zone, at("2026-11-30T20:59:59Z")),
            None
        );
        assert_eq!(
            license.status(&zone, at("2026-11-30T21:00:00Z")),
            LicenseStatus::Grace
        );
        assert_eq!(
            license.grace_days_remaining(&zone, at("2026-11-30T21:00:00Z")),
            Some(2)
        );
        assert!(!LicenseStatus::Grace.locked());
        assert_eq!(license.grace_end(), date(2026, 12, 3));
        assert_eq!(
            license.grace_days_remaining(&zone, at("2026-12-03T20:59:59Z")),
            Some(0)
        );
        assert_eq!(
            license.status(&zone, at("2026-12-03T21:00:00Z")),
            LicenseStatus::Expired
        );
        license.payload.options.grace_days = 0;
        assert_eq!(
            license.status(&zone, at("2026-11-30T21:00:00Z")),
            LicenseStatus::Expired
        );
    }

    #[test]
    fn usage_percent_has_one_decimal_rounded_down() {
        assert_eq!(UsagePercent::of(171, 200).to_string(), "85.5");
        assert_eq!(UsagePercent::of(168, 200).to_string(), "84.0");
        assert_eq!(UsagePercent::of(2, 3).to_string(), "66.6");
        assert_eq!(UsagePercent::of(200, 200).to_string(), "100.0");
        assert_eq!(UsagePercent::of(250, 200).to_string(), "125.0");
        assert_eq!(UsagePercent::of(0, 0).to_string(), "0.0");
    }
}

/// Where this month's pace leads (the Analytics page's projection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// Nobody counted yet: no pace to project.
    NoData,
    /// The month is already at (or over) the limit.
    Reached,
    /// At this rate the limit is reached on this day.
    ReachedOn(Date),
    /// At this rate the month ends below the limit.
    NotThisMonth,
}

/// Projects the month's count linearly: `active` users in the first
/// `today.day()` days, so `active / today.day()` new users a day.
pub fn project_limit(today: Date, active: u32, limit: u32) -> Projection {
    if active >= limit {
        return Projection::Reached;
    }
    if active == 0 {
        return Projection::NoData;
    }
    let days_elapsed = u64::from(today.day() as u8);
    let remaining = u64::from(limit - active);
    // remaining / (active / days) rounded up, in integers.
    let days_needed = (remaining * days_elapsed).div_ceil(u64::from(active));
    let last_day = today.last_of_month();
    let days_left = u64::from((last_day.day() - today.day()) as u8);
    if days_needed > days_left {
        Projection::NotThisMonth
    } else {
        Projection::ReachedOn(add_days(today, days_needed as i32))
    }
}

#[cfg(test)]
mod projection_tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_pace_of_the_month_is_extrapolated() {
        let cases = [
            // 10 days, 100 users: 10 a day; 50 more seats take 5 days.
            (
                date(2026, 11, 10),
                100,
                150,
                Projection::ReachedOn(date(2026, 11, 15)),
            ),
            // 1 more seat at 10 a day: reached tomorrow.
            (
                date(2026, 11, 10),
                100,
                101,
                Projection::ReachedOn(date(2026, 11, 11)),
            ),
            (date(2026, 11, 10), 100, 400, Projection::NotThisMonth),
            (date(2026, 11, 10), 150, 150, Projection::Reached),
            (date(2026, 11, 10), 170, 150, Projection::Reached),
            (date(2026, 11, 1), 0, 150, Projection::NoData),
            // The last day of the month: only today remains.
            (date(2026, 11, 30), 290, 300, Projection::NotThisMonth),
            (date(2026, 2, 28), 280, 290, Projection::NotThisMonth),
        ];
        for (today, active, limit, expected) in cases {
            assert_eq!(
                project_limit(today, active, limit),
                expected,
                "{today} {active}/{limit}"
            );
        }
    }
}
