//! `gatehouse directory`: checking the directory settings, looking users up
//! and enrolling directory users in TOTP.

use std::process::ExitCode;

use anyhow::{Result, bail};
use gatehouse_core::{Gatehouse, TotpMode};

use crate::EXIT_NO;
use crate::cli::{DirectoryCommand, ModeArg};
use crate::commands::local_user::print_enrollment;
use crate::commands::{next_secret_line, yes_no};

pub(crate) async fn directory(
    gatehouse: &Gatehouse,
    command: DirectoryCommand,
) -> Result<ExitCode> {
    match command {
        DirectoryCommand::Test {
            user,
            password_stdin,
            json,
        } => {
            let password = if password_stdin {
                Some(next_secret_line(&mut std::io::stdin().lines(), "password")?)
            } else {
                None
            };
            let entry = gatehouse.directory_user(&user).await?;
            let identity = entry.identity();
            let totp = gatehouse.directory_totp_mode(&entry).await?;
            let password_ok = match &password {
                Some(password) => Some(gatehouse.check_directory_password(&entry, password).await?),
                None => None,
            };
            let refusal = if entry.disabled {
                Some("the account is disabled in the directory")
            } else if !entry.allowed {
                Some("the account is not in an allowed group")
            } else if password_ok == Some(false) {
                Some("wrong password")
            } else {
                None
            };
            if json {
                let value = serde_json::json!({
                    "directory": entry.directory,
                    "server": entry.server,
                    "dn": entry.dn,
                    "login_name": entry.login_name,
                    "display_name": entry.display_name,
                    "seat_key": identity.seat.as_str(),
                    "groups": entry.groups,
                    "group_aliases": entry.aliases,
                    "disabled": entry.disabled,
                    "allowed": entry.allowed,
                    "totp": totp.map(TotpMode::as_str),
                    "password": password_ok.map(|ok| if ok { "correct" } else { "wrong" }),
                    "refused": refusal,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                let groups = if entry.groups.is_empty() {
                    "-".to_string()
                } else {
                    entry.groups.join("; ")
                };
                let rows = [
                    (
                        "Directory",
                        format!("{} ({})", entry.directory, entry.server),
                    ),
                    ("Entry", entry.dn.clone()),
                    ("Login Name", entry.login_name.clone()),
                    ("Display Name", entry.display_name.clone()),
                    ("Seat Key", identity.seat.as_str().to_string()),
                    ("Groups", groups),
                    (
                        "Aliases",
                        if entry.aliases.is_empty() {
                            "-".to_string()
                        } else {
                            entry.aliases.join(", ")
                        },
                    ),
                    ("Disabled", yes_no(entry.disabled).to_string()),
                    ("Allowed", yes_no(entry.allowed).to_string()),
                    (
                        "TOTP",
                        totp.map_or("not enrolled", TotpMode::as_str).to_string(),
                    ),
                    (
                        "Password",
                        match password_ok {
                            Some(true) => "correct",
                            Some(false) => "wrong",
                            None => "not checked (--password-stdin)",
                        }
                        .to_string(),
                    ),
                    (
                        "Result",
                        match refusal {
                            Some(why) => format!("refused: {why}"),
                            None => {
                                "may log in (the license decides whether a new user is counted)"
                                    .to_string()
                            }
                        },
                    ),
                ];
                for (label, value) in rows {
                    println!("{:<13} {value}", format!("{label}:"));
                }
            }
            Ok(if refusal.is_some() {
                ExitCode::from(EXIT_NO)
            } else {
                ExitCode::SUCCESS
            })
        }
        DirectoryCommand::Totp {
            user, remove: true, ..
        } => {
            if gatehouse.remove_directory_totp(&user).await? {
                println!("removed TOTP for {user}");
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("{user} has no TOTP enrolled");
            }
        }
        DirectoryCommand::Totp {
            user,
            mode,
            remove: false,
        } => {
            let (entry, enrollment) = gatehouse
                .enroll_directory_totp(&user, mode.map(ModeArg::mode))
                .await?;
            print_enrollment(&entry.login_name, &enrollment);
            Ok(ExitCode::SUCCESS)
        }
    }
}
