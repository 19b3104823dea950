//! JSON shapes of the API (and of the CLI's `--json` output), built from
//! the core's types. Times are RFC 3339 with the license zone's offset.

use gatehouse_core::Username;
use gatehouse_core::admin::{AdminSummary, TokenSummary};
use gatehouse_core::clients::RadiusClient;
use gatehouse_core::enrollment::{EnrollmentWindow, WindowScope};
use gatehouse_core::policy::{Factors, PolicyText};
use gatehouse_core::push::Decision;
use gatehouse_core::seat_rules::SeatBudget;
use gatehouse_core::store::{
    AlarmRecord, Delivery, DeviceRecord, LocalGroup, LocalUserRecord, LockRecord, PushRecord,
    RefusedUser, SeatRecord,
};
use gatehouse_core::totp::TotpMode;
use gatehouse_core::{Gatehouse, LicenseView, ListedMark, PolicySaveError, PolicyTest};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_license::{LicenseOptions, LicensePayload, LicenseSource, words};
use serde::{Deserialize, Serialize};

/// `2026-11-28T16:25:04+03:00`: a time in the license zone.
pub fn rfc3339(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// `2026-11-28 16:25:04`: a time in the license zone, for people.
pub fn local_time(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// RFC 4180 CSV with a header row (CRLF line ends). Cells a spreadsheet
/// would run as a formula (leading `=`, `+`, `-`, `@`, tab or carriage
/// return) are prefixed with `'`.
pub fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    csv_row(&mut out, header);
    for row in rows {
        csv_row(&mut out, row);
    }
    out
}

/// Appends one CSV line (RFC 4180, CRLF) to `out`. Cells that a spreadsheet
/// would read as a formula are prefixed with `'`.
pub fn csv_row<S: AsRef<str>>(out: &mut String, cells: &[S]) {
    for (index, cell) in cells.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let text = cell.as_ref();
        let defuse = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
        let quote = text.contains([',', '"', '\n', '\r']);
        if quote {
            out.push('"');
        }
        if defuse {
            out.push('\'');
        }
        if quote {
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(text);
        }
    }
    out.push_str("\r\n");
}

/// The license in force, as `license show --json` and `GET /api/v1/license`
/// give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseJson {
    pub company: String,
    pub dossier: String,
    pub app_key: String,
    pub license_id: String,
    pub license_type: String,
    pub user_limit: u32,
    pub active_users: u32,
    pub support_end_date: String,
    pub push_subscription: String,
    pub status: String,
    pub timezone: String,
    pub days_remaining: i32,
    pub issued_at: String,
    pub month: String,
    pub demo: bool,
    /// What the key grants beyond the limit (zero: not granted).
    pub options: OptionsJson,
    /// The most users counted for the limit: the limit plus the overage
    /// allowance.
    pub seat_cap: u32,
    /// Users counted this month past the user limit.
    pub users_over_limit: u32,
    /// The last day of the grace, when the key grants one.
    pub grace_end_date: Option<String>,
    /// Whole days of grace left, while in it.
    pub grace_days_remaining: Option<i32>,
}

/// A key's options (SPEC §16), each 0 when not granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OptionsJson {
    pub overage_percent: u32,
    pub grace_days: u32,
    pub exempt_seats: u32,
    pub reserved_seats: u32,
}

impl From<&LicenseOptions> for OptionsJson {
    fn from(options: &LicenseOptions) -> OptionsJson {
        OptionsJson {
            overage_percent: options.overage_percent,
            grace_days: options.grace_days,
            exempt_seats: options.exempt_seats,
            reserved_seats: options.reserved_seats,
        }
    }
}

