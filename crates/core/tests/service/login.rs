//! The authentication service against a real SQLite store: the rules of
//! SPEC §1–3 as seen by a user logging in.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse_core::seat_rules::{Mark, SeatBudget};
use gatehouse_core::store::{GroupEdit, LocalGroupName};
use gatehouse_core::store::{SeatQuery, Store};
use gatehouse_core::{
    Gatehouse, InstallError, ManualClock, MfaSettings, OpenError, Refusal, Settings,
};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::{Date, date};
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_license::{KeyRefusal, LicenseOptions, LicenseStatus, SeatKind};
use gatehouse_store::SqliteStore;
use gatehouse_testkit::{TestLicense, issue_key};

use crate::support::{self, fast_passwords, fresh_database, license_rules_only, test_seal, ts};

const LIMIT_TEXT: &str = "User limit exceeded, please contact your system administrator";
const EXPIRED_TEXT: &str = "License expired, please contact your system administrator";

struct Fixture {
    gatehouse: Arc<Gatehouse>,
    clock: Arc<ManualClock>,
    path: PathBuf,
    zone: TimeZone,
}

async fn open_at(path: &Path, clock: Arc<ManualClock>, zone: &TimeZone) -> Gatehouse {
    open_with(path, clock, zone, license_rules_only()).await
}

async fn open_with(
    path: &Path,
    clock: Arc<ManualClock>,
    zone: &TimeZone,
    mfa: MfaSettings,
) -> Gatehouse {
    support::open(
        path,
        Settings {
            mfa,
            ..support::settings(clock, zone)
        },
    )
    .await
}

async fn fixture(name: &str, zone: &str, now: &str) -> Fixture {
    let path = fresh_database("service", name);
    let clock = Arc::new(ManualClock::new(ts(now)));
    let zone = TimeZone::get(zone).unwrap();
    let gatehouse = Arc::new(open_at(&path, clock.clone(), &zone).await);
    Fixture {
        gatehouse,
        clock,
        path,
        zone,
    }
}

impl Fixture {
    fn key(&self, limit: u32, support_end: Date) -> String {
        self.granted_key(limit, support_end, LicenseOptions::default())
    }

    /// A key for `limit` users until `support_end` granting `options`.
    fn granted_key(&self, limit: u32, support_end: Date, options: LicenseOptions) -> String {
        let issued_at = self.gatehouse.now();
        issue_key(
            self.gatehouse.app_key(),
            &TestLicense {
                options,
                ..TestLicense::subscription(limit, support_end, issued_at)
            },
        )
    }

    async fn install(&self, limit: u32, support_end: Date) {
        self.install_granted(limit, support_end, LicenseOptions::default())
            .await;
    }

    async fn install_granted(&self, limit: u32, support_end: Date, options: LicenseOptions) {
        self.gatehouse
            .install_license(&self.granted_key(limit, support_end, options))
            .await
            .unwrap();
    }

    async fn add_users(&self, names: &[&str]) {
        for name in names {
            self.gatehouse
                .add_local_user(name, &format!("{name}-pw"))
                .await
                .unwrap();
        }
    }

    async fn login(&self, name: &str) -> Result<bool, Refusal> {
        let password = format!("{}-pw", name.to_lowercase());
        self.gatehouse
            .authenticate(name, &password, "vpn-1")
            .await
            .map(|admitted| admitted.newly_counted)
    }

    async fn active(&self) -> u32 {
        self.gatehouse.license_view().await.unwrap().active_users
    }

    async fn ledger(&self, month: &str) -> Vec<String> {
        support::counted_in(&self.gatehouse, month.parse().unwrap()).await
    }
}

#[tokio::test]
async fn a_new_installation_runs_on_a_30_day_demo_for_25_users() {
    let fx = fixture("demo", "Europe/Istanbul", "2026-11-28T10:00:00Z").await;
    let view = fx.gatehouse.license_view().await.unwrap();
    assert_eq!(
        gatehouse_license::words::license_type(view.license.payload.license_type),
        "Demo License"
    );
    assert_eq!(view.license.payload.user_limit, 25);
    assert!(view.license.payload.push_subscription);
    assert_eq!(view.license.payload.support_end, date(2026, 12, 28));
    assert_eq!(view.status, LicenseStatus::Valid);
    assert_eq!(view.time_zone, "Europe/Istanbul");
}

#[tokio::test]
async fn restarting_never_renews_the_demo_or_changes_the_app_key() {
    let fx = fixture("demo-restart", "UTC", "2026-11-28T10:00:00Z").await;
    let app_key = fx.gatehouse.app_key();
    let end = fx.gatehouse.license().payload.support_end;
    fx.gatehouse.flush().await.unwrap();
    drop(fx.gatehouse);
    let later = Arc::new(ManualClock::new(ts("2027-02-15T10:00:00Z")));
    let restarted = open_at(&fx.path, later, &fx.zone).await;
    assert_eq!(restarted.app_key(), app_key);
    assert_eq!(restarted.license().payload.support_end, end);
    let view = restarted.license_view().await.unwrap();
    assert_eq!(view.status, LicenseStatus::Expired);
}

#[tokio::test]
async fn the_time_zone_is_fixed_at_first_start_and_configuration_cannot_move_it() {
    let fx = fixture("zone-pinned", "Europe/Istanbul", "2026-11-30T22:30:00Z").await;
    // 01:30 on 1 December in Istanbul, still November in UTC: moving the
    // zone would reopen the month and stretch the Support End Date.
    assert_eq!(fx.gatehouse.current_month().to_string(), "2026-12");
    fx.gatehouse.flush().await.unwrap();
    drop(fx.gatehouse);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&fx.path, test_seal()).await.unwrap());
    let moved = Gatehouse::open(
        store.clone(),
        Settings {
            time_zone: Some(TimeZone::UTC),
            password: fast_passwords(),
            mfa: license_rules_only(),
            ..Settings::new(fx.clock.clone())
        },
    )
    .await
    .map(|_| ())
    .unwrap_err();
    assert!(matches!(moved, OpenError::TimeZonePinned { .. }), "{moved}");
    let message = moved.to_string();
    assert!(
        message.starts_with("license.timezone:") && message.contains("Europe/Istanbul"),
        "{message}"
    );
    // Saying nothing, or the same zone, keeps the fixed one.
    for time_zone in [None, Some(fx.zone.clone())] {
        let reopened = Gatehouse::open(
            store.clone(),
            Settings {
                time_zone,
                password: fast_passwords(),
                mfa: license_rules_only(),
                ..Settings::new(fx.clock.clone())
            },
        )
        .await
        .unwrap();
        assert_eq!(reopened.time_zone_name(), "Europe/Istanbul");
        assert_eq!(reopened.current_month().to_string(), "2026-12");
    }
}

