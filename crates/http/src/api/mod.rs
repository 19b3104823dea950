//! The JSON API under `/api/v1`: everything the panel can do.
//!
//! Authentication: `Authorization: Bearer ght_…` (an API token from
//! `gatehouse admin token`), or a panel session cookie plus an
//! `X-CSRF-Token` header on unsafe methods. Errors are `{"error": "…"}`.
//! The OpenAPI document (`openapi.json`, compiled in) lists every route; a
//! test keeps the two in step.

use std::sync::Arc;

use accounts::{
    add_client, add_local_user, clients, delete_client, delete_local_user, disable_local_user,
    enable_local_user, enroll_totp, local_users, lockouts, remove_totp, set_password,
    set_second_factor, unlock,
};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use axum::{Json, Router};
use gatehouse_core::{StoreError, UserError};
use license::{
    alarm_history, alarms, application_key_file, install_license, license_request, preview_license,
    refused_users, set_alarms, test_email, usage, users,
};
use phones::{push_devices, push_enrollment, push_history, remove_push_device, set_push_mode};
use serde::de::DeserializeOwned;

use crate::state::Panel;
use crate::wire::ErrorJson;

mod accounts;
mod admins;
mod audit;
mod license;
pub(crate) mod phones;
mod policies;
mod seats;

pub use phones::push_enrollment_link;

/// The OpenAPI 3 document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

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
        get(license::license).post(install_license),
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
    add("/seat-marks", &["get"], get(seats::seat_marks));
    add(
        "/seat-marks/{user}",
        &["put", "delete"],
        put(seats::mark_seat).delete(seats::unmark_seat),
    );
    add("/seat-budgets", &["get"], get(seats::seat_budgets));
    add(
        "/enrollment-windows",
        &["get", "post"],
        get(seats::enrollment_windows).post(seats::open_enrollment),
    );
    add(
        "/enrollment-windows/close",
        &["post"],
        post(seats::close_enrollment),
    );
    add(
        "/seat-budgets/{name}",
        &["put", "delete"],
        put(seats::save_budget).delete(seats::delete_budget),
    );
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
    add(
        "/policies",
        &["get", "put"],
        get(policies::policies).put(policies::save_policies),
    );
    add("/policies/test", &["post"], post(policies::test_policy));
    add("/admins", &["get"], get(admins::admins));
    add("/audit", &["get"], get(audit::audit));
    add("/audit/verify", &["get"], get(audit::verify_audit));
    add("/admins/{name}", &["delete"], delete(admins::delete_admin));
    add(
        "/admins/{name}/password",
        &["put"],
        put(admins::set_admin_password),
    );
    add("/admins/{name}/tokens", &["get"], get(admins::admin_tokens));
    add(
        "/admins/{name}/tokens/{id}",
        &["delete"],
        delete(admins::revoke_admin_token),
    );
    add(
        "/admins/{name}/sessions",
        &["delete"],
        delete(admins::end_admin_sessions),
    );
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

/// 204, or 200 with `{"warning": …}` when the user is left without a
/// second factor while one is required.
fn removal_response(removed: &gatehouse_core::Removed) -> Response {
    match removed.warning() {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(warning) => Json(serde_json::json!({ "warning": warning })).into_response(),
    }
}

fn unavailable(error: StoreError) -> Response {
    tracing::error!(%error, "API: database unavailable");
    self::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "database unavailable, please try again later",
    )
}

/// A JSON object body; anything unreadable is a 400 in the API's error
/// shape. Every body is an object: an array is refused even where its
/// items would fill the fields in order.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, Response> {
        let value = match Json::<serde_json::Value>::from_request(request, state).await {
            Ok(Json(value)) => value,
            Err(rejection) => return Err(error(StatusCode::BAD_REQUEST, body_error(&rejection))),
        };
        if !value.is_object() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid request body: expected a JSON object",
            ));
        }
        serde_json::from_value(value).map(Body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("invalid request body: {e}"),
            )
        })
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
        UserError::NotFound(_) | UserError::Missing(_) => {
            self::error(StatusCode::NOT_FOUND, error.to_string())
        }
        UserError::AlreadyExists(_)
        | UserError::GroupExists(_)
        | UserError::AdminExists(_)
        | UserError::LastAdmin(_) => self::error(StatusCode::CONFLICT, error.to_string()),
        UserError::Store(store) => unavailable(store),
        UserError::Username(_)
        | UserError::Password(_)
        | UserError::BadGroup(_)
        | UserError::BadEmail(_)
        | UserError::WeakAdminPassword
        | UserError::BadTokenLabel
        | UserError::WrongPassword => self::error(StatusCode::BAD_REQUEST, error.to_string()),
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
