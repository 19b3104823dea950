//! In-memory copies that keep the first factor off the database for
//! returning users (and [`crate::credentials`] keeps it off argon2).
//!
//! - [`LocalAccounts`]: local accounts, their TOTP enrollments and phones,
//!   and the TOTP enrollments and phones of directory users who logged in,
//!   read once and kept until the store's directory generation changes
//!   (checked every tick, so a change made by another process is seen
//!   within a second; changes made through this process are seen at once).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use crate::identity::{Identity, SeatKey, Username};
use crate::store::{LocalUserRecord, PushUser, Store, StoreResult, TotpRecord};

/// A local account as the first factor needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub user: LocalUserRecord,
    pub totp: Option<TotpRecord>,
    /// Enrolled phones and push mode.
    pub push: PushUser,
    /// Built once; cloning it is cheap.
    pub identity: Identity,
}

/// A directory user's second factors, remembered under the login name
/// that found the entry, for the entry's seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectoryUser {
    pub seat: SeatKey,
    pub totp: Option<TotpRecord>,
    pub push: PushUser,
}

/// By default at most this many directory login names are remembered;
/// past it the rest are read from the store at each login (so a directory
/// of any size cannot grow the process without bound).
pub const MAX_DIRECTORY_USERS: usize = 65_536;

/// Local accounts read from the store, by canonical username, and the
/// second factors of directory users who logged in (which also says the
/// name is not a local account's, so their logins read nothing from the
/// store).
#[derive(Debug)]
pub(crate) struct LocalAccounts {
    generation: AtomicI64,
    copies: RwLock<Copies>,
    /// At most this many directory login names are remembered.
    directory_cap: usize,
}

#[derive(Debug, Default)]
struct Copies {
    /// Moves whenever everything is forgotten: a copy read from the store
    /// before that is not kept (it may predate the change).
    epoch: u64,
    accounts: HashMap<Username, Arc<Account>>,
    directory: HashMap<Username, Arc<DirectoryUser>>,
}

/// A user's TOTP enrollment and phones, read together.
async fn second_factors(
    store: &dyn Store,
    seat: &SeatKey,
) -> StoreResult<(Option<TotpRecord>, PushUser)> {
    tokio::try_join!(store.totp(seat), store.push_user(seat))
}

impl LocalAccounts {
    /// Nothing read yet; at most `directory_cap` directory login names
    /// will be remembered.
    pub fn new(directory_cap: usize) -> LocalAccounts {
        LocalAccounts {
            generation: AtomicI64::new(i64::MIN),
            copies: RwLock::new(Copies::default()),
            directory_cap,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Copies> {
        self.copies.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Copies> {
        self.copies.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The account, from memory or else from the store. Unknown names are
    /// not remembered (so guessing names cannot fill memory); a name a
    /// directory user logged in with is known not to be local.
    pub async fn get(
        &self,
        store: &dyn Store,
        username: &Username,
    ) -> StoreResult<Option<Arc<Account>>> {
        let epoch = {
            let copies = self.read();
            if let Some(account) = copies.accounts.get(username) {
                return Ok(Some(account.clone()));
            }
            if copies.directory.contains_key(username) {
                return Ok(None);
            }
            copies.epoch
        };
        let Some(user) = store.local_user(username).await? else {
            return Ok(None);
        };
        let seat = SeatKey::local(username);
        let (totp, push) = second_factors(store, &seat).await?;
        let identity = Identity::local(&user.username, &user.display_name);
        let account = Arc::new(Account {
            user,
            totp,
            push,
            identity,
        });
        let mut copies = self.write();
        if copies.epoch == epoch {
            copies.accounts.insert(username.clone(), account.clone());
        }
        Ok(Some(account))
    }

    /// The second factors of the directory entry `username` found (its
    /// `seat`), from memory or else from the store. Called only once the
    /// directory found the entry, so only real users are remembered; a
    /// name that now finds another entry is read again.
    pub async fn directory_user(
        &self,
        store: &dyn Store,
        username: &Username,
        seat: &SeatKey,
    ) -> StoreResult<Arc<DirectoryUser>> {
        let epoch = {
            let copies = self.read();
            if let Some(user) = copies.directory.get(username).filter(|u| u.seat == *seat) {
                return Ok(user.clone());
            }
            copies.epoch
        };
        let (totp, push) = second_factors(store, seat).await?;
        let user = Arc::new(DirectoryUser {
            seat: seat.clone(),
            totp,
            push,
        });
        let mut copies = self.write();
        let room =
            copies.directory.len() < self.directory_cap || copies.directory.contains_key(username);
        if copies.epoch == epoch && room {
            copies.directory.insert(username.clone(), user.clone());
        }
        Ok(user)
    }

    /// Forgets everything (after a change made through this process).
    pub fn invalidate(&self) {
        let mut copies = self.write();
        copies.epoch += 1;
        copies.accounts.clear();
        copies.directory.clear();
    }

    /// After a change made through this process: forgets everything and
    /// takes the store's generation (which the change moved) as seen, so
    /// the next check does not drop the copy again once it is read anew.
    pub async fn changed(&self, store: &dyn Store) {
        self.invalidate();
        if let Err(error) = self.refresh(store).await {
            tracing::warn!(%error, "could not read the local directory's generation after a change; the next check will");
        }
    }

    /// Forgets everything if the store's directory changed since the last
    /// check (a change made by another process).
    pub async fn refresh(&self, store: &dyn Store) -> StoreResult<()> {
        let generation = store.local_directory_generation().await?;
        if self.generation.swap(generation, Ordering::AcqRel) != generation {
            self.invalidate();
        }
        Ok(())
    }
}
