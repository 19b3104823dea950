//! Local users, TOTP enrollments, RADIUS clients, administrators with
//! their sessions, API tokens and sign-in limits.

use async_trait::async_trait;
use gatehouse_license::jiff::Timestamp;

use super::StoreResult;
use crate::clients::RadiusClient;
use crate::identity::{SeatKey, Username};
use crate::totp::{TotpMode, TotpSecret};

/// A local user's account.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalUserRecord {
    pub username: Username,
    /// As typed when the account was made.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub enabled: bool,
    /// Logs in with the password alone while a second factor is required
    /// (`mfa.required`): service accounts. Covered by the row's tag.
    pub second_factor_exempt: bool,
    /// The local groups the user is in, sorted. Covered by the row's tag.
    pub groups: Vec<LocalGroupName>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for LocalUserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalUserRecord")
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("password_hash", &"<hash>")
            .field("enabled", &self.enabled)
            .field("second_factor_exempt", &self.second_factor_exempt)
            .field("groups", &self.groups)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Local user accounts.
#[async_trait]
pub trait LocalUserStore: Send + Sync {
    async fn local_user(&self, username: &Username) -> StoreResult<Option<LocalUserRecord>>;

    /// Fails with [`StoreError::AlreadyExists`] for a taken name and
    /// [`StoreError::Missing`] for a group that does not exist.
    async fn add_local_user(&self, user: &LocalUserRecord) -> StoreResult<()>;

    /// Returns false when there is no such user.
    async fn set_local_user_enabled(&self, username: &Username, enabled: bool)
    -> StoreResult<bool>;

    async fn set_local_user_password(
        &self,
        username: &Username,
        password_hash: &str,
    ) -> StoreResult<bool>;

    /// Removes the account and its second factors; its seat this month
    /// stays counted.
    async fn delete_local_user(&self, username: &Username) -> StoreResult<bool>;

    /// Sets whether the user may log in without a second factor; `false`
    /// when there is no such user.
    async fn set_local_user_second_factor_exempt(
        &self,
        username: &Username,
        exempt: bool,
    ) -> StoreResult<bool>;

    async fn local_users(&self) -> StoreResult<Vec<LocalUserRecord>>;

    /// A local user's email address (where an enrollment invitation goes);
    /// `Ok(None)` when there is none or no such user.
    async fn local_user_email(&self, username: &Username) -> StoreResult<Option<String>>;

    /// Sets or clears a local user's email address; `false` when there is
    /// no such user.
    async fn set_local_user_email(
        &self,
        username: &Username,
        email: Option<&str>,
    ) -> StoreResult<bool>;

    /// Makes an empty local group; [`StoreError::AlreadyExists`] for a
    /// taken name.
    async fn add_local_group(&self, name: &LocalGroupName, at: Timestamp) -> StoreResult<()>;

    /// Deletes a group and takes it out of every account that was in it,
    /// in one transaction; `false` when there is no such group.
    async fn delete_local_group(&self, name: &LocalGroupName) -> StoreResult<bool>;

    /// The local groups, by name.
    async fn local_groups(&self) -> StoreResult<Vec<LocalGroup>>;

    /// Changes the groups a local user is in, tagging the row anew, from
    /// the groups the row holds when it is written (so two edits at once
    /// both hold). `false` when there is no such user;
    /// [`StoreError::Missing`] naming a group to join that does not
    /// exist (then nothing changed).
    async fn edit_local_user_groups(
        &self,
        username: &Username,
        edit: &GroupEdit,
    ) -> StoreResult<bool>;

    /// Changes whenever a local account or a TOTP enrollment changes
    /// (not when a code is used): processes compare it to know when their
    /// in-memory copy of the local directory is stale.
    async fn local_directory_generation(&self) -> StoreResult<i64>;
}

/// A local group's name: 1 to 64 characters of lowercase letters, digits,
/// `-`, `_` and `.` (typed in any case), so that `local:<name>` names it
/// in a policy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalGroupName(String);

impl LocalGroupName {
    pub fn parse(text: &str) -> Result<LocalGroupName, String> {
        let name = text.trim().to_lowercase();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "{text:?} is not a group name: use 1 to 64 letters, digits, '-', '_' or '.'"
            ));
        }
        Ok(LocalGroupName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LocalGroupName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A change of a local user's groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEdit {
    /// In exactly these.
    Set(Vec<LocalGroupName>),
    Join(LocalGroupName),
    Leave(LocalGroupName),
}

impl GroupEdit {
    /// The groups after the edit, from `groups` before it: sorted, once
    /// each.
    pub fn apply(&self, groups: &[LocalGroupName]) -> Vec<LocalGroupName> {
        let mut after: Vec<LocalGroupName> = match self {
            GroupEdit::Set(set) => set.clone(),
            GroupEdit::Join(group) => groups.iter().chain([group]).cloned().collect(),
            GroupEdit::Leave(group) => groups.iter().filter(|g| *g != group).cloned().collect(),
        };
        after.sort_unstable();
        after.dedup();
        after
    }

    /// The groups the edit joins (which must exist).
    pub fn joined(&self) -> &[LocalGroupName] {
        match self {
            GroupEdit::Set(set) => set,
            GroupEdit::Join(group) => std::slice::from_ref(group),
            GroupEdit::Leave(_) => &[],
        }
    }
}

/// A local group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalGroup {
    pub name: LocalGroupName,
    pub created_at: Timestamp,
}

/// A TOTP enrollment, keyed on the seat key (the stable identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub seat: SeatKey,
    pub secret: TotpSecret,
    /// `None`: the configured default mode.
    pub mode: Option<TotpMode>,
    pub enrolled_at: Timestamp,
}

