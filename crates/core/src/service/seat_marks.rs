//! Exempt and break-glass users and seat budgets (SPEC §16): the saved
//! seat rules read into memory (again whenever their generation moves, at
//! every tick), the standing of a user at login and the budget they count
//! against, and marking, unmarking and budgets through the panel, the API
//! or the CLI, marks capped by what the license in force grants.

use std::sync::{Arc, RwLock};

use gatehouse_license::Standing;

use super::Gatehouse;
use crate::enrollment::{self, EnrollmentWindow, WindowError, WindowScope};
use crate::identity::{Identity, Source, Username};
use crate::outcome::Refusal;
use crate::policy::group_keys;
use crate::seat_rules::{BudgetError, Mark, MarkError, MarkedUser, SeatBudget, SeatRules};
use crate::store::{Checked, SeatRulesRecord, Store, StoreError};

/// Saves lost to another process's save before one is given up (each
/// attempt reads the rules again, so this only ends under a storm of
/// concurrent edits).
const SAVE_ATTEMPTS: usize = 8;

/// The seat rules in force in this process.
#[derive(Default)]
pub(super) struct SeatMarks {
    current: RwLock<InForce>,
}

#[derive(Clone, Default)]
struct InForce {
    /// The saved rules' generation (0: none saved).
    generation: i64,
    /// The rules; empty while the saved ones cannot be used (changed
    /// outside Gatehouse, or unreadable): no mark is honoured then, and
    /// every user is counted as the strict license would.
    rules: Arc<SeatRules>,
}

