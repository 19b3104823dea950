//! Who is asking: panel sessions (cookie + CSRF token) and API tokens, and
//! the address a request comes from (behind trusted proxies, the one they
//! name). The limit on failed sign-ins is the store's
//! (`Gatehouse::admin_sign_in`), shared by every node.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::Username;
use gatehouse_core::clients::Network;
use subtle::ConstantTimeEq as _;

use crate::state::Panel;
use crate::wire::ErrorJson;

/// The session cookie.
pub const SESSION_COOKIE: &str = "gatehouse_session";

/// Header carrying the CSRF token on unsafe API calls made with a session.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated administrator.
#[derive(Debug, Clone)]
pub struct Admin {
    pub name: Username,
    pub via: Via,
}

/// How the administrator authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// A panel session; forms and unsafe API calls must carry `csrf`.
    Session { token: String, csrf: String },
    /// An API token (`Authorization: Bearer ght_…`); no cookies, no CSRF.
    Token,
}

impl Admin {
    /// The CSRF token forms must carry (empty for API tokens).
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token => "",
        }
    }

    /// Checks a CSRF token sent with a form or an unsafe API call.
    pub fn check_csrf(&self, provided: &str) -> Result<(), CsrfRefused> {
        match &self.via {
            Via::Token => Ok(()),
            Via::Session { csrf, .. } => csrf_matches(csrf, provided),
        }
    }
}

/// A panel form from a signed-in administrator whose `csrf` field matched
/// the session's: the only way a form handler gets its form, so no handler
/// can forget the check. The token is checked before the rest of the form
/// is read (a form without it is 403, whatever else it holds).
#[derive(Debug)]
pub struct AdminForm<T>(pub Admin, pub T);

impl<T> axum::extract::FromRequest<Arc<Panel>> for AdminForm<T>
where
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        panel: &Arc<Panel>,
    ) -> Result<AdminForm<T>, Response> {
        let (mut parts, body) = request.into_parts();
        let admin = Admin::from_request_parts(&mut parts, panel)
            .await
            .map_err(IntoResponse::into_response)?;
        let request = axum::extract::Request::from_parts(parts, body);
        let form = checked_form(request, panel, |csrf| admin.check_csrf(csrf)).await?;
        Ok(AdminForm(admin, form))
    }
}

/// The body of a form whose `csrf` field `check` accepts, read as `T`: the
/// token is checked before the rest of the form is read (a form without
/// it is 403, whatever else it holds).
pub(crate) async fn checked_form<T: serde::de::DeserializeOwned>(
    request: axum::extract::Request,
    panel: &Arc<Panel>,
    check: impl FnOnce(&str) -> Result<(), CsrfRefused>,
) -> Result<T, Response> {
    #[derive(serde::Deserialize)]
    struct Token {
        #[serde(default)]
        csrf: String,
    }
    let bytes = <axum::body::Bytes as axum::extract::FromRequest<_>>::from_request(request, panel)
        .await
        .map_err(IntoResponse::into_response)?;
    let token: Token =
        serde_urlencoded::from_bytes(&bytes).map_err(|_| CsrfRefused.into_response())?;
    check(&token.csrf).map_err(IntoResponse::into_response)?;
    serde_urlencoded::from_bytes(&bytes).map_err(|error| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid form: {error}"),
        )
            .into_response()
    })
}

/// Whether `provided` is `expected` (a CSRF token), in constant time.
pub(crate) fn csrf_matches(expected: &str, provided: &str) -> Result<(), CsrfRefused> {
    if bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) {
        Ok(())
    } else {
        Err(CsrfRefused)
    }
}

/// A form with nothing but its CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct NoFields {}

/// A form or unsafe call without the session's CSRF token: 403.
#[derive(Debug, Clone, Copy)]
pub struct CsrfRefused;

impl IntoResponse for CsrfRefused {
    fn into_response(self) -> Response {
        forbidden("missing or wrong CSRF token; reload the page and try again")
    }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// A 403 answer, JSON or text by the kind of request.
pub fn forbidden(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(ErrorJson {
            error: message.to_string(),
        }),
    )
        .into_response()
}

/// The page where an administrator replaces their password.
pub const ACCOUNT_PATH: &str = "/account";

/// What a session whose password must change may reach.
const MUST_CHANGE_PATHS: &[&str] = &[ACCOUNT_PATH, "/account/password", "/logout"];

/// Why a request is not authenticated.
#[derive(Debug)]
pub enum AuthRejection {
    /// A session of an administrator who must first replace the
    /// first-start password.
    MustChangePassword {
        api: bool,
    },
    /// A browser: go and sign in.
    SignIn(String),
    /// An API client: 401.
    Unauthorized,
    /// A session's unsafe API call without the CSRF header.
    Csrf,
    Unavailable,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::SignIn(next) => Redirect::to(&format!("/login?next={}", encode_next(&next))).into_response(),
            AuthRejection::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(ErrorJson {
                    error: "authentication required: a panel session or an API token (Authorization: Bearer ght_...)".into(),
                }),
            )
                .into_response(),
            AuthRejection::Csrf => forbidden("missing or wrong X-CSRF-Token header"),
            AuthRejection::MustChangePassword { api: true } => forbidden(
                "replace the first-start password on the panel's Account page first",
            ),
            AuthRejection::MustChangePassword { api: false } => {
                Redirect::to(ACCOUNT_PATH).into_response()
            }
            AuthRejection::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(ErrorJson {
                    error: "database unavailable, please try again later".into(),
                }),
            )
                .into_response(),
        }
    }
}

