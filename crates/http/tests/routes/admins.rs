//! Administrators: listed, their passwords, API tokens and sessions, the
//! last one kept, and the first-start password replaced before anything
//! else.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use gatehouse_core::admin::parse_lifetime;
use serde_json::{Value, json};

use super::support::*;

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn administrators_are_listed_given_passwords_and_deleted_but_never_the_last() {
    let fx = fixture("admins-lifecycle").await;
    let (status, list) = fx.api(As::Token, Method::GET, "/api/v1/admins", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!([{"name": "root", "created_at": "2026-11-10 10:00:00", "must_change_password": false, "tokens": 1, "sessions": 1}])
    );
    fx.gatehouse
        .add_admin("ops", "ops-password-long")
        .await
        .unwrap();
    let ops_token = fx
        .gatehouse
        .create_admin_token("ops", Some(parse_lifetime("90d").unwrap()), "monitoring")
        .await
        .unwrap();
    let (_, list) = fx.api(As::Token, Method::GET, "/api/v1/admins", None).await;
    assert_eq!(names(&list), ["ops", "root"]);

    // A password shorter than 12 characters is refused; a good one is set.
    let (status, body) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/admins/ops/password",
            Some(json!({"password": "too-short"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "an administrator's password must be at least 12 characters"
    );
    let (status, _) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/admins/ops/password",
            Some(json!({"password": "a-better-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        fx.gatehouse
            .admin_login("ops", "a-better-password")
            .await
            .is_ok()
    );
    assert!(
        fx.gatehouse
            .admin_login("ops", "ops-password-long")
            .await
            .is_err()
    );

    // Tokens: listed by id, never shown again; a revoked one is refused.
    let (status, tokens) = fx
        .api(As::Token, Method::GET, "/api/v1/admins/ops/tokens", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let token = &tokens[0];
    assert_eq!(token["label"], "monitoring");
    assert_eq!(token["expires_at"], "2027-02-08 10:00:00");
    assert_eq!(token["expired"], false);
    let id = token["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 12);
    assert!(
        !tokens.to_string().contains(&ops_token),
        "a listing shows a token"
    );
    let as_ops = |path: &str| {
        fx.request(As::Nobody, Method::GET, path)
            .header(header::AUTHORIZATION, format!("Bearer {ops_token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        fx.send(as_ops("/api/v1/admins")).await.status(),
        StatusCode::OK
    );
    let (status, _) = fx
        .api(
            As::Token,
            Method::DELETE,
            &format!("/api/v1/admins/ops/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        fx.send(as_ops("/api/v1/admins")).await.status(),
        StatusCode::UNAUTHORIZED,
        "a revoked token still worked"
    );
    for (path, status) in [
        (
            format!("/api/v1/admins/ops/tokens/{id}"),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/admins/ops/tokens/zzzz".to_string(),
            StatusCode::NOT_FOUND,
        ),
        // Another administrator's token is not revoked by naming it.
        (
            format!("/api/v1/admins/ops/tokens/{}", root_token_id(&fx).await),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/admins/nobody/tokens/0123456789ab".to_string(),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (got, body) = fx.api(As::Token, Method::DELETE, &path, None).await;
        assert_eq!(got, status, "{path}: {body}");
    }

    // Sessions end on demand.
    fx.gatehouse
        .admin_login("ops", "a-better-password")
        .await
        .unwrap();
    let (status, ended) = fx
        .api(
            As::Token,
            Method::DELETE,
            "/api/v1/admins/ops/sessions",
            None,
        )
        .await;
    assert_eq!((status, ended), (StatusCode::OK, json!({"ended": 2})));

    let (status, _) = fx
        .api(As::Token, Method::DELETE, "/api/v1/admins/ops", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = fx
        .api(As::Token, Method::DELETE, "/api/v1/admins/nobody", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = fx
        .api(As::Token, Method::DELETE, "/api/v1/admins/root", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("\"root\" is the last administrator and cannot be deleted"),
        "{body}"
    );
    let (_, list) = fx.api(As::Token, Method::GET, "/api/v1/admins", None).await;
    assert_eq!(names(&list), ["root"]);
}

async fn root_token_id(fx: &Fixture) -> String {
    let tokens = fx.gatehouse.admin_tokens("root").await.unwrap();
    tokens[0].id.clone()
}

#[tokio::test]
async fn an_api_token_expires_when_it_was_told_to() {
    let fx = fixture("admins-token-expiry").await;
    let token = fx
        .gatehouse
        .create_admin_token("root", Some(parse_lifetime("1h").unwrap()), "")
        .await
        .unwrap();
    let call = || {
        fx.request(As::Nobody, Method::GET, "/api/v1/admins")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(fx.send(call()).await.status(), StatusCode::OK);
    fx.clock.set(ts("2026-11-10T10:59:59Z"));
    assert_eq!(fx.send(call()).await.status(), StatusCode::OK);
    fx.clock.set(ts("2026-11-10T11:00:00Z"));
    assert_eq!(fx.send(call()).await.status(), StatusCode::UNAUTHORIZED);
    let (_, tokens) = fx
        .api(As::Token, Method::GET, "/api/v1/admins/root/tokens", None)
        .await;
    // The fixture's token never expires; this one has.
    let mut states: Vec<(bool, bool)> = (tokens.as_array().unwrap().iter())
        .map(|t| (t["expires_at"].is_null(), t["expired"].as_bool().unwrap()))
        .collect();
    states.sort();
    assert_eq!(states, [(false, true), (true, false)], "{tokens}");
}

#[tokio::test]
async fn the_first_start_password_is_replaced_before_anything_else() {
    let mut fx = fixture_first_start("admins-first-start").await;
    let (_, list) = fx.api(As::Token, Method::GET, "/api/v1/admins", None).await;
    assert_eq!(list[0]["must_change_password"], true);
    // Every page leads to the Account page; the API refuses the session.
    for path in PAGES.iter().filter(|p| **p != "/account") {
        let response = fx
            .send(
                fx.request(As::Session, Method::GET, path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[header::LOCATION], "/account", "{path}");
    }
    let (status, body) = fx
        .api(As::Session, Method::GET, "/api/v1/license", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"],
        "replace the first-start password on the panel's Account page first"
    );
    let (status, page) = fx.page(As::Session, "/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"must-change\""), "{page}");

    let password = fx.admin.1.clone();
    let change = |current: &str, new: &str, repeat: &str| {
        [
            ("current_password", current.to_string()),
            ("new_password", new.to_string()),
            ("repeat_password", repeat.to_string()),
        ]
    };
    for (fields, error) in [
        (
            change("not-the-password", "my-own-password", "my-own-password"),
            "the current password is wrong",
        ),
        (
            change(&password, "my-own-password", "my-own-passwort"),
            "the two new passwords differ",
        ),
        (
            change(&password, "short", "short"),
            "an administrator&#39;s password must be at least 12 characters",
        ),
        (
            change(&password, &password, &password),
            "the new password is the current one",
        ),
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = fx.form(As::Session, "/account/password", &fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let page = body_text(response).await;
        assert!(page.contains(error), "expected {error:?} in {page}");
    }
    // Still to be changed, and still the one-time password.
    assert!(fx.gatehouse.admins().await.unwrap()[0].must_change_password);

    // Another session of the same administrator ends when the password
    // changes; this one stays.
    let other = fx.gatehouse.admin_login("admin", &password).await.unwrap();
    let fields = change(&password, "my-own-password", "my-own-password");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = fx.form(As::Session, "/account/password", &fields).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        fx.gatehouse
            .admin_session(&other.token)
            .await
            .unwrap()
            .is_none(),
        "another session outlived the password change"
    );
    let (status, _) = fx.page(As::Session, "/license").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the License page opens after the change"
    );
    assert!(!fx.gatehouse.admins().await.unwrap()[0].must_change_password);
    assert!(fx.gatehouse.admin_login("admin", &password).await.is_err());
    fx.admin.1 = "my-own-password".into();
    fx.sign_in().await;
}

#[tokio::test]
async fn an_administrator_revokes_their_own_tokens_in_the_panel() {
    let fx = fixture("admins-panel-tokens").await;
    let extra = fx
        .gatehouse
        .create_admin_token(
            "root",
            Some(parse_lifetime("30d").unwrap()),
            "backup script",
        )
        .await
        .unwrap();
    let (status, page) = fx.page(As::Session, "/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("backup script"), "{page}");
    assert!(
        !page.contains(&extra) && !page.contains(&fx.token),
        "a token is shown"
    );
    let id = fx
        .gatehouse
        .admin_tokens("root")
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.label == "backup script")
        .unwrap()
        .id;
    assert!(page.contains(&format!("/account/tokens/{id}/revoke")));
    // Without the CSRF token nothing is revoked.
    let response = fx
        .form(
            As::SessionNoCsrf,
            &format!("/account/tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(fx.gatehouse.admin_tokens("root").await.unwrap().len(), 2);
    let response = fx
        .form(As::Session, &format!("/account/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let call = fx
        .request(As::Nobody, Method::GET, "/api/v1/admins")
        .header(header::AUTHORIZATION, format!("Bearer {extra}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(fx.send(call).await.status(), StatusCode::UNAUTHORIZED);
    let (_, page) = fx.page(As::Session, "/account").await;
    assert!(!page.contains("backup script"));
}
