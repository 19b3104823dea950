//! `gatehouse users`, `refused` and `usage`: the month's users, refused
//! users and the monthly history, as a table, JSON or CSV.

use std::process::ExitCode;

use anyhow::Result;
use gatehouse_core::Gatehouse;
use gatehouse_core::export::HistoryRow;
use gatehouse_core::store::{SeatOrder, SeatQuery};
use gatehouse_http::wire::{RefusedJson, USER_COLUMNS, UserJson, local_time};

use crate::cli::{FormatArgs, MonthFormatArgs, SortArg, UsersArgs};
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
