//! Every route of the panel and API, in process (`Router::oneshot`),
//! against a real SQLite store.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use gatehouse_core::alarms::{AlarmSettings, Mailer};
use gatehouse_core::store::Store;
use gatehouse_core::{
    Gatehouse, Identity, ManualClock, MfaSettings, PasswordParams, Settings, Username,
};
use gatehouse_http::{Panel, PanelSettings, router};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::date;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_mail::{Security, SmtpMailer, SmtpSettings};
use gatehouse_store::SqliteStore;
use gatehouse_testkit::{TestLicense, issue_key};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const EXPIRED_TEXT: &str = "License expired, please contact your system administrator";
const ADMIN_PASSWORD: &str = "correct horse battery staple";

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

struct Fixture {
    gatehouse: Arc<Gatehouse>,
    clock: Arc<ManualClock>,
    router: Router,
    token: String,
    cookie: String,
    csrf: String,
}

/// How a request authenticates.
#[derive(Clone, Copy)]
enum As {
    Nobody,
    Token,
    /// The session cookie, with the CSRF token where it belongs.
    Session,
    /// The session cookie without any CSRF token.
    SessionNoCsrf,
}

async fn fixture(name: &str) -> Fixture {
    fixture_with(name, None).await
}

async fn fixture_with(name: &str, mailer: Option<Arc<dyn Mailer>>) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("http")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.join("gatehouse.db"), test_seal())
            .await
            .unwrap(),
    );
    let clock = Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")));
    let gatehouse = Arc::new(
        Gatehouse::open(
            store,
            Settings {
                time_zone: Some(TimeZone::UTC),
                password: PasswordParams {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                },
                // License rules, not the second factor, are under test here.
                mfa: MfaSettings {
                    required: false,
                    ..MfaSettings::default()
                },
                ..Settings::new(clock.clone())
            },
        )
        .await
        .unwrap(),
    );
    gatehouse.add_admin("root", ADMIN_PASSWORD).await.unwrap();
    let token = gatehouse.create_admin_token("root").await.unwrap();
    let panel = Panel::new(
        gatehouse.clone(),
        PanelSettings {
            support_contact: Some("licenses@vendor.example".into()),
            secure_cookies: true,
            configured_clients: vec![],
            mailer,
            push_public_url: None,
            // The test peer (MockConnectInfo below) is a trusted proxy:
            // requests with X-Forwarded-For come from the address it names.
            trusted_proxies: vec!["192.0.2.1".parse().unwrap()],
        },
    );
    let router = router(panel).layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 1], 40000))));
    let mut fixture = Fixture {
        gatehouse,
        clock,
        router,
        token,
        cookie: String::new(),
        csrf: String::new(),
    };
    fixture.sign_in().await;
    fixture
}

fn hidden_csrf(html: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_string())
}

impl Fixture {
    /// Signs in as root (sessions follow the effective clock: moving it far
    /// ahead ends them).
    async fn sign_in(&mut self) {
        let login = self
            .form(
                As::Nobody,
                "/login",
                &[
                    ("username", "root"),
                    ("password", ADMIN_PASSWORD),
                    ("next", "/license"),
                ],
            )
            .await;
        assert_eq!(login.status(), StatusCode::SEE_OTHER);
        let set_cookie = login.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string();
        self.cookie = set_cookie.split(';').next().unwrap().to_string();
        let (_, page) = self.page(As::Session, "/license").await;
        self.csrf = hidden_csrf(&page).expect("the License page carries a CSRF token");
    }

    fn request(&self, who: As, method: Method, path: &str) -> axum::http::request::Builder {
        let builder = Request::builder().method(method).uri(path);
        match who {
            As::Nobody => builder,
            As::Token => builder.header(header::AUTHORIZATION, format!("Bearer {}", self.token)),
            As::Session => builder
                .header(header::COOKIE, &self.cookie)
                .header("x-csrf-token", &self.csrf),
            As::SessionNoCsrf => builder.header(header::COOKIE, &self.cookie),
        }
    }

