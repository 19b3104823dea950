//! The user portal's sessions (`/my/`): who signed in, for what, and the
//! TOTP secret they are confirming.

use async_trait::async_trait;
use gatehouse_license::jiff::Timestamp;

use super::StoreResult;
use crate::identity::Identity;
use crate::totp::TotpSecret;

/// What a portal session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalScope {
    /// Signed in with the password and a second factor: everything.
    Full,
    /// Signed in with the password alone, while an enrollment window was
    /// open and no factor was enrolled: enrolling a first factor only.
    Enroll,
}

impl PortalScope {
    pub fn as_str(self) -> &'static str {
        match self {
            PortalScope::Full => "full",
            PortalScope::Enroll => "enroll",
        }
    }

    pub fn parse(text: &str) -> Option<PortalScope> {
        match text {
            "full" => Some(PortalScope::Full),
            "enroll" => Some(PortalScope::Enroll),
            _ => None,
        }
    }
}

/// A signed-in portal session. Only the SHA-256 of the session token is
/// stored; the row's tag covers who it signs in, its scope, its CSRF token
/// and its expiry, so a row written into the database signs nobody in.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalSessionRecord {
    pub token_hash: [u8; 32],
    /// The user, as RADIUS resolved them (the seat key is who they are).
    pub identity: Identity,
    pub scope: PortalScope,
    pub csrf: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// A TOTP secret shown to the user and not yet confirmed with a code
    /// (sealed, bound to this session and user).
    pub pending_totp: Option<TotpSecret>,
}

impl std::fmt::Debug for PortalSessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSessionRecord")
            .field("identity", &self.identity)
            .field("scope", &self.scope)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("pending_totp", &self.pending_totp.is_some())
            .finish_non_exhaustive()
    }
}

/// When a user's factors were last used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactorUses {
    /// The start of the time step of the last TOTP code accepted.
    pub totp: Option<Timestamp>,
    /// Per phone (device id): its last answer to a push still remembered
    /// (pushes are kept 30 days).
    pub phones: Vec<(String, Timestamp)>,
}

#[async_trait]
pub trait PortalStore: Send + Sync {
    /// When the factors of `seat` were last used.
    async fn factor_uses(&self, seat: &str) -> StoreResult<FactorUses>;

    async fn add_portal_session(&self, session: &PortalSessionRecord) -> StoreResult<()>;

    /// The authentic, unexpired-or-not session with this token hash
    /// (a row whose tag does not verify is none).
    async fn portal_session(
        &self,
        token_hash: &[u8; 32],
    ) -> StoreResult<Option<PortalSessionRecord>>;

    /// Keeps (or with `None` forgets) the TOTP secret a session is
    /// confirming; `false` when there is no such session.
    async fn set_portal_pending_totp(
        &self,
        token_hash: &[u8; 32],
        seat: &str,
        secret: Option<&TotpSecret>,
    ) -> StoreResult<bool>;

    async fn delete_portal_session(&self, token_hash: &[u8; 32]) -> StoreResult<()>;

    /// Ends every portal session of a user (by seat key); returns how many.
    async fn delete_portal_sessions_of(&self, seat: &str) -> StoreResult<u64>;

    /// Removes sessions that expired before `now`; returns how many.
    async fn delete_expired_portal_sessions(&self, now: Timestamp) -> StoreResult<u64>;
}
