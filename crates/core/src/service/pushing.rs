//! Push approval through the service: enrolling phones, sending a push for
//! a login, what a phone fetches, and its decision (protocol in
//! [`crate::push`]). The RADIUS flows and the license gate build on these.

use std::time::Duration;

use gatehouse_license::VerifyingKey;

use super::Gatehouse;
use crate::identity::Identity;
use crate::push::{Decision, DecisionRefusal, Device, PendingPush, SignedDecision, check_decision};
use crate::store::{DeviceRecord, StoreError};

/// How long a push waits for the phone unless configured otherwise.
pub const DEFAULT_PUSH_LIFETIME: Duration = Duration::from_secs(30);

/// Why a device's request was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("unknown device")]
    UnknownDevice,
    #[error("unknown push")]
    UnknownPush,
    #[error("the device key is not a P-256 public key")]
    BadDeviceKey,
    #[error(transparent)]
    Refused(#[from] DecisionRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
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
        p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key)
            .map_err(|_| PushError::BadDeviceKey)?;
        let id = crate::admin::random_token();
        self.store
            .add_device(&DeviceRecord {
                id: id.clone(),
                seat: identity.seat.clone(),
                label: label.to_string(),
                public_key: public_key.to_vec(),
                created_at: self.clock.now(),
            })
            .await?;
        tracing::info!(username = %identity.username, device = %id, "push device enrolled");
        Ok(id)
    }

    /// Sends a push for a login of `identity` through `client`.
    pub async fn start_push(
        &self,
        identity: &Identity,
        client: &str,
        source: Option<&str>,
        lifetime: Duration,
    ) -> Result<PendingPush, StoreError> {
        let push = PendingPush::new(
            identity.seat.clone(),
            &identity.username,
            client,
            source,
            self.clock.now(),
            lifetime,
        );
        self.store.create_push(&push).await?;
        Ok(push)
    }

    /// What `device` should show now: its user's pending pushes, signed.
    pub async fn device_pushes(&self, device: &str) -> Result<Vec<SignedPush>, PushError> {
        let device = self.push_device(device).await?;
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
        let decision = check_decision(
            &push.push,
            &Device {
                id: device.id.clone(),
                seat: device.seat.clone(),
                public_key: device.public_key.clone(),
            },
            signed,
            now,
        )?;
        if !self
            .store
            .decide_push(&signed.push_id, decision, &device.id, now)
            .await?
        {
            // Another answer got there first, or it expired meanwhile.
            return Err(PushError::Refused(DecisionRefusal::AlreadyDecided));
        }
        tracing::info!(push = %signed.push_id, device = %device.id, decision = decision.as_str(), "push decided");
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
