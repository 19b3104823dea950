//! The Users page: the month's counted users (sorted, searched, paged by
//! keyset) and refused users, and its CSV download.

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::SeatMarkError;
use gatehouse_core::seat_rules::{Mark, MarkError, SeatBudget};
use gatehouse_core::store::SeatRecord;
use gatehouse_license::words;

use super::{DoneQuery, Flash, Nav, csv_download, page, redirect_done, unavailable};
use crate::auth::{Admin, AdminForm};
use crate::forms::{
    BadQuery, PAGE_SIZE, UsersQuery, cursor_after, query_string, seat_cursor, sort_name,
};
use crate::state::Panel;
use crate::wire::{
    RefusedJson, SeatBudgetJson, SeatMarkJson, USER_COLUMNS, UserJson, csv_row, local_time,
};

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Option<Nav>,
    month: String,
    months: Vec<String>,
    q: String,
    sort: String,
    desc: bool,
    rows: Vec<UserJson>,
    /// `25 users counted in 2026-12`.
    counted: String,
    next_link: Option<String>,
    first_page: bool,
    first_link: String,
    csv_link: String,
    sort_links: SortLinks,
    refused: Vec<RefusedJson>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    /// Exempt and break-glass users (SPEC §16).
    marks: Vec<SeatMarkJson>,
    /// Seat budgets (SPEC §16) and their users this month.
    budgets: Vec<SeatBudgetJson>,
    exempt_used: usize,
    exempt_granted: u32,
    reserved_used: usize,
    reserved_granted: u32,
}

struct SortLinks {
    username: String,
    first_seen: String,
    last_login: String,
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_string()).into_response()
}

pub(super) async fn users_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<UsersQuery>,
    Query(done): Query<DoneQuery>,
) -> Response {
    render_users(
        &panel,
        &admin,
        &query,
        StatusCode::OK,
        Flash::done(done.done),
    )
    .await
}

async fn render_users(
    panel: &Arc<Panel>,
    admin: &Admin,
    query: &UsersQuery,
    status: StatusCode,
    flash: Flash,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let seat_query = match query.to_seat_query(gatehouse.current_month(), Some(PAGE_SIZE)) {
        Ok(seat_query) => seat_query,
        Err(BadQuery(message)) => return bad_request(&message),
    };
    let (seats, refused, usage, marks, budgets) = match tokio::try_join!(
        gatehouse.users(&seat_query),
        gatehouse.refused_users(seat_query.month),
        gatehouse.usage(),
        gatehouse.seat_marks(),
        gatehouse.seat_budgets()
    ) {
        Ok(results) => results,
        Err(error) => return unavailable(error),
    };
    let zone = gatehouse.time_zone();
    let options = gatehouse.license().payload.options;
    let marks: Vec<SeatMarkJson> = marks
        .iter()
        .map(|listed| {
            let mut row = SeatMarkJson::new(listed, zone);
            row.marked_at = local_time(listed.marked.marked_at, zone);
            row
        })
        .collect();
    let month = seat_query.month.to_string();
    let q = seat_query.search.clone().unwrap_or_default();
    let sort = sort_name(seat_query.order);
    let desc = if seat_query.descending { "1" } else { "" };
    let next_link = (seats.len() as u32 == PAGE_SIZE).then(|| {
        let last = seats.last().expect("a full page has a last row");
        let cursor = cursor_after(last, seat_query.order);
        format!(
            "/users{}",
            query_string(&[
                ("month", &month),
                ("q", &q),
                ("sort", sort),
                ("desc", desc),
                ("after", &cursor)
            ])
        )
    });
    let sort_link = |column: &str| {
        // Clicking the current column flips the direction.
        let flip = column == sort && !seat_query.descending;
        format!(
            "/users{}",
            query_string(&[
                ("month", &month),
                ("q", &q),
                ("sort", column),
                ("desc", if flip { "1" } else { "" })
            ])
        )
    };
    let mut months: Vec<String> = usage.iter().rev().map(|m| m.month.to_string()).collect();
    if !months.contains(&month) {
        months.insert(0, month.clone());
    }
    let counted = words::users_counted(
        usage
            .iter()
            .find(|m| m.month == seat_query.month)
            .map_or(0, |m| m.active_users),
        seat_query.month,
    );
    page(
        status,
        &UsersPage {
            nav: Nav::new(panel, admin, "users"),
            csrf: admin.csrf().to_string(),
            notice: flash.notice(),
            error: flash.error(),
            budgets: budgets
                .iter()
                .map(|(budget, used)| SeatBudgetJson::new(budget, *used))
                .collect(),
            exempt_used: marks.iter().filter(|m| m.mark == "exempt").count(),
            exempt_granted: options.exempt_seats,
            reserved_used: marks.iter().filter(|m| m.mark == "reserved").count(),
            reserved_granted: options.reserved_seats,
            marks,
            rows: seats
                .iter()
                .map(|seat| {
                    let mut row = UserJson::new(seat, zone);
                    row.first_seen = local_time(seat.first_seen, zone);
                    row.last_login = local_time(seat.last_login, zone);
                    row
                })
                .collect(),
            refused: refused
                .iter()
                .map(|r| {
                    let mut row = RefusedJson::new(r, zone);
                    row.first_refused = local_time(r.first_refused, zone);
                    row.last_refused = local_time(r.last_refused, zone);
                    row
                })
                .collect(),
            first_page: seat_query.after.is_none(),
            first_link: format!(
                "/users{}",
                query_string(&[("month", &month), ("q", &q), ("sort", sort), ("desc", desc)])
            ),
            csv_link: format!(
                "/users.csv{}",
                query_string(&[("month", &month), ("q", &q), ("sort", sort), ("desc", desc)])
            ),
            sort_links: SortLinks {
                username: sort_link("username"),
                first_seen: sort_link("first_seen"),
                last_login: sort_link("last_login"),
            },
            next_link,
            counted,
            months,
            month,
            q,
            sort: sort.to_string(),
            desc: seat_query.descending,
        },
    )
}

