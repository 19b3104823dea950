//! `gatehouse backup` and `gatehouse restore` through the real binary: a
//! snapshot taken while users log in over RADIUS restores, on SQLite and
//! PostgreSQL and across them, to an installation with the same App Key
//! and license whose count equals its ledger.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse_testkit::{fresh_postgres_database, peer, postgres_url};
use serde_json::Value;

use crate::support::*;

const SECRET: &str = "backup-test-secret";
/// Users who log in during the test (the demo license admits 25).
const USERS: usize = 20;

/// An installation on a fresh PostgreSQL database named after `name`.
fn on_postgres(server: &str, name: &str) -> Installation {
    let gh = Installation::new("UTC");
    let url = fresh_postgres_database(server, name);
    gh.append_config(&format!(
        "\n[storage]\nurl = \"{url}\"\nmax_connections = 4\n"
    ));
    gh
}

/// An empty installation holding `from`'s sealing key, as an administrator
/// prepares a restore.
fn with_key_of(from: &Installation, target: Installation) -> Installation {
    std::fs::copy(
        from.data_dir().join("sealing.key"),
        target.data_dir().join("sealing.key"),
    )
    .unwrap();
    target
}

/// The month's count and ledger of an installation.
fn count_and_ledger(gh: &Installation) -> (u64, usize) {
    let license = gh.license_json();
    let month = license["month"].as_str().unwrap().to_string();
    (
        license["active_users"].as_u64().unwrap(),
        gh.users(&month).len(),
    )
}

