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

use std::collections::HashSet;

use async_trait::async_trait;
use gatehouse_license::alarms::AlarmKind;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::Date;
use gatehouse_license::{Month, SigningKey};

use crate::alarms::AlarmSettings;
use crate::clients::RadiusClient;
use crate::identity::{SeatKey, Source, Username};
use crate::push::{
    Decision, EnrollmentRefusal, EnrollmentToken, PendingPush, PushMode, WebPushSubscription,
};
use crate::totp::{TotpMode, TotpSecret};

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

/// The installation's identity and first-start facts. Created once, never
/// changed.
#[derive(Clone)]
pub struct InstallationRecord {
    /// The installation's Ed25519 key (signs application key files; its
    /// public half is the App Key).
    pub signing_key: SigningKey,
    pub first_start: Timestamp,
    /// Fixed at first start so that restarts never move it.
    pub demo_support_end: Date,
    /// IANA name of the license time zone.
    pub time_zone: String,
}

impl std::fmt::Debug for InstallationRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationRecord")
            .field("signing_key", &"<secret>")
            .field("first_start", &self.first_start)
            .field("demo_support_end", &self.demo_support_end)
            .field("time_zone", &self.time_zone)
            .finish()
    }
}

/// The license row. `key` is `None` while the built-in demo is in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLicense {
    pub key: Option<String>,
    /// The key's limit (or the demo's) as written at install: a cache for
    /// people reading the database, never trusted (the key is the truth).
    pub user_limit: u32,
    /// Increases with every install, so other processes notice a new key.
    pub generation: i64,
}

/// A record read back with whether its tag verified under the sealing key
/// ([`crate::seal`]): `authentic == false` means the row was changed
/// outside Gatehouse (or written under another key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked<T> {
    pub record: T,
    pub authentic: bool,
}

/// The clock high-water mark as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockMark {
    /// The highest time recorded.
    pub high_water: Timestamp,
    /// The issue time (Unix seconds) of the vendor key that last
    /// re-anchored the clock, 0 if none did. A mark is only raised within
    /// its anchor, so a process that has not seen the newest anchor cannot
    /// write its old, far-ahead mark back.
    pub anchor: i64,
}

/// What [`SeatStore::admit`] enforces: the license in force as the service
/// verified it. The store counts under `user_limit` only while the license
/// row still holds the key whose SHA-256 is `key_digest` (and its tag
/// verifies); otherwise the request is [`AdmitOutcome::LicenseChanged`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseBinding {
    /// SHA-256 of the key text in force, or of the empty string for the
    /// demo.
    pub key_digest: [u8; 32],
    /// The verified key's limit (or the demo's).
    pub user_limit: u32,
}

impl LicenseBinding {
    /// The digest of a license row's key (`None`: the demo).
    pub fn digest(key: Option<&str>) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(key.unwrap_or_default().as_bytes()).into()
    }
}

/// A license key to install, and what changes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseInstall<'a> {
    pub key: &'a str,
    pub user_limit: u32,
    /// The current month, whose history row takes the new limit.
    pub month: Month,
    pub at: Timestamp,
    /// Set the clock mark to this, even lower than the stored one (a fresh
    /// vendor key re-anchors a clock that ran ahead, or repairs a damaged
    /// one), in the same transaction.
    pub clock: Option<ClockMark>,
}

/// Installation identity, license and clock high-water mark. The
/// installation record is sealed whole under the sealing key (reads say
/// whether the plain columns beside it still agree); the license row and
/// the clock mark are tagged (reads say whether the tag verified).
#[async_trait]
pub trait InstallationStore: Send + Sync {
    async fn installation(&self) -> StoreResult<Option<Checked<InstallationRecord>>>;

    /// Stores `record` and the demo license (limit `demo_user_limit`) unless
    /// an installation exists; returns the installation that is stored
    /// either way, so two processes starting at once agree on one identity.
    async fn create_installation(
        &self,
        record: &InstallationRecord,
        demo_user_limit: u32,
    ) -> StoreResult<Checked<InstallationRecord>>;

    async fn license(&self) -> StoreResult<Checked<StoredLicense>>;

