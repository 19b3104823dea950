//! A login, step by step (SPEC §3, §9): the license gate, the first
//! factor with its decoys and bounded password work, the second factor owed
//! (TOTP here, push in `pushing.rs`), the precheck before any code is asked
//! for, and admission through the seat cache and the admitter.

use gatehouse_license::admission::decide;
use gatehouse_license::admission::{LICENSE_EXPIRED_EVENT, LICENSE_USER_LIMIT_EXCEEDED_EVENT};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::{Admission, Budget, Month, SeatKind, SeatState, Standing};

use super::policies::{Chosen, Route};
use super::{Gatehouse, Record};
use crate::identity::{Identity, Username};
use crate::outcome::{
    Admitted, Authenticated, FirstFactor, LoginStep, Refusal, RefusalText, SecondFactor,
};
use crate::policy::group_keys;
use crate::store::PushUser;
use crate::store::{
    AdmitOutcome, AdmitRequest, BudgetClaim, RefusalRecord, StoreError, TotpRecord,
};
use crate::totp::{self, TotpMode};
use crate::work::Busy;

impl Gatehouse {
    /// A login for callers that cannot ask for a one-time code: users who
    /// owe one are refused with [`Refusal::InvalidOneTimeCode`]. See
    /// [`login`](Self::login) for the full conversation.
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
        client: &str,
    ) -> Result<Admitted, Refusal> {
        match self.login(login, password, client).await? {
            LoginStep::Accepted(admitted) => Ok(admitted),
            LoginStep::OtpRequired(identity) => {
                tracing::info!(username = %identity.username, client, "authentication refused: a one-time code is required");
                Err(Refusal::InvalidOneTimeCode)
            }
            LoginStep::PushSent { identity, push, .. } => {
                self.complete_push(&identity, &push, "", client).await
            }
        }
    }

    /// A login in the SPEC order: refuse if expired, check the password
    /// (with a one-time code typed after it, for users in append mode),
    /// check the license gate, then either count and accept, or ask for the
    /// one-time code (challenge mode; finish with
    /// [`complete_otp`](Self::complete_otp)).
    pub async fn login(
        &self,
        login: &str,
        typed: &str,
        client: &str,
    ) -> Result<LoginStep, Refusal> {
        self.login_from(login, typed, client, None).await
    }

    /// [`login`](Self::login) with the user's address when the client
    /// sent it (shown on the phone with a push).
    pub async fn login_from(
        &self,
        login: &str,
        typed: &str,
        client: &str,
        source: Option<&str>,
    ) -> Result<LoginStep, Refusal> {
        self.login_through(login, typed, &Route::new(client, source))
            .await
            .map(|authenticated| authenticated.step)
    }

    /// A login through `route`, with what the policy in force gives it
    /// when it is accepted (the same through a challenge).
    pub async fn login_through(
        &self,
        login: &str,
        typed: &str,
        route: &Route<'_>,
    ) -> Result<Authenticated, Refusal> {
        let outcome = self.login_steps(login, typed, route).await;
        self.counters
            .count_step(outcome.as_ref().map(|a| &a.step).map_err(|r| *r));
        outcome
    }

    pub(super) async fn login_steps(
        &self,
        login: &str,
        typed: &str,
        route: &Route<'_>,
    ) -> Result<Authenticated, Refusal> {
        // One moment for the whole login: one month, one expiry decision.
        let now = self.clock.now();
        let mut checked = self.first_factor_at(login, typed, route, now).await?;
        self.precheck_at(&checked.identity, route.client, now)
            .await?;
        let identity = checked.identity.clone();
        let authorization = std::mem::take(&mut checked.authorization);
        let step = self
            .second_factor_steps(checked, route.client, route.calling_station, now)
            .await;
        let accepted = matches!(step, Ok(LoginStep::Accepted(_)));
        self.second_factor_outcome(&identity, step.as_ref().err().copied(), accepted)
            .await;
        Ok(Authenticated {
            step: step?,
            authorization,
        })
    }

    /// After the password and the license gate: the second factor owed,
    /// then admission.
    pub(super) async fn second_factor_steps(
        &self,
        checked: FirstFactor,
        client: &str,
        source: Option<&str>,
        now: Timestamp,
    ) -> Result<LoginStep, Refusal> {
        match checked.second_factor {
            SecondFactor::None => Ok(LoginStep::Accepted(
                self.admit_at(&checked.identity, client, now).await?,
            )),
            SecondFactor::Totp {
                record,
                appended_code: Some(code),
            } => {
                self.check_totp(&checked.identity, &record, &code).await?;
                Ok(LoginStep::Accepted(
                    self.admit_at(&checked.identity, client, now).await?,
                ))
            }
            SecondFactor::Totp {
                appended_code: None,
                ..
            } => Ok(LoginStep::OtpRequired(checked.identity)),
            SecondFactor::Push { mode, totp } => {
                self.push_step(checked.identity, mode, totp.is_some(), client, source)
                    .await
            }
        }
    }

    /// The second half of a challenge-mode login: checks the one-time code
    /// (once only) and counts the user.
    pub async fn complete_otp(
        &self,
        identity: &Identity,
        code: &str,
        client: &str,
    ) -> Result<Admitted, Refusal> {
        self.follow_up(identity, self.check_code_and_admit(identity, code, client))
            .await
    }

    /// The follow-up of a challenge (a one-time code, or the answer to a
    /// push): refused while the user is locked out, and its outcome
    /// counted toward the lockout and in the metrics.
    pub(super) async fn follow_up(
        &self,
        identity: &Identity,
        step: impl Future<Output = Result<Admitted, Refusal>>,
    ) -> Result<Admitted, Refusal> {
        let outcome = match self.refuse_if_locked(identity, self.clock.now()) {
            Ok(()) => step.await,
            Err(refusal) => Err(refusal),
        };
        self.second_factor_outcome(identity, outcome.as_ref().err().copied(), outcome.is_ok())
            .await;
        self.counters
            .count(outcome.as_ref().map(|_| ()).map_err(|r| *r));
        outcome
    }

    pub(super) async fn check_code_and_admit(
        &self,
        identity: &Identity,
        code: &str,
        client: &str,
    ) -> Result<Admitted, Refusal> {
        let record = self
            .store
            .totp(&identity.seat)
            .await
            .map_err(|error| self.unavailable(identity, &error))?;
        let Some(record) = record else {
            tracing::info!(username = %identity.username, "authentication failed: no one-time code enrolled");
            return Err(Refusal::InvalidOneTimeCode);
        };
        self.check_totp(identity, &record, code).await?;
        self.admit(identity, client).await
    }

    pub(super) async fn check_totp(
        &self,
        identity: &Identity,
        record: &TotpRecord,
        code: &str,
    ) -> Result<(), Refusal> {
        let Some(step) = totp::matching_step(&record.secret, code.trim(), self.clock.now()) else {
            tracing::info!(username = %identity.username, "authentication failed: wrong one-time code");
            return Err(Refusal::InvalidOneTimeCode);
        };
        match self.store.use_totp_step(&identity.seat, step).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::warn!(username = %identity.username, "authentication failed: one-time code already used (replay)");
                Err(Refusal::InvalidOneTimeCode)
            }
            Err(error) => Err(self.unavailable(identity, &error)),
        }
    }

    /// Checks the license's expiry, then the password. Unknown users,
    /// disabled accounts and wrong passwords are refused alike, never
    /// counted, and take the same time. For users enrolled in append mode
    /// the last six digits of `typed` are their one-time code.
    pub async fn first_factor(
        &self,
        login: &str,
        typed: &str,
        route: &Route<'_>,
    ) -> Result<FirstFactor, Refusal> {
        self.first_factor_at(login, typed, route, self.clock.now())
            .await
    }

    pub(super) async fn first_factor_at(
        &self,
        login: &str,
        typed: &str,
        route: &Route<'_>,
        now: Timestamp,
    ) -> Result<FirstFactor, Refusal> {
        self.license_gate(now, &login)?;
        let username = match Username::parse(login) {
            Ok(username) => username,
            Err(error) => {
                self.spend_decoy(login, typed).await?;
                tracing::info!(username = ?login, %error, "authentication failed: invalid username");
                return Err(Refusal::InvalidCredentials);
            }
        };
        let account = match self.accounts.get(self.store.as_ref(), &username).await {
            Ok(account) => account,
            Err(error) => {
                tracing::error!(username = %username, %error, "authentication failed: database unavailable");
                return Err(Refusal::ServiceUnavailable);
            }
        };
        let Some(account) = account else {
            if let Some(directory) = &self.directory {
                return self
                    .directory_first_factor(directory.as_ref(), login, &username, typed, route)
                    .await;
            }
            self.spend_decoy(login, typed).await?;
            tracing::info!(username = %username, "authentication failed: unknown user");
            return Err(Refusal::InvalidCredentials);
        };
        let user = &account.user;
        self.refuse_if_locked(&account.identity, now)?;
        let groups = user.groups.iter().map(|group| group.as_str());
        let chosen = self.choose_policy(&account.identity, groups, "local", route)?;
        let Some((password, second_factor)) =
            self.second_factor(account.totp.clone(), account.push, typed)
        else {
            self.spend_decoy(login, typed).await?;
            tracing::info!(username = %username, "authentication failed: no one-time code after the password");
            return Err(Refusal::InvalidCredentials);
        };
        if !self
            .verify_password(&username, password, &user.password_hash)
            .await?
        {
            tracing::info!(username = %username, "authentication failed: wrong password");
            self.wrong_password(&account.identity, password).await;
            return Err(Refusal::InvalidCredentials);
        }
        if !user.enabled {
            tracing::info!(username = %username, "authentication failed: account disabled");
            return Err(Refusal::InvalidCredentials);
        }
        let second_factor = self.narrow(
            &account.identity,
            chosen.as_ref(),
            second_factor,
            self.phone(account.push),
        );
        self.passed_password(
            account.identity.clone(),
            route,
            second_factor,
            chosen,
            user.second_factor_exempt,
            &group_keys("local", user.groups.iter().map(|group| group.as_str())),
        )
    }

    /// The first factor passed: a policy's denial, or what is still owed
    /// and what the policy gives; or the refusal of a push-only user while
    /// push is not licensed, or of a user with no second factor the policy
    /// (or, without one, the default rule: `exempt` users are not asked
    /// for one) requires.
    /// `groups` (keys) say whether an enrollment window is open for a user
    /// refused for having no second factor.
    pub(super) fn passed_password(
        &self,
        identity: Identity,
        route: &Route<'_>,
        owed: Result<SecondFactor, Refusal>,
        chosen: Option<Chosen>,
        exempt: bool,
        groups: &[String],
    ) -> Result<FirstFactor, Refusal> {
        let denied = chosen.as_ref().is_some_and(Chosen::denies);
        let second_factor = match owed {
            Ok(owed) => owed,
            Err(_) if denied => SecondFactor::None,
            Err(refusal) => {
                tracing::warn!(username = %identity.username, "authentication refused: push approval is not licensed (Push Subscription inactive) and no TOTP is enrolled");
                return Err(refusal);
            }
        };
        let authorization = self
            .apply_policy(&identity, route, chosen, &second_factor, exempt)
            .map_err(|refusal| match refusal {
                Refusal::SecondFactorRequired if second_factor == SecondFactor::None => {
                    self.enroll_instead(&identity, groups).unwrap_or(refusal)
                }
                refusal => refusal,
            })?;
        Ok(FirstFactor {
            identity,
            second_factor,
            authorization,
        })
    }

    /// What the user owes after the password, and the password itself (in
    /// append mode, `typed` minus the code). `None`: append mode and no
    /// code after the password. What is owed is a refusal
    /// ([`Refusal::PushNotLicensed`]) for a user with phones only while the
    /// license has no Push Subscription; it is given after the password,
    /// like every other refusal.
    ///
    /// A user with a phone gets a push while the license's Push
    /// Subscription is active, and `typed` is the password. TOTP stays
    /// usable instead: in append mode, a password followed by a code valid
    /// now; in challenge mode, the code typed at the push's prompt.
    /// Without the subscription, TOTP as enrolled, or a refusal when there
    /// is none.
    pub(super) fn second_factor<'t>(
        &self,
        totp: Option<TotpRecord>,
        push: PushUser,
        typed: &'t str,
    ) -> Option<(&'t str, Result<SecondFactor, Refusal>)> {
        if push.devices > 0 {
            if self.push_licensed() {
                if let Some(record) = &totp
                    && record.mode.unwrap_or(self.totp_mode) == TotpMode::Append
                    && let Some((password, code)) = totp::split_appended(typed)
                    && totp::matching_step(&record.secret, code, self.clock.now()).is_some()
                {
                    // Checked again (and used up) after the password.
                    return Some((
                        password,
                        Ok(SecondFactor::Totp {
                            record: record.clone(),
                            appended_code: Some(code.to_string()),
                        }),
                    ));
                }
                let mode = push.mode.unwrap_or(self.push.mode);
                return Some((typed, Ok(SecondFactor::Push { mode, totp })));
            }
            if totp.is_none() {
                return Some((typed, Err(Refusal::PushNotLicensed)));
            }
        }
        let Some(record) = totp else {
            return Some((typed, Ok(SecondFactor::None)));
        };
        match record.mode.unwrap_or(self.totp_mode) {
            TotpMode::Challenge => Some((
                typed,
                Ok(SecondFactor::Totp {
                    record,
                    appended_code: None,
                }),
            )),
            TotpMode::Append => {
                let (password, code) = totp::split_appended(typed)?;
                Some((
                    password,
                    Ok(SecondFactor::Totp {
                        record,
                        appended_code: Some(code.to_string()),
                    }),
                ))
            }
        }
    }

    /// The license gate before a second factor is asked for: a user who
    /// would be refused is never prompted for a code. Not authoritative;
    /// [`admit`](Self::admit) decides again, atomically.
    pub async fn precheck(&self, identity: &Identity, client: &str) -> Result<(), Refusal> {
        self.precheck_at(identity, client, self.clock.now()).await
    }

    pub(super) async fn precheck_at(
        &self,
        identity: &Identity,
        client: &str,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        self.license_gate(now, &identity.username)?;
        let terms = self.license_state().terms;
        let mut standing = self.standing(identity);
        let cached = self.seats.lookup(&identity.seat, now, &self.zone);
        let cached_state = SeatState {
            active_users: cached.active_users,
            already_counted: cached.counted,
        };
        // A new user's seat budget, as full as the store says now (the
        // admission decides again under the month's lock).
        let budget = if cached.counted || standing.exempt {
            None
        } else {
            self.budget_for(identity, client).await?
        };
        if let Some(budget) = &budget {
            let used = self
                .store
                .budget_used(cached.month, &budget.name)
                .await
                .map_err(|error| self.unavailable(identity, &error))?;
            standing.budget = Some(Budget {
                used,
                size: budget.size,
            });
        }
        let admission = match decide(terms, now, cached_state, standing) {
            // The cache only knows what this process saw: ask the store
            // before turning anyone away (in a grace, a user counted by
            // another process still enters).
            Admission::LimitExceeded | Admission::BudgetExceeded | Admission::Expired
                if !terms.closed(now) =>
            {
                let seats = self.stored_seat(identity, cached.month).await?;
                decide(terms, now, seats, standing)
            }
            admission => admission,
        };
        match admission {
            Admission::AlreadyCounted | Admission::Exempt | Admission::Admit(_) => Ok(()),
            Admission::Expired => Err(self.refuse_expired(identity)),
            Admission::LimitExceeded => {
                Err(self.refuse_for_limit(identity, cached.month, now, client, None))
            }
            Admission::BudgetExceeded => Err(self.refuse_for_limit(
                identity,
                cached.month,
                now,
                client,
                budget.as_ref().map(|b| b.name.as_str()),
            )),
        }
    }

    /// The store's word on whether `identity` is counted in `month`,
    /// remembered in the seat cache.
    async fn stored_seat(&self, identity: &Identity, month: Month) -> Result<SeatState, Refusal> {
        let status = self
            .store
            .seat_status(month, &identity.seat)
            .await
            .map_err(|error| self.unavailable(identity, &error))?;
        self.seats.remember(
            month,
            &identity.seat,
            status.counted,
            status.active_users,
            &self.zone,
        );
        Ok(SeatState {
            active_users: status.active_users,
            already_counted: status.counted,
        })
    }

    /// Counts the user (once per month) and accepts, or refuses. A new user
    /// is accepted only after their seat is durably stored.
    pub async fn admit(&self, identity: &Identity, client: &str) -> Result<Admitted, Refusal> {
        self.admit_at(identity, client, self.clock.now()).await
    }

    pub(super) async fn admit_at(
        &self,
        identity: &Identity,
        client: &str,
        now: Timestamp,
    ) -> Result<Admitted, Refusal> {
        self.license_gate(now, &identity.username)?;
        let terms = self.license_state().terms;
        let standing = self.standing(identity);
        let cached = self.seats.lookup(&identity.seat, now, &self.zone);
        let seats = SeatState {
            active_users: cached.active_users,
            already_counted: cached.counted,
        };
        let mut admission = decide(terms, now, seats, standing);
        if admission == Admission::Expired && !terms.closed(now) {
            // In a grace: only a user counted this month enters, and the
            // cache only knows what this process saw.
            admission = decide(
                terms,
                now,
                self.stored_seat(identity, cached.month).await?,
                standing,
            );
        }
        match admission {
            Admission::Expired => return Err(self.refuse_expired(identity)),
            Admission::AlreadyCounted => {
                // The hot path: no database round trip, last login written
                // behind.
                self.write_behind
                    .login(cached.month, &identity.seat, now, client);
                return Ok(Admitted {
                    identity: identity.clone(),
                    newly_counted: false,
                });
            }
            Admission::Exempt => {
                return Ok(Admitted {
                    identity: identity.clone(),
                    newly_counted: false,
                });
            }
            // The cache only knows what this process saw, so it decides
            // nothing else: a new user is counted (or refused) by the store.
            Admission::Admit(_) | Admission::LimitExceeded | Admission::BudgetExceeded => {}
        }
        // Decided by the store under the verified key in force; when the
        // license row holds another key by then (installed meanwhile, or
        // altered), the license is read and verified again, and the
        // decision made again once.
        let budget = self.budget_for(identity, client).await?;
        let claim = budget.as_ref().map(|budget| BudgetClaim {
            name: budget.name.clone(),
            size: budget.size,
        });
        let mut outcome = self
            .admit_new(identity, client, now, cached.month, standing, claim.clone())
            .await?;
        if outcome == AdmitOutcome::LicenseChanged {
            self.reload_license()
                .await
                .map_err(|error| self.unavailable(identity, &error))?;
            self.license_gate(now, &identity.username)?;
            outcome = self
                .admit_new(identity, client, now, cached.month, standing, claim)
                .await?;
        }
        match outcome {
            AdmitOutcome::Counted { active_users, kind } => {
                self.seats
                    .remember(cached.month, &identity.seat, true, active_users, &self.zone);
                if kind == SeatKind::Within {
                    tracing::info!(username = %identity.username, client, active_users, "new user counted this month");
                } else {
                    tracing::warn!(username = %identity.username, client, active_users, seat = kind.as_str(), "new user counted this month past the user limit");
                }
                self.after_counted(cached.month, active_users).await;
                if let Some(budget) = &budget {
                    self.after_budget_counted(cached.month, budget).await;
                }
                Ok(Admitted {
                    identity: identity.clone(),
                    newly_counted: true,
                })
            }
            AdmitOutcome::AlreadyCounted { active_users } => {
                self.seats
                    .remember(cached.month, &identity.seat, true, active_users, &self.zone);
                Ok(Admitted {
                    identity: identity.clone(),
                    newly_counted: false,
                })
            }
            AdmitOutcome::LimitExceeded { active_users, .. } => {
                self.seats.remember(
                    cached.month,
                    &identity.seat,
                    false,
                    active_users,
                    &self.zone,
                );
                Err(self.refuse_for_limit(identity, cached.month, now, client, None))
            }
            AdmitOutcome::BudgetExceeded { active_users } => {
                self.seats.remember(
                    cached.month,
                    &identity.seat,
                    false,
                    active_users,
                    &self.zone,
                );
                Err(self.refuse_for_limit(
                    identity,
                    cached.month,
                    now,
                    client,
                    budget.as_ref().map(|b| b.name.as_str()),
                ))
            }
            AdmitOutcome::LicenseChanged => {
                tracing::error!(username = %identity.username, "authentication refused: the license row keeps changing under the admission");
                Err(Refusal::ServiceUnavailable)
            }
        }
    }

    /// One admission through the admitter, under the license in force now.
    pub(super) async fn admit_new(
        &self,
        identity: &Identity,
        client: &str,
        now: Timestamp,
        month: Month,
        standing: Standing,
        budget: Option<BudgetClaim>,
    ) -> Result<AdmitOutcome, Refusal> {
        let request = AdmitRequest {
            license: self.license_state().binding,
            month,
            day: self.zone.to_datetime(now).date().day(),
            seat: identity.seat.clone(),
            username: identity.username.to_string(),
            display_name: identity.display_name.to_string(),
            source: identity.source,
            client: client.to_string(),
            at: now,
            reserved: standing.reserved,
            budget,
        };
        match self.admitter.admit(request).await {
            Ok(outcome) => Ok(outcome),
            Err(StoreError::Altered(_)) => {
                self.damage.report(Record::Month);
                self.license_gate(now, &identity.username)?;
                Err(Refusal::LicenseDamaged)
            }
            Err(error) => Err(self.unavailable(identity, &error)),
        }
    }

    pub(super) fn refuse_expired(&self, identity: &Identity) -> Refusal {
        tracing::warn!(username = %identity.username, "{LICENSE_EXPIRED_EVENT}: authentication refused");
        Refusal::LicenseExpired
    }

    /// A new user turned away for the limit, or for the seat budget
    /// `budget`: logged, listed among the month's refused users.
    pub(super) fn refuse_for_limit(
        &self,
        identity: &Identity,
        month: Month,
        now: Timestamp,
        client: &str,
        budget: Option<&str>,
    ) -> Refusal {
        match budget {
            None => tracing::warn!(
                username = %identity.username,
                client,
                "{LICENSE_USER_LIMIT_EXCEEDED_EVENT}: {} refused",
                identity.username
            ),
            Some(budget) => tracing::warn!(
                username = %identity.username,
                client,
                budget,
                "{LICENSE_USER_LIMIT_EXCEEDED_EVENT} for seat budget {budget}: {} refused",
                identity.username
            ),
        }
        self.write_behind.refusal(RefusalRecord {
            month,
            seat: identity.seat.clone(),
            username: identity.username.to_string(),
            at: now,
            client: client.to_string(),
            attempts: 1,
        });
        budget.map_or(Refusal::UserLimitExceeded, |name| {
            Refusal::BudgetExceeded(RefusalText::budget(name))
        })
    }

    pub(super) fn unavailable(&self, identity: &Identity, error: &StoreError) -> Refusal {
        tracing::error!(username = %identity.username, %error, "authentication refused: database unavailable");
        Refusal::ServiceUnavailable
    }

    /// Whether `password` matches `hash` (remembered, or argon2 on a
    /// blocking thread); [`Busy`] when too many checks already wait.
    pub(crate) async fn verify_password(
        &self,
        username: &Username,
        password: &str,
        hash: &str,
    ) -> Result<bool, Busy> {
        if self.credentials.matches(username, hash, password) {
            return Ok(true);
        }
        let hashing = self.hashing.clone();
        let (owned_password, owned_hash) = (password.to_string(), hash.to_string());
        let verified = self
            .work
            .check(move || hashing.verify(&owned_password, &owned_hash))
            .await
            .inspect_err(|_| self.overloaded(username.as_str()))?;
        if verified {
            self.credentials.remember(username, hash, password);
        }
        Ok(verified)
    }

    /// The work of a password check, for a refusal that must not be
    /// quicker than one (unknown names); [`Busy`] when too many decoys
    /// already wait.
    pub(crate) async fn spend_decoy(&self, login: &str, password: &str) -> Result<(), Busy> {
        self.decoys
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hashing = self.hashing.clone();
        let password = password.to_string();
        self.work
            .decoy(move || hashing.verify_decoy(&password))
            .await
            .inspect_err(|_| self.overloaded(login))
    }

    /// A login dropped for overload: logged, rate-limited (the refusal
    /// is counted with the login's outcome).
    pub(super) fn overloaded(&self, login: &str) {
        if let Some(suppressed) = self.overload_log.allow() {
            tracing::warn!(username = ?login, suppressed, "authentication dropped: too many password checks waiting (overload)");
        }
    }
}
