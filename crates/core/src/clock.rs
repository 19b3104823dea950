//! Time as Gatehouse sees it: a source clock, made monotonic by the
//! high-water rule of [`gatehouse_license::clock`].

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use gatehouse_license::clock::{CLOCK_MOVED_BACKWARDS, effective_time};
use gatehouse_license::jiff::Timestamp;

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
    /// `recorded` is the high-water mark read from the store.
    pub fn new(source: Arc<dyn Clock>, recorded: Option<Timestamp>) -> EffectiveClock {
        EffectiveClock {
            source,
            high_water_micros: AtomicI64::new(recorded.map_or(i64::MIN, |t| t.as_microsecond())),
            behind: AtomicBool::new(false),
        }
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

    /// Raises the mark to a time recorded elsewhere (another process).
    pub fn observe(&self, at: Timestamp) {
        self.high_water_micros
            .fetch_max(at.as_microsecond(), Ordering::AcqRel);
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

    #[test]
    fn a_recorded_mark_from_an_earlier_run_is_honoured() {
        let source = Arc::new(ManualClock::new(ts("2026-11-28T12:00:00Z")));
        let clock = EffectiveClock::new(source, Some(ts("2027-03-01T00:00:00Z")));
        assert_eq!(clock.now(), ts("2027-03-01T00:00:00Z"));
        clock.observe(ts("2027-03-02T00:00:00Z"));
        assert_eq!(clock.now(), ts("2027-03-02T00:00:00Z"));
    }
}
