//! `/api/v1/policies`: the policies in force (saved, or fixed in the
//! configuration), saving an edited list, and which policy a user gets.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::policy::PolicyText;
use gatehouse_core::{DirectoryUserError, PolicySaveError, PolicyTestError, Route};
use serde::Deserialize;

use super::{Body, error, unavailable};
use crate::auth::Admin;
use crate::state::Panel;
use crate::wire::{PoliciesJson, PolicyTestJson};

pub(super) async fn policies(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match PoliciesJson::read(&panel.gatehouse).await {
        Ok(policies) => Json(policies).into_response(),
        Err(why) => save_error(why),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SaveJson {
    /// The generation the edit started from (GET's `generation`).
    generation: i64,
    policies: Vec<PolicyText>,
}

pub(super) async fn save_policies(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Body(body): Body<SaveJson>,
) -> Response {
    if body.generation < 0 {
        return error(StatusCode::BAD_REQUEST, "generation must be 0 or more");
    }
    let gatehouse = &panel.gatehouse;
    let saved = gatehouse
        .save_policies(body.generation, &body.policies, admin.name.as_str())
        .await;
    match saved {
        Ok(_) => policies(State(panel), admin).await,
        Err(why) => save_error(why),
    }
}

/// A save refused: 400 invalid, 409 fixed or stale or altered, 503.
pub(crate) fn save_error(why: PolicySaveError) -> Response {
    match why {
        PolicySaveError::Invalid(_) => error(StatusCode::BAD_REQUEST, why.to_string()),
        PolicySaveError::Fixed | PolicySaveError::Stale | PolicySaveError::Altered(_) => {
            error(StatusCode::CONFLICT, why.to_string())
        }
        PolicySaveError::Unreadable(_) => error(StatusCode::CONFLICT, why.to_string()),
        PolicySaveError::Store(store) => unavailable(store),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestJson {
    user: String,
    client: String,
    #[serde(default)]
    calling_station_id: Option<String>,
}

pub(super) async fn test_policy(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Body(body): Body<TestJson>,
) -> Response {
    let route = Route::new(&body.client, body.calling_station_id.as_deref());
    match panel.gatehouse.policy_test(&body.user, &route).await {
        Ok(test) => Json(PolicyTestJson::new(&test)).into_response(),
        Err(why) => test_error(why),
    }
}

/// A policy test that names nobody: 404 unknown (or ambiguous), 503 when
/// the database, the directory or the saved policies cannot answer.
pub(crate) fn test_error(why: PolicyTestError) -> Response {
    match why {
        PolicyTestError::Unknown(_)
        | PolicyTestError::Directory(
            DirectoryUserError::NotFound(_) | DirectoryUserError::Ambiguous { .. },
        ) => error(StatusCode::NOT_FOUND, why.to_string()),
        PolicyTestError::Store(store)
        | PolicyTestError::Directory(DirectoryUserError::Store(store)) => unavailable(store),
        PolicyTestError::Unusable(_)
        | PolicyTestError::Directory(
            DirectoryUserError::Unavailable(_) | DirectoryUserError::NotConfigured,
        ) => error(StatusCode::SERVICE_UNAVAILABLE, why.to_string()),
    }
}
