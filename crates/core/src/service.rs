//! The authentication service: one instance per process, shared by every
//! front end (CLI, RADIUS, panel).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use gatehouse_license::admission::{
    LICENSE_DATA_DAMAGED_EVENT, LICENSE_EXPIRED_EVENT, LICENSE_RECORD_ALTERED_EVENT,
    LICENSE_USER_LIMIT_EXCEEDED_EVENT,
};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::Date;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_license::key::decode_signed;
use gatehouse_license::license::demo_support_end;
use gatehouse_license::{
    Admission, AppKey, InstallContext, KeyRefusal, License, LicenseSource, LicenseStatus, Month,
    SeatState, SigningKey, Terms, VerifiedKey, VerifyingKey, check_key,
};
use gatehouse_license::{Projection, project_limit};

use crate::accounts::{CredentialCache, LocalAccounts};
use crate::admitter::Admitter;
use crate::alarms::AlarmSettings;
use crate::clients::{ClientError, RadiusClient};
use crate::clock::{Clock, EffectiveClock};
use crate::directory::Directory;
use crate::identity::{Identity, SeatKey, Username, UsernameError};
use crate::lockout::Lockouts;
use crate::metrics::{AuthCounters, AuthCounts};
use crate::outcome::{Admitted, FirstFactor, LoginStep, Refusal, SecondFactor};
use crate::password::{PasswordError, PasswordHashing, PasswordParams};
use crate::push::PushMode;
use crate::seats::{SeatCache, WriteBehind};
use crate::store::PushUser;
use crate::store::{
    AdmitOutcome, AdmitRequest, Checked, ClockMark, DailyNewUsers, InstallationRecord,
    LicenseBinding, LicenseInstall, LocalUserRecord, LockoutPolicy, LoginRecord, MonthUsageRecord,
    PushLimited, RefusalRecord, RefusedUser, SeatQuery, SeatRecord, Store, StoreError,
    StoredLicense, TotpRecord,
};
use crate::totp::{self, TotpMode, TotpSecret};
use crate::work::{Busy, PasswordWork};

mod admin;
mod alarming;
mod directory_login;
mod front_door;
mod pushing;

use alarming::AlarmEngine;
pub use alarming::{AlarmSaveError, DEFAULT_DAILY_AT, TestMailError};
pub use directory_login::DirectoryUserError;
pub use front_door::{LOCKED_OUT_EVENT, MfaSettings, Removed};
use pushing::PushWaiters;
pub use pushing::{
    APPROVE_ON_PHONE, ENROLLMENT_LIFETIME, MAX_WAITING_PUSHES, PushError, PushSettings, SignedPush,
    StartPushError, approve_prompt, is_approve_prompt,
};

/// The License Analytics page: months against their limits, this month's
/// new users per day, and where this month's pace leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analytics {
    pub months: Vec<MonthUsageRecord>,
    pub month: Month,
    pub today: Date,
    pub daily: Vec<DailyNewUsers>,
    pub projection: Projection,
    pub active_users: u32,
    pub user_limit: u32,
}

/// How the service is set up; the binary derives this from its config.
#[derive(Clone)]
pub struct Settings {
    /// `license.timezone`: the zone a new installation is created with
    /// (`None`: the host's). Once created the zone is fixed; a different
    /// one here is [`OpenError::TimeZonePinned`].
    pub time_zone: Option<TimeZone>,
    pub password: PasswordParams,
    pub trusted_vendor_keys: Vec<VerifyingKey>,
    pub clock: Arc<dyn Clock>,
    /// How TOTP users without a mode of their own present their code.
    pub totp_mode: TotpMode,
    /// How long a verified password is remembered (`passwords.cache_seconds`);
    /// zero: every login runs argon2.
    pub password_cache: Duration,
    /// `[alarms]` thresholds and recipients from the configuration file: in
    /// force instead of the ones saved in the panel. `None`: the panel's.
    pub alarms: Option<AlarmSettings>,
    /// Time of the daily alarm check, license time zone.
    pub alarm_daily_at: gatehouse_license::jiff::civil::Time,
    /// LDAP / Active Directory (`[[directory]]`): asked for users who are
    /// not local. `None`: local users only.
    pub directory: Option<Arc<dyn Directory>>,
    /// Push approval (`[push]`).
    pub push: PushSettings,
    /// Wakes phones by Web Push (`[push.webpush]`); `None`: phones only
    /// poll.
    pub push_notifier: Option<Arc<dyn crate::push::PushNotifier>>,
    /// `[mfa]`: a second factor required, and who is exempt.
    pub mfa: MfaSettings,
    /// `[lockout]`: failures in a row before a user is locked.
    pub lockout: LockoutPolicy,
}

impl Settings {
    /// Defaults: the zone recorded at first start, OWASP argon2id costs, the
    /// vendor keys this build trusts, TOTP in challenge mode.
    pub fn new(clock: Arc<dyn Clock>) -> Settings {
        Settings {
            time_zone: None,
            password: PasswordParams::default(),
            trusted_vendor_keys: crate::vendor_keys::trusted(),
            clock,
            totp_mode: TotpMode::Challenge,
            password_cache: Duration::ZERO,
            alarms: None,
            alarm_daily_at: DEFAULT_DAILY_AT,
            directory: None,
            push: PushSettings::default(),
            push_notifier: None,
            mfa: MfaSettings::default(),
            lockout: LockoutPolicy::default(),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field(
                "time_zone",
                &self.time_zone.as_ref().and_then(|z| z.iana_name()),
            )
            .field("password", &self.password)
            .field("trusted_vendor_keys", &self.trusted_vendor_keys.len())
            .field("directory", &self.directory.is_some())
            .finish_non_exhaustive()
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the recorded license time zone {0:?} is unknown to this build")]
    UnknownTimeZone(String),
    #[error("the host's time zone has no IANA name; set license.timezone")]
    HostTimeZoneUnnamed,
    #[error(
        "license.timezone: the license time zone was fixed to {pinned} when this installation was created and cannot be changed to {configured} (remove license.timezone or set it to {pinned})"
    )]
    TimeZonePinned { pinned: String, configured: String },
    #[error("invalid password hashing settings: {0}")]
    Password(#[from] PasswordError),
    #[error("no randomness available to create the installation key: {0}")]
    Randomness(String),
}

/// Why a local-user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    Username(#[from] UsernameError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("local user {0:?} already exists")]
    AlreadyExists(String),
    #[error("no local user {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for UserError {
    fn from(error: StoreError) -> UserError {
        UserError::Store(error)
    }
}

