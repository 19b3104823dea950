//! `gatehouse push`: phones, enrollment links, the push history and modes.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use gatehouse_core::Gatehouse;
use gatehouse_http::wire::{DeviceJson, EnrollmentJson, PushJson, enrollment_link, local_time};

use crate::cli::PushCommand;
use crate::commands::local_user::warn_removal;
use crate::commands::{Columns, emit};
use crate::config::Config;

pub(crate) async fn push(
    gatehouse: &Gatehouse,
    config: &Config,
    command: PushCommand,
) -> Result<ExitCode> {
    let zone = gatehouse.time_zone();
    match command {
        PushCommand::Enroll { user, json } => {
            let (identity, token, text) = gatehouse.push_enrollment(&user).await?;
            let base = config.push_public_url.clone().unwrap_or_else(|| {
                let scheme = if config.http.tls.is_some() {
                    "https"
                } else {
                    "http"
                };
                match config.http.listen {
                    Some(address) if !address.ip().is_unspecified() => {
                        format!("{scheme}://{address}")
                    }
                    Some(address) => format!("{scheme}://localhost:{}", address.port()),
                    None => format!("{scheme}://localhost"),
                }
            });
            let enrollment = EnrollmentJson {
                user: identity.username.to_string(),
                link: enrollment_link(&base, &text),
                expires_at: gatehouse_http::wire::rfc3339(token.expires_at, zone),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&enrollment)?);
            } else {
                eprintln!(
                    "Open this link on {}'s phone (once, until {}):",
                    enrollment.user,
                    local_time(token.expires_at, zone)
                );
                println!("{}", enrollment.link);
                if config.push_public_url.is_none() {
                    eprintln!("(set push.public_url to the address phones reach Gatehouse at)");
                }
            }
        }
        PushCommand::Devices(format) => {
            let devices = gatehouse.push_devices().await?;
            let rows: Vec<DeviceJson> = devices.iter().map(|d| DeviceJson::new(d, zone)).collect();
            let columns = Columns {
                keys: &["id", "user", "label", "enrolled_at"],
                titles: &["Device", "User", "Phone", "Enrolled"],
            };
            emit(&format, &rows, columns, |i| {
                let device = &devices[i];
                vec![
                    device.id.clone(),
                    device.username.clone(),
                    device.label.clone(),
                    local_time(device.created_at, zone),
                ]
            })?;
            if !format.json && !format.csv && devices.is_empty() {
                eprintln!("no phone is enrolled");
            }
        }
        PushCommand::Revoke { device } => {
            let Some(removed) = gatehouse.remove_push_device(&device).await? else {
                bail!("no push device {device:?}");
            };
            println!("revoked {device}");
            warn_removal(&removed);
        }
        PushCommand::Mode { user, mode } => {
            let mode =
                match mode.as_str() {
                    "default" => None,
                    text => Some(gatehouse_core::push::PushMode::parse(text).with_context(
                        || format!("mode must be hold, challenge or default, not {text:?}"),
                    )?),
                };
            let identity = gatehouse.set_push_mode(&user, mode).await?;
            let shown = mode.map_or("default", gatehouse_core::push::PushMode::as_str);
            println!("push mode of {} set to {shown}", identity.username);
        }
        PushCommand::History { limit, format } => {
            let pushes = gatehouse.recent_pushes(limit).await?;
            let now = gatehouse.now();
            let rows: Vec<PushJson> = pushes.iter().map(|p| PushJson::new(p, now, zone)).collect();
            let columns = Columns {
                keys: &[
                    "sent_at",
                    "user",
                    "client",
                    "source",
                    "outcome",
                    "decided_at",
                ],
                titles: &["Sent", "User", "Client", "From", "Outcome", "Answered"],
            };
            emit(&format, &rows, columns, |i| {
                let (record, row) = (&pushes[i], &rows[i]);
                vec![
                    local_time(record.push.created_at, zone),
                    row.user.clone(),
                    row.client.clone(),
                    row.source.clone().unwrap_or_default(),
                    row.outcome.clone(),
                    record
                        .decided_at
                        .map(|at| local_time(at, zone))
                        .unwrap_or_default(),
                ]
            })?;
            if !format.json && !format.csv && pushes.is_empty() {
                eprintln!("no push was sent");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
