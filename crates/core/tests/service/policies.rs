//! Policies through the service (a real SQLite store, a second factor
//! required): who is denied after the password and never counted, which
//! factors a policy accepts, what each accepted login is given, and the
//! order, client and address a policy matches on.

use std::sync::Arc;

use gatehouse_core::policy::{Access, Factors, Policy, PolicySet, PolicyText, ReplyAttribute};
use gatehouse_core::totp::{code_at, step_of};
use gatehouse_core::{
    ACCESS_DENIED, Authenticated, Gatehouse, LoginStep, ManualClock, MfaSettings, PolicySaveError,
    Refusal, Route, Settings, TotpMode,
};
use gatehouse_license::Month;
use gatehouse_license::jiff::tz::TimeZone;

use crate::support::{self, counted_in, fresh_database, ts};

fn policy(name: &str) -> Policy {
    Policy {
        name: name.into(),
        clients: Vec::new(),
        groups: Vec::new(),
        networks: Vec::new(),
        access: Access::Allow,
        factors: None,
        reply: Vec::new(),
    }
}

fn reply(attribute: &str, value: &str) -> ReplyAttribute {
    ReplyAttribute {
        attribute: attribute.into(),
        value: value.into(),
    }
}

fn policies() -> PolicySet {
    PolicySet::new(vec![
        Policy {
            groups: vec!["local:contractors".into()],
            access: Access::Deny,
            ..policy("no contractors")
        },
        Policy {
            groups: vec!["local:svc".into()],
            factors: Some(Factors::parse(&["none"]).unwrap()),
            reply: vec![reply("Class", "svc-%{user}")],
            ..policy("service accounts")
        },
        Policy {
            groups: vec!["local:phones".into()],
            factors: Some(Factors::parse(&["push"]).unwrap()),
            ..policy("push only")
        },
        Policy {
            clients: vec!["vpn".into()],
            groups: vec!["local:staff".into()],
            networks: vec!["10.0.0.0/8".parse().unwrap()],
            reply: vec![
                reply("Filter-Id", "%{group}"),
                reply("Tunnel-Private-Group-Id", "42"),
            ],
            ..policy("office vpn")
        },
        Policy {
            reply: vec![reply("Class", "default")],
            ..policy("everyone else")
        },
    ])
    .unwrap()
}

struct Fixture {
    gatehouse: Arc<Gatehouse>,
    clock: Arc<ManualClock>,
    settings: Settings,
    path: std::path::PathBuf,
}

/// The service with [`policies`] fixed as a configuration fixes them.
async fn fixture(name: &str) -> Fixture {
    fixture_with(name, policies()).await
}

async fn fixture_with(name: &str, fixed: PolicySet) -> Fixture {
    let path = fresh_database("policies", name);
    let clock = Arc::new(ManualClock::new(ts("2026-11-10T10:00:00Z")));
    let zone = TimeZone::get("Europe/Istanbul").unwrap();
    let settings = Settings {
        mfa: MfaSettings::default(),
        policies: Arc::new(fixed),
        ..support::settings(clock.clone(), &zone)
    };
    let gatehouse = Arc::new(support::open(&path, settings.clone()).await);
    for group in ["contractors", "svc", "phones", "staff"] {
        gatehouse.add_local_group(group).await.unwrap();
    }
    for (user, groups) in [
        ("carol", vec!["contractors", "staff"]),
        ("svc", vec!["svc"]),
        ("tom", vec!["phones"]),
        ("alice", vec!["staff"]),
        ("bob", vec![]),
    ] {
        gatehouse
            .add_local_user_with(user, &format!("{user}-pw"), false, &groups)
            .await
            .unwrap();
    }
    Fixture {
        gatehouse,
        clock,
        settings,
        path,
    }
}

impl Fixture {
    /// The next TOTP time step (a code is accepted once).
    fn next_step(&self) {
        let later = self.gatehouse.now() + gatehouse_license::jiff::SignedDuration::from_secs(30);
        self.clock.set(later);
    }

    /// Enrolls TOTP in append mode; the password followed by the code now.
    async fn append_totp(&self, user: &str) -> String {
        let secret = self
            .gatehouse
            .enroll_local_totp(user, Some(TotpMode::Append))
            .await
            .unwrap()
            .secret;
        format!(
            "{user}-pw{}",
            code_at(&secret, step_of(self.gatehouse.now()))
        )
    }

    async fn login(
        &self,
        user: &str,
        typed: &str,
        client: &str,
        address: Option<&str>,
    ) -> Result<Authenticated, Refusal> {
        self.gatehouse
            .login_through(user, typed, &Route::new(client, address))
            .await
    }

