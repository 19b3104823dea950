//! The RADIUS clients page: clients kept in the store, and those fixed in the
//! configuration file (shown, not editable).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{DoneQuery, Flash, Nav, page, redirect_done, unavailable};
use crate::auth::{Admin, AdminForm, NoFields};
use crate::forms::{clients_json, new_client};
use crate::state::Panel;
use crate::wire::ClientJson;

#[derive(Template)]
#[template(path = "clients.html")]
struct ClientsPage {
    nav: Option<Nav>,
    csrf: String,
    clients: Vec<ClientJson>,
    notice: Option<String>,
    error: Option<String>,
}

async fn render_clients(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    flash: Flash,
) -> Response {
    match clients_json(panel).await {
        Ok(clients) => page(
            status,
            &ClientsPage {
                nav: Nav::new(panel, admin, "clients"),
                csrf: admin.csrf().to_string(),
                clients,
                notice: flash.notice(),
                error: flash.error(),
            },
        ),
        Err(error) => unavailable(error),
    }
}

pub(super) async fn clients_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<DoneQuery>,
) -> Response {
    render_clients(&panel, &admin, StatusCode::OK, Flash::done(query.done)).await
}

#[derive(Debug, Deserialize)]
pub(super) struct AddClientForm {
    name: String,
    networks: String,
    secret: String,
    require_message_authenticator: Option<String>,
    limit_proxy_state: Option<String>,
}

pub(super) async fn add_client(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<AddClientForm>,
) -> Response {
    let networks: Vec<String> = form
        .networks
        .split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    let client = match new_client(
        &panel,
        &form.name,
        &networks,
        &form.secret,
        form.require_message_authenticator.is_some(),
        form.limit_proxy_state.is_some(),
    ) {
        Ok(client) => client,
        Err(message) => {
            return render_clients(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                Flash::Error(message),
            )
            .await;
        }
    };
    match panel.gatehouse.add_radius_client(&client).await {
        Ok(()) => redirect_done("/clients", &format!("Added {}.", client.name)),
        Err(gatehouse_core::ClientAddError::Store(error)) => unavailable(error),
        Err(error) => {
            render_clients(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                Flash::Error(error.to_string()),
            )
            .await
        }
    }
}

pub(super) async fn delete_client(
    State(panel): State<Arc<Panel>>,
    Path(name): Path<String>,
    AdminForm(admin, NoFields {}): AdminForm<NoFields>,
) -> Response {
    match panel.gatehouse.delete_radius_client(&name).await {
        Ok(true) => redirect_done("/clients", &format!("Deleted {name}.")),
        Ok(false) => {
            render_clients(
                &panel,
                &admin,
                StatusCode::NOT_FOUND,
                Flash::Error(format!("no RADIUS client {name:?}")),
            )
            .await
        }
        Err(error) => unavailable(error),
    }
}
