//! Policies against real RADIUS clients: radclient with FreeRADIUS's own
//! dictionaries and pyrad receive the attributes a policy gives a local
//! user in a local group and a directory user in a slapd group; a user in
//! no matching group gets the default; a denied user is refused with the
//! policy's text and never counted. `gatehouse group`, `gatehouse policy`
//! and `gatehouse auth` show the same decisions.

use std::process::Command;

use serde_json::Value;

use crate::support::{
    self, Installation, LDAP_VPN_GROUP, RadReply, Server, Slapd, ad_directory, current_code, pap,
    totp_user,
};
use gatehouse_core::totp::TotpSecret;
use gatehouse_testkit::{peer, python_with, workspace_root};

const SECRET: &str = "policy-test-shared-secret";
const DENIED_TEXT: &str = "Access denied by policy, please contact your system administrator";

/// The policies under test: contractors denied; phones by push only; the
/// directory's vpn-users group by its DN through the client `other`; VPN
/// admins (local, or the directory's group by its alias) in with TOTP or
/// the password alone
/// (john has no second factor while one is required), told their group,
/// a Class and a VLAN; everyone else a default Class.
fn policies() -> String {
    let long = "x".repeat(250);
    let too_many: Vec<String> = (0..13)
        .map(|_| format!("{{ attribute = \"Class\", value = \"{long}\" }}"))
        .collect();
    format!(
        r#"
[[policy]]
name = "too much to send"
groups = ["local:big"]
reply = [{}]

[[policy]]
name = "no contractors"
groups = ["local:contractors"]
access = "deny"

[[policy]]
name = "push only"
groups = ["local:phones"]
factors = ["push"]

[[policy]]
name = "all staff, through their groups"
clients = ["nested"]
groups = ["corp:cn=all-staff,ou=groups,dc=example,dc=test"]
reply = [{{ attribute = "Filter-Id", value = "%{{group}}" }}]

[[policy]]
name = "directory group by DN"
clients = ["other"]
groups = ["corp:{LDAP_VPN_GROUP}"]
reply = [{{ attribute = "Filter-Id", value = "%{{group}}" }}]

[[policy]]
name = "vpn admins"
clients = ["fw"]
groups = ["local:vpn-admins", "corp:vpn-users"]
factors = ["totp", "none"]
reply = [
  {{ attribute = "Fortinet-Group-Name", value = "%{{group}}" }},
  {{ attribute = "Class", value = "admins-%{{user}}" }},
  {{ attribute = "Tunnel-Type", value = "VLAN" }},
  {{ attribute = "Tunnel-Medium-Type", value = "IEEE-802" }},
  {{ attribute = "Tunnel-Private-Group-Id", value = "42" }},
  {{ attribute = "Session-Timeout", value = 3600 }},
]

[[policy]]
name = "everyone else"
reply = [{{ attribute = "Class", value = "default" }}]
"#,
        too_many.join(", ")
    )
}

/// alice (vpn-admins), carol (contractors) and bob (no group), each with
/// the password `<name>-secret` and no second factor; tom (phones) with
/// TOTP in append mode, returned.
fn installation() -> (Installation, TotpSecret) {
    let gh = Installation::new("UTC");
    for group in ["vpn-admins", "contractors", "phones", "big"] {
        gh.ok(&["group", "add", group], "");
    }
    for (user, group) in [
        ("alice", "vpn-admins"),
        ("carol", "contractors"),
        ("bob", ""),
        ("huge", "big"),
    ] {
        gh.add_user(user);
        if !group.is_empty() {
            gh.ok(&["group", "add-member", group, user], "");
        }
    }
    let tom = totp_user(&gh, "tom", "append");
    gh.ok(&["group", "add-member", "phones", "tom"], "");
    (gh, tom)
}

fn serve(gh: Installation, slapd: &Slapd) -> Server {
    Server::start(
        gh,
        &format!(
            "\n[radius]\nlisten = \"127.0.0.1:0\"\n\
             [[radius.clients]]\nname = \"fw\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n\
             {}\n{}",
            ad_directory(
                &[slapd.url()],
                &format!(
                    "ca_file = \"{}\"\ngroup_aliases = {{ vpn-users = \"{LDAP_VPN_GROUP}\" }}\n",
                    slapd.ca.display()
                )
            )
            .replace("nested_groups = false", "nested_groups = true"),
            policies()
        ),
    )
}

