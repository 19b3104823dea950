//! The panel: server-rendered pages and their forms.
//!
//! Every form carries the session's CSRF token; a successful change
//! redirects (POST, redirect, GET), a refused one renders the page again
//! with the reason and status 400.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::admin::{LoginError, SESSION_LIFETIME};
use gatehouse_core::alarms::AlarmSettings;
use gatehouse_core::clients::{Network, RadiusClient};
use gatehouse_core::export::HistoryRow;
use gatehouse_core::store::{
    AlarmRecord, DailyNewUsers, SeatCursor, SeatOrder, SeatQuery, SeatRecord, SortValue,
};
use gatehouse_core::{AlarmSaveError, InstallError, LicenseView, SeatKey, TestMailError, TotpMode};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_license::{LicenseStatus, Month, UsagePercent, words};
use serde::Deserialize;

use crate::Panel;
use crate::auth::{
    Admin, AdminForm, NoFields, Via, clear_session_cookie, client_address, safe_next,
    session_cookie,
};
use crate::wire::{
    ClientJson, LicenseJson, LicensePreviewJson, LocalUserJson, LockoutJson, RefusedJson,
    USER_COLUMNS, UserJson, alarm_state, csv, csv_row, local_time,
};

/// Rows per page of the Users table.
pub const PAGE_SIZE: u32 = 50;
/// The most rows one API page returns (`limit`).
pub const MAX_PAGE_SIZE: u32 = 1000;

pub(crate) fn routes() -> Listed {
    Listed::default()
        .route("/", get(|| async { Redirect::to("/license") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/license", get(license_page))
        .route("/license/preview", post(license_preview))
        .route("/license/install", post(license_install))
        .route("/license/application-key-file", get(application_key_file))
        .route("/users", get(users_page))
        .route("/users.csv", get(users_csv))
        .route("/analytics", get(analytics_page))
        .route("/analytics.csv", get(analytics_csv))
        .route("/alarms", get(alarms_page).post(save_alarms))
        .route("/alarms/test", post(test_email))
        .route("/local-users", get(local_users_page).post(add_local_user))
        .route("/local-users/{name}/{action}", post(local_user_action))
        .route("/local-users/{name}/totp/remove", post(remove_totp))
        .route("/lockouts/unlock", post(unlock_user))
        .route("/clients", get(clients_page).post(add_client))
        .route("/clients/{name}/delete", post(delete_client))
}

/// Panel routes with their paths listed: every route is added through
/// [`Listed::route`], so the list is the router's (the no-CSRF test probes
/// each path with every unsafe method).
#[derive(Default)]
pub(crate) struct Listed {
    pub router: Router<Arc<Panel>>,
    pub paths: Vec<&'static str>,
}

impl Listed {
    pub fn route(
        mut self,
        path: &'static str,
        handler: axum::routing::MethodRouter<Arc<Panel>>,
    ) -> Listed {
        self.router = self.router.route(path, handler);
        self.paths.push(path);
        self
    }
}

/// The navigation every signed-in page shows.
#[derive(Debug, Clone)]
pub struct Nav {
    pub admin: String,
    pub csrf: String,
    pub active: &'static str,
    /// Why only the License page is open (expired, or damaged records).
    pub locked: Option<&'static str>,
}

impl Nav {
    pub(crate) fn new(panel: &Panel, admin: &Admin, active: &'static str) -> Option<Nav> {
        Some(Nav {
            admin: admin.name.to_string(),
            csrf: admin.csrf().to_string(),
            active,
            locked: match panel.gatehouse.license_status() {
                LicenseStatus::Valid => None,
                LicenseStatus::Expired => Some(gatehouse_license::admission::LICENSE_EXPIRED),
                LicenseStatus::Damaged => Some(gatehouse_license::admission::LICENSE_DAMAGED),
            },
        })
    }
}

/// Renders a template, or a 500 naming nothing internal.
pub(crate) fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "could not render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not render the page",
            )
                .into_response()
        }
    }
}

/// A database failure, as a page.
pub(crate) fn unavailable(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "panel: database unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html("<!doctype html><title>Gatehouse</title><p>The database is unavailable; please try again in a moment.</p>"),
    )
        .into_response()
}

/// What the panel says after a second factor was removed, with the
/// warning when its user is left without one.
pub(crate) fn removal_notice(done: String, removed: &gatehouse_core::Removed) -> String {
    match removed.warning() {
        Some(warning) => format!("{done} Warning: {warning}."),
        None => done,
    }
}

pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

