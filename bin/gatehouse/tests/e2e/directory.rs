//! Directory users against a real OpenLDAP server (slapd), through the real
//! `gatehouse` binary: every spelling of a name is one seat, refusals
//! (disabled, outside the allowed groups, wrong password, unknown,
//! ambiguous) never count, StartTLS and LDAPS with a private CA, failover,
//! every server down, and bind connections kept and reused.

use crate::support;
use crate::support::{
    CountingProxy, Installation, LDAP_BASE_DN, LDAP_BIND_DN, LDAP_BIND_PASSWORD, LDAP_VPN_GROUP,
    Server, Slapd, ad_directory, dev_key, free_port, issue, pap,
};
use gatehouse_license::jiff::Timestamp;
use serde_json::Value;

const INVALID_TEXT: &str = "Reject: Invalid username or password";
const UNAVAILABLE_TEXT: &str = "Reject: Authentication service unavailable, please try again later";
const BINDS: &str = "gatehouse_directory_password_checks_total{how=\"bind\"}";
const REMEMBERED: &str = "gatehouse_directory_password_checks_total{how=\"remembered\"}";
const LIMIT_TEXT: &str = "Reject: User limit exceeded, please contact your system administrator";

/// An installation (UTC) whose configuration has `directory` appended.
/// An installation with `directory`, whose vpn-users group is exempt from
/// the second factor (`mfa.exempt_groups`): these tests are about who the
/// directory lets in and how they are counted.
fn installation(directory: &str) -> Installation {
    let gh = Installation::new("UTC");
    gh.append_config(&format!(
        "\n[mfa]\nexempt_groups = [\"{LDAP_VPN_GROUP}\"]\n"
    ));
    gh.append_config(directory);
    gh
}

fn month(gh: &Installation) -> String {
    gh.license_json()["month"].as_str().unwrap().to_string()
}

