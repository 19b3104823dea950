//! The user portal at `/my/` (SPEC §17): a user signs in with their own
//! password and second factor (or, inside an enrollment window, the
//! password alone to enroll) and manages their own factors. Its session
//! cookie (`gatehouse_portal`, path `/my/`) is apart from the
//! administrators'; forms carry the session's CSRF token like the
//! panel's. Works without JavaScript; the phone's web app (`/push/`) is
//! where a phone makes its key.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::wire::local_time;
use askama::Template;
use axum::extract::{ConnectInfo, FromRequest, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use gatehouse_core::portal::{PORTAL_COOKIE, PORTAL_SESSION_LIFETIME, PortalError, PortalScope};
use gatehouse_core::store::PortalSessionRecord;
use serde::Deserialize;

use crate::auth::{checked_form, client_address, cookie, cookie_header, csrf_matches};
use crate::forms::qr_svg;
use crate::pages::{DoneQuery, Flash, page, redirect_done};
use crate::state::Panel;

/// Where the portal lives.
pub const PORTAL_PATH: &str = "/my/";

pub(crate) fn routes() -> Router<Arc<Panel>> {
    Router::new()
        .route(
            "/my",
            get(|| async { crate::pages::see_other(PORTAL_PATH) }),
        )
        .route(PORTAL_PATH, get(home))
        .route("/my/sign-in", post(sign_in))
        .route("/my/sign-out", post(sign_out))
        .route("/my/totp", post(start_totp))
        .route("/my/totp/confirm", post(confirm_totp))
        .route("/my/phones/link", post(phone_link))
        .route("/my/phones/remove", post(remove_phone))
}

#[derive(Template)]
#[template(path = "my.html")]
struct MyPage {
    flash: Flash,
    /// `None`: the sign-in form.
    user: Option<UserView>,
}

struct UserView {
    name: String,
    display_name: String,
    csrf: String,
    enroll_only: bool,
    /// Enrolled at, last used.
    totp: Option<(String, String)>,
    phones: Vec<PhoneView>,
    pending: Option<PendingView>,
    link: Option<LinkView>,
    required: bool,
}

struct PhoneView {
    id: String,
    label: String,
    enrolled_at: String,
    last_used: String,
}

/// When a factor was last used, as shown.
fn last_used(
    at: Option<gatehouse_license::jiff::Timestamp>,
    zone: &gatehouse_license::jiff::tz::TimeZone,
) -> String {
    at.map_or_else(|| "never".to_string(), |at| local_time(at, zone))
}

struct PendingView {
    qr_svg: String,
    uri: String,
    secret: String,
}

struct LinkView {
    qr_svg: String,
    link: String,
    expires_at: String,
}

/// A portal form from a signed-in user whose `csrf` field matched the
/// session's: the only way a portal handler gets its form.
struct UserForm<T>(PortalSessionRecord, T);

impl<T: serde::de::DeserializeOwned> FromRequest<Arc<Panel>> for UserForm<T> {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        panel: &Arc<Panel>,
    ) -> Result<UserForm<T>, Response> {
        let session = session_of(panel, request.headers())
            .await
            .map_err(|error| refused(StatusCode::UNAUTHORIZED, error))?;
        let form = checked_form(request, panel, |csrf| csrf_matches(&session.csrf, csrf)).await?;
        Ok(UserForm(session, form))
    }
}

async fn session_of(
    panel: &Panel,
    headers: &HeaderMap,
) -> Result<PortalSessionRecord, PortalError> {
    let token = cookie(headers, PORTAL_COOKIE).ok_or(PortalError::SessionEnded)?;
    panel.gatehouse.portal_session(token).await
}

#[derive(Debug, Deserialize)]
struct NoFields {}

/// The portal while the license is expired or damaged: the sign-in form
/// saying so, and nothing else.
pub(crate) fn locked(message: &str) -> Response {
    page(
        StatusCode::FORBIDDEN,
        &MyPage {
            flash: Flash::Error(message.to_string()),
            user: None,
        },
    )
}

/// The sign-in form with `error`.
fn refused(status: StatusCode, error: PortalError) -> Response {
    let status = match error {
        PortalError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        PortalError::TooManyFromAddress(_)
        | PortalError::TooManyForAccount(_)
        | PortalError::TooManyEnrollments => StatusCode::TOO_MANY_REQUESTS,
        _ => status,
    };
    page(
        status,
        &MyPage {
            flash: Flash::Error(error.to_string()),
            user: None,
        },
    )
}

async fn home(
    State(panel): State<Arc<Panel>>,
    headers: HeaderMap,
    Query(query): Query<DoneQuery>,
) -> Response {
    match session_of(&panel, &headers).await {
        Ok(session) => {
            user_page(
                &panel,
                &session,
                StatusCode::OK,
                Flash::done(query.done),
                None,
            )
            .await
        }
        Err(PortalError::SessionEnded) => page(
            StatusCode::OK,
            &MyPage {
                flash: Flash::done(query.done),
                user: None,
            },
        ),
        Err(error) => refused(StatusCode::SERVICE_UNAVAILABLE, error),
    }
}