impl LicenseJson {
    pub fn new(view: &LicenseView, zone: &TimeZone) -> LicenseJson {
        let payload = &view.license.payload;
        LicenseJson {
            company: payload.company.clone(),
            dossier: payload.dossier.clone(),
            app_key: view.app_key.to_string(),
            license_id: payload.license_id.clone(),
            license_type: words::license_type(payload.license_type).to_string(),
            user_limit: payload.user_limit,
            active_users: view.active_users,
            support_end_date: payload.support_end.to_string(),
            push_subscription: words::push_subscription(payload.push_subscription).to_string(),
            status: view.status.as_str().to_string(),
            timezone: view.time_zone.clone(),
            days_remaining: view.days_remaining,
            issued_at: rfc3339(payload.issued_at, zone),
            month: view.month.to_string(),
            demo: view.license.source == LicenseSource::BuiltInDemo,
            options: OptionsJson::from(&payload.options),
            seat_cap: payload
                .user_limit
                .saturating_add(payload.options.overage_seats(payload.user_limit)),
            users_over_limit: view.active_users.saturating_sub(payload.user_limit),
            grace_end_date: (payload.options.grace_days > 0)
                .then(|| view.license.grace_end().to_string()),
            grace_days_remaining: view.grace_days_remaining,
        }
    }
}

/// What a key would change, before it is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicensePreviewJson {
    pub company: String,
    pub dossier: String,
    pub license_id: String,
    pub license_type: String,
    pub user_limit: u32,
    pub support_end_date: String,
    pub push_subscription: String,
    pub issued_at: String,
    /// Users counted this month, to compare with the new limit.
    pub active_users: u32,
    pub current_user_limit: u32,
    pub current_support_end_date: String,
    /// Whether users counted this month exceed the new limit (they stay in;
    /// new users are refused until next month).
    pub over_new_limit: bool,
    /// What the new key grants beyond its limit (zero: not granted).
    pub options: OptionsJson,
    /// The same in words, `; `-separated; `none` without options.
    pub options_text: String,
}

impl LicensePreviewJson {
    pub fn new(new: &LicensePayload, current: &LicenseView, zone: &TimeZone) -> LicensePreviewJson {
        LicensePreviewJson {
            company: new.company.clone(),
            dossier: new.dossier.clone(),
            license_id: new.license_id.clone(),
            license_type: words::license_type(new.license_type).to_string(),
            user_limit: new.user_limit,
            support_end_date: new.support_end.to_string(),
            push_subscription: words::push_subscription(new.push_subscription).to_string(),
            issued_at: rfc3339(new.issued_at, zone),
            active_users: current.active_users,
            current_user_limit: current.license.payload.user_limit,
            current_support_end_date: current.license.payload.support_end.to_string(),
            over_new_limit: current.active_users > new.user_limit,
            options: OptionsJson::from(&new.options),
            options_text: options_text(&new.options, new.user_limit),
        }
    }
}

