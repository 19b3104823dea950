//! The Local users page: accounts, TOTP enrollment, second-factor exemptions
//! and lockouts.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::TotpMode;
use serde::Deserialize;

use super::{DoneQuery, Flash, Nav, page, redirect_done, unavailable};
use crate::auth::{Admin, AdminForm, NoFields};
use crate::forms::{local_users_json, parse_mode, qr_svg, removal_notice};
use crate::state::Panel;
use crate::wire::{
    EnrollmentScopeJson, EnrollmentWindowJson, LocalUserJson, LockoutJson, local_time,
};

#[derive(Template)]
#[template(path = "local_users.html")]
struct LocalUsersPage {
    nav: Option<Nav>,
    csrf: String,
    users: Vec<LocalUserJson>,
    /// Users locked out or with failed attempts in a row (local and
    /// directory alike).
    lockouts: Vec<LockoutJson>,
    /// Enrollment windows open now.
    windows: Vec<EnrollmentWindowJson>,
    second_factor_required: bool,
    notice: Option<String>,
    error: Option<String>,
    enrolled: Option<Enrolled>,
}

struct Enrolled {
    username: String,
    how: &'static str,
    qr_svg: String,
    secret: String,
    uri: String,
}

async fn render_local_users(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    flash: Flash,
    enrolled: Option<Enrolled>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let listed = async {
        let users = local_users_json(panel).await?;
        let lockouts = gatehouse.lockouts().await?;
        let windows = gatehouse.enrollment_windows().await?;
        Ok::<_, gatehouse_core::StoreError>((users, lockouts, windows))
    };
    match listed.await {
        Ok((users, lockouts, windows)) => page(
            status,
            &LocalUsersPage {
                nav: Nav::new(panel, admin, "local-users"),
                csrf: admin.csrf().to_string(),
                users,
                lockouts: LockoutJson::list(&lockouts, gatehouse.now(), gatehouse.time_zone()),
                windows: windows
                    .iter()
                    .map(|window| {
                        let mut row = EnrollmentWindowJson::new(window, gatehouse.time_zone());
                        row.closes_at = local_time(window.closes_at, gatehouse.time_zone());
                        row
                    })
                    .collect(),
                second_factor_required: gatehouse.second_factor_required(),
                notice: flash.notice(),
                error: flash.error(),
                enrolled,
            },
        ),
        Err(error) => unavailable(error),
    }
}

