//! The contract of `gatehouse_core::Store`, as tests every backend must
//! pass. Each case takes a freshly created, empty store.
//!
//! A backend's test file invokes [`conformance_suite!`] with an async
//! expression that yields a new empty store; the macro expands to one
//! `#[tokio::test]` per case.

use std::collections::HashSet;
use std::sync::Arc;

use gatehouse_core::alarms::AlarmSettings;
use gatehouse_core::clients::RadiusClient;
use gatehouse_core::identity::{SeatKey, Source, Username};
use gatehouse_core::push::{
    Decision, EnrollmentRefusal, EnrollmentToken, PendingPush, PushMode, WebPushSubscription,
};
use gatehouse_core::store::{
    AdminRecord, AdminRemoval, AdmitOutcome, AdmitRequest, ClockMark, Delivery, DeviceRecord,
    EnrollmentRecord, Failure, GroupEdit, InstallationRecord, LicenseBinding, LicenseInstall,
    LinkEnrollment, LocalGroupName, LocalUserRecord, LockoutPolicy, LoginRecord, NewAlarm,
    PushLimited, PushLimits, PushUser, RefusalRecord, SeatCursor, SeatOrder, SeatQuery,
    SessionRecord, SortValue, Store, StoreError, StoreResult, TokenRecord, TotpRecord,
};
use gatehouse_core::totp::{TotpMode, TotpSecret};
use gatehouse_core::usage_chain;
use gatehouse_license::alarms::AlarmKind;
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::date;
use gatehouse_license::{Month, SigningKey};

pub fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub fn month(text: &str) -> Month {
    text.parse().unwrap()
}

const NOV: &str = "2026-11";
const DEC: &str = "2026-12";

fn installation(seed: u8) -> InstallationRecord {
    InstallationRecord {
        signing_key: SigningKey::from_bytes(&[seed; 32]),
        first_start: ts("2026-11-01T08:00:00Z"),
        demo_support_end: date(2026, 12, 1),
        time_zone: "Europe/Istanbul".into(),
    }
}

/// An installed store whose license allows `limit` users.
async fn with_limit(store: &dyn Store, limit: u32) {
    store
        .create_installation(&installation(1), 25)
        .await
        .unwrap();
    store
        .install_license(&LicenseInstall {
            key: &format!("key-with-limit-{limit}"),
            user_limit: limit,
            month: month(NOV),
            at: ts("2026-11-01T09:00:00Z"),
            clock: None,
        })
        .await
        .unwrap();
}

/// Admissions the way the service makes them: under the license the store
/// holds (its key, and the limit it was installed with, standing for the
/// verified key's).
#[async_trait::async_trait]
pub trait AdmitUnderStoredLicense {
    async fn admit_now(&self, requests: &[AdmitRequest]) -> StoreResult<Vec<AdmitOutcome>>;
}

#[async_trait::async_trait]
impl AdmitUnderStoredLicense for dyn Store {
    async fn admit_now(&self, requests: &[AdmitRequest]) -> StoreResult<Vec<AdmitOutcome>> {
        let license = self.license().await?.record;
        let binding = LicenseBinding {
            key_digest: LicenseBinding::digest(license.key.as_deref()),
            user_limit: license.user_limit,
            overage_seats: 0,
        };
        let requests: Vec<AdmitRequest> = requests
            .iter()
            .map(|request| AdmitRequest {
                license: binding,
                ..request.clone()
            })
            .collect();
        self.admit(&requests).await
    }
}

/// A request under no license yet ([`AdmitUnderStoredLicense`] sets it).
fn request(month_text: &str, name: &str, at: &str) -> AdmitRequest {
    AdmitRequest {
        license: LicenseBinding {
            key_digest: [0; 32],
            user_limit: 0,
            overage_seats: 0,
        },
        month: month(month_text),
        // The tests' license zone is UTC.
        day: ts(at)
            .to_zoned_datetime(gatehouse_license::jiff::tz::TimeZone::UTC)
            .day(),
        seat: SeatKey::local(&Username::parse(name).unwrap()),
        username: name.to_lowercase(),
        display_name: name.to_string(),
        source: Source::Local,
        client: "vpn-1".into(),
        at: ts(at),
        reserved: false,
        budget: None,
    }
}

fn users(prefix: &str, count: usize) -> Vec<AdmitRequest> {
    (0..count)
        .map(|i| request(NOV, &format!("{prefix}{i:04}"), "2026-11-10T10:00:00Z"))
        .collect()
}

fn counted(outcomes: &[AdmitOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, AdmitOutcome::Counted { .. }))
        .count()
}

async fn ledger_size(store: &dyn Store, month_text: &str) -> usize {
    store
        .seats(&SeatQuery::all(month(month_text)))
        .await
        .unwrap()
        .len()
}

pub async fn installation_is_created_once(store: Arc<dyn Store>) {
    assert!(store.installation().await.unwrap().is_none());
    let first = store
        .create_installation(&installation(1), 25)
        .await
        .unwrap();
    let second = store
        .create_installation(&installation(2), 25)
        .await
        .unwrap();
    assert_eq!(first.record.signing_key.to_bytes(), [1; 32]);
    assert!(first.authentic && second.authentic);
    assert_eq!(
        second.record.signing_key.to_bytes(),
        [1; 32],
        "a second first start must not replace the identity"
    );
    let stored = store.installation().await.unwrap().unwrap().record;
    assert_eq!(stored.signing_key.to_bytes(), [1; 32]);
    assert_eq!(stored.first_start, ts("2026-11-01T08:00:00Z"));
    assert_eq!(stored.demo_support_end, date(2026, 12, 1));
    assert_eq!(stored.time_zone, "Europe/Istanbul");
    let license = store.license().await.unwrap();
    assert!(license.authentic);
    let license = license.record;
    assert_eq!(
        (license.key, license.user_limit),
        (None, 25),
        "first start begins the demo"
    );
}

pub async fn installing_a_license_replaces_it_and_bumps_the_generation(store: Arc<dyn Store>) {
    store
        .create_installation(&installation(1), 25)
        .await
        .unwrap();
    let before = store.license_generation().await.unwrap();
    let generation = store
        .install_license(&LicenseInstall {
            key: "GHL1.first",
            user_limit: 100,
            month: month(NOV),
            at: ts("2026-11-02T00:00:00Z"),
            clock: None,
        })
        .await
        .unwrap();
    assert!(generation > before);
    assert_eq!(store.license_generation().await.unwrap(), generation);
    let license = store.license().await.unwrap();
    assert!(license.authentic);
    let license = license.record;
    assert_eq!(
        (
            license.key.as_deref(),
            license.user_limit,
            license.generation
        ),
        (Some("GHL1.first"), 100, generation)
    );
    let next = store
        .install_license(&LicenseInstall {
            key: "GHL1.second",
            user_limit: 50,
            month: month(NOV),
            at: ts("2026-11-03T00:00:00Z"),
            clock: None,
        })
        .await
        .unwrap();
    assert!(next > generation);
    assert_eq!(store.license().await.unwrap().record.user_limit, 50);
}

fn mark(at: &str, anchor: i64) -> ClockMark {
    ClockMark {
        high_water: ts(at),
        anchor,
    }
}

pub async fn the_clock_high_water_mark_only_rises(store: Arc<dyn Store>) {
    assert_eq!(store.recorded_time().await.unwrap(), None);
    let recorded = |at: &str| mark(at, 0);
    let stored = store
        .record_time(&recorded("2026-11-10T00:00:00Z"))
        .await
        .unwrap();
    assert!(stored.authentic);
    assert_eq!(stored.record, recorded("2026-11-10T00:00:00Z"));
    assert_eq!(
        store
            .record_time(&recorded("2026-11-01T00:00:00Z"))
            .await
            .unwrap()
            .record,
        recorded("2026-11-10T00:00:00Z")
    );
    let read = store.recorded_time().await.unwrap().unwrap();
    assert!(read.authentic);
    assert_eq!(read.record, recorded("2026-11-10T00:00:00Z"));
}

pub async fn a_fresh_key_re_anchors_the_clock_and_stale_anchors_cannot_raise_it(
    store: Arc<dyn Store>,
) {
    with_limit(store.as_ref(), 10).await;
    // The mark ran years ahead.
    store
        .record_time(&mark("2031-01-01T00:00:00Z", 0))
        .await
        .unwrap();
    let anchor = ts("2026-11-20T09:00:00Z").as_second();
    store
        .install_license(&LicenseInstall {
            key: "GHL1.fresh",
            user_limit: 10,
            month: month(NOV),
            at: ts("2026-11-20T10:00:00Z"),
            clock: Some(mark("2026-11-20T10:00:00Z", anchor)),
        })
        .await
        .unwrap();
    let read = store.recorded_time().await.unwrap().unwrap();
    assert!(read.authentic);
    assert_eq!(read.record, mark("2026-11-20T10:00:00Z", anchor));
    // A process that has not seen the new anchor cannot write its old,
    // far-ahead mark back; it is told the new one.
    let told = store
        .record_time(&mark("2031-01-01T00:00:01Z", 0))
        .await
        .unwrap();
    assert_eq!(told.record, mark("2026-11-20T10:00:00Z", anchor));
    // Within the new anchor it rises as usual.
    let raised = store
        .record_time(&mark("2026-11-20T10:00:05Z", anchor))
        .await
        .unwrap();
    assert_eq!(raised.record, mark("2026-11-20T10:00:05Z", anchor));
}

pub async fn admission_is_decided_under_the_verified_license_named_in_the_request(
    store: Arc<dyn Store>,
) {
    with_limit(store.as_ref(), 3).await;
    let in_force = LicenseBinding {
        key_digest: LicenseBinding::digest(Some("key-with-limit-3")),
        user_limit: 2,
        overage_seats: 0,
    };
    let under = |license: LicenseBinding, name: &str| AdmitRequest {
        license,
        ..request(NOV, name, "2026-11-10T10:00:00Z")
    };
    // The request's limit applies, whatever the row caches (3 here).
    let outcomes = store
        .admit(&[
            under(in_force, "a"),
            under(in_force, "b"),
            under(in_force, "c"),
        ])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            AdmitOutcome::Counted {
                active_users: 1,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::Counted {
                active_users: 2,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::LimitExceeded {
                active_users: 2,
                user_limit: 2
            },
        ]
    );
    // Under another key than the row holds (one installed meanwhile, or
    // a row changed): not decided, nothing counted.
    let stale = LicenseBinding {
        key_digest: LicenseBinding::digest(Some("key-with-limit-1000")),
        user_limit: 1000,
        overage_seats: 0,
    };
    let demo = LicenseBinding {
        key_digest: LicenseBinding::digest(None),
        user_limit: 1000,
        overage_seats: 0,
    };
    assert_eq!(
        store
            .admit(&[under(stale, "d"), under(demo, "e"), under(in_force, "a")])
            .await
            .unwrap(),
        vec![
            AdmitOutcome::LicenseChanged,
            AdmitOutcome::LicenseChanged,
            AdmitOutcome::AlreadyCounted { active_users: 2 },
        ]
    );
    assert_eq!(ledger_size(store.as_ref(), NOV).await, 2);
}

pub async fn admission_counts_until_the_limit_then_refuses(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 3).await;
    let outcomes = store.admit_now(&users("user", 5)).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            AdmitOutcome::Counted {
                active_users: 1,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::Counted {
                active_users: 2,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::Counted {
                active_users: 3,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::LimitExceeded {
                active_users: 3,
                user_limit: 3
            },
            AdmitOutcome::LimitExceeded {
                active_users: 3,
                user_limit: 3
            },
        ]
    );
    assert_eq!(store.active_users(month(NOV)).await.unwrap(), 3);
    assert_eq!(ledger_size(store.as_ref(), NOV).await, 3);
    // One at a time gives the same answer.
    let next = store
        .admit_now(&[request(NOV, "another", "2026-11-10T11:00:00Z")])
        .await
        .unwrap();
    assert_eq!(
        next,
        vec![AdmitOutcome::LimitExceeded {
            active_users: 3,
            user_limit: 3
        }]
    );
}