/// A key's options in one line: `Overage Allowance 10% (…); Grace Period
/// 14 days …`, or `none`.
pub fn options_text(options: &LicenseOptions, user_limit: u32) -> String {
    let rows = words::options(options, user_limit);
    if rows.is_empty() {
        return "none".into();
    }
    rows.iter()
        .map(|(label, value)| format!("{label} {value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A license key sent to be previewed or installed.
#[derive(Debug, Clone, Deserialize)]
pub struct LicenseKeyJson {
    pub key: String,
}

/// The Users table's columns: JSON keys and CSV header alike.
pub const USER_COLUMNS: [&str; 7] = [
    "username",
    "display_name",
    "source",
    "first_seen",
    "last_login",
    "last_client",
    "seat",
];

/// One row of the Users table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserJson {
    pub username: String,
    pub display_name: String,
    pub source: String,
    pub first_seen: String,
    pub last_login: String,
    pub last_client: String,
    /// `within` the user limit, `overage` or `reserved` (break-glass) past
    /// it (SPEC §16).
    pub seat: String,
}

impl UserJson {
    pub fn new(seat: &SeatRecord, zone: &TimeZone) -> UserJson {
        UserJson {
            username: seat.username.clone(),
            display_name: seat.display_name.clone(),
            source: seat.source.as_str().to_string(),
            first_seen: rfc3339(seat.first_seen, zone),
            last_login: rfc3339(seat.last_login, zone),
            last_client: seat.last_client.clone(),
            seat: seat.kind.as_str().to_string(),
        }
    }

    /// The row in [`USER_COLUMNS`] order (the CSV downloads).
    pub fn cells(self) -> [String; 7] {
        [
            self.username,
            self.display_name,
            self.source,
            self.first_seen,
            self.last_login,
            self.last_client,
            self.seat,
        ]
    }
}

/// A user marked exempt or break-glass (SPEC §16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatMarkJson {
    pub username: String,
    /// `exempt` or `reserved` (break-glass).
    pub mark: String,
    pub marked_at: String,
    pub marked_by: String,
    /// Whether the license in force honours the mark (a key granting fewer
    /// honours only the first ones).
    pub in_force: bool,
}

impl SeatMarkJson {
    pub fn new(listed: &ListedMark, zone: &TimeZone) -> SeatMarkJson {
        SeatMarkJson {
            username: listed.marked.username.clone(),
            mark: listed.marked.mark.as_str().to_string(),
            marked_at: rfc3339(listed.marked.marked_at, zone),
            marked_by: listed.marked.marked_by.clone(),
            in_force: listed.in_force,
        }
    }
}

/// The columns of `gatehouse seats list`: JSON keys and CSV header alike.
pub const SEAT_MARK_COLUMNS: [&str; 5] = ["username", "mark", "marked_at", "marked_by", "in_force"];

/// A seat budget (SPEC §16) and its users this month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatBudgetJson {
    pub name: String,
    pub size: u32,
    /// Users counted against it this month.
    pub used: u32,
    pub groups: Vec<String>,
    pub clients: Vec<String>,
    pub alarm_percent: Vec<u32>,
}

impl SeatBudgetJson {
    pub fn new(budget: &SeatBudget, used: u32) -> SeatBudgetJson {
        SeatBudgetJson {
            name: budget.name.clone(),
            size: budget.size,
            used,
            groups: budget.groups.clone(),
            clients: budget.clients.clone(),
            alarm_percent: budget.alarm_percent.clone(),
        }
    }
}

/// A seat budget to save, as the API takes it (the name is in the path).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatBudgetRequestJson {
    pub size: u32,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub clients: Vec<String>,
    #[serde(default)]
    pub alarm_percent: Vec<u32>,
}

impl SeatBudgetRequestJson {
    pub fn budget(self, name: &str) -> SeatBudget {
        SeatBudget {
            name: name.to_string(),
            size: self.size,
            groups: self.groups,
            clients: self.clients,
            alarm_percent: self.alarm_percent,
        }
    }
}

/// An open enrollment window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrollmentWindowJson {
    /// Whom it is for, in words: `user alice`, `group local:staff`,
    /// `everyone`.
    #[serde(rename = "for")]
    pub scope: String,
    pub user: Option<String>,
    pub group: Option<String>,
    pub all: bool,
    pub opens_at: String,
    pub closes_at: String,
    pub opened_by: String,
    /// When the opening asked for them: the invitations queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitations: Option<InvitationsJson>,
}

impl EnrollmentWindowJson {
    pub fn new(window: &EnrollmentWindow, zone: &TimeZone) -> EnrollmentWindowJson {
        let (user, group) = match &window.scope {
            WindowScope::User(name) => (Some(name.clone()), None),
            WindowScope::Group(key) => (None, Some(key.clone())),
            WindowScope::Everyone => (None, None),
        };
        EnrollmentWindowJson {
            scope: window.scope.to_string(),
            all: window.scope == WindowScope::Everyone,
            user,
            group,
            opens_at: rfc3339(window.opens_at, zone),
            closes_at: rfc3339(window.closes_at, zone),
            opened_by: window.opened_by.clone(),
            invitations: None,
        }
    }
}

/// Whom a window is for, as the API and the panel's form take it: exactly
/// one of a user, a group or everyone; `days` when opening.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentScopeJson {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    pub days: Option<u32>,
    /// When opening: email the users it covers an invitation.
    #[serde(default)]
    pub email: bool,
}

