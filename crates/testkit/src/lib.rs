//! Test helpers shared by Gatehouse's crates (a dev-dependency only).
//!
//! - the development vendor key and [`issue_key`] to sign licenses with it;
//! - paths of the real binaries built by this workspace;
//! - [`peer`]: find an external program a test needs (faketime, radclient,
//!   …), printing a clear `SKIP` line when it is missing — or failing the
//!   test when `GATEHOUSE_REQUIRE_PEERS=1`, as CI sets after installing them.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use gatehouse_license::jiff::Timestamp;
use gatehouse_license::jiff::civil::Date;
use gatehouse_license::key::issue;
use gatehouse_license::key_file::parse_secret;
use gatehouse_license::{AppKey, LicenseOptions, LicensePayload, LicenseType, SigningKey};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The committed development vendor signing key (`keys/dev-vendor.key`).
pub fn dev_vendor_key() -> SigningKey {
    parse_secret(include_str!("../../../keys/dev-vendor.key"))
        .expect("keys/dev-vendor.key is a vendor key")
}

/// Terms of a test license; [`issue_key`] signs it for an App Key.
#[derive(Debug, Clone)]
pub struct TestLicense {
    pub company: String,
    pub dossier: String,
    pub user_limit: u32,
    pub license_type: LicenseType,
    pub support_end: Date,
    pub push_subscription: bool,
    pub issued_at: Timestamp,
    pub license_id: String,
    /// What the vendor grants beyond the limit (none by default).
    pub options: LicenseOptions,
}

impl TestLicense {
    pub fn subscription(user_limit: u32, support_end: Date, issued_at: Timestamp) -> TestLicense {
        TestLicense {
            company: "Example Networks Ltd.".into(),
            dossier: "D-1001".into(),
            user_limit,
            license_type: LicenseType::Subscription,
            support_end,
            push_subscription: true,
            issued_at,
            license_id: format!("L-TEST-{user_limit}-{support_end}"),
            options: LicenseOptions::default(),
        }
    }
}

/// A license key for `app_key`, signed with the development vendor key.
pub fn issue_key(app_key: AppKey, terms: &TestLicense) -> String {
    let payload = LicensePayload {
        license_id: terms.license_id.clone(),
        issued_at: terms.issued_at,
        app_key,
        company: terms.company.clone(),
        dossier: terms.dossier.clone(),
        user_limit: terms.user_limit,
        license_type: terms.license_type,
        support_end: terms.support_end,
        push_subscription: terms.push_subscription,
        options: terms.options,
    };
    issue(&payload, &dev_vendor_key()).expect("test license terms are valid")
}

/// A binary built by this workspace (`target/<profile>/<name>`), found next
/// to the running test executable.
pub fn workspace_binary(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>  ->  target/<profile>/<name>
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests from the workspace root with `cargo test` (it builds every binary), or `cargo build -p {name}` first",
        path.display()
    );
    path
}

