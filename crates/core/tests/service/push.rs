//! Push approval through the service, against a real SQLite store: a phone
//! enrolls, sees the pushes for its user signed by the installation, and
//! its decision counts once; other phones, late answers and forgeries do
//! not. (The phone here is a P-256 key in the test, signing as WebCrypto
//! does.)

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::push::PushMode;
use gatehouse_core::push::{
    Decision, DecisionRefusal, EnrollmentRefusal, SignedDecision, decision_text,
};
use gatehouse_core::{
    Gatehouse, Identity, LoginStep, ManualClock, PushError, PushSettings, Refusal, Settings,
    Username,
};
use gatehouse_license::Signer as _;
use gatehouse_testkit::{TestLicense, issue_key};

use crate::support::{self, fresh_database, test_dir, ts};

async fn service(name: &str) -> (Gatehouse, Arc<ManualClock>) {
    service_with(name, PushSettings::default()).await
}

async fn service_with(name: &str, push: PushSettings) -> (Gatehouse, Arc<ManualClock>) {
    fresh_database("push", name);
    let clock = Arc::new(ManualClock::new(ts("2026-11-28T10:00:00Z")));
    (node(name, clock.clone(), push).await, clock)
}

/// A Gatehouse over the store of test `name`: another node of the same
/// installation once [`service_with`] made it.
async fn node(name: &str, clock: Arc<ManualClock>, push: PushSettings) -> Gatehouse {
    support::open(
        &test_dir("push", name).join("gatehouse.db"),
        Settings {
            push,
            ..support::settings(clock, &gatehouse_license::jiff::tz::TimeZone::UTC)
        },
    )
    .await
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
    let signature: p256::ecdsa::Signature =
        key.sign(decision_text(nonce, decision, None).as_bytes());
    SignedDecision {
        push_id: push_id.to_string(),
        decision,
        number: None,
        signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
    }
}

