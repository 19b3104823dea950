//! Password hashing for local accounts: argon2id, PHC strings.
//!
//! Every argon2 run (a check, a decoy, a new hash) borrows its memory
//! from [`Memory`]: a buffer kept from an earlier run instead of its
//! memory cost allocated anew, so the memory passwords take stays at what
//! the runs going at once need (the allocator would otherwise keep a freed
//! 19 MiB per thread that ever ran one, and a flood of logins would leave
//! hundreds of MiB behind). Kept buffers are given back once no run has
//! borrowed one for [`IDLE_RELEASE`], so an idle server holds none.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
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

/// Kept argon2 buffers are given back after this long without a run.
pub const IDLE_RELEASE: Duration = Duration::from_secs(30);

/// Blocks of address space each kept buffer reserves: 32 MiB, glibc's
/// largest dynamic mmap threshold. An allocation that large is always
/// mapped on its own and unmapped when freed, so a buffer given back
/// returns to the system at once; a smaller one (19 MiB) freed raises
/// glibc's threshold and later ones are carved from its arenas and kept.
/// Only the blocks a run touches become resident.
const RESERVED_BLOCKS: usize = 32 * 1024;

/// Bytes of a new hash's salt and output.
const SALT_BYTES: usize = 16;
const OUTPUT_BYTES: usize = 32;

/// Hashes and verifies passwords with fixed parameters.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    argon2: Argon2<'static>,
    params: Params,
    /// What a check against a user who does not exist runs: the
    /// configured costs, a random salt, and an output no password gives
    /// (random), so unknown usernames take as long as wrong passwords.
    decoy: Decoy,
    memory: Arc<Memory>,
}

#[derive(Debug, Clone, Copy)]
struct Decoy {
    salt: [u8; SALT_BYTES],
    expected: [u8; OUTPUT_BYTES],
}

/// argon2 memory kept between runs.
#[derive(Debug, Default)]
struct Memory {
    spare: Mutex<Spare>,
}

#[derive(Debug, Default)]
struct Spare {
    buffers: Vec<Vec<Block>>,
    /// When a run last gave a buffer back.
    last_used: Option<Instant>,
}

impl Memory {
    /// Runs `work` on at least `blocks` blocks, borrowed and given back.
    fn with_blocks<R>(&self, blocks: usize, work: impl FnOnce(&mut [Block]) -> R) -> R {
        let mut buffer = self
            .spare()
            .buffers
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(blocks.max(RESERVED_BLOCKS)));
        if buffer.len() < blocks {
            buffer.resize(blocks, Block::default());
        }
        let result = work(&mut buffer[..blocks]);
        let mut spare = self.spare();
        spare.buffers.push(buffer);
        spare.last_used = Some(Instant::now());
        result
    }

    fn spare(&self) -> std::sync::MutexGuard<'_, Spare> {
        self.spare.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the kept buffers if no run gave one back within `idle` before
    /// `now`; how many bytes were given back.
    fn release_idle(&self, now: Instant, idle: Duration) -> usize {
        let mut spare = self.spare();
        let quiet = spare
            .last_used
            .is_none_or(|at| now.saturating_duration_since(at) >= idle);
        if !quiet {
            return 0;
        }
        let bytes = spare
            .buffers
            .iter()
            .map(|buffer| buffer.len() * size_of::<Block>())
            .sum();
        spare.buffers = Vec::new();
        bytes
    }
}

