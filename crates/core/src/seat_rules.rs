//! The administrator's seat rules within what the license grants (SPEC
//! §16): users marked **exempt** (never counted: service and monitoring
//! accounts) and **break-glass** users (counted, never refused for the
//! limit). Pure: the list, its caps and the standing of one user; the
//! service keeps it in the store as one tagged record, saved whole and only
//! over the generation it edited, so two nodes can never both take the last
//! mark.
//!
//! Users are named by their canonical username (local or directory, the
//! same name a RADIUS login resolves to). Only the first `N` marks of a
//! kind count, `N` being what the license in force grants: a key granting
//! fewer than were marked (a renewal, or an older record written back by
//! hand) never lets more users in than it allows.

use gatehouse_license::jiff::Timestamp;
use gatehouse_license::{LicenseOptions, Standing};
use serde::{Deserialize, Serialize};

use crate::identity::{Username, UsernameError};

/// What a mark does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    /// Never counted in the month's users.
    Exempt,
    /// Break-glass: counted when they log in, never refused for the limit.
    Reserved,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Exempt => "exempt",
            Mark::Reserved => "reserved",
        }
    }

    pub fn parse(text: &str) -> Option<Mark> {
        [Mark::Exempt, Mark::Reserved]
            .into_iter()
            .find(|mark| mark.as_str() == text)
    }

    /// How many marks of this kind `options` grant.
    pub fn granted(self, options: &LicenseOptions) -> u32 {
        match self {
            Mark::Exempt => options.exempt_seats,
            Mark::Reserved => options.reserved_seats,
        }
    }

    /// The words of the License page and the errors: `exempt accounts`,
    /// `break-glass seats`.
    pub fn plural(self) -> &'static str {
        match self {
            Mark::Exempt => "exempt accounts",
            Mark::Reserved => "break-glass seats",
        }
    }
}

/// One marked user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkedUser {
    /// Canonical username.
    pub username: String,
    pub mark: Mark,
    pub marked_at: Timestamp,
    /// Who marked them (the audit actor).
    pub marked_by: String,
}

/// The marks, in the order they were made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatRules {
    #[serde(default)]
    pub marks: Vec<MarkedUser>,
}

/// Why a mark was not made or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarkError {
    #[error(transparent)]
    Username(#[from] UsernameError),
    #[error("the license in force grants no {}; the vendor grants them in the license key", .0.plural())]
    NotGranted(Mark),
    #[error("the license in force grants {granted} {}, and all are in use; unmark one first", .mark.plural())]
    Full { mark: Mark, granted: u32 },
    #[error("{username:?} is already marked {}", .mark.as_str())]
    AlreadyMarked { username: String, mark: Mark },
    #[error("{0:?} is not marked")]
    NotMarked(String),
}

