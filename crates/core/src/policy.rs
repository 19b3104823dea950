//! Policies (who may log in through which gateway, with which factors, and
//! what the gateway is told): the pure evaluation over an in-memory
//! snapshot. An ordered list, first match wins; a policy matches on RADIUS
//! client names, the user's groups and the user's address
//! (Calling-Station-Id), each empty list matching anything.
//!
//! Groups have one naming scheme whatever their source: `local:<name>` for
//! Gatehouse's local groups, `<directory>:<DN>` for a directory's groups
//! (`corp:CN=VPN Admins,OU=Groups,DC=example,DC=com`). Keys are compared
//! normalized ([`group_key`]): local names in lowercase, DNs without case
//! or spaces around separators, as the directory's allowed groups are.
//!
//! [`PolicySet::new`] checks the policies and compiles them: client names
//! and groups become small integers once, so evaluating a login is a few
//! integer comparisons per policy and no allocation beyond the user's
//! groups.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::clients::Network;
use crate::directory::normalize_dn;

/// Whether a matching policy lets the user in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allow,
    /// Refused after the password with
    /// [`ACCESS_DENIED`](crate::outcome::ACCESS_DENIED), not counted.
    Deny,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Allow => "allow",
            Access::Deny => "deny",
        }
    }
}

/// The second factors a policy accepts. `none`: the user may log in with
/// the password alone (this is where the "second factor required" default
/// is overridden).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Factors {
    pub totp: bool,
    pub push: bool,
    pub none: bool,
}

impl Factors {
    /// Parses `totp`, `push` and `none`, in any order.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Factors, PolicyError> {
        let mut factors = Factors::default();
        for name in names {
            match name.as_ref() {
                "totp" => factors.totp = true,
                "push" => factors.push = true,
                "none" => factors.none = true,
                other => return Err(PolicyError::UnknownFactor(other.to_string())),
            }
        }
        if factors == Factors::default() {
            return Err(PolicyError::NoFactor);
        }
        Ok(factors)
    }

    /// The names [`parse`](Self::parse) reads, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.totp, "totp"),
            (self.push, "push"),
            (self.none, "none"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
}

/// An attribute added to the Access-Accept. The value may name `%{user}`
/// (the canonical username) and `%{group}` (the policy group the user
/// matched, as written after its source: `vpn-admins` of
/// `local:vpn-admins`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyAttribute {
    /// The attribute's name in the RADIUS dictionary (`Class`,
    /// `Fortinet-Group-Name`); its type is checked by the RADIUS side.
    pub attribute: String,
    pub value: String,
}

impl ReplyAttribute {
    /// The value with `%{user}` and `%{group}` filled in (`group` empty
    /// when the policy matched no group).
    pub fn render(&self, user: &str, group: Option<&str>) -> String {
        if !self.value.contains("%{") {
            return self.value.clone();
        }
        self.value
            .replace("%{user}", user)
            .replace("%{group}", group.unwrap_or(""))
    }
}

/// One policy, as the administrator wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    /// RADIUS client names; empty: any client.
    pub clients: Vec<String>,
    /// Group keys (`local:vpn-admins`, `corp:CN=…`); empty: any user.
    pub groups: Vec<String>,
    /// The user's address (Calling-Station-Id) is in one of these; empty:
    /// any address, or none sent.
    pub networks: Vec<Network>,
    pub access: Access,
    /// `None`: the default rule (a second factor required unless exempt).
    pub factors: Option<Factors>,
    pub reply: Vec<ReplyAttribute>,
}

/// The most policies in force: every login is a scan of them.
pub const MAX_POLICIES: usize = 1000;

/// The most reply attributes one policy adds (an Access-Accept holds at
/// most 4096 bytes).
pub const MAX_REPLY_ATTRIBUTES: usize = 32;

/// Why policies were refused. Each names the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("a policy needs a name of 1 to 64 characters without control characters")]
    BadName,
    #[error("at most {MAX_POLICIES} policies")]
    TooMany,
    #[error("policy {policy:?}: at most {MAX_REPLY_ATTRIBUTES} reply attributes")]
    TooManyAttributes { policy: String },
    #[error("two policies are named {0:?}")]
    DuplicateName(String),
    #[error(
        "policy {policy:?}: group {group:?} is not SOURCE:NAME (local:vpn-admins, corp:CN=VPN Admins,DC=example,DC=com)"
    )]
    BadGroup { policy: String, group: String },
    #[error("unknown second factor {0:?} (expected totp, push or none)")]
    UnknownFactor(String),
    #[error("factors must name at least one of totp, push or none")]
    NoFactor,
    #[error(
        "policy {policy:?}: reply attribute {attribute:?} uses {variable:?} (only %{{user}} and %{{group}} are known)"
    )]
    UnknownVariable {
        policy: String,
        attribute: String,
        variable: String,
    },
    #[error("policy {policy:?}: a reply attribute needs a name")]
    EmptyAttribute { policy: String },
    #[error("policy {policy:?}: access {access:?} is not \"allow\" or \"deny\"")]
    BadAccess { policy: String, access: String },
    #[error("policy {policy:?}: factors: {reason}")]
    BadFactors { policy: String, reason: String },
    #[error(
        "policy {policy:?}: calling_station_networks: {network:?} is not an address or a network such as 10.0.0.0/8"
    )]
    BadNetwork { policy: String, network: String },
    #[error(
        "policy {policy:?}: group {group:?} names no group source: use local:NAME or DIRECTORY:GROUP-DN, DIRECTORY being a [[directory]] name"
    )]
    UnknownSource { policy: String, group: String },
    #[error("policy {policy:?}: reply: {reason}")]
    BadReply { policy: String, reason: String },
    #[error(
        "policy {policy:?}: group {group:?} is neither a group DN nor one of the directory's group_aliases"
    )]
    UnknownAlias { policy: String, group: String },
}

