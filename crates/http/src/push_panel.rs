//! The panel's Push page: enrollment links (with their QR code), enrolled
//! phones and their revocation, and the recent pushes with their outcome.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use gatehouse_core::PushError;
use serde::Deserialize;

use crate::api::push_enrollment_link;
use crate::auth::{Admin, AdminForm, NoFields};
use crate::forms::qr_svg;
use crate::pages::{DoneQuery, Flash, Nav, page, redirect_done, unavailable};
use crate::state::Panel;
use crate::wire::{DeviceJson, PushJson, local_time};

/// Pushes shown on the page.
const SHOWN_PUSHES: u32 = 50;

pub(crate) fn routes() -> crate::pages::Listed {
    crate::pages::Listed::default()
        .route("/push-devices", get(push_page))
        .route("/push-devices/enroll", post(create_link))
        .route("/push-devices/{id}/remove", post(revoke))
}

/// An enrollment link as the page shows it.
struct LinkView {
    user: String,
    link: String,
    expires_at: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "push.html")]
struct PushPage {
    nav: Option<Nav>,
    csrf: String,
    licensed: bool,
    mode: &'static str,
    link: Option<LinkView>,
    devices: Vec<DeviceJson>,
    pushes: Vec<PushView>,
    notice: Option<String>,
    error: Option<String>,
}

/// A push row, times for people.
struct PushView {
    sent_at: String,
    user: String,
    client: String,
    source: Option<String>,
    outcome: String,
    decided_at: Option<String>,
}

async fn render(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    flash: Flash,
    link: Option<LinkView>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let zone = gatehouse.time_zone();
    let (devices, pushes) = match tokio::try_join!(
        gatehouse.push_devices(),
        gatehouse.recent_pushes(SHOWN_PUSHES)
    ) {
        Ok(found) => found,
        Err(error) => return unavailable(error),
    };
    let now = gatehouse.now();
    page(
        status,
        &PushPage {
            nav: Nav::new(panel, admin, "push"),
            csrf: admin.csrf().to_string(),
            licensed: gatehouse.push_licensed(),
            mode: gatehouse.push_settings().mode.as_str(),
            link,
            devices: devices
                .iter()
                .map(|device| DeviceJson {
                    enrolled_at: local_time(device.created_at, zone),
                    ..DeviceJson::new(device, zone)
                })
                .collect(),
            pushes: pushes
                .iter()
                .map(|record| {
                    let json = PushJson::new(record, now, zone);
                    PushView {
                        sent_at: local_time(record.push.created_at, zone),
                        user: json.user,
                        client: json.client,
                        source: json.source,
                        outcome: json.outcome,
                        decided_at: record.decided_at.map(|at| local_time(at, zone)),
                    }
                })
                .collect(),
            notice: flash.notice(),
            error: flash.error(),
        },
    )
}

async fn push_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<DoneQuery>,
) -> Response {
    render(
        &panel,
        &admin,
        StatusCode::OK,
        Flash::done(query.done),
        None,
    )
    .await
}

#[derive(Debug, Deserialize)]
struct LinkForm {
    user: String,
}

async fn create_link(
    State(panel): State<Arc<Panel>>,
    headers: HeaderMap,
    AdminForm(admin, form): AdminForm<LinkForm>,
) -> Response {
    match push_enrollment_link(&panel, &headers, form.user.trim()).await {
        Ok((enrollment, token)) => {
            tracing::info!(admin = %admin.name, user = %enrollment.user, "push enrollment link created in the panel");
            let view = LinkView {
                qr_svg: qr_svg(&enrollment.link),
                user: enrollment.user,
                link: enrollment.link,
                expires_at: local_time(token.expires_at, panel.gatehouse.time_zone()),
            };
            render(&panel, &admin, StatusCode::OK, Flash::None, Some(view)).await
        }
        Err(PushError::Store(error)) => unavailable(error),
        Err(refusal) => {
            let status = match refusal {
                PushError::UnknownUser(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            render(
                &panel,
                &admin,
                status,
                Flash::Error(refusal.to_string()),
                None,
            )
            .await
        }
    }
}

async fn revoke(
    State(panel): State<Arc<Panel>>,
    Path(id): Path<String>,
    AdminForm(admin, NoFields {}): AdminForm<NoFields>,
) -> Response {
    match panel.gatehouse.remove_push_device(&id).await {
        Ok(Some(removed)) => {
            tracing::info!(admin = %admin.name, device = %id, "push device revoked in the panel");
            redirect_done(
                "/push-devices",
                &crate::forms::removal_notice("Phone revoked.".into(), &removed),
            )
        }
        Ok(None) => {
            render(
                &panel,
                &admin,
                StatusCode::NOT_FOUND,
                Flash::Error(format!("no phone {id:?}")),
                None,
            )
            .await
        }
        Err(error) => unavailable(error),
    }
}
