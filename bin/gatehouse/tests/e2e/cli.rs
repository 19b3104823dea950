//! End to end through the real binaries: `gatehouse-vendor` issues keys,
//! `gatehouse` installs them and authenticates users, exactly as an
//! administrator would from a shell.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;

use crate::support::{FakeTime, Installation, Server, dev_key, issue, vendor};
use gatehouse_testkit::{libfaketime, temp_dir};
use serde_json::Value;

const LIMIT_TEXT: &str = "Reject: User limit exceeded, please contact your system administrator";
const EXPIRED_TEXT: &str = "Reject: License expired, please contact your system administrator";

#[test]
fn license_flow_end_to_end() {
    let gh = Installation::new("Europe/Istanbul");

    // A fresh installation runs on the demo.
    let demo = gh.license_json();
    assert_eq!(demo["license_type"], "Demo License");
    assert_eq!(demo["user_limit"], 25);
    assert_eq!(demo["push_subscription"], "Active");
    assert_eq!(demo["status"], "valid");

    // A vendor key pair made by keygen is not trusted by this build...
    let vendor_dir = temp_dir();
    vendor(&["keygen", "--out", vendor_dir.path().to_str().unwrap()]);
    let app_key = gh.app_key();
    let untrusted = issue(
        &vendor_dir.path().join("vendor.key"),
        &app_key,
        3,
        "2099-12-31",
        "2026-01-01T00:00:00Z",
    );
    let refused = gh.run(&["license", "install", &untrusted], "");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("signature is not valid"));
    assert_eq!(gh.license_json(), demo, "a refused key changes nothing");

    // ...the development key is. Install from stdin, with line breaks.
    let key = issue(
        &dev_key(),
        &app_key,
        3,
        "2099-12-31",
        "2026-01-01T00:00:00Z",
    );
    let wrapped: String = key
        .as_bytes()
        .chunks(40)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    gh.ok(&["license", "install", "-"], &wrapped);
    let license = gh.license_json();
    for (field, value) in [
        ("company", "Example Networks Ltd."),
        ("dossier", "D-4242"),
        ("license_type", "Subscription"),
        ("support_end_date", "2099-12-31"),
        ("push_subscription", "Active"),
        ("status", "valid"),
        ("timezone", "Europe/Istanbul"),
    ] {
        assert_eq!(license[field], value, "{field}");
    }
    assert_eq!(license["app_key"], app_key.as_str());
    // The days left in the words the panel and the alarms use.
    let days = license["days_remaining"].as_i64().unwrap() as i32;
    let shown = gh.ok(&["license", "show"], "");
    let words = gatehouse_license::words::remaining(days);
    assert!(shown.contains(&format!("2099-12-31 ({words})")), "{shown}");
    // The zone was fixed when the installation was made: neither the
    // environment nor the file can move the month or the end of the
    // Support End Date any more.
    let moved = gh
        .command(&["license", "show"])
        .env("GATEHOUSE_LICENSE__TIMEZONE", "Pacific/Kiritimati")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&moved.stderr);
    assert_eq!(moved.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("license.timezone") && stderr.contains("Europe/Istanbul"),
        "{stderr}"
    );
    assert_eq!(license["user_limit"], 3);
    assert_eq!(license["active_users"], 0);
    assert!(license["license_id"].as_str().unwrap().starts_with("L-"));

    // Users until the limit; the next new user is refused with the exact text.
    for name in ["alice", "bob", "carol", "dave"] {
        gh.add_user(name);
    }
    for name in ["alice", "Bob", "carol"] {
        assert_eq!(gh.auth(name).0, "Accept", "{name}");
    }
    let (reply, log) = gh.auth("dave");
    assert_eq!(reply, LIMIT_TEXT);
    assert!(
        log.contains("License user limit exceeded") && log.contains("dave"),
        "log: {log}"
    );
    assert_eq!(gh.auth("BOB").0, "Accept", "a counted user still logs in");
    assert_eq!(gh.license_json()["active_users"], 3);
    let month = license["month"].as_str().unwrap().to_string();
    assert_eq!(gh.users(&month), ["alice", "bob", "carol"]);
    let newest_first: Value =
        serde_json::from_str(&gh.ok(&["users", "--json", "--sort", "first-seen", "--desc"], ""))
            .unwrap();
    let newest_first: Vec<&str> = newest_first
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(newest_first, ["carol", "bob", "alice"]);
    let refused: Value = serde_json::from_str(&gh.ok(&["refused", "--json"], "")).unwrap();
    assert_eq!(refused[0]["username"], "dave");
    assert_eq!(refused[0]["attempts"], 1);
    // CSV carries the JSON fields, in order, and the same values.
    let csv = gh.ok(&["users", "--csv", "--search", "ALI"], "");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("username,display_name,source,first_seen,last_login,last_client,seat")
    );
    let alice: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!((alice[0], alice[2], alice[5]), ("alice", "local", "vpn-gw"));
    assert!(
        alice[3].ends_with("+03:00"),
        "times in the license zone: {}",
        alice[3]
    );
    assert_eq!(lines.next(), None);

    // Export, verify, then change one byte.
    let export = gh.data_dir().join("export.json");
    gh.ok(&["license", "export", "-o", export.to_str().unwrap()], "");
    let verify = |path: &Path| gh.run(&["license", "verify-export", path.to_str().unwrap()], "");
    let valid = verify(&export);
    let month = gh.license_json()["month"].as_str().unwrap().to_string();
    assert_eq!(
        (
            String::from_utf8_lossy(&valid.stdout).to_string(),
            valid.status.code()
        ),
        (
            format!("valid\nusage chain {month}: 3 users, verifies\n"),
            Some(0)
        )
    );
    let document: Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    assert_eq!(document["document"]["app_key"], app_key.as_str());
    assert_eq!(document["document"]["active_users"], 3);
    let mut bytes = std::fs::read(&export).unwrap();
    let at = String::from_utf8_lossy(&bytes)
        .find("\"active_users\": 3")
        .unwrap()
        + "\"active_users\": ".len();
    bytes[at] = b'2';
    let edited = gh.data_dir().join("edited.json");
    std::fs::write(&edited, &bytes).unwrap();
    let tampered = verify(&edited);
    assert_eq!(
        (
            String::from_utf8_lossy(&tampered.stdout).trim(),
            tampered.status.code()
        ),
        ("tampered", Some(1))
    );
}

