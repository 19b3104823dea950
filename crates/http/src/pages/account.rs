//! The Account page: an administrator's own password (the first-start one
//! must be replaced here before anything else) and their API tokens.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_core::UserError;
use gatehouse_core::admin::ADMIN_PASSWORD_MIN_CHARS;
use serde::Deserialize;

use super::{DoneQuery, Flash, Nav, page, redirect_done, unavailable};
use crate::auth::{ACCOUNT_PATH, Admin, AdminForm, NoFields, Via, client_address};
use crate::state::Panel;
use crate::wire::TokenJson;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Option<Nav>,
    csrf: String,
    admin: String,
    must_change_password: bool,
    min_chars: usize,
    tokens: Vec<TokenJson>,
    notice: Option<String>,
    error: Option<String>,
}

async fn render_account(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    flash: Flash,
) -> Response {
    let must_change_password = match &admin.via {
        Via::Session { token, .. } => match panel.gatehouse.admin_session(token).await {
            Ok(session) => session.is_some_and(|s| s.must_change_password),
            Err(error) => return unavailable(error),
        },
        Via::Token => false,
    };
    let tokens = match panel.gatehouse.admin_tokens(admin.name.as_str()).await {
        Ok(tokens) => tokens,
        Err(error) => return unavailable(error),
    };
    let zone = panel.gatehouse.time_zone();
    page(
        status,
        &AccountPage {
            nav: Nav::new(panel, admin, "account"),
            csrf: admin.csrf().to_string(),
            admin: admin.name.to_string(),
            must_change_password,
            min_chars: ADMIN_PASSWORD_MIN_CHARS,
            tokens: tokens.iter().map(|t| TokenJson::new(t, zone)).collect(),
            notice: flash.notice(),
            error: flash.error(),
        },
    )
}

pub(super) async fn account_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<DoneQuery>,
) -> Response {
    render_account(&panel, &admin, StatusCode::OK, Flash::done(query.done)).await
}

#[derive(Debug, Deserialize)]
pub(super) struct PasswordForm {
    current_password: String,
    new_password: String,
    repeat_password: String,
}

pub(super) async fn change_password(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    AdminForm(admin, form): AdminForm<PasswordForm>,
) -> Response {
    let refuse = |message: String| {
        render_account(
            &panel,
            &admin,
            StatusCode::BAD_REQUEST,
            Flash::Error(message),
        )
    };
    let Via::Session { token, .. } = &admin.via else {
        return refuse("a password is changed from a panel session".into()).await;
    };
    if form.new_password != form.repeat_password {
        return refuse("the two new passwords differ".into()).await;
    }
    if form.new_password == form.current_password {
        return refuse("the new password is the current one".into()).await;
    }
    let address = client_address(peer.ip(), &headers, &panel.settings.trusted_proxies);
    match panel
        .gatehouse
        .change_own_password(token, &form.current_password, &form.new_password, address)
        .await
    {
        Ok(()) => redirect_done(
            ACCOUNT_PATH,
            "Password changed; your other sessions were signed out.",
        ),
        Err(UserError::Store(error)) => unavailable(error),
        Err(error) => refuse(error.to_string()).await,
    }
}

pub(super) async fn revoke_token(
    State(panel): State<Arc<Panel>>,
    Path(id): Path<String>,
    AdminForm(admin, NoFields {}): AdminForm<NoFields>,
) -> Response {
    match panel
        .gatehouse
        .revoke_admin_token(admin.name.as_str(), &id)
        .await
    {
        Ok(()) => redirect_done(ACCOUNT_PATH, &format!("Revoked API token {id}.")),
        Err(UserError::Store(error)) => unavailable(error),
        Err(error) => {
            render_account(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                Flash::Error(error.to_string()),
            )
            .await
        }
    }
}
