//! What phones talk to: the push-approval web app (an installable PWA
//! served from the binary) and the device protocol under `/push/v1`
//! (`docs/push-protocol.md`), which any native app can implement.
//!
//! No administrator session here: enrollment presents a one-time link's
//! token, and every later request is signed by the device's P-256 key.
//! Phones must reach these over HTTPS; plain HTTP is answered only for
//! loopback peers (development, and a TLS proxy on the same host) unless
//! the panel marks cookies `Secure` (it is served over TLS, or behind a TLS
//! proxy).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::PushError;
use gatehouse_core::push::{
    Decision, DecisionRefusal, EnrollmentRefusal, PollRefusal, SignedDecision,
};
use serde::{Deserialize, Serialize};

use crate::api::{Body, error};
use crate::state::Panel;

/// Header carrying the Unix time a device signed its fetch at.
pub const TIME_HEADER: &str = "x-gatehouse-time";
/// Header carrying the device's signature of its fetch.
pub const SIGNATURE_HEADER: &str = "x-gatehouse-signature";

pub fn routes(panel: Arc<Panel>) -> Router<Arc<Panel>> {
    let devices = Router::new()
        .route("/enrollment", post(check_enrollment))
        .route("/devices", post(enroll))
        .route("/devices/{id}/pushes", get(pushes))
        .route("/devices/{id}/decisions", post(decide))
        .route("/devices/{id}/webpush", axum::routing::put(subscribe))
        .route("/webpush", get(webpush_key))
        .layer(middleware::from_fn_with_state(panel, only_secure));
    Router::new()
        .route("/push", get(|| async { Redirect::permanent("/push/") }))
        .route("/push/", get(app_page))
        .route("/push/app.js", get(app_script))
        .route("/push/app.css", get(app_style))
        .route("/push/sw.js", get(service_worker))
        .route("/push/manifest.webmanifest", get(manifest))
        .route("/push/icon.svg", get(icon))
        .nest("/push/v1", devices)
}

/// Device requests over plain HTTP from another host are refused: the
/// token and the pushes would cross the network in the clear.
async fn only_secure(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if panel.settings.secure_cookies || peer.ip().is_loopback() {
        return next.run(request).await;
    }
    error(
        StatusCode::FORBIDDEN,
        "phones must reach Gatehouse over HTTPS: serve the panel with TLS (http.tls_cert), or behind a TLS proxy with http.secure_cookies = true",
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn app_page() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("../assets/push/index.html"),
    )
}

async fn app_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/push/app.js"),
    )
}

async fn app_style() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../assets/push/app.css"),
    )
}

async fn service_worker() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/push/sw.js"),
    )
}

async fn manifest() -> Response {
    asset(
        "application/manifest+json",
        include_str!("../assets/push/manifest.webmanifest"),
    )
}

