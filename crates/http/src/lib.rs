//! The management panel and the JSON API of Gatehouse.
//!
//! This is the only crate that knows HTML and the API's JSON shapes
//! ([`wire`]). Pages are rendered on the server (askama templates compiled
//! into the binary, as are the stylesheet and the few lines of script for
//! copy buttons); every action of the panel is also an `/api/v1` call,
//! described by the OpenAPI document at `/api/v1/openapi.json`.
//!
//! Everything runs through the same [`Gatehouse`] service as RADIUS and the
//! CLI. When the license has expired, only signing in, the License page,
//! installing a key and downloading the application key file remain open
//! (SPEC §2).

pub mod api;
pub mod auth;
pub mod chart;
pub mod forms;
mod listener;
pub mod pages;
pub mod portal;
pub mod push;
pub mod push_panel;
mod state;
pub mod wire;

pub use listener::{ConnectionStats, Limits, serve};
pub use state::{Panel, PanelSettings};

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use gatehouse_license::LicenseStatus;

use crate::wire::ErrorJson;

/// The whole HTTP surface: panel, API, `/metrics`, `/healthz`, assets.
pub fn router(panel: Arc<Panel>) -> Router {
    Router::new()
        .merge(pages::routes().router)
        .merge(push::routes(panel.clone()))
        .merge(push_panel::routes().router)
        .merge(portal::routes())
        .nest("/api/v1", api::routes().0)
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/assets/gatehouse.css", get(stylesheet))
        .route("/assets/gatehouse.js", get(script))
        .layer(middleware::from_fn_with_state(panel.clone(), license_lock))
        .layer(middleware::from_fn_with_state(panel.clone(), audit_scope))
        .layer(middleware::from_fn(security_headers))
        .with_state(panel)
}

/// Every path of the panel's pages (forms included), as routed.
pub fn panel_paths() -> Vec<&'static str> {
    let mut paths = pages::routes().paths;
    paths.extend(push_panel::routes().paths);
    paths
}

/// Requests still served once the license has expired.
fn open_when_expired(method: &Method, path: &str) -> bool {
    let get = method == Method::GET || method == Method::HEAD;
    match path {
        "/login" => get || method == Method::POST,
        // The first-start password is replaced before the License page
        // opens; an expired license must not close that door.
        "/account" => get,
        "/logout" | "/license/preview" | "/license/install" | "/account/password" => {
            method == Method::POST
        }
        "/license" | "/license/application-key-file" => get,
        "/api/v1/license" => get || method == Method::POST,
        "/api/v1/license/preview" => method == Method::POST,
        "/api/v1/license/request"
        | "/api/v1/license/application-key-file"
        | "/api/v1/openapi.json" => get,
        "/healthz" | "/metrics" | "/" => get,
        _ => get && path.starts_with("/assets/"),
    }
}

/// Every request runs as an actor of the audit trail: anonymous, from the
/// client's address, until it authenticates ([`auth::Admin`] names the
/// administrator or token), so every change it makes is recorded under
/// who asked and from where.
async fn audit_scope(State(panel): State<Arc<Panel>>, request: Request, next: Next) -> Response {
    use axum::extract::ConnectInfo;
    use axum::extract::connect_info::MockConnectInfo;
    let extensions = request.extensions();
    let peer = (extensions.get::<ConnectInfo<std::net::SocketAddr>>())
        .map(|info| info.0.ip())
        .or_else(|| {
            // Tests' routers, which have no real connection.
            (extensions.get::<MockConnectInfo<std::net::SocketAddr>>()).map(|info| info.0.ip())
        });
    let from = match peer {
        Some(peer) => {
            auth::client_address(peer, request.headers(), &panel.settings.trusted_proxies)
                .to_string()
        }
        None => "-".to_string(),
    };
    let actor = gatehouse_core::audit::Actor {
        who: "anonymous".into(),
        from,
    };
    gatehouse_core::audit::acting(actor, next.run(request)).await
}