pub async fn a_user_is_counted_once_however_often_they_log_in(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 10).await;
    let batch = vec![
        request(NOV, "alice", "2026-11-10T10:00:00Z"),
        request(NOV, "alice", "2026-11-10T10:00:01Z"),
        request(NOV, "bob", "2026-11-10T10:00:02Z"),
    ];
    let outcomes = store.admit_now(&batch).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            AdmitOutcome::Counted {
                active_users: 1,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::AlreadyCounted { active_users: 1 },
            AdmitOutcome::Counted {
                active_users: 2,
                kind: gatehouse_license::SeatKind::Within
            },
        ]
    );
    let again = store
        .admit_now(&[request(NOV, "alice", "2026-11-11T10:00:00Z")])
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![AdmitOutcome::AlreadyCounted { active_users: 2 }]
    );
    assert_eq!(store.active_users(month(NOV)).await.unwrap(), 2);
    let status = store.seat_status(month(NOV), &batch[0].seat).await.unwrap();
    assert_eq!((status.active_users, status.counted), (2, true));
    let alice = &store.seats(&SeatQuery::all(month(NOV))).await.unwrap()[0];
    assert_eq!(alice.first_seen, ts("2026-11-10T10:00:00Z"));
    assert_eq!(
        alice.last_login,
        ts("2026-11-11T10:00:00Z"),
        "a repeated admission updates the last login"
    );
}

pub async fn counted_users_stay_in_when_the_limit_is_full(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 2).await;
    store.admit_now(&users("user", 2)).await.unwrap();
    let returning = store.admit_now(&users("user", 2)).await.unwrap();
    assert!(
        returning
            .iter()
            .all(|o| matches!(o, AdmitOutcome::AlreadyCounted { active_users: 2 })),
        "{returning:?}"
    );
}

pub async fn a_lower_limit_keeps_counted_users_and_refuses_new_ones(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 5).await;
    store.admit_now(&users("user", 5)).await.unwrap();
    store
        .install_license(&LicenseInstall {
            key: "GHL1.lower",
            user_limit: 3,
            month: month(NOV),
            at: ts("2026-11-11T00:00:00Z"),
            clock: None,
        })
        .await
        .unwrap();
    let returning = store.admit_now(&users("user", 5)).await.unwrap();
    assert!(
        returning
            .iter()
            .all(|o| matches!(o, AdmitOutcome::AlreadyCounted { .. }))
    );
    let new = store
        .admit_now(&[request(NOV, "newcomer", "2026-11-11T01:00:00Z")])
        .await
        .unwrap();
    assert_eq!(
        new,
        vec![AdmitOutcome::LimitExceeded {
            active_users: 5,
            user_limit: 3
        }]
    );
    assert_eq!(store.active_users(month(NOV)).await.unwrap(), 5);
}

pub async fn a_higher_limit_lets_refused_users_in_at_once(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 1).await;
    store.admit_now(&users("user", 1)).await.unwrap();
    let refused = store
        .admit_now(&[request(NOV, "waiting", "2026-11-10T11:00:00Z")])
        .await
        .unwrap();
    assert!(matches!(refused[0], AdmitOutcome::LimitExceeded { .. }));
    store
        .install_license(&LicenseInstall {
            key: "GHL1.higher",
            user_limit: 2,
            month: month(NOV),
            at: ts("2026-11-10T12:00:00Z"),
            clock: None,
        })
        .await
        .unwrap();
    let admitted = store
        .admit_now(&[request(NOV, "waiting", "2026-11-10T12:01:00Z")])
        .await
        .unwrap();
    assert_eq!(
        admitted,
        vec![AdmitOutcome::Counted {
            active_users: 2,
            kind: gatehouse_license::SeatKind::Within
        }]
    );
}

pub async fn each_month_starts_from_zero_and_keeps_its_history(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 2).await;
    store.admit_now(&users("user", 2)).await.unwrap();
    let december = vec![
        request(DEC, "user0000", "2026-12-01T00:00:00Z"),
        request(DEC, "someone-new", "2026-12-01T00:00:01Z"),
        request(DEC, "third", "2026-12-01T00:00:02Z"),
    ];
    let outcomes = store.admit_now(&december).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            AdmitOutcome::Counted {
                active_users: 1,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::Counted {
                active_users: 2,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::LimitExceeded {
                active_users: 2,
                user_limit: 2
            },
        ]
    );
    let history = store.month_usage().await.unwrap();
    let summary: Vec<(String, u32, u32, u64)> = history
        .iter()
        .map(|m| {
            (
                m.month.to_string(),
                m.active_users,
                m.user_limit,
                m.peak_tenths,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![(NOV.into(), 2, 2, 1000), (DEC.into(), 2, 2, 1000)]
    );
    assert_eq!(ledger_size(store.as_ref(), NOV).await, 2);
}

pub async fn a_batch_spanning_two_months_counts_each_in_its_own(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 5).await;
    let batch = vec![
        request(NOV, "alice", "2026-11-30T23:59:59Z"),
        request(DEC, "alice", "2026-12-01T00:00:00Z"),
    ];
    let outcomes = store.admit_now(&batch).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            AdmitOutcome::Counted {
                active_users: 1,
                kind: gatehouse_license::SeatKind::Within
            },
            AdmitOutcome::Counted {
                active_users: 1,
                kind: gatehouse_license::SeatKind::Within
            }
        ]
    );
}

pub async fn history_keeps_the_limit_in_force_and_the_peak(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 4).await;
    store.admit_now(&users("user", 3)).await.unwrap(); // 75.0%
    store
        .install_license(&LicenseInstall {
            key: "GHL1.more",
            user_limit: 10,
            month: month(NOV),
            at: ts("2026-11-12T00:00:00Z"),
            clock: None,
        })
        .await
        .unwrap();
    store
        .admit_now(&[request(NOV, "extra", "2026-11-12T01:00:00Z")])
        .await
        .unwrap(); // 40.0%
    let history = store.month_usage().await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (
            history[0].active_users,
            history[0].user_limit,
            history[0].peak_tenths
        ),
        (4, 10, 750)
    );
    // A lower limit raises the peak at once.
    store
        .install_license(&LicenseInstall {
            key: "GHL1.less",
            user_limit: 2,
            month: month(NOV),
            at: ts("2026-11-13T00:00:00Z"),
            clock: None,
        })
        .await
        .unwrap();
    let history = store.month_usage().await.unwrap();
    assert_eq!((history[0].user_limit, history[0].peak_tenths), (2, 2000));
}

pub async fn concurrent_admissions_never_exceed_the_limit(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 50).await;
    let mut tasks = Vec::new();
    for task in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = 0;
            for chunk in 0..5 {
                // Overlapping names across tasks: user i is asked for by two tasks.
                let batch: Vec<AdmitRequest> = (0..5)
                    .map(|i| {
                        let n = (task * 25 + chunk * 5 + i) % 200;
                        request(NOV, &format!("user{n:04}"), "2026-11-10T10:00:00Z")
                    })
                    .collect();
                mine += counted(&store.admit_now(&batch).await.unwrap());
            }
            mine
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    assert_eq!(total, 50, "exactly the limit is counted");
    assert_eq!(store.active_users(month(NOV)).await.unwrap(), 50);
    assert_eq!(ledger_size(store.as_ref(), NOV).await, 50);
}

pub async fn the_count_always_equals_the_ledger(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 7).await;
    for round in 0..4 {
        let batch: Vec<AdmitRequest> = (0..4)
            .map(|i| {
                request(
                    NOV,
                    &format!("u{}", (round * 3 + i) % 9),
                    "2026-11-10T10:00:00Z",
                )
            })
            .collect();
        store.admit_now(&batch).await.unwrap();
        let active = store.active_users(month(NOV)).await.unwrap() as usize;
        assert_eq!(
            active,
            ledger_size(store.as_ref(), NOV).await,
            "round {round}"
        );
    }
    assert_eq!(store.active_users(month(NOV)).await.unwrap(), 7);
}

pub async fn last_logins_are_recorded_and_never_count_anyone(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 1000).await;
    store
        .admit_now(&[request(NOV, "alice", "2026-11-10T10:00:00Z")])
        .await
        .unwrap();
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    let ghost = SeatKey::local(&Username::parse("ghost").unwrap());
    let login = |seat: &SeatKey, at: &str, client: &str| LoginRecord {
        month: month(NOV),
        seat: seat.clone(),
        at: ts(at),
        client: client.into(),
    };
    store
        .record_logins(&[
            login(&alice, "2026-11-12T10:00:00Z", "wifi"),
            login(&ghost, "2026-11-12T10:00:00Z", "wifi"),
        ])
        .await
        .unwrap();
    // An older record arriving late does not move the last login back.
    store
        .record_logins(&[login(&alice, "2026-11-11T10:00:00Z", "old-nas")])
        .await
        .unwrap();
    let seats = store.seats(&SeatQuery::all(month(NOV))).await.unwrap();
    assert_eq!(seats.len(), 1, "a login record never creates a seat");
    assert_eq!(
        (seats[0].last_login, seats[0].last_client.as_str()),
        (ts("2026-11-12T10:00:00Z"), "wifi")
    );
    assert_eq!(seats[0].first_seen, ts("2026-11-10T10:00:00Z"));
    assert_eq!(store.active_users(month(NOV)).await.unwrap(), 1);

    // Many at once (more than one statement's worth), each seat moved on
    // its own, never back; records of seats that are not there change
    // nothing.
    let many: Vec<String> = (0..900).map(|i| format!("many{i:03}")).collect();
    let requests: Vec<AdmitRequest> = many
        .iter()
        .map(|name| request(NOV, name, "2026-11-10T10:00:00Z"))
        .collect();
    store.admit_now(&requests).await.unwrap();
    let seat = |name: &str| SeatKey::local(&Username::parse(name).unwrap());
    let logins: Vec<LoginRecord> = many
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let at = format!("2026-11-{:02}T10:00:00Z", 11 + i % 10);
            login(&seat(name), &at, &format!("nas-{i}"))
        })
        .chain((0..100).map(|i| login(&seat(&format!("ghost{i}")), "2026-11-20T10:00:00Z", "x")))
        .chain([login(&alice, "2026-11-01T10:00:00Z", "older")])
        .collect();
    store.record_logins(&logins).await.unwrap();
    let seats = store.seats(&SeatQuery::all(month(NOV))).await.unwrap();
    assert_eq!(seats.len(), 901, "no seat made by a login record");
    for (i, name) in many.iter().enumerate() {
        let seat = seats.iter().find(|s| &s.username == name).unwrap();
        assert_eq!(
            (seat.last_login, seat.last_client.as_str()),
            (
                ts(&format!("2026-11-{:02}T10:00:00Z", 11 + i % 10)),
                format!("nas-{i}").as_str()
            ),
            "{name}"
        );
    }
    let alice_seat = seats.iter().find(|s| s.username == "alice").unwrap();
    assert_eq!(
        (alice_seat.last_login, alice_seat.last_client.as_str()),
        (ts("2026-11-12T10:00:00Z"), "wifi")
    );
}

pub async fn limit_refusals_are_listed_per_user(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 1).await;
    let seat = SeatKey::local(&Username::parse("late").unwrap());
    let refusal = |at: &str, client: &str, attempts: u32| RefusalRecord {
        month: month(NOV),
        seat: seat.clone(),
        username: "late".into(),
        at: ts(at),
        client: client.into(),
        attempts,
    };
    store
        .record_refusals(&[refusal("2026-11-10T10:00:00Z", "vpn-1", 2)])
        .await
        .unwrap();
    store
        .record_refusals(&[refusal("2026-11-11T10:00:00Z", "vpn-2", 1)])
        .await
        .unwrap();
    store
        .record_refusals(&[refusal("2026-11-09T10:00:00Z", "vpn-0", 1)])
        .await
        .unwrap();
    let refused = store.refused_users(month(NOV)).await.unwrap();
    assert_eq!(refused.len(), 1);
    let late = &refused[0];
    assert_eq!(late.username, "late");
    assert_eq!(late.attempts, 4);
    assert_eq!(late.first_refused, ts("2026-11-09T10:00:00Z"));
    assert_eq!(late.last_refused, ts("2026-11-11T10:00:00Z"));
    assert_eq!(late.last_client, "vpn-2");
    assert!(store.refused_users(month(DEC)).await.unwrap().is_empty());
}

