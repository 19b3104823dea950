//! License alarms (SPEC §7) through the service, against a real SQLite
//! store: when they fire, that each fires once, and how the outbox is
//! worked off. SMTP itself is exercised by the binary's integration tests
//! against a real mail server; here a scripted mailer stands in so delivery
//! attempts and retry times can be checked against the manual clock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::alarms::{AlarmSettings, Mail, MailError, Mailer};
use gatehouse_core::store::{AlarmStore, Delivery};
use gatehouse_core::{AlarmSaveError, Gatehouse, ManualClock, Settings};
use gatehouse_license::LicenseOptions;
use gatehouse_license::jiff::civil::{Date, date, time};
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_store::SqliteStore;
use gatehouse_testkit::{TestLicense, issue_key};

use crate::support::{self, fresh_database, test_seal, ts};

fn settings(days: &[u32], percents: &[u32]) -> AlarmSettings {
    AlarmSettings::new(
        days.to_vec(),
        percents.to_vec(),
        vec!["ops@example.com".into(), "noc@example.org".into()],
    )
    .unwrap()
}

struct Fixture {
    gatehouse: Gatehouse,
    clock: Arc<ManualClock>,
    path: PathBuf,
}

async fn open(
    path: &Path,
    clock: &Arc<ManualClock>,
    configured: Option<AlarmSettings>,
) -> Gatehouse {
    support::open(
        path,
        Settings {
            alarms: configured,
            alarm_daily_at: time(8, 0, 0, 0),
            ..support::settings(clock.clone(), &TimeZone::get("Europe/Istanbul").unwrap())
        },
    )
    .await
}

/// A subscription for `limit` users ending on `end`, with alarm settings
/// saved, at `now` (Istanbul, UTC+3).
async fn fixture(name: &str, now: &str, limit: u32, end: Date, alarms: AlarmSettings) -> Fixture {
    fixture_granted(name, now, limit, end, LicenseOptions::default(), alarms).await
}

/// [`fixture`] under a key granting `options` (SPEC §16).
async fn fixture_granted(
    name: &str,
    now: &str,
    limit: u32,
    end: Date,
    options: LicenseOptions,
    alarms: AlarmSettings,
) -> Fixture {
    let path = fresh_database("alarms", name);
    let clock = Arc::new(ManualClock::new(ts(now)));
    let gatehouse = open(&path, &clock, None).await;
    // Quiet thresholds while the key goes in: the demo license would fire.
    gatehouse
        .set_alarm_settings(&AlarmSettings::new(vec![], vec![], vec![]).unwrap())
        .await
        .unwrap();
    let key = issue_key(
        gatehouse.app_key(),
        &TestLicense {
            options,
            ..TestLicense::subscription(limit, end, gatehouse.now())
        },
    );
    gatehouse.install_license(&key).await.unwrap();
    gatehouse.set_alarm_settings(&alarms).await.unwrap();
    Fixture {
        gatehouse,
        clock,
        path,
    }
}

impl Fixture {
    async fn login_new_users(&self, from: u32, to: u32) {
        for i in from..=to {
            let name = format!("user{i}");
            self.gatehouse
                .add_local_user(&name, "password")
                .await
                .unwrap();
            let admitted = self
                .gatehouse
                .authenticate(&name, "password", "vpn-1")
                .await
                .unwrap();
            assert!(admitted.newly_counted, "{name}");
        }
    }

    /// `(subject, delivery)` of every alarm, oldest first.
    async fn history(&self) -> Vec<(String, Delivery)> {
        let mut history: Vec<(String, Delivery)> = self
            .gatehouse
            .alarm_history(100)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.subject, a.delivery))
            .collect();
        history.reverse();
        history
    }
}

fn queued(subject: &str) -> (String, Delivery) {
    (subject.to_string(), Delivery::Queued)
}

