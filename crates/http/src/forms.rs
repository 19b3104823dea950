//! What the panel, the API and the CLI share: the Users table's query and
//! its cursors, the license request text, parsing of alarm thresholds and
//! TOTP modes, the QR code, the JSON lists of local users and clients, and
//! the test email.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::clients::{Network, RadiusClient};
use gatehouse_core::store::{SeatCursor, SeatOrder, SeatQuery, SeatRecord, SortValue};
use gatehouse_core::{LicenseView, SeatKey, TestMailError, TotpMode};
use gatehouse_license::Month;
use gatehouse_license::jiff::Timestamp;
use serde::Deserialize;

use crate::state::Panel;
use crate::wire::{ClientJson, LocalUserJson};

/// Rows per page of the Users table.
pub const PAGE_SIZE: u32 = 50;

/// The most rows one API page returns (`limit`).
pub const MAX_PAGE_SIZE: u32 = 1000;

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
         Current options:    {options}\n\
         Users this month:   {active}/{limit}\n\
         {heads}\
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
        options = crate::wire::options_text(&payload.options, payload.user_limit),
        heads = view
            .usage_heads
            .iter()
            .map(|(month, users, head)| format!(
                "Usage chain {month}:  {} (head), {users} users\n",
                gatehouse_core::tokens::hex(head)
            ))
            .collect::<String>(),
    )
}

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

pub(crate) fn decode_cursor(cursor: &str, order: SeatOrder) -> Option<SeatCursor> {
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

pub(crate) fn sort_name(order: SeatOrder) -> &'static str {
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

/// What the panel says after a second factor was removed, with the
/// warning when its user is left without one.
pub(crate) fn removal_notice(done: String, removed: &gatehouse_core::Removed) -> String {
    match removed.warning() {
        Some(warning) => format!("{done} Warning: {warning}."),
        None => done,
    }
}

/// An audit listing's filters as typed (the panel's form, the API's query,
/// the CLI's options), checked: `since` is a day (`2026-11-01`, midnight
/// in the license time zone) or an RFC 3339 time.
pub fn audit_query(
    since: Option<&str>,
    actor: Option<&str>,
    action: Option<&str>,
    before: Option<u64>,
    limit: Option<u32>,
    zone: &gatehouse_license::jiff::tz::TimeZone,
) -> Result<gatehouse_core::audit::AuditQuery, String> {
    fn blank(value: Option<&str>) -> Option<&str> {
        value.map(str::trim).filter(|v| !v.is_empty())
    }
    let since = match blank(since) {
        None => None,
        Some(text) => Some(match text.parse::<Timestamp>() {
            Ok(at) => at,
            Err(_) => text
                .parse::<gatehouse_license::jiff::civil::Date>()
                .ok()
                .map(|day| gatehouse_license::calendar::start_of_day(day, zone))
                .ok_or_else(|| {
                    format!("since: {text:?} is neither a day (2026-11-01) nor a time (2026-11-01T08:00:00Z)")
                })?,
        }),
    };
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > gatehouse_core::audit::MAX_LISTED {
        return Err(format!(
            "limit: from 1 to {}",
            gatehouse_core::audit::MAX_LISTED
        ));
    }
    Ok(gatehouse_core::audit::AuditQuery {
        since,
        actor: blank(actor).map(str::to_string),
        action: blank(action).map(str::to_string),
        before,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_core::SeatKey;
    use gatehouse_core::store::{SeatOrder, SortValue};
    use gatehouse_license::Month;
    use gatehouse_license::jiff::Timestamp;

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
