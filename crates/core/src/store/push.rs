//! Phones, enrollment links and pushes, with the per-user limits.

use async_trait::async_trait;
use gatehouse_license::jiff::Timestamp;

use super::StoreResult;
use crate::identity::SeatKey;
use crate::push::{
    Decision, EnrollmentRefusal, EnrollmentToken, PendingPush, PushMode, WebPushSubscription,
};

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

/// How many pushes one user may have waiting, and created per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushLimits {
    pub waiting: u32,
    pub per_hour: u32,
}

/// Which limit a push would have passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushLimited {
    /// Already `waiting` pushes wait for the user.
    Waiting,
    /// Already `per_hour` pushes were sent to the user in the last hour.
    PerHour,
}