pub async fn the_users_table_sorts_searches_and_pages(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 100).await;
    let mut batch = Vec::new();
    for (i, name) in ["carol", "alice", "Bob", "dave", "erin", "al_ex"]
        .iter()
        .enumerate()
    {
        let at =
            Timestamp::from_second(ts("2026-11-10T10:00:00Z").as_second() + 60 * (6 - i as i64))
                .unwrap();
        let mut r = request(NOV, name, &at.to_string());
        r.display_name = format!("{name} Example");
        batch.push(r);
    }
    store.admit_now(&batch).await.unwrap();
    let names = |rows: &[gatehouse_core::store::SeatRecord]| {
        rows.iter().map(|r| r.username.clone()).collect::<Vec<_>>()
    };

    let all = store.seats(&SeatQuery::all(month(NOV))).await.unwrap();
    assert_eq!(
        names(&all),
        ["al_ex", "alice", "bob", "carol", "dave", "erin"]
    );

    let by_first_seen = SeatQuery {
        order: SeatOrder::FirstSeen,
        ..SeatQuery::all(month(NOV))
    };
    assert_eq!(
        names(&store.seats(&by_first_seen).await.unwrap()),
        ["al_ex", "erin", "dave", "bob", "alice", "carol"]
    );

    let search = SeatQuery {
        search: Some("AL".into()),
        ..SeatQuery::all(month(NOV))
    };
    assert_eq!(
        names(&store.seats(&search).await.unwrap()),
        ["al_ex", "alice"]
    );
    // The search is a prefix of the username: wildcards are literal, the
    // middle of a name does not match.
    let underscore = SeatQuery {
        search: Some("al_".into()),
        ..SeatQuery::all(month(NOV))
    };
    assert_eq!(names(&store.seats(&underscore).await.unwrap()), ["al_ex"]);
    let middle = SeatQuery {
        search: Some("lic".into()),
        ..SeatQuery::all(month(NOV))
    };
    assert!(store.seats(&middle).await.unwrap().is_empty());
    let percent = SeatQuery {
        search: Some("%".into()),
        ..SeatQuery::all(month(NOV))
    };
    assert!(store.seats(&percent).await.unwrap().is_empty());
    // Searching and paging combine.
    let first = SeatQuery {
        search: Some("a".into()),
        limit: Some(1),
        ..SeatQuery::all(month(NOV))
    };
    let page = store.seats(&first).await.unwrap();
    assert_eq!(names(&page), ["al_ex"]);
    let next = SeatQuery {
        after: Some(SeatCursor {
            value: SortValue::Text(page[0].username.clone()),
            seat: page[0].seat.clone(),
        }),
        ..first
    };
    assert_eq!(names(&store.seats(&next).await.unwrap()), ["alice"]);

    // Keyset pages of two, both directions.
    for descending in [false, true] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .seats(&SeatQuery {
                    after: after.clone(),
                    limit: Some(2),
                    descending,
                    order: SeatOrder::LastLogin,
                    ..SeatQuery::all(month(NOV))
                })
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            let last = page.last().unwrap();
            after = Some(SeatCursor {
                value: SortValue::Time(last.last_login),
                seat: last.seat.clone(),
            });
            seen.extend(names(&page));
        }
        let mut expected = vec!["al_ex", "erin", "dave", "bob", "alice", "carol"];
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "descending: {descending}");
    }
    let text_cursor = SeatQuery {
        after: Some(SeatCursor {
            value: SortValue::Text("bob".into()),
            seat: SeatKey::local(&Username::parse("bob").unwrap()),
        }),
        ..SeatQuery::all(month(NOV))
    };
    assert_eq!(
        names(&store.seats(&text_cursor).await.unwrap()),
        ["carol", "dave", "erin"]
    );
}

pub async fn local_users_are_managed_and_deleting_one_keeps_the_seat(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 10).await;
    let name = Username::parse("Alice").unwrap();
    let record = LocalUserRecord {
        username: name.clone(),
        display_name: "Alice".into(),
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        enabled: true,
        second_factor_exempt: false,
        groups: Vec::new(),
        created_at: ts("2026-11-01T00:00:00Z"),
    };
    store.add_local_user(&record).await.unwrap();
    assert_eq!(
        store.add_local_user(&record).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(store.local_user(&name).await.unwrap(), Some(record.clone()));
    assert!(store.set_local_user_enabled(&name, false).await.unwrap());
    assert!(!store.local_user(&name).await.unwrap().unwrap().enabled);
    assert!(
        store
            .set_local_user_password(&name, "$argon2id$new")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .local_user(&name)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$new"
    );
    let missing = Username::parse("nobody").unwrap();
    assert!(!store.set_local_user_enabled(&missing, true).await.unwrap());
    assert!(!store.delete_local_user(&missing).await.unwrap());
    assert_eq!(store.local_users().await.unwrap().len(), 1);

    store
        .admit_now(&[request(NOV, "alice", "2026-11-10T10:00:00Z")])
        .await
        .unwrap();
    assert!(store.delete_local_user(&name).await.unwrap());
    assert_eq!(store.local_user(&name).await.unwrap(), None);
    assert_eq!(
        store.active_users(month(NOV)).await.unwrap(),
        1,
        "deleting an account does not free its seat"
    );
    assert_eq!(ledger_size(store.as_ref(), NOV).await, 1);
}

fn group(name: &str) -> LocalGroupName {
    LocalGroupName::parse(name).unwrap()
}

fn account(name: &str, groups: &[&str]) -> LocalUserRecord {
    LocalUserRecord {
        username: Username::parse(name).unwrap(),
        display_name: name.into(),
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        enabled: true,
        second_factor_exempt: false,
        groups: groups.iter().map(|name| group(name)).collect(),
        created_at: ts("2026-11-01T00:00:00Z"),
    }
}

async fn groups_of(store: &dyn Store, name: &str) -> Vec<String> {
    let user = store.local_user(&Username::parse(name).unwrap()).await;
    let user = user.unwrap().expect("the user exists");
    user.groups.iter().map(ToString::to_string).collect()
}

pub async fn local_groups_hold_members_and_deleting_one_takes_it_out_of_them(
    store: Arc<dyn Store>,
) {
    with_limit(store.as_ref(), 10).await;
    let at = ts("2026-11-02T00:00:00Z");
    for name in ["vpn-admins", "staff"] {
        store.add_local_group(&group(name), at).await.unwrap();
    }
    assert_eq!(
        store.add_local_group(&group("staff"), at).await,
        Err(StoreError::AlreadyExists)
    );
    let listed: Vec<String> = (store.local_groups().await.unwrap().iter())
        .map(|g| g.name.to_string())
        .collect();
    assert_eq!(listed, ["staff", "vpn-admins"]);

    // A user is made in groups that exist, or not at all.
    assert_eq!(
        store
            .add_local_user(&account("mallory", &["staff", "contractors"]))
            .await,
        Err(StoreError::Missing("local group \"contractors\"".into()))
    );
    assert_eq!(
        store
            .local_user(&Username::parse("mallory").unwrap())
            .await
            .unwrap(),
        None
    );
    store
        .add_local_user(&account("alice", &["vpn-admins", "staff"]))
        .await
        .unwrap();
    store.add_local_user(&account("bob", &[])).await.unwrap();
    assert_eq!(
        groups_of(store.as_ref(), "alice").await,
        ["staff", "vpn-admins"]
    );

    // Joining and leaving, each from what the row holds.
    let (alice, bob) = (
        Username::parse("alice").unwrap(),
        Username::parse("bob").unwrap(),
    );
    let before = store.local_directory_generation().await.unwrap();
    assert!(
        store
            .edit_local_user_groups(&bob, &GroupEdit::Join(group("staff")))
            .await
            .unwrap()
    );
    assert!(store.local_directory_generation().await.unwrap() > before);
    assert_eq!(
        store
            .edit_local_user_groups(&bob, &GroupEdit::Join(group("nope")))
            .await,
        Err(StoreError::Missing("local group \"nope\"".into()))
    );
    assert_eq!(groups_of(store.as_ref(), "bob").await, ["staff"]);
    assert!(
        store
            .edit_local_user_groups(&alice, &GroupEdit::Leave(group("staff")))
            .await
            .unwrap()
    );
    assert_eq!(groups_of(store.as_ref(), "alice").await, ["vpn-admins"]);
    assert!(
        !store
            .edit_local_user_groups(&Username::parse("nobody").unwrap(), &GroupEdit::Set(vec![]))
            .await
            .unwrap()
    );
    // Other changes keep the groups.
    assert!(store.set_local_user_enabled(&alice, false).await.unwrap());
    assert!(
        store
            .set_local_user_password(&alice, "$argon2id$new")
            .await
            .unwrap()
    );
    assert_eq!(groups_of(store.as_ref(), "alice").await, ["vpn-admins"]);

    // Deleting a group takes it out of its members, and only it.
    assert!(
        store
            .edit_local_user_groups(
                &bob,
                &GroupEdit::Set(vec![group("vpn-admins"), group("staff")])
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_local_group(&group("vpn-admins"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_local_group(&group("vpn-admins"))
            .await
            .unwrap()
    );
    assert_eq!(
        groups_of(store.as_ref(), "alice").await,
        Vec::<String>::new()
    );
    assert_eq!(groups_of(store.as_ref(), "bob").await, ["staff"]);
    let alice_now = store.local_user(&alice).await.unwrap().unwrap();
    assert!(!alice_now.enabled, "the rest of the row is as it was");
    assert_eq!(alice_now.password_hash, "$argon2id$new");
}

/// A record saved whole (the policies, the seat rules): read as
/// (generation, body, saved by, saved at, authentic), its generation, and
/// a save over the generation edited.
#[derive(Clone, Copy)]
pub enum Whole {
    Policies,
    SeatRules,
}

impl Whole {
    pub async fn read(self, store: &dyn Store) -> Option<(i64, String, String, Timestamp, bool)> {
        match self {
            Whole::Policies => store.policy_set().await.unwrap().map(|saved| {
                let r = saved.record;
                (
                    r.generation,
                    r.policies,
                    r.saved_by,
                    r.saved_at,
                    saved.authentic,
                )
            }),
            Whole::SeatRules => store.seat_rules().await.unwrap().map(|saved| {
                let r = saved.record;
                (
                    r.generation,
                    r.rules,
                    r.saved_by,
                    r.saved_at,
                    saved.authentic,
                )
            }),
        }
    }

    pub async fn generation(self, store: &dyn Store) -> i64 {
        match self {
            Whole::Policies => store.policy_generation().await.unwrap(),
            Whole::SeatRules => store.seat_rules_generation().await.unwrap(),
        }
    }

    pub async fn save(
        self,
        store: &dyn Store,
        edited: i64,
        body: &str,
        at: Timestamp,
        by: &str,
    ) -> StoreResult<bool> {
        match self {
            Whole::Policies => store.save_policy_set(edited, body, at, by).await,
            Whole::SeatRules => store.save_seat_rules(edited, body, at, by).await,
        }
    }
}

pub async fn records_saved_whole_refuse_a_stale_save(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 10).await;
    let at = ts("2026-11-02T00:00:00Z");
    for whole in [Whole::Policies, Whole::SeatRules] {
        assert_eq!(whole.read(store.as_ref()).await, None);
        assert_eq!(whole.generation(store.as_ref()).await, 0);
        assert!(
            whole
                .save(store.as_ref(), 0, "[1]", at, "root")
                .await
                .unwrap()
        );
        // A second first save (another node) is refused.
        assert!(
            !whole
                .save(store.as_ref(), 0, "[2]", at, "admin")
                .await
                .unwrap()
        );
        assert_eq!(
            whole.read(store.as_ref()).await,
            Some((1, "[1]".to_string(), "root".to_string(), at, true))
        );
        assert!(
            whole
                .save(store.as_ref(), 1, "[3]", at, "admin")
                .await
                .unwrap()
        );
        // An edit of generation 1 after that is stale.
        assert!(
            !whole
                .save(store.as_ref(), 1, "[4]", at, "root")
                .await
                .unwrap()
        );
        assert_eq!(whole.generation(store.as_ref()).await, 2);
        assert_eq!(whole.read(store.as_ref()).await.unwrap().1, "[3]");

        // Many saves at once from the same generation: exactly one wins.
        let tasks = (0..8).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                whole
                    .save(store.as_ref(), 2, &format!("[{i}]"), at, "race")
                    .await
            })
        });
        let won = joined(tasks)
            .await
            .into_iter()
            .filter(|saved| *saved == Ok(true))
            .count();
        assert_eq!(won, 1);
        assert_eq!(whole.generation(store.as_ref()).await, 3);
    }
}