#[test]
fn version_names_the_trusted_vendor_keys() {
    let gh = Installation::new("UTC");
    let version = gh.ok(&["--version"], "");
    let dev_fingerprint = gatehouse_license::key_file::fingerprint(
        &gatehouse_license::key_file::parse_public(
            &std::fs::read_to_string(
                gatehouse_testkit::workspace_root().join("keys/dev-vendor.pub"),
            )
            .unwrap(),
        )
        .unwrap(),
    );
    assert!(version.starts_with("gatehouse 0."), "{version}");
    assert!(version.contains(&dev_fingerprint), "{version}");
    assert!(version.contains("development key trusted"), "{version}");
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let gh = Installation::new("UTC");
    let before = gh.license_json();
    let app_key = gh.app_key();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["license".into(), "install".into(), "GHL1.not-a-key".into()],
            "malformed license key",
        ),
        (
            vec![
                "license".into(),
                "install".into(),
                issue(
                    &dev_key(),
                    "AAAAA-AAAAA-AAAAA-AAAAA",
                    5,
                    "2099-01-01",
                    "2026-01-01T00:00:00Z",
                ),
            ],
            "bound to App Key",
        ),
        (
            vec![
                "license".into(),
                "install".into(),
                issue(
                    &dev_key(),
                    &app_key,
                    5,
                    "2099-01-01",
                    "2099-01-01T00:00:00Z",
                ),
            ],
            "issued in the future",
        ),
        (
            vec![
                "license".into(),
                "install".into(),
                issue(
                    &dev_key(),
                    &app_key,
                    5,
                    "2020-01-31",
                    "2020-01-01T00:00:00Z",
                ),
            ],
            "expired on 2020-01-31",
        ),
        (
            vec!["users".into(), "--month".into(), "2026-13".into()],
            "invalid month",
        ),
        (
            vec!["local-user".into(), "disable".into(), "nobody".into()],
            "no local user",
        ),
        (
            vec![
                "license".into(),
                "verify-export".into(),
                "/nonexistent/file.json".into(),
            ],
            "cannot read",
        ),
        (
            vec![
                "--config".into(),
                "/nonexistent/gatehouse.toml".into(),
                "license".into(),
                "show".into(),
            ],
            "does not exist",
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = gh.run(&args, "");
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        let error_lines = stderr
            .lines()
            .filter(|l| l.starts_with("gatehouse: error:") || l.starts_with("error:"))
            .count();
        assert_eq!(error_lines, 1, "{args:?}: {stderr}");
    }
    // A bad config value names its key.
    std::fs::write(
        gh.data_dir().join("gatehouse.toml"),
        "[license]\ntimezone = \"Mars/Olympus\"\n",
    )
    .unwrap();
    let output = gh.run(&["license", "show"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("license.timezone"));
    std::fs::write(
        gh.data_dir().join("gatehouse.toml"),
        "[license]\ntimezone = \"UTC\"\n",
    )
    .unwrap();
    assert_eq!(gh.license_json(), before);
    // A duplicate user and an empty password are refused.
    gh.add_user("erin");
    let duplicate = gh.run(&["local-user", "add", "ERIN", "--password-stdin"], "x\n");
    assert_eq!(duplicate.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));
    let empty = gh.run(&["local-user", "add", "frank", "--password-stdin"], "\n");
    assert_eq!(empty.status.code(), Some(2));
}

