//! Push approval through the service: enrolling phones, sending a push for
//! a login, what a phone fetches, and its decision (protocol in
//! [`crate::push`]). The RADIUS flows and the license gate build on these.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_license::VerifyingKey;
use tokio::sync::Notify;

use super::{DirectoryUserError, Gatehouse, Removed};
use crate::identity::{Identity, SeatKey, Username};
use crate::outcome::{Admitted, Refusal};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::push::{
    Decision, DecisionRefusal, EnrollmentRefusal, EnrollmentToken, NotifyError, PendingPush,
    PollRefusal, PushMode, SignedDecision, WebPushSubscription, check_decision,
    check_device_request, check_poll, webpush_text,
};
use crate::store::{
    DeviceRecord, EnrollmentRecord, LinkEnrollment, PushLimited, PushLimits, PushRecord, StoreError,
};

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

    fn wake(&self, push: &str) {
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

/// How long an enrollment link can be used.
pub const ENROLLMENT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Why a push request (enrollment, a device's fetch or decision, an
/// administrator's change) was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("unknown device")]
    UnknownDevice,
    #[error("unknown push")]
    UnknownPush,
    #[error("no local or directory user is named {0:?}")]
    UnknownUser(String),
    #[error("the device key is not a P-256 public key")]
    BadDeviceKey,
    #[error("the device name must be 1 to 64 characters, without control characters")]
    BadLabel,
    /// A phone id that is taken or was revoked.
    #[error("this enrollment link was already used; ask for a new one")]
    LinkUsed,
    #[error("invalid Web Push subscription: {0}")]
    BadSubscription(&'static str),
    #[error(transparent)]
    Link(#[from] EnrollmentRefusal),
    #[error(transparent)]
    Poll(#[from] PollRefusal),
    #[error(transparent)]
    Refused(#[from] DecisionRefusal),
    #[error(transparent)]
    Directory(#[from] DirectoryUserError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A phone's name and key as enrollment accepts them: a P-256 public key,
/// a name of 1 to 64 characters without control characters (trimmed).
fn checked_device<'a>(label: &'a str, public_key: &[u8]) -> Result<&'a str, PushError> {
    p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| PushError::BadDeviceKey)?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(char::is_control) {
        return Err(PushError::BadLabel);
    }
    Ok(label)
}

/// A push as a phone receives it: the push and the server's signature of
/// its canonical text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPush {
    pub push: PendingPush,
    /// base64url Ed25519 signature of [`PendingPush::canonical`].
    pub signature: String,
}

impl Gatehouse {
    /// The key a phone checks pushes against (the installation's).
    pub fn push_verifying_key(&self) -> VerifyingKey {
        self.installation_key().verifying_key()
    }

    /// Enrolls a phone for `identity` with its SEC1 P-256 public key;
    /// returns the device id.
    pub async fn enroll_push_device(
        &self,
        identity: &Identity,
        label: &str,
        public_key: &[u8],
    ) -> Result<String, PushError> {
        let id = crate::tokens::random_token();
        self.add_push_device(&id, &identity.seat, &identity.username, label, public_key)
            .await?;
        Ok(id)
    }

    async fn add_push_device(
        &self,
        id: &str,
        seat: &SeatKey,
        username: &str,
        label: &str,
        public_key: &[u8],
    ) -> Result<(), PushError> {
        let label = checked_device(label, public_key)?;
        let added = self
            .store
            .add_device(&DeviceRecord {
                id: id.to_string(),
                seat: seat.clone(),
                username: username.to_string(),
                label: label.to_string(),
                public_key: public_key.to_vec(),
                created_at: self.clock.now(),
                webpush: None,
            })
            .await;
        self.accounts.invalidate();
        match added {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Err(PushError::LinkUsed),
            Err(error) => return Err(error.into()),
        }
        tracing::info!(username, device = %id, label, "push device enrolled");
        Ok(())
    }

    /// The identity an administrator means by `name`: the local user, or
    /// else the one directory entry it names.
    pub async fn push_user_identity(&self, name: &str) -> Result<Identity, PushError> {
        let username =
            Username::parse(name).map_err(|_| PushError::UnknownUser(name.to_string()))?;
        if let Some(account) = self.accounts.get(self.store.as_ref(), &username).await? {
            return Ok(account.identity.clone());
        }
        match self.directory_user(name).await {
            Ok(entry) => Ok(entry.identity()),
            Err(DirectoryUserError::NotConfigured | DirectoryUserError::NotFound(_)) => {
                Err(PushError::UnknownUser(name.to_string()))
            }
            Err(error) => Err(PushError::Directory(error)),
        }
    }

    /// A one-time enrollment link for `name` (local or directory user),
    /// valid for [`ENROLLMENT_LIFETIME`]: what it enrolls, and its secret
    /// (the text the link carries, shown once; only its hash is stored).
    pub async fn push_enrollment(
        &self,
        name: &str,
    ) -> Result<(Identity, EnrollmentToken, String), PushError> {
        let identity = self.push_user_identity(name).await?;
        let now = self.clock.now();
        let (token, secret) = EnrollmentToken::new(
            identity.seat.clone(),
            &identity.username,
            now,
            ENROLLMENT_LIFETIME,
        );
        let token_hash = EnrollmentToken::hash(&secret).expect("a new secret has a secret's shape");
        self.store
            .add_enrollment(&EnrollmentRecord {
                token_hash,
                token: token.clone(),
                created_at: now,
            })
            .await?;
        tracing::info!(username = %identity.username, "push enrollment link created");
        Ok((identity, token, secret))
    }

    /// What an enrollment link is for (the web app shows it before the
    /// phone makes its key).
    pub async fn check_push_enrollment(&self, secret: &str) -> Result<EnrollmentToken, PushError> {
        let token_hash = EnrollmentToken::hash(secret).ok_or(EnrollmentRefusal::Malformed)?;
        Ok(self
            .store
            .enrollment(&token_hash, self.clock.now())
            .await??)
    }

    /// Enrolls the phone presenting the link's `secret` with its public
    /// key; returns the phone. The link is used up in the same transaction
    /// that adds the phone, so it enrolls one phone.
    pub async fn enroll_with_link(
        &self,
        secret: &str,
        label: &str,
        public_key: &[u8],
    ) -> Result<DeviceRecord, PushError> {
        let token_hash = EnrollmentToken::hash(secret).ok_or(EnrollmentRefusal::Malformed)?;
        let label = checked_device(label, public_key)?;
        let enrolled = self
            .store
            .enroll_device(&LinkEnrollment {
                token_hash,
                label,
                public_key,
                at: self.clock.now(),
            })
            .await;
        self.accounts.invalidate();
        let device = enrolled??;
        tracing::info!(username = %device.username, device = %device.id, label, "push device enrolled");
        Ok(device)
    }

    /// Every enrolled phone (the panel).
    pub async fn push_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.store.all_devices().await
    }

    /// Revokes a phone; `false` when there was none with that id.
    pub async fn remove_push_device(&self, id: &str) -> Result<Option<Removed>, StoreError> {
        let device = self.store.device(id).await?;
        let removed = self.store.remove_device(id, self.clock.now()).await;
        self.accounts.invalidate();
        if !removed? {
            return Ok(None);
        }
        tracing::info!(device = %id, "push device removed");
        let Some(device) = device else {
            return Ok(Some(Removed {
                username: String::new(),
                no_second_factor_left: false,
            }));
        };
        self.removed_from(&device.seat, device.username)
            .await
            .map(Some)
    }

    /// Sets or clears (`None`: `[push] mode`) how `name`'s logins wait.
    pub async fn set_push_mode(
        &self,
        name: &str,
        mode: Option<PushMode>,
    ) -> Result<Identity, PushError> {
        let identity = self.push_user_identity(name).await?;
        let set = self.store.set_push_mode(&identity.seat, mode).await;
        self.accounts.invalidate();
        set?;
        Ok(identity)
    }

    /// How `identity`'s logins wait for the phone, and how many it has.
    pub async fn push_user(&self, identity: &Identity) -> Result<(usize, PushMode), StoreError> {
        let user = self.store.push_user(&identity.seat).await?;
        Ok((user.devices as usize, user.mode.unwrap_or(self.push.mode)))
    }

    /// The newest pushes, newest first (the panel).
    pub async fn recent_pushes(&self, limit: u32) -> Result<Vec<PushRecord>, StoreError> {
        self.store.recent_pushes(limit).await
    }

    /// A device's signed fetch of its pending pushes.
    pub async fn poll_pushes(
        &self,
        device: &str,
        unix_seconds: i64,
        signature: &str,
    ) -> Result<Vec<SignedPush>, PushError> {
        let record = self.push_device(device).await?;
        check_poll(&record.device(), unix_seconds, signature, self.clock.now())?;
        self.pending_for(&record).await
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

    /// What `device` should show now: its user's pending pushes, signed.
    pub async fn device_pushes(&self, device: &str) -> Result<Vec<SignedPush>, PushError> {
        let device = self.push_device(device).await?;
        self.pending_for(&device).await
    }

    async fn pending_for(&self, device: &DeviceRecord) -> Result<Vec<SignedPush>, PushError> {
        let pending = self
            .store
            .pending_pushes(&device.seat, self.clock.now())
            .await?;
        Ok(pending
            .into_iter()
            .map(|record| {
                let push = record.push;
                SignedPush {
                    signature: push.sign(self.installation_key()),
                    push,
                }
            })
            .collect())
    }

    /// `[push]` as configured.
    pub fn push_settings(&self) -> &PushSettings {
        &self.push
    }

    /// The VAPID public key phones subscribe with (uncompressed SEC1), when
    /// Web Push is configured.
    pub fn webpush_public_key(&self) -> Option<Vec<u8>> {
        self.push_notifier.as_ref().map(|_| {
            p256::ecdsa::SigningKey::from(&self.vapid)
                .verifying_key()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec()
        })
    }

    /// Registers (or replaces) a device's Web Push subscription; the
    /// request is signed by the device (see [`webpush_text`]).
    pub async fn set_push_subscription(
        &self,
        device: &str,
        unix_seconds: i64,
        signature: &str,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
    ) -> Result<(), PushError> {
        let record = self.push_device(device).await?;
        check_device_request(
            &record.device(),
            unix_seconds,
            &webpush_text(device, unix_seconds, endpoint, p256dh, auth),
            signature,
            self.clock.now(),
        )?;
        let decode = |text: &str| URL_SAFE_NO_PAD.decode(text.trim()).unwrap_or_default();
        let subscription = WebPushSubscription::new(endpoint, decode(p256dh), decode(auth))
            .map_err(PushError::BadSubscription)?;
        self.push
            .webpush_hosts
            .check(endpoint)
            .map_err(PushError::BadSubscription)?;
        self.store
            .set_device_webpush(device, Some(&subscription))
            .await?;
        tracing::info!(device, "push device subscribed to Web Push");
        Ok(())
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

    /// Forgets pushes that ended more than [`PUSH_HISTORY`] ago, at most
    /// once an hour (from `tick`).
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
        let outcome = match self.refuse_if_locked(identity, self.clock.now()) {
            Ok(()) => self.push_then_admit(identity, push, typed, client).await,
            Err(refusal) => Err(refusal),
        };
        self.second_factor_outcome(identity, outcome.as_ref().err().copied(), outcome.is_ok())
            .await;
        self.counters
            .count(outcome.as_ref().map(|_| ()).map_err(|r| *r));
        outcome
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

    /// A device's answer: checked (user, expiry, signature) and recorded
    /// once, whichever node receives it.
    pub async fn decide_push(
        &self,
        device: &str,
        signed: &SignedDecision,
    ) -> Result<Decision, PushError> {
        let device = self.push_device(device).await?;
        let push = self
            .store
            .push(&signed.push_id)
            .await?
            .ok_or(PushError::UnknownPush)?;
        let now = self.clock.now();
        let decision = match check_decision(&push.push, &device.device(), signed, now) {
            Ok(decision) => decision,
            Err(DecisionRefusal::WrongNumber) => {
                // A wrong number chosen is a denial: the login is refused
                // now (and counts toward the user's lockout).
                if self
                    .store
                    .decide_push(&signed.push_id, Decision::Deny, &device.id, now)
                    .await?
                {
                    tracing::warn!(push = %signed.push_id, device = %device.id, "push denied: the wrong number was chosen");
                    self.push_waiters.wake(&signed.push_id);
                }
                return Err(PushError::Refused(DecisionRefusal::WrongNumber));
            }
            Err(refusal) => return Err(refusal.into()),
        };
        if !self
            .store
            .decide_push(&signed.push_id, decision, &device.id, now)
            .await?
        {
            // Another answer got there first, or it expired meanwhile.
            return Err(PushError::Refused(DecisionRefusal::AlreadyDecided));
        }
        tracing::info!(push = %signed.push_id, device = %device.id, decision = decision.as_str(), "push decided");
        self.push_waiters.wake(&signed.push_id);
        Ok(decision)
    }

    async fn push_device(&self, id: &str) -> Result<DeviceRecord, PushError> {
        self.store.device(id).await?.ok_or(PushError::UnknownDevice)
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