/// SPEC §16: each month's admissions form a hash chain the store keeps
/// as it counts: the links of the seats in the order counted lead to the
/// stored head, pseudonyms name nobody and differ between users and
/// between months.
pub async fn every_admission_extends_the_month_usage_chain(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 10).await;
    let nov = month(NOV);
    assert_eq!(
        store.usage_chain(nov).await.unwrap(),
        None,
        "no month row yet"
    );
    store.admit_now(&users("a", 3)).await.unwrap();
    let first = store.usage_chain(nov).await.unwrap().unwrap();
    assert_eq!(first.links.len(), 3);
    assert_eq!(first.head, usage_chain::head(NOV, &first.links));
    // Returning users and refused ones add nothing; new ones extend it.
    let mut batch = users("a", 3);
    batch.extend(users("b", 9));
    store.admit_now(&batch).await.unwrap();
    let second = store.usage_chain(nov).await.unwrap().unwrap();
    assert_eq!(second.links.len(), 10, "up to the limit");
    assert_eq!(second.links[..3], first.links[..]);
    assert_eq!(second.head, usage_chain::head(NOV, &second.links));
    assert_eq!(usage_chain::heads(NOV, &second.links)[2], first.head);
    let pseudonyms: std::collections::HashSet<_> =
        second.links.iter().map(|link| link.pseudonym).collect();
    assert_eq!(pseudonyms.len(), 10);
    let history = store.month_usage().await.unwrap();
    assert_eq!(history[0].chain_head, Some(second.head));
    // The same user in another month has another pseudonym.
    store
        .admit_now(&[request("2026-12", "a0000", "2026-12-01T10:00:00Z")])
        .await
        .unwrap();
    let december = store.usage_chain(month("2026-12")).await.unwrap().unwrap();
    assert_ne!(december.links[0].pseudonym, second.links[0].pseudonym);
    assert_eq!(
        december.links[0].at_micros,
        ts("2026-12-01T10:00:00Z").as_microsecond()
    );
}

/// SPEC §16: a seat budget holds exactly its size, across concurrent
/// batches, while users of another budget and of none go on; its users
/// are counted per budget.
pub async fn seat_budgets_hold_exactly_their_size(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 1000).await;
    let claim = |name: &str| {
        Some(gatehouse_core::store::BudgetClaim {
            name: name.to_string(),
            size: 25,
        })
    };
    let tasks = (0..16).map(|task| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut counted_here = 0;
            for chunk in 0..5 {
                let batch: Vec<AdmitRequest> = (0..4)
                    .map(|i| {
                        let n = (task * 20 + chunk * 4 + i) % 300;
                        AdmitRequest {
                            budget: claim(if n % 3 == 0 { "wifi" } else { "contractors" }),
                            ..request(NOV, &format!("user{n:04}"), "2026-11-10T10:00:00Z")
                        }
                    })
                    .collect();
                counted_here += counted(&store.admit_now(&batch).await.unwrap());
            }
            counted_here
        })
    });
    let total: usize = joined(tasks).await.into_iter().sum();
    assert_eq!(total, 50, "each budget holds exactly its 25");
    assert_eq!(
        store.budget_usage(month(NOV)).await.unwrap(),
        [("contractors".to_string(), 25), ("wifi".to_string(), 25)]
    );
    assert_eq!(store.budget_used(month(NOV), "wifi").await.unwrap(), 25);
    // A full budget refuses its new users; others and the budgetless go on.
    let outcomes = store
        .admit_now(&[
            AdmitRequest {
                budget: claim("contractors"),
                ..request(NOV, "late", "2026-11-10T10:00:00Z")
            },
            AdmitRequest {
                budget: claim("sales"),
                ..request(NOV, "seller", "2026-11-10T10:00:00Z")
            },
            request(NOV, "anyone", "2026-11-10T10:00:00Z"),
        ])
        .await
        .unwrap();
    assert_eq!(
        outcomes[0],
        AdmitOutcome::BudgetExceeded { active_users: 50 }
    );
    assert_eq!(counted(&outcomes[1..]), 2);
    let seller = store
        .seats(&SeatQuery {
            search: Some("seller".into()),
            ..SeatQuery::all(month(NOV))
        })
        .await
        .unwrap();
    assert_eq!(seller[0].budget.as_deref(), Some("sales"));
}

/// Break-glass requests take a seat past the limit and its allowance, and
/// are marked so; others are refused in the same batch.
pub async fn break_glass_requests_are_admitted_past_the_cap(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 2).await;
    let mut batch = users("u", 3);
    batch[2].reserved = true;
    batch.push(AdmitRequest {
        reserved: true,
        ..request(NOV, "oncall", "2026-11-10T10:00:00Z")
    });
    let outcomes = store.admit_now(&batch).await.unwrap();
    assert_eq!(
        outcomes[2..],
        [
            AdmitOutcome::Counted {
                active_users: 3,
                kind: gatehouse_license::SeatKind::Reserved
            },
            AdmitOutcome::Counted {
                active_users: 4,
                kind: gatehouse_license::SeatKind::Reserved
            },
        ]
    );
    let refused = store.admit_now(&users("late", 1)).await.unwrap();
    assert!(matches!(refused[0], AdmitOutcome::LimitExceeded { .. }));
    let kinds: Vec<(String, gatehouse_license::SeatKind)> = store
        .seats(&SeatQuery::all(month(NOV)))
        .await
        .unwrap()
        .into_iter()
        .map(|seat| (seat.username, seat.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("oncall".to_string(), gatehouse_license::SeatKind::Reserved),
            ("u0000".to_string(), gatehouse_license::SeatKind::Within),
            ("u0001".to_string(), gatehouse_license::SeatKind::Within),
            ("u0002".to_string(), gatehouse_license::SeatKind::Reserved),
        ]
    );
}

/// Two nodes putting one user in two groups at once: both hold.
pub async fn concurrent_group_edits_both_hold(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 10).await;
    let at = ts("2026-11-02T00:00:00Z");
    let names: Vec<String> = (0..8).map(|i| format!("g{i}")).collect();
    for name in &names {
        store.add_local_group(&group(name), at).await.unwrap();
    }
    store.add_local_user(&account("alice", &[])).await.unwrap();
    let tasks = names.iter().map(|name| {
        let (store, edit) = (store.clone(), GroupEdit::Join(group(name)));
        tokio::spawn(async move {
            let alice = Username::parse("alice").unwrap();
            store.edit_local_user_groups(&alice, &edit).await
        })
    });
    for joined in joined(tasks).await {
        assert_eq!(joined, Ok(true));
    }
    assert_eq!(groups_of(store.as_ref(), "alice").await, names);
}

pub async fn large_batches_are_admitted_whole(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 1000).await;
    let batch = users("bulk", 700);
    let outcomes = store.admit_now(&batch).await.unwrap();
    assert_eq!(counted(&outcomes), 700);
    let again = store.admit_now(&users("bulk", 750)).await.unwrap();
    assert_eq!(counted(&again), 50);
    let distinct: HashSet<String> = store
        .seats(&SeatQuery::all(month(NOV)))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.username)
        .collect();
    assert_eq!(distinct.len(), 750);
}

pub async fn totp_codes_are_accepted_once_and_never_after_a_later_one(store: Arc<dyn Store>) {
    let seat = SeatKey::local(&Username::parse("alice").unwrap());
    assert_eq!(store.totp(&seat).await.unwrap(), None);
    assert!(
        !store.use_totp_step(&seat, 1).await.unwrap(),
        "no enrollment, no code"
    );
    let record = TotpRecord {
        seat: seat.clone(),
        secret: TotpSecret::from_bytes(vec![7; 20]),
        mode: Some(TotpMode::Append),
        enrolled_at: ts("2026-11-01T00:00:00Z"),
    };
    store.enroll_totp(&record).await.unwrap();
    assert_eq!(store.totp(&seat).await.unwrap(), Some(record.clone()));
    assert!(store.use_totp_step(&seat, 100).await.unwrap());
    assert!(
        !store.use_totp_step(&seat, 100).await.unwrap(),
        "a replayed code"
    );
    assert!(
        !store.use_totp_step(&seat, 99).await.unwrap(),
        "an older code after a newer one"
    );
    assert!(store.use_totp_step(&seat, 101).await.unwrap());
    // Re-enrolling replaces the secret and forgets used steps.
    let renewed = TotpRecord {
        secret: TotpSecret::from_bytes(vec![8; 20]),
        mode: None,
        ..record.clone()
    };
    store.enroll_totp(&renewed).await.unwrap();
    assert_eq!(store.totp(&seat).await.unwrap(), Some(renewed));
    assert!(store.use_totp_step(&seat, 50).await.unwrap());
    assert!(store.remove_totp(&seat).await.unwrap());
    assert!(!store.remove_totp(&seat).await.unwrap());
    assert_eq!(store.totp(&seat).await.unwrap(), None);
}

pub async fn concurrent_uses_of_one_code_succeed_once(store: Arc<dyn Store>) {
    let seat = SeatKey::local(&Username::parse("bob").unwrap());
    store
        .enroll_totp(&TotpRecord {
            seat: seat.clone(),
            secret: TotpSecret::from_bytes(vec![1; 20]),
            mode: None,
            enrolled_at: ts("2026-11-01T00:00:00Z"),
        })
        .await
        .unwrap();
    let attempts: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let seat = seat.clone();
            tokio::spawn(async move { store.use_totp_step(&seat, 42).await.unwrap() })
        })
        .collect();
    let mut accepted = 0;
    for attempt in attempts {
        accepted += usize::from(attempt.await.unwrap());
    }
    assert_eq!(accepted, 1);
}

pub async fn deleting_a_local_user_removes_their_second_factor(store: Arc<dyn Store>) {
    let name = Username::parse("carol").unwrap();
    store
        .add_local_user(&LocalUserRecord {
            username: name.clone(),
            display_name: "Carol".into(),
            password_hash: "$argon2id$x".into(),
            enabled: true,
            second_factor_exempt: false,
            groups: Vec::new(),
            created_at: ts("2026-11-01T00:00:00Z"),
        })
        .await
        .unwrap();
    let seat = SeatKey::local(&name);
    store
        .enroll_totp(&TotpRecord {
            seat: seat.clone(),
            secret: TotpSecret::from_bytes(vec![1; 20]),
            mode: None,
            enrolled_at: ts("2026-11-01T00:00:00Z"),
        })
        .await
        .unwrap();
    assert!(store.delete_local_user(&name).await.unwrap());
    assert_eq!(store.totp(&seat).await.unwrap(), None);
}

pub async fn radius_clients_are_managed(store: Arc<dyn Store>) {
    let client = RadiusClient {
        name: "vpn-1".into(),
        networks: vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        secret: b"a shared secret".to_vec(),
        require_message_authenticator: true,
        limit_proxy_state: false,
    };
    store.add_radius_client(&client).await.unwrap();
    assert_eq!(
        store.add_radius_client(&client).await,
        Err(StoreError::AlreadyExists)
    );
    let wifi = RadiusClient {
        name: "wifi".into(),
        require_message_authenticator: false,
        ..client.clone()
    };
    store.add_radius_client(&wifi).await.unwrap();
    assert_eq!(
        store.radius_clients().await.unwrap(),
        vec![client.clone(), wifi]
    );
    assert!(store.delete_radius_client("wifi").await.unwrap());
    assert!(!store.delete_radius_client("wifi").await.unwrap());
    assert_eq!(store.radius_clients().await.unwrap(), vec![client]);
}

