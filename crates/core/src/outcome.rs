//! What a login comes to: the refusals with the texts a user's device
//! shows, the steps of a login that is still going, and what a user owes
//! after the password. A leaf: every part of the service, the metrics and
//! the front ends speak these words, and this module imports none of them.

use std::sync::Arc;

use gatehouse_license::admission::{LICENSE_DAMAGED, LICENSE_EXPIRED, USER_LIMIT_EXCEEDED};

use crate::identity::Identity;
use crate::push::PushMode;
use crate::store::TotpRecord;
use crate::work::Busy;

/// Reply text for a user with no second factor while one is required.
pub const SECOND_FACTOR_REQUIRED: &str =
    "A second factor is required, please contact your system administrator";

/// Reply text for a locked-out user.
pub const LOCKED_OUT: &str = "Too many failed attempts, please try again later";

/// Reply text when the database (or another required service) is down.
pub const SERVICE_UNAVAILABLE: &str = "Authentication service unavailable, please try again later";

/// Reply text for an unknown user, a wrong password or a disabled account.
/// One text for all three, so replies never reveal which usernames exist.
pub const INVALID_CREDENTIALS: &str = "Invalid username or password";

/// Reply text for a wrong, expired or replayed one-time code.
pub const INVALID_ONE_TIME_CODE: &str = "Invalid one-time code";

/// Reply text when the user denied the login on their phone.
pub const PUSH_DENIED: &str = "Login denied on your phone";

/// Reply text when the phone did not answer before the push expired.
pub const PUSH_TIMED_OUT: &str = "Login not approved on your phone in time";

/// Reply text when a user already has
/// [`MAX_WAITING_PUSHES`](crate::service::MAX_WAITING_PUSHES) pushes
/// waiting: someone with the password cannot flood the phone with requests
/// in the hope that one is approved by mistake.
pub const PUSH_TOO_MANY: &str =
    "Too many login requests are waiting on your phone, please try again later";

/// What `gatehouse auth` says of a login dropped for overload (RADIUS
/// clients get no answer and retry).
pub const SERVICE_BUSY: &str = "Authentication service busy, please try again";

/// Reply text when a user was sent `push.max_per_hour` pushes in the last
/// hour.
pub const PUSH_HOURLY_LIMIT: &str =
    "Too many login requests were sent to your phone this hour, please try again later";

/// Reply text for a user with only push approval while the license has no
/// Push Subscription (SPEC §1).
pub const PUSH_NOT_LICENSED: &str =
    "Push notifications are not licensed, please contact your system administrator";

/// Reply text for a login a policy denies (after the password; never
/// counted).
pub const ACCESS_DENIED: &str = "Access denied by policy, please contact your system administrator";

/// Why an authentication was refused. [`Refusal::message`] is what the
/// user's device shows (RADIUS Reply-Message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InvalidCredentials,
    InvalidOneTimeCode,
    LicenseExpired,
    /// The license records failed their binding to the installation
    /// (SPEC §11): every login fails closed.
    LicenseDamaged,
    UserLimitExceeded,
    ServiceUnavailable,
    PushDenied,
    PushTimedOut,
    PushNotLicensed,
    PushTooMany,
    PushHourlyLimit,
    /// Too much password work waiting (SPEC §12): dropped, not answered
    /// (a RADIUS client retries).
    Overloaded,
    /// No second factor enrolled while one is required (SPEC §12).
    SecondFactorRequired,
    /// Too many failures in a row (SPEC §12).
    LockedOut,
    /// A policy denies this user through this client (after the password).
    AccessDenied,
    /// The user's seat budget is full (SPEC §16); the month is not.
    BudgetExceeded(RefusalText),
    /// No second factor while one is required, and an enrollment window is
    /// open for the user: where to enroll.
    EnrollFirst(RefusalText),
}

/// A refusal's text made from what the administrator configured (a seat
/// budget's name, the portal's address), kept once per distinct text
/// ([`RefusalText::of`]) so refusals stay `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalText {
    message: &'static str,
}

/// Distinct texts kept for the life of the process; past this many
/// (budgets renamed over and over) `fallback` is used.
const MAX_REFUSAL_TEXTS: usize = 1024;

impl RefusalText {
    /// `text`, kept; `fallback` once too many texts were made.
    pub fn of(text: String, fallback: &'static str) -> RefusalText {
        static TEXTS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut texts = TEXTS.lock().unwrap_or_else(|e| e.into_inner());
        let message = match texts.iter().find(|known| **known == text) {
            Some(known) => known,
            None if texts.len() < MAX_REFUSAL_TEXTS => {
                let made: &'static str = Box::leak(text.into_boxed_str());
                texts.push(made);
                made
            }
            None => fallback,
        };
        RefusalText { message }
    }

    /// The refusal of seat budget `name`:
    /// `User limit exceeded for <name>, please contact your system administrator`.
    pub fn budget(name: &str) -> RefusalText {
        RefusalText::of(
            gatehouse_license::admission::budget_exceeded(name),
            USER_LIMIT_EXCEEDED,
        )
    }

    /// The refusal of a user who should enroll at `portal` first
    /// ([`crate::enrollment::enroll_first`]).
    pub fn enroll_first(portal: &str) -> RefusalText {
        RefusalText::of(
            crate::enrollment::enroll_first(portal),
            SECOND_FACTOR_REQUIRED,
        )
    }
}

