//! Recently verified passwords (`passwords.cache_seconds` for local
//! accounts, `[[directory]] cache_seconds` for directory users): for a
//! while, a password that was checked the slow way (argon2, a bind) is
//! remembered as an HMAC under a key that lives only in this process,
//! bound to what it was checked against (the stored hash; the directory
//! entry's DN and revision). A changed binding (a new password, a changed
//! entry) never matches an old record, and nothing is remembered past its
//! time.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{KeyInit as _, Mac as _};
use subtle::ConstantTimeEq as _;

/// At most this many users are remembered at once; past it a verified
/// password is not remembered until older records lapse (memory stays
/// bounded whatever the number of users).
pub const MAX_REMEMBERED: usize = 65_536;

/// Remembers recently verified passwords, per user key `K`.
#[derive(Debug)]
pub struct CredentialCache<K> {
    ttl: Duration,
    /// HMAC-SHA256 keyed with a random key, key schedule done once.
    keyed: hmac::Hmac<sha2::Sha256>,
    state: Mutex<State<K>>,
}

#[derive(Debug)]
struct State<K> {
    entries: HashMap<K, Remembered>,
    /// When lapsed records are next swept out (at most every second, not
    /// at every record).
    next_sweep: Instant,
}

#[derive(Debug)]
struct Remembered {
    bound_to: String,
    mac: [u8; 32],
    expires: Instant,
}

impl<K: Hash + Eq + Clone> CredentialCache<K> {
    /// A zero `ttl` turns the cache off.
    pub fn new(ttl: Duration) -> CredentialCache<K> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system provides randomness");
        CredentialCache {
            ttl,
            keyed: hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
                .expect("HMAC takes keys of any length"),
            state: Mutex::new(State {
                entries: HashMap::new(),
                next_sweep: Instant::now(),
            }),
        }
    }

    /// Whether the cache is on.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    fn mac(&self, password: &str) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// True when `password` was verified for `key` against this exact
    /// `bound_to` less than the cache's time ago.
    pub fn matches(&self, key: &K, bound_to: &str, password: &str) -> bool {
        if !self.enabled() {
            return false;
        }
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = state.entries.get(key) else {
            return false;
        };
        entry.expires > Instant::now()
            && entry.bound_to == bound_to
            && bool::from(entry.mac.ct_eq(&self.mac(password)))
    }

    /// Records a password verified the slow way.
    pub fn remember(&self, key: &K, bound_to: &str, password: &str) {
        if !self.enabled() {
            return;
        }
        let entry = Remembered {
            bound_to: bound_to.to_string(),
            mac: self.mac(password),
            expires: Instant::now() + self.ttl,
        };
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now >= state.next_sweep {
            state
                .entries
                .retain(|_, remembered| remembered.expires > now);
            state.next_sweep = now + Duration::from_secs(1);
        }
        if state.entries.len() < MAX_REMEMBERED || state.entries.contains_key(key) {
            state.entries.insert(key.clone(), entry);
        }
    }

    /// Forgets what was remembered for `key`.
    pub fn forget(&self, key: &K) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.entries.remove(key);
    }

    /// How many users are remembered (lapsed records included until swept).
    pub fn len(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.entries.len()
    }

    /// Whether no one is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_password_matches_only_its_binding_and_only_for_a_while() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        assert!(!cache.matches(&"alice", "$hash1", "pw"));
        cache.remember(&"alice", "$hash1", "pw");
        assert!(cache.matches(&"alice", "$hash1", "pw"));
        assert!(!cache.matches(&"alice", "$hash1", "pW"), "another password");
        assert!(
            !cache.matches(&"alice", "$hash2", "pw"),
            "the password was changed"
        );
        assert!(!cache.matches(&"bob", "$hash1", "pw"));
        cache.forget(&"alice");
        assert!(!cache.matches(&"alice", "$hash1", "pw"), "forgotten");
        let expired = CredentialCache::new(Duration::from_nanos(1));
        expired.remember(&"alice", "$hash1", "pw");
        std::thread::sleep(Duration::from_millis(2));
        assert!(!expired.matches(&"alice", "$hash1", "pw"));
    }

    #[test]
    fn a_zero_ttl_turns_the_cache_off() {
        let cache = CredentialCache::new(Duration::ZERO);
        cache.remember(&"alice", "$hash1", "pw");
        assert!(!cache.matches(&"alice", "$hash1", "pw"));
        assert!(cache.is_empty());
    }

    /// However many users log in, at most [`MAX_REMEMBERED`] are kept; a
    /// user already remembered is still refreshed when it is full.
    #[test]
    fn the_cache_is_bounded() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        for user in 0..MAX_REMEMBERED + 100 {
            cache.remember(&user, "$hash", "pw");
        }
        assert_eq!(cache.len(), MAX_REMEMBERED);
        assert!(cache.matches(&0, "$hash", "pw"));
        assert!(!cache.matches(&(MAX_REMEMBERED + 50), "$hash", "pw"));
        cache.remember(&0, "$hash2", "pw2");
        assert!(cache.matches(&0, "$hash2", "pw2"), "refreshed when full");
    }
}
