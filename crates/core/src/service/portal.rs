//! The user portal through the service (SPEC §17; the rules are
//! [`crate::portal`]): signing in with the password and a second factor
//! (or the password alone to enroll, while a window is open), a user's own
//! factors, enrolling TOTP (confirmed by a code) and phones, removing a
//! lost phone. Nothing here counts a seat: the portal is not a gateway.

use std::net::IpAddr;

use gatehouse_license::jiff::Timestamp;

use super::{Gatehouse, TOTP_ISSUER, TotpEnrollment};
use crate::admin::{SIGN_IN_WINDOW, door_keys};
use crate::directory::Resolution;
use crate::identity::{Identity, Username};
use crate::outcome::Refusal;
use crate::policy::group_keys;
use crate::portal::{
    Action, ENROLLMENT_DAY, ENROLLMENTS_PER_DAY, PORTAL_SESSION_LIFETIME, PortalError, PortalScope,
    allowed, may_remove,
};
use crate::push::EnrollmentToken;
use crate::store::{AttemptKey, PortalSessionRecord, PushUser, TotpRecord};
use crate::tokens::{random_token, token_hash};
use crate::totp::{self, TotpSecret};

/// The client name portal pushes show on the phone.
pub const PORTAL_CLIENT: &str = "Gatehouse user portal";

/// The sign-in limits' keys of the portal (apart from the panel's).
const PORTAL_DOOR: &str = "portal.";

/// A user who passed the password on the portal.
struct Checked {
    identity: Identity,
    groups: Vec<String>,
    totp: Option<TotpRecord>,
    push: PushUser,
}

/// A new portal session: the cookie value is shown once, to the browser.
pub struct NewPortalSession {
    pub token: String,
    pub session: PortalSessionRecord,
}

impl std::fmt::Debug for NewPortalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPortalSession")
            .field("token", &"<secret>")
            .field("session", &self.session)
            .finish()
    }
}

/// A user's own second factors, as the portal shows them.
#[derive(Debug, Clone)]
pub struct PortalFactors {
    /// When TOTP was enrolled, if it is, and last used.
    pub totp: Option<(Timestamp, Option<Timestamp>)>,
    /// Their phones.
    pub phones: Vec<PortalPhone>,
    /// A TOTP secret shown and not yet confirmed.
    pub pending: Option<TotpEnrollment>,
    /// Whether a second factor is required of them.
    pub required: bool,
}

/// One of a user's phones.
#[derive(Debug, Clone)]
pub struct PortalPhone {
    pub id: String,
    pub label: String,
    pub enrolled_at: Timestamp,
    /// Its last answer to a push still remembered.
    pub last_used: Option<Timestamp>,
}

impl PortalFactors {
    pub fn count(&self) -> usize {
        usize::from(self.totp.is_some()) + self.phones.len()
    }
}

impl Gatehouse {
    /// A portal sign-in from `address`: an attempt is reserved under the
    /// address and the name (the portal's own keys, atomic across nodes)
    /// before the password is checked; a wrong password counts toward the
    /// user's lockout as a RADIUS login's does. A user with TOTP gives a
    /// current code (used up, as at a login); one with phones only and an
    /// empty code approves a push; one with neither signs in to enroll
    /// only, while a window is open for them. Never counts a seat.
    pub async fn portal_sign_in(
        &self,
        login: &str,
        password: &str,
        code: &str,
        address: IpAddr,
    ) -> Result<NewPortalSession, PortalError> {
        let keys = door_keys(PORTAL_DOOR, login, address);
        self.reserve(&keys, SIGN_IN_WINDOW, login, address).await?;
        let scope = self
            .portal_factor_check(login, password, code.trim(), address)
            .await?;
        if let Err(error) = self.store.release_sign_in(&keys).await {
            tracing::error!(%error, "could not give back a portal sign-in attempt");
        }
        let (identity, scope) = scope;
        let now = self.clock.now();
        let token = random_token();
        let session = PortalSessionRecord {
            token_hash: token_hash(&token),
            identity,
            scope,
            csrf: random_token(),
            created_at: now,
            expires_at: now + PORTAL_SESSION_LIFETIME,
            pending_totp: None,
        };
        self.store.add_portal_session(&session).await?;
        crate::audit::set_who(portal_actor(&session.identity));
        tracing::info!(username = %session.identity.username, %address, scope = scope.as_str(), "portal sign-in");
        self.audit(
            "portal.sign_in",
            &session.identity.username,
            serde_json::json!({"scope": scope.as_str()}),
        )
        .await;
        Ok(NewPortalSession { token, session })
    }

