//! License alarms by email, end to end: the real `gatehouse serve` sends
//! to a real SMTP server (aiosmtpd), plain, with STARTTLS and AUTH, and
//! with implicit TLS, under a private CA; outages, a killed server and the passing days (faketime)
//! delay alarms but never lose or repeat them.

use std::time::Duration;

use crate::support::{FakeTime, Installation, Received, Server, SmtpServer, dev_key, issue};
use gatehouse_license::jiff::{Timestamp, ToSpan as _};
use gatehouse_testkit::libfaketime;
use serde_json::Value;

const RECIPIENTS: &str = "recipients = [\"ops@example.com\", \"noc@example.org\"]";

/// Adds `alarms` as the `[alarms]` section and `smtp` as the `[smtp]`
/// section to the installation's configuration.
fn configure(gh: &Installation, alarms: &str, smtp: &str) {
    gh.append_config(&format!("\n[alarms]\n{alarms}\n{smtp}"));
}

/// `serve` with RADIUS and the panel on free ports and the alarm and SMTP
/// settings given.
fn serve(gh: Installation, alarms: &str, smtp: &str) -> Server {
    configure(&gh, alarms, smtp);
    Server::start(gh, "")
}

fn subjects(received: &[Received]) -> Vec<&str> {
    received.iter().map(|m| m.subject.as_str()).collect()
}

fn history(gh: &Installation) -> Vec<Value> {
    let json: Value = serde_json::from_str(&gh.ok(&["alarm", "history", "--json"], "")).unwrap();
    json.as_array().unwrap().clone()
}

