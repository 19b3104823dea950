//! Push approval through the service, the login's side: sending a push for
//! a login within its limits, waking the phones, waiting for the decision
//! (in this process or another node's) and admitting after an approval.
//! Phones themselves (enrollment, fetches, decisions) are in `phones.rs`;
//! the protocol in [`crate::push`].

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::Gatehouse;
use crate::identity::Identity;
use crate::outcome::{Admitted, LoginStep, Refusal};
use crate::push::{Decision, NotifyError, PendingPush, PushMode};
use crate::store::{PushLimited, PushLimits, PushRecord, StoreError};

/// Most pushes waiting for one user at a time.
pub const MAX_WAITING_PUSHES: usize = 3;

/// Reply-Message of an Access-Challenge for a push (challenge mode).
pub const APPROVE_ON_PHONE: &str = "Approve the request on your phone, then press Enter";

/// What a challenge-mode login's prompt says: with number matching, the
/// number to choose on the phone.
pub fn approve_prompt(number: Option<u8>) -> String {
    match number {
        None => APPROVE_ON_PHONE.to_string(),
        Some(number) => format!("{CHOOSE_ON_PHONE}{number} to approve, then press Enter"),
    }
}

/// How a number-matching prompt begins.
const CHOOSE_ON_PHONE: &str = "On your phone, choose ";

/// Whether `message` is a prompt [`approve_prompt`] made.
pub fn is_approve_prompt(message: &str) -> bool {
    message == APPROVE_ON_PHONE || message.starts_with(CHOOSE_ON_PHONE)
}

/// `[push]`: how push logins wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSettings {
    /// For users without a mode of their own.
    pub mode: PushMode,
    /// Hold mode: how long a login waits for the phone before it is
    /// refused (below common NAS timeouts).
    pub timeout: Duration,
    /// Challenge mode: how long a push can be answered.
    pub lifetime: Duration,
    /// How often the store is read for decisions made on another node, in
    /// one read for every login waiting here (a decision made on this node
    /// wakes its login at once).
    pub poll: Duration,
    /// `push.max_per_hour`: most pushes sent to one user in an hour.
    pub max_per_hour: u32,
    /// `push.webpush.allowed_hosts`: where subscriptions may point.
    pub webpush_hosts: crate::push_hosts::PushServiceHosts,
    /// `push.number_matching`: in challenge mode the prompt shows a number
    /// and the phone approves only by choosing it.
    pub number_matching: bool,
}

impl Default for PushSettings {
    fn default() -> PushSettings {
        PushSettings {
            mode: PushMode::Hold,
            timeout: Duration::from_secs(25),
            lifetime: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            max_per_hour: 10,
            webpush_hosts: crate::push_hosts::PushServiceHosts::default(),
            number_matching: false,
        }
    }
}

/// Why no push was sent.
#[derive(Debug, thiserror::Error)]
pub enum StartPushError {
    #[error("the user already has as many pushes as allowed ({0:?})")]
    Limited(PushLimited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Logins of this process waiting for a push, by push id: a decision
/// received here wakes its login at once; decisions taken on other nodes
/// are read for all of them together, once per poll interval.
#[derive(Debug, Default)]
pub(super) struct PushWaiters {
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
    /// When the store was last read for the decisions of every waiting
    /// login (held while it is read, so one login reads for all and the
    /// others go back to waiting).
    last_read: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl PushWaiters {
    /// The table (a panic elsewhere while it was held leaves it usable).
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, push: &str) -> WaitingPush<'_> {
        let notify = Arc::new(Notify::new());
        self.table().insert(push.to_string(), notify.clone());
        WaitingPush {
            waiters: self,
            push: push.to_string(),
            notify,
        }
    }

    pub(super) fn wake(&self, push: &str) {
        if let Some(notify) = self.table().get(push) {
            // Stores a permit if the login is not waiting right now.
            notify.notify_one();
        }
    }

    /// Logins waiting now.
    fn len(&self) -> usize {
        self.table().len()
    }

    /// The pushes waited for now.
    fn ids(&self) -> Vec<String> {
        self.table().keys().cloned().collect()
    }
}

/// One waiting login; unregisters itself when dropped (answered, timed
/// out, or the request abandoned).
struct WaitingPush<'a> {
    waiters: &'a PushWaiters,
    push: String,
    notify: Arc<Notify>,
}

