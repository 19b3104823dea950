//! SPEC §11 through the real binary: what someone with read-write access
//! to the database, but not to the data directory's sealing key, can do
//! with plain SQL (SQLite and PostgreSQL); a schema-7 installation upgraded
//! in place; a clock that ran ahead brought back by a fresh vendor key
//! (libfaketime).

use std::path::PathBuf;

use crate::support::{
    FakeTime, Installation, Server, dev_key, enrolled_secret, http_json, issue, pap, radclient,
    sqlite_sql,
};
use gatehouse_core::totp::{TotpSecret, code_at, step_of};
use gatehouse_license::jiff::{SignedDuration, Timestamp};
use gatehouse_testkit::{
    fresh_postgres_database, libfaketime, peer, postgres_url, psql, workspace_root,
};
use serde_json::Value;

const LIMIT_TEXT: &str = "Reject: User limit exceeded, please contact your system administrator";
const DAMAGED_TEXT: &str = "Reject: License data damaged, please contact your system administrator";
const ALTERED: &str = "License record altered outside Gatehouse";

fn database(gh: &Installation) -> PathBuf {
    gh.data_dir().join("gatehouse.db")
}

/// `count` local users `user01`, `user02`, … with the password
/// `<name>-secret`, in one import.
fn import_users(gh: &Installation, count: usize) -> Vec<String> {
    let names: Vec<String> = (1..=count).map(|i| format!("user{i:02}")).collect();
    let file = gh.data_dir().join("users.tsv");
    let lines: String = names.iter().map(|n| format!("{n}\t{n}-secret\n")).collect();
    std::fs::write(&file, lines).unwrap();
    gh.ok(
        &[
            "local-user",
            "import",
            file.to_str().unwrap(),
            "--no-second-factor",
        ],
        "",
    );
    names
}

/// `now` moved by `hours`, as `YYYY-MM-DD` or as faketime's
/// `YYYY-MM-DD hh:mm:ss`.
fn day(hours: i64) -> String {
    later(hours).strftime("%Y-%m-%d").to_string()
}

