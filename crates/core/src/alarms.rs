//! License alarms (SPEC §7) around the pure rules of
//! `gatehouse_license::alarms`: which thresholds fire and who is told
//! ([`AlarmSettings`]), how a message leaves ([`Mailer`], implemented over
//! SMTP by `gatehouse-mail`), and how failed deliveries are retried
//! ([`retry_delay`]). The service decides when alarms fire and queues them
//! in the store (`service/alarming.rs`).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

/// The thresholds SPEC §7 suggests.
pub const DEFAULT_DAYS_BEFORE_END: [u32; 4] = [60, 30, 15, 7];
pub const DEFAULT_USER_LIMIT_PERCENT: [u32; 4] = [75, 85, 90, 95];

/// Longest day threshold (ten years).
pub const MAX_DAYS_BEFORE_END: u32 = 3650;

/// Most recipients one installation may list.
pub const MAX_RECIPIENTS: usize = 50;

/// Alarm thresholds and recipients, validated: thresholds sorted,
/// descending, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmSettings {
    days_before_end: Vec<u32>,
    user_limit_percent: Vec<u32>,
    recipients: Vec<String>,
}

/// Why alarm settings are refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlarmSettingsError {
    #[error("days_before_end: {0} is not between 1 and {MAX_DAYS_BEFORE_END}")]
    Days(u32),
    #[error("user_limit_percent: {0} is not between 1 and 100")]
    Percent(u32),
    #[error("recipients: {0:?} is not an email address")]
    Recipient(String),
    #[error("recipients: at most {MAX_RECIPIENTS} addresses")]
    TooManyRecipients,
}

impl Default for AlarmSettings {
    fn default() -> AlarmSettings {
        AlarmSettings {
            days_before_end: DEFAULT_DAYS_BEFORE_END.to_vec(),
            user_limit_percent: DEFAULT_USER_LIMIT_PERCENT.to_vec(),
            recipients: Vec::new(),
        }
    }
}

impl AlarmSettings {
    pub fn new(
        days_before_end: Vec<u32>,
        user_limit_percent: Vec<u32>,
        recipients: Vec<String>,
    ) -> Result<AlarmSettings, AlarmSettingsError> {
        if let Some(&bad) = days_before_end
            .iter()
            .find(|&&d| d == 0 || d > MAX_DAYS_BEFORE_END)
        {
            return Err(AlarmSettingsError::Days(bad));
        }
        if let Some(&bad) = user_limit_percent.iter().find(|&&p| p == 0 || p > 100) {
            return Err(AlarmSettingsError::Percent(bad));
        }
        let mut addresses: Vec<String> = Vec::new();
        for recipient in recipients {
            let recipient = recipient.trim().to_string();
            if recipient.is_empty() {
                continue;
            }
            if !is_email(&recipient) {
                return Err(AlarmSettingsError::Recipient(recipient));
            }
            if !addresses.iter().any(|a| a.eq_ignore_ascii_case(&recipient)) {
                addresses.push(recipient);
            }
        }
        if addresses.len() > MAX_RECIPIENTS {
            return Err(AlarmSettingsError::TooManyRecipients);
        }
        Ok(AlarmSettings {
            days_before_end: sorted_descending(days_before_end),
            user_limit_percent: sorted_descending(user_limit_percent),
            recipients: addresses,
        })
    }

    /// Days before the Support End Date, largest first.
    pub fn days_before_end(&self) -> &[u32] {
        &self.days_before_end
    }

    /// Percentages of the user limit, largest first.
    pub fn user_limit_percent(&self) -> &[u32] {
        &self.user_limit_percent
    }

    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }
}

fn sorted_descending(mut values: Vec<u32>) -> Vec<u32> {
    values.sort_unstable_by(|a, b| b.cmp(a));
    values.dedup();
    values
}

/// A deliberately plain check: one `@`, something on both sides, a dot in
/// the domain, no spaces or control characters. The mail server has the
/// last word.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && text.len() <= 254
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}

/// One email: an alarm or a test message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    /// Unique and stable for one alarm across every retry (the local part
    /// of its Message-ID), so a recipient can tell a repeat delivery.
    pub id: String,
}

/// Why a message was not handed to the mail server. The text is shown in
/// the alarm history and logged; it never contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MailError(pub String);

/// Sends email. `gatehouse-mail` implements it over SMTP.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers `mail` to the mail server; `Ok` once the server accepted it
    /// for every recipient.
    async fn send(&self, mail: &Mail) -> Result<(), MailError>;
}

/// First wait after a failed delivery; doubled after each further failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(5);

/// Longest wait between two delivery attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(600);

/// How long to wait before the next attempt after `attempts` failed ones:
/// 5 s, 10 s, 20 s, … up to 10 minutes. Alarms are retried for as long as
/// it takes.
pub fn retry_delay(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

impl fmt::Display for AlarmSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "days before end {:?}, user limit % {:?}, recipients {:?}",
            self.days_before_end, self.user_limit_percent, self.recipients
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_normalised() {
        let settings = AlarmSettings::new(
            vec![7, 60, 30, 30],
            vec![90, 75],
            vec![
                " ops@example.com ".into(),
                "OPS@example.com".into(),
                "".into(),
                "noc@example.org".into(),
            ],
        )
        .unwrap();
        assert_eq!(settings.days_before_end(), [60, 30, 7]);
        assert_eq!(settings.user_limit_percent(), [90, 75]);
        assert_eq!(
            settings.recipients(),
            ["ops@example.com", "noc@example.org"]
        );
        assert_eq!(AlarmSettings::default().days_before_end(), [60, 30, 15, 7]);
        assert_eq!(
            AlarmSettings::default().user_limit_percent(),
            [75, 85, 90, 95]
        );
    }

    #[test]
    fn retries_back_off_to_ten_minutes() {
        let waits: Vec<u64> = (1..=10).map(|n| retry_delay(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(retry_delay(0), FIRST_RETRY);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (
                AlarmSettings::new(vec![0], vec![], vec![]),
                "days_before_end",
            ),
            (
                AlarmSettings::new(vec![4000], vec![], vec![]),
                "days_before_end",
            ),
            (
                AlarmSettings::new(vec![], vec![101], vec![]),
                "user_limit_percent",
            ),
            (
                AlarmSettings::new(vec![], vec![0], vec![]),
                "user_limit_percent",
            ),
            (
                AlarmSettings::new(vec![], vec![], vec!["not-an-address".into()]),
                "recipients",
            ),
            (
                AlarmSettings::new(vec![], vec![], vec!["a@b".into()]),
                "recipients",
            ),
            (
                AlarmSettings::new(vec![], vec![], vec!["a b@example.com".into()]),
                "recipients",
            ),
            (
                AlarmSettings::new(vec![], vec![], vec!["x@example.com, y@example.com".into()]),
                "recipients",
            ),
        ];
        for (result, field) in cases {
            let error = result.unwrap_err().to_string();
            assert!(error.starts_with(field), "{error}");
        }
    }
}
