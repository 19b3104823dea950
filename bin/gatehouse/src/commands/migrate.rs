//! `gatehouse migrate`: copies an installation from one database to another.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use gatehouse_store::{PgStore, SqliteStore};

use crate::setup::{sealed, sealing_key};

pub(crate) async fn migrate(from: &str, to: &str, key_file: &Path) -> Result<ExitCode> {
    let Some(path) = from.strip_prefix("sqlite://").filter(|p| !p.is_empty()) else {
        bail!("--from: expected sqlite://PATH, got {from:?}");
    };
    let path = Path::new(path);
    if !path.is_file() {
        bail!("--from: no database at {}", path.display());
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!(
            "--to: expected postgres://USER@HOST/DATABASE, got {:?}",
            crate::config::redact_url(to)
        );
    }
    gatehouse_store::check_postgres_url(to).map_err(|error| anyhow::anyhow!("--to: {error}"))?;
    // Both databases are sealed under the installation's one key.
    let (seal, created) = sealing_key(key_file)?;
    let source = sealed(
        SqliteStore::open(path, seal.clone()).await,
        key_file,
        &seal,
        created,
    )?;
    let destination = sealed(
        PgStore::connect(to, 4, seal.clone()).await,
        key_file,
        &seal,
        false,
    )?;
    let report = gatehouse_store::copy_sqlite_to_postgres(&source, &destination).await?;
    for (table, rows) in &report {
        println!("{table:<16} {rows:>9} rows");
    }
    println!(
        "verified: every table copied whole, every month's count equals its ledger ({})",
        crate::config::redact_url(to)
    );
    println!("point every node's storage.url at it and start them.");
    Ok(ExitCode::SUCCESS)
}
