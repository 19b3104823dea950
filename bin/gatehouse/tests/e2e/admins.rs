//! `gatehouse admin`: administrators, their passwords, API tokens and
//! sessions through the real binary, and the first start's one-time
//! password as `serve` prints it.

use serde_json::Value;

use crate::support::*;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn administrators_are_managed_from_the_command_line() {
    let gh = Installation::new("UTC");
    gh.add_admin("root", "root-admin-password");
    gh.add_admin("ops", "ops-admin-password");
    let short = gh.run(&["admin", "add", "eve", "--password-stdin"], "short\n");
    assert_eq!(short.status.code(), Some(2));
    assert!(
        stderr(&short).contains("an administrator's password must be at least 12 characters"),
        "{}",
        stderr(&short)
    );

    // Tokens: an expiry and a label; a bad lifetime changes nothing.
    for bad in ["0d", "90", "1w", "3651d"] {
        let refused = gh.run(&["admin", "token", "ops", "--expires-in", bad], "");
        assert_eq!(refused.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&refused).contains("--expires-in"),
            "{}",
            stderr(&refused)
        );
    }
    let made = gh.run(
        &[
            "admin",
            "token",
            "ops",
            "--expires-in",
            "30d",
            "--label",
            "monitoring",
        ],
        "",
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let token = String::from_utf8_lossy(&made.stdout).trim().to_string();
    assert!(token.starts_with("ght_"));
    let forever = gh.api_token("ops");
    let tokens: Value =
        serde_json::from_str(&gh.ok(&["admin", "tokens", "ops", "--json"], "")).unwrap();
    let tokens = tokens.as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    let labelled = tokens.iter().find(|t| t["label"] == "monitoring").unwrap();
    assert!(labelled["expires_at"].is_string());
    let human = gh.ok(&["admin", "tokens", "ops"], "");
    assert!(
        human.contains("monitoring") && human.contains("never"),
        "{human}"
    );
    assert!(
        !human.contains(&token) && !human.contains(&forever),
        "a listing shows a token"
    );

    // Listed with their tokens; JSON and CSV too.
    let admins: Value = serde_json::from_str(&gh.ok(&["admin", "list", "--json"], "")).unwrap();
    assert_eq!(admins[0]["name"], "ops");
    assert_eq!(admins[0]["tokens"], 2);
    assert_eq!(admins[1]["name"], "root");
    assert_eq!(admins[1]["must_change_password"], false);
    let csv = gh.ok(&["admin", "list", "--csv"], "");
    assert!(csv.lines().any(|l| l.starts_with("ops,")), "{csv}");

    // Revoked by id; an unknown id is an error naming the command that
    // lists them.
    let id = labelled["id"].as_str().unwrap();
    assert!(
        gh.ok(&["admin", "revoke", "ops", id], "")
            .contains(&format!("revoked API token {id} of ops"))
    );
    let again = gh.run(&["admin", "revoke", "ops", id], "");
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("gatehouse admin tokens ops"),
        "{}",
        stderr(&again)
    );
    let left: Value =
        serde_json::from_str(&gh.ok(&["admin", "tokens", "ops", "--json"], "")).unwrap();
    assert_eq!(left.as_array().unwrap().len(), 1);

    // Password and sessions.
    let passwd = gh.run(
        &["admin", "passwd", "ops", "--password-stdin"],
        "a-new-ops-password\n",
    );
    assert!(passwd.status.success(), "{}", stderr(&passwd));
    assert!(
        gh.ok(&["admin", "logout", "ops"], "")
            .contains("ended 0 panel sessions of ops")
    );
    let missing = gh.run(
        &["admin", "passwd", "nobody", "--password-stdin"],
        "a-long-password\n",
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no administrator \"nobody\""),
        "{}",
        stderr(&missing)
    );

    // Deleted with everything theirs; never the last one.
    assert!(
        gh.ok(&["admin", "delete", "ops"], "")
            .contains("deleted administrator ops")
    );
    let last = gh.run(&["admin", "delete", "root"], "");
    assert_eq!(last.status.code(), Some(2));
    assert!(
        stderr(&last).contains("\"root\" is the last administrator and cannot be deleted"),
        "{}",
        stderr(&last)
    );
    let admins: Value = serde_json::from_str(&gh.ok(&["admin", "list", "--json"], "")).unwrap();
    assert_eq!(admins.as_array().unwrap().len(), 1);

    // Each change is in the audit trail as the command line's, with the
    // local user who ran it; the trail verifies.
    let audit: Value =
        serde_json::from_str(&gh.ok(&["audit", "--json", "--action", "admin."], "")).unwrap();
    let actions: Vec<&str> = (audit.as_array().unwrap().iter())
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "admin.delete",
            "admin.logout",
            "admin.password",
            "admin.token_revoke",
            "admin.token_create",
            "admin.token_create",
            "admin.add",
            "admin.add"
        ]
    );
    assert!(
        audit.as_array().unwrap().iter().all(
            |e| e["actor"] == "cli" && e["source"].as_str().unwrap().starts_with("local user ")
        ),
        "{audit}"
    );
    let verified = gh.ok(&["audit", "--verify"], "");
    assert!(
        verified.contains("audit trail intact: 8 entries"),
        "{verified}"
    );
    let human = gh.ok(&["audit", "--limit", "2"], "");
    assert!(
        human.contains("admin.delete") && !human.contains("admin.password"),
        "{human}"
    );
}

#[test]
fn the_first_start_admin_must_replace_the_printed_password() {
    let gh = Installation::new("UTC");
    gh.append_config("\n[radius]\nlisten = \"127.0.0.1:0\"\n");
    let mut serve = gh
        .command(&["serve"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let password = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .skip_while(|line| !line.starts_with("First start: sign in to the panel as \"admin\""))
        .map(|line| line.trim().to_string())
        .find(|line| !line.is_empty() && !line.starts_with("First start"))
        .expect("serve printed no first-start password");
    let _ = serve.kill();
    let _ = serve.wait();
    let admins: Value = serde_json::from_str(&gh.ok(&["admin", "list", "--json"], "")).unwrap();
    assert_eq!(admins[0]["name"], "admin");
    assert_eq!(admins[0]["must_change_password"], true);
    assert!(gh.ok(&["admin", "list"], "").contains("must be changed"));
    assert!(password.len() >= 40, "{password}");
    // Setting it from the command line clears the mark.
    gh.ok(
        &["admin", "passwd", "admin", "--password-stdin"],
        "chosen-by-the-operator\n",
    );
    let admins: Value = serde_json::from_str(&gh.ok(&["admin", "list", "--json"], "")).unwrap();
    assert_eq!(admins[0]["must_change_password"], false);
}

#[test]
fn group_changes_from_the_command_line_are_audited() {
    let gh = Installation::new("UTC");
    gh.ok(&["group", "add", "contractors"], "");
    gh.add_user("carol");
    gh.ok(&["group", "add-member", "contractors", "carol"], "");
    gh.ok(&["group", "delete", "contractors"], "");
    let audit: Value = serde_json::from_str(&gh.ok(&["audit", "--json"], "")).unwrap();
    let seen: Vec<(&str, &str)> = (audit.as_array().unwrap().iter())
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("group.delete", "contractors"),
            ("local_user.groups", "carol"),
            ("local_user.add", "carol"),
            ("group.add", "contractors"),
        ]
    );
    assert!(
        audit[1]["detail"]
            .as_str()
            .unwrap()
            .contains("\"join\":\"contractors\""),
        "{audit}"
    );
}
