//! Where Gatehouse may send Web Push messages (SPEC §12): a phone chooses
//! its subscription's endpoint, and Gatehouse then connects there on every
//! login, so the endpoint must be on a push service's host — never an IP
//! literal, and never a host that resolves to a private, loopback or
//! link-local address (which would let a phone make Gatehouse reach into
//! its own network).
//!
//! `push.webpush.allowed_hosts` lists the hosts: `name` exactly, or
//! `*.suffix` for any name under it. Without it the major browser push
//! services are allowed ([`DEFAULT_PUSH_SERVICES`]), on port 443. A host an
//! administrator names exactly (an on-premises push service, a test
//! service) may use any port and any address; everything else must
//! resolve to public addresses only, checked when connecting (the checked
//! address is the one connected to).

use std::net::IpAddr;

/// The push services of Chrome and Android (FCM), Firefox (Mozilla),
/// Edge (WNS) and Safari (Apple).
pub const DEFAULT_PUSH_SERVICES: &[&str] = &[
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.notify.windows.com",
    "*.push.apple.com",
];

/// A Web Push endpoint, parsed: `https://host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Lowercase DNS name (never an IP literal).
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Endpoint {
    pub fn parse(endpoint: &str) -> Result<Endpoint, &'static str> {
        const BAD: &str = "endpoint must be an https:// URL";
        if endpoint.len() > 2048 || endpoint.chars().any(|c| c.is_control() || c == ' ') {
            return Err(BAD);
        }
        let rest = endpoint.strip_prefix("https://").ok_or(BAD)?;
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        if authority.contains('@') || authority.starts_with('[') {
            return Err("endpoint must name its push service's host (no user, no IP address)");
        }
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| BAD)?),
            None => (authority, 443),
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) || port == 0 {
            return Err(BAD);
        }
        if host.parse::<IpAddr>().is_ok() || host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err("endpoint must name its push service's host (no user, no IP address)");
        }
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Ok(Endpoint { host, port, path })
    }

    /// `https://host[:port]`.
    pub fn origin(&self) -> String {
        if self.port == 443 {
            format!("https://{}", self.host)
        } else {
            format!("https://{}:{}", self.host, self.port)
        }
    }
}

/// How far a host allowed by the list is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostTrust {
    /// Named exactly by the administrator: any port, any address.
    Named,
    /// Allowed by a pattern or the defaults: port 443 and public addresses
    /// only.
    PublicOnly,
}

/// The push services' hosts subscriptions may point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushServiceHosts {
    entries: Vec<String>,
    /// `allowed_hosts` was set (its exact names are trusted).
    configured: bool,
}

impl Default for PushServiceHosts {
    fn default() -> PushServiceHosts {
        PushServiceHosts {
            entries: DEFAULT_PUSH_SERVICES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            configured: false,
        }
    }
}

impl PushServiceHosts {
    /// `push.webpush.allowed_hosts`: names and `*.suffix` patterns.
    pub fn configured(entries: &[String]) -> Result<PushServiceHosts, String> {
        let mut checked = Vec::new();
        for entry in entries {
            let entry = entry.trim().to_ascii_lowercase();
            let name = entry.strip_prefix("*.").unwrap_or(&entry);
            if Endpoint::parse(&format!("https://{name}/")).is_err() {
                return Err(format!(
                    "{entry:?} is not a host name or *.domain pattern (IP addresses are refused)"
                ));
            }
            checked.push(entry);
        }
        if checked.is_empty() {
            return Err("list at least one push service host".into());
        }
        Ok(PushServiceHosts {
            entries: checked,
            configured: true,
        })
    }

    /// Whether `endpoint` may be subscribed to, and how far its host is
    /// trusted.
    pub fn check(&self, endpoint: &str) -> Result<(Endpoint, HostTrust), &'static str> {
        const NOT_ALLOWED: &str =
            "endpoint is not on an allowed push service (push.webpush.allowed_hosts)";
        let endpoint = Endpoint::parse(endpoint)?;
        let exact = self.entries.contains(&endpoint.host);
        if exact && self.configured {
            return Ok((endpoint, HostTrust::Named));
        }
        let matched = exact
            || self.entries.iter().any(|entry| {
                entry
                    .strip_prefix('*')
                    .is_some_and(|suffix| endpoint.host.ends_with(suffix))
            });
        if !matched {
            return Err(NOT_ALLOWED);
        }
        if endpoint.port != 443 {
            return Err("endpoint must use port 443");
        }
        Ok((endpoint, HostTrust::PublicOnly))
    }
}

/// Whether `address` is on the public internet: not private, loopback,
/// link-local, shared (CGNAT), documentation, multicast, unspecified or
/// unique-local.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x64 && v6.segments()[1] == 0xff9b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_a_host() {
        let endpoint = Endpoint::parse("https://FCM.googleapis.com/fcm/send/abc").unwrap();
        assert_eq!(endpoint.host, "fcm.googleapis.com");
        assert_eq!(
            (endpoint.port, endpoint.path.as_str()),
            (443, "/fcm/send/abc")
        );
        for bad in [
            "http://fcm.googleapis.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://2130706433/x",
            "https://user@fcm.googleapis.com/x",
            "https://fcm.googleapis.com:0/x",
            "https:///x",
            "https://evil example/x",
            "https://a..b/x",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_defaults_allow_the_major_push_services_on_443_only() {
        let hosts = PushServiceHosts::default();
        for good in [
            "https://fcm.googleapis.com/fcm/send/x",
            "https://updates.push.services.mozilla.com/wpush/v2/x",
            "https://wns2-par02p.notify.windows.com/w/?token=x",
            "https://web.push.apple.com/x",
        ] {
            assert_eq!(
                hosts.check(good).unwrap().1,
                HostTrust::PublicOnly,
                "{good}"
            );
        }
        for bad in [
            "https://evil.example/x",
            "https://fcm.googleapis.com.evil.example/x",
            "https://notify.windows.com.evil.example/x",
            "https://fcm.googleapis.com:8443/x",
            "https://localhost/x",
        ] {
            assert!(hosts.check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_host_named_exactly_is_trusted_and_patterns_are_not() {
        let hosts =
            PushServiceHosts::configured(&["localhost".into(), "*.push.example.com".into()])
                .unwrap();
        assert_eq!(
            hosts.check("https://localhost:8443/wpush").unwrap().1,
            HostTrust::Named
        );
        assert_eq!(
            hosts.check("https://eu.push.example.com/x").unwrap().1,
            HostTrust::PublicOnly
        );
        assert!(
            hosts.check("https://fcm.googleapis.com/x").is_err(),
            "replaces the defaults"
        );
        assert!(PushServiceHosts::configured(&["10.0.0.1".into()]).is_err());
        assert!(PushServiceHosts::configured(&[]).is_err());
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["142.250.74.106", "2a00:1450:4001:80b::200a"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
