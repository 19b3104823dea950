//! The SMTP server alarms are sent to (aiosmtpd, `tests/peers/smtp_server.py`)
//! and the messages it received.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use gatehouse_testkit::{temp_dir, workspace_root};

use super::{TestCa, free_port, kill_child, serving, spawn_quiet};

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
