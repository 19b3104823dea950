//! The RADIUS front door, driven by independent clients: `radclient` and
//! `radtest` (FreeRADIUS) and pyrad 2.6 with `enforce_ma=True`, against the
//! real `gatehouse serve`.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::support;
use crate::support::{
    FakeTime, Installation, RadReply, Server, Slapd, ad_directory, current_code, dev_key,
    enrolled_secret, issue, pap, totp_user,
};
use gatehouse_license::jiff::Timestamp;
use gatehouse_testkit::{libfaketime, peer, python_with, workspace_root};
use serde_json::Value;

const SECRET: &str = "radius-test-shared-secret";
const LIMIT_TEXT: &str = "User limit exceeded, please contact your system administrator";
const EXPIRED_TEXT: &str = "License expired, please contact your system administrator";
const INVALID_TEXT: &str = "Invalid username or password";

/// A running `gatehouse serve` with the RADIUS clients below.
struct Radius {
    server: Server,
    port: u16,
}

impl std::ops::Deref for Radius {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl Radius {
    /// Clients: `nas` (127.0.0.1, requires Message-Authenticator) and
    /// `legacy` (127.0.0.2, does not).
    fn start(gh: Installation) -> Radius {
        Radius::start_with(gh, "")
    }

    /// `radius_settings`: extra lines for the `[radius]` section.
    fn start_with(gh: Installation, radius_settings: &str) -> Radius {
        let server = Server::start(
            gh,
            &format!(
                "\n[radius]\nlisten = \"127.0.0.1:0\"\n{radius_settings}\n\
                 [[radius.clients]]\nname = \"nas\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n\n\
                 [[radius.clients]]\nname = \"legacy\"\nnetworks = [\"127.0.0.2\"]\nsecret = \"{SECRET}\"\n\
                 require_message_authenticator = false\n"
            ),
        );
        Radius {
            port: server.radius_port,
            server,
        }
    }

    /// `radclient -x` with `attributes` (radclient syntax) and `secret`.
    fn radclient(&self, radclient: &std::path::Path, attributes: &str, secret: &str) -> RadReply {
        support::radclient(radclient, self.port, attributes, secret)
    }

