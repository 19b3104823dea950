//! Bounded password work (SPEC §12, overload): argon2 holds its memory
//! cost and a core while it runs, so how many run, and how many may wait,
//! is bounded; beyond that the login is dropped ([`Busy`]) rather than
//! queued without end. Users who exist go ahead of names that do not:
//! decoy checks (the work that makes an unknown name as slow as a wrong
//! password) may take at most half of the permits, and only a short queue
//! of them may wait, so a flood of random names cannot hold up a real
//! user's password check.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// No room for more password work now: the request is dropped (RADIUS
/// clients retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

#[derive(Debug)]
pub(crate) struct PasswordWork {
    /// argon2 runs at once.
    permits: Semaphore,
    /// Decoys among them.
    decoy_gate: Semaphore,
    checks: Queue,
    decoys: Queue,
}

/// A bounded count of waiters.
#[derive(Debug)]
struct Queue {
    waiting: AtomicUsize,
    limit: usize,
}

/// One place in a [`Queue`], given back when dropped.
struct Place<'a>(&'a Queue);

impl Queue {
    fn enter(&self) -> Result<Place<'_>, Busy> {
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let place = Place(self);
        if before >= self.limit {
            return Err(Busy);
        }
        Ok(place)
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordWork {
    /// `parallelism`: argon2 runs at once (the cores, at least two: each
    /// run holds a core and its memory cost, so more would only hold more
    /// memory).
    pub fn new(parallelism: usize) -> PasswordWork {
        let parallelism = parallelism.max(2);
        PasswordWork {
            permits: Semaphore::new(parallelism),
            decoy_gate: Semaphore::new(parallelism / 2),
            checks: Queue {
                waiting: AtomicUsize::new(0),
                limit: parallelism * 64,
            },
            decoys: Queue {
                waiting: AtomicUsize::new(0),
                limit: parallelism * 2,
            },
        }
    }

    /// Runs a real password check on a blocking thread, when a permit is
    /// free; [`Busy`] when too many already wait.
    pub async fn check<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Busy> {
        let _place = self.checks.enter()?;
        let _permit = self.permits.acquire().await.map_err(|_| Busy)?;
        tokio::task::spawn_blocking(work).await.map_err(|_| Busy)
    }

    /// Runs a decoy check: at most half the permits, and a short queue.
    pub async fn decoy(&self, work: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
        let _place = self.decoys.enter()?;
        let _gate = self.decoy_gate.acquire().await.map_err(|_| Busy)?;
        let _permit = self.permits.acquire().await.map_err(|_| Busy)?;
        tokio::task::spawn_blocking(work).await.map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn decoys_take_at_most_half_and_their_queue_is_short() {
        let work = Arc::new(PasswordWork::new(4));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(std::sync::Mutex::new(wait));
        // Two decoys run (half of four), six more wait (eight inside: twice
        // the permits), the next is busy.
        let mut decoys = Vec::new();
        for _ in 0..8 {
            let (work, wait) = (work.clone(), wait.clone());
            decoys.push(tokio::spawn(async move {
                work.decoy(move || {
                    let _ = wait.lock().unwrap().recv_timeout(Duration::from_secs(5));
                })
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            work.decoy(|| ()).await,
            Err(Busy),
            "the decoy queue is full"
        );
        // A real check still runs at once on a free permit.
        let checked = tokio::time::timeout(Duration::from_secs(1), work.check(|| 42)).await;
        assert_eq!(checked.expect("not held up by decoys"), Ok(42));
        for _ in 0..8 {
            release.send(()).unwrap();
        }
        for decoy in decoys {
            assert_eq!(decoy.await.unwrap(), Ok(()));
        }
        assert_eq!(work.decoy(|| ()).await, Ok(()), "room again");
    }
}