fn radclient(radclient: &std::path::Path, server: &Server, user: &str) -> RadReply {
    let password = format!("{user}-secret");
    support::radclient(radclient, server.radius_port, &pap(user, &password), SECRET)
}

fn pyrad(python: &std::path::Path, server: &Server, user: &str) -> Value {
    let script = workspace_root().join("bin/gatehouse/tests/peers/pyrad_client.py");
    let output = Command::new(python)
        .arg(script)
        .arg(server.radius_port.to_string())
        .args([SECRET, "auth", user, &format!("{user}-secret")])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pyrad: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The reply attributes radclient printed, without Message-Authenticator.
fn given(reply: &RadReply) -> Vec<(&str, &str)> {
    reply
        .attributes
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .filter(|(name, _)| *name != "Message-Authenticator")
        .collect()
}

fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect()
}

/// `text` in hex, as radclient prints an octets attribute.
fn hex(text: &str) -> String {
    let digits: String = text.bytes().map(|b| format!("{b:02x}")).collect();
    format!("0x{digits}")
}

#[test]
fn radius_clients_receive_the_attributes_a_policy_gives() {
    let test = "radius_clients_receive_the_attributes_a_policy_gives";
    let Some(radclient_program) = peer("radclient", test) else {
        return;
    };
    let Some(python) = python_with("pyrad", test) else {
        return;
    };
    let Some(slapd) = Slapd::start(test) else {
        return;
    };
    let (gh, tom) = installation();
    let server = serve(gh, &slapd);

    // A local user in a local group; radclient decodes with FreeRADIUS's
    // dictionaries (dictionary.fortinet, RFC 2868's tags).
    let admins_for = |user: &str, group: &str| -> Vec<(String, String)> {
        vec![
            ("Fortinet-Group-Name".into(), format!("\"{group}\"")),
            ("Class".into(), hex(&format!("admins-{user}"))),
            ("Tunnel-Type:0".into(), "VLAN".into()),
            ("Tunnel-Medium-Type:0".into(), "IEEE-802".into()),
            ("Tunnel-Private-Group-Id:0".into(), "\"42\"".into()),
            ("Session-Timeout".into(), "3600".into()),
        ]
    };
    let alice = radclient(&radclient_program, &server, "alice");
    alice.assert_code("Access-Accept");
    let expected = admins_for("alice", "vpn-admins");
    assert_eq!(given(&alice), pairs(&expected), "{}", alice.output);
    // A directory user in the slapd group, named by its alias: the alias
    // as %{group}, the user as the directory names them.
    let john = radclient(&radclient_program, &server, "john");
    john.assert_code("Access-Accept");
    let expected = admins_for("john", "vpn-users");
    assert_eq!(given(&john), pairs(&expected), "{}", john.output);
    // No matching group: the default.
    let bob = radclient(&radclient_program, &server, "bob");
    bob.assert_code("Access-Accept");
    assert_eq!(given(&bob), [("Class", hex("default").as_str())]);
    // Denied: the policy's text, after the password, never counted.
    let carol = radclient(&radclient_program, &server, "carol");
    carol.assert_reply("Access-Reject", DENIED_TEXT);
    let wrong = support::radclient(
        &radclient_program,
        server.radius_port,
        &pap("carol", "wrong"),
        SECRET,
    );
    wrong.assert_reply("Access-Reject", "Invalid username or password");

    // A push-only policy refuses a TOTP user, right code and all.
    let typed = format!("tom-secret{}", current_code(&tom));
    let refused = support::radclient(
        &radclient_program,
        server.radius_port,
        &pap("tom", &typed),
        SECRET,
    );
    refused.assert_reply(
        "Access-Reject",
        "A second factor is required, please contact your system administrator",
    );

    // Attributes that do not fit in an Access-Accept refuse the login
    // (never an answer the NAS cannot read, or none at all).
    let huge = radclient(&radclient_program, &server, "huge");
    huge.assert_reply(
        "Access-Reject",
        "Authentication service unavailable, please try again later",
    );
    server.wait_for_log("the policy's reply attributes do not fit in an Access-Accept");

    // pyrad (Message-Authenticator enforced) decodes the same.
    let alice = pyrad(&python, &server, "alice");
    assert_eq!(alice["code"], "Access-Accept");
    assert_eq!(
        alice["attributes"],
        serde_json::json!({
            "Fortinet-Group-Name": ["vpn-admins"],
            "Class": ["admins-alice"],
            "Tunnel-Type": ["VLAN"],
            "Tunnel-Medium-Type": ["IEEE-802"],
            "Tunnel-Private-Group-Id": ["42"],
            "Session-Timeout": [3600],
        })
    );
    let bob = pyrad(&python, &server, "bob");
    assert_eq!(bob["attributes"], serde_json::json!({"Class": ["default"]}));
    let carol = pyrad(&python, &server, "carol");
    assert_eq!(
        (carol["code"].as_str(), carol["reply_message"].as_str()),
        (Some("Access-Reject"), Some(DENIED_TEXT))
    );

    // The same group by its DN, as the directory's memberOf gives it.
    let test: Value = serde_json::from_str(&server.gh.ok(
        &["policy", "test", "JOHN", "--client", "other", "--json"],
        "",
    ))
    .unwrap();
    assert_eq!(test["policy"], "directory group by DN");
    assert_eq!(
        test["groups"],
        serde_json::json!([
            format!("corp:{LDAP_VPN_GROUP}"),
            "corp:vpn-users",
            "corp:cn=all-staff,ou=groups,dc=example,dc=test"
        ])
    );
    assert_eq!(test["reply"][0]["value"], LDAP_VPN_GROUP);
    // A group john is in only through vpn-users (nested groups).
    let nested: Value = serde_json::from_str(&server.gh.ok(
        &["policy", "test", "john", "--client", "nested", "--json"],
        "",
    ))
    .unwrap();
    assert_eq!(nested["policy"], "all staff, through their groups");
    assert_eq!(
        nested["reply"][0]["value"],
        "cn=all-staff,ou=groups,dc=example,dc=test"
    );
    let found: Value =
        serde_json::from_str(&server.gh.ok(&["directory", "test", "john", "--json"], "")).unwrap();
    assert_eq!(found["group_aliases"], serde_json::json!(["vpn-users"]));

    // The decision line names the policy.
    server.wait_for_log("policy=\"no contractors\"");
    server.wait_for_log("policy=\"vpn admins\"");
    let mut counted = server.gh.users_this_month();
    counted.sort();
    assert_eq!(counted, ["alice", "bob", "john"], "carol is never counted");
}