/// Logs `USERS` users in one after another while a backup is taken once
/// the first few are in; returns the original's server and the backup.
fn backup_under_load(
    test: &str,
    source: Installation,
) -> Option<(Server, std::path::PathBuf, tempfile::TempDir)> {
    let program = peer("radclient", test)?;
    for index in 0..USERS {
        source.add_user(&format!("user{index}"));
    }
    source.add_client("nas", "127.0.0.1", SECRET);
    let server = Server::start(source, "");
    let port = server.radius_port;
    let logged_in = Arc::new(AtomicUsize::new(0));
    let load = {
        let logged_in = logged_in.clone();
        std::thread::spawn(move || {
            for index in 0..USERS {
                let user = format!("user{index}");
                radclient(
                    &program,
                    port,
                    &pap(&user, &format!("{user}-secret")),
                    SECRET,
                )
                .assert_code("Access-Accept");
                logged_in.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while logged_in.load(Ordering::SeqCst) < 3 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gatehouse.backup");
    let taken = server.gh.run(&["backup", file.to_str().unwrap()], "");
    let during = logged_in.load(Ordering::SeqCst);
    load.join().unwrap();
    let stdout = String::from_utf8_lossy(&taken.stdout);
    let stderr = String::from_utf8_lossy(&taken.stderr);
    assert!(taken.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("every month's count equals its ledger"),
        "{stdout}"
    );
    assert!(
        stderr.contains("does not contain the sealing key"),
        "{stderr}"
    );
    assert!(
        during < USERS,
        "the load ended before the backup: nothing was tested under load"
    );
    assert_eq!(count_and_ledger(&server.gh), (USERS as u64, USERS));
    Some((server, file, dir))
}

/// Restores `file` into `target` and checks what the restored
/// installation shows against the original.
fn restore_and_check(
    original: &Installation,
    file: &std::path::Path,
    target: &Installation,
) -> u64 {
    let restored = target.run(&["restore", file.to_str().unwrap()], "");
    assert!(
        restored.status.success(),
        "{}{}",
        String::from_utf8_lossy(&restored.stdout),
        String::from_utf8_lossy(&restored.stderr)
    );
    assert_eq!(target.app_key(), original.app_key(), "the App Key survives");
    let (count, ledger) = count_and_ledger(target);
    assert_eq!(
        count as usize, ledger,
        "count and ledger of the restored installation"
    );
    assert!(count >= 3 && (count as usize) <= USERS, "{count}");
    let license: Value = target.license_json();
    assert_eq!(
        license["license_type"],
        original.license_json()["license_type"]
    );
    let verified = target.ok(&["verify"], "");
    assert!(
        verified.contains("every month's count equals its ledger")
            && verified.contains("audit trail intact"),
        "{verified}"
    );
    // Restoring again into the same place overwrites nothing.
    let again = target.run(&["restore", file.to_str().unwrap()], "");
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(count_and_ledger(target), (count, ledger));
    count
}

#[test]
fn a_backup_of_sqlite_taken_under_load_restores_into_sqlite_and_postgres() {
    const TEST: &str = "a_backup_of_sqlite_taken_under_load_restores_into_sqlite_and_postgres";
    let Some((server, file, _dir)) = backup_under_load(TEST, Installation::new("UTC")) else {
        return;
    };
    let into_sqlite = with_key_of(&server.gh, Installation::new("UTC"));
    let count = restore_and_check(&server.gh, &file, &into_sqlite);
    let Some(pg) = postgres_url(TEST) else {
        return;
    };
    let into_postgres = with_key_of(&server.gh, on_postgres(&pg, "backup_sqlite_into_pg"));
    assert_eq!(restore_and_check(&server.gh, &file, &into_postgres), count);
}

#[test]
fn a_backup_of_postgres_taken_under_load_restores_into_sqlite_and_postgres() {
    const TEST: &str = "a_backup_of_postgres_taken_under_load_restores_into_sqlite_and_postgres";
    let Some(pg) = postgres_url(TEST) else {
        return;
    };
    let Some((server, file, _dir)) = backup_under_load(TEST, on_postgres(&pg, "backup_pg_source"))
    else {
        return;
    };
    let into_sqlite = with_key_of(&server.gh, Installation::new("UTC"));
    let count = restore_and_check(&server.gh, &file, &into_sqlite);
    let into_postgres = with_key_of(&server.gh, on_postgres(&pg, "backup_pg_into_pg"));
    assert_eq!(restore_and_check(&server.gh, &file, &into_postgres), count);
}

#[test]
fn a_restore_needs_the_right_sealing_key_and_an_empty_place() {
    let original = Installation::new("UTC");
    original.add_user("alice");
    assert_eq!(original.auth("alice").0, "Accept");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.db");
    original.ok(&["backup", file.to_str().unwrap()], "");

    let stderr =
        |output: std::process::Output| String::from_utf8_lossy(&output.stderr).into_owned();
    // No key file: nothing is made, the error says what to copy.
    let keyless = Installation::new("UTC");
    let refused = stderr(keyless.run(&["restore", file.to_str().unwrap()], ""));
    assert!(
        refused.contains("copy the installation's sealing key file there first"),
        "{refused}"
    );
    assert!(!keyless.data_dir().join("gatehouse.db").exists());
    assert!(!keyless.data_dir().join("sealing.key").exists());
    // Another installation's key: refused, nothing left behind.
    let stranger = Installation::new("UTC");
    stranger.app_key();
    let wrong = Installation::new("UTC");
    std::fs::copy(
        stranger.data_dir().join("sealing.key"),
        wrong.data_dir().join("sealing.key"),
    )
    .unwrap();
    let refused = stderr(wrong.run(&["restore", file.to_str().unwrap()], ""));
    assert!(
        refused.contains("not sealed under this sealing key"),
        "{refused}"
    );
    let left: Vec<_> = std::fs::read_dir(wrong.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "sealing.key" && name != "gatehouse.toml")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Over an installation: refused, the installation untouched.
    let refused = stderr(stranger.run(&["restore", file.to_str().unwrap()], ""));
    assert!(
        refused.contains("never overwrites an installation"),
        "{refused}"
    );
    assert_ne!(stranger.app_key(), original.app_key());
    // Not a backup at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database").unwrap();
    let target = with_key_of(&original, Installation::new("UTC"));
    let refused = target.run(&["restore", junk.to_str().unwrap()], "");
    assert_eq!(refused.status.code(), Some(2));
    assert!(!target.data_dir().join("gatehouse.db").exists());
    // A backup over an older one replaces it whole.
    original.add_user("bob");
    assert_eq!(original.auth("bob").0, "Accept");
    original.ok(&["backup", file.to_str().unwrap()], "");
    let restored = with_key_of(&original, Installation::new("UTC"));
    restored.ok(&["restore", file.to_str().unwrap()], "");
    assert_eq!(count_and_ledger(&restored), (2, 2));
}

#[test]
fn verify_finds_a_count_changed_by_hand() {
    let gh = Installation::new("UTC");
    gh.add_user("alice");
    assert_eq!(gh.auth("alice").0, "Accept");
    assert!(
        gh.ok(&["verify"], "")
            .contains("every month's count equals its ledger")
    );
    sqlite_sql(
        &gh.data_dir().join("gatehouse.db"),
        "UPDATE months SET active_users = 0;",
    );
    let checked = gh.run(&["verify"], "");
    assert_eq!(checked.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        stdout.contains("count 0 but 1 users in the ledger"),
        "{stdout}"
    );
}