    /// Reserves one attempt under each of `keys`, or says how long to wait.
    async fn reserve(
        &self,
        keys: &[AttemptKey],
        window: std::time::Duration,
        login: &str,
        address: IpAddr,
    ) -> Result<(), PortalError> {
        let now = self.clock.now();
        match self.store.reserve_sign_in(keys, window, now).await? {
            None => Ok(()),
            Some((index, until)) => {
                let seconds = until.duration_since(now).as_secs().max(0) as u64 + 1;
                tracing::warn!(username = ?login, %address, "portal refused: too many attempts");
                Err(if index == 0 {
                    PortalError::TooManyFromAddress(seconds)
                } else {
                    PortalError::TooManyForAccount(seconds)
                })
            }
        }
    }

    /// The password, then the factor: who signed in, and for what.
    async fn portal_factor_check(
        &self,
        login: &str,
        password: &str,
        code: &str,
        address: IpAddr,
    ) -> Result<(Identity, PortalScope), PortalError> {
        let checked = self.portal_password(login, password).await?;
        let identity = checked.identity;
        if let Some(record) = &checked.totp
            && !code.is_empty()
        {
            let outcome = self.check_totp(&identity, record, code).await;
            self.second_factor_outcome(&identity, outcome.err(), outcome.is_ok())
                .await;
            outcome?;
            return Ok((identity, PortalScope::Full));
        }
        if checked.push.devices > 0 && code.is_empty() {
            if !self.push_licensed() {
                return Err(PortalError::PushNotLicensed);
            }
            let source = address.to_string();
            let push = self
                .start_push(&identity, PORTAL_CLIENT, Some(&source), self.push.timeout)
                .await
                .map_err(|error| match error {
                    super::StartPushError::Limited(crate::store::PushLimited::Waiting) => {
                        PortalError::Refused(Refusal::PushTooMany)
                    }
                    super::StartPushError::Limited(_) => {
                        PortalError::Refused(Refusal::PushHourlyLimit)
                    }
                    super::StartPushError::Store(error) => error.into(),
                })?;
            tracing::info!(username = %identity.username, push = %push.id, "portal sign-in: push sent");
            self.wake_phones(&push).await;
            let outcome = self.await_push(&identity, &push, self.push.timeout).await;
            self.second_factor_outcome(&identity, outcome.err(), outcome.is_ok())
                .await;
            outcome?;
            return Ok((identity, PortalScope::Full));
        }
        if checked.totp.is_some() || checked.push.devices > 0 {
            return Err(PortalError::CodeRequired);
        }
        // No factor: enrolling only, and only inside a window.
        match self.window_for(&identity, &checked.groups) {
            Some(window) => {
                tracing::info!(username = %identity.username, scope = %window.scope, "portal sign-in to enroll (window open)");
                Ok((identity, PortalScope::Enroll))
            }
            None => {
                tracing::info!(username = %identity.username, "portal sign-in refused: no second factor and no enrollment window");
                Err(PortalError::NoWindow)
            }
        }
    }

