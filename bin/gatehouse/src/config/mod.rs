//! Configuration in two stages: what the administrator wrote (defaults, then
//! the TOML file, then `GATEHOUSE_SECTION__KEY` environment variables),
//! validated into what the program uses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use checks::{
    validate_alarms, validate_directories, validate_http, validate_lockout, validate_policies,
    validate_push, validate_radius, validate_smtp, validate_webpush,
};
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use gatehouse_core::alarms::AlarmSettings;
use gatehouse_core::clients::RadiusClient;
use gatehouse_core::policy::{PolicyChecks, PolicySet};
use gatehouse_core::store::LockoutPolicy;
use gatehouse_core::{MfaSettings, PasswordParams, PushSettings, TotpMode};
use gatehouse_directory::DirectorySettings;
use gatehouse_license::jiff::civil::Time;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_mail::SmtpSettings;
use gatehouse_radius::dictionary::Dictionary;
use sections::RawConfig;
pub use syslog::SyslogSettings;

mod checks;
mod sections;
pub(crate) mod syslog;

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Storage {
    Sqlite(PathBuf),
    /// The URL (with any password in it) and the pool size.
    Postgres {
        url: String,
        max_connections: u32,
    },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub time_zone: Option<TimeZone>,
    pub storage: Storage,
    /// `storage.key_file`: the sealing key (SPEC §11), made at first start.
    pub key_file: PathBuf,
    pub support_contact: Option<String>,
    pub password: PasswordParams,
    pub password_cache: Duration,
    pub totp_mode: TotpMode,
    pub mfa: MfaSettings,
    pub lockout: LockoutPolicy,
    pub push: PushSettings,
    /// `push.public_url`, without a trailing slash.
    pub push_public_url: Option<String>,
    /// `[push.webpush]`: subject and extra CA certificates.
    pub webpush: Option<WebPushConfig>,
    pub radius: RadiusConfig,
    pub http: HttpConfig,
    /// `[alarms]` thresholds and recipients, when the file sets them.
    pub alarms: Option<AlarmSettings>,
    pub alarm_daily_at: Time,
    /// `None`: no `[smtp]`, alarms are not sent.
    pub smtp: Option<SmtpSettings>,
    /// `[[directory]]`, in order; empty: local users only.
    pub directories: Vec<DirectorySettings>,
    /// `[[policy]]`, checked; empty: the default rules (or the policies
    /// saved through the panel, API or CLI).
    pub policies: Arc<PolicySet>,
    /// What policies saved at run time are checked against: the group
    /// sources and the dictionary.
    pub policy_checks: PolicyChecks,
    pub log_level: Option<String>,
    /// `log.format = "json"`.
    pub log_json: bool,
    /// `[log.syslog]`, checked.
    pub syslog: Option<SyslogSettings>,
}

/// The validated `[push.webpush]` section.
#[derive(Debug, Clone)]
pub struct WebPushConfig {
    pub subject: String,
    pub ca_pem: Option<Vec<u8>>,
    pub hosts: gatehouse_core::push_hosts::PushServiceHosts,
}

/// The validated `[http]` section.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `None`: no panel.
    pub listen: Option<SocketAddr>,
    /// `http.public_url`: the panel's address as users reach it, without a
    /// trailing slash.
    pub public_url: Option<String>,
    pub tls: Option<gatehouse_http::Tls>,
    pub secure_cookies: bool,
    pub trusted_proxies: Vec<gatehouse_core::clients::Network>,
    pub limits: gatehouse_http::Limits,
}

/// The validated `[radius]` section.
#[derive(Debug, Clone)]
pub struct RadiusConfig {
    /// `None`: RADIUS is off.
    pub listen: Option<SocketAddr>,
    pub challenge_timeout: Duration,
    pub max_in_flight: usize,
    pub max_in_flight_per_client: usize,
    /// Clients defined in the configuration file.
    pub clients: Vec<RadiusClient>,
    /// The built-in dictionary and `radius.dictionaries`.
    pub dictionary: Arc<Dictionary>,
}

