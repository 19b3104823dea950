//! Phones through the service: enrollment (by the CLI, the API or a
//! one-time link), the devices and their Web Push subscriptions, what a
//! phone fetches and the decision it signs (protocol in [`crate::push`]).
//! The login's side of a push is in `pushing.rs`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_license::VerifyingKey;

use super::{DirectoryUserError, Gatehouse, Removed};
use crate::identity::{Identity, SeatKey, Username};
use crate::push::{
    Decision, DecisionRefusal, EnrollmentRefusal, EnrollmentToken, PendingPush, PollRefusal,
    PushMode, SignedDecision, WebPushSubscription, check_decision, check_device_request,
    check_poll, webpush_text,
};
use crate::store::{DeviceRecord, EnrollmentRecord, LinkEnrollment, StoreError};

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

    pub(super) async fn add_push_device(
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
        self.accounts.changed(self.store.as_ref()).await;
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
        let (token, secret) = self.push_enrollment_for(&identity).await?;
        Ok((identity, token, secret))
    }

    /// A one-time enrollment link for `identity` (see
    /// [`push_enrollment`](Self::push_enrollment)).
    pub async fn push_enrollment_for(
        &self,
        identity: &Identity,
    ) -> Result<(EnrollmentToken, String), PushError> {
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
        self.audit(
            "push.enrollment_link",
            &identity.username,
            serde_json::json!({"expires_at": token.expires_at.to_string()}),
        )
        .await;
        Ok((token, secret))
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
        self.accounts.changed(self.store.as_ref()).await;
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
        self.accounts.changed(self.store.as_ref()).await;
        if !removed? {
            return Ok(None);
        }
        tracing::info!(device = %id, "push device removed");
        let owner = device.as_ref().map_or("", |d| d.username.as_str());
        self.audit(
            "push.device_remove",
            owner,
            serde_json::json!({"device": id}),
        )
        .await;
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
        self.accounts.changed(self.store.as_ref()).await;
        set?;
        let shown = mode.map(|m| m.as_str());
        self.audit(
            "push.mode",
            &identity.username,
            serde_json::json!({"mode": shown}),
        )
        .await;
        Ok(identity)
    }

    /// How `identity`'s logins wait for the phone, and how many it has.
    pub async fn push_user(&self, identity: &Identity) -> Result<(usize, PushMode), StoreError> {
        let user = self.store.push_user(&identity.seat).await?;
        Ok((user.devices as usize, user.mode.unwrap_or(self.push.mode)))
    }

    /// What `device` should show now: its user's pending pushes, signed.
    pub async fn device_pushes(&self, device: &str) -> Result<Vec<SignedPush>, PushError> {
        let device = self.push_device(device).await?;
        self.pending_for(&device).await
    }

    pub(super) async fn pending_for(
        &self,
        device: &DeviceRecord,
    ) -> Result<Vec<SignedPush>, PushError> {
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

    pub(super) async fn push_device(&self, id: &str) -> Result<DeviceRecord, PushError> {
        self.store.device(id).await?.ok_or(PushError::UnknownDevice)
    }
}