#[test]
fn groups_and_policies_are_shown_and_tested_from_the_command_line() {
    let (gh, _) = installation();
    gh.append_config(&policies().replace("corp:", "local:"));
    let list: Value = serde_json::from_str(&gh.ok(&["group", "list", "--json"], "")).unwrap();
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .map(|group| (group["key"].as_str().unwrap(), group["members"].clone()))
            .collect::<Vec<_>>(),
        [
            ("local:big", serde_json::json!(["huge"])),
            ("local:contractors", serde_json::json!(["carol"])),
            ("local:phones", serde_json::json!(["tom"])),
            ("local:vpn-admins", serde_json::json!(["alice"])),
        ]
    );
    assert_eq!(gh.ok(&["group", "members", "vpn-admins"], ""), "alice\n");
    // A group that does not exist is named; nothing is added.
    let output = gh.run(
        &[
            "local-user",
            "add",
            "dave",
            "--password-stdin",
            "--group",
            "staff",
        ],
        "dave-secret\n",
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no local group \"staff\""),
        "{output:?}"
    );
    let output = gh.run(&["local-user", "list", "--json"], "");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("dave"));

    // The policy a user gets through a client, without a password.
    let test = |user: &str, client: &str| -> Value {
        let output = gh.run(&["policy", "test", user, "--client", client, "--json"], "");
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let alice = test("alice", "fw");
    assert_eq!(alice["policy"], "vpn admins");
    assert_eq!(alice["groups"], serde_json::json!(["local:vpn-admins"]));
    assert_eq!(alice["reply"][1]["value"], "admins-alice");
    assert_eq!(test("alice", "wifi")["policy"], "everyone else");
    let carol = gh.run(&["policy", "test", "carol", "--client", "fw"], "");
    assert_eq!(carol.status.code(), Some(1), "a denial exits 1");
    let text = String::from_utf8_lossy(&carol.stdout);
    assert!(text.contains("Policy:   no contractors"), "{text}");
    assert!(text.contains("Access:   deny"), "{text}");
    // Nothing was counted.
    assert!(gh.users_this_month().is_empty());

    // gatehouse auth names the policy and what it gives.
    let output = gh.run(
        &["auth", "alice", "--password-stdin", "--client", "fw"],
        "alice-secret\n",
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("Accept\nPolicy: vpn admins\n  Fortinet-Group-Name = vpn-admins\n"),
        "{text}"
    );
    let output = gh.run(
        &["auth", "carol", "--password-stdin", "--client", "fw"],
        "carol-secret\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("Reject: {DENIED_TEXT}\nPolicy: no contractors\n")
    );
    let listed: Value = serde_json::from_str(&gh.ok(&["policy", "list", "--json"], "")).unwrap();
    assert_eq!(listed[1]["access"], "deny");
    assert_eq!(listed[2]["factors"], serde_json::json!(["push"]));
    assert_eq!(listed[5]["factors"], serde_json::json!(["totp", "none"]));
    assert_eq!(listed[6]["factors"], Value::Null);

    // Deleting a group takes it out of its members: carol gets the
    // default policy now.
    gh.ok(&["group", "delete", "contractors"], "");
    assert_eq!(test("carol", "fw")["policy"], "everyone else");
}

