//! Clock safety: the server never trusts a clock that went backwards.
//!
//! Effective time is `max(system clock, highest time recorded)`. The caller
//! keeps the high-water mark (in memory and in the store); this module only
//! decides.
//!
//! A mark that once ran far ahead (a bad NTP answer, a restored VM) would
//! expire the license for good. [`reanchors`] says when a vendor key may
//! bring it back: a key newer than every key installed before, issued
//! within the last day by the system clock. Only the vendor can make one,
//! so turning the system clock back and replaying an old key never moves
//! the mark back.

use jiff::{SignedDuration, Timestamp};

/// A backward jump larger than this is reported.
pub const BACKWARD_JUMP_REPORT_THRESHOLD: SignedDuration = SignedDuration::from_mins(5);

/// The log event for a large backward jump.
pub const CLOCK_MOVED_BACKWARDS: &str = "System clock moved backwards";

/// How long after its issue time a vendor key may re-anchor the clock.
pub const REANCHOR_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// Whether installing a key issued at `issued_at` re-anchors a high-water
/// mark that ran ahead, with the system clock reading `system`:
/// `newest_installed` is the issue time of the newest key ever installed
/// (or of the key whose install last anchored the clock), if any. The key
/// must be newer than that, and the system clock within
/// `[issued_at − 5 minutes, issued_at + 24 hours]`.
pub fn reanchors(
    issued_at: Timestamp,
    system: Timestamp,
    newest_installed: Option<Timestamp>,
) -> bool {
    let newer = newest_installed.is_none_or(|newest| issued_at > newest);
    let fresh = system
        >= issued_at
            .saturating_sub(crate::key::MAX_FUTURE_SKEW)
            .unwrap_or(issued_at)
        && system
            <= issued_at
                .saturating_add(REANCHOR_WINDOW)
                .unwrap_or(Timestamp::MAX);
    newer && fresh
}

/// The time Gatehouse acts on, and whether the system clock is lagging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockReading {
    /// `max(system, high_water)`: what every license decision uses.
    pub effective: Timestamp,
    /// How far the system clock is behind the high-water mark, when that is
    /// more than [`BACKWARD_JUMP_REPORT_THRESHOLD`].
    pub moved_backwards_by: Option<SignedDuration>,
}

/// Combines the system clock with the highest time recorded so far.
pub fn effective_time(system: Timestamp, high_water: Timestamp) -> ClockReading {
    if system >= high_water {
        return ClockReading {
            effective: system,
            moved_backwards_by: None,
        };
    }
    let behind = high_water - system;
    ClockReading {
        effective: high_water,
        moved_backwards_by: (behind > BACKWARD_JUMP_REPORT_THRESHOLD).then_some(behind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{Month, is_expired};
    use jiff::civil::date;
    use jiff::tz::TimeZone;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn forward_clock_is_trusted() {
        let reading = effective_time(ts("2026-11-28T12:00:00Z"), ts("2026-11-28T11:00:00Z"));
        assert_eq!(reading.effective, ts("2026-11-28T12:00:00Z"));
        assert_eq!(reading.moved_backwards_by, None);
    }

    #[test]
    fn small_backward_steps_are_absorbed_silently() {
        let reading = effective_time(ts("2026-11-28T11:55:00Z"), ts("2026-11-28T12:00:00Z"));
        assert_eq!(reading.effective, ts("2026-11-28T12:00:00Z"));
        assert_eq!(reading.moved_backwards_by, None);
    }

    #[test]
    fn a_jump_back_of_more_than_five_minutes_is_reported() {
        let reading = effective_time(ts("2026-11-28T11:54:59Z"), ts("2026-11-28T12:00:00Z"));
        assert_eq!(reading.effective, ts("2026-11-28T12:00:00Z"));
        assert_eq!(
            reading.moved_backwards_by,
            Some(SignedDuration::from_secs(301))
        );
    }

    #[test]
    fn turning_the_clock_back_never_revives_an_expired_license() {
        let zone = TimeZone::UTC;
        let support_end = date(2027, 1, 31);
        let high_water = ts("2027-02-01T00:00:01Z");
        for system in [
            "2027-01-31T23:59:59Z",
            "2027-01-15T00:00:00Z",
            "2020-01-01T00:00:00Z",
        ] {
            let now = effective_time(ts(system), high_water).effective;
            assert!(is_expired(support_end, &zone, now), "system clock {system}");
        }
    }

    #[test]
    fn only_a_fresh_newer_key_re_anchors_the_clock() {
        let issued = ts("2026-12-01T10:00:00Z");
        let before = Some(ts("2026-06-01T00:00:00Z"));
        // Within a day after its issue time (and 5 minutes of skew before).
        for system in [
            "2026-12-01T09:55:00Z",
            "2026-12-01T10:00:00Z",
            "2026-12-02T10:00:00Z",
        ] {
            assert!(reanchors(issued, ts(system), before), "{system}");
            assert!(reanchors(issued, ts(system), None), "{system}");
        }
        // Too old by the system clock, or from the future.
        for system in [
            "2026-12-02T10:00:01Z",
            "2031-01-01T00:00:00Z",
            "2026-12-01T09:54:59Z",
        ] {
            assert!(!reanchors(issued, ts(system), before), "{system}");
        }
        // Not newer than what was installed: a replayed key, even with the
        // system clock turned back to its issue time.
        assert!(!reanchors(issued, issued, Some(issued)));
        assert!(!reanchors(issued, issued, Some(ts("2026-12-01T10:00:01Z"))));
    }

    #[test]
    fn turning_the_clock_back_never_reopens_a_month() {
        let zone = TimeZone::get("Europe/Istanbul").unwrap();
        let high_water = ts("2026-11-30T21:00:00Z"); // December in Istanbul
        let now = effective_time(ts("2026-11-30T20:00:00Z"), high_water).effective;
        assert_eq!(Month::containing(now, &zone).to_string(), "2026-12");
    }
}
