//! The License page and API: the SPEC table, the days left, key preview and
//! install, the expired-license lock.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use gatehouse_license::jiff::civil::date;
use gatehouse_testkit::{TestLicense, issue_key};
use serde_json::json;

use super::support::*;

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
    // The Account page stays open: a first-start password is replaced
    // before the License page can be reached.
    for path in PAGES
        .iter()
        .filter(|p| !p.starts_with("/license") && **p != "/account")
    {
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
    // The user portal says why to its users, without a way in.
    for path in ["/my/", "/my"] {
        let (status, html) = fx.page(As::Nobody, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains(EXPIRED_TEXT), "{path}: {html}");
    }
    let response = fx
        .form(
            As::Nobody,
            "/my/sign-in",
            &[("username", "alice"), ("password", "x"), ("code", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
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

/// SPEC §16: a key's options are shown on the License page, in the API and
/// the preview; seats past the limit are marked in the Users table, its
/// API and its CSV.
#[tokio::test]
async fn a_key_with_options_shows_them_and_marks_seats_past_the_limit() {
    let fx = fixture("options").await;
    let options = gatehouse_license::LicenseOptions {
        overage_percent: 20,
        grace_days: 14,
        ..Default::default()
    };
    let key = issue_key(
        fx.gatehouse.app_key(),
        &TestLicense {
            options,
            ..TestLicense::subscription(5, date(2027, 12, 31), fx.gatehouse.now())
        },
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
    assert_eq!(preview["options"]["overage_percent"], 20);
    assert_eq!(
        preview["options_text"],
        "Overage Allowance 20% (1 user past the limit, up to 6); Grace Period 14 days after the Support End Date"
    );
    fx.gatehouse.install_license(&key).await.unwrap();
    fx.count_users(&(0..6).map(|i| format!("user{i}")).collect::<Vec<_>>())
        .await;
    let (_, license) = fx
        .api(As::Token, Method::GET, "/api/v1/license", None)
        .await;
    assert_eq!(
        (
            &license["options"],
            &license["seat_cap"],
            &license["users_over_limit"],
            &license["grace_end_date"],
            &license["grace_days_remaining"],
        ),
        (
            &json!({"overage_percent": 20, "grace_days": 14, "exempt_seats": 0, "reserved_seats": 0}),
            &json!(6),
            &json!(1),
            &json!("2028-01-14"),
            &json!(null),
        )
    );
    let (_, html) = fx.page(As::Session, "/license").await;
    for text in [
        "6/5",
        "1 over the limit",
        "<th>Overage Allowance</th><td>20% (1 user past the limit, up to 6)</td>",
        "<th>Grace Period</th><td>14 days after the Support End Date</td>",
        "Current options:    Overage Allowance 20%",
    ] {
        assert!(html.contains(text), "{text}");
    }
    let (_, users) = fx.api(As::Token, Method::GET, "/api/v1/users", None).await;
    let seats: Vec<&str> = users["users"]
        .as_array()
        .unwrap_or_else(|| users.as_array().unwrap())
        .iter()
        .map(|row| row["seat"].as_str().unwrap())
        .collect();
    assert_eq!(
        seats,
        ["within", "within", "within", "within", "within", "overage"]
    );
    let (_, html) = fx.page(As::Session, "/users").await;
    assert_eq!(html.matches(">Overage</span>").count(), 1);
    let (_, csv) = fx.page(As::Session, "/users.csv").await;
    assert!(csv.contains("user5,user5,local,"), "{csv}");
    assert!(csv.trim_end().ends_with(",overage"), "{csv}");
}

/// SPEC §16: in the grace the panel stays open, with a banner naming the
/// days left, and the API says `grace`.
#[tokio::test]
async fn in_the_grace_the_panel_stays_open_under_a_banner() {
    let mut fx = fixture("grace").await;
    let key = issue_key(
        fx.gatehouse.app_key(),
        &TestLicense {
            options: gatehouse_license::LicenseOptions {
                grace_days: 5,
                ..Default::default()
            },
            ..TestLicense::subscription(50, date(2026, 11, 20), fx.gatehouse.now())
        },
    );
    fx.gatehouse.install_license(&key).await.unwrap();
    fx.clock.set(ts("2026-11-22T12:00:00Z"));
    fx.sign_in().await;
    let banner = "License expired on 2026-11-20; grace period ends 2026-11-25 (3 days remaining): users counted this month still log in, new users are refused. Install a renewed key on the License page.";
    for path in ["/users", "/license", "/local-users"] {
        let (status, html) = fx.page(As::Session, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains("id=\"license-grace\""), "{path}");
        assert!(html.contains(banner), "{path}");
        assert!(!html.contains("id=\"license-locked\""), "{path}");
    }
    let (status, license) = fx
        .api(As::Token, Method::GET, "/api/v1/license", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(license["status"], "grace");
    assert_eq!(license["grace_days_remaining"], 3);
    let (status, _) = fx.api(As::Token, Method::GET, "/api/v1/users", None).await;
    assert_eq!(status, StatusCode::OK, "the API stays open in the grace");
    let (_, metrics) = fx.page(As::Session, "/metrics").await;
    assert!(metrics.contains("gatehouse_license_grace 1"), "{metrics}");
    // After the grace: locked as any expired license.
    fx.clock.set(ts("2026-11-26T00:00:00Z"));
    let (status, _) = fx.page(As::Session, "/users").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}