/// Saved policies that go back while a node runs (the row deleted, or an
/// older one written back, outside Gatehouse) fail closed on that node:
/// every login refused until they are saved again.
#[test]
fn saved_policies_taken_away_in_the_database_fail_closed() {
    let test = "saved_policies_taken_away_in_the_database_fail_closed";
    let Some(radclient_program) = peer("radclient", test) else {
        return;
    };
    let (gh, _) = installation();
    gh.add_admin("root", "policy-admin-password");
    let token = gh.api_token("root");
    let server = Server::start(
        gh,
        &format!(
            "\n[radius]\nlisten = \"127.0.0.1:0\"\n\
             [[radius.clients]]\nname = \"fw\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n"
        ),
    );
    let deny = r#"[{"name": "no contractors", "groups": ["local:contractors"], "access": "deny"}]"#;
    let saved = server.gh.ok(&["policy", "save", "-"], deny);
    assert!(
        saved.starts_with("saved 1 policies (generation 1)"),
        "{saved}"
    );
    let until = |user: &str, code: &str, message: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let reply = radclient(&radclient_program, &server, user);
            if reply.code.as_deref() == Some(code)
                && reply.reply_message.as_deref() == Some(message)
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{user}: still {:?} {:?}",
                reply.code,
                reply.reply_message
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    until("carol", "Access-Reject", DENIED_TEXT);
    // The row deleted: not "no policies", but every login refused.
    support::sqlite_sql(
        &server.gh.data_dir().join("gatehouse.db"),
        "DELETE FROM policy_set",
    );
    let unavailable = "Authentication service unavailable, please try again later";
    until("carol", "Access-Reject", unavailable);
    until("bob", "Access-Reject", unavailable);
    server.wait_for_log("the saved policies went back from generation 1 to 0 outside Gatehouse");
    // Saved again: in force again.
    server.gh.ok(&["policy", "save", "-"], deny);
    until("carol", "Access-Reject", DENIED_TEXT);
    radclient(&radclient_program, &server, "bob").assert_code("Access-Accept");

    // Edited in the database (the generation moved, so every node reads
    // it): the tag fails, every login is refused, and the API says so,
    // naming the generation a new list replaces. (An edit that leaves the
    // generation alone is not read until a restart, which then fails
    // closed the same way; the running node keeps what it verified.)
    support::sqlite_sql(
        &server.gh.data_dir().join("gatehouse.db"),
        "UPDATE policy_set SET policies = '[]', generation = 2",
    );
    until("carol", "Access-Reject", unavailable);
    let bearer = [("Authorization", format!("Bearer {token}"))];
    let (status, error) =
        support::http_json(server.http_port, "GET", "/api/v1/policies", &bearer, None);
    assert_eq!(status, 409, "{error}");
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("changed outside Gatehouse") && message.contains("naming generation 2"),
        "{message}"
    );
    let list: Value = serde_json::from_str(deny).unwrap();
    let (status, saved) = support::http_json(
        server.http_port,
        "PUT",
        "/api/v1/policies",
        &bearer,
        Some(serde_json::json!({"generation": 2, "policies": list})),
    );
    assert_eq!(
        (status, saved["generation"].clone()),
        (200, serde_json::json!(3)),
        "{saved}"
    );
    until("carol", "Access-Reject", DENIED_TEXT);
}
