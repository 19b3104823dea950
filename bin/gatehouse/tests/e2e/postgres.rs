//! Several Gatehouse nodes on one PostgreSQL database, through the real
//! binary: one installation (App Key), one license, one monthly count.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{
    BROWSER_ADMIN, BROWSER_ADMIN_PASSWORD, Browser, Installation, RadReply, Server, SmtpServer,
    dev_key, http_json, issue, issue_granted, pap, radclient as radclient_request,
};
use gatehouse_license::jiff::Timestamp;
use gatehouse_testkit::{
    fresh_postgres_database, peer, postgres_database_name, postgres_url, postgres_url_for, psql,
    python_with, workspace_root,
};
use serde_json::Value;

const LIMIT_TEXT: &str = "Reject: User limit exceeded, please contact your system administrator";
const DENIED_TEXT: &str = "Access denied by policy, please contact your system administrator";

/// A new database on the test server, and `count` installations (data
/// directories) whose `storage.url` points at it. With more than one, the
/// first node creates the installation and its sealing key, and every
/// other node gets a copy of the key file, as an administrator gives it.
fn nodes(test: &str, count: usize) -> Option<Vec<Installation>> {
    let nodes = unstarted_nodes(test, count)?;
    if count > 1 {
        nodes[0].app_key();
        for node in &nodes[1..] {
            share_sealing_key(&nodes[0], node);
        }
    }
    Some(nodes)
}

