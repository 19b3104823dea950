//! The authentication service: one instance per process, shared by every
//! front end (CLI, RADIUS, panel).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use gatehouse_license::admission::LICENSE_RECORD_ALTERED_EVENT;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_license::license::demo_support_end;
use gatehouse_license::{AppKey, Month, SigningKey, VerifyingKey};

use crate::accounts::LocalAccounts;
pub use crate::accounts::MAX_DIRECTORY_USERS;
use crate::admitter::Admitter;
use crate::alarms::AlarmSettings;
use crate::clock::{Clock, EffectiveClock};
use crate::credentials::CredentialCache;
use crate::directory::Directory;
use crate::identity::UsernameError;
use crate::lockout::Lockouts;
use crate::metrics::{AuthCounters, AuthCounts};
use crate::password::{PasswordError, PasswordHashing, PasswordParams};
use crate::policy::{PolicyChecks, PolicySet};
use crate::seats::{SeatCache, WriteBehind};
use crate::store::{Checked, InstallationRecord, LockoutPolicy, Store, StoreError};
use crate::totp::TotpMode;
use crate::work::PasswordWork;

mod accounts;
mod admin;
mod alarming;
mod audit;
mod directory_login;
mod front_door;
mod license;
mod login;
mod phones;
mod policies;
mod portal;
mod pushing;
mod seat_marks;

