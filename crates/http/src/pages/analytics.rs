//! The Analytics page: months against their limits, new users per day, the
//! projection, and its CSV.

use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_core::export::HistoryRow;
use gatehouse_core::store::DailyNewUsers;
use gatehouse_license::words;

use super::{Nav, csv_download, page, unavailable};
use crate::auth::Admin;
use crate::state::Panel;
use crate::wire::csv;

#[derive(Template)]
#[template(path = "analytics.html")]
struct AnalyticsPage {
    nav: Option<Nav>,
    chart: String,
    months: Vec<HistoryRow>,
    month: String,
    daily: Vec<DailyNewUsers>,
    projection: String,
}

pub(super) async fn analytics_page(State(panel): State<Arc<Panel>>, admin: Admin) -> Response {
    let analytics = match panel.gatehouse.analytics().await {
        Ok(analytics) => analytics,
        Err(error) => return unavailable(error),
    };
    page(
        StatusCode::OK,
        &AnalyticsPage {
            nav: Nav::new(&panel, &admin, "analytics"),
            chart: crate::chart::usage_chart(&analytics.months, 12),
            months: analytics
                .months
                .iter()
                .rev()
                .map(HistoryRow::from)
                .collect(),
            month: analytics.month.to_string(),
            daily: analytics.daily.clone(),
            projection: words::projection(
                analytics.projection,
                analytics.active_users,
                analytics.user_limit,
            ),
        },
    )
}

pub(super) async fn analytics_csv(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    let months = match panel.gatehouse.usage().await {
        Ok(months) => months,
        Err(error) => return unavailable(error),
    };
    let rows: Vec<Vec<String>> = months
        .iter()
        .map(HistoryRow::from)
        .map(|row| {
            vec![
                row.month,
                row.users.to_string(),
                row.user_limit.to_string(),
                row.peak_percent,
            ]
        })
        .collect();
    csv_download(
        "gatehouse-usage.csv",
        Body::from(csv(
            &["month", "users", "user_limit", "peak_percent"],
            &rows,
        )),
    )
}
