//! Policies as written: one shape for the configuration's `[[policy]]`,
//! the store's record, the API's and the CLI's JSON, read back into
//! [`Policy`] with every value checked and every error naming the policy.

use serde::{Deserialize, Serialize};

use super::{Access, Factors, Policy, PolicyError, PolicySet, ReplyAttribute};

/// One policy as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyText {
    pub name: String,
    /// RADIUS client names; empty: any.
    #[serde(default)]
    pub clients: Vec<String>,
    /// `local:NAME` or `DIRECTORY:GROUP-DN`; empty: any user.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Networks the user's address (Calling-Station-Id) must be in;
    /// empty: any address, or none sent.
    #[serde(default)]
    pub calling_station_networks: Vec<String>,
    /// `allow` (unset) or `deny`.
    #[serde(default)]
    pub access: Option<String>,
    /// `totp`, `push`, `none`; unset: the default rule (a second factor
    /// required unless exempt).
    #[serde(default)]
    pub factors: Option<Vec<String>>,
    #[serde(default)]
    pub reply: Vec<ReplyText>,
}

/// One reply attribute as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyText {
    pub attribute: String,
    pub value: ReplyValue,
}

/// A reply value: text, or a number written bare (`Session-Timeout`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReplyValue {
    Number(i64),
    Text(String),
}

impl ReplyValue {
    pub fn text(&self) -> String {
        match self {
            ReplyValue::Number(number) => number.to_string(),
            ReplyValue::Text(text) => text.clone(),
        }
    }
}

impl PolicyText {
    /// The policy written, its access, factors and networks read.
    pub fn to_policy(&self) -> Result<Policy, PolicyError> {
        let name = self.name.trim().to_string();
        let access = match self.access.as_deref().map(str::trim) {
            None | Some("allow") => Access::Allow,
            Some("deny") => Access::Deny,
            Some(other) => {
                return Err(PolicyError::BadAccess {
                    policy: name,
                    access: other.to_string(),
                });
            }
        };
        let factors = match &self.factors {
            None => None,
            Some(names) => {
                Some(
                    Factors::parse(names).map_err(|error| PolicyError::BadFactors {
                        policy: name.clone(),
                        reason: error.to_string(),
                    })?,
                )
            }
        };
        let mut networks = Vec::with_capacity(self.calling_station_networks.len());
        for network in &self.calling_station_networks {
            networks.push(network.parse().map_err(|_| PolicyError::BadNetwork {
                policy: name.clone(),
                network: network.clone(),
            })?);
        }
        Ok(Policy {
            clients: trimmed(&self.clients),
            groups: trimmed(&self.groups),
            networks,
            access,
            factors,
            reply: (self.reply.iter())
                .map(|reply| ReplyAttribute {
                    attribute: reply.attribute.trim().to_string(),
                    value: reply.value.text(),
                })
                .collect(),
            name,
        })
    }

    /// `policy` as written (values as text).
    pub fn of(policy: &Policy) -> PolicyText {
        PolicyText {
            name: policy.name.clone(),
            clients: policy.clients.clone(),
            groups: policy.groups.clone(),
            calling_station_networks: policy.networks.iter().map(ToString::to_string).collect(),
            access: Some(policy.access.as_str().to_string()),
            factors: (policy.factors)
                .map(|factors| factors.names().into_iter().map(String::from).collect()),
            reply: (policy.reply.iter())
                .map(|reply| ReplyText {
                    attribute: reply.attribute.clone(),
                    value: ReplyValue::Text(reply.value.clone()),
                })
                .collect(),
        }
    }
}

/// Policies as written, read and checked in order.
pub fn read_policies(texts: &[PolicyText]) -> Result<PolicySet, PolicyError> {
    let policies = texts
        .iter()
        .map(PolicyText::to_policy)
        .collect::<Result<Vec<_>, _>>()?;
    PolicySet::new(policies)
}

fn trimmed(items: &[String]) -> Vec<String> {
    items
        .iter()
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect()
}
