//! Administrators of the panel and API: accounts, sessions, API tokens.
//!
//! What they are (sessions, the sign-in limits, the errors); the service
//! methods that sign them in and keep their tokens are in
//! `service/admin.rs`. Secrets handed out (session cookies, API tokens) are
//! 256 random bits; only their SHA-256 is stored ([`crate::tokens`]).

use gatehouse_license::jiff::{SignedDuration, Timestamp};

use crate::identity::Username;
use crate::store::AttemptKey;

/// How long a panel session lasts.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(12);

/// The administrator created on first start when there is none.
pub const SETUP_ADMIN: &str = "admin";

/// Prefix of API tokens, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "ght_";

/// A signed-in administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub admin: Username,
    pub csrf: String,
    pub expires_at: Timestamp,
}

/// A new session: the cookie value is shown once, to the browser.
#[derive(Clone)]
pub struct NewSession {
    pub token: String,
    pub session: Session,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("token", &"<secret>")
            .field("session", &self.session)
            .finish()
    }
}

/// The window panel sign-in attempts are counted in.
pub const SIGN_IN_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);
/// Failed sign-ins allowed per address (an IPv6 /64) in a window.
pub const SIGN_INS_PER_ADDRESS: u32 = 5;
/// Failed sign-ins allowed per username in a window, from anywhere.
pub const SIGN_INS_PER_USERNAME: u32 = 10;

/// Why an administrator could not sign in. One variant for unknown names
/// and wrong passwords, so neither reveals which names exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("Invalid username or password")]
    InvalidCredentials,
    /// Too many failed sign-ins from this address; retry after so many
    /// seconds.
    #[error("Too many failed sign-ins from this address; try again in {0} seconds.")]
    TooManyFromAddress(u64),
    /// Too many failed sign-ins for this username.
    #[error("Too many failed sign-ins for this account; try again in {0} seconds.")]
    TooManyForAccount(u64),
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

/// The keys a sign-in attempt is counted under: the address's holder
/// ([`crate::clients::holder`]: IPv6 by its /64) and the username as typed,
/// canonical when it is a valid name.
pub(crate) fn sign_in_keys(name: &str, address: std::net::IpAddr) -> [AttemptKey; 2] {
    let address = crate::clients::holder(address);
    let username = match Username::parse(name) {
        Ok(username) => username.to_string(),
        Err(_) => name.chars().take(64).collect::<String>().to_lowercase(),
    };
    [
        AttemptKey {
            key: format!("address:{address}"),
            limit: SIGN_INS_PER_ADDRESS,
        },
        AttemptKey {
            key: format!("username:{username}"),
            limit: SIGN_INS_PER_USERNAME,
        },
    ]
}
