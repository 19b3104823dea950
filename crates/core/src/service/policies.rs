//! The policy in force for a login ([`crate::policy`]): chosen before the
//! password is checked, from the user's groups, the RADIUS client and the
//! user's address (so the factors it accepts decide what is asked for),
//! and applied after it (a denial is never told to someone without the
//! password).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use super::{DirectoryUserError, Gatehouse};
use crate::identity::{Identity, Username};
use crate::outcome::{Authorization, Refusal, SecondFactor};
use crate::policy::{Access, Factors, PolicyRequest, PolicySet, group_key};
use crate::push::PushMode;
use crate::store::{PushUser, StoreError};

/// Where a login comes from: the RADIUS client's name and the user's
/// address (Calling-Station-Id) when the client sent one. Once the
/// password passed it also holds the policy that decided the login, for
/// the caller's log whether it was accepted or refused.
#[derive(Debug)]
pub struct Route<'a> {
    pub client: &'a str,
    pub calling_station: Option<&'a str>,
    decided: OnceLock<Arc<str>>,
}

impl<'a> Route<'a> {
    pub fn new(client: &'a str, calling_station: Option<&'a str>) -> Route<'a> {
        Route {
            client,
            calling_station,
            decided: OnceLock::new(),
        }
    }

    /// The policy that decided the login (a denial included); `None`:
    /// none matched, or the login ended before the password passed.
    pub fn policy(&self) -> Option<&str> {
        self.decided.get().map(|name| &**name)
    }

    /// The user's address, when Calling-Station-Id is one (an address,
    /// or an address and port); a MAC address or a phone number is none.
    pub fn address(&self) -> Option<IpAddr> {
        let text = self.calling_station?.trim();
        text.parse::<IpAddr>()
            .ok()
            .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
    }
}

/// The policy chosen for a login, before the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub name: Arc<str>,
    pub access: Access,
    /// `None`: the default rule (a second factor required unless exempt).
    pub factors: Option<Factors>,
    /// The reply attributes, filled in for this user.
    pub reply: Vec<(String, String)>,
}

/// What `gatehouse policy test` shows: who a name is, their groups as
/// policies name them, and the policy that matches them through a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTest {
    pub identity: Identity,
    /// Group keys (`local:staff`, `corp:cn=vpn admins,dc=example,dc=com`).
    pub groups: Vec<String>,
    /// `None`: no policy matches; the default rules apply.
    pub policy: Option<Chosen>,
}

/// Why a policy test names nobody.
#[derive(Debug, thiserror::Error)]
pub enum PolicyTestError {
    #[error("no local user or directory entry is named {0:?}")]
    Unknown(String),
    #[error(transparent)]
    Directory(#[from] DirectoryUserError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Chosen {
    pub(super) fn denies(&self) -> bool {
        self.access == Access::Deny
    }
}

impl Gatehouse {
    /// The policies in force, in order.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The policy `login` would get through `route`, without a password
    /// and without counting anyone: a local user, else the directory's
    /// entry.
    pub async fn policy_test(
        &self,
        login: &str,
        route: &Route<'_>,
    ) -> Result<PolicyTest, PolicyTestError> {
        let local = match Username::parse(login) {
            Ok(username) => self.store.local_user(&username).await?,
            Err(_) => None,
        };
        let (identity, source, groups) = match local {
            Some(user) => {
                let identity = Identity::local(&user.username, &user.display_name);
                let groups: Vec<String> = user.groups.iter().map(ToString::to_string).collect();
                (identity, "local".to_string(), groups)
            }
            None if self.directory.is_none() => {
                return Err(PolicyTestError::Unknown(login.to_string()));
            }
            None => {
                let entry = self.directory_user(login).await?;
                (entry.identity(), entry.directory, entry.groups)
            }
        };
        let policy =
            self.choose_policy(&identity, groups.iter().map(String::as_str), &source, route);
        let groups = groups
            .iter()
            .filter_map(|group| group_key(&format!("{source}:{group}")))
            .collect();
        Ok(PolicyTest {
            identity,
            groups,
            policy,
        })
    }

    /// The push mode of a user with a phone while push is licensed.
    pub(super) fn phone(&self, push: PushUser) -> Option<PushMode> {
        (push.devices > 0 && self.push_licensed()).then(|| push.mode.unwrap_or(self.push.mode))
    }