// ----- sign in ---------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(Query(query): Query<NextQuery>) -> Response {
    page(
        StatusCode::OK,
        &LoginPage {
            nav: None,
            next: safe_next(query.next.as_deref().unwrap_or("/license")).to_string(),
            error: None,
        },
    )
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let next = safe_next(&form.next).to_string();
    let refuse = |status, error: String| {
        page(
            status,
            &LoginPage {
                nav: None,
                next: next.clone(),
                error: Some(error),
            },
        )
    };
    let address = client_address(peer.ip(), &headers, &panel.settings.trusted_proxies);
    match panel
        .gatehouse
        .admin_sign_in(&form.username, &form.password, address)
        .await
    {
        Ok(session) => {
            let cookie = session_cookie(
                &session.token,
                panel.settings.secure_cookies,
                SESSION_LIFETIME.unsigned_abs(),
            );
            (
                StatusCode::SEE_OTHER,
                [(header::SET_COOKIE, cookie), (header::LOCATION, next)],
            )
                .into_response()
        }
        Err(error @ LoginError::InvalidCredentials) => {
            refuse(StatusCode::UNAUTHORIZED, error.to_string())
        }
        Err(error @ (LoginError::TooManyFromAddress(_) | LoginError::TooManyForAccount(_))) => {
            refuse(StatusCode::TOO_MANY_REQUESTS, error.to_string())
        }
        Err(error @ LoginError::Unavailable(_)) => unavailable(error),
    }
}

async fn logout(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, NoFields {}): AdminForm<NoFields>,
) -> Response {
    if let Via::Session { token, .. } = &admin.via
        && let Err(error) = panel.gatehouse.admin_logout(token).await
    {
        return unavailable(error);
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                clear_session_cookie(panel.settings.secure_cookies),
            ),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

// ----- license -----------------------------------------------------------------

#[derive(Template)]
#[template(path = "license.html")]
struct LicensePage {
    nav: Option<Nav>,
    csrf: String,
    license: LicenseJson,
    usage_percent: String,
    meter_low: u32,
    meter_high: u32,
    remaining_text: String,
    warn: bool,
    request_text: String,
    contact: Option<String>,
    /// Fingerprints of the vendor keys this build accepts.
    vendor_keys: Vec<String>,
    /// The build trusts the published development key.
    development_key: bool,
    notice: Option<String>,
    error: Option<String>,
    preview: Option<Preview>,
}

struct Preview {
    key: String,
    details: LicensePreviewJson,
}

/// The license request an administrator sends to support.
pub fn request_text(view: &LicenseView) -> String {
    let payload = &view.license.payload;
    let or_blank = |text: &str, blank: &str| {
        if text.is_empty() {
            blank.to_string()
        } else {
            text.to_string()
        }
    };
    format!(
        "Subject: Gatehouse license request for App Key {app_key}\n\n\
         Please issue a Gatehouse license key for this installation.\n\n\
         App Key:            {app_key}\n\
         Dossier:            {dossier}\n\
         Company:            {company}\n\
         Current license:    {kind} {id}, {limit} users, Support End Date {end}\n\
         Users this month:   {active}/{limit}\n\
         Requested users:    (please fill in)\n\
         Requested end date: (please fill in)\n\
         Push approval:      (yes/no)\n",
        app_key = view.app_key,
        dossier = or_blank(&payload.dossier, "none yet"),
        company = or_blank(&payload.company, "(please fill in)"),
        kind = payload.license_type,
        id = payload.license_id,
        limit = payload.user_limit,
        end = payload.support_end,
        active = view.active_users,
    )
}

async fn render_license(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    preview: Option<Preview>,
) -> Response {
    let view = match panel.gatehouse.license_view().await {
        Ok(view) => view,
        Err(error) => return unavailable(error),
    };
    let license = LicenseJson::new(&view, panel.gatehouse.time_zone());
    let limit = license.user_limit;
    page(
        status,
        &LicensePage {
            nav: Nav::new(panel, admin, "license"),
            csrf: admin.csrf().to_string(),
            usage_percent: UsagePercent::of(license.active_users, limit).to_string(),
            meter_low: (u64::from(limit) * 75 / 100) as u32,
            meter_high: (u64::from(limit) * 95 / 100) as u32,
            remaining_text: words::remaining(view.days_remaining),
            warn: view.days_remaining < 30,
            request_text: request_text(&view),
            contact: panel.settings.support_contact.clone(),
            vendor_keys: gatehouse_core::vendor_keys::fingerprints(),
            development_key: gatehouse_core::vendor_keys::trusts_development_key(),
            license,
            notice,
            error,
            preview,
        },
    )
}

#[derive(Debug, Deserialize)]
struct NoticeQuery {
    installed: Option<String>,
}

async fn license_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let notice = query
        .installed
        .map(|_| "The new license is installed and in force.".to_string());
    render_license(&panel, &admin, StatusCode::OK, notice, None, None).await
}

#[derive(Debug, Deserialize)]
struct KeyForm {
    key: String,
}

