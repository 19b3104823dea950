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

/// The process's own figures (Prometheus' `process_*` metrics), read from
/// `/proc/self` on Linux.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// Resident memory (RSS), bytes.
    pub resident_bytes: u64,
    /// The largest RSS so far (VmHWM), bytes.
    pub resident_peak_bytes: u64,
    /// Virtual memory, bytes.
    pub virtual_bytes: u64,
    pub threads: u64,
    pub open_fds: u64,
}

impl ProcessStats {
    /// Now; `None` where `/proc` is not there.
    pub fn read() -> Option<ProcessStats> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let mut stats = ProcessStats::from_status(&status)?;
        stats.open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Some(stats)
    }

    /// The memory and thread lines of `/proc/self/status` (`VmRSS:  1234
    /// kB`); `None` without an RSS line.
    pub fn from_status(status: &str) -> Option<ProcessStats> {
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find_map(|line| line.strip_prefix(name))?;
            let mut words = line.trim_start_matches(':').split_whitespace();
            let value: u64 = words.next()?.parse().ok()?;
            Some(match words.next() {
                Some("kB") => value.saturating_mul(1024),
                _ => value,
            })
        };
        Some(ProcessStats {
            resident_bytes: field("VmRSS")?,
            resident_peak_bytes: field("VmHWM").unwrap_or_default(),
            virtual_bytes: field("VmSize").unwrap_or_default(),
            threads: field("Threads").unwrap_or_default(),
            open_fds: 0,
        })
    }
}

#[cfg(test)]
mod process_tests {
    use super::*;

    #[test]
    fn status_lines_are_read_in_bytes() {
        let status = "Name:\tgatehouse\nVmPeak:\t  900000 kB\nVmSize:\t  812345 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\nThreads:\t7\n";
        assert_eq!(
            ProcessStats::from_status(status),
            Some(ProcessStats {
                resident_bytes: 20480 * 1024,
                resident_peak_bytes: 40960 * 1024,
                virtual_bytes: 812345 * 1024,
                threads: 7,
                open_fds: 0,
            })
        );
        assert_eq!(ProcessStats::from_status("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_reads_its_own() {
        let stats = ProcessStats::read().expect("/proc on Linux");
        assert!(stats.resident_bytes > 0 && stats.resident_peak_bytes >= stats.resident_bytes);
        assert!(stats.threads >= 1 && stats.open_fds >= 3);
    }
}