/// The enrollment invitations a window's opening queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvitationsJson {
    /// `name <address>`, one per invitation queued.
    pub sent: Vec<String>,
    /// Users with no email address.
    pub without_address: Vec<String>,
    /// Users who already have a second factor (not invited).
    pub enrolled: Vec<String>,
}

impl InvitationsJson {
    pub fn new(invitations: gatehouse_core::Invitations) -> InvitationsJson {
        InvitationsJson {
            sent: invitations.sent,
            without_address: invitations.without_address,
            enrolled: invitations.enrolled,
        }
    }
}

impl EnrollmentScopeJson {
    /// The scope named, or why it is not one.
    pub fn scope(&self) -> Result<WindowScope, String> {
        let user = self
            .user
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let group = self
            .group
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty());
        match (user, group, self.all) {
            (Some(user), None, false) => WindowScope::user(user).map_err(|e| e.to_string()),
            (None, Some(group), false) => WindowScope::group(group).map_err(|e| e.to_string()),
            (None, None, true) => Ok(WindowScope::Everyone),
            _ => Err("name exactly one of a user, a group or all".to_string()),
        }
    }
}

/// A mark to make, as the API takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatMarkRequestJson {
    /// `exempt` or `reserved`.
    pub mark: String,
}

/// A user turned away for the limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedJson {
    pub username: String,
    pub first_refused: String,
    pub last_refused: String,
    pub attempts: u32,
    pub last_client: String,
}

impl RefusedJson {
    pub fn new(refused: &RefusedUser, zone: &TimeZone) -> RefusedJson {
        RefusedJson {
            username: refused.username.clone(),
            first_refused: rfc3339(refused.first_refused, zone),
            last_refused: rfc3339(refused.last_refused, zone),
            attempts: refused.attempts,
            last_client: refused.last_client.clone(),
        }
    }
}

/// A local account (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalUserJson {
    pub username: String,
    pub display_name: String,
    pub enabled: bool,
    pub created_at: String,
    /// `challenge`, `append`, or `null` without TOTP.
    pub totp: Option<String>,
    /// Logs in with the password alone while a second factor is required.
    pub second_factor_exempt: bool,
    /// Local groups (`local:<name>` in a policy).
    pub groups: Vec<String>,
}