    /// Replaces the license in force (keeping the old one in the license
    /// history) and applies its limit to the month's history row; a
    /// month's sealed count that no longer opens is sealed again from the
    /// larger of its shown count and its ledger. Returns the new
    /// generation.
    async fn install_license(&self, install: &LicenseInstall<'_>) -> StoreResult<i64>;

    /// The generation of the license in force (cheap; polled).
    async fn license_generation(&self) -> StoreResult<i64>;

    /// Raises the recorded high-water mark to `mark.high_water` if it is
    /// higher and the stored mark has the same anchor; returns the stored
    /// mark after the update (a newer anchor, if another process
    /// re-anchored the clock).
    async fn record_time(&self, mark: &ClockMark) -> StoreResult<Checked<ClockMark>>;

    /// The stored mark, if any.
    async fn recorded_time(&self) -> StoreResult<Option<Checked<ClockMark>>>;
}

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
}

/// The store's verdict for one [`AdmitRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitOutcome {
    /// Newly counted; `active_users` includes this user.
    Counted { active_users: u32 },
    /// Counted earlier this month.
    AlreadyCounted { active_users: u32 },
    /// Not counted: the month is full under `user_limit`.
    LimitExceeded { active_users: u32, user_limit: u32 },
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
    pub client: String,
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
}

/// The monthly seat ledger.
#[async_trait]
pub trait SeatStore: Send + Sync {
    /// Counts each user if the month has a free seat under the limit of the
    /// verified license the request names ([`LicenseBinding`]: never a
    /// stored limit), while the license row still holds that license, in
    /// request order, in one durable transaction:
    /// when this returns `Ok`, every `Counted` outcome is committed and
    /// survives a crash. Repeated seats (in the batch or already stored) are
    /// `AlreadyCounted` and never counted twice. Across every process
    /// sharing the database, a month never holds more users than the limit
    /// in force when each was counted.
    async fn admit(&self, requests: &[AdmitRequest]) -> StoreResult<Vec<AdmitOutcome>>;

    async fn seat_status(&self, month: Month, seat: &SeatKey) -> StoreResult<SeatStatus>;

    /// Users counted in `month`.
    async fn active_users(&self, month: Month) -> StoreResult<u32>;

    /// Updates last login and last client of counted users (later times
    /// win). Never counts anyone.
    async fn record_logins(&self, logins: &[LoginRecord]) -> StoreResult<()>;

    async fn record_refusals(&self, refusals: &[RefusalRecord]) -> StoreResult<()>;

    async fn refused_users(&self, month: Month) -> StoreResult<Vec<RefusedUser>>;

    async fn seats(&self, query: &SeatQuery) -> StoreResult<Vec<SeatRecord>>;

    /// Every month with history, oldest first.
    async fn month_usage(&self) -> StoreResult<Vec<MonthUsageRecord>>;

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
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Local user accounts.
#[async_trait]
pub trait LocalUserStore: Send + Sync {
    async fn local_user(&self, username: &Username) -> StoreResult<Option<LocalUserRecord>>;

    /// Fails with [`StoreError::AlreadyExists`] for a taken name.
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

    /// Changes whenever a local account or a TOTP enrollment changes
    /// (not when a code is used): processes compare it to know when their
    /// in-memory copy of the local directory is stale.
    async fn local_directory_generation(&self) -> StoreResult<i64>;
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
}

impl std::fmt::Debug for AdminRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminRecord")
            .field("name", &self.name)
            .field("password_hash", &"<hash>")
            .field("created_at", &self.created_at)
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

    /// Stores the SHA-256 of a new API token.
    async fn add_admin_token(
        &self,
        token_hash: &[u8; 32],
        admin: &Username,
        at: Timestamp,
    ) -> StoreResult<()>;

    /// The administrator a token belongs to.
    async fn admin_for_token(&self, token_hash: &[u8; 32]) -> StoreResult<Option<Username>>;

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

/// An alarm that became due, with its message, ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlarm {
    /// Fires once per key (`gatehouse_license::alarms`).
    pub key: String,
    pub kind: AlarmKind,
    pub subject: String,
    pub body: String,
    /// Empty: nobody to tell; recorded as [`Delivery::NoRecipients`].
    pub recipients: Vec<String>,
    pub created_at: Timestamp,
    /// Recorded as fired but not sent ([`Delivery::Superseded`]): a more
    /// urgent alarm of the same kind fired with it.
    pub superseded: bool,
}