pub async fn every_directory_change_moves_the_generation(store: Arc<dyn Store>) {
    let name = Username::parse("dana").unwrap();
    let seat = SeatKey::local(&name);
    let record = LocalUserRecord {
        username: name.clone(),
        display_name: "Dana".into(),
        password_hash: "$argon2id$x".into(),
        enabled: true,
        second_factor_exempt: false,
        groups: Vec::new(),
        created_at: ts("2026-11-01T00:00:00Z"),
    };
    let totp = TotpRecord {
        seat: seat.clone(),
        secret: TotpSecret::from_bytes(vec![1; 20]),
        mode: None,
        enrolled_at: ts("2026-11-01T00:00:00Z"),
    };
    let mut last = store.local_directory_generation().await.unwrap();
    let mut expect_change = |now: i64, what: &str| {
        assert_ne!(now, last, "{what} must change the generation");
        last = now;
    };
    store.add_local_user(&record).await.unwrap();
    expect_change(
        store.local_directory_generation().await.unwrap(),
        "adding a user",
    );
    store.set_local_user_enabled(&name, false).await.unwrap();
    expect_change(
        store.local_directory_generation().await.unwrap(),
        "disabling",
    );
    store
        .set_local_user_password(&name, "$argon2id$y")
        .await
        .unwrap();
    expect_change(
        store.local_directory_generation().await.unwrap(),
        "a new password",
    );
    store.enroll_totp(&totp).await.unwrap();
    expect_change(
        store.local_directory_generation().await.unwrap(),
        "enrolling TOTP",
    );
    store
        .enroll_totp(&TotpRecord {
            secret: TotpSecret::from_bytes(vec![2; 20]),
            ..totp.clone()
        })
        .await
        .unwrap();
    expect_change(
        store.local_directory_generation().await.unwrap(),
        "re-enrolling TOTP",
    );
    let before_code = store.local_directory_generation().await.unwrap();
    store.use_totp_step(&seat, 5).await.unwrap();
    assert_eq!(
        store.local_directory_generation().await.unwrap(),
        before_code,
        "using a code is not a directory change"
    );
    store.remove_totp(&seat).await.unwrap();
    expect_change(
        store.local_directory_generation().await.unwrap(),
        "removing TOTP",
    );
    store.delete_local_user(&name).await.unwrap();
    expect_change(
        store.local_directory_generation().await.unwrap(),
        "deleting the user",
    );
}

pub async fn new_users_are_counted_per_day(store: Arc<dyn Store>) {
    with_limit(store.as_ref(), 10).await;
    store
        .admit_now(&[
            request(NOV, "a", "2026-11-03T10:00:00Z"),
            request(NOV, "b", "2026-11-03T23:00:00Z"),
            request(NOV, "c", "2026-11-05T01:00:00Z"),
            request(NOV, "a", "2026-11-05T02:00:00Z"),
        ])
        .await
        .unwrap();
    store
        .admit_now(&[request(NOV, "d", "2026-11-05T03:00:00Z")])
        .await
        .unwrap();
    let daily: Vec<(i8, u32)> = store
        .daily_new_users(month(NOV))
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.day, d.users))
        .collect();
    assert_eq!(daily, [(3, 2), (5, 2)], "a returning user is not new");
    assert!(store.daily_new_users(month(DEC)).await.unwrap().is_empty());
}

pub async fn administrators_sessions_and_tokens(store: Arc<dyn Store>) {
    let root = Username::parse("root").unwrap();
    assert_eq!(store.admin_count().await.unwrap(), 0);
    let admin = AdminRecord {
        name: root.clone(),
        password_hash: "$argon2id$x".into(),
        created_at: ts("2026-11-01T00:00:00Z"),
        must_change_password: true,
    };
    store.add_admin(&admin).await.unwrap();
    assert_eq!(
        store.add_admin(&admin).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(store.admin(&root).await.unwrap(), Some(admin));
    assert_eq!(store.admin_count().await.unwrap(), 1);
    assert_eq!(
        store
            .admin(&Username::parse("nobody").unwrap())
            .await
            .unwrap(),
        None
    );

    let token = TokenRecord {
        token_hash: [1; 32],
        admin: root.clone(),
        created_at: ts("2026-11-01T00:00:00Z"),
        expires_at: None,
        label: String::new(),
    };
    store.add_admin_token(&token).await.unwrap();
    assert_eq!(store.admin_token(&[1; 32]).await.unwrap(), Some(token));
    assert_eq!(store.admin_token(&[2; 32]).await.unwrap(), None);

    let session = SessionRecord {
        token_hash: [3; 32],
        admin: root.clone(),
        csrf: "csrf-token".into(),
        created_at: ts("2026-11-01T00:00:00Z"),
        expires_at: ts("2026-11-01T12:00:00Z"),
    };
    store.add_session(&session).await.unwrap();
    let later = SessionRecord {
        token_hash: [4; 32],
        expires_at: ts("2026-11-02T12:00:00Z"),
        ..session.clone()
    };
    store.add_session(&later).await.unwrap();
    assert_eq!(store.session(&[3; 32]).await.unwrap(), Some(session));
    assert_eq!(
        store
            .delete_expired_sessions(ts("2026-11-01T12:00:00Z"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.session(&[3; 32]).await.unwrap(), None);
    assert_eq!(store.session(&[4; 32]).await.unwrap(), Some(later));
    store.delete_session(&[4; 32]).await.unwrap();
    assert_eq!(store.session(&[4; 32]).await.unwrap(), None);
}

fn admin_named(name: &str) -> AdminRecord {
    AdminRecord {
        name: Username::parse(name).unwrap(),
        password_hash: format!("$argon2id${name}"),
        created_at: ts("2026-11-01T00:00:00Z"),
        must_change_password: false,
    }
}

fn session_of(admin: &str, hash: u8) -> SessionRecord {
    SessionRecord {
        token_hash: [hash; 32],
        admin: Username::parse(admin).unwrap(),
        csrf: "csrf".into(),
        created_at: ts("2026-11-01T00:00:00Z"),
        expires_at: ts("2026-11-02T00:00:00Z"),
    }
}

/// Administrators over their lifetime: listed, a password replaced (the
/// mark cleared, every session but the kept one ended), tokens with an
/// expiry and a label listed and revoked, sessions ended, an
/// administrator deleted with what is theirs, never the last one.
pub async fn administrators_live_and_are_deleted(store: Arc<dyn Store>) {
    let (root, ops) = (admin_named("root"), admin_named("ops"));
    store
        .add_admin(&AdminRecord {
            must_change_password: true,
            ..root.clone()
        })
        .await
        .unwrap();
    store.add_admin(&ops).await.unwrap();
    let names: Vec<String> = (store.admins().await.unwrap().iter())
        .map(|a| a.name.to_string())
        .collect();
    assert_eq!(names, ["ops", "root"]);
    for hash in [1, 2, 3] {
        store.add_session(&session_of("root", hash)).await.unwrap();
    }
    store.add_session(&session_of("ops", 9)).await.unwrap();
    let at = ts("2026-11-01T12:00:00Z");
    assert_eq!(store.admin_session_count(&root.name, at).await.unwrap(), 3);
    assert_eq!(
        store
            .admin_session_count(&root.name, ts("2026-11-02T00:00:00Z"))
            .await
            .unwrap(),
        0,
        "expired sessions are not counted"
    );

    assert!(
        store
            .set_admin_password(&root.name, "$argon2id$new", false, Some(&[2; 32]))
            .await
            .unwrap()
    );
    let changed = store.admin(&root.name).await.unwrap().unwrap();
    assert_eq!(changed.password_hash, "$argon2id$new");
    assert!(!changed.must_change_password);
    assert!(store.session(&[1; 32]).await.unwrap().is_none());
    assert!(
        store.session(&[2; 32]).await.unwrap().is_some(),
        "the kept session"
    );
    assert!(store.session(&[3; 32]).await.unwrap().is_none());
    assert!(
        store.session(&[9; 32]).await.unwrap().is_some(),
        "another administrator's"
    );
    assert!(
        !store
            .set_admin_password(
                &Username::parse("nobody").unwrap(),
                "$argon2id$x",
                false,
                None
            )
            .await
            .unwrap()
    );

    let token = |hash: u8, expires_at: Option<&str>, label: &str| TokenRecord {
        token_hash: [hash; 32],
        admin: root.name.clone(),
        created_at: ts("2026-11-01T00:00:00Z"),
        expires_at: expires_at.map(ts),
        label: label.into(),
    };
    let (ci, old) = (
        token(5, Some("2026-12-01T00:00:00Z"), "ci pipeline"),
        token(6, None, ""),
    );
    store.add_admin_token(&ci).await.unwrap();
    store.add_admin_token(&old).await.unwrap();
    assert_eq!(store.admin_token(&[5; 32]).await.unwrap(), Some(ci.clone()));
    assert_eq!(
        store.admin_tokens(&root.name).await.unwrap(),
        [ci.clone(), old.clone()]
    );
    assert!(store.admin_tokens(&ops.name).await.unwrap().is_empty());
    assert!(
        !store.delete_admin_token(&ops.name, &[5; 32]).await.unwrap(),
        "another administrator's token is not revoked by naming it"
    );
    assert!(
        store
            .delete_admin_token(&root.name, &[5; 32])
            .await
            .unwrap()
    );
    assert_eq!(store.admin_token(&[5; 32]).await.unwrap(), None);
    assert!(
        !store
            .delete_admin_token(&root.name, &[5; 32])
            .await
            .unwrap()
    );

    assert_eq!(store.delete_admin_sessions(&ops.name).await.unwrap(), 1);
    assert!(store.session(&[9; 32]).await.unwrap().is_none());

    assert_eq!(
        store
            .delete_admin(&Username::parse("nobody").unwrap())
            .await
            .unwrap(),
        AdminRemoval::Missing
    );
    assert_eq!(
        store.delete_admin(&root.name).await.unwrap(),
        AdminRemoval::Deleted
    );
    assert_eq!(store.admin(&root.name).await.unwrap(), None);
    assert_eq!(
        store.admin_token(&[6; 32]).await.unwrap(),
        None,
        "its tokens go with it"
    );
    assert!(
        store.session(&[2; 32]).await.unwrap().is_none(),
        "and its sessions"
    );
    assert_eq!(
        store.delete_admin(&ops.name).await.unwrap(),
        AdminRemoval::LastOne
    );
    assert!(store.admin(&ops.name).await.unwrap().is_some());
}

/// Two administrators deleting each other at the same moment, many times
/// over (on PostgreSQL from separate connections, as two nodes would):
/// one of them always remains.
pub async fn the_last_administrator_survives_concurrent_deletions(store: Arc<dyn Store>) {
    let mut survivor = admin_named("first");
    store.add_admin(&survivor).await.unwrap();
    for round in 0..20 {
        let other = admin_named(&format!("n{round}"));
        store.add_admin(&other).await.unwrap();
        let (first, second) = (store.clone(), store.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { first.delete_admin(&survivor.name).await }),
            tokio::spawn(async move { second.delete_admin(&other.name).await }),
        );
        let outcomes = [x.unwrap().unwrap(), y.unwrap().unwrap()];
        let mut left = store.admins().await.unwrap();
        assert_eq!(left.len(), 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes.contains(&AdminRemoval::Deleted) && outcomes.contains(&AdminRemoval::LastOne),
            "round {round}: {outcomes:?}"
        );
        survivor = left.remove(0);
    }
}

pub async fn alarm_settings_are_kept(store: Arc<dyn Store>) {
    assert_eq!(store.alarm_settings().await.unwrap(), None);
    let settings = AlarmSettings::new(
        vec![45, 10],
        vec![80, 99],
        vec!["ops@example.com".into(), "noc@example.org".into()],
    )
    .unwrap();
    store.set_alarm_settings(&settings).await.unwrap();
    assert_eq!(store.alarm_settings().await.unwrap(), Some(settings));
    let none = AlarmSettings::new(vec![], vec![], vec![]).unwrap();
    store.set_alarm_settings(&none).await.unwrap();
    assert_eq!(store.alarm_settings().await.unwrap(), Some(none));
}

fn alarm(key: &str, recipients: &[&str], at: &str) -> NewAlarm {
    NewAlarm {
        key: key.into(),
        kind: AlarmKind::UserLimit,
        subject: format!("subject of {key}"),
        body: format!("body of {key}"),
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        created_at: ts(at),
        superseded: false,
    }
}

pub async fn an_alarm_fires_once_and_is_queued_with_it(store: Arc<dyn Store>) {
    let t0 = "2026-11-10T08:00:00Z";
    let first = [
        alarm(
            "percent:75:2026-11:200",
            &["ops@example.com", "noc@example.org"],
            t0,
        ),
        alarm("percent:85:2026-11:200", &["ops@example.com"], t0),
    ];
    assert_eq!(store.fire_alarms(&first).await.unwrap(), [true, true]);
    // Again, and with a new one in the same batch: only the new one fires.
    let again = [
        alarm("percent:85:2026-11:200", &["ops@example.com"], t0),
        alarm("days:30:2027-01-31", &[], t0),
    ];
    assert_eq!(store.fire_alarms(&again).await.unwrap(), [false, true]);
    let keys = store.fired_alarm_keys().await.unwrap();
    assert_eq!(
        keys,
        HashSet::from([
            "percent:75:2026-11:200".to_string(),
            "percent:85:2026-11:200".to_string(),
            "days:30:2027-01-31".to_string(),
        ])
    );
    let history = store.alarm_history(10).await.unwrap();
    assert_eq!(history.len(), 3, "one row per alarm");
    assert_eq!(history[0].key, "days:30:2027-01-31", "newest first");
    assert_eq!(history[0].delivery, Delivery::NoRecipients);
    let oldest = &history[2];
    assert_eq!(oldest.delivery, Delivery::Queued);
    assert_eq!(oldest.recipients, ["ops@example.com", "noc@example.org"]);
    assert_eq!(oldest.subject, "subject of percent:75:2026-11:200");
    assert_eq!(oldest.body, "body of percent:75:2026-11:200");
    assert_eq!(oldest.kind, AlarmKind::UserLimit);
    assert_eq!(oldest.attempts, 0);
    assert_eq!(oldest.created_at, ts(t0));
    assert_eq!(store.alarm_history(1).await.unwrap().len(), 1);
}

pub async fn queued_alarms_are_claimed_retried_and_sent(store: Arc<dyn Store>) {
    let t0 = ts("2026-11-10T08:00:00Z");
    store
        .fire_alarms(&[
            alarm("a", &["ops@example.com"], "2026-11-10T08:00:00Z"),
            alarm("b", &["ops@example.com"], "2026-11-10T08:00:00Z"),
            alarm("nobody", &[], "2026-11-10T08:00:00Z"),
            NewAlarm {
                superseded: true,
                ..alarm("older", &["ops@example.com"], "2026-11-10T08:00:00Z")
            },
        ])
        .await
        .unwrap();
    let lease = ts("2026-11-10T08:02:00Z");
    let claimed = store.claim_alarms(t0, lease, 10).await.unwrap();
    let keys: Vec<&str> = claimed.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(
        keys,
        ["a", "b"],
        "queued ones, oldest first; never one without recipients or superseded"
    );
    assert_eq!(
        row_of(&*store, "older").await.delivery,
        Delivery::Superseded
    );
    assert!(
        claimed
            .iter()
            .all(|a| a.attempts == 1 && a.next_attempt_at == lease)
    );
    // Leased: a second sender gets nothing until the lease ends.
    assert!(store.claim_alarms(t0, lease, 10).await.unwrap().is_empty());
    let (a, b) = (&claimed[0], &claimed[1]);
    store
        .alarm_sent(a.id, ts("2026-11-10T08:00:01Z"))
        .await
        .unwrap();
    let retry = ts("2026-11-10T08:00:10Z");
    store
        .alarm_failed(b.id, "connection refused", retry)
        .await
        .unwrap();
    assert!(
        store
            .claim_alarms(ts("2026-11-10T08:00:09Z"), lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "not before its retry time"
    );
    let history = store.alarm_history(10).await.unwrap();
    let row = |key: &str| history.iter().find(|h| h.key == key).unwrap().clone();
    assert_eq!(row("a").delivery, Delivery::Sent);
    assert_eq!(row("a").sent_at, Some(ts("2026-11-10T08:00:01Z")));
    assert_eq!(row("b").delivery, Delivery::Queued);
    assert_eq!(row("b").last_error.as_deref(), Some("connection refused"));
    // Retried: claimed with its second attempt, then sent.
    let again = store.claim_alarms(retry, lease, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].key.as_str(), again[0].attempts), ("b", 2));
    store.alarm_sent(b.id, retry).await.unwrap();
    // A late failure report for a sent alarm changes nothing.
    store.alarm_failed(b.id, "late", retry).await.unwrap();
    assert_eq!(row_of(&*store, "b").await.delivery, Delivery::Sent);
    assert!(
        store
            .claim_alarms(ts("2027-01-01T00:00:00Z"), ts("2027-01-01T00:02:00Z"), 10)
            .await
            .unwrap()
            .is_empty(),
        "sent alarms are never claimed again"
    );
    // Claims respect their limit.
    let many: Vec<NewAlarm> = (0..5)
        .map(|i| {
            alarm(
                &format!("many-{i}"),
                &["ops@example.com"],
                "2026-11-11T00:00:00Z",
            )
        })
        .collect();
    store.fire_alarms(&many).await.unwrap();
    let now = ts("2026-11-11T00:00:00Z");
    assert_eq!(store.claim_alarms(now, lease, 3).await.unwrap().len(), 3);
}

async fn row_of(store: &dyn Store, key: &str) -> gatehouse_core::store::AlarmRecord {
    store
        .alarm_history(100)
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.key == key)
        .unwrap()
}

