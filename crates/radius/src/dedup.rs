//! Duplicate detection with a response cache (RFC 5080 §2.2.2).
//!
//! A NAS that hears nothing retransmits the same request (same source
//! address and port, Identifier and Request Authenticator). A duplicate of
//! a request still in progress is dropped; a duplicate of an answered one
//! gets the cached reply again, byte for byte, so a retransmission is never
//! authenticated (or counted) twice.
//!
//! A retransmission is the *same* datagram: the cache keeps a SHA-256 digest
//! of the whole request beside its key. A different request that reuses the
//! source, Identifier and Request Authenticator of one still remembered is
//! [`Seen::Conflict`]: dropped (never answered with the other request's
//! reply, which may be another user's Access-Accept).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

type Key = (SocketAddr, u8);

/// SHA-256 of a whole request datagram.
pub type RequestDigest = [u8; 32];

/// The digest [`ResponseCache::check`] takes.
pub fn digest(datagram: &[u8]) -> RequestDigest {
    use sha2::Digest as _;
    sha2::Sha256::digest(datagram).into()
}

#[derive(Debug)]
struct Entry {
    authenticator: [u8; 16],
    digest: RequestDigest,
    reply: Option<Vec<u8>>,
    since: Instant,
}

/// What to do with an incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Not seen before: handle it (and [`ResponseCache::answered`] later).
    New,
    /// The same request is being handled: drop this copy.
    InProgress,
    /// Already answered: send this reply again.
    Answered(Vec<u8>),
    /// Another request with this request's source, Identifier and
    /// authenticator is remembered: drop this one.
    Conflict,
}

/// Recent requests and their replies, forgotten after `ttl`, and the
/// oldest first once there are `capacity` of them (memory stays bounded
/// under any load).
#[derive(Debug)]
pub struct ResponseCache {
    ttl: Duration,
    capacity: usize,
    entries: HashMap<Key, Entry>,
    /// Insertion order, for expiry.
    order: VecDeque<(Instant, Key)>,
}