/// `license show` says the days left in the words the panel and the alarm
/// emails use (`license::words::remaining`), 30 days before the Support
/// End Date, the day before, on it and the day after.
#[test]
fn license_show_says_the_days_left_in_the_shared_words() {
    let Some(faketime) = libfaketime("license_show_says_the_days_left_in_the_shared_words") else {
        return;
    };
    let mut gh = Installation::new("UTC");
    gh.fake_time = Some(FakeTime::new(&faketime, "2027-01-31 12:00:00"));
    let key = issue(
        &dev_key(),
        &gh.app_key(),
        5,
        "2027-03-02",
        "2027-01-30T00:00:00Z",
    );
    gh.ok(&["license", "install", &key], "");
    for (at, days, words) in [
        ("2027-01-31 12:00:00", 30, "30 days remaining"),
        ("2027-03-01 12:00:00", 1, "1 day remaining"),
        ("2027-03-02 23:59:00", 0, "last day"),
        ("2027-03-03 00:01:00", -1, "expired yesterday"),
    ] {
        gh.fake_time = Some(FakeTime::new(&faketime, at));
        assert_eq!(gh.license_json()["days_remaining"], days, "{at}");
        assert_eq!(gatehouse_license::words::remaining(days), words);
        let shown = gh.ok(&["license", "show"], "");
        assert!(
            shown.contains(&format!("2027-03-02 ({words})")),
            "{at}: {shown}"
        );
    }
}

