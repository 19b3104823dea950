//! Password hashing for local accounts: argon2id, PHC strings.
//!
//! Verification reuses its argon2 memory (`Blocks`): each check borrows a
//! buffer kept from an earlier one instead of allocating its memory cost
//! anew, so the memory passwords take stays at what the checks running at
//! once need (the allocator would otherwise keep a freed 19 MiB per thread
//! that ever ran one, and a flood of logins would leave hundreds of MiB
//! behind).

use std::sync::{Arc, Mutex};

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;

/// argon2id cost parameters. The defaults are OWASP's recommendation
/// (19 MiB, 2 passes, 1 lane); stored hashes carry their own parameters,
/// so raising these only affects new and reset passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> PasswordParams {
        PasswordParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Why a password cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password is empty")]
    Empty,
    #[error("password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
}

/// RADIUS carries at most 128 bytes of User-Password.
pub const MAX_PASSWORD_BYTES: usize = 128;

/// Hashes and verifies passwords with fixed parameters.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    argon2: Argon2<'static>,
    /// A hash of a random password, verified against when a user does not
    /// exist so that unknown usernames take as long as wrong passwords.
    decoy: String,
    /// argon2 memory kept for the next check.
    spare: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl PasswordHashing {
    pub fn new(params: PasswordParams) -> Result<PasswordHashing, PasswordError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| PasswordError::Params(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| PasswordError::Params(e.to_string()))?;
        let decoy = argon2
            .hash_password(&random)
            .map_err(|e| PasswordError::Params(e.to_string()))?
            .to_string();
        Ok(PasswordHashing {
            argon2,
            decoy,
            spare: Arc::default(),
        })
    }

    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        if password.is_empty() {
            return Err(PasswordError::Empty);
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        self.argon2
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| PasswordError::Params(e.to_string()))
    }

    /// Constant-time verification under the stored hash's own algorithm,
    /// version and costs; a malformed stored hash never matches.
    pub fn verify(&self, password: &str, phc_hash: &str) -> bool {
        let Ok(stored) = PasswordHash::new(phc_hash) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(stored.algorithm.as_str()),
            Params::try_from(&stored),
        ) else {
            return false;
        };
        let version = match stored.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(version)) => version,
            Some(Err(_)) => return false,
        };
        let expected = expected.as_bytes();
        let mut out = vec![0u8; expected.len()];
        let mut blocks = self
            .spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        if blocks.len() < params.block_count() {
            blocks.resize(params.block_count(), Block::default());
        }
        let hashed = Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt.as_ref(),
                &mut out,
                &mut blocks[..params.block_count()],
            );
        self.spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(blocks);
        hashed.is_ok() && bool::from(out.ct_eq(expected))
    }

    /// Spends the same work as [`verify`](Self::verify) and always fails.
    pub fn verify_decoy(&self, password: &str) {
        let _ = self.verify(password, &self.decoy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHashing {
        PasswordHashing::new(PasswordParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hashing = fast();
        let hash = hashing.hash("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(hashing.verify("correct horse", &hash));
        assert!(!hashing.verify("correct horsE", &hash));
        assert!(!hashing.verify("correct horse", "not a hash"));
    }

    #[test]
    fn stored_parameters_win_over_configured_ones() {
        let hash = fast().hash("pw").unwrap();
        let stronger = PasswordHashing::new(PasswordParams {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        assert!(stronger.verify("pw", &hash));
    }

    /// The argon2 path allocates its memory once and reuses it: a thousand
    /// checks in a row are served by one buffer, and checks from eight
    /// threads at once leave at most eight.
    #[test]
    fn argon2_memory_is_reused_across_checks() {
        let hashing = fast();
        let hash = hashing.hash("pw").unwrap();
        let kept = || -> Vec<usize> {
            let spare = hashing.spare.lock().unwrap();
            spare
                .iter()
                .map(|blocks| blocks.as_ptr() as usize)
                .collect()
        };
        assert!(kept().is_empty(), "hashing keeps no verification buffer");
        assert!(hashing.verify("pw", &hash));
        let first = kept();
        assert_eq!(first.len(), 1);
        for _ in 0..1000 {
            assert!(!hashing.verify("wrong", &hash));
        }
        assert_eq!(kept(), first, "the same buffer served every check");
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..25 {
                        hashing.verify_decoy("pw");
                    }
                });
            }
        });
        let now = kept();
        assert!(
            (1..=8).contains(&now.len()) && now.contains(&first[0]),
            "{now:?}"
        );
    }

    #[test]
    fn bad_passwords_are_refused() {
        assert_eq!(fast().hash(""), Err(PasswordError::Empty));
        assert_eq!(fast().hash(&"x".repeat(129)), Err(PasswordError::TooLong));
    }
}