/// [`nodes`], none of them started yet (no installation, no key file).
fn unstarted_nodes(test: &str, count: usize) -> Option<Vec<Installation>> {
    let server = postgres_url(test)?;
    peer("psql", test)?;
    let url = fresh_postgres_database(&server, test);
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

/// Copies `from`'s sealing key file to `to` (every node holds one).
fn share_sealing_key(from: &Installation, to: &Installation) {
    std::fs::copy(
        from.data_dir().join("sealing.key"),
        to.data_dir().join("sealing.key"),
    )
    .unwrap();
}

#[test]
fn nodes_on_one_database_share_the_installation_the_license_and_the_count() {
    const TEST: &str = "nodes_on_one_database_share_the_installation_the_license_and_the_count";
    let Some(nodes) = nodes(TEST, 3) else {
        return;
    };
    let (a, b) = (&nodes[0], &nodes[1]);
    let app_key = a.app_key();
    assert_eq!(b.app_key(), app_key, "one installation, one App Key");
    // A node without the sealing key file refuses to start, saying so,
    // and makes no key of its own.
    let keyless = &nodes[2];
    std::fs::remove_file(keyless.data_dir().join("sealing.key")).unwrap();
    let refused = keyless.run(&["license", "show"], "");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("storage.key_file") && stderr.contains("copy the key file"),
        "{stderr}"
    );
    assert!(!keyless.data_dir().join("sealing.key").exists());
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

const SECRET: &str = "multi-node-shared-secret";

/// `serve` on each node: RADIUS on a free port for the client `nas`
/// (127.0.0.1), plus `extra` configuration.
fn serve_all(nodes: Vec<Installation>, extra: &str) -> Vec<Server> {
    nodes
        .into_iter()
        .map(|gh| {
            Server::start(
                gh,
                &format!(
                    "\n[radius]\nlisten = \"127.0.0.1:0\"\n\n[[radius.clients]]\nname = \"nas\"\n\
                     networks = [\"127.0.0.1\"]\nsecret = \"{SECRET}\"\n{extra}"
                ),
            )
        })
        .collect()
}

fn key(gh: &Installation, users: u32) -> String {
    let support_end = Timestamp::now()
        .checked_add(gatehouse_license::jiff::SignedDuration::from_hours(24 * 90))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    issue(
        &dev_key(),
        &gh.app_key(),
        users,
        &support_end,
        &Timestamp::now().to_string(),
    )
}

fn login(radclient: &Path, server: &Server, user: &str) -> RadReply {
    radclient_request(
        radclient,
        server.radius_port,
        &pap(user, &format!("{user}-secret")),
        SECRET,
    )
}

#[test]
fn a_key_installed_on_one_node_lets_a_refused_user_in_on_another_within_five_seconds() {
    const TEST: &str =
        "a_key_installed_on_one_node_lets_a_refused_user_in_on_another_within_five_seconds";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let Some(nodes) = nodes(TEST, 2) else {
        return;
    };
    nodes[0].ok(&["license", "install", &key(&nodes[0], 1)], "");
    for name in ["alice", "bob"] {
        nodes[0].add_user(name);
    }
    let servers = serve_all(nodes, "");
    let (a, b) = (&servers[0], &servers[1]);
    assert_eq!(
        login(&radclient, a, "alice").code.as_deref(),
        Some("Access-Accept")
    );
    let refused = login(&radclient, b, "bob");
    refused.assert_reply("Access-Reject", &LIMIT_TEXT["Reject: ".len()..]);
    // A higher limit, installed through node A.
    a.gh.ok(&["license", "install", &key(&a.gh, 5)], "");
    let installed = Instant::now();
    loop {
        let reply = login(&radclient, b, "bob");
        if reply.code.as_deref() == Some("Access-Accept") {
            break;
        }
        assert!(
            installed.elapsed() < Duration::from_secs(5),
            "bob still refused on node B 5 s after the key went in on A: {}",
            reply.output
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(b.log_count(&["license changed by another process"], 1) >= 1);
}

#[test]
fn an_alarm_crossing_with_three_nodes_sends_one_email() {
    const TEST: &str = "an_alarm_crossing_with_three_nodes_sends_one_email";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let Some(mut smtp) = SmtpServer::new(TEST) else {
        return;
    };
    let Some(nodes) = nodes(TEST, 3) else {
        return;
    };
    smtp.start();
    nodes[0].ok(&["license", "install", &key(&nodes[0], 4)], "");
    for name in ["u1", "u2", "u3"] {
        nodes[0].add_user(name);
    }
    let servers = serve_all(
        nodes,
        &format!(
            "\n[alarms]\ndays_before_end = []\nuser_limit_percent = [50]\n\
             recipients = [\"ops@example.com\"]\n{}",
            smtp.config(None)
        ),
    );
    // One user per node: the second crosses 50% of 4.
    for (server, user) in servers.iter().zip(["u1", "u2", "u3"]) {
        assert_eq!(
            login(&radclient, server, user).code.as_deref(),
            Some("Access-Accept"),
            "{user}"
        );
    }
    let received = smtp.wait_for(1, Duration::from_secs(15));
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].subject, "User limit reached 50.0% (2/4)");
    // Every node's sender has polled the outbox a few times since.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(smtp.received().len(), 1, "sent by one node only");
}

#[test]
fn three_nodes_count_exactly_the_limit_even_when_one_is_killed_mid_run() {
    three_nodes_count_exactly(
        "three_nodes_count_exactly_the_limit_even_when_one_is_killed_mid_run",
        2000,
        1000,
        &[],
        None,
        1000,
    );
}

/// SPEC §16: the same with a 10% overage allowance: exactly limit plus
/// allowance, the seats past the limit marked.
#[test]
fn three_nodes_count_exactly_the_limit_and_its_overage_allowance() {
    three_nodes_count_exactly(
        "three_nodes_count_exactly_the_limit_and_its_overage_allowance",
        1200,
        500,
        &["--overage-percent", "10"],
        None,
        550,
    );
}

/// SPEC §16: a seat budget of 300 for the RADIUS client, within a limit of
/// 1,000: exactly 300, refused with the budget's text past it.
#[test]
fn three_nodes_count_exactly_a_seat_budget() {
    three_nodes_count_exactly(
        "three_nodes_count_exactly_a_seat_budget",
        800,
        1000,
        &[],
        Some(300),
        300,
    );
}

/// `users` users log in over RADIUS (pyrad, 32 at a time, failing over)
/// through three nodes on one database under a key for `limit` users
/// granting `options` (and with a seat budget of `budget` users for the
/// RADIUS client); node 2 is killed a third of the way in. Exactly `cap`
/// are accepted, the rest refused with the limit's (or the budget's) text,
/// and the ledger holds exactly the accepted users (those past the limit
/// marked).
fn three_nodes_count_exactly(
    test: &str,
    users: usize,
    limit: u32,
    options: &[&str],
    budget: Option<u32>,
    cap: u64,
) {
    let Some(python) = python_with("pyrad", test) else {
        return;
    };
    let Some(nodes) = nodes(test, 3) else {
        return;
    };
    let support_end = Timestamp::now()
        .checked_add(gatehouse_license::jiff::SignedDuration::from_hours(24 * 90))
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string();
    let key = issue_granted(
        &nodes[0].app_key(),
        limit,
        &support_end,
        &Timestamp::now().to_string(),
        options,
    );
    nodes[0].ok(&["license", "install", &key], "");
    let user_list: String = (0..users)
        .map(|i| format!("user{i:04}\tuser{i:04}-secret\n"))
        .collect();
    let users_file = nodes[0].data_dir().join("users.tsv");
    std::fs::write(&users_file, &user_list).unwrap();
    nodes[0].ok(
        &[
            "local-user",
            "import",
            users_file.to_str().unwrap(),
            "--no-second-factor",
        ],
        "",
    );
    let refusal = match budget {
        Some(size) => {
            nodes[0].ok(
                &[
                    "seats",
                    "budget",
                    "nas",
                    "--size",
                    &size.to_string(),
                    "--client",
                    "nas",
                ],
                "",
            );
            "User limit exceeded for nas, please contact your system administrator"
        }
        None => &LIMIT_TEXT["Reject: ".len()..],
    };
    let mut servers = serve_all(nodes, "");
    let ports: Vec<String> = servers.iter().map(|s| s.radius_port.to_string()).collect();
    let mut load = std::process::Command::new(python)
        .arg(workspace_root().join("bin/gatehouse/tests/peers/radius_load.py"))
        .args([SECRET, &ports.join(","), users_file.to_str().unwrap(), "32"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(load.stdout.take().unwrap());
    let kill_at = format!("progress {}", users * 3 / 10 / 100 * 100);
    let mut result = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        // Part of the way in, node 2 dies without a word.
        if line == kill_at {
            servers[1].kill();
        }
        if line.starts_with('{') {
            result = Some(serde_json::from_str::<Value>(&line).unwrap());
        }
    }
    let status = load.wait().unwrap();
    let result = result.unwrap_or_else(|| {
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut load.stderr.take().unwrap(), &mut stderr);
        panic!("the load client printed no result ({status}): {stderr}")
    });
    eprintln!(
        "{test}: answers {}, failovers {}",
        result["answers"], result["failovers"]
    );
    assert_eq!(
        result["unanswered"],
        serde_json::json!([]),
        "every login was answered (failover)"
    );
    assert!(
        result["failovers"].as_u64().unwrap() > 0,
        "node 2 was killed mid-run: {result}"
    );
    assert_eq!(result["answers"]["Access-Accept"], cap, "{result}");
    assert_eq!(result["answers"]["Access-Reject"], users as u64 - cap);
    assert_eq!(
        result["reply_messages"],
        serde_json::json!({ refusal: users as u64 - cap })
    );
    // Every accepted user is in the ledger, and the ledger holds no one else.
    let survivor = &servers[0].gh;
    let month = survivor.license_json()["month"]
        .as_str()
        .unwrap()
        .to_string();
    let ledger: Value =
        serde_json::from_str(&survivor.ok(&["users", "--month", &month, "--json"], "")).unwrap();
    let mut counted: Vec<String> = ledger
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    counted.sort();
    let accepted: Vec<String> = result["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(counted, accepted);
    assert_eq!(survivor.license_json()["active_users"], cap);
    let overage = ledger
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["seat"] == "overage")
        .count() as u64;
    assert_eq!(
        overage,
        cap.saturating_sub(u64::from(limit)),
        "seats past the limit are marked"
    );
}

#[test]
fn a_database_outage_refuses_new_users_and_keeps_counted_ones_in() {
    const TEST: &str = "a_database_outage_refuses_new_users_and_keeps_counted_ones_in";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let Some(nodes) = nodes(TEST, 1) else {
        return;
    };
    let database = postgres_database_name(TEST);
    let server = postgres_url(TEST).expect("checked by nodes()");
    for name in ["alice", "bob"] {
        nodes[0].add_user(name);
    }
    let servers = serve_all(nodes, "");
    let node = &servers[0];
    assert_eq!(
        login(&radclient, node, "alice").code.as_deref(),
        Some("Access-Accept")
    );
    // Let the periodic upkeep run (every second) after her login: it must
    // keep the accounts read, not take its first look at the directory's
    // generation for a change and drop them.
    std::thread::sleep(Duration::from_millis(2500));
    // The database goes away: no new connection, existing ones cut.
    psql(
        &server,
        &format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS false"),
    );
    psql(
        &server,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        ),
    );
    let refused = login(&radclient, node, "bob");
    refused.assert_reply(
        "Access-Reject",
        "Authentication service unavailable, please try again later",
    );
    assert!(node.log_count(&["database unavailable", "bob"], 1) >= 1);
    // Alice was counted this month: this node still lets her in.
    assert_eq!(
        login(&radclient, node, "alice").code.as_deref(),
        Some("Access-Accept")
    );
    // Back: bob is counted, nobody was lost.
    psql(
        &server,
        &format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS true"),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while login(&radclient, node, "bob").code.as_deref() != Some("Access-Accept") {
        assert!(
            Instant::now() < deadline,
            "bob still refused after the database came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(node.gh.license_json()["active_users"], 2);
}

#[test]
fn an_embedded_installation_moves_to_postgres_whole() {
    const TEST: &str = "an_embedded_installation_moves_to_postgres_whole";
    let Some(server) = postgres_url(TEST) else {
        return;
    };
    let Some(nodes) = unstarted_nodes(TEST, 1) else {
        return;
    };
    let target = postgres_url_for(&server, &postgres_database_name(TEST));
    // An embedded installation with a license, users, a ledger, a client
    // and alarm history.
    let embedded = Installation::new("UTC");
    let app_key = embedded.app_key();
    embedded.ok(&["license", "install", &key(&embedded, 3)], "");
    for name in ["alice", "bob", "carol", "dave"] {
        embedded.add_user(name);
    }
    for name in ["alice", "bob", "carol"] {
        assert_eq!(embedded.auth(name).0, "Accept");
    }
    assert_eq!(embedded.auth("dave").0, LIMIT_TEXT);
    embedded.add_client("vpn", "10.0.0.0/8", "a-long-shared-secret");
    let month = embedded.license_json()["month"]
        .as_str()
        .unwrap()
        .to_string();
    let database = embedded.data_dir().join("gatehouse.db");
    let from = format!("sqlite://{}", database.display());
    let out = embedded.ok(&["migrate", "--from", &from, "--to", &target], "");
    assert!(out.contains("verified"), "{out}");
    assert!(out.contains("seats                    3 rows"), "{out}");
    // A node on PostgreSQL, with the installation's sealing key, is the
    // same installation.
    let node = &nodes[0];
    share_sealing_key(&embedded, node);
    assert_eq!(node.app_key(), app_key);
    assert_eq!(node.license_json()["user_limit"], 3);
    assert_eq!(node.license_json()["active_users"], 3);
    let mut users = node.users(&month);
    users.sort();
    assert_eq!(users, ["alice", "bob", "carol"]);
    assert_eq!(node.auth("alice").0, "Accept", "passwords came along");
    assert_eq!(node.auth("dave").0, LIMIT_TEXT, "the count came along");
    assert!(node.ok(&["client", "list"], "").contains("vpn"));
    let refused: Value = serde_json::from_str(&node.ok(&["refused", "--json"], "")).unwrap();
    assert_eq!(refused[0]["username"], "dave");
    assert_eq!(refused[0]["attempts"], 2);
    // Migrating into a database that holds an installation changes nothing.
    let again = embedded.run(&["migrate", "--from", &from, "--to", &target], "");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds an installation"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(node.license_json()["active_users"], 3);
}

#[test]
fn a_policy_saved_in_the_panel_decides_the_next_login_on_every_node() {
    const TEST: &str = "a_policy_saved_in_the_panel_decides_the_next_login_on_every_node";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let Some(browser) = Browser::new(TEST, "policy-screenshots") else {
        return;
    };
    let Some(nodes) = nodes(TEST, 2) else {
        return;
    };
    nodes[0].add_admin(BROWSER_ADMIN, BROWSER_ADMIN_PASSWORD);
    nodes[0].ok(&["group", "add", "contractors"], "");
    for name in ["alice", "carol"] {
        nodes[0].add_user(name);
    }
    nodes[0].ok(&["group", "add-member", "contractors", "carol"], "");
    let servers = serve_all(nodes, "");
    let (a, b) = (&servers[0], &servers[1]);
    login(&radclient, b, "carol").assert_code("Access-Accept");

    // Through node A's panel: deny contractors, and a catch-all.
    browser.run(
        a,
        "policies",
        &[
            ("DENY_USER", "carol".into()),
            ("DENY_GROUP", "contractors".into()),
            ("CLIENT", "nas".into()),
        ],
    );
    login(&radclient, a, "carol").assert_reply("Access-Reject", DENIED_TEXT);
    // Node B: from its next tick (every second).
    let saved = Instant::now();
    loop {
        let reply = login(&radclient, b, "carol");
        if reply.code.as_deref() == Some("Access-Reject") {
            reply.assert_reply("Access-Reject", DENIED_TEXT);
            break;
        }
        assert!(
            saved.elapsed() < Duration::from_secs(3),
            "carol still let in on node B 3 s after the policy was saved on A: {}",
            reply.output
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let alice = login(&radclient, b, "alice");
    alice.assert_code("Access-Accept");
    assert!(
        alice
            .attributes
            .iter()
            .any(|(name, value)| name == "Session-Timeout" && value == "3600"),
        "{}",
        alice.output
    );
    b.wait_for_log("policy=\"no contractors\"");
}

#[test]
fn a_token_revoked_on_one_node_is_refused_at_once_on_every_node() {
    const TEST: &str = "a_token_revoked_on_one_node_is_refused_at_once_on_every_node";
    let Some(nodes) = nodes(TEST, 2) else {
        return;
    };
    nodes[0].add_admin("root", "root-admin-password");
    nodes[0].add_admin("ops", "ops-admin-password");
    let root = nodes[0].api_token("root");
    let ops = nodes[1].api_token("ops");
    let servers = serve_all(nodes, "");
    let (a, b) = (&servers[0], &servers[1]);
    let bearer = |token: &str| [("Authorization", format!("Bearer {token}"))];
    let admins = |server: &Server, token: &str| {
        http_json(
            server.http_port,
            "GET",
            "/api/v1/admins",
            &bearer(token),
            None,
        )
        .0
    };
    assert_eq!((admins(a, &ops), admins(b, &ops)), (200, 200));

    // Revoked through node A's API: node B refuses it on the very next
    // call (every node reads tokens from the database on each call).
    let (status, tokens) = http_json(
        a.http_port,
        "GET",
        "/api/v1/admins/ops/tokens",
        &bearer(&root),
        None,
    );
    assert_eq!(status, 200);
    let id = tokens[0]["id"].as_str().unwrap().to_string();
    let (status, _) = http_json(
        a.http_port,
        "DELETE",
        &format!("/api/v1/admins/ops/tokens/{id}"),
        &bearer(&root),
        None,
    );
    assert_eq!(status, 204);
    assert_eq!((admins(b, &ops), admins(a, &ops)), (401, 401));

    // Deleted with the command line on node B: its other token goes too,
    // on node A at once; the last administrator stays.
    let again = b.gh.api_token("ops");
    assert_eq!(admins(a, &again), 200);
    b.gh.ok(&["admin", "delete", "ops"], "");
    assert_eq!(admins(a, &again), 401);
    let last = b.gh.run(&["admin", "delete", "root"], "");
    assert_eq!(last.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&last.stderr).contains("\"root\" is the last administrator"),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    assert_eq!(admins(a, &root), 200);
}
