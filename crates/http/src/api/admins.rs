//! Administrators through the API: list, password, delete, their API
//! tokens (listed by id, revoked) and panel sessions.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Body, unavailable, user_error};
use crate::auth::Admin;
use crate::state::Panel;
use crate::wire::{AdminJson, TokenJson};

pub(super) async fn admins(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    let zone = panel.gatehouse.time_zone();
    match panel.gatehouse.admins().await {
        Ok(admins) => Json(
            admins
                .iter()
                .map(|a| AdminJson::new(a, zone))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(store) => unavailable(store),
    }
}

pub(super) async fn delete_admin(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    match panel.gatehouse.delete_admin(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => user_error(error),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdminPasswordJson {
    password: String,
}

pub(super) async fn set_admin_password(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
    Body(body): Body<AdminPasswordJson>,
) -> Response {
    match panel
        .gatehouse
        .set_admin_password(&name, &body.password)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => user_error(error),
    }
}

pub(super) async fn admin_tokens(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    let zone = panel.gatehouse.time_zone();
    match panel.gatehouse.admin_tokens(&name).await {
        Ok(tokens) => Json(
            tokens
                .iter()
                .map(|t| TokenJson::new(t, zone))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(error) => user_error(error),
    }
}

pub(super) async fn revoke_admin_token(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    match panel.gatehouse.revoke_admin_token(&name, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => user_error(error),
    }
}

pub(super) async fn end_admin_sessions(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    match panel.gatehouse.logout_admin(&name).await {
        Ok(ended) => Json(serde_json::json!({ "ended": ended })).into_response(),
        Err(error) => user_error(error),
    }
}
