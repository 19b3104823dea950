//! Opening an installation: the data directory, the sealing key file, the
//! store (SQLite or PostgreSQL) and the service on top of them.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use gatehouse_core::seal::SealingKey;
use gatehouse_core::store::Store;
use gatehouse_core::{Gatehouse, Settings, SystemClock};
use gatehouse_directory::LdapDirectories;
use gatehouse_store::{PgStore, SqliteStore};

use crate::config::{Config, Storage};

pub(crate) async fn open(config: &Config) -> Result<Gatehouse> {
    let store = open_store(&config.storage, &config.key_file).await?;
    let settings = Settings {
        time_zone: config.time_zone.clone(),
        password: config.password,
        totp_mode: config.totp_mode,
        mfa: config.mfa.clone(),
        lockout: config.lockout,
        policies: config.policies.clone(),
        policy_checks: config.policy_checks.clone(),
        portal_url: config
            .http
            .public_url
            .clone()
            .or_else(|| config.push_public_url.clone()),
        push: config.push.clone(),
        push_notifier: match &config.webpush {
            Some(webpush) => Some(Arc::new(
                gatehouse_webpush::WebPushSender::new(
                    &webpush.subject,
                    webpush.ca_pem.as_deref(),
                    webpush.hosts.clone(),
                )
                .map_err(|error| anyhow::anyhow!("push.webpush: {error}"))?,
            )),
            None => None,
        },
        password_cache: config.password_cache,
        alarms: config.alarms.clone(),
        alarm_daily_at: config.alarm_daily_at,
        directory: if config.directories.is_empty() {
            None
        } else {
            Some(Arc::new(LdapDirectories::new(config.directories.clone())?))
        },
        ..Settings::new(Arc::new(SystemClock))
    };
    Ok(Gatehouse::open(store, settings).await?)
}

/// Opens the configured store under the sealing key of `key_file`, which
/// is made when it does not exist yet, for a new installation or one
/// written before databases were sealed.
pub(crate) async fn open_store(storage: &Storage, key_file: &Path) -> Result<Arc<dyn Store>> {
    let (seal, created) = sealing_key(key_file)?;
    Ok(match storage {
        Storage::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir)?;
            }
            let opened = SqliteStore::open(path, seal.clone()).await;
            Arc::new(sealed(opened, key_file, &seal, created)?)
        }
        Storage::Postgres {
            url,
            max_connections,
        } => {
            let opened = PgStore::connect(url, *max_connections, seal.clone()).await;
            Arc::new(sealed(opened, key_file, &seal, created)?)
        }
    })
}

/// A store opened under `seal`: a database already sealed under another
/// key is refused, saying where the right key file should be, and a key
/// file made just now for it removed again.
pub(crate) fn sealed<T>(
    opened: Result<T, gatehouse_core::StoreError>,
    key_file: &Path,
    seal: &SealingKey,
    created: bool,
) -> Result<T> {
    match opened {
        Ok(store) => {
            if created {
                tracing::warn!(
                    key_file = %key_file.display(),
                    key_id = %seal.id_text(),
                    "sealing key created: back it up with the database, and copy it to every node; without it the database cannot be used"
                );
            }
            Ok(store)
        }
        Err(gatehouse_core::StoreError::Sealing(why)) if created => {
            let _ = std::fs::remove_file(key_file);
            bail!(
                "storage.key_file: {} does not exist, but the database is already sealed ({why}): \
                 copy the key file from the node that created this installation, or from your backup",
                key_file.display()
            )
        }
        Err(gatehouse_core::StoreError::Sealing(why)) => {
            bail!("storage.key_file: {}: {why}", key_file.display())
        }
        Err(error) => Err(error.into()),
    }
}

/// Reads the sealing key, or makes one (mode 0600) when the file does not
/// exist; `true` when it was made now.
pub(crate) fn sealing_key(path: &Path) -> Result<(Arc<SealingKey>, bool)> {
    let key_file = || format!("storage.key_file: {}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = SealingKey::from_file_text(&text).with_context(key_file)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                if let Ok(metadata) = std::fs::metadata(path)
                    && metadata.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(
                        key_file = %path.display(),
                        mode = format!("{:o}", metadata.permissions().mode() & 0o777),
                        "the sealing key file can be read by other users: chmod 600 it"
                    );
                }
            }
            Ok((Arc::new(key), false))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_private_dir(dir)?;
            }
            let key = SealingKey::generate().with_context(key_file)?;
            write_private_file(path, key.to_file_text().as_bytes()).with_context(key_file)?;
            Ok((Arc::new(key), true))
        }
        Err(error) => Err(error).with_context(|| format!("{}: cannot read it", key_file())),
    }
}

/// Writes a new file readable by its owner only, on disk before this
/// returns (the file and its directory entry).
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}
