//! The JSON API under `/api/v1`: everything the panel can do.
//!
//! Authentication: `Authorization: Bearer ght_…` (an API token from
//! `gatehouse admin token`), or a panel session cookie plus an
//! `X-CSRF-Token` header on unsafe methods. Errors are `{"error": "…"}`.
//! The OpenAPI document (`openapi.json`, compiled in) lists every route; a
//! test keeps the two in step.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Json, Router};
use gatehouse_core::alarms::AlarmSettings;
use gatehouse_core::export::HistoryRow;
use gatehouse_core::push::{EnrollmentToken, PushMode};
use gatehouse_core::{
    AlarmSaveError, ClientAddError, InstallError, PushError, StoreError, UserError, Username,
};
use gatehouse_license::{Projection, words};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::Admin;
use crate::forms::{
    BadQuery, PAGE_SIZE, UsersQuery, clients_json, cursor_after, local_users_json, new_client,
    parse_mode, qr_svg, request_text, send_test_email,
};
use crate::state::Panel;
use crate::wire::{
    AlarmJson, ClientJson, DeviceJson, EnrollmentJson, ErrorJson, LicenseJson, LicenseKeyJson,
    LicensePreviewJson, LockoutJson, PushJson, RefusedJson, UserJson, enrollment_link,
};

/// The OpenAPI 3 document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Routes and the (method, path) pairs they serve, for the OpenAPI test.
pub fn routes() -> (Router<Arc<Panel>>, Vec<(&'static str, &'static str)>) {
    let mut listed = Vec::new();
    let mut router = Router::new();
    let mut add =
        |path: &'static str, methods: &[&'static str], handler: MethodRouter<Arc<Panel>>| {
            for method in methods {
                listed.push((*method, path));
            }
            router = std::mem::take(&mut router).route(path, handler);
        };
    add("/openapi.json", &["get"], get(openapi));
    add(
        "/license",
        &["get", "post"],
        get(license).post(install_license),
    );
    add("/license/preview", &["post"], post(preview_license));
    add("/license/request", &["get"], get(license_request));
    add(
        "/license/application-key-file",
        &["get"],
        get(application_key_file),
    );
    add("/users", &["get"], get(users));
    add("/users/refused", &["get"], get(refused_users));
    add("/usage", &["get"], get(usage));
    add("/alarms", &["get", "put"], get(alarms).put(set_alarms));
    add("/alarms/history", &["get"], get(alarm_history));
    add("/alarms/test", &["post"], post(test_email));
    add(
        "/local-users",
        &["get", "post"],
        get(local_users).post(add_local_user),
    );
    add(
        "/local-users/{name}",
        &["delete"],
        delete(delete_local_user),
    );
    add(
        "/local-users/{name}/enable",
        &["post"],
        post(enable_local_user),
    );
    add(
        "/local-users/{name}/disable",
        &["post"],
        post(disable_local_user),
    );
    add("/local-users/{name}/password", &["put"], put(set_password));
    add(
        "/local-users/{name}/second-factor",
        &["put"],
        put(set_second_factor),
    );
    add("/lockouts", &["get"], get(lockouts));
    add("/lockouts/{user}", &["delete"], delete(unlock));
    add(
        "/local-users/{name}/totp",
        &["post", "delete"],
        post(enroll_totp).delete(remove_totp),
    );
    add("/clients", &["get", "post"], get(clients).post(add_client));
    add("/clients/{name}", &["delete"], delete(delete_client));
    add("/push/devices", &["get"], get(push_devices));
    add(
        "/push/devices/{id}",
        &["delete"],
        delete(remove_push_device),
    );
    add("/push/enrollments", &["post"], post(push_enrollment));
    add("/push/history", &["get"], get(push_history));
    add("/push/users/{name}/mode", &["put"], put(set_push_mode));
    (router, listed)
}

/// A JSON error answer.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorJson {
            error: message.into(),
        }),
    )
        .into_response()
}

fn unavailable(error: StoreError) -> Response {
    tracing::error!(%error, "API: database unavailable");
    self::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "database unavailable, please try again later",
    )
}

/// A JSON body; anything unreadable is a 400 in the API's error shape.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, Response> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(error(StatusCode::BAD_REQUEST, body_error(&rejection))),
        }
    }
}

fn body_error(rejection: &JsonRejection) -> String {
    format!("invalid request body: {}", rejection.body_text())
}

/// Query parameters; anything unreadable is a 400 in the API's error shape.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params<T>, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(error(
                StatusCode::BAD_REQUEST,
                format!("invalid query: {}", rejection.body_text()),
            )),
        }
    }
}