pub(super) async fn local_users_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<DoneQuery>,
) -> Response {
    render_local_users(
        &panel,
        &admin,
        StatusCode::OK,
        Flash::done(query.done),
        None,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct AddUserForm {
    username: String,
    password: String,
    /// The checkbox: present when ticked.
    #[serde(default)]
    no_second_factor: Option<String>,
    /// Local groups, separated by spaces or commas.
    #[serde(default)]
    groups: String,
}

pub(super) async fn add_local_user(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<AddUserForm>,
) -> Response {
    let added = panel
        .gatehouse
        .add_local_user_with(
            &form.username,
            &form.password,
            form.no_second_factor.is_some(),
            &form
                .groups
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|group| !group.is_empty())
                .collect::<Vec<_>>(),
        )
        .await;
    let done = added.map(|name| format!("Added {name}."));
    after_action(&panel, &admin, done).await
}

/// Where a change on the Local users page ends: back to the page saying
/// what was done, the page again saying why not (400), or the database
/// error page.
async fn after_action(
    panel: &Panel,
    admin: &Admin,
    outcome: Result<String, gatehouse_core::UserError>,
) -> Response {
    match outcome {
        Ok(done) => redirect_done("/local-users", &done),
        Err(gatehouse_core::UserError::Store(error)) => unavailable(error),
        Err(error) => {
            render_local_users(
                panel,
                admin,
                StatusCode::BAD_REQUEST,
                Flash::Error(error.to_string()),
                None,
            )
            .await
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct UserActionForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    mode: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct UnlockForm {
    user: String,
}

pub(super) async fn unlock_user(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<UnlockForm>,
) -> Response {
    match panel.gatehouse.unlock_user(&form.user).await {
        Ok(unlocked) => {
            if unlocked {
                tracing::info!(admin = %admin.name, user = %form.user, "user unlocked in the panel");
            }
            let done = if unlocked {
                format!("Unlocked {}.", form.user)
            } else {
                format!("{} was not locked out.", form.user)
            };
            redirect_done("/local-users", &done)
        }
        Err(error) => unavailable(error),
    }
}

pub(super) async fn local_user_action(
    State(panel): State<Arc<Panel>>,
    Path((name, action)): Path<(String, String)>,
    AdminForm(admin, form): AdminForm<UserActionForm>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let result = match action.as_str() {
        "disable" => gatehouse
            .set_local_user_enabled(&name, false)
            .await
            .map(|()| format!("Disabled {name}.")),
        "enable" => gatehouse
            .set_local_user_enabled(&name, true)
            .await
            .map(|()| format!("Enabled {name}.")),
        "delete" => gatehouse
            .delete_local_user(&name)
            .await
            .map(|()| format!("Deleted {name}; their seat this month stays counted.")),
        "password" => gatehouse
            .set_local_user_password(&name, &form.password)
            .await
            .map(|()| format!("Password of {name} changed.")),
        "exempt" => gatehouse
            .set_local_user_second_factor_exempt(&name, true)
            .await
            .map(|()| format!("{name} logs in without a second factor.")),
        "require" => gatehouse
            .set_local_user_second_factor_exempt(&name, false)
            .await
            .map(|()| format!("{name} must present a second factor.")),
        "totp" => {
            let mode = match parse_mode(&form.mode) {
                Ok(mode) => mode,
                Err(message) => {
                    return render_local_users(
                        &panel,
                        &admin,
                        StatusCode::BAD_REQUEST,
                        Flash::Error(message),
                        None,
                    )
                    .await;
                }
            };
            return match gatehouse.enroll_local_totp(&name, mode).await {
                Ok(enrollment) => {
                    let enrolled = Enrolled {
                        username: name.clone(),
                        how: match enrollment.mode {
                            TotpMode::Challenge => {
                                "They enter their password, then the code when asked."
                            }
                            TotpMode::Append => {
                                "They type the code right after their password, in the same field."
                            }
                        },
                        qr_svg: qr_svg(&enrollment.uri),
                        secret: enrollment.secret.to_base32(),
                        uri: enrollment.uri,
                    };
                    render_local_users(&panel, &admin, StatusCode::OK, Flash::None, Some(enrolled))
                        .await
                }
                Err(error) => after_action(&panel, &admin, Err(error)).await,
            };
        }
        _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
    };
    after_action(&panel, &admin, result).await
}

pub(super) async fn remove_totp(
    State(panel): State<Arc<Panel>>,
    Path(name): Path<String>,
    AdminForm(admin, NoFields {}): AdminForm<NoFields>,
) -> Response {
    let done = panel
        .gatehouse
        .remove_local_totp(&name)
        .await
        .map(|removed| removal_notice(format!("Removed TOTP of {name}."), &removed));
    after_action(&panel, &admin, done).await
}

#[derive(Debug, Deserialize)]
pub(super) struct EnrollmentForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    group: String,
    /// The checkbox: present when checked.
    #[serde(default)]
    all: Option<String>,
    #[serde(default)]
    days: String,
    /// The invitation checkbox: present when checked.
    #[serde(default)]
    email: Option<String>,
}

/// Opens (`/enrollment/open`) or closes (`/enrollment/close`) an
/// enrollment window.
pub(super) async fn enrollment_window(
    State(panel): State<Arc<Panel>>,
    Path(action): Path<String>,
    AdminForm(admin, form): AdminForm<EnrollmentForm>,
) -> Response {
    let scope = EnrollmentScopeJson {
        user: Some(form.user),
        group: Some(form.group),
        all: form.all.is_some(),
        days: None,
        email: false,
    }
    .scope();
    let gatehouse = &panel.gatehouse;
    let result = match (scope, action.as_str()) {
        (Err(why), _) => Err(why),
        (Ok(scope), "open") => {
            let days = match form.days.trim() {
                "" => Ok(gatehouse_core::enrollment::DEFAULT_WINDOW_DAYS),
                days => days
                    .parse::<u32>()
                    .map_err(|_| format!("days must be a whole number, not {days:?}")),
            };
            match days {
                Err(why) => Err(why),
                Ok(days) => match gatehouse.open_enrollment(scope, days).await {
                    Err(refused) => Err(refused.to_string()),
                    Ok(window) => {
                        let opened = format!(
                            "Enrollment window open for {} until {}.",
                            window.scope,
                            local_time(window.closes_at, gatehouse.time_zone())
                        );
                        if form.email.is_some() {
                            match gatehouse.invite_to_enroll(&window.scope).await {
                                Ok(invited) => Ok(format!(
                                    "{opened} Invitations queued: {}; without an email address: {}.",
                                    invited.sent.len(),
                                    if invited.without_address.is_empty() {
                                        "none".to_string()
                                    } else {
                                        invited.without_address.join(", ")
                                    }
                                )),
                                Err(refused) => {
                                    Err(format!("{opened} No invitation was sent: {refused}"))
                                }
                            }
                        } else {
                            Ok(opened)
                        }
                    }
                },
            }
        }
        (Ok(scope), "close") => gatehouse
            .close_enrollment(&scope)
            .await
            .map(|window| format!("Enrollment window for {} closed.", window.scope))
            .map_err(|refused| refused.to_string()),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match result {
        Ok(done) => redirect_done("/local-users", &done),
        Err(why) => {
            render_local_users(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                Flash::Error(why),
                None,
            )
            .await
        }
    }
}
