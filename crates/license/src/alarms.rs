//! License alarms (SPEC §7): which alarms are due, and when the daily check
//! runs. Pure: the caller passes the license, the month's count, `now` and
//! which alarms have already fired.
//!
//! Each alarm has a **key** naming what it is about; an alarm fires once
//! per key:
//!
//! - `days:<threshold>:<support end>`: days remaining <= threshold, once per
//!   Support End Date (a renewal with a new date re-arms it);
//! - `percent:<threshold>:<month>:<limit>`: active / limit * 100 >=
//!   threshold, once per month and limit (a new limit or a new month
//!   re-arms it);
//! - `expired:<support end>`: once after the Support End Date (and any
//!   grace) has passed;
//! - `grace:<support end>:<date>`: once a day during the grace after the
//!   Support End Date (SPEC §16), in place of the expiry alarm;
//! - `overage:<month>:<limit>`: once per month and limit, when the first
//!   user is counted past the limit on the overage allowance (SPEC §16);
//! - `budget:<name>:<threshold>:<month>:<size>`: a seat budget's users
//!   reached a share of its size, once per month and size (SPEC §16).

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

use crate::calendar::{Month, days_remaining, is_expired};
use crate::words;

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmKind {
    /// The Support End Date is near.
    SupportEnds,
    /// The month's users reached a share of the limit.
    UserLimit,
    /// The Support End Date has passed.
    Expired,
    /// The license is in its grace after the Support End Date.
    Grace,
    /// A user was counted past the limit, on the overage allowance.
    Overage,
    /// A seat budget's users reached a share of its size.
    Budget,
    /// Not about the license: a user invited to enroll a second factor,
    /// sent through the same outbox as the alarms.
    Enrollment,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::SupportEnds => "support_end",
            AlarmKind::UserLimit => "user_limit",
            AlarmKind::Expired => "expired",
            AlarmKind::Grace => "grace",
            AlarmKind::Overage => "overage",
            AlarmKind::Budget => "budget",
            AlarmKind::Enrollment => "enrollment",
        }
    }

    pub fn parse(text: &str) -> Option<AlarmKind> {
        [
            AlarmKind::SupportEnds,
            AlarmKind::UserLimit,
            AlarmKind::Expired,
            AlarmKind::Grace,
            AlarmKind::Overage,
            AlarmKind::Budget,
            AlarmKind::Enrollment,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// One alarm that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// What it is about; it fires once per key (see the module docs).
    pub key: String,
    pub kind: AlarmKind,
    /// The threshold crossed (days or percent); `None` for `Expired`.
    pub threshold: Option<u32>,
    /// The text administrators read (the email subject), e.g.
    /// `User limit reached 85.5% (171/200)`.
    pub text: String,
    /// A more urgent alarm of the same kind is due at the same time (e.g.
    /// 60 and 30 days both reached at the first check): this one is
    /// recorded as fired but not worth a message of its own.
    pub superseded: bool,
}

/// Everything the alarm rules look at.
#[derive(Debug, Clone, Copy)]
pub struct AlarmCheck<'a> {
    pub support_end: Date,
    /// The last day of the grace (the Support End Date without one).
    pub grace_end: Date,
    pub user_limit: u32,
    /// Seats past the limit the overage allowance grants (0 without).
    pub overage_seats: u32,
    /// Users counted in `month`.
    pub active_users: u32,
    /// The month `now` falls in (license time zone).
    pub month: Month,
    pub zone: &'a TimeZone,
    pub now: Timestamp,
    /// Days before the Support End Date, any order.
    pub days_before_end: &'a [u32],
    /// Percentages of the user limit, any order.
    pub user_limit_percent: &'a [u32],
}