impl SeatMarks {
    fn in_force(&self) -> InForce {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the saved rules again when their generation moved (always
    /// with `force`).
    pub(super) async fn refresh(&self, store: &dyn Store, force: bool) -> Result<(), StoreError> {
        let generation = store.seat_rules_generation().await?;
        if !force && generation == self.in_force().generation {
            return Ok(());
        }
        let (generation, rules) = match store.seat_rules().await? {
            None => (0, SeatRules::default()),
            Some(saved) => (
                saved.record.generation,
                read(&saved).unwrap_or_else(|why| {
                    tracing::error!(
                        generation,
                        "{why}: no user is exempt or break-glass and no seat budget applies until the seat rules are saved again"
                    );
                    SeatRules::default()
                }),
            ),
        };
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.generation != generation {
            tracing::info!(generation, marks = rules.marks.len(), "seat marks in force");
        }
        *current = InForce {
            generation,
            rules: Arc::new(rules),
        };
        Ok(())
    }
}

/// The rules a saved record holds, if it is authentic and readable.
fn read(saved: &Checked<SeatRulesRecord>) -> Result<SeatRules, String> {
    if !saved.authentic {
        return Err(format!(
            "{}: the seat rules (marks and budgets) were changed outside Gatehouse (their tag does not verify)",
            gatehouse_license::admission::LICENSE_RECORD_ALTERED_EVENT
        ));
    }
    serde_json::from_str(&saved.record.rules)
        .map_err(|error| format!("the seat rules cannot be read: {error}"))
}

/// Why a mark or a budget was not changed.
#[derive(Debug, thiserror::Error)]
pub enum SeatMarkError {
    #[error(transparent)]
    Refused(#[from] MarkError),
    #[error(transparent)]
    Budget(#[from] BudgetError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error(
        "set http.public_url (or push.public_url) first: a user refused while a window is open is told that address"
    )]
    NoPortal,
    #[error("the seat marks keep changing meanwhile; try again")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One marked user as listed: whether the license in force honours the
/// mark (a key granting fewer honours only the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedMark {
    pub marked: MarkedUser,
    pub in_force: bool,
}

impl Gatehouse {
    /// What the administrator's marks make of this user under the license
    /// in force (no database access).
    pub(super) fn standing(&self, identity: &Identity) -> Standing {
        let rules = self.seat_marks.in_force().rules;
        if rules.marks.is_empty() {
            return Standing::default();
        }
        rules.standing(
            &identity.username,
            &self.license_state().license.payload.options,
        )
    }

    /// The seat budget a new user logging in through `client` counts
    /// against: the first whose groups and clients match. Their groups are
    /// read only when a budget names one: a local user's from the accounts
    /// copy, a directory user's (direct groups and their aliases) from the
    /// directory.
    pub(super) async fn budget_for(
        &self,
        identity: &Identity,
        client: &str,
    ) -> Result<Option<SeatBudget>, Refusal> {
        let rules = self.seat_marks.in_force().rules;
        if rules.budgets.is_empty() {
            return Ok(None);
        }
        let groups = if rules.budgets_name_groups() {
            self.group_keys(identity).await?
        } else {
            Vec::new()
        };
        Ok(rules.budget_for(&groups, client).cloned())
    }

    /// `identity`'s groups as policies and budgets name them.
    async fn group_keys(&self, identity: &Identity) -> Result<Vec<String>, Refusal> {
        match identity.source {
            Source::Local => {
                let Ok(username) = Username::parse(&identity.username) else {
                    return Ok(Vec::new());
                };
                let account = self
                    .accounts
                    .get(self.store.as_ref(), &username)
                    .await
                    .map_err(|error| self.unavailable(identity, &error))?;
                Ok(account.map_or_else(Vec::new, |account| {
                    group_keys("local", account.user.groups.iter().map(|g| g.as_str()))
                }))
            }
            Source::Directory => match self.directory_user(&identity.username).await {
                Ok(entry) => Ok(group_keys(
                    &entry.directory,
                    entry
                        .groups
                        .iter()
                        .chain(&entry.aliases)
                        .map(String::as_str),
                )),
                Err(error) => {
                    tracing::error!(username = %identity.username, %error, "authentication refused: the groups a seat budget needs could not be read");
                    Err(Refusal::ServiceUnavailable)
                }
            },
        }
    }

    /// The seat budgets, with their users this month.
    pub async fn seat_budgets(&self) -> Result<Vec<(SeatBudget, u32)>, StoreError> {
        let rules = self.saved_seat_rules().await?;
        let usage = self.store.budget_usage(self.current_month()).await?;
        Ok(rules
            .budgets
            .into_iter()
            .map(|budget| {
                let used = usage
                    .iter()
                    .find(|(name, _)| *name == budget.name)
                    .map_or(0, |(_, used)| *used);
                (budget, used)
            })
            .collect())
    }

    /// Adds a seat budget or replaces the one of its name.
    pub async fn save_budget(&self, budget: SeatBudget) -> Result<SeatBudget, SeatMarkError> {
        let saved = self
            .edit_seat_rules(|rules| rules.set_budget(budget.clone()))
            .await?;
        tracing::info!(budget = %saved.name, size = saved.size, "seat budget saved");
        self.audit(
            "seat.budget.save",
            &saved.name,
            serde_json::json!({
                "size": saved.size,
                "groups": saved.groups,
                "clients": saved.clients,
                "alarm_percent": saved.alarm_percent,
            }),
        )
        .await;
        Ok(saved)
    }

    /// Removes a seat budget; its users stay counted.
    pub async fn delete_budget(&self, name: &str) -> Result<SeatBudget, SeatMarkError> {
        let removed = self
            .edit_seat_rules(|rules| rules.remove_budget(name))
            .await?;
        tracing::info!(budget = %removed.name, "seat budget deleted");
        self.audit("seat.budget.delete", &removed.name, serde_json::Value::Null)
            .await;
        Ok(removed)
    }

    /// Opens an enrollment window for `scope` for `days`, replacing one
    /// already open for it.
    pub async fn open_enrollment(
        &self,
        scope: WindowScope,
        days: u32,
    ) -> Result<EnrollmentWindow, SeatMarkError> {
        if self.enroll_first.is_none() {
            return Err(SeatMarkError::NoPortal);
        }
        let now = self.clock.now();
        let by = crate::audit::current().who;
        let window = self
            .edit_seat_rules(|rules| {
                enrollment::open(&mut rules.windows, scope.clone(), days, now, &by)
            })
            .await?;
        tracing::info!(scope = %window.scope, closes_at = %window.closes_at, "enrollment window opened");
        self.audit(
            "enrollment.open",
            &window.scope.to_string(),
            serde_json::json!({"days": days, "closes_at": window.closes_at.to_string()}),
        )
        .await;
        Ok(window)
    }

    /// Closes the open enrollment window for `scope`.
    pub async fn close_enrollment(
        &self,
        scope: &WindowScope,
    ) -> Result<EnrollmentWindow, SeatMarkError> {
        let now = self.clock.now();
        let window = self
            .edit_seat_rules(|rules| enrollment::close(&mut rules.windows, scope, now))
            .await?;
        tracing::info!(scope = %window.scope, "enrollment window closed");
        self.audit(
            "enrollment.close",
            &window.scope.to_string(),
            serde_json::Value::Null,
        )
        .await;
        Ok(window)
    }

    /// The enrollment windows open now.
    pub async fn enrollment_windows(&self) -> Result<Vec<EnrollmentWindow>, StoreError> {
        let rules = self.saved_seat_rules().await?;
        let now = self.clock.now();
        Ok(rules
            .windows
            .into_iter()
            .filter(|window| window.is_open(now))
            .collect())
    }

    /// For a user with no second factor while one is required: the
    /// refusal naming where to enroll, while a window is open for them (in
    /// `groups`, as keys); `None`: none is.
    pub(super) fn enroll_instead(&self, identity: &Identity, groups: &[String]) -> Option<Refusal> {
        let text = self.enroll_first?;
        let window = self.window_for(identity, groups)?;
        tracing::info!(username = %identity.username, scope = %window.scope, "authentication refused: no second factor enrolled; told where to enroll (window open)");
        Some(Refusal::EnrollFirst(text))
    }

    /// The enrollment window open now for `identity` (in `groups`, as
    /// keys), if any.
    pub(super) fn window_for(
        &self,
        identity: &Identity,
        groups: &[String],
    ) -> Option<EnrollmentWindow> {
        let rules = self.seat_marks.in_force().rules;
        enrollment::open_for(&rules.windows, &identity.username, groups, self.clock.now()).cloned()
    }

    /// Every marked user, in the order they were marked.
    pub async fn seat_marks(&self) -> Result<Vec<ListedMark>, StoreError> {
        let rules = self.saved_seat_rules().await?;
        let options = self.license_state().license.payload.options;
        let honoured: Vec<&MarkedUser> = rules.in_force(&options).collect();
        Ok(rules
            .marks
            .iter()
            .map(|marked| ListedMark {
                in_force: honoured.contains(&marked),
                marked: marked.clone(),
            })
            .collect())
    }

    /// Marks `login` exempt or break-glass, within what the license in
    /// force grants; across every process, never more than that.
    pub async fn mark_seat(&self, login: &str, mark: Mark) -> Result<MarkedUser, SeatMarkError> {
        let options = self.license_state().license.payload.options;
        let at = self.clock.now();
        let by = crate::audit::current().who;
        let marked = self
            .edit_seat_rules(|rules| rules.mark(login, mark, &options, at, &by))
            .await?;
        tracing::info!(username = %marked.username, mark = mark.as_str(), "seat marked");
        self.audit(
            &format!("seat.{}", mark.as_str()),
            &marked.username,
            serde_json::json!({}),
        )
        .await;
        Ok(marked)
    }

    /// Removes `login`'s mark.
    pub async fn unmark_seat(&self, login: &str) -> Result<MarkedUser, SeatMarkError> {
        let removed = self.edit_seat_rules(|rules| rules.unmark(login)).await?;
        tracing::info!(username = %removed.username, mark = removed.mark.as_str(), "seat mark removed");
        self.audit(
            "seat.unmark",
            &removed.username,
            serde_json::json!({"mark": removed.mark.as_str()}),
        )
        .await;
        Ok(removed)
    }

    /// The seat rules as saved (none saved: empty); rules changed outside
    /// Gatehouse or unreadable are an error.
    async fn saved_seat_rules(&self) -> Result<SeatRules, StoreError> {
        match self.store.seat_rules().await? {
            None => Ok(SeatRules::default()),
            Some(saved) => read(&saved).map_err(StoreError::Corrupt),
        }
    }

    /// Applies `edit` to the saved rules and saves them over the generation
    /// read; read again and retried when another save came first. Rules
    /// changed outside Gatehouse are edited from empty (the way out).
    async fn edit_seat_rules<T, E: Into<SeatMarkError>>(
        &self,
        mut edit: impl FnMut(&mut SeatRules) -> Result<T, E>,
    ) -> Result<T, SeatMarkError> {
        for _ in 0..SAVE_ATTEMPTS {
            let (generation, mut rules) = match self.store.seat_rules().await? {
                None => (0, SeatRules::default()),
                Some(saved) => (saved.record.generation, read(&saved).unwrap_or_default()),
            };
            let done = edit(&mut rules).map_err(Into::into)?;
            let json = serde_json::to_string(&rules)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?;
            let by = crate::audit::current().who;
            if self
                .store
                .save_seat_rules(generation, &json, self.clock.now(), &by)
                .await?
            {
                self.seat_marks.refresh(self.store.as_ref(), true).await?;
                return Ok(done);
            }
        }
        Err(SeatMarkError::Busy)
    }
}