#[tokio::test]
async fn a_percentage_alarm_fires_when_the_user_crossing_it_is_counted() {
    let fx = fixture(
        "crossing",
        "2026-11-10T10:00:00Z",
        200,
        date(2027, 12, 31),
        settings(&[], &[85]),
    )
    .await;
    fx.login_new_users(1, 169).await;
    assert!(fx.history().await.is_empty(), "169/200 is 84.5%");
    fx.login_new_users(170, 170).await;
    assert_eq!(
        fx.history().await,
        [queued("User limit reached 85.0% (170/200)")]
    );
    fx.login_new_users(171, 190).await;
    assert_eq!(fx.history().await.len(), 1, "each threshold fires once");
    let alarm = &fx.gatehouse.alarm_history(1).await.unwrap()[0];
    assert_eq!(alarm.recipients, ["ops@example.com", "noc@example.org"]);
    assert!(
        alarm.body.contains("Users in 2026-11:  170/200"),
        "{}",
        alarm.body
    );
    assert!(alarm.body.contains(&fx.gatehouse.app_key().to_string()));
}

#[tokio::test]
async fn the_spec_example_fires_at_171_when_the_threshold_is_set_later() {
    let fx = fixture(
        "spec-example",
        "2026-11-10T10:00:00Z",
        200,
        date(2027, 12, 31),
        settings(&[], &[]),
    )
    .await;
    fx.login_new_users(1, 168).await;
    fx.gatehouse
        .set_alarm_settings(&settings(&[], &[85]))
        .await
        .unwrap();
    assert!(fx.history().await.is_empty(), "168/200: no alarm");
    fx.login_new_users(169, 171).await;
    assert_eq!(
        fx.history().await,
        [queued("User limit reached 85.0% (170/200)")]
    );
    // Thresholds set while the count is already past them fire at once,
    // with the count of the moment.
    fx.gatehouse
        .set_alarm_settings(&settings(&[], &[85, 80]))
        .await
        .unwrap();
    assert_eq!(
        fx.history().await,
        [
            queued("User limit reached 85.0% (170/200)"),
            queued("User limit reached 85.5% (171/200)")
        ]
    );
}

#[tokio::test]
async fn a_new_month_and_a_new_limit_re_arm_percentages() {
    let fx = fixture(
        "re-arm",
        "2026-11-29T10:00:00Z",
        10,
        date(2027, 12, 31),
        settings(&[], &[50]),
    )
    .await;
    fx.login_new_users(1, 5).await;
    assert_eq!(
        fx.history().await,
        [queued("User limit reached 50.0% (5/10)")]
    );
    // A new key with a higher limit: 5/20 is below 50% again, the 10th
    // user fires the threshold again.
    let key = issue_key(
        fx.gatehouse.app_key(),
        &TestLicense::subscription(20, date(2027, 12, 31), fx.gatehouse.now()),
    );
    fx.gatehouse.install_license(&key).await.unwrap();
    fx.login_new_users(6, 10).await;
    assert_eq!(
        fx.history().await[1..],
        [queued("User limit reached 50.0% (10/20)")]
    );
    // December, Istanbul time: the count starts again and so do the alarms.
    fx.clock.set(ts("2026-11-30T21:00:00Z"));
    fx.login_new_users(11, 20).await;
    assert_eq!(
        fx.history().await[2..],
        [queued("User limit reached 50.0% (10/20)")]
    );
    let keys: Vec<String> = fx
        .gatehouse
        .alarm_history(10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.key)
        .collect();
    assert_eq!(
        keys,
        [
            "percent:50:2026-12:20",
            "percent:50:2026-11:20",
            "percent:50:2026-11:10"
        ]
    );
}

