//! `/metrics` and the OpenAPI document against the routes.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use gatehouse_core::{Identity, Username};
use serde_json::{Value, json};

use super::support::*;

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
    // The process's own figures, as Prometheus names them.
    for name in [
        "process_resident_memory_bytes",
        "process_resident_memory_max_bytes",
        "process_virtual_memory_bytes",
        "process_threads",
        "process_open_fds",
    ] {
        let value: u64 = text
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("missing {name} in\n{text}"))
            .parse()
            .unwrap();
        assert!(value > 0, "{name} {value}");
    }
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