pub async fn concurrent_firing_queues_an_alarm_once(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .fire_alarms(&[alarm(
                    "percent:90:2026-11:200",
                    &["ops@example.com"],
                    "2026-11-10T08:00:00Z",
                )])
                .await
                .unwrap()[0]
        }));
    }
    let mut fired = 0;
    for task in tasks {
        fired += usize::from(task.await.unwrap());
    }
    assert_eq!(fired, 1, "exactly one caller fires it");
    assert_eq!(store.alarm_history(10).await.unwrap().len(), 1);
}

/// Expands to one test per conformance case. `$make` is an async function
/// taking the case's name and returning a fresh, empty `Arc<dyn Store>`.
fn push_record(id: &str, user: &str, created: &str, expires: &str) -> PendingPush {
    PendingPush {
        id: id.into(),
        seat: SeatKey::local(&Username::parse(user).unwrap()),
        user: user.into(),
        client: "vpn".into(),
        source: Some("198.51.100.7".into()),
        created_at: ts(created),
        expires_at: ts(expires),
        nonce: format!("nonce-{id}"),
        number: None,
        choices: Vec::new(),
        decided: None,
    }
}

/// The ids of `seat`'s pushes waiting at `at`, in order.
async fn pending_ids(store: &dyn Store, seat: &SeatKey, at: Timestamp) -> Vec<String> {
    store
        .pending_pushes(seat, at)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.push.id)
        .collect()
}

pub async fn an_enrollment_link_enrolls_one_phone_once_and_only_before_it_expires(
    store: Arc<dyn Store>,
) {
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    let token = EnrollmentToken {
        id: "device-of-the-link".into(),
        seat: alice.clone(),
        user: "alice".into(),
        expires_at: ts("2026-11-10T10:15:00Z"),
    };
    let hash = [9; 32];
    store
        .add_enrollment(&EnrollmentRecord {
            token_hash: hash,
            token: token.clone(),
            created_at: ts("2026-11-10T10:00:00Z"),
        })
        .await
        .unwrap();
    let at = ts("2026-11-10T10:05:00Z");
    assert_eq!(
        store.enrollment(&hash, at).await.unwrap(),
        Ok(token.clone())
    );
    assert_eq!(
        store.enrollment(&[8; 32], at).await.unwrap(),
        Err(EnrollmentRefusal::Malformed),
        "a secret nobody was given"
    );
    let enroll = |at: &str| LinkEnrollment {
        token_hash: hash,
        label: "Alice's phone",
        public_key: &[4; 65],
        at: ts(at),
    };
    assert_eq!(
        store
            .enroll_device(&enroll("2026-11-10T10:15:00Z"))
            .await
            .unwrap(),
        Err(EnrollmentRefusal::Expired)
    );
    // Two phones with one link at once: one is enrolled.
    let (first, second) = (
        enroll("2026-11-10T10:06:00Z"),
        enroll("2026-11-10T10:06:01Z"),
    );
    let (a, b) = tokio::join!(store.enroll_device(&first), store.enroll_device(&second));
    let outcomes = [a.unwrap(), b.unwrap()];
    let enrolled: Vec<&DeviceRecord> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(enrolled.len(), 1, "{outcomes:?}");
    assert!(outcomes.contains(&Err(EnrollmentRefusal::Used)));
    assert_eq!(
        (
            enrolled[0].id.as_str(),
            &enrolled[0].seat,
            enrolled[0].label.as_str()
        ),
        ("device-of-the-link", &alice, "Alice's phone")
    );
    assert_eq!(store.devices(&alice).await.unwrap().len(), 1);
    assert_eq!(
        store.enrollment(&hash, at).await.unwrap(),
        Err(EnrollmentRefusal::Used)
    );
    // Forgotten with old pushes once expired.
    store
        .delete_expired_pushes(ts("2026-11-11T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        store.enrollment(&hash, at).await.unwrap(),
        Err(EnrollmentRefusal::Malformed)
    );
}

pub async fn push_devices_are_enrolled_per_user(store: Arc<dyn Store>) {
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    let device = |id: &str, at: &str| DeviceRecord {
        id: id.into(),
        seat: alice.clone(),
        username: "alice".into(),
        label: format!("phone {id}"),
        public_key: vec![4; 65],
        created_at: ts(at),
        webpush: None,
    };
    store
        .add_device(&device("d2", "2026-11-10T09:00:00Z"))
        .await
        .unwrap();
    store
        .add_device(&device("d1", "2026-11-10T08:00:00Z"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_device(&device("d1", "2026-11-10T10:00:00Z"))
            .await,
        Err(StoreError::AlreadyExists)
    ));
    let ids: Vec<String> = store
        .devices(&alice)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["d1", "d2"], "oldest first");
    assert_eq!(
        store.device("d2").await.unwrap(),
        Some(device("d2", "2026-11-10T09:00:00Z"))
    );
    let bob = SeatKey::local(&Username::parse("bob").unwrap());
    assert!(store.devices(&bob).await.unwrap().is_empty());
    // A Web Push subscription, set, replaced and cleared.
    for subscription in [
        Some(WebPushSubscription {
            endpoint: "https://push.example/one".into(),
            p256dh: vec![4; 65],
            auth: vec![1; 16],
        }),
        Some(WebPushSubscription {
            endpoint: "https://push.example/two".into(),
            p256dh: vec![4; 65],
            auth: vec![2; 16],
        }),
        None,
    ] {
        assert!(
            store
                .set_device_webpush("d2", subscription.as_ref())
                .await
                .unwrap()
        );
        assert_eq!(
            store.device("d2").await.unwrap().unwrap().webpush,
            subscription
        );
    }
    assert!(!store.set_device_webpush("nope", None).await.unwrap());
    assert!(
        store
            .remove_device("d1", ts("2026-11-10T10:00:00Z"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_device("d1", ts("2026-11-10T10:00:00Z"))
            .await
            .unwrap()
    );
    assert_eq!(store.devices(&alice).await.unwrap().len(), 1);
    // A revoked id is never enrolled again (its link may still be valid),
    // until its mark is forgotten with the old pushes.
    assert!(matches!(
        store
            .add_device(&device("d1", "2026-11-10T10:05:00Z"))
            .await,
        Err(StoreError::AlreadyExists)
    ));
    store
        .delete_expired_pushes(ts("2026-11-10T10:00:01Z"))
        .await
        .unwrap();
    store
        .add_device(&device("d1", "2026-12-10T10:05:00Z"))
        .await
        .unwrap();
}

/// What each task returned, in order.
async fn joined<T>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        results.push(task.await.unwrap());
    }
    results
}

