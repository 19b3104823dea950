//! The panel: server-rendered pages and their forms.
//!
//! Every form carries the session's CSRF token; a successful change
//! redirects (POST, redirect, GET), a refused one renders the page again
//! with the reason and status 400.

use std::sync::Arc;

use alarms::{alarms_page, save_alarms, test_email};
use analytics::{analytics_csv, analytics_page};
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use clients::{add_client, clients_page, delete_client};
use gatehouse_license::LicenseStatus;
use license::{application_key_file, license_install, license_page, license_preview};
use local_users::{add_local_user, local_user_action, local_users_page, remove_totp, unlock_user};
use serde::Deserialize;
use sign_in::{login, login_page, logout};
use users::{users_csv, users_page};

use crate::auth::Admin;
use crate::forms::query_string;
use crate::state::Panel;

mod account;
mod alarms;
mod analytics;
mod audit;
mod clients;
mod license;
mod local_users;
mod policies;
mod sign_in;
mod users;

pub(crate) fn routes() -> Listed {
    Listed::default()
        .route("/", get(|| async { Redirect::to("/license") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/license", get(license_page))
        .route("/license/preview", post(license_preview))
        .route("/license/install", post(license_install))
        .route("/license/application-key-file", get(application_key_file))
        .route("/users", get(users_page))
        .route("/users.csv", get(users_csv))
        .route("/users/marks", post(users::mark_seat))
        .route("/users/budgets", post(users::save_budget))
        .route("/analytics", get(analytics_page))
        .route("/analytics.csv", get(analytics_csv))
        .route("/alarms", get(alarms_page).post(save_alarms))
        .route("/alarms/test", post(test_email))
        .route("/local-users", get(local_users_page).post(add_local_user))
        .route("/local-users/{name}/{action}", post(local_user_action))
        .route("/local-users/{name}/totp/remove", post(remove_totp))
        .route("/lockouts/unlock", post(unlock_user))
        .route("/enrollment/{action}", post(local_users::enrollment_window))
        .route("/clients", get(clients_page).post(add_client))
        .route("/clients/{name}/delete", post(delete_client))
        .route("/policies", get(policies::policies_page))
        .route("/policies/save", post(policies::save_policy))
        .route("/policies/move", post(policies::move_policy))
        .route("/policies/delete", post(policies::delete_policy))
        .route("/audit", get(audit::audit_page))
        .route("/account", get(account::account_page))
        .route("/account/password", post(account::change_password))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
}

/// Panel routes with their paths listed: every route is added through
/// [`Listed::route`], so the list is the router's (the no-CSRF test probes
/// each path with every unsafe method).
#[derive(Default)]
pub(crate) struct Listed {
    pub router: Router<Arc<Panel>>,
    pub paths: Vec<&'static str>,
}

impl Listed {
    pub fn route(
        mut self,
        path: &'static str,
        handler: axum::routing::MethodRouter<Arc<Panel>>,
    ) -> Listed {
        self.router = self.router.route(path, handler);
        self.paths.push(path);
        self
    }
}

/// The navigation every signed-in page shows.
#[derive(Debug, Clone)]
pub struct Nav {
    pub admin: String,
    pub csrf: String,
    pub active: &'static str,
    /// Why only the License page is open (expired, or damaged records).
    pub locked: Option<&'static str>,
    /// The license is in its grace: what that means and how long it lasts.
    pub grace: Option<String>,
}

impl Nav {
    pub(crate) fn new(panel: &Panel, admin: &Admin, active: &'static str) -> Option<Nav> {
        Some(Nav {
            admin: admin.name.to_string(),
            csrf: admin.csrf().to_string(),
            active,
            grace: panel.gatehouse.grace_notice(),
            locked: match panel.gatehouse.license_status() {
                LicenseStatus::Valid | LicenseStatus::Grace => None,
                LicenseStatus::Expired => Some(gatehouse_license::admission::LICENSE_EXPIRED),
                LicenseStatus::Damaged => Some(gatehouse_license::admission::LICENSE_DAMAGED),
            },
        })
    }
}

/// Renders a template, or a 500 naming nothing internal.
pub(crate) fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "could not render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not render the page",
            )
                .into_response()
        }
    }
}

/// What a page says above its content after an action: one message, done
/// or refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Flash {
    #[default]
    None,
    /// The action was done (shown after the redirect, from `?done=`).
    Notice(String),
    /// The action was refused, and why.
    Error(String),
}

impl Flash {
    /// The notice carried by a redirect's query, if any.
    pub(crate) fn done(text: Option<String>) -> Flash {
        text.map_or(Flash::None, Flash::Notice)
    }

    pub(crate) fn notice(&self) -> Option<String> {
        match self {
            Flash::Notice(text) => Some(text.clone()),
            _ => None,
        }
    }

    pub(crate) fn error(&self) -> Option<String> {
        match self {
            Flash::Error(text) => Some(text.clone()),
            _ => None,
        }
    }
}

/// A database failure, as a page.
pub(crate) fn unavailable(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "panel: database unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html("<!doctype html><title>Gatehouse</title><p>The database is unavailable; please try again in a moment.</p>"),
    )
        .into_response()
}

/// The notice a redirect after a change carries (`?done=`).
#[derive(Debug, Deserialize)]
pub(crate) struct DoneQuery {
    pub done: Option<String>,
}

fn csv_download(name: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// Back to the page at `path` (POST, redirect, GET), saying what was done.
pub(crate) fn redirect_done(path: &str, done: &str) -> Response {
    see_other(&format!("{path}{}", query_string(&[("done", done)])))
}

pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}
