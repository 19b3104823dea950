//! One `[[directory]]`: its servers, service account, where users live and
//! how they are named. `validate` turns what the configuration file says
//! into errors that name the key.

use std::fmt;
use std::time::Duration;

/// Attributes that are unique per entry and never change for its life
/// (SPEC §11): the directory's own entry identifiers. A seat is keyed on
/// this value, so an attribute several people share (`o`, `department`) or
/// one that can be edited (`mail`, `uid`) would let several people share
/// one seat, or one person take several.
pub const IDENTITY_ATTRIBUTES: &[&str] = &[
    "objectGUID",
    "entryUUID",
    "nsUniqueId",
    "ipaUniqueID",
    "GUID",
];

/// Which defaults apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryKind {
    /// `sAMAccountName` / `userPrincipalName`, `objectGUID`,
    /// `userAccountControl`, nested groups.
    ActiveDirectory,
    /// `uid` / `mail`, `entryUUID`, plain `memberOf`.
    OpenLdap,
}

impl DirectoryKind {
    pub fn parse(text: &str) -> Option<DirectoryKind> {
        match text {
            "active_directory" | "ad" => Some(DirectoryKind::ActiveDirectory),
            "openldap" | "ldap" => Some(DirectoryKind::OpenLdap),
            _ => None,
        }
    }
}

/// One directory.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectorySettings {
    /// Shown in logs and `directory test`.
    pub name: String,
    pub kind: DirectoryKind,
    /// `ldap://host[:port]` or `ldaps://host[:port]`, tried in order.
    pub urls: Vec<String>,
    /// StartTLS on `ldap://` URLs (on by default; plain LDAP only to a
    /// loopback host).
    pub starttls: bool,
    /// The service account that searches for users.
    pub bind_dn: String,
    pub bind_password: String,
    pub base_dn: String,
    pub user_filter: String,
    /// Attributes a user may log in with, the first one shown as the login
    /// name.
    pub login_attributes: Vec<String>,
    pub identity_attribute: String,
    pub display_name_attribute: String,
    /// Group DNs; empty: every user found may log in.
    pub allowed_groups: Vec<String>,
    /// Follow nested groups (Active Directory's in-chain rule).
    pub nested_groups: bool,
    /// Short names for group DNs (alias in lowercase, DN), so a policy
    /// may say `corp:vpn-admins` (and `%{group}` be `vpn-admins`).
    pub group_aliases: Vec<(String, String)>,
    /// `EXAMPLE` of `EXAMPLE\john`.
    pub netbios_domains: Vec<String>,
    /// `example.com` of `john@example.com`.
    pub upn_suffixes: Vec<String>,
    /// PEM CA certificates to trust besides the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// Per connection attempt and per operation.
    pub timeout: Duration,
    /// How long a password the directory accepted is remembered, bound to
    /// the entry's revision ([`DirectorySettings::revision_attributes`]):
    /// zero (the default) binds at every login.
    pub cache: Duration,
}

impl fmt::Debug for DirectorySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectorySettings")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("urls", &self.urls)
            .field("starttls", &self.starttls)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &"<redacted>")
            .field("base_dn", &self.base_dn)
            .field("user_filter", &self.user_filter)
            .field("login_attributes", &self.login_attributes)
            .field("identity_attribute", &self.identity_attribute)
            .field("allowed_groups", &self.allowed_groups)
            .finish_non_exhaustive()
    }
}

/// The longest `cache_seconds`.
pub const MAX_CACHE: Duration = Duration::from_secs(86_400);

