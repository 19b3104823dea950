//! The user portal (`/my/`, SPEC §17) as users meet it: the real
//! `gatehouse serve`, a real OpenLDAP server (slapd) for directory users,
//! `radclient` as the NAS, headless Chromium as the user's browser
//! (`tests/browser/my.mjs`) and as their phone (`tests/browser/phone.mjs`).

use std::process::Command;

use gatehouse_core::totp::{TotpSecret, code_at};
use serde_json::Value;

use crate::push::{ADMIN_PASSWORD, Phone, SECRET, Tools, login_in_background, tools_in};
use crate::support::{self, Installation, Server, Slapd, SmtpServer, ad_directory, pap, totp_user};

const ENROLL_FIRST: &str =
    "Enroll a second factor at https://gatehouse.example.com/my/, then log in again";

/// Runs a phase of `my.mjs` as `user`; its printed `name=value` lines.
fn my(
    tools: &Tools,
    server: &Server,
    phase: &str,
    (user, password): (&str, &str),
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut command = Command::new(&tools.node);
    command
        .arg(tools.browser_dir.join("my.mjs"))
        .arg(phase)
        .env("CHROMIUM", &tools.chromium)
        .env("BASE_URL", server.base_url())
        .env("USER", user)
        .env("PASSWORD", password)
        .env("SHOTS", &tools.shots);
    for (name, value) in extra {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "my.mjs {phase} as {user} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn printed<'a>(lines: &'a [(String, String)], name: &str) -> &'a str {
    lines
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("my.mjs printed no {name}: {lines:?}"))
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// What the issue asks to see, in one run: a directory user with no factor
/// is told where to enroll, enrolls TOTP on the portal and logs in with
/// it, counted once; a second user enrolls a phone and approves a login;
/// a user removes a lost phone and enrolls a new one; portal sign-ins never
/// count; another user's phone cannot be touched; the password alone no
/// longer opens the portal once a factor is enrolled.
#[test]
fn users_enroll_their_own_factors_on_the_portal_and_log_in_with_them() {
    const TEST: &str = "users_enroll_their_own_factors_on_the_portal_and_log_in_with_them";
    let Some(tools) = tools_in(TEST, "portal-screenshots") else {
        return;
    };
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.add_admin("root", ADMIN_PASSWORD);
    let frank_totp: TotpSecret = totp_user(&gh, "frank", "challenge");
    let path = gh.data_dir().join("gatehouse.toml");
    let config = std::fs::read_to_string(&path).unwrap().replace(
        "[http]\n",
        "[http]\npublic_url = \"https://gatehouse.example.com/\"\n",
    );
    std::fs::write(&path, config).unwrap();
    gh.append_config(&ad_directory(&[slapd.url()], "starttls = false\n"));
    let server = Server::start(
        gh,
        &format!(
            "\n[push]\ntimeout_seconds = 20\n\n[radius]\nlisten = \"127.0.0.1:0\"\n\n\
             [[radius.clients]]\nname = \"nas\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n"
        ),
    );
    let port = server.radius_port;
    let radius = |attributes: &str| support::radclient(&tools.radclient, port, attributes, SECRET);

    // John (directory, no factor): a window opened for him; RADIUS tells
    // him where to enroll, and does not count him.
    server.gh.ok(&["enroll", "open", "john", "--days", "3"], "");
    server.log_count(&["seat marks in force", "generation=1"], 1);
    radius(&pap("john", "john-secret")).assert_reply("Access-Reject", ENROLL_FIRST);
    assert!(server.gh.users_this_month().is_empty());
    // On the portal with the password alone: he enrolls TOTP, confirming
    // it with the code his app shows.
    let enrolled = my(&tools, &server, "enroll-totp", ("john", "john-secret"), &[]);
    let secret = TotpSecret::from_base32(printed(&enrolled, "secret")).unwrap();
    let step: i64 = printed(&enrolled, "step").parse().unwrap();
    assert!(
        server.gh.users_this_month().is_empty(),
        "a portal sign-in counts no seat"
    );
    // RADIUS with the password and a code: accepted, counted once (the
    // code confirmed on the portal is used up: the next step's).
    let challenge = radius(&pap("john", "john-secret"));
    challenge.assert_code("Access-Challenge");
    let state = challenge.state.unwrap();
    radius(&format!(
        "{}, State = 0x{state}",
        pap("john", &code_at(&secret, step + 1))
    ))
    .assert_code("Access-Accept");
    assert_eq!(server.gh.users_this_month(), ["john"]);
    // Enrolled: the password alone no longer opens the portal (the window
    // is still open).
    my(
        &tools,
        &server,
        "password-only",
        ("john", "john-secret"),
        &[("EXPECT", "Enter a code from your authenticator app")],
    );

    // Sam (directory, no factor): enrolls a phone himself and approves a
    // login with it.
    server.gh.ok(&["enroll", "open", "sam", "--days", "1"], "");
    server.log_count(&["seat marks in force", "generation=2"], 1);
    let made = my(&tools, &server, "phone-link", ("sam", "sam-secret"), &[]);
    let link = printed(&made, "link").to_string();
    let mut sams_phone = Phone::enroll_with(&tools, &server, "sam", &[("LINK", &link)]);
    let login = login_in_background(&tools.radclient, port, pap("sam", "sam-secret"), 30, 1);
    assert_eq!(sams_phone.tell("approve"), "approved");
    login.join().unwrap().assert_code("Access-Accept");
    assert_eq!(sorted(server.gh.users_this_month()), ["john", "sam"]);

    // Frank (local, TOTP from the administrator): enrolls a phone, loses
    // it, signs in with his code, removes it (and cannot touch Sam's by
    // editing the form), enrolls a new one, which approves his login.
    let frank_secret = frank_totp.to_base32();
    let made = my(
        &tools,
        &server,
        "phone-link",
        ("frank", "frank-secret"),
        &[("SECRET", &frank_secret), ("STEP", "0")],
    );
    let old = Phone::enroll_with(
        &tools,
        &server,
        "frank",
        &[
            ("LINK", printed(&made, "link")),
            ("LABEL", "frank old phone"),
        ],
    );
    drop(old);
    let devices: Value =
        serde_json::from_str(&server.gh.ok(&["push", "devices", "--json"], "")).unwrap();
    let sams_device = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|device| device["user"] == "sam")
        .and_then(|device| device["id"].as_str())
        .unwrap_or_else(|| panic!("sam's phone in {devices}"))
        .to_string();
    let made = my(
        &tools,
        &server,
        "phone-link",
        ("frank", "frank-secret"),
        &[
            ("SECRET", &frank_secret),
            ("STEP", "1"),
            ("OTHER_DEVICE", &sams_device),
            ("REMOVE", "frank old phone"),
        ],
    );
    let mut new = Phone::enroll_with(
        &tools,
        &server,
        "frank",
        &[
            ("LINK", printed(&made, "link")),
            ("LABEL", "frank new phone"),
        ],
    );
    let devices = server.gh.ok(&["push", "devices", "--json"], "");
    assert!(
        devices.contains("frank new phone") && !devices.contains("frank old phone"),
        "{devices}"
    );
    assert!(
        devices.contains(&sams_device),
        "sam's phone stays: {devices}"
    );
    let login = login_in_background(&tools.radclient, port, pap("frank", "frank-secret"), 30, 1);
    assert_eq!(new.tell("approve"), "approved");
    login.join().unwrap().assert_code("Access-Accept");
    assert_eq!(
        sorted(server.gh.users_this_month()),
        ["frank", "john", "sam"],
        "each counted once, by their RADIUS logins only"
    );

    // Every self-service action is in the audit trail, with the user and
    // the address.
    let audit = server.gh.ok(&["audit", "--json"], "");
    let entries: Value = serde_json::from_str(&audit).unwrap();
    let recorded: Vec<String> = entries
        .as_array()
        .unwrap_or_else(|| panic!("a list of entries: {audit}"))
        .iter()
        .map(|entry| {
            format!(
                "{} {} {}",
                entry["action"].as_str().unwrap_or(""),
                entry["actor"].as_str().unwrap_or(""),
                entry["source"].as_str().unwrap_or("")
            )
        })
        .collect();
    for expected in [
        "portal.sign_in user:john 127.0.0.1",
        "portal.totp_start user:john 127.0.0.1",
        "portal.totp_enroll user:john 127.0.0.1",
        "portal.sign_in user:sam 127.0.0.1",
        "push.enrollment_link user:sam 127.0.0.1",
        "push.device_remove user:frank 127.0.0.1",
    ] {
        assert!(
            recorded.iter().any(|entry| entry == expected),
            "{expected} in {recorded:#?}"
        );
    }
}

