//! The Audit trail page: administrative changes, newest first, filtered
//! by time, actor and action; the whole chain checked on request.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Nav, page, unavailable};
use crate::auth::Admin;
use crate::forms::{audit_query, query_string};
use crate::state::Panel;
use crate::wire::AuditJson;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    entries: Vec<AuditJson>,
    since: String,
    actor: String,
    action: String,
    filtered: bool,
    next: Option<String>,
    /// What a walk along the chain found, and whether it was whole.
    chain: Option<(String, bool)>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AuditFilters {
    #[serde(default)]
    since: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    before: Option<u64>,
    verify: Option<String>,
}

pub(super) async fn audit_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(filters): Query<AuditFilters>,
) -> Response {
    let zone = panel.gatehouse.time_zone();
    let mut view = AuditPage {
        nav: Nav::new(&panel, &admin, "audit"),
        entries: Vec::new(),
        filtered: [&filters.since, &filters.actor, &filters.action]
            .iter()
            .any(|f| !f.trim().is_empty()),
        since: filters.since.clone(),
        actor: filters.actor.clone(),
        action: filters.action.clone(),
        next: None,
        chain: None,
        error: None,
    };
    if filters.verify.is_some() {
        view.chain = match panel.gatehouse.verify_audit().await {
            Ok(report) if report.intact() => Some((
                format!(
                    "All {} entries verify, each linked to the one before.",
                    report.entries
                ),
                true,
            )),
            Ok(report) => Some((
                match report.first_break {
                    Some(id) => format!(
                        "The trail was changed in the database by hand: entry {id} does not verify or does not follow the one before it ({} entries).",
                        report.entries
                    ),
                    None => format!(
                        "The trail was changed in the database by hand: its newest entries were removed ({} entries left).",
                        report.entries
                    ),
                },
                false,
            )),
            Err(error) => return unavailable(error),
        };
    }
    let query = match audit_query(
        Some(&filters.since),
        Some(&filters.actor),
        Some(&filters.action),
        filters.before,
        None,
        zone,
    ) {
        Ok(query) => query,
        Err(message) => {
            view.error = Some(message);
            return page(StatusCode::BAD_REQUEST, &view);
        }
    };
    match panel.gatehouse.audit_entries(&query).await {
        Ok(entries) => {
            if entries.len() as u32 == query.limit
                && let Some(last) = entries.last()
            {
                let before = last.id.to_string();
                view.next = Some(format!(
                    "/audit{}",
                    query_string(&[
                        ("since", &filters.since),
                        ("actor", &filters.actor),
                        ("action", &filters.action),
                        ("before", &before),
                    ])
                ));
            }
            view.entries = entries.iter().map(|e| AuditJson::new(e, zone)).collect();
            page(StatusCode::OK, &view)
        }
        Err(error) => unavailable(error),
    }
}
