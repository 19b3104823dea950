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

/// The shortest password an administrator may be given.
pub const ADMIN_PASSWORD_MIN_CHARS: usize = 12;

/// Hex digits of a token's SHA-256 that name it in listings and revocations
/// (48 bits: unique among an administrator's tokens, useless to guess the
/// token).
pub const TOKEN_ID_HEX: usize = 12;

/// Longest lifetime an API token may be given.
pub const TOKEN_MAX_LIFETIME: SignedDuration = SignedDuration::from_hours(24 * 3650);

/// An administrator as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSummary {
    pub name: Username,
    pub created_at: Timestamp,
    pub must_change_password: bool,
    /// Unexpired API tokens.
    pub tokens: usize,
    /// Unexpired panel sessions.
    pub sessions: u64,
}

/// An API token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSummary {
    /// The first [`TOKEN_ID_HEX`] hex digits of its SHA-256.
    pub id: String,
    pub label: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub expired: bool,
}

/// The name a token is listed and revoked by.
pub fn token_id(token_hash: &[u8; 32]) -> String {
    crate::tokens::hex(&token_hash[..TOKEN_ID_HEX / 2])
}

/// A token lifetime as typed: `90d`, `12h`, `30m` (a number and a unit).
pub fn parse_lifetime(text: &str) -> Result<SignedDuration, String> {
    let text = text.trim();
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?}: give a unit: 90d, 12h or 30m"))?;
    let (number, unit) = text.split_at(unit_at);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number then d, h or m (90d, 12h, 30m)"))?;
    let minutes = match unit {
        "d" => number.checked_mul(24 * 60),
        "h" => number.checked_mul(60),
        "m" => Some(number),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?}: expected a number then d, h or m (90d, 12h, 30m)"))?;
    if minutes < 1 || minutes > TOKEN_MAX_LIFETIME.as_mins() {
        return Err(format!(
            "{text:?}: a token's lifetime is from 1 minute to 3650 days"
        ));
    }
    Ok(SignedDuration::from_mins(minutes))
}

/// A signed-in administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub admin: Username,
    pub csrf: String,
    pub expires_at: Timestamp,
    /// Until the administrator replaces the first-start password, the
    /// panel shows nothing but the form that does.
    pub must_change_password: bool,
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
    door_keys("", name, address)
}

/// [`sign_in_keys`] of one door (`""`: the panel's; the user portal has
/// its own, so users failing there never lock an administrator out).
pub(crate) fn door_keys(door: &str, name: &str, address: std::net::IpAddr) -> [AttemptKey; 2] {
    let address = crate::clients::holder(address);
    let username = match Username::parse(name) {
        Ok(username) => username.to_string(),
        Err(_) => name.chars().take(64).collect::<String>().to_lowercase(),
    };
    [
        AttemptKey {
            key: format!("{door}address:{address}"),
            limit: SIGN_INS_PER_ADDRESS,
        },
        AttemptKey {
            key: format!("{door}username:{username}"),
            limit: SIGN_INS_PER_USERNAME,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_a_number_and_a_unit_within_bounds() {
        for (text, minutes) in [
            ("90d", 90 * 24 * 60),
            ("12h", 720),
            ("30m", 30),
            (" 1m ", 1),
            ("3650d", 3650 * 24 * 60),
        ] {
            assert_eq!(
                parse_lifetime(text),
                Ok(SignedDuration::from_mins(minutes)),
                "{text}"
            );
        }
        for bad in [
            "",
            "90",
            "d",
            "0d",
            "-5d",
            "3651d",
            "1w",
            "1.5d",
            "99999999999999999d",
            "999999999999999999m",
            "1 d",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_token_is_named_by_the_start_of_its_hash() {
        let mut hash = [0u8; 32];
        hash[..6].copy_from_slice(&[0x01, 0xab, 0xff, 0x00, 0x10, 0x9c]);
        assert_eq!(token_id(&hash), "01abff00109c");
        assert_eq!(token_id(&hash).len(), TOKEN_ID_HEX);
    }
}