/// The alarms due now that have not fired yet, in order: the expiry alarm,
/// or else day thresholds from the largest down, then percentage thresholds
/// from the smallest up. Once the license has expired only the expiry alarm
/// is due: nearing an end that has passed is news to nobody.
///
/// Of several alarms of one kind due together, all but the last (the most
/// urgent) are marked [`Alarm::superseded`], and their text names their own
/// threshold (`License expires within 60 days …`).
pub fn due_alarms(check: &AlarmCheck<'_>, fired: impl Fn(&str) -> bool) -> Vec<Alarm> {
    let mut due = unfired_alarms(check, fired);
    for i in 1..due.len() {
        if due[i].kind == due[i - 1].kind {
            let earlier = &mut due[i - 1];
            earlier.superseded = true;
            // Its history row says which threshold it was, not the text of
            // the alarm that superseded it.
            if let Some(threshold) = earlier.threshold {
                earlier.text = match earlier.kind {
                    AlarmKind::SupportEnds => {
                        words::license_expires_within(threshold, check.support_end)
                    }
                    AlarmKind::UserLimit => {
                        words::user_limit_passed(threshold, check.active_users, check.user_limit)
                    }
                    AlarmKind::Expired
                    | AlarmKind::Grace
                    | AlarmKind::Overage
                    | AlarmKind::Budget
                    | AlarmKind::Enrollment => continue,
                };
            }
        }
    }
    due
}

fn unfired_alarms(check: &AlarmCheck<'_>, fired: impl Fn(&str) -> bool) -> Vec<Alarm> {
    let mut due = Vec::new();
    let end = check.support_end;
    if is_expired(end, check.zone, check.now) && !is_expired(check.grace_end, check.zone, check.now)
    {
        let today = check.zone.to_datetime(check.now).date();
        let key = format!("grace:{end}:{today}");
        if !fired(&key) {
            due.push(Alarm {
                key,
                kind: AlarmKind::Grace,
                threshold: None,
                text: words::license_in_grace(
                    end,
                    check.grace_end,
                    days_remaining(check.grace_end, check.zone, check.now),
                ),
                superseded: false,
            });
        }
        return due;
    }
    if is_expired(end, check.zone, check.now) {
        let key = format!("expired:{end}");
        if !fired(&key) {
            due.push(Alarm {
                key,
                kind: AlarmKind::Expired,
                threshold: None,
                text: words::license_expired(end),
                superseded: false,
            });
        }
        return due;
    }
    let remaining = days_remaining(end, check.zone, check.now);
    let mut days: Vec<u32> = check.days_before_end.to_vec();
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    for threshold in days {
        let key = format!("days:{threshold}:{end}");
        if i64::from(remaining) <= i64::from(threshold) && !fired(&key) {
            due.push(Alarm {
                key,
                kind: AlarmKind::SupportEnds,
                threshold: Some(threshold),
                text: words::license_expires(remaining, end),
                superseded: false,
            });
        }
    }
    let mut percents: Vec<u32> = check.user_limit_percent.to_vec();
    percents.sort_unstable();
    percents.dedup();
    for threshold in percents {
        let key = format!("percent:{threshold}:{}:{}", check.month, check.user_limit);
        if limit_reached(check.active_users, check.user_limit, threshold) && !fired(&key) {
            due.push(Alarm {
                key,
                kind: AlarmKind::UserLimit,
                threshold: Some(threshold),
                text: words::user_limit_reached(check.active_users, check.user_limit),
                superseded: false,
            });
        }
    }
    if check.overage_seats > 0 && check.active_users > check.user_limit {
        let key = overage_key(check.month, check.user_limit);
        if !fired(&key) {
            due.push(Alarm {
                key,
                kind: AlarmKind::Overage,
                threshold: None,
                text: words::overage_in_use(
                    check.active_users,
                    check.user_limit,
                    check.user_limit.saturating_add(check.overage_seats),
                ),
                superseded: false,
            });
        }
    }
    due
}

/// The alarms of seat budget `name` (of `size` users) due when `used` of
/// its users are counted in `month` and have not fired yet: the highest
/// threshold reached is sent, lower ones reached with it are superseded.
pub fn due_budget_alarms(
    name: &str,
    size: u32,
    used: u32,
    month: Month,
    thresholds: &[u32],
    fired: impl Fn(&str) -> bool,
) -> Vec<Alarm> {
    let mut percents = thresholds.to_vec();
    percents.sort_unstable();
    percents.dedup();
    let mut due: Vec<Alarm> = percents
        .into_iter()
        .filter(|&threshold| limit_reached(used, size, threshold))
        .map(|threshold| Alarm {
            key: format!("budget:{name}:{threshold}:{month}:{size}"),
            kind: AlarmKind::Budget,
            threshold: Some(threshold),
            text: words::budget_reached(name, used, size),
            superseded: false,
        })
        .filter(|alarm| !fired(&alarm.key))
        .collect();
    let last = due.len().saturating_sub(1);
    for alarm in &mut due[..last] {
        alarm.superseded = true;
    }
    due
}