impl Refusal {
    /// Every reason, in a fixed order (a budget refusal stands for every
    /// budget's).
    pub const ALL: [Refusal; 17] = [
        Refusal::InvalidCredentials,
        Refusal::InvalidOneTimeCode,
        Refusal::LicenseExpired,
        Refusal::LicenseDamaged,
        Refusal::UserLimitExceeded,
        Refusal::ServiceUnavailable,
        Refusal::PushDenied,
        Refusal::PushTimedOut,
        Refusal::PushNotLicensed,
        Refusal::PushTooMany,
        Refusal::PushHourlyLimit,
        Refusal::Overloaded,
        Refusal::SecondFactorRequired,
        Refusal::LockedOut,
        Refusal::AccessDenied,
        Refusal::BudgetExceeded(RefusalText {
            message: USER_LIMIT_EXCEEDED,
        }),
        Refusal::EnrollFirst(RefusalText {
            message: SECOND_FACTOR_REQUIRED,
        }),
    ];

    pub(crate) fn index(self) -> usize {
        Refusal::ALL
            .iter()
            .position(|&r| std::mem::discriminant(&r) == std::mem::discriminant(&self))
            .expect("ALL lists every reason")
    }

    /// A stable machine-readable name (metrics labels, JSON).
    pub fn label(self) -> &'static str {
        match self {
            Refusal::InvalidCredentials => "invalid_credentials",
            Refusal::InvalidOneTimeCode => "invalid_one_time_code",
            Refusal::LicenseExpired => "license_expired",
            Refusal::LicenseDamaged => "license_damaged",
            Refusal::UserLimitExceeded => "user_limit_exceeded",
            Refusal::ServiceUnavailable => "service_unavailable",
            Refusal::PushDenied => "push_denied",
            Refusal::PushTimedOut => "push_timed_out",
            Refusal::PushNotLicensed => "push_not_licensed",
            Refusal::PushTooMany => "push_too_many",
            Refusal::PushHourlyLimit => "push_hourly_limit",
            Refusal::Overloaded => "overloaded",
            Refusal::SecondFactorRequired => "second_factor_required",
            Refusal::LockedOut => "locked_out",
            Refusal::AccessDenied => "access_denied",
            Refusal::BudgetExceeded(_) => "budget_exceeded",
            Refusal::EnrollFirst(_) => "enroll_first",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::InvalidCredentials => INVALID_CREDENTIALS,
            Refusal::InvalidOneTimeCode => INVALID_ONE_TIME_CODE,
            Refusal::LicenseExpired => LICENSE_EXPIRED,
            Refusal::LicenseDamaged => LICENSE_DAMAGED,
            Refusal::UserLimitExceeded => USER_LIMIT_EXCEEDED,
            Refusal::ServiceUnavailable => SERVICE_UNAVAILABLE,
            Refusal::PushDenied => PUSH_DENIED,
            Refusal::PushTimedOut => PUSH_TIMED_OUT,
            Refusal::PushNotLicensed => PUSH_NOT_LICENSED,
            Refusal::PushTooMany => PUSH_TOO_MANY,
            Refusal::PushHourlyLimit => PUSH_HOURLY_LIMIT,
            Refusal::Overloaded => SERVICE_BUSY,
            Refusal::SecondFactorRequired => SECOND_FACTOR_REQUIRED,
            Refusal::LockedOut => LOCKED_OUT,
            Refusal::AccessDenied => ACCESS_DENIED,
            Refusal::BudgetExceeded(text) | Refusal::EnrollFirst(text) => text.message,
        }
    }
}

impl From<Busy> for Refusal {
    fn from(_: Busy) -> Refusal {
        Refusal::Overloaded
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// How far a login got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// Every factor passed; the user is counted.
    Accepted(Admitted),
    /// Password and license gate passed; the one-time code is still owed.
    OtpRequired(Identity),
    /// Password and license gate passed; a push was sent to the user's
    /// phones (challenge mode). Finish with
    /// [`complete_push`](Gatehouse::complete_push).
    PushSent {
        identity: Identity,
        /// The push's id.
        push: String,
        /// The user may type a TOTP code instead.
        totp: bool,
        /// Number matching: the number the prompt shows, which the user
        /// chooses on the phone.
        number: Option<u8>,
    },
}

/// A user who passed the first factor, and what they still owe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstFactor {
    pub identity: Identity,
    pub second_factor: SecondFactor,
    /// What the policy in force gives the login when it is accepted.
    pub authorization: Authorization,
}

/// What the policy in force decided for a login, carried to its
/// Access-Accept (through a challenge too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    /// The policy that matched; `None`: none did (or there are none) and
    /// the default rules applied.
    pub policy: Option<Arc<str>>,
    /// Attributes for the Access-Accept: (dictionary name, value), the
    /// value's `%{user}` and `%{group}` filled in.
    pub reply: Vec<(String, String)>,
    /// The same, encoded for the wire (RADIUS type, value bytes): what
    /// the Access-Accept carries.
    pub encoded: Vec<(u8, Vec<u8>)>,
}

/// A login's step and what the policy in force gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub step: LoginStep,
    pub authorization: Authorization,
}

/// The second factor a user owes after their password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    None,
    Totp {
        record: TotpRecord,
        /// The code typed after the password (append mode).
        appended_code: Option<String>,
    },
    /// Approval on an enrolled phone (Push Subscription active).
    Push {
        mode: PushMode,
        /// TOTP enrollment, accepted instead in challenge mode.
        totp: Option<TotpRecord>,
    },
}

/// A successful authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub identity: Identity,
    /// True when this login took a new seat this month.
    pub newly_counted: bool,
}
