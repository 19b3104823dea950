//! RADIUS packets on the wire (RFC 2865 §3, §5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! |                         Authenticator (16)                    |
//! |  Attributes ...  (Type, Length, Value; Length counts all three)
//! ```
//!
//! Parsing never panics: every malformed input is a [`ParseError`].

use std::fmt;

/// Smallest packet: the header alone.
pub const MIN_PACKET: usize = 20;
/// Largest packet RFC 2865 allows.
pub const MAX_PACKET: usize = 4096;
/// Longest attribute value (the length octet counts type and length too).
pub const MAX_ATTRIBUTE_VALUE: usize = 253;

/// Packet types this server knows; anything else is kept as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    AccessRequest,
    AccessAccept,
    AccessReject,
    AccountingRequest,
    AccountingResponse,
    AccessChallenge,
    StatusServer,
    StatusClient,
    Other(u8),
}

impl Code {
    pub fn from_u8(value: u8) -> Code {
        match value {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            4 => Code::AccountingRequest,
            5 => Code::AccountingResponse,
            11 => Code::AccessChallenge,
            12 => Code::StatusServer,
            13 => Code::StatusClient,
            other => Code::Other(other),
        }
    }

    pub fn to_u8(self) -> u8 {
        match self {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccountingResponse => 5,
            Code::AccessChallenge => 11,
            Code::StatusServer => 12,
            Code::StatusClient => 13,
            Code::Other(value) => value,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::AccessRequest => f.write_str("Access-Request"),
            Code::AccessAccept => f.write_str("Access-Accept"),
            Code::AccessReject => f.write_str("Access-Reject"),
            Code::AccountingRequest => f.write_str("Accounting-Request"),
            Code::AccountingResponse => f.write_str("Accounting-Response"),
            Code::AccessChallenge => f.write_str("Access-Challenge"),
            Code::StatusServer => f.write_str("Status-Server"),
            Code::StatusClient => f.write_str("Status-Client"),
            Code::Other(value) => write!(f, "code {value}"),
        }
    }
}

/// One attribute, value kept as raw octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub kind: u8,
    pub value: Vec<u8>,
}

impl Attribute {
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Attribute {
        Attribute {
            kind,
            value: value.into(),
        }
    }
}

/// A decoded packet. Attributes stay in wire order (Proxy-State order
/// matters, RFC 2865 §5.33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub code: Code,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub attributes: Vec<Attribute>,
}

/// Why bytes are not a RADIUS packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("datagram of {0} bytes is shorter than a RADIUS header")]
    TooShort(usize),
    #[error("length field {0} is outside 20-4096")]
    BadLength(usize),
    #[error("length field {length} exceeds the {received} bytes received")]
    Truncated { length: usize, received: usize },
    #[error("attribute at offset {0} has an invalid length")]
    BadAttribute(usize),
}

/// Why a packet cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("attribute {kind} value of {len} bytes exceeds 253")]
    AttributeTooLong { kind: u8, len: usize },
    #[error("packet of {0} bytes exceeds 4096")]
    PacketTooLong(usize),
}

impl Packet {
    pub fn new(code: Code, identifier: u8, authenticator: [u8; 16]) -> Packet {
        Packet {
            code,
            identifier,
            authenticator,
            attributes: Vec::new(),
        }
    }

