//! Telling systemd how `serve` is doing (`Type=notify`): readiness once
//! every socket is bound, watchdog pings, and the stop.
//!
//! The protocol is one datagram per state change to the socket named in
//! `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace); see
//! `sd_notify(3)`. Without `NOTIFY_SOCKET` (not started by systemd) every
//! call does nothing.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Where systemd listens, read once at start; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    socket: Option<Arc<(UnixDatagram, String)>>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the environment systemd gives the service. The watchdog applies
    /// only when `WATCHDOG_PID` is unset or names this process.
    pub(crate) fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|target| !target.is_empty())
            .and_then(|target| match UnixDatagram::unbound() {
                Ok(socket) => Some(Arc::new((socket, target))),
                Err(error) => {
                    tracing::warn!(%error, "NOTIFY_SOCKET is set but no socket can be made to reach it");
                    None
                }
            });
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|pid| pid.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|usec| *usec > 0 && for_us && socket.is_some())
            // Pinged at half the interval, as sd_watchdog_enabled(3) advises.
            .map(|usec| Duration::from_micros(usec / 2));
        Notifier { socket, watchdog }
    }

    /// `READY=1`: the sockets are bound and requests are being answered.
    pub(crate) fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}\n"));
    }

    /// `STOPPING=1`: the stop has begun.
    pub(crate) fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=Stopping\n");
    }

    /// Pings `WATCHDOG=1` at half the interval systemd asked for, until
    /// `stopped` completes; does nothing without a watchdog. The pings
    /// come from a task on the runtime, so a runtime whose every worker is
    /// stuck stops them and systemd restarts the service.
    pub(crate) async fn watchdog(&self, stopped: impl Future<Output = ()>) {
        let Some(every) = self.watchdog else {
            return;
        };
        let mut pings = tokio::time::interval(every);
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                _ = pings.tick() => self.send("WATCHDOG=1\n"),
                () = &mut stopped => return,
            }
        }
    }

    fn send(&self, state: &str) {
        let Some(socket) = &self.socket else {
            return;
        };
        let (socket, target) = &**socket;
        let sent = match target.strip_prefix('@') {
            Some(name) => {
                abstract_address(name).and_then(|to| socket.send_to_addr(state.as_bytes(), &to))
            }
            None => socket.send_to(state.as_bytes(), Path::new(target)),
        };
        if let Err(error) = sent {
            tracing::warn!(%error, socket = %target, "could not notify systemd");
        }
    }
}

#[cfg(target_os = "linux")]
fn abstract_address(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt as _;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(target_os = "linux"))]
fn abstract_address(_name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract socket names exist on Linux only",
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn notifier(target: String, watchdog: Option<Duration>) -> Notifier {
        Notifier {
            socket: Some(Arc::new((UnixDatagram::unbound().unwrap(), target))),
            watchdog,
        }
    }

    fn received(socket: &UnixDatagram) -> String {
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buffer = [0u8; 512];
        let len = socket.recv(&mut buffer).unwrap();
        String::from_utf8_lossy(&buffer[..len]).into_owned()
    }

    #[test]
    fn an_abstract_socket_name_is_reached() {
        let name = format!("gatehouse-notify-test-{}", std::process::id());
        let listening = UnixDatagram::bind_addr(&abstract_address(&name).unwrap()).unwrap();
        let notifier = notifier(format!("@{name}"), None);
        notifier.ready("Serving");
        assert_eq!(received(&listening), "READY=1\nSTATUS=Serving\n");
        notifier.stopping();
        assert_eq!(received(&listening), "STOPPING=1\nSTATUS=Stopping\n");
    }

    // Two workers: the test blocks one of them reading the socket.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_watchdog_stops_pinging_when_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listening = UnixDatagram::bind(&path).unwrap();
        let notifier = notifier(path.display().to_string(), Some(Duration::from_millis(20)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            notifier
                .watchdog(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        assert_eq!(received(&listening), "WATCHDOG=1\n");
        assert_eq!(received(&listening), "WATCHDOG=1\n");
        stop.send(()).unwrap();
        task.await.unwrap();
        listening
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        while listening.recv(&mut [0u8; 64]).is_ok() {}
        listening
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        assert!(
            listening.recv(&mut [0u8; 64]).is_err(),
            "pinged after the stop"
        );
    }

    #[test]
    fn without_a_socket_nothing_is_sent_and_no_watchdog_runs() {
        let notifier = Notifier {
            socket: None,
            watchdog: None,
        };
        notifier.ready("Serving");
        notifier.stopping();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Returns at once although `stopped` never completes.
        runtime.block_on(notifier.watchdog(std::future::pending()));
    }
}
