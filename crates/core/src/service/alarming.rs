//! When license alarms fire, and how they are delivered (SPEC §7).
//!
//! An alarm is checked at start-up, daily at `alarms.daily_at` (license time
//! zone), when alarm settings change, and right after a new user is counted
//! whenever the count reaches the next percentage threshold. A due alarm is
//! marked fired and queued in one store transaction (`fire_alarms`), so
//! whichever process or node notices it first sends it and nobody sends it
//! twice. The sender ([`Gatehouse::run_alarm_sender`]) claims queued alarms
//! with a lease, hands them to a [`Mailer`] and retries failures with a
//! growing delay: an SMTP outage or a crash delays an alarm, never loses it.

use std::collections::HashSet;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_license::alarms::{
    Alarm, AlarmCheck, AlarmKind, due_alarms, due_budget_alarms, next_count_trigger, next_daily,
};
use gatehouse_license::jiff::civil::Time;
use gatehouse_license::jiff::{SignedDuration, Timestamp};
use gatehouse_license::{Limits, Month, words};
use tokio::sync::Notify;

use super::Gatehouse;
use crate::alarms::{AlarmSettings, Mail, MailError, Mailer, retry_delay};
use crate::seat_rules::SeatBudget;
use crate::store::{AlarmRecord, NewAlarm, StoreError};

/// The default time of the daily check.
pub const DEFAULT_DAILY_AT: Time = Time::constant(8, 0, 0, 0);

/// How long a claimed alarm is reserved for its sender.
const SEND_LEASE: SignedDuration = SignedDuration::from_secs(120);

/// The longest one delivery may take before it counts as failed: well
/// inside [`SEND_LEASE`], so no other sender takes an alarm that is still
/// being sent.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Alarms claimed per round of the sender.
const SEND_BATCH: u32 = 10;

/// How often the sender looks for alarms queued by other processes.
const SEND_POLL: Duration = Duration::from_secs(2);

