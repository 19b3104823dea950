//! The Users table and its CSV, and the analytics.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use gatehouse_core::{Identity, Username};
use gatehouse_license::jiff::civil::date;
use serde_json::json;

use super::support::*;

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
        Some("username,display_name,source,first_seen,last_login,last_client,seat")
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

/// SPEC §16: exempt and break-glass users through the API and the panel,
/// within what the key grants; refusals say why and change nothing.
#[tokio::test]
async fn exempt_and_break_glass_users_are_marked_within_what_the_key_grants() {
    let fx = fixture("seat-marks").await;
    // The demo grants no marks.
    let (status, body) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/seat-marks/monitor",
            Some(json!({"mark": "exempt"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"],
        "the license in force grants no exempt accounts; the vendor grants them in the license key"
    );
    let key = gatehouse_testkit::issue_key(
        fx.gatehouse.app_key(),
        &gatehouse_testkit::TestLicense {
            options: gatehouse_license::LicenseOptions {
                exempt_seats: 1,
                reserved_seats: 1,
                ..Default::default()
            },
            ..gatehouse_testkit::TestLicense::subscription(
                2,
                date(2027, 12, 31),
                fx.gatehouse.now(),
            )
        },
    );
    fx.gatehouse.install_license(&key).await.unwrap();
    let (status, marked) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/seat-marks/Monitor",
            Some(json!({"mark": "exempt"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (&marked["username"], &marked["mark"], &marked["in_force"]),
        (&json!("monitor"), &json!("exempt"), &json!(true))
    );
    for (user, mark, status, reason) in [
        ("backup", "exempt", StatusCode::CONFLICT, "all are in use"),
        (
            "monitor",
            "reserved",
            StatusCode::CONFLICT,
            "already marked",
        ),
        ("x", "vip", StatusCode::BAD_REQUEST, "mark must be"),
    ] {
        let (got, body) = fx
            .api(
                As::Token,
                Method::PUT,
                &format!("/api/v1/seat-marks/{user}"),
                Some(json!({"mark": mark})),
            )
            .await;
        assert_eq!(got, status, "{user} {mark}");
        assert!(
            body["error"].as_str().unwrap().contains(reason),
            "{user} {mark}: {body}"
        );
    }
    // The panel: mark a break-glass user, see both listed with the count.
    let response = fx
        .form(
            As::Session,
            "/users/marks",
            &[("user", "oncall"), ("mark", "reserved")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = fx.page(As::Session, "/users").await;
    assert!(
        html.contains("Exempt accounts (never counted): 1 of 1"),
        "{html}"
    );
    assert!(html.contains("Break-glass users (counted, never refused for the limit): 1 of 1"));
    assert_eq!(
        html.matches("<td class=\"username\">oncall</td>").count(),
        1
    );
    let refused = fx
        .form(
            As::Session,
            "/users/marks",
            &[("user", "other"), ("mark", "reserved")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(body_text(refused).await.contains("all are in use"));
    let (_, listed) = fx
        .api(As::Token, Method::GET, "/api/v1/seat-marks", None)
        .await;
    assert_eq!(
        (&listed["exempt_seats"], &listed["reserved_seats"]),
        (&json!(1), &json!(1))
    );
    let names: Vec<&str> = listed["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["monitor", "oncall"]);
    // Unmark through the panel and the API.
    let response = fx
        .form(As::Session, "/users/marks", &[("user", "oncall")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = fx
        .api(
            As::Token,
            Method::DELETE,
            "/api/v1/seat-marks/monitor",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = fx
        .api(
            As::Token,
            Method::DELETE,
            "/api/v1/seat-marks/monitor",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let actions: Vec<String> = fx
        .audit(Some("seat."), 10)
        .await
        .into_iter()
        .map(|entry| entry.entry.action)
        .collect();
    assert_eq!(
        actions,
        ["seat.unmark", "seat.unmark", "seat.reserved", "seat.exempt"]
    );
}

/// SPEC §16: seat budgets through the API and the panel: saved, listed
/// with their users, refused when they are not budgets, deleted; audited.
#[tokio::test]
async fn seat_budgets_are_saved_listed_and_deleted() {
    let fx = fixture("seat-budgets").await;
    let (status, saved) = fx
        .api(
            As::Token,
            Method::PUT,
            "/api/v1/seat-budgets/contractors-vpn",
            Some(json!({"size": 2, "groups": ["local:Contractors"], "clients": ["vpn-1"], "alarm_percent": [100, 50]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        saved,
        json!({"name": "contractors-vpn", "size": 2, "used": 0, "groups": ["local:contractors"],
               "clients": ["vpn-1"], "alarm_percent": [50, 100]})
    );
    for (path, body, status, reason) in [
        (
            "/api/v1/seat-budgets/a%20b",
            json!({"size": 1, "clients": ["vpn"]}),
            StatusCode::BAD_REQUEST,
            "a budget name is",
        ),
        (
            "/api/v1/seat-budgets/everyone",
            json!({"size": 1}),
            StatusCode::BAD_REQUEST,
            "would hold everyone",
        ),
        (
            "/api/v1/seat-budgets/x",
            json!({"size": 1, "groups": ["contractors"]}),
            StatusCode::BAD_REQUEST,
            "not a group",
        ),
        (
            "/api/v1/seat-budgets/x",
            json!({"size": 1, "clients": ["vpn"], "bogus": 1}),
            StatusCode::BAD_REQUEST,
            "invalid request body",
        ),
    ] {
        let (got, body) = fx.api(As::Token, Method::PUT, path, Some(body)).await;
        assert_eq!(got, status, "{path}");
        assert!(
            body["error"].as_str().unwrap().contains(reason),
            "{path}: {body}"
        );
    }
    // The panel: a second budget from the form; both listed.
    let response = fx
        .form(
            As::Session,
            "/users/budgets",
            &[
                ("name", "wifi"),
                ("size", "40"),
                ("clients", "wifi-controller\nwifi-2"),
                ("alarm_percent", "90"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = fx.page(As::Session, "/users").await;
    assert!(
        html.contains(
            "<td class=\"budget\">contractors-vpn</td><td class=\"budget-used\">0/2</td>"
        ),
        "{html}"
    );
    assert!(html.contains("<td class=\"budget\">wifi</td>"));
    assert!(html.contains("wifi-controller, wifi-2"));
    let refused = fx
        .form(
            As::Session,
            "/users/budgets",
            &[("name", "bad name"), ("size", "1"), ("clients", "vpn")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    // Users counted against a budget show in its count.
    fx.gatehouse.add_local_group("contractors").await.unwrap();
    let (_, listed) = fx
        .api(As::Token, Method::GET, "/api/v1/seat-budgets", None)
        .await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["contractors-vpn", "wifi"]);
    // Deleted from the panel and the API.
    let response = fx
        .form(As::Session, "/users/budgets", &[("name", "wifi")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, _) = fx
        .api(
            As::Token,
            Method::DELETE,
            "/api/v1/seat-budgets/contractors-vpn",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = fx
        .api(
            As::Token,
            Method::DELETE,
            "/api/v1/seat-budgets/contractors-vpn",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let actions: Vec<String> = fx
        .audit(Some("seat.budget"), 10)
        .await
        .into_iter()
        .map(|entry| entry.entry.action)
        .collect();
    assert_eq!(
        actions,
        [
            "seat.budget.delete",
            "seat.budget.delete",
            "seat.budget.save",
            "seat.budget.save"
        ]
    );
}