fn test_json(gh: &Installation, user: &str, password: Option<&str>) -> (Value, bool) {
    let mut args = vec!["directory", "test", user, "--json"];
    if password.is_some() {
        args.push("--password-stdin");
    }
    let output = gh.run(&args, &format!("{}\n", password.unwrap_or_default()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "directory test {user}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (value, output.status.success())
}

#[test]
fn every_spelling_of_a_directory_user_is_one_seat() {
    const TEST: &str = "every_spelling_of_a_directory_user_is_one_seat";
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let gh = installation(&ad_directory(&[slapd.url()], "starttls = false\n"));
    for spelling in [
        "john",
        "JOHN",
        "EXAMPLE\\john",
        "john@example.com",
        "John@Example.COM",
    ] {
        let (reply, stderr) = gh.auth_with(spelling, "john-secret");
        assert_eq!(reply, "Accept", "{spelling}: {stderr}");
    }
    let month = month(&gh);
    assert_eq!(
        gh.users(&month),
        ["john"],
        "one seat, shown by its account name"
    );
    assert_eq!(gh.license_json()["active_users"], 1);
    let users: Value =
        serde_json::from_str(&gh.ok(&["users", "--month", &month, "--json"], "")).unwrap();
    assert_eq!(users[0]["display_name"], "John Smith");
    assert_eq!(users[0]["source"], "directory");
    // `directory test` shows the same seat for every spelling, and counts
    // nothing.
    let (john, ok) = test_json(&gh, "EXAMPLE\\JOHN", Some("john-secret"));
    assert!(ok, "{john}");
    assert_eq!(
        john["seat_key"],
        "directory:be66537d-0396-5de8-99bf-6a7ecce2d49d"
    );
    assert_eq!(john["dn"], "cn=John Smith,ou=people,dc=example,dc=test");
    assert_eq!(john["server"], slapd.url());
    assert_eq!(john["groups"], serde_json::json!([LDAP_VPN_GROUP]));
    assert_eq!(john["password"], "correct");
    let (upn, _) = test_json(&gh, "john@example.com", None);
    assert_eq!(upn["seat_key"], john["seat_key"]);
    assert_eq!(gh.license_json()["active_users"], 1);
}

/// SPEC §12: a directory user with no enrolled factor is refused after
/// the password unless a group they belong to is in `mfa.exempt_groups`.
#[test]
fn directory_users_need_a_second_factor_unless_their_group_is_exempt() {
    const TEST: &str = "directory_users_need_a_second_factor_unless_their_group_is_exempt";
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.append_config("\n[mfa]\nexempt_groups = [\"cn=other,ou=groups,dc=example,dc=test\"]\n");
    gh.append_config(&ad_directory(&[slapd.url()], "starttls = false\n"));
    let (reply, stderr) = gh.auth_with("john", "john-secret");
    assert_eq!(
        reply, "Reject: A second factor is required, please contact your system administrator",
        "{stderr}"
    );
    assert_eq!(
        gh.auth_with("john", "wrong").0,
        "Reject: Invalid username or password"
    );
    assert!(gh.users(&month(&gh)).is_empty());
    let exempt = installation(&ad_directory(&[slapd.url()], "starttls = false\n"));
    assert_eq!(exempt.auth_with("john", "john-secret").0, "Accept");
}

#[test]
fn directory_refusals_never_count() {
    const TEST: &str = "directory_refusals_never_count";
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let gh = installation(&ad_directory(&[slapd.url()], "starttls = false\n"));
    let cases = [
        ("dave", "dave-secret", "account disabled in the directory"),
        ("eve", "eve-secret", "not in an allowed directory group"),
        ("john", "wrong-password", "wrong password"),
        ("john", "", "no password"),
        ("nobody", "nobody-secret", "unknown user"),
        ("OTHER\\john", "john-secret", "unknown user"),
        ("jo*", "john-secret", "unknown user"),
        (
            "sam@example.com",
            "sam-secret",
            "matches several directory entries",
        ),
    ];
    for (user, password, why) in cases {
        if password.is_empty() {
            let output = gh.run(&["auth", user, "--password-stdin"], "\n");
            assert!(!output.status.success(), "an empty password is refused");
            continue;
        }
        let (reply, stderr) = gh.auth_with(user, password);
        assert_eq!(reply, INVALID_TEXT, "{user}");
        if why == "matches several directory entries" {
            assert!(stderr.contains(why), "{user}: {stderr}");
            assert!(
                stderr.contains("cn=Sam One") && stderr.contains("cn=Sam Two"),
                "{stderr}"
            );
        }
    }
    assert!(gh.users(&month(&gh)).is_empty(), "nobody counted");
    assert_eq!(gh.license_json()["active_users"], 0);
    // `directory test` says why.
    let (eve, ok) = test_json(&gh, "eve", Some("eve-secret"));
    assert!(!ok);
    assert_eq!(eve["allowed"], false);
    assert_eq!(eve["refused"], "the account is not in an allowed group");
    let (dave, ok) = test_json(&gh, "dave", None);
    assert!(!ok);
    assert_eq!(dave["disabled"], true);
    let ambiguous = gh.run(&["directory", "test", "sam@example.com"], "");
    assert!(!ambiguous.status.success());
    assert!(
        String::from_utf8_lossy(&ambiguous.stderr).contains("matches several directory entries")
    );
}

/// Active Directory answers a search from the domain's root with the
/// entries and continuation references to DomainDnsZones, ForestDnsZones
/// and Configuration. The references are passed over: the user logs in,
/// and ambiguity is still seen.
#[test]
fn references_from_the_domain_root_are_passed_over() {
    const TEST: &str = "references_from_the_domain_root_are_passed_over";
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let Some(ldapsearch) = gatehouse_testkit::peer("ldapsearch", TEST) else {
        return;
    };
    // The directory does send them to the search Gatehouse makes.
    let output = std::process::Command::new(ldapsearch)
        .args(["-x", "-H", &slapd.url(), "-D", LDAP_BIND_DN, "-w"])
        .args([
            LDAP_BIND_PASSWORD,
            "-b",
            LDAP_BASE_DN,
            "(sAMAccountName=john)",
            "dn",
        ])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "ldapsearch: {listing}");
    let lines = |prefix: &str| listing.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!((lines("dn: "), lines("ref: ")), (1, 3), "{listing}");

    let gh = installation(&ad_directory(&[slapd.url()], "starttls = false\n"));
    let (reply, stderr) = gh.auth_with("john", "john-secret");
    assert_eq!(reply, "Accept", "{stderr}");
    let (reply, stderr) = gh.auth_with("sam@example.com", "sam-secret");
    assert_eq!(reply, INVALID_TEXT);
    assert!(
        stderr.contains("matches several directory entries"),
        "{stderr}"
    );
    assert_eq!(gh.users(&month(&gh)), ["john"]);
}

#[test]
fn a_plain_openldap_directory_keys_on_entry_uuid() {
    const TEST: &str = "a_plain_openldap_directory_keys_on_entry_uuid";
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let gh = installation(&format!(
        "\n[[directory]]\nkind = \"openldap\"\nurls = [\"{}\"]\nstarttls = false\n\
         bind_dn = \"{LDAP_BIND_DN}\"\nbind_password = \"{LDAP_BIND_PASSWORD}\"\n\
         base_dn = \"ou=people,{LDAP_BASE_DN}\"\nallowed_groups = [\"{LDAP_VPN_GROUP}\"]\n",
        slapd.url()
    ));
    for spelling in ["olivia", "Olivia", "olivia@example.org"] {
        let (reply, stderr) = gh.auth_with(spelling, "olivia-secret");
        assert_eq!(reply, "Accept", "{spelling}: {stderr}");
    }
    assert_eq!(gh.users(&month(&gh)), ["olivia"]);
    let (olivia, ok) = test_json(&gh, "olivia", None);
    assert!(ok);
    let seat = olivia["seat_key"].as_str().unwrap();
    let uuid = seat.strip_prefix("directory:").unwrap();
    assert_eq!(uuid.len(), 36, "an entryUUID: {seat}");
    assert_eq!(olivia["display_name"], "Olivia Plain");
}

#[test]
fn starttls_and_ldaps_with_a_private_ca() {
    const TEST: &str = "starttls_and_ldaps_with_a_private_ca";
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let ca = format!("ca_file = \"{}\"\n", slapd.ca.display());
    for url in [slapd.starttls_url(), slapd.ldaps_url()] {
        let gh = installation(&ad_directory(std::slice::from_ref(&url), &ca));
        let (reply, stderr) = gh.auth_with("john", "john-secret");
        assert_eq!(reply, "Accept", "{url}: {stderr}");
        // Without the CA the server is not trusted: unavailable, and said
        // why.
        let untrusted = installation(&ad_directory(std::slice::from_ref(&url), ""));
        let (reply, stderr) = untrusted.auth_with("john", "john-secret");
        assert_eq!(reply, UNAVAILABLE_TEXT, "{url}");
        assert!(
            stderr.to_lowercase().contains("certificate"),
            "{url}: {stderr}"
        );
    }
    // Plain LDAP to a remote host is refused at start.
    let remote = installation(&ad_directory(
        &["ldap://ldap.example.com".to_string()],
        "starttls = false\n",
    ));
    let output = remote.run(&["license", "show"], "");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("directory[0].starttls"));
}

