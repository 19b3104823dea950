//! The administrator's seat rules within what the license grants (SPEC
//! §16): users marked **exempt** (never counted: service and monitoring
//! accounts), **break-glass** users (counted, never refused for the
//! limit), and **seat budgets** (shares of the limit for some groups or
//! RADIUS clients). Pure: the lists, their caps and the standing of one
//! user; the
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

/// The marks, in the order they were made, and the seat budgets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatRules {
    #[serde(default)]
    pub marks: Vec<MarkedUser>,
    #[serde(default)]
    pub budgets: Vec<SeatBudget>,
    /// Enrollment windows ([`crate::enrollment`]), kept with the seat
    /// rules: the administrator's rules about users, saved whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<crate::enrollment::EnrollmentWindow>,
}

/// Most seat budgets.
pub const MAX_BUDGETS: usize = 100;

/// A share of the month's limit for some users (SPEC §16): new users
/// logging in through one of `clients` (any, when empty) who are in one of
/// `groups` (anyone, when empty) are counted against it; the first budget
/// a login matches is its. A full budget refuses its new users while the
/// others go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatBudget {
    /// 1 to 64 letters, digits, `-`, `_` or `.`: what refusals and alarms
    /// name.
    pub name: String,
    /// Users the budget may hold in a month.
    pub size: u32,
    /// Group keys as policies name them ([`crate::policy::group_key`]).
    #[serde(default)]
    pub groups: Vec<String>,
    /// RADIUS client names.
    #[serde(default)]
    pub clients: Vec<String>,
    /// Percentages of the budget at which an alarm fires.
    #[serde(default)]
    pub alarm_percent: Vec<u32>,
}

/// Why a budget was not saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    #[error("a budget name is 1 to 64 letters, digits, '-', '_' or '.'; not {0:?}")]
    BadName(String),
    #[error("{0:?} is not a group as policies name one (local:NAME or DIRECTORY:DN)")]
    BadGroup(String),
    #[error("a RADIUS client name cannot be empty")]
    EmptyClient,
    #[error(
        "budget {0:?} names no group and no client: it would hold everyone; set the license's limit instead"
    )]
    MatchesEveryone(String),
    #[error("an alarm percentage is 1 to 100, not {0}")]
    BadPercent(u32),
    #[error("at most {MAX_BUDGETS} budgets")]
    TooMany,
    #[error("no budget {0:?}")]
    Missing(String),
}

