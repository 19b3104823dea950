//! Directory users (SPEC §3, §9): the boundary to LDAP and Active
//! Directory. `gatehouse-directory` implements [`Directory`]; the service
//! decides what a found entry may do and counts it under its stable
//! identity, however its name was typed.

use std::fmt;

use async_trait::async_trait;

use crate::identity::{Identity, SeatKey, Source};

/// One directory entry a login name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The `[[directory]]` it was found in (its `name`).
    pub directory: String,
    /// The server that answered (URL).
    pub server: String,
    pub dn: String,
    /// The stable identity (objectGUID, entryUUID): the seat key, so every
    /// spelling of the name and every rename counts once.
    pub stable_id: String,
    /// The login name shown in the Users table (sAMAccountName, uid, …).
    pub login_name: String,
    pub display_name: String,
    /// The entry's `mail`, if it has one (where an enrollment invitation
    /// goes).
    pub mail: Option<String>,
    /// The groups the entry is a direct member of (`memberOf`).
    pub groups: Vec<String>,
    /// The short names the directory's `group_aliases` give those groups
    /// (`vpn-admins` for `CN=VPN Admins,…`): policies may name either.
    pub aliases: Vec<String>,
    /// Disabled in the directory (Active Directory `userAccountControl`
    /// ACCOUNTDISABLE).
    pub disabled: bool,
    /// Inside the allowed groups (or no group restriction is configured).
    pub allowed: bool,
    /// What changes whenever the entry does (Active Directory's
    /// `uSNChanged`, OpenLDAP's `entryCSN`), if the server said: a
    /// remembered password is bound to it.
    pub revision: Option<String>,
}

impl DirectoryEntry {
    /// Who this entry is to Gatehouse: counted as `directory:<stable id>`.
    pub fn identity(&self) -> Identity {
        Identity {
            seat: SeatKey::directory(&self.stable_id),
            username: self.login_name.as_str().into(),
            display_name: self.display_name.as_str().into(),
            source: Source::Directory,
        }
    }

    /// Whether the entry is a direct member of one of `groups` (DNs).
    pub fn in_groups(&self, groups: &[String]) -> bool {
        in_groups(&self.groups, groups)
    }
}

/// Whether any of `member_of` is one of `groups` (DNs compared without
/// case or spaces around separators).
pub fn in_groups(member_of: &[String], groups: &[String]) -> bool {
    let groups: Vec<String> = groups.iter().map(|dn| normalize_dn(dn)).collect();
    member_of
        .iter()
        .any(|dn| groups.contains(&normalize_dn(dn)))
}

/// A DN for comparison: lowercase, no spaces around `,` and `=`.
pub fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.split('=').map(str::trim).collect::<Vec<_>>().join("="))
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

/// What a login name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Found(Box<DirectoryEntry>),
    /// No entry has that name.
    NotFound,
    /// Several entries could be meant (their DNs): refused, never guessed.
    Ambiguous(Vec<String>),
}

/// No server of a directory could answer (every URL down, timed out, or
/// the service account refused). The text names the servers and errors;
/// it never contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DirectoryUnavailable(pub String);

impl fmt::Display for DirectoryUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "directory unavailable: {}", self.0)
    }
}

/// Looks users up and checks their passwords.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Finds the one entry `login` names (`john`, `EXAMPLE\john`,
    /// `john@example.com`, in any case).
    async fn resolve(&self, login: &str) -> Result<Resolution, DirectoryUnavailable>;

    /// Whether `password` is the entry's: a bind as the entry. Never
    /// called with an empty password (an empty password is an anonymous
    /// bind, which LDAP servers accept).
    async fn check_password(
        &self,
        entry: &DirectoryEntry,
        password: &str,
    ) -> Result<bool, DirectoryUnavailable>;

    /// The groups the entry is in through other groups (the `memberOf` of
    /// its groups, and of theirs), with the aliases those have, when its
    /// directory follows nested groups; none otherwise. Asked only when a
    /// policy names a group of that directory.
    async fn nested_groups(
        &self,
        _entry: &DirectoryEntry,
    ) -> Result<Vec<String>, DirectoryUnavailable> {
        Ok(Vec::new())
    }

    /// How password checks were answered since the process started.
    fn password_checks(&self) -> PasswordChecks {
        PasswordChecks::default()
    }
}

/// How a directory's password checks were answered (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PasswordChecks {
    /// Binds as the user (the password sent to the directory).
    pub binds: u64,
    /// Passwords the directory accepted earlier, for the same entry at the
    /// same revision, remembered (`cache_seconds`): no bind.
    pub remembered: u64,
}
