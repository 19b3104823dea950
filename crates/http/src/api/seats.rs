//! Exempt and break-glass users and seat budgets (SPEC §16), and
//! enrollment windows, kept with them: `/api/v1/seat-marks`,
//! `/api/v1/seat-budgets`, `/api/v1/enrollment-windows`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::SeatMarkError;
use gatehouse_core::enrollment::WindowError;
use gatehouse_core::seat_rules::{BudgetError, Mark, MarkError};
use serde::Serialize;

use super::{Body, error, unavailable};
use crate::auth::Admin;
use crate::state::Panel;
use crate::wire::{
    EnrollmentScopeJson, EnrollmentWindowJson, InvitationsJson, SeatBudgetJson,
    SeatBudgetRequestJson, SeatMarkJson, SeatMarkRequestJson,
};

/// The marks and how many of each the license in force grants.
#[derive(Debug, Serialize)]
struct SeatMarksJson {
    exempt_seats: u32,
    reserved_seats: u32,
    marks: Vec<SeatMarkJson>,
}

pub(super) async fn seat_marks(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    let gatehouse = &panel.gatehouse;
    match gatehouse.seat_marks().await {
        Ok(marks) => {
            let options = gatehouse.license().payload.options;
            Json(SeatMarksJson {
                exempt_seats: options.exempt_seats,
                reserved_seats: options.reserved_seats,
                marks: marks
                    .iter()
                    .map(|m| SeatMarkJson::new(m, gatehouse.time_zone()))
                    .collect(),
            })
            .into_response()
        }
        Err(store) => unavailable(store),
    }
}

pub(super) async fn mark_seat(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(user): Path<String>,
    Body(request): Body<SeatMarkRequestJson>,
) -> Response {
    let Some(mark) = Mark::parse(&request.mark) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "mark must be \"exempt\" or \"reserved\", not {:?}",
                request.mark
            ),
        );
    };
    match panel.gatehouse.mark_seat(&user, mark).await {
        Ok(marked) => {
            let listed = gatehouse_core::ListedMark {
                marked,
                in_force: true,
            };
            (
                StatusCode::CREATED,
                Json(SeatMarkJson::new(&listed, panel.gatehouse.time_zone())),
            )
                .into_response()
        }
        Err(refused) => mark_error(refused),
    }
}

pub(super) async fn unmark_seat(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(user): Path<String>,
) -> Response {
    match panel.gatehouse.unmark_seat(&user).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(refused) => mark_error(refused),
    }
}

fn mark_error(refused: SeatMarkError) -> Response {
    let status = match &refused {
        SeatMarkError::Store(store) => return unavailable(store.clone()),
        SeatMarkError::Refused(MarkError::NotMarked(_))
        | SeatMarkError::Budget(BudgetError::Missing(_))
        | SeatMarkError::Window(WindowError::NotOpen(_)) => StatusCode::NOT_FOUND,
        SeatMarkError::Window(_) => StatusCode::BAD_REQUEST,
        SeatMarkError::NoPortal => StatusCode::CONFLICT,
        SeatMarkError::Refused(MarkError::Username(_))
        | SeatMarkError::Budget(
            BudgetError::BadName(_)
            | BudgetError::BadGroup(_)
            | BudgetError::EmptyClient
            | BudgetError::MatchesEveryone(_)
            | BudgetError::BadPercent(_),
        ) => StatusCode::BAD_REQUEST,
        SeatMarkError::Budget(BudgetError::TooMany) => StatusCode::CONFLICT,
        SeatMarkError::Refused(_) | SeatMarkError::Busy => StatusCode::CONFLICT,
    };
    error(status, refused.to_string())
}

pub(super) async fn seat_budgets(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.seat_budgets().await {
        Ok(budgets) => Json(
            budgets
                .iter()
                .map(|(budget, used)| SeatBudgetJson::new(budget, *used))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(store) => unavailable(store),
    }
}

pub(super) async fn save_budget(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
    Body(request): Body<SeatBudgetRequestJson>,
) -> Response {
    match panel.gatehouse.save_budget(request.budget(&name)).await {
        Ok(saved) => Json(SeatBudgetJson::new(&saved, 0)).into_response(),
        Err(refused) => mark_error(refused),
    }
}

pub(super) async fn delete_budget(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Response {
    match panel.gatehouse.delete_budget(&name).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(refused) => mark_error(refused),
    }
}

pub(super) async fn enrollment_windows(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    let gatehouse = &panel.gatehouse;
    match gatehouse.enrollment_windows().await {
        Ok(windows) => Json(
            windows
                .iter()
                .map(|w| EnrollmentWindowJson::new(w, gatehouse.time_zone()))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(store) => unavailable(store),
    }
}

pub(super) async fn open_enrollment(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Body(request): Body<EnrollmentScopeJson>,
) -> Response {
    let scope = match request.scope() {
        Ok(scope) => scope,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let days = request
        .days
        .unwrap_or(gatehouse_core::enrollment::DEFAULT_WINDOW_DAYS);
    let gatehouse = &panel.gatehouse;
    let window = match gatehouse.open_enrollment(scope, days).await {
        Ok(window) => window,
        Err(refused) => return mark_error(refused),
    };
    let mut json = EnrollmentWindowJson::new(&window, gatehouse.time_zone());
    if request.email {
        match gatehouse.invite_to_enroll(&window.scope).await {
            Ok(invitations) => json.invitations = Some(InvitationsJson::new(invitations)),
            Err(gatehouse_core::InviteError::Store(store)) => return unavailable(store),
            Err(refused) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("the window is open, but no invitation was sent: {refused}"),
                );
            }
        }
    }
    (StatusCode::CREATED, Json(json)).into_response()
}

pub(super) async fn close_enrollment(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Body(request): Body<EnrollmentScopeJson>,
) -> Response {
    let scope = match request.scope() {
        Ok(scope) => scope,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    match panel.gatehouse.close_enrollment(&scope).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(refused) => mark_error(refused),
    }
}
