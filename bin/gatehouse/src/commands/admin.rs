//! `gatehouse admin`: panel administrators and API tokens.

use std::process::ExitCode;

use anyhow::Result;
use gatehouse_core::Gatehouse;

use crate::cli::AdminCommand;
use crate::commands::read_secret;

pub(crate) async fn admin(gatehouse: &Gatehouse, command: AdminCommand) -> Result<ExitCode> {
    match command {
        AdminCommand::Add { name, .. } => {
            let password = read_secret("password")?;
            let name = gatehouse.add_admin(&name, &password).await?;
            println!("added administrator {name}");
        }
        AdminCommand::Token { name } => {
            let token = gatehouse.create_admin_token(&name).await?;
            eprintln!(
                "API token for {name} (shown once; send it as Authorization: Bearer <token>):"
            );
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