/// Why a RADIUS client was not added.
#[derive(Debug, thiserror::Error)]
pub enum ClientAddError {
    #[error(transparent)]
    Invalid(#[from] ClientError),
    #[error("a RADIUS client named {0:?} already exists")]
    AlreadyExists(String),
    #[error(transparent)]
    Store(StoreError),
}

/// Issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "Gatehouse";

/// A fresh TOTP enrollment, shown to the user once.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    pub secret: TotpSecret,
    /// `otpauth://` URI for the QR code.
    pub uri: String,
    /// The mode the user will log in with.
    pub mode: TotpMode,
}

/// Why a license key was not installed. The current license stays.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Refused(#[from] KeyRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The license in force with its resolved terms.
#[derive(Debug, Clone)]
struct LicenseState {
    license: License,
    terms: Terms,
    generation: i64,
    /// What admissions are made under: the verified key (its digest) and
    /// its limit.
    binding: LicenseBinding,
}

/// A record the license rests on whose tag did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    License,
    Clock,
    Month,
}

impl Record {
    fn name(self) -> &'static str {
        match self {
            Record::License => "the license row",
            Record::Clock => "the clock high-water mark",
            Record::Month => "the month's user count",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Which license records failed their binding (SPEC §11), one bit per
/// [`Record`]: while any did, every login fails closed; installing a valid
/// vendor key repairs them.
#[derive(Debug, Default)]
struct Damage(std::sync::atomic::AtomicU8);

impl Damage {
    fn any(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire) != 0
    }

    fn has(&self, record: Record) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire) & record.bit() != 0
    }

    /// Marks `record` damaged, logging it the first time.
    fn report(&self, record: Record) {
        let before = self
            .0
            .fetch_or(record.bit(), std::sync::atomic::Ordering::AcqRel);
        if before & record.bit() == 0 {
            tracing::error!(
                "{LICENSE_DATA_DAMAGED_EVENT}: {} was changed outside Gatehouse (its tag does not verify under the sealing key); every login is refused until a valid vendor key is installed",
                record.name()
            );
        }
    }

    fn clear(&self) {
        self.0.store(0, std::sync::atomic::Ordering::Release);
    }
}

/// Everything the License page and `license show` display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseView {
    pub license: License,
    pub app_key: AppKey,
    pub active_users: u32,
    pub status: LicenseStatus,
    pub days_remaining: i32,
    pub time_zone: String,
    pub month: Month,
}

/// The installation's identity.
#[derive(Debug, Clone)]
struct Installation {
    record: InstallationRecord,
    app_key: AppKey,
}

/// The Gatehouse authentication service.
pub struct Gatehouse {
    store: Arc<dyn Store>,
    clock: EffectiveClock,
    zone: TimeZone,
    zone_name: String,
    installation: Installation,
    license: RwLock<Arc<LicenseState>>,
    damage: Damage,
    seats: SeatCache,
    write_behind: WriteBehind,
    admitter: Admitter,
    hashing: PasswordHashing,
    /// Bounds argon2 runs and their queues; users ahead of decoys.
    work: PasswordWork,
    trusted: Vec<VerifyingKey>,
    totp_mode: TotpMode,
    accounts: LocalAccounts,
    credentials: CredentialCache,
    counters: AuthCounters,
    alarms: AlarmEngine,
    directory: Option<Arc<dyn Directory>>,
    push: PushSettings,
    push_waiters: PushWaiters,
    /// When old pushes were last forgotten (Unix seconds).
    push_cleanup: std::sync::atomic::AtomicI64,
    push_notifier: Option<Arc<dyn crate::push::PushNotifier>>,
    /// The VAPID key Web Push messages are signed with.
    vapid: p256::SecretKey,
    mfa: MfaSettings,
    lockout_policy: LockoutPolicy,
    lockouts: Lockouts,
    /// Decoy password checks run (refusals that must take as long as a
    /// real check).
    decoys: std::sync::atomic::AtomicU64,
    overload_log: crate::ratelimit::RateLimitedLog,
}

impl std::fmt::Debug for Gatehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatehouse")
            .field("app_key", &self.installation.app_key)
            .field("zone", &self.zone_name)
            .finish_non_exhaustive()
    }
}

impl Gatehouse {
    /// Opens the service on `store`. On the very first start this creates
    /// the installation key (the App Key) and begins the demo. Must run
    /// inside a Tokio runtime (it starts the admission writer).
    pub async fn open(store: Arc<dyn Store>, settings: Settings) -> Result<Gatehouse, OpenError> {
        let damage = Damage::default();
        let recorded = store.recorded_time().await?;
        // A mark whose tag fails is not followed: the process keeps its own
        // time, and the installation is damaged until repaired.
        let clock = EffectiveClock::new(
            settings.clock.clone(),
            recorded
                .filter(|mark| mark.authentic)
                .map(|mark| mark.record),
        );
        if recorded.is_some_and(|mark| !mark.authentic) {
            damage.report(Record::Clock);
        }
        let installation = match store.installation().await? {
            Some(record) => record,
            None => first_start(store.as_ref(), &settings, clock.now()).await?,
        };
        if !installation.authentic {
            // The sealed record is what counts; the columns only show it.
            tracing::error!(
                first_start = %installation.record.first_start,
                demo_support_end = %installation.record.demo_support_end,
                time_zone = %installation.record.time_zone,
                "{LICENSE_RECORD_ALTERED_EVENT}: the installation row's columns differ from the sealed installation record; the sealed values apply"
            );
        }
        let (zone, zone_name) = resolve_zone(&settings, &installation)?;
        let installation = Installation {
            app_key: AppKey::of(&installation.record.signing_key.verifying_key()),
            record: installation.record,
        };
        let hashing = PasswordHashing::new(settings.password)?;
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (admitter, _writer) = Admitter::spawn(store.clone());
        let stored = store.license().await?;
        if !stored.authentic {
            damage.report(Record::License);
        }
        let state = license_state(&settings.trusted_vendor_keys, &installation, &zone, &stored);
        let vapid = crate::push::vapid_key(&installation.record.signing_key);
        let lockouts = Lockouts::new(&installation.record.signing_key.to_bytes());
        lockouts.refresh(store.as_ref(), true).await?;
        let gatehouse = Gatehouse {
            store,
            clock,
            zone,
            zone_name,
            license: RwLock::new(Arc::new(state)),
            damage,
            installation,
            seats: SeatCache::default(),
            write_behind: WriteBehind::default(),
            admitter,
            hashing,
            work: PasswordWork::new(parallelism * 2),
            trusted: settings.trusted_vendor_keys,
            totp_mode: settings.totp_mode,
            accounts: LocalAccounts::default(),
            credentials: CredentialCache::new(settings.password_cache),
            counters: AuthCounters::default(),
            alarms: AlarmEngine::new(settings.alarms, settings.alarm_daily_at),
            directory: settings.directory,
            push: settings.push,
            push_waiters: PushWaiters::default(),
            push_cleanup: std::sync::atomic::AtomicI64::new(0),
            push_notifier: settings.push_notifier,
            vapid,
            mfa: settings.mfa,
            lockout_policy: settings.lockout,
            lockouts,
            decoys: std::sync::atomic::AtomicU64::new(0),
            overload_log: crate::ratelimit::RateLimitedLog::new(Duration::from_secs(10), 5),
        };
        gatehouse.reload_alarms().await?;
        Ok(gatehouse)
    }