/// Second factors.
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    async fn totp(&self, seat: &SeatKey) -> StoreResult<Option<TotpRecord>>;

    /// Enrolls a secret, replacing any earlier one (and forgetting which
    /// codes it used).
    async fn enroll_totp(&self, record: &TotpRecord) -> StoreResult<()>;

    async fn remove_totp(&self, seat: &SeatKey) -> StoreResult<bool>;

    /// Marks time step `step` used, atomically: true only if no step at or
    /// after it was used before. A code is therefore accepted once, and
    /// never after a later one (replay protection across processes).
    async fn use_totp_step(&self, seat: &SeatKey, step: i64) -> StoreResult<bool>;
}

/// RADIUS clients added at run time (`gatehouse client add`).
#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn radius_clients(&self) -> StoreResult<Vec<RadiusClient>>;

    /// Fails with [`StoreError::AlreadyExists`] for a taken name.
    async fn add_radius_client(&self, client: &RadiusClient) -> StoreResult<()>;

    async fn delete_radius_client(&self, name: &str) -> StoreResult<bool>;
}

/// An administrator of the panel and API.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminRecord {
    pub name: Username,
    /// argon2id PHC string.
    pub password_hash: String,
    pub created_at: Timestamp,
    /// The first-start administrator's one-time password: replaced at the
    /// first sign-in before anything else.
    pub must_change_password: bool,
}

/// An API token. Only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_hash: [u8; 32],
    pub admin: Username,
    pub created_at: Timestamp,
    /// `None`: until revoked.
    pub expires_at: Option<Timestamp>,
    /// What it is for, as its creator said (may be empty).
    pub label: String,
}

/// What deleting an administrator did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRemoval {
    Deleted,
    Missing,
    /// Refused: nobody else could sign in.
    LastOne,
}

impl std::fmt::Debug for AdminRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminRecord")
            .field("name", &self.name)
            .field("password_hash", &"<hash>")
            .field("created_at", &self.created_at)
            .field("must_change_password", &self.must_change_password)
            .finish()
    }
}

/// A signed-in panel session. Only the SHA-256 of the session token is
/// stored, so a copy of the database does not sign anyone in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: [u8; 32],
    pub admin: Username,
    /// The CSRF token every form and unsafe API call of the session carries.
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Administrators, their API tokens and panel sessions.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Fails with [`StoreError::AlreadyExists`] for a taken name.
    async fn add_admin(&self, admin: &AdminRecord) -> StoreResult<()>;

    async fn admin(&self, name: &Username) -> StoreResult<Option<AdminRecord>>;

    async fn admin_count(&self) -> StoreResult<u64>;

    /// Every authentic administrator, by name.
    async fn admins(&self) -> StoreResult<Vec<AdminRecord>>;

    /// Replaces an administrator's password (and its must-change mark) and
    /// ends their sessions, all but `keep` (the session that changed it),
    /// in one transaction. `false`: no such administrator.
    async fn set_admin_password(
        &self,
        name: &Username,
        password_hash: &str,
        must_change_password: bool,
        keep: Option<&[u8; 32]>,
    ) -> StoreResult<bool>;

    /// Deletes an administrator with their tokens and sessions, unless no
    /// other authentic administrator would remain; atomic across nodes
    /// (two deleting each other at once leave one).
    async fn delete_admin(&self, name: &Username) -> StoreResult<AdminRemoval>;

    /// Stores a new API token (its SHA-256).
    async fn add_admin_token(&self, token: &TokenRecord) -> StoreResult<()>;

    /// The authentic token with this hash, expired or not.
    async fn admin_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<TokenRecord>>;

    /// An administrator's authentic tokens, oldest first.
    async fn admin_tokens(&self, admin: &Username) -> StoreResult<Vec<TokenRecord>>;

    /// Revokes one of an administrator's tokens. `false`: none such.
    async fn delete_admin_token(
        &self,
        admin: &Username,
        token_hash: &[u8; 32],
    ) -> StoreResult<bool>;

    /// Ends every panel session of an administrator; returns how many.
    async fn delete_admin_sessions(&self, admin: &Username) -> StoreResult<u64>;

    /// How many unexpired panel sessions an administrator has.
    async fn admin_session_count(&self, admin: &Username, now: Timestamp) -> StoreResult<u64>;

    async fn add_session(&self, session: &SessionRecord) -> StoreResult<()>;

    async fn session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SessionRecord>>;

    async fn delete_session(&self, token_hash: &[u8; 32]) -> StoreResult<()>;

    /// Removes sessions that expired before `now`; returns how many.
    async fn delete_expired_sessions(&self, now: Timestamp) -> StoreResult<u64>;

    /// Reserves one sign-in attempt under each key at `at`, in one
    /// transaction, all or none: `Ok(None)` when reserved; `Ok(Some((i,
    /// until)))` when `keys[i]` already holds its limit of attempts in its
    /// window, which ends at `until` (nothing is reserved then). A key's
    /// window starts with its first attempt and lasts `window`.
    async fn reserve_sign_in(
        &self,
        keys: &[AttemptKey],
        window: std::time::Duration,
        at: Timestamp,
    ) -> StoreResult<Option<(usize, Timestamp)>>;

    /// Gives back one attempt under each key (a successful sign-in).
    async fn release_sign_in(&self, keys: &[AttemptKey]) -> StoreResult<()>;
}

/// A key sign-in attempts are counted under, and how many it allows per
/// window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKey {
    pub key: String,
    pub limit: u32,
}