impl NewAlarm {
    /// How the alarm starts out in the outbox.
    pub fn initial_delivery(&self) -> Delivery {
        if self.superseded {
            Delivery::Superseded
        } else if self.recipients.is_empty() {
            Delivery::NoRecipients
        } else {
            Delivery::Queued
        }
    }
}

/// Where a queued alarm stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Waiting to be sent (again, after a failure: see `last_error`).
    Queued,
    Sent,
    /// No recipients were configured when it fired.
    NoRecipients,
    /// Not sent: a more urgent alarm of the same kind fired with it.
    Superseded,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Queued => "queued",
            Delivery::Sent => "sent",
            Delivery::NoRecipients => "no_recipients",
            Delivery::Superseded => "superseded",
        }
    }

    pub fn parse(text: &str) -> Option<Delivery> {
        [
            Delivery::Queued,
            Delivery::Sent,
            Delivery::NoRecipients,
            Delivery::Superseded,
        ]
        .into_iter()
        .find(|d| d.as_str() == text)
    }
}

/// One alarm in the outbox: the history the Alarm page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRecord {
    pub id: i64,
    pub key: String,
    pub kind: AlarmKind,
    pub subject: String,
    pub body: String,
    pub recipients: Vec<String>,
    pub created_at: Timestamp,
    pub delivery: Delivery,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When a queued alarm may be tried (again).
    pub next_attempt_at: Timestamp,
    /// Why the latest attempt failed.
    pub last_error: Option<String>,
    pub sent_at: Option<Timestamp>,
}

/// Alarm thresholds and recipients, and the alarm outbox: an alarm is
/// marked fired and queued for sending in one transaction, so it is never
/// lost and never fires twice, whichever process or node noticed it.
#[async_trait]
pub trait AlarmStore: Send + Sync {
    /// `None` until an administrator saves settings.
    async fn alarm_settings(&self) -> StoreResult<Option<AlarmSettings>>;

    async fn set_alarm_settings(&self, settings: &AlarmSettings) -> StoreResult<()>;

    /// Queues each alarm whose key has not fired before, in one
    /// transaction; `true` for each alarm recorded by this call, `false` for
    /// one that had already fired. Each starts out as
    /// [`NewAlarm::initial_delivery`] says.
    async fn fire_alarms(&self, alarms: &[NewAlarm]) -> StoreResult<Vec<bool>>;

    /// The key of every alarm that has fired.
    async fn fired_alarm_keys(&self) -> StoreResult<HashSet<String>>;

    /// Takes up to `limit` queued alarms due at `now` for sending: each
    /// one's attempts grow by one and its next attempt moves to
    /// `lease_until`, so no other sender takes it meanwhile (a sender that
    /// dies leaves it to be retried then). Oldest first.
    async fn claim_alarms(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<AlarmRecord>>;

    async fn alarm_sent(&self, id: i64, at: Timestamp) -> StoreResult<()>;

    /// Records a failed attempt; the alarm stays queued until `retry_at`.
    async fn alarm_failed(&self, id: i64, error: &str, retry_at: Timestamp) -> StoreResult<()>;

    /// The newest `limit` alarms, newest first.
    async fn alarm_history(&self, limit: u32) -> StoreResult<Vec<AlarmRecord>>;
}

/// A phone enrolled for push approval.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: String,
    pub seat: SeatKey,
    /// The login name it was enrolled under (shown; the seat is what
    /// counts).
    pub username: String,
    /// What the user called it ("Alice's phone").
    pub label: String,
    /// SEC1-encoded P-256 public key.
    pub public_key: Vec<u8>,
    pub created_at: Timestamp,
    /// Where to wake it (Web Push), if it subscribed.
    pub webpush: Option<WebPushSubscription>,
}

impl DeviceRecord {
    /// What the protocol checks signatures against.
    pub fn device(&self) -> crate::push::Device {
        crate::push::Device {
            id: self.id.clone(),
            seat: self.seat.clone(),
            public_key: self.public_key.clone(),
        }
    }
}

impl std::fmt::Debug for DeviceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRecord")
            .field("id", &self.id)
            .field("seat", &self.seat)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// A push as stored: what was sent (its decision in
/// [`PendingPush::decided`]) and which device decided when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRecord {
    pub push: PendingPush,
    /// The device that decided.
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
}

/// What a login needs to know of a user's push enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushUser {
    /// Phones enrolled.
    pub devices: u32,
    /// How their logins wait; `None`: the configured default.
    pub mode: Option<PushMode>,
}