/// Reads and validates the configuration. `explicit` is `--config`; without
/// it, `<data-dir>/gatehouse.toml` is read when present.
pub fn load(data_dir: &Path, explicit: Option<&Path>) -> Result<Config> {
    let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
    match explicit {
        Some(path) => {
            if !path.is_file() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        None => {
            let default_path = data_dir.join("gatehouse.toml");
            if default_path.is_file() {
                figment = figment.merge(Toml::file_exact(default_path));
            }
        }
    }
    // Only GATEHOUSE_SECTION__KEY variables are configuration; others
    // (GATEHOUSE_DATA_DIR, GATEHOUSE_CONFIG) are command-line defaults.
    figment = figment.merge(
        Env::prefixed("GATEHOUSE_")
            .filter(|key| key.as_str().contains("__"))
            .split("__"),
    );
    let raw: RawConfig = figment
        .extract()
        .map_err(|error| anyhow::anyhow!(describe(error)))?;
    validate(data_dir, raw)
}

/// Reads and validates a configuration given as TOML text, defaults
/// underneath and no environment (the fuzzer's entry, and tests').
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the fuzzer's entry: fuzz/fuzz_targets/config.rs")
)]
pub fn from_toml(data_dir: &Path, text: &str) -> Result<Config> {
    let raw: RawConfig = Figment::from(Serialized::defaults(RawConfig::default()))
        .merge(Toml::string(text))
        .extract()
        .map_err(|error| anyhow::anyhow!(describe(error)))?;
    validate(data_dir, raw)
}

fn describe(error: figment::Error) -> String {
    let mut text = format!("invalid configuration: {}", error.kind);
    if !error.path.is_empty() {
        text.push_str(&format!(" (key {})", error.path.join(".")));
    }
    if let Some(source) = &error.metadata.and_then(|m| m.source) {
        text.push_str(&format!(" in {source}"));
    }
    text
}