fn fake_clock(hours: i64) -> String {
    later(hours).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

fn later(hours: i64) -> Timestamp {
    Timestamp::now()
        .checked_add(SignedDuration::from_hours(hours))
        .unwrap()
}

/// A development key for `gh`, issued `issued_hours` from now.
fn key(gh: &Installation, users: u32, end_hours: i64, issued_hours: i64) -> String {
    issue(
        &dev_key(),
        &gh.app_key(),
        users,
        &day(end_hours),
        &later(issued_hours).to_string(),
    )
}

#[test]
fn rows_changed_by_hand_move_no_license_term() {
    let gh = Installation::new("UTC");
    let demo = gh.license_json();
    assert_eq!(demo["user_limit"], 25);
    let names = import_users(&gh, 26);
    // The demo's limit and end written over in the database.
    sqlite_sql(
        &database(&gh),
        "UPDATE license SET user_limit = 1000; UPDATE months SET user_limit = 1000;
         UPDATE installation SET demo_support_end = '2099-12-31', first_start = 4102444800000000",
    );
    let shown = gh.license_json();
    assert_eq!(shown["user_limit"], 25);
    assert_eq!(shown["support_end_date"], demo["support_end_date"]);
    assert_eq!(shown["status"], "valid");
    for name in &names[..25] {
        assert_eq!(gh.auth(name).0, "Accept", "{name}");
    }
    let (reply, log) = gh.auth(&names[25]);
    assert_eq!(reply, LIMIT_TEXT);
    assert!(log.contains(ALTERED), "{log}");
    // Seats freed by lowering the count and emptying the ledger: still
    // full. A sealed count written over stops everyone instead.
    sqlite_sql(
        &database(&gh),
        "UPDATE months SET active_users = 0; DELETE FROM seats",
    );
    assert_eq!(gh.auth(&names[25]).0, LIMIT_TEXT);
    assert_eq!(gh.license_json()["active_users"], 25);
    sqlite_sql(&database(&gh), "UPDATE months SET sealed_count = NULL");
    assert_eq!(gh.auth(&names[25]).0, DAMAGED_TEXT);
    assert_eq!(gh.auth(&names[0]).0, DAMAGED_TEXT);
    // A valid vendor key repairs it, forgetting nobody counted.
    gh.ok(&["license", "install", &key(&gh, 25, 24 * 90, -1)], "");
    assert_eq!(gh.auth(&names[25]).0, LIMIT_TEXT);
    assert_eq!(gh.license_json()["active_users"], 25);
    // A key swapped in by hand (the demo back, here) is no license.
    sqlite_sql(&database(&gh), "UPDATE license SET key = NULL");
    assert_eq!(gh.auth(&names[0]).0, DAMAGED_TEXT);
    assert_eq!(gh.license_json()["status"], "damaged");
}

#[test]
fn a_clock_mark_edited_back_fails_closed_until_a_fresh_key() {
    const TEST: &str = "a_clock_mark_edited_back_fails_closed_until_a_fresh_key";
    let Some(faketime) = libfaketime(TEST) else {
        return;
    };
    let mut gh = Installation::new("UTC");
    gh.add_user("alice");
    let installed = key(&gh, 10, 24 * 30, -2);
    gh.ok(&["license", "install", &installed], "");
    // Two months on, the license expired.
    gh.fake_time = Some(FakeTime::new(&faketime, fake_clock(24 * 60)));
    assert_eq!(gh.license_json()["status"], "expired");
    // The mark set back by hand, and the clock turned back: not valid.
    gh.fake_time = None;
    let now = Timestamp::now().as_microsecond();
    sqlite_sql(
        &database(&gh),
        &format!("UPDATE clock SET high_water = {now}"),
    );
    assert_eq!(gh.license_json()["status"], "damaged");
    assert_eq!(gh.auth("alice").0, DAMAGED_TEXT);
    // The installed key again (the system clock says it is valid) does not
    // repair it; a freshly issued one does.
    // (The same key text: one made again now could be issued a second
    // later than the installed one, and so be fresher.)
    let replayed = gh.run(&["license", "install", &installed], "");
    let stderr = String::from_utf8_lossy(&replayed.stderr);
    assert_eq!(replayed.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("freshly issued"), "{stderr}");
    assert_eq!(gh.license_json()["status"], "damaged");
    gh.ok(&["license", "install", &key(&gh, 10, 24 * 365, 0)], "");
    assert_eq!(gh.license_json()["status"], "valid");
    assert_eq!(gh.auth("alice").0, "Accept");
}

#[test]
fn a_fresh_vendor_key_re_anchors_a_clock_that_ran_ahead_and_an_old_one_never_does() {
    const TEST: &str =
        "a_fresh_vendor_key_re_anchors_a_clock_that_ran_ahead_and_an_old_one_never_does";
    let Some(faketime) = libfaketime(TEST) else {
        return;
    };
    let mut gh = Installation::new("UTC");
    gh.add_user("alice");
    let older = key(&gh, 10, 24 * 60, -3);
    let installed = key(&gh, 10, 24 * 60, -2);
    gh.ok(&["license", "install", &installed], "");
    // One command under a clock years ahead (a bad NTP answer, a restored
    // VM) expires the license for good...
    gh.fake_time = Some(FakeTime::new(&faketime, fake_clock(24 * 365 * 5)));
    assert_eq!(gh.license_json()["status"], "expired");
    gh.fake_time = None;
    assert_eq!(gh.license_json()["status"], "expired");
    assert_eq!(
        gh.auth("alice").0,
        "Reject: License expired, please contact your system administrator"
    );
    // ...and keys issued before, replayed with the system clock even turned
    // back to their issue time, never move it back.
    for (old, issued_hours) in [(&installed, -2), (&older, -3)] {
        gh.fake_time = Some(FakeTime::new(&faketime, fake_clock(issued_hours)));
        let refused = gh.run(&["license", "install", old], "");
        assert_eq!(refused.status.code(), Some(2));
        gh.fake_time = None;
        assert_eq!(gh.license_json()["status"], "expired");
    }
    // A key freshly issued by the vendor brings the clock back.
    let renewal = key(&gh, 10, 24 * 365, 0);
    gh.ok(&["license", "install", &renewal], "");
    let license = gh.license_json();
    assert_eq!(license["status"], "valid", "{license}");
    assert_eq!(gh.auth("alice").0, "Accept");
    // The key it replaced, installed again, does not move it again.
    assert_eq!(
        gh.run(&["license", "install", &installed], "")
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn the_database_file_holds_no_secret() {
    let gh = Installation::new("UTC");
    let (smtp_password, ldap_password) = ("smtp-password-9Yq", "ldap-bind-password-7Kx");
    gh.append_config(&format!(
        "\n[smtp]\nhost = \"mail.example.com\"\nfrom = \"gh@example.com\"\nusername = \"gh\"\n\
         password = \"{smtp_password}\"\n\n[[directory]]\nkind = \"openldap\"\n\
         urls = [\"ldaps://ldap.example.com\"]\nbind_dn = \"cn=gh\"\nbind_password = \"{ldap_password}\"\n\
         base_dn = \"dc=example,dc=com\"\n"
    ));
    gh.add_user("alice");
    let totp = enrolled_secret(&gh.ok(&["local-user", "totp", "alice"], ""));
    let radius_secret = "a-long-radius-shared-secret";
    gh.add_client("vpn", "10.0.0.0/8", radius_secret);
    let mut everything = std::fs::read(database(&gh)).unwrap();
    if let Ok(journal) = std::fs::read(gh.data_dir().join("gatehouse.db-wal")) {
        everything.extend(journal);
    }
    assert!(
        contains(&everything, b"local:alice"),
        "the search sees plain values"
    );
    for (what, secret) in [
        ("TOTP seed", totp.as_bytes().to_vec()),
        ("TOTP seed (base32)", totp.to_base32().into_bytes()),
        ("shared secret", radius_secret.as_bytes().to_vec()),
        ("SMTP password", smtp_password.as_bytes().to_vec()),
        ("LDAP password", ldap_password.as_bytes().to_vec()),
    ] {
        assert!(
            !contains(&everything, &secret),
            "the database file shows the {what}"
        );
    }
    // And the key that opens them is in a file of its own, owner-only.
    let key_file = gh.data_dir().join("sealing.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_link_written_into_the_database_enrolls_no_phone() {
    let gh = Installation::new("UTC");
    gh.add_user("alice");
    let server = Server::start(gh, "");
    // A link whose secret the attacker chose: its SHA-256 written in.
    let secret = "B".repeat(43);
    let hash = gatehouse_core::push::EnrollmentToken::hash(&secret).unwrap();
    let hash: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    sqlite_sql(
        &database(&server.gh),
        &format!(
            "INSERT INTO push_enrollments (token_hash, seat_key, username, created_at, expires_at, device_id, tag)
             VALUES (x'{hash}', 'local:alice', 'alice', 0, 4102444800000000, 'rogue', x'00')"
        ),
    );
    let phone = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
    let public_key = base64_url(phone.verifying_key().to_sec1_point(false).as_bytes());
    for token in [secret.as_str(), "R0hMMS5hYmM.ZGVm"] {
        let (status, body) = http_json(
            server.http_port,
            "POST",
            "/push/v1/devices",
            &[],
            Some(serde_json::json!({"token": token, "label": "rogue", "public_key": public_key})),
        );
        assert_eq!(status, 400, "{body}");
    }
    assert!(
        server
            .gh
            .ok(&["push", "devices", "--json"], "")
            .contains("[]")
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The schema-7 installation (`tests/fixtures/schema7`, made by Gatehouse
/// before databases were sealed).
fn schema7() -> (PathBuf, Value) {
    let dir = workspace_root().join("bin/gatehouse/tests/fixtures/schema7");
    let fixture =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fixture.json")).unwrap()).unwrap();
    (dir, fixture)
}

/// What the upgraded installation must still be and do, through the CLI.
fn still_the_same_installation(gh: &Installation, fixture: &Value) {
    let text = |key: &str| fixture[key].as_str().unwrap().to_string();
    let license = gh.license_json();
    assert_eq!(license["app_key"], fixture["app_key"]);
    assert_eq!(license["license_id"], fixture["license_id"]);
    assert_eq!(license["user_limit"], 40);
    assert_eq!(license["timezone"], "Europe/Istanbul");
    let mut counted = gh.users(&text("month"));
    counted.sort();
    assert_eq!(counted, ["alice", "bob"]);
    // alice's password and TOTP seed still work (append the code, or
    // answer the challenge on the next line).
    let secret = TotpSecret::from_base32(&text("totp_secret")).unwrap();
    let code = code_at(&secret, step_of(Timestamp::now()));
    let passwords = &fixture["passwords"];
    let output = gh.run(
        &["auth", "alice", "--password-stdin", "--client", "vpn"],
        &format!("{}\n{code}\n", passwords["alice"].as_str().unwrap()),
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "Accept",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // bob has no second factor: once upgraded, one is required (SPEC §12)
    // until an administrator exempts him.
    let bob = passwords["bob"].as_str().unwrap();
    assert_eq!(
        gh.auth_with("bob", bob).0,
        "Reject: A second factor is required, please contact your system administrator"
    );
    gh.ok(&["local-user", "second-factor", "bob", "--exempt"], "");
    assert_eq!(gh.auth_with("bob", bob).0, "Accept");
    assert!(gh.ok(&["client", "list"], "").contains("vpn"));
    let devices = gh.ok(&["push", "devices", "--json"], "");
    assert!(devices.contains(&text("device")), "{devices}");
}

/// A phone enrolled before the upgrade still fetches with its key, the
/// administrator's API token still works, and so does a RADIUS client's
/// shared secret.
fn phone_and_client_still_work(server: &Server, fixture: &Value) {
    use p256::ecdsa::signature::Signer as _;
    let device = fixture["device"].as_str().unwrap();
    let pem = fixture["device_private_key_pem"].as_str().unwrap();
    let der: Vec<u8> = {
        use base64::Engine as _;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    };
    // PKCS#8 of a P-256 key: the scalar follows `02 01 01 04 20`.
    let at = der
        .windows(5)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
        .unwrap()
        + 5;
    let phone = p256::ecdsa::SigningKey::from_slice(&der[at..at + 32]).unwrap();
    let now = Timestamp::now().as_second();
    let signature: p256::ecdsa::Signature =
        phone.sign(gatehouse_core::push::poll_text(device, now).as_bytes());
    let (status, body) = http_json(
        server.http_port,
        "GET",
        &format!("/push/v1/devices/{device}/pushes"),
        &[
            ("X-Gatehouse-Time", now.to_string()),
            ("X-Gatehouse-Signature", base64_url(&signature.to_bytes())),
        ],
        None,
    );
    assert_eq!(status, 200, "{body}");
    // The administrator's API token still signs in.
    let (status, license) = http_json(
        server.http_port,
        "GET",
        "/api/v1/license",
        &[(
            "Authorization",
            format!("Bearer {}", fixture["api_token"].as_str().unwrap()),
        )],
        None,
    );
    assert_eq!(status, 200, "{license}");
    assert_eq!(license["app_key"], fixture["app_key"]);
    if let Some(radclient_program) = peer("radclient", "phone_and_client_still_work") {
        let passwords = &fixture["passwords"];
        let reply = radclient(
            &radclient_program,
            server.radius_port,
            &pap("bob", passwords["bob"].as_str().unwrap()),
            fixture["radius_secret"].as_str().unwrap(),
        );
        reply.assert_code("Access-Accept");
    }
}

#[test]
fn a_schema_7_installation_upgrades_in_place_on_sqlite() {
    let (dir, fixture) = schema7();
    let gh = Installation::new("Europe/Istanbul");
    std::fs::copy(dir.join("gatehouse.db"), database(&gh)).unwrap();
    assert!(!gh.data_dir().join("sealing.key").exists());
    still_the_same_installation(&gh, &fixture);
    let key_file = std::fs::read(gh.data_dir().join("sealing.key")).unwrap();
    // Nothing of what it held is left readable.
    let everything = std::fs::read(database(&gh)).unwrap();
    let secrets = [
        fixture["radius_secret"]
            .as_str()
            .unwrap()
            .as_bytes()
            .to_vec(),
        hex(fixture["installation_key_hex"].as_str().unwrap()),
        hex(fixture["webpush_auth_hex"].as_str().unwrap()),
        TotpSecret::from_base32(fixture["totp_secret"].as_str().unwrap())
            .unwrap()
            .as_bytes()
            .to_vec(),
    ];
    for secret in &secrets {
        assert!(!contains(&everything, secret));
    }
    // Served: phones and clients work, under the same sealing key (later
    // starts make no other).
    let server = Server::start(gh, "");
    phone_and_client_still_work(&server, &fixture);
    assert_eq!(
        std::fs::read(server.gh.data_dir().join("sealing.key")).unwrap(),
        key_file
    );
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_schema_7_installation_upgrades_in_place_on_postgres() {
    const TEST: &str = "a_schema_7_installation_upgrades_in_place_on_postgres";
    let Some(server) = postgres_url(TEST) else {
        return;
    };
    if peer("psql", TEST).is_none() {
        return;
    }
    let Some(pg_dump) = peer("pg_dump", TEST) else {
        return;
    };
    let (dir, fixture) = schema7();
    let url = fresh_postgres_database(&server, TEST);
    gatehouse_testkit::psql_file(&url, &dir.join("postgres.sql"));
    let gh = Installation::new("Europe/Istanbul");
    gh.append_config(&format!("\n[storage]\nurl = \"{url}\"\n"));
    still_the_same_installation(&gh, &fixture);
    let dump = std::process::Command::new(&pg_dump)
        .arg(&url)
        .output()
        .unwrap();
    assert!(dump.status.success());
    let text = String::from_utf8_lossy(&dump.stdout).to_lowercase();
    let totp: String = TotpSecret::from_base32(fixture["totp_secret"].as_str().unwrap())
        .unwrap()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(text.contains("local:alice"), "the dump shows plain values");
    for secret in [
        fixture["radius_secret"].as_str().unwrap().to_string(),
        fixture["installation_key_hex"]
            .as_str()
            .unwrap()
            .to_string(),
        fixture["webpush_auth_hex"].as_str().unwrap().to_string(),
        totp,
    ] {
        assert!(!text.contains(&secret), "pg_dump shows {secret}");
    }
    // Tampering on PostgreSQL: the limit column means nothing.
    psql(&url, "UPDATE license SET user_limit = 1000");
    assert_eq!(gh.license_json()["user_limit"], 40);
}