#[tokio::test]
async fn day_alarms_fire_at_the_daily_check_time_once_per_support_end_date() {
    // 2027-01-31 ends in 31 days on 2026-12-31 (Istanbul).
    let fx = fixture(
        "daily",
        "2026-12-31T09:00:00Z",
        100,
        date(2027, 1, 31),
        settings(&[30, 7], &[]),
    )
    .await;
    fx.gatehouse.tick().await;
    assert!(fx.history().await.is_empty(), "31 days left");
    // 30 days left from midnight on, but the daily check runs at 08:00.
    fx.clock.set(ts("2027-01-01T04:59:00Z"));
    fx.gatehouse.tick().await;
    assert!(fx.history().await.is_empty(), "07:59 in Istanbul");
    fx.clock.set(ts("2027-01-01T05:00:00Z"));
    fx.gatehouse.tick().await;
    let thirty = "License expires in 30 days (Support End Date 2027-01-31)";
    assert_eq!(fx.history().await, [queued(thirty)]);
    for day in 2..=23 {
        fx.clock.set(ts(&format!("2027-01-{day:02}T05:00:00Z")));
        fx.gatehouse.tick().await;
    }
    assert_eq!(fx.history().await, [queued(thirty)], "nothing repeated");
    fx.clock.set(ts("2027-01-24T05:00:00Z"));
    fx.gatehouse.tick().await;
    let seven = "License expires in 7 days (Support End Date 2027-01-31)";
    assert_eq!(fx.history().await, [queued(thirty), queued(seven)]);
    // A renewal with a new Support End Date re-arms the day thresholds;
    // installing it checks at once.
    let key = issue_key(
        fx.gatehouse.app_key(),
        &TestLicense::subscription(100, date(2027, 2, 20), fx.gatehouse.now()),
    );
    fx.gatehouse.install_license(&key).await.unwrap();
    assert_eq!(
        fx.history().await[2..],
        [queued(
            "License expires in 27 days (Support End Date 2027-02-20)"
        )]
    );
    // After the end: one expiry alarm.
    fx.clock.set(ts("2027-02-21T05:00:00Z"));
    for _ in 0..2 {
        fx.gatehouse.tick().await;
        fx.gatehouse.check_alarms().await.unwrap();
    }
    let history = fx.history().await;
    assert_eq!(history[3..], [queued("License expired on 2027-02-20")]);
    // The body says the days in the words the CLI and the panel use
    // (`license::words::remaining`).
    let bodies: Vec<String> = fx
        .gatehouse
        .alarm_history(10)
        .await
        .unwrap()
        .into_iter()
        .map(|alarm| alarm.body)
        .collect();
    for line in [
        "Support End Date: 2027-02-20 (expired yesterday)",
        "Support End Date: 2027-02-20 (27 days remaining)",
        "Support End Date: 2027-01-31 (7 days remaining)",
        "Support End Date: 2027-01-31 (30 days remaining)",
    ] {
        assert!(
            bodies.iter().any(|body| body.contains(line)),
            "{line} in {bodies:#?}"
        );
    }
}

#[tokio::test]
async fn the_overage_alarm_fires_once_at_the_first_user_past_the_limit() {
    // 10 users and 20% overage: seats up to 12.
    let fx = fixture_granted(
        "overage",
        "2026-11-10T10:00:00Z",
        10,
        date(2027, 12, 31),
        LicenseOptions {
            overage_percent: 20,
            ..LicenseOptions::default()
        },
        settings(&[], &[100]),
    )
    .await;
    fx.login_new_users(1, 10).await;
    assert_eq!(
        fx.history().await,
        [queued("User limit reached 100.0% (10/10)")]
    );
    fx.login_new_users(11, 11).await;
    let exceeded = "User limit exceeded: 11/10, within the overage allowance (up to 12)";
    assert_eq!(
        fx.history().await[1..],
        [queued(exceeded)],
        "the first user past the limit"
    );
    fx.login_new_users(12, 12).await;
    assert_eq!(fx.history().await.len(), 2, "it fires once a month");
    let alarm = &fx.gatehouse.alarm_history(1).await.unwrap()[0];
    assert!(
        alarm
            .body
            .contains("Threshold:        the first user past the user limit"),
        "{}",
        alarm.body
    );
    fx.gatehouse
        .add_local_user("user13", "password")
        .await
        .unwrap();
    assert_eq!(
        fx.gatehouse
            .authenticate("user13", "password", "vpn-1")
            .await
            .unwrap_err()
            .message(),
        "User limit exceeded, please contact your system administrator",
        "past the allowance"
    );
}

#[tokio::test]
async fn a_grace_alarm_goes_out_each_day_of_the_grace_then_the_expiry_alarm() {
    // Ends 2026-11-30 with 2 days of grace: Dec 1 and Dec 2 (Istanbul).
    let fx = fixture_granted(
        "grace",
        "2026-11-29T09:00:00Z",
        100,
        date(2026, 11, 30),
        LicenseOptions {
            grace_days: 2,
            ..LicenseOptions::default()
        },
        settings(&[], &[]),
    )
    .await;
    fx.gatehouse.tick().await;
    fx.clock.set(ts("2026-12-01T05:00:00Z"));
    fx.gatehouse.tick().await;
    fx.gatehouse.tick().await;
    let day_one = "License expired on 2026-11-30; grace period ends 2026-12-02 (1 day remaining): users counted this month still log in, new users are refused";
    assert_eq!(fx.history().await, [queued(day_one)]);
    fx.clock.set(ts("2026-12-02T05:00:00Z"));
    fx.gatehouse.tick().await;
    let day_two = "License expired on 2026-11-30; grace period ends 2026-12-02 (last day): users counted this month still log in, new users are refused";
    assert_eq!(fx.history().await, [queued(day_one), queued(day_two)]);
    fx.clock.set(ts("2026-12-03T05:00:00Z"));
    fx.gatehouse.tick().await;
    assert_eq!(
        fx.history().await[2..],
        [queued("License expired on 2026-11-30")]
    );
}

