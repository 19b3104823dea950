//! The panel in a real browser: headless Chromium, driven by playwright-core
//! (`tests/browser/panel.mjs`), against the real `gatehouse serve`, with
//! users logging in over RADIUS (radclient) in between and the clock moved
//! past the Support End Date (faketime). Screenshots of every page land in
//! `target/tmp/panel-screenshots/`.

use std::path::Path;
use std::process::Command;

use crate::support;
use crate::support::{
    BROWSER_ADMIN_PASSWORD, Browser, FakeTime, Installation, Server, SmtpServer, dev_key, issue,
    pap,
};
use gatehouse_license::jiff::{SignedDuration, Timestamp};
use gatehouse_testkit::{libfaketime, peer, workspace_root};

const SECRET: &str = "panel-test-shared-secret";

fn radius_login(radclient: &Path, server: &Server, user: &str) {
    let reply = support::radclient(
        radclient,
        server.radius_port,
        &pap(user, &format!("{user}-secret")),
        SECRET,
    );
    assert_eq!(
        reply.code.as_deref(),
        Some("Access-Accept"),
        "{user}: {}",
        reply.output
    );
}

#[test]
fn the_panel_in_a_real_browser() {
    const TEST: &str = "the_panel_in_a_real_browser";
    let Some(browser) = Browser::new(TEST, "panel-screenshots") else {
        return;
    };
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let Some(faketime) = libfaketime(TEST) else {
        return;
    };
    let Some(mut smtp) = SmtpServer::new(TEST) else {
        return;
    };
    smtp.start();
    let shots = browser.shots.clone();

    let gh = Installation::new("UTC");
    gh.add_admin("root", BROWSER_ADMIN_PASSWORD);
    for user in ["alice", "bob"] {
        gh.add_user(user);
    }
    let mut server = Server::start(
        gh,
        &format!(
            "\n[radius]\nlisten = \"127.0.0.1:0\"\n\n[[radius.clients]]\nname = \"nas\"\nnetworks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n{}",
            smtp.config(None)
        ),
    );

    // License page, key preview and install, every page.
    let support_end = Timestamp::now()
        .checked_add(SignedDuration::from_hours(24 * 60))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    let key = issue(
        &dev_key(),
        &server.gh.app_key(),
        200,
        &support_end,
        &Timestamp::now().to_string(),
    );
    browser.run(&server, "license", &[("KEY", key)]);

    // Users log in over RADIUS and show up with their last login.
    for user in ["alice", "bob"] {
        radius_login(&radclient, &server, user);
    }
    server.gh.ok(&["users"], ""); // last logins are written behind; the table reads the ledger
    let download = shots.join("application-key-file.json");
    browser.run(
        &server,
        "users",
        &[
            ("USERS", "alice,bob".to_string()),
            ("DOWNLOAD", download.display().to_string()),
        ],
    );
    let verified = server.gh.run(
        &["license", "verify-export", download.to_str().unwrap()],
        "",
    );
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success()
            && stdout.starts_with("valid\n")
            && stdout.contains(": 2 users, verifies"),
        "the downloaded file verifies with the CLI, its usage chain too: {stdout}"
    );

    // Alarm settings from the panel: 2 of 200 users is 1%, which fires at
    // once and is sent; then the test email.
    let alarm = "User limit reached 1.0% (2/200)";
    browser.run(&server, "alarms", &[("ALARM", alarm.to_string())]);
    let received = smtp.wait_for(2, std::time::Duration::from_secs(10));
    let subjects: Vec<&str> = received.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, [alarm, "Gatehouse test email"]);
    assert!(
        received
            .iter()
            .all(|m| m.recipients == ["ops@example.com", "noc@example.org"])
    );
    // What the browser changed is in the audit trail, under the signed-in
    // administrator and the browser's address.
    let audit: serde_json::Value = serde_json::from_str(
        &server
            .gh
            .ok(&["audit", "--json", "--actor", "admin:root"], ""),
    )
    .unwrap();
    let entries = audit.as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"license.install") && actions.contains(&"alarms.save"),
        "{audit}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["source"] == "127.0.0.1" && e["authentic"] == true),
        "{audit}"
    );

    // 100 days on, the 60-day license has expired: only the License page.
    let later = Timestamp::now()
        .checked_add(SignedDuration::from_hours(24 * 100))
        .unwrap()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    server.restart(Some(FakeTime::new(&faketime, later)));
    browser.run(&server, "expired", &[]);

    let taken: Vec<String> = std::fs::read_dir(&shots)
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".png"))
        .collect();
    assert!(taken.len() >= 12, "screenshots of every page: {taken:?}");
}

