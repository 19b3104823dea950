//! The license through the service: the license in force (verified when
//! loaded, SPEC §11) and the damage of its records, the gate every login
//! passes first, key checks and installs (with the clock re-anchor), and
//! what the License, Users and Analytics pages show.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gatehouse_license::admission::{
    LICENSE_DATA_DAMAGED_EVENT, LICENSE_EXPIRED_EVENT, LICENSE_RECORD_ALTERED_EVENT,
};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::Date;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_license::key::decode_signed;
use gatehouse_license::words;
use gatehouse_license::{
    AppKey, InstallContext, KeyRefusal, License, LicenseSource, LicenseStatus, Month, SeatKind,
    Terms, VerifiedKey, VerifyingKey, check_key,
};
use gatehouse_license::{Projection, project_limit};

use super::{Gatehouse, Installation};
use crate::export;
use crate::outcome::Refusal;
use crate::store::{
    Checked, ClockMark, DailyNewUsers, LicenseBinding, LicenseInstall, MonthUsageRecord,
    RefusedUser, SeatQuery, SeatRecord, StoreError, StoredLicense,
};

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
pub(super) struct LicenseState {
    pub(super) license: License,
    pub(super) terms: Terms,
    pub(super) generation: i64,
    /// What admissions are made under: the verified key (its digest) and
    /// its limit.
    pub(super) binding: LicenseBinding,
}

/// A record the license rests on whose tag did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Record {
    License,
    Clock,
    Month,
}

impl Record {
    pub(super) fn name(self) -> &'static str {
        match self {
            Record::License => "the license row",
            Record::Clock => "the clock high-water mark",
            Record::Month => "the month's user count",
        }
    }

    pub(super) fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Which license records failed their binding (SPEC §11), one bit per
/// [`Record`]: while any did, every login fails closed; installing a valid
/// vendor key repairs them.
#[derive(Debug, Default)]
pub(super) struct Damage(std::sync::atomic::AtomicU8);

