//! `serve` as a systemd service runs it (`Type=notify`, a watchdog,
//! signals), and who may run commands against a data directory.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::support::*;

/// The next notification systemd would receive, within `within`.
fn next_notification(socket: &UnixDatagram, within: Duration) -> Option<String> {
    socket.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0u8; 4096];
    let len = socket.recv(&mut buffer).ok()?;
    Some(String::from_utf8_lossy(&buffer[..len]).into_owned())
}

#[test]
fn serve_tells_systemd_when_it_is_ready_pings_the_watchdog_and_says_when_it_stops() {
    let mut gh = Installation::new("UTC");
    let socket_path = gh.data_dir().join("notify.sock");
    let notifications = UnixDatagram::bind(&socket_path).unwrap();
    gh.env = vec![
        ("NOTIFY_SOCKET".into(), socket_path.display().to_string()),
        // Pings every 250 ms.
        ("WATCHDOG_USEC".into(), "500000".into()),
    ];
    let radius_port = free_port();
    let mut server = Server::start(
        gh,
        &format!("\n[radius]\nlisten = \"127.0.0.1:{radius_port}\"\n"),
    );

    let ready = next_notification(&notifications, Duration::from_secs(15))
        .expect("serve said nothing to systemd");
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(
        ready.contains("STATUS=Serving: Demo License (valid), 0 of "),
        "{ready:?}"
    );
    // Ready means bound: the RADIUS port is taken.
    let taken = std::net::UdpSocket::bind(("127.0.0.1", radius_port));
    assert!(
        taken.is_err(),
        "READY=1 came before the RADIUS socket was bound"
    );

    let started = Instant::now();
    for _ in 0..3 {
        let ping =
            next_notification(&notifications, Duration::from_secs(5)).expect("no watchdog ping");
        assert_eq!(ping, "WATCHDOG=1\n");
    }
    // Three pings at 250 ms: about 750 ms, never a burst.
    assert!(started.elapsed() >= Duration::from_millis(400));

    // SIGHUP does not stop the service (its default action would).
    server.hang_up();
    server.wait_for_log("SIGHUP: the configuration file is read at start only");
    assert!(server.running(), "SIGHUP stopped the service");
    let ping = next_notification(&notifications, Duration::from_secs(5))
        .expect("no watchdog ping after SIGHUP");
    assert_eq!(ping, "WATCHDOG=1\n");

    let status = server.terminate();
    assert!(status.success(), "serve exited with {status}");
    let mut said = Vec::new();
    while let Some(notification) = next_notification(&notifications, Duration::from_millis(200)) {
        said.push(notification);
    }
    let stopping = said.iter().position(|n| n.starts_with("STOPPING=1\n"));
    assert!(stopping.is_some(), "no STOPPING=1 at SIGTERM: {said:?}");
    // No ping once the stop has been announced.
    assert!(
        !said[stopping.unwrap()..]
            .iter()
            .any(|n| n == "WATCHDOG=1\n"),
        "{said:?}"
    );
}

#[test]
fn a_watchdog_meant_for_another_process_is_not_pinged() {
    let mut gh = Installation::new("UTC");
    let socket_path = gh.data_dir().join("notify.sock");
    let notifications = UnixDatagram::bind(&socket_path).unwrap();
    gh.env = vec![
        ("NOTIFY_SOCKET".into(), socket_path.display().to_string()),
        ("WATCHDOG_USEC".into(), "200000".into()),
        // A watchdog for another process (systemd sets WATCHDOG_PID to the
        // main process; a child must not ping for it).
        ("WATCHDOG_PID".into(), "1".into()),
    ];
    let mut server = Server::start(gh, "");
    let ready = next_notification(&notifications, Duration::from_secs(15)).unwrap();
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert_eq!(
        next_notification(&notifications, Duration::from_secs(1)),
        None,
        "pinged a watchdog that belongs to process 1"
    );
    assert!(server.terminate().success());
}

#[test]
fn root_is_refused_on_a_data_directory_another_user_owns_and_nothing_is_written() {
    if effective_uid() != 0 {
        println!(
            "SKIP root_is_refused_on_a_data_directory_another_user_owns: the check applies to root only, and this test does not run as root"
        );
        return;
    }
    let gh = Installation::new("UTC");
    // 65534: nobody, on Debian and most systems.
    std::os::unix::fs::chown(gh.data_dir(), Some(65534), Some(65534)).unwrap();
    let before: Vec<_> = std::fs::read_dir(gh.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let output = gh.run(&["users"], "");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "the data directory {} belongs to",
            gh.data_dir().display()
        )) && stderr.contains("not root: run gatehouse as"),
        "{stderr}"
    );
    let after: Vec<_> = std::fs::read_dir(gh.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        before, after,
        "a refused command wrote into the data directory"
    );
    // Checking an exported file reads no data directory: root may.
    let verify = gh.run(
        &["license", "verify-export", "/nonexistent/export.json"],
        "",
    );
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(!stderr.contains("belongs to"), "{stderr}");
    // Given back to root, the same command runs.
    std::os::unix::fs::chown(gh.data_dir(), Some(0), Some(0)).unwrap();
    gh.ok(&["users"], "");
}

/// The effective user id of the test process.
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .and_then(|id| id.parse().ok())
        })
        .unwrap_or(u32::MAX)
}
