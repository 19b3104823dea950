//! Phones: enrollment links, signed fetches, revocation, HTTPS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use gatehouse_core::store::Store;
use gatehouse_core::{Gatehouse, ManualClock, Settings};
use gatehouse_http::{Panel, PanelSettings, router};
use gatehouse_store::SqliteStore;
use serde_json::json;
use tower::ServiceExt as _;

use super::support::*;

/// Push administration and the device protocol: an administrator makes a
/// link, a phone (a P-256 key here) enrolls with it once, fetches with
/// signed requests only, and is revoked.
#[tokio::test]
async fn a_phone_enrolls_by_link_fetches_signed_and_is_revoked() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use p256::ecdsa::signature::Signer as _;

    let fx = fixture("push").await;
    fx.gatehouse
        .add_local_user("alice", "alice-password")
        .await
        .unwrap();
    let (status, body) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/push/enrollments",
            Some(json!({"user": "nobody"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/push/enrollments",
            Some(json!({"user": "Alice"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"], "alice");
    let link = body["link"].as_str().unwrap();
    let token = link
        .split_once("/push/#enroll=")
        .map(|(_, token)| token)
        .expect("a link to the web app");
    // The phone: what is the link for, then enroll its key.
    let (status, info) = fx
        .api(
            As::Nobody,
            Method::POST,
            "/push/v1/enrollment",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(
        (status, info["user"].as_str()),
        (StatusCode::OK, Some("alice"))
    );
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let key = p256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    let public_key = URL_SAFE_NO_PAD.encode(key.verifying_key().to_sec1_point(false).as_bytes());
    let enroll = json!({"token": token, "label": "Alice's phone", "public_key": public_key});
    let (status, enrolled) = fx
        .api(
            As::Nobody,
            Method::POST,
            "/push/v1/devices",
            Some(enroll.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{enrolled}");
    let device = enrolled["device"].as_str().unwrap().to_string();
    assert_eq!(
        enrolled["server_key"],
        URL_SAFE_NO_PAD.encode(fx.gatehouse.push_verifying_key().to_bytes())
    );
    let (status, again) = fx
        .api(As::Nobody, Method::POST, "/push/v1/devices", Some(enroll))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a link enrolls one phone: {again}"
    );
    // As docs/push-protocol.md says: a used link is refused at the lookup
    // too (before the app makes a key); a body must be JSON with its
    // Content-Type; a fetch without its headers and an unknown decision
    // word are 400.
    let (status, _) = fx
        .api(
            As::Nobody,
            Method::POST,
            "/push/v1/enrollment",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a used link");
    let untyped = Request::builder()
        .method(Method::POST)
        .uri("/push/v1/enrollment")
        .body(Body::from(json!({"token": token}).to_string()))
        .unwrap();
    assert_eq!(fx.send(untyped).await.status(), StatusCode::BAD_REQUEST);
    let bare = Request::builder()
        .uri(format!("/push/v1/devices/{device}/pushes"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(fx.send(bare).await.status(), StatusCode::BAD_REQUEST);
    let (status, _) = fx
        .api(
            As::Nobody,
            Method::POST,
            &format!("/push/v1/devices/{device}/decisions"),
            Some(json!({"push": "p", "decision": "maybe", "signature": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown decision word");
    for bad in [
        json!({"token": "garbage", "label": "x", "public_key": public_key}),
        json!({"token": token, "label": "x", "public_key": "!!"}),
        json!({"token": token}),
    ] {
        let (status, _) = fx
            .api(As::Nobody, Method::POST, "/push/v1/devices", Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // Fetches: signed by the device near the server's time, or refused.
    let now = fx.gatehouse.now().as_second();
    let fetch = |time: i64, signature: String| {
        let request = Request::builder()
            .uri(format!("/push/v1/devices/{device}/pushes"))
            .header("x-gatehouse-time", time.to_string())
            .header("x-gatehouse-signature", signature)
            .body(Body::empty())
            .unwrap();
        fx.send(request)
    };
    let sign = |text: String| {
        let signature: p256::ecdsa::Signature = key.sign(text.as_bytes());
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    };
    let poll = |time: i64| format!("gatehouse-poll-v1|{device}|{time}");
    assert_eq!(fetch(now, sign(poll(now))).await.status(), StatusCode::OK);
    assert_eq!(
        fetch(now, sign(poll(now - 1))).await.status(),
        StatusCode::FORBIDDEN
    );
    let stale = fetch(now - 3600, sign(poll(now - 3600))).await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    // The administrator's view.
    let (_, devices) = fx
        .api(As::Token, Method::GET, "/api/v1/push/devices", None)
        .await;
    assert_eq!(devices[0]["user"], "alice");
    assert_eq!(devices[0]["label"], "Alice's phone");
    for (mode, expected) in [
        ("challenge", StatusCode::NO_CONTENT),
        ("", StatusCode::NO_CONTENT),
        ("sms", StatusCode::BAD_REQUEST),
    ] {
        let (status, _) = fx
            .api(
                As::Token,
                Method::PUT,
                "/api/v1/push/users/alice/mode",
                Some(json!({"mode": mode})),
            )
            .await;
        assert_eq!(status, expected, "{mode}");
    }
    let path = format!("/api/v1/push/devices/{device}");
    let (status, _) = fx.api(As::Token, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The revocation is in the audit trail.
    let newest = fx.audit(None, 1).await.remove(0);
    assert_eq!(
        (newest.entry.action.as_str(), newest.entry.subject.as_str()),
        ("push.device_remove", "alice")
    );
    assert!(newest.entry.actor.starts_with("token:root/"));
    let (status, _) = fx.api(As::Token, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        fetch(now, sign(poll(now))).await.status(),
        StatusCode::NOT_FOUND,
        "a revoked phone sees nothing"
    );
    // The web app is served from the binary.
    for asset in [
        "/push/",
        "/push/app.js",
        "/push/sw.js",
        "/push/manifest.webmanifest",
    ] {
        let (status, _) = fx.page(As::Nobody, asset).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
    }
}

/// Without TLS (no `Secure` cookies), phones on other hosts are refused.
#[tokio::test]
async fn phones_must_use_https_unless_on_this_host() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("http")
        .join("push-plain");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.join("gatehouse.db"), test_seal())
            .await
            .unwrap(),
    );
    let gatehouse = Arc::new(
        Gatehouse::open(
            store,
            Settings::new(Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")))),
        )
        .await
        .unwrap(),
    );
    let panel = Panel::new(gatehouse, PanelSettings::default());
    for (peer, expected) in [
        ([192, 0, 2, 1], StatusCode::FORBIDDEN),
        ([127, 0, 0, 1], StatusCode::BAD_REQUEST),
    ] {
        let app = router(panel.clone()).layer(MockConnectInfo(SocketAddr::from((peer, 40000))));
        let request = Request::builder()
            .method(Method::POST)
            .uri("/push/v1/enrollment")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"token":"x"}"#))
            .unwrap();
        assert_eq!(app.oneshot(request).await.unwrap().status(), expected);
    }
}
