//! Who may use the panel and the API: sign-in and its limits, where `next`
//! leads, the session cookie, CSRF.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt as _;

use super::support::*;

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
