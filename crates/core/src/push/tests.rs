//! The push protocol's rules, case by case.

use super::*;
use crate::identity::Username;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn seat(name: &str) -> SeatKey {
    SeatKey::local(&Username::parse(name).unwrap())
}

/// A phone: its key pair and its enrollment.
fn phone(user: &str, id: &str) -> (p256::ecdsa::SigningKey, Device) {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let key = p256::ecdsa::SigningKey::from_slice(&secret).unwrap();
    let public_key = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
    (
        key,
        Device {
            id: id.to_string(),
            seat: seat(user),
            public_key,
        },
    )
}

fn sign(key: &p256::ecdsa::SigningKey, push: &PendingPush, decision: Decision) -> SignedDecision {
    sign_number(key, push, decision, None)
}

fn sign_number(
    key: &p256::ecdsa::SigningKey,
    push: &PendingPush,
    decision: Decision,
    number: Option<u8>,
) -> SignedDecision {
    let signature: p256::ecdsa::Signature =
        key.sign(decision_text(&push.nonce, decision, number).as_bytes());
    SignedDecision {
        push_id: push.id.clone(),
        decision,
        number,
        signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    }
}

#[test]
fn a_time_at_the_ends_of_the_range_is_stale_not_an_overflow() {
    let (key, device) = phone("alice", "d1");
    let now = Timestamp::UNIX_EPOCH;
    for time in [i64::MIN, i64::MIN + 1, i64::MAX] {
        let signature: p256::ecdsa::Signature = key.sign(poll_text("d1", time).as_bytes());
        assert_eq!(
            check_poll(
                &device,
                time,
                &URL_SAFE_NO_PAD.encode(signature.to_bytes()),
                now
            ),
            Err(PollRefusal::Stale),
            "{time}"
        );
    }
}

#[test]
fn with_number_matching_only_the_right_number_approves() {
    let push = push_for("alice").with_number();
    let (key, device) = phone("alice", "d1");
    let number = push.number.unwrap();
    assert_eq!(push.choices.len(), 3);
    assert!(push.choices.contains(&number));
    assert!(push.choices.iter().all(|c| (10..100).contains(c)));
    assert!(push.canonical().contains(&format!(
        "choices={},{},{}\n",
        push.choices[0], push.choices[1], push.choices[2]
    )));
    assert!(
        !push.canonical().contains("number"),
        "the number is not sent"
    );
    let now = push.created_at;
    let wrong = *push.choices.iter().find(|c| **c != number).unwrap();
    assert_eq!(
        check_decision(&push, &device, &sign(&key, &push, Decision::Approve), now),
        Err(DecisionRefusal::NumberMissing)
    );
    assert_eq!(
        check_decision(
            &push,
            &device,
            &sign_number(&key, &push, Decision::Approve, Some(wrong)),
            now
        ),
        Err(DecisionRefusal::WrongNumber)
    );
    let mut forged = sign_number(&key, &push, Decision::Approve, Some(wrong));
    forged.number = Some(number);
    assert_eq!(
        check_decision(&push, &device, &forged, now),
        Err(DecisionRefusal::BadSignature),
        "the number is signed"
    );
    assert_eq!(
        check_decision(
            &push,
            &device,
            &sign_number(&key, &push, Decision::Approve, Some(number)),
            now
        ),
        Ok(Decision::Approve)
    );
    assert_eq!(
        check_decision(&push, &device, &sign(&key, &push, Decision::Deny), now),
        Ok(Decision::Deny),
        "denying needs no number"
    );
}

fn push_for(user: &str) -> PendingPush {
    PendingPush::new(
        seat(user),
        user,
        "vpn-gw",
        Some("198.51.100.7"),
        ts("2026-11-28T10:00:00Z"),
        std::time::Duration::from_secs(30),
    )
}