    /// The password of `login`, resolved as a RADIUS login resolves it
    /// (the local account first, then the directory): unknown, disabled
    /// and wrong alike, after the same work; a locked-out user refused
    /// before the password is checked.
    async fn portal_password(&self, login: &str, password: &str) -> Result<Checked, PortalError> {
        let now = self.clock.now();
        self.license_gate(now, &login)?;
        let Ok(username) = Username::parse(login) else {
            self.spend_decoy(login, password).await?;
            return Err(PortalError::InvalidCredentials);
        };
        if let Some(account) = self.accounts.get(self.store.as_ref(), &username).await? {
            let identity = account.identity.clone();
            self.refuse_if_locked(&identity, now)?;
            if !self
                .verify_password(&username, password, &account.user.password_hash)
                .await?
            {
                tracing::info!(username = %username, "portal sign-in failed: wrong password");
                self.wrong_password(&identity, password).await;
                return Err(PortalError::InvalidCredentials);
            }
            if !account.user.enabled {
                tracing::info!(username = %username, "portal sign-in failed: account disabled");
                return Err(PortalError::InvalidCredentials);
            }
            let groups = account.user.groups.iter().map(|group| group.as_str());
            return Ok(Checked {
                identity,
                groups: group_keys("local", groups),
                totp: account.totp.clone(),
                push: account.push,
            });
        }
        let Some(directory) = &self.directory else {
            self.spend_decoy(login, password).await?;
            return Err(PortalError::InvalidCredentials);
        };
        let entry = match directory.resolve(login).await {
            Ok(Resolution::Found(entry)) if !entry.disabled && entry.allowed => entry,
            Ok(_) => {
                self.spend_decoy(login, password).await?;
                tracing::info!(username = ?login, "portal sign-in failed: no such directory user may log in");
                return Err(PortalError::InvalidCredentials);
            }
            Err(error) => {
                tracing::error!(username = ?login, %error, "portal sign-in failed: directory unavailable");
                return Err(PortalError::Unavailable);
            }
        };
        let identity = entry.identity();
        self.refuse_if_locked(&identity, now)?;
        if password.is_empty() {
            return Err(PortalError::InvalidCredentials);
        }
        match directory.check_password(&entry, password).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(username = %identity.username, "portal sign-in failed: wrong password");
                self.wrong_password(&identity, password).await;
                return Err(PortalError::InvalidCredentials);
            }
            Err(error) => {
                tracing::error!(username = %identity.username, %error, "portal sign-in failed: directory unavailable");
                return Err(PortalError::Unavailable);
            }
        }
        let (totp, push) = tokio::try_join!(
            self.store.totp(&identity.seat),
            self.store.push_user(&identity.seat)
        )?;
        let groups = self.directory_groups(directory.as_ref(), &entry).await?;
        Ok(Checked {
            groups: group_keys(&entry.directory, groups.iter().map(String::as_str)),
            identity,
            totp,
            push,
        })
    }

    /// The unexpired session `token` opens; its user is who the request's
    /// changes are recorded under.
    pub async fn portal_session(&self, token: &str) -> Result<PortalSessionRecord, PortalError> {
        let session = self
            .store
            .portal_session(&token_hash(token))
            .await?
            .filter(|session| session.expires_at > self.clock.now())
            .ok_or(PortalError::SessionEnded)?;
        crate::audit::set_who(portal_actor(&session.identity));
        Ok(session)
    }

    /// Ends a portal session.
    pub async fn portal_sign_out(&self, session: &PortalSessionRecord) -> Result<(), PortalError> {
        self.store
            .delete_portal_session(&session.token_hash)
            .await?;
        self.audit(
            "portal.sign_out",
            &session.identity.username,
            serde_json::Value::Null,
        )
        .await;
        Ok(())
    }

    /// The session user's own second factors.
    pub async fn portal_factors(
        &self,
        session: &PortalSessionRecord,
    ) -> Result<PortalFactors, PortalError> {
        let seat = &session.identity.seat;
        let (mut factors, uses) = tokio::try_join!(self.own_factors(session), async {
            Ok(self.store.factor_uses(seat.as_str()).await?)
        })?;
        if let Some((_, used)) = &mut factors.totp {
            *used = uses.totp;
        }
        for phone in &mut factors.phones {
            phone.last_used = uses
                .phones
                .iter()
                .find(|(device, _)| *device == phone.id)
                .map(|(_, at)| *at);
        }
        Ok(factors)
    }

    /// The session user's factors as they are in the store, without when
    /// they were last used (what a permission check needs).
    async fn own_factors(
        &self,
        session: &PortalSessionRecord,
    ) -> Result<PortalFactors, PortalError> {
        let seat = &session.identity.seat;
        let (totp, phones) = tokio::try_join!(self.store.totp(seat), self.store.devices(seat))?;
        Ok(PortalFactors {
            totp: totp.map(|record| (record.enrolled_at, None)),
            phones: phones
                .into_iter()
                .map(|phone| PortalPhone {
                    last_used: None,
                    id: phone.id,
                    label: phone.label,
                    enrolled_at: phone.created_at,
                })
                .collect(),
            pending: session
                .pending_totp
                .as_ref()
                .map(|secret| self.totp_enrollment(&session.identity, secret.clone())),
            required: self.mfa.required,
        })
    }

    fn totp_enrollment(&self, identity: &Identity, secret: TotpSecret) -> TotpEnrollment {
        TotpEnrollment {
            uri: secret.otpauth_uri(TOTP_ISSUER, &identity.username),
            secret,
            mode: self.totp_mode,
        }
    }

    /// Checks that `session` may `action` now, for the user's factors as
    /// they are in the store.
    async fn portal_may(
        &self,
        session: &PortalSessionRecord,
        action: Action,
    ) -> Result<PortalFactors, PortalError> {
        let factors = self.own_factors(session).await?;
        allowed(session.scope, action, factors.count())?;
        Ok(factors)
    }

    /// One of the user's enrollments for the day, atomic across nodes.
    async fn spend_enrollment(&self, identity: &Identity) -> Result<(), PortalError> {
        let key = AttemptKey {
            key: format!("portal.enroll:{}", identity.seat.as_str()),
            limit: ENROLLMENTS_PER_DAY,
        };
        let now = self.clock.now();
        match self
            .store
            .reserve_sign_in(std::slice::from_ref(&key), ENROLLMENT_DAY, now)
            .await?
        {
            None => Ok(()),
            Some(_) => {
                tracing::warn!(username = %identity.username, "portal enrollment refused: too many today");
                Err(PortalError::TooManyEnrollments)
            }
        }
    }

    /// Makes a TOTP secret for the session's user to scan; it takes effect
    /// only once confirmed with a code ([`portal_confirm_totp`](Self::portal_confirm_totp)).
    pub async fn portal_start_totp(
        &self,
        session: &PortalSessionRecord,
    ) -> Result<TotpEnrollment, PortalError> {
        self.portal_may(session, Action::Enroll).await?;
        self.spend_enrollment(&session.identity).await?;
        let secret = TotpSecret::generate();
        if !self
            .store
            .set_portal_pending_totp(
                &session.token_hash,
                session.identity.seat.as_str(),
                Some(&secret),
            )
            .await?
        {
            return Err(PortalError::SessionEnded);
        }
        self.audit(
            "portal.totp_start",
            &session.identity.username,
            serde_json::Value::Null,
        )
        .await;
        Ok(self.totp_enrollment(&session.identity, secret))
    }

    /// Confirms the pending TOTP secret with a current code: it replaces
    /// the user's TOTP (the code's time step is used up). An enroll-only
    /// session ends here: from now on the user signs in with the code.
    /// `true`: the session ended.
    pub async fn portal_confirm_totp(
        &self,
        session: &PortalSessionRecord,
        code: &str,
    ) -> Result<bool, PortalError> {
        let identity = &session.identity;
        self.portal_may(session, Action::Enroll).await?;
        let secret = session
            .pending_totp
            .clone()
            .ok_or(PortalError::NothingPending)?;
        let now = self.clock.now();
        let Some(step) = totp::matching_step(&secret, code.trim(), now) else {
            tracing::info!(username = %identity.username, "portal: TOTP not confirmed (wrong code)");
            return Err(PortalError::WrongCode);
        };
        let record = TotpRecord {
            seat: identity.seat.clone(),
            secret,
            mode: None,
            enrolled_at: now,
        };
        let enrolled = self.store.enroll_totp(&record).await;
        self.accounts.changed(self.store.as_ref()).await;
        enrolled?;
        self.store.use_totp_step(&identity.seat, step).await?;
        tracing::info!(username = %identity.username, seat = identity.seat.as_str(), "TOTP enrolled by the user (portal)");
        self.audit(
            "portal.totp_enroll",
            &identity.username,
            serde_json::Value::Null,
        )
        .await;
        if session.scope == PortalScope::Enroll {
            self.store
                .delete_portal_session(&session.token_hash)
                .await?;
            return Ok(true);
        }
        self.store
            .set_portal_pending_totp(&session.token_hash, identity.seat.as_str(), None)
            .await?;
        Ok(false)
    }

    /// A one-time link enrolling a phone for the session's user (the same
    /// link an administrator makes): the link's secret is shown once.
    pub async fn portal_phone_link(
        &self,
        session: &PortalSessionRecord,
    ) -> Result<(EnrollmentToken, String), PortalError> {
        self.portal_may(session, Action::Enroll).await?;
        if !self.push_licensed() {
            return Err(PortalError::PushNotLicensed);
        }
        self.spend_enrollment(&session.identity).await?;
        let (token, secret) =
            self.push_enrollment_for(&session.identity)
                .await
                .map_err(|error| match error {
                    super::PushError::Store(error) => PortalError::from(error),
                    other => {
                        tracing::error!(error = %other, "portal: phone link failed");
                        PortalError::Unavailable
                    }
                })?;
        Ok((token, secret))
    }

    /// Removes one of the user's own phones (another user's id is no such
    /// phone); never the last factor of a user who must have one.
    pub async fn portal_remove_phone(
        &self,
        session: &PortalSessionRecord,
        device: &str,
    ) -> Result<(), PortalError> {
        let identity = &session.identity;
        let factors = self.portal_may(session, Action::Manage).await?;
        if !factors.phones.iter().any(|phone| phone.id == device) {
            tracing::warn!(username = %identity.username, device, "portal: removal of a phone that is not the user's refused");
            return Err(PortalError::NoSuchPhone);
        }
        let exempt = self.portal_exempt(identity).await?;
        may_remove(factors.count(), factors.required, exempt)?;
        self.remove_push_device(device).await?;
        tracing::info!(username = %identity.username, device, "phone removed by the user (portal)");
        Ok(())
    }

    /// Whether the user may log in without a second factor (a local user
    /// marked exempt, a directory user in `mfa.exempt_groups`).
    async fn portal_exempt(&self, identity: &Identity) -> Result<bool, PortalError> {
        if let Some(exempt) = self.local_exempt(&identity.seat).await? {
            return Ok(exempt);
        }
        match self.directory_user(&identity.username).await {
            Ok(entry) if entry.identity().seat == identity.seat => {
                Ok(entry.in_groups(&self.mfa.exempt_groups))
            }
            Ok(_) => Ok(false),
            Err(super::DirectoryUserError::Store(error)) => Err(error.into()),
            Err(error) => {
                tracing::error!(%error, "portal: could not read the directory entry");
                Err(PortalError::Unavailable)
            }
        }
    }
}

