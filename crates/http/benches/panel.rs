//! The panel and API with 1,000,000 users in the month.
//!
//! Server time of one request through the whole router (authentication by
//! API token, store query, HTML or JSON rendering), on an SQLite database
//! holding 1,000,000 counted users this month, 200,000 later logins, and
//! eleven earlier months of history. Target: each under 50 ms.
//!
//! - `users_page/first`: the Users page, first page in username order;
//! - `users_page/first_last_login_desc`: newest logins first;
//! - `users_page/deep`: a page 900,000 rows in, by cursor (username order);
//! - `users_page/deep_first_seen`: the same by first seen;
//! - `users_page/search` and `users_page/search_broad`: a prefix matching
//!   ten users and one matching 100,000;
//! - `users_api/first`: `GET /api/v1/users`;
//! - `analytics_page` and `usage_api`: License Analytics (chart, table,
//!   new users per day, projection) and `GET /api/v1/usage`.
//! - `users_csv/whole_month`: all 1,000,000 rows as CSV (streamed; no
//!   target, reported for capacity planning).
//!
//! The database is built once (about a minute) under
//! `target/tmp/bench/panel-1m/` and reused by later runs.
//!
//! Run: `cargo bench -p gatehouse-http --bench panel`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::store::{
    AdmitRequest, LicenseBinding, LoginRecord, SeatOrder, SeatQuery, Store,
};
use gatehouse_core::{Gatehouse, Identity, ManualClock, Settings, Username};
use gatehouse_http::forms::cursor_after;
use gatehouse_http::{Panel, PanelSettings, router};
use gatehouse_license::Month;
use gatehouse_license::jiff::civil::date;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_license::jiff::{SignedDuration, Timestamp};
use gatehouse_store::SqliteStore;
use gatehouse_testkit::{TestLicense, issue_key};
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

const USERS: u64 = 1_000_000;
const LOGINS: u64 = 200_000;
const HISTORY_MONTHS: u64 = 11;
const BATCH: u64 = 10_000;

fn now() -> Timestamp {
    "2026-11-20T12:00:00Z".parse().unwrap()
}

fn identity(index: u64) -> Identity {
    let name = format!("user{index:07}");
    Identity::local(&Username::parse(&name).unwrap(), &format!("User {index}"))
}

fn admit_request(license: LicenseBinding, month: Month, index: u64, at: Timestamp) -> AdmitRequest {
    let user = identity(index);
    AdmitRequest {
        license,
        month,
        day: TimeZone::UTC.to_datetime(at).day(),
        seat: user.seat.clone(),
        username: user.username.to_string(),
        display_name: user.display_name.to_string(),
        source: user.source,
        client: format!("vpn-{}", index % 7),
        at,
        reserved: false,
        budget: None,
    }
}

/// Counts `users` users in `month`, first seen spread evenly over
/// `[start, end)`.
async fn seed_month(
    store: &dyn Store,
    license: LicenseBinding,
    month: Month,
    users: u64,
    start: Timestamp,
    end: Timestamp,
) {
    let span = end.duration_since(start).as_micros() as u64;
    for batch in (0..users).step_by(BATCH as usize) {
        let requests: Vec<AdmitRequest> = (batch..(batch + BATCH).min(users))
            .map(|index| {
                // A permutation, so usernames and first-seen order differ.
                let user = (index * 7_919) % users;
                let offset = span * index / users;
                let at = start
                    .checked_add(SignedDuration::from_micros(offset as i64))
                    .unwrap();
                admit_request(license, month, user, at)
            })
            .collect();
        store.admit(&requests).await.unwrap();
    }
}

async fn build(dir: &Path) {
    let store = SqliteStore::open(&dir.join("gatehouse.db"), test_seal())
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let gatehouse = open(store.clone()).await;
    let key = issue_key(
        gatehouse.app_key(),
        &TestLicense::subscription(2 * USERS as u32, date(2099, 12, 31), now()),
    );
    gatehouse.install_license(&key).await.unwrap();
    // Admissions are made under the key in force.
    let license = LicenseBinding {
        key_digest: LicenseBinding::digest(Some(&key)),
        user_limit: 2 * USERS as u32,
        overage_seats: 0,
    };
    gatehouse
        .add_admin("root", "bench-admin-password")
        .await
        .unwrap();
    let current = gatehouse.current_month();
    let mut month = current;
    for back in 1..=HISTORY_MONTHS {
        month = month.previous();
        let window = month.window(&TimeZone::UTC);
        seed_month(
            &*store,
            license,
            month,
            40_000 * back,
            window.start,
            window.end,
        )
        .await;
    }
    let window = current.window(&TimeZone::UTC);
    seed_month(&*store, license, current, USERS, window.start, now()).await;
    for batch in (0..LOGINS).step_by(BATCH as usize) {
        let logins: Vec<LoginRecord> = (batch..batch + BATCH)
            .map(|index| LoginRecord {
                month: current,
                seat: identity(index * 5).seat,
                at: now()
                    .checked_sub(SignedDuration::from_secs(index as i64))
                    .unwrap(),
                client: "vpn-login".into(),
            })
            .collect();
        store.record_logins(&logins).await.unwrap();
    }
    std::fs::write(dir.join("complete"), "").unwrap();
}