#[tokio::test]
async fn a_restart_catches_up_and_another_process_never_fires_twice() {
    let fx = fixture(
        "restart",
        "2026-12-01T09:00:00Z",
        100,
        date(2027, 1, 31),
        settings(&[30, 15], &[]),
    )
    .await;
    // Down for weeks; at start-up (`serve` checks at once) 16 days are
    // left: one message for 30 days, none for 15 yet.
    fx.clock.set(ts("2027-01-15T12:00:00Z"));
    let other = open(&fx.path, &fx.clock, None).await;
    let (a, b) = tokio::join!(fx.gatehouse.check_alarms(), other.check_alarms());
    let fired = a.unwrap().len() + b.unwrap().len();
    assert_eq!(fired, 1, "two processes checking at once fire it once");
    assert_eq!(
        fx.history().await,
        [queued(
            "License expires in 16 days (Support End Date 2027-01-31)"
        )]
    );
    assert!(other.check_alarms().await.unwrap().is_empty());
    assert!(fx.gatehouse.check_alarms().await.unwrap().is_empty());
}

#[tokio::test]
async fn thresholds_from_the_configuration_file_are_in_force_and_read_only() {
    let path = fresh_database("alarms", "configured");
    let clock = Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")));
    let configured = settings(&[60, 30], &[90]);
    let gatehouse = open(&path, &clock, Some(configured.clone())).await;
    assert!(gatehouse.alarm_settings_configured());
    assert_eq!(gatehouse.alarm_settings().await.unwrap(), configured);
    let change = gatehouse.set_alarm_settings(&settings(&[1], &[1])).await;
    assert!(matches!(change, Err(AlarmSaveError::Configured)));
    assert_eq!(gatehouse.alarm_settings().await.unwrap(), configured);
    // The demo license ends in 30 days: 60 and 30 are both due; one is
    // sent, the other recorded as superseded by it.
    let fired = gatehouse.check_alarms().await.unwrap();
    assert_eq!(fired.len(), 2);
    let history: Vec<(String, Delivery)> = gatehouse
        .alarm_history(10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.key, a.delivery))
        .collect();
    let end = gatehouse.license().payload.support_end;
    assert_eq!(
        history,
        [
            (format!("days:30:{end}"), Delivery::Queued),
            (format!("days:60:{end}"), Delivery::Superseded),
        ]
    );
}

/// Answers with the scripted results in turn, then success; records each
/// message handed to it.
#[derive(Default)]
struct ScriptedMailer {
    failures: Mutex<Vec<&'static str>>,
    sent: Mutex<Vec<Mail>>,
    attempts: Mutex<u32>,
}