/// True when CI demands every peer (`GATEHOUSE_REQUIRE_PEERS=1`).
pub fn peers_required() -> bool {
    std::env::var("GATEHOUSE_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Finds an external program a test depends on. Missing: prints
/// `SKIP <test>: <program> not installed` straight to the terminal (test
/// output capture does not hide it) and returns `None`, or panics when
/// peers are required.
pub fn peer(program: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let line =
            format!("SKIP {test}: {program} is not installed (install it, or run .ci/run)\n");
        if peers_required() {
            panic!("GATEHOUSE_REQUIRE_PEERS=1 but {program} is missing for {test}");
        }
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
    found
}

/// A file a test depends on that an installer puts in place (for example
/// `npm ci` filling `node_modules`): `Some(path)` when it exists, otherwise
/// SKIP (or fail when peers are required), like [`peer`].
pub fn installed(path: &Path, what: &str, test: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    if peers_required() {
        panic!(
            "GATEHOUSE_REQUIRE_PEERS=1 but {what} is missing ({}) for {test}",
            path.display()
        );
    }
    let line = format!(
        "SKIP {test}: {what} is not installed at {} (run .ci/run)\n",
        path.display()
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// The Python of the workspace's peer virtualenv (`.venv-peers`, made by
/// `.ci/run`) when it can import `module`; otherwise SKIP (or fail when
/// peers are required), like [`peer`].
pub fn python_with(module: &str, test: &str) -> Option<PathBuf> {
    let python = workspace_root().join(".venv-peers/bin/python");
    let importable = python.is_file()
        && std::process::Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|output| output.status.success());
    if importable {
        return Some(python);
    }
    if peers_required() {
        panic!("GATEHOUSE_REQUIRE_PEERS=1 but .venv-peers cannot import {module} for {test}");
    }
    let line = format!(
        "SKIP {test}: Python module {module} is not installed in .venv-peers (run .ci/run)\n"
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// libfaketime (Debian's `faketime` package), for running a program with
/// a fake clock through `LD_PRELOAD` (see [`FakeTime`]); SKIP (or fail when
/// peers are required) when it is not installed.
pub fn libfaketime(test: &str) -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib").ok().and_then(|dirs| {
        dirs.filter_map(Result::ok)
            .map(|dir| dir.path().join("faketime/libfaketime.so.1"))
            .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")])
            .find(|path| path.is_file())
    });
    match found {
        Some(path) => Some(path),
        None => installed(
            Path::new("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
            "libfaketime (apt faketime)",
            test,
        ),
    }
}

/// A fake clock for a child process: it starts at `at` (`YYYY-MM-DD
/// hh:mm:ss`, UTC) and runs. Set through the environment, not the
/// `faketime` wrapper, whose named semaphores outlive a killed process and
/// break a later one that gets the same PID.
#[derive(Debug, Clone)]
pub struct FakeTime {
    pub lib: PathBuf,
    pub at: String,
}

impl FakeTime {
    pub fn new(lib: &Path, at: impl Into<String>) -> FakeTime {
        FakeTime {
            lib: lib.to_path_buf(),
            at: at.into(),
        }
    }

    /// Puts `command` on the fake clock.
    pub fn apply(&self, command: &mut std::process::Command) {
        command
            .env("LD_PRELOAD", &self.lib)
            .env("FAKETIME", format!("@{}", self.at))
            .env("TZ", "UTC");
    }
}

/// The PostgreSQL server tests may create databases on
/// (`GATEHOUSE_TEST_POSTGRES_URL`, e.g. `postgres://postgres@127.0.0.1:55432/postgres`;
/// `.ci/run` starts a throwaway cluster and sets it). Unset: SKIP (or fail
/// when peers are required).
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if peers_required() {
                panic!(
                    "GATEHOUSE_REQUIRE_PEERS=1 but GATEHOUSE_TEST_POSTGRES_URL is not set for {test}"
                );
            }
            let line = format!(
                "SKIP {test}: no PostgreSQL (set GATEHOUSE_TEST_POSTGRES_URL, or run .ci/run)\n"
            );
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
            None
        }
    }
}

/// The CA certificate of the test PostgreSQL server's TLS certificate
/// (`GATEHOUSE_TEST_POSTGRES_CA`; `.ci/run` starts its cluster with
/// `ssl = on` and a private CA and sets it). Unset: SKIP (or fail when
/// peers are required).
pub fn postgres_tls_ca(test: &str) -> Option<PathBuf> {
    match std::env::var("GATEHOUSE_TEST_POSTGRES_CA") {
        Ok(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            if peers_required() {
                panic!(
                    "GATEHOUSE_REQUIRE_PEERS=1 but GATEHOUSE_TEST_POSTGRES_CA is not set for {test}"
                );
            }
            let line = format!(
                "SKIP {test}: no PostgreSQL with TLS (set GATEHOUSE_TEST_POSTGRES_CA to its CA certificate, or run .ci/run)\n"
            );
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
            None
        }
    }
}

/// Runs `statement` with `psql` against `server` (a PostgreSQL URL);
/// panics with psql's error if it fails.
pub fn psql(server: &str, statement: &str) {
    let output = std::process::Command::new("psql")
        .args([server, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement])
        .output()
        .expect("psql runs (postgresql-client)");
    assert!(
        output.status.success(),
        "psql {statement}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs the SQL file `file` (a `pg_dump`, say) with `psql` against
/// `database` (a PostgreSQL URL), stopping at the first error; panics with
/// psql's error if it fails.
pub fn psql_file(database: &str, file: &Path) {
    let output = std::process::Command::new("psql")
        .args([database, "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(file)
        .output()
        .expect("psql runs (postgresql-client)");
    assert!(
        output.status.success(),
        "psql -f {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The database a test named `name` uses on a shared server.
pub fn postgres_database_name(name: &str) -> String {
    // PostgreSQL names stop at 63 bytes.
    format!("gh_{}", &name[..name.len().min(55)])
}

/// A new, empty database for the test `name` on `server` (dropped first
/// if an earlier run left it); returns its URL.
pub fn fresh_postgres_database(server: &str, name: &str) -> String {
    let database = postgres_database_name(name);
    psql(
        server,
        &format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
    );
    psql(server, &format!("CREATE DATABASE \"{database}\""));
    postgres_url_for(server, &database)
}

/// `url` with its database replaced by `database`.
pub fn postgres_url_for(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_end = base
        .find("://")
        .map(|scheme| scheme + 3)
        .and_then(|start| base[start..].find('/').map(|slash| start + slash))
        .unwrap_or(base.len());
    format!("{}/{database}{query}", &base[..authority_end])
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gatehouse-test-")
        .tempdir()
        .expect("create a temporary directory")
}
