//! `gatehouse users`, `refused`, `usage` and `seats`: the month's users,
//! refused users, the monthly history and the marked users, as a table,
//! JSON or CSV.

use std::process::ExitCode;

use anyhow::Result;
use gatehouse_core::Gatehouse;
use gatehouse_core::enrollment::WindowScope;
use gatehouse_core::export::HistoryRow;
use gatehouse_core::seat_rules::{Mark, SeatBudget};
use gatehouse_core::store::{SeatOrder, SeatQuery};
use gatehouse_http::wire::{
    RefusedJson, SEAT_MARK_COLUMNS, SeatBudgetJson, SeatMarkJson, USER_COLUMNS, UserJson,
    local_time,
};

use crate::cli::{
    EnrollCommand, FormatArgs, MonthFormatArgs, SeatsCommand, SortArg, UsersArgs, WindowScopeArgs,
};
use crate::commands::{Columns, emit};

pub(crate) async fn users(gatehouse: &Gatehouse, args: UsersArgs) -> Result<ExitCode> {
    let month = args
        .month
        .month
        .unwrap_or_else(|| gatehouse.current_month());
    let query = SeatQuery {
        search: args.search,
        order: match args.sort {
            SortArg::Username => SeatOrder::Username,
            SortArg::FirstSeen => SeatOrder::FirstSeen,
            SortArg::LastLogin => SeatOrder::LastLogin,
        },
        descending: args.desc,
        ..SeatQuery::all(month)
    };
    let seats = gatehouse.users(&query).await?;
    let zone = gatehouse.time_zone();
    let rows: Vec<UserJson> = seats.iter().map(|seat| UserJson::new(seat, zone)).collect();
    let columns = Columns {
        keys: &USER_COLUMNS,
        titles: &[
            "Username",
            "Display Name",
            "Source",
            "First Authentication",
            "Last Login",
            "Last Client",
            "Seat",
        ],
    };
    emit(&args.month.format, &rows, columns, |i| {
        let seat = &seats[i];
        vec![
            seat.username.clone(),
            seat.display_name.clone(),
            seat.source.as_str().to_string(),
            local_time(seat.first_seen, zone),
            local_time(seat.last_login, zone),
            seat.last_client.clone(),
            gatehouse_license::words::seat_kind(seat.kind).to_string(),
        ]
    })?;
    if !args.month.format.json && !args.month.format.csv {
        let noun = if rows.len() == 1 { "user" } else { "users" };
        eprintln!("{} {noun} in {month}", rows.len());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn refused(gatehouse: &Gatehouse, args: MonthFormatArgs) -> Result<ExitCode> {
    let month = args.month.unwrap_or_else(|| gatehouse.current_month());
    let refused = gatehouse.refused_users(month).await?;
    let zone = gatehouse.time_zone();
    let rows: Vec<RefusedJson> = refused.iter().map(|r| RefusedJson::new(r, zone)).collect();
    let columns = Columns {
        keys: &[
            "username",
            "first_refused",
            "last_refused",
            "attempts",
            "last_client",
        ],
        titles: &[
            "Username",
            "First Refused",
            "Last Refused",
            "Attempts",
            "Last Client",
        ],
    };
    emit(&args.format, &rows, columns, |i| {
        let r = &refused[i];
        vec![
            r.username.clone(),
            local_time(r.first_refused, zone),
            local_time(r.last_refused, zone),
            r.attempts.to_string(),
            r.last_client.clone(),
        ]
    })?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn usage(gatehouse: &Gatehouse, format: FormatArgs) -> Result<ExitCode> {
    let rows: Vec<HistoryRow> = gatehouse
        .usage()
        .await?
        .iter()
        .map(HistoryRow::from)
        .collect();
    let columns = Columns {
        keys: &["month", "users", "user_limit", "peak_percent"],
        titles: &["Month", "Users", "Limit", "Peak %"],
    };
    emit(&format, &rows, columns, |i| {
        let r = &rows[i];
        vec![
            r.month.clone(),
            r.users.to_string(),
            r.user_limit.to_string(),
            r.peak_percent.clone(),
        ]
    })?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn seats(gatehouse: &Gatehouse, command: SeatsCommand) -> Result<ExitCode> {
    let (user, mark) = match command {
        SeatsCommand::List(format) => {
            let marks = gatehouse.seat_marks().await?;
            let zone = gatehouse.time_zone();
            let rows: Vec<SeatMarkJson> =
                marks.iter().map(|m| SeatMarkJson::new(m, zone)).collect();
            let columns = Columns {
                keys: &SEAT_MARK_COLUMNS,
                titles: &["Username", "Mark", "Marked", "By", "In Force"],
            };
            emit(&format, &rows, columns, |i| {
                vec![
                    rows[i].username.clone(),
                    rows[i].mark.clone(),
                    local_time(marks[i].marked.marked_at, zone),
                    rows[i].marked_by.clone(),
                    if rows[i].in_force {
                        "yes"
                    } else {
                        "no (the license grants fewer)"
                    }
                    .to_string(),
                ]
            })?;
            if !format.json && !format.csv {
                let options = gatehouse.license().payload.options;
                eprintln!(
                    "exempt accounts: {} of {}; break-glass seats: {} of {}",
                    rows.iter().filter(|r| r.mark == "exempt").count(),
                    options.exempt_seats,
                    rows.iter().filter(|r| r.mark == "reserved").count(),
                    options.reserved_seats
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        SeatsCommand::Unmark { user } => {
            let removed = gatehouse.unmark_seat(&user).await?;
            println!(
                "{} is no longer {}",
                removed.username,
                removed.mark.as_str()
            );
            return Ok(ExitCode::SUCCESS);
        }
        SeatsCommand::Budgets(format) => {
            let budgets = gatehouse.seat_budgets().await?;
            let rows: Vec<SeatBudgetJson> = budgets
                .iter()
                .map(|(budget, used)| SeatBudgetJson::new(budget, *used))
                .collect();
            let columns = Columns {
                keys: &["name", "used", "size", "groups", "clients", "alarm_percent"],
                titles: &["Budget", "Used", "Size", "Groups", "Clients", "Alarms (%)"],
            };
            let list = |items: &[String]| {
                if items.is_empty() {
                    "any".to_string()
                } else {
                    items.join(", ")
                }
            };
            emit(&format, &rows, columns, |i| {
                let row = &rows[i];
                vec![
                    row.name.clone(),
                    row.used.to_string(),
                    row.size.to_string(),
                    list(&row.groups),
                    list(&row.clients),
                    row.alarm_percent
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })?;
            if !format.json && !format.csv && rows.is_empty() {
                eprintln!(
                    "no seat budgets (add one with: gatehouse seats budget NAME --size N --group G)"
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        SeatsCommand::Budget {
            name,
            size,
            groups,
            clients,
            alarm_percent,
        } => {
            let saved = gatehouse
                .save_budget(SeatBudget {
                    name,
                    size,
                    groups,
                    clients,
                    alarm_percent,
                })
                .await?;
            println!("seat budget {} saved: {} users", saved.name, saved.size);
            return Ok(ExitCode::SUCCESS);
        }
        SeatsCommand::DeleteBudget { name } => {
            let removed = gatehouse.delete_budget(&name).await?;
            println!(
                "seat budget {} deleted; its users stay counted",
                removed.name
            );
            return Ok(ExitCode::SUCCESS);
        }
        SeatsCommand::Exempt { user } => (user, Mark::Exempt),
        SeatsCommand::Reserve { user } => (user, Mark::Reserved),
    };
    let marked = gatehouse.mark_seat(&user, mark).await?;
    println!(
        "{} is {}",
        marked.username,
        match mark {
            Mark::Exempt => "exempt: never counted in the month's users",
            Mark::Reserved => "a break-glass user: never refused for the user limit",
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn window_scope(args: WindowScopeArgs) -> Result<WindowScope> {
    Ok(match (args.user, args.group) {
        (Some(user), _) => WindowScope::user(&user)?,
        (None, Some(group)) => WindowScope::group(&group)?,
        (None, None) => WindowScope::Everyone,
    })
}

pub(crate) async fn enroll(gatehouse: &Gatehouse, command: EnrollCommand) -> Result<ExitCode> {
    let zone = gatehouse.time_zone();
    match command {
        EnrollCommand::Open { scope, days, email } => {
            let window = gatehouse
                .open_enrollment(window_scope(scope)?, days)
                .await?;
            println!(
                "enrollment window open for {} until {}",
                window.scope,
                local_time(window.closes_at, zone)
            );
            if email {
                let invited = gatehouse.invite_to_enroll(&window.scope).await?;
                for sent in &invited.sent {
                    println!("invitation queued for {sent}");
                }
                for name in &invited.without_address {
                    eprintln!(
                        "{name}: no email address (gatehouse local-user email {name} ADDRESS, or the directory's mail)"
                    );
                }
                for name in &invited.enrolled {
                    println!("{name} already has a second factor: not invited");
                }
            }
        }
        EnrollCommand::Close { scope } => {
            let window = gatehouse.close_enrollment(&window_scope(scope)?).await?;
            println!("enrollment window for {} closed", window.scope);
        }
        EnrollCommand::List(format) => {
            let windows = gatehouse.enrollment_windows().await?;
            let rows: Vec<serde_json::Value> = windows
                .iter()
                .map(|window| {
                    serde_json::json!({
                        "scope": window.scope.to_string(),
                        "opens_at": gatehouse_http::wire::rfc3339(window.opens_at, zone),
                        "closes_at": gatehouse_http::wire::rfc3339(window.closes_at, zone),
                        "opened_by": window.opened_by,
                    })
                })
                .collect();
            let columns = Columns {
                keys: &["scope", "opens_at", "closes_at", "opened_by"],
                titles: &["For", "Opened", "Closes", "By"],
            };
            emit(&format, &rows, columns, |i| {
                vec![
                    windows[i].scope.to_string(),
                    local_time(windows[i].opens_at, zone),
                    local_time(windows[i].closes_at, zone),
                    windows[i].opened_by.clone(),
                ]
            })?;
            if !format.json && !format.csv && rows.is_empty() {
                eprintln!("no enrollment window is open");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