impl DirectorySettings {
    /// The operational attributes that change whenever the entry does (its
    /// password, its groups, its account state), first present wins:
    /// Active Directory's `uSNChanged`; OpenLDAP's `entryCSN`, else
    /// `modifyTimestamp`. A remembered password is bound to it.
    pub fn revision_attributes(&self) -> &'static [&'static str] {
        match self.kind {
            DirectoryKind::ActiveDirectory => &["uSNChanged"],
            DirectoryKind::OpenLdap => &["entryCSN", "modifyTimestamp"],
        }
    }

    /// The defaults of `kind`, with nothing about where the directory is.
    pub fn defaults(kind: DirectoryKind) -> DirectorySettings {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        let ad = kind == DirectoryKind::ActiveDirectory;
        DirectorySettings {
            name: "directory".into(),
            kind,
            urls: Vec::new(),
            starttls: true,
            bind_dn: String::new(),
            bind_password: String::new(),
            base_dn: String::new(),
            user_filter: if ad {
                "(&(objectCategory=person)(objectClass=user))".into()
            } else {
                "(objectClass=inetOrgPerson)".into()
            },
            login_attributes: if ad {
                strings(&["sAMAccountName", "userPrincipalName"])
            } else {
                strings(&["uid", "mail"])
            },
            identity_attribute: if ad { "objectGUID" } else { "entryUUID" }.into(),
            display_name_attribute: if ad { "displayName" } else { "cn" }.into(),
            allowed_groups: Vec::new(),
            nested_groups: ad,
            group_aliases: Vec::new(),
            netbios_domains: Vec::new(),
            upn_suffixes: Vec::new(),
            ca_pem: None,
            timeout: Duration::from_secs(5),
            cache: Duration::ZERO,
        }
    }

    /// Checks what the file said; the error names the key (without the
    /// `directory[N].` prefix, which the caller adds).
    pub fn validate(&self) -> Result<(), String> {
        if self.urls.is_empty() {
            return Err("urls: list at least one ldap:// or ldaps:// URL".into());
        }
        for url in &self.urls {
            let Some(host) = url
                .strip_prefix("ldaps://")
                .or_else(|| url.strip_prefix("ldap://"))
            else {
                return Err(format!("urls: {url:?} is not an ldap:// or ldaps:// URL"));
            };
            let host = host.split('/').next().unwrap_or_default();
            let bare = host_of(host);
            if bare.is_empty() {
                return Err(format!("urls: {url:?} has no host"));
            }
            if url.starts_with("ldap://")
                && !self.starttls
                && !gatehouse_tls::is_loopback_host(bare)
            {
                return Err(format!(
                    "starttls: plain LDAP to {bare} would send passwords in clear; \
                     use StartTLS or ldaps:// (plain is allowed to loopback only)"
                ));
            }
        }
        if self.base_dn.trim().is_empty() {
            return Err("base_dn: set where users are searched, e.g. \"dc=example,dc=com\"".into());
        }
        if self.bind_dn.trim().is_empty() || self.bind_password.is_empty() {
            return Err(
                "bind_dn: set the service account and its password (bind_password or bind_password_file)"
                    .into(),
            );
        }
        if self.login_attributes.is_empty()
            || self.login_attributes.iter().any(|a| !is_attribute(a))
        {
            return Err("login_attributes: list attribute names such as \"uid\"".into());
        }
        for (key, value) in [
            ("identity_attribute", &self.identity_attribute),
            ("display_name_attribute", &self.display_name_attribute),
        ] {
            if !is_attribute(value) {
                return Err(format!("{key}: {value:?} is not an attribute name"));
            }
        }
        if !IDENTITY_ATTRIBUTES
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&self.identity_attribute))
        {
            return Err(format!(
                "identity_attribute: {:?} is not unique and immutable per entry; use one of {}",
                self.identity_attribute,
                IDENTITY_ATTRIBUTES.join(", ")
            ));
        }
        if ldap3::parse_filter(crate::plan::wrap(&self.user_filter)).is_err() {
            return Err(format!(
                "user_filter: {:?} is not an LDAP filter",
                self.user_filter
            ));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(60) {
            return Err("timeout_ms: between 1 and 60000".into());
        }
        if self.cache > MAX_CACHE {
            return Err(format!(
                "cache_seconds: at most {} (one day)",
                MAX_CACHE.as_secs()
            ));
        }
        let mut aliases = std::collections::HashSet::new();
        for (alias, dn) in &self.group_aliases {
            let short = !alias.is_empty()
                && alias.len() <= 64
                && (alias.chars())
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !short {
                return Err(format!(
                    "group_aliases: {alias:?} is not a short name (1 to 64 letters, digits, '-', '_' or '.')"
                ));
            }
            if !dn.contains('=') {
                return Err(format!(
                    "group_aliases.{alias}: {dn:?} is not a group DN such as \"CN=VPN Admins,OU=Groups,DC=example,DC=com\""
                ));
            }
            if !aliases.insert(alias.to_lowercase()) {
                return Err(format!("group_aliases: {alias:?} is named twice"));
            }
        }
        Ok(())
    }
}

