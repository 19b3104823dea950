//! `gatehouse audit`: the audit trail, filtered, and the chain walked.

use std::process::ExitCode;

use anyhow::{Result, anyhow};
use gatehouse_core::Gatehouse;
use gatehouse_http::forms::audit_query;
use gatehouse_http::wire::AuditJson;

use crate::cli::AuditArgs;
use crate::commands::{Columns, emit};

pub(crate) async fn audit(gatehouse: &Gatehouse, args: AuditArgs) -> Result<ExitCode> {
    if args.verify {
        let report = gatehouse.verify_audit().await?;
        if report.intact() {
            println!(
                "audit trail intact: {} entries, each tag and each link verifies",
                report.entries
            );
            return Ok(ExitCode::SUCCESS);
        }
        match report.first_break {
            Some(id) => println!(
                "audit trail changed outside Gatehouse: entry {id} does not verify or does not follow the one before it ({} entries)",
                report.entries
            ),
            None => println!(
                "audit trail changed outside Gatehouse: its newest entries were removed ({} entries left)",
                report.entries
            ),
        }
        return Ok(ExitCode::from(crate::EXIT_NO));
    }
    let zone = gatehouse.time_zone();
    let query = audit_query(
        args.since.as_deref(),
        args.actor.as_deref(),
        args.action.as_deref(),
        None,
        Some(args.limit),
        zone,
    )
    .map_err(|error| anyhow!("--{error}"))?;
    let entries = gatehouse.audit_entries(&query).await?;
    let rows: Vec<AuditJson> = entries.iter().map(|e| AuditJson::new(e, zone)).collect();
    let columns = Columns {
        keys: &[
            "id",
            "at",
            "actor",
            "source",
            "action",
            "subject",
            "detail",
            "authentic",
        ],
        titles: &["#", "Time", "Actor", "From", "Action", "Subject", "Detail"],
    };
    emit(&args.format, &rows, columns, |i| {
        let row = &rows[i];
        let mut detail = row.detail.clone();
        if !row.authentic {
            detail.push_str(" [CHANGED IN THE DATABASE BY HAND]");
        }
        vec![
            row.id.to_string(),
            row.at.clone(),
            row.actor.clone(),
            row.source.clone(),
            row.action.clone(),
            row.subject.clone(),
            detail,
        ]
    })?;
    if !args.format.json && !args.format.csv && rows.is_empty() {
        eprintln!("no administrative changes recorded (that match)");
    }
    Ok(ExitCode::SUCCESS)
}

/// `gatehouse verify`: counts against ledgers, and the audit chain.
pub(crate) async fn verify(gatehouse: &Gatehouse) -> Result<ExitCode> {
    let mismatches = gatehouse.ledger_mismatches().await?;
    let chain = gatehouse.verify_audit().await?;
    let usage = gatehouse.usage_chain_breaks().await?;
    for (month, count, ledger) in &mismatches {
        println!("month {month}: count {count} but {ledger} users in the ledger");
    }
    if mismatches.is_empty() {
        println!("every month's count equals its ledger");
    }
    for month in &usage {
        println!(
            "month {month}: its usage chain does not verify (seats changed outside Gatehouse)"
        );
    }
    if usage.is_empty() {
        println!("every usage chain verifies");
    }
    if chain.intact() {
        println!("audit trail intact: {} entries", chain.entries);
    } else {
        println!("audit trail changed outside Gatehouse (gatehouse audit --verify says where)");
    }
    Ok(
        if mismatches.is_empty() && usage.is_empty() && chain.intact() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(crate::EXIT_NO)
        },
    )
}
