//! Logging that cannot be turned into a flood: a burst of bad packets
//! produces a few lines, then one line saying how many were suppressed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimitedLog {
    window: Duration,
    per_window: u32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u32,
}

impl RateLimitedLog {
    pub fn new(window: Duration, per_window: u32) -> RateLimitedLog {
        RateLimitedLog {
            window,
            per_window,
            state: Mutex::new(State {
                window_start: None,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// `Some(n)` when this event may be logged (`n` events were suppressed
    /// since the last logged one); `None` when it must be suppressed.
    pub fn allow(&self) -> Option<u32> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u32> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state
            .window_start
            .is_none_or(|start| now.duration_since(start) >= self.window)
        {
            state.window_start = Some(now);
            state.logged = 0;
        }
        if state.logged < self.per_window {
            state.logged += 1;
            Some(std::mem::take(&mut state.suppressed))
        } else {
            state.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_and_the_suppressed_count_reported() {
        let log = RateLimitedLog::new(Duration::from_secs(10), 3);
        let start = Instant::now();
        let results: Vec<Option<u32>> = (0..6).map(|_| log.allow_at(start)).collect();
        assert_eq!(results, [Some(0), Some(0), Some(0), None, None, None]);
        assert_eq!(log.allow_at(start + Duration::from_secs(10)), Some(3));
        assert_eq!(log.allow_at(start + Duration::from_secs(11)), Some(0));
    }
}