impl Drop for WaitingPush<'_> {
    fn drop(&mut self) {
        self.waiters.table().remove(&self.push);
    }
}

/// How long pushes are kept (the panel's recent pushes, `push history`).
pub const PUSH_HISTORY: Duration = Duration::from_secs(30 * 24 * 3600);

impl Gatehouse {
    /// The second factor is a push: sends it within the user's limits and
    /// wakes the phones; in hold mode waits for the decision and admits, in
    /// challenge mode returns the step the RADIUS server prompts with
    /// (`totp`: a TOTP code is accepted instead).
    pub(super) async fn push_step(
        &self,
        identity: Identity,
        mode: PushMode,
        totp: bool,
        client: &str,
        source: Option<&str>,
    ) -> Result<LoginStep, Refusal> {
        let lifetime = match mode {
            PushMode::Hold => self.push.timeout,
            PushMode::Challenge => self.push.lifetime,
        };
        let numbered = mode == PushMode::Challenge && self.push.number_matching;
        let push = match self
            .start_push_numbered(&identity, client, source, lifetime, numbered)
            .await
        {
            Ok(push) => push,
            Err(StartPushError::Limited(PushLimited::Waiting)) => {
                tracing::warn!(username = %identity.username, waiting = MAX_WAITING_PUSHES, client, "authentication refused: too many pushes already waiting for this user");
                return Err(Refusal::PushTooMany);
            }
            Err(StartPushError::Limited(PushLimited::PerHour)) => {
                tracing::warn!(username = %identity.username, per_hour = self.push.max_per_hour, client, "authentication refused: push.max_per_hour pushes were already sent to this user in the last hour");
                return Err(Refusal::PushHourlyLimit);
            }
            Err(StartPushError::Store(error)) => {
                return Err(self.unavailable(&identity, &error));
            }
        };
        tracing::info!(username = %identity.username, push = %push.id, client, mode = mode.as_str(), "push sent");
        self.wake_phones(&push).await;
        match mode {
            PushMode::Hold => {
                self.await_push(&identity, &push, self.push.timeout).await?;
                // After the wait: a fresh moment (month, expiry).
                Ok(LoginStep::Accepted(self.admit(&identity, client).await?))
            }
            PushMode::Challenge => Ok(LoginStep::PushSent {
                identity,
                push: push.id,
                totp,
                number: push.number,
            }),
        }
    }

    /// The newest pushes, newest first (the panel).
    pub async fn recent_pushes(&self, limit: u32) -> Result<Vec<PushRecord>, StoreError> {
        self.store.recent_pushes(limit).await
    }

    /// Sends a push for a login of `identity` through `client`.
    pub async fn start_push(
        &self,
        identity: &Identity,
        client: &str,
        source: Option<&str>,
        lifetime: Duration,
    ) -> Result<PendingPush, StartPushError> {
        self.start_push_numbered(identity, client, source, lifetime, false)
            .await
    }

    /// [`start_push`](Self::start_push), with number matching when
    /// `numbered`.
    pub(super) async fn start_push_numbered(
        &self,
        identity: &Identity,
        client: &str,
        source: Option<&str>,
        lifetime: Duration,
        numbered: bool,
    ) -> Result<PendingPush, StartPushError> {
        let mut push = PendingPush::new(
            identity.seat.clone(),
            &identity.username,
            client,
            source,
            self.clock.now(),
            lifetime,
        );
        if numbered {
            push = push.with_number();
        }
        let limits = PushLimits {
            waiting: MAX_WAITING_PUSHES as u32,
            per_hour: self.push.max_per_hour,
        };
        self.store
            .create_push(&push, limits)
            .await?
            .map_err(StartPushError::Limited)?;
        Ok(push)
    }

    /// `[push]` as configured.
    pub fn push_settings(&self) -> &PushSettings {
        &self.push
    }

