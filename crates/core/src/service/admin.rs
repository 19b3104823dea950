//! Administrators through the service: accounts, sign-in with its limits,
//! sessions and API tokens (what they are: [`crate::admin`]).

use gatehouse_license::jiff::{SignedDuration, Timestamp};

use super::{Gatehouse, UserError};
use crate::admin::{
    ADMIN_PASSWORD_MIN_CHARS, AdminSummary, LoginError, NewSession, SESSION_LIFETIME, SETUP_ADMIN,
    SIGN_IN_WINDOW, Session, TOKEN_ID_HEX, TOKEN_PREFIX, TokenSummary, sign_in_keys, token_id,
};
use crate::identity::Username;
use crate::store::{AdminRecord, AdminRemoval, SessionRecord, StoreError, TokenRecord};
use crate::tokens::{random_token, token_hash};

impl Gatehouse {
    pub async fn add_admin(&self, name: &str, password: &str) -> Result<Username, UserError> {
        self.add_admin_marked(name, password, false).await
    }

    async fn add_admin_marked(
        &self,
        name: &str,
        password: &str,
        must_change_password: bool,
    ) -> Result<Username, UserError> {
        let name = Username::parse(name)?;
        let password_hash = self.hash_admin_password(password).await?;
        let record = AdminRecord {
            name: name.clone(),
            password_hash,
            created_at: self.now(),
            must_change_password,
        };
        match self.store().add_admin(&record).await {
            Ok(()) => {
                tracing::info!(admin = %name, "administrator added");
                self.audit(
                    "admin.add",
                    name.as_str(),
                    serde_json::json!({"must_change_password": must_change_password}),
                )
                .await;
                Ok(name)
            }
            Err(StoreError::AlreadyExists) => Err(UserError::AdminExists(name.to_string())),
            Err(error) => Err(error.into()),
        }
    }

    /// An administrator's new password, checked and hashed.
    async fn hash_admin_password(&self, password: &str) -> Result<String, UserError> {
        if password.chars().count() < ADMIN_PASSWORD_MIN_CHARS {
            return Err(UserError::WeakAdminPassword);
        }
        self.hash_password(password).await
    }

