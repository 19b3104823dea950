//! Local users, their TOTP enrollment and the RADIUS clients kept in the
//! store, through the service (each change drops the in-memory accounts
//! copy so the next login reads it again).

use super::{Gatehouse, Removed, UserError};
use crate::clients::{ClientError, RadiusClient};
use crate::identity::{SeatKey, Username};
use crate::store::{
    GroupEdit, LocalGroup, LocalGroupName, LocalUserRecord, StoreError, TotpRecord,
};
use crate::totp::{TotpMode, TotpSecret};
use crate::work::Busy;

/// Why a RADIUS client was not added.
#[derive(Debug, thiserror::Error)]
pub enum ClientAddError {
    #[error(transparent)]
    Invalid(#[from] ClientError),
    #[error("a RADIUS client named {0:?} already exists")]
    AlreadyExists(String),
    #[error(transparent)]
    Store(StoreError),
}

/// Issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "Gatehouse";

/// A fresh TOTP enrollment, shown to the user once.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    pub secret: TotpSecret,
    /// `otpauth://` URI for the QR code.
    pub uri: String,
    /// The mode the user will log in with.
    pub mode: TotpMode,
}

impl Gatehouse {
    pub async fn add_local_user(&self, name: &str, password: &str) -> Result<Username, UserError> {
        self.add_local_user_with(name, password, false, &[] as &[&str])
            .await
    }

    /// Adds a local user who, with `second_factor_exempt`, logs in without
    /// a second factor (SPEC §12), in `groups` (which must exist): the
    /// exemption and the groups are in the row (and its tag) from the
    /// start, never a second write after it.
    pub async fn add_local_user_with<S: AsRef<str>>(
        &self,
        name: &str,
        password: &str,
        second_factor_exempt: bool,
        groups: &[S],
    ) -> Result<Username, UserError> {
        let username = Username::parse(name)?;
        let groups = group_names(groups)?;
        let password_hash = self.hash_password(password).await?;
        let record = LocalUserRecord {
            username: username.clone(),
            display_name: name.to_string(),
            password_hash,
            enabled: true,
            second_factor_exempt,
            groups,
            created_at: self.clock.now(),
        };
        let added = self.store.add_local_user(&record).await;
        self.accounts.changed(self.store.as_ref()).await;
        match added {
            Ok(()) => {
                if second_factor_exempt {
                    tracing::info!(username = %username, "local user added, exempt from the second factor");
                }
                let groups: Vec<&str> = record.groups.iter().map(|g| g.as_str()).collect();
                self.audit(
                    "local_user.add",
                    username.as_str(),
                    serde_json::json!({"second_factor_exempt": second_factor_exempt, "groups": groups}),
                )
                .await;
                Ok(username)
            }
            Err(StoreError::AlreadyExists) => Err(UserError::AlreadyExists(username.to_string())),
            Err(error) => Err(error.into()),
        }
    }

    /// Whether a local user named `name` (in any spelling) exists.
    pub async fn local_user_exists(&self, name: &str) -> Result<bool, UserError> {
        let username = Username::parse(name)?;
        Ok(self.store.local_user(&username).await?.is_some())
    }

    pub async fn set_local_user_enabled(&self, name: &str, enabled: bool) -> Result<(), UserError> {
        let username = Username::parse(name)?;
        let changed = self.store.set_local_user_enabled(&username, enabled).await;
        self.accounts.changed(self.store.as_ref()).await;
        if changed? {
            let action = if enabled {
                "local_user.enable"
            } else {
                "local_user.disable"
            };
            self.audit(action, username.as_str(), serde_json::Value::Null)
                .await;
            Ok(())
        } else {
            Err(UserError::NotFound(username.to_string()))
        }
    }

    pub async fn set_local_user_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<(), UserError> {
        let username = Username::parse(name)?;
        let password_hash = self.hash_password(password).await?;
        let changed = self
            .store
            .set_local_user_password(&username, &password_hash)
            .await;
        self.accounts.changed(self.store.as_ref()).await;
        if changed? {
            self.audit(
                "local_user.password",
                username.as_str(),
                serde_json::Value::Null,
            )
            .await;
            Ok(())
        } else {
            Err(UserError::NotFound(username.to_string()))
        }
    }

