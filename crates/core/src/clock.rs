//! Time as Gatehouse sees it: a source clock, made monotonic by the
//! high-water rule of [`gatehouse_license::clock`], within an anchor: a
//! fresh vendor key may set a mark that ran ahead back (see
//! [`gatehouse_license::clock::reanchors`]), and every process follows the
//! newest anchor it sees.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use gatehouse_license::clock::{CLOCK_MOVED_BACKWARDS, effective_time};
use gatehouse_license::jiff::Timestamp;

use crate::store::ClockMark;

/// Where the current time comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told; for tests and benchmarks.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `max(source clock, highest time seen)`, at microsecond precision (what
/// the store keeps). Logs `System clock moved backwards` once per episode
/// when the source lags by more than five minutes.
pub struct EffectiveClock {
    source: Arc<dyn Clock>,
    high_water_micros: AtomicI64,
    /// [`ClockMark::anchor`] of the mark this process follows.
    anchor: AtomicI64,
    behind: AtomicBool,
}

impl std::fmt::Debug for EffectiveClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EffectiveClock")
            .field("high_water", &self.high_water())
            .finish_non_exhaustive()
    }
}

impl EffectiveClock {
    /// `recorded` is the (authentic) high-water mark read from the store.
    pub fn new(source: Arc<dyn Clock>, recorded: Option<ClockMark>) -> EffectiveClock {
        EffectiveClock {
            source,
            high_water_micros: AtomicI64::new(
                recorded.map_or(i64::MIN, |mark| mark.high_water.as_microsecond()),
            ),
            anchor: AtomicI64::new(recorded.map_or(0, |mark| mark.anchor)),
            behind: AtomicBool::new(false),
        }
    }

    /// The source clock alone (truncated like every reading): what decides
    /// whether a vendor key is fresh.
    pub fn system_now(&self) -> Timestamp {
        truncate_to_micros(self.source.now())
    }

    pub fn now(&self) -> Timestamp {
        let system = truncate_to_micros(self.source.now());
        let previous = self
            .high_water_micros
            .fetch_max(system.as_microsecond(), Ordering::AcqRel);
        let high_water = from_micros(previous.max(system.as_microsecond()));
        let reading = effective_time(system, high_water);
        match reading.moved_backwards_by {
            Some(behind_by) => {
                if !self.behind.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        system_clock = %system,
                        effective_time = %reading.effective,
                        behind_seconds = behind_by.as_secs(),
                        "{CLOCK_MOVED_BACKWARDS}: using {} until the system clock catches up",
                        reading.effective
                    );
                }
            }
            None => {
                if system >= high_water {
                    self.behind.store(false, Ordering::Release);
                }
            }
        }
        reading.effective
    }

    /// The highest time seen so far (what is persisted).
    pub fn high_water(&self) -> Timestamp {
        from_micros(self.high_water_micros.load(Ordering::Acquire))
    }

    /// The mark and its anchor, as persisted.
    pub fn mark(&self) -> ClockMark {
        ClockMark {
            high_water: self.high_water(),
            anchor: self.anchor.load(Ordering::Acquire),
        }
    }

    /// Follows a mark recorded elsewhere (another process, an earlier run):
    /// within the same anchor the higher mark wins; a newer anchor (a fresh
    /// vendor key re-anchored the clock) replaces the mark, even with a
    /// lower one; an older anchor is ignored.
    pub fn observe(&self, mark: ClockMark) {
        let anchor = self.anchor.load(Ordering::Acquire);
        if mark.anchor > anchor {
            self.reanchor(mark);
        } else if mark.anchor == anchor {
            self.high_water_micros
                .fetch_max(mark.high_water.as_microsecond(), Ordering::AcqRel);
        }
    }

    /// Sets the mark and its anchor (a fresh vendor key was installed).
    pub fn reanchor(&self, mark: ClockMark) {
        self.high_water_micros
            .store(mark.high_water.as_microsecond(), Ordering::Release);
        self.anchor.store(mark.anchor, Ordering::Release);
        self.behind.store(false, Ordering::Release);
    }
}

fn truncate_to_micros(at: Timestamp) -> Timestamp {
    from_micros(at.as_microsecond())
}

fn from_micros(micros: i64) -> Timestamp {
    Timestamp::from_microsecond(micros).unwrap_or(if micros < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn effective_time_never_goes_backwards() {
        let source = Arc::new(ManualClock::new(ts("2026-11-28T12:00:00Z")));
        let clock = EffectiveClock::new(source.clone(), None);
        assert_eq!(clock.now(), ts("2026-11-28T12:00:00Z"));
        source.set(ts("2026-11-01T00:00:00Z"));
        assert_eq!(clock.now(), ts("2026-11-28T12:00:00Z"));
        source.set(ts("2026-11-28T12:00:01Z"));
        assert_eq!(clock.now(), ts("2026-11-28T12:00:01Z"));
    }

    fn mark(at: &str, anchor: i64) -> ClockMark {
        ClockMark {
            high_water: ts(at),
            anchor,
        }
    }

    #[test]
    fn a_recorded_mark_from_an_earlier_run_is_honoured() {
        let source = Arc::new(ManualClock::new(ts("2026-11-28T12:00:00Z")));
        let clock = EffectiveClock::new(source, Some(mark("2027-03-01T00:00:00Z", 0)));
        assert_eq!(clock.now(), ts("2027-03-01T00:00:00Z"));
        clock.observe(mark("2027-03-02T00:00:00Z", 0));
        assert_eq!(clock.now(), ts("2027-03-02T00:00:00Z"));
        // Lower within the same anchor: ignored.
        clock.observe(mark("2027-01-01T00:00:00Z", 0));
        assert_eq!(clock.now(), ts("2027-03-02T00:00:00Z"));
    }

    #[test]
    fn a_newer_anchor_brings_a_mark_that_ran_ahead_back_and_an_older_one_never_does() {
        let source = Arc::new(ManualClock::new(ts("2026-12-01T10:00:00Z")));
        let clock = EffectiveClock::new(source, Some(mark("2031-01-01T00:00:00Z", 0)));
        assert_eq!(clock.now(), ts("2031-01-01T00:00:00Z"));
        let anchor = ts("2026-12-01T09:00:00Z").as_second();
        clock.observe(mark("2026-12-01T09:30:00Z", anchor));
        assert_eq!(clock.now(), ts("2026-12-01T10:00:00Z"));
        assert_eq!(clock.mark().anchor, anchor);
        // A replayed mark of the old anchor changes nothing.
        clock.observe(mark("2031-01-01T00:00:00Z", 0));
        assert_eq!(clock.now(), ts("2026-12-01T10:00:00Z"));
    }
}