impl Damage {
    pub(super) fn any(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire) != 0
    }

    pub(super) fn has(&self, record: Record) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire) & record.bit() != 0
    }

    /// Marks `record` damaged, logging it the first time.
    pub(super) fn report(&self, record: Record) {
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

    pub(super) fn clear(&self) {
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
    /// Whole days of grace left, while the license is in its grace.
    pub grace_days_remaining: Option<i32>,
    pub time_zone: String,
    pub month: Month,
    /// This month's and the previous month's usage chain (SPEC §16): the
    /// month, its count and its head, for the months that are chained.
    pub usage_heads: Vec<(Month, u32, [u8; 32])>,
}

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

/// Rebuilds the license in force from the stored row: only the verified
/// key says what the license is (SPEC §11). A stored key this build does
/// not trust (or bound to another App Key) is not a license, and the demo's
/// terms apply instead; the row's cached limit is never used.
pub(super) fn license_state(
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
    let terms = license.terms(zone);
    LicenseState {
        terms,
        binding: binding(stored.record.key.as_deref(), &terms),
        license,
        generation: stored.record.generation,
    }
}

/// What admissions under the license with key `key` (`None`: the demo)
/// and `terms` are made under.
fn binding(key: Option<&str>, terms: &Terms) -> LicenseBinding {
    LicenseBinding {
        key_digest: LicenseBinding::digest(key),
        user_limit: terms.limits.user_limit,
        overage_seats: terms.limits.overage_seats,
    }
}

/// A key that passed [`Gatehouse::key_check`], and the clock mark its
/// install sets (a re-anchor, or the repair of a damaged mark).
pub(super) struct KeyCheck {
    verified: VerifiedKey,
    clock: Option<ClockMark>,
}

impl Gatehouse {
    pub fn license(&self) -> License {
        self.license_state().license.clone()
    }

    /// Valid, expired or damaged now (no database access).
    pub fn license_status(&self) -> LicenseStatus {
        self.license_status_at(self.clock.now())
    }

    pub(super) fn license_status_at(&self, now: Timestamp) -> LicenseStatus {
        if self.damage.any() {
            LicenseStatus::Damaged
        } else {
            self.license_state().terms.status(now)
        }
    }

    /// The grace notice while the license is in its grace (SPEC §16):
    /// [`words::license_in_grace`].
    pub fn grace_notice(&self) -> Option<String> {
        if self.damage.any() {
            return None;
        }
        let license = self.license();
        let days = license.grace_days_remaining(&self.zone, self.clock.now())?;
        Some(words::license_in_grace(
            license.payload.support_end,
            license.grace_end(),
            days,
        ))
    }

    /// Refuses everyone while the license records are damaged or the
    /// license expired: the first check of every login.
    pub(super) fn license_gate(
        &self,
        now: Timestamp,
        username: &dyn std::fmt::Display,
    ) -> Result<(), Refusal> {
        match self.license_status_at(now) {
            // In a grace, the admission decides who is still let in.
            LicenseStatus::Valid | LicenseStatus::Grace => Ok(()),
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

    pub(super) fn license_state(&self) -> Arc<LicenseState> {
        self.license
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks a key without installing it (for a preview).
    pub fn check_license_key(&self, text: &str) -> Result<VerifiedKey, KeyRefusal> {
        self.key_check(text).map(|check| check.verified)
    }

    /// Every check a key must pass, judged at the effective time, or, for
    /// a fresh key (newer than every key installed, issued within the last
    /// day by the system clock), at the system clock's time: such a key
    /// re-anchors a clock mark that ran ahead (SPEC §11).
    pub(super) fn key_check(&self, text: &str) -> Result<KeyCheck, KeyRefusal> {
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
        self.audit(
            "license.install",
            &license.payload.license_id,
            serde_json::json!({
                "company": license.payload.company,
                "license_type": license.payload.license_type.to_string(),
                "user_limit": license.payload.user_limit,
                "support_end": license.payload.support_end.to_string(),
            }),
        )
        .await;
        let terms = license.terms(&self.zone);
        self.set_license(LicenseState {
            terms,
            binding: binding(Some(&verified.text), &terms),
            license,
            generation,
        });
        // A new limit or Support End Date may make an alarm due at once.
        self.check_alarms_logged().await;
        Ok(self.license_view().await?)
    }

    pub(super) fn set_license(&self, state: LicenseState) {
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
    pub(super) async fn reload_license(&self) -> Result<(), StoreError> {
        let stored = self.store.license().await?;
        if !stored.authentic {
            self.damage.report(Record::License);
        }
        let state = license_state(&self.trusted, &self.installation, &self.zone, &stored);
        self.set_license(state);
        Ok(())
    }

    pub async fn license_view(&self) -> Result<LicenseView, StoreError> {
        Ok(self.license_view_and_usage().await?.0)
    }

    /// [`license_view`](Self::license_view), and the per-month history it
    /// read for the usage heads.
    async fn license_view_and_usage(
        &self,
    ) -> Result<(LicenseView, Vec<MonthUsageRecord>), StoreError> {
        let license = self.license();
        let now = self.clock.now();
        let month = Month::containing(now, &self.zone);
        let active_users = self.store.active_users(month).await?;
        let usage = self.usage().await?;
        let usage_heads = usage
            .iter()
            .filter(|m| m.month == month || m.month == month.previous())
            .filter_map(|m| Some((m.month, m.active_users, m.chain_head?)))
            .collect();
        let view = LicenseView {
            usage_heads,
            status: self.license_status_at(now),
            days_remaining: license.days_remaining(&self.zone, now),
            grace_days_remaining: license.grace_days_remaining(&self.zone, now),
            license,
            app_key: self.installation.app_key,
            active_users,
            time_zone: self.zone_name.clone(),
            month,
        };
        Ok((view, usage))
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
                user_limit: self.license_state().terms.limits.user_limit,
                peak_tenths: 0,
                // Nobody yet: the chain is where it starts.
                chain_head: Some(crate::usage_chain::genesis(&current.to_string())),
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
        let user_limit = self.license_state().terms.limits.user_limit;
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

    /// The application key file (SPEC §5): built now and signed with the
    /// installation key. Requests at once are answered one after another
    /// (see [`Gatehouse::key_file_turn`]).
    pub async fn application_key_file(&self) -> Result<String, StoreError> {
        let turn = self.key_file_turn().await;
        let (view, history) = self.license_view_and_usage().await?;
        let users = self.users(&SeatQuery::all(view.month)).await?;
        let mut usage_chains = Vec::new();
        for month in [view.month.previous(), view.month] {
            if let Some(chain) = self.store.usage_chain(month).await? {
                usage_chains.push(export::UsageChainSection::new(&month.to_string(), &chain));
            }
        }
        let exported_at = self.now().to_string();
        let key = self.installation_key().clone();
        // Writing out and signing a month of many users is seconds of CPU:
        // off the runtime's workers, so logins go on meanwhile.
        // The turn goes with the build: a request given up meanwhile (the
        // browser closed) does not let another start beside it.
        let build = move || {
            let _turn = turn;
            let payload = &view.license.payload;
            let document = export::Document {
                format: export::FORMAT.to_string(),
                version: export::VERSION,
                exported_at,
                app_key: view.app_key.to_string(),
                installation_public_key: STANDARD.encode(key.verifying_key().as_bytes()),
                time_zone: view.time_zone.clone(),
                license: export::LicenseSection {
                    company: payload.company.clone(),
                    dossier: payload.dossier.clone(),
                    license_id: payload.license_id.clone(),
                    license_type: words::license_type(payload.license_type).to_string(),
                    user_limit: payload.user_limit,
                    support_end_date: payload.support_end.to_string(),
                    push_subscription: words::push_subscription(payload.push_subscription)
                        .to_string(),
                    issued_at: payload.issued_at.to_string(),
                    status: view.status.as_str().to_string(),
                    key: match &view.license.source {
                        LicenseSource::BuiltInDemo => None,
                        LicenseSource::Key(text) => Some(text.clone()),
                    },
                    options: export::OptionsSection::of(&payload.options),
                },
                month: view.month.to_string(),
                active_users: view.active_users,
                users: users
                    .into_iter()
                    .map(|seat| export::UserRow {
                        username: seat.username,
                        display_name: seat.display_name,
                        source: seat.source.as_str().to_string(),
                        first_seen: seat.first_seen.to_string(),
                        last_login: seat.last_login.to_string(),
                        last_client: seat.last_client,
                        seat: (seat.kind != SeatKind::Within)
                            .then(|| seat.kind.as_str().to_string()),
                    })
                    .collect(),
                history: history.iter().map(export::HistoryRow::from).collect(),
                usage_chains,
            };
            export::sign(&document, &key)
        };
        let file = tokio::task::spawn_blocking(build)
            .await
            .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
        Ok(file)
    }

    /// The turn an application key file waits for before it reads the
    /// month's users: one is built at a time, so administrators asking at
    /// once (or a script in a loop) hold one month of users in memory and
    /// one core, not one each. Public so a test can hold it.
    #[doc(hidden)]
    pub async fn key_file_turn(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.key_files
            .clone()
            .acquire_owned()
            .await
            .expect("the key-file gate is never closed")
    }
}
