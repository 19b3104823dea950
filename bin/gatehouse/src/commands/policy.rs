//! `gatehouse policy`: the policies in force, and which one a user gets
//! through a client.

use std::process::ExitCode;

use anyhow::Result;
use gatehouse_core::policy::PolicyText;
use gatehouse_core::{Gatehouse, Route};
use gatehouse_http::wire::PolicyTestJson;

use crate::EXIT_NO;
use crate::cli::PolicyCommand;
use crate::commands::{Columns, emit};

pub(crate) async fn policy(gatehouse: &Gatehouse, command: PolicyCommand) -> Result<ExitCode> {
    match command {
        PolicyCommand::List(format) => {
            let rows: Vec<PolicyText> = (gatehouse.policies().policies().iter())
                .map(PolicyText::of)
                .collect();
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
                    any(&row.clients),
                    any(&row.groups),
                    any(&row.calling_station_networks),
                    row.access.clone().unwrap_or_default(),
                    factors(row.factors.as_deref()),
                ]
            })?;
            if !format.json && !format.csv && rows.is_empty() {
                eprintln!("no policies ([[policy]] in the configuration): the default rules apply");
            }
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
                let rows = [
                    ("User", format!("{} ({})", shown.user, shown.seat_key)),
                    ("Groups", any(&shown.groups)),
                    (
                        "Policy",
                        (shown.policy.clone())
                            .unwrap_or_else(|| "none (the default rules apply)".into()),
                    ),
                    ("Access", shown.access.to_string()),
                    ("Factors", factors(shown.factors.as_deref())),
                ];
                for (label, value) in rows {
                    println!("{:<9} {value}", format!("{label}:"));
                }
                for (index, reply) in shown.reply.iter().enumerate() {
                    let label = if index == 0 { "Reply:" } else { "" };
                    println!("{label:<9} {} = {}", reply.attribute, reply.value);
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

fn any(items: &[String]) -> String {
    if items.is_empty() {
        "any".into()
    } else {
        items.join(", ")
    }
}

fn factors<S: AsRef<str>>(names: Option<&[S]>) -> String {
    match names {
        None => "default (a second factor unless exempt)".into(),
        Some(names) => (names.iter().map(AsRef::as_ref))
            .collect::<Vec<&str>>()
            .join(", "),
    }
}