    pub fn app_key(&self) -> AppKey {
        self.installation.app_key
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.zone
    }

    pub fn time_zone_name(&self) -> &str {
        &self.zone_name
    }

    /// Effective time (never behind the highest time recorded).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The month that `now` falls in, license time zone.
    pub fn current_month(&self) -> Month {
        Month::containing(self.now(), &self.zone)
    }

    pub fn license(&self) -> License {
        self.license_state().license.clone()
    }

    /// Valid, expired or damaged now (no database access).
    pub fn license_status(&self) -> LicenseStatus {
        self.license_status_at(self.clock.now())
    }

    fn license_status_at(&self, now: Timestamp) -> LicenseStatus {
        if self.damage.any() {
            LicenseStatus::Damaged
        } else if self.license_state().terms.expired(now) {
            LicenseStatus::Expired
        } else {
            LicenseStatus::Valid
        }
    }

    /// Refuses everyone while the license records are damaged or the
    /// license expired: the first check of every login.
    fn license_gate(
        &self,
        now: Timestamp,
        username: &dyn std::fmt::Display,
    ) -> Result<(), Refusal> {
        match self.license_status_at(now) {
            LicenseStatus::Valid => Ok(()),
            LicenseStatus::Expired => {
                tracing::warn!(%username, "{LICENSE_EXPIRED_EVENT}: authentication refused");
                Err(Refusal::LicenseExpired)
            }
            LicenseStatus::Damaged => {
                tracing::warn!(%username, "{LICENSE_DATA_DAMAGED_EVENT}: authentication refused");
                Err(Refusal::LicenseDamaged)
            }
        }
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn license_state(&self) -> Arc<LicenseState> {
        self.license
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    // ----- authentication -------------------------------------------------

    /// A login for callers that cannot ask for a one-time code: users who
    /// owe one are refused with [`Refusal::InvalidOneTimeCode`]. See
    /// [`login`](Self::login) for the full conversation.
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
        client: &str,
    ) -> Result<Admitted, Refusal> {
        match self.login(login, password, client).await? {
            LoginStep::Accepted(admitted) => Ok(admitted),
            LoginStep::OtpRequired(identity) => {
                tracing::info!(username = %identity.username, client, "authentication refused: a one-time code is required");
                Err(Refusal::InvalidOneTimeCode)
            }
            LoginStep::PushSent { identity, push, .. } => {
                self.complete_push(&identity, &push, "", client).await
            }
        }
    }

    /// A login in the SPEC order: refuse if expired, check the password
    /// (with a one-time code typed after it, for users in append mode),
    /// check the license gate, then either count and accept, or ask for the
    /// one-time code (challenge mode; finish with
    /// [`complete_otp`](Self::complete_otp)).
    pub async fn login(
        &self,
        login: &str,
        typed: &str,
        client: &str,
    ) -> Result<LoginStep, Refusal> {
        self.login_from(login, typed, client, None).await
    }

    /// [`login`](Self::login) with the user's address when the client
    /// sent it (shown on the phone with a push).
    pub async fn login_from(
        &self,
        login: &str,
        typed: &str,
        client: &str,
        source: Option<&str>,
    ) -> Result<LoginStep, Refusal> {
        let step = self.login_steps(login, typed, client, source).await;
        self.counters.count_step(&step);
        step
    }

    async fn login_steps(
        &self,
        login: &str,
        typed: &str,
        client: &str,
        source: Option<&str>,
    ) -> Result<LoginStep, Refusal> {
        // One moment for the whole login: one month, one expiry decision.
        let now = self.clock.now();
        let checked = self.first_factor_at(login, typed, now).await?;
        self.precheck_at(&checked.identity, client, now).await?;
        let identity = checked.identity.clone();
        let step = self.second_factor_steps(checked, client, source, now).await;
        let accepted = matches!(step, Ok(LoginStep::Accepted(_)));
        self.second_factor_outcome(&identity, step.as_ref().err().copied(), accepted)
            .await;
        step
    }

    /// After the password and the license gate: the second factor owed,
    /// then admission.
    async fn second_factor_steps(
        &self,
        checked: FirstFactor,
        client: &str,
        source: Option<&str>,
        now: Timestamp,
    ) -> Result<LoginStep, Refusal> {
        match checked.second_factor {
            SecondFactor::None => Ok(LoginStep::Accepted(
                self.admit_at(&checked.identity, client, now).await?,
            )),
            SecondFactor::Totp {
                record,
                appended_code: Some(code),
            } => {
                self.check_totp(&checked.identity, &record, &code).await?;
                Ok(LoginStep::Accepted(
                    self.admit_at(&checked.identity, client, now).await?,
                ))
            }
            SecondFactor::Totp {
                appended_code: None,
                ..
            } => Ok(LoginStep::OtpRequired(checked.identity)),
            SecondFactor::Push { mode, totp } => {
                let lifetime = match mode {
                    PushMode::Hold => self.push.timeout,
                    PushMode::Challenge => self.push.lifetime,
                };
                let numbered = mode == PushMode::Challenge && self.push.number_matching;
                let push = match self
                    .start_push_numbered(&checked.identity, client, source, lifetime, numbered)
                    .await
                {
                    Ok(push) => push,
                    Err(StartPushError::Limited(PushLimited::Waiting)) => {
                        tracing::warn!(username = %checked.identity.username, waiting = MAX_WAITING_PUSHES, client, "authentication refused: too many pushes already waiting for this user");
                        return Err(Refusal::PushTooMany);
                    }
                    Err(StartPushError::Limited(PushLimited::PerHour)) => {
                        tracing::warn!(username = %checked.identity.username, per_hour = self.push.max_per_hour, client, "authentication refused: push.max_per_hour pushes were already sent to this user in the last hour");
                        return Err(Refusal::PushHourlyLimit);
                    }
                    Err(StartPushError::Store(error)) => {
                        return Err(self.unavailable(&checked.identity, &error));
                    }
                };
                tracing::info!(username = %checked.identity.username, push = %push.id, client, mode = mode.as_str(), "push sent");
                self.wake_phones(&push).await;
                match mode {
                    PushMode::Hold => {
                        self.await_push(&checked.identity, &push, self.push.timeout)
                            .await?;
                        // After the wait: a fresh moment (month, expiry).
                        Ok(LoginStep::Accepted(
                            self.admit(&checked.identity, client).await?,
                        ))
                    }
                    PushMode::Challenge => Ok(LoginStep::PushSent {
                        identity: checked.identity,
                        push: push.id,
                        totp: totp.is_some(),
                        number: push.number,
                    }),
                }
            }
        }
    }

    /// The second half of a challenge-mode login: checks the one-time code
    /// (once only) and counts the user.
    pub async fn complete_otp(
        &self,
        identity: &Identity,
        code: &str,
        client: &str,
    ) -> Result<Admitted, Refusal> {
        let outcome = match self.refuse_if_locked(identity, self.clock.now()) {
            Ok(()) => self.check_code_and_admit(identity, code, client).await,
            Err(refusal) => Err(refusal),
        };
        self.second_factor_outcome(identity, outcome.as_ref().err().copied(), outcome.is_ok())
            .await;
        self.counters
            .count(outcome.as_ref().map(|_| ()).map_err(|r| *r));
        outcome
    }

    async fn check_code_and_admit(
        &self,
        identity: &Identity,
        code: &str,
        client: &str,
    ) -> Result<Admitted, Refusal> {
        let record = self
            .store
            .totp(&identity.seat)
            .await
            .map_err(|error| self.unavailable(identity, &error))?;
        let Some(record) = record else {
            tracing::info!(username = %identity.username, "authentication failed: no one-time code enrolled");
            return Err(Refusal::InvalidOneTimeCode);
        };
        self.check_totp(identity, &record, code).await?;
        self.admit(identity, client).await
    }

    async fn check_totp(
        &self,
        identity: &Identity,
        record: &TotpRecord,
        code: &str,
    ) -> Result<(), Refusal> {
        let Some(step) = totp::matching_step(&record.secret, code.trim(), self.clock.now()) else {
            tracing::info!(username = %identity.username, "authentication failed: wrong one-time code");
            return Err(Refusal::InvalidOneTimeCode);
        };
        match self.store.use_totp_step(&identity.seat, step).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::warn!(username = %identity.username, "authentication failed: one-time code already used (replay)");
                Err(Refusal::InvalidOneTimeCode)
            }
            Err(error) => Err(self.unavailable(identity, &error)),
        }
    }

    /// Checks the license's expiry, then the password. Unknown users,
    /// disabled accounts and wrong passwords are refused alike, never
    /// counted, and take the same time. For users enrolled in append mode
    /// the last six digits of `typed` are their one-time code.
    pub async fn first_factor(&self, login: &str, typed: &str) -> Result<FirstFactor, Refusal> {
        self.first_factor_at(login, typed, self.clock.now()).await
    }

    async fn first_factor_at(
        &self,
        login: &str,
        typed: &str,
        now: Timestamp,
    ) -> Result<FirstFactor, Refusal> {
        self.license_gate(now, &login)?;
        let username = match Username::parse(login) {
            Ok(username) => username,
            Err(error) => {
                self.spend_decoy(login, typed).await?;
                tracing::info!(username = ?login, %error, "authentication failed: invalid username");
                return Err(Refusal::InvalidCredentials);
            }
        };
        let account = match self.accounts.get(self.store.as_ref(), &username).await {
            Ok(account) => account,
            Err(error) => {
                tracing::error!(username = %username, %error, "authentication failed: database unavailable");
                return Err(Refusal::ServiceUnavailable);
            }
        };
        let Some(account) = account else {
            if let Some(directory) = &self.directory {
                return self
                    .directory_first_factor(directory.as_ref(), login, typed)
                    .await;
            }
            self.spend_decoy(login, typed).await?;
            tracing::info!(username = %username, "authentication failed: unknown user");
            return Err(Refusal::InvalidCredentials);
        };
        let user = &account.user;
        self.refuse_if_locked(&account.identity, now)?;
        let Some((password, second_factor)) =
            self.second_factor(account.totp.clone(), account.push, typed)
        else {
            self.spend_decoy(login, typed).await?;
            tracing::info!(username = %username, "authentication failed: no one-time code after the password");
            return Err(Refusal::InvalidCredentials);
        };
        if !self
            .verify_password(&username, password, &user.password_hash)
            .await?
        {
            tracing::info!(username = %username, "authentication failed: wrong password");
            self.wrong_password(&account.identity, password).await;
            return Err(Refusal::InvalidCredentials);
        }
        if !user.enabled {
            tracing::info!(username = %username, "authentication failed: account disabled");
            return Err(Refusal::InvalidCredentials);
        }
        self.passed_password(
            account.identity.clone(),
            second_factor,
            user.second_factor_exempt,
        )
    }

    /// The first factor passed: what is still owed, or the refusal of a
    /// push-only user while push is not licensed, or of a user with no
    /// second factor while one is required (`exempt`: this user is not
    /// asked for one).
    fn passed_password(
        &self,
        identity: Identity,
        owed: Result<SecondFactor, Refusal>,
        exempt: bool,
    ) -> Result<FirstFactor, Refusal> {
        let second_factor = owed.inspect_err(|_| {
            tracing::warn!(username = %identity.username, "authentication refused: push approval is not licensed (Push Subscription inactive) and no TOTP is enrolled");
        })?;
        if second_factor == SecondFactor::None {
            self.require_second_factor(&identity, exempt)?;
        }
        Ok(FirstFactor {
            identity,
            second_factor,
        })
    }

    /// What the user owes after the password, and the password itself (in
    /// append mode, `typed` minus the code). `None`: append mode and no
    /// code after the password. What is owed is a refusal
    /// ([`Refusal::PushNotLicensed`]) for a user with phones only while the
    /// license has no Push Subscription; it is given after the password,
    /// like every other refusal.
    ///
    /// A user with a phone gets a push while the license's Push
    /// Subscription is active, and `typed` is the password. TOTP stays
    /// usable instead: in append mode, a password followed by a code valid
    /// now; in challenge mode, the code typed at the push's prompt.
    /// Without the subscription, TOTP as enrolled, or a refusal when there
    /// is none.
    fn second_factor<'t>(
        &self,
        totp: Option<TotpRecord>,
        push: PushUser,
        typed: &'t str,
    ) -> Option<(&'t str, Result<SecondFactor, Refusal>)> {
        if push.devices > 0 {
            if self.push_licensed() {
                if let Some(record) = &totp
                    && record.mode.unwrap_or(self.totp_mode) == TotpMode::Append
                    && let Some((password, code)) = totp::split_appended(typed)
                    && totp::matching_step(&record.secret, code, self.clock.now()).is_some()
                {
                    // Checked again (and used up) after the password.
                    return Some((
                        password,
                        Ok(SecondFactor::Totp {
                            record: record.clone(),
                            appended_code: Some(code.to_string()),
                        }),
                    ));
                }
                let mode = push.mode.unwrap_or(self.push.mode);
                return Some((typed, Ok(SecondFactor::Push { mode, totp })));
            }
            if totp.is_none() {
                return Some((typed, Err(Refusal::PushNotLicensed)));
            }
        }
        let Some(record) = totp else {
            return Some((typed, Ok(SecondFactor::None)));
        };
        match record.mode.unwrap_or(self.totp_mode) {
            TotpMode::Challenge => Some((
                typed,
                Ok(SecondFactor::Totp {
                    record,
                    appended_code: None,
                }),
            )),
            TotpMode::Append => {
                let (password, code) = totp::split_appended(typed)?;
                Some((
                    password,
                    Ok(SecondFactor::Totp {
                        record,
                        appended_code: Some(code.to_string()),
                    }),
                ))
            }
        }
    }

    /// The license gate before a second factor is asked for: a user who
    /// would be refused is never prompted for a code. Not authoritative;
    /// [`admit`](Self::admit) decides again, atomically.
    pub async fn precheck(&self, identity: &Identity, client: &str) -> Result<(), Refusal> {
        self.precheck_at(identity, client, self.clock.now()).await
    }

    async fn precheck_at(
        &self,
        identity: &Identity,
        client: &str,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        self.license_gate(now, &identity.username)?;
        let state = self.license_state();
        let cached = self.seats.lookup(&identity.seat, now, &self.zone);
        let cached_state = SeatState {
            active_users: cached.active_users,
            already_counted: cached.counted,
        };
        match gatehouse_license::admission::decide(state.terms, now, cached_state) {
            Admission::Expired => Err(self.refuse_expired(identity)),
            Admission::AlreadyCounted | Admission::Admit => Ok(()),
            Admission::LimitExceeded => {
                // The cache only knows what this process saw: ask the store
                // before turning anyone away.
                let status = self
                    .store
                    .seat_status(cached.month, &identity.seat)
                    .await
                    .map_err(|error| self.unavailable(identity, &error))?;
                self.seats.remember(
                    cached.month,
                    &identity.seat,
                    status.counted,
                    status.active_users,
                    &self.zone,
                );
                let seats = SeatState {
                    active_users: status.active_users,
                    already_counted: status.counted,
                };
                match gatehouse_license::admission::decide(state.terms, now, seats) {
                    Admission::LimitExceeded => {
                        Err(self.refuse_for_limit(identity, cached.month, now, client))
                    }
                    Admission::Expired => Err(self.refuse_expired(identity)),
                    Admission::AlreadyCounted | Admission::Admit => Ok(()),
                }
            }
        }
    }

    /// Counts the user (once per month) and accepts, or refuses. A new user
    /// is accepted only after their seat is durably stored.
    pub async fn admit(&self, identity: &Identity, client: &str) -> Result<Admitted, Refusal> {
        self.admit_at(identity, client, self.clock.now()).await
    }

    async fn admit_at(
        &self,
        identity: &Identity,
        client: &str,
        now: Timestamp,
    ) -> Result<Admitted, Refusal> {
        self.license_gate(now, &identity.username)?;
        let cached = self.seats.lookup(&identity.seat, now, &self.zone);
        if cached.counted {
            // The hot path: no database round trip, last login written behind.
            self.write_behind.login(LoginRecord {
                month: cached.month,
                seat: identity.seat.clone(),
                at: now,
                client: client.to_string(),
            });
            return Ok(Admitted {
                identity: identity.clone(),
                newly_counted: false,
            });
        }
        // Decided by the store under the verified key in force; when the
        // license row holds another key by then (installed meanwhile, or
        // altered), the license is read and verified again, and the
        // decision made again once.
        let mut outcome = self.admit_new(identity, client, now, cached.month).await?;
        if outcome == AdmitOutcome::LicenseChanged {
            self.reload_license()
                .await
                .map_err(|error| self.unavailable(identity, &error))?;
            self.license_gate(now, &identity.username)?;
            outcome = self.admit_new(identity, client, now, cached.month).await?;
        }
        match outcome {
            AdmitOutcome::Counted { active_users } => {
                self.seats
                    .remember(cached.month, &identity.seat, true, active_users, &self.zone);
                tracing::info!(username = %identity.username, client, active_users, "new user counted this month");
                self.after_counted(cached.month, active_users).await;
                Ok(Admitted {
                    identity: identity.clone(),
                    newly_counted: true,
                })
            }
            AdmitOutcome::AlreadyCounted { active_users } => {
                self.seats
                    .remember(cached.month, &identity.seat, true, active_users, &self.zone);
                Ok(Admitted {
                    identity: identity.clone(),
                    newly_counted: false,
                })
            }
            AdmitOutcome::LimitExceeded { active_users, .. } => {
                self.seats.remember(
                    cached.month,
                    &identity.seat,
                    false,
                    active_users,
                    &self.zone,
                );
                Err(self.refuse_for_limit(identity, cached.month, now, client))
            }
            AdmitOutcome::LicenseChanged => {
                tracing::error!(username = %identity.username, "authentication refused: the license row keeps changing under the admission");
                Err(Refusal::ServiceUnavailable)
            }
        }
    }

    /// One admission through the admitter, under the license in force now.
    async fn admit_new(
        &self,
        identity: &Identity,
        client: &str,
        now: Timestamp,
        month: Month,
    ) -> Result<AdmitOutcome, Refusal> {
        let request = AdmitRequest {
            license: self.license_state().binding,
            month,
            day: self.zone.to_datetime(now).date().day(),
            seat: identity.seat.clone(),
            username: identity.username.to_string(),
            display_name: identity.display_name.to_string(),
            source: identity.source,
            client: client.to_string(),
            at: now,
        };
        match self.admitter.admit(request).await {
            Ok(outcome) => Ok(outcome),
            Err(StoreError::Altered(_)) => {
                self.damage.report(Record::Month);
                self.license_gate(now, &identity.username)?;
                Err(Refusal::LicenseDamaged)
            }
            Err(error) => Err(self.unavailable(identity, &error)),
        }
    }

    fn refuse_expired(&self, identity: &Identity) -> Refusal {
        tracing::warn!(username = %identity.username, "{LICENSE_EXPIRED_EVENT}: authentication refused");
        Refusal::LicenseExpired
    }

    fn refuse_for_limit(
        &self,
        identity: &Identity,
        month: Month,
        now: Timestamp,
        client: &str,
    ) -> Refusal {
        tracing::warn!(
            username = %identity.username,
            client,
            "{LICENSE_USER_LIMIT_EXCEEDED_EVENT}: {} refused",
            identity.username
        );
        self.write_behind.refusal(RefusalRecord {
            month,
            seat: identity.seat.clone(),
            username: identity.username.to_string(),
            at: now,
            client: client.to_string(),
            attempts: 1,
        });
        Refusal::UserLimitExceeded
    }

    fn unavailable(&self, identity: &Identity, error: &StoreError) -> Refusal {
        tracing::error!(username = %identity.username, %error, "authentication refused: database unavailable");
        Refusal::ServiceUnavailable
    }

    /// Whether `password` matches `hash` (remembered, or argon2 on a
    /// blocking thread); [`Busy`] when too many checks already wait.
    pub(crate) async fn verify_password(
        &self,
        username: &Username,
        password: &str,
        hash: &str,
    ) -> Result<bool, Busy> {
        if self.credentials.matches(username, hash, password) {
            return Ok(true);
        }
        let hashing = self.hashing.clone();
        let (owned_password, owned_hash) = (password.to_string(), hash.to_string());
        let verified = self
            .work
            .check(move || hashing.verify(&owned_password, &owned_hash))
            .await
            .inspect_err(|_| self.overloaded(username.as_str()))?;
        if verified {
            self.credentials.remember(username, hash, password);
        }
        Ok(verified)
    }

    /// The work of a password check, for a refusal that must not be
    /// quicker than one (unknown names); [`Busy`] when too many decoys
    /// already wait.
    pub(crate) async fn spend_decoy(&self, login: &str, password: &str) -> Result<(), Busy> {
        self.decoys
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hashing = self.hashing.clone();
        let password = password.to_string();
        self.work
            .decoy(move || hashing.verify_decoy(&password))
            .await
            .inspect_err(|_| self.overloaded(login))
    }

    /// A login dropped for overload: logged, rate-limited (the refusal
    /// is counted with the login's outcome).
    fn overloaded(&self, login: &str) {
        if let Some(suppressed) = self.overload_log.allow() {
            tracing::warn!(username = ?login, suppressed, "authentication dropped: too many password checks waiting (overload)");
        }
    }

    // ----- license ----------------------------------------------------------

    /// Checks a key without installing it (for a preview).
    pub fn check_license_key(&self, text: &str) -> Result<VerifiedKey, KeyRefusal> {
        self.key_check(text).map(|check| check.verified)
    }

    /// Every check a key must pass, judged at the effective time, or, for
    /// a fresh key (newer than every key installed, issued within the last
    /// day by the system clock), at the system clock's time: such a key
    /// re-anchors a clock mark that ran ahead (SPEC §11).
    fn key_check(&self, text: &str) -> Result<KeyCheck, KeyRefusal> {
        let current = self.license_state();
        let effective = self.clock.now();
        let system = self.clock.system_now();
        let mark = self.clock.mark();
        let anchor = (mark.anchor > 0)
            .then(|| Timestamp::from_second(mark.anchor).ok())
            .flatten();
        // The newest key installed: the one in force (if its row is
        // authentic) and the one that last anchored the clock.
        let installed = current
            .license
            .vendor_issued_at()
            .filter(|_| !self.damage.has(Record::License));
        let newest = installed.max(anchor);
        let decoded = decode_signed(text, &self.trusted)?;
        let issued_at = decoded.payload.issued_at;
        let ran_ahead = effective.duration_since(system)
            > gatehouse_license::clock::BACKWARD_JUMP_REPORT_THRESHOLD;
        // Only a fresh key says what time it is: it alone repairs a clock
        // mark changed by hand (any other key would let the system clock,
        // perhaps turned back, set it).
        let clock_damaged = self.damage.has(Record::Clock);
        let reanchor =
            (ran_ahead || clock_damaged) && gatehouse_license::reanchors(issued_at, system, newest);
        if clock_damaged && !reanchor {
            return Err(KeyRefusal::NotFresh);
        }
        let now = if reanchor { system } else { effective };
        let verified = check_key(
            text,
            &InstallContext {
                trusted: &self.trusted,
                app_key: self.installation.app_key,
                now,
                zone: &self.zone,
                // Never older than the newest key known: with the license
                // row damaged, the key that last anchored the clock.
                installed_issued_at: newest,
            },
        )?;
        let clock = reanchor.then(|| ClockMark {
            high_water: system.max(issued_at),
            anchor: issued_at.as_second(),
        });
        Ok(KeyCheck { verified, clock })
    }

    /// Verifies and installs a key; it is in force when this returns. Over
    /// damaged license records, it repairs them (SPEC §11).
    pub async fn install_license(&self, text: &str) -> Result<LicenseView, InstallError> {
        let KeyCheck { verified, clock } = self.key_check(text)?;
        let payload = &verified.payload;
        let at = clock.map_or_else(|| self.clock.now(), |mark| mark.high_water);
        let generation = self
            .store
            .install_license(&LicenseInstall {
                key: &verified.text,
                user_limit: payload.user_limit,
                month: Month::containing(at, &self.zone),
                at,
                clock,
            })
            .await?;
        if let Some(mark) = clock.filter(|mark| mark.anchor != self.clock.mark().anchor) {
            tracing::warn!(
                from = %self.clock.high_water(),
                to = %mark.high_water,
                license_id = %payload.license_id,
                "clock high-water mark re-anchored by a freshly issued license key"
            );
            self.clock.reanchor(mark);
        }
        if self.damage.any() {
            tracing::warn!(
                license_id = %payload.license_id,
                "license data repaired: a valid vendor key was installed over the damaged records"
            );
            self.damage.clear();
        }
        let license = License {
            payload: verified.payload.clone(),
            source: LicenseSource::Key(verified.text.clone()),
        };
        tracing::info!(
            license_id = %license.payload.license_id,
            license_type = %license.payload.license_type,
            user_limit = license.payload.user_limit,
            support_end = %license.payload.support_end,
            "license installed"
        );
        self.set_license(LicenseState {
            terms: license.terms(&self.zone),
            binding: LicenseBinding {
                key_digest: LicenseBinding::digest(Some(&verified.text)),
                user_limit: license.payload.user_limit,
            },
            license,
            generation,
        });
        // A new limit or Support End Date may make an alarm due at once.
        self.check_alarms_logged().await;
        Ok(self.license_view().await?)
    }

    fn set_license(&self, state: LicenseState) {
        *self.license.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
    }

    /// Picks up a key installed by another process sharing the store.
    pub async fn refresh_license(&self) -> Result<bool, StoreError> {
        let generation = self.store.license_generation().await?;
        if generation == self.license_state().generation {
            return Ok(false);
        }
        self.reload_license().await?;
        tracing::info!(license_id = %self.license().payload.license_id, "license changed by another process; now in force");
        self.check_alarms_logged().await;
        Ok(true)
    }

    /// Reads the license row again and verifies it.
    async fn reload_license(&self) -> Result<(), StoreError> {
        let stored = self.store.license().await?;
        if !stored.authentic {
            self.damage.report(Record::License);
        }
        let state = license_state(&self.trusted, &self.installation, &self.zone, &stored);
        self.set_license(state);
        Ok(())
    }

    pub async fn license_view(&self) -> Result<LicenseView, StoreError> {
        let license = self.license();
        let now = self.clock.now();
        let month = Month::containing(now, &self.zone);
        let active_users = self.store.active_users(month).await?;
        Ok(LicenseView {
            status: self.license_status_at(now),
            days_remaining: license.days_remaining(&self.zone, now),
            license,
            app_key: self.installation.app_key,
            active_users,
            time_zone: self.zone_name.clone(),
            month,
        })
    }

    // ----- users and history -------------------------------------------------

    pub async fn users(&self, query: &SeatQuery) -> Result<Vec<SeatRecord>, StoreError> {
        self.store.seats(query).await
    }

    pub async fn refused_users(&self, month: Month) -> Result<Vec<RefusedUser>, StoreError> {
        self.store.refused_users(month).await
    }

    /// Per-month history, oldest first, including the current month even
    /// before anyone has logged in.
    pub async fn usage(&self) -> Result<Vec<MonthUsageRecord>, StoreError> {
        let mut months = self.store.month_usage().await?;
        let current = self.current_month();
        if !months.iter().any(|m| m.month == current) {
            months.push(MonthUsageRecord {
                month: current,
                active_users: 0,
                user_limit: self.license_state().terms.user_limit,
                peak_tenths: 0,
            });
            months.sort_by_key(|m| m.month);
        }
        Ok(months)
    }

    /// Everything the License Analytics page shows.
    pub async fn analytics(&self) -> Result<Analytics, StoreError> {
        let months = self.usage().await?;
        let now = self.now();
        let month = Month::containing(now, &self.zone);
        let today = self.zone.to_datetime(now).date();
        let daily = self.store.daily_new_users(month).await?;
        let current = months.iter().find(|m| m.month == month).copied();
        let active_users = current.map_or(0, |m| m.active_users);
        let user_limit = self.license_state().terms.user_limit;
        Ok(Analytics {
            projection: project_limit(today, active_users, user_limit),
            months,
            month,
            today,
            daily,
            active_users,
            user_limit,
        })
    }

    /// Authentications so far, by result and reason (for `/metrics`).
    /// Decoy password checks run since start: refusals of unknown names,
    /// and of directory entries that are disabled or outside the allowed
    /// groups, each cost one, like a real check.
    pub fn decoys_spent(&self) -> u64 {
        self.decoys.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A RADIUS request dropped for overload (`/metrics`).
    pub fn count_radius_drop(&self) {
        self.counters.radius_dropped();
    }

    /// A RADIUS request began (`true`) or ended waiting work (`/metrics`).
    pub fn radius_work(&self, started: bool) {
        self.counters.radius_work(started);
    }

    pub fn auth_counts(&self) -> AuthCounts {
        self.counters.snapshot()
    }

    // ----- local users -------------------------------------------------------

    pub async fn add_local_user(&self, name: &str, password: &str) -> Result<Username, UserError> {
        let username = Username::parse(name)?;
        let password_hash = self.hash_password(password).await?;
        let record = LocalUserRecord {
            username: username.clone(),
            display_name: name.to_string(),
            password_hash,
            enabled: true,
            second_factor_exempt: false,
            created_at: self.clock.now(),
        };
        let added = self.store.add_local_user(&record).await;
        self.accounts.invalidate();
        match added {
            Ok(()) => Ok(username),
            Err(StoreError::AlreadyExists) => Err(UserError::AlreadyExists(username.to_string())),
            Err(error) => Err(error.into()),
        }
    }

    /// Whether a local user named `name` (in any spelling) exists.
    pub async fn local_user_exists(&self, name: &str) -> Result<bool, UserError> {
        let username = Username::parse(name)?;
        Ok(self.store.local_user(&username).await?.is_some())
    }

    pub async fn set_local_user_enabled(&self, name: &str, enabled: bool) -> Result<(), UserError> {
        let username = Username::parse(name)?;
        let changed = self.store.set_local_user_enabled(&username, enabled).await;
        self.accounts.invalidate();
        if changed? {
            Ok(())
        } else {
            Err(UserError::NotFound(username.to_string()))
        }
    }

    pub async fn set_local_user_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<(), UserError> {
        let username = Username::parse(name)?;
        let password_hash = self.hash_password(password).await?;
        let changed = self
            .store
            .set_local_user_password(&username, &password_hash)
            .await;
        self.accounts.invalidate();
        if changed? {
            Ok(())
        } else {
            Err(UserError::NotFound(username.to_string()))
        }
    }

    /// Deletes the account. Its seat this month stays counted (SPEC §3).
    pub async fn delete_local_user(&self, name: &str) -> Result<(), UserError> {
        let username = Username::parse(name)?;
        let deleted = self.store.delete_local_user(&username).await;
        self.accounts.invalidate();
        if deleted? {
            Ok(())
        } else {
            Err(UserError::NotFound(username.to_string()))
        }
    }

    pub async fn local_users(&self) -> Result<Vec<LocalUserRecord>, StoreError> {
        self.store.local_users().await
    }

    /// Enrolls (or re-enrolls) a TOTP secret for a local user. The secret
    /// is returned once, to be shown to the user; `mode` `None` follows the
    /// configured default.
    pub async fn enroll_local_totp(
        &self,
        name: &str,
        mode: Option<TotpMode>,
    ) -> Result<TotpEnrollment, UserError> {
        let username = Username::parse(name)?;
        if self.store.local_user(&username).await?.is_none() {
            return Err(UserError::NotFound(username.to_string()));
        }
        let record = TotpRecord {
            seat: SeatKey::local(&username),
            secret: TotpSecret::generate(),
            mode,
            enrolled_at: self.clock.now(),
        };
        let enrolled = self.store.enroll_totp(&record).await;
        self.accounts.invalidate();
        enrolled?;
        tracing::info!(username = %username, "TOTP enrolled");
        Ok(TotpEnrollment {
            uri: record.secret.otpauth_uri(TOTP_ISSUER, username.as_str()),
            secret: record.secret,
            mode: mode.unwrap_or(self.totp_mode),
        })
    }

    pub async fn remove_local_totp(&self, name: &str) -> Result<Removed, UserError> {
        let username = Username::parse(name)?;
        let seat = SeatKey::local(&username);
        let removed = self.store.remove_totp(&seat).await;
        self.accounts.invalidate();
        if removed? {
            Ok(self.removed_from(&seat, username.to_string()).await?)
        } else {
            Err(UserError::NotFound(format!(
                "{username} (no TOTP enrolled)"
            )))
        }
    }

    /// Whether a local user has TOTP, and in which mode.
    pub async fn local_totp_mode(
        &self,
        username: &Username,
    ) -> Result<Option<TotpMode>, StoreError> {
        Ok(self
            .store
            .totp(&SeatKey::local(username))
            .await?
            .map(|record| record.mode.unwrap_or(self.totp_mode)))
    }

    // ----- RADIUS clients ------------------------------------------------------

    pub async fn radius_clients(&self) -> Result<Vec<RadiusClient>, StoreError> {
        self.store.radius_clients().await
    }

    pub async fn add_radius_client(&self, client: &RadiusClient) -> Result<(), ClientAddError> {
        client.validate()?;
        match self.store.add_radius_client(client).await {
            Ok(()) => {
                tracing::info!(client = %client.name, networks = ?client.networks, "RADIUS client added");
                Ok(())
            }
            Err(StoreError::AlreadyExists) => {
                Err(ClientAddError::AlreadyExists(client.name.clone()))
            }
            Err(error) => Err(ClientAddError::Store(error)),
        }
    }

    pub async fn delete_radius_client(&self, name: &str) -> Result<bool, StoreError> {
        self.store.delete_radius_client(name).await
    }

    pub(crate) async fn hash_password(&self, password: &str) -> Result<String, UserError> {
        let hashing = self.hashing.clone();
        let password = password.to_string();
        self.work
            .check(move || hashing.hash(&password))
            .await
            .map_err(|Busy| {
                UserError::Store(StoreError::Unavailable(
                    "too many password checks at once; try again".into(),
                ))
            })?
            .map_err(UserError::from)
    }

    // ----- upkeep -------------------------------------------------------------

    /// Writes pending last logins and refusals and records the clock's
    /// high-water mark. `serve` calls this every second; one-shot commands
    /// call it before exiting.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let written = self.write_behind.flush(self.store.as_ref()).await;
        // Reading the clock raises the mark to this moment.
        self.clock.now();
        let recorded = self.store.record_time(&self.clock.mark()).await?;
        if recorded.authentic {
            self.clock.observe(recorded.record);
        } else {
            self.damage.report(Record::Clock);
        }
        written
    }

    /// Periodic work for long-running processes.
    pub async fn tick(&self) {
        if let Err(error) = self.flush().await {
            tracing::error!(%error, "could not write last logins; will retry");
        }
        if let Err(error) = self.refresh_license().await {
            tracing::error!(%error, "could not check for a new license; will retry");
        }
        if let Err(error) = self.accounts.refresh(self.store.as_ref()).await {
            tracing::error!(%error, "could not check for changed local accounts; will retry");
        }
        if let Err(error) = self.lockouts.refresh(self.store.as_ref(), false).await {
            tracing::error!(%error, "could not check for changed lockouts; will retry");
        }
        self.alarm_tick().await;
        self.forget_old_pushes().await;
    }

    /// How often [`tick`](Self::tick) should run.
    pub const TICK: Duration = Duration::from_secs(1);

    /// The installation's signing key (application key file signatures).
    pub(crate) fn installation_key(&self) -> &SigningKey {
        &self.installation.record.signing_key
    }
}

