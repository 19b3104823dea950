//! The front door's rules through the service (SPEC §12): a second factor
//! required unless the user is exempt, and the lockout after failures in a
//! row. What the lockout counts and why it cannot cheaply lock a victim out
//! is in [`crate::lockout`].

use gatehouse_license::jiff::Timestamp;

use super::{Gatehouse, UserError};
use crate::identity::{Identity, SeatKey, Username};
use crate::outcome::Refusal;
use crate::store::{Failure, LockRecord, StoreError};

/// The log event of every login refused because the user is locked out.
pub const LOCKED_OUT_EVENT: &str = "authentication refused: user locked out";

/// A second factor removed by an administrator, and whether its user is
/// left without any while one is required (so can no longer log in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub username: String,
    pub no_second_factor_left: bool,
}

impl Removed {
    /// The warning shown when the user is left without a second factor.
    pub fn warning(&self) -> Option<String> {
        self.no_second_factor_left.then(|| {
            format!(
                "{} has no second factor left and can no longer log in (a second factor is required); enroll a new one or exempt the user",
                self.username
            )
        })
    }
}

/// `[mfa]`: whether a second factor is required, and who is exempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaSettings {
    /// `mfa.required`: a user with no enrolled factor is refused after the
    /// password (unless exempt).
    pub required: bool,
    /// `mfa.exempt_groups`: directory groups (DNs) whose direct members log
    /// in with the password alone.
    pub exempt_groups: Vec<String>,
}

impl Default for MfaSettings {
    fn default() -> MfaSettings {
        MfaSettings {
            required: true,
            exempt_groups: Vec::new(),
        }
    }
}

impl Gatehouse {
    /// Refuses a user who is locked out at `now` (before any password is
    /// checked, so a lock cannot be used to test passwords).
    pub(super) fn refuse_if_locked(
        &self,
        identity: &Identity,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        match self.lockouts.locked_until(&identity.seat, now) {
            None => Ok(()),
            Some(until) => {
                tracing::warn!(username = %identity.username, %until, "{LOCKED_OUT_EVENT}");
                Err(Refusal::LockedOut)
            }
        }
    }

    /// Refuses a user who owes no second factor while one is required,
    /// unless exempt.
    pub(super) fn require_second_factor(
        &self,
        identity: &Identity,
        exempt: bool,
    ) -> Result<(), Refusal> {
        if self.mfa.required && !exempt {
            tracing::warn!(username = %identity.username, "authentication refused: a second factor is required and none is enrolled");
            return Err(Refusal::SecondFactorRequired);
        }
        Ok(())
    }

    /// Counts a wrong password of an existing user (`typed`: what was
    /// typed as the password, digested, never kept).
    pub(super) async fn wrong_password(&self, identity: &Identity, typed: &str) {
        let digest = self.lockouts.password_digest(&identity.seat, typed);
        self.count_failure(identity, Failure::Password { digest })
            .await;
    }

    /// After the second factor: a wrong code or a denied push counts
    /// toward the lockout; a login that got all the way in (`accepted`)
    /// forgets the run. A step that still owes a factor (a challenge) does
    /// neither: the password alone does not end a run of wrong codes.
    pub(super) async fn second_factor_outcome(
        &self,
        identity: &Identity,
        refusal: Option<Refusal>,
        accepted: bool,
    ) {
        match refusal {
            Some(Refusal::InvalidOneTimeCode | Refusal::PushDenied) => {
                self.count_failure(identity, Failure::SecondFactor).await
            }
            None if accepted => self.forget_failures(identity).await,
            _ => {}
        }
    }

    async fn count_failure(&self, identity: &Identity, failure: Failure) {
        let now = self.clock.now();
        match self
            .store
            .record_failure(
                &identity.seat,
                &identity.username,
                &failure,
                &self.lockout_policy,
                now,
            )
            .await
        {
            Ok(lock) => {
                if let Some(lock) = &lock
                    && let Some((_, until)) = lock.locked
                {
                    tracing::warn!(
                        username = %identity.username,
                        %until,
                        locks = lock.locks,
                        cause = match failure {
                            Failure::Password { .. } => "wrong passwords",
                            Failure::SecondFactor => "wrong one-time codes or denied pushes",
                        },
                        "user locked out after failed attempts in a row"
                    );
                }
                self.lockouts
                    .failed(&identity.seat, &identity.username, lock, now);
            }
            Err(error) => {
                tracing::error!(username = %identity.username, %error, "could not record a failed attempt");
            }
        }
    }