    /// Deletes the account. Its seat this month stays counted (SPEC §3).
    pub async fn delete_local_user(&self, name: &str) -> Result<(), UserError> {
        let username = Username::parse(name)?;
        let deleted = self.store.delete_local_user(&username).await;
        self.accounts.changed(self.store.as_ref()).await;
        if deleted? {
            self.audit(
                "local_user.delete",
                username.as_str(),
                serde_json::Value::Null,
            )
            .await;
            Ok(())
        } else {
            Err(UserError::NotFound(username.to_string()))
        }
    }

    pub async fn local_users(&self) -> Result<Vec<LocalUserRecord>, StoreError> {
        self.store.local_users().await
    }

    /// Changes the groups a local user is in (a group joined must exist).
    pub async fn edit_local_user_groups(
        &self,
        name: &str,
        edit: &GroupEdit,
    ) -> Result<(), UserError> {
        let username = Username::parse(name)?;
        let changed = self.store.edit_local_user_groups(&username, edit).await;
        self.accounts.changed(self.store.as_ref()).await;
        if changed? {
            tracing::info!(username = %username, edit = ?edit, "local user's groups changed");
            let detail = match edit {
                GroupEdit::Set(groups) => {
                    serde_json::json!({"set": groups.iter().map(|g| g.as_str()).collect::<Vec<_>>()})
                }
                GroupEdit::Join(group) => serde_json::json!({"join": group.as_str()}),
                GroupEdit::Leave(group) => serde_json::json!({"leave": group.as_str()}),
            };
            self.audit("local_user.groups", username.as_str(), detail)
                .await;
            Ok(())
        } else {
            Err(UserError::NotFound(username.to_string()))
        }
    }