/// The key of the overage alarm of `month` under `user_limit`.
pub fn overage_key(month: Month, user_limit: u32) -> String {
    format!("overage:{month}:{user_limit}")
}

/// `active / limit * 100 >= threshold`, exactly (no rounding). A limit of
/// zero is never "reached": nobody can be counted under it anyway.
pub fn limit_reached(active_users: u32, user_limit: u32, threshold: u32) -> bool {
    user_limit > 0 && u64::from(active_users) * 100 >= u64::from(threshold) * u64::from(user_limit)
}

/// The smallest count at which an unfired user-count alarm of this month
/// and limit fires, if any: a percentage threshold, or the first user past
/// the limit when an overage allowance of `overage_seats` is granted.
/// Callers compare each new count with it instead of evaluating every rule
/// after every login.
pub fn next_count_trigger(
    month: Month,
    user_limit: u32,
    overage_seats: u32,
    user_limit_percent: &[u32],
    fired: impl Fn(&str) -> bool,
) -> Option<u32> {
    if user_limit == 0 {
        return None;
    }
    let overage = (overage_seats > 0 && !fired(&overage_key(month, user_limit)))
        .then(|| user_limit.saturating_add(1));
    user_limit_percent
        .iter()
        .filter(|&&threshold| !fired(&format!("percent:{threshold}:{month}:{user_limit}")))
        .map(|&threshold| {
            // ceil(threshold * limit / 100)
            let needed = (u64::from(threshold) * u64::from(user_limit)).div_ceil(100);
            u32::try_from(needed).unwrap_or(u32::MAX)
        })
        .chain(overage)
        .min()
}

