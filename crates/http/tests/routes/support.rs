//! The fixture of the route tests: a service over a fresh SQLite store, the
//! router in process (`Router::oneshot`), a signed-in administrator and an
//! API token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use gatehouse_core::alarms::Mailer;
use gatehouse_core::policy::{PolicyChecks, PolicySet};
use gatehouse_core::store::Store;
use gatehouse_core::{
    Gatehouse, Identity, ManualClock, MfaSettings, PasswordParams, Settings, Username,
};
use gatehouse_http::{Panel, PanelSettings, router};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_radius::dictionary::Dictionary;
use gatehouse_store::SqliteStore;
use gatehouse_testkit::{TestLicense, issue_key};
use serde_json::Value;
use tower::ServiceExt as _;

pub(crate) const EXPIRED_TEXT: &str = "License expired, please contact your system administrator";
pub(crate) const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub(crate) fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub(crate) struct Fixture {
    /// The administrator signed in, and their password.
    pub(crate) admin: (String, String),
    pub(crate) gatehouse: Arc<Gatehouse>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) router: Router,
    pub(crate) token: String,
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(crate) enum As {
    Nobody,
    Token,
    /// The session cookie, with the CSRF token where it belongs.
    Session,
    /// The session cookie without any CSRF token.
    SessionNoCsrf,
}

pub(crate) async fn fixture(name: &str) -> Fixture {
    fixture_with(name, None).await
}

pub(crate) async fn fixture_with(name: &str, mailer: Option<Arc<dyn Mailer>>) -> Fixture {
    build(name, mailer, PolicySet::default(), false).await
}

/// The fixture with a second factor required (`mfa.required`).
pub(crate) async fn fixture_second_factor_required(name: &str) -> Fixture {
    build_with(name, None, PolicySet::default(), false, true).await
}

/// The fixture with `policies` fixed as the configuration fixes them.
pub(crate) async fn fixture_with_policies(name: &str, policies: PolicySet) -> Fixture {
    build(name, None, policies, false).await
}

/// A first start: the only administrator is `admin`, with the one-time
/// password `serve` would print, signed in with it.
pub(crate) async fn fixture_first_start(name: &str) -> Fixture {
    build(name, None, PolicySet::default(), true).await
}

async fn build(
    name: &str,
    mailer: Option<Arc<dyn Mailer>>,
    policies: PolicySet,
    first_start: bool,
) -> Fixture {
    build_with(name, mailer, policies, first_start, false).await
}

async fn build_with(
    name: &str,
    mailer: Option<Arc<dyn Mailer>>,
    policies: PolicySet,
    first_start: bool,
    mfa_required: bool,
) -> Fixture {
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
                // License rules, not the second factor, are under test
                // here (unless the test asks for it).
                mfa: MfaSettings {
                    required: mfa_required,
                    ..MfaSettings::default()
                },
                policies: Arc::new(policies),
                policy_checks: PolicyChecks {
                    directories: Vec::new(),
                    replies: Some(Arc::new(Dictionary::builtin())),
                },
                portal_url: Some("https://gatehouse.example.com".into()),
                ..Settings::new(clock.clone())
            },
        )
        .await
        .unwrap(),
    );
    let admin = if first_start {
        let password = gatehouse.create_setup_admin().await.unwrap().unwrap();
        ("admin".to_string(), password)
    } else {
        gatehouse.add_admin("root", ADMIN_PASSWORD).await.unwrap();
        ("root".to_string(), ADMIN_PASSWORD.to_string())
    };
    let token = gatehouse
        .create_admin_token(&admin.0, None, "")
        .await
        .unwrap();
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
        admin,
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

pub(crate) fn hidden_csrf(html: &str) -> Option<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_string())
}

impl Fixture {
    /// Signs in as the fixture's administrator (sessions follow the
    /// effective clock: moving it far ahead ends them).
    pub(crate) async fn sign_in(&mut self) {
        let (name, password) = self.admin.clone();
        let login = self
            .form(
                As::Nobody,
                "/login",
                &[
                    ("username", &name),
                    ("password", &password),
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
        // The Account page is open to every session (the License page is
        // not, while a first-start password waits to be replaced).
        let (_, page) = self.page(As::Session, "/account").await;
        self.csrf = hidden_csrf(&page).expect("the Account page carries a CSRF token");
    }

    pub(crate) fn request(
        &self,
        who: As,
        method: Method,
        path: &str,
    ) -> axum::http::request::Builder {
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

    pub(crate) async fn send(&self, request: Request<Body>) -> Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    pub(crate) async fn page(&self, who: As, path: &str) -> (StatusCode, String) {
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
    pub(crate) async fn form(&self, who: As, path: &str, fields: &[(&str, &str)]) -> Response {
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

    pub(crate) async fn api(
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

    pub(crate) fn key(
        &self,
        limit: u32,
        support_end: gatehouse_license::jiff::civil::Date,
    ) -> String {
        issue_key(
            self.gatehouse.app_key(),
            &TestLicense::subscription(limit, support_end, self.gatehouse.now()),
        )
    }

    /// The newest audit entries (of `action`, when given), at most `limit`.
    pub(crate) async fn audit(
        &self,
        action: Option<&str>,
        limit: u32,
    ) -> Vec<gatehouse_core::audit::AuditRecord> {
        self.gatehouse
            .audit_entries(&gatehouse_core::audit::AuditQuery {
                action: action.map(str::to_string),
                limit,
                ..Default::default()
            })
            .await
            .unwrap()
    }

    pub(crate) async fn count_users(&self, names: &[String]) {
        for name in names {
            let username = Username::parse(name).unwrap();
            self.gatehouse
                .admit(&Identity::local(&username, name), "vpn-1")
                .await
                .unwrap();
        }
    }
}

pub(crate) fn encode(text: &str) -> String {
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

pub(crate) async fn body_text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub(crate) const PAGES: [&str; 13] = [
    "/audit",
    "/license",
    "/account",
    "/users",
    "/users.csv",
    "/analytics",
    "/analytics.csv",
    "/alarms",
    "/local-users",
    "/clients",
    "/push-devices",
    "/policies",
    "/license/application-key-file",
];

pub(crate) const API_GETS: [&str; 17] = [
    "/api/v1/audit",
    "/api/v1/audit/verify",
    "/api/v1/admins",
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
    "/api/v1/policies",
    "/api/v1/openapi.json",
];

/// The sealing key the tests' databases are sealed under.
pub(crate) fn test_seal() -> std::sync::Arc<gatehouse_core::seal::SealingKey> {
    std::sync::Arc::new(gatehouse_core::seal::SealingKey::from_bytes([7; 32]))
}
