//! `gatehouse client`: RADIUS clients kept in the store.

use std::process::ExitCode;

use anyhow::{Result, bail};
use gatehouse_core::Gatehouse;
use gatehouse_core::clients::RadiusClient;
use gatehouse_http::wire::ClientJson;

use crate::cli::ClientCommand;
use crate::commands::{Columns, emit, read_secret};
use crate::config::Config;

pub(crate) async fn client(
    gatehouse: &Gatehouse,
    config: &Config,
    command: ClientCommand,
) -> Result<ExitCode> {
    match command {
        ClientCommand::Add {
            name,
            networks,
            secret_stdin: _,
            no_require_message_authenticator,
            no_limit_proxy_state,
        } => {
            if config.radius.clients.iter().any(|c| c.name == name) {
                bail!("a RADIUS client named {name:?} is defined in the configuration file");
            }
            let secret = read_secret("shared secret")?;
            if secret.len() < 16 {
                eprintln!(
                    "warning: a shared secret shorter than 16 characters is easy to guess (RFC 2865 §3)"
                );
            }
            let client = RadiusClient {
                name,
                networks,
                secret: secret.into_bytes(),
                require_message_authenticator: !no_require_message_authenticator,
                limit_proxy_state: !no_limit_proxy_state,
            };
            gatehouse.add_radius_client(&client).await?;
            println!("added RADIUS client {}", client.name);
        }
        ClientCommand::Delete { name } => {
            if config.radius.clients.iter().any(|c| c.name == name) {
                bail!(
                    "RADIUS client {name:?} is defined in the configuration file; remove it there"
                );
            }
            if !gatehouse.delete_radius_client(&name).await? {
                bail!("no RADIUS client {name:?}");
            }
            println!("deleted RADIUS client {name}");
        }
        ClientCommand::List(format) => {
            let stored = gatehouse.radius_clients().await?;
            let rows: Vec<ClientJson> = config
                .radius
                .clients
                .iter()
                .map(|c| ClientJson::new(c, "config"))
                .chain(stored.iter().map(|c| ClientJson::new(c, "database")))
                .collect();
            let columns = Columns {
                keys: &[
                    "name",
                    "networks",
                    "require_message_authenticator",
                    "limit_proxy_state",
                    "source",
                ],
                titles: &[
                    "Name",
                    "Networks",
                    "Requires Message-Authenticator",
                    "Limits Proxy-State",
                    "Source",
                ],
            };
            emit(&format, &rows, columns, |i| {
                let row = &rows[i];
                let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
                vec![
                    row.name.clone(),
                    row.networks.join(" "),
                    yes_no(row.require_message_authenticator),
                    yes_no(row.limit_proxy_state),
                    row.source.to_string(),
                ]
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
