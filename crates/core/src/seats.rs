//! The in-memory side of the seat ledger: who is already counted this
//! month (so returning users are answered without the database), and the
//! last-login and refusal records written behind in batches.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher as _, RandomState};
use std::sync::{Arc, Mutex, RwLock};

use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_license::jiff::{SignedDuration, Timestamp};
use gatehouse_license::{Month, MonthWindow};

use crate::identity::SeatKey;
use crate::store::{LoginRecord, RefusalRecord, Store, StoreResult};

/// This month's counted users, as far as this process knows. A cache: a
/// user missing here may still be counted (by another process); a user
/// present here certainly is, because seats are never taken back within a
/// month.
#[derive(Debug, Default)]
pub(crate) struct SeatCache {
    inner: RwLock<MonthSeats>,
}

#[derive(Debug, Default)]
struct MonthSeats {
    window: Option<MonthWindow>,
    counted: HashSet<SeatKey>,
    /// A lower bound of the month's count (the highest the store reported).
    active_users: u32,
}

/// What the cache knows about one user at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CachedSeat {
    pub month: Month,
    pub counted: bool,
    pub active_users: u32,
}

impl SeatCache {
    /// Looks `seat` up for the month containing `now`.
    pub fn lookup(&self, seat: &SeatKey, now: Timestamp, zone: &TimeZone) -> CachedSeat {
        {
            let seats = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if let Some(window) = seats.window.filter(|w| w.contains(now)) {
                return CachedSeat {
                    month: window.month,
                    counted: seats.counted.contains(seat.as_str()),
                    active_users: seats.active_users,
                };
            }
        }
        // A new month (or the first lookup): start an empty one.
        let month = Month::containing(now, zone);
        let mut seats = self.inner.write().unwrap_or_else(|e| e.into_inner());
        seats.switch_to(month, zone);
        CachedSeat {
            month,
            counted: seats.counted.contains(seat.as_str()),
            active_users: seats.active_users,
        }
    }

    /// Records what the store said about `seat` in `month`.
    pub fn remember(
        &self,
        month: Month,
        seat: &SeatKey,
        counted: bool,
        active_users: u32,
        zone: &TimeZone,
    ) {
        let mut seats = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if seats.window.map(|w| w.month) != Some(month) {
            // Only the newest month is cached; an answer about an older one
            // (a request that straddled midnight) is not worth keeping.
            if seats.window.is_some_and(|w| w.month > month) {
                return;
            }
            seats.switch_to(month, zone);
        }
        if counted {
            seats.counted.insert(seat.clone());
        }
        seats.active_users = seats.active_users.max(active_users);
    }
}

impl MonthSeats {
    fn switch_to(&mut self, month: Month, zone: &TimeZone) {
        if self.window.map(|w| w.month) != Some(month) {
            self.window = Some(month.window(zone));
            self.counted.clear();
            self.active_users = 0;
        }
    }
}

/// Last logins and limit refusals waiting to be written. Repeated entries
/// for one user merge, so the backlog is bounded by the number of users.
///
/// A user's last login is written at most once per [`LAST_LOGIN_RESOLUTION`]
/// for each client: a later login through the same client within it is
/// not written again (the stored time is then up to that much early). A
/// login through another client, or in another month, is always written,
/// so the last client shown is the last one used.
#[derive(Debug, Default)]
pub(crate) struct WriteBehind {
    queue: Mutex<Queue>,
}

/// How far behind a returning user's stored last login may be: logins
/// repeated within it (a monitoring probe, a Wi-Fi controller
/// re-authenticating, a busy service account) cost one row write, not one
/// each.
const LAST_LOGIN_RESOLUTION: SignedDuration = SignedDuration::from_secs(60);

#[derive(Debug, Default)]
struct Queue {
    waiting: Pending,
    recent: Recent,
}

#[derive(Debug, Default)]
struct Pending {
    logins: HashMap<(Month, SeatKey), LoginRecord>,
    refusals: HashMap<(Month, SeatKey), RefusalRecord>,
    /// Client names the waiting logins share (one allocation per client,
    /// not per login).
    clients: HashSet<Arc<str>>,
}

/// The users whose login was queued since `since`, each with the client
/// it was queued for. Forgotten as a whole (and its memory given back)
/// when [`LAST_LOGIN_RESOLUTION`] has passed since `since`, so it holds at
/// most the users who logged in within that time. Users and clients are
/// kept as hashes under a key of this process (two 8-byte hashes a user,
/// no strings); two users colliding would at worst leave one's last login
/// a minute early.
#[derive(Debug, Default)]
struct Recent {
    since: Option<Timestamp>,
    users: HashMap<u64, u64>,
    key: RandomState,
}

