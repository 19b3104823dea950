//! Alarm settings, history and the test email.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use gatehouse_core::alarms::AlarmSettings;
use gatehouse_mail::{Security, SmtpMailer, SmtpSettings};
use serde_json::json;

use super::support::*;

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
