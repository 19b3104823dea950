//! The commands, one module per area; what several share: the output in
//! table, JSON or CSV form and reading secrets from stdin.

use std::io::Read as _;

use anyhow::{Context as _, Result, bail};
use gatehouse_http::wire::csv;
use serde::Serialize;

use crate::cli::FormatArgs;
use crate::output::table;

pub(crate) mod admin;
pub(crate) mod alarm;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod backup;
pub(crate) mod client;
pub(crate) mod directory;
pub(crate) mod license;
pub(crate) mod local_user;
pub(crate) mod migrate;
pub(crate) mod policy;
pub(crate) mod push;
pub(crate) mod users;

/// Column names of a report (CSV header and JSON keys) and its table titles.
pub(crate) struct Columns<'a> {
    keys: &'a [&'a str],
    titles: &'a [&'a str],
}

/// Prints rows as JSON (`--json`), CSV (`--csv`: the JSON fields `keys`, in
/// order) or an aligned table with the cells `human(index)` gives.
pub(crate) fn emit<T: Serialize>(
    format: &FormatArgs,
    rows: &[T],
    columns: Columns<'_>,
    human: impl Fn(usize) -> Vec<String>,
) -> Result<()> {
    if format.json {
        println!("{}", serde_json::to_string_pretty(rows)?);
    } else if format.csv {
        let mut cells = Vec::with_capacity(rows.len());
        for row in rows {
            let value = serde_json::to_value(row)?;
            cells.push(
                columns
                    .keys
                    .iter()
                    .map(|key| match &value[key] {
                        serde_json::Value::String(text) => text.clone(),
                        serde_json::Value::Array(items) => items
                            .iter()
                            .map(|item| {
                                item.as_str()
                                    .map_or_else(|| item.to_string(), str::to_string)
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect(),
            );
        }
        print!("{}", csv(columns.keys, &cells));
    } else {
        let cells: Vec<Vec<String>> = (0..rows.len()).map(human).collect();
        print!("{}", table(columns.titles, &cells));
    }
    Ok(())
}

pub(crate) fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// A secret (password, shared secret) from the first line of standard
/// input, without its line ending.
pub(crate) fn read_secret(what: &str) -> Result<String> {
    next_secret_line(&mut std::io::stdin().lines(), what)
}

/// The next line of standard input, without its line ending.
pub(crate) fn next_secret_line(
    lines: &mut std::io::Lines<std::io::StdinLock<'static>>,
    what: &str,
) -> Result<String> {
    let line = lines
        .next()
        .transpose()
        .with_context(|| format!("cannot read the {what} from standard input"))?
        .unwrap_or_default();
    let line = line.strip_suffix('\r').unwrap_or(&line).to_string();
    if line.is_empty() {
        bail!("no {what} on standard input");
    }
    Ok(line)
}

pub(crate) fn read_stdin() -> Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read standard input")?;
    Ok(text)
}