/// Rows fetched per store query while streaming the users CSV.
const CSV_PAGE_ROWS: u32 = 5_000;

/// The month's users as CSV, streamed page by page (keyset cursor), so a
/// month of any size is sent in bounded memory. A database failure before
/// the first row answers 503; one in the middle aborts the download (the
/// browser reports it failed) rather than ending a short file as if whole.
pub(super) async fn users_csv(
    State(panel): State<Arc<Panel>>,
    _admin: Admin,
    Query(query): Query<UsersQuery>,
) -> Response {
    let gatehouse = panel.gatehouse.clone();
    let seat_query = match query.to_seat_query(gatehouse.current_month(), Some(CSV_PAGE_ROWS)) {
        Ok(seat_query) => seat_query,
        Err(BadQuery(message)) => return bad_request(&message),
    };
    let first = match gatehouse.users(&seat_query).await {
        Ok(seats) => seats,
        Err(error) => return unavailable(error),
    };
    let name = format!("gatehouse-users-{}.csv", seat_query.month);
    let chunks = futures_util::stream::unfold(
        (CsvStep::Header(first), seat_query, gatehouse),
        |(step, mut query, gatehouse)| async move {
            let seats = match step {
                CsvStep::Done => return None,
                CsvStep::Header(first) => {
                    let mut text = String::new();
                    csv_row(&mut text, &USER_COLUMNS);
                    return Some((Ok(text), (CsvStep::Page(first), query, gatehouse)));
                }
                CsvStep::Page(seats) => seats,
                CsvStep::Fetch => match gatehouse.users(&query).await {
                    Ok(seats) => seats,
                    Err(error) => {
                        tracing::error!(%error, "users CSV: database unavailable, download aborted");
                        let error = std::io::Error::other(error.to_string());
                        return Some((Err(error), (CsvStep::Done, query, gatehouse)));
                    }
                },
            };
            let last = seats.last()?;
            let next = if Some(seats.len() as u32) == query.limit {
                query.after = Some(seat_cursor(last, query.order));
                CsvStep::Fetch
            } else {
                CsvStep::Done
            };
            let zone = gatehouse.time_zone();
            let mut text = String::new();
            for seat in &seats {
                csv_row(&mut text, &UserJson::new(seat, zone).cells());
            }
            Some((Ok(text), (next, query, gatehouse)))
        },
    );
    csv_download(&name, Body::from_stream(chunks))
}