impl Recent {
    /// Records a login of `seat` in `month` at `at` through `client`, and
    /// says whether one through the same client was already queued within
    /// the resolution (so this one need not be).
    fn repeats(&mut self, month: Month, seat: &SeatKey, at: Timestamp, client: &str) -> bool {
        let fresh = self
            .since
            .is_some_and(|since| since <= at && at.duration_since(since) < LAST_LOGIN_RESOLUTION);
        if !fresh {
            self.users = HashMap::new();
            self.since = Some(at);
        }
        let user = self.key.hash_one((month, seat));
        let client = self.key.hash_one(client);
        self.users.insert(user, client) == Some(client)
    }
}

impl Pending {
    fn client(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.clients.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = name.into();
        self.clients.insert(shared.clone());
        shared
    }

    fn add_login(&mut self, login: LoginRecord) {
        match self.logins.entry((login.month, login.seat.clone())) {
            Entry::Occupied(mut existing) => {
                if existing.get().at < login.at {
                    existing.insert(login);
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(login);
            }
        }
    }

    fn add_refusal(&mut self, refusal: RefusalRecord) {
        match self.refusals.entry((refusal.month, refusal.seat.clone())) {
            Entry::Occupied(mut existing) => {
                let existing = existing.get_mut();
                existing.attempts = existing.attempts.saturating_add(refusal.attempts);
                if refusal.at >= existing.at {
                    existing.at = refusal.at;
                    existing.client = refusal.client;
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(refusal);
            }
        }
    }
}

impl WriteBehind {
    /// `seat` logged in at `at` through `client`.
    pub fn login(&self, month: Month, seat: &SeatKey, at: Timestamp, client: &str) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.recent.repeats(month, seat, at, client) {
            return;
        }
        let client = queue.waiting.client(client);
        queue.waiting.add_login(LoginRecord {
            month,
            seat: seat.clone(),
            at,
            client,
        });
    }

    pub fn refusal(&self, refusal: RefusalRecord) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .waiting
            .add_refusal(refusal);
    }

    /// Writes everything pending. On failure the records go back into the
    /// queue (merged with newer ones) for the next attempt.
    pub async fn flush(&self, store: &dyn Store) -> StoreResult<()> {
        let taken =
            std::mem::take(&mut self.queue.lock().unwrap_or_else(|e| e.into_inner()).waiting);
        let logins: Vec<LoginRecord> = taken.logins.into_values().collect();
        let refusals: Vec<RefusalRecord> = taken.refusals.into_values().collect();
        let mut result = Ok(());
        if !logins.is_empty()
            && let Err(error) = store.record_logins(&logins).await
        {
            let pending = &mut self.queue.lock().unwrap_or_else(|e| e.into_inner()).waiting;
            logins
                .into_iter()
                .for_each(|login| pending.add_login(login));
            result = Err(error);
        }
        if !refusals.is_empty()
            && let Err(error) = store.record_refusals(&refusals).await
        {
            let pending = &mut self.queue.lock().unwrap_or_else(|e| e.into_inner()).waiting;
            refusals
                .into_iter()
                .for_each(|refusal| pending.add_refusal(refusal));
            result = result.and(Err(error));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is remembered of queued logins holds at most the users of the
    /// last minute: a spike of users does not stay in memory.
    #[test]
    fn recent_logins_are_forgotten_after_the_resolution() {
        let month = Month::new(2026, 11).unwrap();
        let at: Timestamp = "2026-11-10T10:00:00Z".parse().unwrap();
        let mut recent = Recent::default();
        let seats: Vec<SeatKey> = (0..10_000)
            .map(|i| SeatKey::directory(&format!("user-{i}")))
            .collect();
        for seat in &seats {
            assert!(!recent.repeats(month, seat, at, "vpn"));
        }
        assert!(recent.repeats(month, &seats[0], at, "vpn"));
        assert_eq!(recent.users.len(), 10_000);
        let later = at + LAST_LOGIN_RESOLUTION;
        assert!(!recent.repeats(month, &seats[0], later, "vpn"));
        assert_eq!(recent.users.len(), 1);
        assert!(
            recent.users.capacity() < 100,
            "the spike's memory is given back"
        );
    }
}