async fn license_preview(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<KeyForm>,
) -> Response {
    match panel.gatehouse.check_license_key(&form.key) {
        Ok(verified) => {
            let view = match panel.gatehouse.license_view().await {
                Ok(view) => view,
                Err(error) => return unavailable(error),
            };
            let details =
                LicensePreviewJson::new(&verified.payload, &view, panel.gatehouse.time_zone());
            let preview = Preview {
                key: verified.text,
                details,
            };
            render_license(&panel, &admin, StatusCode::OK, None, None, Some(preview)).await
        }
        Err(refusal) => {
            render_license(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                None,
                Some(refusal.to_string()),
                None,
            )
            .await
        }
    }
}

async fn license_install(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<KeyForm>,
) -> Response {
    match panel.gatehouse.install_license(&form.key).await {
        Ok(_) => {
            tracing::info!(admin = %admin.name, "license installed from the panel");
            see_other("/license?installed=1")
        }
        Err(InstallError::Refused(refusal)) => {
            render_license(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                None,
                Some(refusal.to_string()),
                None,
            )
            .await
        }
        Err(InstallError::Store(error)) => unavailable(error),
    }
}

/// The signed application key file, as a download.
pub async fn application_key_file(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
    match panel.gatehouse.application_key_file().await {
        Ok(file) => {
            let name = format!(
                "gatehouse-{}-{}.json",
                panel.gatehouse.app_key().compact(),
                panel.gatehouse.current_month()
            );
            (
                [
                    (header::CONTENT_TYPE, "application/json".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{name}\""),
                    ),
                ],
                file,
            )
                .into_response()
        }
        Err(error) => unavailable(error),
    }
}

// ----- users -------------------------------------------------------------------

/// `?month=&q=&sort=&desc=&after=` of the Users table (page and API).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UsersQuery {
    pub month: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub desc: Option<String>,
    pub after: Option<String>,
    pub limit: Option<u32>,
}

/// Why a Users query is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadQuery(pub String);

impl UsersQuery {
    /// The store query this asks for; `page_size` `None` for every row.
    pub fn to_seat_query(
        &self,
        current: Month,
        page_size: Option<u32>,
    ) -> Result<SeatQuery, BadQuery> {
        let month = match self.month.as_deref().filter(|m| !m.is_empty()) {
            Some(text) => text.parse::<Month>().map_err(|e| BadQuery(e.to_string()))?,
            None => current,
        };
        let order = match self.sort.as_deref().unwrap_or("username") {
            "username" | "" => SeatOrder::Username,
            "first_seen" => SeatOrder::FirstSeen,
            "last_login" => SeatOrder::LastLogin,
            other => {
                return Err(BadQuery(format!(
                    "unknown sort {other:?}: use username, first_seen or last_login"
                )));
            }
        };
        let search = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_string);
        // Searching is a prefix range of usernames, so it is always in
        // username order (fast at any size).
        let order = if search.is_some() {
            SeatOrder::Username
        } else {
            order
        };
        let after = match self.after.as_deref().filter(|a| !a.is_empty()) {
            Some(cursor) => Some(
                decode_cursor(cursor, order)
                    .ok_or_else(|| BadQuery("invalid page cursor".into()))?,
            ),
            None => None,
        };
        let limit = match (self.limit, page_size) {
            (Some(limit @ 1..=MAX_PAGE_SIZE), _) => Some(limit),
            (Some(limit), _) => {
                return Err(BadQuery(format!(
                    "limit {limit} is not between 1 and {MAX_PAGE_SIZE}"
                )));
            }
            (None, size) => size,
        };
        let descending = match self.desc.as_deref().unwrap_or("") {
            "1" | "true" => true,
            "" | "0" | "false" => false,
            other => {
                return Err(BadQuery(format!(
                    "desc {other:?} is not 1, true, 0 or false"
                )));
            }
        };
        Ok(SeatQuery {
            month,
            search,
            order,
            descending,
            after,
            limit,
        })
    }
}

/// Cursor of the row a page ended with: opaque base64url of
/// `<kind>:<value>:<seat key>`.
pub fn encode_cursor(value: &SortValue, seat: &SeatKey) -> String {
    let text = match value {
        SortValue::Text(text) => format!("t:{}:{}", URL_SAFE_NO_PAD.encode(text), seat.as_str()),
        SortValue::Time(at) => format!("m:{}:{}", at.as_microsecond(), seat.as_str()),
    };
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str, order: SeatOrder) -> Option<SeatCursor> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (kind, rest) = text.split_once(':')?;
    let (value, seat) = rest.split_once(':')?;
    let value = match (kind, order) {
        ("t", SeatOrder::Username) => {
            SortValue::Text(String::from_utf8(URL_SAFE_NO_PAD.decode(value).ok()?).ok()?)
        }
        ("m", SeatOrder::FirstSeen | SeatOrder::LastLogin) => {
            SortValue::Time(Timestamp::from_microsecond(value.parse().ok()?).ok()?)
        }
        _ => return None,
    };
    Some(SeatCursor {
        value,
        seat: SeatKey::from_stored(seat.to_string()),
    })
}

