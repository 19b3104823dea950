//! Logs for SIEMs: `log.format = "json"` and `[log.syslog]`, received by a
//! real rsyslog over UDP, TCP and TLS.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_testkit::peer;
use serde_json::Value;

use crate::support::*;

const SECRET: &str = "syslog-test-secret";

/// An rsyslogd of the test's own: RFC 5424 over UDP and TCP on loopback,
/// and TLS (GnuTLS) when a CA is given; every message is written to a file
/// as `facility|severity|host|app|procid|msgid|msg`.
struct Rsyslog {
    child: Child,
    _dir: tempfile::TempDir,
    out: PathBuf,
    udp: u16,
    tcp: u16,
    tls: u16,
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Rsyslog {
    fn start(test: &str, ports: Option<(u16, u16, u16)>, ca: &TestCa) -> Option<Rsyslog> {
        let rsyslogd = peer("rsyslogd", test)?;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("received.log");
        let (udp, tcp, tls) = ports.unwrap_or_else(|| (free_udp_port(), free_port(), free_port()));
        let config = format!(
            r#"global(workDirectory="{work}" maxMessageSize="16k"
       defaultNetstreamDriverCAFile="{ca}" defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
module(load="imtcp" maxSessions="10")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
input(type="imtcp" address="127.0.0.1" port="{tls}" streamDriver.name="gtls"
      streamDriver.mode="1" streamDriver.authMode="anon")
template(name="fields" type="string"
         string="%syslogfacility-text%|%syslogseverity-text%|%hostname%|%app-name%|%procid%|%msgid%|%msg%\n")
*.* action(type="omfile" file="{out}" template="fields")
"#,
            work = dir.path().display(),
            ca = ca.ca.display(),
            cert = ca.cert.display(),
            key = ca.key.display(),
            out = out.display(),
        );
        let conf = dir.path().join("rsyslog.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(rsyslogd)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut rsyslog = Rsyslog {
            child,
            _dir: dir,
            out,
            udp,
            tcp,
            tls,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", tcp)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", tls)).is_err()
        {
            assert!(
                rsyslog.child.try_wait().unwrap().is_none(),
                "rsyslogd stopped at start (a port taken, or the configuration refused)"
            );
            assert!(Instant::now() < deadline, "rsyslogd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(rsyslog)
    }

    /// Messages received so far, split into their fields.
    fn received(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|line| line.splitn(7, '|').map(str::to_string).collect())
            .collect()
    }

    /// Waits for the RADIUS decision about `user` from process `pid`.
    fn decision(&self, user: &str, pid: u32) -> (Vec<String>, Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for fields in self.received() {
                if fields.len() == 7 && fields[4] == pid.to_string() && fields[5] == "radius" {
                    let json: Value = serde_json::from_str(fields[6].trim())
                        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", fields[6]));
                    if json["user"] == user {
                        return (fields, json);
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no decision about {user} received: {:?}",
                self.received()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn login(program: &std::path::Path, server: &Server, user: &str, password: &str) {
    radclient(program, server.radius_port, &pap(user, password), SECRET);
}

#[test]
fn rsyslog_receives_json_radius_decisions_over_udp_tcp_and_tls() {
    const TEST: &str = "rsyslog_receives_json_radius_decisions_over_udp_tcp_and_tls";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let certificates = tempfile::tempdir().unwrap();
    let Some(ca) = TestCa::new(certificates.path(), TEST) else {
        return;
    };
    let Some(rsyslog) = Rsyslog::start(TEST, None, &ca) else {
        return;
    };
    let gh = Installation::new("UTC");
    gh.add_user("alice");
    gh.add_user("bob");
    gh.add_client("nas", "127.0.0.1", SECRET);
    let mut server = Server::start(
        gh,
        &format!(
            "\n[log]\nformat = \"json\"\n\n[log.syslog]\ntarget = \"udp://127.0.0.1:{}\"\nfacility = \"local3\"\n",
            rsyslog.udp
        ),
    );
    // The panel's stderr is JSON too, one object per line.
    let started = server.wait_for_log("Gatehouse is running");
    let started: Value = serde_json::from_str(&started).unwrap();
    assert_eq!(started["level"], "info");

    login(&radclient, &server, "alice", "alice-secret");
    login(&radclient, &server, "bob", "wrong-password");
    let (fields, alice) = rsyslog.decision("alice", server.pid());
    assert_eq!(fields[0], "local3");
    assert_eq!(fields[1], "info");
    assert!(!fields[2].is_empty() && fields[2] != "-", "{fields:?}");
    assert_eq!(fields[3], "gatehouse");
    assert_eq!(alice["message"], "RADIUS decision");
    assert_eq!(alice["target"], "gatehouse::radius");
    assert_eq!(alice["client"], "nas");
    assert_eq!(alice["result"], "accept");
    assert_eq!(alice["reason"], "all factors passed");
    assert!(alice["from"].as_str().unwrap().starts_with("127.0.0.1:"));
    let (_, bob) = rsyslog.decision("bob", server.pid());
    assert_eq!(bob["result"], "reject");
    assert_eq!(bob["reason"], "Invalid username or password");

    // TCP and TLS: the same decision, framed by octet counting.
    for (scheme, port) in [("tcp", rsyslog.tcp), ("tls", rsyslog.tls)] {
        let target = format!("{scheme}://localhost:{port}");
        server.gh.env = vec![("GATEHOUSE_LOG__SYSLOG__TARGET".into(), target)];
        if scheme == "tls" {
            let ca_file = ca.ca.display().to_string();
            (server.gh.env).push(("GATEHOUSE_LOG__SYSLOG__CA_FILE".into(), ca_file));
        }
        server.restart(None);
        let user = format!("{scheme}-user");
        server.gh.add_user(&user);
        login(&radclient, &server, &user, &format!("{user}-secret"));
        let (fields, decision) = rsyslog.decision(&user, server.pid());
        assert_eq!(
            (fields[0].as_str(), decision["result"].as_str()),
            ("local3", Some("accept"))
        );
    }
}

#[test]
fn lines_wait_for_a_syslog_receiver_that_is_not_there_yet() {
    const TEST: &str = "lines_wait_for_a_syslog_receiver_that_is_not_there_yet";
    let Some(radclient) = peer("radclient", TEST) else {
        return;
    };
    let certificates = tempfile::tempdir().unwrap();
    let Some(ca) = TestCa::new(certificates.path(), TEST) else {
        return;
    };
    let ports = (free_udp_port(), free_port(), free_port());
    let gh = Installation::new("UTC");
    gh.add_user("carol");
    gh.add_client("nas", "127.0.0.1", SECRET);
    let server = Server::start(
        gh,
        &format!(
            "\n[log]\nformat = \"json\"\n\n[log.syslog]\ntarget = \"tcp://127.0.0.1:{}\"\n",
            ports.1
        ),
    );
    // Nobody listens: the login is not held up, and the line waits.
    let before = Instant::now();
    login(&radclient, &server, "carol", "carol-secret");
    assert!(before.elapsed() < Duration::from_secs(2));
    server.wait_for_log("syslog: cannot reach 127.0.0.1");
    let Some(rsyslog) = Rsyslog::start(TEST, Some(ports), &ca) else {
        return;
    };
    let (_, carol) = rsyslog.decision("carol", server.pid());
    assert_eq!(carol["result"], "accept");
}
