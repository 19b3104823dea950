//! Push approval end to end: the real `gatehouse serve`, `radclient` as the
//! NAS, and headless Chromium as the phone (`tests/browser/phone.mjs`: the
//! web app Gatehouse serves, real WebCrypto keys), enrolled through a link
//! the administrator creates on the panel's Push page.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use crate::support;
use crate::support::{
    Installation, RadReply, Server, current_code, dev_key, http_json, issue_with_push, pap,
    totp_user,
};
use gatehouse_license::jiff::{SignedDuration, Timestamp};
use gatehouse_testkit::{installed, peer, workspace_root};
use serde_json::Value;

pub(crate) const SECRET: &str = "push-test-shared-secret";
pub(crate) const ADMIN_PASSWORD: &str = "push-admin-password";
const DENIED: &str = "Login denied on your phone";
const TIMED_OUT: &str = "Login not approved on your phone in time";
const APPROVE_ON_PHONE: &str = "Approve the request on your phone, then press Enter";
const NOT_LICENSED: &str =
    "Push notifications are not licensed, please contact your system administrator";

/// One phone: `phone.mjs` in its own Chromium, spoken to line by line.
pub(crate) struct Phone {
    child: Child,
    commands: ChildStdin,
    answers: BufReader<ChildStdout>,
}

impl Phone {
    fn enroll(tools: &Tools, server: &Server, user: &str) -> Phone {
        Phone::enroll_with(tools, server, user, &[])
    }

    /// A phone enrolled with `extra` environment (`LINK`: a link the user
    /// made on the portal; `LABEL`: its name).
    pub(crate) fn enroll_with(
        tools: &Tools,
        server: &Server,
        user: &str,
        extra: &[(&str, &str)],
    ) -> Phone {
        let mut command = Command::new(&tools.node);
        for (name, value) in extra {
            command.env(name, value);
        }
        let mut child = command
            .arg(tools.browser_dir.join("phone.mjs"))
            .env("CHROMIUM", &tools.chromium)
            .env("BASE_URL", server.base_url())
            .env("ADMIN_USER", "root")
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("USER", user)
            .env("APP_KEY", server.gh.app_key())
            .env("SHOTS", &tools.shots)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut phone = Phone {
            commands: child.stdin.take().unwrap(),
            answers: BufReader::new(child.stdout.take().unwrap()),
            child,
        };
        assert_eq!(phone.answer(), "enrolled", "{user}'s phone");
        phone
    }

    fn answer(&mut self) -> String {
        let mut line = String::new();
        self.answers.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the phone stopped (see its error above)");
        line.trim().to_string()
    }

    /// Sends `command` and returns the phone's answer.
    pub(crate) fn tell(&mut self, command: &str) -> String {
        writeln!(self.commands, "{command}").unwrap();
        self.commands.flush().unwrap();
        self.answer()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = writeln!(self.commands, "quit");
        let _ = self.child.wait();
    }
}

pub(crate) struct Tools {
    pub(crate) node: PathBuf,
    pub(crate) chromium: PathBuf,
    pub(crate) radclient: PathBuf,
    pub(crate) browser_dir: PathBuf,
    pub(crate) shots: PathBuf,
}

fn tools(test: &str) -> Option<Tools> {
    tools_in(test, "push-screenshots")
}

/// The programs a test with phones needs; screenshots go to
/// `target/tmp/<shots>/`.
pub(crate) fn tools_in(test: &str, shots: &str) -> Option<Tools> {
    let node = peer("node", test)?;
    let chromium = peer("chromium", test)?;
    let radclient = peer("radclient", test)?;
    let browser_dir = workspace_root().join("bin/gatehouse/tests/browser");
    installed(
        &browser_dir.join("node_modules/playwright-core"),
        "playwright-core (npm ci)",
        test,
    )?;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(shots);
    let _ = std::fs::remove_dir_all(&shots);
    Some(Tools {
        node,
        chromium,
        radclient,
        browser_dir,
        shots,
    })
}