/// Where the users CSV stream stands.
enum CsvStep {
    /// The header is next, then these rows.
    Header(Vec<SeatRecord>),
    /// These rows are next.
    Page(Vec<SeatRecord>),
    /// The next page must be read (the query holds its cursor).
    Fetch,
    Done,
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct MarkForm {
    user: String,
    /// `exempt`, `reserved`; empty: unmark.
    #[serde(default)]
    mark: String,
}

/// Marks a user exempt or break-glass, or (with no mark) unmarks them.
pub(super) async fn mark_seat(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<MarkForm>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let result = match Mark::parse(&form.mark) {
        Some(mark) => gatehouse.mark_seat(&form.user, mark).await.map(|marked| {
            format!(
                "{} is {}.",
                marked.username,
                match mark {
                    Mark::Exempt => "exempt: never counted",
                    Mark::Reserved => "a break-glass user: never refused for the limit",
                }
            )
        }),
        None if form.mark.is_empty() => gatehouse
            .unmark_seat(&form.user)
            .await
            .map(|removed| format!("{} is an ordinary user again.", removed.username)),
        None => {
            return bad_request(&format!("unknown mark {:?}", form.mark));
        }
    };
    after_seat_change(&panel, &admin, result).await
}

/// Back to the Users page after a mark or budget change: saying what was
/// done, or why not (the page again, 400 or 409).
async fn after_seat_change(
    panel: &Arc<Panel>,
    admin: &Admin,
    result: Result<String, SeatMarkError>,
) -> Response {
    match result {
        Ok(done) => redirect_done("/users", &done),
        Err(SeatMarkError::Store(error)) => unavailable(error),
        Err(refused) => {
            let status = match refused {
                SeatMarkError::Refused(MarkError::Username(_)) | SeatMarkError::Budget(_) => {
                    StatusCode::BAD_REQUEST
                }
                _ => StatusCode::CONFLICT,
            };
            render_users(
                panel,
                admin,
                &UsersQuery::default(),
                status,
                Flash::Error(refused.to_string()),
            )
            .await
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct BudgetForm {
    name: String,
    /// Empty: delete the budget.
    #[serde(default)]
    size: String,
    /// One per line (or comma-separated).
    #[serde(default)]
    groups: String,
    #[serde(default)]
    clients: String,
    #[serde(default)]
    alarm_percent: String,
}

/// Saves a seat budget, or (with no size) deletes it.
pub(super) async fn save_budget(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<BudgetForm>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let list = |text: &str| -> Vec<String> {
        text.split(['\n', ','])
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()
    };
    let result = if form.size.trim().is_empty() {
        gatehouse.delete_budget(&form.name).await.map(|removed| {
            format!(
                "Deleted seat budget {}; its users stay counted.",
                removed.name
            )
        })
    } else {
        let Ok(size) = form.size.trim().parse::<u32>() else {
            return bad_request(&format!("size must be a whole number, not {:?}", form.size));
        };
        let Ok(alarm_percent) = list(&form.alarm_percent)
            .iter()
            .map(|p| p.parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
        else {
            return bad_request("alarm percentages are whole numbers");
        };
        gatehouse
            .save_budget(SeatBudget {
                name: form.name.trim().to_string(),
                size,
                groups: list(&form.groups),
                clients: list(&form.clients),
                alarm_percent,
            })
            .await
            .map(|saved| format!("Saved seat budget {}: {} users.", saved.name, saved.size))
    };
    after_seat_change(&panel, &admin, result).await
}
