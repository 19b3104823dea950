//! The user portal (`/my/`, SPEC §17): what a user may do to their own
//! second factors, and the words they are told. Pure; the service's side is
//! `service/portal.rs`.
//!
//! A user signs in with their password (local or directory, resolved as a
//! RADIUS login resolves it) and an enrolled second factor, and gets a
//! session of [`PortalScope::Full`]. A user with no factor signs in with
//! the password alone only while an enrollment window is open for them,
//! and gets [`PortalScope::Enroll`]: enrolling a first factor, nothing
//! else. Signing in to the portal is not a login through a gateway: it
//! never counts a seat.

use gatehouse_license::jiff::SignedDuration;

pub use crate::store::PortalScope;

/// How long a portal session lasts (not renewed by use).
pub const PORTAL_SESSION_LIFETIME: SignedDuration = SignedDuration::from_mins(30);

/// Enrollments (a TOTP secret made, a phone's link made) a user may start
/// in a day, from any node.
pub const ENROLLMENTS_PER_DAY: u32 = 5;

/// The window [`ENROLLMENTS_PER_DAY`] is counted in.
pub const ENROLLMENT_DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The portal's cookie (apart from the administrators').
pub const PORTAL_COOKIE: &str = "gatehouse_portal";

/// Why a portal sign-in or action was refused: what the user is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortalError {
    /// Unknown user, wrong password, wrong or reused code: one answer.
    #[error("Invalid username, password or code.")]
    InvalidCredentials,
    #[error("Too many failed sign-ins from this address; try again in {0} seconds.")]
    TooManyFromAddress(u64),
    #[error("Too many failed sign-ins for this account; try again in {0} seconds.")]
    TooManyForAccount(u64),
    /// The password was right; a factor is enrolled and none was given.
    #[error(
        "Enter a code from your authenticator app, or leave the code empty to approve on your phone."
    )]
    CodeRequired,
    #[error(
        "You have no second factor yet, and no enrollment window is open for you: ask your administrator to open one."
    )]
    NoWindow,
    /// A refusal a RADIUS login would get too (locked out, license
    /// expired, push denied, busy, database down).
    #[error("{}", .0.message())]
    Refused(crate::outcome::Refusal),
    #[error("Your session has ended; sign in again.")]
    SessionEnded,
    /// An enroll-only session, once a factor exists: sign in with it.
    #[error("You already have a second factor: sign in again with it to manage your factors.")]
    EnrollOnly,
    #[error(
        "You started {ENROLLMENTS_PER_DAY} enrollments in the last 24 hours; try again tomorrow."
    )]
    TooManyEnrollments,
    #[error("Start again: no authenticator app is being enrolled.")]
    NothingPending,
    #[error("That code does not match; type the code your authenticator app shows now.")]
    WrongCode,
    #[error("No such phone of yours.")]
    NoSuchPhone,
    #[error(
        "That is your last second factor, and a second factor is required: enroll another first."
    )]
    LastFactor,
    #[error("Push approval is not licensed on this installation.")]
    PushNotLicensed,
    #[error("database unavailable, please try again later")]
    Unavailable,
}

impl From<crate::store::StoreError> for PortalError {
    fn from(error: crate::store::StoreError) -> PortalError {
        tracing::error!(%error, "portal: database unavailable");
        PortalError::Unavailable
    }
}

impl From<crate::outcome::Refusal> for PortalError {
    fn from(refusal: crate::outcome::Refusal) -> PortalError {
        use crate::outcome::Refusal;
        match refusal {
            Refusal::InvalidCredentials | Refusal::InvalidOneTimeCode => {
                PortalError::InvalidCredentials
            }
            Refusal::ServiceUnavailable => PortalError::Unavailable,
            other => PortalError::Refused(other),
        }
    }
}

impl From<crate::work::Busy> for PortalError {
    fn from(busy: crate::work::Busy) -> PortalError {
        PortalError::Refused(busy.into())
    }
}

/// What an action needs of a session and of the user's factors now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Making or confirming a first or further factor.
    Enroll,
    /// Anything else (removing a phone).
    Manage,
}

/// Whether a session of `scope` may take `action` while the user has
/// `factors` enrolled: an enroll-only session enrolls a first factor and
/// nothing else.
pub fn allowed(scope: PortalScope, action: Action, factors: usize) -> Result<(), PortalError> {
    match (scope, action) {
        (PortalScope::Full, _) => Ok(()),
        (PortalScope::Enroll, Action::Enroll) if factors == 0 => Ok(()),
        (PortalScope::Enroll, _) => Err(PortalError::EnrollOnly),
    }
}

/// Whether removing one of `factors` leaves the user able to log in: with
/// a second factor required and the user not exempt, the last one stays.
pub fn may_remove(factors: usize, required: bool, exempt: bool) -> Result<(), PortalError> {
    if factors <= 1 && required && !exempt {
        return Err(PortalError::LastFactor);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enroll_only_session_enrolls_a_first_factor_and_nothing_else() {
        for factors in [0, 1, 2] {
            assert_eq!(allowed(PortalScope::Full, Action::Enroll, factors), Ok(()));
            assert_eq!(allowed(PortalScope::Full, Action::Manage, factors), Ok(()));
            assert_eq!(
                allowed(PortalScope::Enroll, Action::Manage, factors),
                Err(PortalError::EnrollOnly)
            );
        }
        assert_eq!(allowed(PortalScope::Enroll, Action::Enroll, 0), Ok(()));
        assert_eq!(
            allowed(PortalScope::Enroll, Action::Enroll, 1),
            Err(PortalError::EnrollOnly)
        );
    }

    #[test]
    fn the_last_factor_stays_while_one_is_required_unless_exempt() {
        assert_eq!(may_remove(1, true, false), Err(PortalError::LastFactor));
        assert_eq!(may_remove(0, true, false), Err(PortalError::LastFactor));
        assert_eq!(may_remove(2, true, false), Ok(()));
        assert_eq!(may_remove(1, false, false), Ok(()));
        assert_eq!(may_remove(1, true, true), Ok(()));
    }

    #[test]
    fn refusals_keep_one_answer_for_wrong_names_passwords_and_codes() {
        use crate::outcome::Refusal;
        assert_eq!(
            PortalError::from(Refusal::InvalidCredentials),
            PortalError::from(Refusal::InvalidOneTimeCode)
        );
        assert_eq!(
            PortalError::from(Refusal::LockedOut).to_string(),
            Refusal::LockedOut.message()
        );
    }
}
