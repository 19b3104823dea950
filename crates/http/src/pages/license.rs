//! The License page: the license in force, the license request, previewing
//! and installing a key, the application key file.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::InstallError;
use gatehouse_license::{KeyRefusal, UsagePercent, words};
use serde::Deserialize;

use super::{Flash, Nav, page, see_other, unavailable};
use crate::auth::{Admin, AdminForm};
use crate::forms::request_text;
use crate::state::Panel;
use crate::wire::{LicenseJson, LicensePreviewJson};

#[derive(Template)]
#[template(path = "license.html")]
struct LicensePage {
    nav: Option<Nav>,
    csrf: String,
    license: LicenseJson,
    usage_percent: String,
    meter_low: u32,
    meter_high: u32,
    remaining_text: String,
    warn: bool,
    request_text: String,
    contact: Option<String>,
    /// Fingerprints of the vendor keys this build accepts.
    vendor_keys: Vec<String>,
    /// The build trusts the published development key.
    development_key: bool,
    notice: Option<String>,
    error: Option<String>,
    preview: Option<Preview>,
    /// What the key grants beyond the limit, label and value.
    granted: Vec<(&'static str, String)>,
    /// The same in one line, for the preview's "Now" column.
    current_options: String,
}

struct Preview {
    key: String,
    details: LicensePreviewJson,
}

async fn render_license(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    flash: Flash,
    preview: Option<Preview>,
) -> Response {
    let view = match panel.gatehouse.license_view().await {
        Ok(view) => view,
        Err(error) => return unavailable(error),
    };
    let license = LicenseJson::new(&view, panel.gatehouse.time_zone());
    let limit = license.user_limit;
    page(
        status,
        &LicensePage {
            nav: Nav::new(panel, admin, "license"),
            csrf: admin.csrf().to_string(),
            usage_percent: UsagePercent::of(license.active_users, limit).to_string(),
            meter_low: (u64::from(limit) * 75 / 100) as u32,
            meter_high: (u64::from(limit) * 95 / 100) as u32,
            remaining_text: words::remaining(view.days_remaining),
            warn: view.days_remaining < 30,
            request_text: request_text(&view),
            granted: words::options(&view.license.payload.options, limit),
            current_options: crate::wire::options_text(&view.license.payload.options, limit),
            contact: panel.settings.support_contact.clone(),
            vendor_keys: gatehouse_core::vendor_keys::fingerprints(),
            development_key: gatehouse_core::vendor_keys::trusts_development_key(),
            license,
            notice: flash.notice(),
            error: flash.error(),
            preview,
        },
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct NoticeQuery {
    installed: Option<String>,
}

pub(super) async fn license_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let notice = query
        .installed
        .map(|_| "The new license is installed and in force.".to_string());
    render_license(&panel, &admin, StatusCode::OK, Flash::done(notice), None).await
}

#[derive(Debug, Deserialize)]
pub(super) struct KeyForm {
    key: String,
}

pub(super) async fn license_preview(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<KeyForm>,
) -> Response {
    match panel.gatehouse.check_license_key(&form.key) {
        Ok(verified) => {
            let view = match panel.gatehouse.license_view().await {
                Ok(view) => view,
                Err(error) => return unavailable(error),
            };
            let details =
                LicensePreviewJson::new(&verified.payload, &view, panel.gatehouse.time_zone());
            let preview = Preview {
                key: verified.text,
                details,
            };
            render_license(&panel, &admin, StatusCode::OK, Flash::None, Some(preview)).await
        }
        Err(refusal) => refused(&panel, &admin, &refusal).await,
    }
}

/// The License page again, saying why a key was refused (400).
async fn refused(panel: &Panel, admin: &Admin, refusal: &KeyRefusal) -> Response {
    render_license(
        panel,
        admin,
        StatusCode::BAD_REQUEST,
        Flash::Error(refusal.to_string()),
        None,
    )
    .await
}

pub(super) async fn license_install(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<KeyForm>,
) -> Response {
    match panel.gatehouse.install_license(&form.key).await {
        Ok(_) => {
            tracing::info!(admin = %admin.name, "license installed from the panel");
            see_other("/license?installed=1")
        }
        Err(InstallError::Refused(refusal)) => refused(&panel, &admin, &refusal).await,
        Err(InstallError::Store(error)) => unavailable(error),
    }
}

/// The signed application key file, as a download.
pub async fn application_key_file(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.application_key_file().await {
        Ok(file) => {
            let name = format!(
                "gatehouse-{}-{}.json",
                panel.gatehouse.app_key().compact(),
                panel.gatehouse.current_month()
            );
            (
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                file,
            )
                .into_response()
        }
        Err(error) => unavailable(error),
    }
}