/// The signed-in user's page.
async fn user_page(
    panel: &Panel,
    session: &PortalSessionRecord,
    status: StatusCode,
    flash: Flash,
    link: Option<LinkView>,
) -> Response {
    let factors = match panel.gatehouse.portal_factors(session).await {
        Ok(factors) => factors,
        Err(error) => return refused(StatusCode::SERVICE_UNAVAILABLE, error),
    };
    let zone = panel.gatehouse.time_zone();
    let identity = &session.identity;
    page(
        status,
        &MyPage {
            flash,
            user: Some(UserView {
                name: identity.username.to_string(),
                display_name: identity.display_name.to_string(),
                csrf: session.csrf.clone(),
                enroll_only: session.scope == PortalScope::Enroll,
                totp: factors
                    .totp
                    .map(|(enrolled, used)| (local_time(enrolled, zone), last_used(used, zone))),
                phones: factors
                    .phones
                    .iter()
                    .map(|phone| PhoneView {
                        id: phone.id.clone(),
                        label: phone.label.clone(),
                        enrolled_at: local_time(phone.enrolled_at, zone),
                        last_used: last_used(phone.last_used, zone),
                    })
                    .collect(),
                pending: factors.pending.map(|pending| PendingView {
                    qr_svg: qr_svg(&pending.uri),
                    secret: pending.secret.to_base32(),
                    uri: pending.uri,
                }),
                link,
                required: factors.required,
            }),
        },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
    password: String,
    #[serde(default)]
    code: String,
}

async fn sign_in(
    State(panel): State<Arc<Panel>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let address = client_address(peer.ip(), &headers, &panel.settings.trusted_proxies);
    match panel
        .gatehouse
        .portal_sign_in(&form.username, &form.password, &form.code, address)
        .await
    {
        Ok(new) => {
            let cookie = cookie_header(
                PORTAL_COOKIE,
                PORTAL_PATH,
                &new.token,
                panel.settings.secure_cookies,
                PORTAL_SESSION_LIFETIME.unsigned_abs(),
            );
            (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, cookie),
                    (header::LOCATION, PORTAL_PATH.to_string()),
                ],
            )
                .into_response()
        }
        Err(error) => refused(StatusCode::UNAUTHORIZED, error),
    }
}

/// Back to the portal's sign-in form with the session cookie gone.
fn signed_out(panel: &Panel, done: &str) -> Response {
    let mut response = redirect_done(PORTAL_PATH, done);
    let cookie = cookie_header(
        PORTAL_COOKIE,
        PORTAL_PATH,
        "",
        panel.settings.secure_cookies,
        std::time::Duration::ZERO,
    );
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn sign_out(
    State(panel): State<Arc<Panel>>,
    UserForm(session, NoFields {}): UserForm<NoFields>,
) -> Response {
    match panel.gatehouse.portal_sign_out(&session).await {
        Ok(()) => signed_out(&panel, "Signed out."),
        Err(error) => refused(StatusCode::SERVICE_UNAVAILABLE, error),
    }
}

/// What an action's refusal shows: the user's page with the reason.
async fn action_refused(
    panel: &Panel,
    session: &PortalSessionRecord,
    error: PortalError,
) -> Response {
    let status = match error {
        PortalError::Unavailable => return refused(StatusCode::SERVICE_UNAVAILABLE, error),
        PortalError::SessionEnded => return refused(StatusCode::UNAUTHORIZED, error),
        PortalError::TooManyEnrollments => StatusCode::TOO_MANY_REQUESTS,
        PortalError::EnrollOnly | PortalError::LastFactor => StatusCode::FORBIDDEN,
        PortalError::NoSuchPhone => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    user_page(
        panel,
        session,
        status,
        Flash::Error(error.to_string()),
        None,
    )
    .await
}

async fn start_totp(
    State(panel): State<Arc<Panel>>,
    UserForm(session, NoFields {}): UserForm<NoFields>,
) -> Response {
    match panel.gatehouse.portal_start_totp(&session).await {
        // The pending secret is shown by the page from the session.
        Ok(_) => crate::pages::see_other(PORTAL_PATH),
        Err(error) => action_refused(&panel, &session, error).await,
    }
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

async fn confirm_totp(
    State(panel): State<Arc<Panel>>,
    UserForm(session, form): UserForm<CodeForm>,
) -> Response {
    match panel
        .gatehouse
        .portal_confirm_totp(&session, &form.code)
        .await
    {
        Ok(true) => signed_out(
            &panel,
            "Your authenticator app is enrolled. Log in to the network with your password and a code from it; sign in here with both to manage your factors.",
        ),
        Ok(false) => redirect_done(PORTAL_PATH, "Your authenticator app is enrolled."),
        Err(error) => action_refused(&panel, &session, error).await,
    }
}

async fn phone_link(
    State(panel): State<Arc<Panel>>,
    headers: HeaderMap,
    UserForm(session, NoFields {}): UserForm<NoFields>,
) -> Response {
    match panel.gatehouse.portal_phone_link(&session).await {
        Ok((token, secret)) => {
            let link = crate::wire::enrollment_link(
                &crate::api::phones::link_base(&panel, &headers),
                &secret,
            );
            let view = LinkView {
                qr_svg: qr_svg(&link),
                expires_at: local_time(token.expires_at, panel.gatehouse.time_zone()),
                link,
            };
            user_page(&panel, &session, StatusCode::OK, Flash::None, Some(view)).await
        }
        Err(error) => action_refused(&panel, &session, error).await,
    }
}

#[derive(Deserialize)]
struct PhoneForm {
    device: String,
}

async fn remove_phone(
    State(panel): State<Arc<Panel>>,
    UserForm(session, form): UserForm<PhoneForm>,
) -> Response {
    match panel
        .gatehouse
        .portal_remove_phone(&session, &form.device)
        .await
    {
        Ok(()) => redirect_done(PORTAL_PATH, "Phone removed."),
        Err(error) => action_refused(&panel, &session, error).await,
    }
}