async fn first_start(
    store: &dyn Store,
    settings: &Settings,
    now: Timestamp,
) -> Result<Checked<InstallationRecord>, OpenError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| OpenError::Randomness(e.to_string()))?;
    let time_zone = match &settings.time_zone {
        Some(zone) => zone.clone(),
        None => TimeZone::try_system().unwrap_or(TimeZone::UTC),
    };
    let zone_name = match time_zone.iana_name() {
        Some(name) => name.to_string(),
        None if settings.time_zone.is_none() => {
            tracing::warn!(
                "the host's time zone has no IANA name; using UTC for the license (set license.timezone to change)"
            );
            "UTC".to_string()
        }
        None => return Err(OpenError::HostTimeZoneUnnamed),
    };
    let zone =
        TimeZone::get(&zone_name).map_err(|_| OpenError::UnknownTimeZone(zone_name.clone()))?;
    let record = InstallationRecord {
        signing_key: SigningKey::from_bytes(&seed),
        first_start: now,
        demo_support_end: demo_support_end(now, &zone),
        time_zone: zone_name,
    };
    let stored = store
        .create_installation(&record, gatehouse_license::license::DEMO_USER_LIMIT)
        .await?;
    if stored.record.signing_key.to_bytes() == record.signing_key.to_bytes() {
        tracing::info!(
            app_key = %AppKey::of(&stored.record.signing_key.verifying_key()),
            demo_support_end = %stored.record.demo_support_end,
            time_zone = %stored.record.time_zone,
            "first start: installation key created, Demo License begun"
        );
    }
    Ok(stored)
}

