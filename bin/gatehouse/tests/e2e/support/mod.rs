//! Helpers of the end-to-end tests, one module per peer: the installation
//! and the binaries, the running server, the browser, SMTP, TLS, slapd
//! and radclient;
//! here, how a peer process is started, waited for and stopped.

mod browser;
mod installation;
mod radius;
mod server;
mod slapd;
mod smtp;
mod tls;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use browser::*;
pub use gatehouse_testkit::FakeTime;
pub use installation::*;
pub use radius::*;
pub use server::*;
pub use slapd::*;
pub use smtp::*;
pub use tls::*;

/// Starts a peer server with no terminal input or output.
pub(crate) fn spawn_quiet(command: &mut Command) -> Child {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Starts `command` with `input` written to its standard input (then
/// closed), its output captured and its standard error sent to `stderr`.
pub(crate) fn spawn_with_input(command: &mut Command, input: &[u8], stderr: Stdio) -> Child {
    use std::io::Write as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child
}

/// Runs `command` to the end with `input` as its standard input; its
/// output and standard error captured.
pub(crate) fn run_with_input(command: &mut Command, input: &[u8]) -> Output {
    spawn_with_input(command, input, Stdio::piped())
        .wait_with_output()
        .unwrap()
}

/// Kills a peer server started by [`spawn_quiet`], if it runs.
pub(crate) fn kill_child(child: &mut Option<Child>) {
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
pub(crate) fn serving(child: &mut Child, ports: &[u16], what: &str) -> bool {
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
