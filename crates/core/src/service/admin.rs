//! Administrators through the service: accounts, sign-in with its limits,
//! sessions and API tokens (what they are: [`crate::admin`]).

use gatehouse_license::jiff::Timestamp;

use super::{Gatehouse, UserError};
use crate::admin::{
    LoginError, NewSession, SESSION_LIFETIME, SETUP_ADMIN, SIGN_IN_WINDOW, Session, TOKEN_PREFIX,
    sign_in_keys,
};
use crate::identity::Username;
use crate::store::{AdminRecord, SessionRecord, StoreError};
use crate::tokens::{random_token, token_hash};

impl Gatehouse {
    pub async fn add_admin(&self, name: &str, password: &str) -> Result<Username, UserError> {
        let name = Username::parse(name)?;
        let password_hash = self.hash_password(password).await?;
        let record = AdminRecord {
            name: name.clone(),
            password_hash,
            created_at: self.now(),
        };
        match self.store().add_admin(&record).await {
            Ok(()) => {
                tracing::info!(admin = %name, "administrator added");
                Ok(name)
            }
            Err(StoreError::AlreadyExists) => Err(UserError::AlreadyExists(name.to_string())),
            Err(error) => Err(error.into()),
        }
    }

    /// On a fresh installation (no administrator yet) creates `admin` with
    /// a random password and returns it, to be shown once on the console.
    /// `None` when an administrator exists (or another process just made
    /// one).
    pub async fn create_setup_admin(&self) -> Result<Option<String>, UserError> {
        if self.store().admin_count().await? > 0 {
            return Ok(None);
        }
        let password = random_token();
        match self.add_admin(SETUP_ADMIN, &password).await {
            Ok(_) => Ok(Some(password)),
            Err(UserError::AlreadyExists(_)) => Ok(None),
            Err(error) => Err(error),
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
        let signed_in = self.admin_login(name, password).await;
        if signed_in.is_ok()
            && let Err(error) = self.store().release_sign_in(&keys).await
        {
            tracing::error!(%error, "could not give back a sign-in attempt");
        }
        signed_in
    }

    /// Checks an administrator's password and opens a session (no attempt
    /// limit: [`admin_sign_in`](Self::admin_sign_in) is the panel's door).
    pub async fn admin_login(&self, name: &str, password: &str) -> Result<NewSession, LoginError> {
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
            },
        })
    }

    /// The live session a cookie value belongs to.
    pub async fn admin_session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let Some(record) = self.store().session(&token_hash(token)).await? else {
            return Ok(None);
        };
        if record.expires_at <= self.now() {
            self.store().delete_session(&record.token_hash).await?;
            return Ok(None);
        }
        Ok(Some(Session {
            admin: record.admin,
            csrf: record.csrf,
            expires_at: record.expires_at,
        }))
    }

    pub async fn admin_logout(&self, token: &str) -> Result<(), StoreError> {
        self.store().delete_session(&token_hash(token)).await
    }

    /// A new API token for an administrator, shown once.
    pub async fn create_admin_token(&self, name: &str) -> Result<String, UserError> {
        let name = Username::parse(name)?;
        if self.store().admin(&name).await?.is_none() {
            return Err(UserError::NotFound(name.to_string()));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_token());
        self.store()
            .add_admin_token(&token_hash(&token), &name, self.now())
            .await?;
        tracing::info!(admin = %name, "API token created");
        Ok(token)
    }

    /// The administrator an API token belongs to.
    pub async fn admin_for_token(&self, token: &str) -> Result<Option<Username>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        self.store().admin_for_token(&token_hash(token)).await
    }
}