/// Limits high enough never to refuse a push.
const UNLIMITED: PushLimits = PushLimits {
    waiting: u32::MAX,
    per_hour: u32::MAX,
};

pub async fn the_push_limits_hold_under_concurrent_logins(store: Arc<dyn Store>) {
    let limits = PushLimits {
        waiting: 3,
        per_hour: 10,
    };
    let until = "2026-11-10T08:00:30Z";
    // Ten logins at once: three pushes wait, the others are refused.
    let attempts = (0..10).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_push(
                    &push_record(&format!("c{i}"), "alice", "2026-11-10T08:00:00Z", until),
                    limits,
                )
                .await
                .unwrap()
        })
    });
    let outcomes = joined(attempts).await;
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        3,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| o.is_ok() || *o == Err(PushLimited::Waiting))
    );
    // Another user is not affected.
    store
        .create_push(
            &push_record("b0", "bob", "2026-11-10T08:00:00Z", until),
            limits,
        )
        .await
        .unwrap()
        .unwrap();
    // Once they end, more may be sent, up to ten in the hour.
    let mut sent = 3;
    for minute in 1..20 {
        let created = format!("2026-11-10T08:{minute:02}:00Z");
        let ends = format!("2026-11-10T08:{minute:02}:01Z");
        if store
            .create_push(
                &push_record(&format!("h{minute}"), "alice", &created, &ends),
                limits,
            )
            .await
            .unwrap()
            .is_ok()
        {
            sent += 1;
        } else {
            assert_eq!(sent, 10, "refused only at the hourly limit");
        }
    }
    assert_eq!(sent, 10);
    // An hour after the first ones, pushes go out again.
    store
        .create_push(
            &push_record(
                "later",
                "alice",
                "2026-11-10T09:00:01Z",
                "2026-11-10T09:00:31Z",
            ),
            limits,
        )
        .await
        .unwrap()
        .unwrap();
}

pub async fn failures_in_a_row_lock_a_user_on_every_node(store: Arc<dyn Store>) {
    let policy = LockoutPolicy::default();
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    let at = ts("2026-11-10T08:00:00Z");
    let generation = store.lockout_generation().await.unwrap();
    // Four wrong codes: no lock; the fifth locks for 15 minutes.
    for _ in 0..4 {
        let lock = store
            .record_failure(&alice, "alice", &Failure::SecondFactor, &policy, at)
            .await
            .unwrap();
        assert_eq!(lock, None);
    }
    assert!(store.lockout_generation().await.unwrap() > generation);
    let lock = store
        .record_failure(&alice, "alice", &Failure::SecondFactor, &policy, at)
        .await
        .unwrap()
        .expect("the fifth wrong code locks");
    assert_eq!(lock.locked, Some((at, ts("2026-11-10T08:15:00Z"))));
    assert_eq!(lock.locks, 1);
    let listed = store.lockouts().await.unwrap();
    assert_eq!(listed, vec![lock.clone()]);
    // The same wrong password counts once in a row; different ones count.
    let bob = SeatKey::local(&Username::parse("bob").unwrap());
    for _ in 0..20 {
        let lock = store
            .record_failure(
                &bob,
                "bob",
                &Failure::Password { digest: [7; 32] },
                &policy,
                at,
            )
            .await
            .unwrap();
        assert_eq!(lock, None, "one wrong password retried never locks");
    }
    let mut locked = None;
    for i in 0..9u8 {
        locked = store
            .record_failure(
                &bob,
                "bob",
                &Failure::Password { digest: [i; 32] },
                &policy,
                at,
            )
            .await
            .unwrap();
    }
    let locked = locked.expect("ten different wrong passwords lock");
    assert_eq!(locked.locked.unwrap().1, ts("2026-11-10T08:15:00Z"));
    // Concurrent failures: exactly one of them sets the next lock, twice
    // as long, once the first has ended.
    let after = ts("2026-11-10T08:20:00Z");
    let attempts = (0..20).map(|_| {
        let store = store.clone();
        let alice = alice.clone();
        tokio::spawn(async move {
            store
                .record_failure(
                    &alice,
                    "alice",
                    &Failure::SecondFactor,
                    &LockoutPolicy::default(),
                    after,
                )
                .await
                .unwrap()
        })
    });
    let locks: Vec<_> = joined(attempts).await.into_iter().flatten().collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert_eq!(locks[0].locks, 2);
    assert_eq!(locks[0].locked, Some((after, ts("2026-11-10T08:50:00Z"))));
    // Unlock by username; clear by seat.
    assert!(store.unlock("alice").await.unwrap());
    assert!(!store.unlock("alice").await.unwrap());
    store.clear_failures(&bob).await.unwrap();
    assert_eq!(store.lockouts().await.unwrap(), vec![]);
}

pub async fn a_push_is_decided_once_and_never_after_it_expired(store: Arc<dyn Store>) {
    let t0 = "2026-11-10T08:00:00Z";
    let until = "2026-11-10T08:00:30Z";
    for push in [
        push_record("p1", "alice", t0, until),
        push_record("p2", "alice", "2026-11-10T08:00:01Z", until),
        push_record("p3", "bob", t0, until),
        push_record(
            "old",
            "alice",
            "2026-11-10T07:00:00Z",
            "2026-11-10T07:00:30Z",
        ),
    ] {
        store.create_push(&push, UNLIMITED).await.unwrap().unwrap();
    }
    assert!(matches!(
        store
            .create_push(&push_record("p1", "alice", t0, until), UNLIMITED)
            .await,
        Err(StoreError::AlreadyExists)
    ));
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    let at = ts("2026-11-10T08:00:10Z");
    let pending = pending_ids(store.as_ref(), &alice, at).await;
    assert_eq!(
        pending,
        ["p1", "p2"],
        "undecided, unexpired, this user's, oldest first"
    );
    // Many answers at once: one is recorded.
    let answers = (0..16).map(|i| {
        let store = store.clone();
        let decision = if i % 2 == 0 {
            Decision::Approve
        } else {
            Decision::Deny
        };
        tokio::spawn(async move {
            store
                .decide_push("p1", decision, &format!("d{i}"), ts("2026-11-10T08:00:10Z"))
                .await
                .unwrap()
        })
    });
    let mut accepted = 0;
    for answer in answers {
        accepted += usize::from(answer.await.unwrap());
    }
    assert_eq!(accepted, 1, "a push is decided once");
    let p1 = store.push("p1").await.unwrap().unwrap();
    assert!(p1.push.decided.is_some() && p1.decided_by.is_some());
    assert_eq!(p1.decided_at, Some(at));
    assert_eq!(p1.push.source.as_deref(), Some("198.51.100.7"));
    // Too late: at the expiry time, nothing is recorded.
    assert!(
        !store
            .decide_push("p2", Decision::Approve, "d1", ts(until))
            .await
            .unwrap()
    );
    assert_eq!(store.push("p2").await.unwrap().unwrap().push.decided, None);
    assert!(
        !store
            .decide_push("nope", Decision::Approve, "d1", at)
            .await
            .unwrap()
    );
    let pending = pending_ids(store.as_ref(), &alice, at).await;
    assert_eq!(pending, ["p2"]);
    assert_eq!(
        store
            .delete_expired_pushes(ts("2026-11-10T08:00:00Z"))
            .await
            .unwrap(),
        1
    );
    assert!(store.push("old").await.unwrap().is_none());
}

pub async fn push_users_phones_and_modes_move_the_generation(store: Arc<dyn Store>) {
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    let bob = SeatKey::local(&Username::parse("bob").unwrap());
    assert_eq!(store.push_user(&alice).await.unwrap(), PushUser::default());
    let mut last = store.local_directory_generation().await.unwrap();
    let mut expect_change = |now: i64, what: &str| {
        assert_ne!(now, last, "{what} must change the generation");
        last = now;
    };
    for (id, seat, at) in [
        ("d1", &alice, "2026-11-10T08:00:00Z"),
        ("d2", &alice, "2026-11-10T09:00:00Z"),
        ("d3", &bob, "2026-11-10T07:00:00Z"),
    ] {
        store
            .add_device(&DeviceRecord {
                id: id.into(),
                seat: seat.clone(),
                username: String::new(),
                label: id.into(),
                public_key: vec![4; 65],
                created_at: ts(at),
                webpush: None,
            })
            .await
            .unwrap();
        expect_change(
            store.local_directory_generation().await.unwrap(),
            "enrolling a phone",
        );
    }
    assert_eq!(
        store.push_user(&alice).await.unwrap(),
        PushUser {
            devices: 2,
            mode: None
        }
    );
    let all: Vec<String> = store
        .all_devices()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(all, ["d1", "d2", "d3"], "by user, then age");
    for mode in [Some(PushMode::Challenge), Some(PushMode::Hold), None] {
        store.set_push_mode(&alice, mode).await.unwrap();
        expect_change(
            store.local_directory_generation().await.unwrap(),
            "a push mode",
        );
        assert_eq!(store.push_user(&alice).await.unwrap().mode, mode);
    }
    assert_eq!(store.push_user(&bob).await.unwrap().mode, None);
    assert!(
        store
            .remove_device("d1", ts("2026-11-10T10:00:00Z"))
            .await
            .unwrap()
    );
    expect_change(
        store.local_directory_generation().await.unwrap(),
        "removing a phone",
    );
    assert_eq!(store.push_user(&alice).await.unwrap().devices, 1);
}

pub async fn a_closed_push_takes_no_decision_and_a_decided_one_stays(store: Arc<dyn Store>) {
    let until = "2026-11-10T08:00:30Z";
    for (id, created) in [
        ("p1", "2026-11-10T08:00:00Z"),
        ("p2", "2026-11-10T08:00:01Z"),
        ("p3", "2026-11-10T08:00:02Z"),
    ] {
        store
            .create_push(&push_record(id, "alice", created, until), UNLIMITED)
            .await
            .unwrap()
            .unwrap();
    }
    let at = ts("2026-11-10T08:00:25Z");
    // Closed while waiting: a late answer is refused.
    assert!(store.close_push("p1", at).await.unwrap());
    assert!(
        !store
            .decide_push("p1", Decision::Approve, "d1", ts("2026-11-10T08:00:26Z"))
            .await
            .unwrap()
    );
    assert!(!store.close_push("p1", at).await.unwrap(), "closed once");
    // Decided first: closing does not undo the decision.
    assert!(
        store
            .decide_push("p2", Decision::Approve, "d1", ts("2026-11-10T08:00:24Z"))
            .await
            .unwrap()
    );
    assert!(!store.close_push("p2", at).await.unwrap());
    assert_eq!(
        store.push("p2").await.unwrap().unwrap().push.decided,
        Some(Decision::Approve)
    );
    assert!(!store.close_push("nope", at).await.unwrap());
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    let pending = pending_ids(store.as_ref(), &alice, at).await;
    assert_eq!(pending, ["p3"]);
    let recent: Vec<String> = store
        .recent_pushes(2)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.push.id)
        .collect();
    assert_eq!(recent, ["p3", "p2"], "newest first, at most the limit");
}

pub async fn decided_pushes_are_found_among_many_ids(store: Arc<dyn Store>) {
    let until = "2026-11-10T08:00:30Z";
    for id in ["p1", "p2", "p3", "p4"] {
        store
            .create_push(
                &push_record(id, "alice", "2026-11-10T08:00:00Z", until),
                UNLIMITED,
            )
            .await
            .unwrap()
            .unwrap();
    }
    let at = ts("2026-11-10T08:00:05Z");
    assert!(
        store
            .decide_push("p2", Decision::Approve, "d1", at)
            .await
            .unwrap()
    );
    assert!(
        store
            .decide_push("p4", Decision::Deny, "d1", at)
            .await
            .unwrap()
    );
    assert!(store.close_push("p3", at).await.unwrap());
    // More ids than one query binds, the pushes among them in two chunks,
    // and ids that are no push at all.
    let mut ids: Vec<String> = (0..1_500).map(|i| format!("gone-{i}")).collect();
    ids.insert(3, "p1".into());
    ids.insert(7, "p2".into());
    ids.push("p3".into());
    ids.push("p4".into());
    let mut decided = store.decided_pushes(&ids).await.unwrap();
    decided.sort();
    assert_eq!(decided, ["p2", "p4"], "decided either way; closed is not");
    assert!(store.decided_pushes(&[]).await.unwrap().is_empty());
}