/// The first instant after `after` at which the wall clock in `zone` reads
/// `at`. A time skipped by a DST change falls on the first instant after the
/// gap; a time that occurs twice is taken the first time.
pub fn next_daily(after: Timestamp, zone: &TimeZone, at: Time) -> Timestamp {
    let today = zone.to_datetime(after).date();
    let mut date = today;
    // At most two days ahead: today's occurrence passed, so tomorrow's.
    for _ in 0..3 {
        let candidate = zone
            .to_ambiguous_timestamp(date.to_datetime(at))
            .compatible()
            .unwrap_or(Timestamp::MAX);
        if candidate > after {
            return candidate;
        }
        date = date.tomorrow().unwrap_or(Date::MAX);
    }
    Timestamp::MAX
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use jiff::civil::{date, time};

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    struct Case {
        active: u32,
        limit: u32,
        days: &'static [u32],
        percents: &'static [u32],
        now: &'static str,
    }

    fn run(case: &Case, fired: &HashSet<String>) -> Vec<Alarm> {
        run_granted(case, 0, date(2027, 1, 31), fired)
    }

    /// [`run`] under a key granting an overage allowance and a grace.
    fn run_granted(
        case: &Case,
        overage_seats: u32,
        grace_end: Date,
        fired: &HashSet<String>,
    ) -> Vec<Alarm> {
        let zone = TimeZone::UTC;
        let now = ts(case.now);
        due_alarms(
            &AlarmCheck {
                support_end: date(2027, 1, 31),
                grace_end,
                overage_seats,
                user_limit: case.limit,
                active_users: case.active,
                month: Month::containing(now, &zone),
                zone: &zone,
                now,
                days_before_end: case.days,
                user_limit_percent: case.percents,
            },
            |key| fired.contains(key),
        )
    }

    fn texts(alarms: &[Alarm]) -> Vec<&str> {
        alarms.iter().map(|a| a.text.as_str()).collect()
    }

    #[test]
    fn the_spec_example_at_85_percent_of_200() {
        let none = HashSet::new();
        let at = |active| Case {
            active,
            limit: 200,
            days: &[],
            percents: &[85],
            now: "2026-11-10T12:00:00Z",
        };
        assert!(run(&at(168), &none).is_empty(), "168/200 is 84%");
        assert!(run(&at(169), &none).is_empty(), "169/200 is 84.5%");
        assert_eq!(
            texts(&run(&at(170), &none)),
            ["User limit reached 85.0% (170/200)"]
        );
        assert_eq!(
            texts(&run(&at(171), &none)),
            ["User limit reached 85.5% (171/200)"]
        );
        let alarm = &run(&at(171), &none)[0];
        assert_eq!(alarm.key, "percent:85:2026-11:200");
        assert_eq!(alarm.kind, AlarmKind::UserLimit);
        assert_eq!(alarm.threshold, Some(85));
    }

    #[test]
    fn each_threshold_fires_once_in_order() {
        let mut fired = HashSet::new();
        let case = Case {
            active: 185,
            limit: 200,
            days: &[7, 60, 30, 15],
            percents: &[95, 75, 90, 85],
            now: "2027-01-05T12:00:00Z", // 26 days before 2027-01-31
        };
        let first = run(&case, &fired);
        let keys: Vec<&str> = first.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "days:60:2027-01-31",
                "days:30:2027-01-31",
                "percent:75:2027-01:200",
                "percent:85:2027-01:200",
                "percent:90:2027-01:200",
            ]
        );
        // The message names the state; a superseded row names its own
        // threshold.
        assert_eq!(
            texts(&first),
            [
                "License expires within 60 days (Support End Date 2027-01-31)",
                "License expires in 26 days (Support End Date 2027-01-31)",
                "User limit at or above 75% (185/200)",
                "User limit at or above 85% (185/200)",
                "User limit reached 92.5% (185/200)",
            ]
        );
        // One message per kind: the most urgent of those due together.
        let sent: Vec<&str> = first
            .iter()
            .filter(|a| !a.superseded)
            .map(|a| a.key.as_str())
            .collect();
        assert_eq!(sent, ["days:30:2027-01-31", "percent:90:2027-01:200"]);
        fired.extend(first.into_iter().map(|a| a.key));
        assert!(run(&case, &fired).is_empty(), "nothing fires twice");
        // Later: 15 days left and 95% reached, only those fire.
        let later = Case {
            active: 191,
            now: "2027-01-16T12:00:00Z",
            ..case
        };
        assert_eq!(
            texts(&run(&later, &fired)),
            [
                "License expires in 15 days (Support End Date 2027-01-31)",
                "User limit reached 95.5% (191/200)"
            ]
        );
        assert!(run(&later, &fired).iter().all(|a| !a.superseded));
    }

    #[test]
    fn a_new_limit_or_a_new_month_re_arms_percentages() {
        let mut fired = HashSet::new();
        let case = Case {
            active: 180,
            limit: 200,
            days: &[],
            percents: &[90],
            now: "2026-11-20T12:00:00Z",
        };
        fired.extend(run(&case, &fired).into_iter().map(|a| a.key));
        assert!(run(&case, &fired).is_empty());
        // A bigger license: 180/300 = 60%, nothing; at 270 it fires again.
        let bigger = Case {
            limit: 300,
            active: 270,
            ..case
        };
        assert_eq!(
            texts(&run(&bigger, &fired)),
            ["User limit reached 90.0% (270/300)"]
        );
        // A new month under the old limit re-arms it.
        let december = Case {
            now: "2026-12-20T12:00:00Z",
            ..case
        };
        assert_eq!(run(&december, &fired)[0].key, "percent:90:2026-12:200");
    }

    #[test]
    fn a_renewal_re_arms_the_day_thresholds() {
        let zone = TimeZone::UTC;
        let now = ts("2027-01-25T12:00:00Z");
        let check = |support_end| AlarmCheck {
            support_end,
            grace_end: support_end,
            overage_seats: 0,
            user_limit: 100,
            active_users: 0,
            month: Month::containing(now, &zone),
            zone: &zone,
            now,
            days_before_end: &[30, 7],
            user_limit_percent: &[],
        };
        let mut fired = HashSet::new();
        let old = due_alarms(&check(date(2027, 1, 31)), |k| fired.contains(k));
        assert_eq!(old.len(), 2);
        fired.extend(old.into_iter().map(|a| a.key));
        assert!(due_alarms(&check(date(2027, 1, 31)), |k| fired.contains(k)).is_empty());
        // Renewed until 2027-02-20 (26 days): the 30-day alarm fires again.
        assert_eq!(
            texts(&due_alarms(&check(date(2027, 2, 20)), |k| fired.contains(k))),
            ["License expires in 26 days (Support End Date 2027-02-20)"]
        );
    }

    #[test]
    fn days_count_to_the_end_of_the_support_end_date_in_the_zone() {
        let none = HashSet::new();
        let at = |now| Case {
            active: 0,
            limit: 100,
            days: &[30, 7, 1],
            percents: &[],
            now,
        };
        // 2027-01-01 is 30 days before 2027-01-31.
        assert!(
            run(&at("2026-12-31T23:59:59Z"), &none).is_empty(),
            "31 days"
        );
        assert_eq!(
            texts(&run(&at("2027-01-01T00:00:00Z"), &none)),
            ["License expires in 30 days (Support End Date 2027-01-31)"]
        );
        assert_eq!(
            texts(&run(&at("2027-01-30T08:00:00Z"), &none))[2],
            "License expires in 1 day (Support End Date 2027-01-31)"
        );
        assert_eq!(
            texts(&run(&at("2027-01-31T23:59:59Z"), &none))[2],
            "License expires today (Support End Date 2027-01-31)"
        );
    }

    #[test]
    fn after_the_end_only_the_expiry_alarm_fires_once() {
        let mut fired = HashSet::new();
        let case = Case {
            active: 200,
            limit: 200,
            days: &[60, 30, 15, 7],
            percents: &[75, 95],
            now: "2027-02-01T00:00:00Z",
        };
        let due = run(&case, &fired);
        assert_eq!(texts(&due), ["License expired on 2027-01-31"]);
        assert_eq!(due[0].key, "expired:2027-01-31");
        fired.extend(due.into_iter().map(|a| a.key));
        assert!(run(&case, &fired).is_empty());
    }

    #[test]
    fn a_grace_alarm_goes_out_once_a_day_then_the_expiry_alarm() {
        let mut fired = HashSet::new();
        let grace_end = date(2027, 2, 14);
        let at = |now| Case {
            active: 10,
            limit: 200,
            days: &[7],
            percents: &[],
            now,
        };
        let first_day = run_granted(&at("2027-02-01T00:00:00Z"), 0, grace_end, &fired);
        assert_eq!(
            texts(&first_day),
            [
                "License expired on 2027-01-31; grace period ends 2027-02-14 (13 days remaining): users counted this month still log in, new users are refused"
            ]
        );
        assert_eq!(first_day[0].kind, AlarmKind::Grace);
        assert_eq!(first_day[0].key, "grace:2027-01-31:2027-02-01");
        fired.extend(first_day.into_iter().map(|a| a.key));
        assert!(run_granted(&at("2027-02-01T23:59:59Z"), 0, grace_end, &fired).is_empty());
        let last_day = run_granted(&at("2027-02-14T08:00:00Z"), 0, grace_end, &fired);
        assert_eq!(last_day[0].key, "grace:2027-01-31:2027-02-14");
        assert!(
            last_day[0].text.contains("(last day)"),
            "{}",
            last_day[0].text
        );
        fired.extend(last_day.into_iter().map(|a| a.key));
        let after = run_granted(&at("2027-02-15T00:00:00Z"), 0, grace_end, &fired);
        assert_eq!(texts(&after), ["License expired on 2027-01-31"]);
    }

    #[test]
    fn the_overage_alarm_fires_at_the_first_user_past_the_limit() {
        let mut fired = HashSet::new();
        let at = |active| Case {
            active,
            limit: 200,
            days: &[],
            percents: &[100],
            now: "2026-11-28T12:00:00Z",
        };
        let end = date(2027, 1, 31);
        let full = run_granted(&at(200), 20, end, &fired);
        assert_eq!(texts(&full), ["User limit reached 100.0% (200/200)"]);
        fired.extend(full.into_iter().map(|a| a.key));
        let past = run_granted(&at(201), 20, end, &fired);
        assert_eq!(
            texts(&past),
            ["User limit exceeded: 201/200, within the overage allowance (up to 220)"]
        );
        assert_eq!(past[0].key, "overage:2026-11:200");
        fired.extend(past.into_iter().map(|a| a.key));
        assert!(run_granted(&at(210), 20, end, &fired).is_empty());
        // Without an allowance, nobody is past the limit on it.
        assert!(
            run_granted(&at(201), 0, end, &HashSet::new())
                .iter()
                .all(|a| a.kind != AlarmKind::Overage)
        );
    }

    #[test]
    fn a_budget_alarm_fires_once_per_threshold_month_and_size() {
        let month: Month = "2026-11".parse().unwrap();
        let mut fired = HashSet::new();
        assert!(
            due_budget_alarms("vpn", 40, 35, month, &[90, 100], |k| fired.contains(k)).is_empty()
        );
        let due = due_budget_alarms("vpn", 40, 36, month, &[100, 90], |k| fired.contains(k));
        assert_eq!(texts(&due), ["Seat budget vpn reached 90.0% (36/40)"]);
        assert_eq!(due[0].key, "budget:vpn:90:2026-11:40");
        fired.extend(due.into_iter().map(|a| a.key));
        assert!(
            due_budget_alarms("vpn", 40, 37, month, &[90, 100], |k| fired.contains(k)).is_empty()
        );
        let full = due_budget_alarms("vpn", 40, 40, month, &[90, 100], |k| fired.contains(k));
        assert_eq!(texts(&full), ["Seat budget vpn reached 100.0% (40/40)"]);
        // Both reached at once: the lower is recorded, not sent.
        let both = due_budget_alarms("wifi", 10, 10, month, &[50, 100], |_| false);
        assert_eq!(
            both.iter().map(|a| a.superseded).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[test]
    fn the_percent_trigger_is_the_first_count_that_fires() {
        let month: Month = "2026-11".parse().unwrap();
        let none = |_: &str| false;
        assert_eq!(
            next_count_trigger(month, 200, 0, &[85, 75], none),
            Some(150)
        );
        assert_eq!(next_count_trigger(month, 200, 0, &[85], none), Some(170));
        // 33% of 10 users is 3.3: the 4th user reaches it.
        assert_eq!(next_count_trigger(month, 10, 0, &[33], none), Some(4));
        assert!(limit_reached(4, 10, 33) && !limit_reached(3, 10, 33));
        let fired = |key: &str| key == "percent:75:2026-11:200";
        assert_eq!(
            next_count_trigger(month, 200, 0, &[85, 75], fired),
            Some(170)
        );
        // The overage alarm: the first user past the limit.
        assert_eq!(next_count_trigger(month, 200, 20, &[], none), Some(201));
        assert_eq!(next_count_trigger(month, 200, 20, &[85], none), Some(170));
        let overage_fired = |key: &str| key == "overage:2026-11:200";
        assert_eq!(next_count_trigger(month, 200, 20, &[], overage_fired), None);
        assert_eq!(next_count_trigger(month, 0, 0, &[85], none), None);
        assert_eq!(next_count_trigger(month, 200, 0, &[], none), None);
    }

    #[test]
    fn the_daily_check_time_across_dst() {
        let new_york = TimeZone::get("America/New_York").unwrap();
        let at_eight = time(8, 0, 0, 0);
        // An ordinary day: before 08:00 today's, after it tomorrow's.
        assert_eq!(
            next_daily(ts("2026-11-10T12:00:00Z"), &new_york, at_eight),
            ts("2026-11-10T13:00:00Z") // 08:00 EST
        );
        assert_eq!(
            next_daily(ts("2026-11-10T13:00:00Z"), &new_york, at_eight),
            ts("2026-11-11T13:00:00Z")
        );
        // Spring forward (2026-03-08): 08:00 EDT is 12:00 UTC.
        assert_eq!(
            next_daily(ts("2026-03-07T14:00:00Z"), &new_york, at_eight),
            ts("2026-03-08T12:00:00Z")
        );
        // 02:30 does not exist that day: the first instant after the gap.
        assert_eq!(
            next_daily(ts("2026-03-08T05:00:00Z"), &new_york, time(2, 30, 0, 0)),
            ts("2026-03-08T07:30:00Z") // 03:30 EDT
        );
        // Fall back (2026-11-01): 01:30 happens twice; the first one counts,
        // and the second does not start another check that day.
        let first = next_daily(ts("2026-11-01T04:00:00Z"), &new_york, time(1, 30, 0, 0));
        assert_eq!(first, ts("2026-11-01T05:30:00Z")); // 01:30 EDT
        assert_eq!(
            next_daily(first, &new_york, time(1, 30, 0, 0)),
            ts("2026-11-02T06:30:00Z") // 01:30 EST the next day
        );
        // Istanbul has no DST: 08:00 is 05:00 UTC every day.
        let istanbul = TimeZone::get("Europe/Istanbul").unwrap();
        assert_eq!(
            next_daily(ts("2026-07-01T06:00:00Z"), &istanbul, at_eight),
            ts("2026-07-02T05:00:00Z")
        );
    }
}