/// SPEC §2 and §11: with an expired license, or damaged license records,
/// the panel and API refuse everything but what renewal needs.
async fn license_lock(State(panel): State<Arc<Panel>>, request: Request, next: Next) -> Response {
    let status = panel.gatehouse.license_status();
    if !status.locked() || open_when_expired(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let message = match status {
        LicenseStatus::Damaged => gatehouse_license::admission::LICENSE_DAMAGED,
        _ => gatehouse_license::admission::LICENSE_EXPIRED,
    };
    let path = request.uri().path();
    if path == "/my" || path.starts_with(portal::PORTAL_PATH) {
        // Users are told why, not sent to the administrators' page.
        return portal::locked(message);
    }
    if path.starts_with("/api/") {
        (
            StatusCode::FORBIDDEN,
            axum::Json(ErrorJson {
                error: message.to_string(),
            }),
        )
            .into_response()
    } else {
        Redirect::to("/license").into_response()
    }
}

/// Headers every answer carries: no framing, no sniffing, no referrer
/// leaks, scripts and styles only from this server.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    );
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../assets/gatehouse.css"),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../assets/gatehouse.js"),
    )
        .into_response()
}

async fn healthz(State(panel): State<Arc<Panel>>) -> Response {
    match panel.gatehouse.license_view().await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Prometheus text format.
async fn metrics(State(panel): State<Arc<Panel>>) -> Response {
    use std::fmt::Write as _;
    let counts = panel.gatehouse.auth_counts();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP gatehouse_authentications_total Authentications by result and reason."
    );
    let _ = writeln!(text, "# TYPE gatehouse_authentications_total counter");
    let _ = writeln!(
        text,
        "gatehouse_authentications_total{{result=\"accept\",reason=\"\"}} {}",
        counts.accepted
    );
    let _ = writeln!(
        text,
        "gatehouse_authentications_total{{result=\"challenge\",reason=\"one_time_code_required\"}} {}",
        counts.challenged
    );
    let _ = writeln!(
        text,
        "gatehouse_authentications_total{{result=\"challenge\",reason=\"push_sent\"}} {}",
        counts.push_challenged
    );
    for (refusal, count) in &counts.refused {
        let _ = writeln!(
            text,
            "gatehouse_authentications_total{{result=\"reject\",reason=\"{}\"}} {count}",
            refusal.label()
        );
    }
    let _ = writeln!(
        text,
        "# HELP gatehouse_radius_dropped_total RADIUS requests dropped for overload (no answer; the NAS retries).\n# TYPE gatehouse_radius_dropped_total counter\ngatehouse_radius_dropped_total {}\n# HELP gatehouse_radius_in_flight RADIUS requests being worked on now.\n# TYPE gatehouse_radius_in_flight gauge\ngatehouse_radius_in_flight {}",
        counts.radius_dropped, counts.radius_in_flight
    );
    let _ = writeln!(
        text,
        "# HELP gatehouse_push_waiting Logins of this process waiting for a phone now.\n# TYPE gatehouse_push_waiting gauge\ngatehouse_push_waiting {}",
        panel.gatehouse.pushes_waiting()
    );
    let (open, refused, timed_out) = panel.connections.snapshot();
    let _ = writeln!(
        text,
        "# HELP gatehouse_http_connections HTTP connections open now.\n# TYPE gatehouse_http_connections gauge\ngatehouse_http_connections {open}\n# HELP gatehouse_http_connections_refused_total HTTP connections closed at once at http.max_connections or http.max_connections_per_address.\n# TYPE gatehouse_http_connections_refused_total counter\ngatehouse_http_connections_refused_total {refused}\n# HELP gatehouse_http_connections_timed_out_total HTTP connections closed for a header-read or idle timeout.\n# TYPE gatehouse_http_connections_timed_out_total counter\ngatehouse_http_connections_timed_out_total {timed_out}"
    );
    if let Some(checks) = panel.gatehouse.directory_password_checks() {
        let _ = writeln!(
            text,
            "# HELP gatehouse_directory_password_checks_total Directory users' passwords checked, by a bind or remembered from an earlier bind of the same entry at the same revision ([[directory]] cache_seconds).\n# TYPE gatehouse_directory_password_checks_total counter\ngatehouse_directory_password_checks_total{{how=\"bind\"}} {}\ngatehouse_directory_password_checks_total{{how=\"remembered\"}} {}",
            checks.binds, checks.remembered
        );
    }
    let (locks_set, locked_now) = panel.gatehouse.lockout_counts();
    let _ = writeln!(
        text,
        "# HELP gatehouse_lockouts_total Users locked out by this process after failed attempts in a row.\n# TYPE gatehouse_lockouts_total counter\ngatehouse_lockouts_total {locks_set}\n# HELP gatehouse_locked_users Users locked out now (as this process last read).\n# TYPE gatehouse_locked_users gauge\ngatehouse_locked_users {locked_now}"
    );
    if let Some(process) = gatehouse_core::metrics::ProcessStats::read() {
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                process.resident_bytes,
            ),
            (
                "process_resident_memory_max_bytes",
                "The largest resident memory size so far, in bytes.",
                process.resident_peak_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                process.virtual_bytes,
            ),
            (
                "process_threads",
                "Threads of the process.",
                process.threads,
            ),
            (
                "process_open_fds",
                "Open file descriptors.",
                process.open_fds,
            ),
        ] {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
    }
    match panel.gatehouse.license_view().await {
        Ok(view) => {
            let gauges = [
                (
                    "gatehouse_active_users",
                    "Users counted this month.",
                    i64::from(view.active_users),
                ),
                (
                    "gatehouse_user_limit",
                    "Users per month the license allows.",
                    i64::from(view.license.payload.user_limit),
                ),
                (
                    "gatehouse_license_days_remaining",
                    "Days until the Support End Date (0 on the day itself, negative after).",
                    i64::from(view.days_remaining),
                ),
                (
                    "gatehouse_license_expired",
                    "1 when the license has expired (past the Support End Date and any grace).",
                    i64::from(view.status == LicenseStatus::Expired),
                ),
                (
                    "gatehouse_license_grace",
                    "1 while the license is in the grace after its Support End Date (users counted this month still log in; new users are refused).",
                    i64::from(view.status == LicenseStatus::Grace),
                ),
                (
                    "gatehouse_license_damaged",
                    "1 when the license records were changed outside Gatehouse (every login is refused until a vendor key is installed).",
                    i64::from(view.status == LicenseStatus::Damaged),
                ),
            ];
            for (name, help, value) in gauges {
                let _ = writeln!(
                    text,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
                );
            }
        }
        Err(error) => tracing::error!(%error, "metrics: database unavailable"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// TLS certificate and key (PEM files).
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_stays_open_when_the_license_has_expired() {
        let open = [
            (Method::GET, "/login"),
            (Method::POST, "/login"),
            (Method::POST, "/logout"),
            (Method::GET, "/account"),
            (Method::POST, "/account/password"),
            (Method::GET, "/license"),
            (Method::POST, "/license/preview"),
            (Method::POST, "/license/install"),
            (Method::GET, "/license/application-key-file"),
            (Method::GET, "/api/v1/license"),
            (Method::POST, "/api/v1/license"),
            (Method::POST, "/api/v1/license/preview"),
            (Method::GET, "/api/v1/license/application-key-file"),
            (Method::GET, "/assets/gatehouse.css"),
        ];
        for (method, path) in open {
            assert!(open_when_expired(&method, path), "{method} {path}");
        }
        let locked = [
            (Method::GET, "/users"),
            (Method::GET, "/analytics"),
            (Method::POST, "/alarms"),
            (Method::GET, "/local-users"),
            (Method::GET, "/api/v1/users"),
            (Method::POST, "/api/v1/local-users"),
            (Method::DELETE, "/api/v1/license"),
            (Method::POST, "/account/tokens/0123456789ab/revoke"),
            (Method::DELETE, "/api/v1/admins/root/tokens/0123456789ab"),
        ];
        for (method, path) in locked {
            assert!(!open_when_expired(&method, path), "{method} {path}");
        }
    }
}
