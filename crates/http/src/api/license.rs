//! The API of the license: the license in force, keys, the license request
//! and the application key file; the month's users, refused users and usage;
//! the alarm settings, history and test email.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::alarms::AlarmSettings;
use gatehouse_core::export::HistoryRow;
use gatehouse_core::{AlarmSaveError, InstallError};
use gatehouse_license::{Projection, words};
use serde::{Deserialize, Serialize};

use super::{Body, Params, error, unavailable};
use crate::auth::Admin;
use crate::forms::{BadQuery, PAGE_SIZE, UsersQuery, cursor_after, request_text, send_test_email};
use crate::state::Panel;
use crate::wire::{
    AlarmJson, LicenseJson, LicenseKeyJson, LicensePreviewJson, RefusedJson, UserJson,
};

// ----- license -----------------------------------------------------------------

pub(super) async fn license(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.license_view().await {
        Ok(view) => Json(LicenseJson::new(&view, panel.gatehouse.time_zone())).into_response(),
        Err(error) => unavailable(error),
    }
}

pub(super) async fn install_license(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Body(body): Body<LicenseKeyJson>,
) -> Response {
    match panel.gatehouse.install_license(&body.key).await {
        Ok(view) => {
            tracing::info!(admin = %admin.name, "license installed through the API");
            Json(LicenseJson::new(&view, panel.gatehouse.time_zone())).into_response()
        }
        Err(InstallError::Refused(refusal)) => error(StatusCode::BAD_REQUEST, refusal.to_string()),
        Err(InstallError::Store(store)) => unavailable(store),
    }
}

pub(super) async fn preview_license(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Body(body): Body<LicenseKeyJson>,
) -> Response {
    match panel.gatehouse.check_license_key(&body.key) {
        Ok(verified) => match panel.gatehouse.license_view().await {
            Ok(view) => Json(LicensePreviewJson::new(
                &verified.payload,
                &view,
                panel.gatehouse.time_zone(),
            ))
            .into_response(),
            Err(store) => unavailable(store),
        },
        Err(refusal) => error(StatusCode::BAD_REQUEST, refusal.to_string()),
    }
}

#[derive(Debug, Serialize)]
struct LicenseRequestJson {
    app_key: String,
    dossier: String,
    contact: Option<String>,
    text: String,
}

pub(super) async fn license_request(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.license_view().await {
        Ok(view) => Json(LicenseRequestJson {
            app_key: view.app_key.to_string(),
            dossier: view.license.payload.dossier.clone(),
            contact: panel.settings.support_contact.clone(),
            text: request_text(&view),
        })
        .into_response(),
        Err(store) => unavailable(store),
    }
}

pub(super) async fn application_key_file(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
) -> Response {
    match panel.gatehouse.application_key_file().await {
        Ok(file) => ([(header::CONTENT_TYPE, "application/json")], file).into_response(),
        Err(store) => unavailable(store),
    }
}

// ----- users and usage -------------------------------------------------------

#[derive(Debug, Serialize)]
struct UsersPageJson {
    month: String,
    users: Vec<UserJson>,
    /// Pass as `after` for the next page; `null` on the last page.
    next: Option<String>,
}