#[tokio::test]
async fn limit_not_full_admits_and_limit_full_refuses_new_users() {
    let fx = fixture("limit", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(3, date(2027, 1, 31)).await;
    fx.add_users(&["u1", "u2", "u3", "u4"]).await;
    for name in ["u1", "u2", "u3"] {
        assert_eq!(fx.login(name).await, Ok(true), "{name}");
    }
    let refused = fx.login("u4").await.unwrap_err();
    assert_eq!(refused, Refusal::UserLimitExceeded);
    assert_eq!(refused.message(), LIMIT_TEXT);
    // Users already counted keep logging in all month.
    for name in ["u1", "u2", "u3"] {
        assert_eq!(fx.login(name).await, Ok(false), "{name}");
    }
    assert_eq!(fx.active().await, 3);
    fx.gatehouse.flush().await.unwrap();
    let refused = fx
        .gatehouse
        .refused_users("2026-11".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        refused
            .iter()
            .map(|r| r.username.as_str())
            .collect::<Vec<_>>(),
        ["u4"]
    );
}

#[tokio::test]
async fn a_full_license_refuses_before_the_second_factor() {
    let fx = fixture("precheck", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(1, date(2027, 1, 31)).await;
    fx.add_users(&["first", "second"]).await;
    fx.login("first").await.unwrap();
    let second = fx
        .gatehouse
        .first_factor(
            "second",
            "second-pw",
            &gatehouse_core::Route::new("vpn", None),
        )
        .await
        .unwrap()
        .identity;
    assert_eq!(
        fx.gatehouse.precheck(&second, "vpn-1").await,
        Err(Refusal::UserLimitExceeded)
    );
    let first = fx
        .gatehouse
        .first_factor(
            "first",
            "first-pw",
            &gatehouse_core::Route::new("vpn", None),
        )
        .await
        .unwrap()
        .identity;
    assert_eq!(fx.gatehouse.precheck(&first, "vpn-1").await, Ok(()));
}

#[tokio::test]
async fn the_precheck_asks_the_store_before_refusing_a_user_counted_elsewhere() {
    let fx = fixture("precheck-elsewhere", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(1, date(2027, 1, 31)).await;
    fx.add_users(&["alice", "bob"]).await;
    // Another process counts alice; this one has never seen her.
    let other = open_at(&fx.path, fx.clock.clone(), &fx.zone).await;
    other
        .authenticate("alice", "alice-pw", "vpn-2")
        .await
        .unwrap();
    assert_eq!(fx.login("bob").await, Err(Refusal::UserLimitExceeded));
    assert_eq!(
        fx.login("alice").await,
        Ok(false),
        "a user counted by another process is never refused"
    );
}

#[tokio::test]
async fn canonical_names_count_once() {
    let fx = fixture("canonical", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(5, date(2027, 1, 31)).await;
    fx.gatehouse
        .add_local_user("John", "john-pw")
        .await
        .unwrap();
    for (login, newly_counted) in [
        ("John", true),
        ("john", false),
        ("JOHN", false),
        ("Ｊｏｈｎ", false),
    ] {
        let admitted = fx
            .gatehouse
            .authenticate(login, "john-pw", "vpn-1")
            .await
            .unwrap();
        assert_eq!(admitted.newly_counted, newly_counted, "{login}");
        assert_eq!(&*admitted.identity.username, "john");
    }
    assert_eq!(fx.active().await, 1);
    assert_eq!(fx.ledger("2026-11").await, ["john"]);
    let duplicate = fx.gatehouse.add_local_user("JOHN", "x").await;
    assert!(duplicate.is_err(), "JOHN and John are the same account");
}

#[tokio::test]
async fn failed_attempts_never_count() {
    let fx = fixture("failures", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(2, date(2027, 1, 31)).await;
    fx.add_users(&["alice", "mallory"]).await;
    fx.gatehouse
        .set_local_user_enabled("mallory", false)
        .await
        .unwrap();
    let attempts = [
        ("alice", "wrong"),
        ("ghost", "whatever"),
        ("mallory", "mallory-pw"),
        ("", "x"),
        ("bad\nname", "x"),
    ];
    for (name, password) in attempts {
        let result = fx.gatehouse.authenticate(name, password, "vpn-1").await;
        assert_eq!(result.unwrap_err(), Refusal::InvalidCredentials, "{name:?}");
    }
    assert_eq!(
        fx.active().await,
        0,
        "guessing usernames cannot exhaust the license"
    );
    assert!(fx.ledger("2026-11").await.is_empty());
}

#[tokio::test]
async fn deleting_or_disabling_an_account_keeps_its_seat() {
    let fx = fixture("append-only", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(2, date(2027, 1, 31)).await;
    fx.add_users(&["a", "b", "c"]).await;
    fx.login("a").await.unwrap();
    fx.login("b").await.unwrap();
    fx.gatehouse.delete_local_user("a").await.unwrap();
    fx.gatehouse
        .set_local_user_enabled("b", false)
        .await
        .unwrap();
    assert_eq!(fx.login("c").await, Err(Refusal::UserLimitExceeded));
    assert_eq!(fx.active().await, 2);
}

#[tokio::test]
async fn a_higher_limit_lets_refused_users_in_at_once() {
    let fx = fixture("higher", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(1, date(2027, 1, 31)).await;
    fx.add_users(&["a", "b"]).await;
    fx.login("a").await.unwrap();
    assert_eq!(fx.login("b").await, Err(Refusal::UserLimitExceeded));
    fx.clock.set(ts("2026-11-10T10:01:00Z"));
    fx.install(2, date(2027, 1, 31)).await;
    assert_eq!(fx.login("b").await, Ok(true));
}

#[tokio::test]
async fn a_lower_limit_keeps_counted_users_and_refuses_new_ones_until_next_month() {
    let fx = fixture("lower", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(3, date(2027, 1, 31)).await;
    fx.add_users(&["a", "b", "c", "d"]).await;
    for name in ["a", "b", "c"] {
        fx.login(name).await.unwrap();
    }
    fx.clock.set(ts("2026-11-10T10:01:00Z"));
    fx.install(2, date(2027, 1, 31)).await;
    for name in ["a", "b", "c"] {
        assert_eq!(fx.login(name).await, Ok(false), "{name} stays in");
    }
    assert_eq!(fx.login("d").await, Err(Refusal::UserLimitExceeded));
    fx.clock.set(ts("2026-12-01T00:00:00Z"));
    assert_eq!(
        fx.login("d").await,
        Ok(true),
        "the new month starts from zero"
    );
}

#[tokio::test]
async fn the_count_resets_at_midnight_on_the_first_in_the_license_zone() {
    // Istanbul is UTC+3: December begins at 21:00 UTC on November 30.
    let fx = fixture("reset", "Europe/Istanbul", "2026-11-30T20:00:00Z").await;
    fx.install(1, date(2027, 1, 31)).await;
    fx.add_users(&["a", "b"]).await;
    fx.login("a").await.unwrap();
    fx.clock.set(ts("2026-11-30T20:59:59Z"));
    assert_eq!(fx.login("b").await, Err(Refusal::UserLimitExceeded));
    fx.clock.set(ts("2026-11-30T21:00:00Z"));
    assert_eq!(fx.login("b").await, Ok(true));
    assert_eq!(
        fx.login("a").await,
        Err(Refusal::UserLimitExceeded),
        "a must be counted again in December, and December is full"
    );
    assert_eq!(fx.ledger("2026-11").await, ["a"], "past months are kept");
    assert_eq!(fx.ledger("2026-12").await, ["b"]);
    let usage = fx.gatehouse.usage().await.unwrap();
    assert_eq!(
        usage
            .iter()
            .map(|m| (m.month.to_string(), m.active_users))
            .collect::<Vec<_>>(),
        [("2026-11".to_string(), 1), ("2026-12".to_string(), 1)]
    );
}

#[tokio::test]
async fn the_license_expires_at_the_end_of_the_support_end_date() {
    let fx = fixture("expiry", "America/New_York", "2027-01-31T12:00:00Z").await;
    fx.install(10, date(2027, 1, 31)).await;
    fx.add_users(&["a", "b"]).await;
    fx.login("a").await.unwrap();
    // 23:59:59 EST on January 31 is 04:59:59 UTC on February 1.
    fx.clock.set(ts("2027-02-01T04:59:59Z"));
    assert_eq!(fx.login("a").await, Ok(false));
    fx.clock.set(ts("2027-02-01T05:00:00Z"));
    let refusal = fx.login("a").await.unwrap_err();
    assert_eq!(
        (refusal, refusal.message()),
        (Refusal::LicenseExpired, EXPIRED_TEXT)
    );
    assert_eq!(fx.login("b").await, Err(Refusal::LicenseExpired));
    // Expiry is checked before the password: a wrong one gets the same answer.
    assert_eq!(
        fx.gatehouse.authenticate("a", "wrong", "vpn").await,
        Err(Refusal::LicenseExpired)
    );
    assert_eq!(
        fx.gatehouse.license_view().await.unwrap().status,
        LicenseStatus::Expired
    );
}

#[tokio::test]
async fn turning_the_clock_back_never_revives_an_expired_license() {
    let fx = fixture("rollback", "UTC", "2027-01-31T12:00:00Z").await;
    fx.install(10, date(2027, 1, 31)).await;
    fx.add_users(&["a"]).await;
    fx.clock.set(ts("2027-02-01T00:00:01Z"));
    assert_eq!(fx.login("a").await, Err(Refusal::LicenseExpired));
    fx.clock.set(ts("2027-01-15T00:00:00Z"));
    assert_eq!(
        fx.login("a").await,
        Err(Refusal::LicenseExpired),
        "same process"
    );
    fx.gatehouse.flush().await.unwrap();
    drop(fx.gatehouse);
    let rolled_back = Arc::new(ManualClock::new(ts("2027-01-15T00:00:00Z")));
    let restarted = open_at(&fx.path, rolled_back, &fx.zone).await;
    assert_eq!(
        restarted.authenticate("a", "a-pw", "vpn").await,
        Err(Refusal::LicenseExpired),
        "after a restart"
    );
    assert!(restarted.now() >= ts("2027-02-01T00:00:01Z"));
}

#[tokio::test]
async fn installing_a_valid_key_restores_service_at_once() {
    let fx = fixture("renewal", "UTC", "2027-01-31T12:00:00Z").await;
    fx.install(10, date(2027, 1, 31)).await;
    fx.add_users(&["a"]).await;
    fx.clock.set(ts("2027-02-02T00:00:00Z"));
    assert_eq!(fx.login("a").await, Err(Refusal::LicenseExpired));
    fx.install(10, date(2028, 1, 31)).await;
    assert_eq!(fx.login("a").await, Ok(true));
}

#[tokio::test]
async fn a_refused_key_leaves_the_license_in_force() {
    let fx = fixture("refused-key", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(10, date(2027, 1, 31)).await;
    let before = fx.gatehouse.license();
    let other_installation = fixture("refused-key-other", "UTC", "2026-11-10T10:00:00Z").await;
    type Expect = fn(&KeyRefusal) -> bool;
    let cases: Vec<(String, Expect)> = vec![
        ("GHL1.garbage".into(), |r| {
            matches!(r, KeyRefusal::Malformed(_))
        }),
        (
            fx.key(50, date(2027, 6, 30))
                .replacen("GHL1.R", "GHL1.S", 1),
            |r| matches!(r, KeyRefusal::BadSignature | KeyRefusal::Malformed(_)),
        ),
        (other_installation.key(50, date(2027, 6, 30)), |r| {
            matches!(r, KeyRefusal::OtherAppKey { .. })
        }),
        (
            issue_key(
                fx.gatehouse.app_key(),
                &TestLicense::subscription(50, date(2027, 6, 30), ts("2026-11-10T10:05:01Z")),
            ),
            |r| matches!(r, KeyRefusal::IssuedInFuture { .. }),
        ),
    ];
    for (key, expected) in cases {
        match fx.gatehouse.install_license(&key).await {
            Err(InstallError::Refused(refusal)) => assert!(expected(&refusal), "{refusal}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(fx.gatehouse.license(), before);
    }
    // A fresh process sees the same license.
    let reopened = open_at(&fx.path, fx.clock.clone(), &fx.zone).await;
    assert_eq!(reopened.license(), before);
}

#[tokio::test]
async fn a_key_installed_by_another_process_is_picked_up() {
    let fx = fixture("shared", "UTC", "2026-11-10T10:00:00Z").await;
    let other = open_at(&fx.path, fx.clock.clone(), &fx.zone).await;
    fx.install(77, date(2027, 1, 31)).await;
    assert_eq!(other.license().payload.user_limit, 25);
    assert!(other.refresh_license().await.unwrap());
    assert_eq!(other.license().payload.user_limit, 77);
    assert!(!other.refresh_license().await.unwrap());
}

#[tokio::test]
async fn a_process_that_has_not_seen_a_new_key_admits_under_it_not_under_its_old_one() {
    let fx = fixture("stale-license", "UTC", "2026-11-10T10:00:00Z").await;
    fx.add_users(&["a", "b", "c"]).await;
    let other = Arc::new(open_at(&fx.path, fx.clock.clone(), &fx.zone).await);
    // Another process lowers the limit to 2; this one still holds the demo
    // (25) in memory and has not ticked.
    fx.install(2, date(2027, 1, 31)).await;
    assert_eq!(other.license().payload.user_limit, 25);
    for name in ["a", "b"] {
        assert_eq!(
            other
                .authenticate(name, &format!("{name}-pw"), "vpn")
                .await
                .map(|a| a.newly_counted),
            Ok(true)
        );
    }
    // The store decided under the key it holds, and told the process.
    assert_eq!(other.license().payload.user_limit, 2);
    assert_eq!(
        other.authenticate("c", "c-pw", "vpn").await,
        Err(Refusal::UserLimitExceeded)
    );
    assert_eq!(fx.active().await, 2);
}

#[tokio::test]
async fn last_logins_are_written_behind() {
    let fx = fixture("write-behind", "UTC", "2026-11-10T10:00:00Z").await;
    fx.add_users(&["a"]).await;
    fx.login("a").await.unwrap();
    fx.clock.set(ts("2026-11-12T08:00:00Z"));
    fx.gatehouse
        .authenticate("a", "a-pw", "wifi-controller")
        .await
        .unwrap();
    fx.gatehouse.flush().await.unwrap();
    let seat = &fx
        .gatehouse
        .users(&SeatQuery::all("2026-11".parse().unwrap()))
        .await
        .unwrap()[0];
    assert_eq!(seat.first_seen, ts("2026-11-10T10:00:00Z"));
    assert_eq!(seat.last_login, ts("2026-11-12T08:00:00Z"));
    assert_eq!(seat.last_client, "wifi-controller");
}

/// SPEC §5: application key files asked for at once are built one after
/// another. One waits for its turn before it reads the month's users, so
/// many requests hold one month in memory, not one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_key_files_are_built_one_at_a_time() {
    let fx = fixture("key_files_one_at_a_time", "UTC", "2026-03-10T09:00:00Z").await;
    fx.add_users(&["alice", "bob"]).await;
    fx.login("alice").await.unwrap();
    fx.login("bob").await.unwrap();
    let turn = fx.gatehouse.key_file_turn().await;
    let asked = |gatehouse: Arc<Gatehouse>| {
        tokio::spawn(async move { gatehouse.application_key_file().await })
    };
    let mut waiting: Vec<_> = (0..3).map(|_| asked(fx.gatehouse.clone())).collect();
    // A month of two users takes milliseconds: without the turn these
    // would all be done well within the wait.
    for request in &mut waiting {
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(300), request)
                .await
                .is_err(),
            "a key file was built while another held the turn"
        );
    }
    drop(turn);
    for request in waiting {
        let file = request.await.unwrap().unwrap();
        let document = gatehouse_core::export::verify(file.as_bytes(), &[]).unwrap();
        let users: HashSet<_> = document.users.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(users, HashSet::from(["alice", "bob"]));
    }
}

/// A user's logins through one client within a minute of the last one
/// written are not written again; another client, or a minute later, is.
#[tokio::test]
async fn repeated_last_logins_are_written_once_a_minute_per_client() {
    let fx = fixture("write-behind-resolution", "UTC", "2026-11-10T10:00:00Z").await;
    fx.add_users(&["a"]).await;
    fx.login("a").await.unwrap();
    // Each step: a login at a time through a client, then the last login
    // and client stored after a flush.
    let steps = [
        ("10:00:10", "vpn", "10:00:10", "vpn"),
        ("10:00:40", "vpn", "10:00:10", "vpn"),
        ("10:00:50", "wifi", "10:00:50", "wifi"),
        ("10:00:55", "vpn", "10:00:55", "vpn"),
        ("10:01:10", "vpn", "10:01:10", "vpn"),
    ];
    for (at, client, stored_at, stored_client) in steps {
        fx.clock.set(ts(&format!("2026-11-10T{at}Z")));
        fx.gatehouse
            .authenticate("a", "a-pw", client)
            .await
            .unwrap();
        fx.gatehouse.flush().await.unwrap();
        let seat = fx
            .gatehouse
            .users(&SeatQuery::all("2026-11".parse().unwrap()))
            .await
            .unwrap()
            .remove(0);
        assert_eq!(
            (seat.last_login, seat.last_client.as_str()),
            (ts(&format!("2026-11-10T{stored_at}Z")), stored_client),
            "after a login at {at} through {client}"
        );
    }
}

/// 64 threads authenticate 1,000 distinct users (and repeat some) against
/// a limit of 500: exactly 500 accepted, the rest refused with the exact
/// text, 500 stored, nobody counted twice.
#[test]
fn sixty_four_threads_never_exceed_the_limit() {
    let seats = sixty_four_threads_admit("sixty-four-threads", 500, LicenseOptions::default());
    assert_eq!(seats.len(), 500);
    assert!(seats.iter().all(|&kind| kind == SeatKind::Within));
}

/// The same against a limit of 500 with a 10% overage allowance: exactly
/// 550 accepted, of whom exactly 50 hold overage seats (SPEC §16).
#[test]
fn sixty_four_threads_never_exceed_the_overage_allowance() {
    let options = LicenseOptions {
        overage_percent: 10,
        ..LicenseOptions::default()
    };
    let seats = sixty_four_threads_admit("sixty-four-threads-overage", 500, options);
    assert_eq!(seats.len(), 550);
    let overage = seats
        .iter()
        .filter(|&&kind| kind == SeatKind::Overage)
        .count();
    assert_eq!(overage, 50, "the seats past the limit are marked");
    assert_eq!(
        seats
            .iter()
            .filter(|&&kind| kind == SeatKind::Within)
            .count(),
        500
    );
}

/// 64 threads log 1,000 distinct users in (and repeat some) under a key
/// for 500 users granting `options`: exactly the cap is accepted, the rest
/// refused with the exact text, the ledger holds exactly the accepted users
/// and nobody is counted twice. Returns the kinds of the seats taken.
fn sixty_four_threads_admit(name: &str, limit: u32, options: LicenseOptions) -> Vec<SeatKind> {
    const USERS: usize = 1000;
    const THREADS: usize = 64;
    let cap = (limit + options.overage_seats(limit)) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let fx = runtime.block_on(async {
        let fx = fixture(name, "UTC", "2026-11-10T10:00:00Z").await;
        fx.install_granted(limit, date(2027, 1, 31), options).await;
        for i in 0..USERS {
            fx.gatehouse
                .add_local_user(&format!("user{i:04}"), &format!("user{i:04}-pw"))
                .await
                .unwrap();
        }
        fx
    });
    let accepted = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let newly_counted = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let handle = runtime.handle().clone();
            let gatehouse = fx.gatehouse.clone();
            let accepted = accepted.clone();
            let refused = refused.clone();
            let newly_counted = newly_counted.clone();
            scope.spawn(move || {
                // Each thread takes its share of users, then logs in again
                // as users of the neighbouring thread.
                let mine = (thread..USERS).step_by(THREADS);
                let neighbours = ((thread + 1) % THREADS..USERS).step_by(THREADS).take(4);
                for i in mine.chain(neighbours) {
                    let name = format!("user{i:04}");
                    match handle.block_on(gatehouse.authenticate(
                        &name,
                        &format!("{name}-pw"),
                        "load",
                    )) {
                        Ok(admitted) => {
                            if admitted.newly_counted {
                                newly_counted.fetch_add(1, Ordering::Relaxed);
                            }
                            accepted.lock().unwrap().insert(name);
                        }
                        Err(refusal) => {
                            assert_eq!(refusal.message(), LIMIT_TEXT);
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), cap, "exactly the cap accepted");
    assert_eq!(
        newly_counted.load(Ordering::Relaxed),
        cap,
        "nobody counted twice"
    );
    // Every first attempt by a user outside the ledger was refused.
    assert!(refused.load(Ordering::Relaxed) >= USERS - cap);
    runtime.block_on(async {
        assert_eq!(fx.active().await as usize, cap);
        let seats = fx
            .gatehouse
            .users(&SeatQuery::all("2026-11".parse().unwrap()))
            .await
            .unwrap();
        let ledger: HashSet<String> = seats.iter().map(|seat| seat.username.clone()).collect();
        assert_eq!(
            ledger, accepted,
            "the ledger holds exactly the accepted users"
        );
        seats.into_iter().map(|seat| seat.kind).collect()
    })
}

/// SPEC §16: in the grace after the Support End Date, users counted this
/// month log in (also through a process that never saw them), new users
/// are refused with the expiry text, and after the grace nobody logs in.
#[tokio::test]
async fn in_the_grace_counted_users_log_in_and_new_users_are_refused() {
    let fx = fixture("grace", "Europe/Istanbul", "2026-12-01T09:00:00Z").await;
    fx.install_granted(
        10,
        date(2026, 12, 10),
        LicenseOptions {
            grace_days: 3,
            ..LicenseOptions::default()
        },
    )
    .await;
    fx.add_users(&["alice", "bob", "carol"]).await;
    assert_eq!(fx.login("alice").await, Ok(true));
    assert_eq!(fx.login("bob").await, Ok(true));
    // 00:00 after Dec 10 in Istanbul.
    fx.clock.set(ts("2026-12-10T21:00:00Z"));
    assert_eq!(fx.gatehouse.license_status(), LicenseStatus::Grace);
    assert_eq!(
        fx.gatehouse.grace_notice().as_deref(),
        Some(
            "License expired on 2026-12-10; grace period ends 2026-12-13 (2 days remaining): users counted this month still log in, new users are refused"
        )
    );
    assert_eq!(fx.login("alice").await, Ok(false));
    assert_eq!(
        fx.login("carol").await.unwrap_err().message(),
        EXPIRED_TEXT,
        "a new user in the grace"
    );
    // Another process (a restart, or a second node) has no cache: the
    // store still knows bob is counted.
    fx.gatehouse.flush().await.unwrap();
    let other = open_at(&fx.path, fx.clock.clone(), &fx.zone).await;
    assert_eq!(
        other
            .authenticate("bob", "bob-pw", "vpn-1")
            .await
            .map(|a| a.newly_counted),
        Ok(false)
    );
    assert_eq!(
        other
            .authenticate("carol", "carol-pw", "vpn-1")
            .await
            .unwrap_err()
            .message(),
        EXPIRED_TEXT
    );
    assert_eq!(fx.active().await, 2, "nobody counted in the grace");
    // The last second of the grace, then the end.
    fx.clock.set(ts("2026-12-13T20:59:59Z"));
    assert_eq!(fx.login("alice").await, Ok(false));
    fx.clock.set(ts("2026-12-13T21:00:00Z"));
    assert_eq!(fx.gatehouse.license_status(), LicenseStatus::Expired);
    assert_eq!(fx.gatehouse.grace_notice(), None);
    assert_eq!(fx.login("alice").await.unwrap_err().message(), EXPIRED_TEXT);
}

/// A key without options is the strict license: no seat past the limit,
/// no login past the Support End Date.
#[tokio::test]
async fn a_key_without_options_admits_nobody_past_the_limit_or_the_end() {
    let fx = fixture("strict", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(2, date(2026, 11, 20)).await;
    fx.add_users(&["a", "b", "c"]).await;
    assert_eq!(fx.login("a").await, Ok(true));
    assert_eq!(fx.login("b").await, Ok(true));
    assert_eq!(fx.login("c").await.unwrap_err().message(), LIMIT_TEXT);
    fx.clock.set(ts("2026-11-21T00:00:00Z"));
    assert_eq!(fx.gatehouse.license_status(), LicenseStatus::Expired);
    assert_eq!(fx.login("a").await.unwrap_err().message(), EXPIRED_TEXT);
}

#[tokio::test]
async fn a_database_outage_refuses_with_a_clear_reason_and_counts_nobody() {
    let path = fresh_database("service", "outage");
    let clock = Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")));
    let zone = TimeZone::UTC;
    let sqlite = Arc::new(SqliteStore::open(&path, test_seal()).await.unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    let settings = Settings {
        time_zone: Some(zone.clone()),
        password: fast_passwords(),
        mfa: license_rules_only(),
        ..Settings::new(clock.clone())
    };
    let gatehouse = Gatehouse::open(store, settings).await.unwrap();
    gatehouse.add_local_user("alice", "alice-pw").await.unwrap();
    let alice = gatehouse
        .first_factor(
            "alice",
            "alice-pw",
            &gatehouse_core::Route::new("vpn", None),
        )
        .await
        .unwrap()
        .identity;
    // The database goes away (every connection closed) between the first
    // factor and the count, then stays away.
    sqlite.close().await;
    assert_eq!(
        gatehouse.admit(&alice, "vpn").await,
        Err(Refusal::ServiceUnavailable)
    );
    let refusal = gatehouse
        .authenticate("alice", "alice-pw", "vpn")
        .await
        .unwrap_err();
    assert_eq!(refusal, Refusal::ServiceUnavailable);
    assert_eq!(
        refusal.message(),
        "Authentication service unavailable, please try again later"
    );
    // Back up: nobody was counted, and the user gets in.
    let restarted = open_at(&path, clock, &zone).await;
    assert_eq!(restarted.license_view().await.unwrap().active_users, 0);
    assert!(
        restarted
            .authenticate("alice", "alice-pw", "vpn")
            .await
            .unwrap()
            .newly_counted
    );
}

/// SPEC §12: the second factor required, and the lockout.
mod front_door {
    use super::*;
    use gatehouse_core::totp::{TotpSecret, code_at, step_of};
    use gatehouse_core::{Clock as _, LOCKED_OUT, LoginStep, SECOND_FACTOR_REQUIRED, TotpMode};

    fn advance(fx: &Fixture, seconds: u64) {
        let later = fx.clock.now() + std::time::Duration::from_secs(seconds);
        fx.clock.set(later);
    }

    const NOW: &str = "2026-11-10T10:00:00Z";

    /// A node with the default `[mfa]` (a second factor required).
    async fn node(fx: &Fixture) -> Gatehouse {
        open_with(&fx.path, fx.clock.clone(), &fx.zone, MfaSettings::default()).await
    }

    async fn strict(name: &str) -> (Fixture, Gatehouse) {
        let fx = fixture(name, "UTC", NOW).await;
        fx.install(10, date(2027, 1, 31)).await;
        let gatehouse = node(&fx).await;
        (fx, gatehouse)
    }

    fn wrong(secret: &TotpSecret, now: Timestamp) -> String {
        let good = code_at(secret, step_of(now));
        format!("{}{}", (good.as_bytes()[0] - b'0' + 1) % 10, &good[1..])
    }

    /// While an enrollment window is open for a user with no second factor
    /// (by name, group or everyone), the refusal says where to enroll; it
    /// counts nobody; closed or expired, the plain refusal again. Without a
    /// portal address no window can be opened.
    #[tokio::test]
    async fn an_open_enrollment_window_tells_an_unenrolled_user_where_to_enroll() {
        use gatehouse_core::enrollment::WindowScope;
        let (fx, without_portal) = strict("enroll-window").await;
        assert_eq!(
            without_portal
                .open_enrollment(WindowScope::Everyone, 7)
                .await
                .unwrap_err()
                .to_string(),
            "set http.public_url (or push.public_url) first: a user refused while a window is open is told that address"
        );
        let gatehouse = support::open(
            &fx.path,
            Settings {
                mfa: MfaSettings::default(),
                portal_url: Some("https://gatehouse.example.com".into()),
                ..support::settings(fx.clock.clone(), &fx.zone)
            },
        )
        .await;
        fx.add_users(&["alice", "bob", "carol"]).await;
        gatehouse.add_local_group("staff").await.unwrap();
        gatehouse
            .edit_local_user_groups(
                "bob",
                &GroupEdit::Join(LocalGroupName::parse("staff").unwrap()),
            )
            .await
            .unwrap();
        let enroll =
            "Enroll a second factor at https://gatehouse.example.com/my/, then log in again";
        let refusal = |name: &'static str| {
            let gatehouse = &gatehouse;
            async move {
                gatehouse
                    .authenticate(name, &format!("{name}-pw"), "vpn")
                    .await
                    .unwrap_err()
                    .message()
            }
        };
        assert_eq!(
            refusal("alice").await,
            SECOND_FACTOR_REQUIRED,
            "no window yet"
        );
        gatehouse
            .open_enrollment(WindowScope::user("Alice").unwrap(), 7)
            .await
            .unwrap();
        gatehouse
            .open_enrollment(WindowScope::group("local:staff").unwrap(), 1)
            .await
            .unwrap();
        assert_eq!(refusal("alice").await, enroll);
        assert_eq!(refusal("bob").await, enroll, "by group");
        assert_eq!(refusal("carol").await, SECOND_FACTOR_REQUIRED);
        assert_eq!(
            gatehouse.authenticate("alice", "wrong", "vpn").await,
            Err(Refusal::InvalidCredentials),
            "a wrong password learns nothing"
        );
        assert_eq!(fx.active().await, 0, "nobody is counted");
        // The group's one day passes; alice's week does not.
        advance(&fx, 25 * 3600);
        assert_eq!(refusal("bob").await, SECOND_FACTOR_REQUIRED);
        assert_eq!(refusal("alice").await, enroll);
        gatehouse
            .close_enrollment(&WindowScope::user("alice").unwrap())
            .await
            .unwrap();
        assert_eq!(refusal("alice").await, SECOND_FACTOR_REQUIRED);
        let windows = gatehouse.enrollment_windows().await.unwrap();
        assert!(windows.is_empty(), "{windows:?}");
        gatehouse
            .open_enrollment(WindowScope::Everyone, 7)
            .await
            .unwrap();
        assert_eq!(refusal("carol").await, enroll, "everyone");
        let actions: Vec<String> = gatehouse
            .audit_entries(&gatehouse_core::audit::AuditQuery {
                action: Some("enrollment.".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|record| record.entry.action)
            .collect();
        assert_eq!(
            actions,
            [
                "enrollment.open",
                "enrollment.close",
                "enrollment.open",
                "enrollment.open"
            ]
        );
    }

    #[tokio::test]
    async fn a_user_without_a_second_factor_is_refused_unless_exempt() {
        let (fx, gatehouse) = strict("mfa-required").await;
        fx.add_users(&["alice", "svc"]).await;
        let refused = gatehouse.authenticate("alice", "alice-pw", "vpn").await;
        assert_eq!(refused, Err(Refusal::SecondFactorRequired));
        assert_eq!(
            Refusal::SecondFactorRequired.message(),
            SECOND_FACTOR_REQUIRED
        );
        assert_eq!(
            SECOND_FACTOR_REQUIRED,
            "A second factor is required, please contact your system administrator"
        );
        // A wrong password still reads as one: nothing about factors leaks.
        assert_eq!(
            gatehouse.authenticate("alice", "nope", "vpn").await,
            Err(Refusal::InvalidCredentials)
        );
        assert_eq!(fx.active().await, 0, "a refused user is not counted");
        // An exempt service account logs in with the password alone.
        gatehouse
            .set_local_user_second_factor_exempt("SVC", true)
            .await
            .unwrap();
        assert!(
            gatehouse
                .authenticate("svc", "svc-pw", "vpn")
                .await
                .unwrap()
                .newly_counted
        );
        gatehouse
            .set_local_user_second_factor_exempt("svc", false)
            .await
            .unwrap();
        assert_eq!(
            gatehouse.authenticate("svc", "svc-pw", "vpn").await,
            Err(Refusal::SecondFactorRequired)
        );
        // Enrolled: the code is asked for.
        gatehouse
            .enroll_local_totp("alice", Some(TotpMode::Challenge))
            .await
            .unwrap();
        assert!(matches!(
            gatehouse.login("alice", "alice-pw", "vpn").await,
            Ok(LoginStep::OtpRequired(_))
        ));
        assert!(matches!(
            gatehouse
                .set_local_user_second_factor_exempt("nobody", true)
                .await,
            Err(gatehouse_core::UserError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn wrong_codes_lock_the_user_on_every_node_until_the_lock_ends() {
        let (fx, one) = strict("lockout-codes").await;
        let other = node(&fx).await;
        fx.add_users(&["bob"]).await;
        let secret = one
            .enroll_local_totp("bob", Some(TotpMode::Append))
            .await
            .unwrap()
            .secret;
        let typed = |code: String| format!("bob-pw{code}");
        for _ in 0..5 {
            assert_eq!(
                one.authenticate("bob", &typed(wrong(&secret, fx.clock.now())), "vpn")
                    .await,
                Err(Refusal::InvalidOneTimeCode)
            );
        }
        // Locked here at once, with the right password and code.
        let good = || typed(code_at(&secret, step_of(fx.clock.now())));
        assert_eq!(
            one.authenticate("bob", &good(), "vpn").await,
            Err(Refusal::LockedOut)
        );
        assert_eq!(Refusal::LockedOut.message(), LOCKED_OUT);
        assert_eq!(
            LOCKED_OUT,
            "Too many failed attempts, please try again later"
        );
        // And on the other node after its tick.
        other.tick().await;
        assert_eq!(
            other.authenticate("bob", &good(), "vpn").await,
            Err(Refusal::LockedOut)
        );
        assert_eq!(fx.active().await, 0, "nothing is counted while locked");
        let locked = one.lockouts().await.unwrap();
        assert_eq!(locked.len(), 1);
        assert_eq!(locked[0].username, "bob");
        assert!(locked[0].locked_at(fx.clock.now()));
        assert_eq!(one.lockout_counts(), (1, 1));
        // Fifteen minutes later the lock has ended.
        advance(&fx, 15 * 60);
        assert!(
            other
                .authenticate("bob", &good(), "vpn")
                .await
                .unwrap()
                .newly_counted
        );
        // The success forgot the run: four more wrong codes do not lock.
        advance(&fx, 60);
        for _ in 0..4 {
            let _ = other
                .authenticate("bob", &typed(wrong(&secret, fx.clock.now())), "vpn")
                .await;
        }
        other.tick().await;
        advance(&fx, 60);
        assert!(other.authenticate("bob", &good(), "vpn").await.is_ok());
    }

    #[tokio::test]
    async fn in_challenge_mode_the_password_alone_does_not_end_a_run_of_wrong_codes() {
        let (fx, gatehouse) = strict("lockout-challenge").await;
        fx.add_users(&["erin"]).await;
        let secret = gatehouse
            .enroll_local_totp("erin", Some(TotpMode::Challenge))
            .await
            .unwrap()
            .secret;
        for _ in 0..5 {
            let step = gatehouse.login("erin", "erin-pw", "vpn").await.unwrap();
            let LoginStep::OtpRequired(identity) = step else {
                panic!("expected a challenge, got {step:?}");
            };
            let code = wrong(&secret, fx.clock.now());
            assert_eq!(
                gatehouse.complete_otp(&identity, &code, "vpn").await,
                Err(Refusal::InvalidOneTimeCode)
            );
        }
        assert_eq!(
            gatehouse.login("erin", "erin-pw", "vpn").await,
            Err(Refusal::LockedOut)
        );
    }

    #[tokio::test]
    async fn a_lock_doubles_and_an_administrator_ends_it() {
        let (fx, gatehouse) = strict("lockout-doubles").await;
        fx.add_users(&["carol"]).await;
        let secret = gatehouse
            .enroll_local_totp("carol", Some(TotpMode::Append))
            .await
            .unwrap()
            .secret;
        for round in 1..=2u64 {
            for _ in 0..5 {
                let code = wrong(&secret, fx.clock.now());
                let _ = gatehouse
                    .authenticate("carol", &format!("carol-pw{code}"), "vpn")
                    .await;
            }
            let lock = gatehouse.lockouts().await.unwrap().remove(0);
            let (from, until) = lock.locked.unwrap();
            assert_eq!(
                until.duration_since(from).as_secs(),
                (15 * 60) << (round - 1),
                "the lock doubles"
            );
            advance(&fx, ((15 * 60) << (round - 1)) + 1);
        }
        for _ in 0..5 {
            let code = wrong(&secret, fx.clock.now());
            let _ = gatehouse
                .authenticate("carol", &format!("carol-pw{code}"), "vpn")
                .await;
        }
        let good = format!("carol-pw{}", code_at(&secret, step_of(fx.clock.now())));
        assert_eq!(
            gatehouse.authenticate("carol", &good, "vpn").await,
            Err(Refusal::LockedOut)
        );
        assert!(gatehouse.unlock_user("CAROL").await.unwrap());
        assert!(gatehouse.authenticate("carol", &good, "vpn").await.is_ok());
        assert!(gatehouse.lockouts().await.unwrap().is_empty());
        assert!(!gatehouse.unlock_user("carol").await.unwrap());
    }

    #[tokio::test]
    async fn wrong_passwords_lock_only_when_they_differ_and_unknown_names_never() {
        let (fx, gatehouse) = strict("lockout-passwords").await;
        fx.add_users(&["dave"]).await;
        gatehouse
            .set_local_user_second_factor_exempt("dave", true)
            .await
            .unwrap();
        // A device retrying one outdated password never locks its user.
        for _ in 0..25 {
            assert_eq!(
                gatehouse.authenticate("dave", "old-password", "vpn").await,
                Err(Refusal::InvalidCredentials)
            );
        }
        assert!(
            gatehouse
                .authenticate("dave", "dave-pw", "vpn")
                .await
                .is_ok()
        );
        // Names that are no user are never counted.
        for i in 0..25 {
            let _ = gatehouse
                .authenticate("ghost", &format!("guess{i}"), "vpn")
                .await;
        }
        assert!(gatehouse.lockouts().await.unwrap().is_empty());
        // Ten different wrong passwords lock; the right one is then refused
        // as locked (the lock is checked before the password).
        for i in 0..10 {
            let _ = gatehouse
                .authenticate("dave", &format!("guess{i}"), "vpn")
                .await;
        }
        assert_eq!(
            gatehouse.authenticate("dave", "dave-pw", "vpn").await,
            Err(Refusal::LockedOut)
        );
        assert_eq!(
            gatehouse.authenticate("dave", "wrong", "vpn").await,
            Err(Refusal::LockedOut),
            "a locked user's password is not checked at all"
        );
    }
}

/// Directory users through the service (the directory here is an
/// in-memory table: what is under test is the service's order of work and
/// what it remembers).
mod directory_users {
    use super::*;
    use gatehouse_core::directory::{Directory, DirectoryEntry, DirectoryUnavailable, Resolution};
    use gatehouse_core::service::MAX_DIRECTORY_USERS;
    use gatehouse_core::{LoginStep, TotpMode};

    struct Table(Vec<DirectoryEntry>);

    #[async_trait::async_trait]
    impl Directory for Table {
        async fn resolve(&self, login: &str) -> Result<Resolution, DirectoryUnavailable> {
            Ok(
                match self.0.iter().find(|entry| entry.login_name == login) {
                    Some(entry) => Resolution::Found(Box::new(entry.clone())),
                    None => Resolution::NotFound,
                },
            )
        }

        async fn check_password(
            &self,
            entry: &DirectoryEntry,
            password: &str,
        ) -> Result<bool, DirectoryUnavailable> {
            Ok(password == format!("{}-pw", entry.login_name))
        }
    }

    fn entry(name: &str, disabled: bool, allowed: bool) -> DirectoryEntry {
        DirectoryEntry {
            aliases: Vec::new(),
            directory: "corp".into(),
            server: "ldap://directory.test".into(),
            dn: format!("cn={name},dc=test"),
            stable_id: format!("id-{name}"),
            login_name: name.into(),
            display_name: name.into(),
            mail: None,
            groups: vec!["cn=vpn,dc=test".into()],
            disabled,
            allowed,
            revision: None,
        }
    }

    /// SPEC §12: directory entries refused for being disabled or outside
    /// the allowed groups cost the same decoy work as unknown names, so
    /// response time does not tell them apart.
    #[tokio::test]
    async fn disabled_and_outside_entries_cost_what_unknown_names_cost() {
        let path = fresh_database("service", "directory-decoys");
        let clock = Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")));
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, test_seal()).await.unwrap());
        let directory = Table(vec![
            entry("dave", true, true),
            entry("eve", false, false),
            entry("john", false, true),
        ]);
        let gatehouse = Gatehouse::open(
            store,
            Settings {
                password: fast_passwords(),
                directory: Some(Arc::new(directory)),
                mfa: MfaSettings {
                    required: true,
                    exempt_groups: vec!["CN=VPN, DC=test".into()],
                },
                ..Settings::new(clock)
            },
        )
        .await
        .unwrap();
        for name in ["nobody", "dave", "eve"] {
            let before = gatehouse.decoys_spent();
            assert_eq!(
                gatehouse
                    .authenticate(name, &format!("{name}-pw"), "vpn")
                    .await,
                Err(Refusal::InvalidCredentials),
                "{name}"
            );
            assert_eq!(
                gatehouse.decoys_spent(),
                before + 1,
                "{name}: one decoy check"
            );
        }
        // An allowed, enabled member of an exempt group gets in, with no
        // decoy.
        let before = gatehouse.decoys_spent();
        assert!(
            gatehouse
                .authenticate("john", "john-pw", "vpn")
                .await
                .is_ok()
        );
        assert_eq!(gatehouse.decoys_spent(), before);
    }

    /// A node on the database at `path` whose directory is `table`, a
    /// second factor required of everyone, at most `kept` directory users'
    /// second factors kept in memory.
    async fn directory_node(
        path: &Path,
        clock: &Arc<ManualClock>,
        table: &Arc<Table>,
        kept: usize,
    ) -> Gatehouse {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path, test_seal()).await.unwrap());
        Gatehouse::open(
            store,
            Settings {
                password: fast_passwords(),
                directory: Some(table.clone()),
                kept_directory_users: kept,
                mfa: MfaSettings {
                    required: true,
                    exempt_groups: Vec::new(),
                },
                ..Settings::new(clock.clone())
            },
        )
        .await
        .unwrap()
    }

    /// A directory user's second factors are read from the store once and
    /// remembered: a change made by another process is seen at the next
    /// tick (not before: nothing is read again per login), a change made
    /// through this process at once.
    #[tokio::test]
    async fn directory_second_factors_are_remembered_until_the_directory_generation_moves() {
        let path = fresh_database("service", "directory-factors");
        let clock = Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")));
        let directory = Arc::new(Table(vec![entry("john", false, true)]));
        let node = || directory_node(&path, &clock, &directory, MAX_DIRECTORY_USERS);
        let (server, other) = (node().await, node().await);
        let login = || server.login("john", "john-pw", "vpn");
        assert_eq!(login().await, Err(Refusal::SecondFactorRequired));
        other
            .enroll_directory_totp("john", Some(TotpMode::Challenge))
            .await
            .unwrap();
        assert_eq!(
            login().await,
            Err(Refusal::SecondFactorRequired),
            "remembered: the store is not read again before the next tick"
        );
        server.tick().await;
        assert!(
            matches!(login().await, Ok(LoginStep::OtpRequired(_))),
            "the enrollment by another process is seen at the tick"
        );
        server.remove_directory_totp("john").await.unwrap();
        assert_eq!(
            login().await,
            Err(Refusal::SecondFactorRequired),
            "a removal through this process is seen at once"
        );
        other
            .enroll_directory_totp("john", Some(TotpMode::Challenge))
            .await
            .unwrap();
        server.tick().await;
        assert!(matches!(login().await, Ok(LoginStep::OtpRequired(_))));
    }

    /// At most `kept_directory_users` login names keep their second
    /// factors in memory: past it, a user's are read from the store at
    /// every login (an enrollment by another process is seen before any
    /// tick), while the names kept still answer from memory.
    #[tokio::test]
    async fn directory_users_kept_in_memory_are_bounded() {
        let path = fresh_database("service", "directory-factors-bounded");
        let clock = Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")));
        let names = ["john", "mary", "olga"];
        let directory = Arc::new(Table(
            names.iter().map(|name| entry(name, false, true)).collect(),
        ));
        let node = || directory_node(&path, &clock, &directory, 2);
        let (server, other) = (node().await, node().await);
        for name in names {
            assert_eq!(
                server.login(name, &format!("{name}-pw"), "vpn").await,
                Err(Refusal::SecondFactorRequired),
                "{name}"
            );
        }
        for name in names {
            other
                .enroll_directory_totp(name, Some(TotpMode::Challenge))
                .await
                .unwrap();
        }
        for name in ["john", "mary"] {
            assert_eq!(
                server.login(name, &format!("{name}-pw"), "vpn").await,
                Err(Refusal::SecondFactorRequired),
                "{name}: kept in memory until the tick"
            );
        }
        assert!(
            matches!(
                server.login("olga", "olga-pw", "vpn").await,
                Ok(LoginStep::OtpRequired(_))
            ),
            "past the bound: read from the store at each login"
        );
    }
}

mod totp {
    use super::*;
    use gatehouse_core::totp::{code_at, step_of};
    use gatehouse_core::{LoginStep, TotpMode};

    const NOW: &str = "2026-11-10T10:00:00Z";

    fn code(fx: &Fixture, secret: &gatehouse_core::totp::TotpSecret) -> String {
        code_at(secret, step_of(fx.gatehouse.now()))
    }

    #[tokio::test]
    async fn a_challenged_user_is_counted_only_after_the_code() {
        let fx = fixture("totp-challenge", "UTC", NOW).await;
        fx.add_users(&["bob"]).await;
        let enrollment = fx
            .gatehouse
            .enroll_local_totp("bob", Some(TotpMode::Challenge))
            .await
            .unwrap();
        assert!(
            enrollment
                .uri
                .starts_with("otpauth://totp/Gatehouse:bob?secret=")
        );
        let step = fx.gatehouse.login("bob", "bob-pw", "vpn").await.unwrap();
        let LoginStep::OtpRequired(identity) = step else {
            panic!("expected a challenge, got {step:?}");
        };
        assert_eq!(fx.active().await, 0, "not counted before the second factor");
        let good = code(&fx, &enrollment.secret);
        let wrong = format!("{}{}", (good.as_bytes()[0] - b'0' + 1) % 10, &good[1..]);
        assert_eq!(
            fx.gatehouse.complete_otp(&identity, &wrong, "vpn").await,
            Err(Refusal::InvalidOneTimeCode)
        );
        assert_eq!(fx.active().await, 0);
        let admitted = fx
            .gatehouse
            .complete_otp(&identity, &good, "vpn")
            .await
            .unwrap();
        assert!(admitted.newly_counted);
        // The same code again is a replay, even a step later.
        fx.clock.set(ts("2026-11-10T10:00:30Z"));
        let LoginStep::OtpRequired(identity) =
            fx.gatehouse.login("bob", "bob-pw", "vpn").await.unwrap()
        else {
            panic!("expected a challenge");
        };
        assert_eq!(
            fx.gatehouse.complete_otp(&identity, &good, "vpn").await,
            Err(Refusal::InvalidOneTimeCode)
        );
        let next = code(&fx, &enrollment.secret);
        assert!(
            fx.gatehouse
                .complete_otp(&identity, &next, "vpn")
                .await
                .is_ok()
        );
        // A code from before the last accepted one is refused too.
        fx.clock.set(ts("2026-11-10T10:01:00Z"));
        let older = code_at(&enrollment.secret, step_of(ts("2026-11-10T10:00:30Z")) - 1);
        assert_eq!(
            fx.gatehouse.complete_otp(&identity, &older, "vpn").await,
            Err(Refusal::InvalidOneTimeCode)
        );
        // Callers that cannot ask for a code refuse the user.
        assert_eq!(
            fx.gatehouse.authenticate("bob", "bob-pw", "cli").await,
            Err(Refusal::InvalidOneTimeCode)
        );
    }

    #[tokio::test]
    async fn password_and_code_typed_together() {
        let fx = fixture("totp-append", "UTC", NOW).await;
        fx.add_users(&["carol"]).await;
        let enrollment = fx
            .gatehouse
            .enroll_local_totp("carol", Some(TotpMode::Append))
            .await
            .unwrap();
        assert_eq!(
            fx.gatehouse.login("carol", "carol-pw", "vpn").await,
            Err(Refusal::InvalidCredentials)
        );
        let typed = format!("carol-pw{}", code(&fx, &enrollment.secret));
        let LoginStep::Accepted(admitted) =
            fx.gatehouse.login("carol", &typed, "vpn").await.unwrap()
        else {
            panic!("expected an accept");
        };
        assert!(admitted.newly_counted);
        assert_eq!(
            fx.gatehouse.login("carol", &typed, "vpn").await,
            Err(Refusal::InvalidOneTimeCode),
            "replay"
        );
        let wrong_password = format!("carol-px{}", code(&fx, &enrollment.secret));
        assert_eq!(
            fx.gatehouse.login("carol", &wrong_password, "vpn").await,
            Err(Refusal::InvalidCredentials)
        );
    }

    #[tokio::test]
    async fn a_full_license_refuses_before_the_code_is_asked_for() {
        let fx = fixture("totp-full", "UTC", NOW).await;
        fx.install(1, date(2027, 1, 31)).await;
        fx.add_users(&["alice", "dave"]).await;
        fx.gatehouse
            .enroll_local_totp("dave", Some(TotpMode::Challenge))
            .await
            .unwrap();
        fx.login("alice").await.unwrap();
        assert_eq!(
            fx.gatehouse.login("dave", "dave-pw", "vpn").await,
            Err(Refusal::UserLimitExceeded)
        );
    }

    #[tokio::test]
    async fn enrollment_needs_an_account_and_can_be_removed() {
        let fx = fixture("totp-enroll", "UTC", NOW).await;
        assert!(fx.gatehouse.enroll_local_totp("ghost", None).await.is_err());
        fx.add_users(&["erin"]).await;
        let enrollment = fx.gatehouse.enroll_local_totp("erin", None).await.unwrap();
        assert_eq!(
            enrollment.mode,
            TotpMode::Challenge,
            "the configured default"
        );
        fx.gatehouse.remove_local_totp("erin").await.unwrap();
        assert!(fx.gatehouse.remove_local_totp("erin").await.is_err());
        assert_eq!(fx.login("erin").await, Ok(true), "password only again");
    }
}

#[tokio::test]
async fn account_changes_take_effect_here_at_once_and_from_elsewhere_within_a_tick() {
    let fx = fixture("account-changes", "UTC", "2026-11-10T10:00:00Z").await;
    fx.add_users(&["alice", "bob"]).await;
    assert_eq!(fx.login("alice").await, Ok(true));
    // Through this service: at once.
    fx.gatehouse
        .set_local_user_password("alice", "new-pw")
        .await
        .unwrap();
    assert_eq!(fx.login("alice").await, Err(Refusal::InvalidCredentials));
    assert!(
        fx.gatehouse
            .authenticate("alice", "new-pw", "vpn")
            .await
            .is_ok()
    );
    // Through another process sharing the database: after the next tick.
    assert_eq!(fx.login("bob").await, Ok(true));
    let other = open_at(&fx.path, fx.clock.clone(), &fx.zone).await;
    other.set_local_user_enabled("bob", false).await.unwrap();
    fx.gatehouse.tick().await;
    assert_eq!(fx.login("bob").await, Err(Refusal::InvalidCredentials));
}

#[tokio::test]
async fn a_remembered_password_never_outlives_a_password_change() {
    let path = fresh_database("service", "credential-cache");
    let clock = Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")));
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, test_seal()).await.unwrap());
    let settings = Settings {
        time_zone: Some(TimeZone::UTC),
        password: fast_passwords(),
        password_cache: std::time::Duration::from_secs(300),
        mfa: license_rules_only(),
        ..Settings::new(clock.clone())
    };
    let gatehouse = Gatehouse::open(store, settings).await.unwrap();
    gatehouse.add_local_user("carol", "old-pw").await.unwrap();
    assert!(
        gatehouse
            .authenticate("carol", "old-pw", "vpn")
            .await
            .is_ok()
    );
    assert!(
        gatehouse
            .authenticate("carol", "old-pw", "vpn")
            .await
            .is_ok(),
        "from the cache"
    );
    assert_eq!(
        gatehouse.authenticate("carol", "guess", "vpn").await,
        Err(Refusal::InvalidCredentials)
    );
    // Changed elsewhere: the next tick drops the account, the new hash never
    // matches the remembered one.
    let other = open_at(&path, clock.clone(), &TimeZone::UTC).await;
    other
        .set_local_user_password("carol", "new-pw")
        .await
        .unwrap();
    gatehouse.tick().await;
    assert_eq!(
        gatehouse.authenticate("carol", "old-pw", "vpn").await,
        Err(Refusal::InvalidCredentials)
    );
    assert!(
        gatehouse
            .authenticate("carol", "new-pw", "vpn")
            .await
            .is_ok()
    );
    // Disabled: refused even with a remembered password.
    other.set_local_user_enabled("carol", false).await.unwrap();
    gatehouse.tick().await;
    assert_eq!(
        gatehouse.authenticate("carol", "new-pw", "vpn").await,
        Err(Refusal::InvalidCredentials)
    );
}

/// A service over the database at `path`, and its store, which the test
/// closes to take the database away.
async fn closable(path: &Path, zone: &TimeZone) -> (Gatehouse, Arc<SqliteStore>) {
    let clock = Arc::new(ManualClock::new(ts("2026-11-28T10:00:00Z")));
    let store = Arc::new(SqliteStore::open(path, test_seal()).await.unwrap());
    let shared: Arc<dyn Store> = store.clone();
    let gatehouse = Gatehouse::open(shared, support::settings(clock, zone))
        .await
        .unwrap();
    (gatehouse, store)
}

/// Alice, counted earlier, is let in with the database gone.
async fn accepted_from_memory(gatehouse: &Gatehouse) {
    let admitted = gatehouse.authenticate("alice", "alice-pw", "vpn").await;
    assert!(
        matches!(&admitted, Ok(a) if !a.newly_counted),
        "{admitted:?}"
    );
}

/// A returning user is answered from memory when the database goes away,
/// also right after start: the first periodic upkeep must not drop the
/// accounts already read (it used to take its first look at the
/// directory's generation for a change).
#[tokio::test]
async fn a_returning_user_logs_in_from_memory_when_the_database_goes_away_after_the_first_tick() {
    let path = fresh_database("service", "outage-after-first-tick");
    let zone = TimeZone::get("Europe/Istanbul").unwrap();
    // The account is made before the service starts (`local-user add`,
    // then `serve`).
    let clock = Arc::new(ManualClock::new(ts("2026-11-28T10:00:00Z")));
    open_at(&path, clock, &zone)
        .await
        .add_local_user("alice", "alice-pw")
        .await
        .unwrap();
    let (gatehouse, store) = closable(&path, &zone).await;
    assert!(
        gatehouse
            .authenticate("alice", "alice-pw", "vpn")
            .await
            .is_ok()
    );
    gatehouse.tick().await;
    store.close().await;
    accepted_from_memory(&gatehouse).await;
    assert_eq!(
        gatehouse
            .authenticate("bob", "bob-pw", "vpn")
            .await
            .unwrap_err(),
        Refusal::ServiceUnavailable,
        "a name not in memory needs the database"
    );
}

/// The same after a change made through the service itself: the next
/// upkeep does not drop the accounts read since.
#[tokio::test]
async fn a_change_through_the_service_does_not_make_the_next_tick_drop_the_accounts() {
    let path = fresh_database("service", "outage-after-own-change");
    let (gatehouse, store) = closable(&path, &TimeZone::get("Europe/Istanbul").unwrap()).await;
    gatehouse.add_local_user("alice", "alice-pw").await.unwrap();
    gatehouse.add_local_user("bob", "bob-pw").await.unwrap();
    assert!(
        gatehouse
            .authenticate("alice", "alice-pw", "vpn")
            .await
            .is_ok()
    );
    gatehouse.tick().await;
    // A change, then alice read again, then the upkeep.
    gatehouse
        .set_local_user_password("bob", "bob-new-pw")
        .await
        .unwrap();
    assert!(
        gatehouse
            .authenticate("alice", "alice-pw", "vpn")
            .await
            .is_ok()
    );
    gatehouse.tick().await;
    store.close().await;
    accepted_from_memory(&gatehouse).await;
}

fn marks_granted(exempt_seats: u32, reserved_seats: u32) -> LicenseOptions {
    LicenseOptions {
        exempt_seats,
        reserved_seats,
        ..LicenseOptions::default()
    }
}

/// SPEC §16: an exempt account logs in without ever being counted, even
/// in a full month; a break-glass user is counted, and let in when the
/// month is full; marks beyond what the key grants are refused.
#[tokio::test]
async fn exempt_accounts_are_never_counted_and_break_glass_users_never_refused() {
    let fx = fixture("marks", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install_granted(2, date(2027, 1, 31), marks_granted(1, 1))
        .await;
    fx.add_users(&["monitor", "oncall", "a", "b", "c"]).await;
    fx.gatehouse
        .mark_seat("Monitor", Mark::Exempt)
        .await
        .unwrap();
    fx.gatehouse
        .mark_seat("oncall", Mark::Reserved)
        .await
        .unwrap();
    assert_eq!(
        fx.gatehouse
            .mark_seat("a", Mark::Exempt)
            .await
            .unwrap_err()
            .to_string(),
        "the license in force grants 1 exempt accounts, and all are in use; unmark one first"
    );
    assert_eq!(fx.login("monitor").await, Ok(false), "exempt: not counted");
    assert_eq!(fx.login("a").await, Ok(true));
    assert_eq!(fx.login("b").await, Ok(true));
    assert_eq!(fx.login("c").await.unwrap_err().message(), LIMIT_TEXT);
    assert_eq!(
        fx.login("monitor").await,
        Ok(false),
        "exempt in a full month"
    );
    assert_eq!(
        fx.login("oncall").await,
        Ok(true),
        "break-glass in a full month"
    );
    assert_eq!(fx.active().await, 3);
    let seats = fx
        .gatehouse
        .users(&SeatQuery::all("2026-11".parse().unwrap()))
        .await
        .unwrap();
    let kinds: Vec<(&str, SeatKind)> = seats
        .iter()
        .map(|seat| (seat.username.as_str(), seat.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("a", SeatKind::Within),
            ("b", SeatKind::Within),
            ("oncall", SeatKind::Reserved)
        ]
    );
    // Unmarked, the account is an ordinary user again: refused now.
    fx.gatehouse.unmark_seat("monitor").await.unwrap();
    assert_eq!(fx.login("monitor").await.unwrap_err().message(), LIMIT_TEXT);
    // A key granting no marks honours none.
    fx.gatehouse
        .mark_seat("monitor", Mark::Exempt)
        .await
        .unwrap();
    fx.install(2, date(2027, 2, 28)).await;
    assert_eq!(fx.login("monitor").await.unwrap_err().message(), LIMIT_TEXT);
    let listed = fx.gatehouse.seat_marks().await.unwrap();
    assert!(listed.iter().all(|mark| !mark.in_force), "{listed:?}");
    // Marks are audited.
    let actions: Vec<String> = fx
        .gatehouse
        .audit_entries(&gatehouse_core::audit::AuditQuery {
            action: Some("seat.".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.entry.action)
        .collect();
    for action in ["seat.exempt", "seat.reserved", "seat.unmark"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

/// Two processes on one database marking users at once: never more marks
/// than the key grants, and each sees the other's at its next tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_never_mark_more_than_the_key_grants() {
    let fx = fixture("marks-race", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install_granted(10, date(2027, 1, 31), marks_granted(3, 0))
        .await;
    let other = Arc::new(open_at(&fx.path, fx.clock.clone(), &fx.zone).await);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let gatehouse = if i % 2 == 0 {
                fx.gatehouse.clone()
            } else {
                other.clone()
            };
            tokio::spawn(async move { gatehouse.mark_seat(&format!("svc{i}"), Mark::Exempt).await })
        })
        .collect();
    let mut marked = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => marked += 1,
            Err(error) => assert!(
                error.to_string().contains("all are in use")
                    || error.to_string().contains("keep changing"),
                "{error}"
            ),
        }
    }
    assert_eq!(marked, 3);
    assert_eq!(fx.gatehouse.seat_marks().await.unwrap().len(), 3);
    fx.gatehouse.tick().await;
    other.tick().await;
    let exempt = fx.gatehouse.seat_marks().await.unwrap()[0]
        .marked
        .username
        .clone();
    fx.gatehouse
        .add_local_user(&exempt, &format!("{exempt}-pw"))
        .await
        .unwrap();
    assert_eq!(
        other
            .authenticate(&exempt, &format!("{exempt}-pw"), "vpn-1")
            .await
            .map(|a| a.newly_counted),
        Ok(false),
        "the other process honours the mark"
    );
    assert_eq!(fx.active().await, 0);
}

fn budget(name: &str, size: u32, groups: &[&str], clients: &[&str]) -> SeatBudget {
    SeatBudget {
        name: name.into(),
        size,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        clients: clients.iter().map(|c| c.to_string()).collect(),
        alarm_percent: vec![],
    }
}

/// SPEC §16: a full seat budget refuses its new users with its own text,
/// while another budget and users of none still get in; its users stay.
#[tokio::test]
async fn a_full_budget_refuses_its_new_users_while_others_go_on() {
    let fx = fixture("budgets", "UTC", "2026-11-10T10:00:00Z").await;
    fx.install(100, date(2027, 1, 31)).await;
    fx.gatehouse.add_local_group("contractors").await.unwrap();
    fx.add_users(&["c1", "c2", "c3", "staff", "w1"]).await;
    for name in ["c1", "c2", "c3"] {
        fx.gatehouse
            .edit_local_user_groups(
                name,
                &GroupEdit::Join(LocalGroupName::parse("contractors").unwrap()),
            )
            .await
            .unwrap();
    }
    fx.gatehouse
        .save_budget(budget(
            "contractors-vpn",
            2,
            &["local:contractors"],
            &["vpn-1"],
        ))
        .await
        .unwrap();
    fx.gatehouse
        .save_budget(budget("wifi", 1, &[], &["wifi"]))
        .await
        .unwrap();
    assert_eq!(fx.login("c1").await, Ok(true));
    assert_eq!(fx.login("c2").await, Ok(true));
    let text = "User limit exceeded for contractors-vpn, please contact your system administrator";
    assert_eq!(fx.login("c3").await.unwrap_err().message(), text);
    let precheck = fx
        .gatehouse
        .precheck(
            &gatehouse_core::Identity::local(&gatehouse_core::Username::parse("c3").unwrap(), "c3"),
            "vpn-1",
        )
        .await;
    assert_eq!(
        precheck.unwrap_err().message(),
        text,
        "refused before any code is asked"
    );
    assert_eq!(
        fx.login("staff").await,
        Ok(true),
        "no budget: the month goes on"
    );
    assert_eq!(fx.login("c1").await, Ok(false), "counted users stay in");
    // Through another client, c3 is not the contractors' budget's.
    assert_eq!(
        fx.gatehouse
            .authenticate("w1", "w1-pw", "wifi")
            .await
            .map(|a| a.newly_counted),
        Ok(true)
    );
    assert_eq!(
        fx.gatehouse
            .authenticate("c3", "c3-pw", "wifi")
            .await
            .unwrap_err()
            .message(),
        "User limit exceeded for wifi, please contact your system administrator"
    );
    let budgets = fx.gatehouse.seat_budgets().await.unwrap();
    let used: Vec<(&str, u32)> = budgets
        .iter()
        .map(|(budget, used)| (budget.name.as_str(), *used))
        .collect();
    assert_eq!(used, [("contractors-vpn", 2), ("wifi", 1)]);
    fx.gatehouse.flush().await.unwrap();
    let refused: Vec<String> = fx
        .gatehouse
        .refused_users("2026-11".parse().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.username)
        .collect();
    assert_eq!(refused, ["c3"], "listed with the month's refused users");
    // A larger budget lets the refused user in at once.
    fx.gatehouse
        .save_budget(budget(
            "contractors-vpn",
            3,
            &["local:contractors"],
            &["vpn-1"],
        ))
        .await
        .unwrap();
    assert_eq!(fx.login("c3").await, Ok(true));
}

/// 64 threads log 1,000 users of one group in against a budget of 100
/// within a limit of 2,000: exactly 100 of them are admitted.
#[test]
fn sixty_four_threads_never_exceed_a_seat_budget() {
    const USERS: usize = 1000;
    const THREADS: usize = 64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let fx = runtime.block_on(async {
        let fx = fixture("sixty-four-threads-budget", "UTC", "2026-11-10T10:00:00Z").await;
        fx.install(2000, date(2027, 1, 31)).await;
        fx.gatehouse
            .save_budget(budget("load", 100, &[], &["load"]))
            .await
            .unwrap();
        for i in 0..USERS {
            fx.gatehouse
                .add_local_user(&format!("user{i:04}"), &format!("user{i:04}-pw"))
                .await
                .unwrap();
        }
        fx
    });
    let accepted = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let handle = runtime.handle().clone();
            let gatehouse = fx.gatehouse.clone();
            let accepted = accepted.clone();
            scope.spawn(move || {
                for i in (thread..USERS).step_by(THREADS) {
                    let name = format!("user{i:04}");
                    match handle.block_on(gatehouse.authenticate(
                        &name,
                        &format!("{name}-pw"),
                        "load",
                    )) {
                        Ok(_) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(refusal) => assert_eq!(
                            refusal.message(),
                            "User limit exceeded for load, please contact your system administrator"
                        ),
                    }
                }
            });
        }
    });
    assert_eq!(accepted.load(Ordering::Relaxed), 100);
    runtime.block_on(async {
        assert_eq!(fx.active().await, 100);
    });
}
