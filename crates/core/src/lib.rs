//! The authentication service of Gatehouse.
//!
//! [`Gatehouse`] runs every authentication in the order SPEC.md gives:
//! canonicalize the username, refuse if the license expired, check the
//! password, refuse unknown / disabled / wrong without counting, ask the
//! license gate, count the user durably, and only then accept. Every front
//! end (CLI, RADIUS, panel) calls this one service.
//!
//! This crate defines the [`Store`] boundary but contains no SQL; it knows
//! no wire format except the application key file ([`export`]), which both
//! the CLI and the panel produce. The rules themselves live in
//! `gatehouse-license`; this crate adds time, storage and concurrency:
//! the clock high-water mark, the in-memory seat cache that answers
//! returning users without a database round trip, the write-behind of last
//! logins, and group commit of new users ([`admitter`]).

mod accounts;
pub mod admin;
pub mod admitter;
pub mod alarms;
pub mod audit;
pub mod clients;
pub mod clock;
pub mod credentials;
pub mod directory;
pub mod enrollment;
pub mod export;
pub mod identity;
mod lockout;
pub mod metrics;
pub mod outcome;
pub mod password;
pub mod policy;
pub mod portal;
pub mod push;
pub mod push_hosts;
pub mod ratelimit;
pub mod seal;
pub mod seat_rules;
mod seats;
pub mod service;
pub mod store;
pub mod tokens;
pub mod totp;
pub mod usage_chain;
pub mod vendor_keys;
mod work;

pub use clock::{Clock, EffectiveClock, ManualClock, SystemClock};
pub use identity::{Identity, SeatKey, Source, Username};
pub use outcome::{
    ACCESS_DENIED, Admitted, Authenticated, Authorization, FirstFactor, LOCKED_OUT, LoginStep,
    Refusal, SECOND_FACTOR_REQUIRED, SecondFactor,
};
pub use password::PasswordParams;
pub use service::{
    APPROVE_ON_PHONE, AlarmSaveError, Chosen, ClientAddError, DirectoryUserError,
    ENROLLMENT_LIFETIME, Gatehouse, InstallError, Invitations, InviteError, LOCKED_OUT_EVENT,
    LicenseView, ListedMark, MfaSettings, NewPortalSession, OpenError, PORTAL_CLIENT,
    PolicySaveError, PolicyTest, PolicyTestError, PortalFactors, PortalPhone, PushError,
    PushSettings, Removed, Route, SavedPolicies, SeatMarkError, Settings, SignedPush,
    TestMailError, TotpEnrollment, UserError, approve_prompt, is_approve_prompt,
};
pub use store::{Store, StoreError};
pub use totp::TotpMode;