#[test]
fn a_dead_first_server_fails_over_to_the_second() {
    const TEST: &str = "a_dead_first_server_fails_over_to_the_second";
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let dead = format!("ldap://127.0.0.1:{}", free_port());
    let gh = installation(&ad_directory(&[dead, slapd.url()], "starttls = false\n"));
    let (reply, stderr) = gh.auth_with("john", "john-secret");
    assert_eq!(reply, "Accept", "{stderr}");
    let (john, _) = test_json(&gh, "john", None);
    assert_eq!(john["server"], slapd.url(), "found on the live server");
}

#[test]
fn every_server_down_refuses_directory_users_and_counts_nobody() {
    const TEST: &str = "every_server_down_refuses_directory_users_and_counts_nobody";
    let Some(mut slapd) = Slapd::start(TEST) else {
        return;
    };
    let dead = format!("ldap://127.0.0.1:{}", free_port());
    let gh = installation(&ad_directory(&[dead, slapd.url()], "starttls = false\n"));
    gh.add_user("alice");
    slapd.stop();
    let (reply, stderr) = gh.auth_with("john", "john-secret");
    assert_eq!(reply, UNAVAILABLE_TEXT);
    assert!(stderr.contains("directory unavailable"), "{stderr}");
    assert!(
        stderr.contains(&slapd.url()),
        "names the servers tried: {stderr}"
    );
    // Local users are unaffected.
    assert_eq!(gh.auth("alice").0, "Accept");
    assert_eq!(gh.users(&month(&gh)), ["alice"]);
    // Back up: the directory user logs in.
    slapd.resume();
    assert_eq!(gh.auth_with("john", "john-secret").0, "Accept");
    assert_eq!(gh.license_json()["active_users"], 2);
}