    /// On a fresh installation (no administrator yet) creates `admin` with
    /// a random password and returns it, to be shown once on the console.
    /// It must be changed at the first sign-in. `None` when an
    /// administrator exists (or another process just made one).
    pub async fn create_setup_admin(&self) -> Result<Option<String>, UserError> {
        if self.store().admin_count().await? > 0 {
            return Ok(None);
        }
        let password = random_token();
        match self.add_admin_marked(SETUP_ADMIN, &password, true).await {
            Ok(_) => Ok(Some(password)),
            Err(UserError::AdminExists(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every administrator, with their live tokens and sessions.
    pub async fn admins(&self) -> Result<Vec<AdminSummary>, StoreError> {
        let now = self.now();
        let mut summaries = Vec::new();
        for admin in self.store().admins().await? {
            let tokens = self.store().admin_tokens(&admin.name).await?;
            let sessions = self.store().admin_session_count(&admin.name, now).await?;
            summaries.push(AdminSummary {
                tokens: tokens.iter().filter(|t| !expired(t, now)).count(),
                sessions,
                name: admin.name,
                created_at: admin.created_at,
                must_change_password: admin.must_change_password,
            });
        }
        Ok(summaries)
    }

    /// Sets an administrator's password (`gatehouse admin passwd`, the
    /// API) and ends all their panel sessions.
    pub async fn set_admin_password(&self, name: &str, password: &str) -> Result<(), UserError> {
        let name = self.existing_admin(name).await?;
        let password_hash = self.hash_admin_password(password).await?;
        if !self
            .store()
            .set_admin_password(&name, &password_hash, false, None)
            .await?
        {
            return Err(missing_admin(&name));
        }
        tracing::info!(admin = %name, "administrator password set; their sessions ended");
        self.audit("admin.password", name.as_str(), serde_json::Value::Null)
            .await;
        Ok(())
    }

    /// An administrator changes their own password in the panel: the
    /// current one is asked for (counted like a sign-in, so a left-open
    /// session cannot be used to guess it), the must-change mark is
    /// cleared, and every other session of theirs ends.
    pub async fn change_own_password(
        &self,
        session_token: &str,
        current: &str,
        new: &str,
        address: std::net::IpAddr,
    ) -> Result<(), UserError> {
        let Some(session) = self.admin_session(session_token).await? else {
            return Err(UserError::Missing("session".into()));
        };
        let password_hash = self.hash_admin_password(new).await?;
        match self
            .admin_sign_in_check(session.admin.as_str(), current, address)
            .await
        {
            Ok(()) => {}
            Err(LoginError::InvalidCredentials) => return Err(UserError::WrongPassword),
            Err(error) => {
                return Err(UserError::Store(StoreError::Unavailable(error.to_string())));
            }
        }
        let keep = token_hash(session_token);
        if !self
            .store()
            .set_admin_password(&session.admin, &password_hash, false, Some(&keep))
            .await?
        {
            return Err(missing_admin(&session.admin));
        }
        tracing::info!(admin = %session.admin, "administrator changed their password; their other sessions ended");
        self.audit(
            "admin.own_password",
            session.admin.as_str(),
            serde_json::Value::Null,
        )
        .await;
        Ok(())
    }

    /// Deletes an administrator, their tokens and sessions; never the last.
    pub async fn delete_admin(&self, name: &str) -> Result<(), UserError> {
        let name = Username::parse(name)?;
        match self.store().delete_admin(&name).await? {
            AdminRemoval::Deleted => {
                tracing::info!(admin = %name, "administrator deleted with their tokens and sessions");
                self.audit("admin.delete", name.as_str(), serde_json::Value::Null)
                    .await;
                Ok(())
            }
            AdminRemoval::Missing => Err(missing_admin(&name)),
            AdminRemoval::LastOne => Err(UserError::LastAdmin(name.to_string())),
        }
    }

    /// An administrator's API tokens (never the tokens themselves).
    pub async fn admin_tokens(&self, name: &str) -> Result<Vec<TokenSummary>, UserError> {
        let name = self.existing_admin(name).await?;
        let now = self.now();
        Ok(self
            .store()
            .admin_tokens(&name)
            .await?
            .iter()
            .map(|token| TokenSummary {
                id: token_id(&token.token_hash),
                label: token.label.clone(),
                created_at: token.created_at,
                expires_at: token.expires_at,
                expired: expired(token, now),
            })
            .collect())
    }

    /// Revokes an administrator's token by its id (as listed); refused at
    /// once by every node, which look tokens up in the store on each call.
    pub async fn revoke_admin_token(&self, name: &str, id: &str) -> Result<(), UserError> {
        let name = self.existing_admin(name).await?;
        let id = id.trim().to_ascii_lowercase();
        let tokens = self.store().admin_tokens(&name).await?;
        let found = tokens
            .iter()
            .find(|token| id.len() == TOKEN_ID_HEX && token_id(&token.token_hash) == id);
        let Some(token) = found else {
            return Err(UserError::Missing(format!(
                "API token {id:?} of administrator \"{name}\" (gatehouse admin tokens {name})"
            )));
        };
        self.store()
            .delete_admin_token(&name, &token.token_hash)
            .await?;
        tracing::info!(admin = %name, token = %id, "API token revoked");
        self.audit(
            "admin.token_revoke",
            name.as_str(),
            serde_json::json!({"token": id}),
        )
        .await;
        Ok(())
    }

    /// Ends every panel session of an administrator; returns how many.
    pub async fn logout_admin(&self, name: &str) -> Result<u64, UserError> {
        let name = self.existing_admin(name).await?;
        let ended = self.store().delete_admin_sessions(&name).await?;
        tracing::info!(admin = %name, sessions = ended, "administrator signed out everywhere");
        self.audit(
            "admin.logout",
            name.as_str(),
            serde_json::json!({"sessions": ended}),
        )
        .await;
        Ok(ended)
    }

    async fn existing_admin(&self, name: &str) -> Result<Username, UserError> {
        let name = Username::parse(name)?;
        match self.store().admin(&name).await? {
            Some(_) => Ok(name),
            None => Err(missing_admin(&name)),
        }
    }

    /// Checks an administrator's password and opens a session.
    /// A panel sign-in from `address`: an attempt is reserved under the
    /// address (its /64 for IPv6) and under the username *before* the
    /// password is checked, in one transaction of the store, so concurrent
    /// attempts on any node cannot pass [`SIGN_INS_PER_ADDRESS`] or
    /// [`SIGN_INS_PER_USERNAME`] per [`SIGN_IN_WINDOW`]. A successful
    /// sign-in gives its attempts back: only failures use them up.
    pub async fn admin_sign_in(
        &self,
        name: &str,
        password: &str,
        address: std::net::IpAddr,
    ) -> Result<NewSession, LoginError> {
        self.admin_sign_in_check(name, password, address).await?;
        self.open_session(name).await
    }

    /// The password check of a sign-in, under its attempt limits (see
    /// [`admin_sign_in`](Self::admin_sign_in)).
    async fn admin_sign_in_check(
        &self,
        name: &str,
        password: &str,
        address: std::net::IpAddr,
    ) -> Result<(), LoginError> {
        let keys = sign_in_keys(name, address);
        let now = self.now();
        match self
            .store()
            .reserve_sign_in(&keys, SIGN_IN_WINDOW, now)
            .await
        {
            Ok(None) => {}
            Ok(Some((index, until))) => {
                let seconds = until.duration_since(now).as_secs().max(0) as u64 + 1;
                tracing::warn!(admin = ?name, %address, "panel sign-in refused: too many failed attempts");
                return Err(if index == 0 {
                    LoginError::TooManyFromAddress(seconds)
                } else {
                    LoginError::TooManyForAccount(seconds)
                });
            }
            Err(error) => return Err(LoginError::Unavailable(error.to_string())),
        }
        let checked = self.check_admin_password(name, password).await;
        if checked.is_ok()
            && let Err(error) = self.store().release_sign_in(&keys).await
        {
            tracing::error!(%error, "could not give back a sign-in attempt");
        }
        checked
    }

    /// Checks an administrator's password and opens a session (no attempt
    /// limit: [`admin_sign_in`](Self::admin_sign_in) is the panel's door).
    pub async fn admin_login(&self, name: &str, password: &str) -> Result<NewSession, LoginError> {
        self.check_admin_password(name, password).await?;
        self.open_session(name).await
    }

    async fn check_admin_password(&self, name: &str, password: &str) -> Result<(), LoginError> {
        let unavailable = |error: StoreError| LoginError::Unavailable(error.to_string());
        let record = match Username::parse(name) {
            Ok(name) => self.store().admin(&name).await.map_err(unavailable)?,
            Err(_) => None,
        };
        let Some(record) = record else {
            self.spend_decoy(name, password)
                .await
                .map_err(|_| LoginError::Unavailable("too many sign-ins at once".into()))?;
            tracing::info!(admin = ?name, "panel login failed");
            return Err(LoginError::InvalidCredentials);
        };
        if !self
            .verify_password(&record.name, password, &record.password_hash)
            .await
            .map_err(|_| LoginError::Unavailable("too many sign-ins at once".into()))?
        {
            tracing::info!(admin = %record.name, "panel login failed");
            return Err(LoginError::InvalidCredentials);
        }
        Ok(())
    }

    async fn open_session(&self, name: &str) -> Result<NewSession, LoginError> {
        let unavailable = |error: StoreError| LoginError::Unavailable(error.to_string());
        let name = Username::parse(name).map_err(|_| LoginError::InvalidCredentials)?;
        let record = (self.store().admin(&name).await.map_err(unavailable)?)
            .ok_or(LoginError::InvalidCredentials)?;
        let now = self.now();
        let token = random_token();
        let session = SessionRecord {
            token_hash: token_hash(&token),
            admin: record.name.clone(),
            csrf: random_token(),
            created_at: now,
            expires_at: now.checked_add(SESSION_LIFETIME).unwrap_or(Timestamp::MAX),
        };
        self.store()
            .add_session(&session)
            .await
            .map_err(unavailable)?;
        tracing::info!(admin = %record.name, "panel login");
        Ok(NewSession {
            token,
            session: Session {
                admin: session.admin,
                csrf: session.csrf,
                expires_at: session.expires_at,
                must_change_password: record.must_change_password,
            },
        })
    }

    /// The live session a cookie value belongs to (none when its
    /// administrator is gone or not authentic).
    pub async fn admin_session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let Some(record) = self.store().session(&token_hash(token)).await? else {
            return Ok(None);
        };
        if record.expires_at <= self.now() {
            self.store().delete_session(&record.token_hash).await?;
            return Ok(None);
        }
        let Some(admin) = self.store().admin(&record.admin).await? else {
            return Ok(None);
        };
        Ok(Some(Session {
            admin: record.admin,
            csrf: record.csrf,
            expires_at: record.expires_at,
            must_change_password: admin.must_change_password,
        }))
    }

    pub async fn admin_logout(&self, token: &str) -> Result<(), StoreError> {
        self.store().delete_session(&token_hash(token)).await
    }

    /// A new API token for an administrator, shown once; it expires after
    /// `lifetime` when one is given.
    pub async fn create_admin_token(
        &self,
        name: &str,
        lifetime: Option<SignedDuration>,
        label: &str,
    ) -> Result<String, UserError> {
        let name = self.existing_admin(name).await?;
        let label = label.trim();
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(UserError::BadTokenLabel);
        }
        let now = self.now();
        let token = format!("{TOKEN_PREFIX}{}", random_token());
        let record = TokenRecord {
            token_hash: token_hash(&token),
            admin: name.clone(),
            created_at: now,
            expires_at: lifetime
                .map(|lifetime| now.checked_add(lifetime).unwrap_or(Timestamp::MAX)),
            label: label.to_string(),
        };
        self.store().add_admin_token(&record).await?;
        tracing::info!(admin = %name, token = %token_id(&record.token_hash), "API token created");
        self.audit(
            "admin.token_create",
            name.as_str(),
            serde_json::json!({
                "token": token_id(&record.token_hash),
                "label": record.label,
                "expires_at": record.expires_at.map(|at| at.to_string()),
            }),
        )
        .await;
        Ok(token)
    }

    /// The administrator an unexpired API token belongs to.
    pub async fn admin_for_token(&self, token: &str) -> Result<Option<Username>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some(record) = self.store().admin_token(&token_hash(token)).await? else {
            return Ok(None);
        };
        if expired(&record, self.now()) {
            return Ok(None);
        }
        Ok(Some(record.admin))
    }
}

fn expired(token: &TokenRecord, now: Timestamp) -> bool {
    token.expires_at.is_some_and(|at| at <= now)
}

fn missing_admin(name: &Username) -> UserError {
    UserError::Missing(format!("administrator \"{name}\""))
}
