//! Calendar months and the Support End Date in the license time zone.
//!
//! Every boundary is the first instant of a civil day in the zone. Where a
//! DST change skips midnight, the day starts at the first instant that
//! exists; no boundary ever depends on the host's zone.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A calendar month, e.g. `2026-11`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    year: i16,
    month: i8,
}

impl Month {
    /// `None` unless `1 <= month <= 12` and the year is 1970-9999.
    pub fn new(year: i16, month: i8) -> Option<Month> {
        ((1970..=9999).contains(&year) && (1..=12).contains(&month))
            .then_some(Month { year, month })
    }

    pub fn year(self) -> i16 {
        self.year
    }

    pub fn month(self) -> i8 {
        self.month
    }

    /// The month in which `at` falls, in `zone`.
    pub fn containing(at: Timestamp, zone: &TimeZone) -> Month {
        let date = zone.to_datetime(at).date();
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The first day of the month.
    pub fn first_day(self) -> Date {
        Date::new(self.year, self.month, 1).expect("Month holds a valid year and month")
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The month before this one.
    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The instants this month covers in `zone`: `[start, end)`.
    pub fn window(self, zone: &TimeZone) -> MonthWindow {
        MonthWindow {
            month: self,
            start: start_of_day(self.first_day(), zone),
            end: start_of_day(self.next().first_day(), zone),
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Debug for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Month({self})")
    }
}

/// Why a string is not a month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid month {0:?}: expected YYYY-MM, e.g. 2026-11")]
pub struct MonthParseError(pub String);

impl FromStr for Month {
    type Err = MonthParseError;

    fn from_str(text: &str) -> Result<Month, MonthParseError> {
        let error = || MonthParseError(text.to_string());
        let (year, month) = text.split_once('-').ok_or_else(error)?;
        if year.len() != 4
            || month.len() != 2
            || !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(error());
        }
        let year: i16 = year.parse().map_err(|_| error())?;
        let month: i8 = month.parse().map_err(|_| error())?;
        Month::new(year, month).ok_or_else(error)
    }
}

/// A month with its boundaries resolved in a zone, so the hot path compares
/// timestamps instead of converting to civil time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthWindow {
    pub month: Month,
    /// First instant of the month.
    pub start: Timestamp,
    /// First instant of the next month.
    pub end: Timestamp,
}

impl MonthWindow {
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

/// The first instant of `date` in `zone`.
pub fn start_of_day(date: Date, zone: &TimeZone) -> Timestamp {
    // `to_zoned_datetime` resolves a midnight that falls in a DST gap to the
    // first instant after the gap, which is when that day begins.
    date.to_zoned_datetime(zone.clone())
        .map(|zdt| zdt.timestamp())
        .unwrap_or(if date.year() > 0 {
            Timestamp::MAX
        } else {
            Timestamp::MIN
        })
}

/// The instant a license with this Support End Date expires: 00:00 of the
/// following day in `zone`.
pub fn expires_at(support_end: Date, zone: &TimeZone) -> Timestamp {
    match support_end.tomorrow() {
        Ok(next_day) => start_of_day(next_day, zone),
        Err(_) => Timestamp::MAX,
    }
}

/// True from 00:00 of the day after the Support End Date.
pub fn is_expired(support_end: Date, zone: &TimeZone, now: Timestamp) -> bool {
    now >= expires_at(support_end, zone)
}

/// Whole days from today (in `zone`) until the Support End Date: 0 on the
/// last valid day, negative once expired.
pub fn days_remaining(support_end: Date, zone: &TimeZone, now: Timestamp) -> i32 {
    let today = zone.to_datetime(now).date();
    today
        .until(support_end)
        .map(|span| span.get_days())
        .unwrap_or(0)
}

/// The date `days` after `from`, saturating at the calendar's end.
pub fn add_days(from: Date, days: i32) -> Date {
    from.checked_add(days.days()).unwrap_or(Date::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    #[test]
    fn months_parse_and_display() {
        assert_eq!("2026-11".parse::<Month>().unwrap().to_string(), "2026-11");
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "",
            "2026-11-01",
            "abcd-ef",
            "+026-11",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
        assert_eq!(
            "2026-12".parse::<Month>().unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(
            "2027-01".parse::<Month>().unwrap().previous().to_string(),
            "2026-12"
        );
    }

    /// Month boundaries, as (zone, instant, month it belongs to).
    #[test]
    fn month_boundaries_follow_the_license_zone() {
        let cases = [
            ("UTC", "2026-11-30T23:59:59Z", "2026-11"),
            ("UTC", "2026-12-01T00:00:00Z", "2026-12"),
            // Istanbul is UTC+3 all year: December begins at 21:00 UTC on Nov 30.
            ("Europe/Istanbul", "2026-11-30T20:59:59Z", "2026-11"),
            ("Europe/Istanbul", "2026-11-30T21:00:00Z", "2026-12"),
            // New York in winter (EST, UTC-5): January begins at 05:00 UTC.
            ("America/New_York", "2027-01-01T04:59:59Z", "2026-12"),
            ("America/New_York", "2027-01-01T05:00:00Z", "2027-01"),
            // New York in summer (EDT, UTC-4): July begins at 04:00 UTC.
            ("America/New_York", "2026-07-01T03:59:59Z", "2026-06"),
            ("America/New_York", "2026-07-01T04:00:00Z", "2026-07"),
        ];
        for (name, instant, month) in cases {
            assert_eq!(
                Month::containing(ts(instant), &zone(name)).to_string(),
                month,
                "{name} {instant}"
            );
        }
    }

    #[test]
    fn a_dst_month_in_new_york_is_one_hour_short() {
        // March 2026: DST starts on March 8, so the month starts at UTC-5
        // and ends at UTC-4.
        let window = "2026-03"
            .parse::<Month>()
            .unwrap()
            .window(&zone("America/New_York"));
        assert_eq!(window.start, ts("2026-03-01T05:00:00Z"));
        assert_eq!(window.end, ts("2026-04-01T04:00:00Z"));
        assert_eq!((window.end - window.start).as_hours(), 31 * 24 - 1);
        // November 2026: DST ends on November 1, one hour longer.
        let window = "2026-11"
            .parse::<Month>()
            .unwrap()
            .window(&zone("America/New_York"));
        assert_eq!(window.start, ts("2026-11-01T04:00:00Z"));
        assert_eq!(window.end, ts("2026-12-01T05:00:00Z"));
        assert_eq!((window.end - window.start).as_hours(), 30 * 24 + 1);
    }

    #[test]
    fn a_month_that_starts_in_a_dst_gap_starts_when_the_day_does() {
        // In America/Havana DST begins at midnight (2026-03-08 00:00 becomes
        // 01:00), so that day has no 00:00.
        let havana = zone("America/Havana");
        let start = start_of_day(date(2026, 3, 8), &havana);
        // 00:00 does not exist; the day begins at 01:00 CDT (UTC-4).
        assert_eq!(start, ts("2026-03-08T05:00:00Z"));
        assert_eq!(havana.to_datetime(start).date(), date(2026, 3, 8));
    }

    #[test]
    fn window_contains_exactly_its_instants() {
        let window = "2026-12"
            .parse::<Month>()
            .unwrap()
            .window(&zone("Europe/Istanbul"));
        assert!(!window.contains(ts("2026-11-30T20:59:59Z")));
        assert!(window.contains(ts("2026-11-30T21:00:00Z")));
        assert!(window.contains(ts("2026-12-31T20:59:59Z")));
        assert!(!window.contains(ts("2026-12-31T21:00:00Z")));
    }

    /// Support End Date 2027-01-31: valid through the end of that day in the
    /// license zone, expired from 00:00 on February 1.
    #[test]
    fn expiry_is_at_the_end_of_the_support_end_date() {
        let end = date(2027, 1, 31);
        let cases = [
            ("UTC", "2027-01-31T23:59:59Z", false),
            ("UTC", "2027-02-01T00:00:00Z", true),
            ("Europe/Istanbul", "2027-01-31T20:59:59Z", false),
            ("Europe/Istanbul", "2027-01-31T21:00:00Z", true),
            ("America/New_York", "2027-02-01T04:59:59Z", false),
            ("America/New_York", "2027-02-01T05:00:00Z", true),
        ];
        for (name, instant, expired) in cases {
            assert_eq!(
                is_expired(end, &zone(name), ts(instant)),
                expired,
                "{name} {instant}"
            );
        }
        // Across a DST change: 2027-03-14 is the US spring-forward day.
        let end = date(2027, 3, 13);
        let ny = zone("America/New_York");
        assert!(!is_expired(end, &ny, ts("2027-03-14T04:59:59Z")));
        assert!(is_expired(end, &ny, ts("2027-03-14T05:00:00Z")));
    }

    #[test]
    fn days_remaining_counts_civil_days_in_the_zone() {
        let end = date(2027, 1, 31);
        let utc = TimeZone::UTC;
        assert_eq!(days_remaining(end, &utc, ts("2027-01-31T23:00:00Z")), 0);
        assert_eq!(days_remaining(end, &utc, ts("2027-01-01T00:00:00Z")), 30);
        assert_eq!(days_remaining(end, &utc, ts("2027-02-02T00:00:00Z")), -2);
        // 22:00 UTC on Jan 30 is already Jan 31 in Istanbul.
        assert_eq!(
            days_remaining(end, &zone("Europe/Istanbul"), ts("2027-01-30T22:00:00Z")),
            0
        );
    }
}