#[test]
fn a_full_license_counts_local_and_directory_users_alike() {
    const TEST: &str = "a_full_license_counts_local_and_directory_users_alike";
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let gh = installation(&ad_directory(&[slapd.url()], "starttls = false\n"));
    let support_end = Timestamp::now()
        .checked_add(gatehouse_license::jiff::SignedDuration::from_hours(24 * 90))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    let key = issue(
        &dev_key(),
        &gh.app_key(),
        2,
        &support_end,
        &Timestamp::now().to_string(),
    );
    gh.ok(&["license", "install", &key], "");
    for name in ["alice", "bob"] {
        gh.add_user(name);
    }
    assert_eq!(gh.auth("alice").0, "Accept");
    assert_eq!(gh.auth_with("EXAMPLE\\john", "john-secret").0, "Accept");
    // Full: new users are refused, local or directory.
    assert_eq!(gh.auth("bob").0, LIMIT_TEXT);
    assert_eq!(gh.auth_with("sam", "sam-secret").0, LIMIT_TEXT);
    // Counted users keep logging in, however they type their name.
    assert_eq!(gh.auth_with("john@example.com", "john-secret").0, "Accept");
    assert_eq!(gh.auth("alice").0, "Accept");
    assert_eq!(gh.users(&month(&gh)), ["alice", "john"]);
    let refused: Value = serde_json::from_str(&gh.ok(&["refused", "--json"], "")).unwrap();
    let mut refused: Vec<&str> = refused
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["username"].as_str().unwrap())
        .collect();
    refused.sort_unstable();
    assert_eq!(refused, ["bob", "sam"]);
}

/// Password binds reuse the connections kept from earlier binds: thirty
/// logins of two directory users through a running server open a handful
/// of connections to the directory (the service account's and the bind
/// connections), not one per login; a wrong password on a kept connection
/// leaves the next user's right one accepted; connections the directory
/// dropped (a restart) are replaced and the next login still passes.
#[test]
fn directory_logins_reuse_their_bind_connections() {
    const TEST: &str = "directory_logins_reuse_their_bind_connections";
    const SECRET: &str = "directory-test-shared-secret";
    let Some(radclient) = gatehouse_testkit::peer("radclient", TEST) else {
        return;
    };
    let Some(mut slapd) = Slapd::start(TEST) else {
        return;
    };
    let proxy = CountingProxy::start(slapd.ldap_port);
    let server = Server::start(
        installation(&ad_directory(&[proxy.url()], "starttls = false\n")),
        &format!(
            "\n[[radius.clients]]\nname = \"vpn\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n"
        ),
    );
    let login = |user: &str, password: &str| {
        support::radclient(&radclient, server.radius_port, &pap(user, password), SECRET)
            .code
            .unwrap_or_default()
    };
    for round in 0..10 {
        assert_eq!(
            login("john", "john-secret"),
            "Access-Accept",
            "round {round}"
        );
        assert_eq!(login("samtwo", "wrong"), "Access-Reject", "round {round}");
        assert_eq!(
            login("samtwo", "sam-secret"),
            "Access-Accept",
            "round {round}"
        );
    }
    assert_eq!(
        proxy.opened(),
        2,
        "30 logins one after another: the service account's connection and one bind connection"
    );
    let metrics = server.metrics();
    assert_eq!(
        (metrics.value(BINDS), metrics.value(REMEMBERED)),
        (30, 0),
        "without cache_seconds every password is checked by a bind"
    );
    slapd.stop();
    slapd.resume();
    assert_eq!(login("john", "john-secret"), "Access-Accept");
    assert_eq!(login("samtwo", "wrong"), "Access-Reject");
    assert_eq!(server.gh.license_json()["active_users"], 2);
}