/// Where the page that ends with `row` stops, in `order`.
pub fn seat_cursor(row: &SeatRecord, order: SeatOrder) -> SeatCursor {
    let value = match order {
        SeatOrder::Username => SortValue::Text(row.username.clone()),
        SeatOrder::FirstSeen => SortValue::Time(row.first_seen),
        SeatOrder::LastLogin => SortValue::Time(row.last_login),
    };
    SeatCursor {
        value,
        seat: row.seat.clone(),
    }
}

/// The cursor that continues after `row` in `order`.
pub fn cursor_after(row: &SeatRecord, order: SeatOrder) -> String {
    let cursor = seat_cursor(row, order);
    encode_cursor(&cursor.value, &cursor.seat)
}

fn sort_name(order: SeatOrder) -> &'static str {
    match order {
        SeatOrder::Username => "username",
        SeatOrder::FirstSeen => "first_seen",
        SeatOrder::LastLogin => "last_login",
    }
}

/// `?k=v&…` with values percent-encoded.
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

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
}

struct SortLinks {
    username: String,
    first_seen: String,
    last_login: String,
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_string()).into_response()
}

async fn users_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<UsersQuery>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let seat_query = match query.to_seat_query(gatehouse.current_month(), Some(PAGE_SIZE)) {
        Ok(seat_query) => seat_query,
        Err(BadQuery(message)) => return bad_request(&message),
    };
    let (seats, refused, usage) = match tokio::try_join!(
        gatehouse.users(&seat_query),
        gatehouse.refused_users(seat_query.month),
        gatehouse.usage()
    ) {
        Ok(results) => results,
        Err(error) => return unavailable(error),
    };
    let zone = gatehouse.time_zone();
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
        StatusCode::OK,
        &UsersPage {
            nav: Nav::new(&panel, &admin, "users"),
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

fn csv_download(name: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// Rows fetched per store query while streaming the users CSV.
const CSV_PAGE_ROWS: u32 = 5_000;

/// The month's users as CSV, streamed page by page (keyset cursor), so a
/// month of any size is sent in bounded memory. A database failure before
/// the first row answers 503; one in the middle aborts the download (the
/// browser reports it failed) rather than ending a short file as if whole.
async fn users_csv(
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
                let row = UserJson::new(seat, zone);
                csv_row(
                    &mut text,
                    &[
                        row.username,
                        row.display_name,
                        row.source,
                        row.first_seen,
                        row.last_login,
                        row.last_client,
                    ],
                );
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

// ----- analytics ---------------------------------------------------------------

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

async fn analytics_page(State(panel): State<Arc<Panel>>, admin: Admin) -> Response {
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

async fn analytics_csv(State(panel): State<Arc<Panel>>, _admin: Admin) -> Response {
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

// ----- alarms ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "alarms.html")]
struct AlarmsPage {
    nav: Option<Nav>,
    csrf: String,
    days_before_end: String,
    user_limit_percent: String,
    recipients: String,
    /// Settings come from the configuration file: shown read-only.
    configured: bool,
    /// `[smtp]` is configured (the test email can be sent).
    mail_configured: bool,
    history: Vec<AlarmRow>,
    notice: Option<String>,
    error: Option<String>,
}

/// One line of the alarm history.
struct AlarmRow {
    raised: String,
    subject: String,
    recipients: String,
    state: String,
    /// `sent`, `queued`, `failing`, `no_recipients` or `superseded` (CSS
    /// class).
    class: &'static str,
}

/// Alarms shown on the page.
const ALARM_HISTORY_ROWS: u32 = 50;

impl AlarmRow {
    fn new(alarm: &AlarmRecord, zone: &TimeZone) -> AlarmRow {
        let class = alarm_state(alarm);
        let state = match class {
            "sent" => format!(
                "Sent {}",
                alarm
                    .sent_at
                    .map(|at| local_time(at, zone))
                    .unwrap_or_default()
            ),
            "failing" => format!(
                "Failing after {} attempt{}: {} (retrying)",
                alarm.attempts,
                if alarm.attempts == 1 { "" } else { "s" },
                alarm.last_error.as_deref().unwrap_or_default()
            ),
            "no_recipients" => "Not sent: no recipients were configured".to_string(),
            "superseded" => {
                "Not sent: a more urgent alarm of this kind was raised at the same time".to_string()
            }
            _ => "Queued".to_string(),
        };
        AlarmRow {
            raised: local_time(alarm.created_at, zone),
            subject: alarm.subject.clone(),
            recipients: alarm.recipients.join(", "),
            state,
            class,
        }
    }
}

fn join_numbers(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `"60, 30 15"` → numbers; anything else names the field.
pub fn parse_numbers(field: &str, text: &str) -> Result<Vec<u32>, String> {
    text.split([',', ' ', ';', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>()
                .map_err(|_| format!("{field}: {t:?} is not a whole number"))
        })
        .collect()
}

/// What the form shows: the settings in force, or what was typed.
struct AlarmsForm {
    days_before_end: String,
    user_limit_percent: String,
    recipients: String,
}

impl AlarmsForm {
    fn of(settings: &AlarmSettings) -> AlarmsForm {
        AlarmsForm {
            days_before_end: join_numbers(settings.days_before_end()),
            user_limit_percent: join_numbers(settings.user_limit_percent()),
            recipients: settings.recipients().join("\n"),
        }
    }
}

/// The Alarms page with `form`, a notice or an error.
async fn render_alarms(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    form: Option<AlarmsForm>,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let form = match form {
        Some(form) => form,
        None => match gatehouse.alarm_settings().await {
            Ok(settings) => AlarmsForm::of(&settings),
            Err(error) => return unavailable(error),
        },
    };
    let history = match gatehouse.alarm_history(ALARM_HISTORY_ROWS).await {
        Ok(history) => history,
        Err(error) => return unavailable(error),
    };
    let zone = gatehouse.time_zone();
    page(
        status,
        &AlarmsPage {
            nav: Nav::new(panel, admin, "alarms"),
            csrf: admin.csrf().to_string(),
            days_before_end: form.days_before_end,
            user_limit_percent: form.user_limit_percent,
            recipients: form.recipients,
            configured: gatehouse.alarm_settings_configured(),
            mail_configured: panel.settings.mailer.is_some(),
            history: history.iter().map(|a| AlarmRow::new(a, zone)).collect(),
            notice,
            error,
        },
    )
}

async fn alarms_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<AlarmsQuery>,
) -> Response {
    let notice = match (query.saved, query.test) {
        (Some(_), _) => Some("Alarm settings saved.".to_string()),
        (_, Some(to)) => Some(format!("Test email sent to {to}.")),
        _ => None,
    };
    render_alarms(&panel, &admin, StatusCode::OK, None, notice, None).await
}

#[derive(Debug, Deserialize)]
struct AlarmsQuery {
    saved: Option<String>,
    test: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AlarmsFormData {
    #[serde(default)]
    days_before_end: String,
    #[serde(default)]
    user_limit_percent: String,
    #[serde(default)]
    recipients: String,
}

async fn save_alarms(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<AlarmsFormData>,
) -> Response {
    let parsed = parse_numbers("days_before_end", &form.days_before_end).and_then(|days| {
        let percent = parse_numbers("user_limit_percent", &form.user_limit_percent)?;
        let recipients = form.recipients.lines().map(str::to_string).collect();
        AlarmSettings::new(days, percent, recipients).map_err(|e| e.to_string())
    });
    let typed = AlarmsForm {
        days_before_end: form.days_before_end,
        user_limit_percent: form.user_limit_percent,
        recipients: form.recipients,
    };
    let (status, message) = match parsed {
        Ok(settings) => match panel.gatehouse.set_alarm_settings(&settings).await {
            Ok(()) => return see_other("/alarms?saved=1"),
            Err(AlarmSaveError::Store(error)) => return unavailable(error),
            Err(configured @ AlarmSaveError::Configured) => {
                (StatusCode::CONFLICT, configured.to_string())
            }
        },
        Err(message) => (StatusCode::BAD_REQUEST, message),
    };
    render_alarms(&panel, &admin, status, Some(typed), None, Some(message)).await
}

async fn test_email(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, NoFields {}): AdminForm<NoFields>,
) -> Response {
    let (status, message) = match send_test_email(&panel).await {
        Ok(to) => {
            return see_other(&format!(
                "/alarms{}",
                query_string(&[("test", &to.join(", "))])
            ));
        }
        Err((status, message)) => (status, message),
    };
    render_alarms(&panel, &admin, status, None, None, Some(message)).await
}

/// Sends the test email; on failure the status and message to show.
pub async fn send_test_email(panel: &Panel) -> Result<Vec<String>, (StatusCode, String)> {
    let Some(mailer) = &panel.settings.mailer else {
        return Err((
            StatusCode::CONFLICT,
            "email is not configured: set [smtp] in the configuration file".to_string(),
        ));
    };
    match panel.gatehouse.send_test_email(mailer.as_ref()).await {
        Ok(to) => Ok(to),
        Err(TestMailError::Store(error)) => {
            tracing::error!(%error, "test email: database unavailable");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable, please try again later".to_string(),
            ))
        }
        Err(error @ TestMailError::NoRecipients) => Err((StatusCode::CONFLICT, error.to_string())),
        Err(error @ TestMailError::Send(_)) => Err((StatusCode::BAD_GATEWAY, error.to_string())),
    }
}

// ----- local users -------------------------------------------------------------

#[derive(Template)]
#[template(path = "local_users.html")]
struct LocalUsersPage {
    nav: Option<Nav>,
    csrf: String,
    users: Vec<LocalUserJson>,
    /// Users locked out or with failed attempts in a row (local and
    /// directory alike).
    lockouts: Vec<LockoutJson>,
    second_factor_required: bool,
    notice: Option<String>,
    error: Option<String>,
    enrolled: Option<Enrolled>,
}

struct Enrolled {
    username: String,
    how: &'static str,
    qr_svg: String,
    secret: String,
    uri: String,
}

/// The local users with their TOTP mode.
pub async fn local_users_json(
    panel: &Panel,
) -> Result<Vec<LocalUserJson>, gatehouse_core::StoreError> {
    let gatehouse = &panel.gatehouse;
    let zone = gatehouse.time_zone();
    let mut rows = Vec::new();
    for user in gatehouse.local_users().await? {
        let mode = gatehouse.local_totp_mode(&user.username).await?;
        rows.push(LocalUserJson::new(&user, mode, zone));
    }
    Ok(rows)
}

async fn render_local_users(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    enrolled: Option<Enrolled>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let listed = async {
        let users = local_users_json(panel).await?;
        let lockouts = gatehouse.lockouts().await?;
        Ok::<_, gatehouse_core::StoreError>((users, lockouts))
    };
    match listed.await {
        Ok((users, lockouts)) => page(
            status,
            &LocalUsersPage {
                nav: Nav::new(panel, admin, "local-users"),
                csrf: admin.csrf().to_string(),
                users,
                lockouts: LockoutJson::list(&lockouts, gatehouse.now(), gatehouse.time_zone()),
                second_factor_required: gatehouse.second_factor_required(),
                notice,
                error,
                enrolled,
            },
        ),
        Err(error) => unavailable(error),
    }
}

/// The notice a redirect after a change carries (`?done=`).
#[derive(Debug, Deserialize)]
pub(crate) struct DoneQuery {
    pub done: Option<String>,
}

async fn local_users_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<DoneQuery>,
) -> Response {
    render_local_users(&panel, &admin, StatusCode::OK, query.done, None, None).await
}

#[derive(Debug, Deserialize)]
struct AddUserForm {
    username: String,
    password: String,
    /// The checkbox: present when ticked.
    #[serde(default)]
    no_second_factor: Option<String>,
}

async fn add_local_user(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<AddUserForm>,
) -> Response {
    let added = match panel
        .gatehouse
        .add_local_user(&form.username, &form.password)
        .await
    {
        Ok(name) if form.no_second_factor.is_some() => panel
            .gatehouse
            .set_local_user_second_factor_exempt(name.as_str(), true)
            .await
            .map(|()| name),
        other => other,
    };
    match added {
        Ok(name) => see_other(&format!(
            "/local-users{}",
            query_string(&[("done", &format!("Added {name}."))])
        )),
        Err(gatehouse_core::UserError::Store(error)) => unavailable(error),
        Err(error) => {
            render_local_users(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                None,
                Some(error.to_string()),
                None,
            )
            .await
        }
    }
}

#[derive(Debug, Deserialize)]
struct UserActionForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    mode: String,
}

/// QR code of a TOTP URI as inline SVG.
pub fn qr_svg(uri: &str) -> String {
    qrcode::QrCode::new(uri.as_bytes())
        .map(|code| {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build();
            // Inline: drop the XML declaration.
            match svg.find("<svg") {
                Some(start) => svg[start..].to_string(),
                None => svg,
            }
        })
        .unwrap_or_default()
}

/// `challenge`, `append` or empty (the default) from a form or API call.
pub fn parse_mode(text: &str) -> Result<Option<TotpMode>, String> {
    match text.trim() {
        "" => Ok(None),
        other => TotpMode::parse(other)
            .map(Some)
            .ok_or_else(|| format!("mode: {other:?} is not \"challenge\" or \"append\"")),
    }
}

#[derive(Debug, Deserialize)]
struct UnlockForm {
    user: String,
}

async fn unlock_user(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<UnlockForm>,
) -> Response {
    match panel.gatehouse.unlock_user(&form.user).await {
        Ok(unlocked) => {
            if unlocked {
                tracing::info!(admin = %admin.name, user = %form.user, "user unlocked in the panel");
            }
            let done = if unlocked {
                format!("Unlocked {}.", form.user)
            } else {
                format!("{} was not locked out.", form.user)
            };
            see_other(&format!("/local-users{}", query_string(&[("done", &done)])))
        }
        Err(error) => unavailable(error),
    }
}

async fn local_user_action(
    State(panel): State<Arc<Panel>>,
    Path((name, action)): Path<(String, String)>,
    AdminForm(admin, form): AdminForm<UserActionForm>,
) -> Response {
    let gatehouse = &panel.gatehouse;
    let result = match action.as_str() {
        "disable" => gatehouse
            .set_local_user_enabled(&name, false)
            .await
            .map(|()| format!("Disabled {name}.")),
        "enable" => gatehouse
            .set_local_user_enabled(&name, true)
            .await
            .map(|()| format!("Enabled {name}.")),
        "delete" => gatehouse
            .delete_local_user(&name)
            .await
            .map(|()| format!("Deleted {name}; their seat this month stays counted.")),
        "password" => gatehouse
            .set_local_user_password(&name, &form.password)
            .await
            .map(|()| format!("Password of {name} changed.")),
        "exempt" => gatehouse
            .set_local_user_second_factor_exempt(&name, true)
            .await
            .map(|()| format!("{name} logs in without a second factor.")),
        "require" => gatehouse
            .set_local_user_second_factor_exempt(&name, false)
            .await
            .map(|()| format!("{name} must present a second factor.")),
        "totp" => {
            let mode = match parse_mode(&form.mode) {
                Ok(mode) => mode,
                Err(message) => {
                    return render_local_users(
                        &panel,
                        &admin,
                        StatusCode::BAD_REQUEST,
                        None,
                        Some(message),
                        None,
                    )
                    .await;
                }
            };
            return match gatehouse.enroll_local_totp(&name, mode).await {
                Ok(enrollment) => {
                    let enrolled = Enrolled {
                        username: name.clone(),
                        how: match enrollment.mode {
                            TotpMode::Challenge => {
                                "They enter their password, then the code when asked."
                            }
                            TotpMode::Append => {
                                "They type the code right after their password, in the same field."
                            }
                        },
                        qr_svg: qr_svg(&enrollment.uri),
                        secret: enrollment.secret.to_base32(),
                        uri: enrollment.uri,
                    };
                    render_local_users(&panel, &admin, StatusCode::OK, None, None, Some(enrolled))
                        .await
                }
                Err(gatehouse_core::UserError::Store(error)) => unavailable(error),
                Err(error) => {
                    render_local_users(
                        &panel,
                        &admin,
                        StatusCode::BAD_REQUEST,
                        None,
                        Some(error.to_string()),
                        None,
                    )
                    .await
                }
            };
        }
        _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
    };
    match result {
        Ok(done) => see_other(&format!("/local-users{}", query_string(&[("done", &done)]))),
        Err(gatehouse_core::UserError::Store(error)) => unavailable(error),
        Err(error) => {
            render_local_users(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                None,
                Some(error.to_string()),
                None,
            )
            .await
        }
    }
}

async fn remove_totp(
    State(panel): State<Arc<Panel>>,
    Path(name): Path<String>,
    AdminForm(admin, NoFields {}): AdminForm<NoFields>,
) -> Response {
    match panel.gatehouse.remove_local_totp(&name).await {
        Ok(removed) => see_other(&format!(
            "/local-users{}",
            query_string(&[(
                "done",
                &removal_notice(format!("Removed TOTP of {name}."), &removed)
            )])
        )),
        Err(gatehouse_core::UserError::Store(error)) => unavailable(error),
        Err(error) => {
            render_local_users(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                None,
                Some(error.to_string()),
                None,
            )
            .await
        }
    }
}

// ----- RADIUS clients ----------------------------------------------------------

#[derive(Template)]
#[template(path = "clients.html")]
struct ClientsPage {
    nav: Option<Nav>,
    csrf: String,
    clients: Vec<ClientJson>,
    notice: Option<String>,
    error: Option<String>,
}

/// Clients from the configuration file, then those in the database.
pub async fn clients_json(panel: &Panel) -> Result<Vec<ClientJson>, gatehouse_core::StoreError> {
    let stored = panel.gatehouse.radius_clients().await?;
    Ok(panel
        .settings
        .configured_clients
        .iter()
        .map(|c| ClientJson::new(c, "config"))
        .chain(stored.iter().map(|c| ClientJson::new(c, "database")))
        .collect())
}

async fn render_clients(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    match clients_json(panel).await {
        Ok(clients) => page(
            status,
            &ClientsPage {
                nav: Nav::new(panel, admin, "clients"),
                csrf: admin.csrf().to_string(),
                clients,
                notice,
                error,
            },
        ),
        Err(error) => unavailable(error),
    }
}

async fn clients_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<DoneQuery>,
) -> Response {
    render_clients(&panel, &admin, StatusCode::OK, query.done, None).await
}

