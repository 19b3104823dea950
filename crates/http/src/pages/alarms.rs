//! The Alarms page: thresholds and recipients, the alarm history with
//! delivery states, and the test email.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_core::AlarmSaveError;
use gatehouse_core::alarms::AlarmSettings;
use gatehouse_core::store::AlarmRecord;
use gatehouse_license::jiff::tz::TimeZone;
use serde::Deserialize;

use super::{Flash, Nav, page, see_other, unavailable};
use crate::auth::{Admin, AdminForm, NoFields};
use crate::forms::{parse_numbers, query_string, send_test_email};
use crate::state::Panel;
use crate::wire::{alarm_state, local_time};

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

/// The Alarms page with what an action came to and the form as typed (a
/// refused one), or else the settings in force.
async fn render_alarms(
    panel: &Panel,
    admin: &Admin,
    status: StatusCode,
    flash: Flash,
    form: Option<AlarmsForm>,
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
            notice: flash.notice(),
            error: flash.error(),
        },
    )
}

pub(super) async fn alarms_page(
    State(panel): State<Arc<Panel>>,
    admin: Admin,
    Query(query): Query<AlarmsQuery>,
) -> Response {
    let notice = match (query.saved, query.test) {
        (Some(_), _) => Some("Alarm settings saved.".to_string()),
        (_, Some(to)) => Some(format!("Test email sent to {to}.")),
        _ => None,
    };
    render_alarms(&panel, &admin, StatusCode::OK, Flash::done(notice), None).await
}

#[derive(Debug, Deserialize)]
pub(super) struct AlarmsQuery {
    saved: Option<String>,
    test: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AlarmsFormData {
    #[serde(default)]
    days_before_end: String,
    #[serde(default)]
    user_limit_percent: String,
    #[serde(default)]
    recipients: String,
}

pub(super) async fn save_alarms(
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
    render_alarms(&panel, &admin, status, Flash::Error(message), Some(typed)).await
}

pub(super) async fn test_email(
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
    render_alarms(&panel, &admin, status, Flash::Error(message), None).await
}
