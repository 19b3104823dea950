//! RADIUS clients (the NAS devices allowed to ask): name, source networks,
//! shared secret and the Message-Authenticator rules.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The address that stands for `address`'s holder when connections or
/// attempts are counted per address: an IPv4 address (also one mapped into
/// IPv6) as itself, an IPv6 address as its /64 (which one holder usually
/// has whole, so rotating within it gains nothing).
pub fn holder(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// An IP network in CIDR form (`10.0.0.0/8`, `2001:db8::/32`, or a single
/// address). Host bits must be zero, so a typo like `10.0.0.1/8` is caught.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

/// Why a string is not a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid network {0:?}: expected an address or CIDR such as 10.0.0.0/8, with no host bits set"
)]
pub struct NetworkParseError(pub String);

impl Network {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.address, canonical(address)) {
            (IpAddr::V4(network), IpAddr::V4(candidate)) => {
                prefix_matches(&network.octets(), &candidate.octets(), self.prefix)
            }
            (IpAddr::V6(network), IpAddr::V6(candidate)) => {
                prefix_matches(&network.octets(), &candidate.octets(), self.prefix)
            }
            _ => false,
        }
    }

    /// Longer prefixes are more specific.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket
/// reports) are matched as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_matches(network: &[u8], candidate: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if network[..full] != candidate[..full] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        network[full] & mask == candidate[full] & mask
    }
}

impl FromStr for Network {
    type Err = NetworkParseError;

    fn from_str(text: &str) -> Result<Network, NetworkParseError> {
        let error = || NetworkParseError(text.to_string());
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let address = canonical(IpAddr::from_str(address).map_err(|_| error())?);
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) => {
                prefix.parse::<u8>().map_err(|_| error())?
            }
            Some(_) => return Err(error()),
            None => max,
        };
        if prefix > max {
            return Err(error());
        }
        let network = Network { address, prefix };
        // Host bits must be zero.
        let host_bits_clear = match address {
            IpAddr::V4(v4) => bits_clear(&v4.octets(), prefix),
            IpAddr::V6(v6) => bits_clear(&v6.octets(), prefix),
        };
        if host_bits_clear {
            Ok(network)
        } else {
            Err(error())
        }
    }
}

fn bits_clear(octets: &[u8], prefix: u8) -> bool {
    octets.iter().enumerate().all(|(index, &octet)| {
        let covered = (usize::from(prefix)).saturating_sub(index * 8).min(8) as u32;
        let host_mask = if covered == 8 { 0 } else { 0xffu8 >> covered };
        octet & host_mask == 0
    })
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Network({self})")
    }
}

/// A RADIUS client. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct RadiusClient {
    pub name: String,
    pub networks: Vec<Network>,
    pub secret: Vec<u8>,
    /// Drop Access-Requests without a valid Message-Authenticator.
    pub require_message_authenticator: bool,
    /// Drop requests carrying Proxy-State without a Message-Authenticator.
    pub limit_proxy_state: bool,
}

impl fmt::Debug for RadiusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RadiusClient")
            .field("name", &self.name)
            .field("networks", &self.networks)
            .field("secret", &"<secret>")
            .field(
                "require_message_authenticator",
                &self.require_message_authenticator,
            )
            .field("limit_proxy_state", &self.limit_proxy_state)
            .finish()
    }
}

/// Why a client definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("client name must be 1-64 characters of letters, digits, '.', '-' or '_'")]
    BadName,
    #[error("client {0:?} needs at least one network")]
    NoNetworks(String),
    #[error("the shared secret is empty")]
    EmptySecret,
    #[error("the shared secret is longer than 128 bytes")]
    LongSecret,
}

impl RadiusClient {
    /// Checks a client before it is stored or used.
    pub fn validate(&self) -> Result<(), ClientError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !name_ok {
            return Err(ClientError::BadName);
        }
        if self.networks.is_empty() {
            return Err(ClientError::NoNetworks(self.name.clone()));
        }
        if self.secret.is_empty() {
            return Err(ClientError::EmptySecret);
        }
        if self.secret.len() > 128 {
            return Err(ClientError::LongSecret);
        }
        Ok(())
    }

    /// The most specific network of this client containing `address`.
    pub fn matching_prefix(&self, address: IpAddr) -> Option<u8> {
        self.networks
            .iter()
            .filter(|n| n.contains(address))
            .map(Network::prefix)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_holder_counts_as_its_64() {
        let a: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(holder(a), holder(b));
        assert_ne!(holder(a), holder(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(holder(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_match() {
        let cases = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.168.1.16", "192.168.1.16", true),
            ("192.168.1.16", "192.168.1.17", false),
            ("192.168.1.0/25", "192.168.1.127", true),
            ("192.168.1.0/25", "192.168.1.128", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            ("127.0.0.1", "::ffff:127.0.0.1", true),
            ("::1", "127.0.0.1", false),
        ];
        for (network, address, expected) in cases {
            let network: Network = network.parse().unwrap();
            assert_eq!(
                network.contains(ip(address)),
                expected,
                "{network} {address}"
            );
        }
    }

    #[test]
    fn bad_networks_are_refused() {
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.1/8",
            "10.0.0.0/",
            "10.0.0.0/x",
            "host.example",
            "10.0.0.0/8/8",
            "::1/129",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn clients_are_validated_and_never_show_their_secret() {
        let client = RadiusClient {
            name: "vpn-1".into(),
            networks: vec!["10.0.0.0/8".parse().unwrap()],
            secret: b"s3cret-shared".to_vec(),
            require_message_authenticator: true,
            limit_proxy_state: true,
        };
        assert_eq!(client.validate(), Ok(()));
        assert!(!format!("{client:?}").contains("s3cret"));
        assert_eq!(
            RadiusClient {
                name: "bad name".into(),
                ..client.clone()
            }
            .validate(),
            Err(ClientError::BadName)
        );
        assert_eq!(
            RadiusClient {
                secret: vec![],
                ..client.clone()
            }
            .validate(),
            Err(ClientError::EmptySecret)
        );
        assert!(
            RadiusClient {
                networks: vec![],
                ..client.clone()
            }
            .validate()
            .is_err()
        );
        assert_eq!(client.matching_prefix(ip("10.1.2.3")), Some(8));
        assert_eq!(client.matching_prefix(ip("11.1.2.3")), None);
    }
}