async fn open(store: Arc<dyn Store>) -> Gatehouse {
    Gatehouse::open(
        store,
        Settings {
            time_zone: Some(TimeZone::UTC),
            ..Settings::new(Arc::new(ManualClock::new(now())))
        },
    )
    .await
    .unwrap()
}

struct Fixture {
    runtime: Runtime,
    router: Router,
    token: String,
    deep_username: String,
    deep_first_seen: String,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench/panel-1m");
    let fixture = runtime.block_on(async {
        if !dir.join("complete").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            eprintln!("building {} (1,000,000 users; once)", dir.display());
            build(&dir).await;
        }
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.join("gatehouse.db"), test_seal())
                .await
                .unwrap(),
        );
        let gatehouse = Arc::new(open(store).await);
        let month = gatehouse.current_month();
        assert_eq!(
            gatehouse.license_view().await.unwrap().active_users,
            USERS as u32,
            "the month holds 1,000,000 users"
        );
        let token = gatehouse
            .create_admin_token("root", None, "")
            .await
            .unwrap();
        let row_at = |order: SeatOrder, skip_to: Option<&str>| {
            let gatehouse = gatehouse.clone();
            let search = skip_to.map(str::to_string);
            async move {
                let query = SeatQuery {
                    search,
                    order,
                    limit: Some(1),
                    ..SeatQuery::all(month)
                };
                let rows = gatehouse.users(&query).await.unwrap();
                cursor_after(&rows[0], order)
            }
        };
        let deep_username = row_at(SeatOrder::Username, Some("user0900000")).await;
        // 90% of the way through the month in first-seen order.
        let deep_first_seen = {
            let query = SeatQuery {
                order: SeatOrder::FirstSeen,
                descending: true,
                limit: Some(100_000),
                ..SeatQuery::all(month)
            };
            let rows = gatehouse.users(&query).await.unwrap();
            cursor_after(rows.last().unwrap(), SeatOrder::FirstSeen)
        };
        let panel = Panel::new(gatehouse, PanelSettings::default());
        let router =
            router(panel).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        (router, token, deep_username, deep_first_seen)
    });
    Fixture {
        runtime,
        router: fixture.0,
        token: fixture.1,
        deep_username: fixture.2,
        deep_first_seen: fixture.3,
    }
}

impl Fixture {
    /// One request through the router; returns the body.
    fn get(&self, path: &str) -> String {
        self.runtime.block_on(async {
            let request = Request::get(path)
                .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
                .body(Body::empty())
                .unwrap();
            let response = self.router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        })
    }
}

/// Users listed in a Users page (HTML) or API page (JSON).
fn rows(body: &str) -> usize {
    body.matches("<td class=\"username\">").count() + body.matches("\"username\":").count()
}

fn panel(c: &mut Criterion) {
    let fx = fixture();
    // (name, path, what the answer must hold: rows listed, or a needle)
    let pages = [
        ("users_page/first", "/users".to_string(), Expect::Rows(50)),
        (
            "users_page/first_last_login_desc",
            "/users?sort=last_login&desc=1".to_string(),
            Expect::Rows(50),
        ),
        (
            "users_page/deep",
            format!("/users?after={}", fx.deep_username),
            Expect::Text(">user0900001<"),
        ),
        (
            "users_page/deep_first_seen",
            format!("/users?sort=first_seen&after={}", fx.deep_first_seen),
            Expect::Rows(50),
        ),
        (
            "users_page/search",
            "/users?q=user099999".to_string(),
            Expect::Rows(10),
        ),
        (
            "users_page/search_broad",
            "/users?q=user05".to_string(),
            Expect::Rows(50),
        ),
        (
            "users_api/first",
            "/api/v1/users".to_string(),
            Expect::Rows(50),
        ),
        (
            "analytics_page",
            "/analytics".to_string(),
            Expect::Text("<td>1000000</td>"),
        ),
        (
            "usage_api",
            "/api/v1/usage".to_string(),
            Expect::Text("\"active_users\":1000000"),
        ),
    ];
    for (name, path, expect) in &pages {
        let body = fx.get(path);
        match expect {
            Expect::Rows(n) => assert_eq!(rows(&body), *n, "{name}: {path}"),
            Expect::Text(needle) => assert!(body.contains(needle), "{name}: {path} lacks {needle}"),
        }
        c.bench_function(name, |b| b.iter(|| black_box(fx.get(path))));
    }
    // The whole month as CSV: streamed in pages, so memory stays bounded;
    // reported, not held to the 50 ms target.
    let csv = fx.get("/users.csv");
    assert_eq!(
        csv.lines().count(),
        USERS as usize + 1,
        "header and every user"
    );
    drop(csv);
    let mut group = c.benchmark_group("users_csv");
    group.sample_size(10);
    group.bench_function("whole_month", |b| {
        b.iter(|| black_box(fx.get("/users.csv").len()))
    });
    group.finish();
}

enum Expect {
    Rows(usize),
    Text(&'static str),
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = panel
}
criterion_main!(benches);

/// The sealing key the tests' databases are sealed under.
fn test_seal() -> std::sync::Arc<gatehouse_core::seal::SealingKey> {
    std::sync::Arc::new(gatehouse_core::seal::SealingKey::from_bytes([7; 32]))
}