fn random<const N: usize>() -> Result<[u8; N], PasswordError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| PasswordError::Params(e.to_string()))?;
    Ok(bytes)
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
        Ok(PasswordHashing {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            params,
            decoy: Decoy {
                salt: random()?,
                expected: random()?,
            },
            memory: Arc::default(),
        })
    }

    /// A new PHC string for `password` under the configured costs and a
    /// random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        if password.is_empty() {
            return Err(PasswordError::Empty);
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        self.hash_with_salt(password, &random::<SALT_BYTES>()?)
    }

    fn hash_with_salt(&self, password: &str, salt: &[u8]) -> Result<String, PasswordError> {
        let failed = |e: &dyn std::fmt::Display| PasswordError::Params(e.to_string());
        let mut out = [0u8; OUTPUT_BYTES];
        self.memory
            .with_blocks(self.params.block_count(), |blocks| {
                self.argon2.hash_password_into_with_memory(
                    password.as_bytes(),
                    salt,
                    &mut out,
                    blocks,
                )
            })
            .map_err(|e| failed(&e))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| failed(&e))?,
            salt: Some(Salt::new(salt).map_err(|e| failed(&e))?),
            hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
        };
        Ok(phc.to_string())
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
        let argon2 = Argon2::new(algorithm, version, params);
        self.matches(&argon2, password, salt.as_ref(), expected.as_bytes())
    }

    /// Whether `password` under `argon2` and `salt` gives `expected`,
    /// compared in constant time.
    fn matches(&self, argon2: &Argon2<'_>, password: &str, salt: &[u8], expected: &[u8]) -> bool {
        let mut out = vec![0u8; expected.len()];
        let hashed = self
            .memory
            .with_blocks(argon2.params().block_count(), |blocks| {
                argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
            });
        hashed.is_ok() && bool::from(out.ct_eq(expected))
    }

    /// Spends the same work as [`verify`](Self::verify) under the
    /// configured costs and always fails.
    pub fn verify_decoy(&self, password: &str) {
        let _ = self.matches(
            &self.argon2,
            password,
            &self.decoy.salt,
            &self.decoy.expected,
        );
    }

    /// Gives the kept argon2 memory back if no run used it for
    /// [`IDLE_RELEASE`] before `now`; the bytes given back.
    pub fn release_idle(&self, now: Instant) -> usize {
        self.memory.release_idle(now, IDLE_RELEASE)
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

    /// A hash written here is the PHC string the argon2 crate itself
    /// writes for the same salt, so any argon2 implementation reads it.
    #[test]
    fn hashes_are_the_crates_own_phc_strings() {
        use argon2::password_hash::PasswordHasher as _;
        let hashing = fast();
        let salt = [7u8; SALT_BYTES];
        assert_eq!(
            hashing.hash_with_salt("correct horse", &salt).unwrap(),
            hashing
                .argon2
                .hash_password_with_salt(b"correct horse", &salt)
                .unwrap()
                .to_string()
        );
    }

    fn kept(hashing: &PasswordHashing) -> Vec<usize> {
        hashing
            .memory
            .spare()
            .buffers
            .iter()
            .map(|blocks| blocks.as_ptr() as usize)
            .collect()
    }

    /// The argon2 path allocates its memory once and reuses it: hashing
    /// and a thousand checks in a row are served by one buffer, and checks
    /// from eight threads at once leave at most eight.
    #[test]
    fn argon2_memory_is_reused_across_checks() {
        let hashing = fast();
        assert!(kept(&hashing).is_empty(), "nothing is kept before a run");
        let hash = hashing.hash("pw").unwrap();
        let first = kept(&hashing);
        assert_eq!(first.len(), 1);
        assert!(hashing.verify("pw", &hash));
        for _ in 0..1000 {
            assert!(!hashing.verify("wrong", &hash));
        }
        hashing.verify_decoy("pw");
        assert_eq!(kept(&hashing), first, "the same buffer served every run");
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..25 {
                        hashing.verify_decoy("pw");
                    }
                });
            }
        });
        let now = kept(&hashing);
        assert!(
            (1..=8).contains(&now.len()) && now.contains(&first[0]),
            "{now:?}"
        );
    }

    /// Kept memory is given back only after a quiet spell, and the next
    /// run works on a new buffer.
    #[test]
    fn idle_memory_is_given_back() {
        let hashing = fast();
        let hash = hashing.hash("pw").unwrap();
        let used = Instant::now();
        let buffer = 64 * 1024;
        assert_eq!(hashing.release_idle(used), 0, "just used");
        assert_eq!(
            hashing.release_idle(used + IDLE_RELEASE - Duration::from_secs(1)),
            0,
            "not quiet long enough"
        );
        assert_eq!(kept(&hashing).len(), 1);
        assert_eq!(hashing.release_idle(used + IDLE_RELEASE), buffer);
        assert!(kept(&hashing).is_empty());
        assert_eq!(hashing.release_idle(used + IDLE_RELEASE), 0, "nothing left");
        assert!(hashing.verify("pw", &hash));
        assert_eq!(kept(&hashing).len(), 1);
    }

    /// An unknown user's check costs what a real one does: the decoy runs
    /// on the configured costs (the same memory) and never matches.
    #[test]
    fn the_decoy_runs_the_configured_costs_and_never_matches() {
        let hashing = fast();
        hashing.verify_decoy("pw");
        assert_eq!(
            hashing.release_idle(Instant::now() + IDLE_RELEASE),
            64 * 1024
        );
        let decoy = &hashing.decoy;
        assert!(!hashing.matches(&hashing.argon2, "", &decoy.salt, &decoy.expected));
    }

    #[test]
    fn bad_passwords_are_refused() {
        assert_eq!(fast().hash(""), Err(PasswordError::Empty));
        assert_eq!(fast().hash(&"x".repeat(129)), Err(PasswordError::TooLong));
    }
}
