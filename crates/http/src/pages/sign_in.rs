//! Signing in and out of the panel (sessions, the sign-in limits, where
//! `next` may lead).

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::admin::{LoginError, SESSION_LIFETIME};
use serde::Deserialize;

use super::{Nav, page, unavailable};
use crate::auth::{
    AdminForm, NoFields, Via, clear_session_cookie, client_address, safe_next, session_cookie,
};
use crate::state::Panel;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

pub(super) async fn login_page(Query(query): Query<NextQuery>) -> Response {
    page(
        StatusCode::OK,
        &LoginPage {
            nav: None,
            next: safe_next(query.next.as_deref().unwrap_or("/license")).to_string(),
            error: None,
        },
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub(super) async fn login(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let next = safe_next(&form.next).to_string();
    let refuse = |status, error: String| {
        page(
            status,
            &LoginPage {
                nav: None,
                next: next.clone(),
                error: Some(error),
            },
        )
    };
    let address = client_address(peer.ip(), &headers, &panel.settings.trusted_proxies);
    match panel
        .gatehouse
        .admin_sign_in(&form.username, &form.password, address)
        .await
    {
        Ok(session) => {
            let cookie = session_cookie(
                &session.token,
                panel.settings.secure_cookies,
                SESSION_LIFETIME.unsigned_abs(),
            );
            (
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, cookie), (header::LOCATION, next)],
            )
                .into_response()
        }
        Err(error @ LoginError::InvalidCredentials) => {
            refuse(StatusCode::UNAUTHORIZED, error.to_string())
        }
        Err(error @ (LoginError::TooManyFromAddress(_) | LoginError::TooManyForAccount(_))) => {
            refuse(StatusCode::TOO_MANY_REQUESTS, error.to_string())
        }
        Err(error @ LoginError::Unavailable(_)) => unavailable(error),
    }
}

pub(super) async fn logout(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, NoFields {}): AdminForm<NoFields>,
) -> Response {
    if let Via::Session { token, .. } = &admin.via
        && let Err(error) = panel.gatehouse.admin_logout(token).await
    {
        return unavailable(error);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                clear_session_cookie(panel.settings.secure_cookies),
            ),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}