    /// A successful login forgets the user's failures (only when this
    /// process knows of some: a returning user touches no lockout row).
    pub(super) async fn forget_failures(&self, identity: &Identity) {
        if !self.lockouts.has_record(&identity.seat) {
            return;
        }
        match self.store.clear_failures(&identity.seat).await {
            Ok(()) => self.lockouts.cleared(&identity.seat),
            Err(error) => {
                tracing::error!(username = %identity.username, %error, "could not clear failed attempts")
            }
        }
    }

    // ----- administration ---------------------------------------------------

    /// Users locked out now, and users with failures in a row.
    pub async fn lockouts(&self) -> Result<Vec<LockRecord>, StoreError> {
        self.store.lockouts().await
    }

    /// Ends a user's lock and forgets their failures. `who` is a username
    /// (any spelling of a local user, a directory user's login name) or a
    /// seat key; `false` when that user was neither locked nor failing.
    pub async fn unlock_user(&self, who: &str) -> Result<bool, StoreError> {
        let mut candidates = vec![who.trim().to_string()];
        if let Ok(username) = Username::parse(who) {
            candidates.push(SeatKey::local(&username).as_str().to_string());
            candidates.push(username.to_string());
        }
        let mut unlocked = false;
        for candidate in candidates {
            unlocked |= self.store.unlock(&candidate).await?;
        }
        if unlocked {
            tracing::info!(user = %who.trim(), "user unlocked by an administrator");
            self.audit("lockout.unlock", who.trim(), serde_json::Value::Null)
                .await;
        }
        self.lockouts.refresh(self.store.as_ref(), true).await?;
        Ok(unlocked)
    }

    /// Locks set by this process, and users locked now (`/metrics`).
    pub fn lockout_counts(&self) -> (u64, usize) {
        (
            self.lockouts.locks_set(),
            self.lockouts.locked_count(self.clock.now()),
        )
    }

    /// Sets whether a local user may log in without a second factor.
    pub async fn set_local_user_second_factor_exempt(
        &self,
        name: &str,
        exempt: bool,
    ) -> Result<(), UserError> {
        let username = Username::parse(name)?;
        let changed = self
            .store
            .set_local_user_second_factor_exempt(&username, exempt)
            .await;
        self.accounts.changed(self.store.as_ref()).await;
        match changed? {
            true => {
                tracing::info!(username = %username, exempt, "second-factor exemption changed");
                self.audit(
                    "local_user.second_factor",
                    username.as_str(),
                    serde_json::json!({"exempt": exempt}),
                )
                .await;
                Ok(())
            }
            false => Err(UserError::NotFound(username.to_string())),
        }
    }

    /// After a second factor of `seat` was removed: whether any is left
    /// (a local user exempt needs none; a directory user's groups are not
    /// asked, so one with nothing left is reported).
    pub(super) async fn removed_from(
        &self,
        seat: &SeatKey,
        username: String,
    ) -> Result<Removed, StoreError> {
        let mut no_second_factor_left = false;
        if self.mfa.required {
            let (totp, push) = tokio::try_join!(self.store.totp(seat), self.store.push_user(seat))?;
            if totp.is_none() && push.devices == 0 {
                no_second_factor_left = !self.local_exempt(seat).await?.unwrap_or(false);
            }
        }
        if no_second_factor_left {
            tracing::warn!(username = %username, "the user has no second factor left and can no longer log in");
        }
        Ok(Removed {
            username,
            no_second_factor_left,
        })
    }

    /// For a local user's seat, whether they may log in without a second
    /// factor (`false` once the account is gone); `None` for a seat that is
    /// not a local user's.
    pub(super) async fn local_exempt(&self, seat: &SeatKey) -> Result<Option<bool>, StoreError> {
        let Some(Ok(name)) = seat.as_str().strip_prefix("local:").map(Username::parse) else {
            return Ok(None);
        };
        Ok(Some(
            self.store
                .local_user(&name)
                .await?
                .is_some_and(|user| user.second_factor_exempt),
        ))
    }

    /// Whether a second factor is required (`mfa.required`).
    pub fn second_factor_required(&self) -> bool {
        self.mfa.required
    }
}
