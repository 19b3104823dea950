//! Helpers shared by the end-to-end tests: a data directory, the real
//! `gatehouse` and `gatehouse-vendor` binaries run against it.

#![allow(dead_code)] // Each test file uses a different subset.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_testkit::{temp_dir, workspace_binary, workspace_root};
use serde_json::Value;

/// A data directory and the commands run against it.
pub struct Installation {
    pub dir: tempfile::TempDir,
    /// A program to run `gatehouse` under (faketime), if any.
    pub wrapper: Vec<String>,
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
            wrapper: Vec::new(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let gatehouse = workspace_binary("gatehouse");
        let mut command = match self.wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(&gatehouse);
                command
            }
            None => Command::new(&gatehouse),
        };
        command
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("GATEHOUSE_CONFIG")
            .env("TZ", "UTC");
        command
    }

    /// Starts `gatehouse ARGS` with `stdin` as its standard input.
    pub fn spawn(&self, args: &[&str], stdin: &str, stderr: Stdio) -> Child {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child
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

    pub fn add_user(&self, name: &str) {
        self.ok(
            &["local-user", "add", name, "--password-stdin"],
            &format!("{name}-secret\n"),
        );
    }

    /// `(stdout line, stderr)` of `gatehouse auth`.
    pub fn auth(&self, name: &str) -> (String, String) {
        let password = format!("{}-secret\n", name.to_lowercase());
        let output = self.run(
            &["auth", name, "--password-stdin", "--client", "vpn-gw"],
            &password,
        );
        let stdout = String::from_utf8(output.stdout)
            .unwrap()
            .trim_end()
            .to_string();
        let expected_code = if stdout == "Accept" { 0 } else { 1 };
        assert_eq!(output.status.code(), Some(expected_code), "{stdout}");
        (stdout, String::from_utf8(output.stderr).unwrap())
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
    vendor(&[
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
        &users.to_string(),
        "--type",
        "subscription",
        "--support-end",
        support_end,
        "--push",
        "--issued-at",
        issued_at,
    ])
}

pub fn dev_key() -> PathBuf {
    workspace_root().join("keys/dev-vendor.key")
}

/// A running `gatehouse serve` (RADIUS and the panel on free loopback
/// ports), its log collected line by line.
pub struct Server {
    pub gh: Installation,
    child: Child,
    pub radius_port: u16,
    pub http_port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Appends `config` to the installation's configuration and starts
    /// `serve` (under `gh.wrapper`, e.g. faketime).
    pub fn start(gh: Installation, config: &str) -> Server {
        let path = gh.data_dir().join("gatehouse.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(config);
        std::fs::write(&path, text).unwrap();
        let (child, log) = Server::spawn(&gh);
        let mut server = Server {
            gh,
            child,
            radius_port: 0,
            http_port: 0,
            log,
        };
        server.read_ports();
        server
    }

    fn spawn(gh: &Installation) -> (Child, Arc<Mutex<Vec<String>>>) {
        // Its own process group, so a wrapper (faketime) and the server it
        // starts stop together.
        let mut child = gh
            .command(&["serve"])
            .process_group(0)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        (child, log)
    }

    fn read_ports(&mut self) {
        let port = |line: String| -> u16 {
            let address = line
                .split("address=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap();
            address.rsplit(':').next().unwrap().parse().unwrap()
        };
        self.radius_port = port(self.wait_for_log("RADIUS listening"));
        self.http_port = port(self.wait_for_log("panel and API listening"));
    }

    /// Stops the server and starts it again, under `wrapper` (empty: the
    /// real clock).
    pub fn restart(&mut self, wrapper: Vec<String>) {
        self.stop();
        self.gh.wrapper = wrapper;
        let (child, log) = Server::spawn(&self.gh);
        self.child = child;
        self.log = log;
        self.read_ports();
    }

    fn stop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "serve never logged {needle:?}; log:\n{}",
            self.log.lock().unwrap().join("\n")
        );
    }

    pub fn log_count_now(&self, needles: &[&str]) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .count()
    }

    /// Lines containing every needle, once at least `at_least` are there
    /// (log lines reach stderr in batches) and no more arrive for a moment.
    pub fn log_count(&self, needles: &[&str], at_least: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.log_count_now(needles) < at_least && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(150));
        self.log_count_now(needles)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