#[async_trait]
impl Mailer for ScriptedMailer {
    async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        *self.attempts.lock().unwrap() += 1;
        let mut failures = self.failures.lock().unwrap();
        if !failures.is_empty() {
            return Err(MailError(failures.remove(0).to_string()));
        }
        self.sent.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_growing_waits_until_sent_once() {
    let fx = fixture(
        "retries",
        "2026-11-10T10:00:00Z",
        2,
        date(2027, 12, 31),
        settings(&[], &[50]),
    )
    .await;
    fx.login_new_users(1, 1).await;
    let mailer = ScriptedMailer {
        failures: Mutex::new(vec!["connection refused", "connection refused"]),
        ..Default::default()
    };
    let t0 = ts("2026-11-10T10:00:00Z");
    assert_eq!(fx.gatehouse.deliver_alarms(&mailer).await.unwrap(), 1);
    let alarm = fx.gatehouse.alarm_history(1).await.unwrap().remove(0);
    assert_eq!(alarm.delivery, Delivery::Queued);
    assert_eq!(alarm.last_error.as_deref(), Some("connection refused"));
    assert_eq!(alarm.next_attempt_at, t0 + Duration::from_secs(5));
    // Not before its time.
    fx.clock.set(t0 + Duration::from_secs(4));
    assert_eq!(fx.gatehouse.deliver_alarms(&mailer).await.unwrap(), 0);
    fx.clock.set(t0 + Duration::from_secs(5));
    assert_eq!(fx.gatehouse.deliver_alarms(&mailer).await.unwrap(), 1);
    let alarm = fx.gatehouse.alarm_history(1).await.unwrap().remove(0);
    assert_eq!(alarm.attempts, 2);
    assert_eq!(alarm.next_attempt_at, t0 + Duration::from_secs(15));
    fx.clock.set(t0 + Duration::from_secs(15));
    assert_eq!(fx.gatehouse.deliver_alarms(&mailer).await.unwrap(), 1);
    let alarm = fx.gatehouse.alarm_history(1).await.unwrap().remove(0);
    assert_eq!(alarm.delivery, Delivery::Sent);
    assert_eq!(alarm.sent_at, Some(t0 + Duration::from_secs(15)));
    // Sent once; later rounds find nothing.
    fx.clock.set(t0 + Duration::from_secs(3600));
    assert_eq!(fx.gatehouse.deliver_alarms(&mailer).await.unwrap(), 0);
    assert_eq!(*mailer.attempts.lock().unwrap(), 3);
    let sent = mailer.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "User limit reached 50.0% (1/2)");
    assert_eq!(sent[0].to, ["ops@example.com", "noc@example.org"]);
    assert_eq!(
        sent[0].id,
        format!(
            "alarm-{}-{}.{}",
            alarm.id,
            alarm.created_at.as_microsecond(),
            fx.gatehouse.app_key()
        ),
        "the Message-ID names the alarm, the same on every attempt"
    );
}

#[tokio::test]
async fn a_sender_that_dies_mid_delivery_leaves_the_alarm_to_be_retried_after_its_lease() {
    let fx = fixture(
        "lease",
        "2026-11-10T10:00:00Z",
        2,
        date(2027, 12, 31),
        settings(&[], &[50]),
    )
    .await;
    fx.login_new_users(1, 1).await;
    // A sender claims it and never reports back (killed while sending).
    let elsewhere = SqliteStore::open(&fx.path, test_seal()).await.unwrap();
    let claimed = elsewhere
        .claim_alarms(fx.gatehouse.now(), ts("2026-11-10T10:02:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let mailer = ScriptedMailer::default();
    assert_eq!(fx.gatehouse.deliver_alarms(&mailer).await.unwrap(), 0);
    fx.clock.set(ts("2026-11-10T10:02:00Z"));
    assert_eq!(fx.gatehouse.deliver_alarms(&mailer).await.unwrap(), 1);
    assert_eq!(mailer.sent.lock().unwrap().len(), 1);
    assert_eq!(fx.history().await[0].1, Delivery::Sent);
}

/// SPEC §16: a seat budget's alarms fire as its users cross their
/// thresholds, once each, through the same outbox.
#[tokio::test]
async fn a_seat_budget_alarm_fires_when_its_users_cross_a_threshold() {
    let fx = fixture(
        "budget",
        "2026-11-10T10:00:00Z",
        200,
        date(2027, 12, 31),
        settings(&[], &[]),
    )
    .await;
    fx.gatehouse
        .save_budget(gatehouse_core::seat_rules::SeatBudget {
            name: "vpn".into(),
            size: 4,
            groups: vec![],
            clients: vec!["vpn-1".into()],
            alarm_percent: vec![50, 100],
        })
        .await
        .unwrap();
    fx.login_new_users(1, 1).await;
    assert!(fx.history().await.is_empty(), "1/4 is 25%");
    fx.login_new_users(2, 3).await;
    assert_eq!(
        fx.history().await,
        [queued("Seat budget vpn reached 50.0% (2/4)")]
    );
    fx.login_new_users(4, 4).await;
    assert_eq!(
        fx.history().await[1..],
        [queued("Seat budget vpn reached 100.0% (4/4)")]
    );
    let alarm = &fx.gatehouse.alarm_history(1).await.unwrap()[0];
    assert!(
        alarm
            .body
            .contains("Threshold:        100% of a seat budget"),
        "{}",
        alarm.body
    );
}