#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            installation_is_created_once,
            local_groups_hold_members_and_deleting_one_takes_it_out_of_them,
            concurrent_group_edits_both_hold,
            records_saved_whole_refuse_a_stale_save,
            break_glass_requests_are_admitted_past_the_cap,
            every_admission_extends_the_month_usage_chain,
            seat_budgets_hold_exactly_their_size,
            installing_a_license_replaces_it_and_bumps_the_generation,
            the_clock_high_water_mark_only_rises,
            a_fresh_key_re_anchors_the_clock_and_stale_anchors_cannot_raise_it,
            admission_is_decided_under_the_verified_license_named_in_the_request,
            admission_counts_until_the_limit_then_refuses,
            a_user_is_counted_once_however_often_they_log_in,
            counted_users_stay_in_when_the_limit_is_full,
            a_lower_limit_keeps_counted_users_and_refuses_new_ones,
            a_higher_limit_lets_refused_users_in_at_once,
            each_month_starts_from_zero_and_keeps_its_history,
            a_batch_spanning_two_months_counts_each_in_its_own,
            history_keeps_the_limit_in_force_and_the_peak,
            concurrent_admissions_never_exceed_the_limit,
            the_count_always_equals_the_ledger,
            last_logins_are_recorded_and_never_count_anyone,
            limit_refusals_are_listed_per_user,
            the_users_table_sorts_searches_and_pages,
            local_users_are_managed_and_deleting_one_keeps_the_seat,
            large_batches_are_admitted_whole,
            totp_codes_are_accepted_once_and_never_after_a_later_one,
            concurrent_uses_of_one_code_succeed_once,
            deleting_a_local_user_removes_their_second_factor,
            radius_clients_are_managed,
            every_directory_change_moves_the_generation,
            new_users_are_counted_per_day,
            administrators_sessions_and_tokens,
            portal_sessions_are_kept_ended_and_swept,
            factor_uses_are_the_last_code_and_the_last_answers,
            administrators_live_and_are_deleted,
            the_last_administrator_survives_concurrent_deletions,
            the_audit_trail_is_appended_listed_and_walked,
            concurrent_audit_appends_form_one_chain,
            alarm_settings_are_kept,
            an_alarm_fires_once_and_is_queued_with_it,
            queued_alarms_are_claimed_retried_and_sent,
            concurrent_firing_queues_an_alarm_once,
            push_devices_are_enrolled_per_user,
            an_enrollment_link_enrolls_one_phone_once_and_only_before_it_expires,
            a_push_is_decided_once_and_never_after_it_expired,
            the_push_limits_hold_under_concurrent_logins,
            failures_in_a_row_lock_a_user_on_every_node,
            push_users_phones_and_modes_move_the_generation,
            a_closed_push_takes_no_decision_and_a_decided_one_stays,
            decided_pushes_are_found_among_many_ids,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                // `None`: the backend is not available here (SKIP printed).
                let Some(store) = $make(stringify!($case)).await else {
                    return;
                };
                conformance::$case(store).await;
            }
        )*
    };
}

fn audit_entry(n: u32, actor: &str, action: &str) -> gatehouse_core::audit::NewAuditEntry {
    gatehouse_core::audit::NewAuditEntry {
        at: ts("2026-11-01T00:00:00Z")
            + gatehouse_license::jiff::SignedDuration::from_mins(i64::from(n)),
        actor: actor.into(),
        source: "192.0.2.7".into(),
        action: action.into(),
        subject: format!("subject-{n}"),
        detail: format!("{{\"n\":{n}}}"),
    }
}

/// The audit trail: appended with consecutive ids, listed newest first
/// with filters and pages, and walked whole.
pub async fn the_audit_trail_is_appended_listed_and_walked(store: Arc<dyn Store>) {
    use gatehouse_core::audit::AuditQuery;
    let empty = store.verify_audit_chain().await.unwrap();
    assert!(empty.intact() && empty.entries == 0, "{empty:?}");
    let actions = [
        "local_user.add",
        "client.add",
        "local_user.delete",
        "license.install",
    ];
    for n in 0..8u32 {
        let actor = if n % 2 == 0 { "admin:root" } else { "cli" };
        let id = store
            .append_audit(&audit_entry(n, actor, actions[n as usize % 4]))
            .await
            .unwrap();
        assert_eq!(id, u64::from(n) + 1);
    }
    let all = store
        .audit_entries(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let ids: Vec<u64> = all.iter().map(|r| r.id).collect();
    assert_eq!(ids, [8, 7, 6, 5, 4, 3, 2, 1], "newest first");
    assert!(all.iter().all(|r| r.authentic));
    assert_eq!(all[7].entry, audit_entry(0, "admin:root", "local_user.add"));
    let query = |q: AuditQuery| {
        let store = store.clone();
        async move {
            let found = store.audit_entries(&q).await.unwrap();
            found.iter().map(|r| r.id).collect::<Vec<u64>>()
        }
    };
    assert_eq!(
        query(AuditQuery {
            actor: Some("cli".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await,
        [8, 6, 4, 2]
    );
    assert_eq!(
        query(AuditQuery {
            action: Some("local_user".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await,
        [7, 5, 3, 1]
    );
    // A prefix is text, not a pattern.
    assert!(
        query(AuditQuery {
            action: Some("local%".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        query(AuditQuery {
            since: Some(ts("2026-11-01T00:05:00Z")),
            limit: 100,
            ..AuditQuery::default()
        })
        .await,
        [8, 7, 6]
    );
    assert_eq!(
        query(AuditQuery {
            before: Some(6),
            limit: 2,
            ..AuditQuery::default()
        })
        .await,
        [5, 4]
    );
    let walked = store.verify_audit_chain().await.unwrap();
    assert!(walked.intact() && walked.entries == 8, "{walked:?}");
}

/// Appends from many tasks at once (on PostgreSQL, separate connections,
/// as several nodes): consecutive ids, one whole chain.
pub async fn concurrent_audit_appends_form_one_chain(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for n in 0..40u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(&audit_entry(n, "cli", "group.add"))
                .await
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=40).collect::<Vec<u64>>());
    let walked = store.verify_audit_chain().await.unwrap();
    assert!(walked.intact() && walked.entries == 40, "{walked:?}");
}

/// A portal session of `name` (a local user) with token hash `[hash; 32]`.
pub fn portal_session_of(
    name: &str,
    hash: u8,
    scope: gatehouse_core::store::PortalScope,
    expires_at: &str,
) -> gatehouse_core::store::PortalSessionRecord {
    let username = Username::parse(name).unwrap();
    gatehouse_core::store::PortalSessionRecord {
        token_hash: [hash; 32],
        identity: gatehouse_core::identity::Identity::local(&username, name),
        scope,
        csrf: format!("csrf-{hash}"),
        created_at: ts("2026-11-01T09:00:00Z"),
        expires_at: ts(expires_at),
        pending_totp: None,
    }
}

/// Portal sessions: kept as written (with the TOTP secret being confirmed),
/// ended one by one, by user, and when expired.
pub async fn portal_sessions_are_kept_ended_and_swept(store: Arc<dyn Store>) {
    use gatehouse_core::store::PortalScope;
    let full = portal_session_of("alice", 1, PortalScope::Full, "2026-11-01T09:30:00Z");
    let enroll = portal_session_of("alice", 2, PortalScope::Enroll, "2026-11-01T10:30:00Z");
    let bobs = portal_session_of("bob", 3, PortalScope::Full, "2026-11-01T10:30:00Z");
    for session in [&full, &enroll, &bobs] {
        store.add_portal_session(session).await.unwrap();
    }
    assert_eq!(
        store.add_portal_session(&full).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store.portal_session(&[1; 32]).await.unwrap(),
        Some(full.clone())
    );
    assert_eq!(
        store.portal_session(&[2; 32]).await.unwrap(),
        Some(enroll.clone())
    );
    assert_eq!(store.portal_session(&[9; 32]).await.unwrap(), None);
    // The secret being confirmed: kept with its session, for its user only.
    let secret = TotpSecret::from_bytes(vec![7; 20]);
    assert!(
        store
            .set_portal_pending_totp(&[2; 32], "local:alice", Some(&secret))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_portal_pending_totp(&[3; 32], "local:alice", Some(&secret))
            .await
            .unwrap(),
        "not bob's session"
    );
    let read = store.portal_session(&[2; 32]).await.unwrap().unwrap();
    assert_eq!(read.pending_totp, Some(secret));
    assert_eq!(
        store
            .portal_session(&[3; 32])
            .await
            .unwrap()
            .unwrap()
            .pending_totp,
        None
    );
    store
        .set_portal_pending_totp(&[2; 32], "local:alice", None)
        .await
        .unwrap();
    assert_eq!(store.portal_session(&[2; 32]).await.unwrap(), Some(enroll));
    // Swept when expired; ended by user; one by one.
    assert_eq!(
        store
            .delete_expired_portal_sessions(ts("2026-11-01T10:00:00Z"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.portal_session(&[1; 32]).await.unwrap(), None);
    assert_eq!(
        store
            .delete_portal_sessions_of("local:alice")
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.portal_session(&[2; 32]).await.unwrap(), None);
    store.delete_portal_session(&[3; 32]).await.unwrap();
    assert_eq!(store.portal_session(&[3; 32]).await.unwrap(), None);
}

/// When a user's factors were last used: the last TOTP code's time step,
/// each phone's last answer (approve or deny), nobody else's.
pub async fn factor_uses_are_the_last_code_and_the_last_answers(store: Arc<dyn Store>) {
    let alice = SeatKey::local(&Username::parse("alice").unwrap());
    assert_eq!(
        store.factor_uses(alice.as_str()).await.unwrap(),
        gatehouse_core::store::FactorUses::default()
    );
    store
        .enroll_totp(&TotpRecord {
            seat: alice.clone(),
            secret: TotpSecret::from_bytes(vec![1; 20]),
            mode: None,
            enrolled_at: ts("2026-11-10T07:00:00Z"),
        })
        .await
        .unwrap();
    assert_eq!(store.factor_uses(alice.as_str()).await.unwrap().totp, None);
    let step = gatehouse_core::totp::step_of(ts("2026-11-10T08:00:10Z"));
    assert!(store.use_totp_step(&alice, step).await.unwrap());
    let until = "2026-11-10T08:01:00Z";
    for (id, user, device, at) in [
        ("p1", "alice", "phone-a", "2026-11-10T08:00:05Z"),
        ("p2", "alice", "phone-a", "2026-11-10T08:00:20Z"),
        ("p3", "alice", "phone-b", "2026-11-10T08:00:07Z"),
        ("p4", "bob", "phone-c", "2026-11-10T08:00:30Z"),
    ] {
        store
            .create_push(
                &push_record(id, user, "2026-11-10T08:00:00Z", until),
                UNLIMITED,
            )
            .await
            .unwrap()
            .unwrap();
        let decision = if id == "p2" {
            Decision::Deny
        } else {
            Decision::Approve
        };
        assert!(
            store
                .decide_push(id, decision, device, ts(at))
                .await
                .unwrap()
        );
    }
    store
        .create_push(
            &push_record("p5", "alice", "2026-11-10T08:00:00Z", until),
            UNLIMITED,
        )
        .await
        .unwrap()
        .unwrap();
    let mut uses = store.factor_uses(alice.as_str()).await.unwrap();
    uses.phones.sort();
    assert_eq!(
        uses,
        gatehouse_core::store::FactorUses {
            totp: Some(ts("2026-11-10T08:00:00Z")),
            phones: vec![
                ("phone-a".into(), ts("2026-11-10T08:00:20Z")),
                ("phone-b".into(), ts("2026-11-10T08:00:07Z")),
            ],
        }
    );
}
