//! `gatehouse policy`: the policies in force, and which one a user gets
//! through a client.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use gatehouse_core::policy::PolicyText;
use gatehouse_core::{Gatehouse, Route};
use gatehouse_http::wire::{PolicyTestJson, any, factors_text};

use crate::EXIT_NO;
use crate::cli::PolicyCommand;
use crate::commands::{Columns, emit, read_stdin};

pub(crate) async fn policy(gatehouse: &Gatehouse, command: PolicyCommand) -> Result<ExitCode> {
    match command {
        PolicyCommand::List(format) => {
            let in_force = gatehouse.policies().map_err(anyhow::Error::msg)?;
            let rows: Vec<PolicyText> = in_force.policies().iter().map(PolicyText::of).collect();
            let columns = Columns {
                keys: &[
                    "name",
                    "clients",
                    "groups",
                    "calling_station_networks",
                    "access",
                    "factors",
                ],
                titles: &[
                    "Policy",
                    "Clients",
                    "Groups",
                    "Addresses",
                    "Access",
                    "Factors",
                ],
            };
            emit(&format, &rows, columns, |i| {
                let row = &rows[i];
                vec![
                    row.name.clone(),
                    any(&row.clients, ", "),
                    any(&row.groups, "; "),
                    any(&row.calling_station_networks, ", "),
                    row.access.clone().unwrap_or_default(),
                    factors_text(row.factors.as_deref()),
                ]
            })?;
            if !format.json && !format.csv {
                if rows.is_empty() {
                    eprintln!("no policies: the default rules apply");
                } else if gatehouse.policies_fixed() {
                    eprintln!("fixed in the configuration ([[policy]])");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Save { file } => {
            let text = if file.as_os_str() == "-" {
                read_stdin()?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let policies: Vec<PolicyText> = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a JSON list of policies (the shape policy list --json prints)",
                    file.display()
                )
            })?;
            let generation = gatehouse.replace_policies(&policies, "cli").await?;
            println!(
                "saved {} policies (generation {generation}); every node uses them within a second",
                policies.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Test {
            user,
            client,
            calling_station_id,
            json,
        } => {
            let route = Route::new(&client, calling_station_id.as_deref());
            let test = gatehouse.policy_test(&user, &route).await?;
            let shown = PolicyTestJson::new(&test);
            if json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                for (label, value) in shown.rows() {
                    println!("{:<9} {value}", format!("{label}:"));
                }
            }
            Ok(if shown.access == "deny" {
                ExitCode::from(EXIT_NO)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
