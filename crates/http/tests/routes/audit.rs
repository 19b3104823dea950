//! The audit trail: every kind of change made through the API is recorded
//! under the token that made it and the address it came from; one made in
//! the panel under the administrator's session; the listing filters and
//! the chain check.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::support::*;

#[tokio::test]
async fn every_kind_of_change_through_the_api_is_recorded_under_its_token() {
    let fx = fixture("audit-api").await;
    fx.gatehouse
        .add_admin("ops", "ops-admin-password")
        .await
        .unwrap();
    let ops_token = fx
        .gatehouse
        .create_admin_token("ops", None, "")
        .await
        .unwrap();
    let ops_id = fx.gatehouse.admin_tokens("ops").await.unwrap()[0]
        .id
        .clone();
    let key = fx.key(40, gatehouse_license::jiff::civil::date(2027, 12, 31));
    let root_id = fx.gatehouse.admin_tokens("root").await.unwrap()[0]
        .id
        .clone();
    let _ = ops_token;
    let cases: Vec<(Method, String, Option<Value>, &str, &str)> = vec![
        (
            Method::POST,
            "/api/v1/license".into(),
            Some(json!({"key": key})),
            "license.install",
            "",
        ),
        (
            Method::POST,
            "/api/v1/local-users".into(),
            Some(json!({"username": "eve", "password": "eve-password"})),
            "local_user.add",
            "eve",
        ),
        (
            Method::PUT,
            "/api/v1/local-users/eve/password".into(),
            Some(json!({"password": "eve-new-password"})),
            "local_user.password",
            "eve",
        ),
        (
            Method::POST,
            "/api/v1/local-users/eve/disable".into(),
            None,
            "local_user.disable",
            "eve",
        ),
        (
            Method::POST,
            "/api/v1/local-users/eve/enable".into(),
            None,
            "local_user.enable",
            "eve",
        ),
        (
            Method::PUT,
            "/api/v1/local-users/eve/second-factor".into(),
            Some(json!({"exempt": true})),
            "local_user.second_factor",
            "eve",
        ),
        (
            Method::POST,
            "/api/v1/local-users/eve/totp".into(),
            Some(json!({"mode": "append"})),
            "local_user.totp_enroll",
            "eve",
        ),
        (
            Method::DELETE,
            "/api/v1/local-users/eve/totp".into(),
            None,
            "local_user.totp_remove",
            "eve",
        ),
        (
            Method::POST,
            "/api/v1/clients".into(),
            Some(
                json!({"name": "vpn-2", "networks": ["192.0.2.20"], "secret": "a-long-shared-secret"}),
            ),
            "client.add",
            "vpn-2",
        ),
        (
            Method::DELETE,
            "/api/v1/clients/vpn-2".into(),
            None,
            "client.delete",
            "vpn-2",
        ),
        (
            Method::PUT,
            "/api/v1/alarms".into(),
            Some(
                json!({"days_before_end": [30], "user_limit_percent": [90], "recipients": ["ops@example.com"]}),
            ),
            "alarms.save",
            "",
        ),
        (
            Method::PUT,
            "/api/v1/policies".into(),
            Some(json!({"generation": 0, "policies": [{"name": "everyone", "access": "allow"}]})),
            "policy.save",
            "",
        ),
        (
            Method::POST,
            "/api/v1/push/enrollments".into(),
            Some(json!({"user": "eve"})),
            "push.enrollment_link",
            "eve",
        ),
        (
            Method::PUT,
            "/api/v1/push/users/eve/mode".into(),
            Some(json!({"mode": "challenge"})),
            "push.mode",
            "eve",
        ),
        (
            Method::PUT,
            "/api/v1/admins/ops/password".into(),
            Some(json!({"password": "ops-new-password"})),
            "admin.password",
            "ops",
        ),
        (
            Method::DELETE,
            format!("/api/v1/admins/ops/tokens/{ops_id}"),
            None,
            "admin.token_revoke",
            "ops",
        ),
        (
            Method::DELETE,
            "/api/v1/admins/ops/sessions".into(),
            None,
            "admin.logout",
            "ops",
        ),
        (
            Method::DELETE,
            "/api/v1/admins/ops".into(),
            None,
            "admin.delete",
            "ops",
        ),
        (
            Method::DELETE,
            "/api/v1/local-users/eve".into(),
            None,
            "local_user.delete",
            "eve",
        ),
    ];
    let token_actor = format!("token:root/{root_id}");
    for (method, path, body, action, subject) in cases {
        let (status, answer) = fx.api(As::Token, method.clone(), &path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        let newest = fx.audit(None, 1).await.remove(0);
        let entry = &newest.entry;
        assert_eq!(
            (
                entry.action.as_str(),
                entry.actor.as_str(),
                entry.source.as_str()
            ),
            (action, token_actor.as_str(), "192.0.2.1"),
            "{method} {path}"
        );
        if !subject.is_empty() {
            assert_eq!(entry.subject, subject, "{method} {path}");
        }
        assert!(newest.authentic);
    }
    // Small changes carry what was before and after.
    let alarms = fx.audit(Some("alarms.save"), 1).await.remove(0);
    let detail: Value = serde_json::from_str(&alarms.entry.detail).unwrap();
    assert!(
        detail["before"].is_string()
            && detail["after"]
                .as_str()
                .unwrap()
                .contains("ops@example.com"),
        "{detail}"
    );
    // A refused change records nothing.
    let before = fx.audit(None, 1000).await.len();
    let (status, _) = fx
        .api(As::Token, Method::DELETE, "/api/v1/admins/root", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let after = fx.audit(None, 1000).await.len();
    assert_eq!(before, after);

    // The listing: filters, pages, and the chain.
    let (status, listed) = fx
        .api(
            As::Token,
            Method::GET,
            "/api/v1/audit?action=local_user&limit=3",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let entries = listed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(
        entries
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("local_user"))
    );
    assert_eq!(entries[0]["action"], "local_user.delete");
    let next = listed["next_before"].as_u64().unwrap();
    let (_, older) = fx
        .api(
            As::Token,
            Method::GET,
            &format!("/api/v1/audit?action=local_user&before={next}"),
            None,
        )
        .await;
    assert!(
        older["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"].as_u64().unwrap() < next)
    );
    for bad in [
        "since=yesterday",
        "limit=0",
        "limit=1001",
        "before=x",
        "color=red",
    ] {
        let (status, body) = fx
            .api(
                As::Token,
                Method::GET,
                &format!("/api/v1/audit?{bad}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (_, since) = fx
        .api(
            As::Token,
            Method::GET,
            "/api/v1/audit?since=2026-11-11",
            None,
        )
        .await;
    assert!(since["entries"].as_array().unwrap().is_empty(), "{since}");
    let (status, chain) = fx
        .api(As::Token, Method::GET, "/api/v1/audit/verify", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(chain["intact"], true, "{chain}");
    assert_eq!(chain["first_break"], Value::Null);
}

#[tokio::test]
async fn a_change_in_the_panel_is_recorded_under_the_session_and_shown_on_the_audit_page() {
    let fx = fixture("audit-panel").await;
    let response = fx
        .form(
            As::Session,
            "/clients",
            &[
                ("name", "panel-nas"),
                ("networks", "192.0.2.30"),
                ("secret", "a-long-shared-secret"),
                ("require_message_authenticator", "on"),
                ("limit_proxy_state", "on"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let newest = fx.audit(None, 1).await.remove(0);
    assert_eq!(
        (
            newest.entry.actor.as_str(),
            newest.entry.action.as_str(),
            newest.entry.subject.as_str()
        ),
        ("admin:root", "client.add", "panel-nas")
    );
    let (status, page) = fx.page(As::Session, "/audit?actor=admin%3Aroot").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("panel-nas") && page.contains("client.add"),
        "{page}"
    );
    let (_, none) = fx.page(As::Session, "/audit?actor=cli").await;
    assert!(
        none.contains("No administrative changes match these filters"),
        "{none}"
    );
    let (_, checked) = fx.page(As::Session, "/audit?verify=1").await;
    assert!(
        checked.contains("entries verify, each linked to the one before"),
        "{checked}"
    );
    let (status, bad) = fx.page(As::Session, "/audit?since=someday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("is neither a day"), "{bad}");
}

#[tokio::test]
async fn unlocking_a_locked_out_user_is_recorded() {
    let fx = fixture("audit-unlock").await;
    fx.gatehouse
        .add_local_user("mallory", "mallory-password")
        .await
        .unwrap();
    let route = gatehouse_core::Route::new("vpn-1", None);
    // Different wrong passwords in a row lock the account.
    for attempt in 0..20 {
        let _ = fx
            .gatehouse
            .login_through("mallory", &format!("wrong-{attempt}"), &route)
            .await;
    }
    let (_, locked) = fx
        .api(As::Token, Method::GET, "/api/v1/lockouts", None)
        .await;
    assert!(locked.to_string().contains("mallory"), "{locked}");
    let (status, _) = fx
        .api(As::Token, Method::DELETE, "/api/v1/lockouts/mallory", None)
        .await;
    assert!(status.is_success(), "{status}");
    let newest = fx.audit(None, 1).await.remove(0);
    assert_eq!(
        (newest.entry.action.as_str(), newest.entry.subject.as_str()),
        ("lockout.unlock", "mallory")
    );
}
