//! The policy in force for a login ([`crate::policy`]): chosen before the
//! password is checked, from the user's groups, the RADIUS client and the
//! user's address (so the factors it accepts decide what is asked for),
//! and applied after it (a denial is never told to someone without the
//! password).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock, RwLock};

use gatehouse_license::jiff::Timestamp;

use super::{DirectoryUserError, Gatehouse};
use crate::directory::{Directory, DirectoryEntry};
use crate::identity::{Identity, Username};
use crate::outcome::{Authorization, Refusal, SecondFactor};
use crate::policy::{
    Access, Factors, MAX_REPLY_BYTES, PolicyChecks, PolicyError, PolicyRequest, PolicySet,
    PolicyText, group_keys, read_policies,
};
use crate::push::PushMode;
use crate::store::{Checked, PolicySetRecord, PushUser, Store, StoreError};

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

/// The policies in force: fixed in the configuration, or the ones saved
/// through the panel, the API or the CLI (read again when their generation
/// in the store moves, at every tick).
pub(super) struct PolicyState {
    /// `[[policy]]` in the configuration: saved policies are ignored.
    fixed: bool,
    checks: PolicyChecks,
    current: RwLock<InForce>,
    /// The highest generation this process has used: saved policies never
    /// go back (a row deleted, or an older one written back, outside
    /// Gatehouse) except by a save through this process.
    highest: std::sync::atomic::AtomicI64,
}

#[derive(Clone)]
struct InForce {
    /// The saved policies' generation (0: none saved; fixed: 0).
    generation: i64,
    /// `Err`: why the saved policies cannot be used (changed outside
    /// Gatehouse, or unreadable): logins fail closed until they are saved
    /// again.
    set: Result<Arc<PolicySet>, Arc<str>>,
}

