//! What a vendor may grant in a key (SPEC §16), end to end: keys from the
//! real `gatehouse-vendor`, logins from `radclient`, the clock moved with
//! faketime, the panel in headless Chromium.

use std::path::Path;

use crate::support;
use crate::support::{
    BROWSER_ADMIN_PASSWORD, Browser, FakeTime, Installation, RadReply, Server, issue_granted, pap,
};
use gatehouse_license::jiff::{SignedDuration, Timestamp};
use gatehouse_testkit::{libfaketime, peer};
use serde_json::Value;

const SECRET: &str = "options-test-shared-secret";
const LIMIT_TEXT: &str = "User limit exceeded, please contact your system administrator";
const EXPIRED_TEXT: &str = "License expired, please contact your system administrator";

fn serve(gh: Installation) -> Server {
    Server::start(
        gh,
        &format!(
            "\n[radius]\nlisten = \"127.0.0.1:0\"\n\n[[radius.clients]]\nname = \"nas\"\n\
             networks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n"
        ),
    )
}

fn login(radclient: &Path, server: &Server, user: &str) -> RadReply {
    support::radclient(
        radclient,
        server.radius_port,
        &pap(user, &format!("{user}-secret")),
        SECRET,
    )
}

fn accepted(radclient: &Path, server: &Server, user: &str) {
    let reply = login(radclient, server, user);
    assert_eq!(
        reply.code.as_deref(),
        Some("Access-Accept"),
        "{user}: {}",
        reply.output
    );
}

