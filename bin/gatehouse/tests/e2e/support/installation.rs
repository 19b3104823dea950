//! A data directory and the real `gatehouse` and `gatehouse-vendor`
//! binaries run against it: users, clients, license keys, TOTP codes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use gatehouse_core::totp::{TotpSecret, code_at, step_of};
use gatehouse_license::jiff::Timestamp;
use gatehouse_testkit::FakeTime;
use gatehouse_testkit::{temp_dir, workspace_binary, workspace_root};
use serde_json::Value;

use super::spawn_with_input;

/// A data directory and the commands run against it.
pub struct Installation {
    pub dir: tempfile::TempDir,
    /// A fake clock for every `gatehouse` run (libfaketime), if any.
    pub fake_time: Option<FakeTime>,
    /// Environment variables for every `gatehouse` run.
    pub env: Vec<(String, String)>,
}

impl Installation {
    /// A data directory whose config fixes the license zone, uses cheap
    /// password hashing (tests create many users) and puts the panel on a
    /// free port.
    pub fn new(zone: &str) -> Installation {
        let dir = temp_dir();
        std::fs::write(
            dir.path().join("gatehouse.toml"),
            format!(
                "[license]\ntimezone = \"{zone}\"\n\n[passwords]\nmemory_kib = 64\niterations = 1\n\n[http]\nlisten = \"127.0.0.1:0\"\n"
            ),
        )
        .unwrap();
        Installation {
            dir,
            fake_time: None,
            env: Vec::new(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Adds `text` to the end of the configuration file.
    pub fn append_config(&self, text: &str) {
        let path = self.data_dir().join("gatehouse.toml");
        let mut config = std::fs::read_to_string(&path).unwrap();
        config.push_str(text);
        std::fs::write(&path, config).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(workspace_binary("gatehouse"));
        command
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("GATEHOUSE_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env("TZ", "UTC")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(fake_time) = &self.fake_time {
            fake_time.apply(&mut command);
        }
        command
    }

    /// Starts `gatehouse ARGS` with `stdin` as its standard input.
    pub fn spawn(&self, args: &[&str], stdin: &str, stderr: Stdio) -> Child {
        spawn_with_input(&mut self.command(args), stdin.as_bytes(), stderr)
    }

    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.spawn(args, stdin, Stdio::piped())
            .wait_with_output()
            .unwrap()
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "gatehouse {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn license_json(&self) -> Value {
        serde_json::from_str(&self.ok(&["license", "show", "--json"], "")).unwrap()
    }

    pub fn app_key(&self) -> String {
        self.license_json()["app_key"].as_str().unwrap().to_string()
    }

    /// A local user `name` (password `<name>-secret`) exempt from the
    /// second factor, so the license rules under test see a login with
    /// the password alone; one enrolled later is still asked for it.
    pub fn add_user(&self, name: &str) {
        self.ok(
            &[
                "local-user",
                "add",
                name,
                "--password-stdin",
                "--no-second-factor",
            ],
            &format!("{name}-secret\n"),
        );
    }

    /// An administrator `name` with `password`.
    /// A RADIUS client `name` for `network` with `secret`, added at run
    /// time (`client add`).
    pub fn add_client(&self, name: &str, network: &str, secret: &str) {
        self.ok(
            &[
                "client",
                "add",
                name,
                "--network",
                network,
                "--secret-stdin",
            ],
            &format!("{secret}\n"),
        );
    }

    pub fn add_admin(&self, name: &str, password: &str) {
        self.ok(
            &["admin", "add", name, "--password-stdin"],
            &format!("{password}\n"),
        );
    }

    /// A new API token for administrator `name` (`gatehouse admin token`).
    pub fn api_token(&self, name: &str) -> String {
        let printed = self.ok(&["admin", "token", name], "");
        printed.lines().last().unwrap().trim().to_string()
    }

    /// `(stdout line, stderr)` of `gatehouse auth` with the password
    /// `<name>-secret`.
    pub fn auth(&self, name: &str) -> (String, String) {
        self.auth_with(name, &format!("{}-secret", name.to_lowercase()))
    }

    /// `(stdout line, stderr)` of `gatehouse auth` with `password`.
    pub fn auth_with(&self, name: &str, password: &str) -> (String, String) {
        let output = self.run(
            &["auth", name, "--password-stdin", "--client", "vpn-gw"],
            &format!("{password}\n"),
        );
        let stdout = String::from_utf8(output.stdout)
            .unwrap()
            .trim_end()
            .to_string();
        let expected_code = if stdout == "Accept" { 0 } else { 1 };
        assert_eq!(output.status.code(), Some(expected_code), "{stdout}");
        (stdout, String::from_utf8(output.stderr).unwrap())
    }

    /// The users counted in the license's current month.
    pub fn users_this_month(&self) -> Vec<String> {
        let month = self.license_json()["month"].as_str().unwrap().to_string();
        self.users(&month)
    }

    pub fn users(&self, month: &str) -> Vec<String> {
        let json: Value =
            serde_json::from_str(&self.ok(&["users", "--month", month, "--json"], "")).unwrap();
        json.as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    }
}

/// A user with a password, enrolled for TOTP in `mode`; returns the secret.
pub fn totp_user(gh: &Installation, name: &str, mode: &str) -> TotpSecret {
    gh.add_user(name);
    enrolled_secret(&gh.ok(&["local-user", "totp", name, "--mode", mode], ""))
}

/// The secret an enrollment printed (with its otpauth URI).
pub fn enrolled_secret(output: &str) -> TotpSecret {
    let secret = output
        .lines()
        .find_map(|l| l.strip_prefix("Secret: "))
        .expect("the secret is printed");
    assert!(output.contains("otpauth://totp/Gatehouse:"), "{output}");
    TotpSecret::from_base32(secret).unwrap()
}

pub fn current_code(secret: &TotpSecret) -> String {
    code_at(secret, step_of(Timestamp::now()))
}

/// Runs the vendor tool.
pub fn vendor(args: &[&str]) -> String {
    let output = Command::new(workspace_binary("gatehouse-vendor"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "gatehouse-vendor {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

pub fn issue(
    signing_key: &Path,
    app_key: &str,
    users: u32,
    support_end: &str,
    issued_at: &str,
) -> String {
    issue_with_push(signing_key, app_key, users, support_end, issued_at, true)
}

/// [`issue`], with the Push Subscription `Active` or `Inactive`.
pub fn issue_with_push(
    signing_key: &Path,
    app_key: &str,
    users: u32,
    support_end: &str,
    issued_at: &str,
    push: bool,
) -> String {
    let push: &[&str] = if push { &["--push"] } else { &[] };
    issue_signed(signing_key, app_key, users, support_end, issued_at, push)
}

/// [`issue`] without push, granting options: `options` are
/// `gatehouse-vendor issue` arguments (`--overage-percent`, `--grace-days`,
/// …).
pub fn issue_granted(
    app_key: &str,
    users: u32,
    support_end: &str,
    issued_at: &str,
    options: &[&str],
) -> String {
    issue_signed(&dev_key(), app_key, users, support_end, issued_at, options)
}

/// A key from `gatehouse-vendor issue`, signed with `signing_key`, with
/// `extra` arguments.
fn issue_signed(
    signing_key: &Path,
    app_key: &str,
    users: u32,
    support_end: &str,
    issued_at: &str,
    extra: &[&str],
) -> String {
    let users = users.to_string();
    let mut args = vec![
        "issue",
        "--signing-key",
        signing_key.to_str().unwrap(),
        "--app-key",
        app_key,
        "--company",
        "Example Networks Ltd.",
        "--dossier",
        "D-4242",
        "--users",
        &users,
        "--type",
        "subscription",
        "--support-end",
        support_end,
        "--issued-at",
        issued_at,
    ];
    args.extend_from_slice(extra);
    vendor(&args)
}

pub fn dev_key() -> PathBuf {
    workspace_root().join("keys/dev-vendor.key")
}