#[test]
fn a_decision_signed_by_the_users_phone_is_accepted() {
    let push = push_for("alice");
    let (key, device) = phone("alice", "d1");
    let now = ts("2026-11-28T10:00:10Z");
    for decision in [Decision::Approve, Decision::Deny] {
        assert_eq!(
            check_decision(&push, &device, &sign(&key, &push, decision), now),
            Ok(decision)
        );
    }
    // A compressed public key works too.
    let compressed = Device {
        public_key: key.verifying_key().to_sec1_point(true).as_bytes().to_vec(),
        ..device
    };
    assert_eq!(
        check_decision(
            &push,
            &compressed,
            &sign(&key, &push, Decision::Approve),
            now
        ),
        Ok(Decision::Approve)
    );
}

#[test]
fn forged_replayed_expired_and_foreign_decisions_are_refused() {
    let push = push_for("alice");
    let (key, device) = phone("alice", "d1");
    let (other_key, _) = phone("alice", "d2");
    let (bob_key, bob_device) = phone("bob", "d3");
    let now = ts("2026-11-28T10:00:10Z");
    // Forged: signed by a key that is not this device's.
    assert_eq!(
        check_decision(
            &push,
            &device,
            &sign(&other_key, &push, Decision::Approve),
            now
        ),
        Err(DecisionRefusal::BadSignature)
    );
    // A deny turned into an approve in transit.
    let mut flipped = sign(&key, &push, Decision::Deny);
    flipped.decision = Decision::Approve;
    assert_eq!(
        check_decision(&push, &device, &flipped, now),
        Err(DecisionRefusal::BadSignature)
    );
    // Garbage signatures.
    for garbage in ["", "not base64!", "AAAA"] {
        let mut bad = sign(&key, &push, Decision::Approve);
        bad.signature = garbage.to_string();
        assert_eq!(
            check_decision(&push, &device, &bad, now),
            Err(DecisionRefusal::BadSignature),
            "{garbage:?}"
        );
    }
    // Replayed: the push was already decided.
    let decided = PendingPush {
        decided: Some(Decision::Approve),
        ..push.clone()
    };
    assert_eq!(
        check_decision(
            &decided,
            &device,
            &sign(&key, &push, Decision::Approve),
            now
        ),
        Err(DecisionRefusal::AlreadyDecided)
    );
    // A signature made for another push (another nonce) is no good here.
    let other_push = push_for("alice");
    let mut moved = sign(&key, &other_push, Decision::Approve);
    moved.push_id = push.id.clone();
    assert_eq!(
        check_decision(&push, &device, &moved, now),
        Err(DecisionRefusal::BadSignature)
    );
    assert_eq!(
        check_decision(
            &push,
            &device,
            &sign(&key, &other_push, Decision::Approve),
            now
        ),
        Err(DecisionRefusal::OtherPush)
    );
    // Expired: at the expiry time and after.
    for late in ["2026-11-28T10:00:30Z", "2026-11-28T11:00:00Z"] {
        assert_eq!(
            check_decision(
                &push,
                &device,
                &sign(&key, &push, Decision::Approve),
                ts(late)
            ),
            Err(DecisionRefusal::Expired),
            "{late}"
        );
    }
    // Bob's phone deciding Alice's push, even with a valid signature.
    assert_eq!(
        check_decision(
            &push,
            &bob_device,
            &sign(&bob_key, &push, Decision::Approve),
            now
        ),
        Err(DecisionRefusal::OtherUser)
    );
    // A device record whose key is not a P-256 point.
    let broken = Device {
        public_key: vec![4; 65],
        ..device
    };
    assert_eq!(
        check_decision(&push, &broken, &sign(&key, &push, Decision::Approve), now),
        Err(DecisionRefusal::BadDeviceKey)
    );
}

