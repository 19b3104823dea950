//! `[log.syslog]` as checked: where the receiver is and how it is
//! reached; the sender is the binary's `syslog` module.

use std::sync::Arc;

/// How the receiver is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// The validated `[log.syslog]` section.
#[derive(Clone)]
pub struct SyslogSettings {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    /// RFC 5424 facility number (`auth` is 4).
    pub facility: u8,
    pub app_name: String,
    /// TLS: the client settings (system CAs plus `ca_file`).
    pub tls: Option<Arc<gatehouse_tls::ClientConfig>>,
}

impl std::fmt::Debug for SyslogSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogSettings")
            .field("transport", &self.transport)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("facility", &self.facility)
            .field("app_name", &self.app_name)
            .finish_non_exhaustive()
    }
}

/// Facility names as syslog.conf writes them, and their numbers.
pub const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("authpriv", 10),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Reads `udp://HOST:PORT`, `tcp://HOST:PORT` or `tls://HOST:PORT`
/// (IPv6 hosts in brackets).
pub fn parse_target(target: &str) -> Result<(Transport, String, u16), String> {
    let expected =
        || format!("{target:?}: expected udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT");
    let (scheme, rest) = target.split_once("://").ok_or_else(expected)?;
    let transport = match scheme {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        _ => return Err(expected()),
    };
    let (host, port) = rest.rsplit_once(':').ok_or_else(expected)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().map_err(|_| expected())?;
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:_".contains(c));
    if !valid_host || port == 0 {
        return Err(expected());
    }
    Ok((transport, host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_transport_a_host_and_a_port() {
        assert_eq!(
            parse_target("udp://127.0.0.1:514"),
            Ok((Transport::Udp, "127.0.0.1".into(), 514))
        );
        assert_eq!(
            parse_target("tls://siem.example.com:6514"),
            Ok((Transport::Tls, "siem.example.com".into(), 6514))
        );
        assert_eq!(
            parse_target("tcp://[2001:db8::5]:601"),
            Ok((Transport::Tcp, "2001:db8::5".into(), 601))
        );
        for bad in [
            "",
            "127.0.0.1:514",
            "http://host:514",
            "udp://host",
            "udp://host:0",
            "udp://host:70000",
            "udp://:514",
            "tcp://bad host:514",
            "tcp://host/path:514",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn facilities_are_the_syslog_numbers() {
        let number = |name: &str| FACILITIES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f);
        assert_eq!(number("auth"), Some(4));
        assert_eq!(number("authpriv"), Some(10));
        assert_eq!(number("local7"), Some(23));
    }
}
