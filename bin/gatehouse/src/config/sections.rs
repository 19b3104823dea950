//! The configuration file as written: one serde type per section, with
//! its defaults. Unknown keys are refused (`deny_unknown_fields`).

use std::path::PathBuf;

use gatehouse_core::policy::PolicyText;
use gatehouse_core::store::LockoutPolicy;
use gatehouse_core::{MfaSettings, PasswordParams, PushSettings, TotpMode};
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
    /// `[[policy]]`: in order, the first that matches a login decides.
    pub policy: Vec<PolicyText>,
}

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
    /// Short names for group DNs, for policies: `{ vpn-admins = "CN=…" }`.
    #[serde(default)]
    pub group_aliases: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub netbios_domains: Vec<String>,
    #[serde(default)]
    pub upn_suffixes: Vec<String>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Seconds a password the directory accepted is remembered (bound to
    /// the entry's revision); 0 or absent: bind at every login.
    #[serde(default)]
    pub cache_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Address and port of the panel and API; empty turns them off.
    pub listen: String,
    /// The panel's address as users reach it (`https://gatehouse.example.com`):
    /// where a user refused while an enrollment window is open is sent to
    /// enroll (`/my/`). Default: `push.public_url`.
    pub public_url: Option<String>,
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
            public_url: None,
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
    /// FreeRADIUS-format dictionary files for vendors not built in.
    pub dictionaries: Vec<PathBuf>,
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
            dictionaries: Vec::new(),
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

pub(super) fn yes() -> bool {
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
    /// `text` (default) or `json`: one JSON object per line.
    pub format: Option<String>,
    /// `[log.syslog]`: `serve` also sends every line to a syslog receiver.
    pub syslog: Option<SyslogSection>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyslogSection {
    /// `udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT`.
    pub target: String,
    /// TLS: a PEM file of CA certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Default `auth`.
    pub facility: Option<String>,
    /// Default `gatehouse`.
    pub app_name: Option<String>,
}