    /// Decodes a datagram. Octets beyond the Length field are padding and
    /// ignored (RFC 2865 §3); a datagram shorter than its Length is refused.
    pub fn parse(datagram: &[u8]) -> Result<Packet, ParseError> {
        if datagram.len() < MIN_PACKET {
            return Err(ParseError::TooShort(datagram.len()));
        }
        let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        if !(MIN_PACKET..=MAX_PACKET).contains(&length) {
            return Err(ParseError::BadLength(length));
        }
        if datagram.len() < length {
            return Err(ParseError::Truncated {
                length,
                received: datagram.len(),
            });
        }
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&datagram[4..20]);
        let mut attributes = Vec::new();
        let mut at = MIN_PACKET;
        while at < length {
            if at + 2 > length {
                return Err(ParseError::BadAttribute(at));
            }
            let attribute_length = usize::from(datagram[at + 1]);
            if attribute_length < 2 || at + attribute_length > length {
                return Err(ParseError::BadAttribute(at));
            }
            attributes.push(Attribute {
                kind: datagram[at],
                value: datagram[at + 2..at + attribute_length].to_vec(),
            });
            at += attribute_length;
        }
        Ok(Packet {
            code: Code::from_u8(datagram[0]),
            identifier: datagram[1],
            authenticator,
            attributes,
        })
    }

    /// Encodes the packet as it stands (no authenticator is computed).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(
            MIN_PACKET
                + self
                    .attributes
                    .iter()
                    .map(|a| a.value.len() + 2)
                    .sum::<usize>(),
        );
        out.push(self.code.to_u8());
        out.push(self.identifier);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.authenticator);
        for attribute in &self.attributes {
            let len = attribute.value.len();
            if len > MAX_ATTRIBUTE_VALUE {
                return Err(EncodeError::AttributeTooLong {
                    kind: attribute.kind,
                    len,
                });
            }
            out.push(attribute.kind);
            out.push((len + 2) as u8);
            out.extend_from_slice(&attribute.value);
        }
        if out.len() > MAX_PACKET {
            return Err(EncodeError::PacketTooLong(out.len()));
        }
        let length = (out.len() as u16).to_be_bytes();
        out[2] = length[0];
        out[3] = length[1];
        Ok(out)
    }

    /// The first attribute of `kind`.
    pub fn attribute(&self, kind: u8) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| a.value.as_slice())
    }

    /// Every attribute of `kind`, in order.
    pub fn attributes_of(&self, kind: u8) -> impl Iterator<Item = &[u8]> {
        self.attributes
            .iter()
            .filter(move |a| a.kind == kind)
            .map(|a| a.value.as_slice())
    }

    pub fn push(&mut self, kind: u8, value: impl Into<Vec<u8>>) {
        self.attributes.push(Attribute::new(kind, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(code: u8, id: u8, length: u16) -> Vec<u8> {
        let mut bytes = vec![code, id];
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&[7; 16]);
        bytes
    }

    #[test]
    fn malformed_datagrams_are_errors() {
        let cases: Vec<(Vec<u8>, ParseError)> = vec![
            (vec![1; 19], ParseError::TooShort(19)),
            (header(1, 0, 19), ParseError::BadLength(19)),
            (header(1, 0, 4097), ParseError::BadLength(4097)),
            (
                header(1, 0, 30),
                ParseError::Truncated {
                    length: 30,
                    received: 20,
                },
            ),
            (
                [header(1, 0, 21), vec![1]].concat(),
                ParseError::BadAttribute(20),
            ),
            (
                [header(1, 0, 22), vec![1, 1]].concat(),
                ParseError::BadAttribute(20),
            ),
            (
                [header(1, 0, 22), vec![1, 0]].concat(),
                ParseError::BadAttribute(20),
            ),
            (
                [header(1, 0, 24), vec![1, 5, 0, 0]].concat(),
                ParseError::BadAttribute(20),
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(Packet::parse(&bytes), Err(expected), "{bytes:?}");
        }
    }

    #[test]
    fn octets_beyond_the_length_are_padding() {
        let bytes = [header(1, 9, 23), vec![1, 3, b'a', 0xff, 0xff]].concat();
        let packet = Packet::parse(&bytes).unwrap();
        assert_eq!(packet.attributes, vec![Attribute::new(1, b"a".to_vec())]);
    }

    #[test]
    fn empty_attribute_values_are_allowed() {
        let bytes = [header(1, 9, 22), vec![24, 2]].concat();
        assert_eq!(Packet::parse(&bytes).unwrap().attribute(24), Some(&[][..]));
    }

    #[test]
    fn oversized_values_and_packets_are_refused_on_encode() {
        let mut packet = Packet::new(Code::AccessAccept, 1, [0; 16]);
        packet.push(18, vec![b'x'; 254]);
        assert_eq!(
            packet.encode(),
            Err(EncodeError::AttributeTooLong { kind: 18, len: 254 })
        );
        let mut packet = Packet::new(Code::AccessAccept, 1, [0; 16]);
        for _ in 0..17 {
            packet.push(18, vec![b'x'; 253]);
        }
        assert!(matches!(
            packet.encode(),
            Err(EncodeError::PacketTooLong(_))
        ));
    }

    fn arbitrary_packet() -> impl Strategy<Value = Packet> {
        (
            any::<u8>(),
            any::<u8>(),
            any::<[u8; 16]>(),
            proptest::collection::vec(
                (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..=253)),
                0..12,
            ),
        )
            .prop_map(|(code, identifier, authenticator, attributes)| Packet {
                code: Code::from_u8(code),
                identifier,
                authenticator,
                attributes: attributes
                    .into_iter()
                    .map(|(kind, value)| Attribute { kind, value })
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn parse_of_encode_is_identity(packet in arbitrary_packet()) {
            if let Ok(bytes) = packet.encode() {
                prop_assert_eq!(Packet::parse(&bytes).unwrap(), packet);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Packet::parse(&bytes);
        }

        #[test]
        fn arbitrary_bodies_behind_a_valid_header_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            declared in 0u16..600,
        ) {
            let mut bytes = vec![1, 1];
            bytes.extend_from_slice(&declared.to_be_bytes());
            bytes.extend_from_slice(&[0; 16]);
            bytes.extend_from_slice(&body);
            if let Ok(packet) = Packet::parse(&bytes) {
                // Whatever parses re-encodes to the same prefix.
                let encoded = packet.encode().unwrap();
                prop_assert_eq!(&encoded[..], &bytes[..encoded.len()]);
            }
        }
    }
}
