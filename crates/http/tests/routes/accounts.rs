//! Local users and RADIUS clients.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::support::*;

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

/// Enrollment windows through the API and the Local users page: opened
/// for a user, a group or everyone, listed, closed; bad scopes refused.
#[tokio::test]
async fn enrollment_windows_are_opened_listed_and_closed() {
    let fx = fixture("enrollment-windows").await;
    let (status, opened) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/enrollment-windows",
            Some(json!({"user": "Alice", "days": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    assert_eq!(
        (&opened["for"], &opened["user"], &opened["closes_at"]),
        (
            &json!("user alice"),
            &json!("alice"),
            &json!("2026-11-13T10:00:00+00:00")
        )
    );
    for (body, status, reason) in [
        (
            json!({"user": "a", "all": true}),
            StatusCode::BAD_REQUEST,
            "exactly one",
        ),
        (json!({}), StatusCode::BAD_REQUEST, "exactly one"),
        (
            json!({"group": "staff"}),
            StatusCode::BAD_REQUEST,
            "not a group",
        ),
        (
            json!({"all": true, "days": 91}),
            StatusCode::BAD_REQUEST,
            "1 to 90",
        ),
    ] {
        let (got, answer) = fx
            .api(
                As::Token,
                Method::POST,
                "/api/v1/enrollment-windows",
                Some(body.clone()),
            )
            .await;
        assert_eq!(got, status, "{body}");
        assert!(
            answer["error"].as_str().unwrap().contains(reason),
            "{body}: {answer}"
        );
    }
    // The panel: a group's window from the form, both listed.
    let response = fx
        .form(
            As::Session,
            "/enrollment/open",
            &[("user", ""), ("group", "local:staff"), ("days", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = fx.page(As::Session, "/local-users").await;
    assert!(
        html.contains("<td class=\"window\">user alice</td>"),
        "{html}"
    );
    assert!(html.contains("<td class=\"window\">group local:staff</td>"));
    let (_, listed) = fx
        .api(As::Token, Method::GET, "/api/v1/enrollment-windows", None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    // Closed from the panel and the API; closing again is a 404.
    let response = fx
        .form(
            As::Session,
            "/enrollment/close",
            &[("group", "local:staff")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/enrollment-windows/close",
            Some(json!({"user": "alice"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/enrollment-windows/close",
            Some(json!({"user": "alice"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(fx.audit(Some("enrollment."), 10).await.len(), 4);
}
