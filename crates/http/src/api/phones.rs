//! The API of push approval: phones, enrollment links, the push history and
//! push modes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::PushError;
use gatehouse_core::push::{EnrollmentToken, PushMode};
use serde::Deserialize;

use super::{Body, error, removal_response, unavailable};
use crate::auth::Admin;
use crate::state::Panel;
use crate::wire::{DeviceJson, EnrollmentJson, PushJson, enrollment_link};

// ----- push approval -----------------------------------------------------------

/// Pushes listed by `GET /push/history` (and the panel).
pub const PUSH_HISTORY_LIMIT: u32 = 200;

pub(super) async fn push_devices(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    let gatehouse = &panel.gatehouse;
    match gatehouse.push_devices().await {
        Ok(devices) => Json(
            devices
                .iter()
                .map(|device| DeviceJson::new(device, gatehouse.time_zone()))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(store) => unavailable(store),
    }
}

pub(super) async fn remove_push_device(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Path(id): Path<String>,
) -> Response {
    match panel.gatehouse.remove_push_device(&id).await {
        Ok(Some(removed)) => {
            tracing::info!(admin = %admin.name, device = %id, "push device removed through the API");
            removal_response(&removed)
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no push device {id:?}")),
        Err(store) => unavailable(store),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnrollmentRequestJson {
    user: String,
}

pub(super) async fn push_enrollment(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    headers: axum::http::HeaderMap,
    Body(body): Body<EnrollmentRequestJson>,
) -> Response {
    match push_enrollment_link(&panel, &headers, &body.user).await {
        Ok((enrollment, _)) => {
            tracing::info!(admin = %admin.name, user = %enrollment.user, "push enrollment link created through the API");
            (StatusCode::CREATED, Json(enrollment)).into_response()
        }
        Err(refusal) => push_admin_error(refusal),
    }
}

pub(super) async fn push_history(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    let gatehouse = &panel.gatehouse;
    match gatehouse.recent_pushes(PUSH_HISTORY_LIMIT).await {
        Ok(pushes) => Json(
            pushes
                .iter()
                .map(|push| PushJson::new(push, gatehouse.now(), gatehouse.time_zone()))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(store) => unavailable(store),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PushModeJson {
    /// `hold`, `challenge`, or empty for the configured default.
    mode: String,
}

pub(super) async fn set_push_mode(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Path(name): Path<String>,
    Body(body): Body<PushModeJson>,
) -> Response {
    let mode = match body.mode.trim() {
        "" => None,
        text => match PushMode::parse(text) {
            Some(mode) => Some(mode),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "mode must be \"hold\", \"challenge\" or empty (the configured default)",
                );
            }
        },
    };
    match panel.gatehouse.set_push_mode(&name, mode).await {
        Ok(identity) => {
            tracing::info!(admin = %admin.name, user = %identity.username, mode = mode.map_or("default", PushMode::as_str), "push mode set through the API");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(refusal) => push_admin_error(refusal),
    }
}

/// A one-time enrollment link for `user`, based on `push.public_url` or
/// else the address this request came to.
pub async fn push_enrollment_link(
    panel: &Panel,
    headers: &axum::http::HeaderMap,
    user: &str,
) -> Result<(EnrollmentJson, EnrollmentToken), PushError> {
    let (identity, token, text) = panel.gatehouse.push_enrollment(user).await?;
    let base = link_base(panel, headers);
    Ok((
        EnrollmentJson {
            user: identity.username.to_string(),
            link: enrollment_link(&base, &text),
            expires_at: crate::wire::rfc3339(token.expires_at, panel.gatehouse.time_zone()),
        },
        token,
    ))
}

/// The base of enrollment links: `push.public_url`, or the address the
/// panel was reached at.
pub fn link_base(panel: &Panel, headers: &axum::http::HeaderMap) -> String {
    match &panel.settings.push_public_url {
        Some(base) => base.clone(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or("localhost");
            let scheme = if panel.settings.secure_cookies {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}")
        }
    }
}

fn push_admin_error(refusal: PushError) -> Response {
    match refusal {
        PushError::UnknownUser(_) => error(StatusCode::NOT_FOUND, refusal.to_string()),
        PushError::Store(store) => unavailable(store),
        other => {
            tracing::error!(error = %other, "API: push request failed");
            error(StatusCode::SERVICE_UNAVAILABLE, other.to_string())
        }
    }
}
