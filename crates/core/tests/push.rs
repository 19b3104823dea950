//! Push approval through the service, against a real SQLite store: a phone
//! enrolls, sees the pushes for its user signed by the installation, and
//! its decision counts once; other phones, late answers and forgeries do
//! not. (The phone here is a P-256 key in the test, signing as WebCrypto
//! does.)

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::push::{Decision, DecisionRefusal, SignedDecision, decision_text};
use gatehouse_core::store::Store;
use gatehouse_core::{
    Gatehouse, Identity, ManualClock, PasswordParams, PushError, Settings, Username,
};
use gatehouse_license::Signer as _;
use gatehouse_license::jiff::Timestamp;
use gatehouse_store::SqliteStore;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

async fn service(name: &str) -> (Gatehouse, Arc<ManualClock>) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("push")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.join("gatehouse.db")).await.unwrap());
    let clock = Arc::new(ManualClock::new(ts("2026-11-28T10:00:00Z")));
    let gatehouse = Gatehouse::open(
        store,
        Settings {
            time_zone: Some(gatehouse_license::jiff::tz::TimeZone::UTC),
            password: PasswordParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            ..Settings::new(clock.clone())
        },
    )
    .await
    .unwrap();
    (gatehouse, clock)
}

fn user(name: &str) -> Identity {
    Identity::local(&Username::parse(name).unwrap(), name)
}

/// A phone's key pair.
fn phone() -> p256::ecdsa::SigningKey {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    p256::ecdsa::SigningKey::from_slice(&secret).unwrap()
}

fn public_key(key: &p256::ecdsa::SigningKey) -> Vec<u8> {
    key.verifying_key().to_sec1_point(false).as_bytes().to_vec()
}

fn answer(
    key: &p256::ecdsa::SigningKey,
    push_id: &str,
    nonce: &str,
    decision: Decision,
) -> SignedDecision {
    let signature: p256::ecdsa::Signature = key.sign(decision_text(nonce, decision).as_bytes());
    SignedDecision {
        push_id: push_id.to_string(),
        decision,
        signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    }
}

#[tokio::test]
async fn an_enrolled_phone_sees_its_users_pushes_and_decides_once() {
    let (gatehouse, clock) = service("decide-once").await;
    let alice = user("alice");
    let key = phone();
    let device = gatehouse
        .enroll_push_device(&alice, "Alice's phone", &public_key(&key))
        .await
        .unwrap();
    let push = gatehouse
        .start_push(
            &alice,
            "vpn-gw",
            Some("198.51.100.7"),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    // Bob's push is not shown on Alice's phone.
    gatehouse
        .start_push(&user("bob"), "vpn-gw", None, Duration::from_secs(30))
        .await
        .unwrap();
    let shown = gatehouse.device_pushes(&device).await.unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].push.id, push.id);
    assert_eq!(
        (shown[0].push.user.as_str(), shown[0].push.client.as_str()),
        ("alice", "vpn-gw")
    );
    assert!(
        shown[0]
            .push
            .verify(&gatehouse.push_verifying_key(), &shown[0].signature),
        "signed by the installation"
    );
    clock.set(ts("2026-11-28T10:00:05Z"));
    let approve = answer(&key, &push.id, &push.nonce, Decision::Approve);
    assert_eq!(
        gatehouse.decide_push(&device, &approve).await.unwrap(),
        Decision::Approve
    );
    assert_eq!(
        gatehouse.push_decision(&push.id).await.unwrap(),
        Some(Decision::Approve)
    );
    // Replayed, or a second answer: refused, the first stands.
    for again in [
        approve.clone(),
        answer(&key, &push.id, &push.nonce, Decision::Deny),
    ] {
        assert!(matches!(
            gatehouse.decide_push(&device, &again).await,
            Err(PushError::Refused(DecisionRefusal::AlreadyDecided))
        ));
    }
    assert_eq!(
        gatehouse.push_decision(&push.id).await.unwrap(),
        Some(Decision::Approve)
    );
    assert!(gatehouse.device_pushes(&device).await.unwrap().is_empty());
}

#[tokio::test]
async fn forged_late_and_foreign_answers_change_nothing() {
    let (gatehouse, clock) = service("refusals").await;
    let alice = user("alice");
    let key = phone();
    let device = gatehouse
        .enroll_push_device(&alice, "phone", &public_key(&key))
        .await
        .unwrap();
    let bob_key = phone();
    let bob_device = gatehouse
        .enroll_push_device(&user("bob"), "phone", &public_key(&bob_key))
        .await
        .unwrap();
    let push = gatehouse
        .start_push(&alice, "vpn-gw", None, Duration::from_secs(30))
        .await
        .unwrap();
    // Forged: signed with a key that is not the device's.
    let forged = answer(&phone(), &push.id, &push.nonce, Decision::Approve);
    assert!(matches!(
        gatehouse.decide_push(&device, &forged).await,
        Err(PushError::Refused(DecisionRefusal::BadSignature))
    ));
    // Bob's phone answering Alice's push.
    let foreign = answer(&bob_key, &push.id, &push.nonce, Decision::Approve);
    assert!(matches!(
        gatehouse.decide_push(&bob_device, &foreign).await,
        Err(PushError::Refused(DecisionRefusal::OtherUser))
    ));
    // Unknown device or push.
    let approve = answer(&key, &push.id, &push.nonce, Decision::Approve);
    assert!(matches!(
        gatehouse.decide_push("no-such-device", &approve).await,
        Err(PushError::UnknownDevice)
    ));
    let mut unknown = approve.clone();
    unknown.push_id = "no-such-push".into();
    assert!(matches!(
        gatehouse.decide_push(&device, &unknown).await,
        Err(PushError::UnknownPush)
    ));
    // Too late.
    clock.set(ts("2026-11-28T10:00:30Z"));
    assert!(matches!(
        gatehouse.decide_push(&device, &approve).await,
        Err(PushError::Refused(DecisionRefusal::Expired))
    ));
    assert_eq!(gatehouse.push_decision(&push.id).await.unwrap(), None);
    assert!(
        gatehouse.device_pushes(&device).await.unwrap().is_empty(),
        "expired pushes are not shown"
    );
    // A key that is not a P-256 point is never enrolled.
    assert!(matches!(
        gatehouse
            .enroll_push_device(&alice, "broken", &[4; 65])
            .await,
        Err(PushError::BadDeviceKey)
    ));
}