    async fn counted(&self) -> Vec<String> {
        counted_in(&self.gatehouse, "2026-11".parse::<Month>().unwrap()).await
    }
}

fn accepted(outcome: &Result<Authenticated, Refusal>) -> (Option<&str>, Vec<(&str, &str)>) {
    let authenticated = outcome.as_ref().expect("accepted");
    assert!(
        matches!(authenticated.step, LoginStep::Accepted(_)),
        "{authenticated:?}"
    );
    let authorization = &authenticated.authorization;
    (
        authorization.policy.as_deref(),
        (authorization.reply.iter())
            .map(|(a, v)| (a.as_str(), v.as_str()))
            .collect(),
    )
}

#[tokio::test]
async fn a_denied_user_is_refused_after_the_password_and_never_counted() {
    let fx = fixture("denied").await;
    let typed = fx.append_totp("carol").await;
    assert_eq!(
        fx.login("carol", &typed, "vpn", Some("10.1.2.3")).await,
        Err(Refusal::AccessDenied)
    );
    assert_eq!(
        Refusal::AccessDenied.message(),
        "Access denied by policy, please contact your system administrator"
    );
    assert_eq!(Refusal::AccessDenied.message(), ACCESS_DENIED);
    // A wrong password is told nothing about the policy.
    assert_eq!(
        fx.login("carol", "wrong123456", "vpn", None).await,
        Err(Refusal::InvalidCredentials)
    );
    // A challenge-mode user is refused before any code is asked for.
    fx.gatehouse
        .enroll_local_totp("carol", Some(TotpMode::Challenge))
        .await
        .unwrap();
    assert_eq!(
        fx.login("carol", "carol-pw", "vpn", None).await,
        Err(Refusal::AccessDenied)
    );
    assert!(fx.counted().await.is_empty());
}

#[tokio::test]
async fn factors_a_policy_lists_override_the_default_rule() {
    let fx = fixture("factors").await;
    // An exempt group: the password alone, though a second factor is
    // required and svc has none.
    let svc = fx.login("svc", "svc-pw", "vpn", None).await;
    assert_eq!(
        accepted(&svc),
        (Some("service accounts"), vec![("Class", "svc-svc")])
    );
    // Even with TOTP enrolled, nothing is asked: the password is all.
    fx.gatehouse
        .enroll_local_totp("svc", Some(TotpMode::Challenge))
        .await
        .unwrap();
    accepted(&fx.login("svc", "svc-pw", "vpn", None).await);
    // A push-only policy refuses a TOTP user (the code is not accepted).
    let typed = fx.append_totp("tom").await;
    assert_eq!(
        fx.login("tom", &typed, "vpn", None).await,
        Err(Refusal::SecondFactorRequired)
    );
    // With no factor listed the default rule holds: bob has none.
    assert_eq!(
        fx.login("bob", "bob-pw", "vpn", None).await,
        Err(Refusal::SecondFactorRequired)
    );
    assert_eq!(fx.counted().await, ["svc"]);
}

#[tokio::test]
async fn the_client_and_the_address_choose_among_policies_in_order() {
    let fx = fixture("order").await;
    let typed = fx.append_totp("alice").await;
    let office = fx.login("alice", &typed, "vpn", Some("10.1.2.3")).await;
    assert_eq!(
        accepted(&office),
        (
            Some("office vpn"),
            vec![("Filter-Id", "staff"), ("Tunnel-Private-Group-Id", "42")]
        )
    );
    // Another address, no address, another client: the next policy.
    for (client, address) in [
        ("vpn", Some("192.168.1.7")),
        ("vpn", None),
        ("vpn", Some("aa-bb-cc-dd-ee-ff")),
        ("wifi", Some("10.1.2.3")),
    ] {
        fx.next_step();
        let typed = fx.append_totp("alice").await;
        let outcome = fx.login("alice", &typed, client, address).await;
        assert_eq!(
            accepted(&outcome),
            (Some("everyone else"), vec![("Class", "default")]),
            "{client} {address:?}"
        );
    }
}

#[tokio::test]
async fn a_challenge_carries_the_policy_to_the_accept() {
    let fx = fixture("challenge").await;
    let secret = fx
        .gatehouse
        .enroll_local_totp("alice", Some(TotpMode::Challenge))
        .await
        .unwrap()
        .secret;
    let started = fx
        .login("alice", "alice-pw", "vpn", Some("10.9.9.9"))
        .await
        .unwrap();
    let LoginStep::OtpRequired(identity) = &started.step else {
        panic!("a code is asked for: {started:?}");
    };
    assert_eq!(started.authorization.policy.as_deref(), Some("office vpn"));
    let code = code_at(&secret, step_of(fx.gatehouse.now()));
    fx.gatehouse
        .complete_otp(identity, &code, "vpn")
        .await
        .unwrap();
    assert_eq!(fx.counted().await, ["alice"]);
}

