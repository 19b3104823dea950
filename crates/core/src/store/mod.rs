//! What Gatehouse needs from its database.
//!
//! The [`Store`] trait is the boundary between the authentication service
//! and SQL. Its contract is written down as the conformance suite in
//! `crates/store/tests/store/conformance`, which every backend must pass. The most
//! important promise is [`SeatStore::admit`]: the one place the monthly
//! limit is enforced, atomically and durably.
//!
//! Times are [`Timestamp`]s; backends store them as Unix microseconds.
//! Driver errors never cross this boundary: backends map them to
//! [`StoreError`].

mod accounts;
mod alarms;
mod audit;
mod installation;
mod lockouts;
mod policies;
mod portal;
mod push;
mod seat_rules;
mod seats;

pub use accounts::*;
pub use alarms::*;
pub use audit::*;
pub use installation::*;
pub use lockouts::*;
pub use policies::*;
pub use portal::*;
pub use push::*;
pub use seat_rules::*;
pub use seats::*;

/// A store failure, described without driver types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the operation (locked,
    /// disk full, connection lost). Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row that must be unique already exists.
    #[error("already exists")]
    AlreadyExists,
    /// A row the operation refers to does not exist (named): nothing was
    /// done.
    #[error("{0} does not exist")]
    Missing(String),
    /// Stored data cannot be interpreted (or a schema newer than this build).
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// The database is sealed under another sealing key than the one given
    /// (another node's key file is missing here, or a wrong file).
    #[error("{0}")]
    Sealing(String),
    /// A tagged record the operation depends on was changed outside
    /// Gatehouse (its tag does not verify): nothing was done.
    #[error("{0} was changed outside Gatehouse")]
    Altered(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A record read back with whether its tag verified under the sealing key
/// ([`crate::seal`]): `authentic == false` means the row was changed
/// outside Gatehouse (or written under another key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked<T> {
    pub record: T,
    pub authentic: bool,
}

/// Everything Gatehouse stores.
pub trait Store:
    InstallationStore
    + SeatStore
    + LocalUserStore
    + SecondFactorStore
    + ClientStore
    + AdminStore
    + AlarmStore
    + PushStore
    + LockoutStore
    + PolicyStore
    + SeatRulesStore
    + AuditStore
    + PortalStore
    + 'static
{
}

impl<T> Store for T where
    T: InstallationStore
        + SeatStore
        + LocalUserStore
        + SecondFactorStore
        + ClientStore
        + AdminStore
        + AlarmStore
        + PushStore
        + LockoutStore
        + PolicyStore
        + SeatRulesStore
        + AuditStore
        + PortalStore
        + 'static
{
}
