//! Policies through the API and the panel: saved whole, an edit of an
//! older generation refused, bad input refused naming the policy and
//! changing nothing, the order edited in the panel, and the test.

use axum::http::{Method, StatusCode, header};
use gatehouse_core::policy::{PolicyText, read_policies};
use serde_json::{Value, json};

use super::support::*;

fn admins() -> Value {
    json!({
        "name": "vpn admins",
        "groups": ["local:vpn-admins"],
        "factors": ["totp", "none"],
        "reply": [
            {"attribute": "Fortinet-Group-Name", "value": "%{group}"},
            {"attribute": "Session-Timeout", "value": 3600}
        ]
    })
}

#[tokio::test]
async fn the_api_saves_policies_whole_and_refuses_stale_or_bad_edits() {
    let fx = fixture("policies-api").await;
    let (status, empty) = fx
        .api(As::Token, Method::GET, "/api/v1/policies", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            empty["fixed"].clone(),
            empty["generation"].clone(),
            empty["policies"].clone()
        ),
        (json!(false), json!(0), json!([]))
    );
    let (status, saved) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/policies",
            Some(json!({"generation": 0, "policies": [admins(), {"name": "everyone", "access": "deny"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["generation"], 1);
    assert_eq!(saved["saved_by"], "root");
    assert_eq!(saved["policies"][0]["reply"][1]["value"], 3600);
    assert_eq!(saved["policies"][1]["access"], "deny");

    // Stale: someone saved generation 1 meanwhile.
    let (status, stale) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/policies",
            Some(json!({"generation": 0, "policies": []})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        stale["error"]
            .as_str()
            .unwrap()
            .contains("changed meanwhile")
    );
    // Bad input names the policy and the attribute; nothing changes.
    for (policies, says) in [
        (
            json!([{"name": "p", "factors": ["sms"]}]),
            "policy \"p\": factors",
        ),
        (
            json!([{"name": "p", "reply": [{"attribute": "Session-Timeout", "value": "soon"}]}]),
            "policy \"p\": reply: Session-Timeout: \"soon\" is not a number",
        ),
        (
            json!([{"name": "p", "reply": [{"attribute": "Nope", "value": "x"}]}]),
            "unknown RADIUS attribute \"Nope\"",
        ),
        (
            json!([{"name": "p", "groups": ["corp:CN=x"]}]),
            "names no group source",
        ),
        (
            json!([{"name": "p"}, {"name": "P"}]),
            "two policies are named",
        ),
    ] {
        let (status, error) = fx
            .api(
                As::Token,
                Method::PUT,
                "/api/v1/policies",
                Some(json!({"generation": 1, "policies": policies})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{policies}");
        assert!(error["error"].as_str().unwrap().contains(says), "{error}");
    }
    let (_, unchanged) = fx
        .api(As::Token, Method::GET, "/api/v1/policies", None)
        .await;
    assert_eq!(unchanged["generation"], 1);
    assert_eq!(unchanged["policies"], saved["policies"]);

    // The test: which policy a user gets, nothing counted.
    fx.gatehouse.add_local_group("vpn-admins").await.unwrap();
    fx.gatehouse
        .add_local_user_with("alice", "alice-pw", false, &["vpn-admins"])
        .await
        .unwrap();
    let (status, test) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/policies/test",
            Some(json!({"user": "Alice", "client": "fw"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{test}");
    assert_eq!(test["policy"], "vpn admins");
    assert_eq!(test["factors"], json!(["totp", "none"]));
    assert_eq!(
        test["reply"][0],
        json!({"attribute": "Fortinet-Group-Name", "value": "vpn-admins"})
    );
    let (status, _) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/policies/test",
            Some(json!({"user": "nobody", "client": "fw"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The rows' names on the Policies page, in order.
fn names(html: &str) -> Vec<String> {
    html.split("<tr data-name=\"")
        .skip(1)
        .map(|row| row[..row.find('"').unwrap()].to_string())
        .collect()
}

#[tokio::test]
async fn the_panel_adds_edits_moves_and_deletes_policies() {
    let fx = fixture("policies-panel").await;
    let (status, html) = fx.page(As::Session, "/policies").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No policies"));
    let add = |name: &'static str, generation: &'static str| {
        [
            ("generation", generation),
            ("original", ""),
            ("name", name),
            ("clients", "fw vpn"),
            ("groups", "local:vpn-admins\nlocal:staff"),
            ("networks", "10.0.0.0/8"),
            ("access", "allow"),
            ("totp", "on"),
            ("reply", "Class = %{group}\nSession-Timeout = 600"),
        ]
    };
    let added = fx
        .form(As::Session, "/policies/save", &add("first", "0"))
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let added = fx
        .form(As::Session, "/policies/save", &add("second", "1"))
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let saved = fx.gatehouse.saved_policies().await.unwrap();
    assert_eq!(saved.generation, 2);
    let first = &saved.policies[0];
    assert_eq!(first.clients, ["fw", "vpn"]);
    assert_eq!(first.groups, ["local:vpn-admins", "local:staff"]);
    assert_eq!(first.factors.as_deref(), Some(&["totp".to_string()][..]));
    assert_eq!(first.reply[1].value.text(), "600");

    // A stale form (generation 1) is refused and changes nothing.
    let stale = fx
        .form(As::Session, "/policies/save", &add("third", "1"))
        .await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(stale).await.contains("changed meanwhile"));
    // A bad reply line is refused with the form kept as typed.
    let mut bad = add("third", "2");
    bad[8] = ("reply", "Class: x");
    let refused = fx.form(As::Session, "/policies/save", &bad).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = body_text(refused).await;
    assert!(html.contains("is not Attribute = value"), "{html}");
    assert!(html.contains("value=\"third\""));

    let moved = fx
        .form(
            As::Session,
            "/policies/move",
            &[("generation", "2"), ("name", "second"), ("direction", "up")],
        )
        .await;
    assert_eq!(moved.status(), StatusCode::SEE_OTHER);
    let (_, html) = fx.page(As::Session, "/policies").await;
    assert_eq!(names(&html), ["second", "first"]);
    // Edit: rename and deny.
    let (_, html) = fx.page(As::Session, "/policies?edit=first").await;
    assert!(html.contains("Edit first"));
    let mut edit = add("renamed", "3");
    edit[1] = ("original", "first");
    edit[6] = ("access", "deny");
    let edited = fx.form(As::Session, "/policies/save", &edit).await;
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    let deleted = fx
        .form(
            As::Session,
            "/policies/delete",
            &[("generation", "4"), ("name", "second")],
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(
        deleted.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .contains("Deleted")
    );
    let saved = fx.gatehouse.saved_policies().await.unwrap();
    assert_eq!(saved.policies.len(), 1);
    assert_eq!(saved.policies[0].name, "renamed");
    assert_eq!(saved.policies[0].access.as_deref(), Some("deny"));

    // The test form.
    fx.gatehouse.add_local_user("bob", "bob-pw").await.unwrap();
    let (status, html) = fx
        .page(
            As::Session,
            "/policies?user=bob&client=fw&calling_station_id=",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("none (the default rules apply)"), "{html}");
    let (status, html) = fx
        .page(As::Session, "/policies?user=nobody&client=fw")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("no local user or directory entry"));
}

#[tokio::test]
async fn the_local_users_page_puts_a_new_user_in_groups_that_exist() {
    let fx = fixture("policies-groups").await;
    let add = [
        ("username", "dave"),
        ("password", "dave-password"),
        ("groups", "staff, vpn-admins"),
    ];
    let refused = fx.form(As::Session, "/local-users", &add).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_text(refused)
            .await
            .contains("no local group &#34;staff&#34;")
    );
    assert!(fx.gatehouse.local_users().await.unwrap().is_empty());
    for group in ["staff", "vpn-admins"] {
        fx.gatehouse.add_local_group(group).await.unwrap();
    }
    let added = fx.form(As::Session, "/local-users", &add).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let (_, html) = fx.page(As::Session, "/local-users").await;
    assert!(
        html.contains("<td class=\"groups\">staff, vpn-admins</td>"),
        "{html}"
    );
    let (_, users) = fx
        .api(As::Token, Method::GET, "/api/v1/local-users", None)
        .await;
    assert_eq!(users[0]["groups"], json!(["staff", "vpn-admins"]));
}

#[tokio::test]
async fn policies_fixed_in_the_configuration_are_shown_and_never_saved() {
    let text: Vec<PolicyText> = serde_json::from_value(json!([
        {"name": "contractors", "groups": ["local:contractors"], "access": "deny"},
        admins()
    ]))
    .unwrap();
    let fx = fixture_with_policies("policies-fixed", read_policies(&text).unwrap()).await;
    let (status, html) = fx.page(As::Session, "/policies").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("set in the configuration file"), "{html}");
    assert_eq!(names(&html), ["contractors", "vpn admins"]);
    assert!(!html.contains("id=\"policy-form\"") && !html.contains("/policies/move"));
    assert!(html.contains("id=\"policy-test\""), "the test form stays");
    let refused = fx
        .form(
            As::Session,
            "/policies/delete",
            &[("generation", "0"), ("name", "contractors")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_text(refused)
            .await
            .contains("fixed in the configuration")
    );
    let (status, shown) = fx
        .api(As::Token, Method::GET, "/api/v1/policies", None)
        .await;
    assert_eq!(
        (status, shown["fixed"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(shown["policies"][0]["access"], "deny");
    let (status, _) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/policies",
            Some(json!({"generation": 0, "policies": []})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(fx.gatehouse.policies().unwrap().policies().len(), 2);
}

#[tokio::test]
async fn api_bodies_must_be_json_objects() {
    let fx = fixture("policies-bodies").await;
    fx.gatehouse
        .add_local_user("alice", "alice-pw")
        .await
        .unwrap();
    for (method, path) in [
        (Method::POST, "/api/v1/local-users/alice/totp"),
        (Method::PUT, "/api/v1/policies"),
        (Method::POST, "/api/v1/policies/test"),
    ] {
        let (status, error) = fx.api(As::Token, method, path, Some(json!([]))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {error}");
        assert_eq!(
            error["error"],
            "invalid request body: expected a JSON object"
        );
    }
    let (status, _) = fx
        .api(As::Token, Method::GET, "/api/v1/local-users", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let users = fx.gatehouse.local_users().await.unwrap();
    assert!(
        fx.gatehouse
            .local_totp_mode(&users[0].username)
            .await
            .unwrap()
            .is_none()
    );
}