/// Enrollment invitations: opening a window with `--email` queues one per
/// user it covers who has no factor, to a local user's address or a
/// directory user's `mail`, and `serve` delivers them through a real SMTP
/// server; users without an address are named; a directory group cannot
/// be listed and says so.
#[test]
fn invitations_to_enroll_are_emailed_to_local_and_directory_users() {
    const TEST: &str = "invitations_to_enroll_are_emailed_to_local_and_directory_users";
    let Some(slapd) = Slapd::start(TEST) else {
        return;
    };
    let Some(mut smtp) = SmtpServer::new(TEST) else {
        return;
    };
    smtp.start();
    let gh = Installation::new("UTC");
    for name in ["lena", "max"] {
        gh.ok(
            &["local-user", "add", name, "--password-stdin"],
            &format!("{name}-secret\n"),
        );
    }
    totp_user(&gh, "tom", "challenge");
    gh.ok(&["local-user", "email", "lena", "lena@example.com"], "");
    gh.ok(&["local-user", "email", "tom", "tom@example.com"], "");
    let refused = gh.run(&["local-user", "email", "max", "not an address"], "");
    assert!(!refused.status.success(), "a bad address is refused");
    assert_eq!(
        gh.ok(&["local-user", "email", "lena"], "").trim(),
        "lena@example.com"
    );
    let path = gh.data_dir().join("gatehouse.toml");
    let config = std::fs::read_to_string(&path).unwrap().replace(
        "[http]\n",
        "[http]\npublic_url = \"https://gatehouse.example.com/\"\n",
    );
    std::fs::write(&path, config).unwrap();
    gh.append_config(&ad_directory(&[slapd.url()], "starttls = false\n"));
    gh.append_config(&smtp.config(None));
    let server = Server::start(gh, "");

    let opened = server.gh.ok(&["enroll", "open", "john", "--email"], "");
    assert!(
        opened.contains("invitation queued for john <john@example.com>"),
        "{opened}"
    );
    let everyone = server
        .gh
        .run(&["enroll", "open", "--all", "--days", "2", "--email"], "");
    let stdout = String::from_utf8_lossy(&everyone.stdout);
    let stderr = String::from_utf8_lossy(&everyone.stderr);
    assert!(everyone.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("invitation queued for lena <lena@example.com>")
            && stdout.contains("tom already has a second factor: not invited"),
        "{stdout}"
    );
    assert!(stderr.contains("max: no email address"), "{stderr}");
    let directory_group = server.gh.run(
        &[
            "enroll",
            "open",
            "--group",
            &format!("corp:{}", crate::support::LDAP_VPN_GROUP),
            "--email",
        ],
        "",
    );
    assert!(
        String::from_utf8_lossy(&directory_group.stderr).contains("cannot be listed"),
        "{}",
        String::from_utf8_lossy(&directory_group.stderr)
    );

    let received = smtp.wait_for(2, std::time::Duration::from_secs(30));
    let mut recipients: Vec<String> = received
        .iter()
        .flat_map(|mail| mail.recipients.clone())
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["john@example.com", "lena@example.com"]);
    for mail in &received {
        assert_eq!(mail.subject, "Enroll a second factor for network logins");
        assert!(
            mail.text.contains("https://gatehouse.example.com/my/"),
            "{}",
            mail.text
        );
    }
    assert!(
        received
            .iter()
            .any(|mail| mail.text.contains("Hello John Smith,"))
    );
    let history: Value =
        serde_json::from_str(&server.gh.ok(&["alarm", "history", "--json"], "")).unwrap();
    assert_eq!(
        history
            .as_array()
            .unwrap()
            .iter()
            .filter(|alarm| alarm["kind"] == "enrollment")
            .count(),
        2,
        "{history}"
    );
}
