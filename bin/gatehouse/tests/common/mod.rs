//! Helpers shared by the end-to-end tests: a data directory, the real
//! `gatehouse` and `gatehouse-vendor` binaries run against it.

#![allow(dead_code)] // Each test file uses a different subset.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_core::totp::{TotpSecret, code_at, step_of};
use gatehouse_license::jiff::Timestamp;
pub use gatehouse_testkit::FakeTime;
use gatehouse_testkit::{temp_dir, workspace_binary, workspace_root};
use serde_json::Value;

/// A data directory and the commands run against it.
pub struct Installation {
    pub dir: tempfile::TempDir,
    /// A fake clock for every `gatehouse` run (libfaketime), if any.
    pub fake_time: Option<FakeTime>,
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
            .env("TZ", "UTC");
        if let Some(fake_time) = &self.fake_time {
            fake_time.apply(&mut command);
        }
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
    if push {
        args.push("--push");
    }
    vendor(&args)
}

pub fn dev_key() -> PathBuf {
    workspace_root().join("keys/dev-vendor.key")
}

/// One reading of `/metrics`.
pub struct Metrics(String);

impl Metrics {
    /// The value of an unlabelled metric; panics naming it when missing.
    pub fn value(&self, name: &str) -> u64 {
        self.0
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing: {}", self.0))
    }
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
    /// `serve` (on `gh.fake_time`, if set).
    pub fn start(gh: Installation, config: &str) -> Server {
        gh.append_config(config);
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
        // Its own process group, so whatever it starts stops with it.
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

    /// Stops the server and starts it again, on `fake_time` (`None`: the
    /// real clock).
    pub fn restart(&mut self, fake_time: Option<FakeTime>) {
        self.stop();
        self.gh.fake_time = fake_time;
        let (child, log) = Server::spawn(&self.gh);
        self.child = child;
        self.log = log;
        self.read_ports();
    }

    fn stop(&mut self) {
        self.signal("TERM");
    }

    /// Kills the server with SIGKILL: no shutdown work.
    pub fn kill(&mut self) {
        self.signal("KILL");
    }

    fn signal(&mut self, signal: &str) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return; // Already stopped.
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), "--", &group])
            .status();
        let _ = self.child.wait();
    }

    /// A plain `GET path` on the panel's port: the whole answer (status
    /// line, headers, body).
    pub fn http_get(&self, path: &str) -> String {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.http_port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    /// `/metrics` as it is now.
    pub fn metrics(&self) -> Metrics {
        Metrics(self.http_get("/metrics"))
    }

    /// The `serve` process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
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

/// A real SMTP server (aiosmtpd from `.venv-peers`, run by
/// `tests/peers/smtp_server.py`) on a loopback port, storing what it
/// receives in a maildir. Stop and start it to simulate an
/// outage; the port stays the same.
pub struct SmtpServer {
    python: PathBuf,
    pub port: u16,
    dir: tempfile::TempDir,
    /// `(certificate, key)`: require STARTTLS with this certificate.
    tls: Option<(PathBuf, PathBuf)>,
    /// TLS from the first byte instead of STARTTLS.
    implicit_tls: bool,
    /// `(user, password)`: require AUTH.
    auth: Option<(String, String)>,
    child: Option<Child>,
}

/// One message the SMTP server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub subject: String,
    /// The envelope recipients (aiosmtpd's `X-RcptTo`).
    pub recipients: Vec<String>,
    pub message_id: String,
    pub text: String,
}

impl SmtpServer {
    /// A server on a free port, not started yet (`None`: aiosmtpd is not
    /// installed; SKIP printed, or a failure when peers are required).
    pub fn new(test: &str) -> Option<SmtpServer> {
        let python = gatehouse_testkit::python_with("aiosmtpd", test)?;
        Some(SmtpServer {
            python,
            port: free_port(),
            dir: temp_dir(),
            tls: None,
            implicit_tls: false,
            auth: None,
            child: None,
        })
    }

    /// Requires STARTTLS (`implicit`: TLS from the first byte) with a
    /// certificate for `localhost` and 127.0.0.1 issued by a fresh private
    /// CA; returns the CA's PEM file (`None`: openssl missing, SKIP
    /// printed).
    pub fn with_tls(&mut self, test: &str, implicit: bool) -> Option<PathBuf> {
        self.implicit_tls = implicit;
        let ca = TestCa::new(self.dir.path(), test)?;
        self.tls = Some((ca.cert, ca.key));
        Some(ca.ca)
    }