/// A one-time enrollment link as stored: the SHA-256 of its secret, and
/// what it enrolls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentRecord {
    pub token_hash: [u8; 32],
    pub token: EnrollmentToken,
    pub created_at: Timestamp,
}

/// A phone enrolling through a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEnrollment<'a> {
    pub token_hash: [u8; 32],
    pub label: &'a str,
    /// SEC1-encoded P-256 public key.
    pub public_key: &'a [u8],
    pub at: Timestamp,
}

/// Enrolled phones and the pushes sent to them. A push is decided at most
/// once, and never after it expired, whichever node receives the answer.
/// Phones and enrollment links are tagged under the sealing key: a row
/// written outside Gatehouse is not a phone (it is [`StoreError::Corrupt`])
/// and not a link.
#[async_trait]
pub trait PushStore: Send + Sync {
    /// Stores a new enrollment link.
    async fn add_enrollment(&self, record: &EnrollmentRecord) -> StoreResult<()>;

    /// The link whose secret hashes to `token_hash`, if it can still
    /// enroll at `at` (unused, unexpired, authentic).
    async fn enrollment(
        &self,
        token_hash: &[u8; 32],
        at: Timestamp,
    ) -> StoreResult<Result<EnrollmentToken, EnrollmentRefusal>>;

    /// Uses the link and enrolls the phone (the id, user and seat the link
    /// names), in one transaction: a link enrolls one phone, whichever node
    /// receives it.
    async fn enroll_device(
        &self,
        enrollment: &LinkEnrollment<'_>,
    ) -> StoreResult<Result<DeviceRecord, EnrollmentRefusal>>;

    /// [`StoreError::AlreadyExists`] if the id is taken, or was a device
    /// that has been revoked.
    async fn add_device(&self, device: &DeviceRecord) -> StoreResult<()>;

    async fn device(&self, id: &str) -> StoreResult<Option<DeviceRecord>>;

    /// A user's devices, oldest first.
    async fn devices(&self, seat: &SeatKey) -> StoreResult<Vec<DeviceRecord>>;

    /// Revokes a device at `at` (its id can never be enrolled again);
    /// `false` when there is none.
    async fn remove_device(&self, id: &str, at: Timestamp) -> StoreResult<bool>;

    /// Sets or clears a device's Web Push subscription; `false` when there
    /// is no such device.
    async fn set_device_webpush(
        &self,
        id: &str,
        subscription: Option<&WebPushSubscription>,
    ) -> StoreResult<bool>;

    /// Every enrolled device, by user then age (the panel).
    async fn all_devices(&self) -> StoreResult<Vec<DeviceRecord>>;

    /// How many phones `seat` has, and its push mode.
    async fn push_user(&self, seat: &SeatKey) -> StoreResult<PushUser>;

    /// Sets (`Some`) or clears (`None`: the configured default) the push
    /// mode of `seat`.
    async fn set_push_mode(&self, seat: &SeatKey, mode: Option<PushMode>) -> StoreResult<()>;

    /// Stores a new push unless, counting it, more than `limits.waiting`
    /// pushes would wait for its user at its creation time, or more than
    /// `limits.per_hour` would have been created for the user in the hour
    /// up to it: checked and inserted in one transaction, so concurrent
    /// logins on any node cannot pass the limits.
    async fn create_push(
        &self,
        push: &PendingPush,
        limits: PushLimits,
    ) -> StoreResult<Result<(), PushLimited>>;

    async fn push(&self, id: &str) -> StoreResult<Option<PushRecord>>;

    /// Which of `ids` have a decision (unknown ids are left out), in any
    /// order: one read for all the logins of a process waiting on a push.
    async fn decided_pushes(&self, ids: &[String]) -> StoreResult<Vec<String>>;

    /// A user's pushes still waiting at `now` (undecided, unexpired), oldest
    /// first: what a phone shows.
    async fn pending_pushes(&self, seat: &SeatKey, now: Timestamp) -> StoreResult<Vec<PushRecord>>;