#[derive(Debug, Deserialize)]
struct AddClientForm {
    name: String,
    networks: String,
    secret: String,
    require_message_authenticator: Option<String>,
    limit_proxy_state: Option<String>,
}

/// Builds and checks a client from what an administrator sent; refuses a
/// name the configuration file already uses.
pub fn new_client(
    panel: &Panel,
    name: &str,
    networks: &[String],
    secret: &str,
    require_message_authenticator: bool,
    limit_proxy_state: bool,
) -> Result<RadiusClient, String> {
    if panel
        .settings
        .configured_clients
        .iter()
        .any(|c| c.name == name)
    {
        return Err(format!(
            "a RADIUS client named {name:?} is defined in the configuration file"
        ));
    }
    let networks = networks
        .iter()
        .map(|n| n.parse::<Network>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let client = RadiusClient {
        name: name.trim().to_string(),
        networks,
        secret: secret.as_bytes().to_vec(),
        require_message_authenticator,
        limit_proxy_state,
    };
    client.validate().map_err(|e| e.to_string())?;
    Ok(client)
}

async fn add_client(
    State(panel): State<Arc<Panel>>,
    AdminForm(admin, form): AdminForm<AddClientForm>,
) -> Response {
    let networks: Vec<String> = form
        .networks
        .split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    let client = match new_client(
        &panel,
        &form.name,
        &networks,
        &form.secret,
        form.require_message_authenticator.is_some(),
        form.limit_proxy_state.is_some(),
    ) {
        Ok(client) => client,
        Err(message) => {
            return render_clients(&panel, &admin, StatusCode::BAD_REQUEST, None, Some(message))
                .await;
        }
    };
    match panel.gatehouse.add_radius_client(&client).await {
        Ok(()) => see_other(&format!(
            "/clients{}",
            query_string(&[("done", &format!("Added {}.", client.name))])
        )),
        Err(gatehouse_core::ClientAddError::Store(error)) => unavailable(error),
        Err(error) => {
            render_clients(
                &panel,
                &admin,
                StatusCode::BAD_REQUEST,
                None,
                Some(error.to_string()),
            )
            .await
        }
    }
}

async fn delete_client(
    State(panel): State<Arc<Panel>>,
    Path(name): Path<String>,
    AdminForm(admin, NoFields {}): AdminForm<NoFields>,
) -> Response {
    match panel.gatehouse.delete_radius_client(&name).await {
        Ok(true) => see_other(&format!(
            "/clients{}",
            query_string(&[("done", &format!("Deleted {name}."))])
        )),
        Ok(false) => {
            render_clients(
                &panel,
                &admin,
                StatusCode::NOT_FOUND,
                None,
                Some(format!("no RADIUS client {name:?}")),
            )
            .await
        }
        Err(error) => unavailable(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let seat = SeatKey::from_stored("local:al:ice".to_string());
        let text = encode_cursor(&SortValue::Text("al:ice".into()), &seat);
        let decoded = decode_cursor(&text, SeatOrder::Username).unwrap();
        assert_eq!(
            (decoded.value, decoded.seat),
            (SortValue::Text("al:ice".into()), seat.clone())
        );
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let time = encode_cursor(&SortValue::Time(at), &seat);
        assert_eq!(
            decode_cursor(&time, SeatOrder::LastLogin).unwrap().value,
            SortValue::Time(at)
        );
        assert!(
            decode_cursor(&time, SeatOrder::Username).is_none(),
            "a cursor of another order"
        );
        for garbage in ["", "!!!", "dDpub3Q", "bTp4OnNlYXQ"] {
            assert!(
                decode_cursor(garbage, SeatOrder::Username).is_none(),
                "{garbage}"
            );
        }
    }

    #[test]
    fn users_queries_are_checked() {
        let current: Month = "2026-11".parse().unwrap();
        let query = |q: UsersQuery| q.to_seat_query(current, Some(50));
        assert_eq!(query(UsersQuery::default()).unwrap().month, current);
        assert!(
            query(UsersQuery {
                month: Some("2026-13".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            query(UsersQuery {
                sort: Some("password".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            query(UsersQuery {
                after: Some("garbage".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            query(UsersQuery {
                limit: Some(0),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            query(UsersQuery {
                limit: Some(1001),
                ..Default::default()
            })
            .is_err()
        );
        assert_eq!(
            query(UsersQuery {
                limit: Some(1000),
                ..Default::default()
            })
            .unwrap()
            .limit,
            Some(1000)
        );
        let searched = query(UsersQuery {
            q: Some("  Al ".into()),
            sort: Some("last_login".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            (searched.search.as_deref(), searched.order),
            (Some("Al"), SeatOrder::Username)
        );
    }

    #[test]
    fn texts_for_people() {
        assert_eq!(parse_numbers("days", "60, 30 15").unwrap(), [60, 30, 15]);
        assert!(
            parse_numbers("days", "60, x")
                .unwrap_err()
                .starts_with("days")
        );
        assert_eq!(
            query_string(&[("q", "a b&c"), ("empty", ""), ("m", "2026-11")]),
            "?q=a%20b%26c&m=2026-11"
        );
        let svg = qr_svg("otpauth://totp/Gatehouse:alice?secret=ABC");
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"));
    }
}