    fn pyrad(&self, python: &std::path::Path, args: &[&str]) -> Value {
        let script = workspace_root().join("bin/gatehouse/tests/peers/pyrad_client.py");
        let output = Command::new(python)
            .arg(script)
            .arg(self.port.to_string())
            .arg(SECRET)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pyrad {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

fn peers(test: &str) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let radclient = peer("radclient", test)?;
    let python = python_with("pyrad", test)?;
    Some((radclient, python))
}

#[test]
fn pap_accepts_and_rejects_for_independent_clients() {
    let Some((radclient, python)) = peers("pap_accepts_and_rejects_for_independent_clients") else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.add_user("alice");
    let radius = Radius::start(gh);

    let accept = radius.radclient(&radclient, &pap("alice", "alice-secret"), SECRET);
    accept.assert_code("Access-Accept");
    let reject = radius.radclient(&radclient, &pap("alice", "wrong"), SECRET);
    reject.assert_reply("Access-Reject", INVALID_TEXT);
    let unknown = radius.radclient(&radclient, &pap("nobody", "x"), SECRET);
    assert_eq!(
        unknown.reply_message.as_deref(),
        Some(INVALID_TEXT),
        "unknown users get the same answer"
    );

    let radtest = peer("radtest", "pap_accepts_and_rejects_for_independent_clients").unwrap();
    let output = Command::new(radtest)
        .args([
            "alice",
            "alice-secret",
            &format!("127.0.0.1:{}", radius.port),
            "0",
            SECRET,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Received Access-Accept"), "{text}");

    // pyrad refuses any reply without a valid Message-Authenticator.
    let accept = radius.pyrad(&python, &["auth", "alice", "alice-secret"]);
    assert_eq!(accept["code"], "Access-Accept");
    assert_eq!(
        accept["first_attribute"], 80,
        "Message-Authenticator comes first"
    );
    let reject = radius.pyrad(&python, &["auth", "alice", "nope"]);
    assert_eq!(
        (reject["code"].as_str(), reject["reply_message"].as_str()),
        (Some("Access-Reject"), Some(INVALID_TEXT))
    );
    assert_eq!(reject["first_attribute"], 80);
    let proxied = radius.pyrad(
        &python,
        &["auth", "alice", "alice-secret", "--proxy-state", "hop-1"],
    );
    assert_eq!(
        proxied["proxy_state"],
        serde_json::json!(["hop-1"]),
        "Proxy-State is echoed unchanged"
    );
    let status = radius.pyrad(&python, &["status"]);
    assert_eq!(status["code"], "Access-Accept", "Status-Server (RFC 5997)");

    assert!(radius.log_count(&["RADIUS decision", "user=\"alice\"", "result=accept"], 3) >= 3);
    assert!(
        radius.log_count(
            &[
                "RADIUS decision",
                "user=\"alice\"",
                "result=reject",
                INVALID_TEXT
            ],
            2
        ) >= 2
    );
}

#[test]
fn a_totp_challenge_round_trip_with_replay_protection() {
    let Some((radclient, python)) = peers("a_totp_challenge_round_trip_with_replay_protection")
    else {
        return;
    };
    let gh = Installation::new("UTC");
    let bob = totp_user(&gh, "bob", "challenge");
    let eve = totp_user(&gh, "eve", "challenge");
    let radius = Radius::start(gh);

    // Password first: an Access-Challenge with a State.
    let challenge = radius.radclient(&radclient, &pap("bob", "bob-secret"), SECRET);
    challenge.assert_reply("Access-Challenge", "Enter your one-time code");
    let state = challenge.state.expect("a State");
    assert_eq!(state.len(), 32, "16 random octets");
    // A wrong password is never challenged.
    let wrong = radius.radclient(&radclient, &pap("bob", "wrong"), SECRET);
    wrong.assert_code("Access-Reject");

    // The code with the State: accepted.
    let code = current_code(&bob);
    let answer = format!(
        "User-Name = \"bob\", User-Password = \"{code}\", State = 0x{state}, Message-Authenticator = 0x00"
    );
    let accept = radius.radclient(&radclient, &answer, SECRET);
    accept.assert_code("Access-Accept");
    // The same State again: single use.
    let reused = radius.radclient(&radclient, &answer, SECRET);
    assert_eq!(
        reused.reply_message.as_deref(),
        Some("Login attempt expired, please log in again")
    );

    // A new challenge answered with the code already used: a replay.
    let again = radius.radclient(&radclient, &pap("bob", "bob-secret"), SECRET);
    let state = again.state.expect("a State");
    let replay = format!(
        "User-Name = \"bob\", User-Password = \"{code}\", State = 0x{state}, Message-Authenticator = 0x00"
    );
    let replayed = radius.radclient(&radclient, &replay, SECRET);
    replayed.assert_reply("Access-Reject", "Invalid one-time code");

    // A State this server never issued.
    let forged = format!(
        "User-Name = \"bob\", User-Password = \"{code}\", State = 0x{}, Message-Authenticator = 0x00",
        "ab".repeat(16)
    );
    assert_eq!(
        radius
            .radclient(&radclient, &forged, SECRET)
            .reply_message
            .as_deref(),
        Some("Login attempt expired, please log in again")
    );

    // pyrad through the same conversation.
    let challenge = radius.pyrad(&python, &["auth", "eve", "eve-secret"]);
    assert_eq!(challenge["code"], "Access-Challenge");
    assert_eq!(challenge["first_attribute"], 80);
    let state = challenge["state"].as_str().unwrap().to_string();
    let wrong_code = radius.pyrad(&python, &["auth", "eve", "000000", "--state", &state]);
    if current_code(&eve) != "000000" {
        assert_eq!(wrong_code["reply_message"], "Invalid one-time code");
    }
    let challenge = radius.pyrad(&python, &["auth", "eve", "eve-secret"]);
    let state = challenge["state"].as_str().unwrap().to_string();
    let accept = radius.pyrad(
        &python,
        &["auth", "eve", &current_code(&eve), "--state", &state],
    );
    assert_eq!(accept["code"], "Access-Accept");

    let users = radius.server.gh.users_this_month();
    assert_eq!(
        users,
        ["bob", "eve"],
        "counted only after every factor passed"
    );
}

#[test]
fn password_and_code_typed_together() {
    let Some((radclient, _python)) = peers("password_and_code_typed_together") else {
        return;
    };
    let gh = Installation::new("UTC");
    let carol = totp_user(&gh, "carol", "append");
    let radius = Radius::start(gh);
    let no_code = radius.radclient(&radclient, &pap("carol", "carol-secret"), SECRET);
    assert_eq!(no_code.reply_message.as_deref(), Some(INVALID_TEXT));
    let code = current_code(&carol);
    let accept = radius.radclient(
        &radclient,
        &pap("carol", &format!("carol-secret{code}")),
        SECRET,
    );
    accept.assert_code("Access-Accept");
    let replay = radius.radclient(
        &radclient,
        &pap("carol", &format!("carol-secret{code}")),
        SECRET,
    );
    assert_eq!(
        replay.reply_message.as_deref(),
        Some("Invalid one-time code")
    );
}

/// The README's quick start, line by line as written there (the RADIUS port
/// this test's server listens on instead of 1812): it ends in an
/// Access-Accept, after the second factor.
#[test]
fn the_readme_quick_start_ends_in_an_access_accept() {
    const TEST: &str = "the_readme_quick_start_ends_in_an_access_accept";
    let (Some(_), Some(_)) = (peer("radtest", TEST), peer("oathtool", TEST)) else {
        return;
    };
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = &readme[readme.find("## Quick start").unwrap()..];
    let second_block = section.split("```sh\n").nth(2).unwrap();
    let commands = &second_block[..second_block.find("```").unwrap()];
    let gh = Installation::new("UTC");
    let server = Server::start(gh, "");
    let script = format!(
        "set -u\ngatehouse() {{ {:?} --data-dir {:?} \"$@\"; }}\n{}",
        gatehouse_testkit::workspace_binary("gatehouse"),
        server.gh.data_dir(),
        // A second between lines, as a person types: `serve` picks up
        // changes made by another process within one.
        commands
            .replace(
                "127.0.0.1 0 ",
                &format!("127.0.0.1:{} 0 ", server.radius_port)
            )
            .replace('\n', "\nsleep 1.2\n")
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    // (radtest exits 1 on the Access-Reject: the script goes on, as a
    // person at the shell would.)
    assert!(
        output.status.success(),
        "{script}\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replies: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("Received Access-"))
        .collect();
    assert_eq!(replies.len(), 2, "{text}");
    assert!(replies[0].starts_with("Received Access-Reject"), "{text}");
    assert!(
        text.contains("A second factor is required, please contact your system administrator"),
        "{text}"
    );
    assert!(replies[1].starts_with("Received Access-Accept"), "{text}");
    assert!(
        text.lines().any(|line| line.contains("alice")),
        "gatehouse users lists alice: {text}"
    );
}

/// SPEC §12: a user with no second factor is refused after the password
/// (and counted nowhere) until enrolled or exempt.
#[test]
fn a_user_without_a_second_factor_is_refused_until_exempt() {
    let Some((radclient, _python)) =
        peers("a_user_without_a_second_factor_is_refused_until_exempt")
    else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.ok(
        &["local-user", "add", "dana", "--password-stdin"],
        "dana-secret\n",
    );
    let radius = Radius::start(gh);
    let refused = radius.radclient(&radclient, &pap("dana", "dana-secret"), SECRET);
    refused.assert_reply(
        "Access-Reject",
        "A second factor is required, please contact your system administrator",
    );
    let wrong = radius.radclient(&radclient, &pap("dana", "not-it"), SECRET);
    assert_eq!(wrong.reply_message.as_deref(), Some(INVALID_TEXT));
    assert!(radius.gh.users_this_month().is_empty());
    radius
        .gh
        .ok(&["local-user", "second-factor", "dana", "--exempt"], "");
    let listed = radius.gh.ok(&["local-user", "list", "--json"], "");
    assert!(
        listed.contains("\"second_factor_exempt\": true"),
        "{listed}"
    );
    // Another process changed the account: seen within a tick.
    std::thread::sleep(Duration::from_millis(1500));
    radius
        .radclient(&radclient, &pap("dana", "dana-secret"), SECRET)
        .assert_code("Access-Accept");
}

/// An enrollment window opened from the CLI while `serve` runs: a user
/// with no second factor is told where to enroll (the `http.public_url`
/// portal), and is still not counted; closed, the plain refusal again.
#[test]
fn an_enrollment_window_tells_an_unenrolled_user_where_to_enroll() {
    let Some((radclient, _python)) =
        peers("an_enrollment_window_tells_an_unenrolled_user_where_to_enroll")
    else {
        return;
    };
    let gh = Installation::new("UTC");
    let path = gh.data_dir().join("gatehouse.toml");
    let config = std::fs::read_to_string(&path).unwrap().replace(
        "[http]\n",
        "[http]\npublic_url = \"https://gatehouse.example.com/\"\n",
    );
    std::fs::write(&path, config).unwrap();
    gh.ok(
        &["local-user", "add", "erik", "--password-stdin"],
        "erik-secret\n",
    );
    let radius = Radius::start(gh);
    let opened = radius.gh.ok(&["enroll", "open", "erik", "--days", "3"], "");
    assert!(
        opened.contains("enrollment window open for user erik until"),
        "{opened}"
    );
    assert_eq!(
        radius.log_count(&["seat marks in force", "generation=1"], 1),
        1
    );
    radius
        .radclient(&radclient, &pap("erik", "erik-secret"), SECRET)
        .assert_reply(
            "Access-Reject",
            "Enroll a second factor at https://gatehouse.example.com/my/, then log in again",
        );
    assert!(radius.gh.users_this_month().is_empty(), "not counted");
    let listed: Value =
        serde_json::from_str(&radius.gh.ok(&["enroll", "list", "--json"], "")).unwrap();
    assert_eq!(listed[0]["scope"], "user erik", "{listed}");
    radius.gh.ok(&["enroll", "close", "erik"], "");
    assert_eq!(
        radius.log_count(&["seat marks in force", "generation=2"], 1),
        1
    );
    radius
        .radclient(&radclient, &pap("erik", "erik-secret"), SECRET)
        .assert_reply(
            "Access-Reject",
            "A second factor is required, please contact your system administrator",
        );
    let refused = radius.gh.run(&["enroll", "open", "--group", "staff"], "");
    assert!(
        !refused.status.success(),
        "a group is named as policies name one"
    );
}

/// SPEC §12: five wrong codes lock the user (even the right code is then
/// refused), the lock is logged and listed, and an administrator ends it.
#[test]
fn wrong_codes_lock_a_user_until_an_administrator_unlocks() {
    let Some((radclient, _python)) =
        peers("wrong_codes_lock_a_user_until_an_administrator_unlocks")
    else {
        return;
    };
    let gh = Installation::new("UTC");
    let erin = totp_user(&gh, "erin", "append");
    let radius = Radius::start(gh);
    for _ in 0..5 {
        let good = current_code(&erin);
        let wrong = format!("{}{}", (good.as_bytes()[0] - b'0' + 1) % 10, &good[1..]);
        let reply = radius.radclient(
            &radclient,
            &pap("erin", &format!("erin-secret{wrong}")),
            SECRET,
        );
        assert_eq!(
            reply.reply_message.as_deref(),
            Some("Invalid one-time code")
        );
    }
    let locked = radius.radclient(
        &radclient,
        &pap("erin", &format!("erin-secret{}", current_code(&erin))),
        SECRET,
    );
    locked.assert_reply(
        "Access-Reject",
        "Too many failed attempts, please try again later",
    );
    radius.wait_for_log("authentication refused: user locked out");
    let listed: Value =
        serde_json::from_str(&radius.gh.ok(&["lockout", "list", "--json"], "")).unwrap();
    assert_eq!(listed[0]["username"], "erin", "{listed}");
    assert_eq!(listed[0]["locked"], true, "{listed}");
    assert!(radius.gh.users_this_month().is_empty());
    let unlocked = radius.gh.ok(&["lockout", "unlock", "Erin"], "");
    assert_eq!(unlocked.trim(), "unlocked Erin");
    let again = radius.gh.run(&["lockout", "unlock", "erin"], "");
    assert!(!again.status.success());
    std::thread::sleep(Duration::from_millis(1500));
    radius
        .radclient(
            &radclient,
            &pap("erin", &format!("erin-secret{}", current_code(&erin))),
            SECRET,
        )
        .assert_code("Access-Accept");
}

#[test]
fn requests_that_must_be_dropped_get_no_answer() {
    let Some((radclient, python)) = peers("requests_that_must_be_dropped_get_no_answer") else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.add_user("alice");
    let radius = Radius::start(gh);

    let wrong_secret =
        radius.radclient(&radclient, &pap("alice", "alice-secret"), "not-the-secret");
    assert_eq!(
        wrong_secret.code, None,
        "wrong shared secret: {}",
        wrong_secret.output
    );
    let no_ma = radius.radclient(
        &radclient,
        "User-Name = \"alice\", User-Password = \"alice-secret\"",
        SECRET,
    );
    assert_eq!(
        no_ma.code, None,
        "no Message-Authenticator from a client that requires it: {}",
        no_ma.output
    );

    // The legacy client may omit it, but not with a Proxy-State.
    let legacy = radius.pyrad(
        &python,
        &[
            "auth",
            "alice",
            "alice-secret",
            "--source",
            "127.0.0.2",
            "--no-ma",
        ],
    );
    assert_eq!(legacy["code"], "Access-Accept");
    let proxied = radius.pyrad(
        &python,
        &[
            "auth",
            "alice",
            "alice-secret",
            "--source",
            "127.0.0.2",
            "--no-ma",
            "--proxy-state",
            "x",
        ],
    );
    assert_eq!(proxied["code"], "timeout");
    // An address no client covers.
    let stranger = radius.pyrad(
        &python,
        &["auth", "alice", "alice-secret", "--source", "127.0.0.3"],
    );
    assert_eq!(stranger["code"], "timeout");

    assert!(
        radius.log_count(
            &["RADIUS packet dropped", "invalid Message-Authenticator"],
            1
        ) >= 1
    );
    assert!(
        radius.log_count(
            &[
                "RADIUS packet dropped",
                "without Message-Authenticator",
                "requires it"
            ],
            1
        ) >= 1
    );
    assert!(
        radius.log_count(
            &[
                "RADIUS packet dropped",
                "Proxy-State without Message-Authenticator"
            ],
            1
        ) >= 1
    );
    assert!(radius.log_count(&["RADIUS packet dropped", "unknown client address"], 1) >= 1);
}

#[test]
fn the_license_gate_at_the_door() {
    let Some((radclient, _python)) = peers("the_license_gate_at_the_door") else {
        return;
    };
    let gh = Installation::new("UTC");
    let key = issue(
        &dev_key(),
        &gh.app_key(),
        1,
        "2099-12-31",
        "2026-01-01T00:00:00Z",
    );
    gh.ok(&["license", "install", &key], "");
    gh.add_user("alice");
    gh.add_user("dave");
    totp_user(&gh, "erin", "challenge");
    let radius = Radius::start(gh);

    assert_eq!(
        radius
            .radclient(&radclient, &pap("alice", "alice-secret"), SECRET)
            .code
            .as_deref(),
        Some("Access-Accept")
    );
    let dave = radius.radclient(&radclient, &pap("dave", "dave-secret"), SECRET);
    dave.assert_reply("Access-Reject", LIMIT_TEXT);
    // A TOTP user who would be refused is refused before the challenge.
    let erin = radius.radclient(&radclient, &pap("erin", "erin-secret"), SECRET);
    assert_eq!(
        erin.code.as_deref(),
        Some("Access-Reject"),
        "never asked for a code: {}",
        erin.output
    );
    assert_eq!(erin.reply_message.as_deref(), Some(LIMIT_TEXT));
    // The counted user still gets in.
    assert_eq!(
        radius
            .radclient(&radclient, &pap("alice", "alice-secret"), SECRET)
            .code
            .as_deref(),
        Some("Access-Accept")
    );
    assert!(radius.log_count(&["License user limit exceeded", "dave"], 1) >= 1);
    assert!(
        radius.log_count(
            &[
                "RADIUS decision",
                "user=\"dave\"",
                "result=reject",
                LIMIT_TEXT
            ],
            1
        ) == 1
    );
}

#[test]
fn an_expired_license_refuses_every_login() {
    let Some((radclient, _python)) = peers("an_expired_license_refuses_every_login") else {
        return;
    };
    let Some(faketime) = libfaketime("an_expired_license_refuses_every_login") else {
        return;
    };
    let mut gh = Installation::new("UTC");
    gh.add_user("alice");
    // The demo began today; 100 days on it has expired.
    let later = Timestamp::now()
        .checked_add(gatehouse_license::jiff::SignedDuration::from_hours(
            24 * 100,
        ))
        .unwrap();
    gh.fake_time = Some(FakeTime::new(
        &faketime,
        later.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    ));
    let radius = Radius::start(gh);
    let reply = radius.radclient(&radclient, &pap("alice", "alice-secret"), SECRET);
    reply.assert_reply("Access-Reject", EXPIRED_TEXT);
    assert!(radius.log_count(&["License expired"], 1) >= 1);
}

#[test]
fn a_retransmission_is_answered_from_the_cache_and_counted_once() {
    let Some((_radclient, python)) =
        peers("a_retransmission_is_answered_from_the_cache_and_counted_once")
    else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.add_user("frank");
    let radius = Radius::start(gh);
    let result = radius.pyrad(&python, &["duplicate", "frank", "frank-secret"]);
    assert_eq!(
        result["codes"],
        serde_json::json!(["Access-Accept", "Access-Accept"]),
        "{result}"
    );
    assert_eq!(result["identical"], true);
    assert_eq!(
        radius.log_count(&["RADIUS decision", "user=\"frank\""], 1),
        1,
        "the copy was not authenticated again"
    );
    assert_eq!(radius.server.gh.users_this_month(), ["frank"]);
    assert_eq!(radius.server.gh.license_json()["active_users"], 1);
}

/// A different request that reuses a remembered request's source,
/// Identifier and Request Authenticator is dropped and logged, never
/// answered with the first one's reply (another user's Access-Accept).
#[test]
fn a_different_request_reusing_a_cached_key_is_dropped() {
    let Some((_radclient, python)) = peers("a_different_request_reusing_a_cached_key_is_dropped")
    else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.add_user("frank");
    let radius = Radius::start(gh);
    let result = radius.pyrad(
        &python,
        &["conflict", "frank", "frank-secret", "mallory", "anything"],
    );
    assert_eq!(
        result,
        serde_json::json!({"first": "Access-Accept", "second": "timeout"}),
        "{result}"
    );
    radius.wait_for_log("another request reuses the source, Identifier and Request Authenticator");
    assert_eq!(radius.server.gh.users_this_month(), ["frank"]);
}

/// SPEC §12, overload: 20,000 Access-Requests for random names in about
/// two seconds from one client (it has the secret) while a known user logs
/// in. The known user is answered within 5 s, the server's memory grows by
/// less than 100 MiB, drops are counted and logged, and within 10 s after
/// the flood nothing is left in progress and logins are answered at once.
/// Passwords cost what they cost by default (argon2id, 19 MiB).
#[test]
fn a_flood_of_random_names_does_not_keep_a_known_user_out() {
    const TEST: &str = "a_flood_of_random_names_does_not_keep_a_known_user_out";
    let Some((radclient, _python)) = peers(TEST) else {
        return;
    };
    let Some(python3) = peer("python3", TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    let config = gh.data_dir().join("gatehouse.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "memory_kib = 64\niterations = 1",
            "memory_kib = 19456\niterations = 2",
        ),
    )
    .unwrap();
    gh.add_user("known");
    let radius = Radius::start(gh);
    let pid = radius.pid();
    // Warm: the known user logs in once before.
    radius
        .radclient(&radclient, &pap("known", "known-secret"), SECRET)
        .assert_code("Access-Accept");
    let before = rss(pid).unwrap();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(bytes) = rss(pid) {
                    peak.fetch_max(bytes, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let flood = Command::new(&python3)
        .arg(workspace_root().join("bin/gatehouse/tests/peers/radius_flood.py"))
        .arg(radius.port.to_string())
        .arg(SECRET)
        .arg("20000")
        .arg("2")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Packets are made first (about a second), then sent over two: log in
    // in the thick of it.
    std::thread::sleep(Duration::from_millis(1800));
    let started = std::time::Instant::now();
    let output = Command::new(&radclient)
        .args(["-x", "-t", "1", "-r", "5"])
        .arg(format!("127.0.0.1:{}", radius.port))
        .arg("auth")
        .arg(SECRET)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{}\n", pap("known", "known-secret")).as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let answered_in = started.elapsed();
    let text = String::from_utf8_lossy(&output.stdout);
    let flooded = flood.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&flooded.stdout).unwrap();
    println!("flood: {report}; the known user was answered in {answered_in:?}");
    assert!(text.contains("Received Access-Accept"), "{text}");
    assert!(answered_in < Duration::from_secs(5), "{answered_in:?}");
    // Back to normal within 10 s: nothing in progress, a login at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let in_flight = loop {
        let metrics = radius.metrics();
        let in_flight = metrics.value("gatehouse_radius_in_flight");
        if in_flight == 0 || std::time::Instant::now() > deadline {
            let dropped = metrics.value("gatehouse_radius_dropped_total");
            println!("dropped for overload: {dropped}");
            assert!(dropped > 0);
            break in_flight;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(in_flight, 0, "work still in progress 10 s after the flood");
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let grew = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    println!(
        "RSS before {} MiB, grew by {} MiB at most",
        before >> 20,
        grew >> 20
    );
    assert!(grew < 100 << 20, "RSS grew by {} MiB", grew >> 20);
    let started = std::time::Instant::now();
    radius
        .radclient(&radclient, &pap("known", "known-secret"), SECRET)
        .assert_code("Access-Accept");
    println!("a login after the flood: {:?}", started.elapsed());
    radius.wait_for_log("authentication dropped: too many password checks waiting");
}

/// The resident memory of process `pid`, in bytes (`None` once it is gone).
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kb * 1024)
}

#[test]
fn a_challenge_state_expires() {
    let Some((radclient, _python)) = peers("a_challenge_state_expires") else {
        return;
    };
    let gh = Installation::new("UTC");
    let grace = totp_user(&gh, "grace", "challenge");
    let radius = Radius::start_with(gh, "challenge_timeout_seconds = 1");
    let challenge = radius.radclient(&radclient, &pap("grace", "grace-secret"), SECRET);
    let state = challenge.state.expect("a State");
    std::thread::sleep(Duration::from_millis(1200));
    let late = format!(
        "User-Name = \"grace\", User-Password = \"{}\", State = 0x{state}, Message-Authenticator = 0x00",
        current_code(&grace)
    );
    let reply = radius.radclient(&radclient, &late, SECRET);
    reply.assert_reply(
        "Access-Reject",
        "Login attempt expired, please log in again",
    );
    assert!(
        radius.server.gh.users_this_month().is_empty(),
        "nobody counted"
    );
}

#[test]
fn a_directory_user_with_totp_over_radius() {
    const TEST: &str = "a_directory_user_with_totp_over_radius";
    let Some((radclient, _python)) = peers(TEST) else {
        return;
    };
    let Some(mut slapd) = Slapd::start(TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.append_config(&ad_directory(&[slapd.url()], "starttls = false\n"));
    // Enrolled under one spelling, used under another: keyed on the entry.
    let output = gh.ok(
        &["directory", "totp", "EXAMPLE\\john", "--mode", "challenge"],
        "",
    );
    assert!(output.contains("otpauth://totp/Gatehouse:john"), "{output}");
    let secret = enrolled_secret(&output);
    let radius = Radius::start(gh);
    let challenge = radius.radclient(&radclient, &pap("john@example.com", "john-secret"), SECRET);
    challenge.assert_code("Access-Challenge");
    let state = challenge.state.expect("a State");
    assert!(
        radius.gh.users_this_month().is_empty(),
        "not counted before the second factor"
    );
    let answer = format!(
        "User-Name = \"john@example.com\", User-Password = \"{}\", State = 0x{state}, Message-Authenticator = 0x00",
        current_code(&secret)
    );
    let accept = radius.radclient(&radclient, &answer, SECRET);
    accept.assert_code("Access-Accept");
    // A wrong directory password is refused before any challenge.
    let wrong = radius.radclient(&radclient, &pap("john", "wrong"), SECRET);
    wrong.assert_reply("Access-Reject", INVALID_TEXT);
    assert_eq!(radius.gh.users_this_month(), ["john"]);
    // The directory down: the NAS is told to try again later.
    slapd.stop();
    let down = radius.radclient(&radclient, &pap("EXAMPLE\\john", "john-secret"), SECRET);
    down.assert_reply(
        "Access-Reject",
        "Authentication service unavailable, please try again later",
    );
    assert!(radius.log_count(&["directory unavailable"], 1) >= 1);
}