    /// Wakes `push`'s user's phones that have a Web Push subscription, on a
    /// task of its own (the login does not wait for the push services). A
    /// subscription the push service no longer knows is dropped.
    pub(super) async fn wake_phones(&self, push: &PendingPush) {
        let Some(notifier) = self.push_notifier.clone() else {
            return;
        };
        let devices = match self.store.devices(&push.seat).await {
            Ok(devices) => devices,
            Err(error) => {
                tracing::warn!(%error, "could not read the phones to wake; they will see the push when they poll");
                return;
            }
        };
        let payload = serde_json::json!({
            "push": push.id,
            "user": push.user,
            "client": push.client,
        })
        .to_string();
        for device in devices {
            let Some(subscription) = device.webpush else {
                continue;
            };
            let (notifier, vapid, store, payload) = (
                notifier.clone(),
                self.vapid.clone(),
                self.store.clone(),
                payload.clone(),
            );
            tokio::spawn(async move {
                match notifier
                    .notify(&vapid, &subscription, payload.as_bytes())
                    .await
                {
                    Ok(()) => tracing::debug!(device = %device.id, "phone woken by Web Push"),
                    Err(NotifyError::Gone) => {
                        tracing::info!(device = %device.id, "Web Push subscription gone; dropped");
                        if let Err(error) = store.set_device_webpush(&device.id, None).await {
                            tracing::warn!(%error, "could not drop a gone Web Push subscription");
                        }
                    }
                    Err(error) => {
                        tracing::warn!(device = %device.id, %error, "could not wake the phone by Web Push; it will see the push when it polls")
                    }
                }
            });
        }
    }

    /// Forgets pushes that ended more than [`PUSH_HISTORY`] ago, and
    /// panel and portal sessions that expired, at most once an hour (from
    /// `tick`).
    pub(super) async fn forget_old_pushes(&self) {
        let now = self.clock.now();
        let last = self.push_cleanup.load(Ordering::Relaxed);
        if now.as_second() - last < 3600 {
            return;
        }
        self.push_cleanup.store(now.as_second(), Ordering::Relaxed);
        let before = now
            .checked_sub(
                gatehouse_license::jiff::SignedDuration::try_from(PUSH_HISTORY).unwrap_or_default(),
            )
            .unwrap_or(now);
        match self.store.delete_expired_pushes(before).await {
            Ok(0) => {}
            Ok(forgotten) => tracing::info!(forgotten, "old pushes forgotten"),
            Err(error) => tracing::error!(%error, "could not forget old pushes; will retry"),
        }
        // Sessions that ended, in the same hourly sweep.
        let swept = tokio::try_join!(
            self.store.delete_expired_sessions(now),
            self.store.delete_expired_portal_sessions(now)
        );
        match swept {
            Ok((0, 0)) => {}
            Ok((panel, portal)) => tracing::info!(panel, portal, "expired sessions forgotten"),
            Err(error) => tracing::error!(%error, "could not forget expired sessions; will retry"),
        }
    }

    /// Whether push may be offered: the license in force has an active
    /// Push Subscription.
    pub fn push_licensed(&self) -> bool {
        self.license_state().license.payload.push_subscription
    }

    /// Logins of this process waiting for a phone now.
    pub fn pushes_waiting(&self) -> usize {
        self.push_waiters.len()
    }

