//! Configuration in two stages: what the administrator wrote (defaults, then
//! the TOML file, then `GATEHOUSE_SECTION__KEY` environment variables),
//! validated into what the program uses.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use figment::Figment;
use figment::providers::{Env, Format as _, Serialized, Toml};
use std::net::SocketAddr;
use std::time::Duration;

use gatehouse_core::alarms::{AlarmSettings, DEFAULT_DAYS_BEFORE_END, DEFAULT_USER_LIMIT_PERCENT};
use gatehouse_core::clients::RadiusClient;
use gatehouse_core::push::PushMode;
use gatehouse_core::store::LockoutPolicy;
use gatehouse_core::{MfaSettings, PasswordParams, PushSettings, TotpMode};
use gatehouse_directory::{DirectoryKind, DirectorySettings, LdapDirectories};
use gatehouse_license::jiff::civil::Time;
use gatehouse_license::jiff::tz::TimeZone;
use gatehouse_mail::{Security, SmtpMailer, SmtpSettings};
use serde::{Deserialize, Serialize};

/// The configuration file as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub license: LicenseSection,
    pub storage: StorageSection,
    pub support: SupportSection,
    pub passwords: PasswordSection,
    pub totp: TotpSection,
    pub mfa: MfaSection,
    pub lockout: LockoutSection,
    pub push: PushSection,
    pub radius: RadiusSection,
    pub http: HttpSection,
    pub alarms: AlarmsSection,
    pub smtp: SmtpSection,
    pub log: LogSection,
    /// `[[directory]]`: LDAP / Active Directory, asked in order.
    pub directory: Vec<DirectorySection>,
}

/// One `[[directory]]` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectorySection {
    #[serde(default)]
    pub name: Option<String>,
    /// `active_directory` or `openldap`: which defaults apply.
    pub kind: String,
    pub urls: Vec<String>,
    #[serde(default)]
    pub starttls: Option<bool>,
    pub bind_dn: String,
    #[serde(default)]
    pub bind_password: Option<String>,
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    pub base_dn: String,
    #[serde(default)]
    pub user_filter: Option<String>,
    #[serde(default)]
    pub login_attributes: Option<Vec<String>>,
    #[serde(default)]
    pub identity_attribute: Option<String>,
    #[serde(default)]
    pub display_name_attribute: Option<String>,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    #[serde(default)]
    pub nested_groups: Option<bool>,
    #[serde(default)]
    pub netbios_domains: Vec<String>,
    #[serde(default)]
    pub upn_suffixes: Vec<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Address and port of the panel and API; empty turns them off.
    pub listen: String,
    /// PEM certificate chain and private key: serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Mark the session cookie `Secure`. Default: on with TLS; turn it on
    /// behind a TLS-terminating proxy.
    pub secure_cookies: Option<bool>,
    /// Proxies (addresses or networks) whose `X-Forwarded-For` names the
    /// client: sign-in limits then count the client, not the proxy.
    pub trusted_proxies: Vec<String>,
    /// How long a connection may take to send a request's headers.
    pub header_read_timeout_seconds: u64,
    /// How long a connection may stay open with no request.
    pub idle_timeout_seconds: u64,
    /// Open connections at most, overall and from one address.
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

