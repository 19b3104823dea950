//! What every backend's SQL shares that does not depend on the database
//! type: decoding of stored values (a value out of range is
//! [`StoreError::Corrupt`], never a panic) and the column lists some
//! statements are built from (macros, so the statements stay static
//! strings). The SQL itself is in `sql/`, the backend contract in
//! [`crate::backend`].

use std::str::FromStr;

use gatehouse_core::identity::{Source, Username};
use gatehouse_core::store::{StoreError, StoreResult};
use gatehouse_license::jiff::Timestamp;
use gatehouse_license::{Month, SeatKind};

/// Rows per multi-row INSERT: bound parameters stay well below every
/// backend's limit.
pub(crate) const ROWS_PER_INSERT: usize = 100;

pub(crate) fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

pub(crate) fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

pub(crate) fn timestamp(micros: i64) -> StoreResult<Timestamp> {
    Timestamp::from_microsecond(micros)
        .map_err(|_| StoreError::Corrupt(format!("time {micros} out of range")))
}

pub(crate) fn month_text(month: Month) -> String {
    month.to_string()
}

pub(crate) fn parse_month(text: &str) -> StoreResult<Month> {
    Month::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn count(value: i64) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("count {value} out of range")))
}

pub(crate) fn seat_kind(text: &str) -> StoreResult<SeatKind> {
    SeatKind::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown seat kind {text:?}")))
}

pub(crate) fn source(text: &str) -> StoreResult<Source> {
    Source::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown source {text:?}")))
}

pub(crate) fn peak_tenths(active_users: i64, user_limit: i64) -> i64 {
    if user_limit <= 0 {
        0
    } else {
        active_users * 1000 / user_limit
    }
}

pub(crate) fn username(text: String) -> StoreResult<Username> {
    Username::parse(&text).map_err(|e| StoreError::Corrupt(format!("name {text:?}: {e}")))
}

pub(crate) fn hash32(bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("stored hash is not 32 bytes".into()))
}

pub(crate) fn numbers(text: &str) -> StoreResult<Vec<u32>> {
    text.split(',')
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse()
                .map_err(|_| StoreError::Corrupt(format!("threshold {n:?}")))
        })
        .collect()
}

pub(crate) fn joined(values: &[u32]) -> String {
    values
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The columns [`alarm_from_row`] reads (a macro, so queries stay static
/// strings).
macro_rules! alarm_columns {
    () => {
        "id, alarm_key, kind, subject, body, recipients, created_at, delivery, attempts, next_attempt_at, last_error, sent_at"
    };
}

pub(crate) use alarm_columns;

/// The columns `push_from_row` reads.
macro_rules! push_columns {
    () => {
        "id, seat_key, username, client, source, created_at, expires_at, nonce, number, choices, decision, decided_by, decided_at"
    };
}

pub(crate) use push_columns;

/// The columns `device_from_row` reads, in a `SELECT`.
macro_rules! device_columns {
    () => {
        "id, seat_key, username, label, public_key, created_at, webpush_endpoint, webpush_p256dh, webpush_auth, tag"
    };
}

pub(crate) use device_columns;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_decode_or_are_corrupt_never_a_panic() {
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        assert_eq!(timestamp(micros(at)).unwrap(), at);
        assert!(matches!(timestamp(i64::MAX), Err(StoreError::Corrupt(_))));
        let month = Month::new(2026, 12).unwrap();
        assert_eq!(parse_month(&month_text(month)).unwrap(), month);
        assert!(matches!(
            parse_month("2026-13"),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(count(25).unwrap(), 25);
        assert!(matches!(count(-1), Err(StoreError::Corrupt(_))));
        assert!(matches!(count(i64::MAX), Err(StoreError::Corrupt(_))));
        assert_eq!(source("local").unwrap(), Source::Local);
        assert!(matches!(source("nis"), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            username(String::new()),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(hash32(vec![0; 31]), Err(StoreError::Corrupt(_))));
        assert_eq!(hash32(vec![7; 32]).unwrap(), [7; 32]);
    }

    #[test]
    fn thresholds_round_trip_as_text() {
        assert_eq!(joined(&[60, 30, 7]), "60,30,7");
        assert_eq!(numbers("60,30,7").unwrap(), [60, 30, 7]);
        assert_eq!(numbers("").unwrap(), Vec::<u32>::new());
        assert!(matches!(numbers("60,x"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn peak_is_in_tenths_of_a_percent_and_zero_without_a_limit() {
        assert_eq!(peak_tenths(171, 200), 855);
        assert_eq!(peak_tenths(5, 0), 0);
    }
}