fn validate(data_dir: &Path, raw: RawConfig) -> Result<Config> {
    let time_zone = match raw.license.timezone.as_deref() {
        None | Some("") => None,
        Some(name) => Some(
            TimeZone::get(name)
                .ok()
                .filter(|zone| zone.iana_name().is_some())
                .with_context(|| format!("license.timezone: unknown time zone {name:?} (use an IANA name such as Europe/Istanbul)"))?,
        ),
    };
    let storage = match raw.storage.url.as_deref() {
        None | Some("") => Storage::Sqlite(data_dir.join("gatehouse.db")),
        Some(url) => match url.split_once("://") {
            Some(("sqlite", path)) if !path.is_empty() => Storage::Sqlite(PathBuf::from(path)),
            Some(("postgres" | "postgresql", rest)) if !rest.is_empty() => Storage::Postgres {
                url: {
                    gatehouse_store::check_postgres_url(url)
                        .map_err(|error| anyhow::anyhow!("storage.url: {error}"))?;
                    url.to_string()
                },
                max_connections: match raw.storage.max_connections {
                    None => 10,
                    Some(n @ 1..=1000) => n,
                    Some(_) => bail!("storage.max_connections must be between 1 and 1000"),
                },
            },
            _ => bail!(
                "storage.url: unsupported value {:?}; expected sqlite://PATH or postgres://USER@HOST/DATABASE",
                redact_url(url)
            ),
        },
    };
    if raw.storage.max_connections.is_some() && !matches!(storage, Storage::Postgres { .. }) {
        bail!("storage.max_connections applies to PostgreSQL only");
    }
    let passwords = raw.passwords;
    if passwords.memory_kib < 8 * passwords.parallelism.max(1)
        || passwords.iterations == 0
        || passwords.parallelism == 0
    {
        bail!(
            "passwords: memory_kib must be at least 8 per lane, iterations and parallelism at least 1"
        );
    }
    if passwords.cache_seconds > 86_400 {
        bail!("passwords.cache_seconds must be at most 86400 (one day)");
    }
    let totp_mode = TotpMode::parse(&raw.totp.mode).with_context(|| {
        format!(
            "totp.mode: {:?} is not \"challenge\" or \"append\"",
            raw.totp.mode
        )
    })?;
    let lockout = validate_lockout(&raw.lockout)?;
    let mfa = MfaSettings {
        required: raw.mfa.required,
        exempt_groups: raw
            .mfa
            .exempt_groups
            .iter()
            .map(|group| group.trim().to_string())
            .filter(|group| !group.is_empty())
            .collect(),
    };
    if let Some(group) = mfa.exempt_groups.iter().find(|group| !group.contains('=')) {
        bail!(
            "mfa.exempt_groups: {group:?} is not a group DN such as \"CN=Service Accounts,OU=Groups,DC=example,DC=com\""
        );
    }
    let webpush = validate_webpush(data_dir, raw.push.webpush.clone())?;
    let (mut push, push_public_url) = validate_push(raw.push)?;
    if let Some(webpush) = &webpush {
        push.webpush_hosts = webpush.hosts.clone();
    }
    let radius = validate_radius(data_dir, raw.radius)?;
    let http = validate_http(data_dir, raw.http)?;
    let (alarms, alarm_daily_at) = validate_alarms(raw.alarms)?;
    let smtp = validate_smtp(data_dir, raw.smtp)?;
    let directories = validate_directories(data_dir, raw.directory)?;
    let policy_checks = PolicyChecks {
        directories: (directories.iter())
            .map(|d| {
                let aliases = d.group_aliases.iter().map(|(alias, _)| alias.clone());
                (d.name.clone(), aliases.collect())
            })
            .collect(),
        replies: Some(radius.dictionary.clone()),
    };
    let policies = validate_policies(&raw.policy, &policy_checks)?;
    Ok(Config {
        directories,
        policies: Arc::new(policies),
        policy_checks,
        alarms,
        alarm_daily_at,
        smtp,
        totp_mode,
        mfa,
        lockout,
        push,
        push_public_url,
        webpush,
        radius,
        http,
        time_zone,
        storage,
        key_file: in_data_dir(
            data_dir,
            raw.storage
                .key_file
                .filter(|path| !path.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from(gatehouse_core::seal::DEFAULT_KEY_FILE)),
        ),
        support_contact: raw.support.contact.filter(|c| !c.trim().is_empty()),
        password: PasswordParams {
            memory_kib: passwords.memory_kib,
            iterations: passwords.iterations,
            parallelism: passwords.parallelism,
        },
        password_cache: Duration::from_secs(passwords.cache_seconds),
        log_json: match raw.log.format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("log.format: {other:?} is not a format; use \"text\" or \"json\""),
        },
        syslog: checks::syslog(data_dir, raw.log.syslog)?,
        log_level: raw.log.level,
    })
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Storage::Postgres {
                url,
                max_connections,
            } => f
                .debug_struct("Postgres")
                .field("url", &redact_url(url))
                .field("max_connections", max_connections)
                .finish(),
        }
    }
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Storage::Postgres { url, .. } => f.write_str(&redact_url(url)),
        }
    }
}

/// A URL with its password (if any) replaced, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => {
                format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The contents of an extra CA file (`key` names it in errors), relative
/// to the data directory.
pub(super) fn read_ca_file(
    data_dir: &Path,
    path: Option<PathBuf>,
    key: &str,
) -> Result<Option<Vec<u8>>> {
    let Some(path) = path.map(|path| in_data_dir(data_dir, path)) else {
        return Ok(None);
    };
    let pem =
        std::fs::read(&path).with_context(|| format!("{key}: cannot read {}", path.display()))?;
    Ok(Some(pem))
}

/// A secret kept in a file of its own (`key` names it in errors),
/// relative to the data directory; the line end an editor adds is not part
/// of it.
pub(super) fn read_secret_file(data_dir: &Path, path: PathBuf, key: &str) -> Result<String> {
    let path = in_data_dir(data_dir, path);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{key}: cannot read {}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// A file named in the configuration: relative paths are taken from the
/// data directory.
pub(super) fn in_data_dir(data_dir: &Path, path: PathBuf) -> PathBuf {
    if path.is_relative() {
        data_dir.join(path)
    } else {
        path
    }
}

#[cfg(test)]
mod tests;