/// `radclient -x` on a thread of its own (the login waits for the phone):
/// `timeout` seconds per try, `tries` tries (retransmissions of the same
/// request).
pub(crate) fn login_in_background(
    radclient: &Path,
    port: u16,
    attributes: String,
    timeout: u32,
    tries: u32,
) -> JoinHandle<RadReply> {
    let radclient = radclient.to_path_buf();
    std::thread::spawn(move || {
        support::radclient_with(&radclient, port, &attributes, SECRET, timeout, tries)
    })
}

fn outcomes(gh: &Installation) -> Vec<String> {
    let history: Value = serde_json::from_str(&gh.ok(&["push", "history", "--json"], "")).unwrap();
    let mut outcomes: Vec<String> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|push| {
            format!(
                "{} {}",
                push["user"].as_str().unwrap(),
                push["outcome"].as_str().unwrap()
            )
        })
        .collect();
    outcomes.reverse(); // oldest first
    outcomes
}

#[test]
fn a_phone_in_a_real_browser_approves_denies_and_ignores_radius_logins() {
    const TEST: &str = "a_phone_in_a_real_browser_approves_denies_and_ignores_radius_logins";
    let Some(tools) = tools(TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.add_admin("root", ADMIN_PASSWORD);
    gh.add_user("alice");
    // Bob has TOTP too, and answers a challenge rather than holding.
    let bob_totp = totp_user(&gh, "bob", "challenge");
    gh.ok(&["push", "mode", "bob", "challenge"], "");
    let server = Server::start(
        gh,
        &format!(
            "\n[push]\ntimeout_seconds = 8\n\n[radius]\nlisten = \"127.0.0.1:0\"\n\n\
             [[radius.clients]]\nname = \"nas\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n"
        ),
    );
    let port = server.radius_port;
    let mut alice = Phone::enroll(&tools, &server, "alice");
    let mut bob = Phone::enroll(&tools, &server, "bob");

    // Approve: the held Access-Request is accepted, and alice counted.
    let login = login_in_background(
        &tools.radclient,
        port,
        format!(
            "{}, Calling-Station-Id = \"198.51.100.7\"",
            pap("alice", "alice-secret")
        ),
        20,
        1,
    );
    assert_eq!(alice.tell("approve"), "approved");
    let reply = login.join().unwrap();
    reply.assert_code("Access-Accept");
    assert_eq!(server.gh.users_this_month(), ["alice"]);

    // Deny: rejected, saying so.
    let login = login_in_background(&tools.radclient, port, pap("alice", "alice-secret"), 20, 1);
    assert_eq!(alice.tell("deny"), "denied");
    let reply = login.join().unwrap();
    reply.assert_reply("Access-Reject", DENIED);

    // Nothing: rejected when push.timeout is up. The NAS retransmits every
    // 3 s meanwhile; the retransmissions are dropped and the login is
    // answered once.
    // The approval's and the denial's decisions first: log lines reach
    // stderr in batches, so one may still be on its way.
    let decisions_before = server.log_count(&["RADIUS decision", "user=\"alice\""], 2);
    let login = login_in_background(&tools.radclient, port, pap("alice", "alice-secret"), 3, 5);
    assert_eq!(alice.tell("ignore"), "shown");
    let reply = login.join().unwrap();
    reply.assert_reply("Access-Reject", TIMED_OUT);
    let sent = reply.output.matches("Sent Access-Request").count();
    let received = reply.output.matches("Received Access-").count();
    assert!(
        sent >= 3,
        "the NAS retransmitted while waiting: {}",
        reply.output
    );
    assert_eq!(received, 1, "{}", reply.output);
    assert_eq!(
        server.log_count(&["RADIUS decision", "user=\"alice\""], decisions_before + 1),
        decisions_before + 1,
        "one decision for the login and its retransmissions"
    );

    // Challenge mode: Access-Challenge, the phone approves, Enter.
    let challenge = support::radclient(&tools.radclient, port, &pap("bob", "bob-secret"), SECRET);
    challenge.assert_reply("Access-Challenge", APPROVE_ON_PHONE);
    assert_eq!(bob.tell("approve"), "approved");
    let state = challenge.state.unwrap();
    let enter = support::radclient(
        &tools.radclient,
        port,
        &format!("{}, State = 0x{state}", pap("bob", "")),
        SECRET,
    );
    enter.assert_code("Access-Accept");
    // Or the TOTP code at the prompt, with the phone left alone.
    let challenge = support::radclient(&tools.radclient, port, &pap("bob", "bob-secret"), SECRET);
    let state = challenge.state.unwrap();
    let code = support::radclient(
        &tools.radclient,
        port,
        &format!(
            "{}, State = 0x{state}",
            pap("bob", &current_code(&bob_totp))
        ),
        SECRET,
    );
    code.assert_code("Access-Accept");

    assert_eq!(
        outcomes(&server.gh),
        [
            "alice approved",
            "alice denied",
            "alice expired",
            "bob approved",
            "bob expired"
        ]
    );

    // A license without Push Subscription: no push at all. Alice has only
    // her phone and is refused; Bob falls back to TOTP.
    let support_end = Timestamp::now()
        .checked_add(SignedDuration::from_hours(24 * 90))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    let key = issue_with_push(
        &dev_key(),
        &server.gh.app_key(),
        100,
        &support_end,
        &Timestamp::now().to_string(),
        false,
    );
    server
        .gh
        .ok(&["license", "install", "-"], &format!("{key}\n"));
    server.wait_for_log("license changed");
    let refused = support::radclient(
        &tools.radclient,
        port,
        &pap("alice", "alice-secret"),
        SECRET,
    );
    refused.assert_reply("Access-Reject", NOT_LICENSED);
    let challenge = support::radclient(&tools.radclient, port, &pap("bob", "bob-secret"), SECRET);
    assert_eq!(
        challenge.reply_message.as_deref(),
        Some("Enter your one-time code"),
        "{}",
        challenge.output
    );
    let state = challenge.state.unwrap();
    let code = support::radclient(
        &tools.radclient,
        port,
        &format!("{}, State = 0x{state}", pap("bob", &next_code(&bob_totp))),
        SECRET,
    );
    code.assert_code("Access-Accept");
    assert_eq!(outcomes(&server.gh).len(), 5, "no push was sent");
    assert_eq!(server.gh.users_this_month(), ["alice", "bob"]);
    drop(alice);
    drop(bob);
}

/// SPEC §12, number matching, with the phone in Chromium: the prompt
/// shows a number, the phone offers three, and only that one approves; a
/// wrong choice refuses the login.
#[test]
fn number_matching_on_a_phone_in_a_real_browser() {
    const TEST: &str = "number_matching_on_a_phone_in_a_real_browser";
    let Some(tools) = tools(TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.add_admin("root", ADMIN_PASSWORD);
    gh.add_user("carol");
    gh.ok(&["push", "mode", "carol", "challenge"], "");
    let server = Server::start(
        gh,
        &format!(
            "\n[push]\nnumber_matching = true\n\n[radius]\nlisten = \"127.0.0.1:0\"\n\n\
             [[radius.clients]]\nname = \"nas\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n"
        ),
    );
    let port = server.radius_port;
    let mut carol = Phone::enroll(&tools, &server, "carol");
    let prompted = || {
        let challenge = support::radclient(
            &tools.radclient,
            port,
            &pap("carol", "carol-secret"),
            SECRET,
        );
        let message = challenge.reply_message.clone().unwrap_or_default();
        let number: String = message
            .strip_prefix("On your phone, choose ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("a number in the prompt: {}", challenge.output))
            .to_string();
        assert_eq!(
            message,
            format!("On your phone, choose {number} to approve, then press Enter")
        );
        (number, challenge.state.unwrap())
    };
    let enter = |state: &str| {
        support::radclient(
            &tools.radclient,
            port,
            &format!("{}, State = 0x{state}", pap("carol", "")),
            SECRET,
        )
    };
    // Another number: the login is refused.
    let (number, state) = prompted();
    assert_eq!(carol.tell(&format!("choose-other {number}")), "refused");
    enter(&state).assert_reply("Access-Reject", DENIED);
    assert!(server.gh.users_this_month().is_empty());
    // The prompt's number: accepted.
    let (number, state) = prompted();
    assert_eq!(carol.tell(&format!("choose {number}")), "approved");
    enter(&state).assert_code("Access-Accept");
    assert_eq!(server.gh.users_this_month(), ["carol"]);
    drop(carol);
}

/// The code of the time step after the current one (within the drift
/// window, and later than a code used just now).
fn next_code(secret: &gatehouse_core::totp::TotpSecret) -> String {
    use gatehouse_core::totp::{code_at, step_of};
    code_at(secret, step_of(Timestamp::now()) + 1)
}

/// The P-256 base point as a SEC1 public key (private key 1): a valid key
/// for phones that never answer.
const NEVER_ANSWERS: &str =
    "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";

/// 1,000 logins held open waiting for phones that never answer, while 220
/// other users (200 PAP, 20 password+TOTP) log in twice: the others are all
/// answered while the held ones still wait, and each held login is
/// answered once, when its push times out. Prints the others' latency
/// percentiles (ARCHITECTURE.md and bench/README.md quote them).
#[test]
fn a_thousand_logins_held_for_phones_do_not_hold_up_other_users() {
    const TEST: &str = "a_thousand_logins_held_for_phones_do_not_hold_up_other_users";
    const HELD: usize = 1000;
    let Some(python) = gatehouse_testkit::python_with("pyrad", TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    let dir = gh.data_dir().to_path_buf();
    let lines = |names: &mut dyn Iterator<Item = String>| -> String {
        names
            .map(|name| format!("{name}\t{name}-secret\n"))
            .collect()
    };
    let held_file = dir.join("held.tsv");
    std::fs::write(
        &held_file,
        lines(&mut (0..HELD).map(|i| format!("held{i:04}"))),
    )
    .unwrap();
    let plain: String = lines(&mut (0..200).map(|i| format!("pap{i:03}")));
    std::fs::write(
        dir.join("import.tsv"),
        format!("{}{plain}", std::fs::read_to_string(&held_file).unwrap()),
    )
    .unwrap();
    gh.ok(
        &[
            "local-user",
            "import",
            dir.join("import.tsv").to_str().unwrap(),
            "--no-second-factor",
        ],
        "",
    );
    let mut others = plain;
    for i in 0..20 {
        let name = format!("totp{i:02}");
        gh.add_user(&name);
        let printed = gh.ok(&["local-user", "totp", &name, "--mode", "append"], "");
        let secret = printed
            .lines()
            .find_map(|line| line.strip_prefix("Secret: "))
            .unwrap();
        others.push_str(&format!("{name}\t{name}-secret\t{secret}\n"));
    }
    let others_file = dir.join("others.tsv");
    std::fs::write(&others_file, others).unwrap();
    let support_end = Timestamp::now()
        .checked_add(SignedDuration::from_hours(24 * 90))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    let key = support::issue(
        &dev_key(),
        &gh.app_key(),
        5000,
        &support_end,
        &Timestamp::now().to_string(),
    );
    gh.ok(&["license", "install", "-"], &format!("{key}\n"));
    gh.add_admin("root", ADMIN_PASSWORD);
    let token = gh.api_token("root");
    let server = Server::start(
        gh,
        &format!(
            "\n[push]\ntimeout_seconds = 30\n\n[radius]\nlisten = \"127.0.0.1:0\"\n\n\
             [[radius.clients]]\nname = \"nas\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n"
        ),
    );
    let output = Command::new(python)
        .arg(workspace_root().join("bin/gatehouse/tests/peers/push_hold_load.py"))
        .args([
            SECRET,
            &server.radius_port.to_string(),
            &server.base_url(),
            &token,
            held_file.to_str().unwrap(),
            others_file.to_str().unwrap(),
            NEVER_ANSWERS,
            "8",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    println!("push hold load: {report}");
    assert_eq!(report["enrolled"], HELD);
    assert_eq!(report["waiting_before_others"], HELD, "{report}");
    assert_eq!(
        report["waiting_after_others"], HELD,
        "the held logins were still waiting when the others were done: {report}"
    );
    assert_eq!(
        report["held_replies"],
        serde_json::json!({ format!("Access-Reject: {TIMED_OUT}"): HELD }),
        "{report}"
    );
    assert_eq!(report["held_second_decisions"], 0, "{report}");
    assert_eq!(report["held_invalid"], 0);
    assert_eq!(
        report["others"],
        serde_json::json!({"new Access-Accept": 220, "returning Access-Accept": 220}),
        "{report}"
    );
    assert_eq!(
        server.gh.users_this_month().len(),
        220,
        "held users were never counted"
    );
}

/// With `[push.webpush]`, a phone that subscribed is woken when a login
/// waits for it: the push service (`tests/peers/webpush_service.py`, the
/// Python `cryptography` package) receives a message it can decrypt as the
/// browser would, signed with a VAPID token for its origin; the phone then
/// fetches and approves. A push service answering 410 drops the
/// subscription.
#[test]
fn web_push_wakes_a_subscribed_phone() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use p256::ecdsa::signature::Signer as _;
    const TEST: &str = "web_push_wakes_a_subscribed_phone";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let Some(python) = gatehouse_testkit::python_with("cryptography", TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    let Some(ca) = support::TestCa::new(gh.data_dir(), TEST) else {
        return;
    };
    let mut service = Command::new(python)
        .arg(workspace_root().join("bin/gatehouse/tests/peers/webpush_service.py"))
        .arg(&ca.cert)
        .arg(&ca.key)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reports = BufReader::new(service.stdout.take().unwrap());
    let mut line = String::new();
    reports.read_line(&mut line).unwrap();
    let subscription: Value = serde_json::from_str(&line).unwrap();

    gh.add_user("alice");
    gh.add_admin("root", ADMIN_PASSWORD);
    let token = gh.api_token("root");
    let server = Server::start(
        gh,
        &format!(
            "\n[push]\ntimeout_seconds = 20\n\n[push.webpush]\nsubject = \"mailto:noc@example.com\"\nca_file = \"{}\"\n\
             allowed_hosts = [\"localhost\"]\n\n\
             [radius]\nlisten = \"127.0.0.1:0\"\n\n\
             [[radius.clients]]\nname = \"nas\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n",
            ca.ca.display()
        ),
    );
    let port = server.http_port;
    let (status, key) = http_json(port, "GET", "/push/v1/webpush", &[], None);
    assert_eq!(status, 200);
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(key["public_key"].as_str().unwrap())
            .unwrap()
            .len(),
        65
    );

    // The phone: a P-256 key, enrolled through a link, then subscribed.
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let phone = p256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    let sign = |text: &str| {
        let signature: p256::ecdsa::Signature = phone.sign(text.as_bytes());
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    };
    let bearer = [("Authorization", format!("Bearer {token}"))];
    let (_, link) = http_json(
        port,
        "POST",
        "/api/v1/push/enrollments",
        &bearer,
        Some(serde_json::json!({"user": "alice"})),
    );
    let enrollment = link["link"]
        .as_str()
        .unwrap()
        .split_once("#enroll=")
        .unwrap()
        .1;
    let (status, enrolled) = http_json(
        port,
        "POST",
        "/push/v1/devices",
        &[],
        Some(serde_json::json!({
            "token": enrollment,
            "label": "phone",
            "public_key": URL_SAFE_NO_PAD.encode(phone.verifying_key().to_sec1_point(false).as_bytes()),
        })),
    );
    assert_eq!(status, 201, "{enrolled}");
    let device = enrolled["device"].as_str().unwrap().to_string();
    let now = Timestamp::now().as_second();
    let (endpoint, p256dh, auth) = (
        subscription["endpoint"].as_str().unwrap(),
        subscription["p256dh"].as_str().unwrap(),
        subscription["auth"].as_str().unwrap(),
    );
    let subscribe = |endpoint: &str, signature: String| {
        http_json(
            port,
            "PUT",
            &format!("/push/v1/devices/{device}/webpush"),
            &[],
            Some(serde_json::json!({
                "endpoint": endpoint, "p256dh": p256dh, "auth": auth, "time": now, "signature": signature,
            })),
        )
        .0
    };
    let text =
        |endpoint: &str| format!("gatehouse-webpush-v1|{device}|{now}|{endpoint}|{p256dh}|{auth}");
    // The phone's signed fetch of its pending pushes, and its decision.
    let fetch = || {
        let time = Timestamp::now().as_second();
        let (status, pending) = http_json(
            port,
            "GET",
            &format!("/push/v1/devices/{device}/pushes"),
            &[
                ("X-Gatehouse-Time", time.to_string()),
                (
                    "X-Gatehouse-Signature",
                    sign(&format!("gatehouse-poll-v1|{device}|{time}")),
                ),
            ],
            None,
        );
        assert_eq!(status, 200, "{pending}");
        pending
    };
    let decide = |push: &Value, decision: &str| {
        let nonce = push["nonce"].as_str().unwrap();
        let (status, decided) = http_json(
            port,
            "POST",
            &format!("/push/v1/devices/{device}/decisions"),
            &[],
            Some(serde_json::json!({
                "push": push["id"],
                "decision": decision,
                "signature": sign(&format!("{nonce}|{decision}")),
            })),
        );
        assert_eq!(status, 200, "{decided}");
    };
    // Signed for another endpoint, or not https: refused.
    assert_eq!(
        subscribe(endpoint, sign(&text("https://evil.example/x"))),
        403
    );
    assert_eq!(
        subscribe("http://localhost/x", sign(&text("http://localhost/x"))),
        400
    );
    // Only the allowed push services' hosts (here the test service's,
    // named exactly): no other host, no IP literal, whatever it signs.
    let elsewhere = endpoint.replace("https://localhost:", "https://127.0.0.1:");
    for other in [
        "https://evil.example/wpush/phone",
        elsewhere.as_str(),
        "https://[::1]/wpush/phone",
        "https://fcm.googleapis.com/fcm/send/x",
    ] {
        assert_eq!(subscribe(other, sign(&text(other))), 400, "{other}");
    }
    assert_eq!(subscribe(endpoint, sign(&text(endpoint))), 204);

    // A login waits; the phone is woken, decrypts, fetches and approves.
    let login = login_in_background(
        &radclient,
        server.radius_port,
        pap("alice", "alice-secret"),
        25,
        1,
    );
    line.clear();
    reports.read_line(&mut line).unwrap();
    let report: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["sub"], "mailto:noc@example.com");
    assert_eq!(report["urgency"], "high");
    let woken: Value = serde_json::from_str(report["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        (woken["user"].as_str(), woken["client"].as_str()),
        (Some("alice"), Some("nas"))
    );
    let pending = fetch();
    let push = &pending["pushes"][0];
    assert_eq!(
        push["id"], woken["push"],
        "the message names the waiting push"
    );
    decide(push, "approve");
    let reply = login.join().unwrap();
    reply.assert_code("Access-Accept");

    // The browser unsubscribed: the push service answers 410 and the
    // subscription is dropped (the phone still sees pushes when it polls).
    let gone = endpoint.replace("/wpush/phone", "/wpush/gone");
    assert_eq!(subscribe(&gone, sign(&text(&gone))), 204);
    let login = login_in_background(
        &radclient,
        server.radius_port,
        pap("alice", "alice-secret"),
        25,
        1,
    );
    server.wait_for_log("Web Push subscription gone; dropped");
    decide(&fetch()["pushes"][0], "deny");
    assert_eq!(login.join().unwrap().reply_message.as_deref(), Some(DENIED));
    let devices: Value =
        serde_json::from_str(&server.gh.ok(&["push", "devices", "--json"], "")).unwrap();
    assert_eq!(devices.as_array().unwrap().len(), 1);
    let _ = service.kill();
    let _ = service.wait();
}
