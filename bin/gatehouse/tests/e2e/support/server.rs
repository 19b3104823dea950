//! A running `gatehouse serve` on free loopback ports, its log collected
//! line by line, and what `/metrics` says.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_testkit::FakeTime;

use super::Installation;

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
    /// RADIUS listens on a free loopback port unless `config` (or the
    /// installation's file) names a `[radius]` section: never on the
    /// default `0.0.0.0:1812`, which another RADIUS server on the machine
    /// may hold.
    pub fn start(gh: Installation, config: &str) -> Server {
        gh.append_config(config);
        let file = std::fs::read_to_string(gh.data_dir().join("gatehouse.toml")).unwrap();
        if !file.contains("[radius]") {
            gh.append_config("\n[radius]\nlisten = \"127.0.0.1:0\"\n");
        }
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
            // A text line (`address=…`) or, with `log.format = "json"`, an
            // object.
            let json: Option<serde_json::Value> = serde_json::from_str(&line).ok();
            let address = match &json {
                Some(object) => object["address"].as_str().unwrap(),
                None => line
                    .split("address=")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .unwrap(),
            };
            let address: std::net::SocketAddr = address.parse().unwrap();
            // Tests never take a port another program may need.
            assert!(
                address.ip().is_loopback(),
                "a test server listens on {address}, not on loopback"
            );
            address.port()
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

    /// Stops the server with SIGTERM, as a service manager would, and
    /// returns how it exited.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }

    /// Sends SIGHUP, as `systemctl kill -s HUP` would; does not wait.
    pub fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Whether the server process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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