fn user_error(error: UserError) -> Response {
    match error {
        UserError::NotFound(_) => self::error(StatusCode::NOT_FOUND, error.to_string()),
        UserError::AlreadyExists(_) => self::error(StatusCode::CONFLICT, error.to_string()),
        UserError::Store(store) => unavailable(store),
        UserError::Username(_) | UserError::Password(_) => {
            self::error(StatusCode::BAD_REQUEST, error.to_string())
        }
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

// ----- license -----------------------------------------------------------------

async fn license(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.license_view().await {
        Ok(view) => Json(LicenseJson::new(&view, panel.gatehouse.time_zone())).into_response(),
        Err(error) => unavailable(error),
    }
}

async fn install_license(
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

async fn preview_license(
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

async fn license_request(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
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

async fn application_key_file(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
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

async fn users(
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
struct MonthQuery {
    month: Option<String>,
}

#[derive(Debug, Serialize)]
struct RefusedPageJson {
    month: String,
    users: Vec<RefusedJson>,
}

async fn refused_users(
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

async fn usage(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
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
struct AlarmsJson {
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

async fn alarms(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.alarm_settings().await {
        Ok(settings) => Json(AlarmsJson::from(&settings)).into_response(),
        Err(store) => unavailable(store),
    }
}

async fn set_alarms(
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

async fn alarm_history(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
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

async fn test_email(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match send_test_email(&panel).await {
        Ok(sent_to) => Json(TestEmailJson { sent_to }).into_response(),
        Err((status, message)) => error(status, message),
    }
}

// ----- local users -------------------------------------------------------------

async fn local_users(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match local_users_json(&panel).await {
        Ok(users) => Json(users).into_response(),
        Err(store) => unavailable(store),
    }
}

/// One local user as JSON, after a change.
async fn local_user_json(panel: &Panel, name: &str) -> Response {
    let Ok(username) = Username::parse(name) else {
        return error(StatusCode::NOT_FOUND, format!("no local user {name:?}"));
    };
    match local_users_json(panel).await {
        Ok(users) => match users.into_iter().find(|u| u.username == username.as_str()) {
            Some(user) => Json(user).into_response(),
            None => error(StatusCode::NOT_FOUND, format!("no local user {name:?}")),
        },
        Err(store) => unavailable(store),
    }
}

#[derive(Debug, Deserialize)]
struct NewUserJson {
    username: String,
    password: String,
    /// A service account: no second factor while one is required.
    #[serde(default)]
    second_factor_exempt: bool,
}

async fn add_local_user(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Body(body): Body<NewUserJson>,
) -> Response {
    let added = match panel
        .gatehouse
        .add_local_user(&body.username, &body.password)
        .await
    {
        Ok(name) if body.second_factor_exempt => panel
            .gatehouse
            .set_local_user_second_factor_exempt(name.as_str(), true)
            .await
            .map(|()| name),
        other => other,
    };
    match added {
        Ok(name) => {
            let mut response = local_user_json(&panel, name.as_str()).await;
            if response.status() == StatusCode::OK {
                *response.status_mut() = StatusCode::CREATED;
            }
            response
        }
        Err(user) => user_error(user),
    }
}

async fn enable_local_user(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    match panel.gatehouse.set_local_user_enabled(&name, true).await {
        Ok(()) => local_user_json(&panel, &name).await,
        Err(user) => user_error(user),
    }
}

async fn disable_local_user(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    match panel.gatehouse.set_local_user_enabled(&name, false).await {
        Ok(()) => local_user_json(&panel, &name).await,
        Err(user) => user_error(user),
    }
}

#[derive(Debug, Deserialize)]
struct PasswordJson {
    password: String,
}

async fn set_password(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
    Body(body): Body<PasswordJson>,
) -> Response {
    match panel
        .gatehouse
        .set_local_user_password(&name, &body.password)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(user) => user_error(user),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecondFactorJson {
    exempt: bool,
}

async fn set_second_factor(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
    Body(body): Body<SecondFactorJson>,
) -> Response {
    match panel
        .gatehouse
        .set_local_user_second_factor_exempt(&name, body.exempt)
        .await
    {
        Ok(()) => local_user_json(&panel, &name).await,
        Err(user) => user_error(user),
    }
}

// ----- lockouts ------------------------------------------------------------------

async fn lockouts(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    let gatehouse = &panel.gatehouse;
    match gatehouse.lockouts().await {
        Ok(records) => Json(LockoutJson::list(
            &records,
            gatehouse.now(),
            gatehouse.time_zone(),
        ))
        .into_response(),
        Err(store) => unavailable(store),
    }
}

async fn unlock(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Path(user): Path<String>,
) -> Response {
    match panel.gatehouse.unlock_user(&user).await {
        Ok(true) => {
            tracing::info!(admin = %admin.name, user = %user, "user unlocked through the API");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            format!("{user:?} is not locked out and has no failed attempts"),
        ),
        Err(store) => unavailable(store),
    }
}

async fn delete_local_user(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    match panel.gatehouse.delete_local_user(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(user) => user_error(user),
    }
}

#[derive(Debug, Deserialize)]
struct TotpRequestJson {
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Debug, Serialize)]
struct TotpEnrollmentJson {
    username: String,
    mode: String,
    secret: String,
    uri: String,
    qr_svg: String,
}

async fn enroll_totp(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
    Body(request): Body<TotpRequestJson>,
) -> Response {
    let mode = match parse_mode(request.mode.as_deref().unwrap_or("")) {
        Ok(mode) => mode,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match panel.gatehouse.enroll_local_totp(&name, mode).await {
        Ok(enrollment) => Json(TotpEnrollmentJson {
            username: Username::parse(&name)
                .map(|u| u.to_string())
                .unwrap_or(name),
            mode: enrollment.mode.as_str().to_string(),
            secret: enrollment.secret.to_base32(),
            qr_svg: qr_svg(&enrollment.uri),
            uri: enrollment.uri,
        })
        .into_response(),
        Err(user) => user_error(user),
    }
}

/// 204, or 200 with `{"warning": …}` when the user is left without a
/// second factor while one is required.
fn removal_response(removed: &gatehouse_core::Removed) -> Response {
    match removed.warning() {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(warning) => Json(serde_json::json!({ "warning": warning })).into_response(),
    }
}

async fn remove_totp(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    match panel.gatehouse.remove_local_totp(&name).await {
        Ok(removed) => removal_response(&removed),
        Err(user) => user_error(user),
    }
}

// ----- RADIUS clients ----------------------------------------------------------

async fn clients(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match clients_json(&panel).await {
        Ok(clients) => Json(clients).into_response(),
        Err(store) => unavailable(store),
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct NewClientJson {
    name: String,
    networks: Vec<String>,
    secret: String,
    #[serde(default = "yes")]
    require_message_authenticator: bool,
    #[serde(default = "yes")]
    limit_proxy_state: bool,
}

async fn add_client(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Body(body): Body<NewClientJson>,
) -> Response {
    let client = match new_client(
        &panel,
        &body.name,
        &body.networks,
        &body.secret,
        body.require_message_authenticator,
        body.limit_proxy_state,
    ) {
        Ok(client) => client,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match panel.gatehouse.add_radius_client(&client).await {
        Ok(()) => (
            StatusCode::CREATED,
            Json(ClientJson::new(&client, "database")),
        )
            .into_response(),
        Err(ClientAddError::AlreadyExists(name)) => error(
            StatusCode::CONFLICT,
            format!("a RADIUS client named {name:?} already exists"),
        ),
        Err(ClientAddError::Invalid(invalid)) => {
            error(StatusCode::BAD_REQUEST, invalid.to_string())
        }
        Err(ClientAddError::Store(store)) => unavailable(store),
    }
}

async fn delete_client(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    if panel
        .settings
        .configured_clients
        .iter()
        .any(|c| c.name == name)
    {
        return error(
            StatusCode::CONFLICT,
            format!("RADIUS client {name:?} is defined in the configuration file"),
        );
    }
    match panel.gatehouse.delete_radius_client(&name).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no RADIUS client {name:?}")),
        Err(store) => unavailable(store),
    }
}

// ----- push approval -----------------------------------------------------------

/// Pushes listed by `GET /push/history` (and the panel).
pub const PUSH_HISTORY_LIMIT: u32 = 200;

async fn push_devices(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
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

async fn remove_push_device(
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
struct EnrollmentRequestJson {
    user: String,
}

async fn push_enrollment(
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

async fn push_history(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
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
struct PushModeJson {
    /// `hold`, `challenge`, or empty for the configured default.
    mode: String,
}

async fn set_push_mode(
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
    let base = match &panel.settings.push_public_url {
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
    };
    Ok((
        EnrollmentJson {
            user: identity.username.to_string(),
            link: enrollment_link(&base, &text),
            expires_at: crate::wire::rfc3339(token.expires_at, panel.gatehouse.time_zone()),
        },
        token,
    ))
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