impl Default for HttpSection {
    fn default() -> HttpSection {
        HttpSection {
            listen: "127.0.0.1:8080".to_string(),
            tls_cert: None,
            tls_key: None,
            secure_cookies: None,
            trusted_proxies: Vec::new(),
            header_read_timeout_seconds: gatehouse_http::Limits::default()
                .header_read_timeout
                .as_secs(),
            idle_timeout_seconds: gatehouse_http::Limits::default().idle_timeout.as_secs(),
            max_connections: gatehouse_http::Limits::default().max_connections,
            max_connections_per_address: gatehouse_http::Limits::default()
                .max_connections_per_address,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TotpSection {
    /// `challenge` (code asked for after the password) or `append` (code
    /// typed after the password); users can have their own.
    pub mode: String,
}

impl Default for TotpSection {
    fn default() -> TotpSection {
        TotpSection {
            mode: TotpMode::Challenge.as_str().to_string(),
        }
    }
}

/// `[mfa]`: the second factor required (SPEC §12).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaSection {
    /// A user with no enrolled second factor is refused after the password.
    pub required: bool,
    /// Directory groups (DNs) whose direct members log in with the
    /// password alone (service accounts).
    pub exempt_groups: Vec<String>,
}

impl Default for MfaSection {
    fn default() -> MfaSection {
        let defaults = MfaSettings::default();
        MfaSection {
            required: defaults.required,
            exempt_groups: defaults.exempt_groups,
        }
    }
}

/// `[lockout]`: failures in a row before a user is locked (SPEC §12).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutSection {
    /// Wrong one-time codes or denied pushes in a row (0: never lock).
    pub otp_failures: u32,
    /// Wrong passwords in a row of an existing user (0: never lock).
    pub password_failures: u32,
    /// The first lock; each further one in a row doubles, up to 24 hours.
    pub minutes: u64,
}

impl Default for LockoutSection {
    fn default() -> LockoutSection {
        let defaults = LockoutPolicy::default();
        LockoutSection {
            otp_failures: defaults.otp_failures,
            password_failures: defaults.password_failures,
            minutes: defaults.first_lock.as_secs() / 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushSection {
    /// `hold` (the Access-Request waits for the phone) or `challenge`
    /// (Access-Challenge, the follow-up collects the decision); users can
    /// have their own.
    pub mode: String,
    /// Hold mode: how long a login waits for the phone.
    pub timeout_seconds: u64,
    /// Challenge mode: how long a push can be answered.
    pub lifetime_seconds: u64,
    /// Most pushes sent to one user in an hour.
    pub max_per_hour: u32,
    /// Challenge mode: the prompt shows a number, and the phone approves
    /// only by choosing it.
    pub number_matching: bool,
    /// Base URL of enrollment links (`https://gatehouse.example.com`);
    /// default: the address the panel was reached at.
    pub public_url: Option<String>,
    /// `[push.webpush]`: wake phones by Web Push.
    pub webpush: Option<WebPushSection>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebPushSection {
    /// How push services can reach the operator: `mailto:…` or `https://…`
    /// (RFC 8292).
    pub subject: String,
    /// Extra CA certificates (PEM) for push services.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Hosts subscriptions may point at (`name` or `*.domain`); default:
    /// the major browser push services.
    #[serde(default)]
    pub allowed_hosts: Option<Vec<String>>,
}

impl Default for PushSection {
    fn default() -> PushSection {
        let defaults = PushSettings::default();
        PushSection {
            mode: defaults.mode.as_str().to_string(),
            timeout_seconds: defaults.timeout.as_secs(),
            lifetime_seconds: defaults.lifetime.as_secs(),
            max_per_hour: defaults.max_per_hour,
            number_matching: defaults.number_matching,
            public_url: None,
            webpush: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RadiusSection {
    /// Address and UDP port to serve RADIUS on; empty turns RADIUS off.
    pub listen: String,
    /// How long the State of an Access-Challenge stays valid.
    pub challenge_timeout_seconds: u64,
    /// Requests worked on at once, overall and from one client; beyond
    /// them requests are dropped (the NAS retries).
    pub max_in_flight: usize,
    pub max_in_flight_per_client: usize,
    pub clients: Vec<RadiusClientSection>,
}

impl Default for RadiusSection {
    fn default() -> RadiusSection {
        RadiusSection {
            listen: "0.0.0.0:1812".to_string(),
            challenge_timeout_seconds: 60,
            max_in_flight: gatehouse_radius::RadiusSettings::default().max_in_flight,
            max_in_flight_per_client: gatehouse_radius::RadiusSettings::default()
                .max_in_flight_per_client,
            clients: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusClientSection {
    pub name: String,
    pub networks: Vec<String>,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default = "yes")]
    pub require_message_authenticator: bool,
    #[serde(default = "yes")]
    pub limit_proxy_state: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LicenseSection {
    /// IANA time zone for months and the Support End Date. Unset: the zone
    /// recorded at first start (the host's zone then).
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSection {
    /// `sqlite://PATH` or `postgres://…`; unset: `<data-dir>/gatehouse.db`.
    pub url: Option<String>,
    /// PostgreSQL: connections per process (default 10).
    pub max_connections: Option<u32>,
    /// The sealing key file; unset: `<data-dir>/sealing.key`.
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupportSection {
    /// Where license requests go (shown by `license request`).
    pub contact: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordSection {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Seconds a verified password is remembered (as a keyed hash held only
    /// in memory), sparing argon2 on repeated logins; 0 turns it off.
    pub cache_seconds: u64,
}

impl Default for PasswordSection {
    fn default() -> PasswordSection {
        let params = PasswordParams::default();
        PasswordSection {
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            parallelism: params.parallelism,
            cache_seconds: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlarmsSection {
    /// Any of these three set: the thresholds and recipients are managed
    /// here (the panel shows them read-only); unset ones take the defaults
    /// (thresholds) or none (recipients).
    pub days_before_end: Option<Vec<u32>>,
    pub user_limit_percent: Option<Vec<u32>>,
    pub recipients: Option<Vec<String>>,
    /// `HH:MM`, license time zone: when the daily check runs.
    pub daily_at: String,
}

impl Default for AlarmsSection {
    fn default() -> AlarmsSection {
        AlarmsSection {
            days_before_end: None,
            user_limit_percent: None,
            recipients: None,
            daily_at: "08:00".to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSection {
    /// The mail server; unset: alarms are recorded but not sent.
    pub host: Option<String>,
    /// Default: 587 (starttls), 465 (tls), 25 (none).
    pub port: Option<u16>,
    /// `starttls`, `tls` or `none` (loopback hosts only).
    pub security: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    /// PEM CA certificates to trust for the server, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// The sender, e.g. `Gatehouse <gatehouse@example.com>`.
    pub from: Option<String>,
    pub timeout_seconds: u64,
}

impl Default for SmtpSection {
    fn default() -> SmtpSection {
        SmtpSection {
            host: None,
            port: None,
            security: "starttls".to_string(),
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            from: None,
            timeout_seconds: 30,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// `error`, `warn`, `info`, `debug` or `trace` (or a tracing filter).
    /// Unset: `info` for `serve`, `warn` for one-shot commands.
    pub level: Option<String>,
}

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
    pub log_level: Option<String>,
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
    Ok(Config {
        directories,
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
        log_level: raw.log.level,
    })
}

fn validate_lockout(raw: &LockoutSection) -> Result<LockoutPolicy> {
    if raw.otp_failures > 1000 || raw.password_failures > 1000 {
        bail!(
            "lockout.otp_failures and lockout.password_failures must be at most 1000 (0 turns that lockout off)"
        );
    }
    if !(1..=1440).contains(&raw.minutes) {
        bail!("lockout.minutes must be between 1 and 1440 (24 hours)");
    }
    Ok(LockoutPolicy {
        otp_failures: raw.otp_failures,
        password_failures: raw.password_failures,
        first_lock: Duration::from_secs(raw.minutes * 60),
        ..LockoutPolicy::default()
    })
}

fn validate_alarms(raw: AlarmsSection) -> Result<(Option<AlarmSettings>, Time)> {
    let daily_at = parse_daily_at(&raw.daily_at).with_context(|| {
        format!(
            "alarms.daily_at: {:?} is not a time of day such as \"08:00\"",
            raw.daily_at
        )
    })?;
    let configured = raw.days_before_end.is_some()
        || raw.user_limit_percent.is_some()
        || raw.recipients.is_some();
    if !configured {
        return Ok((None, daily_at));
    }
    let settings = AlarmSettings::new(
        raw.days_before_end
            .unwrap_or_else(|| DEFAULT_DAYS_BEFORE_END.to_vec()),
        raw.user_limit_percent
            .unwrap_or_else(|| DEFAULT_USER_LIMIT_PERCENT.to_vec()),
        raw.recipients.unwrap_or_default(),
    )
    .map_err(|error| anyhow::anyhow!("alarms.{error}"))?;
    Ok((Some(settings), daily_at))
}

/// `HH:MM` (24-hour).
fn parse_daily_at(text: &str) -> Option<Time> {
    let (hour, minute) = text.trim().split_once(':')?;
    if hour.is_empty() || hour.len() > 2 || minute.len() != 2 {
        return None;
    }
    Time::new(hour.parse().ok()?, minute.parse().ok()?, 0, 0).ok()
}

fn validate_smtp(data_dir: &Path, raw: SmtpSection) -> Result<Option<SmtpSettings>> {
    let Some(host) = raw.host.filter(|h| !h.trim().is_empty()) else {
        return Ok(None);
    };
    let security = Security::parse(&raw.security).with_context(|| {
        format!(
            "smtp.security: {:?} is not \"starttls\", \"tls\" or \"none\"",
            raw.security
        )
    })?;
    let Some(from) = raw.from.filter(|f| !f.trim().is_empty()) else {
        bail!("smtp.from: set the sender address, e.g. \"Gatehouse <gatehouse@example.com>\"");
    };
    let password = match (raw.password, raw.password_file) {
        (None, None) => None,
        (Some(password), None) => Some(password),
        (None, Some(path)) => Some(read_secret_file(data_dir, path, "smtp.password_file")?),
        (Some(_), Some(_)) => bail!("smtp: set password or password_file, not both"),
    };
    let credentials = match (raw.username, password) {
        (None, None) => None,
        (Some(username), Some(password)) => Some((username, password)),
        (Some(_), None) => bail!("smtp.username is set without smtp.password"),
        (None, Some(_)) => bail!("smtp.password is set without smtp.username"),
    };
    let ca_pem = read_ca_file(data_dir, raw.ca_file, "smtp.ca_file")?;
    if raw.timeout_seconds == 0 || raw.timeout_seconds > 60 {
        bail!("smtp.timeout_seconds must be between 1 and 60");
    }
    let settings = SmtpSettings {
        port: raw.port.unwrap_or(security.default_port()),
        host,
        security,
        credentials,
        ca_pem,
        from,
        timeout: Duration::from_secs(raw.timeout_seconds),
    };
    // Builds the mailer once so a bad address or CA file stops the start.
    SmtpMailer::new(&settings)?;
    Ok(Some(settings))
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

fn validate_directories(
    data_dir: &Path,
    raw: Vec<DirectorySection>,
) -> Result<Vec<DirectorySettings>> {
    let count = raw.len();
    let mut all: Vec<DirectorySettings> = Vec::with_capacity(count);
    for (index, section) in raw.into_iter().enumerate() {
        let key = format!("directory[{index}]");
        let kind = DirectoryKind::parse(&section.kind).with_context(|| {
            format!(
                "{key}.kind: {:?} is not \"active_directory\" or \"openldap\"",
                section.kind
            )
        })?;
        let defaults = DirectorySettings::defaults(kind);
        let name = match section.name.filter(|n| !n.trim().is_empty()) {
            Some(name) => name,
            None if count == 1 => "directory".to_string(),
            None => format!("directory-{}", index + 1),
        };
        if all.iter().any(|d| d.name == name) {
            bail!("{key}.name: another directory is named {name:?}");
        }
        let bind_password = match (section.bind_password, section.bind_password_file) {
            (Some(password), None) => password,
            (None, Some(path)) => {
                read_secret_file(data_dir, path, &format!("{key}.bind_password_file"))?
            }
            _ => bail!("{key}: set exactly one of bind_password and bind_password_file"),
        };
        let ca_pem = read_ca_file(data_dir, section.ca_file, &format!("{key}.ca_file"))?;
        let timeout_ms = section
            .timeout_ms
            .unwrap_or(defaults.timeout.as_millis() as u64);
        all.push(DirectorySettings {
            name,
            kind,
            urls: section.urls,
            starttls: section.starttls.unwrap_or(defaults.starttls),
            bind_dn: section.bind_dn,
            bind_password,
            base_dn: section.base_dn,
            user_filter: section.user_filter.unwrap_or(defaults.user_filter),
            login_attributes: section
                .login_attributes
                .unwrap_or(defaults.login_attributes),
            identity_attribute: section
                .identity_attribute
                .unwrap_or(defaults.identity_attribute),
            display_name_attribute: section
                .display_name_attribute
                .unwrap_or(defaults.display_name_attribute),
            allowed_groups: section.allowed_groups,
            nested_groups: section.nested_groups.unwrap_or(defaults.nested_groups),
            netbios_domains: section.netbios_domains,
            upn_suffixes: section.upn_suffixes,
            ca_pem,
            timeout: Duration::from_millis(timeout_ms),
        });
    }
    // Checks every directory (keys named) and its CA file, without
    // connecting.
    LdapDirectories::new(all.clone())?;
    Ok(all)
}

/// The contents of an extra CA file (`key` names it in errors), relative
/// to the data directory.
fn read_ca_file(data_dir: &Path, path: Option<PathBuf>, key: &str) -> Result<Option<Vec<u8>>> {
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
fn read_secret_file(data_dir: &Path, path: PathBuf, key: &str) -> Result<String> {
    let path = in_data_dir(data_dir, path);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{key}: cannot read {}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// A file named in the configuration: relative paths are taken from the
/// data directory.
fn in_data_dir(data_dir: &Path, path: PathBuf) -> PathBuf {
    if path.is_relative() {
        data_dir.join(path)
    } else {
        path
    }
}

fn validate_http(data_dir: &Path, raw: HttpSection) -> Result<HttpConfig> {
    let listen = match raw.listen.trim() {
        "" => None,
        text => Some(text.parse::<SocketAddr>().with_context(|| {
            format!("http.listen: {text:?} is not an address and port such as 127.0.0.1:8080")
        })?),
    };
    let tls = match (raw.tls_cert, raw.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            let (cert, key) = (in_data_dir(data_dir, cert), in_data_dir(data_dir, key));
            for (name, path) in [("http.tls_cert", &cert), ("http.tls_key", &key)] {
                if !path.is_file() {
                    bail!("{name}: {} does not exist", path.display());
                }
            }
            Some(gatehouse_http::Tls { cert, key })
        }
        _ => bail!("http.tls_cert and http.tls_key: set both or neither"),
    };
    let trusted_proxies = raw
        .trusted_proxies
        .iter()
        .map(|text| {
            text.parse()
                .map_err(|e: gatehouse_core::clients::NetworkParseError| {
                    anyhow::anyhow!("http.trusted_proxies: {}", e.0)
                })
        })
        .collect::<Result<Vec<_>>>()?;
    if !(1..=300).contains(&raw.header_read_timeout_seconds) {
        bail!("http.header_read_timeout_seconds must be between 1 and 300");
    }
    if !(1..=3600).contains(&raw.idle_timeout_seconds) {
        bail!("http.idle_timeout_seconds must be between 1 and 3600");
    }
    if !(1..=100_000).contains(&raw.max_connections)
        || !(1..=raw.max_connections).contains(&raw.max_connections_per_address)
    {
        bail!(
            "http.max_connections must be between 1 and 100000, and http.max_connections_per_address between 1 and http.max_connections"
        );
    }
    Ok(HttpConfig {
        secure_cookies: raw.secure_cookies.unwrap_or(tls.is_some()),
        listen,
        tls,
        trusted_proxies,
        limits: gatehouse_http::Limits {
            header_read_timeout: Duration::from_secs(raw.header_read_timeout_seconds),
            idle_timeout: Duration::from_secs(raw.idle_timeout_seconds),
            max_connections: raw.max_connections,
            max_connections_per_address: raw.max_connections_per_address,
        },
    })
}

fn validate_push(raw: PushSection) -> Result<(PushSettings, Option<String>)> {
    let mode = PushMode::parse(&raw.mode)
        .with_context(|| format!("push.mode: {:?} is not \"hold\" or \"challenge\"", raw.mode))?;
    if !(1..=120).contains(&raw.timeout_seconds) {
        bail!(
            "push.timeout_seconds must be between 1 and 120 (NAS timeouts are usually 30 to 60 seconds)"
        );
    }
    if !(5..=600).contains(&raw.lifetime_seconds) {
        bail!("push.lifetime_seconds must be between 5 and 600");
    }
    if !(1..=1000).contains(&raw.max_per_hour) {
        bail!("push.max_per_hour must be between 1 and 1000");
    }
    let public_url = match raw.public_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) => {
            let base = url.trim_end_matches('/');
            let host = base
                .strip_prefix("https://")
                .or_else(|| base.strip_prefix("http://"))
                .unwrap_or("");
            if host.is_empty() || host.contains(['/', '?', '#', ' ']) {
                bail!(
                    "push.public_url: {url:?} is not a base URL such as https://gatehouse.example.com"
                );
            }
            Some(base.to_string())
        }
    };
    Ok((
        PushSettings {
            mode,
            timeout: Duration::from_secs(raw.timeout_seconds),
            lifetime: Duration::from_secs(raw.lifetime_seconds),
            max_per_hour: raw.max_per_hour,
            number_matching: raw.number_matching,
            ..PushSettings::default()
        },
        public_url,
    ))
}

fn validate_webpush(data_dir: &Path, raw: Option<WebPushSection>) -> Result<Option<WebPushConfig>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let subject = raw.subject.trim();
    let valid = subject
        .strip_prefix("mailto:")
        .is_some_and(|address| address.contains('@'))
        || subject
            .strip_prefix("https://")
            .is_some_and(|rest| !rest.is_empty());
    if !valid || subject.contains(char::is_whitespace) {
        bail!(
            "push.webpush.subject: {subject:?} is not a mailto: or https: URI (how push services reach you)"
        );
    }
    let ca_pem = read_ca_file(data_dir, raw.ca_file, "push.webpush.ca_file")?;
    if let Some(pem) = &ca_pem {
        gatehouse_tls::client_config(Some(pem))
            .map_err(|error| anyhow::anyhow!("push.webpush.ca_file: {error}"))?;
    }
    let hosts = match &raw.allowed_hosts {
        None => gatehouse_core::push_hosts::PushServiceHosts::default(),
        Some(entries) => gatehouse_core::push_hosts::PushServiceHosts::configured(entries)
            .map_err(|error| anyhow::anyhow!("push.webpush.allowed_hosts: {error}"))?,
    };
    Ok(Some(WebPushConfig {
        subject: subject.to_string(),
        ca_pem,
        hosts,
    }))
}

fn validate_radius(data_dir: &Path, raw: RadiusSection) -> Result<RadiusConfig> {
    let listen = match raw.listen.trim() {
        "" => None,
        text => Some(text.parse::<SocketAddr>().with_context(|| {
            format!("radius.listen: {text:?} is not an address and port such as 0.0.0.0:1812")
        })?),
    };
    if raw.challenge_timeout_seconds == 0 || raw.challenge_timeout_seconds > 600 {
        bail!("radius.challenge_timeout_seconds must be between 1 and 600");
    }
    if !(1..=100_000).contains(&raw.max_in_flight)
        || !(1..=raw.max_in_flight).contains(&raw.max_in_flight_per_client)
    {
        bail!(
            "radius.max_in_flight must be between 1 and 100000, and radius.max_in_flight_per_client between 1 and radius.max_in_flight"
        );
    }
    let mut clients: Vec<RadiusClient> = Vec::new();
    for (index, section) in raw.clients.into_iter().enumerate() {
        let key = format!("radius.clients[{index}]");
        let networks = section
            .networks
            .iter()
            .map(|n| n.parse())
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{key}.networks"))?;
        let secret = match (section.secret, section.secret_file) {
            (Some(secret), None) => secret.into_bytes(),
            (None, Some(path)) => {
                read_secret_file(data_dir, path, &format!("{key}.secret_file"))?.into_bytes()
            }
            _ => bail!("{key}: set exactly one of secret and secret_file"),
        };
        let client = RadiusClient {
            name: section.name,
            networks,
            secret,
            require_message_authenticator: section.require_message_authenticator,
            limit_proxy_state: section.limit_proxy_state,
        };
        client.validate().with_context(|| key.clone())?;
        if clients.iter().any(|c| c.name == client.name) {
            bail!("{key}: another client is named {:?}", client.name);
        }
        clients.push(client);
    }
    Ok(RadiusConfig {
        listen,
        challenge_timeout: Duration::from_secs(raw.challenge_timeout_seconds),
        max_in_flight: raw.max_in_flight,
        max_in_flight_per_client: raw.max_in_flight_per_client,
        clients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_door_settings_are_read_and_checked() {
        let dir = Path::new("/nonexistent-gatehouse-data");
        let config = from_toml(
            dir,
            "[mfa]\nrequired = false\nexempt_groups = [\"CN=Svc,DC=example,DC=com\"]\n\
             [lockout]\notp_failures = 3\nminutes = 5\n[push]\nmax_per_hour = 4\nnumber_matching = true\n\
             [http]\ntrusted_proxies = [\"10.0.0.0/8\"]\nmax_connections = 10\nmax_connections_per_address = 2\n\
             [radius]\nmax_in_flight = 100\nmax_in_flight_per_client = 10\n",
        )
        .unwrap();
        assert!(!config.mfa.required);
        assert_eq!(config.lockout.otp_failures, 3);
        assert_eq!(config.lockout.first_lock, Duration::from_secs(300));
        assert_eq!(config.push.max_per_hour, 4);
        assert!(config.push.number_matching);
        assert_eq!(config.http.limits.max_connections_per_address, 2);
        assert_eq!(config.radius.max_in_flight_per_client, 10);
        let defaults = from_toml(dir, "").unwrap();
        assert!(defaults.mfa.required);
        assert_eq!(defaults.lockout, LockoutPolicy::default());
        for (bad, key) in [
            ("[mfa]\nexempt_groups = [\"admins\"]", "mfa.exempt_groups"),
            ("[lockout]\nminutes = 0", "lockout.minutes"),
            ("[push]\nmax_per_hour = 0", "push.max_per_hour"),
            (
                "[http]\ntrusted_proxies = [\"proxy\"]",
                "http.trusted_proxies",
            ),
            (
                "[http]\nmax_connections = 4\nmax_connections_per_address = 5",
                "http.max_connections",
            ),
            ("[radius]\nmax_in_flight = 0", "radius.max_in_flight"),
            (
                "[push.webpush]\nsubject = \"mailto:a@b.c\"\nallowed_hosts = [\"10.0.0.1\"]",
                "push.webpush.allowed_hosts",
            ),
        ] {
            let error = from_toml(dir, bad).unwrap_err().to_string();
            assert!(error.contains(key), "{bad}: {error}");
        }
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("gatehouse.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_need_no_file() {
        let temp = gatehouse_testkit::temp_dir();
        let dir = temp.path().to_path_buf();
        let config = load(&dir, None).unwrap();
        assert_eq!(config.storage, Storage::Sqlite(dir.join("gatehouse.db")));
        assert_eq!(config.key_file, dir.join("sealing.key"));
        assert!(config.time_zone.is_none());
        assert_eq!(config.password, PasswordParams::default());
        assert_eq!(config.totp_mode, TotpMode::Challenge);
        assert_eq!(config.push, PushSettings::default());
        assert_eq!(config.push.timeout, Duration::from_secs(25));
        assert_eq!(config.push.lifetime, Duration::from_secs(30));
        assert_eq!(config.push_public_url, None);
        assert_eq!(config.radius.listen, Some("0.0.0.0:1812".parse().unwrap()));
        assert_eq!(config.radius.challenge_timeout, Duration::from_secs(60));
        assert!(config.radius.clients.is_empty());
    }

    #[test]
    fn invalid_values_name_their_key() {
        let temp = gatehouse_testkit::temp_dir();
        let dir = temp.path().to_path_buf();
        let cases = [
            (
                "[license]\ntimezone = \"Mars/Olympus\"\n",
                "license.timezone",
            ),
            ("[storage]\nurl = \"mysql://x\"\n", "storage.url"),
            (
                "[storage]\nurl = \"postgres://gh@db/gatehouse?sslmode=verify-full\"\nmax_connections = 0\n",
                "storage.max_connections",
            ),
            (
                "[storage]\nmax_connections = 5\n",
                "storage.max_connections",
            ),
            ("[license]\ntimezone = 5\n", "license.timezone"),
            ("[licence]\ntimezone = \"UTC\"\n", "licence"),
            ("[passwords]\niterations = 0\n", "passwords"),
            ("[totp]\nmode = \"sms\"\n", "totp.mode"),
            ("[push]\nmode = \"poll\"\n", "push.mode"),
            (
                "[push.webpush]\nsubject = \"noc\"\n",
                "push.webpush.subject",
            ),
            (
                "[push.webpush]\nsubject = \"mailto:noc@example.com\"\nca_file = \"/nonexistent/ca.pem\"\n",
                "push.webpush.ca_file",
            ),
            ("[push]\ntimeout_seconds = 0\n", "push.timeout_seconds"),
            ("[push]\ntimeout_seconds = 121\n", "push.timeout_seconds"),
            ("[push]\nlifetime_seconds = 4\n", "push.lifetime_seconds"),
            (
                "[push]\npublic_url = \"gatehouse.example.com\"\n",
                "push.public_url",
            ),
            (
                "[push]\npublic_url = \"https://gh.example.com/push?x\"\n",
                "push.public_url",
            ),
            ("[radius]\nlisten = \"1812\"\n", "radius.listen"),
            ("[http]\nlisten = \"localhost\"\n", "http.listen"),
            (
                "[http]\ntls_cert = \"/nonexistent/cert.pem\"\n",
                "http.tls_cert",
            ),
            (
                "[http]\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n",
                "http.tls_cert",
            ),
            (
                "[radius]\nchallenge_timeout_seconds = 0\n",
                "radius.challenge_timeout_seconds",
            ),
            (
                "[[radius.clients]]\nname = \"vpn\"\nnetworks = [\"10.0.0.1/8\"]\nsecret = \"s\"\n",
                "radius.clients[0].networks",
            ),
            (
                "[[radius.clients]]\nname = \"vpn\"\nnetworks = [\"10.0.0.0/8\"]\n",
                "radius.clients[0]: set exactly one",
            ),
            (
                "[[radius.clients]]\nname = \"bad name\"\nnetworks = [\"10.0.0.0/8\"]\nsecret = \"s\"\n",
                "radius.clients[0]",
            ),
            (
                "[alarms]\nrecipients = [\"ops@example.com\", \"not an address\"]\n",
                "alarms.recipients",
            ),
            (
                "[alarms]\nuser_limit_percent = [75, 101]\n",
                "alarms.user_limit_percent",
            ),
            (
                "[alarms]\nuser_limit_percent = [0]\n",
                "alarms.user_limit_percent",
            ),
            (
                "[alarms]\ndays_before_end = [0]\n",
                "alarms.days_before_end",
            ),
            ("[alarms]\ndaily_at = \"25:00\"\n", "alarms.daily_at"),
            (
                // Many people share an organisation: one seat for all of them.
                "[[directory]]\nkind = \"openldap\"\nurls = [\"ldaps://dc.example.com\"]\nbind_dn = \"cn=gh\"\n\
                 bind_password = \"pw\"\nbase_dn = \"dc=example,dc=com\"\n\
                 identity_attribute = \"o\"\n",
                "directory[0].identity_attribute",
            ),
            ("[alarms]\nrecipient = []\n", "recipient"),
            (
                "[smtp]\nhost = \"mail.example.com\"\nsecurity = \"ssl\"\nfrom = \"gh@example.com\"\n",
                "smtp.security",
            ),
            ("[smtp]\nhost = \"mail.example.com\"\n", "smtp.from"),
            (
                "[smtp]\nhost = \"mail.example.com\"\nfrom = \"not an address\"\n",
                "smtp.from",
            ),
            (
                "[smtp]\nhost = \"mail.example.com\"\nsecurity = \"none\"\nfrom = \"gh@example.com\"\n",
                "smtp.security",
            ),
            (
                "[smtp]\nhost = \"mail.example.com\"\nfrom = \"gh@example.com\"\nusername = \"gh\"\n",
                "smtp.username",
            ),
            (
                "[smtp]\nhost = \"mail.example.com\"\nfrom = \"gh@example.com\"\nca_file = \"/nonexistent/ca.pem\"\n",
                "smtp.ca_file",
            ),
        ];
        for (text, key) in cases {
            let path = write(&dir, text);
            let error = load(&dir, Some(&path)).unwrap_err().to_string();
            assert!(error.contains(key), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_valid_file_is_read() {
        let temp = gatehouse_testkit::temp_dir();
        let dir = temp.path().to_path_buf();
        let path = write(
            &dir,
            "[license]\ntimezone = \"Europe/Istanbul\"\n[support]\ncontact = \"licenses@vendor.example\"\n",
        );
        let config = load(&dir, Some(&path)).unwrap();
        assert_eq!(
            config.time_zone.unwrap().iana_name(),
            Some("Europe/Istanbul")
        );
        assert_eq!(
            config.support_contact.as_deref(),
            Some("licenses@vendor.example")
        );
    }

    #[test]
    fn alarm_and_smtp_settings_are_read() {
        let temp = gatehouse_testkit::temp_dir();
        let dir = temp.path().to_path_buf();
        std::fs::write(dir.join("smtp-password"), "s3cret\n").unwrap();
        let path = write(
            &dir,
            "[alarms]\ndays_before_end = [7, 60]\nrecipients = [\"ops@example.com\"]\ndaily_at = \"06:30\"\n\
             [smtp]\nhost = \"mail.example.com\"\nsecurity = \"tls\"\nusername = \"gatehouse\"\n\
             password_file = \"smtp-password\"\nfrom = \"Gatehouse <gatehouse@example.com>\"\n",
        );
        let config = load(&dir, Some(&path)).unwrap();
        let alarms = config.alarms.unwrap();
        assert_eq!(alarms.days_before_end(), [60, 7]);
        assert_eq!(
            alarms.user_limit_percent(),
            [95, 90, 85, 75],
            "the defaults"
        );
        assert_eq!(alarms.recipients(), ["ops@example.com"]);
        assert_eq!(config.alarm_daily_at, Time::constant(6, 30, 0, 0));
        let smtp = config.smtp.unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port), ("mail.example.com", 465));
        assert_eq!(smtp.security, Security::Tls);
        assert_eq!(
            smtp.credentials,
            Some(("gatehouse".to_string(), "s3cret".to_string()))
        );
        assert!(!format!("{smtp:?}").contains("s3cret"), "never in logs");
        // No [alarms] thresholds: the panel's settings are in force.
        let path = write(&dir, "[alarms]\ndaily_at = \"07:00\"\n");
        let config = load(&dir, Some(&path)).unwrap();
        assert!(config.alarms.is_none() && config.smtp.is_none());
    }

    /// Like every file the configuration names, a secret file given by a
    /// relative path is found in the data directory, wherever Gatehouse
    /// was started from; one trailing line end is not part of it.
    #[test]
    fn secret_files_are_read_from_the_data_directory() {
        let temp = gatehouse_testkit::temp_dir();
        let dir = temp.path().to_path_buf();
        assert_ne!(std::env::current_dir().unwrap(), dir);
        std::fs::write(dir.join("vpn.secret"), "radius shared secret\n").unwrap();
        std::fs::write(dir.join("ldap.password"), "bind password\r\n").unwrap();
        let path = write(
            &dir,
            "[[radius.clients]]\nname = \"vpn\"\nnetworks = [\"10.0.0.0/8\"]\n\
             secret_file = \"vpn.secret\"\n\
             [[directory]]\nkind = \"openldap\"\nurls = [\"ldaps://ldap.example.com\"]\n\
             bind_dn = \"cn=gatehouse,dc=example,dc=com\"\nbind_password_file = \"ldap.password\"\n\
             base_dn = \"dc=example,dc=com\"\n",
        );
        let config = load(&dir, Some(&path)).unwrap();
        assert_eq!(config.radius.clients[0].secret, b"radius shared secret");
        assert_eq!(config.directories[0].bind_password, "bind password");
        // A secret file that is not there names its key and where it was
        // looked for.
        std::fs::remove_file(dir.join("vpn.secret")).unwrap();
        let error = format!("{:#}", load(&dir, Some(&path)).unwrap_err());
        assert!(error.contains("radius.clients[0].secret_file"), "{error}");
        assert!(
            error.contains(&dir.join("vpn.secret").display().to_string()),
            "{error}"
        );
    }

    #[test]
    fn a_postgres_url_is_read_and_its_password_never_shown() {
        let temp = gatehouse_testkit::temp_dir();
        let dir = temp.path().to_path_buf();
        let path = write(
            &dir,
            "[storage]\nurl = \"postgres://gh:s3cret@db.example.com:5432/gatehouse?sslmode=verify-full\"\nmax_connections = 20\n",
        );
        let config = load(&dir, Some(&path)).unwrap();
        assert_eq!(
            config.storage,
            Storage::Postgres {
                url: "postgres://gh:s3cret@db.example.com:5432/gatehouse?sslmode=verify-full"
                    .into(),
                max_connections: 20,
            }
        );
        for shown in [format!("{:?}", config.storage), config.storage.to_string()] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(
                shown.contains("gh:***@db.example.com:5432/gatehouse"),
                "{shown}"
            );
        }
        // To another host without a verified certificate: refused before
        // anything connects, saying what to change.
        let path = write(
            &dir,
            "[storage]\nurl = \"postgres://gh:s3cret@db.example.com:5432/gatehouse?sslmode=require\"\n",
        );
        let error = load(&dir, Some(&path)).unwrap_err().to_string();
        assert!(
            error.starts_with("storage.url:")
                && error.contains("sslmode=verify-full")
                && !error.contains("s3cret"),
            "{error}"
        );
        let path = write(
            &dir,
            "[storage]\nurl = \"mysql://gh:s3cret@db/gatehouse\"\n",
        );
        let error = load(&dir, Some(&path)).unwrap_err().to_string();
        assert!(
            error.contains("storage.url") && !error.contains("s3cret"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_explicit_file_is_an_error() {
        let temp = gatehouse_testkit::temp_dir();
        let dir = temp.path().to_path_buf();
        let error = load(&dir, Some(&dir.join("nope.toml")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("does not exist"), "{error}");
    }
}