/// `host`, `host:port`, `[v6]:port` → the host.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// An attribute name or OID: letters, digits, `-`, `.`, `;`.
fn is_attribute(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ';'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> DirectorySettings {
        DirectorySettings {
            urls: vec![
                "ldaps://dc1.example.com".into(),
                "ldap://dc2.example.com:389".into(),
            ],
            bind_dn: "cn=gatehouse,dc=example,dc=com".into(),
            bind_password: "secret".into(),
            base_dn: "dc=example,dc=com".into(),
            ..DirectorySettings::defaults(DirectoryKind::ActiveDirectory)
        }
    }

    #[test]
    fn bad_settings_name_their_key() {
        assert_eq!(valid().validate(), Ok(()));
        let cases: Vec<(DirectorySettings, &str)> = vec![
            (
                DirectorySettings {
                    urls: vec![],
                    ..valid()
                },
                "urls",
            ),
            (
                DirectorySettings {
                    urls: vec!["http://dc".into()],
                    ..valid()
                },
                "urls",
            ),
            (
                DirectorySettings {
                    starttls: false,
                    ..valid()
                },
                "starttls",
            ),
            (
                DirectorySettings {
                    base_dn: " ".into(),
                    ..valid()
                },
                "base_dn",
            ),
            (
                DirectorySettings {
                    bind_password: String::new(),
                    ..valid()
                },
                "bind_dn",
            ),
            (
                DirectorySettings {
                    login_attributes: vec!["u id".into()],
                    ..valid()
                },
                "login_attributes",
            ),
            (
                DirectorySettings {
                    identity_attribute: String::new(),
                    ..valid()
                },
                "identity_attribute",
            ),
            (
                DirectorySettings {
                    identity_attribute: "o".into(),
                    ..valid()
                },
                "identity_attribute",
            ),
            (
                DirectorySettings {
                    identity_attribute: "mail".into(),
                    ..valid()
                },
                "identity_attribute",
            ),
            (
                DirectorySettings {
                    user_filter: "(objectClass=user".into(),
                    ..valid()
                },
                "user_filter",
            ),
            (
                DirectorySettings {
                    cache: MAX_CACHE + Duration::from_secs(1),
                    ..valid()
                },
                "cache_seconds",
            ),
            (
                DirectorySettings {
                    timeout: Duration::ZERO,
                    ..valid()
                },
                "timeout_ms",
            ),
        ];
        for (settings, key) in cases {
            let error = settings.validate().unwrap_err();
            assert!(error.starts_with(key), "{key}: {error}");
        }
        // Plain LDAP is fine to a loopback server.
        let local = DirectorySettings {
            urls: vec!["ldap://127.0.0.1:3890".into()],
            starttls: false,
            ..valid()
        };
        assert_eq!(local.validate(), Ok(()));
        // Every identifier of the set, in any case (attribute names are
        // case-insensitive in LDAP).
        for attribute in IDENTITY_ATTRIBUTES
            .iter()
            .map(|a| a.to_string())
            .chain(["objectguid".to_string(), "ENTRYUUID".to_string()])
        {
            let settings = DirectorySettings {
                identity_attribute: attribute.clone(),
                ..valid()
            };
            assert_eq!(settings.validate(), Ok(()), "{attribute}");
        }
        assert!(!format!("{:?}", valid()).contains("secret"));
    }
}
