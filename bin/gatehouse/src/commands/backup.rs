//! `gatehouse backup` and `gatehouse restore`: a running installation
//! into one SQLite file, and that file into an empty database.
//!
//! A backup is written beside its final name and renamed into place once
//! it has been checked, so FILE is always a whole backup (an older one, or
//! the new one). It holds everything but the sealing key file, without
//! which it cannot be restored; both commands say so.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use gatehouse_store::{CopyReport, PgStore, SqliteStore};

use crate::config::{Config, Storage};
use crate::setup::{sealed, sealing_key, write_private_file};

pub(crate) async fn backup(config: &Config, file: &Path) -> Result<ExitCode> {
    if !config.key_file.is_file() {
        bail!(
            "storage.key_file: {} does not exist: there is no installation to back up here",
            config.key_file.display()
        );
    }
    let (seal, _) = sealing_key(&config.key_file)?;
    let partial = beside(file, "partial");
    let _ = std::fs::remove_file(&partial);
    write_private_file(&partial, b"")
        .with_context(|| format!("cannot write {}", partial.display()))?;
    let written = async {
        match &config.storage {
            Storage::Sqlite(path) => {
                if !path.is_file() {
                    bail!(
                        "no database at {}: there is no installation to back up",
                        path.display()
                    );
                }
                let source = sealed(
                    SqliteStore::open(path, seal.clone()).await,
                    &config.key_file,
                    &seal,
                    false,
                )?;
                gatehouse_store::snapshot_sqlite(&source, &partial).await?;
                source.close().await;
            }
            Storage::Postgres { url, .. } => {
                let source = sealed(
                    PgStore::connect(url, 2, seal.clone()).await,
                    &config.key_file,
                    &seal,
                    false,
                )?;
                std::fs::remove_file(&partial)?;
                let snapshot = sealed(
                    SqliteStore::open(&partial, seal.clone()).await,
                    &config.key_file,
                    &seal,
                    false,
                )?;
                gatehouse_store::copy_postgres_to_sqlite(&source, &snapshot).await?;
                snapshot.close().await;
            }
        }
        // The snapshot is read back as a restore would read it.
        let check = sealed(
            SqliteStore::open(&partial, seal.clone()).await,
            &config.key_file,
            &seal,
            false,
        )?;
        let report = gatehouse_store::check_sqlite(&check).await;
        check.close().await;
        anyhow::Ok(report?)
    }
    .await;
    let report = match written {
        Ok(report) => report,
        Err(error) => {
            remove_database(&partial);
            return Err(error.context("backup failed; nothing was written"));
        }
    };
    sync_file(&partial)?;
    std::fs::rename(&partial, file)
        .with_context(|| format!("cannot move the backup to {}", file.display()))?;
    sync_parent(file);
    print_report(&report);
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup written to {} ({} KiB); every month's count equals its ledger",
        file.display(),
        size.div_ceil(1024)
    );
    eprintln!(
        "\nIMPORTANT: the backup does not contain the sealing key ({}). Without that\n\
         file the backup cannot be restored: keep a copy of it, apart from the backups.\n",
        config.key_file.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn restore(config: &Config, file: &Path) -> Result<ExitCode> {
    if !file.is_file() {
        bail!("no backup at {}", file.display());
    }
    if !config.key_file.is_file() {
        bail!(
            "storage.key_file: {} does not exist: copy the installation's sealing key file there first (backups do not contain it)",
            config.key_file.display()
        );
    }
    let (seal, _) = sealing_key(&config.key_file)?;
    // A copy of the backup is opened (and brought to this version's
    // schema), never the backup itself.
    let staging = match &config.storage {
        Storage::Sqlite(path) => {
            if path.exists() {
                bail!(
                    "{} exists: a restore fills an empty data directory, it never overwrites an installation",
                    path.display()
                );
            }
            beside(path, "restoring")
        }
        Storage::Postgres { .. } => {
            let data_dir = config.key_file.parent().unwrap_or(Path::new("."));
            data_dir.join(format!("restore-{}.db", std::process::id()))
        }
    };
    let _ = std::fs::remove_file(&staging);
    write_private_file(
        &staging,
        &std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
    )
    .with_context(|| format!("cannot write {}", staging.display()))?;
    let restored = async {
        let backup = sealed(SqliteStore::open(&staging, seal.clone()).await, &config.key_file, &seal, false)
            .context("the backup is not sealed under this sealing key (restore it with the key file of the installation it came from)")?;
        let report = gatehouse_store::check_sqlite(&backup).await?;
        let report = match &config.storage {
            Storage::Sqlite(path) => {
                backup.close().await;
                sync_file(&staging)?;
                std::fs::rename(&staging, path)
                    .with_context(|| format!("cannot move the database to {}", path.display()))?;
                sync_parent(path);
                report
            }
            Storage::Postgres { url, .. } => {
                let destination = sealed(PgStore::connect(url, 4, seal.clone()).await, &config.key_file, &seal, false)?;
                let copied = gatehouse_store::copy_sqlite_to_postgres(&backup, &destination).await?;
                backup.close().await;
                remove_database(&staging);
                copied
            }
        };
        anyhow::Ok(report)
    }
    .await;
    let report = match restored {
        Ok(report) => report,
        Err(error) => {
            remove_database(&staging);
            return Err(error.context("restore failed; the database was left as it was"));
        }
    };
    print_report(&report);
    println!(
        "restored from {}: the installation keeps its App Key and license; every month's count equals its ledger",
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `FILE.what` in FILE's directory: renamed into place on the same file
/// system.
fn beside(file: &Path, what: &str) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{what}"));
    file.with_file_name(name)
}

/// A SQLite file and what SQLite keeps beside it (`-wal`, `-shm`), gone.
fn remove_database(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in ["wal", "shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(format!("-{suffix}"));
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot flush {} to disk", path.display()))
}

/// The rename reaches the disk too (best effort: not every file system
/// lets a directory be synced).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::File::open(dir).and_then(|dir| dir.sync_all());
    }
}

fn print_report(report: &CopyReport) {
    for (table, rows) in report {
        println!("{table:<16} {rows:>9} rows");
    }
}