#[tokio::test]
async fn an_enrolled_phone_sees_its_users_pushes_and_decides_once() {
    let (gatehouse, clock) = service("decide-once").await;
    let alice = user("alice");
    let (device, key) = enrolled_phone(&gatehouse, &alice, "Alice's phone").await;
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
    let (device, key) = enrolled_phone(&gatehouse, &alice, "phone").await;
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

/// Push settings for tests: short waits, decisions looked for often.
fn quick(mode: PushMode) -> PushSettings {
    PushSettings {
        mode,
        timeout: Duration::from_millis(1500),
        lifetime: Duration::from_secs(30),
        poll: Duration::from_millis(50),
        ..PushSettings::default()
    }
}

/// A local user `name` (password `<name>-pw`) with one phone.
async fn user_with_phone(gatehouse: &Gatehouse, name: &str) -> (String, p256::ecdsa::SigningKey) {
    gatehouse
        .add_local_user(name, &format!("{name}-pw"))
        .await
        .unwrap();
    enrolled_phone(gatehouse, &user(name), "phone").await
}

/// A new phone enrolled for `who`: its device id and its key.
async fn enrolled_phone(
    gatehouse: &Gatehouse,
    who: &Identity,
    label: &str,
) -> (String, p256::ecdsa::SigningKey) {
    let key = phone();
    let device = gatehouse
        .enroll_push_device(who, label, &public_key(&key))
        .await
        .unwrap();
    (device, key)
}

/// The phone: waits for a push to show, checks it is the installation's,
/// and answers it.
async fn phone_answers(
    gatehouse: &Gatehouse,
    device: &str,
    key: &p256::ecdsa::SigningKey,
    decision: Decision,
) -> String {
    loop {
        let shown = gatehouse.device_pushes(device).await.unwrap();
        if let Some(signed) = shown.first() {
            assert!(
                signed
                    .push
                    .verify(&gatehouse.push_verifying_key(), &signed.signature)
            );
            let push = &signed.push;
            gatehouse
                .decide_push(device, &answer(key, &push.id, &push.nonce, decision))
                .await
                .unwrap();
            return push.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn counted(gatehouse: &Gatehouse) -> Vec<String> {
    support::counted_in(gatehouse, gatehouse.current_month()).await
}

#[tokio::test]
async fn a_held_login_is_accepted_and_counted_only_once_the_phone_approves() {
    let (gatehouse, _) = service_with("hold-approve", quick(PushMode::Hold)).await;
    let (device, key) = user_with_phone(&gatehouse, "alice").await;
    let login = gatehouse.login_from("alice", "alice-pw", "vpn-gw", Some("198.51.100.7"));
    let phone = async {
        // Wait until the push shows and the login waits for it (the row
        // is written just before the login registers), look at the
        // count, then approve.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(signed) = gatehouse.device_pushes(&device).await.unwrap().first() {
                assert_eq!(signed.push.source.as_deref(), Some("198.51.100.7"));
                if gatehouse.pushes_waiting() == 1 {
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the login never waited for its push"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            counted(&gatehouse).await.is_empty(),
            "not counted before approval"
        );
        phone_answers(&gatehouse, &device, &key, Decision::Approve).await
    };
    let (step, _) = tokio::join!(login, phone);
    let LoginStep::Accepted(admitted) = step.unwrap() else {
        panic!("expected Accepted");
    };
    assert!(admitted.newly_counted);
    assert_eq!(counted(&gatehouse).await, ["alice"]);
    assert_eq!(gatehouse.pushes_waiting(), 0);
}

#[tokio::test]
async fn a_denied_or_unanswered_push_refuses_says_which_and_counts_nobody() {
    let (gatehouse, clock) = service_with("hold-deny", quick(PushMode::Hold)).await;
    let (device, key) = user_with_phone(&gatehouse, "alice").await;
    let (step, _) = tokio::join!(
        gatehouse.login("alice", "alice-pw", "vpn-gw"),
        phone_answers(&gatehouse, &device, &key, Decision::Deny)
    );
    assert_eq!(step, Err(Refusal::PushDenied));
    assert_eq!(Refusal::PushDenied.message(), "Login denied on your phone");
    // Nobody answers: refused when the wait is over, and the push is
    // closed, so an answer after that is refused too.
    clock.set(ts("2026-11-28T10:00:05Z"));
    let started = std::time::Instant::now();
    let step = gatehouse.login("alice", "alice-pw", "vpn-gw").await;
    assert_eq!(step, Err(Refusal::PushTimedOut));
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let late = gatehouse.recent_pushes(1).await.unwrap().remove(0).push;
    assert!(matches!(
        gatehouse
            .decide_push(
                &device,
                &answer(&key, &late.id, &late.nonce, Decision::Approve)
            )
            .await,
        Err(PushError::Refused(DecisionRefusal::Expired))
    ));
    // A wrong password never reaches the phone.
    let before = gatehouse.recent_pushes(10).await.unwrap().len();
    assert_eq!(
        gatehouse.login("alice", "wrong", "vpn-gw").await,
        Err(Refusal::InvalidCredentials)
    );
    assert_eq!(gatehouse.recent_pushes(10).await.unwrap().len(), before);
    assert!(counted(&gatehouse).await.is_empty());
}

/// Logins held on one node learn of decisions taken on another node of the
/// installation: one read of the store per poll interval, for all of them,
/// finds the decided pushes and wakes their logins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_held_on_one_node_see_decisions_taken_on_another() {
    let settings = PushSettings {
        timeout: Duration::from_secs(20),
        ..quick(PushMode::Hold)
    };
    let (here, clock) = service_with("two-nodes", settings.clone()).await;
    let here = Arc::new(here);
    let there = node("two-nodes", clock, settings).await;
    let mut users = Vec::new();
    for i in 0..12 {
        let name = format!("user{i}");
        let (device, key) = user_with_phone(&here, &name).await;
        users.push((name, device, key));
    }
    let started = std::time::Instant::now();
    let logins: Vec<_> = users
        .iter()
        .map(|(name, _, _)| {
            let (here, name) = (here.clone(), name.clone());
            tokio::spawn(async move { here.login(&name, &format!("{name}-pw"), "vpn-gw").await })
        })
        .collect();
    // The phones see the pushes and answer through the other node, which
    // has no login waiting: even users approve, odd ones deny.
    for (i, (_, device, key)) in users.iter().enumerate() {
        let decision = if i % 2 == 0 {
            Decision::Approve
        } else {
            Decision::Deny
        };
        phone_answers(&there, device, key, decision).await;
    }
    assert_eq!(there.pushes_waiting(), 0);
    // Each login gets its own phone's answer, and gets it from the read
    // for waiting logins, not from the last look a login takes when its
    // 20 s are up (which would find the answer too, 20 s late).
    for (i, login) in logins.into_iter().enumerate() {
        let step = login.await.unwrap();
        if i % 2 == 0 {
            assert!(
                matches!(step, Ok(LoginStep::Accepted(_))),
                "user{i}: {step:?}"
            );
        } else {
            assert_eq!(step, Err(Refusal::PushDenied), "user{i}");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answers seen only at the deadline"
    );
    assert_eq!(here.pushes_waiting(), 0);
    let mut counted = counted(&here).await;
    counted.sort();
    let mut approved: Vec<String> = (0..12).step_by(2).map(|i| format!("user{i}")).collect();
    approved.sort();
    assert_eq!(counted, approved);
}

#[tokio::test]
async fn a_challenge_mode_push_is_collected_by_the_follow_up_or_replaced_by_a_totp_code() {
    let (gatehouse, _) = service_with("challenge", quick(PushMode::Hold)).await;
    let (device, key) = user_with_phone(&gatehouse, "alice").await;
    // Per-user mode over the configured one.
    gatehouse
        .set_push_mode("alice", Some(PushMode::Challenge))
        .await
        .unwrap();
    let step = gatehouse
        .login("alice", "alice-pw", "vpn-gw")
        .await
        .unwrap();
    let LoginStep::PushSent {
        identity,
        push,
        totp,
        number: None,
    } = step
    else {
        panic!("expected PushSent, got {step:?}");
    };
    assert!(!totp);
    assert!(counted(&gatehouse).await.is_empty());
    assert_eq!(
        phone_answers(&gatehouse, &device, &key, Decision::Approve).await,
        push
    );
    let admitted = gatehouse
        .complete_push(&identity, &push, "", "vpn-gw")
        .await
        .unwrap();
    assert!(admitted.newly_counted);
    // The follow-up waits for a phone that has not answered yet.
    let LoginStep::PushSent { identity, push, .. } = gatehouse
        .login("alice", "alice-pw", "vpn-gw")
        .await
        .unwrap()
    else {
        panic!("expected PushSent");
    };
    let (done, _) = tokio::join!(
        gatehouse.complete_push(&identity, &push, "", "vpn-gw"),
        phone_answers(&gatehouse, &device, &key, Decision::Deny)
    );
    assert_eq!(done, Err(Refusal::PushDenied));
    // With TOTP enrolled, a code at the prompt does instead of the phone.
    let enrollment = gatehouse.enroll_local_totp("alice", None).await.unwrap();
    let LoginStep::PushSent {
        identity,
        push,
        totp,
        number: None,
    } = gatehouse
        .login("alice", "alice-pw", "vpn-gw")
        .await
        .unwrap()
    else {
        panic!("expected PushSent");
    };
    assert!(totp);
    let code = gatehouse_core::totp::code_at(
        &enrollment.secret,
        gatehouse_core::totp::step_of(gatehouse.now()),
    );
    assert!(
        gatehouse
            .complete_push(&identity, &push, &code, "vpn-gw")
            .await
            .is_ok()
    );
    assert!(
        gatehouse.device_pushes(&device).await.unwrap().is_empty(),
        "the push was closed"
    );
    // Back to the configured mode.
    gatehouse.set_push_mode("alice", None).await.unwrap();
    let (step, _) = tokio::join!(
        gatehouse.login("alice", "alice-pw", "vpn-gw"),
        phone_answers(&gatehouse, &device, &key, Decision::Approve)
    );
    assert!(matches!(step, Ok(LoginStep::Accepted(_))));
}

/// SPEC §12: with `push.number_matching` in challenge mode the prompt
/// shows a number, the phone gets three signed choices, and only choosing
/// the prompt's number approves; a wrong choice denies the login and
/// counts toward the lockout.
#[tokio::test]
async fn with_number_matching_the_phone_approves_only_by_choosing_the_prompts_number() {
    let settings = PushSettings {
        number_matching: true,
        ..quick(PushMode::Challenge)
    };
    let (gatehouse, _) = service_with("number-matching", settings).await;
    let (device, key) = user_with_phone(&gatehouse, "alice").await;
    let choose = |push: &gatehouse_core::push::PendingPush, number: u8| {
        let signature: p256::ecdsa::Signature =
            key.sign(decision_text(&push.nonce, Decision::Approve, Some(number)).as_bytes());
        SignedDecision {
            push_id: push.id.clone(),
            decision: Decision::Approve,
            number: Some(number),
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        }
    };
    for right in [false, true] {
        let step = gatehouse
            .login("alice", "alice-pw", "vpn-gw")
            .await
            .unwrap();
        let LoginStep::PushSent {
            identity,
            push,
            number: Some(number),
            ..
        } = step
        else {
            panic!("expected a numbered push, got {step:?}");
        };
        assert_eq!(
            gatehouse_core::approve_prompt(Some(number)),
            format!("On your phone, choose {number} to approve, then press Enter")
        );
        let shown = gatehouse.device_pushes(&device).await.unwrap();
        let signed = shown.iter().find(|s| s.push.id == push).unwrap();
        assert!(
            signed
                .push
                .verify(&gatehouse.push_verifying_key(), &signed.signature)
        );
        assert_eq!(signed.push.choices.len(), 3);
        assert!(signed.push.choices.contains(&number));
        assert!(
            !signed
                .push
                .canonical()
                .contains(&format!("number={number}")),
            "the phone is not told which one"
        );
        let chosen = if right {
            number
        } else {
            *signed.push.choices.iter().find(|c| **c != number).unwrap()
        };
        let decided = gatehouse
            .decide_push(&device, &choose(&signed.push, chosen))
            .await;
        let done = gatehouse
            .complete_push(&identity, &push, "", "vpn-gw")
            .await;
        if right {
            assert_eq!(decided.unwrap(), Decision::Approve);
            assert!(done.unwrap().newly_counted);
        } else {
            assert!(matches!(
                decided,
                Err(PushError::Refused(DecisionRefusal::WrongNumber))
            ));
            assert_eq!(done, Err(Refusal::PushDenied));
            assert_eq!(gatehouse.lockouts().await.unwrap()[0].otp_failures, 1);
        }
    }
}

#[tokio::test]
async fn without_a_push_subscription_push_is_never_offered() {
    let (gatehouse, _) = service_with("unlicensed", quick(PushMode::Hold)).await;
    user_with_phone(&gatehouse, "alice").await;
    user_with_phone(&gatehouse, "bob").await;
    gatehouse.enroll_local_totp("bob", None).await.unwrap();
    assert!(gatehouse.push_licensed(), "the demo license has push");
    let mut terms = TestLicense::subscription(50, "2027-06-30".parse().unwrap(), gatehouse.now());
    terms.push_subscription = false;
    gatehouse
        .install_license(&issue_key(gatehouse.app_key(), &terms))
        .await
        .unwrap();
    assert!(!gatehouse.push_licensed());
    // Phones only: refused with the SPEC's text, after the password.
    assert_eq!(
        gatehouse.login("alice", "alice-pw", "vpn-gw").await,
        Err(Refusal::PushNotLicensed)
    );
    assert_eq!(
        Refusal::PushNotLicensed.message(),
        "Push notifications are not licensed, please contact your system administrator"
    );
    assert_eq!(
        gatehouse.login("alice", "wrong", "vpn-gw").await,
        Err(Refusal::InvalidCredentials)
    );
    // TOTP enrolled too: TOTP it is.
    assert!(matches!(
        gatehouse.login("bob", "bob-pw", "vpn-gw").await,
        Ok(LoginStep::OtpRequired(_))
    ));
    assert!(
        gatehouse.recent_pushes(10).await.unwrap().is_empty(),
        "no push sent"
    );
    assert!(counted(&gatehouse).await.is_empty());
}

#[tokio::test]
async fn a_user_the_license_would_refuse_gets_no_push() {
    let (gatehouse, _) = service_with("limit", quick(PushMode::Hold)).await;
    let terms = TestLicense::subscription(1, "2027-06-30".parse().unwrap(), gatehouse.now());
    gatehouse
        .install_license(&issue_key(gatehouse.app_key(), &terms))
        .await
        .unwrap();
    gatehouse.add_local_user("carol", "carol-pw").await.unwrap();
    assert!(
        gatehouse
            .authenticate("carol", "carol-pw", "vpn-gw")
            .await
            .is_ok()
    );
    user_with_phone(&gatehouse, "alice").await;
    assert_eq!(
        gatehouse.login("alice", "alice-pw", "vpn-gw").await,
        Err(Refusal::UserLimitExceeded)
    );
    assert!(gatehouse.recent_pushes(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_link_enrolls_one_phone_for_its_user_until_it_expires() {
    let (gatehouse, clock) = service("link").await;
    gatehouse.add_local_user("alice", "alice-pw").await.unwrap();
    assert!(matches!(
        gatehouse.push_enrollment("nobody").await,
        Err(PushError::UnknownUser(_))
    ));
    let (identity, token, link) = gatehouse.push_enrollment("ALICE").await.unwrap();
    assert_eq!(token.seat, identity.seat);
    assert_eq!(&*identity.username, "alice");
    let key = phone();
    // Bad keys and names change nothing.
    assert!(matches!(
        gatehouse.enroll_with_link(&link, "phone", &[4; 65]).await,
        Err(PushError::BadDeviceKey)
    ));
    assert!(matches!(
        gatehouse
            .enroll_with_link(&link, " ", &public_key(&key))
            .await,
        Err(PushError::BadLabel)
    ));
    let enrolled = gatehouse
        .enroll_with_link(&link, "Alice's phone", &public_key(&key))
        .await
        .unwrap();
    assert_eq!(enrolled.seat, identity.seat);
    assert!(matches!(
        gatehouse
            .enroll_with_link(&link, "again", &public_key(&phone()))
            .await,
        Err(PushError::Link(EnrollmentRefusal::Used))
    ));
    let devices = gatehouse.push_devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].id, enrolled.id);
    assert_eq!(gatehouse.push_user(&identity).await.unwrap().0, 1);
    // Signed fetches only.
    let now = gatehouse.now().as_second();
    let signature: p256::ecdsa::Signature =
        key.sign(gatehouse_core::push::poll_text(&enrolled.id, now).as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
    assert!(
        gatehouse
            .poll_pushes(&enrolled.id, now, &signature)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        gatehouse
            .poll_pushes(&enrolled.id, now + 1, &signature)
            .await,
        Err(PushError::Poll(_))
    ));
    // Revoked: gone, and its link (still within its 15 minutes) cannot
    // enroll a phone again.
    assert!(
        gatehouse
            .remove_push_device(&enrolled.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        gatehouse.poll_pushes(&enrolled.id, now, &signature).await,
        Err(PushError::UnknownDevice)
    ));
    assert!(matches!(
        gatehouse
            .enroll_with_link(&link, "again", &public_key(&phone()))
            .await,
        Err(PushError::Link(EnrollmentRefusal::Used))
    ));
    // Links nobody issued: of the right shape, altered from a real one,
    // or in the old signed form (made with any key) are all unknown.
    let (_, _, fresh) = gatehouse.push_enrollment("alice").await.unwrap();
    let mut altered = fresh.clone().into_bytes();
    altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let guessed = URL_SAFE_NO_PAD.encode([0x5a; 32]);
    let signed_form = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(
            "gatehouse-enroll-v1\nid=x\nseat=local:alice\nuser=alice\nexpires_at=4102444800\n"
        ),
        URL_SAFE_NO_PAD.encode([1; 64])
    );
    for forged in [&altered, &guessed, &signed_form, "", "x"] {
        assert!(
            matches!(
                gatehouse
                    .enroll_with_link(forged, "phone", &public_key(&phone()))
                    .await,
                Err(PushError::Link(EnrollmentRefusal::Malformed))
            ),
            "{forged:?}"
        );
        assert!(gatehouse.check_push_enrollment(forged).await.is_err());
    }
    assert_eq!(
        gatehouse.check_push_enrollment(&fresh).await.unwrap().user,
        "alice"
    );
    // An expired link.
    clock.set(ts("2026-11-28T10:15:00Z"));
    assert!(matches!(
        gatehouse
            .enroll_with_link(&fresh, "phone", &public_key(&phone()))
            .await,
        Err(PushError::Link(EnrollmentRefusal::Expired))
    ));
    assert_eq!(gatehouse.push_devices().await.unwrap().len(), 0);
}

#[tokio::test]
async fn pushes_are_kept_thirty_days_for_the_history_then_forgotten() {
    let (gatehouse, clock) = service("forget").await;
    let push = gatehouse
        .start_push(&user("alice"), "vpn-gw", None, Duration::from_secs(30))
        .await
        .unwrap();
    gatehouse.tick().await;
    clock.set(ts("2026-12-27T10:00:00Z"));
    gatehouse.tick().await;
    assert_eq!(
        gatehouse.recent_pushes(10).await.unwrap().len(),
        1,
        "29 days: kept"
    );
    clock.set(ts("2026-12-28T11:00:00Z"));
    gatehouse.tick().await;
    assert!(
        gatehouse.recent_pushes(10).await.unwrap().is_empty(),
        "30 days: forgotten"
    );
    assert_eq!(gatehouse.push_decision(&push.id).await.unwrap(), None);
}

#[tokio::test]
async fn an_append_mode_totp_user_with_a_phone_may_type_the_code_instead() {
    let (gatehouse, _) = service_with("append", quick(PushMode::Hold)).await;
    let (device, key) = user_with_phone(&gatehouse, "alice").await;
    let enrollment = gatehouse
        .enroll_local_totp("alice", Some(gatehouse_core::TotpMode::Append))
        .await
        .unwrap();
    let code = gatehouse_core::totp::code_at(
        &enrollment.secret,
        gatehouse_core::totp::step_of(gatehouse.now()),
    );
    // Password and a current code: no push, accepted.
    let step = gatehouse
        .login("alice", &format!("alice-pw{code}"), "vpn-gw")
        .await;
    assert!(matches!(step, Ok(LoginStep::Accepted(_))), "{step:?}");
    assert!(gatehouse.recent_pushes(10).await.unwrap().is_empty());
    // The same code again is a replay, not a password.
    assert_eq!(
        gatehouse
            .login("alice", &format!("alice-pw{code}"), "vpn-gw")
            .await,
        Err(Refusal::InvalidOneTimeCode)
    );
    // The password alone: the phone.
    let (step, _) = tokio::join!(
        gatehouse.login("alice", "alice-pw", "vpn-gw"),
        phone_answers(&gatehouse, &device, &key, Decision::Approve)
    );
    assert!(matches!(step, Ok(LoginStep::Accepted(_))), "{step:?}");
}

#[tokio::test]
async fn no_more_than_three_pushes_wait_for_one_user() {
    let (gatehouse, _) = service_with("flood", quick(PushMode::Challenge)).await;
    let (device, key) = user_with_phone(&gatehouse, "alice").await;
    user_with_phone(&gatehouse, "bob").await;
    for _ in 0..3 {
        assert!(matches!(
            gatehouse.login("alice", "alice-pw", "vpn-gw").await,
            Ok(LoginStep::PushSent { .. })
        ));
    }
    assert_eq!(
        gatehouse.login("alice", "alice-pw", "vpn-gw").await,
        Err(Refusal::PushTooMany)
    );
    assert_eq!(
        Refusal::PushTooMany.message(),
        "Too many login requests are waiting on your phone, please try again later"
    );
    assert_eq!(gatehouse.device_pushes(&device).await.unwrap().len(), 3);
    // Another user is not affected; an answered push makes room.
    assert!(matches!(
        gatehouse.login("bob", "bob-pw", "vpn-gw").await,
        Ok(LoginStep::PushSent { .. })
    ));
    phone_answers(&gatehouse, &device, &key, Decision::Deny).await;
    assert!(matches!(
        gatehouse.login("alice", "alice-pw", "vpn-gw").await,
        Ok(LoginStep::PushSent { .. })
    ));
}
