//! The policy in force for a login ([`crate::policy`]): chosen before the
//! password is checked, from the user's groups, the RADIUS client and the
//! user's address (so the factors it accepts decide what is asked for),
//! and applied after it (a denial is never told to someone without the
//! password).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::Gatehouse;
use crate::identity::Identity;
use crate::outcome::{Authorization, Refusal, SecondFactor};
use crate::policy::{Access, Factors, PolicyRequest, group_key};
use crate::push::PushMode;
use crate::store::PushUser;

/// Where a login comes from: the RADIUS client's name and the user's
/// address (Calling-Station-Id) when the client sent one.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    pub client: &'a str,
    pub calling_station: Option<&'a str>,
}

impl<'a> Route<'a> {
    pub fn new(client: &'a str, calling_station: Option<&'a str>) -> Route<'a> {
        Route {
            client,
            calling_station,
        }
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
#[derive(Debug, Clone)]
pub(super) struct Chosen {
    name: Arc<str>,
    access: Access,
    factors: Option<Factors>,
    reply: Vec<(String, String)>,
}

impl Chosen {
    pub(super) fn denies(&self) -> bool {
        self.access == Access::Deny
    }
}

impl Gatehouse {
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
        chosen: Option<Chosen>,
        second_factor: &SecondFactor,
        exempt: bool,
    ) -> Result<Authorization, Refusal> {
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
