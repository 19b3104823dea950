//! A datagram as the RADIUS server receives it: the packet parser, the
//! Message-Authenticator check, reading an Access-Request (User-Password
//! revealed with the shared secret) and encoding a reply to it. With the
//! first byte odd, the harness first seals the datagram's
//! Message-Authenticator with the secret (as a NAS would), so the fuzzer
//! reaches what lies behind the check; the check must then say Valid.

#![no_main]

use gatehouse_radius::crypto::{MessageAuthenticator, SharedSecret, check_message_authenticator};
use gatehouse_radius::{AccessRequest, Packet, Reply};
use hmac::{KeyInit as _, Mac as _};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-shared-secret";

/// Where the single Message-Authenticator's value is, if the attributes
/// are well formed.
fn message_authenticator_at(datagram: &[u8]) -> Option<usize> {
    let length = usize::from(u16::from_be_bytes([*datagram.get(2)?, *datagram.get(3)?]));
    if length < 20 || length > datagram.len() {
        return None;
    }
    let (mut at, mut found) = (20, None);
    while at + 2 <= length {
        let attribute = usize::from(datagram[at + 1]);
        if attribute < 2 || at + attribute > length {
            return None;
        }
        if datagram[at] == 80 {
            if found.is_some() || attribute != 18 {
                return None;
            }
            found = Some(at + 2);
        }
        at += attribute;
    }
    found
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let secret = SharedSecret::new(SECRET);
    let mut datagram = rest.to_vec();
    if mode & 1 == 1
        && let Some(at) = message_authenticator_at(&datagram)
    {
        let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        datagram[at..at + 16].fill(0);
        let mut mac = hmac::Hmac::<md5::Md5>::new_from_slice(SECRET).unwrap();
        mac.update(&datagram[..length]);
        let value = mac.finalize().into_bytes();
        datagram[at..at + 16].copy_from_slice(&value);
        assert_eq!(
            check_message_authenticator(&datagram, &secret),
            MessageAuthenticator::Valid
        );
    }
    let _ = check_message_authenticator(&datagram, &secret);
    let Ok(packet) = Packet::parse(&datagram) else {
        return;
    };
    // What parses encodes, and what it encodes parses to the same bytes.
    if let Ok(bytes) = packet.encode() {
        let again = Packet::parse(&bytes).expect("an encoded packet parses");
        assert_eq!(again.encode().expect("and encodes again"), bytes);
    }
    let context = match AccessRequest::from_packet(&packet, SECRET) {
        Ok(request) => request.context(),
        Err((_, context)) => context,
    };
    for reply in [
        Reply::Accept {
            message: None,
            attributes: Vec::new(),
        },
        Reply::Reject {
            message: "Invalid username or password".into(),
        },
    ] {
        let _ = reply.encode(&context, &secret);
    }
});
