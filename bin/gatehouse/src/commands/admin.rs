//! `gatehouse admin`: panel administrators, their passwords, API tokens and
//! sessions.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use gatehouse_core::Gatehouse;
use gatehouse_core::admin::parse_lifetime;
use gatehouse_http::wire::{AdminJson, TokenJson};

use crate::cli::AdminCommand;
use crate::commands::{Columns, emit, read_secret};

pub(crate) async fn admin(gatehouse: &Gatehouse, command: AdminCommand) -> Result<ExitCode> {
    let zone = gatehouse.time_zone();
    match command {
        AdminCommand::Add { name, .. } => {
            let password = read_secret("password")?;
            let name = gatehouse.add_admin(&name, &password).await?;
            println!("added administrator {name}");
        }
        AdminCommand::Token {
            name,
            expires_in,
            label,
        } => {
            let lifetime = expires_in
                .as_deref()
                .map(parse_lifetime)
                .transpose()
                .map_err(|error| anyhow!("--expires-in {error}"))?;
            let token = gatehouse
                .create_admin_token(&name, lifetime, &label)
                .await?;
            let until = match lifetime {
                Some(_) => "expires as asked",
                None => "valid until revoked",
            };
            eprintln!(
                "API token for {name} (shown once, {until}; send it as Authorization: Bearer <token>):"
            );
            println!("{token}");
        }
        AdminCommand::List(format) => {
            let admins = gatehouse.admins().await?;
            let rows: Vec<AdminJson> = admins.iter().map(|a| AdminJson::new(a, zone)).collect();
            let columns = Columns {
                keys: &[
                    "name",
                    "created_at",
                    "must_change_password",
                    "tokens",
                    "sessions",
                ],
                titles: &[
                    "Administrator",
                    "Created",
                    "Password",
                    "API Tokens",
                    "Sessions",
                ],
            };
            emit(&format, &rows, columns, |i| {
                let row = &rows[i];
                vec![
                    row.name.clone(),
                    row.created_at.clone(),
                    if row.must_change_password {
                        "must be changed".into()
                    } else {
                        "set".into()
                    },
                    row.tokens.to_string(),
                    row.sessions.to_string(),
                ]
            })?;
        }
        AdminCommand::Passwd { name, .. } => {
            let password = read_secret("password")?;
            gatehouse.set_admin_password(&name, &password).await?;
            println!("password of {name} set; their panel sessions ended");
        }
        AdminCommand::Delete { name } => {
            gatehouse.delete_admin(&name).await?;
            println!("deleted administrator {name} with their API tokens and sessions");
        }
        AdminCommand::Tokens { name, format } => {
            let tokens = gatehouse.admin_tokens(&name).await?;
            let rows: Vec<TokenJson> = tokens.iter().map(|t| TokenJson::new(t, zone)).collect();
            let columns = Columns {
                keys: &["id", "label", "created_at", "expires_at", "expired"],
                titles: &["Id", "Label", "Created", "Expires", "State"],
            };
            emit(&format, &rows, columns, |i| {
                let row = &rows[i];
                vec![
                    row.id.clone(),
                    row.label.clone(),
                    row.created_at.clone(),
                    row.expires_at.clone().unwrap_or_else(|| "never".into()),
                    if row.expired { "expired" } else { "valid" }.into(),
                ]
            })?;
            if !format.json && !format.csv && rows.is_empty() {
                eprintln!("{name} has no API tokens (make one with: gatehouse admin token {name})");
            }
        }
        AdminCommand::Revoke { name, id } => {
            gatehouse.revoke_admin_token(&name, &id).await?;
            println!("revoked API token {id} of {name}");
        }
        AdminCommand::Logout { name } => {
            let ended = gatehouse.logout_admin(&name).await?;
            let sessions = if ended == 1 { "session" } else { "sessions" };
            println!("ended {ended} panel {sessions} of {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
