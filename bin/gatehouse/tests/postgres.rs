//! Several Gatehouse nodes on one PostgreSQL database, through the real
//! binary: one installation (App Key), one license, one monthly count.

mod common;

use common::{Installation, dev_key, issue};
use gatehouse_license::jiff::Timestamp;
use gatehouse_testkit::{peer, postgres_url, postgres_url_for};

const LIMIT_TEXT: &str = "Reject: User limit exceeded, please contact your system administrator";

/// A new database on the test server, and `nodes` installations (data
/// directories) whose `storage.url` points at it.
fn nodes(test: &str, count: usize) -> Option<Vec<Installation>> {
    let server = postgres_url(test)?;
    let psql = peer("psql", test)?;
    let database = format!("gh_{}", &test[..test.len().min(55)]);
    for statement in [
        format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
        format!("CREATE DATABASE \"{database}\""),
    ] {
        let output = std::process::Command::new(&psql)
            .args([&server, "-v", "ON_ERROR_STOP=1", "-q", "-c", &statement])
            .output()
            .expect("psql runs");
        assert!(
            output.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let url = postgres_url_for(&server, &database);
    Some(
        (0..count)
            .map(|_| {
                let gh = Installation::new("UTC");
                gh.append_config(&format!(
                    "\n[storage]\nurl = \"{url}\"\nmax_connections = 4\n"
                ));
                gh
            })
            .collect(),
    )
}

#[test]
fn nodes_on_one_database_share_the_installation_the_license_and_the_count() {
    const TEST: &str = "nodes_on_one_database_share_the_installation_the_license_and_the_count";
    let Some(nodes) = nodes(TEST, 2) else {
        return;
    };
    let (a, b) = (&nodes[0], &nodes[1]);
    let app_key = a.app_key();
    assert_eq!(b.app_key(), app_key, "one installation, one App Key");
    // A key installed on A is in force on B.
    let support_end = Timestamp::now()
        .checked_add(gatehouse_license::jiff::SignedDuration::from_hours(24 * 90))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    let key = issue(
        &dev_key(),
        &app_key,
        2,
        &support_end,
        &Timestamp::now().to_string(),
    );
    a.ok(&["license", "install", &key], "");
    assert_eq!(b.license_json()["user_limit"], 2);
    assert_eq!(b.license_json()["license_type"], "Subscription");
    // Users, and the count, are shared.
    a.add_user("alice");
    for name in ["bob", "carol"] {
        b.add_user(name);
    }
    assert_eq!(a.auth("alice").0, "Accept");
    assert_eq!(b.auth("bob").0, "Accept");
    assert_eq!(a.auth("carol").0, LIMIT_TEXT, "the limit counts both nodes");
    assert_eq!(b.auth("alice").0, "Accept", "counted on A, known on B");
    let month = a.license_json()["month"].as_str().unwrap().to_string();
    let mut users = b.users(&month);
    users.sort();
    assert_eq!(users, ["alice", "bob"]);
    assert_eq!(a.license_json()["active_users"], 2);
}