    /// Requires AUTH (PLAIN or LOGIN) as `user` with `password` (after
    /// STARTTLS, when that is required too).
    pub fn with_auth(&mut self, user: &str, password: &str) {
        self.auth = Some((user.to_string(), password.to_string()));
    }

    fn maildir(&self) -> PathBuf {
        // aiosmtpd creates the maildir itself (and fails on an empty one).
        self.dir.path().join("mail")
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut command = Command::new(&self.python);
        command
            .arg(workspace_root().join("bin/gatehouse/tests/peers/smtp_server.py"))
            .arg("127.0.0.1")
            .arg(self.port.to_string())
            .arg(self.maildir());
        if let Some((cert, key)) = &self.tls {
            command.arg("--tls").arg(cert).arg(key);
            if self.implicit_tls {
                command.arg("--implicit-tls");
            }
        }
        if let Some((user, password)) = &self.auth {
            command.arg("--auth").arg(user).arg(password);
        }
        let mut child = spawn_quiet(&mut command);
        assert!(
            serving(&mut child, &[self.port], "aiosmtpd"),
            "aiosmtpd exited at start (port {} taken?)",
            self.port
        );
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        kill_child(&mut self.child);
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(self.maildir().join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .map(|entry| {
                let entry = entry.unwrap();
                (entry.metadata().unwrap().modified().unwrap(), entry.path())
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|(_, path)| parse_message(&std::fs::read_to_string(path).unwrap()))
            .collect()
    }

    /// Waits until at least `count` messages arrived (at most `timeout`),
    /// then returns all of them.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count || Instant::now() >= deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `[smtp]` section for this server: TLS (STARTTLS or implicit, as
    /// the server requires) to `localhost` trusting `ca_file`, or plain to
    /// 127.0.0.1; with the AUTH user and a
    /// `password_file` when the server requires AUTH.
    pub fn config(&self, ca_file: Option<&Path>) -> String {
        let mut text = match ca_file {
            Some(ca) => format!(
                "\n[smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"{}\"\nca_file = \"{}\"\n",
                self.port,
                if self.implicit_tls { "tls" } else { "starttls" },
                ca.display()
            ),
            None => format!(
                "\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n",
                self.port
            ),
        };
        text.push_str("from = \"Gatehouse <gatehouse@example.com>\"\ntimeout_seconds = 5\n");
        if let Some((user, password)) = &self.auth {
            let file = self.password_file();
            std::fs::write(&file, format!("{password}\n")).unwrap();
            text.push_str(&format!(
                "username = \"{user}\"\npassword_file = \"{}\"\n",
                file.display()
            ));
        }
        text
    }

    /// The file `config` names as `smtp.password_file`.
    pub fn password_file(&self) -> PathBuf {
        self.dir.path().join("smtp-password")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The headers the tests look at (folded lines unfolded) and the body.
fn parse_message(message: &str) -> Received {
    let message = message.replace("\r\n", "\n");
    let (head, body) = message.split_once("\n\n").unwrap_or((&message, ""));
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    let header = |name: &str| -> String {
        unfolded
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default()
    };
    Received {
        subject: header("Subject"),
        recipients: header("X-RcptTo")
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect(),
        message_id: header("Message-ID"),
        text: body.to_string(),
    }
}

/// A private CA and a server certificate it issued for `localhost` and
/// 127.0.0.1 (openssl), in `dir`.
pub struct TestCa {
    /// The CA certificate (PEM): what clients must trust.
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// `None`: openssl is missing (SKIP printed, or a failure when peers
    /// are required).
    pub fn new(dir: &Path, test: &str) -> Option<TestCa> {
        let openssl = gatehouse_testkit::peer("openssl", test)?;
        let run = |args: &[&str]| {
            let output = Command::new(&openssl)
                .current_dir(dir)
                .args(args)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        let split = |text: &'static str| text.split(' ').collect::<Vec<_>>();
        run(&[
            split("req -x509"),
            split(ec),
            split("-keyout ca.key -out ca.pem -days 30"),
            vec![
                "-subj",
                "/CN=Gatehouse Test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat());
        run(&[
            split("req"),
            split(ec),
            split("-keyout server.key -out server.csr -subj /CN=localhost"),
        ]
        .concat());
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        run(&split(
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 30 -extfile server.ext",
        ));
        Some(TestCa {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        })
    }
}

/// Starts a peer server with no terminal input or output.
fn spawn_quiet(command: &mut Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills a peer server started by [`spawn_quiet`], if it runs.
fn kill_child(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the peer server `child` accepts connections on every one
/// of `ports`. `false`: it exited first, most often because a port that
/// [`free_port`] found free was taken by another process (a connection's
/// local port, say) before the server could bind it.
fn serving(child: &mut Child, ports: &[u16], what: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    for &port in ports {
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Something answered on each port: make sure it was this server.
    child.try_wait().unwrap().is_none()
}

/// A real OpenLDAP server (slapd) with the test directory
/// (`tests/peers/ldap`: AD-style users through a small schema, a plain
/// OpenLDAP user, groups with memberOf), listening on plain LDAP (StartTLS
/// offered) and LDAPS with a certificate from a private CA.
pub struct Slapd {
    dir: tempfile::TempDir,
    slapd: PathBuf,
    pub ldap_port: u16,
    pub ldaps_port: u16,
    /// The CA that issued the server's certificate.
    pub ca: PathBuf,
    child: Option<Child>,
}

/// The service account and where users live, as the test directory has
/// them.
pub const LDAP_BIND_DN: &str = "cn=gatehouse,ou=services,dc=example,dc=test";
pub const LDAP_BIND_PASSWORD: &str = "service-secret";
pub const LDAP_BASE_DN: &str = "dc=example,dc=test";
pub const LDAP_VPN_GROUP: &str = "cn=vpn-users,ou=groups,dc=example,dc=test";

/// An Active Directory-style `[[directory]]` named `corp` for the test
/// directory (sAMAccountName, userPrincipalName, objectGUID,
/// userAccountControl) on `urls`, limited to the vpn-users group, with the
/// NetBIOS domain `EXAMPLE` and the UPN suffix `example.com`. `extra`: more
/// keys.
pub fn ad_directory(urls: &[String], extra: &str) -> String {
    format!(
        "\n[[directory]]\nname = \"corp\"\nkind = \"active_directory\"\nurls = {urls:?}\n\
         bind_dn = \"{LDAP_BIND_DN}\"\nbind_password = \"{LDAP_BIND_PASSWORD}\"\n\
         base_dn = \"{LDAP_BASE_DN}\"\nuser_filter = \"(objectClass=inetOrgPerson)\"\n\
         allowed_groups = [\"{LDAP_VPN_GROUP}\"]\nnested_groups = false\n\
         netbios_domains = [\"EXAMPLE\"]\nupn_suffixes = [\"example.com\"]\ntimeout_ms = 2000\n{extra}"
    )
}

impl Slapd {
    /// Starts slapd and loads the test entries (`None`: slapd, ldapadd or
    /// openssl missing; SKIP printed, or a failure when peers are
    /// required).
    pub fn start(test: &str) -> Option<Slapd> {
        let slapd = gatehouse_testkit::peer("slapd", test)?;
        let ldapadd = gatehouse_testkit::peer("ldapadd", test)?;
        let dir = temp_dir();
        let ca = TestCa::new(dir.path(), test)?;
        let peers = workspace_root().join("bin/gatehouse/tests/peers/ldap");
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let config = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             include {schema}\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             moduleload memberof\n\
             pidfile {dir}/slapd.pid\n\
             TLSCACertificateFile {ca}\n\
             TLSCertificateFile {cert}\n\
             TLSCertificateKeyFile {key}\n\
             database mdb\n\
             suffix \"{LDAP_BASE_DN}\"\n\
             rootdn \"cn=admin,{LDAP_BASE_DN}\"\n\
             rootpw admin-secret\n\
             directory {dir}/db\n\
             overlay memberof\n",
            schema = peers.join("gatehouse-test.schema").display(),
            dir = dir.path().display(),
            ca = ca.ca.display(),
            cert = ca.cert.display(),
            key = ca.key.display(),
        );
        std::fs::write(dir.path().join("slapd.conf"), config).unwrap();
        let mut server = Slapd {
            slapd,
            ldap_port: 0,
            ldaps_port: 0,
            ca: ca.ca,
            dir,
            child: None,
        };
        // The ports are the server's own once it serves on them; until
        // then another process may take one (see `serving`), and slapd
        // then starts again on others.
        let mut attempts = 0;
        loop {
            (server.ldap_port, server.ldaps_port) = (free_port(), free_port());
            if server.run() {
                break;
            }
            attempts += 1;
            assert!(attempts < 5, "slapd exited at start {attempts} times");
        }
        let output = Command::new(ldapadd)
            .args(["-x", "-H", &server.url(), "-D"])
            .arg(format!("cn=admin,{LDAP_BASE_DN}"))
            .args(["-w", "admin-secret", "-f"])
            .arg(peers.join("base.ldif"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "ldapadd: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(server)
    }

    /// Starts slapd on its ports; `false`: it exited instead.
    fn run(&mut self) -> bool {
        let mut command = Command::new(&self.slapd);
        command
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                self.ldap_port, self.ldaps_port
            ))
            // Debug level 0: stay in the foreground, log nothing.
            .args(["-d", "0"]);
        let mut child = spawn_quiet(&mut command);
        let started = serving(&mut child, &[self.ldap_port, self.ldaps_port], "slapd");
        self.child = Some(child);
        started
    }

    /// Stops the server (an outage); [`Slapd::resume`] starts it again.
    pub fn stop(&mut self) {
        kill_child(&mut self.child);
    }

    /// Starts the server again on the same ports.
    pub fn resume(&mut self) {
        assert!(
            self.run(),
            "slapd exited at restart (ports {} and {} taken?)",
            self.ldap_port,
            self.ldaps_port
        );
    }

    /// Plain LDAP on 127.0.0.1 (no TLS: loopback only).
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    /// StartTLS needs the certificate's name.
    pub fn starttls_url(&self) -> String {
        format!("ldap://localhost:{}", self.ldap_port)
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://localhost:{}", self.ldaps_port)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What radclient printed about the reply.
#[derive(Debug, Default)]
pub struct RadReply {
    pub code: Option<String>,
    pub reply_message: Option<String>,
    pub state: Option<String>,
    pub output: String,
}

impl RadReply {
    /// Asserts the reply's code (radclient's output shown if it differs).
    #[track_caller]
    pub fn assert_code(&self, code: &str) {
        assert_eq!(self.code.as_deref(), Some(code), "{}", self.output);
    }

    /// Asserts the reply's code and its Reply-Message.
    #[track_caller]
    pub fn assert_reply(&self, code: &str, message: &str) {
        assert_eq!(
            (self.code.as_deref(), self.reply_message.as_deref()),
            (Some(code), Some(message)),
            "{}",
            self.output
        );
    }
}

/// One request with `radclient -x` (one try, 1 s timeout) to
/// 127.0.0.1:`port`; `attributes` in radclient's syntax.
pub fn radclient(program: &Path, port: u16, attributes: &str, secret: &str) -> RadReply {
    radclient_with(program, port, attributes, secret, 1, 1)
}

/// [`radclient`] waiting `timeout` seconds per try, `tries` tries (the
/// same request retransmitted).
pub fn radclient_with(
    program: &Path,
    port: u16,
    attributes: &str,
    secret: &str,
    timeout: u32,
    tries: u32,
) -> RadReply {
    let mut child = Command::new(program)
        .args([
            "-x",
            "-t",
            &timeout.to_string(),
            "-r",
            &tries.to_string(),
            &format!("127.0.0.1:{port}"),
            "auth",
            secret,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{attributes}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    parse_radclient(&text)
}

fn parse_radclient(text: &str) -> RadReply {
    let mut reply = RadReply {
        output: text.to_string(),
        ..RadReply::default()
    };
    let mut in_reply = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Received ") {
            reply.code = rest.split_whitespace().next().map(str::to_string);
            in_reply = true;
        } else if line.starts_with("Sent ") {
            in_reply = false;
        } else if in_reply {
            let line = line.trim();
            if let Some(value) = line.strip_prefix("Reply-Message = ") {
                reply.reply_message = Some(value.trim_matches('"').to_string());
            } else if let Some(value) = line.strip_prefix("State = 0x") {
                reply.state = Some(value.to_string());
            }
        }
    }
    reply
}

/// PAP attributes for radclient, with a Message-Authenticator.
pub fn pap(user: &str, password: &str) -> String {
    format!("User-Name = \"{user}\", User-Password = \"{password}\", Message-Authenticator = 0x00")
}

/// A plain HTTP/1.1 request to the local server (loopback: the device
/// protocol answers without TLS); returns the status and the JSON body.
pub fn http_json(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<Value>,
) -> (u16, Value) {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let json = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| serde_json::from_str(body).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    (status, json)
}

/// Runs `statements` on the SQLite database at `path` (plain SQL, as
/// someone who can write to the file would).
pub fn sqlite_sql(path: &Path, statements: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_string()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        });
}
