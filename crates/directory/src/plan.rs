//! The pure half of a directory lookup: what a typed login name means, the
//! search filter that finds its entry, and what an entry's attributes say
//! (stable identity, disabled, groups). No I/O.

use ldap3::ldap_escape;

use crate::settings::DirectorySettings;

/// Active Directory's ACCOUNTDISABLE bit of `userAccountControl`.
pub const ACCOUNT_DISABLED: i64 = 0x2;

/// The matching rule that makes `memberOf` follow nested groups in Active
/// Directory (LDAP_MATCHING_RULE_IN_CHAIN).
pub const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// A login name as typed, split into account and domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName<'a> {
    /// `john`
    Plain(&'a str),
    /// `EXAMPLE\john`
    Netbios { domain: &'a str, account: &'a str },
    /// `john@example.com`
    Principal {
        whole: &'a str,
        account: &'a str,
        suffix: &'a str,
    },
}

impl<'a> LoginName<'a> {
    pub fn parse(login: &'a str) -> LoginName<'a> {
        let login = login.trim();
        if let Some((domain, account)) = login.split_once('\\')
            && !domain.is_empty()
            && !account.is_empty()
        {
            return LoginName::Netbios { domain, account };
        }
        if let Some((account, suffix)) = login.rsplit_once('@')
            && !account.is_empty()
            && !suffix.is_empty()
        {
            return LoginName::Principal {
                whole: login,
                account,
                suffix,
            };
        }
        LoginName::Plain(login)
    }
}

/// The values to look for in a directory's login attributes, or `None`
/// when the name belongs to another directory (a NetBIOS domain this one
/// does not have). `EXAMPLE\john` → `john`; `john@example.com` → itself,
/// and `john` too when `example.com` is one of the directory's UPN
/// suffixes (an account name under an alternative suffix).
pub fn search_values(settings: &DirectorySettings, login: &LoginName<'_>) -> Option<Vec<String>> {
    match *login {
        LoginName::Plain(account) => Some(vec![account.to_string()]),
        LoginName::Netbios { domain, account } => settings
            .netbios_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
            .then(|| vec![account.to_string()]),
        LoginName::Principal {
            whole,
            account,
            suffix,
        } => {
            let mut values = vec![whole.to_string()];
            if settings
                .upn_suffixes
                .iter()
                .any(|s| s.eq_ignore_ascii_case(suffix))
            {
                values.push(account.to_string());
            }
            Some(values)
        }
    }
}

/// `(&<user_filter>(|(attr=value)…))` for every login attribute and value,
/// values escaped (RFC 4515): a typed `*` or `)` is only ever a character.
pub fn user_search_filter(settings: &DirectorySettings, values: &[String]) -> String {
    let mut any = String::new();
    for value in values {
        let escaped = ldap_escape(value);
        for attribute in &settings.login_attributes {
            any.push_str(&format!("({attribute}={escaped})"));
        }
    }
    format!("(&{}(|{any}))", wrap(&settings.user_filter))
}

/// A filter in parentheses (configured filters may be written without).
pub(crate) fn wrap(filter: &str) -> String {
    let filter = filter.trim();
    if filter.starts_with('(') {
        filter.to_string()
    } else {
        format!("({filter})")
    }
}

/// The filter that matches the user entry (searched at its own DN) when it
/// is in one of `groups`, nested groups included (Active Directory).
pub fn nested_group_filter(groups: &[String]) -> String {
    let mut any = String::new();
    for group in groups {
        any.push_str(&format!("(memberOf:{IN_CHAIN}:={})", ldap_escape(group)));
    }
    format!("(|{any})")
}

/// A stable identity as text: Active Directory's `objectGUID` (16 raw
/// bytes) in its usual GUID form, anything else (OpenLDAP's `entryUUID`)
/// as lowercase text, or hex when it is not text.
pub fn stable_id(attribute: &str, value: &[u8]) -> String {
    if attribute.eq_ignore_ascii_case("objectGUID") && value.len() == 16 {
        return guid(value);
    }
    match std::str::from_utf8(value) {
        Ok(text) => text.trim().to_lowercase(),
        Err(_) => value.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// `objectGUID` bytes as Windows shows them: the first three fields are
/// little-endian.
pub fn guid(bytes: &[u8]) -> String {
    let b = bytes;
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Whether a `userAccountControl` value has ACCOUNTDISABLE set.
pub fn is_disabled(user_account_control: &str) -> bool {
    user_account_control
        .trim()
        .parse::<i64>()
        .is_ok_and(|flags| flags & ACCOUNT_DISABLED != 0)
}

pub use gatehouse_core::directory::{in_groups as in_allowed_groups, normalize_dn};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{DirectoryKind, DirectorySettings};

    fn ad() -> DirectorySettings {
        DirectorySettings {
            netbios_domains: vec!["EXAMPLE".into()],
            upn_suffixes: vec!["example.com".into()],
            user_filter: "(objectClass=user)".into(),
            ..DirectorySettings::defaults(DirectoryKind::ActiveDirectory)
        }
    }

    #[test]
    fn every_spelling_of_a_name_searches_for_the_account() {
        let ad = ad();
        let cases: [(&str, Option<Vec<&str>>); 7] = [
            ("john", Some(vec!["john"])),
            ("  JOHN ", Some(vec!["JOHN"])),
            ("EXAMPLE\\john", Some(vec!["john"])),
            ("example\\john", Some(vec!["john"])),
            ("OTHER\\john", None),
            ("john@example.com", Some(vec!["john@example.com", "john"])),
            ("john@elsewhere.org", Some(vec!["john@elsewhere.org"])),
        ];
        for (typed, expected) in cases {
            let values = search_values(&ad, &LoginName::parse(typed));
            let expected = expected.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(values, expected, "{typed:?}");
        }
    }

    #[test]
    fn the_filter_escapes_what_was_typed() {
        let ad = ad();
        let filter = user_search_filter(&ad, &["jo*hn)(uid=*".to_string()]);
        assert_eq!(
            filter,
            "(&(objectClass=user)(|(sAMAccountName=jo\\2ahn\\29\\28uid=\\2a)(userPrincipalName=jo\\2ahn\\29\\28uid=\\2a)))"
        );
        let plain = DirectorySettings {
            user_filter: "objectClass=inetOrgPerson".into(),
            ..DirectorySettings::defaults(DirectoryKind::OpenLdap)
        };
        assert_eq!(
            user_search_filter(&plain, &["a".into(), "b".into()]),
            "(&(objectClass=inetOrgPerson)(|(uid=a)(mail=a)(uid=b)(mail=b)))"
        );
        assert_eq!(
            nested_group_filter(&["cn=VPN (all),dc=example".into()]),
            "(|(memberOf:1.2.840.113556.1.4.1941:=cn=VPN \\28all\\29,dc=example))"
        );
    }

    #[test]
    fn identities_are_stable_text() {
        // objectGUID {be66537d-0396-5de8-99bf-6a7ecce2d49d} as AD sends it.
        let bytes = [
            0x7d, 0x53, 0x66, 0xbe, 0x96, 0x03, 0xe8, 0x5d, 0x99, 0xbf, 0x6a, 0x7e, 0xcc, 0xe2,
            0xd4, 0x9d,
        ];
        assert_eq!(
            stable_id("objectGUID", &bytes),
            "be66537d-0396-5de8-99bf-6a7ecce2d49d"
        );
        assert_eq!(
            stable_id("entryUUID", b"FD59B34C-7F9C-1041-8B06-35A96739A5E6"),
            "fd59b34c-7f9c-1041-8b06-35a96739a5e6"
        );
        assert_eq!(stable_id("employeeNumber", &[0xff, 0x01]), "ff01");
    }

    #[test]
    fn disabled_accounts_and_groups() {
        assert!(!is_disabled("512"));
        assert!(is_disabled("514"));
        assert!(is_disabled("66050"));
        assert!(!is_disabled("not a number"));
        let member_of = vec!["CN=VPN Users, OU=Groups,DC=example,DC=com".to_string()];
        assert!(in_allowed_groups(
            &member_of,
            &["cn=vpn users,ou=groups,dc=example,dc=com".into()]
        ));
        assert!(!in_allowed_groups(
            &member_of,
            &["cn=admins,ou=groups,dc=example,dc=com".into()]
        ));
    }
}