impl LocalUserJson {
    pub fn new(user: &LocalUserRecord, totp: Option<TotpMode>, zone: &TimeZone) -> LocalUserJson {
        LocalUserJson {
            username: user.username.to_string(),
            display_name: user.display_name.clone(),
            enabled: user.enabled,
            created_at: rfc3339(user.created_at, zone),
            totp: totp.map(|mode| mode.as_str().to_string()),
            second_factor_exempt: user.second_factor_exempt,
            groups: user.groups.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A local group and its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalGroupJson {
    pub name: String,
    /// As policies name it: `local:<name>`.
    pub key: String,
    pub members: Vec<String>,
    pub created_at: String,
}

impl LocalGroupJson {
    pub fn new(group: &LocalGroup, members: &[Username], zone: &TimeZone) -> LocalGroupJson {
        LocalGroupJson {
            name: group.name.to_string(),
            key: format!("local:{}", group.name),
            members: members.iter().map(ToString::to_string).collect(),
            created_at: rfc3339(group.created_at, zone),
        }
    }
}

/// A user with failures in a row or a lock (SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockoutJson {
    pub username: String,
    /// The seat key the lock is kept under (`local:…`, `directory:…`).
    pub seat: String,
    /// Locked now.
    pub locked: bool,
    /// When the lock ends (RFC 3339), if locked now.
    pub locked_until: Option<String>,
    /// Locks in a row (each doubles the next).
    pub locks: u32,
    pub otp_failures: u32,
    pub password_failures: u32,
    pub last_failure_at: String,
}

impl LockoutJson {
    /// `records` as shown at one moment: locked now or not.
    pub fn list(records: &[LockRecord], now: Timestamp, zone: &TimeZone) -> Vec<LockoutJson> {
        records
            .iter()
            .map(|record| LockoutJson::new(record, now, zone))
            .collect()
    }

    pub fn new(record: &LockRecord, now: Timestamp, zone: &TimeZone) -> LockoutJson {
        let locked = record.locked_at(now);
        LockoutJson {
            username: record.username.clone(),
            seat: record.seat.as_str().to_string(),
            locked,
            locked_until: record
                .locked
                .filter(|_| locked)
                .map(|(_, until)| rfc3339(until, zone)),
            locks: record.locks,
            otp_failures: record.otp_failures,
            password_failures: record.password_failures,
            last_failure_at: rfc3339(record.last_failure_at, zone),
        }
    }
}

/// A RADIUS client (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientJson {
    pub name: String,
    pub networks: Vec<String>,
    pub require_message_authenticator: bool,
    pub limit_proxy_state: bool,
    /// `config` (the TOML file) or `database` (`client add`, the panel).
    pub source: String,
}

impl ClientJson {
    pub fn new(client: &RadiusClient, source: &str) -> ClientJson {
        ClientJson {
            name: client.name.clone(),
            networks: client.networks.iter().map(ToString::to_string).collect(),
            require_message_authenticator: client.require_message_authenticator,
            limit_proxy_state: client.limit_proxy_state,
            source: source.to_string(),
        }
    }
}

/// One alarm of the alarm history (`gatehouse alarm history --json`,
/// `GET /api/v1/alarms/history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmJson {
    pub id: i64,
    /// `support_end`, `user_limit` or `expired`.
    pub kind: String,
    /// The alarm text, also the email subject.
    pub subject: String,
    pub recipients: Vec<String>,
    pub raised_at: String,
    /// `queued`, `sent`, `failing` (queued, the last attempt failed),
    /// `no_recipients` or `superseded` (fired with a more urgent alarm of
    /// its kind, which was sent instead).
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
}

impl AlarmJson {
    pub fn new(alarm: &AlarmRecord, zone: &TimeZone) -> AlarmJson {
        AlarmJson {
            id: alarm.id,
            kind: alarm.kind.as_str().to_string(),
            subject: alarm.subject.clone(),
            recipients: alarm.recipients.clone(),
            raised_at: rfc3339(alarm.created_at, zone),
            state: alarm_state(alarm).to_string(),
            attempts: alarm.attempts,
            last_error: alarm.last_error.clone(),
            sent_at: alarm.sent_at.map(|at| rfc3339(at, zone)),
        }
    }
}

/// `queued`, `sent`, `failing`, `no_recipients` or `superseded`.
pub fn alarm_state(alarm: &AlarmRecord) -> &'static str {
    match (alarm.delivery, &alarm.last_error) {
        (Delivery::Queued, Some(_)) => "failing",
        (delivery, _) => delivery.as_str(),
    }
}

/// An error answer: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorJson {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let text = csv(
            &["a", "b"],
            &[
                vec!["x,y".into(), "say \"hi\"".into()],
                vec!["=1+1".into(), "-2".into()],
                vec!["@a,b".into(), String::new()],
            ],
        );
        assert_eq!(
            text,
            "a,b\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n'=1+1,'-2\r\n\"'@a,b\",\r\n"
        );
    }

    #[test]
    fn times_are_shown_in_the_license_zone() {
        let zone = TimeZone::get("Europe/Istanbul").unwrap();
        let at: Timestamp = "2026-11-28T13:25:04Z".parse().unwrap();
        assert_eq!(local_time(at, &zone), "2026-11-28 16:25:04");
        assert_eq!(rfc3339(at, &zone), "2026-11-28T16:25:04+03:00");
    }
}

/// An enrolled phone (`gatehouse push devices --json`,
/// `GET /api/v1/push/devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceJson {
    pub id: String,
    /// The login name it was enrolled under.
    pub user: String,
    /// The user's stable key (`local:alice`, `directory:<id>`).
    pub seat: String,
    pub label: String,
    pub enrolled_at: String,
}