/// The `seat` of each user counted this month, by username.
fn seats(gh: &Installation) -> Vec<(String, String)> {
    let month = gh.license_json()["month"].as_str().unwrap().to_string();
    let users: Value =
        serde_json::from_str(&gh.ok(&["users", "--month", &month, "--json"], "")).unwrap();
    users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap().to_string(),
                u["seat"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A key for 4 users with 50% overage: users 5 and 6 are admitted and
/// marked, user 7 is refused with the limit text; `license show` says how
/// many are over.
#[test]
fn overage_users_are_admitted_and_marked_then_refused_past_the_allowance() {
    const TEST: &str = "overage_users_are_admitted_and_marked_then_refused_past_the_allowance";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    let support_end = Timestamp::now()
        .checked_add(SignedDuration::from_hours(24 * 90))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    let key = issue_granted(
        &gh.app_key(),
        4,
        &support_end,
        &Timestamp::now().to_string(),
        &["--overage-percent", "50"],
    );
    gh.ok(&["license", "install", &key], "");
    for i in 1..=7 {
        gh.add_user(&format!("user{i}"));
    }
    let server = serve(gh);
    for i in 1..=6 {
        accepted(&radclient, &server, &format!("user{i}"));
    }
    login(&radclient, &server, "user7").assert_reply("Access-Reject", LIMIT_TEXT);
    // Returning users past the limit stay in.
    accepted(&radclient, &server, "user6");
    let gh = &server.gh;
    assert_eq!(
        seats(gh),
        [
            ("user1", "within"),
            ("user2", "within"),
            ("user3", "within"),
            ("user4", "within"),
            ("user5", "overage"),
            ("user6", "overage"),
        ]
        .map(|(u, s)| (u.to_string(), s.to_string()))
    );
    let license = gh.license_json();
    assert_eq!(
        (
            &license["active_users"],
            &license["seat_cap"],
            &license["users_over_limit"],
            &license["options"]["overage_percent"],
        ),
        (
            &Value::from(6),
            &Value::from(6),
            &Value::from(2),
            &Value::from(50)
        )
    );
    let shown = gh.ok(&["license", "show"], "");
    for text in [
        "6/4 (150.0%), 2 over the limit",
        "Overage Allowance",
        "50% (2 users past the limit, up to 6)",
    ] {
        assert!(shown.contains(text), "{text} in:\n{shown}");
    }
    assert_eq!(
        server.log_count(&["counted this month past the user limit", "overage"], 2),
        2
    );
}

/// A key ending 2031-03-15 with 10 days of grace: counted users log in
/// through the grace (after a restart, so from the database), new users are
/// refused with the expiry text, the panel shows the banner in Chromium;
/// after the grace nobody logs in.
#[test]
fn in_the_grace_counted_users_log_in_new_ones_are_refused_and_the_panel_says_so() {
    const TEST: &str =
        "in_the_grace_counted_users_log_in_new_ones_are_refused_and_the_panel_says_so";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let Some(faketime) = libfaketime(TEST) else {
        return;
    };
    let Some(browser) = Browser::new(TEST, "grace-screenshots") else {
        return;
    };
    let mut gh = Installation::new("UTC");
    gh.add_admin("root", BROWSER_ADMIN_PASSWORD);
    for user in ["alice", "bob", "carol"] {
        gh.add_user(user);
    }
    gh.fake_time = Some(FakeTime::new(&faketime, "2031-03-10 12:00:00"));
    let key = issue_granted(
        &gh.app_key(),
        1,
        "2031-03-15",
        "2031-03-10T11:00:00Z",
        &["--grace-days", "10", "--overage-percent", "100"],
    );
    gh.ok(&["license", "install", &key], "");
    let mut server = serve(gh);
    accepted(&radclient, &server, "alice");
    accepted(&radclient, &server, "bob");

    server.restart(Some(FakeTime::new(&faketime, "2031-03-20 12:00:00")));
    accepted(&radclient, &server, "alice");
    login(&radclient, &server, "carol").assert_reply("Access-Reject", EXPIRED_TEXT);
    accepted(&radclient, &server, "bob");
    let license = server.gh.license_json();
    assert_eq!(license["status"], "grace");
    assert_eq!(license["grace_days_remaining"], 5);
    assert_eq!(license["active_users"], 2, "nobody counted in the grace");
    browser.run(
        &server,
        "grace",
        &[
            (
                "GRACE",
                "License expired on 2031-03-15; grace period ends 2031-03-25 (5 days remaining)"
                    .to_string(),
            ),
            ("USERS", "alice,bob".to_string()),
            ("OVERAGE", "1".to_string()),
        ],
    );

    server.restart(Some(FakeTime::new(&faketime, "2031-03-26 00:00:01")));
    login(&radclient, &server, "alice").assert_reply("Access-Reject", EXPIRED_TEXT);
    assert_eq!(server.gh.license_json()["status"], "expired");
}

/// A key for 2 users granting one exempt account and one break-glass seat:
/// marked from the CLI while `serve` runs, the exempt account logs in over
/// RADIUS without ever being counted, and the break-glass user gets in
/// when the month is full (counted, marked as such).
#[test]
fn an_exempt_account_is_never_counted_and_a_break_glass_user_gets_into_a_full_month() {
    const TEST: &str =
        "an_exempt_account_is_never_counted_and_a_break_glass_user_gets_into_a_full_month";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    let support_end = Timestamp::now()
        .checked_add(SignedDuration::from_hours(24 * 90))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    let key = issue_granted(
        &gh.app_key(),
        2,
        &support_end,
        &Timestamp::now().to_string(),
        &["--exempt-seats", "1", "--reserved-seats", "1"],
    );
    gh.ok(&["license", "install", &key], "");
    for user in ["monitor", "oncall", "alice", "bob", "carol"] {
        gh.add_user(user);
    }
    let server = serve(gh);
    let gh = &server.gh;
    let marked = gh.ok(&["seats", "exempt", "monitor"], "");
    assert!(marked.contains("monitor is exempt"), "{marked}");
    gh.ok(&["seats", "reserve", "oncall"], "");
    let refused = gh.run(&["seats", "exempt", "carol"], "");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("all are in use"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The running server reads the marks at its next tick.
    assert_eq!(
        server.log_count(&["seat marks in force", "generation=2"], 1),
        1
    );
    accepted(&radclient, &server, "alice");
    accepted(&radclient, &server, "bob");
    login(&radclient, &server, "carol").assert_reply("Access-Reject", LIMIT_TEXT);
    for _ in 0..3 {
        accepted(&radclient, &server, "monitor");
    }
    accepted(&radclient, &server, "oncall");
    assert_eq!(
        seats(gh),
        [
            ("alice", "within"),
            ("bob", "within"),
            ("oncall", "reserved")
        ]
        .map(|(u, s)| (u.to_string(), s.to_string()))
    );
    assert_eq!(
        gh.license_json()["active_users"],
        3,
        "monitor is never counted"
    );
    let listed: Value = serde_json::from_str(&gh.ok(&["seats", "list", "--json"], "")).unwrap();
    let marks: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap(), m["mark"].as_str().unwrap()))
        .collect();
    assert_eq!(marks, [("monitor", "exempt"), ("oncall", "reserved")]);
    let audit: Value =
        serde_json::from_str(&gh.ok(&["audit", "--json", "--action", "seat."], "")).unwrap();
    assert_eq!(audit.as_array().unwrap().len(), 2, "{audit}");
}

/// `license verify-export FILE [--previous EARLIER]` on the exported
/// application key file: stdout and whether it passed.
fn verify_export(gh: &Installation, file: &Path, previous: Option<&Path>) -> (String, bool) {
    let mut args = vec!["license", "verify-export", file.to_str().unwrap()];
    if let Some(previous) = previous {
        args.extend(["--previous", previous.to_str().unwrap()]);
    }
    let output = gh.run(&args, "");
    (
        String::from_utf8_lossy(&output.stdout).to_string(),
        output.status.success(),
    )
}

/// SPEC §16, the usage statement: each export carries the month's usage
/// chain; `verify-export` checks it, and against an earlier export checks
/// that the users reported then are still there; a seat edited or removed
/// in the database (while `serve` runs) is caught by both, and by
/// `gatehouse verify`.
#[test]
fn the_usage_chain_in_the_export_catches_a_seat_changed_by_hand() {
    const TEST: &str = "the_usage_chain_in_the_export_catches_a_seat_changed_by_hand";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    for i in 1..=5 {
        gh.add_user(&format!("user{i}"));
    }
    let server = serve(gh);
    let gh = &server.gh;
    let export = |name: &str| {
        let path = gh.data_dir().join(name);
        gh.ok(&["license", "export", "-o", path.to_str().unwrap()], "");
        path
    };
    let month = gh.license_json()["month"].as_str().unwrap().to_string();
    for i in 1..=3 {
        accepted(&radclient, &server, &format!("user{i}"));
    }
    let first = export("first.json");
    let (out, ok) = verify_export(gh, &first, None);
    assert!(ok, "{out}");
    assert_eq!(
        out,
        format!("valid\nusage chain {month}: 3 users, verifies\n")
    );
    for i in 4..=5 {
        accepted(&radclient, &server, &format!("user{i}"));
    }
    let second = export("second.json");
    let (out, ok) = verify_export(gh, &second, Some(&first));
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "usage chain {month}: the 3 users of the earlier report are kept, 5 now"
        )),
        "{out}"
    );
    assert!(gh.run(&["verify"], "").status.success());

    // A seat's time edited by hand.
    let db = gh.data_dir().join("gatehouse.db");
    support::sqlite_sql(
        &db,
        "UPDATE seats SET first_seen = first_seen + 1000000 WHERE username = 'user2'",
    );
    let edited = export("edited.json");
    let (out, ok) = verify_export(gh, &edited, Some(&first));
    assert!(!ok);
    assert!(
        out.starts_with("valid\n"),
        "the file itself is authentic: {out}"
    );
    assert!(
        out.contains(&format!("usage chain {month}: does NOT verify")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "usage chain {month}: REWRITTEN since the earlier report"
        )),
        "{out}"
    );
    let verified = gh.run(&["verify"], "");
    assert!(!verified.status.success());
    assert!(
        String::from_utf8_lossy(&verified.stdout)
            .contains(&format!("month {month}: its usage chain does not verify")),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    support::sqlite_sql(
        &db,
        "UPDATE seats SET first_seen = first_seen - 1000000 WHERE username = 'user2'",
    );
    assert!(verify_export(gh, &export("undone.json"), Some(&second)).1);

    // A seat removed by hand.
    support::sqlite_sql(&db, "DELETE FROM seats WHERE username = 'user4'");
    let (out, ok) = verify_export(gh, &export("removed.json"), Some(&second));
    assert!(!ok);
    assert!(out.contains("does NOT verify"), "{out}");
    assert!(out.contains("REWRITTEN"), "{out}");
}

