//! The push protocol's signed messages, as a phone (or anyone) sends them:
//! fetch and subscription signatures with any time, decisions, the
//! server-signed push text with any field values, Web Push endpoints and
//! allowed hosts, enrollment secrets. Properties: nothing panics, a value
//! never adds a line to the signed text, and what is signed properly is
//! accepted.

#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::SeatKey;
use gatehouse_core::push::{
    Decision, Device, EnrollmentToken, PendingPush, SignedDecision, WebPushSubscription,
    check_decision, check_device_request, check_poll, decision_text, poll_text, webpush_text,
};
use gatehouse_core::push_hosts::{Endpoint, PushServiceHosts};
use gatehouse_license::SigningKey;
use gatehouse_license::jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use p256::ecdsa::signature::Signer as _;

#[derive(Debug, Arbitrary)]
struct Input {
    device_key: [u8; 32],
    time: i64,
    now: i64,
    signature: String,
    user: String,
    client: String,
    source: Option<String>,
    nonce_words: String,
    approve: bool,
    number: Option<u8>,
    numbered: bool,
    endpoint: String,
    p256dh: Vec<u8>,
    auth: Vec<u8>,
    hosts: Vec<String>,
    secret: String,
}

fuzz_target!(|input: Input| {
    let Ok(now) = Timestamp::from_second(input.now.clamp(0, 4_000_000_000)) else {
        return;
    };
    let Ok(key) = p256::ecdsa::SigningKey::from_slice(&input.device_key) else {
        return;
    };
    let seat = SeatKey::from_stored("local:alice".into());
    let device = Device {
        id: "d1".into(),
        seat: seat.clone(),
        public_key: key.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
    };
    let sign = |text: &str| {
        let signature: p256::ecdsa::Signature = key.sign(text.as_bytes());
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    };
    // Fetches and subscriptions, any time, any signature.
    let _ = check_poll(&device, input.time, &input.signature, now);
    let text = webpush_text("d1", input.time, &input.endpoint, "p", "a");
    let _ = check_device_request(&device, input.time, &text, &input.signature, now);
    let signed = check_poll(&device, input.time, &sign(&poll_text("d1", input.time)), now);
    let near = input.time.abs_diff(now.as_second()) <= 300;
    assert_eq!(signed.is_ok(), near, "a proper signature is accepted near the clock only");
    // The server-signed push: values never add a line.
    let mut push = PendingPush::new(
        seat,
        &input.user,
        &input.client,
        input.source.as_deref(),
        now,
        std::time::Duration::from_secs(30),
    );
    if input.numbered {
        push = push.with_number();
    }
    push.nonce = input.nonce_words.clone();
    let canonical = push.canonical();
    assert_eq!(
        canonical.lines().count(),
        8 + usize::from(input.numbered),
        "{canonical:?}"
    );
    let server = SigningKey::from_bytes(&[7; 32]);
    assert!(push.verify(&server.verifying_key(), &push.sign(&server)));
    let _ = push.verify(&server.verifying_key(), &input.signature);
    // Decisions: any, and a proper one.
    let decision = if input.approve {
        Decision::Approve
    } else {
        Decision::Deny
    };
    let any = SignedDecision {
        push_id: push.id.clone(),
        decision,
        number: input.number,
        signature: input.signature.clone(),
    };
    let _ = check_decision(&push, &device, &any, now);
    let number = if input.approve { push.number } else { None };
    let proper = SignedDecision {
        number,
        signature: sign(&decision_text(&push.nonce, decision, number)),
        ..any
    };
    assert_eq!(check_decision(&push, &device, &proper, now), Ok(decision));
    // Web Push endpoints, hosts; enrollment secrets.
    let _ = WebPushSubscription::new(&input.endpoint, input.p256dh, input.auth);
    if let Ok(endpoint) = Endpoint::parse(&input.endpoint) {
        assert!(endpoint.host.parse::<std::net::IpAddr>().is_err());
        let _ = endpoint.origin();
    }
    let _ = PushServiceHosts::default().check(&input.endpoint);
    if let Ok(hosts) = PushServiceHosts::configured(&input.hosts) {
        let _ = hosts.check(&input.endpoint);
    }
    let _ = EnrollmentToken::hash(&input.secret);
});