impl SeatBudget {
    /// Checks the budget and puts its groups in key form.
    pub fn checked(mut self) -> Result<SeatBudget, BudgetError> {
        let name_ok = (1..=64).contains(&self.name.len())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            return Err(BudgetError::BadName(self.name));
        }
        self.groups = self
            .groups
            .iter()
            .map(|group| {
                crate::policy::group_key(group).ok_or_else(|| BudgetError::BadGroup(group.clone()))
            })
            .collect::<Result<_, _>>()?;
        if self.clients.iter().any(|client| client.trim().is_empty()) {
            return Err(BudgetError::EmptyClient);
        }
        if self.groups.is_empty() && self.clients.is_empty() {
            return Err(BudgetError::MatchesEveryone(self.name));
        }
        if let Some(&bad) = self.alarm_percent.iter().find(|p| !(1..=100).contains(*p)) {
            return Err(BudgetError::BadPercent(bad));
        }
        self.alarm_percent.sort_unstable();
        self.alarm_percent.dedup();
        Ok(self)
    }

    /// Whether a login through `client` by a user in `groups` (keys)
    /// counts against this budget.
    pub fn matches(&self, groups: &[String], client: &str) -> bool {
        (self.clients.is_empty() || self.clients.iter().any(|c| c == client))
            && (self.groups.is_empty() || self.groups.iter().any(|g| groups.contains(g)))
    }
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

    /// The budget a login through `client` by a user in `groups` (keys)
    /// counts against: the first that matches.
    pub fn budget_for(&self, groups: &[String], client: &str) -> Option<&SeatBudget> {
        self.budgets
            .iter()
            .find(|budget| budget.matches(groups, client))
    }

    /// Whether any budget names a group (so a login's groups are needed).
    pub fn budgets_name_groups(&self) -> bool {
        self.budgets.iter().any(|budget| !budget.groups.is_empty())
    }

    /// Adds `budget`, or replaces the one of its name in place.
    pub fn set_budget(&mut self, budget: SeatBudget) -> Result<SeatBudget, BudgetError> {
        let budget = budget.checked()?;
        let full = self.budgets.len() >= MAX_BUDGETS;
        match self.budgets.iter_mut().find(|b| b.name == budget.name) {
            Some(existing) => *existing = budget.clone(),
            None if full => return Err(BudgetError::TooMany),
            None => self.budgets.push(budget.clone()),
        }
        Ok(budget)
    }

    /// Removes the budget `name`; its users stay counted.
    pub fn remove_budget(&mut self, name: &str) -> Result<SeatBudget, BudgetError> {
        let at = self
            .budgets
            .iter()
            .position(|b| b.name == name)
            .ok_or_else(|| BudgetError::Missing(name.to_string()))?;
        Ok(self.budgets.remove(at))
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

    fn budget(name: &str, size: u32, groups: &[&str], clients: &[&str]) -> SeatBudget {
        SeatBudget {
            name: name.into(),
            size,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            clients: clients.iter().map(|c| c.to_string()).collect(),
            alarm_percent: vec![],
        }
    }

    #[test]
    fn the_first_matching_budget_is_a_login_s() {
        let mut rules = SeatRules::default();
        rules
            .set_budget(budget(
                "contractors-vpn",
                40,
                &["local:Contractors"],
                &["vpn"],
            ))
            .unwrap();
        rules
            .set_budget(budget("wifi", 100, &[], &["wifi-controller"]))
            .unwrap();
        rules
            .set_budget(budget(
                "corp-staff",
                150,
                &["corp:CN=Staff, DC=example,DC=com"],
                &[],
            ))
            .unwrap();
        let groups = |keys: &[&str]| -> Vec<String> {
            keys.iter()
                .map(|k| crate::policy::group_key(k).unwrap())
                .collect()
        };
        let name = |groups: &[String], client: &str| {
            rules.budget_for(groups, client).map(|b| b.name.clone())
        };
        assert_eq!(
            name(&groups(&["local:contractors"]), "vpn").as_deref(),
            Some("contractors-vpn")
        );
        assert_eq!(name(&groups(&["local:contractors"]), "other"), None);
        assert_eq!(
            name(&groups(&["local:contractors"]), "wifi-controller").as_deref(),
            Some("wifi")
        );
        assert_eq!(
            name(&groups(&["corp:cn=staff,dc=example,dc=com"]), "vpn").as_deref(),
            Some("corp-staff"),
            "directory groups compare as DNs"
        );
        assert!(rules.budgets_name_groups());
        // Replacing keeps the order; removing leaves the others.
        rules
            .set_budget(budget("wifi", 120, &[], &["wifi-controller"]))
            .unwrap();
        assert_eq!(rules.budgets[1].size, 120);
        assert_eq!(rules.remove_budget("wifi").unwrap().name, "wifi");
        assert_eq!(
            rules.remove_budget("wifi"),
            Err(BudgetError::Missing("wifi".into()))
        );
    }

    #[test]
    fn a_budget_that_is_not_one_is_refused() {
        let cases = [
            (budget("", 1, &[], &["vpn"]), "a budget name is"),
            (budget("a b", 1, &[], &["vpn"]), "a budget name is"),
            (budget("x", 1, &["contractors"], &[]), "not a group"),
            (budget("x", 1, &[], &[" "]), "cannot be empty"),
            (budget("x", 1, &[], &[]), "would hold everyone"),
            (
                SeatBudget {
                    alarm_percent: vec![0],
                    ..budget("x", 1, &[], &["vpn"])
                },
                "1 to 100",
            ),
        ];
        for (budget, reason) in cases {
            let error = SeatRules::default().set_budget(budget).unwrap_err();
            assert!(error.to_string().contains(reason), "{error}");
        }
        let mut rules = SeatRules::default();
        for i in 0..MAX_BUDGETS {
            rules
                .set_budget(budget(&format!("b{i}"), 1, &[], &["vpn"]))
                .unwrap();
        }
        assert_eq!(
            rules.set_budget(budget("one-more", 1, &[], &["vpn"])),
            Err(BudgetError::TooMany)
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