pub use accounts::{ClientAddError, TOTP_ISSUER, TotpEnrollment};
use alarming::AlarmEngine;
pub use alarming::{AlarmSaveError, DEFAULT_DAILY_AT, TestMailError};
pub use directory_login::DirectoryUserError;
pub use front_door::{LOCKED_OUT_EVENT, MfaSettings, Removed};
pub use license::{Analytics, InstallError, LicenseView};
use license::{Damage, LicenseState, Record, license_state};
pub use phones::{ENROLLMENT_LIFETIME, PushError, SignedPush};
use policies::PolicyState;
pub use policies::{Chosen, PolicySaveError, PolicyTest, PolicyTestError, Route, SavedPolicies};
pub use portal::{
    Invitations, InviteError, NewPortalSession, PORTAL_CLIENT, PortalFactors, PortalPhone,
};
use pushing::PushWaiters;
pub use pushing::{
    APPROVE_ON_PHONE, MAX_WAITING_PUSHES, PushSettings, StartPushError, approve_prompt,
    is_approve_prompt,
};
use seat_marks::SeatMarks;
pub use seat_marks::{ListedMark, SeatMarkError};

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
    /// How many directory login names keep their second factors in memory
    /// (default [`MAX_DIRECTORY_USERS`]); past it the rest are read from
    /// the store at each login.
    pub kept_directory_users: usize,
    /// Push approval (`[push]`).
    pub push: PushSettings,
    /// Wakes phones by Web Push (`[push.webpush]`); `None`: phones only
    /// poll.
    pub push_notifier: Option<Arc<dyn crate::push::PushNotifier>>,
    /// `[mfa]`: a second factor required, and who is exempt.
    pub mfa: MfaSettings,
    /// `[lockout]`: failures in a row before a user is locked.
    pub lockout: LockoutPolicy,
    /// `[[policy]]`: who may log in through which client, with which
    /// factors, and what the client is told. Empty: the ones saved
    /// through the panel, the API or the CLI (none: the default rules).
    pub policies: Arc<PolicySet>,
    /// What policies saved at run time are checked against.
    pub policy_checks: PolicyChecks,
    /// Where users enroll their own second factor (`http.public_url`, or
    /// `push.public_url`), a base URL without a trailing slash; `None`:
    /// enrollment windows cannot be opened.
    pub portal_url: Option<String>,
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
            kept_directory_users: MAX_DIRECTORY_USERS,
            push: PushSettings::default(),
            push_notifier: None,
            mfa: MfaSettings::default(),
            lockout: LockoutPolicy::default(),
            policies: Arc::default(),
            policy_checks: PolicyChecks::default(),
            portal_url: None,
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
    #[error("{0:?} is not an email address")]
    BadEmail(String),
    /// A group name that is not one ([`crate::store::LocalGroupName`]).
    #[error("{0}")]
    BadGroup(String),
    /// What the operation named does not exist (`local group "vpn"`).
    #[error("no {0}")]
    Missing(String),
    #[error("local group {0:?} already exists")]
    GroupExists(String),
    #[error("administrator {0:?} already exists")]
    AdminExists(String),
    /// Deleting this administrator would leave nobody to sign in.
    #[error(
        "{0:?} is the last administrator and cannot be deleted: add another first (gatehouse admin add)"
    )]
    LastAdmin(String),
    #[error("an administrator's password must be at least {min} characters", min = crate::admin::ADMIN_PASSWORD_MIN_CHARS)]
    WeakAdminPassword,
    #[error("a token's label is at most 100 characters, without control characters")]
    BadTokenLabel,
    /// The current password, asked for before a change, was wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for UserError {
    fn from(error: StoreError) -> UserError {
        match error {
            StoreError::Missing(what) => UserError::Missing(what),
            error => UserError::Store(error),
        }
    }
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
    credentials: CredentialCache<crate::identity::Username>,
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
    policies: PolicyState,
    /// Exempt and break-glass users, seat budgets (SPEC §16) and
    /// enrollment windows.
    seat_marks: SeatMarks,
    /// The refusal naming where to enroll, when a portal URL is set.
    enroll_first: Option<crate::outcome::RefusalText>,
    /// Where users reach the portal (`http.public_url`), without `/my/`.
    portal_url: Option<String>,
    lockouts: Lockouts,
    /// Decoy password checks run (refusals that must take as long as a
    /// real check).
    decoys: std::sync::atomic::AtomicU64,
    overload_log: crate::ratelimit::RateLimitedLog,
    /// One application key file is built at a time: each holds a month of
    /// users in memory and seconds of CPU.
    key_files: Arc<tokio::sync::Semaphore>,
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
            work: PasswordWork::new(parallelism),
            trusted: settings.trusted_vendor_keys,
            totp_mode: settings.totp_mode,
            accounts: LocalAccounts::new(settings.kept_directory_users),
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
            policies: PolicyState::new(settings.policies, settings.policy_checks),
            seat_marks: SeatMarks::default(),
            enroll_first: settings
                .portal_url
                .as_deref()
                .map(crate::outcome::RefusalText::enroll_first),
            portal_url: settings.portal_url,
            lockouts,
            decoys: std::sync::atomic::AtomicU64::new(0),
            overload_log: crate::ratelimit::RateLimitedLog::new(Duration::from_secs(10), 5),
            key_files: Arc::new(tokio::sync::Semaphore::new(1)),
        };
        // The directory generation the accounts copy starts from: without
        // it the first tick would see a change and drop accounts already
        // read, which a database outage right after start would then
        // refuse.
        gatehouse.accounts.refresh(gatehouse.store.as_ref()).await?;
        gatehouse
            .policies
            .refresh(gatehouse.store.as_ref(), true)
            .await?;
        gatehouse
            .seat_marks
            .refresh(gatehouse.store.as_ref(), true)
            .await?;
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

    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
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
        if let Err(error) = self.policies.refresh(self.store.as_ref(), false).await {
            tracing::error!(%error, "could not check for changed policies; will retry");
        }
        if let Err(error) = self.seat_marks.refresh(self.store.as_ref(), false).await {
            tracing::error!(%error, "could not check for changed seat marks; will retry");
        }
        self.alarm_tick().await;
        self.forget_old_pushes().await;
        let released = self.hashing.release_idle(std::time::Instant::now());
        if released > 0 {
            tracing::debug!(
                bytes = released,
                "argon2 memory given back after an idle spell"
            );
        }
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