/// How a reply attribute goes on the wire (`gatehouse-radius` encodes with
/// its dictionary): checked when policies are saved, and for each login
/// before it is counted, so an attribute that cannot be sent refuses the
/// login rather than count a user the gateway never hears about.
pub trait ReplyCheck: Send + Sync {
    /// The attribute's RADIUS type and value bytes (a vendor attribute
    /// inside Vendor-Specific); `Err`: why not, naming the attribute.
    fn encode(&self, attribute: &str, value: &str) -> Result<(u8, Vec<u8>), String>;
}

/// Room for a policy's attributes in an Access-Accept (4096 bytes at most,
/// less the header, Message-Authenticator, Reply-Message and Proxy-States).
pub const MAX_REPLY_BYTES: usize = 3072;

/// What a policy may name beyond its own text: the group sources that
/// exist (`local` and each directory, with its group aliases) and the
/// attributes that can be sent.
#[derive(Clone, Default)]
pub struct PolicyChecks {
    /// Directories a group may come from, besides `local`: each name and
    /// the aliases of its `group_aliases` (a group of a directory is a DN
    /// or one of these).
    pub directories: Vec<(String, Vec<String>)>,
    /// `None`: attributes are not checked (tests of the rules alone).
    pub replies: Option<std::sync::Arc<dyn ReplyCheck>>,
}

impl std::fmt::Debug for PolicyChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyChecks")
            .field("directories", &self.directories)
            .field("replies", &self.replies.is_some())
            .finish()
    }
}

/// A group key in its compared form: `source:name`, the source in
/// lowercase, a local name in lowercase, a DN normalized
/// ([`normalize_dn`]). `None`: not `SOURCE:NAME`.
pub fn group_key(text: &str) -> Option<String> {
    let (source, name) = text.trim().split_once(':')?;
    let (source, name) = (source.trim().to_lowercase(), name.trim());
    if source.is_empty()
        || name.is_empty()
        || !source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return None;
    }
    let name = if source == "local" {
        name.to_lowercase()
    } else {
        normalize_dn(name)
    };
    Some(format!("{source}:{name}"))
}

/// `groups` of `source` (`local`, or a directory's name) as keys; names
/// that are not groups are left out.
pub fn group_keys<'g>(source: &str, groups: impl Iterator<Item = &'g str>) -> Vec<String> {
    groups
        .filter_map(|group| group_key(&format!("{source}:{group}")))
        .collect()
}

/// The login a policy is chosen for.
#[derive(Debug, Clone, Copy)]
pub struct PolicyRequest<'a> {
    /// The canonical username (for `%{user}`).
    pub user: &'a str,
    /// The RADIUS client's name.
    pub client: &'a str,
    /// The user's groups as [`group_key`]s.
    pub groups: &'a [String],
    /// Calling-Station-Id, when it is an address.
    pub calling_station: Option<IpAddr>,
}

/// The policy chosen, and the group it matched on (for `%{group}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched<'p> {
    pub policy: &'p Policy,
    /// The policy's name, shared (no copy per login).
    pub name: &'p std::sync::Arc<str>,
    /// The matched group as written in the policy, after its source.
    pub group: Option<&'p str>,
}

