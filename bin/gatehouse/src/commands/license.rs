//! `gatehouse license`: show, request, install, export and verify.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use gatehouse_core::export::{self};
use gatehouse_core::{Gatehouse, LicenseView, vendor_keys};
use gatehouse_http::forms::request_text;
use gatehouse_http::wire::{LicenseJson, local_time};
use gatehouse_license::{UsagePercent, words};

use crate::EXIT_NO;
use crate::cli::LicenseCommand;
use crate::commands::read_stdin;
use crate::config::Config;
use crate::output::table;

pub(crate) async fn license(
    gatehouse: &Gatehouse,
    config: &Config,
    command: LicenseCommand,
) -> Result<ExitCode> {
    match command {
        LicenseCommand::Show { json } => {
            let view = gatehouse.license_view().await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&LicenseJson::new(&view, gatehouse.time_zone()))?
                );
            } else {
                print!("{}", license_text(&view, gatehouse));
            }
        }
        LicenseCommand::Install { key } => {
            let text = if key == "-" { read_stdin()? } else { key };
            let view = gatehouse.install_license(&text).await?;
            println!("License installed and in force.");
            print!("{}", license_text(&view, gatehouse));
        }
        LicenseCommand::Request => {
            let view = gatehouse.license_view().await?;
            print!(
                "{}",
                license_request(&view, config.support_contact.as_deref())
            );
        }
        LicenseCommand::Export { output } => {
            let file = gatehouse.application_key_file().await?;
            match output {
                Some(path) => {
                    std::fs::write(&path, &file)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("wrote {}", path.display());
                }
                None => print!("{file}"),
            }
        }
        LicenseCommand::VerifyExport { file, previous } => {
            return verify_export(&file, previous.as_deref());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn license_text(view: &LicenseView, gatehouse: &Gatehouse) -> String {
    let payload = &view.license.payload;
    let dash = |text: &str| {
        if text.is_empty() {
            "-".to_string()
        } else {
            text.to_string()
        }
    };
    let remaining = words::remaining(view.days_remaining);
    let over = view.active_users.saturating_sub(payload.user_limit);
    let mut rows = vec![
        vec!["Company".into(), dash(&payload.company)],
        vec![
            "User Limit".into(),
            format!(
                "{}/{} ({}%){}",
                view.active_users,
                payload.user_limit,
                UsagePercent::of(view.active_users, payload.user_limit),
                if over > 0 {
                    format!(", {over} over the limit")
                } else {
                    String::new()
                }
            ),
        ],
        vec![
            "License Type".into(),
            words::license_type(payload.license_type).into(),
        ],
        vec![
            "Support End Date".into(),
            format!("{} ({remaining})", payload.support_end),
        ],
        vec![
            "Push Subscription".into(),
            words::push_subscription(payload.push_subscription).into(),
        ],
        vec!["App Key".into(), view.app_key.to_string()],
        vec!["Dossier".into(), dash(&payload.dossier)],
        vec!["License ID".into(), payload.license_id.clone()],
        vec![
            "Issued".into(),
            local_time(payload.issued_at, gatehouse.time_zone()),
        ],
        vec!["Status".into(), view.status.as_str().into()],
        vec!["Time Zone".into(), view.time_zone.clone()],
    ];
    // What the key grants beyond the limit, after the Push Subscription.
    for (at, (label, value)) in words::options(&payload.options, payload.user_limit)
        .into_iter()
        .enumerate()
    {
        rows.insert(5 + at, vec![label.into(), value]);
    }
    if let Some(notice) = gatehouse.grace_notice() {
        rows.push(vec!["Grace".into(), notice]);
    }
    let text = table(&["Field", "Value"], &rows);
    // Drop the header line: this is a card, not a list.
    text.split_once('\n')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(text)
}

pub(crate) fn license_request(view: &LicenseView, contact: Option<&str>) -> String {
    let dossier = &view.license.payload.dossier;
    let contact = contact.unwrap_or(
        "your Gatehouse vendor (set support.contact in the configuration to show it here)",
    );
    format!(
        "App Key: {}\nDossier: {}\nSend the request below to: {contact}\n\n{}",
        view.app_key,
        if dossier.is_empty() {
            "none yet"
        } else {
            dossier
        },
        request_text(view)
    )
}

pub(crate) fn verify_export(file: &Path, previous: Option<&Path>) -> Result<ExitCode> {
    let read = |path: &Path| -> Result<Result<export::Document, export::Tampered>> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(export::verify(&bytes, &vendor_keys::trusted()))
    };
    let document = match read(file)? {
        Ok(document) => document,
        Err(reason) => {
            println!("tampered");
            eprintln!("{reason}");
            return Ok(ExitCode::from(EXIT_NO));
        }
    };
    println!("valid");
    eprintln!(
        "App Key {}, exported {}, {} users in {}",
        document.app_key, document.exported_at, document.active_users, document.month
    );
    let mut findings = export::check_usage(&document);
    if let Some(previous) = previous {
        let earlier = match read(previous)? {
            Ok(earlier) => earlier,
            Err(reason) => bail!(
                "{}: not a valid application key file: {reason}",
                previous.display()
            ),
        };
        if earlier.app_key != document.app_key {
            bail!(
                "{} is of App Key {}, not {}",
                previous.display(),
                earlier.app_key,
                document.app_key
            );
        }
        findings.extend(export::compare_reports(&earlier, &document));
    }
    for finding in &findings {
        println!("{finding}");
    }
    Ok(if findings.iter().any(export::ChainFinding::fails) {
        ExitCode::from(EXIT_NO)
    } else {
        ExitCode::SUCCESS
    })
}