#[test]
fn months_and_expiry_follow_the_wall_clock_under_faketime() {
    let Some(faketime) = libfaketime("months_and_expiry_follow_the_wall_clock_under_faketime")
    else {
        return;
    };
    let mut gh = Installation::new("UTC");
    let at = |gh: &mut Installation, when: &str| {
        gh.fake_time = Some(FakeTime::new(&faketime, when));
    };
    at(&mut gh, "2027-01-31 23:50:00");
    let key = issue(
        &dev_key(),
        &gh.app_key(),
        2,
        "2027-02-28",
        "2027-01-31T00:00:00Z",
    );
    gh.ok(&["license", "install", &key], "");
    for name in ["alice", "bob", "carol"] {
        gh.add_user(name);
    }
    assert_eq!(gh.auth("alice").0, "Accept");
    assert_eq!(gh.auth("bob").0, "Accept");
    assert_eq!(gh.auth("carol").0, LIMIT_TEXT);

    // February: the count starts again from zero; January is kept.
    at(&mut gh, "2027-02-01 00:00:05");
    assert_eq!(gh.auth("carol").0, "Accept");
    assert_eq!(gh.users("2027-02"), ["carol"]);
    let mut january = gh.users("2027-01");
    january.sort();
    assert_eq!(january, ["alice", "bob"]);

    // The last second of the Support End Date, then the first after it.
    at(&mut gh, "2027-02-28 23:59:50");
    assert_eq!(gh.auth("carol").0, "Accept");
    at(&mut gh, "2027-03-01 00:00:05");
    let (reply, log) = gh.auth("carol");
    assert_eq!(reply, EXPIRED_TEXT);
    assert!(log.contains("License expired"), "log: {log}");
    assert_eq!(gh.license_json()["status"], "expired");

    // Back to the real clock (earlier): still expired, and the jump is logged.
    gh.fake_time = None;
    let (reply, log) = gh.auth("carol");
    assert_eq!(reply, EXPIRED_TEXT);
    assert!(log.contains("System clock moved backwards"), "log: {log}");
    assert_eq!(gh.license_json()["status"], "expired");

    // A renewal restores service at once.
    at(&mut gh, "2027-03-01 00:10:00");
    let renewal = issue(
        &dev_key(),
        &gh.app_key(),
        2,
        "2028-02-29",
        "2027-03-01T00:05:00Z",
    );
    gh.ok(&["license", "install", &renewal], "");
    assert_eq!(gh.auth("carol").0, "Accept");
}

/// Many `gatehouse auth` processes write to one database while random ones
/// are killed with SIGKILL. Afterwards every user that was told `Accept`
/// is in the ledger, the count equals the ledger, and neither exceeds the
/// limit.
#[test]
fn sigkill_during_a_burst_of_new_users_loses_no_accepted_user() {
    const USERS: usize = 160;
    const LIMIT: u32 = 100;
    const PARALLEL: usize = 12;
    let gh = Installation::new("UTC");
    let key = issue(
        &dev_key(),
        &gh.app_key(),
        LIMIT,
        "2099-12-31",
        "2026-01-01T00:00:00Z",
    );
    gh.ok(&["license", "install", &key], "");
    let names: Vec<String> = (0..USERS).map(|i| format!("burst{i:03}")).collect();
    std::thread::scope(|scope| {
        for chunk in names.chunks(USERS / 8) {
            let gh = &gh;
            scope.spawn(move || chunk.iter().for_each(|name| gh.add_user(name)));
        }
    });

    let mut accepted = HashSet::new();
    let mut killed = 0;
    let mut pending: Vec<&String> = names.iter().collect();
    let mut running: Vec<(String, std::process::Child)> = Vec::new();
    let mut round = 0u64;
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < PARALLEL
            && let Some(name) = pending.pop()
        {
            let child = gh.spawn(
                &["auth", name, "--password-stdin", "--client", "burst"],
                &format!("{name}-secret\n"),
                Stdio::null(),
            );
            running.push((name.clone(), child));
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
        round += 1;
        // Kill one running process in three rounds, chosen by a simple LCG.
        if round.is_multiple_of(3) && !running.is_empty() {
            let victim = (round
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407)
                >> 33) as usize
                % running.len();
            let (_, child) = &mut running[victim];
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                killed += 1;
            }
        }
        let mut still_running = Vec::new();
        for (name, mut child) in running.drain(..) {
            if child.try_wait().unwrap().is_some() {
                let output = child.wait_with_output().unwrap();
                if String::from_utf8_lossy(&output.stdout).trim() == "Accept" {
                    accepted.insert(name);
                }
            } else {
                still_running.push((name, child));
            }
        }
        running = still_running;
    }
    assert!(
        killed > 5,
        "the test must actually kill processes (killed {killed})"
    );

    // "Restart": a new process reads the ledger.
    let month = gh.license_json()["month"].as_str().unwrap().to_string();
    let ledger: HashSet<String> = gh.users(&month).into_iter().collect();
    let missing: Vec<&String> = accepted.difference(&ledger).collect();
    assert!(
        missing.is_empty(),
        "accepted but not in the ledger: {missing:?}"
    );
    assert!(
        ledger.len() <= LIMIT as usize,
        "ledger {} exceeds the limit",
        ledger.len()
    );
    assert_eq!(
        gh.license_json()["active_users"],
        ledger.len(),
        "count equals the ledger"
    );
    let usage: Value = serde_json::from_str(&gh.ok(&["usage", "--json"], "")).unwrap();
    assert_eq!(
        usage.as_array().unwrap().last().unwrap()["users"],
        ledger.len()
    );
}