async fn icon() -> Response {
    asset("image/svg+xml", include_str!("../assets/push/icon.svg"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenJson {
    token: String,
}

#[derive(Debug, Serialize)]
struct EnrollmentInfoJson {
    user: String,
    expires_at: i64,
}

/// What a link is for, before the phone makes its key.
async fn check_enrollment(
    State(panel): State<Arc<Panel>>,
    Body(body): Body<TokenJson>,
) -> Response {
    match panel.gatehouse.check_push_enrollment(&body.token).await {
        Ok(token) => Json(EnrollmentInfoJson {
            user: token.user,
            expires_at: token.expires_at.as_second(),
        })
        .into_response(),
        Err(refusal) => push_error(refusal),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollJson {
    token: String,
    label: String,
    /// SEC1 P-256 public key, base64url.
    public_key: String,
}

#[derive(Debug, Serialize)]
struct EnrolledJson {
    device: String,
    user: String,
    /// The installation's Ed25519 key, base64url: pushes are signed with
    /// it.
    server_key: String,
}

async fn enroll(State(panel): State<Arc<Panel>>, Body(body): Body<EnrollJson>) -> Response {
    let Ok(public_key) = URL_SAFE_NO_PAD.decode(body.public_key.trim()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "public_key must be a base64url SEC1 P-256 public key",
        );
    };
    match panel
        .gatehouse
        .enroll_with_link(&body.token, &body.label, &public_key)
        .await
    {
        Ok(device) => (
            StatusCode::CREATED,
            Json(EnrolledJson {
                device: device.id,
                user: device.username,
                server_key: URL_SAFE_NO_PAD.encode(panel.gatehouse.push_verifying_key().to_bytes()),
            }),
        )
            .into_response(),
        Err(refusal) => push_error(refusal),
    }
}

#[derive(Debug, Serialize)]
struct PushesJson {
    pushes: Vec<ShownPushJson>,
    server_time: i64,
}

/// A pending push as a phone receives it.
#[derive(Debug, Serialize)]
struct ShownPushJson {
    id: String,
    user: String,
    client: String,
    source: Option<String>,
    /// Unix seconds (the signed text has them in RFC 3339).
    created_at: i64,
    expires_at: i64,
    nonce: String,
    /// Number matching: the numbers to choose from (empty: approve or
    /// deny).
    choices: Vec<u8>,
    /// The exact text the installation signed.
    canonical: String,
    /// Ed25519 signature of `canonical`, base64url.
    signature: String,
}

/// A device's signed fetch of its pending pushes.
async fn pushes(
    State(panel): State<Arc<Panel>>,
    Path(device): Path<String>,
    headers: HeaderMap,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let (Some(time), Some(signature)) = (
        header(TIME_HEADER).and_then(|t| t.trim().parse::<i64>().ok()),
        header(SIGNATURE_HEADER),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("send {TIME_HEADER} (Unix seconds) and {SIGNATURE_HEADER}"),
        );
    };
    match panel.gatehouse.poll_pushes(&device, time, signature).await {
        Ok(shown) => Json(PushesJson {
            server_time: panel.gatehouse.now().as_second(),
            pushes: shown
                .into_iter()
                .map(|signed| ShownPushJson {
                    canonical: signed.push.canonical(),
                    id: signed.push.id,
                    user: signed.push.user,
                    client: signed.push.client,
                    source: signed.push.source,
                    created_at: signed.push.created_at.as_second(),
                    expires_at: signed.push.expires_at.as_second(),
                    nonce: signed.push.nonce,
                    choices: signed.push.choices,
                    signature: signed.signature,
                })
                .collect(),
        })
        .into_response(),
        Err(PushError::Poll(PollRefusal::Stale)) => (
            StatusCode::FORBIDDEN,
            Json(StaleJson {
                error: PollRefusal::Stale.to_string(),
                server_time: panel.gatehouse.now().as_second(),
            }),
        )
            .into_response(),
        Err(refusal) => push_error(refusal),
    }
}

/// A stale fetch is told the server's time, so the app can correct for
/// its clock.
#[derive(Debug, Serialize)]
struct StaleJson {
    error: String,
    server_time: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionJson {
    push: String,
    /// `approve` or `deny`.
    decision: String,
    /// Number matching: the number chosen (approvals).
    #[serde(default)]
    number: Option<u8>,
    /// ECDSA P-256 / SHA-256 over `<nonce>|<decision>` (number matching:
    /// `<nonce>|approve|<number>`), r ‖ s, base64url.
    signature: String,
}

#[derive(Debug, Serialize)]
struct DecidedJson {
    decision: &'static str,
}

async fn decide(
    State(panel): State<Arc<Panel>>,
    Path(device): Path<String>,
    Body(body): Body<DecisionJson>,
) -> Response {
    let Some(decision) = Decision::parse(&body.decision) else {
        return error(
            StatusCode::BAD_REQUEST,
            "decision must be \"approve\" or \"deny\"",
        );
    };
    let signed = SignedDecision {
        push_id: body.push,
        decision,
        number: body.number,
        signature: body.signature,
    };
    match panel.gatehouse.decide_push(&device, &signed).await {
        Ok(decision) => Json(DecidedJson {
            decision: decision.as_str(),
        })
        .into_response(),
        Err(refusal) => push_error(refusal),
    }
}

#[derive(Debug, Serialize)]
struct WebPushKeyJson {
    /// The VAPID public key (uncompressed P-256, base64url): the
    /// `applicationServerKey` to subscribe with.
    public_key: String,
}

/// The key phones subscribe to Web Push with; 404 when Web Push is not
/// configured (phones then only poll).
async fn webpush_key(State(panel): State<Arc<Panel>>) -> Response {
    match panel.gatehouse.webpush_public_key() {
        Some(key) => Json(WebPushKeyJson {
            public_key: URL_SAFE_NO_PAD.encode(key),
        })
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "Web Push is not configured"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionJson {
    endpoint: String,
    /// The subscription's `p256dh` key, base64url.
    p256dh: String,
    /// The subscription's `auth` secret, base64url.
    auth: String,
    /// Unix seconds the device signed at.
    time: i64,
    /// Device signature of
    /// `gatehouse-webpush-v1|<device>|<time>|<endpoint>|<p256dh>|<auth>`.
    signature: String,
}

/// A device registers where it can be woken.
async fn subscribe(
    State(panel): State<Arc<Panel>>,
    Path(device): Path<String>,
    Body(body): Body<SubscriptionJson>,
) -> Response {
    if panel.gatehouse.webpush_public_key().is_none() {
        return error(StatusCode::NOT_FOUND, "Web Push is not configured");
    }
    match panel
        .gatehouse
        .set_push_subscription(
            &device,
            body.time,
            &body.signature,
            &body.endpoint,
            &body.p256dh,
            &body.auth,
        )
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => push_error(refusal),
    }
}

/// A refusal as the device API answers it.
fn push_error(refusal: impl Into<PushError>) -> Response {
    let refusal = refusal.into();
    let status = match &refusal {
        PushError::UnknownDevice | PushError::UnknownPush | PushError::UnknownUser(_) => {
            StatusCode::NOT_FOUND
        }
        PushError::BadDeviceKey | PushError::BadLabel | PushError::BadSubscription(_) => {
            StatusCode::BAD_REQUEST
        }
        PushError::LinkUsed
        | PushError::Link(EnrollmentRefusal::Used)
        | PushError::Refused(DecisionRefusal::AlreadyDecided | DecisionRefusal::WrongNumber) => {
            StatusCode::CONFLICT
        }
        PushError::Refused(DecisionRefusal::NumberMissing) => StatusCode::BAD_REQUEST,
        PushError::Link(EnrollmentRefusal::Expired)
        | PushError::Refused(DecisionRefusal::Expired) => StatusCode::GONE,
        PushError::Link(EnrollmentRefusal::Malformed) => StatusCode::BAD_REQUEST,
        PushError::Poll(_) | PushError::Refused(_) => StatusCode::FORBIDDEN,
        PushError::Directory(_) | PushError::Store(_) => {
            tracing::error!(error = %refusal, "push: service unavailable");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "service unavailable, please try again later",
            );
        }
    };
    tracing::info!(error = %refusal, "push: device request refused");
    error(status, refusal.to_string())
}