impl SeatRules {
    /// The marks that count under `options`: the first `N` of each kind.
    pub fn in_force<'a>(
        &'a self,
        options: &'a LicenseOptions,
    ) -> impl Iterator<Item = &'a MarkedUser> + 'a {
        let mut exempt = 0u32;
        let mut reserved = 0u32;
        self.marks.iter().filter(move |marked| {
            let seen = match marked.mark {
                Mark::Exempt => &mut exempt,
                Mark::Reserved => &mut reserved,
            };
            *seen += 1;
            *seen <= marked.mark.granted(options)
        })
    }

    /// What `username`'s marks make of them under `options`.
    pub fn standing(&self, username: &str, options: &LicenseOptions) -> Standing {
        let mut standing = Standing::default();
        for marked in self
            .in_force(options)
            .filter(|marked| marked.username == username)
        {
            match marked.mark {
                Mark::Exempt => standing.exempt = true,
                Mark::Reserved => standing.reserved = true,
            }
        }
        standing
    }

    /// Marks `login` (made canonical), if the license grants a free mark of
    /// that kind; a user holds one mark at most.
    pub fn mark(
        &mut self,
        login: &str,
        mark: Mark,
        options: &LicenseOptions,
        at: Timestamp,
        by: &str,
    ) -> Result<MarkedUser, MarkError> {
        let username = Username::parse(login)?.as_str().to_string();
        if let Some(marked) = self.marks.iter().find(|m| m.username == username) {
            return Err(MarkError::AlreadyMarked {
                username,
                mark: marked.mark,
            });
        }
        let granted = mark.granted(options);
        if granted == 0 {
            return Err(MarkError::NotGranted(mark));
        }
        let used = self.marks.iter().filter(|m| m.mark == mark).count();
        if used >= granted as usize {
            return Err(MarkError::Full { mark, granted });
        }
        let marked = MarkedUser {
            username,
            mark,
            marked_at: at,
            marked_by: by.to_string(),
        };
        self.marks.push(marked.clone());
        Ok(marked)
    }

    /// Removes `login`'s mark; returns it.
    pub fn unmark(&mut self, login: &str) -> Result<MarkedUser, MarkError> {
        let username = Username::parse(login)?.as_str().to_string();
        let at = self
            .marks
            .iter()
            .position(|m| m.username == username)
            .ok_or(MarkError::NotMarked(username))?;
        Ok(self.marks.remove(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        "2026-11-10T10:00:00Z".parse().unwrap()
    }

    fn granted(exempt_seats: u32, reserved_seats: u32) -> LicenseOptions {
        LicenseOptions {
            exempt_seats,
            reserved_seats,
            ..LicenseOptions::default()
        }
    }

    #[test]
    fn marks_up_to_what_the_license_grants() {
        let options = granted(2, 1);
        let mut rules = SeatRules::default();
        rules
            .mark("Monitor", Mark::Exempt, &options, at(), "admin:root")
            .unwrap();
        rules
            .mark("backup", Mark::Exempt, &options, at(), "cli")
            .unwrap();
        assert_eq!(
            rules.mark("svc", Mark::Exempt, &options, at(), "cli"),
            Err(MarkError::Full {
                mark: Mark::Exempt,
                granted: 2
            })
        );
        rules
            .mark("oncall", Mark::Reserved, &options, at(), "cli")
            .unwrap();
        assert_eq!(
            rules
                .mark("MONITOR", Mark::Reserved, &options, at(), "cli")
                .unwrap_err()
                .to_string(),
            "\"monitor\" is already marked exempt"
        );
        assert_eq!(
            rules.standing("monitor", &options),
            Standing {
                exempt: true,
                ..Standing::default()
            }
        );
        assert!(rules.standing("oncall", &options).reserved);
        assert_eq!(rules.standing("alice", &options), Standing::default());
        assert_eq!(
            SeatRules::default()
                .mark("x", Mark::Reserved, &granted(2, 0), at(), "cli")
                .unwrap_err()
                .to_string(),
            "the license in force grants no break-glass seats; the vendor grants them in the license key"
        );
        assert!(matches!(
            rules.mark("bad\u{0}name", Mark::Exempt, &options, at(), "cli"),
            Err(MarkError::Username(_))
        ));
        assert_eq!(rules.unmark("Backup").unwrap().username, "backup");
        assert_eq!(
            rules.unmark("backup"),
            Err(MarkError::NotMarked("backup".into()))
        );
        rules
            .mark("svc", Mark::Exempt, &options, at(), "cli")
            .unwrap();
    }

    #[test]
    fn a_license_granting_fewer_marks_honours_only_the_first() {
        let mut rules = SeatRules::default();
        let generous = granted(3, 2);
        for name in ["a", "b", "c"] {
            rules
                .mark(name, Mark::Exempt, &generous, at(), "cli")
                .unwrap();
        }
        for name in ["r1", "r2"] {
            rules
                .mark(name, Mark::Reserved, &generous, at(), "cli")
                .unwrap();
        }
        let renewed = granted(1, 1);
        let exempt: Vec<bool> = ["a", "b", "c"]
            .iter()
            .map(|n| rules.standing(n, &renewed).exempt)
            .collect();
        assert_eq!(exempt, [true, false, false]);
        assert!(rules.standing("r1", &renewed).reserved);
        assert!(!rules.standing("r2", &renewed).reserved);
        assert_eq!(rules.in_force(&LicenseOptions::default()).count(), 0);
        assert_eq!(
            rules.standing("a", &LicenseOptions::default()),
            Standing::default(),
            "a key without options honours no mark"
        );
    }

    #[test]
    fn the_stored_form_round_trips() {
        let mut rules = SeatRules::default();
        rules
            .mark("monitor", Mark::Exempt, &granted(1, 0), at(), "admin:root")
            .unwrap();
        let json = serde_json::to_string(&rules).unwrap();
        assert!(json.contains("\"mark\":\"exempt\""), "{json}");
        assert_eq!(serde_json::from_str::<SeatRules>(&json).unwrap(), rules);
        assert_eq!(
            serde_json::from_str::<SeatRules>("{}").unwrap(),
            SeatRules::default()
        );
    }
}