/// How often settings and fired alarms are re-read (other processes and
/// nodes change them).
const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// Why the alarm settings were not saved.
#[derive(Debug, thiserror::Error)]
pub enum AlarmSaveError {
    #[error("alarm settings are set in the configuration file ([alarms]); change them there")]
    Configured,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a test email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum TestMailError {
    #[error("no alarm recipients are configured")]
    NoRecipients,
    /// The mail server's answer is in the text, not repeated as a source.
    #[error("sending failed: {0}")]
    Send(MailError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<MailError> for TestMailError {
    fn from(error: MailError) -> TestMailError {
        TestMailError::Send(error)
    }
}

/// The service's alarm state.
pub(crate) struct AlarmEngine {
    /// `[alarms]` from the configuration file: in force instead of the
    /// stored settings.
    configured: Option<AlarmSettings>,
    daily_at: Time,
    memory: Mutex<AlarmMemory>,
    /// Wakes this process's sender when it queued an alarm.
    pub(super) queued: Notify,
}

struct AlarmMemory {
    settings: AlarmSettings,
    fired: HashSet<String>,
    next_daily: Option<Timestamp>,
    reloaded: Option<Instant>,
    /// The count at which the next percentage threshold is reached, for
    /// the month and limit it was worked out for; `None`: work it out again.
    trigger: Option<Trigger>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trigger {
    month: Month,
    limits: Limits,
    /// `None`: every threshold of this month and limit has fired.
    at: Option<u32>,
}

impl AlarmEngine {
    pub(crate) fn new(configured: Option<AlarmSettings>, daily_at: Time) -> AlarmEngine {
        AlarmEngine {
            configured,
            daily_at,
            memory: Mutex::new(AlarmMemory {
                settings: AlarmSettings::default(),
                fired: HashSet::new(),
                next_daily: None,
                reloaded: None,
                trigger: None,
            }),
            queued: Notify::new(),
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, AlarmMemory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Gatehouse {
    /// Whether the alarm settings come from the configuration file (the
    /// panel then shows them read-only).
    pub fn alarm_settings_configured(&self) -> bool {
        self.alarms.configured.is_some()
    }

    /// The alarm settings in force: the configuration file's, else the
    /// saved ones, else the defaults.
    pub async fn alarm_settings(&self) -> Result<AlarmSettings, StoreError> {
        match &self.alarms.configured {
            Some(settings) => Ok(settings.clone()),
            None => Ok(self.store.alarm_settings().await?.unwrap_or_default()),
        }
    }

    /// Saves new settings and checks at once whether they make an alarm due.
    pub async fn set_alarm_settings(&self, settings: &AlarmSettings) -> Result<(), AlarmSaveError> {
        if self.alarms.configured.is_some() {
            return Err(AlarmSaveError::Configured);
        }
        let before = self.store.alarm_settings().await?.unwrap_or_default();
        self.store.set_alarm_settings(settings).await?;
        tracing::info!(%settings, "alarm settings saved");
        self.audit(
            "alarms.save",
            "",
            serde_json::json!({"before": before.to_string(), "after": settings.to_string()}),
        )
        .await;
        self.check_alarms_logged().await;
        Ok(())
    }

    /// Alarms that fired, newest first.
    pub async fn alarm_history(&self, limit: u32) -> Result<Vec<AlarmRecord>, StoreError> {
        self.store.alarm_history(limit).await
    }

    /// Re-reads the settings and the alarms that have fired.
    pub(crate) async fn reload_alarms(&self) -> Result<(), StoreError> {
        let settings = self.alarm_settings().await?;
        let fired = self.store.fired_alarm_keys().await?;
        let mut memory = self.alarms.memory();
        memory.settings = settings;
        memory.fired = fired;
        memory.reloaded = Some(Instant::now());
        memory.trigger = None;
        Ok(())
    }

    /// Called after a new user is counted in `month`: checks alarms when
    /// the count reached the next percentage threshold of that month and
    /// the limit in force (otherwise one comparison under a lock).
    pub(crate) async fn after_counted(&self, month: Month, active_users: u32) {
        let limits = self.license_state().terms.limits;
        let due = {
            let mut memory = self.alarms.memory();
            let trigger = match memory.trigger {
                Some(t) if t.month == month && t.limits == limits => t,
                _ => {
                    let t = Trigger {
                        month,
                        limits,
                        at: next_count_trigger(
                            month,
                            limits.user_limit,
                            limits.overage_seats,
                            memory.settings.user_limit_percent(),
                            |key| memory.fired.contains(key),
                        ),
                    };
                    memory.trigger = Some(t);
                    t
                }
            };
            trigger.at.is_some_and(|at| active_users >= at)
        };
        if due {
            self.check_alarms_logged().await;
        }
    }

    /// Called after a new user is counted against seat budget `budget` in
    /// `month`: fires the budget's alarms that are due (one count read,
    /// only for budgets with alarm thresholds). A failure is logged; the
    /// next user counted against the budget checks again.
    pub(crate) async fn after_budget_counted(&self, month: Month, budget: &SeatBudget) {
        if budget.alarm_percent.is_empty() {
            return;
        }
        let result = async {
            let used = self.store.budget_used(month, &budget.name).await?;
            let (settings, due) = {
                let memory = self.alarms.memory();
                let due = due_budget_alarms(
                    &budget.name,
                    budget.size,
                    used,
                    month,
                    &budget.alarm_percent,
                    |key| memory.fired.contains(key),
                );
                (memory.settings.clone(), due)
            };
            if due.is_empty() {
                return Ok(());
            }
            let active_users = self.store.active_users(month).await?;
            self.queue_alarms(&due, &settings, active_users, month)
                .await
                .map(|_| ())
        };
        if let Err(error) = result.await {
            tracing::error!(%error, budget = %budget.name, "could not check seat budget alarms; will retry");
        }
    }

    /// [`check_alarms`](Self::check_alarms) for callers that carry on
    /// whatever happens: a failure is logged, and the next check (the
    /// next crossing, the daily check, the next start) tries again.
    pub(crate) async fn check_alarms_logged(&self) {
        if let Err(error) = self.check_alarms().await {
            tracing::error!(%error, "could not check license alarms; will retry");
        }
    }

    /// Fires every alarm that is due and has not fired yet: each is queued
    /// for sending in the same transaction that marks it fired. Returns the
    /// alarms this call queued.
    pub async fn check_alarms(&self) -> Result<Vec<NewAlarm>, StoreError> {
        let settings = self.alarm_settings().await?;
        let fired = self.store.fired_alarm_keys().await?;
        let now = self.clock.now();
        let month = Month::containing(now, &self.zone);
        let active_users = self.store.active_users(month).await?;
        let license = self.license();
        let payload = &license.payload;
        let due = due_alarms(
            &AlarmCheck {
                support_end: payload.support_end,
                grace_end: license.grace_end(),
                user_limit: payload.user_limit,
                overage_seats: payload.options.overage_seats(payload.user_limit),
                active_users,
                month,
                zone: &self.zone,
                now,
                days_before_end: settings.days_before_end(),
                user_limit_percent: settings.user_limit_percent(),
            },
            |key| fired.contains(key),
        );
        let fired_now = self
            .queue_alarms(&due, &settings, active_users, month)
            .await?;
        {
            let mut memory = self.alarms.memory();
            memory.settings = settings;
            memory.fired = fired;
            memory.fired.extend(due.into_iter().map(|alarm| alarm.key));
            memory.trigger = None;
        }
        Ok(fired_now)
    }

    /// Queues `due` for sending, each in the transaction that marks it
    /// fired, logs them, and wakes the sender; returns those this call
    /// queued (another process may have fired one first).
    async fn queue_alarms(
        &self,
        due: &[Alarm],
        settings: &AlarmSettings,
        active_users: u32,
        month: Month,
    ) -> Result<Vec<NewAlarm>, StoreError> {
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let alarms: Vec<NewAlarm> = due
            .iter()
            .map(|alarm| NewAlarm {
                key: alarm.key.clone(),
                kind: alarm.kind,
                subject: alarm.text.clone(),
                body: self.alarm_body(alarm, active_users, month, now),
                recipients: settings.recipients().to_vec(),
                created_at: now,
                superseded: alarm.superseded,
            })
            .collect();
        let queued = self.store.fire_alarms(&alarms).await?;
        let mut fired_now = Vec::new();
        for (alarm, recorded) in alarms.into_iter().zip(queued) {
            if !recorded {
                continue;
            }
            if alarm.superseded {
                tracing::info!(
                    key = %alarm.key,
                    "license alarm reached together with a more urgent one; not sent on its own"
                );
            } else {
                tracing::warn!(
                    recipients = alarm.recipients.len(),
                    "License alarm: {}",
                    alarm.subject
                );
            }
            fired_now.push(alarm);
        }
        self.alarms
            .memory()
            .fired
            .extend(due.iter().map(|alarm| alarm.key.clone()));
        if !fired_now.is_empty() {
            self.alarms.queued.notify_one();
        }
        Ok(fired_now)
    }

    /// The email body of an alarm: what happened and the license it is
    /// about.
    fn alarm_body(&self, alarm: &Alarm, active_users: u32, month: Month, now: Timestamp) -> String {
        let license = self.license();
        let payload = &license.payload;
        let threshold = match (alarm.kind, alarm.threshold) {
            (AlarmKind::UserLimit, Some(percent)) => format!("{percent}% of the user limit"),
            (AlarmKind::SupportEnds, Some(days)) => {
                format!("{days} days before the Support End Date")
            }
            (AlarmKind::Overage, _) => "the first user past the user limit".to_string(),
            (AlarmKind::Budget, Some(percent)) => format!("{percent}% of a seat budget"),
            (AlarmKind::Grace, _) => {
                "the Support End Date has passed; the grace period runs".to_string()
            }
            _ => "the Support End Date has passed".to_string(),
        };
        let license_type = words::license_type(payload.license_type);
        let remaining = words::remaining(license.days_remaining(&self.zone, now));
        let raised = now
            .to_zoned_datetime(self.zone.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string();
        format!(
            "{text}\n\n\
             Gatehouse installation {app_key}\n\
             Company:          {company}\n\
             Dossier:          {dossier}\n\
             License:          {license_type} {license_id}\n\
             Users in {month}:  {active_users}/{limit}\n\
             Support End Date: {end} ({remaining})\n\
             Threshold:        {threshold}\n\
             Raised at:        {raised} ({zone})\n\n\
             To renew or extend the license, send the license request from the\n\
             License page of the Gatehouse panel (or `gatehouse license request`)\n\
             to your vendor.\n",
            text = alarm.text,
            app_key = self.installation.app_key,
            company = if payload.company.is_empty() {
                "-"
            } else {
                &payload.company
            },
            dossier = if payload.dossier.is_empty() {
                "-"
            } else {
                &payload.dossier
            },
            license_id = payload.license_id,
            limit = payload.user_limit,
            end = payload.support_end,
            zone = self.zone_name,
        )
    }

    /// Alarm work for long-running processes, from [`Gatehouse::tick`]:
    /// re-reads settings now and then, and runs the daily check when its
    /// time has come.
    pub(crate) async fn alarm_tick(&self) {
        let now = self.clock.now();
        let (reload, next_daily) = {
            let memory = self.alarms.memory();
            (
                memory
                    .reloaded
                    .is_none_or(|at| at.elapsed() >= RELOAD_EVERY),
                memory.next_daily,
            )
        };
        if reload && let Err(error) = self.reload_alarms().await {
            tracing::error!(%error, "could not read alarm settings; will retry");
        }
        let Some(next) = next_daily else {
            // The first tick: the daily check is due next at `daily_at`.
            self.alarms.memory().next_daily = Some(next_daily_check(self, now));
            return;
        };
        if now < next {
            return;
        }
        match self.check_alarms().await {
            Ok(_) => {
                self.alarms.memory().next_daily = Some(next_daily_check(self, now));
            }
            Err(error) => {
                tracing::error!(%error, "daily license alarm check failed; will retry");
            }
        }
    }

    /// Sends queued alarms until `stop` completes: this process's own as
    /// soon as they are queued, other processes' within [`SEND_POLL`].
    pub async fn run_alarm_sender(&self, mailer: &dyn Mailer, stop: impl Future<Output = ()>) {
        let mut stop = pin!(stop);
        loop {
            let more = match self.deliver_alarms(mailer).await {
                Ok(sent) => sent == SEND_BATCH as usize,
                Err(error) => {
                    tracing::error!(%error, "could not read the alarm outbox; will retry");
                    false
                }
            };
            if more {
                continue;
            }
            tokio::select! {
                () = self.alarms.queued.notified() => {}
                () = tokio::time::sleep(SEND_POLL) => {}
                () = &mut stop => return,
            }
        }
    }

    /// One round of the sender: claims the alarms due now and hands each to
    /// `mailer`. Returns how many were claimed.
    pub async fn deliver_alarms(&self, mailer: &dyn Mailer) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let lease_until = now.checked_add(SEND_LEASE).unwrap_or(Timestamp::MAX);
        let claimed = self
            .store
            .claim_alarms(now, lease_until, SEND_BATCH)
            .await?;
        for alarm in &claimed {
            let mail = Mail {
                to: alarm.recipients.clone(),
                subject: alarm.subject.clone(),
                body: alarm.body.clone(),
                id: format!(
                    "alarm-{}-{}.{}",
                    alarm.id,
                    alarm.created_at.as_microsecond(),
                    self.installation.app_key
                ),
            };
            let sent = tokio::time::timeout(SEND_TIMEOUT, mailer.send(&mail))
                .await
                .unwrap_or_else(|_| {
                    Err(MailError(format!(
                        "no answer from the mail server within {} s",
                        SEND_TIMEOUT.as_secs()
                    )))
                });
            match sent {
                Ok(()) => {
                    self.store.alarm_sent(alarm.id, self.clock.now()).await?;
                    tracing::info!(
                        recipients = alarm.recipients.len(),
                        attempt = alarm.attempts,
                        "license alarm sent: {}",
                        alarm.subject
                    );
                }
                Err(error) => {
                    let wait = retry_delay(alarm.attempts);
                    let retry_at = self
                        .clock
                        .now()
                        .checked_add(SignedDuration::try_from(wait).unwrap_or(SEND_LEASE))
                        .unwrap_or(Timestamp::MAX);
                    self.store
                        .alarm_failed(alarm.id, &error.to_string(), retry_at)
                        .await?;
                    tracing::warn!(
                        %error,
                        attempt = alarm.attempts,
                        retry_in_seconds = wait.as_secs(),
                        "could not send license alarm {:?}; will retry",
                        alarm.subject
                    );
                }
            }
        }
        Ok(claimed.len())
    }

    /// Sends a test message to the alarm recipients at once (not through
    /// the outbox) and returns who it went to.
    pub async fn send_test_email(&self, mailer: &dyn Mailer) -> Result<Vec<String>, TestMailError> {
        let settings = self.alarm_settings().await?;
        if settings.recipients().is_empty() {
            return Err(TestMailError::NoRecipients);
        }
        let now = self.clock.now();
        let mail = Mail {
            to: settings.recipients().to_vec(),
            subject: "Gatehouse test email".to_string(),
            body: format!(
                "This is a test message from Gatehouse installation {}.\n\n\
                 License alarms will reach this address. Nothing needs doing.\n",
                self.installation.app_key
            ),
            id: format!(
                "test-{}.{}",
                now.as_microsecond(),
                self.installation.app_key
            ),
        };
        mailer.send(&mail).await?;
        tracing::info!(recipients = mail.to.len(), "test email sent");
        Ok(mail.to)
    }
}

fn next_daily_check(gatehouse: &Gatehouse, now: Timestamp) -> Timestamp {
    next_daily(now, &gatehouse.zone, gatehouse.alarms.daily_at)
}