/// Only a path of the panel itself may be a `next` target (no open
/// redirect): it starts with one `/`, and holds only visible ASCII other
/// than a backslash — no control characters or whitespace (browsers drop a
/// tab or newline, so `/<tab>/evil.example` would become `//evil.example`),
/// no `//` at its start (another host), no scheme. Anything else leads to
/// the License page.
pub fn safe_next(next: &str) -> &str {
    let bytes = next.as_bytes();
    let visible = bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'\\');
    if visible && bytes.first() == Some(&b'/') && bytes.get(1) != Some(&b'/') {
        next
    } else {
        "/license"
    }
}

fn encode_next(next: &str) -> String {
    let mut out = String::new();
    for byte in next.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The value of a cookie, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<Arc<Panel>> for Admin {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        panel: &Arc<Panel>,
    ) -> Result<Admin, AuthRejection> {
        // Inside a nested router the URI has lost its prefix; the original
        // tells an API call from a page.
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |original| original.0.clone());
        let api = is_api(original.path());
        if let Some(token) = bearer(&parts.headers) {
            return match panel.gatehouse.admin_for_token(token).await {
                Ok(Some(name)) => {
                    let id =
                        gatehouse_core::admin::token_id(&gatehouse_core::tokens::token_hash(token));
                    gatehouse_core::audit::set_who(format!("token:{name}/{id}"));
                    Ok(Admin {
                        name,
                        via: Via::Token,
                    })
                }
                Ok(None) => Err(AuthRejection::Unauthorized),
                Err(error) => {
                    tracing::error!(%error, "could not check an API token");
                    Err(AuthRejection::Unavailable)
                }
            };
        }
        let rejection = || {
            if api {
                AuthRejection::Unauthorized
            } else {
                let next = original
                    .path_and_query()
                    .map_or("/license", |pq| pq.as_str());
                AuthRejection::SignIn(next.to_string())
            }
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(rejection());
        };
        let session = match panel.gatehouse.admin_session(token).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(rejection()),
            Err(error) => {
                tracing::error!(%error, "could not check a panel session");
                return Err(AuthRejection::Unavailable);
            }
        };
        // The first-start password is replaced before anything else: the
        // Account page and signing out are all a session may reach.
        if session.must_change_password && !MUST_CHANGE_PATHS.contains(&original.path()) {
            return Err(AuthRejection::MustChangePassword { api });
        }
        gatehouse_core::audit::set_who(format!("admin:{}", session.admin));
        let admin = Admin {
            name: session.admin,
            via: Via::Session {
                token: token.to_string(),
                csrf: session.csrf,
            },
        };
        let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if api && unsafe_method {
            let provided = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            admin
                .check_csrf(provided)
                .map_err(|_| AuthRejection::Csrf)?;
        }
        Ok(admin)
    }
}

/// The address a request comes from: the peer's, or — when the peer is one
/// of `trusted` (`http.trusted_proxies`) — the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Without trusted
/// proxies the header is ignored (anyone can send it).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|network| network.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    let mut address = peer;
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(hop) => {
                address = hop;
                if !is_trusted(hop) {
                    break;
                }
            }
            // Garbage from the client: stop at the last address a trusted
            // proxy vouched for.
            Err(_) => break,
        }
    }
    address
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(token: &str, secure: bool, max_age: Duration) -> String {
    cookie_header(SESSION_COOKIE, "/", token, secure, max_age)
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    cookie_header(SESSION_COOKIE, "/", "", secure, Duration::ZERO)
}

/// `Set-Cookie` of a session cookie `name` for `path` (an empty `token`
/// and no age remove it): never readable by scripts, never sent by another
/// site's requests.
pub fn cookie_header(
    name: &str,
    path: &str,
    token: &str,
    secure: bool,
    max_age: Duration,
) -> String {
    format!(
        "{name}={token}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_targets_stay_on_this_site() {
        assert_eq!(safe_next("/users?month=2026-11"), "/users?month=2026-11");
        assert_eq!(safe_next("/push-devices"), "/push-devices");
        for hostile in [
            "https://evil.example/",
            "https:evil.example",
            "//evil.example/",
            "/\\evil.example",
            "/\t/evil.example",
            "\t//evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "/\u{3000}/evil.example",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(safe_next(hostile), "/license", "{hostile}");
        }
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "theme=dark; gatehouse_session=abc123; other=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc123"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxy: Network = "10.0.0.0/8".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7, 10.0.0.2".parse().unwrap(),
        );
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            client_address(peer, &headers, std::slice::from_ref(&proxy)),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "the right-most address no trusted proxy holds"
        );
        assert_eq!(
            client_address(peer, &headers, &[]),
            peer,
            "no trusted proxies"
        );
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            client_address(stranger, &headers, std::slice::from_ref(&proxy)),
            stranger,
            "a header from a stranger is ignored"
        );
        headers.insert("x-forwarded-for", "junk, 10.0.0.3".parse().unwrap());
        assert_eq!(
            client_address(peer, &headers, std::slice::from_ref(&proxy)),
            "10.0.0.3".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn session_cookies_are_http_only_and_same_site() {
        let cookie = session_cookie("t0k3n", true, Duration::from_secs(60));
        assert_eq!(
            cookie,
            "gatehouse_session=t0k3n; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert!(!session_cookie("t", false, Duration::from_secs(1)).contains("Secure"));
    }
}