    async fn send(&self, request: Request<Body>) -> Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn page(&self, who: As, path: &str) -> (StatusCode, String) {
        let response = self
            .send(
                self.request(who, Method::GET, path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let status = response.status();
        (status, body_text(response).await)
    }

    /// A form POST; with `As::Session` the CSRF token is added.
    async fn form(&self, who: As, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut pairs: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if matches!(who, As::Session) {
            pairs.push(("csrf".into(), self.csrf.clone()));
        }
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .request(who, Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    async fn api(
        &self,
        who: As,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let builder = self.request(who, method, path);
        let request = match body {
            Some(json) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json.to_string()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        };
        let response = self.send(request).await;
        let status = response.status();
        let text = body_text(response).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn key(&self, limit: u32, support_end: gatehouse_license::jiff::civil::Date) -> String {
        issue_key(
            self.gatehouse.app_key(),
            &TestLicense::subscription(limit, support_end, self.gatehouse.now()),
        )
    }

    async fn count_users(&self, names: &[String]) {
        for name in names {
            let username = Username::parse(name).unwrap();
            self.gatehouse
                .admit(&Identity::local(&username, name), "vpn-1")
                .await
                .unwrap();
        }
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn body_text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

const PAGES: [&str; 10] = [
    "/license",
    "/users",
    "/users.csv",
    "/analytics",
    "/analytics.csv",
    "/alarms",
    "/local-users",
    "/clients",
    "/push-devices",
    "/license/application-key-file",
];

const API_GETS: [&str; 13] = [
    "/api/v1/license",
    "/api/v1/license/request",
    "/api/v1/license/application-key-file",
    "/api/v1/users",
    "/api/v1/users/refused",
    "/api/v1/usage",
    "/api/v1/alarms",
    "/api/v1/alarms/history",
    "/api/v1/local-users",
    "/api/v1/clients",
    "/api/v1/push/devices",
    "/api/v1/push/history",
    "/api/v1/openapi.json",
];

#[tokio::test]
async fn every_page_and_api_call_needs_a_signed_in_administrator() {
    let fx = fixture("auth-required").await;
    for path in PAGES {
        let response = fx
            .send(
                fx.request(As::Nobody, Method::GET, path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
    }
    for path in API_GETS.iter().filter(|p| !p.ends_with("openapi.json")) {
        let (status, body) = fx.api(As::Nobody, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("authentication required")
        );
    }
    let (status, _) = fx
        .api(
            As::Nobody,
            Method::POST,
            "/api/v1/local-users",
            Some(json!({"username": "x", "password": "y"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let wrong_token = fx
        .send(
            Request::get("/api/v1/license")
                .header(header::AUTHORIZATION, "Bearer ght_nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong_token.status(), StatusCode::UNAUTHORIZED);
    // Signed in, every route answers.
    for path in PAGES {
        let (status, body) = fx.page(As::Session, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    for path in API_GETS {
        let (status, body) = fx.api(As::Token, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, _) = fx.page(As::Nobody, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn sign_in_is_rate_limited_and_never_says_which_names_exist() {
    let fx = fixture("sign-in").await;
    let wrong_password = fx
        .form(
            As::Nobody,
            "/login",
            &[("username", "root"), ("password", "nope")],
        )
        .await;
    let unknown_user = fx
        .form(
            As::Nobody,
            "/login",
            &[("username", "ghost"), ("password", "nope")],
        )
        .await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_user.status(), StatusCode::UNAUTHORIZED);
    let (a, b) = (
        body_text(wrong_password).await,
        body_text(unknown_user).await,
    );
    assert!(
        a.contains("Invalid username or password") && b.contains("Invalid username or password")
    );
    for _ in 0..3 {
        fx.form(
            As::Nobody,
            "/login",
            &[("username", "root"), ("password", "nope")],
        )
        .await;
    }
    // Five failures: even the right password waits now.
    let blocked = fx
        .form(
            As::Nobody,
            "/login",
            &[("username", "root"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body_text(blocked)
            .await
            .contains("Too many failed sign-ins")
    );
}

/// A sign-in from `address` (behind the trusted test proxy).
fn sign_in_from(address: &str, username: &str, password: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/login")
        .header("x-forwarded-for", address)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "username={}&password={}",
            encode(username),
            encode(password)
        )))
        .unwrap()
}

#[tokio::test]
async fn sign_in_limits_hold_under_two_hundred_concurrent_attempts() {
    let fx = fixture("sign-in-limits").await;
    // 200 wrong passwords at once from one address: five are checked, the
    // others refused before any password is.
    let attempts = (0..200).map(|_| {
        let router = fx.router.clone();
        tokio::spawn(async move {
            router
                .oneshot(sign_in_from("198.51.100.1", "root", "wrong"))
                .await
                .unwrap()
                .status()
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        statuses.push(attempt.await.unwrap());
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 195), "{statuses:?}");
    // The username's own limit (10) holds from other addresses too.
    for i in 0..5 {
        let status = fx
            .send(sign_in_from(&format!("203.0.113.{i}"), "root", "wrong"))
            .await
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let blocked = fx
        .send(sign_in_from("203.0.113.99", "root", ADMIN_PASSWORD))
        .await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body_text(blocked)
            .await
            .contains("Too many failed sign-ins for this account")
    );
    // Successful sign-ins use nothing up.
    fx.gatehouse
        .add_admin("ops", "ops-password-1")
        .await
        .unwrap();
    for _ in 0..8 {
        let status = fx
            .send(sign_in_from("192.0.2.77", "ops", "ops-password-1"))
            .await
            .status();
        assert_eq!(status, StatusCode::SEE_OTHER);
    }
    // Without the trusted proxy's header the proxy's own address counts,
    // and a forged header from elsewhere is not believed (unit-tested in
    // auth::client_address).
}

#[tokio::test]
async fn next_after_sign_in_only_ever_leads_into_the_panel() {
    let fx = fixture("next").await;
    // As a link would carry them (percent-encoded in the query) …
    for vector in [
        "/%09/evil.example",
        "/%0d%0a/evil.example",
        "/%2F/evil.example",
        "%2F%2Fevil.example",
        "/%5Cevil.example",
        "https:evil.example",
        "https://evil.example/",
        "%09https://evil.example",
    ] {
        let (status, page) = fx.page(As::Nobody, &format!("/login?next={vector}")).await;
        assert_eq!(status, StatusCode::OK, "{vector}");
        let marker = "name=\"next\" value=\"";
        let start = page.find(marker).expect("the form carries next") + marker.len();
        let carried = &page[start..start + page[start..].find('"').unwrap()];
        assert_eq!(carried, "/license", "{vector}");
    }
    // … and posted straight to the sign-in form, decoded.
    for next in [
        "/\t/evil.example",
        "/\r\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "https:evil.example",
    ] {
        let login = fx
            .form(
                As::Nobody,
                "/login",
                &[
                    ("username", "root"),
                    ("password", ADMIN_PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(login.headers()[header::LOCATION], "/license", "{next:?}");
    }
    let login = fx
        .form(
            As::Nobody,
            "/login",
            &[
                ("username", "root"),
                ("password", ADMIN_PASSWORD),
                ("next", "/users?month=2026-11"),
            ],
        )
        .await;
    assert_eq!(login.headers()[header::LOCATION], "/users?month=2026-11");
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_and_secure_and_ends_at_logout() {
    let fx = fixture("cookie").await;
    let login = fx
        .form(
            As::Nobody,
            "/login",
            &[
                ("username", "root"),
                ("password", ADMIN_PASSWORD),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(
        login.headers()[header::LOCATION],
        "/license",
        "no open redirect"
    );
    let cookie = login.headers()[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let without_csrf = fx.form(As::SessionNoCsrf, "/logout", &[]).await;
    assert_eq!(without_csrf.status(), StatusCode::FORBIDDEN);
    let logout = fx.form(As::Session, "/logout", &[]).await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    let (status, _) = fx.page(As::Session, "/license").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the session is gone");
}

#[tokio::test]
async fn forms_and_unsafe_api_calls_without_the_csrf_token_are_refused_and_change_nothing() {
    let fx = fixture("csrf").await;
    // Every path of the panel, as routed, with every unsafe method: a
    // signed-in session without the CSRF token, or with a forged one, is
    // refused (403) or the method is not routed there (405). Forms carry
    // what they would need to succeed.
    let fields: &[(&str, &str)] = &[
        ("username", "mallory"),
        ("password", "pw-pw-pw-pw"),
        ("days_before_end", "1"),
        ("user_limit_percent", "50"),
        ("recipients", "x@example.com"),
        ("name", "evil"),
        ("networks", "0.0.0.0/0"),
        ("secret", "s3cret-s3cret"),
        ("key", "GHL1.x"),
        ("user", "root"),
        ("mode", "challenge"),
    ];
    fx.gatehouse
        .add_local_user("alice", "alice-pw")
        .await
        .unwrap();
    let mut forms = 0;
    for path in gatehouse_http::panel_paths() {
        if path == "/login" {
            continue; // signing in needs no session (and has no token yet)
        }
        let path = path
            .replace("{name}", "alice")
            .replace("{action}", "delete")
            .replace("{id}", "nobody");
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            for csrf in [None, Some("forged")] {
                let mut pairs: Vec<(&str, &str)> = fields.to_vec();
                pairs.extend(csrf.map(|token| ("csrf", token)));
                let body = pairs
                    .iter()
                    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                let request = fx
                    .request(As::SessionNoCsrf, method.clone(), &path)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body))
                    .unwrap();
                let status = fx.send(request).await.status();
                assert!(
                    status == StatusCode::FORBIDDEN || status == StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} without a valid CSRF token: {status}"
                );
                forms += usize::from(status == StatusCode::FORBIDDEN);
            }
        }
    }
    assert!(forms >= 2 * 13, "every form was probed: {forms}");
    let users = fx.gatehouse.local_users().await.unwrap();
    assert_eq!(users.len(), 1, "alice is still there, nobody was added");
    assert!(users[0].enabled);
    fx.gatehouse.delete_local_user("alice").await.unwrap();
    assert!(fx.gatehouse.local_users().await.unwrap().is_empty());
    assert!(fx.gatehouse.radius_clients().await.unwrap().is_empty());
    assert_eq!(
        fx.gatehouse.alarm_settings().await.unwrap(),
        Default::default()
    );
    // The API: a session without the header is refused, with it accepted;
    // an API token needs none.
    let body = json!({"username": "carol", "password": "carol-password"});
    let (status, _) = fx
        .api(
            As::SessionNoCsrf,
            Method::POST,
            "/api/v1/local-users",
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = fx
        .api(As::Session, Method::POST, "/api/v1/local-users", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/local-users",
            Some(json!({"username": "dave", "password": "dave-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_license_page_shows_the_spec_table() {
    let fx = fixture("license-page").await;
    let (status, html) = fx.page(As::Session, "/license").await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        "Company",
        "User Limit",
        "0/25",
        "License Type",
        "Demo License",
        "Support End Date",
        "Push Subscription",
        "Active",
        &fx.gatehouse.app_key().to_string(),
        "Download Application Key File",
        "licenses@vendor.example",
        "Please issue a Gatehouse license key",
        "cannot prove the usage to a third party",
    ] {
        assert!(html.contains(text), "missing {text:?}");
    }
    // Which vendor keys this build trusts: the tests' build trusts the
    // development key, and the page says so.
    for fingerprint in gatehouse_core::vendor_keys::fingerprints() {
        assert!(html.contains(&fingerprint), "missing {fingerprint}");
    }
    assert!(gatehouse_core::vendor_keys::trusts_development_key());
    assert!(html.contains("id=\"development-key\""));
    assert!(html.contains("Development key trusted."));
    let (_, license) = fx
        .api(As::Token, Method::GET, "/api/v1/license", None)
        .await;
    assert_eq!(license["license_type"], "Demo License");
    assert_eq!(license["user_limit"], 25);
    assert_eq!(license["push_subscription"], "Active");
    assert_eq!(license["app_key"], fx.gatehouse.app_key().to_string());
}

#[tokio::test]
async fn the_license_page_says_the_days_left_in_the_words_the_cli_and_alarms_use() {
    // The demo began 2026-11-10 (UTC): its Support End Date is 2026-12-10.
    let mut fx = fixture("license-days").await;
    for (now, days) in [
        ("2026-11-10T10:00:00Z", 30),
        ("2026-12-09T10:00:00Z", 1),
        ("2026-12-10T23:59:59Z", 0),
        ("2026-12-11T00:00:00Z", -1),
    ] {
        fx.clock.set(ts(now));
        fx.sign_in().await;
        let (status, html) = fx.page(As::Session, "/license").await;
        assert_eq!(status, StatusCode::OK, "{now}");
        let words = gatehouse_license::words::remaining(days);
        assert!(html.contains(&format!("({words})")), "{now}: {words}");
        let (_, license) = fx
            .api(As::Token, Method::GET, "/api/v1/license", None)
            .await;
        assert_eq!(license["days_remaining"], days, "{now}");
    }
    assert_eq!(
        [30, 1, 0, -1].map(gatehouse_license::words::remaining),
        [
            "30 days remaining",
            "1 day remaining",
            "last day",
            "expired yesterday"
        ]
    );
}

#[tokio::test]
async fn a_bad_key_is_a_400_with_the_reason_and_changes_nothing() {
    let fx = fixture("bad-key").await;
    let before = fx.gatehouse.license();
    let other = fixture("bad-key-other").await;
    let cases = [
        ("GHL1.garbage".to_string(), "malformed license key"),
        (other.key(100, date(2027, 12, 31)), "bound to App Key"),
        (
            issue_key(
                fx.gatehouse.app_key(),
                &TestLicense::subscription(100, date(2027, 12, 31), ts("2026-11-10T11:00:00Z")),
            ),
            "issued in the future",
        ),
    ];
    for (key, reason) in cases {
        for path in ["/api/v1/license", "/api/v1/license/preview"] {
            let (status, body) = fx
                .api(As::Token, Method::POST, path, Some(json!({ "key": key })))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
            assert!(
                body["error"].as_str().unwrap().contains(reason),
                "{path}: {body}"
            );
        }
        for path in ["/license/preview", "/license/install"] {
            let response = fx.form(As::Session, path, &[("key", &key)]).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
            assert!(body_text(response).await.contains(reason), "{path}");
        }
        assert_eq!(fx.gatehouse.license(), before);
    }
    let (status, body) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/license",
            Some(json!({ "nokey": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid request body")
    );
}

#[tokio::test]
async fn a_key_is_previewed_then_installed() {
    let fx = fixture("install").await;
    fx.count_users(&(0..25).map(|i| format!("user{i:02}")).collect::<Vec<_>>())
        .await;
    let key = fx.key(20, date(2027, 12, 31));
    let preview = fx
        .form(As::Session, "/license/preview", &[("key", &key)])
        .await;
    assert_eq!(preview.status(), StatusCode::OK);
    let html = body_text(preview).await;
    assert!(
        html.contains("25/25") || html.contains("/25"),
        "current limit shown"
    );
    assert!(html.contains("/20"), "new limit shown");
    assert!(
        html.contains("more than the new limit"),
        "the preview warns about a lower limit"
    );
    assert_eq!(
        fx.gatehouse.license().payload.user_limit,
        25,
        "a preview installs nothing"
    );
    let (status, preview) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/license/preview",
            Some(json!({ "key": key })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            preview["user_limit"].as_u64(),
            preview["active_users"].as_u64(),
            preview["over_new_limit"].as_bool()
        ),
        (Some(20), Some(25), Some(true))
    );
    let installed = fx
        .form(As::Session, "/license/install", &[("key", &key)])
        .await;
    assert_eq!(installed.status(), StatusCode::SEE_OTHER);
    let (_, html) = fx.page(As::Session, "/license?installed=1").await;
    assert!(
        html.contains("25/20")
            && html.contains("Subscription")
            && html.contains("installed and in force")
    );
}

#[tokio::test]
async fn an_expired_license_locks_everything_but_renewal() {
    let mut fx = fixture("expired").await;
    fx.clock.set(ts("2027-01-15T00:00:00Z"));
    fx.sign_in().await;
    assert_eq!(
        fx.gatehouse.license_status(),
        gatehouse_license::LicenseStatus::Expired
    );
    for path in PAGES.iter().filter(|p| !p.starts_with("/license")) {
        let response = fx
            .send(
                fx.request(As::Session, Method::GET, path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[header::LOCATION], "/license", "{path}");
    }
    for path in API_GETS
        .iter()
        .filter(|p| !p.starts_with("/api/v1/license") && !p.ends_with("openapi.json"))
    {
        let (status, body) = fx.api(As::Token, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body["error"], EXPIRED_TEXT, "{path}");
    }
    let (status, _) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/alarms",
            Some(json!({"days_before_end": [], "user_limit_percent": [], "recipients": []})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Renewal stays possible.
    let (status, html) = fx.page(As::Session, "/license").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("License expired, please contact your system administrator"));
    for path in [
        "/license/application-key-file",
        "/api/v1/license/application-key-file",
        "/api/v1/license",
        "/api/v1/license/request",
    ] {
        let (status, _) = fx.page(As::Session, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let key = fx.key(100, date(2028, 1, 31));
    let (status, _) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/license/preview",
            Some(json!({ "key": key })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let installed = fx
        .form(As::Session, "/license/install", &[("key", &key)])
        .await;
    assert_eq!(installed.status(), StatusCode::SEE_OTHER);
    let (status, _) = fx.page(As::Session, "/users").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new key unlocks the panel at once"
    );
}

#[tokio::test]
async fn the_users_table_pages_searches_and_downloads() {
    let fx = fixture("users").await;
    fx.count_users(&(0..20).map(|i| format!("user{i:03}")).collect::<Vec<_>>())
        .await;
    fx.clock.set(ts("2026-11-10T11:00:00Z"));
    fx.count_users(&["alice".to_string()]).await;
    fx.clock.set(ts("2026-11-10T12:00:00Z"));
    fx.count_users(&["albert".to_string()]).await;
    // 22 users with limit 25; pages of 8 through the API.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = fx
            .api(
                As::Token,
                Method::GET,
                &format!("/api/v1/users?limit=8&after={after}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(
            page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 22);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 22, "no row twice");
    let (_, search) = fx
        .api(As::Token, Method::GET, "/api/v1/users?q=AL", None)
        .await;
    let found: Vec<&str> = search["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["albert", "alice"]);
    let (_, newest) = fx
        .api(
            As::Token,
            Method::GET,
            "/api/v1/users?sort=first_seen&desc=1&limit=1",
            None,
        )
        .await;
    assert_eq!(newest["users"][0]["username"], "albert");
    for bad in [
        "/api/v1/users?month=2026-13",
        "/api/v1/users?sort=password",
        "/api/v1/users?after=zzz",
        "/api/v1/users?limit=0",
        "/api/v1/users?limit=1001",
        "/api/v1/users?desc=yes",
        "/api/v1/users?sort=username&sort=first_seen",
    ] {
        let (status, body) = fx.api(As::Token, Method::GET, bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].is_string(), "{bad}: a JSON error, got {body}");
    }
    let (_, html) = fx.page(As::Session, "/users").await;
    assert!(
        html.contains("user000") && !html.contains("Next page"),
        "22 rows fit one page of 50"
    );
    let (status, csv) = fx.page(As::Session, "/users.csv?q=al").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        csv.lines().next(),
        Some("username,display_name,source,first_seen,last_login,last_client")
    );
    assert_eq!(csv.lines().count(), 3);
}

#[tokio::test]
async fn the_users_csv_holds_every_row_of_a_large_month() {
    let fx = fixture("users-csv").await;
    fx.gatehouse
        .install_license(&fx.key(20_000, date(2099, 12, 31)))
        .await
        .unwrap();
    // More rows than one streamed chunk (5,000), admitted concurrently.
    const USERS: usize = 12_345;
    let mut admissions = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let gatehouse = fx.gatehouse.clone();
        admissions.spawn(async move {
            for i in (worker..USERS).step_by(32) {
                let name = format!("user{i:05}");
                let username = Username::parse(&name).unwrap();
                gatehouse
                    .admit(&Identity::local(&username, &name), "vpn-1")
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = admissions.join_next().await {
        done.unwrap();
    }
    for path in ["/users.csv", "/users.csv?sort=last_login&desc=1"] {
        let (status, csv) = fx.page(As::Session, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let names: Vec<&str> = csv
            .lines()
            .skip(1)
            .map(|line| line.split(',').next().unwrap())
            .collect();
        assert_eq!(names.len(), USERS, "{path}: one line per user");
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), USERS, "{path}: no user twice");
    }
    let (_, csv) = fx.page(As::Session, "/users.csv").await;
    let names: Vec<&str> = csv.lines().skip(1).map(|l| &l[..9]).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "in username order");
}

#[tokio::test]
async fn analytics_show_months_days_and_the_projection() {
    let fx = fixture("analytics").await;
    fx.count_users(&(0..10).map(|i| format!("u{i}")).collect::<Vec<_>>())
        .await;
    let (status, html) = fx.page(As::Session, "/analytics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<svg class=\"chart\""),
        "the chart is inline SVG"
    );
    assert!(html.contains("2026-11: 10 of 25 users"));
    // 10 users in 10 days: one a day, 15 seats left → November 25.
    assert!(
        html.contains("At this rate the limit is reached on 2026-11-25"),
        "{html}"
    );
    let (_, usage) = fx.api(As::Token, Method::GET, "/api/v1/usage", None).await;
    assert_eq!(usage["projection"]["kind"], "reached_on");
    assert_eq!(usage["projection"]["date"], "2026-11-25");
    assert_eq!(usage["daily"], json!([{"day": 10, "users": 10}]));
    let (_, csv) = fx.page(As::Session, "/analytics.csv").await;
    assert!(csv.contains("2026-11,10,25,40.0"), "{csv}");
}

#[tokio::test]
async fn alarm_settings_are_saved_and_bad_ones_refused() {
    let fx = fixture("alarms").await;
    let (status, saved) = fx
        .api(As::Token, Method::PUT, "/api/v1/alarms", Some(json!({"days_before_end": [7, 30], "user_limit_percent": [90], "recipients": ["ops@example.com"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        saved,
        json!({"days_before_end": [30, 7], "user_limit_percent": [90], "recipients": ["ops@example.com"]})
    );
    let (status, error) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/alarms",
            Some(json!({"days_before_end": [7], "user_limit_percent": [150], "recipients": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("user_limit_percent")
    );
    let refused = fx
        .form(
            As::Session,
            "/alarms",
            &[
                ("days_before_end", "7, x"),
                ("user_limit_percent", "90"),
                ("recipients", ""),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(refused).await.contains("days_before_end"));
    let saved = fx
        .form(
            As::Session,
            "/alarms",
            &[
                ("days_before_end", "60, 15"),
                ("user_limit_percent", "80 95"),
                ("recipients", "noc@example.org\nops@example.com"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let settings = fx.gatehouse.alarm_settings().await.unwrap();
    assert_eq!(
        (settings.days_before_end(), settings.user_limit_percent()),
        (&[60, 15][..], &[95, 80][..])
    );
    assert_eq!(
        settings.recipients(),
        ["noc@example.org", "ops@example.com"]
    );
}

#[tokio::test]
async fn fired_alarms_are_listed_with_their_delivery_state() {
    let fx = fixture("alarm-history").await;
    let (status, history) = fx
        .api(As::Token, Method::GET, "/api/v1/alarms/history", None)
        .await;
    assert_eq!((status, history), (StatusCode::OK, json!([])));
    // The demo license ends in 30 days: saving thresholds 60 and 30 fires
    // both at once; only the more urgent one is sent.
    let (status, _) = fx
        .api(As::Token, Method::PUT, "/api/v1/alarms", Some(json!({"days_before_end": [60, 30], "user_limit_percent": [], "recipients": ["ops@example.com"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, history) = fx
        .api(As::Token, Method::GET, "/api/v1/alarms/history", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let end = fx.gatehouse.license().payload.support_end;
    let text = format!("License expires in 30 days (Support End Date {end})");
    // The superseded row names its own threshold.
    let sixty = format!("License expires within 60 days (Support End Date {end})");
    let states: Vec<(&str, &str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap(),
                a["subject"].as_str().unwrap(),
                a["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("support_end", text.as_str(), "queued"),
            ("support_end", sixty.as_str(), "superseded"),
        ]
    );
    assert_eq!(history[0]["recipients"], json!(["ops@example.com"]));
    assert_eq!(history[0]["attempts"], 0);
    let (_, html) = fx.page(As::Session, "/alarms").await;
    assert!(html.contains(&text), "{html}");
    assert!(
        html.contains("Not sent: a more urgent alarm of this kind was raised at the same time")
    );
    // Saving again fires nothing new.
    let (status, _) = fx
        .api(As::Token, Method::PUT, "/api/v1/alarms", Some(json!({"days_before_end": [60, 30], "user_limit_percent": [], "recipients": ["ops@example.com"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fx.gatehouse.alarm_history(10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_test_email_says_what_is_missing_or_what_failed() {
    let fx = fixture("test-email-unconfigured").await;
    let (status, body) = fx
        .api(As::Token, Method::POST, "/api/v1/alarms/test", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        "email is not configured: set [smtp] in the configuration file"
    );
    // Nothing listens on this port: the SMTP connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mailer = SmtpMailer::new(&SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        credentials: None,
        ca_pem: None,
        from: "gatehouse@example.com".into(),
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap();
    let fx = fixture_with("test-email", Some(Arc::new(mailer))).await;
    let (status, body) = fx
        .api(As::Token, Method::POST, "/api/v1/alarms/test", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "no alarm recipients are configured");
    let settings = AlarmSettings::new(vec![], vec![], vec!["ops@example.com".into()]).unwrap();
    fx.gatehouse.set_alarm_settings(&settings).await.unwrap();
    let (status, body) = fx
        .api(As::Token, Method::POST, "/api/v1/alarms/test", None)
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("sending failed: "),
        "{body}"
    );
    let page = fx.form(As::Session, "/alarms/test", &[]).await;
    assert_eq!(page.status(), StatusCode::BAD_GATEWAY);
    assert!(body_text(page).await.contains("sending failed: "));
}

#[tokio::test]
async fn local_users_are_managed() {
    let fx = fixture("local-users").await;
    let (status, created) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/local-users",
            Some(json!({"username": "Eve", "password": "eve-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (
            created["username"].as_str(),
            created["enabled"].as_bool(),
            &created["totp"]
        ),
        (Some("eve"), Some(true), &Value::Null)
    );
    let (status, _) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/local-users",
            Some(json!({"username": "EVE", "password": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/local-users",
            Some(json!({"username": "", "password": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, disabled) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/local-users/eve/disable",
            None,
        )
        .await;
    assert_eq!(disabled["enabled"], false);
    let (status, _) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/local-users/eve/password",
            Some(json!({"password": "new-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, enrolled) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/local-users/eve/totp",
            Some(json!({"mode": "append"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        enrolled["uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Gatehouse:eve?")
    );
    assert!(enrolled["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let (_, users) = fx
        .api(As::Token, Method::GET, "/api/v1/local-users", None)
        .await;
    assert_eq!(users[0]["totp"], "append");
    let (status, _) = fx
        .api(
            As::Token,
            Method::DELETE,
            "/api/v1/local-users/eve/totp",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = fx
        .api(As::Token, Method::DELETE, "/api/v1/local-users/eve", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, path) in [
        (Method::DELETE, "/api/v1/local-users/eve"),
        (Method::POST, "/api/v1/local-users/nobody/enable"),
    ] {
        let (status, _) = fx.api(As::Token, method, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // The page: add, enroll (the QR code is shown once), delete.
    let added = fx
        .form(
            As::Session,
            "/local-users",
            &[("username", "frank"), ("password", "frank-password")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let enrolled = fx
        .form(As::Session, "/local-users/frank/totp", &[("mode", "")])
        .await;
    let html = body_text(enrolled).await;
    assert!(html.contains("<svg") && html.contains("shown only once"));
    let (_, again) = fx.page(As::Session, "/local-users").await;
    assert!(
        !again.contains("otpauth://"),
        "the secret is not shown again"
    );
}

#[tokio::test]
async fn radius_clients_are_managed() {
    let fx = fixture("clients").await;
    let client =
        json!({"name": "vpn-1", "networks": ["10.0.0.0/8"], "secret": "a-long-shared-secret"});
    let (status, created) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/clients",
            Some(client.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        created["require_message_authenticator"], true,
        "on by default"
    );
    assert!(created.get("secret").is_none(), "the secret is never shown");
    let (status, _) = fx
        .api(As::Token, Method::POST, "/api/v1/clients", Some(client))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, error) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "x", "networks": ["10.0.0.1/8"], "secret": "s"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"].as_str().unwrap().contains("invalid network"));
    let (status, _) = fx
        .api(As::Token, Method::DELETE, "/api/v1/clients/vpn-1", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = fx
        .api(As::Token, Method::DELETE, "/api/v1/clients/vpn-1", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_count_authentications_and_show_the_license() {
    let fx = fixture("metrics").await;
    fx.gatehouse
        .add_local_user("gina", "gina-password")
        .await
        .unwrap();
    fx.gatehouse
        .authenticate("gina", "gina-password", "vpn")
        .await
        .unwrap();
    let _ = fx.gatehouse.authenticate("gina", "wrong", "vpn").await;
    // A push challenge is counted under its own reason.
    let gina = Identity::local(&Username::parse("gina").unwrap(), "gina");
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let phone = p256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    fx.gatehouse
        .enroll_push_device(
            &gina,
            "phone",
            phone.verifying_key().to_sec1_point(false).as_bytes(),
        )
        .await
        .unwrap();
    fx.gatehouse
        .set_push_mode("gina", Some(gatehouse_core::push::PushMode::Challenge))
        .await
        .unwrap();
    assert!(matches!(
        fx.gatehouse.login("gina", "gina-password", "vpn").await,
        Ok(gatehouse_core::LoginStep::PushSent { .. })
    ));
    let (status, text) = fx.page(As::Nobody, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "gatehouse_authentications_total{result=\"accept\",reason=\"\"} 1",
        "gatehouse_authentications_total{result=\"reject\",reason=\"invalid_credentials\"} 1",
        "gatehouse_authentications_total{result=\"challenge\",reason=\"one_time_code_required\"} 0",
        "gatehouse_authentications_total{result=\"challenge\",reason=\"push_sent\"} 1",
        "gatehouse_push_waiting 0",
        "gatehouse_active_users 1",
        "gatehouse_user_limit 25",
        "gatehouse_license_expired 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("gatehouse_license_days_remaining "));
}

/// The OpenAPI document lists exactly the routes the API serves.
#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let document: Value = serde_json::from_str(gatehouse_http::api::OPENAPI).unwrap();
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = gatehouse_http::api::routes()
        .1
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(documented, served);
    // Every documented operation answers (not 404/405) on this server.
    let fx = fixture("openapi").await;
    for (method, path) in &documented {
        let path = format!(
            "/api/v1{}",
            path.replace("{name}", "nobody")
                .replace("{id}", "nobody")
                .replace("{user}", "nobody")
        );
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, _) = fx
            .api(As::Token, method.clone(), &path, Some(json!({})))
            .await;
        assert!(
            status != StatusCode::NOT_FOUND || path.contains("nobody"),
            "{method} {path}: {status}"
        );
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(!status.is_server_error(), "{method} {path}: {status}");
    }
}

/// Push administration and the device protocol: an administrator makes a
/// link, a phone (a P-256 key here) enrolls with it once, fetches with
/// signed requests only, and is revoked.
#[tokio::test]
async fn a_phone_enrolls_by_link_fetches_signed_and_is_revoked() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use p256::ecdsa::signature::Signer as _;

    let fx = fixture("push").await;
    fx.gatehouse
        .add_local_user("alice", "alice-password")
        .await
        .unwrap();
    let (status, body) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/push/enrollments",
            Some(json!({"user": "nobody"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/push/enrollments",
            Some(json!({"user": "Alice"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"], "alice");
    let link = body["link"].as_str().unwrap();
    let token = link
        .split_once("/push/#enroll=")
        .map(|(_, token)| token)
        .expect("a link to the web app");
    // The phone: what is the link for, then enroll its key.
    let (status, info) = fx
        .api(
            As::Nobody,
            Method::POST,
            "/push/v1/enrollment",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(
        (status, info["user"].as_str()),
        (StatusCode::OK, Some("alice"))
    );
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let key = p256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    let public_key = URL_SAFE_NO_PAD.encode(key.verifying_key().to_sec1_point(false).as_bytes());
    let enroll = json!({"token": token, "label": "Alice's phone", "public_key": public_key});
    let (status, enrolled) = fx
        .api(
            As::Nobody,
            Method::POST,
            "/push/v1/devices",
            Some(enroll.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{enrolled}");
    let device = enrolled["device"].as_str().unwrap().to_string();
    assert_eq!(
        enrolled["server_key"],
        URL_SAFE_NO_PAD.encode(fx.gatehouse.push_verifying_key().to_bytes())
    );
    let (status, again) = fx
        .api(As::Nobody, Method::POST, "/push/v1/devices", Some(enroll))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a link enrolls one phone: {again}"
    );
    // As docs/push-protocol.md says: a used link is refused at the lookup
    // too (before the app makes a key); a body must be JSON with its
    // Content-Type; a fetch without its headers and an unknown decision
    // word are 400.
    let (status, _) = fx
        .api(
            As::Nobody,
            Method::POST,
            "/push/v1/enrollment",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a used link");
    let untyped = Request::builder()
        .method(Method::POST)
        .uri("/push/v1/enrollment")
        .body(Body::from(json!({"token": token}).to_string()))
        .unwrap();
    assert_eq!(fx.send(untyped).await.status(), StatusCode::BAD_REQUEST);
    let bare = Request::builder()
        .uri(format!("/push/v1/devices/{device}/pushes"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(fx.send(bare).await.status(), StatusCode::BAD_REQUEST);
    let (status, _) = fx
        .api(
            As::Nobody,
            Method::POST,
            &format!("/push/v1/devices/{device}/decisions"),
            Some(json!({"push": "p", "decision": "maybe", "signature": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown decision word");
    for bad in [
        json!({"token": "garbage", "label": "x", "public_key": public_key}),
        json!({"token": token, "label": "x", "public_key": "!!"}),
        json!({"token": token}),
    ] {
        let (status, _) = fx
            .api(As::Nobody, Method::POST, "/push/v1/devices", Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // Fetches: signed by the device near the server's time, or refused.
    let now = fx.gatehouse.now().as_second();
    let fetch = |time: i64, signature: String| {
        let request = Request::builder()
            .uri(format!("/push/v1/devices/{device}/pushes"))
            .header("x-gatehouse-time", time.to_string())
            .header("x-gatehouse-signature", signature)
            .body(Body::empty())
            .unwrap();
        fx.send(request)
    };
    let sign = |text: String| {
        let signature: p256::ecdsa::Signature = key.sign(text.as_bytes());
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    };
    let poll = |time: i64| format!("gatehouse-poll-v1|{device}|{time}");
    assert_eq!(fetch(now, sign(poll(now))).await.status(), StatusCode::OK);
    assert_eq!(
        fetch(now, sign(poll(now - 1))).await.status(),
        StatusCode::FORBIDDEN
    );
    let stale = fetch(now - 3600, sign(poll(now - 3600))).await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    // The administrator's view.
    let (_, devices) = fx
        .api(As::Token, Method::GET, "/api/v1/push/devices", None)
        .await;
    assert_eq!(devices[0]["user"], "alice");
    assert_eq!(devices[0]["label"], "Alice's phone");
    for (mode, expected) in [
        ("challenge", StatusCode::NO_CONTENT),
        ("", StatusCode::NO_CONTENT),
        ("sms", StatusCode::BAD_REQUEST),
    ] {
        let (status, _) = fx
            .api(
                As::Token,
                Method::PUT,
                "/api/v1/push/users/alice/mode",
                Some(json!({"mode": mode})),
            )
            .await;
        assert_eq!(status, expected, "{mode}");
    }
    let path = format!("/api/v1/push/devices/{device}");
    let (status, _) = fx.api(As::Token, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = fx.api(As::Token, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        fetch(now, sign(poll(now))).await.status(),
        StatusCode::NOT_FOUND,
        "a revoked phone sees nothing"
    );
    // The web app is served from the binary.
    for asset in [
        "/push/",
        "/push/app.js",
        "/push/sw.js",
        "/push/manifest.webmanifest",
    ] {
        let (status, _) = fx.page(As::Nobody, asset).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
    }
}

/// Without TLS (no `Secure` cookies), phones on other hosts are refused.
#[tokio::test]
async fn phones_must_use_https_unless_on_this_host() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("http")
        .join("push-plain");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.join("gatehouse.db"), test_seal())
            .await
            .unwrap(),
    );
    let gatehouse = Arc::new(
        Gatehouse::open(
            store,
            Settings::new(Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")))),
        )
        .await
        .unwrap(),
    );
    let panel = Panel::new(gatehouse, PanelSettings::default());
    for (peer, expected) in [
        ([192, 0, 2, 1], StatusCode::FORBIDDEN),
        ([127, 0, 0, 1], StatusCode::BAD_REQUEST),
    ] {
        let app = router(panel.clone()).layer(MockConnectInfo(SocketAddr::from((peer, 40000))));
        let request = Request::builder()
            .method(Method::POST)
            .uri("/push/v1/enrollment")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"token":"x"}"#))
            .unwrap();
        assert_eq!(app.oneshot(request).await.unwrap().status(), expected);
    }
}

/// The sealing key the tests' databases are sealed under.
fn test_seal() -> std::sync::Arc<gatehouse_core::seal::SealingKey> {
    std::sync::Arc::new(gatehouse_core::seal::SealingKey::from_bytes([7; 32]))
}