#[test]
fn a_fetch_is_accepted_only_signed_by_the_device_near_the_servers_time() {
    let (key, device) = phone("alice", "d1");
    let (other_key, _) = phone("alice", "d2");
    let now = ts("2026-11-28T10:00:00Z");
    let signed = |key: &p256::ecdsa::SigningKey, device: &str, at: i64| {
        let signature: p256::ecdsa::Signature = key.sign(poll_text(device, at).as_bytes());
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    };
    let at = now.as_second();
    assert_eq!(
        check_poll(&device, at, &signed(&key, "d1", at), now),
        Ok(())
    );
    // A phone clock a few minutes off is fine; further is not.
    let skewed = at - POLL_SKEW_SECONDS;
    assert_eq!(
        check_poll(&device, skewed, &signed(&key, "d1", skewed), now),
        Ok(())
    );
    for stale in [at - POLL_SKEW_SECONDS - 1, at + POLL_SKEW_SECONDS + 1] {
        assert_eq!(
            check_poll(&device, stale, &signed(&key, "d1", stale), now),
            Err(PollRefusal::Stale)
        );
    }
    // Another key, another device's text, another time, garbage.
    for signature in [
        signed(&other_key, "d1", at),
        signed(&key, "d2", at),
        signed(&key, "d1", at - 1),
        "AAAA".to_string(),
    ] {
        assert_eq!(
            check_poll(&device, at, &signature, now),
            Err(PollRefusal::BadSignature)
        );
    }
}

#[test]
fn an_enrollment_link_is_a_random_secret_and_only_its_hash_is_kept() {
    let now = ts("2026-11-28T10:00:00Z");
    let (token, secret) = EnrollmentToken::new(
        seat("alice"),
        "alice",
        now,
        std::time::Duration::from_secs(600),
    );
    assert_eq!(token.expires_at, ts("2026-11-28T10:10:00Z"));
    let hash = EnrollmentToken::hash(&secret).unwrap();
    assert_eq!(EnrollmentToken::hash(&format!(" {secret}\n")), Some(hash));
    assert!(!secret.contains(&token.id) && !token.id.contains(&secret));
    let (again, other) = EnrollmentToken::new(
        seat("alice"),
        "alice",
        now,
        std::time::Duration::from_secs(600),
    );
    assert_ne!(again.id, token.id);
    assert_ne!(EnrollmentToken::hash(&other), Some(hash));
    // Not the shape of a secret: refused before any lookup.
    for garbage in [
        "",
        ".",
        "abc",
        "abc.def",
        &format!("{secret}="),
        &secret[1..],
    ] {
        assert_eq!(EnrollmentToken::hash(garbage), None, "{garbage:?}");
    }
}

#[test]
fn the_server_signs_what_the_phone_shows() {
    let server = SigningKey::from_bytes(&[7; 32]);
    let push = push_for("alice");
    let signature = push.sign(&server);
    assert!(push.verify(&server.verifying_key(), &signature));
    let text = push.canonical();
    assert!(text.starts_with("gatehouse-push-v1\nid="));
    assert!(text.contains("\nuser=alice\nclient=vpn-gw\nsource=198.51.100.7\n"));
    // Any change to what is shown breaks the signature.
    for tampered in [
        PendingPush {
            user: "mallory".into(),
            ..push.clone()
        },
        PendingPush {
            client: "other-nas".into(),
            ..push.clone()
        },
        PendingPush {
            source: None,
            ..push.clone()
        },
        PendingPush {
            expires_at: ts("2026-11-28T12:00:00Z"),
            ..push.clone()
        },
    ] {
        assert!(!tampered.verify(&server.verifying_key(), &signature));
    }
    // A line break cannot smuggle a field in.
    let sneaky = PendingPush {
        user: "alice\nclient=trusted".into(),
        ..push.clone()
    };
    assert_eq!(
        sneaky.canonical().lines().count(),
        push.canonical().lines().count()
    );
    // Fresh ids and nonces.
    let again = push_for("alice");
    assert_ne!(
        (again.id.as_str(), again.nonce.as_str()),
        (push.id.as_str(), push.nonce.as_str())
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(&push.nonce).unwrap().len(), 32);
}
