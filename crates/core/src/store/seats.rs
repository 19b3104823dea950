//! The month's seats: admission (the one place the limit is enforced),
//! last logins and refusals, the Users table, usage history.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::{Month, SeatKind};

use super::{LicenseBinding, StoreResult};
use crate::identity::{SeatKey, Source};

/// A request to count one user in one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmitRequest {
    /// The license the service verified, whose limit applies.
    pub license: LicenseBinding,
    pub month: Month,
    /// Day of the month (license time zone), for new users per day.
    pub day: i8,
    pub seat: SeatKey,
    pub username: String,
    pub display_name: String,
    pub source: Source,
    pub client: String,
    pub at: Timestamp,
    /// A break-glass user (SPEC §16): given a seat even past the limit and
    /// its allowance.
    pub reserved: bool,
    /// The seat budget the user counts against (SPEC §16), if any.
    pub budget: Option<BudgetClaim>,
}

/// A seat budget as a request names it: its name and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetClaim {
    pub name: String,
    pub size: u32,
}

/// The store's verdict for one [`AdmitRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitOutcome {
    /// Newly counted; `active_users` includes this user. `kind` says
    /// whether the seat is within the limit or past it.
    Counted { active_users: u32, kind: SeatKind },
    /// Counted earlier this month.
    AlreadyCounted { active_users: u32 },
    /// Not counted: the month is full under `user_limit`.
    LimitExceeded { active_users: u32, user_limit: u32 },
    /// Not counted: the request's seat budget is full (the month is not).
    BudgetExceeded { active_users: u32 },
    /// Not counted: the license row no longer holds the license the request
    /// was made under (a key was installed meanwhile, or the row was
    /// altered). The service reloads the license and decides again.
    LicenseChanged,
}

/// One month's seat state as seen by one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatStatus {
    pub active_users: u32,
    pub counted: bool,
}

/// A returning user's login, written behind in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    pub month: Month,
    pub seat: SeatKey,
    pub at: Timestamp,
    pub client: Arc<str>,
}

/// A new user turned away for the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalRecord {
    pub month: Month,
    pub seat: SeatKey,
    pub username: String,
    pub at: Timestamp,
    pub client: String,
    /// How many refusals this record stands for (write-behind merges).
    pub attempts: u32,
}

/// A refused user as listed for the month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedUser {
    pub username: String,
    pub first_refused: Timestamp,
    pub last_refused: Timestamp,
    pub attempts: u32,
    pub last_client: String,
}

/// A counted user: one row of the Users table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRecord {
    pub seat: SeatKey,
    pub username: String,
    pub display_name: String,
    pub source: Source,
    pub first_seen: Timestamp,
    pub last_login: Timestamp,
    pub last_client: String,
    /// Within the limit, or past it (overage, break-glass).
    pub kind: SeatKind,
    /// The seat budget the user was counted against, if any.
    pub budget: Option<String>,
}

/// Order of the Users table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeatOrder {
    #[default]
    Username,
    FirstSeen,
    LastLogin,
}

/// Where the previous page ended, for keyset pagination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatCursor {
    /// The sort value of the last row shown (username, or microseconds).
    pub value: SortValue,
    /// The seat key of that row: ties are broken by seat key.
    pub seat: SeatKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    Text(String),
    Time(Timestamp),
}

/// One page of the Users table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatQuery {
    pub month: Month,
    /// The beginning of the username, case-insensitive (usernames are
    /// stored canonical, so this is an index range, fast at any size).
    pub search: Option<String>,
    pub order: SeatOrder,
    pub descending: bool,
    pub after: Option<SeatCursor>,
    /// Rows per page; `None` for all rows.
    pub limit: Option<u32>,
}

impl SeatQuery {
    /// Every user of `month`, by username.
    pub fn all(month: Month) -> SeatQuery {
        SeatQuery {
            month,
            search: None,
            order: SeatOrder::Username,
            descending: false,
            after: None,
            limit: None,
        }
    }
}

/// One month of history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthUsageRecord {
    pub month: Month,
    pub active_users: u32,
    /// The limit in force (the latest one seen that month).
    pub user_limit: u32,
    /// Highest `active / limit` reached, in tenths of a percent.
    pub peak_tenths: u64,
    /// The head of the month's usage chain
    /// ([`crate::usage_chain`]); `None` for a month begun before the
    /// chain existed.
    pub chain_head: Option<[u8; 32]>,
}

/// A month's usage chain as stored: its head and its links in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageChainRecord {
    pub head: [u8; 32],
    pub links: Vec<crate::usage_chain::Link>,
}

/// The monthly seat ledger.
#[async_trait]
pub trait SeatStore: Send + Sync {
    /// Months whose count is not the number of users in their ledger:
    /// (month, count, ledger rows). Empty on a sound installation.
    async fn ledger_mismatches(&self) -> StoreResult<Vec<(String, i64, i64)>>;

    /// Counts each user if the month has a free seat under the limit and
    /// overage allowance of the verified license the request names
    /// ([`LicenseBinding`]: never a stored limit; the rule is
    /// [`gatehouse_license::admission::new_seat`]), and records whether the
    /// seat is past the limit, while the license row still holds that
    /// license, in
    /// request order, in one durable transaction:
    /// when this returns `Ok`, every `Counted` outcome is committed and
    /// survives a crash. Repeated seats (in the batch or already stored) are
    /// `AlreadyCounted` and never counted twice. Across every process
    /// sharing the database, a month never holds more users than the limit
    /// and allowance in force when each was counted.
    async fn admit(&self, requests: &[AdmitRequest]) -> StoreResult<Vec<AdmitOutcome>>;

    async fn seat_status(&self, month: Month, seat: &SeatKey) -> StoreResult<SeatStatus>;

    /// Users counted in `month`.
    async fn active_users(&self, month: Month) -> StoreResult<u32>;

    /// Users counted in `month` against each seat budget, by name.
    async fn budget_usage(&self, month: Month) -> StoreResult<Vec<(String, u32)>>;

    /// Users counted in `month` against the seat budget `name`.
    async fn budget_used(&self, month: Month, name: &str) -> StoreResult<u32>;

    /// Updates last login and last client of counted users (later times
    /// win). Never counts anyone.
    async fn record_logins(&self, logins: &[LoginRecord]) -> StoreResult<()>;

    async fn record_refusals(&self, refusals: &[RefusalRecord]) -> StoreResult<()>;

    async fn refused_users(&self, month: Month) -> StoreResult<Vec<RefusedUser>>;

    async fn seats(&self, query: &SeatQuery) -> StoreResult<Vec<SeatRecord>>;

    /// Every month with history, oldest first.
    async fn month_usage(&self) -> StoreResult<Vec<MonthUsageRecord>>;

    /// `month`'s usage chain: the stored head, and the links of its seats
    /// in the order they were counted (pseudonyms computed with the
    /// sealing key). `None`: the month is unchained (or has no row).
    async fn usage_chain(&self, month: Month) -> StoreResult<Option<UsageChainRecord>>;

    /// Users counted for the first time on each day of `month` (days with
    /// none are left out), in day order.
    async fn daily_new_users(&self, month: Month) -> StoreResult<Vec<DailyNewUsers>>;
}

/// New users on one day of a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyNewUsers {
    pub day: i8,
    pub users: u32,
}