    /// Records `decision` if the push is undecided and unexpired at `at`;
    /// `false` otherwise (already decided, expired, or unknown).
    async fn decide_push(
        &self,
        id: &str,
        decision: Decision,
        device: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// Ends an undecided push at `at` (a login stopped waiting for it):
    /// `true` if it was still open, so no decision can come any more;
    /// `false` if it was decided (or expired) first.
    async fn close_push(&self, id: &str, at: Timestamp) -> StoreResult<bool>;

    /// The newest `limit` pushes, newest first (the panel).
    async fn recent_pushes(&self, limit: u32) -> StoreResult<Vec<PushRecord>>;

    /// Forgets pushes that expired before `before`, enrollment links that
    /// expired before it, and revoked ids marked before it (their links
    /// expired long ago); returns how many pushes.
    async fn delete_expired_pushes(&self, before: Timestamp) -> StoreResult<u64>;
}

/// Failed logins in a row and the locks they lead to (SPEC §12), shared
/// by every node. Rows exist only for users with failures or a lock.
#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// Records one failure of `seat` at `at` and, when it reaches the
    /// policy's threshold, locks the user, in one transaction: returns the
    /// lock this failure set, if any. A wrong password equal to the one
    /// counted last (`Failure::Password` digest) is not counted again.
    async fn record_failure(
        &self,
        seat: &SeatKey,
        username: &str,
        failure: &Failure,
        policy: &LockoutPolicy,
        at: Timestamp,
    ) -> StoreResult<Option<LockRecord>>;

    /// Forgets the failures and locks of `seat` (a successful login).
    async fn clear_failures(&self, seat: &SeatKey) -> StoreResult<()>;

    /// Every user with failures or a lock (the in-memory copy each node
    /// keeps; the lock may have ended before `at`).
    async fn lockouts(&self) -> StoreResult<Vec<LockRecord>>;

    /// Ends the lock and forgets the failures of the user whose seat key or
    /// username is `who`; `false` when there was none.
    async fn unlock(&self, who: &str) -> StoreResult<bool>;

    /// Changes whenever failures are recorded or cleared or a lock is set
    /// or ended: processes compare it to know when their copy is stale.
    async fn lockout_generation(&self) -> StoreResult<i64>;
}

/// What failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A wrong password; `digest` identifies the password typed (keyed,
    /// never the text), so the same wrong password counts once in a row.
    Password { digest: [u8; 32] },
    /// A wrong one-time code or a denied push.
    SecondFactor,
}

/// `[lockout]`: after how many failures in a row a user is locked, and
/// for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Wrong one-time codes or denied pushes in a row (0: never).
    pub otp_failures: u32,
    /// Wrong passwords in a row (0: never).
    pub password_failures: u32,
    /// The first lock; each further lock in a row lasts twice as long.
    pub first_lock: std::time::Duration,
    /// The longest lock.
    pub longest_lock: std::time::Duration,
}

impl Default for LockoutPolicy {
    fn default() -> LockoutPolicy {
        LockoutPolicy {
            otp_failures: 5,
            password_failures: 10,
            first_lock: std::time::Duration::from_secs(15 * 60),
            longest_lock: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

impl LockoutPolicy {
    /// How long the `locks`-th lock in a row lasts (1: the first).
    pub fn lock_length(&self, locks: u32) -> std::time::Duration {
        let doubled = self
            .first_lock
            .saturating_mul(1u32 << locks.saturating_sub(1).min(20));
        doubled.min(self.longest_lock)
    }
}

/// A user's failures in a row and lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRecord {
    pub seat: SeatKey,
    pub username: String,
    pub otp_failures: u32,
    pub password_failures: u32,
    /// Locks in a row (each doubles the next).
    pub locks: u32,
    pub last_failure_at: Timestamp,
    /// The lock's start and end; `None`: not locked (failures only).
    pub locked: Option<(Timestamp, Timestamp)>,
}

impl LockRecord {
    /// Whether the user is locked at `at`.
    pub fn locked_at(&self, at: Timestamp) -> bool {
        self.locked.is_some_and(|(_, until)| at < until)
    }
}

/// How many pushes one user may have waiting, and created per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushLimits {
    pub waiting: u32,
    pub per_hour: u32,
}

/// A key sign-in attempts are counted under, and how many it allows per
/// window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKey {
    pub key: String,
    pub limit: u32,
}

/// Which limit a push would have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushLimited {
    /// Already `waiting` pushes wait for the user.
    Waiting,
    /// Already `per_hour` pushes were sent to the user in the last hour.
    PerHour,
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
        + 'static
{
}
