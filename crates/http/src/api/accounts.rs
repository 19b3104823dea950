//! The API of accounts: local users (passwords, TOTP, second-factor
//! exemptions), lockouts and RADIUS clients.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::{ClientAddError, Username};
use serde::{Deserialize, Serialize};

use super::{Body, error, removal_response, unavailable, user_error};
use crate::auth::Admin;
use crate::forms::{clients_json, local_users_json, new_client, parse_mode, qr_svg};
use crate::state::Panel;
use crate::wire::{ClientJson, LockoutJson};

// ----- local users -------------------------------------------------------------

pub(super) async fn local_users(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match local_users_json(&panel).await {
        Ok(users) => Json(users).into_response(),
        Err(store) => unavailable(store),
    }
}

/// One local user as JSON, after a change.
pub(super) async fn local_user_json(panel: &Panel, name: &str) -> Response {
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
pub(super) struct NewUserJson {
    username: String,
    password: String,
    /// A service account: no second factor while one is required.
    #[serde(default)]
    second_factor_exempt: bool,
    /// Local groups (which must exist).
    #[serde(default)]
    groups: Vec<String>,
}

pub(super) async fn add_local_user(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Body(body): Body<NewUserJson>,
) -> Response {
    let added = panel
        .gatehouse
        .add_local_user_with(
            &body.username,
            &body.password,
            body.second_factor_exempt,
            &body.groups,
        )
        .await;
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

pub(super) async fn enable_local_user(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    match panel.gatehouse.set_local_user_enabled(&name, true).await {
        Ok(()) => local_user_json(&panel, &name).await,
        Err(user) => user_error(user),
    }
}

pub(super) async fn disable_local_user(
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
pub(super) struct PasswordJson {
    password: String,
}

pub(super) async fn set_password(
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
pub(super) struct SecondFactorJson {
    exempt: bool,
}

pub(super) async fn set_second_factor(
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

pub(super) async fn lockouts(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
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

pub(super) async fn unlock(
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

pub(super) async fn delete_local_user(
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
pub(super) struct TotpRequestJson {
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

pub(super) async fn enroll_totp(
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

pub(super) async fn remove_totp(
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

pub(super) async fn clients(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match clients_json(&panel).await {
        Ok(clients) => Json(clients).into_response(),
        Err(store) => unavailable(store),
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
pub(super) struct NewClientJson {
    name: String,
    networks: Vec<String>,
    secret: String,
    #[serde(default = "yes")]
    require_message_authenticator: bool,
    #[serde(default = "yes")]
    limit_proxy_state: bool,
}

pub(super) async fn add_client(
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

pub(super) async fn delete_client(
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