    /// Waits up to `wait` for the decision on `push`: approved → `Ok`;
    /// denied, or no answer in time → the refusal saying which. When the
    /// time is up the push is closed in the store, so a late answer cannot
    /// be taken for one that came in time; an answer that got there first
    /// still counts.
    pub(super) async fn await_push(
        &self,
        identity: &Identity,
        push: &PendingPush,
        wait: Duration,
    ) -> Result<(), Refusal> {
        let waiting = self.push_waiters.register(&push.id);
        let deadline = tokio::time::Instant::now() + wait;
        let mut look = true;
        loop {
            if look {
                let record = self
                    .store
                    .push(&push.id)
                    .await
                    .map_err(|error| self.unavailable(identity, &error))?;
                let decided = record.and_then(|record| record.push.decided);
                if let Some(decision) = decided {
                    return self.push_outcome(identity, &push.id, Some(decision));
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                let closed = self
                    .store
                    .close_push(&push.id, self.clock.now())
                    .await
                    .map_err(|error| self.unavailable(identity, &error))?;
                if closed {
                    return self.push_outcome(identity, &push.id, None);
                }
                // Decided (or expired) just before: look once more.
                let decided = self
                    .store
                    .push(&push.id)
                    .await
                    .map_err(|error| self.unavailable(identity, &error))?
                    .and_then(|record| record.push.decided);
                return self.push_outcome(identity, &push.id, decided);
            }
            let nap = self.push.poll.min(deadline - now);
            // Woken: decided here, or found decided by a read for every
            // waiting login. Otherwise that read is due (once per poll for
            // the process), and wakes this login if it found its push.
            look = match tokio::time::timeout(nap, waiting.notify.notified()).await {
                Ok(()) => true,
                Err(_) => {
                    self.read_waiting_decisions().await;
                    false
                }
            };
        }
    }

    /// Reads which of the pushes waited for were decided (on any node) and
    /// wakes their logins: one read per poll interval for the process,
    /// however many logins wait. A failed read is logged and tried again
    /// at the next interval; the login's own reads say when the store is
    /// down.
    async fn read_waiting_decisions(&self) {
        // Another login reading right now reads for this one too.
        let Ok(mut last_read) = self.push_waiters.last_read.try_lock() else {
            return;
        };
        let now = tokio::time::Instant::now();
        if last_read.is_some_and(|at| now.duration_since(at) < self.push.poll / 2) {
            return;
        }
        *last_read = Some(now);
        let ids = self.push_waiters.ids();
        match self.store.decided_pushes(&ids).await {
            Ok(decided) => {
                for id in decided {
                    self.push_waiters.wake(&id);
                }
            }
            Err(error) => {
                tracing::warn!(%error, waiting = ids.len(), "reading push decisions failed; trying again");
            }
        }
    }

    fn push_outcome(
        &self,
        identity: &Identity,
        push: &str,
        decided: Option<Decision>,
    ) -> Result<(), Refusal> {
        match decided {
            Some(Decision::Approve) => {
                tracing::info!(username = %identity.username, push, "push approved");
                Ok(())
            }
            Some(Decision::Deny) => {
                tracing::warn!(username = %identity.username, push, "authentication refused: push denied on the phone");
                Err(Refusal::PushDenied)
            }
            None => {
                tracing::info!(username = %identity.username, push, "authentication refused: no answer from the phone in time");
                Err(Refusal::PushTimedOut)
            }
        }
    }

    /// The second half of a challenge-mode push login: a TOTP code typed
    /// at the prompt is checked instead (when enrolled); otherwise the
    /// push's decision, waited for until the push expires. Counts the user
    /// once approved.
    pub async fn complete_push(
        &self,
        identity: &Identity,
        push: &str,
        typed: &str,
        client: &str,
    ) -> Result<Admitted, Refusal> {
        self.follow_up(
            identity,
            self.push_then_admit(identity, push, typed, client),
        )
        .await
    }

    async fn push_then_admit(
        &self,
        identity: &Identity,
        push: &str,
        typed: &str,
        client: &str,
    ) -> Result<Admitted, Refusal> {
        let typed = typed.trim();
        if !typed.is_empty() {
            let totp = self
                .store
                .totp(&identity.seat)
                .await
                .map_err(|error| self.unavailable(identity, &error))?;
            if let Some(record) = totp {
                // The code instead of the phone: the push is no longer
                // needed.
                let _ = self.store.close_push(push, self.clock.now()).await;
                self.check_totp(identity, &record, typed).await?;
                return self.admit(identity, client).await;
            }
        }
        let record = self
            .store
            .push(push)
            .await
            .map_err(|error| self.unavailable(identity, &error))?;
        let Some(record) = record.filter(|record| record.push.seat == identity.seat) else {
            tracing::warn!(username = %identity.username, push, "authentication refused: unknown push");
            return Err(Refusal::PushTimedOut);
        };
        let left = Duration::try_from(record.push.expires_at - self.clock.now())
            .unwrap_or(Duration::ZERO)
            .min(self.push.lifetime);
        self.await_push(identity, &record.push, left).await?;
        self.admit(identity, client).await
    }

    /// The decision on a push so far (`None`: still waiting, or expired).
    pub async fn push_decision(&self, id: &str) -> Result<Option<Decision>, StoreError> {
        Ok(self
            .store
            .push(id)
            .await?
            .and_then(|record| record.push.decided))
    }
}
