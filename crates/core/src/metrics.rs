//! Counters behind `/metrics`: authentications by result and reason.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::outcome::{LoginStep, Refusal};

/// Counts since the process started.
#[derive(Debug, Default)]
pub(crate) struct AuthCounters {
    accepted: AtomicU64,
    challenged: AtomicU64,
    push_challenged: AtomicU64,
    refused: [AtomicU64; Refusal::ALL.len()],
    radius_dropped: AtomicU64,
    radius_in_flight: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCounts {
    pub accepted: u64,
    /// Logins that were asked for a one-time code.
    pub challenged: u64,
    /// Logins answered with a challenge to approve a push (challenge mode).
    pub push_challenged: u64,
    /// Refusals by reason, in [`Refusal::ALL`] order.
    pub refused: Vec<(Refusal, u64)>,
    /// RADIUS requests dropped for overload (no answer; the NAS retries).
    pub radius_dropped: u64,
    /// RADIUS requests being worked on now.
    pub radius_in_flight: u64,
}

impl AuthCounters {
    pub fn count(&self, outcome: Result<(), Refusal>) {
        match outcome {
            Ok(()) => self.accepted.fetch_add(1, Ordering::Relaxed),
            Err(refusal) => self.refused[refusal.index()].fetch_add(1, Ordering::Relaxed),
        };
    }

    pub fn count_step(&self, step: Result<&LoginStep, Refusal>) {
        match step {
            Ok(LoginStep::Accepted(_)) => self.count(Ok(())),
            Ok(LoginStep::OtpRequired(_)) => {
                self.challenged.fetch_add(1, Ordering::Relaxed);
            }
            Ok(LoginStep::PushSent { .. }) => {
                self.push_challenged.fetch_add(1, Ordering::Relaxed);
            }
            Err(refusal) => self.count(Err(refusal)),
        }
    }

    pub fn radius_dropped(&self) {
        self.radius_dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn radius_work(&self, started: bool) {
        if started {
            self.radius_in_flight.fetch_add(1, Ordering::Relaxed);
        } else {
            self.radius_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> AuthCounts {
        AuthCounts {
            accepted: self.accepted.load(Ordering::Relaxed),
            challenged: self.challenged.load(Ordering::Relaxed),
            push_challenged: self.push_challenged.load(Ordering::Relaxed),
            radius_dropped: self.radius_dropped.load(Ordering::Relaxed),
            radius_in_flight: self.radius_in_flight.load(Ordering::Relaxed),
            refused: Refusal::ALL
                .iter()
                .map(|&refusal| {
                    (
                        refusal,
                        self.refused[refusal.index()].load(Ordering::Relaxed),
                    )
                })
                .collect(),
        }
    }
}
