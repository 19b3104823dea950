//! The shared-secret cryptography of RADIUS: User-Password hiding
//! (RFC 2865 §5.2), the Response Authenticator (§3) and the
//! Message-Authenticator (RFC 2869 §5.14, RFC 3579 §3.2).

use hmac::{KeyInit as _, Mac as _};
use md5::{Digest as _, Md5};
use subtle::ConstantTimeEq as _;

use crate::attributes::MESSAGE_AUTHENTICATOR;
use crate::packet::{Attribute, EncodeError, MIN_PACKET, Packet};

type HmacMd5 = hmac::Hmac<Md5>;

/// Longest User-Password (RFC 2865 §5.2).
pub const MAX_PASSWORD: usize = 128;

/// Why a User-Password attribute cannot be revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("User-Password of {0} bytes is not a multiple of 16 between 16 and 128")]
    BadLength(usize),
}

/// Hides a password for an Access-Request (for clients and tests).
pub fn hide_password(
    password: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Result<Vec<u8>, PasswordError> {
    if password.len() > MAX_PASSWORD {
        return Err(PasswordError::BadLength(password.len()));
    }
    let padded_len = password.len().div_ceil(16).max(1) * 16;
    let mut out = password.to_vec();
    out.resize(padded_len, 0);
    let mut previous: [u8; 16] = *authenticator;
    for block in out.chunks_mut(16) {
        let key = Md5::new()
            .chain_update(secret)
            .chain_update(previous)
            .finalize();
        for (byte, k) in block.iter_mut().zip(key.iter()) {
            *byte ^= k;
        }
        previous.copy_from_slice(block);
    }
    Ok(out)
}

/// Reveals a hidden User-Password, dropping the NUL padding.
pub fn reveal_password(
    hidden: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Result<Vec<u8>, PasswordError> {
    if hidden.is_empty() || hidden.len() > MAX_PASSWORD || !hidden.len().is_multiple_of(16) {
        return Err(PasswordError::BadLength(hidden.len()));
    }
    let mut out = Vec::with_capacity(hidden.len());
    let mut previous: &[u8] = authenticator;
    for block in hidden.chunks(16) {
        let key = Md5::new()
            .chain_update(secret)
            .chain_update(previous)
            .finalize();
        out.extend(block.iter().zip(key.iter()).map(|(c, k)| c ^ k));
        previous = block;
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    Ok(out)
}

/// `MD5(Code + Identifier + Length + RequestAuthenticator + Attributes + Secret)`
/// over `encoded`, whose authenticator field holds the request's.
pub fn response_authenticator(encoded: &[u8], secret: &[u8]) -> [u8; 16] {
    Md5::new()
        .chain_update(encoded)
        .chain_update(secret)
        .finalize()
        .into()
}

/// What an incoming packet's Message-Authenticator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAuthenticator {
    Absent,
    Valid,
    /// Wrong value, wrong length, or more than one.
    Invalid,
}

/// Checks the Message-Authenticator of a received request. `datagram` is
/// the raw packet (as received; bytes beyond Length are ignored).
pub fn check_message_authenticator(datagram: &[u8], secret: &SharedSecret) -> MessageAuthenticator {
    let Some(length) = datagram
        .get(2..4)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .filter(|&l| l >= MIN_PACKET && l <= datagram.len())
    else {
        return MessageAuthenticator::Invalid;
    };
    let packet = &datagram[..length];
    let mut found = None;
    let mut at = MIN_PACKET;
    while at + 2 <= length {
        let attribute_length = usize::from(packet[at + 1]);
        if attribute_length < 2 || at + attribute_length > length {
            return MessageAuthenticator::Invalid;
        }
        if packet[at] == MESSAGE_AUTHENTICATOR {
            if found.is_some() || attribute_length != 18 {
                return MessageAuthenticator::Invalid;
            }
            found = Some(at + 2);
        }
        at += attribute_length;
    }
    let Some(value_at) = found else {
        return MessageAuthenticator::Absent;
    };
    // HMAC over the packet with the Message-Authenticator value zeroed,
    // fed in three parts instead of copying the packet.
    let mut mac = secret.hmac.clone();
    mac.update(&packet[..value_at]);
    mac.update(&[0u8; 16]);
    mac.update(&packet[value_at + 16..]);
    let expected: [u8; 16] = mac.finalize().into_bytes().into();
    if bool::from(expected.ct_eq(&packet[value_at..value_at + 16])) {
        MessageAuthenticator::Valid
    } else {
        MessageAuthenticator::Invalid
    }
}

fn hmac_md5(data: &[u8], secret: &SharedSecret) -> [u8; 16] {
    let mut mac = secret.hmac.clone();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A client's shared secret, with its HMAC-MD5 key schedule computed once
/// (every request and reply carries a Message-Authenticator). `Debug`
/// never shows it.
#[derive(Clone)]
pub struct SharedSecret {
    bytes: Vec<u8>,
    hmac: HmacMd5,
}

impl SharedSecret {
    pub fn new(bytes: &[u8]) -> SharedSecret {
        SharedSecret {
            bytes: bytes.to_vec(),
            hmac: HmacMd5::new_from_slice(bytes).expect("HMAC takes keys of any length"),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret(<secret>)")
    }
}

/// Encodes a reply to a request with `request_authenticator`: a
/// Message-Authenticator is placed first (RFC 3579 §3.2; computed with the
/// request authenticator in the header), then the Response Authenticator
/// is computed over the packet including it.
pub fn encode_reply(
    reply: &Packet,
    request_authenticator: &[u8; 16],
    secret: &SharedSecret,
) -> Result<Vec<u8>, EncodeError> {
    let mut packet = reply.clone();
    packet.authenticator = *request_authenticator;
    packet
        .attributes
        .retain(|a| a.kind != MESSAGE_AUTHENTICATOR);
    packet
        .attributes
        .insert(0, Attribute::new(MESSAGE_AUTHENTICATOR, [0u8; 16].to_vec()));
    let mut encoded = packet.encode()?;
    // The first attribute's value starts right after the header and its
    // two type/length octets.
    let value_at = MIN_PACKET + 2;
    let mac = hmac_md5(&encoded, secret);
    encoded[value_at..value_at + 16].copy_from_slice(&mac);
    let authenticator = response_authenticator(&encoded, secret.as_bytes());
    encoded[4..20].copy_from_slice(&authenticator);
    Ok(encoded)
}

/// Encodes a request, adding a Message-Authenticator when `with_ma` (for
/// clients and tests; the authenticator must be random per request).
pub fn encode_request(
    request: &Packet,
    secret: &SharedSecret,
    with_ma: bool,
) -> Result<Vec<u8>, EncodeError> {
    let mut packet = request.clone();
    packet
        .attributes
        .retain(|a| a.kind != MESSAGE_AUTHENTICATOR);
    if !with_ma {
        return packet.encode();
    }
    packet
        .attributes
        .push(Attribute::new(MESSAGE_AUTHENTICATOR, [0u8; 16].to_vec()));
    let mut encoded = packet.encode()?;
    let value_at = encoded.len() - 16;
    let mac = hmac_md5(&encoded, secret);
    encoded[value_at..].copy_from_slice(&mac);
    Ok(encoded)
}

/// Checks a reply's Response Authenticator against the request's (for
/// clients and tests).
pub fn verify_reply(reply: &[u8], request_authenticator: &[u8; 16], secret: &[u8]) -> bool {
    if reply.len() < MIN_PACKET {
        return false;
    }
    let mut with_request_auth = reply.to_vec();
    with_request_auth[4..20].copy_from_slice(request_authenticator);
    let expected = response_authenticator(&with_request_auth, secret);
    bool::from(expected.ct_eq(&reply[4..20]))
}

/// 16 random octets: request authenticators and State values.
pub fn random_16() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::*;
    use crate::packet::Code;
    use proptest::prelude::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// RFC 2865 §7.1: user nemo, password arctangent, secret xyzzy5461.
    const RFC_REQUEST: &str = "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
        98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
        93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
        01 10 05 06 00 00 00 03";
    const RFC_ACCEPT: &str = "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
        9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
        0e 06 c0 a8 01 03";
    const RFC_SECRET: &[u8] = b"xyzzy5461";

    #[test]
    fn rfc_2865_example_request_decodes() {
        let bytes = hex(RFC_REQUEST);
        let packet = Packet::parse(&bytes).unwrap();
        assert_eq!(packet.code, Code::AccessRequest);
        assert_eq!(packet.identifier, 0);
        assert_eq!(packet.attribute(USER_NAME), Some(&b"nemo"[..]));
        assert_eq!(
            packet.attribute(NAS_IP_ADDRESS),
            Some(&[192, 168, 1, 16][..])
        );
        assert_eq!(packet.attribute(NAS_PORT), Some(&[0, 0, 0, 3][..]));
        let hidden = packet.attribute(USER_PASSWORD).unwrap();
        assert_eq!(
            reveal_password(hidden, RFC_SECRET, &packet.authenticator).unwrap(),
            b"arctangent"
        );
        assert_eq!(
            hide_password(b"arctangent", RFC_SECRET, &packet.authenticator).unwrap(),
            hidden
        );
        assert_eq!(packet.encode().unwrap(), bytes);
        assert_eq!(
            check_message_authenticator(&bytes, &SharedSecret::new(RFC_SECRET)),
            MessageAuthenticator::Absent
        );
    }

    #[test]
    fn rfc_2865_example_accept_has_the_right_response_authenticator() {
        let request = Packet::parse(&hex(RFC_REQUEST)).unwrap();
        let accept = hex(RFC_ACCEPT);
        assert!(verify_reply(&accept, &request.authenticator, RFC_SECRET));
        assert!(!verify_reply(&accept, &request.authenticator, b"wrong"));
        let mut with_request_auth = accept.clone();
        with_request_auth[4..20].copy_from_slice(&request.authenticator);
        assert_eq!(
            response_authenticator(&with_request_auth, RFC_SECRET)[..],
            accept[4..20]
        );
    }

    #[test]
    fn long_passwords_chain_blocks() {
        let authenticator = [9u8; 16];
        for len in [1, 15, 16, 17, 31, 32, 100, 128] {
            let password = vec![b'p'; len];
            let hidden = hide_password(&password, b"secret", &authenticator).unwrap();
            assert_eq!(hidden.len(), len.div_ceil(16) * 16);
            assert_eq!(
                reveal_password(&hidden, b"secret", &authenticator).unwrap(),
                password
            );
        }
        assert_eq!(
            hide_password(&[b'p'; 129], b"s", &authenticator),
            Err(PasswordError::BadLength(129))
        );
        for bad in [0, 15, 17, 144] {
            assert_eq!(
                reveal_password(&vec![0; bad], b"s", &authenticator),
                Err(PasswordError::BadLength(bad))
            );
        }
    }

    #[test]
    fn a_reply_carries_a_valid_message_authenticator_first() {
        let request_authenticator = [3u8; 16];
        let mut reply = Packet::new(Code::AccessReject, 42, [0; 16]);
        reply.push(REPLY_MESSAGE, b"no".to_vec());
        reply.push(PROXY_STATE, b"p1".to_vec());
        let encoded = encode_reply(
            &reply,
            &request_authenticator,
            &SharedSecret::new(b"s3cret"),
        )
        .unwrap();
        let parsed = Packet::parse(&encoded).unwrap();
        assert_eq!(parsed.attributes[0].kind, MESSAGE_AUTHENTICATOR);
        assert_eq!(parsed.attributes[1..], reply.attributes[..]);
        assert!(verify_reply(&encoded, &request_authenticator, b"s3cret"));
        // The Message-Authenticator of a reply is computed with the request
        // authenticator in the header (RFC 3579 §3.2).
        let mut check = encoded.clone();
        check[4..20].copy_from_slice(&request_authenticator);
        assert_eq!(
            check_message_authenticator(&check, &SharedSecret::new(b"s3cret")),
            MessageAuthenticator::Valid
        );
        assert_eq!(
            check_message_authenticator(&check, &SharedSecret::new(b"other")),
            MessageAuthenticator::Invalid
        );
    }

    #[test]
    fn request_message_authenticators_are_checked() {
        let mut request = Packet::new(Code::AccessRequest, 1, [5; 16]);
        request.push(USER_NAME, b"alice".to_vec());
        let signed = encode_request(&request, &SharedSecret::new(b"secret"), true).unwrap();
        assert_eq!(
            check_message_authenticator(&signed, &SharedSecret::new(b"secret")),
            MessageAuthenticator::Valid
        );
        assert_eq!(
            check_message_authenticator(&signed, &SharedSecret::new(b"Secret")),
            MessageAuthenticator::Invalid
        );
        let mut tampered = signed.clone();
        tampered[23] ^= 1;
        assert_eq!(
            check_message_authenticator(&tampered, &SharedSecret::new(b"secret")),
            MessageAuthenticator::Invalid
        );
        let unsigned = encode_request(&request, &SharedSecret::new(b"secret"), false).unwrap();
        assert_eq!(
            check_message_authenticator(&unsigned, &SharedSecret::new(b"secret")),
            MessageAuthenticator::Absent
        );
        // Two Message-Authenticators, or one of the wrong length, are invalid.
        let mut doubled = Packet::parse(&signed).unwrap();
        doubled.push(MESSAGE_AUTHENTICATOR, vec![0; 16]);
        assert_eq!(
            check_message_authenticator(&doubled.encode().unwrap(), &SharedSecret::new(b"secret")),
            MessageAuthenticator::Invalid
        );
        let mut short = request.clone();
        short.push(MESSAGE_AUTHENTICATOR, vec![0; 15]);
        assert_eq!(
            check_message_authenticator(&short.encode().unwrap(), &SharedSecret::new(b"secret")),
            MessageAuthenticator::Invalid
        );
    }

    proptest! {
        #[test]
        fn message_authenticator_check_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = check_message_authenticator(&bytes, &SharedSecret::new(b"secret"));
        }

        #[test]
        fn passwords_round_trip(password in proptest::collection::vec(1u8..=255, 1..=128), secret in proptest::collection::vec(any::<u8>(), 1..40), authenticator in any::<[u8; 16]>()) {
            let hidden = hide_password(&password, &secret, &authenticator).unwrap();
            prop_assert_eq!(reveal_password(&hidden, &secret, &authenticator).unwrap(), password);
        }
    }
}