#[tokio::test]
async fn group_changes_take_effect_on_the_next_login() {
    let fx = fixture("membership").await;
    let typed = fx.append_totp("bob").await;
    accepted(&fx.login("bob", &typed, "vpn", None).await);
    fx.gatehouse
        .edit_local_user_groups(
            "bob",
            &gatehouse_core::store::GroupEdit::Join(
                gatehouse_core::store::LocalGroupName::parse("contractors").unwrap(),
            ),
        )
        .await
        .unwrap();
    fx.next_step();
    let typed = fx.append_totp("bob").await;
    assert_eq!(
        fx.login("bob", &typed, "vpn", None).await,
        Err(Refusal::AccessDenied)
    );
    // Deleting the group lets bob in again.
    fx.gatehouse
        .delete_local_group("contractors")
        .await
        .unwrap();
    fx.next_step();
    let typed = fx.append_totp("bob").await;
    accepted(&fx.login("bob", &typed, "vpn", None).await);
}

/// The policies of [`policies`] as an administrator saves them.
fn written() -> Vec<PolicyText> {
    policies().policies().iter().map(PolicyText::of).collect()
}

#[tokio::test]
async fn saved_policies_take_effect_here_at_once_and_on_every_node_at_its_tick() {
    let fx = fixture_with("saved", PolicySet::default()).await;
    let other = support::open(&fx.path, fx.settings.clone()).await;
    assert!(!fx.gatehouse.policies_fixed());
    let carol = fx.append_totp("carol").await;
    // No policy yet: the default rules.
    let before = fx.login("carol", &carol, "vpn", None).await;
    assert_eq!(accepted(&before), (None, vec![]));

    let saved = fx.gatehouse.saved_policies().await.unwrap();
    assert_eq!((saved.generation, saved.policies.len()), (0, 0));
    assert_eq!(
        fx.gatehouse
            .save_policies(0, &written(), "root")
            .await
            .unwrap(),
        1
    );
    let saved = fx.gatehouse.saved_policies().await.unwrap();
    assert_eq!(saved.policies, written());
    assert_eq!(saved.saved.unwrap().1, "root");
    fx.next_step();
    let carol = fx.append_totp("carol").await;
    assert_eq!(
        fx.login("carol", &carol, "vpn", None).await,
        Err(Refusal::AccessDenied),
        "here at once"
    );
    // The other node, after its tick.
    other.tick().await;
    fx.next_step();
    let carol = fx.append_totp("carol").await;
    assert_eq!(
        other
            .login_through("carol", &carol, &Route::new("vpn", None))
            .await,
        Err(Refusal::AccessDenied)
    );

    // An edit of an older generation is refused; so is an invalid list,
    // and nothing changes.
    assert!(matches!(
        other.save_policies(0, &[], "admin").await,
        Err(PolicySaveError::Stale)
    ));
    let mut bad = written();
    bad[1].factors = Some(vec!["sms".into()]);
    assert!(matches!(
        fx.gatehouse.save_policies(1, &bad, "root").await,
        Err(PolicySaveError::Invalid(_))
    ));
    let mut unknown = written();
    unknown[0].groups = vec!["corp:CN=x".into()];
    assert!(matches!(
        fx.gatehouse.save_policies(1, &unknown, "root").await,
        Err(PolicySaveError::Invalid(_))
    ));
    assert_eq!(fx.gatehouse.saved_policies().await.unwrap().generation, 1);
    // Taking the denial out lets carol in (no address: not the office).
    let without: Vec<PolicyText> = written().into_iter().skip(1).collect();
    assert_eq!(other.save_policies(1, &without, "admin").await.unwrap(), 2);
    fx.gatehouse.tick().await;
    fx.next_step();
    let carol = fx.append_totp("carol").await;
    let after = fx.login("carol", &carol, "vpn", None).await;
    assert_eq!(
        after.unwrap().authorization.policy.as_deref(),
        Some("everyone else")
    );
}

#[tokio::test]
async fn policies_fixed_in_the_configuration_are_not_saved() {
    let fx = fixture("fixed").await;
    assert!(fx.gatehouse.policies_fixed());
    assert!(matches!(
        fx.gatehouse.save_policies(0, &[], "root").await,
        Err(PolicySaveError::Fixed)
    ));
    assert!(matches!(
        fx.gatehouse.saved_policies().await,
        Err(PolicySaveError::Fixed)
    ));
    assert_eq!(fx.gatehouse.policies().unwrap().policies().len(), 5);
}