/// `serve` runs until SIGTERM, picks up a key installed by another process
/// within seconds, and exits cleanly.
#[test]
fn serve_follows_license_changes_and_stops_on_sigterm() {
    let gh = Installation::new("UTC");
    let app_key = gh.app_key();
    let mut server = Server::start(gh, "");
    let running = server.wait_for_log("Gatehouse is running");
    assert!(
        running.contains(&app_key) && running.contains("Demo License"),
        "{running}"
    );
    // The start line says which vendor keys the build trusts; the tests'
    // build trusts the development key, and says so.
    assert!(
        running.contains("trusted vendor keys: SHA256:")
            && running.contains("development key trusted"),
        "{running}"
    );

    let key = issue(
        &dev_key(),
        &app_key,
        42,
        "2099-12-31",
        "2026-01-01T00:00:00Z",
    );
    server.gh.ok(&["license", "install", &key], "");
    server.wait_for_log("license changed by another process");

    let status = server.terminate();
    server.wait_for_log("shutting down");
    assert!(status.success(), "serve exits 0 on SIGTERM");
}

#[test]
fn local_users_are_imported_all_or_nothing() {
    let gh = Installation::new("UTC");
    let file = gh.data_dir().join("users.tsv");
    std::fs::write(
        &file,
        "# username<TAB>password\nalice\talice-secret\n\nBob\tbob-secret\n",
    )
    .unwrap();
    let out = gh.ok(
        &[
            "local-user",
            "import",
            file.to_str().unwrap(),
            "--no-second-factor",
        ],
        "",
    );
    assert_eq!(out.trim(), "imported 2 local users");
    assert_eq!(gh.auth("alice").0, "Accept");
    assert_eq!(gh.auth("bob").0, "Accept");
    // Bad lines are all reported, and nothing changes.
    let bad = gh.run(
        &["local-user", "import", "-"],
        "carol\tcarol-secret\nno-tab-here\ndave\t\nCAROL\tx\nalice\tagain\n",
    );
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    for expected in [
        "nothing imported",
        "line 2: expected username<TAB>password",
        "line 3: empty password",
        "line 4: carol appears twice",
    ] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    let existing = gh.run(
        &["local-user", "import", "-"],
        "carol\tcarol-secret\nalice\tagain\n",
    );
    assert!(!existing.status.success());
    assert!(
        String::from_utf8_lossy(&existing.stderr)
            .contains("line 2: local user \"alice\" already exists")
    );
    let list: Value = serde_json::from_str(&gh.ok(&["local-user", "list", "--json"], "")).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2, "carol was not added");
}
