//! Directory users through the service: the first factor for users who are
//! not local, and the administrator's view of a directory user (`gatehouse
//! directory test`, TOTP enrollment).
//!
//! Local accounts come first: a local user named like a directory user is
//! the local one (a break-glass account keeps working while the directory
//! is down). Everything the directory refuses — unknown, ambiguous,
//! disabled, outside the allowed groups, wrong password — is refused before
//! admission and never counts.

use super::policies::Route;
use super::{Gatehouse, TOTP_ISSUER, TotpEnrollment};
use crate::directory::{
    Directory, DirectoryEntry, DirectoryUnavailable, PasswordChecks, Resolution,
};
use crate::identity::Username;
use crate::outcome::{FirstFactor, Refusal};
use crate::policy::group_keys;
use crate::store::{StoreError, TotpRecord};
use crate::totp::{TotpMode, TotpSecret};

/// Why a directory user could not be looked up or changed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryUserError {
    #[error("no directory is configured ([[directory]])")]
    NotConfigured,
    #[error("no directory entry is named {0:?}")]
    NotFound(String),
    #[error("{login:?} matches several directory entries: {}", entries.join("; "))]
    Ambiguous { login: String, entries: Vec<String> },
    #[error(transparent)]
    Unavailable(#[from] DirectoryUnavailable),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Gatehouse {
    /// The first factor of a user found in the directory: resolve the name
    /// to one entry, refuse disabled entries and those outside the allowed
    /// groups, then check the password by binding as the entry.
    pub(super) async fn directory_first_factor(
        &self,
        directory: &dyn Directory,
        login: &str,
        username: &Username,
        typed: &str,
        route: &Route<'_>,
    ) -> Result<FirstFactor, Refusal> {
        let entry = match directory.resolve(login).await {
            Ok(Resolution::Found(entry)) => entry,
            Ok(Resolution::NotFound) => {
                self.spend_decoy(login, typed).await?;
                tracing::info!(username = ?login, "authentication failed: unknown user");
                return Err(Refusal::InvalidCredentials);
            }
            Ok(Resolution::Ambiguous(entries)) => {
                self.spend_decoy(login, typed).await?;
                tracing::warn!(
                    username = ?login,
                    entries = %entries.join("; "),
                    "authentication refused: the username matches several directory entries"
                );
                return Err(Refusal::InvalidCredentials);
            }
            Err(error) => {
                tracing::error!(username = ?login, %error, "authentication failed: directory unavailable");
                return Err(Refusal::ServiceUnavailable);
            }
        };
        let identity = entry.identity();
        self.refuse_if_locked(&identity, self.clock.now())?;
        // Disabled and outside-the-groups entries cost the same decoy work
        // as unknown names: response time does not tell them apart.
        if entry.disabled {
            self.spend_decoy(login, typed).await?;
            tracing::info!(username = %identity.username, dn = %entry.dn, "authentication failed: account disabled in the directory");
            return Err(Refusal::InvalidCredentials);
        }
        if !entry.allowed {
            self.spend_decoy(login, typed).await?;
            tracing::info!(username = %identity.username, dn = %entry.dn, "authentication failed: not in an allowed directory group");
            return Err(Refusal::InvalidCredentials);
        }
        let factors = match (self.accounts)
            .directory_user(self.store.as_ref(), username, &identity.seat)
            .await
        {
            Ok(factors) => factors,
            Err(error) => return Err(self.unavailable(&identity, &error)),
        };
        let (totp, push) = (factors.totp.clone(), factors.push);
        let groups = self.directory_groups(directory, &entry).await?;
        let chosen = self.choose_policy(
            &identity,
            groups.iter().map(String::as_str),
            &entry.directory,
            route,
        )?;
        let Some((password, second_factor)) = self.second_factor(totp, push, typed) else {
            tracing::info!(username = %identity.username, "authentication failed: no one-time code after the password");
            return Err(Refusal::InvalidCredentials);
        };
        if password.is_empty() {
            tracing::info!(username = %identity.username, "authentication failed: empty password");
            return Err(Refusal::InvalidCredentials);
        }
        match directory.check_password(&entry, password).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(username = %identity.username, dn = %entry.dn, "authentication failed: wrong password");
                self.wrong_password(&identity, password).await;
                return Err(Refusal::InvalidCredentials);
            }
            Err(error) => {
                tracing::error!(username = %identity.username, %error, "authentication failed: directory unavailable");
                return Err(Refusal::ServiceUnavailable);
            }
        }
        let exempt = entry.in_groups(&self.mfa.exempt_groups);
        let second_factor =
            self.narrow(&identity, chosen.as_ref(), second_factor, self.phone(push));
        let keys = group_keys(&entry.directory, groups.iter().map(String::as_str));
        self.passed_password(identity, route, second_factor, chosen, exempt, &keys)
    }

    /// Whether a directory is configured.
    pub fn has_directory(&self) -> bool {
        self.directory.is_some()
    }

    /// How the directories answered password checks (`None`: no
    /// directory).
    pub fn directory_password_checks(&self) -> Option<PasswordChecks> {
        self.directory.as_ref().map(|d| d.password_checks())
    }

    /// The one entry `login` names, for an administrator (no password, no
    /// counting).
    pub async fn directory_user(&self, login: &str) -> Result<DirectoryEntry, DirectoryUserError> {
        let directory = self
            .directory
            .as_ref()
            .ok_or(DirectoryUserError::NotConfigured)?;
        match directory.resolve(login).await? {
            Resolution::Found(entry) => Ok(*entry),
            Resolution::NotFound => Err(DirectoryUserError::NotFound(login.to_string())),
            Resolution::Ambiguous(entries) => Err(DirectoryUserError::Ambiguous {
                login: login.to_string(),
                entries,
            }),
        }
    }

    /// Whether `password` is the password of the entry `login` names, for
    /// `gatehouse directory test` (nothing is counted).
    pub async fn check_directory_password(
        &self,
        entry: &DirectoryEntry,
        password: &str,
    ) -> Result<bool, DirectoryUserError> {
        let directory = self
            .directory
            .as_ref()
            .ok_or(DirectoryUserError::NotConfigured)?;
        if password.is_empty() {
            return Ok(false);
        }
        Ok(directory.check_password(entry, password).await?)
    }

    /// The TOTP mode a directory entry logs in with, if enrolled.
    pub async fn directory_totp_mode(
        &self,
        entry: &DirectoryEntry,
    ) -> Result<Option<TotpMode>, StoreError> {
        Ok(self
            .store
            .totp(&entry.identity().seat)
            .await?
            .map(|record| record.mode.unwrap_or(self.totp_mode)))
    }

    /// Enrolls (or re-enrolls) TOTP for the directory entry `login` names,
    /// keyed on its stable identity: every spelling of the name, and a
    /// rename, keep the same enrollment.
    pub async fn enroll_directory_totp(
        &self,
        login: &str,
        mode: Option<TotpMode>,
    ) -> Result<(DirectoryEntry, TotpEnrollment), DirectoryUserError> {
        let entry = self.directory_user(login).await?;
        let identity = entry.identity();
        let record = TotpRecord {
            seat: identity.seat.clone(),
            secret: TotpSecret::generate(),
            mode,
            enrolled_at: self.clock.now(),
        };
        self.store.enroll_totp(&record).await?;
        self.accounts.changed(self.store.as_ref()).await;
        tracing::info!(username = %identity.username, seat = identity.seat.as_str(), "TOTP enrolled");
        let enrollment = TotpEnrollment {
            uri: record.secret.otpauth_uri(TOTP_ISSUER, &identity.username),
            secret: record.secret,
            mode: mode.unwrap_or(self.totp_mode),
        };
        Ok((entry, enrollment))
    }

    /// Removes the TOTP enrollment of the directory entry `login` names;
    /// `false` when it had none.
    pub async fn remove_directory_totp(&self, login: &str) -> Result<bool, DirectoryUserError> {
        let entry = self.directory_user(login).await?;
        let removed = self.store.remove_totp(&entry.identity().seat).await?;
        self.accounts.changed(self.store.as_ref()).await;
        Ok(removed)
    }
}