/// SPEC §12, slow-loris: 1,100 idle or half-sent connections from one
/// address neither stop `/healthz` and the phone endpoint (each answers a
/// probe from another address within 1 s) nor use up the server's file
/// descriptors; the header-read and idle timeouts then close them all.
#[test]
fn idle_and_half_sent_connections_cannot_stop_the_panel() {
    use std::io::{BufRead as _, BufReader, Write as _};
    const TEST: &str = "idle_and_half_sent_connections_cannot_stop_the_panel";
    let Some(python) = peer("python3", TEST) else {
        return;
    };
    let server = Server::start(
        Installation::new("UTC"),
        // (The configuration ends in its [http] table: these keys go there.)
        "header_read_timeout_seconds = 2\nidle_timeout_seconds = 3\n\n\
         [radius]\nlisten = \"127.0.0.1:0\"\n",
    );
    let mut holder = Command::new(python)
        .arg(workspace_root().join("bin/gatehouse/tests/peers/idle_sockets.py"))
        .arg(server.http_port.to_string())
        .arg("1100")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut commands = holder.stdin.take().unwrap();
    let mut replies = BufReader::new(holder.stdout.take().unwrap()).lines();
    let mut ask = |command: &str| -> serde_json::Value {
        if !command.is_empty() {
            writeln!(commands, "{command}").unwrap();
        }
        serde_json::from_str(&replies.next().unwrap().unwrap()).unwrap()
    };
    let opened = ask("");
    assert_eq!(opened["opened"], 1100, "{opened}");
    // The health check, and the phone's fetch (without its signature
    // headers: refused with 400, but answered).
    for (path, status) in [("/healthz", 200), ("/push/v1/devices/d1/pushes", 400)] {
        let probe = ask(&format!("probe {path}"));
        assert_eq!(
            probe["status"], status,
            "{path} did not answer within 1 s: {probe}"
        );
        println!("{path} answered {probe} beside 1,100 held connections");
    }
    let descriptors = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count();
    println!("server descriptors with 1,100 connections held: {descriptors}");
    assert!(descriptors < 300, "{descriptors} descriptors open");
    // Past the timeouts every held connection has been closed.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let closed = ask("closed");
    assert_eq!(closed["closed"], 1100, "{closed}");
    drop(commands);
    holder.wait().unwrap();
    server.wait_for_log("HTTP connection refused: too many open connections");
    let metrics = server.metrics();
    let (refused, timed_out) = (
        metrics.value("gatehouse_http_connections_refused_total"),
        metrics.value("gatehouse_http_connections_timed_out_total"),
    );
    println!("refused at the caps: {refused}, closed for a timeout: {timed_out}");
    // Each held connection was either refused at a cap or closed for a
    // timeout (the probes ended normally).
    assert!(refused > 0);
    assert_eq!(refused + timed_out, 1100);
}

/// The panel over HTTPS (`http.tls_cert`/`tls_key`, through the same
/// connection limits): a client trusting the CA gets `/healthz`.
#[test]
fn the_panel_serves_https() {
    const TEST: &str = "the_panel_serves_https";
    let Some(python) = peer("python3", TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    let Some(ca) = support::TestCa::new(gh.data_dir(), TEST) else {
        return;
    };
    let server = Server::start(
        gh,
        &format!(
            "tls_cert = {:?}\ntls_key = {:?}\n\n[radius]\nlisten = \"127.0.0.1:0\"\n",
            ca.cert, ca.key
        ),
    );
    let output = Command::new(python)
        .arg("-c")
        .arg(
            "import ssl, sys, urllib.request\n\
             context = ssl.create_default_context(cafile=sys.argv[1])\n\
             print(urllib.request.urlopen(sys.argv[2], context=context, timeout=5).status)",
        )
        .arg(&ca.ca)
        .arg(format!("https://localhost:{}/healthz", server.http_port))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "200",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
