//! The panel in a real browser: headless Chromium, driven by playwright-core
//! (`tests/browser/panel.mjs`), against the real `gatehouse serve`, with
//! users logging in over RADIUS (radclient) in between and the clock moved
//! past the Support End Date (faketime). Screenshots of every page land in
//! `target/tmp/panel-screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{FakeTime, Installation, Server, SmtpServer, dev_key, issue, pap};
use gatehouse_license::jiff::{SignedDuration, Timestamp};
use gatehouse_testkit::{installed, libfaketime, peer, workspace_root};

const SECRET: &str = "panel-test-shared-secret";
const ADMIN_PASSWORD: &str = "panel-admin-password";

struct Browser {
    node: PathBuf,
    chromium: PathBuf,
    script: PathBuf,
    shots: PathBuf,
}

impl Browser {
    fn run(&self, server: &Server, phase: &str, extra: &[(&str, String)]) {
        let mut command = Command::new(&self.node);
        command
            .arg(&self.script)
            .arg(phase)
            .env("CHROMIUM", &self.chromium)
            .env("BASE_URL", server.base_url())
            .env("ADMIN_USER", "root")
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("APP_KEY", server.gh.app_key())
            .env("SHOTS", &self.shots);
        for (name, value) in extra {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "browser phase {phase} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn radius_login(radclient: &Path, server: &Server, user: &str) {
    let reply = common::radclient(
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
    let Some(node) = peer("node", TEST) else {
        return;
    };
    let Some(chromium) = peer("chromium", TEST) else {
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
    let browser_dir = workspace_root().join("bin/gatehouse/tests/browser");
    if installed(
        &browser_dir.join("node_modules/playwright-core"),
        "playwright-core (npm ci)",
        TEST,
    )
    .is_none()
    {
        return;
    }
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("panel-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let browser = Browser {
        node,
        chromium,
        script: browser_dir.join("panel.mjs"),
        shots: shots.clone(),
    };

    let gh = Installation::new("UTC");
    gh.add_admin("root", ADMIN_PASSWORD);
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
    assert_eq!(
        String::from_utf8_lossy(&verified.stdout).trim(),
        "valid",
        "the downloaded file verifies with the CLI"
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