impl DeviceJson {
    pub fn new(device: &DeviceRecord, zone: &TimeZone) -> DeviceJson {
        DeviceJson {
            id: device.id.clone(),
            user: device.username.clone(),
            seat: device.seat.as_str().to_string(),
            label: device.label.clone(),
            enrolled_at: rfc3339(device.created_at, zone),
        }
    }
}

/// A push and its outcome (`gatehouse push history --json`,
/// `GET /api/v1/push/history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushJson {
    pub id: String,
    pub user: String,
    pub client: String,
    pub source: Option<String>,
    pub sent_at: String,
    pub expires_at: String,
    /// `approved`, `denied`, `waiting` or `expired` (no answer in time).
    pub outcome: String,
    /// The device that answered.
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
}

impl PushJson {
    pub fn new(record: &PushRecord, now: Timestamp, zone: &TimeZone) -> PushJson {
        let push = &record.push;
        let outcome = match push.decided {
            Some(Decision::Approve) => "approved",
            Some(Decision::Deny) => "denied",
            None if now < push.expires_at => "waiting",
            None => "expired",
        };
        PushJson {
            id: push.id.clone(),
            user: push.user.clone(),
            client: push.client.clone(),
            source: push.source.clone(),
            sent_at: rfc3339(push.created_at, zone),
            expires_at: rfc3339(push.expires_at, zone),
            outcome: outcome.to_string(),
            decided_by: record.decided_by.clone(),
            decided_at: record.decided_at.map(|at| rfc3339(at, zone)),
        }
    }
}

/// A one-time enrollment link (`gatehouse push enroll`,
/// `POST /api/v1/push/enrollments`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrollmentJson {
    pub user: String,
    /// Open on the phone (or scan its QR code); works once.
    pub link: String,
    pub expires_at: String,
}

/// The link a phone opens to enroll: the web app, the token in the
/// fragment (never sent to the server in the URL, so never in a log).
pub fn enrollment_link(base: &str, token: &str) -> String {
    format!("{}/push/#enroll={token}", base.trim_end_matches('/'))
}

/// A reply attribute of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyJson {
    pub attribute: String,
    pub value: String,
}

impl ReplyJson {
    fn list<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<ReplyJson> {
        pairs
            .map(|(attribute, value)| ReplyJson {
                attribute: attribute.to_string(),
                value: value.to_string(),
            })
            .collect()
    }
}

/// A list a policy matches on, or `any` when it is empty.
pub fn any(items: &[String], separator: &str) -> String {
    if items.is_empty() {
        "any".into()
    } else {
        items.join(separator)
    }
}

/// The factors a policy lists, as the panel and the CLI say them.
pub fn factors_text<S: AsRef<str>>(names: Option<&[S]>) -> String {
    match names {
        None => "default (a second factor unless exempt)".into(),
        Some(names) => (names.iter().map(AsRef::as_ref))
            .collect::<Vec<&str>>()
            .join(", "),
    }
}

/// The policies in force and where they come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoliciesJson {
    /// Fixed in the configuration (`[[policy]]`): shown, never saved.
    pub fixed: bool,
    /// What a save of an edit names (0: none saved yet; fixed: 0).
    pub generation: i64,
    pub saved_at: Option<String>,
    pub saved_by: Option<String>,
    pub policies: Vec<PolicyText>,
}

impl PoliciesJson {
    /// The policies as the panel, the API and the CLI show them.
    pub async fn read(gatehouse: &Gatehouse) -> Result<PoliciesJson, PolicySaveError> {
        if gatehouse.policies_fixed() {
            let fixed = gatehouse.policies().unwrap_or_default();
            return Ok(PoliciesJson {
                fixed: true,
                generation: 0,
                saved_at: None,
                saved_by: None,
                policies: fixed.policies().iter().map(PolicyText::of).collect(),
            });
        }
        let saved = gatehouse.saved_policies().await?;
        let (saved_at, saved_by) = match saved.saved {
            Some((at, by)) => (Some(rfc3339(at, gatehouse.time_zone())), Some(by)),
            None => (None, None),
        };
        Ok(PoliciesJson {
            fixed: false,
            generation: saved.generation,
            saved_at,
            saved_by,
            policies: saved.policies,
        })
    }
}