impl PolicyState {
    pub(super) fn new(fixed: Arc<PolicySet>, checks: PolicyChecks) -> PolicyState {
        PolicyState {
            fixed: !fixed.is_empty(),
            checks,
            current: RwLock::new(InForce {
                generation: 0,
                set: Ok(fixed),
            }),
            highest: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// A save through this process: its generation is in force whatever
    /// came before it (the way out after saved policies went back).
    fn saved_here(&self, generation: i64) {
        self.highest
            .store(generation, std::sync::atomic::Ordering::Release);
    }

    fn in_force(&self) -> InForce {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the saved policies again when their generation moved (always
    /// with `force`); nothing to do when the configuration fixes them.
    pub(super) async fn refresh(&self, store: &dyn Store, force: bool) -> Result<(), StoreError> {
        if self.fixed {
            return Ok(());
        }
        let generation = store.policy_generation().await?;
        if !force && generation == self.in_force().generation {
            return Ok(());
        }
        let (generation, mut set) = match store.policy_set().await? {
            None => (0, Ok(Arc::new(PolicySet::default()))),
            Some(saved) => (saved.record.generation, self.read(saved)),
        };
        let highest = self.highest.load(std::sync::atomic::Ordering::Acquire);
        if generation < highest {
            set = Err(format!(
                "the saved policies went back from generation {highest} to {generation} outside Gatehouse (a row deleted or an older one written back; after restoring a database backup, restart every node)"
            )
            .into());
        } else {
            self.highest
                .store(generation, std::sync::atomic::Ordering::Release);
        }
        if let Err(why) = &set {
            tracing::error!(
                generation,
                "{why}: every login is refused until the policies are saved again (gatehouse policy save)"
            );
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = InForce { generation, set };
        Ok(())
    }

    fn read(&self, saved: Checked<PolicySetRecord>) -> Result<Arc<PolicySet>, Arc<str>> {
        if !saved.authentic {
            return Err(
                "the saved policies were changed outside Gatehouse (their tag does not verify)"
                    .into(),
            );
        }
        let texts: Vec<PolicyText> = serde_json::from_str(&saved.record.policies)
            .map_err(|error| format!("the saved policies cannot be read: {error}"))?;
        let set = read_policies(&texts)
            .map_err(|error| format!("the saved policies are not valid: {error}"))?;
        // A source or an attribute that went away with a configuration
        // change: the policy stays; the login it would decide says why.
        if let Err(error) = set.check(&self.checks) {
            tracing::warn!(%error, "a saved policy names what the configuration no longer has");
        }
        Ok(Arc::new(set))
    }
}

/// The saved policies, for editing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPolicies {
    /// What a save of an edit names (0: none saved yet).
    pub generation: i64,
    pub policies: Vec<PolicyText>,
    /// When and by whom they were last saved.
    pub saved: Option<(Timestamp, String)>,
}

/// Why policies were not saved.
#[derive(Debug, thiserror::Error)]
pub enum PolicySaveError {
    #[error("the policies are fixed in the configuration ([[policy]]); change them there")]
    Fixed,
    #[error(transparent)]
    Invalid(#[from] PolicyError),
    #[error("the policies were changed meanwhile; reload them and edit again")]
    Stale,
    #[error(
        "the saved policies were changed outside Gatehouse; replace them with a whole new list (gatehouse policy save FILE, the panel's Add, or PUT /api/v1/policies naming generation {0})"
    )]
    Altered(i64),
    #[error("the saved policies cannot be read: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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
    #[error("{0}")]
    Unusable(String),
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
    /// The policies in force, in order; `Err`: why the saved ones cannot
    /// be used (logins fail closed).
    pub fn policies(&self) -> Result<Arc<PolicySet>, String> {
        self.policies.in_force().set.map_err(|why| why.to_string())
    }

    /// Whether the configuration fixes the policies (`[[policy]]`): then
    /// they are shown, never edited.
    pub fn policies_fixed(&self) -> bool {
        self.policies.fixed
    }

    /// What the group sources and reply attributes of a policy are
    /// checked against.
    pub fn policy_checks(&self) -> &PolicyChecks {
        &self.policies.checks
    }

    /// The saved policies as written, for an edit (fresh from the store).
    pub async fn saved_policies(&self) -> Result<SavedPolicies, PolicySaveError> {
        if self.policies.fixed {
            return Err(PolicySaveError::Fixed);
        }
        let Some(saved) = self.store.policy_set().await? else {
            return Ok(SavedPolicies {
                generation: 0,
                policies: Vec::new(),
                saved: None,
            });
        };
        if !saved.authentic {
            return Err(PolicySaveError::Altered(saved.record.generation));
        }
        let record = saved.record;
        Ok(SavedPolicies {
            generation: record.generation,
            policies: serde_json::from_str(&record.policies)
                .map_err(|error| PolicySaveError::Unreadable(error.to_string()))?,
            saved: Some((record.saved_at, record.saved_by)),
        })
    }

    /// Saves `policies` (checked whole first) as the edit of generation
    /// `edited`; every node uses them from its next tick, this one at
    /// once. Returns the new generation.
    pub async fn save_policies(
        &self,
        edited: i64,
        policies: &[PolicyText],
        by: &str,
    ) -> Result<i64, PolicySaveError> {
        if self.policies.fixed {
            return Err(PolicySaveError::Fixed);
        }
        read_policies(policies)?.check(&self.policies.checks)?;
        let json = serde_json::to_string(policies)
            .map_err(|error| PolicySaveError::Unreadable(error.to_string()))?;
        if !self
            .store
            .save_policy_set(edited, &json, self.clock.now(), by)
            .await?
        {
            return Err(PolicySaveError::Stale);
        }
        tracing::info!(
            admin = by,
            generation = edited + 1,
            policies = policies.len(),
            "policies saved"
        );
        let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
        self.audit(
            "policy.save",
            "",
            serde_json::json!({"generation": edited + 1, "policies": names}),
        )
        .await;
        self.policies.saved_here(edited + 1);
        self.policies.refresh(self.store.as_ref(), true).await?;
        Ok(edited + 1)
    }

    /// Replaces the saved policies whatever they are now (the CLI's
    /// `policy save`): the way out of policies changed outside Gatehouse.
    pub async fn replace_policies(
        &self,
        policies: &[PolicyText],
        by: &str,
    ) -> Result<i64, PolicySaveError> {
        let generation = self.store.policy_generation().await?;
        self.save_policies(generation, policies, by).await
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
                let directory = self.directory.as_ref().expect("a directory answered");
                let groups = self
                    .directory_groups(directory.as_ref(), &entry)
                    .await
                    .map_err(|_| {
                        PolicyTestError::Directory(DirectoryUserError::Unavailable(
                            crate::directory::DirectoryUnavailable(format!(
                                "{}: the groups of {} could not be read",
                                entry.directory, entry.dn
                            )),
                        ))
                    })?;
                (entry.identity(), entry.directory, groups)
            }
        };
        let policy = self
            .choose_policy(&identity, groups.iter().map(String::as_str), &source, route)
            .map_err(|_| PolicyTestError::Unusable(self.policies().err().unwrap_or_default()))?;
        let groups = group_keys(&source, groups.iter().map(String::as_str));
        Ok(PolicyTest {
            identity,
            groups,
            policy,
        })
    }

    /// A directory entry's groups as policies see them: its `memberOf`,
    /// their aliases and, when a policy names a group of its directory,
    /// the groups it is in through them (nested groups, when the
    /// directory follows them). A directory that cannot say refuses the
    /// login: a denial must not be missed.
    pub(super) async fn directory_groups(
        &self,
        directory: &dyn Directory,
        entry: &DirectoryEntry,
    ) -> Result<Vec<String>, Refusal> {
        let mut groups: Vec<String> = entry.groups.iter().chain(&entry.aliases).cloned().collect();
        let names_directory = match self.policies.in_force().set {
            Ok(set) => set.names_source(&entry.directory),
            Err(_) => false,
        };
        if names_directory {
            match directory.nested_groups(entry).await {
                Ok(nested) => groups.extend(nested),
                Err(error) => {
                    tracing::error!(username = %entry.login_name, %error, "authentication failed: directory unavailable (nested groups)");
                    return Err(Refusal::ServiceUnavailable);
                }
            }
        }
        Ok(groups)
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
    ) -> Result<Option<Chosen>, Refusal> {
        let set = match self.policies.in_force().set {
            Ok(set) => set,
            Err(why) => {
                tracing::error!(username = %identity.username, "authentication refused: {why}");
                return Err(Refusal::ServiceUnavailable);
            }
        };
        if set.is_empty() {
            return Ok(None);
        }
        let keys = group_keys(source, groups);
        let request = PolicyRequest {
            user: &identity.username,
            client: route.client,
            groups: &keys,
            calling_station: route.address(),
        };
        Ok(set.evaluate(&request).map(|matched| Chosen {
            name: matched.name.clone(),
            access: matched.policy.access,
            factors: matched.policy.factors,
            reply: matched.reply(&identity.username),
        }))
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
        let encoded = self.encode_reply(identity, &chosen)?;
        Ok(Authorization {
            policy: Some(chosen.name),
            reply: chosen.reply,
            encoded,
        })
    }

    /// The policy's attributes for this login as they go on the wire,
    /// before the user is counted: one that cannot be sent (a value grown
    /// too long by `%{user}`, or too many bytes for an Access-Accept)
    /// refuses the login.
    fn encode_reply(
        &self,
        identity: &Identity,
        chosen: &Chosen,
    ) -> Result<Vec<(u8, Vec<u8>)>, Refusal> {
        let Some(encoder) = &self.policies.checks.replies else {
            return Ok(Vec::new());
        };
        let mut encoded = Vec::with_capacity(chosen.reply.len());
        let mut bytes = 0;
        for (attribute, value) in &chosen.reply {
            match encoder.encode(attribute, value) {
                Ok((kind, data)) => {
                    bytes += 2 + data.len();
                    encoded.push((kind, data));
                }
                Err(error) => {
                    tracing::error!(username = %identity.username, policy = %chosen.name, %error, "authentication refused: a reply attribute of the policy cannot be sent");
                    return Err(Refusal::ServiceUnavailable);
                }
            }
        }
        if bytes > MAX_REPLY_BYTES {
            tracing::error!(username = %identity.username, policy = %chosen.name, bytes, "authentication refused: the policy's reply attributes do not fit in an Access-Accept");
            return Err(Refusal::ServiceUnavailable);
        }
        Ok(encoded)
    }
}