/// With `cache_seconds`, a password the directory accepted is remembered
/// for that entry at that revision: the same password again is not sent
/// to the directory, while the entry is still searched at every login (so
/// leaving an allowed group takes effect at once). A wrong password
/// forgets what was remembered; a password changed in the directory
/// changes the entry's revision, so the old one is refused by the
/// directory itself.
#[test]
fn a_remembered_directory_password_is_bound_to_the_entry() {
    const TEST: &str = "a_remembered_directory_password_is_bound_to_the_entry";
    const SECRET: &str = "directory-test-shared-secret";
    let Some(radclient) = gatehouse_testkit::peer("radclient", TEST) else {
        return;
    };
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let server = Server::start(
        installation(&format!(
            "\n[[directory]]\nkind = \"openldap\"\nurls = [\"{}\"]\nstarttls = false\n\
             bind_dn = \"{LDAP_BIND_DN}\"\nbind_password = \"{LDAP_BIND_PASSWORD}\"\n\
             base_dn = \"ou=people,{LDAP_BASE_DN}\"\nallowed_groups = [\"{LDAP_VPN_GROUP}\"]\n\
             cache_seconds = 300\n",
            slapd.url()
        )),
        &format!(
            "\n[[radius.clients]]\nname = \"vpn\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n"
        ),
    );
    let login = |password: &str| {
        support::radclient(
            &radclient,
            server.radius_port,
            &pap("olivia", password),
            SECRET,
        )
        .code
        .unwrap_or_default()
    };
    let checks = || {
        let metrics = server.metrics();
        (metrics.value(BINDS), metrics.value(REMEMBERED))
    };
    for _ in 0..3 {
        assert_eq!(login("olivia-secret"), "Access-Accept");
    }
    assert_eq!(checks(), (1, 2), "one bind, then remembered");
    assert_eq!(login("olivia-wrong"), "Access-Reject");
    assert_eq!(checks(), (2, 2), "a wrong password goes to the directory");
    assert_eq!(login("olivia-secret"), "Access-Accept");
    assert_eq!(checks(), (3, 2), "the wrong password made it forget");
    assert_eq!(login("olivia-secret"), "Access-Accept");
    assert_eq!(checks(), (3, 3));
    slapd.modify(&format!(
        "dn: uid=olivia,ou=people,{LDAP_BASE_DN}\nchangetype: modify\nreplace: userPassword\nuserPassword: olivia-changed\n"
    ));
    assert_eq!(
        login("olivia-secret"),
        "Access-Reject",
        "the old password after a change in the directory"
    );
    assert_eq!(
        checks(),
        (4, 3),
        "the entry changed: the directory was asked"
    );
    assert_eq!(login("olivia-changed"), "Access-Accept");
    assert_eq!(login("olivia-changed"), "Access-Accept");
    assert_eq!(checks(), (5, 4));
    slapd.modify(&format!(
        "dn: {LDAP_VPN_GROUP}\nchangetype: modify\ndelete: member\nmember: uid=olivia,ou=people,{LDAP_BASE_DN}\n"
    ));
    assert_eq!(
        login("olivia-changed"),
        "Access-Reject",
        "no longer in an allowed group, though the password is remembered"
    );
    assert_eq!(checks(), (5, 4), "refused before any password check");
    assert_eq!(server.gh.license_json()["active_users"], 1);
}