/// Who a portal session's changes are recorded under.
fn portal_actor(identity: &Identity) -> String {
    format!("user:{}", identity.username)
}

/// Who an enrollment invitation was queued for, and who was passed over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invitations {
    /// `name <address>`, one per invitation queued.
    pub sent: Vec<String>,
    /// Users with no address to send to.
    pub without_address: Vec<String>,
    /// Users who already have a second factor (not invited).
    pub enrolled: Vec<String>,
}

/// Why invitations were not sent.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error(
        "set http.public_url (or push.public_url) first: the invitation tells users that address"
    )]
    NoPortal,
    #[error("no enrollment window is open for {0}")]
    NoWindow(crate::enrollment::WindowScope),
    #[error(
        "{0}: a directory group's members cannot be listed; invite its users one by one (gatehouse enroll open USER --email)"
    )]
    DirectoryGroup(String),
    #[error("no local or directory user is named {0:?}")]
    UnknownUser(String),
    #[error(transparent)]
    Directory(#[from] super::DirectoryUserError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl Gatehouse {
    /// Emails an invitation to enroll to every user the open window for
    /// `scope` covers who has no second factor yet: a user (local, with
    /// their email address; or directory, with its `mail`), a local
    /// group's members, or every local user. Sent through the alarm
    /// outbox (retried while the mail server is down), once per user and
    /// window.
    pub async fn invite_to_enroll(
        &self,
        scope: &crate::enrollment::WindowScope,
    ) -> Result<Invitations, InviteError> {
        use crate::enrollment::WindowScope;
        let portal = self.portal_url.clone().ok_or(InviteError::NoPortal)?;
        let now = self.clock.now();
        let window = self
            .enrollment_windows()
            .await?
            .into_iter()
            .find(|window| &window.scope == scope && window.is_open(now))
            .ok_or_else(|| InviteError::NoWindow(scope.clone()))?;
        // (identity, address) of everyone the window covers.
        let mut invitees: Vec<(Identity, Option<String>)> = Vec::new();
        match scope {
            WindowScope::User(name) => {
                let username =
                    Username::parse(name).map_err(|_| InviteError::UnknownUser(name.clone()))?;
                if let Some(account) = self.accounts.get(self.store.as_ref(), &username).await? {
                    let email = self.store.local_user_email(&username).await?;
                    invitees.push((account.identity.clone(), email));
                } else {
                    match self.directory_user(name).await {
                        Ok(entry) => invitees.push((entry.identity(), entry.mail.clone())),
                        Err(
                            super::DirectoryUserError::NotConfigured
                            | super::DirectoryUserError::NotFound(_),
                        ) => {
                            return Err(InviteError::UnknownUser(name.clone()));
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
            }
            WindowScope::Group(key) => {
                let Some(group) = key.strip_prefix("local:") else {
                    return Err(InviteError::DirectoryGroup(key.clone()));
                };
                let members = self
                    .local_group_members(group)
                    .await
                    .map_err(|_| InviteError::UnknownUser(key.clone()))?;
                for member in members {
                    self.push_local_invitee(&mut invitees, &member).await?;
                }
            }
            WindowScope::Everyone => {
                for user in self.store.local_users().await? {
                    self.push_local_invitee(&mut invitees, &user.username)
                        .await?;
                }
            }
        }
        let mut invitations = Invitations::default();
        let closes = window
            .closes_at
            .to_zoned_datetime(self.zone.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string();
        let mut mails = Vec::new();
        for (identity, address) in invitees {
            let (totp, push) = tokio::try_join!(
                self.store.totp(&identity.seat),
                self.store.push_user(&identity.seat)
            )?;
            if totp.is_some() || push.devices > 0 {
                invitations.enrolled.push(identity.username.to_string());
                continue;
            }
            let Some(address) = address.filter(|address| crate::alarms::is_email(address)) else {
                invitations
                    .without_address
                    .push(identity.username.to_string());
                continue;
            };
            invitations
                .sent
                .push(format!("{} <{address}>", identity.username));
            mails.push(crate::store::NewAlarm {
                key: format!(
                    "enrollment:{}:{}",
                    identity.seat.as_str(),
                    window.opens_at.as_microsecond()
                ),
                kind: gatehouse_license::alarms::AlarmKind::Enrollment,
                subject: "Enroll a second factor for network logins".into(),
                body: invitation(&identity, &portal, &closes),
                recipients: vec![address],
                created_at: now,
                superseded: false,
            });
        }
        if !mails.is_empty() {
            self.store.fire_alarms(&mails).await?;
            self.alarms.queued.notify_one();
        }
        tracing::info!(
            window = %window.scope,
            sent = invitations.sent.len(),
            without_address = invitations.without_address.len(),
            "enrollment invitations queued"
        );
        self.audit(
            "enrollment.invite",
            &window.scope.to_string(),
            serde_json::json!({"sent": invitations.sent.len(), "without_address": invitations.without_address}),
        )
        .await;
        Ok(invitations)
    }

    async fn push_local_invitee(
        &self,
        invitees: &mut Vec<(Identity, Option<String>)>,
        username: &Username,
    ) -> Result<(), InviteError> {
        if let Some(account) = self.accounts.get(self.store.as_ref(), username).await? {
            let email = self.store.local_user_email(username).await?;
            invitees.push((account.identity.clone(), email));
        }
        Ok(())
    }
}

/// The invitation's text: where to go, until when, as whom.
fn invitation(identity: &Identity, portal: &str, closes: &str) -> String {
    format!(
        "Hello {display},\n\n\
         You are asked to enroll a second factor for logging in to the network\n\
         (VPN, Wi-Fi): an authenticator app or your phone.\n\n\
         Open {portal}/my/ before {closes}, sign in with your username\n\
         ({username}) and your password, leave the code empty, and follow the\n\
         steps there. After that, logging in asks for your second factor too.\n\n\
         If you did not expect this message, tell your administrator; do not\n\
         enter your password anywhere else.\n",
        display = identity.display_name,
        username = identity.username,
    )
}