/// SPEC §16, seat budgets over RADIUS: set from the CLI while `serve`
/// runs, the contractors' budget fills and refuses its next new user with
/// its own text, while the staff budget and users of none still get in.
#[test]
fn a_full_budget_refuses_its_group_while_another_still_admits() {
    const TEST: &str = "a_full_budget_refuses_its_group_while_another_still_admits";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    for user in ["c1", "c2", "s1", "s2", "other"] {
        gh.add_user(user);
    }
    for (group, members) in [("contractors", ["c1", "c2"]), ("staff", ["s1", "s2"])] {
        gh.ok(&["group", "add", group], "");
        for member in members {
            gh.ok(&["group", "add-member", group, member], "");
        }
    }
    let server = serve(gh);
    let gh = &server.gh;
    gh.ok(
        &[
            "seats",
            "budget",
            "contractors",
            "--size",
            "1",
            "--group",
            "local:contractors",
        ],
        "",
    );
    gh.ok(
        &[
            "seats",
            "budget",
            "staff",
            "--size",
            "5",
            "--group",
            "local:staff",
            "--client",
            "nas",
        ],
        "",
    );
    assert_eq!(
        server.log_count(&["seat marks in force", "generation=2"], 1),
        1
    );
    accepted(&radclient, &server, "c1");
    login(&radclient, &server, "c2").assert_reply(
        "Access-Reject",
        "User limit exceeded for contractors, please contact your system administrator",
    );
    accepted(&radclient, &server, "s1");
    accepted(&radclient, &server, "s2");
    accepted(&radclient, &server, "other");
    accepted(&radclient, &server, "c1");
    let budgets: Value = serde_json::from_str(&gh.ok(&["seats", "budgets", "--json"], "")).unwrap();
    let used: Vec<(&str, u64)> = budgets
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap(), b["used"].as_u64().unwrap()))
        .collect();
    assert_eq!(used, [("contractors", 1), ("staff", 2)]);
    assert_eq!(gh.license_json()["active_users"], 4);
    // Refusals are written behind, within a tick.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let refused = loop {
        let refused: Value = serde_json::from_str(&gh.ok(&["refused", "--json"], "")).unwrap();
        if refused[0].is_object() || std::time::Instant::now() > deadline {
            break refused;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(refused[0]["username"], "c2", "{refused}");
}
