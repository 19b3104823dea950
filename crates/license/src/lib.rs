//! The license rules of Gatehouse, and nothing else.
//!
//! This crate owns the license key format (canonical payload, Ed25519
//! signature, pasteable text), the App Key, calendar months and the Support
//! End Date in the license time zone, the clock high-water rule and the
//! admission decision of SPEC §3, and which license alarms are due (§7).
//!
//! It performs no I/O and never reads a clock: every function that depends
//! on time takes `now`. That keeps month rollover, expiry and clock-rollback
//! rules testable as plain, instant unit tests. Key *issuance* is behind the
//! `issue` feature, which only the vendor tool enables.

pub mod admission;
pub mod alarms;
pub mod app_key;
pub mod calendar;
pub mod clock;
pub mod key;
pub mod key_file;
pub mod license;
pub mod words;

pub use admission::{Admission, Budget, Limits, SeatKind, SeatState, Standing, Terms};
pub use app_key::AppKey;
pub use calendar::{Month, MonthWindow};
pub use clock::{ClockReading, effective_time, reanchors};
pub use key::{
    InstallContext, KeyRefusal, LicenseOptions, LicensePayload, LicenseType, VerifiedKey, check_key,
};
pub use license::{License, LicenseSource, LicenseStatus, Projection, UsagePercent, project_limit};

/// Re-exported so callers name the same types this crate uses.
pub use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
pub use jiff;