fn resolve_zone(
    settings: &Settings,
    installation: &Checked<InstallationRecord>,
) -> Result<(TimeZone, String), OpenError> {
    let pinned = installation.record.time_zone.clone();
    if let Some(zone) = &settings.time_zone {
        let name = zone.iana_name().ok_or(OpenError::HostTimeZoneUnnamed)?;
        // Moving the zone would move the month and the end of the Support
        // End Date by up to a day: it is fixed at first start.
        if name != pinned {
            return Err(OpenError::TimeZonePinned {
                pinned,
                configured: name.to_string(),
            });
        }
    }
    let zone = TimeZone::get(&pinned).map_err(|_| OpenError::UnknownTimeZone(pinned.clone()))?;
    Ok((zone, pinned))
}

/// Rebuilds the license in force from the stored row: only the verified
/// key says what the license is (SPEC §11). A stored key this build does
/// not trust (or bound to another App Key) is not a license, and the demo's
/// terms apply instead; the row's cached limit is never used.
fn license_state(
    trusted: &[VerifyingKey],
    installation: &Installation,
    zone: &TimeZone,
    stored: &Checked<StoredLicense>,
) -> LicenseState {
    let stored_limit = stored.record.user_limit;
    let demo = || {
        License::demo(
            installation.app_key,
            installation.record.first_start,
            installation.record.demo_support_end,
        )
    };
    let license = match stored.record.key.as_deref() {
        None => demo(),
        Some(text) => match decode_signed(text, trusted) {
            Ok(verified) if verified.payload.app_key == installation.app_key => License {
                payload: verified.payload,
                source: LicenseSource::Key(verified.text),
            },
            Ok(_) => {
                tracing::error!(
                    "the installed license key is bound to another App Key; falling back to the demo terms"
                );
                demo()
            }
            Err(refusal) => {
                tracing::error!(%refusal, "the installed license key is not valid for this build; falling back to the demo terms");
                demo()
            }
        },
    };
    if license.payload.user_limit != stored_limit {
        tracing::error!(
            key_limit = license.payload.user_limit,
            stored_limit,
            "{LICENSE_RECORD_ALTERED_EVENT}: the license row's user limit differs from the signed key; the key's limit applies"
        );
    }
    LicenseState {
        terms: license.terms(zone),
        binding: LicenseBinding {
            key_digest: LicenseBinding::digest(stored.record.key.as_deref()),
            user_limit: license.payload.user_limit,
        },
        license,
        generation: stored.record.generation,
    }
}

/// A key that passed [`Gatehouse::key_check`], and the clock mark its
/// install sets (a re-anchor, or the repair of a damaged mark).
struct KeyCheck {
    verified: VerifiedKey,
    clock: Option<ClockMark>,
}
