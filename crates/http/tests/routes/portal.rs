//! The user portal (`/my/`, SPEC §17) through its routes: who may sign in
//! and with what, what a session may do, what one user can do to another
//! user's factors (nothing), the limits, and that nothing counts a seat.

use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use gatehouse_core::enrollment::WindowScope;
use gatehouse_core::totp::{TotpSecret, code_at, step_of};

use super::support::*;

/// A user's browser on the portal: its cookie and the page's CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn sign_in(fx: &Fixture, user: &str, password: &str, code: &str) -> Response {
    fx.form(
        As::Nobody,
        "/my/sign-in",
        &[("username", user), ("password", password), ("code", code)],
    )
    .await
}

/// Signs in and reads the CSRF token off the portal page.
async fn signed_in(fx: &Fixture, user: &str, password: &str, code: &str) -> Browser {
    let response = sign_in(fx, user, password, code).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{user} signs in");
    let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        set_cookie.starts_with("gatehouse_portal=")
            && set_cookie.contains("Path=/my/")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict")
            && set_cookie.contains("Secure"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let (status, html) = get(fx, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    Browser {
        csrf: hidden_csrf(&html).expect("the portal page carries a CSRF token"),
        cookie,
    }
}

async fn get(fx: &Fixture, cookie: &str) -> (StatusCode, String) {
    let response = fx
        .send(
            fx.request(As::Nobody, Method::GET, "/my/")
                .header(header::COOKIE, cookie)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    let status = response.status();
    (status, body_text(response).await)
}

async fn post(fx: &Fixture, browser: &Browser, path: &str, fields: &[(&str, &str)]) -> Response {
    let mut fields = fields.to_vec();
    fields.push(("csrf", &browser.csrf));
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    fx.send(
        fx.request(As::Nobody, Method::POST, path)
            .header(header::COOKIE, &browser.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .unwrap(),
    )
    .await
}

fn code(fx: &Fixture, secret: &TotpSecret, steps_ahead: i64) -> String {
    code_at(secret, step_of(fx.gatehouse.now()) + steps_ahead)
}

async fn active_users(fx: &Fixture) -> u32 {
    fx.gatehouse.license_view().await.unwrap().active_users
}

/// A random phone key (SEC1, uncompressed).
fn phone_key() -> Vec<u8> {
    public_key(&signing_key())
}

fn signing_key() -> p256::ecdsa::SigningKey {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    p256::ecdsa::SigningKey::from_slice(&secret).unwrap()
}

fn public_key(key: &p256::ecdsa::SigningKey) -> Vec<u8> {
    key.verifying_key().to_sec1_point(false).as_bytes().to_vec()
}

#[tokio::test]
async fn an_unenrolled_user_enrolls_totp_inside_a_window_and_then_needs_the_code() {
    let fx = fixture_second_factor_required("portal-enroll").await;
    fx.gatehouse
        .add_local_user("alice", "alice-password")
        .await
        .unwrap();
    // No window: the password alone does not open the portal.
    let response = sign_in(&fx, "alice", "alice-password", "").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        body_text(response)
            .await
            .contains("no enrollment window is open for you")
    );
    fx.gatehouse
        .open_enrollment(WindowScope::user("alice").unwrap(), 7)
        .await
        .unwrap();
    // A wrong password is refused whatever the window says.
    let response = sign_in(&fx, "alice", "wrong", "").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        body_text(response)
            .await
            .contains("Invalid username, password or code.")
    );
    let browser = signed_in(&fx, "alice", "alice-password", "").await;
    let (_, html) = get(&fx, &browser.cookie).await;
    assert!(html.contains("id=\"my-enroll-only\""), "{html}");
    // Start: a secret shown, nothing enrolled yet.
    let response = post(&fx, &browser, "/my/totp", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = get(&fx, &browser.cookie).await;
    let secret = between(&html, "<code id=\"my-totp-secret\">", "</code>");
    let secret = TotpSecret::from_base32(&secret).expect("a base32 secret");
    assert!(html.contains("<svg"), "a QR code");
    assert!(html.contains("otpauth://totp/"));
    let enrolled = fx.gatehouse.local_users().await.unwrap();
    assert_eq!(enrolled.len(), 1);
    assert_eq!(
        fx.gatehouse
            .local_totp_mode(&gatehouse_core::Username::parse("alice").unwrap())
            .await
            .unwrap(),
        None,
        "not enrolled before the code confirms it"
    );
    // A wrong code does not enroll it.
    let response = post(&fx, &browser, "/my/totp/confirm", &[("code", "000000")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        body_text(response)
            .await
            .contains("That code does not match")
    );
    assert_eq!(
        fx.gatehouse
            .local_totp_mode(&gatehouse_core::Username::parse("alice").unwrap())
            .await
            .unwrap(),
        None
    );
    // The right one does, and ends the enroll-only session.
    let response = post(
        &fx,
        &browser,
        "/my/totp/confirm",
        &[("code", &code(&fx, &secret, 0))],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        fx.gatehouse
            .local_totp_mode(&gatehouse_core::Username::parse("alice").unwrap())
            .await
            .unwrap()
            .is_some()
    );
    let (_, html) = get(&fx, &browser.cookie).await;
    assert!(html.contains("id=\"my-sign-in\""), "the session ended");
    // Enrolled: the password alone no longer signs in, window or not.
    let response = sign_in(&fx, "alice", "alice-password", "").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        body_text(response)
            .await
            .contains("Enter a code from your authenticator app")
    );
    // The code used to confirm is used up; the next one signs in fully.
    let response = sign_in(&fx, "alice", "alice-password", &code(&fx, &secret, 0)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let browser = signed_in(&fx, "alice", "alice-password", &code(&fx, &secret, 1)).await;
    let (_, html) = get(&fx, &browser.cookie).await;
    assert!(!html.contains("id=\"my-enroll-only\""));
    let shown = between(&html, "<p id=\"my-totp-enrolled\">", "</p>");
    assert!(
        shown.starts_with("Enrolled 2026-11-10") && shown.contains("last used 2026-11-10 10:00:30"),
        "the code just used: {shown}"
    );
    // The login through RADIUS is what counts; the portal never did.
    assert_eq!(active_users(&fx).await, 0, "portal sign-ins count no seat");
    let actions: Vec<String> = fx
        .audit(None, 20)
        .await
        .into_iter()
        .filter(|record| record.entry.action.starts_with("portal."))
        .map(|record| {
            let entry = &record.entry;
            format!(
                "{} {} {} {}",
                entry.action, entry.actor, entry.subject, entry.source
            )
        })
        .collect();
    assert!(
        actions.contains(&"portal.totp_enroll user:alice alice 192.0.2.1".to_string()),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| a.starts_with("portal.sign_in user:alice"))
    );
}

fn between(html: &str, start: &str, end: &str) -> String {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    html[from..from + html[from..].find(end).unwrap()].to_string()
}

#[tokio::test]
async fn a_user_cannot_touch_another_users_phones_nor_remove_their_last_factor() {
    let fx = fixture_second_factor_required("portal-others").await;
    for name in ["alice", "bob"] {
        fx.gatehouse
            .add_local_user(name, &format!("{name}-password"))
            .await
            .unwrap();
    }
    let alice = fx.gatehouse.push_user_identity("alice").await.unwrap();
    let bob = fx.gatehouse.push_user_identity("bob").await.unwrap();
    let bobs_key = signing_key();
    let bobs_phone = fx
        .gatehouse
        .enroll_push_device(&bob, "Bob's phone", &public_key(&bobs_key))
        .await
        .unwrap();
    let alices_totp = fx.gatehouse.enroll_local_totp("alice", None).await.unwrap();
    let alices_phone = fx
        .gatehouse
        .enroll_push_device(&alice, "Alice's phone", &phone_key())
        .await
        .unwrap();
    let browser = signed_in(
        &fx,
        "alice",
        "alice-password",
        &code(&fx, &alices_totp.secret, 0),
    )
    .await;
    let (_, html) = get(&fx, &browser.cookie).await;
    assert!(html.contains("Alice&#x27;s phone") || html.contains("Alice&#39;s phone"));
    assert!(
        !html.contains("Bob&#x27;s phone")
            && !html.contains("Bob&#39;s phone")
            && !html.contains(&bobs_phone),
        "another user's phones are not shown: {html}"
    );
    // Bob's phone by its id: no such phone of hers, and it stays.
    let response = post(
        &fx,
        &browser,
        "/my/phones/remove",
        &[("device", &bobs_phone)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(fx.gatehouse.push_user(&bob).await.unwrap().0, 1);
    // Without the CSRF token, nothing happens.
    let mut forged = Browser {
        cookie: browser.cookie.clone(),
        csrf: "forged".into(),
    };
    let response = post(
        &fx,
        &forged,
        "/my/phones/remove",
        &[("device", &alices_phone)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Bob's cookie is not hers either: a made-up one is no session.
    forged.csrf = browser.csrf.clone();
    forged.cookie = "gatehouse_portal=made-up".into();
    let response = post(
        &fx,
        &forged,
        "/my/phones/remove",
        &[("device", &alices_phone)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Her own phone goes (TOTP is left).
    let response = post(
        &fx,
        &browser,
        "/my/phones/remove",
        &[("device", &alices_phone)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(fx.gatehouse.push_user(&alice).await.unwrap().0, 0);
    // Bob, phone only, cannot remove his last factor (a second factor is
    // required); he signs in by approving a push, so the session is made
    // here directly from the phone's approval.
    let bob_browser = signed_in_by_push(&fx, "bob", (&bobs_phone, &bobs_key)).await;
    let response = post(
        &fx,
        &bob_browser,
        "/my/phones/remove",
        &[("device", &bobs_phone)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        body_text(response)
            .await
            .contains("That is your last second factor")
    );
    assert_eq!(fx.gatehouse.push_user(&bob).await.unwrap().0, 1);
    assert_eq!(active_users(&fx).await, 0);
}

/// Signs `name` (phone only) in with an empty code: the portal waits for
/// the push, which is approved here as the phone would.
async fn signed_in_by_push(
    fx: &Fixture,
    name: &str,
    (device, key): (&str, &p256::ecdsa::SigningKey),
) -> Browser {
    use base64::Engine as _;
    use p256::ecdsa::signature::Signer as _;
    let password = format!("{name}-password");
    let signing_in = sign_in(fx, name, &password, "");
    let approving = async {
        let identity = fx.gatehouse.push_user_identity(name).await.unwrap();
        loop {
            let pushes = fx.gatehouse.recent_pushes(10).await.unwrap();
            if let Some(push) = pushes
                .iter()
                .find(|p| p.push.seat == identity.seat && p.push.decided.is_none())
            {
                assert_eq!(push.push.client, gatehouse_core::PORTAL_CLIENT);
                let text = gatehouse_core::push::decision_text(
                    &push.push.nonce,
                    gatehouse_core::push::Decision::Approve,
                    None,
                );
                let signature: p256::ecdsa::Signature = key.sign(text.as_bytes());
                let signed = gatehouse_core::push::SignedDecision {
                    push_id: push.push.id.clone(),
                    decision: gatehouse_core::push::Decision::Approve,
                    number: None,
                    signature: base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(signature.to_bytes()),
                };
                fx.gatehouse.decide_push(device, &signed).await.unwrap();
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let (response, ()) = tokio::join!(signing_in, approving);
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{name} signs in with a push"
    );
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (_, html) = get(fx, &cookie).await;
    Browser {
        csrf: hidden_csrf(&html).unwrap(),
        cookie,
    }
}

#[tokio::test]
async fn enrollments_are_limited_per_user_per_day_and_enroll_only_sessions_do_nothing_else() {
    let fx = fixture_second_factor_required("portal-limits").await;
    fx.gatehouse
        .add_local_user("carol", "carol-password")
        .await
        .unwrap();
    fx.gatehouse
        .open_enrollment(WindowScope::Everyone, 7)
        .await
        .unwrap();
    let browser = signed_in(&fx, "carol", "carol-password", "").await;
    // Many at once, from two sessions: exactly the day's allowance passes.
    let second = signed_in(&fx, "carol", "carol-password", "").await;
    let fixture = &fx;
    let attempts = (0..16).map(|i| {
        let browser = if i % 2 == 0 { &browser } else { &second };
        async move { post(fixture, browser, "/my/totp", &[]).await.status() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let passed = statuses
        .iter()
        .filter(|status| **status == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(
        passed,
        gatehouse_core::portal::ENROLLMENTS_PER_DAY as usize,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::SEE_OTHER || *s == StatusCode::TOO_MANY_REQUESTS)
    );
    let response = post(&fx, &browser, "/my/totp", &[]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let response = post(&fx, &browser, "/my/phones/link", &[]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // A day later she may start again.
    fx.clock
        .set(fx.gatehouse.now() + gatehouse_license::jiff::SignedDuration::from_hours(25));
    let browser = signed_in(&fx, "carol", "carol-password", "").await;
    let response = post(&fx, &browser, "/my/phones/link", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = body_text(response).await;
    let link = between(&html, "<a id=\"my-phone-link\" href=\"", "\"");
    assert!(link.contains("/push/#enroll="), "{link}");
    // The phone enrolls with the link; the enroll-only session now has a
    // factor and may do nothing more (no removing, no second enrollment).
    let token = link.split("#enroll=").nth(1).unwrap();
    fx.gatehouse
        .enroll_with_link(token, "Carol's phone", &phone_key())
        .await
        .unwrap();
    let carol = fx.gatehouse.push_user_identity("carol").await.unwrap();
    let phones = fx.gatehouse.push_devices().await.unwrap();
    let phone = phones.iter().find(|p| p.seat == carol.seat).unwrap();
    let response = post(&fx, &browser, "/my/phones/remove", &[("device", &phone.id)]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = post(&fx, &browser, "/my/totp", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        body_text(response)
            .await
            .contains("You already have a second factor")
    );
    assert_eq!(fx.gatehouse.push_user(&carol).await.unwrap().0, 1);
}

#[tokio::test]
async fn portal_sign_ins_are_limited_per_address_and_count_toward_the_lockout() {
    let fx = fixture_second_factor_required("portal-sign-in-limits").await;
    fx.gatehouse
        .add_local_user("dave", "dave-password")
        .await
        .unwrap();
    let mut limited = None;
    for attempt in 0..10 {
        let response = sign_in(&fx, "dave", "wrong", "").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(attempt);
            break;
        }
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        limited,
        Some(gatehouse_core::admin::SIGN_INS_PER_ADDRESS as usize),
        "the address's attempts run out"
    );
    // The administrators' door is its own: the portal's failures do not
    // close it.
    let response = fx
        .form(
            As::Nobody,
            "/login",
            &[("username", &fx.admin.0), ("password", &fx.admin.1)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_window_opened_through_the_api_can_invite_its_users_by_email() {
    use serde_json::json;
    let fx = fixture_second_factor_required("portal-invitations").await;
    for name in ["alice", "bob"] {
        fx.gatehouse
            .add_local_user(name, &format!("{name}-password"))
            .await
            .unwrap();
    }
    fx.gatehouse
        .set_local_user_email("alice", Some("alice@example.com"))
        .await
        .unwrap();
    assert!(
        fx.gatehouse
            .set_local_user_email("bob", Some("bob at example"))
            .await
            .is_err(),
        "not an address"
    );
    let (status, body) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/enrollment-windows",
            Some(json!({"all": true, "email": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["invitations"],
        json!({"sent": ["alice <alice@example.com>"], "without_address": ["bob"], "enrolled": []})
    );
    let queued = fx.gatehouse.alarm_history(10).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    // Without `email`, nothing is sent and nothing is said about it.
    let (status, body) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/enrollment-windows",
            Some(json!({"user": "bob"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body.get("invitations").is_none(), "{body}");
    // A directory group's members cannot be listed: the window opens, the
    // invitation is refused, saying so.
    let (status, body) = fx
        .api(
            As::Token,
            Method::POST,
            "/api/v1/enrollment-windows",
            Some(json!({"group": "corp:CN=Staff,DC=example,DC=com", "email": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("the window is open, but no invitation was sent"),
        "{body}"
    );
    assert_eq!(fx.gatehouse.alarm_history(10).await.unwrap().len(), 1);
}
