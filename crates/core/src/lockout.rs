//! Each process's copy of who is locked out or has failures in a row
//! (SPEC §12). The store holds the truth for every node
//! ([`LockoutStore`](crate::store::LockoutStore)); this copy is read again
//! whenever the store's lockout generation changes (checked every tick, so a
//! lock set on another node is in force here within a second; locks set by
//! this process at once). A login asks the copy, never the database: a
//! returning user's login touches no lockout row.
//!
//! Keeping a victim out cheaply is what a lockout must not become:
//! - a stranger who does not know the password can only cause *password*
//!   failures, whose threshold (`lockout.password_failures`, 10) is twice
//!   the one-time-code threshold, which needs the password;
//! - the same wrong password retried (a device with an outdated saved
//!   password, a NAS retrying) counts once in a row: the store keeps a
//!   keyed digest of the last wrong password, never the text;
//! - names that are not users are never counted or locked;
//! - a run of failures older than a day starts again, and a successful login
//!   forgets the run and the doubling.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use gatehouse_license::jiff::Timestamp;
use hmac::{KeyInit as _, Mac as _};

use crate::identity::SeatKey;
use crate::store::{LockRecord, Store, StoreResult};

/// Who has failures or a lock, as this process last read it.
#[derive(Debug)]
pub(crate) struct Lockouts {
    generation: AtomicI64,
    records: RwLock<HashMap<SeatKey, LockRecord>>,
    /// Keys the digest of a wrong password; the same on every node.
    digest_key: hmac::Hmac<sha2::Sha256>,
    /// Locks set by this process (`/metrics`).
    locks_set: AtomicU64,
}

impl Lockouts {
    /// `installation_key`: the installation's private key bytes, from
    /// which the password digest key is derived (every node has it; the
    /// database does not).
    pub fn new(installation_key: &[u8; 32]) -> Lockouts {
        use sha2::Digest as _;
        let key = sha2::Sha256::new()
            .chain_update(b"gatehouse-lockout-password-v1")
            .chain_update(installation_key)
            .finalize();
        Lockouts {
            generation: AtomicI64::new(i64::MIN),
            records: RwLock::new(HashMap::new()),
            digest_key: hmac::Hmac::new_from_slice(&key).expect("HMAC takes any key length"),
            locks_set: AtomicU64::new(0),
        }
    }

    /// The keyed digest of a wrong password typed for `seat`.
    pub fn password_digest(&self, seat: &SeatKey, password: &str) -> [u8; 32] {
        let mut mac = self.digest_key.clone();
        mac.update(seat.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// When `seat`'s lock ends, if it is locked at `now`.
    pub fn locked_until(&self, seat: &SeatKey, now: Timestamp) -> Option<Timestamp> {
        let records = self.records.read().unwrap_or_else(|e| e.into_inner());
        let record = records.get(seat)?;
        record
            .locked_at(now)
            .then(|| record.locked.map(|(_, until)| until))
            .flatten()
    }

    /// Whether `seat` may have failures or a lock recorded (so a successful
    /// login must clear them).
    pub fn has_record(&self, seat: &SeatKey) -> bool {
        self.records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(seat)
    }

    /// Notes a failure recorded by this process (and the lock it set).
    pub fn failed(&self, seat: &SeatKey, username: &str, lock: Option<LockRecord>, at: Timestamp) {
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        match lock {
            Some(lock) => {
                self.locks_set.fetch_add(1, Ordering::Relaxed);
                records.insert(seat.clone(), lock);
            }
            None => {
                records.entry(seat.clone()).or_insert_with(|| LockRecord {
                    seat: seat.clone(),
                    username: username.to_string(),
                    otp_failures: 0,
                    password_failures: 0,
                    locks: 0,
                    last_failure_at: at,
                    locked: None,
                });
            }
        }
    }

    /// Notes that `seat`'s failures were cleared by this process.
    pub fn cleared(&self, seat: &SeatKey) {
        self.records
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(seat);
    }

    /// Locks set by this process since it started.
    pub fn locks_set(&self) -> u64 {
        self.locks_set.load(Ordering::Relaxed)
    }

    /// Users locked at `now`.
    pub fn locked_count(&self, now: Timestamp) -> usize {
        self.records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|record| record.locked_at(now))
            .count()
    }

    /// Reads the store's rows again if its generation changed (`force`:
    /// whatever it says).
    pub async fn refresh(&self, store: &dyn Store, force: bool) -> StoreResult<()> {
        let generation = store.lockout_generation().await?;
        if !force && self.generation.load(Ordering::Acquire) == generation {
            return Ok(());
        }
        let records = store.lockouts().await?;
        *self.records.write().unwrap_or_else(|e| e.into_inner()) = records
            .into_iter()
            .map(|record| (record.seat.clone(), record))
            .collect();
        self.generation.store(generation, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_digests_are_keyed_by_installation_and_user() {
        let one = Lockouts::new(&[1; 32]);
        let other = Lockouts::new(&[2; 32]);
        let alice = SeatKey::from_stored("local:alice".into());
        let bob = SeatKey::from_stored("local:bob".into());
        assert_eq!(
            one.password_digest(&alice, "typo"),
            one.password_digest(&alice, "typo")
        );
        assert_ne!(
            one.password_digest(&alice, "typo"),
            one.password_digest(&alice, "typo2")
        );
        assert_ne!(
            one.password_digest(&alice, "typo"),
            one.password_digest(&bob, "typo")
        );
        assert_ne!(
            one.password_digest(&alice, "typo"),
            other.password_digest(&alice, "typo")
        );
    }

    #[test]
    fn a_lock_holds_until_its_end() {
        let lockouts = Lockouts::new(&[1; 32]);
        let seat = SeatKey::from_stored("local:alice".into());
        let at: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let until: Timestamp = "2026-12-01T10:15:00Z".parse().unwrap();
        lockouts.failed(&seat, "alice", None, at);
        assert!(lockouts.has_record(&seat));
        assert_eq!(lockouts.locked_until(&seat, at), None);
        let lock = LockRecord {
            seat: seat.clone(),
            username: "alice".into(),
            otp_failures: 0,
            password_failures: 0,
            locks: 1,
            last_failure_at: at,
            locked: Some((at, until)),
        };
        lockouts.failed(&seat, "alice", Some(lock), at);
        assert_eq!(lockouts.locked_until(&seat, at), Some(until));
        assert_eq!(lockouts.locked_count(at), 1);
        assert_eq!(lockouts.locked_until(&seat, until), None);
        assert_eq!(lockouts.locks_set(), 1);
        lockouts.cleared(&seat);
        assert!(!lockouts.has_record(&seat));
    }
}
