//! The audit trail through the API: entries with filters, newest first,
//! and a walk along the whole chain.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Params, error, unavailable};
use crate::auth::Admin;
use crate::forms::audit_query;
use crate::state::Panel;
use crate::wire::AuditJson;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    since: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    before: Option<u64>,
    limit: Option<u32>,
}

pub(super) async fn audit(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Params(params): Params<AuditParams>,
) -> Response {
    let zone = panel.gatehouse.time_zone();
    let query = match audit_query(
        params.since.as_deref(),
        params.actor.as_deref(),
        params.action.as_deref(),
        params.before,
        params.limit,
        zone,
    ) {
        Ok(query) => query,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match panel.gatehouse.audit_entries(&query).await {
        Ok(entries) => {
            let next = (entries.len() as u32 == query.limit)
                .then(|| entries.last().map(|e| e.id))
                .flatten();
            Json(serde_json::json!({
                "entries": entries.iter().map(|e| AuditJson::new(e, zone)).collect::<Vec<_>>(),
                "next_before": next,
            }))
            .into_response()
        }
        Err(store) => unavailable(store),
    }
}

pub(super) async fn verify_audit(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.verify_audit().await {
        Ok(report) => Json(serde_json::json!({
            "entries": report.entries,
            "intact": report.intact(),
            "first_break": report.first_break,
            "head_mismatch": report.head_mismatch,
        }))
        .into_response(),
        Err(store) => unavailable(store),
    }
}
