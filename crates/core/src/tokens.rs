//! Random tokens and what is stored of them: one place for every secret
//! Gatehouse hands out (sessions, API tokens, push ids and nonces,
//! enrollment links) and for the number a push asks the user to match.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// 256 random bits, base64url.
pub fn random_token() -> String {
    random_text(32)
}

/// `bytes` random bytes, base64url.
pub fn random_text(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random).expect("the operating system provides randomness");
    URL_SAFE_NO_PAD.encode(random)
}

/// What is stored for a secret handed out: its SHA-256, never the secret.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A uniform random number below `bound` (rejection sampling).
pub fn random_below(bound: u8) -> u8 {
    let limit = u8::MAX - u8::MAX % bound;
    loop {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).expect("the operating system provides randomness");
        if byte[0] < limit {
            return byte[0] % bound;
        }
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The bytes of lowercase or uppercase hex; `None` for anything else.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_only_their_hash_is_kept() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(URL_SAFE_NO_PAD.decode(random_text(16)).unwrap().len(), 16);
    }

    #[test]
    fn random_below_stays_below_and_reaches_every_value() {
        let mut seen = [false; 3];
        for _ in 0..300 {
            let n = random_below(3);
            assert!(n < 3);
            seen[n as usize] = true;
        }
        assert_eq!(seen, [true; 3]);
    }
}