impl ResponseCache {
    pub fn new(ttl: Duration, capacity: usize) -> ResponseCache {
        ResponseCache {
            ttl,
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Looks a request up, registering it as in progress when new. A
    /// request reusing an Identifier with a different authenticator is a
    /// new request and replaces the old entry; one with the same
    /// authenticator but other contents (`digest`) is a conflict.
    pub fn check(
        &mut self,
        from: SocketAddr,
        identifier: u8,
        authenticator: [u8; 16],
        digest: RequestDigest,
        now: Instant,
    ) -> Seen {
        self.expire(now);
        let key = (from, identifier);
        if let Some(entry) = self.entries.get(&key)
            && entry.authenticator == authenticator
        {
            if entry.digest != digest {
                return Seen::Conflict;
            }
            return match &entry.reply {
                None => Seen::InProgress,
                Some(reply) => Seen::Answered(reply.clone()),
            };
        }
        self.entries.insert(
            key,
            Entry {
                authenticator,
                digest,
                reply: None,
                since: now,
            },
        );
        self.order.push_back((now, key));
        while self.entries.len() > self.capacity {
            self.evict_oldest();
        }
        Seen::New
    }

    /// Stores the reply to a request registered by [`check`](Self::check).
    pub fn answered(
        &mut self,
        from: SocketAddr,
        identifier: u8,
        authenticator: [u8; 16],
        reply: Vec<u8>,
    ) {
        if let Some(entry) = self.entries.get_mut(&(from, identifier))
            && entry.authenticator == authenticator
        {
            entry.reply = Some(reply);
        }
    }

    /// Forgets a request that got no reply (dropped), so a retransmission
    /// is handled afresh.
    pub fn forget(&mut self, from: SocketAddr, identifier: u8, authenticator: [u8; 16]) {
        let key = (from, identifier);
        if self
            .entries
            .get(&key)
            .is_some_and(|e| e.authenticator == authenticator && e.reply.is_none())
        {
            self.entries.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(since, _)) = self.order.front() {
            if now.duration_since(since) < self.ttl {
                break;
            }
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((since, key)) = self.order.pop_front() {
            // Only remove the entry this order record was made for; a newer
            // request under the same key keeps its own record.
            if self.entries.get(&key).is_some_and(|e| e.since == since) {
                self.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: RequestDigest = [9; 32];

    #[test]
    fn a_different_request_reusing_a_key_and_authenticator_is_a_conflict() {
        let mut cache = ResponseCache::new(Duration::from_secs(30), 1000);
        let now = Instant::now();
        let alice = digest(b"User-Name=alice");
        let mallory = digest(b"User-Name=mallory");
        assert_ne!(alice, mallory);
        assert_eq!(cache.check(addr(1000), 7, [1; 16], alice, now), Seen::New);
        assert_eq!(
            cache.check(addr(1000), 7, [1; 16], mallory, now),
            Seen::Conflict
        );
        cache.answered(addr(1000), 7, [1; 16], b"accept".to_vec());
        assert_eq!(
            cache.check(addr(1000), 7, [1; 16], mallory, now),
            Seen::Conflict
        );
        assert_eq!(
            cache.check(addr(1000), 7, [1; 16], alice, now),
            Seen::Answered(b"accept".to_vec())
        );
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn duplicates_are_dropped_while_in_progress_then_answered_from_the_cache() {
        let mut cache = ResponseCache::new(Duration::from_secs(30), 1000);
        let now = Instant::now();
        assert_eq!(cache.check(addr(1000), 7, [1; 16], D, now), Seen::New);
        assert_eq!(
            cache.check(addr(1000), 7, [1; 16], D, now),
            Seen::InProgress
        );
        cache.answered(addr(1000), 7, [1; 16], b"reply".to_vec());
        assert_eq!(
            cache.check(addr(1000), 7, [1; 16], D, now),
            Seen::Answered(b"reply".to_vec())
        );
    }

    #[test]
    fn the_key_is_address_port_identifier_and_authenticator() {
        let mut cache = ResponseCache::new(Duration::from_secs(30), 1000);
        let now = Instant::now();
        assert_eq!(cache.check(addr(1000), 7, [1; 16], D, now), Seen::New);
        cache.answered(addr(1000), 7, [1; 16], b"reply".to_vec());
        assert_eq!(
            cache.check(addr(1001), 7, [1; 16], D, now),
            Seen::New,
            "another port"
        );
        assert_eq!(
            cache.check(addr(1000), 8, [1; 16], D, now),
            Seen::New,
            "another identifier"
        );
        assert_eq!(
            cache.check(addr(1000), 7, [2; 16], D, now),
            Seen::New,
            "a new request reusing the identifier"
        );
        assert_eq!(
            cache.check(addr(1000), 7, [2; 16], D, now),
            Seen::InProgress
        );
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let mut cache = ResponseCache::new(Duration::from_secs(30), 2);
        let now = Instant::now();
        for id in 0..5 {
            assert_eq!(cache.check(addr(1), id, [1; 16], D, now), Seen::New);
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.check(addr(1), 4, [1; 16], D, now),
            Seen::InProgress,
            "the newest stay"
        );
        assert_eq!(
            cache.check(addr(1), 0, [1; 16], D, now),
            Seen::New,
            "the oldest went first"
        );
    }

    #[test]
    fn entries_expire_and_forgotten_requests_are_handled_again() {
        let mut cache = ResponseCache::new(Duration::from_secs(30), 1000);
        let start = Instant::now();
        cache.check(addr(1), 1, [1; 16], D, start);
        cache.answered(addr(1), 1, [1; 16], b"r".to_vec());
        cache.check(addr(2), 1, [1; 16], D, start);
        cache.forget(addr(2), 1, [1; 16]);
        assert_eq!(cache.check(addr(2), 1, [1; 16], D, start), Seen::New);
        let later = start + Duration::from_secs(31);
        assert_eq!(cache.check(addr(1), 1, [1; 16], D, later), Seen::New);
        assert_eq!(cache.len(), 1);
    }
}