    /// Makes an empty local group.
    pub async fn add_local_group(&self, name: &str) -> Result<LocalGroupName, UserError> {
        let name = LocalGroupName::parse(name).map_err(UserError::BadGroup)?;
        match self.store.add_local_group(&name, self.clock.now()).await {
            Ok(()) => {
                tracing::info!(group = %name, "local group added");
                self.audit("group.add", name.as_str(), serde_json::Value::Null)
                    .await;
                Ok(name)
            }
            Err(StoreError::AlreadyExists) => Err(UserError::GroupExists(name.to_string())),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes a local group; its members stay, in their other groups.
    pub async fn delete_local_group(&self, name: &str) -> Result<(), UserError> {
        let name = LocalGroupName::parse(name).map_err(UserError::BadGroup)?;
        let deleted = self.store.delete_local_group(&name).await;
        self.accounts.changed(self.store.as_ref()).await;
        if deleted? {
            tracing::info!(group = %name, "local group deleted");
            self.audit("group.delete", name.as_str(), serde_json::Value::Null)
                .await;
            Ok(())
        } else {
            Err(UserError::Missing(format!(
                "local group {:?}",
                name.as_str()
            )))
        }
    }

    /// The local groups, each with its members (by name).
    pub async fn local_groups(&self) -> Result<Vec<(LocalGroup, Vec<Username>)>, StoreError> {
        let groups = self.store.local_groups().await?;
        let users = self.store.local_users().await?;
        Ok(groups
            .into_iter()
            .map(|group| {
                let members = users
                    .iter()
                    .filter(|user| user.groups.contains(&group.name))
                    .map(|user| user.username.clone())
                    .collect();
                (group, members)
            })
            .collect())
    }

    /// The members of one local group.
    /// A local user's email address (where an enrollment invitation goes).
    pub async fn local_user_email(&self, name: &str) -> Result<Option<String>, UserError> {
        let username = Username::parse(name)?;
        if self.store.local_user(&username).await?.is_none() {
            return Err(UserError::NotFound(username.to_string()));
        }
        Ok(self.store.local_user_email(&username).await?)
    }

    /// Sets (`Some`) or clears a local user's email address.
    pub async fn set_local_user_email(
        &self,
        name: &str,
        email: Option<&str>,
    ) -> Result<(), UserError> {
        let username = Username::parse(name)?;
        let email = email.map(str::trim).filter(|email| !email.is_empty());
        if let Some(email) = email
            && !crate::alarms::is_email(email)
        {
            return Err(UserError::BadEmail(email.to_string()));
        }
        if !self.store.set_local_user_email(&username, email).await? {
            return Err(UserError::NotFound(username.to_string()));
        }
        tracing::info!(username = %username, "local user's email address changed");
        self.audit(
            "local_user.email",
            username.as_str(),
            serde_json::json!({"email": email}),
        )
        .await;
        Ok(())
    }

    pub async fn local_group_members(&self, name: &str) -> Result<Vec<Username>, UserError> {
        let name = LocalGroupName::parse(name).map_err(UserError::BadGroup)?;
        self.local_groups()
            .await?
            .into_iter()
            .find(|(group, _)| group.name == name)
            .map(|(_, members)| members)
            .ok_or_else(|| UserError::Missing(format!("local group {:?}", name.as_str())))
    }

    /// Enrolls (or re-enrolls) a TOTP secret for a local user. The secret
    /// is returned once, to be shown to the user; `mode` `None` follows the
    /// configured default.
    pub async fn enroll_local_totp(
        &self,
        name: &str,
        mode: Option<TotpMode>,
    ) -> Result<TotpEnrollment, UserError> {
        let username = Username::parse(name)?;
        if self.store.local_user(&username).await?.is_none() {
            return Err(UserError::NotFound(username.to_string()));
        }
        let record = TotpRecord {
            seat: SeatKey::local(&username),
            secret: TotpSecret::generate(),
            mode,
            enrolled_at: self.clock.now(),
        };
        let enrolled = self.store.enroll_totp(&record).await;
        self.accounts.changed(self.store.as_ref()).await;
        enrolled?;
        tracing::info!(username = %username, "TOTP enrolled");
        let shown_mode = mode.map(|m| m.as_str());
        self.audit(
            "local_user.totp_enroll",
            username.as_str(),
            serde_json::json!({"mode": shown_mode}),
        )
        .await;
        Ok(TotpEnrollment {
            uri: record.secret.otpauth_uri(TOTP_ISSUER, username.as_str()),
            secret: record.secret,
            mode: mode.unwrap_or(self.totp_mode),
        })
    }

    pub async fn remove_local_totp(&self, name: &str) -> Result<Removed, UserError> {
        let username = Username::parse(name)?;
        let seat = SeatKey::local(&username);
        let removed = self.store.remove_totp(&seat).await;
        self.accounts.changed(self.store.as_ref()).await;
        if removed? {
            self.audit(
                "local_user.totp_remove",
                username.as_str(),
                serde_json::Value::Null,
            )
            .await;
            Ok(self.removed_from(&seat, username.to_string()).await?)
        } else {
            Err(UserError::NotFound(format!(
                "{username} (no TOTP enrolled)"
            )))
        }
    }

    /// Whether a local user has TOTP, and in which mode.
    pub async fn local_totp_mode(
        &self,
        username: &Username,
    ) -> Result<Option<TotpMode>, StoreError> {
        Ok(self
            .store
            .totp(&SeatKey::local(username))
            .await?
            .map(|record| record.mode.unwrap_or(self.totp_mode)))
    }

    // ----- RADIUS clients ------------------------------------------------------

    pub async fn radius_clients(&self) -> Result<Vec<RadiusClient>, StoreError> {
        self.store.radius_clients().await
    }

    pub async fn add_radius_client(&self, client: &RadiusClient) -> Result<(), ClientAddError> {
        client.validate()?;
        match self.store.add_radius_client(client).await {
            Ok(()) => {
                tracing::info!(client = %client.name, networks = ?client.networks, "RADIUS client added");
                let networks: Vec<String> =
                    client.networks.iter().map(ToString::to_string).collect();
                self.audit(
                    "client.add",
                    &client.name,
                    serde_json::json!({
                        "networks": networks,
                        "require_message_authenticator": client.require_message_authenticator,
                        "limit_proxy_state": client.limit_proxy_state,
                    }),
                )
                .await;
                Ok(())
            }
            Err(StoreError::AlreadyExists) => {
                Err(ClientAddError::AlreadyExists(client.name.clone()))
            }
            Err(error) => Err(ClientAddError::Store(error)),
        }
    }

    pub async fn delete_radius_client(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = self.store.delete_radius_client(name).await?;
        if deleted {
            self.audit("client.delete", name, serde_json::Value::Null)
                .await;
        }
        Ok(deleted)
    }

    pub(crate) async fn hash_password(&self, password: &str) -> Result<String, UserError> {
        let hashing = self.hashing.clone();
        let password = password.to_string();
        self.work
            .check(move || hashing.hash(&password))
            .await
            .map_err(|Busy| {
                UserError::Store(StoreError::Unavailable(
                    "too many password checks at once; try again".into(),
                ))
            })?
            .map_err(UserError::from)
    }
}

/// Group names as typed, checked.
fn group_names<S: AsRef<str>>(groups: &[S]) -> Result<Vec<LocalGroupName>, UserError> {
    groups
        .iter()
        .map(|group| LocalGroupName::parse(group.as_ref()).map_err(UserError::BadGroup))
        .collect()
}
