//! `gatehouse alarm`: alarm settings, history and the test email.

use std::process::ExitCode;

use anyhow::{Result, bail};
use gatehouse_core::Gatehouse;
use gatehouse_http::wire::{AlarmJson, alarm_state, local_time};

use crate::cli::AlarmCommand;
use crate::commands::{Columns, emit};
use crate::config::Config;
use crate::serve::mailer;

pub(crate) async fn alarm(
    gatehouse: &Gatehouse,
    config: &Config,
    command: AlarmCommand,
) -> Result<ExitCode> {
    match command {
        AlarmCommand::Test => {
            let Some(mailer) = mailer(config)? else {
                bail!("email is not configured: set [smtp] in the configuration file");
            };
            let to = gatehouse.send_test_email(mailer.as_ref()).await?;
            println!("Test email sent to {}", to.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        AlarmCommand::History { limit, format } => {
            let alarms = gatehouse.alarm_history(limit).await?;
            let zone = gatehouse.time_zone();
            let rows: Vec<AlarmJson> = alarms.iter().map(|a| AlarmJson::new(a, zone)).collect();
            let columns = Columns {
                keys: &["raised_at", "subject", "state", "attempts", "last_error"],
                titles: &["Raised", "Alarm", "Delivery", "Attempts", "Last Error"],
            };
            emit(&format, &rows, columns, |i| {
                let alarm = &alarms[i];
                vec![
                    local_time(alarm.created_at, zone),
                    alarm.subject.clone(),
                    alarm_state(alarm).to_string(),
                    alarm.attempts.to_string(),
                    alarm.last_error.clone().unwrap_or_default(),
                ]
            })?;
            if !format.json && !format.csv && alarms.is_empty() {
                eprintln!("no alarm has fired");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
