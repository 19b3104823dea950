//! The vendor tool as a vendor uses it.

use std::process::Command;

use gatehouse_license::key::decode_signed;
use gatehouse_license::key_file::parse_public;
use gatehouse_license::{AppKey, LicenseType, SigningKey};
use gatehouse_testkit::temp_dir;

fn vendor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse-vendor"))
        .args(args)
        .output()
        .unwrap()
}

fn app_key() -> String {
    AppKey::of(&SigningKey::from_bytes(&[11; 32]).verifying_key()).to_string()
}

#[test]
fn keygen_then_issue_makes_a_key_the_public_key_verifies() {
    let dir = temp_dir();
    let out = dir.path().join("vendor-keys");
    let made = vendor(&["keygen", "--out", out.to_str().unwrap()]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(out.join("vendor.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the secret key is private to its owner");
    }
    let public = parse_public(&std::fs::read_to_string(out.join("vendor.pub")).unwrap()).unwrap();
    // It names the key as `gatehouse --version` will.
    assert!(
        String::from_utf8_lossy(&made.stdout).contains(&format!(
            "fingerprint {}",
            gatehouse_license::key_file::fingerprint(&public)
        )),
        "{}",
        String::from_utf8_lossy(&made.stdout)
    );
    let issued = vendor(&[
        "issue",
        "--signing-key",
        out.join("vendor.key").to_str().unwrap(),
        "--app-key",
        &app_key().to_lowercase(),
        "--company",
        "Example Networks Ltd.",
        "--dossier",
        "D-1",
        "--users",
        "200",
        "--type",
        "demo",
        "--support-end",
        "2027-01-31",
        "--issued-at",
        "2026-11-28T10:00:00Z",
        "--license-id",
        "L-42",
    ]);
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let key = String::from_utf8(issued.stdout).unwrap();
    let payload = decode_signed(&key, &[public]).unwrap().payload;
    assert_eq!(payload.app_key.to_string(), app_key());
    assert_eq!(payload.user_limit, 200);
    assert_eq!(payload.license_type, LicenseType::Demo);
    assert_eq!(payload.license_id, "L-42");
    assert!(!payload.push_subscription);
    assert_eq!(payload.support_end.to_string(), "2027-01-31");
    assert_eq!(payload.issued_at.to_string(), "2026-11-28T10:00:00Z");
}

#[test]
fn keygen_never_overwrites_a_key() {
    let dir = temp_dir();
    let out = dir.path().to_str().unwrap();
    assert!(vendor(&["keygen", "--out", out]).status.success());
    let before = std::fs::read(dir.path().join("vendor.key")).unwrap();
    let again = vendor(&["keygen", "--out", out]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(
        std::fs::read(dir.path().join("vendor.key")).unwrap(),
        before
    );
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let dev_key = gatehouse_testkit::workspace_root().join("keys/dev-vendor.key");
    let dev_pub = gatehouse_testkit::workspace_root().join("keys/dev-vendor.pub");
    let base = |signing_key: &str, app_key: &str, users: &str, end: &str| {
        vendor(&[
            "issue",
            "--signing-key",
            signing_key,
            "--app-key",
            app_key,
            "--company",
            "C",
            "--dossier",
            "D",
            "--users",
            users,
            "--type",
            "subscription",
            "--support-end",
            end,
        ])
    };
    let key = dev_key.to_str().unwrap();
    let cases = [
        (
            base(key, "NOT-AN-APP-KEY", "5", "2027-01-31"),
            "not an App Key",
        ),
        (base(key, &app_key(), "0", "2027-01-31"), "--users"),
        (base(key, &app_key(), "5", "2027-02-30"), "--support-end"),
        (
            base(dev_pub.to_str().unwrap(), &app_key(), "5", "2027-01-31"),
            "not a vendor signing key",
        ),
        (
            base("/nonexistent", &app_key(), "5", "2027-01-31"),
            "cannot read",
        ),
        (
            vendor(&[
                "issue",
                "--signing-key",
                key,
                "--app-key",
                &app_key(),
                "--company",
                "C",
                "--dossier",
                "D",
                "--users",
                "5",
                "--type",
                "subscription",
                "--support-end",
                "2027-01-31",
                "--overage-percent",
                "101",
            ]),
            "overage percent must be at most 100",
        ),
    ];
    for (output, message) in cases {
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{message}: {stderr}");
    }
}

#[test]
fn inspect_prints_the_terms_of_a_key_its_public_key_verifies() {
    let dir = temp_dir();
    let out = dir.path().join("vendor-keys");
    assert!(
        vendor(&["keygen", "--out", out.to_str().unwrap()])
            .status
            .success()
    );
    let app_key = app_key();
    let issued = vendor(&[
        "issue",
        "--signing-key",
        out.join("vendor.key").to_str().unwrap(),
        "--app-key",
        &app_key,
        "--company",
        "Example Networks Ltd.",
        "--dossier",
        "D-7",
        "--users",
        "150",
        "--type",
        "subscription",
        "--support-end",
        "2027-06-30",
        "--push",
    ]);
    assert!(issued.status.success());
    let key = String::from_utf8(issued.stdout).unwrap().trim().to_string();
    let inspected = vendor(&[
        "inspect",
        "--public-key",
        out.join("vendor.pub").to_str().unwrap(),
        &key,
    ]);
    let text = String::from_utf8_lossy(&inspected.stdout);
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    for line in [
        "Company            Example Networks Ltd.",
        "Dossier            D-7",
        "User Limit         150",
        "License Type       Subscription",
        "Support End Date   2027-06-30",
        "Push Subscription  yes",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert!(
        text.contains(&format!("App Key            {app_key}")),
        "{text}"
    );
    assert!(text.contains("Format Version     1\n"), "{text}");
    assert!(!text.contains("Overage"), "no option granted: {text}");
    // A key with options lists what it grants.
    let granted = vendor(&[
        "issue",
        "--signing-key",
        out.join("vendor.key").to_str().unwrap(),
        "--app-key",
        &app_key,
        "--company",
        "Example Networks Ltd.",
        "--dossier",
        "D-7",
        "--users",
        "150",
        "--type",
        "subscription",
        "--support-end",
        "2027-06-30",
        "--overage-percent",
        "10",
        "--grace-days",
        "14",
        "--reserved-seats",
        "2",
    ]);
    assert!(granted.status.success());
    let granted = String::from_utf8(granted.stdout).unwrap();
    let inspected = vendor(&[
        "inspect",
        "--public-key",
        out.join("vendor.pub").to_str().unwrap(),
        granted.trim(),
    ]);
    let text = String::from_utf8_lossy(&inspected.stdout);
    for line in [
        "Overage Allowance  10% (15 users past the limit, up to 165)\n",
        "Grace Period       14 days after the Support End Date\n",
        "Break-glass Seats  up to 2\n",
        "Format Version     2\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert!(!text.contains("Exempt"), "not granted: {text}");
    // Another vendor's public key: refused, nothing printed.
    let other = dir.path().join("other");
    assert!(
        vendor(&["keygen", "--out", other.to_str().unwrap()])
            .status
            .success()
    );
    let refused = vendor(&[
        "inspect",
        "--public-key",
        other.join("vendor.pub").to_str().unwrap(),
        &key,
    ]);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("signature"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // Not a key.
    let junk = vendor(&[
        "inspect",
        "--public-key",
        out.join("vendor.pub").to_str().unwrap(),
        "GHL1.nonsense",
    ]);
    assert!(!junk.status.success());
}