    /// The first policy that matches the user (in `groups`: local group
    /// names for a local user, DNs for a directory user of `directory`)
    /// through `route`; `None`: none does, the default rules apply.
    pub(super) fn choose_policy<'g>(
        &self,
        identity: &Identity,
        groups: impl Iterator<Item = &'g str>,
        source: &str,
        route: &Route<'_>,
    ) -> Option<Chosen> {
        if self.policies.is_empty() {
            return None;
        }
        let keys: Vec<String> = groups
            .filter_map(|group| group_key(&format!("{source}:{group}")))
            .collect();
        let matched = self.policies.evaluate(&PolicyRequest {
            user: &identity.username,
            client: route.client,
            groups: &keys,
            calling_station: route.address(),
        })?;
        Some(Chosen {
            name: matched.policy.name.as_str().into(),
            access: matched.policy.access,
            factors: matched.policy.factors,
            reply: matched.reply(&identity.username),
        })
    }

    /// What the login owes, narrowed to the factors the policy accepts
    /// (`phone`: the push mode when the user has a phone and push is
    /// licensed). What was typed was read by the user's own enrollment,
    /// so a code typed after the password never becomes part of it.
    /// A factor the policy does not accept is replaced by one it does and
    /// the user has, or by none when the policy lists `none`; otherwise
    /// the login is refused.
    pub(super) fn narrow(
        &self,
        identity: &Identity,
        chosen: Option<&Chosen>,
        owed: Result<SecondFactor, Refusal>,
        phone: Option<PushMode>,
    ) -> Result<SecondFactor, Refusal> {
        let Some(chosen) = chosen.filter(|chosen| !chosen.denies()) else {
            return owed;
        };
        let Some(factors) = chosen.factors else {
            return owed;
        };
        let narrowed = match owed {
            Ok(SecondFactor::None) => Some(SecondFactor::None),
            Ok(totp @ SecondFactor::Totp { .. }) if factors.totp => Some(totp),
            Ok(SecondFactor::Push { mode, totp }) if factors.push => Some(SecondFactor::Push {
                mode,
                totp: totp.filter(|_| factors.totp),
            }),
            Ok(SecondFactor::Push {
                totp: Some(record), ..
            }) if factors.totp => Some(SecondFactor::Totp {
                record,
                appended_code: None,
            }),
            Ok(SecondFactor::Totp { .. }) if factors.push && phone.is_some() => {
                phone.map(|mode| SecondFactor::Push { mode, totp: None })
            }
            Err(refusal) if !factors.none => return Err(refusal),
            _ => None,
        };
        match narrowed {
            Some(owed) => Ok(owed),
            None if factors.none => Ok(SecondFactor::None),
            None => {
                tracing::warn!(username = %identity.username, policy = %chosen.name, "authentication refused: the policy accepts no second factor this user has");
                Err(Refusal::SecondFactorRequired)
            }
        }
    }

    /// After the password: a policy's denial, or what the login owes and
    /// is given. A policy that lists factors decides whether none is
    /// enough; without one the default rule does (a second factor
    /// required unless `exempt`).
    pub(super) fn apply_policy(
        &self,
        identity: &Identity,
        route: &Route<'_>,
        chosen: Option<Chosen>,
        second_factor: &SecondFactor,
        exempt: bool,
    ) -> Result<Authorization, Refusal> {
        if let Some(chosen) = &chosen {
            let _ = route.decided.set(chosen.name.clone());
        }
        let Some(chosen) = chosen else {
            if *second_factor == SecondFactor::None {
                self.require_second_factor(identity, exempt)?;
            }
            return Ok(Authorization::default());
        };
        if chosen.access == Access::Deny {
            tracing::warn!(username = %identity.username, policy = %chosen.name, "authentication refused: denied by policy");
            return Err(Refusal::AccessDenied);
        }
        if *second_factor == SecondFactor::None {
            match chosen.factors {
                None => self.require_second_factor(identity, exempt)?,
                Some(factors) if factors.none => {}
                Some(_) => {
                    tracing::warn!(username = %identity.username, policy = %chosen.name, "authentication refused: the policy accepts no second factor this user has");
                    return Err(Refusal::SecondFactorRequired);
                }
            }
        }
        Ok(Authorization {
            policy: Some(chosen.name),
            reply: chosen.reply,
        })
    }
}