impl Matched<'_> {
    /// The reply attributes with their values filled in.
    pub fn reply(&self, user: &str) -> Vec<(String, String)> {
        self.policy
            .reply
            .iter()
            .map(|attribute| {
                (
                    attribute.attribute.clone(),
                    attribute.render(user, self.group),
                )
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Compiled {
    name: std::sync::Arc<str>,
    clients: Vec<u32>,
    /// Group ids, with the index of the group in the policy's list.
    groups: Vec<(u32, usize)>,
    networks: Vec<Network>,
}

/// The policies in force, checked and compiled; empty: today's behaviour.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
    compiled: Vec<Compiled>,
    clients: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

impl PolicySet {
    /// Checks `policies` (names, groups, factors, reply templates) and
    /// compiles them, in order.
    pub fn new(policies: Vec<Policy>) -> Result<PolicySet, PolicyError> {
        if policies.len() > MAX_POLICIES {
            return Err(PolicyError::TooMany);
        }
        let mut set = PolicySet::default();
        let mut names = std::collections::HashSet::new();
        for policy in &policies {
            let name = policy.name.trim();
            if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
                return Err(PolicyError::BadName);
            }
            if !names.insert(name.to_lowercase()) {
                return Err(PolicyError::DuplicateName(name.to_string()));
            }
            if policy.reply.len() > MAX_REPLY_ATTRIBUTES {
                return Err(PolicyError::TooManyAttributes {
                    policy: name.to_string(),
                });
            }
            check_reply(policy)?;
            let clients = policy
                .clients
                .iter()
                .map(|client| intern(&mut set.clients, client.trim()))
                .collect();
            let mut groups = Vec::new();
            for (index, group) in policy.groups.iter().enumerate() {
                let key = group_key(group).ok_or_else(|| PolicyError::BadGroup {
                    policy: name.to_string(),
                    group: group.clone(),
                })?;
                groups.push((intern(&mut set.groups, &key), index));
            }
            set.compiled.push(Compiled {
                name: name.into(),
                clients,
                groups,
                networks: policy.networks.clone(),
            });
        }
        set.policies = policies;
        Ok(set)
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Every group names a source that exists, and every reply attribute,
    /// filled in as a login would fill it, can be sent.
    pub fn check(&self, checks: &PolicyChecks) -> Result<(), PolicyError> {
        for policy in &self.policies {
            for group in &policy.groups {
                let (source, name) = group
                    .split_once(':')
                    .map_or(("", ""), |(source, name)| (source.trim(), name.trim()));
                if source.eq_ignore_ascii_case("local") {
                    continue;
                }
                let Some((_, aliases)) = (checks.directories.iter())
                    .find(|(directory, _)| directory.eq_ignore_ascii_case(source))
                else {
                    return Err(PolicyError::UnknownSource {
                        policy: policy.name.clone(),
                        group: group.clone(),
                    });
                };
                if !name.contains('=') && !aliases.iter().any(|a| a.eq_ignore_ascii_case(name)) {
                    return Err(PolicyError::UnknownAlias {
                        policy: policy.name.clone(),
                        group: group.clone(),
                    });
                }
            }
            let Some(replies) = &checks.replies else {
                continue;
            };
            for attribute in &policy.reply {
                let sample = attribute.render("alice", Some("vpn-admins"));
                replies
                    .encode(&attribute.attribute, &sample)
                    .map_err(|reason| PolicyError::BadReply {
                        policy: policy.name.clone(),
                        reason,
                    })?;
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Whether a policy names a group of `source` (a directory's name).
    pub fn names_source(&self, source: &str) -> bool {
        let prefix = format!("{}:", source.to_lowercase());
        self.groups.keys().any(|key| key.starts_with(&prefix))
    }

    /// The first policy that matches `request`; `None`: none does (or
    /// there are none), and the default rules apply.
    pub fn evaluate(&self, request: &PolicyRequest<'_>) -> Option<Matched<'_>> {
        if self.policies.is_empty() {
            return None;
        }
        let client = self.clients.get(request.client).copied();
        let groups: Vec<u32> = request
            .groups
            .iter()
            .filter_map(|group| self.groups.get(group.as_str()).copied())
            .collect();
        for (policy, compiled) in self.policies.iter().zip(&self.compiled) {
            if !compiled.clients.is_empty()
                && !client.is_some_and(|client| compiled.clients.contains(&client))
            {
                continue;
            }
            if !compiled.networks.is_empty()
                && !request
                    .calling_station
                    .is_some_and(|address| compiled.networks.iter().any(|n| n.contains(address)))
            {
                continue;
            }
            if compiled.groups.is_empty() {
                return Some(Matched {
                    policy,
                    name: &compiled.name,
                    group: None,
                });
            }
            if let Some(&(_, index)) = compiled.groups.iter().find(|(id, _)| groups.contains(id)) {
                let written = policy.groups[index].as_str();
                let name = written.split_once(':').map_or(written, |(_, name)| name);
                return Some(Matched {
                    policy,
                    name: &compiled.name,
                    group: Some(name.trim()),
                });
            }
        }
        None
    }
}

fn intern(ids: &mut HashMap<String, u32>, key: &str) -> u32 {
    let next = ids.len() as u32;
    *ids.entry(key.to_string()).or_insert(next)
}

/// Every `%{…}` in a reply value is `%{user}` or `%{group}`.
fn check_reply(policy: &Policy) -> Result<(), PolicyError> {
    for attribute in &policy.reply {
        if attribute.attribute.trim().is_empty() {
            return Err(PolicyError::EmptyAttribute {
                policy: policy.name.clone(),
            });
        }
        let mut rest = attribute.value.as_str();
        while let Some(start) = rest.find("%{") {
            let after = &rest[start + 2..];
            let end = after.find('}').unwrap_or(after.len());
            let variable = &after[..end];
            if variable != "user" && variable != "group" {
                return Err(PolicyError::UnknownVariable {
                    policy: policy.name.clone(),
                    attribute: attribute.attribute.clone(),
                    variable: format!("%{{{variable}}}"),
                });
            }
            rest = &after[end.min(after.len())..];
        }
    }
    Ok(())
}

mod text;
pub use text::{PolicyText, ReplyText, ReplyValue, read_policies};

#[cfg(test)]
mod tests;