pub(super) async fn users(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Params(query): Params<UsersQuery>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let seat_query = match query.to_seat_query(gatehouse.current_month(), Some(PAGE_SIZE)) {
        Ok(seat_query) => seat_query,
        Err(BadQuery(message)) => return error(StatusCode::BAD_REQUEST, message),
    };
    match gatehouse.users(&seat_query).await {
        Ok(seats) => {
            let full = Some(seats.len() as u32) == seat_query.limit;
            let next = seats
                .last()
                .filter(|_| full)
                .map(|last| cursor_after(last, seat_query.order));
            let zone = gatehouse.time_zone();
            Json(UsersPageJson {
                month: seat_query.month.to_string(),
                users: seats.iter().map(|seat| UserJson::new(seat, zone)).collect(),
                next,
            })
            .into_response()
        }
        Err(store) => unavailable(store),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct MonthQuery {
    month: Option<String>,
}

#[derive(Debug, Serialize)]
struct RefusedPageJson {
    month: String,
    users: Vec<RefusedJson>,
}

pub(super) async fn refused_users(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Params(query): Params<MonthQuery>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let month = match query.month.as_deref().filter(|m| !m.is_empty()) {
        Some(text) => match text.parse() {
            Ok(month) => month,
            Err(parse) => return error(StatusCode::BAD_REQUEST, format!("{parse}")),
        },
        None => gatehouse.current_month(),
    };
    match gatehouse.refused_users(month).await {
        Ok(refused) => Json(RefusedPageJson {
            month: month.to_string(),
            users: refused
                .iter()
                .map(|r| RefusedJson::new(r, gatehouse.time_zone()))
                .collect(),
        })
        .into_response(),
        Err(store) => unavailable(store),
    }
}

#[derive(Debug, Serialize)]
struct DailyJson {
    day: i8,
    users: u32,
}

#[derive(Debug, Serialize)]
struct ProjectionJson {
    /// `no_data`, `reached`, `reached_on` or `not_this_month`.
    kind: &'static str,
    date: Option<String>,
    text: String,
}

#[derive(Debug, Serialize)]
struct UsageJson {
    months: Vec<HistoryRow>,
    month: String,
    active_users: u32,
    user_limit: u32,
    daily: Vec<DailyJson>,
    projection: ProjectionJson,
}

pub(super) async fn usage(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.analytics().await {
        Ok(analytics) => {
            let (kind, date) = match analytics.projection {
                Projection::NoData => ("no_data", None),
                Projection::Reached => ("reached", None),
                Projection::ReachedOn(date) => ("reached_on", Some(date.to_string())),
                Projection::NotThisMonth => ("not_this_month", None),
            };
            Json(UsageJson {
                months: analytics.months.iter().map(HistoryRow::from).collect(),
                month: analytics.month.to_string(),
                active_users: analytics.active_users,
                user_limit: analytics.user_limit,
                daily: analytics
                    .daily
                    .iter()
                    .map(|d| DailyJson {
                        day: d.day,
                        users: d.users,
                    })
                    .collect(),
                projection: ProjectionJson {
                    kind,
                    date,
                    text: words::projection(
                        analytics.projection,
                        analytics.active_users,
                        analytics.user_limit,
                    ),
                },
            })
            .into_response()
        }
        Err(store) => unavailable(store),
    }
}

// ----- alarms ------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct AlarmsJson {
    days_before_end: Vec<u32>,
    user_limit_percent: Vec<u32>,
    recipients: Vec<String>,
}

impl From<&AlarmSettings> for AlarmsJson {
    fn from(settings: &AlarmSettings) -> AlarmsJson {
        AlarmsJson {
            days_before_end: settings.days_before_end().to_vec(),
            user_limit_percent: settings.user_limit_percent().to_vec(),
            recipients: settings.recipients().to_vec(),
        }
    }
}

pub(super) async fn alarms(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.alarm_settings().await {
        Ok(settings) => Json(AlarmsJson::from(&settings)).into_response(),
        Err(store) => unavailable(store),
    }
}

pub(super) async fn set_alarms(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Body(body): Body<AlarmsJson>,
) -> Response {
    let settings = match AlarmSettings::new(
        body.days_before_end,
        body.user_limit_percent,
        body.recipients,
    ) {
        Ok(settings) => settings,
        Err(invalid) => return error(StatusCode::BAD_REQUEST, invalid.to_string()),
    };
    match panel.gatehouse.set_alarm_settings(&settings).await {
        Ok(()) => Json(AlarmsJson::from(&settings)).into_response(),
        Err(AlarmSaveError::Store(store)) => unavailable(store),
        Err(configured @ AlarmSaveError::Configured) => {
            error(StatusCode::CONFLICT, configured.to_string())
        }
    }
}

/// Alarms returned by the history route.
const ALARM_HISTORY_LIMIT: u32 = 200;

pub(super) async fn alarm_history(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    let gatehouse = &panel.gatehouse;
    match gatehouse.alarm_history(ALARM_HISTORY_LIMIT).await {
        Ok(alarms) => Json(
            alarms
                .iter()
                .map(|alarm| AlarmJson::new(alarm, gatehouse.time_zone()))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(store) => unavailable(store),
    }
}

#[derive(Debug, Serialize)]
struct TestEmailJson {
    sent_to: Vec<String>,
}

pub(super) async fn test_email(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match send_test_email(&panel).await {
        Ok(sent_to) => Json(TestEmailJson { sent_to }).into_response(),
        Err((status, message)) => error(status, message),
    }
}
