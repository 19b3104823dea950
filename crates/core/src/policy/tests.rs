//! Policy evaluation, case by case.

use super::*;

fn policy(name: &str, clients: &[&str], groups: &[&str], networks: &[&str]) -> Policy {
    Policy {
        name: name.into(),
        clients: clients.iter().map(|c| c.to_string()).collect(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        networks: networks.iter().map(|n| n.parse().unwrap()).collect(),
        access: Access::Allow,
        factors: None,
        reply: vec![],
    }
}

fn keys(groups: &[&str]) -> Vec<String> {
    groups.iter().map(|g| group_key(g).unwrap()).collect()
}

fn chosen(set: &PolicySet, client: &str, groups: &[&str], address: Option<&str>) -> Option<String> {
    let groups = keys(groups);
    set.evaluate(&PolicyRequest {
        user: "alice",
        client,
        groups: &groups,
        calling_station: address.map(|a| a.parse().unwrap()),
    })
    .map(|matched| matched.policy.name.clone())
}

#[test]
fn the_first_matching_policy_wins() {
    let set = PolicySet::new(vec![
        policy("admins on the vpn", &["vpn"], &["local:vpn-admins"], &[]),
        policy(
            "staff in the office",
            &[],
            &["corp:CN=Staff,DC=example,DC=com"],
            &["10.0.0.0/8"],
        ),
        policy("vpn users", &["vpn"], &[], &[]),
        policy("wifi", &["wifi-1", "wifi-2"], &[], &[]),
    ])
    .unwrap();
    // (client, groups, Calling-Station-Id, chosen)
    type Case<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<&'a str>);
    let cases: &[Case<'_>] = &[
        (
            "vpn",
            &["local:vpn-admins"],
            None,
            Some("admins on the vpn"),
        ),
        (
            "vpn",
            &["local:VPN-Admins"],
            None,
            Some("admins on the vpn"),
        ),
        ("vpn", &["local:other"], None, Some("vpn users")),
        ("vpn", &[], None, Some("vpn users")),
        // The office policy needs the address: none sent, no match.
        ("fw", &["corp:cn=staff, dc=example, dc=com"], None, None),
        (
            "fw",
            &["corp:cn=staff, dc=example, dc=com"],
            Some("10.1.2.3"),
            Some("staff in the office"),
        ),
        (
            "fw",
            &["corp:cn=staff, dc=example, dc=com"],
            Some("192.0.2.1"),
            None,
        ),
        // A group of another directory with the same DN is another group.
        (
            "fw",
            &["lab:CN=Staff,DC=example,DC=com"],
            Some("10.1.2.3"),
            None,
        ),
        ("wifi-2", &[], None, Some("wifi")),
        ("unknown", &[], None, None),
    ];
    for &(client, groups, address, expected) in cases {
        assert_eq!(
            chosen(&set, client, groups, address).as_deref(),
            expected,
            "{client} {groups:?} {address:?}"
        );
    }
}

#[test]
fn no_policy_means_the_default_rules() {
    let set = PolicySet::new(vec![]).unwrap();
    assert!(set.is_empty());
    assert_eq!(chosen(&set, "vpn", &["local:a"], None), None);
}

#[test]
fn reply_values_name_the_user_and_the_group_matched() {
    let mut admins = policy("admins", &[], &["local:nobody", "local:VPN-Admins"], &[]);
    admins.reply = vec![
        ReplyAttribute {
            attribute: "Fortinet-Group-Name".into(),
            value: "%{group}".into(),
        },
        ReplyAttribute {
            attribute: "Class".into(),
            value: "user=%{user};group=%{group}".into(),
        },
    ];
    let mut everyone = policy("everyone", &[], &[], &[]);
    everyone.reply = vec![ReplyAttribute {
        attribute: "Filter-Id".into(),
        value: "default-%{group}".into(),
    }];
    let set = PolicySet::new(vec![admins, everyone]).unwrap();
    let groups = keys(&["local:vpn-admins"]);
    let request = PolicyRequest {
        user: "alice",
        client: "vpn",
        groups: &groups,
        calling_station: None,
    };
    let matched = set.evaluate(&request).unwrap();
    assert_eq!(matched.group, Some("VPN-Admins"));
    assert_eq!(
        matched.reply("alice"),
        [
            ("Fortinet-Group-Name".to_string(), "VPN-Admins".to_string()),
            (
                "Class".to_string(),
                "user=alice;group=VPN-Admins".to_string()
            ),
        ]
    );
    let nobody = set
        .evaluate(&PolicyRequest {
            groups: &[],
            ..request
        })
        .unwrap();
    assert_eq!(
        nobody.reply("bob"),
        [("Filter-Id".to_string(), "default-".to_string())]
    );
}

#[test]
fn factors_and_access_are_the_policys() {
    assert_eq!(
        Factors::parse(&["push"]).unwrap(),
        Factors {
            push: true,
            ..Factors::default()
        }
    );
    assert_eq!(
        Factors::parse(&["none", "totp"]).unwrap(),
        Factors {
            totp: true,
            none: true,
            push: false
        }
    );
    assert_eq!(Factors::parse::<&str>(&[]), Err(PolicyError::NoFactor));
    assert_eq!(
        Factors::parse(&["sms"]),
        Err(PolicyError::UnknownFactor("sms".into()))
    );
    let mut deny = policy("contractors", &[], &["local:contractors"], &[]);
    deny.access = Access::Deny;
    let set = PolicySet::new(vec![deny]).unwrap();
    let groups = keys(&["local:contractors"]);
    let matched = set
        .evaluate(&PolicyRequest {
            user: "carol",
            client: "vpn",
            groups: &groups,
            calling_station: None,
        })
        .unwrap();
    assert_eq!(matched.policy.access, Access::Deny);
    assert_eq!(
        crate::outcome::ACCESS_DENIED,
        "Access denied by policy, please contact your system administrator"
    );
}

#[test]
fn bad_policies_are_refused_naming_what_is_wrong() {
    let mut unknown = policy("p", &[], &[], &[]);
    unknown.reply = vec![ReplyAttribute {
        attribute: "Class".into(),
        value: "%{usr}".into(),
    }];
    let mut unnamed_attribute = policy("q", &[], &[], &[]);
    unnamed_attribute.reply = vec![ReplyAttribute {
        attribute: " ".into(),
        value: "x".into(),
    }];
    let cases = [
        (vec![policy("", &[], &[], &[])], PolicyError::BadName),
        (
            vec![policy("a", &[], &[], &[]), policy("A", &[], &[], &[])],
            PolicyError::DuplicateName("A".into()),
        ),
        (
            vec![policy("g", &[], &["vpn-admins"], &[])],
            PolicyError::BadGroup {
                policy: "g".into(),
                group: "vpn-admins".into(),
            },
        ),
        (
            vec![policy("g", &[], &["local:"], &[])],
            PolicyError::BadGroup {
                policy: "g".into(),
                group: "local:".into(),
            },
        ),
        (
            vec![unknown],
            PolicyError::UnknownVariable {
                policy: "p".into(),
                attribute: "Class".into(),
                variable: "%{usr}".into(),
            },
        ),
        (
            vec![unnamed_attribute],
            PolicyError::EmptyAttribute { policy: "q".into() },
        ),
        (
            (0..=MAX_POLICIES)
                .map(|i| policy(&format!("p{i}"), &[], &[], &[]))
                .collect(),
            PolicyError::TooMany,
        ),
        (
            vec![Policy {
                reply: (0..=MAX_REPLY_ATTRIBUTES)
                    .map(|_| ReplyAttribute {
                        attribute: "Class".into(),
                        value: "x".into(),
                    })
                    .collect(),
                ..policy("many", &[], &[], &[])
            }],
            PolicyError::TooManyAttributes {
                policy: "many".into(),
            },
        ),
    ];
    for (policies, error) in cases {
        assert_eq!(PolicySet::new(policies).unwrap_err(), error);
    }
    // At the bounds, accepted.
    let most: Vec<Policy> = (0..MAX_POLICIES)
        .map(|i| policy(&format!("p{i}"), &[], &[], &[]))
        .collect();
    assert_eq!(PolicySet::new(most).unwrap().policies().len(), MAX_POLICIES);
}

#[test]
fn group_keys_compare_without_case_or_spacing() {
    assert_eq!(
        group_key("local:VPN-Admins").as_deref(),
        Some("local:vpn-admins")
    );
    assert_eq!(
        group_key(" Corp : CN=VPN Admins , OU=Groups,DC=example,DC=com").as_deref(),
        Some("corp:cn=vpn admins,ou=groups,dc=example,dc=com")
    );
    assert_eq!(group_key("no-source"), None);
    assert_eq!(group_key(":name"), None);
    assert_eq!(group_key("bad source:x"), None);
}

#[test]
fn a_set_says_whether_it_names_a_directorys_groups() {
    let set = PolicySet::new(vec![policy(
        "p",
        &[],
        &["local:staff", "Corp:CN=VPN,DC=example,DC=com"],
        &[],
    )])
    .unwrap();
    assert!(set.names_source("corp") && set.names_source("CORP"));
    assert!(set.names_source("local"));
    assert!(!set.names_source("lab") && !set.names_source("cor"));
    assert!(!PolicySet::default().names_source("corp"));
}
