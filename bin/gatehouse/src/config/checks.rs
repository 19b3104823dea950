//! Each section checked and turned into what the program uses; an error
//! names the key (`http.tls_cert: …`).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use gatehouse_core::PushSettings;
use gatehouse_core::alarms::{AlarmSettings, DEFAULT_DAYS_BEFORE_END, DEFAULT_USER_LIMIT_PERCENT};
use gatehouse_core::clients::RadiusClient;
use gatehouse_core::policy::{PolicyChecks, PolicySet, PolicyText, read_policies};
use gatehouse_core::push::PushMode;
use gatehouse_core::store::LockoutPolicy;
use gatehouse_directory::{DirectoryKind, DirectorySettings, LdapDirectories};
use gatehouse_license::jiff::civil::Time;
use gatehouse_mail::{Security, SmtpMailer, SmtpSettings};
use gatehouse_radius::dictionary::Dictionary;

use super::sections::{
    AlarmsSection, DirectorySection, HttpSection, LockoutSection, PushSection, RadiusSection,
    SmtpSection, WebPushSection,
};
use super::{HttpConfig, RadiusConfig, WebPushConfig, in_data_dir, read_ca_file, read_secret_file};

pub(super) fn validate_lockout(raw: &LockoutSection) -> Result<LockoutPolicy> {
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

pub(super) fn validate_alarms(raw: AlarmsSection) -> Result<(Option<AlarmSettings>, Time)> {
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
pub(super) fn parse_daily_at(text: &str) -> Option<Time> {
    let (hour, minute) = text.trim().split_once(':')?;
    if hour.is_empty() || hour.len() > 2 || minute.len() != 2 {
        return None;
    }
    Time::new(hour.parse().ok()?, minute.parse().ok()?, 0, 0).ok()
}

pub(super) fn validate_smtp(data_dir: &Path, raw: SmtpSection) -> Result<Option<SmtpSettings>> {
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

pub(super) fn validate_directories(
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
            group_aliases: (section.group_aliases.into_iter())
                .map(|(alias, dn)| (alias.to_lowercase(), dn))
                .collect(),
            netbios_domains: section.netbios_domains,
            upn_suffixes: section.upn_suffixes,
            ca_pem,
            timeout: Duration::from_millis(timeout_ms),
            cache: Duration::from_secs(section.cache_seconds.unwrap_or(0)),
        });
    }
    // Checks every directory (keys named) and its CA file, without
    // connecting.
    LdapDirectories::new(all.clone())?;
    Ok(all)
}

/// A base URL setting (`https://gatehouse.example.com`), without a
/// trailing slash; unset or empty: `None`.
fn base_url(key: &str, raw: Option<&str>) -> Result<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(url) => {
            let base = url.trim_end_matches('/');
            let host = base
                .strip_prefix("https://")
                .or_else(|| base.strip_prefix("http://"))
                .unwrap_or("");
            if host.is_empty() || host.contains(['/', '?', '#', ' ']) {
                bail!("{key}: {url:?} is not a base URL such as https://gatehouse.example.com");
            }
            Ok(Some(base.to_string()))
        }
    }
}

pub(super) fn validate_http(data_dir: &Path, raw: HttpSection) -> Result<HttpConfig> {
    let public_url = base_url("http.public_url", raw.public_url.as_deref())?;
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
        public_url,
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

pub(super) fn validate_push(raw: PushSection) -> Result<(PushSettings, Option<String>)> {
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
    let public_url = base_url("push.public_url", raw.public_url.as_deref())?;
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

pub(super) fn validate_webpush(
    data_dir: &Path,
    raw: Option<WebPushSection>,
) -> Result<Option<WebPushConfig>> {
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

pub(super) fn validate_radius(data_dir: &Path, raw: RadiusSection) -> Result<RadiusConfig> {
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
    let mut dictionary = Dictionary::builtin();
    for path in raw.dictionaries {
        let path = in_data_dir(data_dir, path);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("radius.dictionaries: cannot read {}", path.display()))?;
        dictionary
            .load(&text)
            .with_context(|| format!("radius.dictionaries: {}", path.display()))?;
    }
    Ok(RadiusConfig {
        dictionary: Arc::new(dictionary),
        listen,
        challenge_timeout: Duration::from_secs(raw.challenge_timeout_seconds),
        max_in_flight: raw.max_in_flight,
        max_in_flight_per_client: raw.max_in_flight_per_client,
        clients,
    })
}

/// `[[policy]]`: each checked (keys, factors, networks, group sources,
/// reply templates), every reply attribute known to `dictionary` and its
/// value of the attribute's type once filled in; every error names the
/// policy (and the attribute).
pub(super) fn validate_policies(raw: &[PolicyText], checks: &PolicyChecks) -> Result<PolicySet> {
    let set = read_policies(raw).map_err(|error| anyhow::anyhow!("[[policy]]: {error}"))?;
    set.check(checks)
        .map_err(|error| anyhow::anyhow!("[[policy]]: {error}"))?;
    Ok(set)
}

/// `[log.syslog]`: where the receiver is, how it is reached, and how
/// messages name themselves.
pub(super) fn syslog(
    data_dir: &Path,
    raw: Option<super::sections::SyslogSection>,
) -> Result<Option<super::SyslogSettings>> {
    use super::syslog::{FACILITIES, SyslogSettings, Transport, parse_target};
    let Some(raw) = raw else {
        return Ok(None);
    };
    let (transport, host, port) = parse_target(raw.target.trim())
        .map_err(|error| anyhow::anyhow!("log.syslog.target: {error}"))?;
    let facility_name = raw.facility.unwrap_or_else(|| "auth".into());
    let facility = FACILITIES
        .iter()
        .find(|(name, _)| *name == facility_name)
        .map(|(_, number)| *number)
        .with_context(|| {
            let names: Vec<&str> = FACILITIES.iter().map(|(name, _)| *name).collect();
            format!(
                "log.syslog.facility: {facility_name:?} is not one of {}",
                names.join(", ")
            )
        })?;
    let app_name = raw.app_name.unwrap_or_else(|| "gatehouse".into());
    if app_name.is_empty() || app_name.len() > 48 || !app_name.chars().all(|c| c.is_ascii_graphic())
    {
        bail!("log.syslog.app_name: 1 to 48 printable ASCII characters, no spaces");
    }
    let ca_pem = read_ca_file(data_dir, raw.ca_file, "log.syslog.ca_file")?;
    let tls = match transport {
        Transport::Tls => Some(
            gatehouse_tls::client_config(ca_pem.as_deref())
                .map_err(|error| anyhow::anyhow!("log.syslog.ca_file: {error}"))?,
        ),
        _ if ca_pem.is_some() => bail!("log.syslog.ca_file applies to tls:// targets only"),
        _ => None,
    };
    Ok(Some(SyslogSettings {
        transport,
        host,
        port,
        facility,
        app_name,
        tls,
    }))
}