/// What a policy test found: the user, their groups, and the policy that
/// matches (values filled in for this user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyTestJson {
    pub user: String,
    pub seat_key: String,
    pub groups: Vec<String>,
    /// `null`: no policy matches; the default rules apply.
    pub policy: Option<String>,
    pub access: &'static str,
    /// `null`: the default rule (a second factor required unless exempt).
    pub factors: Option<Vec<&'static str>>,
    pub reply: Vec<ReplyJson>,
}

impl PolicyTestJson {
    /// The answer as label and value, as the panel and the CLI show it.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![
            ("User", format!("{} ({})", self.user, self.seat_key)),
            ("Groups", any(&self.groups, "; ")),
            (
                "Policy",
                (self.policy.clone()).unwrap_or_else(|| "none (the default rules apply)".into()),
            ),
            ("Access", self.access.to_string()),
            ("Factors", factors_text(self.factors.as_deref())),
        ];
        for reply in &self.reply {
            rows.push(("Reply", format!("{} = {}", reply.attribute, reply.value)));
        }
        rows
    }

    pub fn new(test: &PolicyTest) -> PolicyTestJson {
        let chosen = test.policy.as_ref();
        PolicyTestJson {
            user: test.identity.username.to_string(),
            seat_key: test.identity.seat.as_str().to_string(),
            groups: test.groups.clone(),
            policy: chosen.map(|chosen| chosen.name.to_string()),
            access: chosen.map_or("allow", |chosen| chosen.access.as_str()),
            factors: chosen.and_then(|chosen| chosen.factors).map(Factors::names),
            reply: ReplyJson::list(
                (chosen.map_or(&[][..], |chosen| &chosen.reply[..]).iter())
                    .map(|(a, v)| (a.as_str(), v.as_str())),
            ),
        }
    }
}

/// An administrator as listed by the API and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminJson {
    pub name: String,
    pub created_at: String,
    /// The first-start password, not yet replaced.
    pub must_change_password: bool,
    /// Unexpired API tokens.
    pub tokens: usize,
    /// Unexpired panel sessions.
    pub sessions: u64,
}

impl AdminJson {
    pub fn new(admin: &AdminSummary, zone: &TimeZone) -> AdminJson {
        AdminJson {
            name: admin.name.to_string(),
            created_at: local_time(admin.created_at, zone),
            must_change_password: admin.must_change_password,
            tokens: admin.tokens,
            sessions: admin.sessions,
        }
    }
}

/// An API token as listed: its id, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenJson {
    pub id: String,
    pub label: String,
    pub created_at: String,
    /// `null`: until revoked.
    pub expires_at: Option<String>,
    pub expired: bool,
}

impl TokenJson {
    pub fn new(token: &TokenSummary, zone: &TimeZone) -> TokenJson {
        TokenJson {
            id: token.id.clone(),
            label: token.label.clone(),
            created_at: local_time(token.created_at, zone),
            expires_at: token.expires_at.map(|at| local_time(at, zone)),
            expired: token.expired,
        }
    }
}

/// An audit entry as the API, the CLI and the panel show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditJson {
    pub id: u64,
    /// Local time in the license time zone.
    pub at: String,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub subject: String,
    /// Before and after where small (JSON text; empty when none).
    pub detail: String,
    /// `false`: the entry was changed in the database by hand.
    pub authentic: bool,
}

impl AuditJson {
    pub fn new(record: &gatehouse_core::audit::AuditRecord, zone: &TimeZone) -> AuditJson {
        let entry = &record.entry;
        AuditJson {
            id: record.id,
            at: local_time(entry.at, zone),
            actor: entry.actor.clone(),
            source: entry.source.clone(),
            action: entry.action.clone(),
            subject: entry.subject.clone(),
            detail: entry.detail.clone(),
            authentic: record.authentic,
        }
    }
}