/// `(subject, state)` of each alarm, oldest first.
fn states(gh: &Installation) -> Vec<(String, String)> {
    let mut states: Vec<(String, String)> = history(gh)
        .iter()
        .map(|a| {
            (
                a["subject"].as_str().unwrap().to_string(),
                a["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    states.reverse();
    states
}

/// The text of the day alarm for the installation's license now.
fn expires_text(gh: &Installation) -> String {
    let license = gh.license_json();
    format!(
        "License expires in {} days (Support End Date {})",
        license["days_remaining"],
        license["support_end_date"].as_str().unwrap()
    )
}

#[test]
fn alarms_and_the_test_email_arrive_over_plain_smtp_with_subject_and_every_recipient() {
    const TEST: &str =
        "alarms_and_the_test_email_arrive_over_plain_smtp_with_subject_and_every_recipient";
    let Some(mut smtp) = SmtpServer::new(TEST) else {
        return;
    };
    smtp.start();
    let gh = Installation::new("UTC");
    for name in ["alice", "bob"] {
        gh.add_user(name);
    }
    let expires = expires_text(&gh);
    // The demo license: 30 days left, 25 users. 60 and 30 days are due at
    // start (one message, the more urgent); 8% is 2 users.
    let server = serve(
        gh,
        &format!("days_before_end = [60, 30]\nuser_limit_percent = [8]\n{RECIPIENTS}"),
        &smtp.config(None),
    );
    let received = smtp.wait_for(1, Duration::from_secs(15));
    assert_eq!(subjects(&received), [expires.as_str()]);
    let alarm = &received[0];
    assert_eq!(alarm.recipients, ["ops@example.com", "noc@example.org"]);
    assert!(
        alarm.message_id.starts_with("<alarm-") && alarm.message_id.contains(&server.gh.app_key()),
        "{}",
        alarm.message_id
    );
    assert!(alarm.text.contains("Demo License"), "{}", alarm.text);
    // The second user, counted by another process, crosses 8%: the
    // running server sends it.
    for name in ["alice", "bob"] {
        assert_eq!(server.gh.auth(name).0, "Accept");
    }
    let received = smtp.wait_for(2, Duration::from_secs(15));
    assert_eq!(
        subjects(&received),
        [expires.as_str(), "User limit reached 8.0% (2/25)"]
    );
    assert_eq!(
        received[1].recipients,
        ["ops@example.com", "noc@example.org"]
    );
    // `gatehouse alarm test` reaches the same people at once.
    let out = server.gh.ok(&["alarm", "test"], "");
    assert_eq!(
        out.trim(),
        "Test email sent to ops@example.com, noc@example.org"
    );
    let received = smtp.wait_for(3, Duration::from_secs(5));
    assert_eq!(received[2].subject, "Gatehouse test email");
    assert_eq!(
        received[2].recipients,
        ["ops@example.com", "noc@example.org"]
    );
    let states = states(&server.gh);
    let state_names: Vec<&str> = states.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(state_names, ["superseded", "sent", "sent"], "{states:?}");
    // Nothing more arrives.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(smtp.received().len(), 3);
}

#[test]
fn starttls_with_a_private_ca_and_auth() {
    const TEST: &str = "starttls_with_a_private_ca_and_auth";
    const PASSWORD: &str = "smtp-auth-s3cret";
    let Some(mut smtp) = SmtpServer::new(TEST) else {
        return;
    };
    let Some(ca) = smtp.with_tls(TEST, false) else {
        return;
    };
    smtp.with_auth("gatehouse", PASSWORD);
    smtp.start();
    let gh = Installation::new("UTC");
    let expires = expires_text(&gh);
    let server = serve(
        gh,
        &format!("days_before_end = [30]\nuser_limit_percent = []\n{RECIPIENTS}"),
        &smtp.config(Some(&ca)),
    );
    let received = smtp.wait_for(1, Duration::from_secs(15));
    assert_eq!(subjects(&received), [expires.as_str()]);
    assert_eq!(
        received[0].recipients,
        ["ops@example.com", "noc@example.org"]
    );
    server.gh.ok(&["alarm", "test"], "");
    let received = smtp.wait_for(2, Duration::from_secs(5));
    assert_eq!(received[1].subject, "Gatehouse test email");
    // A wrong password: refused by the server, said so.
    std::fs::write(smtp.password_file(), "wrong-password\n").unwrap();
    let output = server.gh.run(&["alarm", "test"], "");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sending failed") && stderr.contains("535"),
        "{stderr}"
    );
    std::fs::write(smtp.password_file(), format!("{PASSWORD}\n")).unwrap();
    // Without the CA the server's certificate is not trusted: the test
    // email fails with the reason and nothing is sent.
    let config = server.gh.data_dir().join("gatehouse.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let ca_line = format!("ca_file = \"{}\"\n", ca.display());
    assert!(text.contains(&ca_line));
    std::fs::write(&config, text.replace(&ca_line, "")).unwrap();
    let output = server.gh.run(&["alarm", "test"], "");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sending failed"), "{stderr}");
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    assert_eq!(smtp.received().len(), 2);
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.contains(PASSWORD), "the SMTP password is never logged");
}

#[test]
fn implicit_tls_with_a_private_ca() {
    const TEST: &str = "implicit_tls_with_a_private_ca";
    let Some(mut smtp) = SmtpServer::new(TEST) else {
        return;
    };
    let Some(ca) = smtp.with_tls(TEST, true) else {
        return;
    };
    smtp.start();
    let gh = Installation::new("UTC");
    configure(
        &gh,
        &format!("days_before_end = []\nuser_limit_percent = []\n{RECIPIENTS}"),
        &smtp.config(Some(&ca)),
    );
    let out = gh.ok(&["alarm", "test"], "");
    assert_eq!(
        out.trim(),
        "Test email sent to ops@example.com, noc@example.org"
    );
    let received = smtp.wait_for(1, Duration::from_secs(5));
    assert_eq!(subjects(&received), ["Gatehouse test email"]);
    assert_eq!(
        received[0].recipients,
        ["ops@example.com", "noc@example.org"]
    );
}

#[test]
fn an_smtp_outage_delays_an_alarm_which_then_arrives_exactly_once() {
    const TEST: &str = "an_smtp_outage_delays_an_alarm_which_then_arrives_exactly_once";
    let Some(mut smtp) = SmtpServer::new(TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    let expires = expires_text(&gh);
    // The mail server is down when the alarm fires.
    let server = serve(
        gh,
        &format!("days_before_end = [30]\nuser_limit_percent = []\n{RECIPIENTS}"),
        &smtp.config(None),
    );
    // The first attempt and the retry 5 s later both fail.
    server.wait_for_log("attempt=2 retry_in_seconds=10");
    let failing = states(&server.gh);
    assert_eq!(failing, [(expires.clone(), "failing".to_string())]);
    let last_error = history(&server.gh)[0]["last_error"].clone();
    assert!(
        last_error.as_str().is_some_and(|e| !e.is_empty()),
        "{last_error}"
    );
    smtp.start();
    let received = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(subjects(&received), [expires.as_str()]);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(smtp.received().len(), 1, "delivered once");
    let sent = &history(&server.gh)[0];
    assert_eq!(sent["state"], "sent");
    assert!(sent["attempts"].as_u64().unwrap() >= 3, "{sent}");
}

#[test]
fn a_server_killed_with_an_alarm_queued_delivers_it_after_restart() {
    const TEST: &str = "a_server_killed_with_an_alarm_queued_delivers_it_after_restart";
    let Some(mut smtp) = SmtpServer::new(TEST) else {
        return;
    };
    let gh = Installation::new("UTC");
    let expires = expires_text(&gh);
    let mut server = serve(
        gh,
        &format!("days_before_end = [30]\nuser_limit_percent = []\n{RECIPIENTS}"),
        &smtp.config(None),
    );
    server.wait_for_log("could not send license alarm");
    server.kill();
    assert_eq!(
        states(&server.gh),
        [(expires.clone(), "failing".to_string())]
    );
    smtp.start();
    server.restart(None);
    let received = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(subjects(&received), [expires.as_str()]);
    assert_eq!(
        received[0].recipients,
        ["ops@example.com", "noc@example.org"]
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(smtp.received().len(), 1, "the restart fired nothing new");
    assert_eq!(states(&server.gh), [(expires, "sent".to_string())]);
}

#[test]
fn days_before_the_end_fire_once_each_as_the_days_pass_under_faketime() {
    const TEST: &str = "days_before_the_end_fire_once_each_as_the_days_pass_under_faketime";
    let Some(mut smtp) = SmtpServer::new(TEST) else {
        return;
    };
    let Some(faketime) = libfaketime(TEST) else {
        return;
    };
    smtp.start();
    let gh = Installation::new("UTC");
    // A subscription ending in 31 days.
    let now = Timestamp::now();
    let today = gatehouse_license::jiff::tz::TimeZone::UTC
        .to_datetime(now)
        .date();
    let end = today.checked_add(31.days()).unwrap();
    let key = issue(
        &dev_key(),
        &gh.app_key(),
        100,
        &end.to_string(),
        &now.to_string(),
    );
    configure(
        &gh,
        &format!("days_before_end = [30, 7]\nuser_limit_percent = []\n{RECIPIENTS}"),
        &smtp.config(None),
    );
    gh.ok(&["license", "install", &key], "");
    assert_eq!(gh.license_json()["days_remaining"], 31);
    let mut server = Server::start(gh, "");
    let thirty = format!("License expires in 30 days (Support End Date {end})");
    let seven = format!("License expires in 7 days (Support End Date {end})");
    // Each "day": serve runs at 09:00 (after the 08:00 daily check time)
    // and checks at start, catching up on the day.
    let mut expected: Vec<&str> = Vec::new();
    for (day, arrives) in [
        (0, None),
        (1, Some(thirty.as_str())),
        (2, None),
        (10, None),
        (23, None),
        (24, Some(seven.as_str())),
        (25, None),
    ] {
        if day > 0 {
            let at = today.checked_add(day.days()).unwrap();
            server.restart(Some(FakeTime::new(&faketime, format!("{at} 09:00:00"))));
        }
        server.wait_for_log("license alarms checked at start");
        expected.extend(arrives);
        let received = smtp.wait_for(expected.len(), Duration::from_secs(15));
        // Give a repeat the chance to show up before moving on.
        std::thread::sleep(Duration::from_millis(2500));
        let received = if received.len() == expected.len() {
            smtp.received()
        } else {
            received
        };
        assert_eq!(subjects(&received), expected, "day {day}");
    }
    let history = history(&server.gh);
    assert_eq!(history.len(), 2, "{history:?}");
    assert!(history.iter().all(|a| a["state"] == "sent"));
}
