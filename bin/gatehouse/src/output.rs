//! How the CLI prints: aligned tables for people, CSV and JSON for tools.

use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::tz::TimeZone;

/// `2026-11-28 16:25:04` in the license time zone.
pub fn local_time(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// RFC 3339 with the license zone's offset, e.g. `2026-11-28T16:25:04+03:00`.
pub fn rfc3339(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// Left-aligned columns separated by two spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if index > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            if index + 1 < cells.len() {
                text.push_str(&" ".repeat(width - cell.chars().count()));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// RFC 4180 CSV with a header row. Cells that a spreadsheet would run as a
/// formula (leading `=`, `+`, `-`, `@`, tab or carriage return) are
/// prefixed with `'`.
pub fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let encoded: Vec<String> = cells.iter().map(|cell| csv_cell(cell)).collect();
        out.push_str(&encoded.join(","));
        out.push_str("\r\n");
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn csv_cell(cell: &str) -> String {
    let defused = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let text = table(
            &["Name", "N"],
            &[
                vec!["alice".into(), "1".into()],
                vec!["bo".into(), "22".into()],
            ],
        );
        assert_eq!(text, "Name   N\nalice  1\nbo     22\n");
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let text = csv(
            &["a", "b"],
            &[
                vec!["x,y".into(), "say \"hi\"".into()],
                vec!["=1+1".into(), "-2".into()],
            ],
        );
        assert_eq!(text, "a,b\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n'=1+1,'-2\r\n");
    }

    #[test]
    fn times_are_shown_in_the_license_zone() {
        let zone = TimeZone::get("Europe/Istanbul").unwrap();
        let at: Timestamp = "2026-11-28T13:25:04Z".parse().unwrap();
        assert_eq!(local_time(at, &zone), "2026-11-28 16:25:04");
        assert_eq!(rfc3339(at, &zone), "2026-11-28T16:25:04+03:00");
    }
}
