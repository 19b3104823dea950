//! Enrollment windows (self-service enrollment): an administrator opens
//! one for a user, a group or everyone, for some days. While one is open
//! for a user who has no second factor and needs one, their login is
//! refused with where to enroll ([`enroll_first`]) instead of the bare
//! "second factor required", and not counted. Pure: the windows are kept
//! with the seat rules ([`crate::seat_rules::SeatRules`]), saved whole.

use gatehouse_license::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::identity::{Username, UsernameError};

/// Longest window, in days.
pub const MAX_WINDOW_DAYS: u32 = 90;

/// Days a window stays open unless told otherwise.
pub const DEFAULT_WINDOW_DAYS: u32 = 7;

/// The refusal of a user who should enroll at `portal` (a base URL without
/// a trailing slash): `Enroll a second factor at https://gatehouse.example.com/my/, then log in again`.
pub fn enroll_first(portal: &str) -> String {
    format!("Enroll a second factor at {portal}/my/, then log in again")
}

/// Whom a window is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowScope {
    /// One user, by canonical username.
    User(String),
    /// The members of a group, by group key ([`crate::policy::group_key`]).
    Group(String),
    /// Everyone.
    Everyone,
}

impl WindowScope {
    /// A user's scope from what was typed (made canonical).
    pub fn user(login: &str) -> Result<WindowScope, WindowError> {
        Ok(WindowScope::User(
            Username::parse(login)?.as_str().to_string(),
        ))
    }

    /// A group's scope from a group as policies name one.
    pub fn group(text: &str) -> Result<WindowScope, WindowError> {
        crate::policy::group_key(text)
            .map(WindowScope::Group)
            .ok_or_else(|| WindowError::BadGroup(text.to_string()))
    }

    fn covers(&self, username: &str, groups: &[String]) -> bool {
        match self {
            WindowScope::User(name) => name == username,
            WindowScope::Group(key) => groups.contains(key),
            WindowScope::Everyone => true,
        }
    }
}

impl std::fmt::Display for WindowScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WindowScope::User(name) => write!(f, "user {name}"),
            WindowScope::Group(key) => write!(f, "group {key}"),
            WindowScope::Everyone => f.write_str("everyone"),
        }
    }
}

/// One open (or since closed) window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentWindow {
    pub scope: WindowScope,
    pub opens_at: Timestamp,
    pub closes_at: Timestamp,
    /// Who opened it (the audit actor).
    pub opened_by: String,
}

impl EnrollmentWindow {
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.opens_at <= now && now < self.closes_at
    }
}

/// Why a window was not opened or closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error(transparent)]
    Username(#[from] UsernameError),
    #[error("{0:?} is not a group as policies name one (local:NAME or DIRECTORY:DN)")]
    BadGroup(String),
    #[error("a window is open for 1 to {MAX_WINDOW_DAYS} days, not {0}")]
    BadDays(u32),
    #[error("no enrollment window is open for {0}")]
    NotOpen(WindowScope),
}

/// Opens a window for `scope` from `now` for `days`, replacing one already
/// there for the same scope (and dropping windows that have closed).
pub fn open(
    windows: &mut Vec<EnrollmentWindow>,
    scope: WindowScope,
    days: u32,
    now: Timestamp,
    by: &str,
) -> Result<EnrollmentWindow, WindowError> {
    if !(1..=MAX_WINDOW_DAYS).contains(&days) {
        return Err(WindowError::BadDays(days));
    }
    windows.retain(|window| window.is_open(now) && window.scope != scope);
    let window = EnrollmentWindow {
        scope,
        opens_at: now,
        closes_at: now
            .checked_add(SignedDuration::from_hours(24 * i64::from(days)))
            .unwrap_or(Timestamp::MAX),
        opened_by: by.to_string(),
    };
    windows.push(window.clone());
    Ok(window)
}

/// Closes the open window for `scope` (and drops windows that have
/// closed).
pub fn close(
    windows: &mut Vec<EnrollmentWindow>,
    scope: &WindowScope,
    now: Timestamp,
) -> Result<EnrollmentWindow, WindowError> {
    windows.retain(|window| window.is_open(now));
    let at = windows
        .iter()
        .position(|window| &window.scope == scope)
        .ok_or_else(|| WindowError::NotOpen(scope.clone()))?;
    Ok(windows.remove(at))
}

/// The window open at `now` for `username` (in `groups`, as keys), if any.
pub fn open_for<'a>(
    windows: &'a [EnrollmentWindow],
    username: &str,
    groups: &[String],
    now: Timestamp,
) -> Option<&'a EnrollmentWindow> {
    windows
        .iter()
        .find(|window| window.is_open(now) && window.scope.covers(username, groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_window_covers_its_user_group_or_everyone_while_open() {
        let now = ts("2026-12-01T10:00:00Z");
        let mut windows = Vec::new();
        open(
            &mut windows,
            WindowScope::user("Alice").unwrap(),
            7,
            now,
            "cli",
        )
        .unwrap();
        open(
            &mut windows,
            WindowScope::group("local:Staff").unwrap(),
            1,
            now,
            "cli",
        )
        .unwrap();
        let staff = vec!["local:staff".to_string()];
        assert!(open_for(&windows, "alice", &[], now).is_some());
        assert!(open_for(&windows, "bob", &staff, now).is_some());
        assert!(open_for(&windows, "bob", &[], now).is_none());
        let next_day = ts("2026-12-02T10:00:00Z");
        assert!(
            open_for(&windows, "bob", &staff, next_day).is_none(),
            "one day only"
        );
        assert!(open_for(&windows, "alice", &[], next_day).is_some());
        assert!(open_for(&windows, "alice", &[], ts("2026-12-08T10:00:00Z")).is_none());
        open(&mut windows, WindowScope::Everyone, 3, next_day, "cli").unwrap();
        assert_eq!(windows.len(), 2, "the closed group window is dropped");
        assert!(open_for(&windows, "carol", &[], next_day).is_some());
        assert_eq!(
            close(&mut windows, &WindowScope::Everyone, next_day)
                .unwrap()
                .scope,
            WindowScope::Everyone
        );
        assert_eq!(
            close(&mut windows, &WindowScope::Everyone, next_day),
            Err(WindowError::NotOpen(WindowScope::Everyone))
        );
        assert_eq!(
            open(&mut windows, WindowScope::Everyone, 0, now, "cli"),
            Err(WindowError::BadDays(0))
        );
        assert!(WindowScope::group("staff").is_err());
        assert_eq!(
            enroll_first("https://gatehouse.example.com"),
            "Enroll a second factor at https://gatehouse.example.com/my/, then log in again"
        );
    }

    #[test]
    fn reopening_replaces_the_window_of_the_same_scope() {
        let now = ts("2026-12-01T10:00:00Z");
        let mut windows = Vec::new();
        open(&mut windows, WindowScope::Everyone, 1, now, "a").unwrap();
        let later = ts("2026-12-01T12:00:00Z");
        open(&mut windows, WindowScope::Everyone, 2, later, "b").unwrap();
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].opened_by, "b");
        assert_eq!(windows[0].closes_at, ts("2026-12-03T12:00:00Z"));
    }
}
