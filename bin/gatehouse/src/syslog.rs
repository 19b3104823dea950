//! Forwarding log lines to a syslog receiver (a SIEM's collector): RFC 5424
//! messages over UDP (one per datagram, RFC 5426), TCP or TLS (octet
//! counting, RFC 6587 / RFC 5425).
//!
//! Logging never waits for the network: each line is queued (at most
//! [`QUEUE`] lines) and sent by a thread of its own, which reconnects after
//! an error. Lines that find the queue full are dropped and counted; the
//! count is written to stderr (and sent) once the receiver takes lines
//! again.

use std::io::Write as _;
use std::net::{TcpStream, ToSocketAddrs as _, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rustls::pki_types::ServerName;

pub use crate::config::SyslogSettings;
pub use crate::config::syslog::Transport;

/// Lines waiting for the receiver, at most.
const QUEUE: usize = 10_000;
/// The longest message sent (a UDP datagram stays well under 64 KiB).
const MAX_MESSAGE: usize = 8 * 1024;
/// How long connecting and each write may take.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Waits between reconnection attempts: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_LAST: Duration = Duration::from_secs(30);

/// A tracing level as an RFC 5424 severity.
pub fn severity(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        tracing::Level::DEBUG | tracing::Level::TRACE => 7,
    }
}

/// What every message of this process says about where it comes from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// RFC 5424 facility number.
    pub facility: u8,
    pub host: String,
    pub app_name: String,
    pub pid: u32,
}

/// One RFC 5424 message: `<PRI>1 TIME HOST APP PROCID MSGID - MSG`.
/// MSGID is the last part of the event's target (`radius`, `serve`, …);
/// header fields hold printable ASCII only, and the message is cut (at a
/// character boundary) to [`MAX_MESSAGE`] bytes.
pub fn message(origin: &Origin, severity: u8, time: &str, target: &str, text: &str) -> String {
    let field = |value: &str, most: usize| {
        let value: String = value
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(most)
            .collect();
        if value.is_empty() {
            "-".to_string()
        } else {
            value
        }
    };
    let msgid = field(target.rsplit("::").next().unwrap_or(target), 32);
    let mut out = format!(
        "<{}>1 {time} {} {} {} {msgid} - ",
        u16::from(origin.facility) * 8 + u16::from(severity),
        field(&origin.host, 255),
        field(&origin.app_name, 48),
        origin.pid,
    );
    let mut end = text.len().min(MAX_MESSAGE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(text[..end].trim_end_matches(['\n', '\r']));
    out
}

/// A message framed for a stream: its length in bytes, a space, the message.
pub fn octet_counted(message: &str) -> Vec<u8> {
    let mut framed = format!("{} ", message.len()).into_bytes();
    framed.extend_from_slice(message.as_bytes());
    framed
}

/// A line to send, and what the header needs from the event.
struct Line {
    severity: u8,
    target: String,
    text: String,
}

/// The sending side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct SyslogSink {
    queue: SyncSender<Line>,
    dropped: Arc<AtomicU64>,
}

impl SyslogSink {
    /// Starts the sending thread.
    pub fn start(settings: SyslogSettings) -> SyslogSink {
        let (queue, lines) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        let host = host_name();
        std::thread::Builder::new()
            .name("gatehouse-syslog".into())
            .spawn(move || send_all(&settings, &host, &lines, &counted))
            .expect("start the syslog thread");
        SyslogSink { queue, dropped }
    }

    fn push(&self, line: Line) {
        match self.queue.try_send(line) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A writer for one event: tracing formats the whole line, then writes it.
pub struct SyslogWriter {
    sink: SyslogSink,
    severity: u8,
    target: String,
    line: Vec<u8>,
}

impl std::io::Write for SyslogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogWriter {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.sink.push(Line {
            severity: self.severity,
            target: std::mem::take(&mut self.target),
            text,
        });
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SyslogSink {
    type Writer = SyslogWriter;

    fn make_writer(&'a self) -> SyslogWriter {
        SyslogWriter {
            sink: self.clone(),
            severity: severity(tracing::Level::INFO),
            target: "gatehouse".into(),
            line: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> SyslogWriter {
        SyslogWriter {
            sink: self.clone(),
            severity: severity(*meta.level()),
            target: meta.target().into(),
            line: Vec::new(),
        }
    }
}

/// This machine's name, as syslog headers carry it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "-".to_string())
}

/// A connection to the receiver.
enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Connection {
    fn open(settings: &SyslogSettings) -> std::io::Result<Connection> {
        let address = (settings.host.as_str(), settings.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the host name resolves to no address"))?;
        match settings.transport {
            Transport::Udp => {
                let local: std::net::SocketAddr = if address.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket = UdpSocket::bind(local)?;
                socket.connect(address)?;
                Ok(Connection::Udp(socket))
            }
            Transport::Tcp | Transport::Tls => {
                let stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)?;
                stream.set_write_timeout(Some(IO_TIMEOUT))?;
                stream.set_read_timeout(Some(IO_TIMEOUT))?;
                stream.set_nodelay(true)?;
                if settings.transport == Transport::Tcp {
                    return Ok(Connection::Tcp(stream));
                }
                let config = settings
                    .tls
                    .clone()
                    .ok_or_else(|| std::io::Error::other("no TLS settings"))?;
                let name = ServerName::try_from(settings.host.clone())
                    .map_err(|e| std::io::Error::other(format!("not a TLS server name: {e}")))?;
                let connection =
                    rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
                let mut tls = rustls::StreamOwned::new(connection, stream);
                // The handshake now, so a bad certificate is an error here.
                while tls.conn.is_handshaking() {
                    tls.conn.complete_io(&mut tls.sock)?;
                }
                Ok(Connection::Tls(Box::new(tls)))
            }
        }
    }

    fn send(&mut self, message: &str) -> std::io::Result<()> {
        match self {
            Connection::Udp(socket) => socket.send(message.as_bytes()).map(|_| ()),
            Connection::Tcp(stream) => stream.write_all(&octet_counted(message)),
            Connection::Tls(stream) => {
                stream.write_all(&octet_counted(message))?;
                stream.flush()
            }
        }
    }
}

fn send_all(settings: &SyslogSettings, host: &str, lines: &Receiver<Line>, dropped: &AtomicU64) {
    let origin = Origin {
        facility: settings.facility,
        host: host.to_string(),
        app_name: settings.app_name.clone(),
        pid: std::process::id(),
    };
    let mut connection: Option<Connection> = None;
    let mut retry = RETRY_FIRST;
    let mut reported_error = false;
    while let Ok(line) = lines.recv() {
        let now = gatehouse_license::jiff::Timestamp::now();
        let stamp = format!(
            "{}.{:06}Z",
            now.strftime("%Y-%m-%dT%H:%M:%S"),
            now.subsec_microsecond()
        );
        let mut pending = vec![message(
            &origin,
            line.severity,
            &stamp,
            &line.target,
            &line.text,
        )];
        // Keeps the line until it is sent: the receiver may be away.
        loop {
            if connection.is_none() {
                match Connection::open(settings) {
                    Ok(open) => {
                        connection = Some(open);
                        retry = RETRY_FIRST;
                        if reported_error {
                            eprintln!(
                                "gatehouse: syslog: connected to {}:{} again",
                                settings.host, settings.port
                            );
                            reported_error = false;
                        }
                    }
                    Err(error) => {
                        if !reported_error {
                            eprintln!(
                                "gatehouse: syslog: cannot reach {}:{}: {error}; retrying, lines queue meanwhile",
                                settings.host, settings.port
                            );
                            reported_error = true;
                        }
                        std::thread::sleep(retry);
                        retry = (retry * 2).min(RETRY_LAST);
                        continue;
                    }
                }
            }
            let lost = dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                let text = format!("syslog queue was full: {lost} log lines were dropped");
                eprintln!("gatehouse: {text}");
                let note = message(&origin, 4, &stamp, "gatehouse::syslog", &text);
                pending.insert(0, note);
            }
            let open = connection.as_mut().expect("connected above");
            match pending.iter().try_for_each(|message| open.send(message)) {
                Ok(()) => break,
                Err(error) => {
                    if !reported_error {
                        eprintln!(
                            "gatehouse: syslog: sending to {}:{} failed: {error}; reconnecting",
                            settings.host, settings.port
                        );
                        reported_error = true;
                    }
                    // Sent again whole on the next connection: a message
                    // cut by the failure ends with the old connection.
                    connection = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(facility: u8, host: &str, app_name: &str, pid: u32) -> Origin {
        Origin {
            facility,
            host: host.into(),
            app_name: app_name.into(),
            pid,
        }
    }

    #[test]
    fn a_message_has_the_rfc_5424_header() {
        let line = message(
            &origin(4, "gw 1", "gatehouse", 42),
            severity(tracing::Level::WARN),
            "2026-12-01T10:00:00.000001Z",
            "gatehouse::radius",
            "{\"message\":\"RADIUS decision\"}\n",
        );
        assert_eq!(
            line,
            "<36>1 2026-12-01T10:00:00.000001Z gw1 gatehouse 42 radius - {\"message\":\"RADIUS decision\"}"
        );
        // Nothing in the header may be empty or hold spaces.
        let line = message(&origin(23, "", " ", 1), 7, "T", "", "x");
        assert_eq!(line, "<191>1 T - - 1 - - x");
    }

    #[test]
    fn a_long_message_is_cut_at_a_character_boundary() {
        let text = "é".repeat(MAX_MESSAGE);
        let line = message(&origin(4, "h", "a", 1), 6, "T", "t", &text);
        let body = line.split(" - ").nth(1).unwrap();
        assert!(body.len() <= MAX_MESSAGE && body.chars().all(|c| c == 'é'));
    }

    #[test]
    fn stream_frames_count_octets() {
        assert_eq!(octet_counted("<14>1 é"), b"8 <14>1 \xc3\xa9".to_vec());
    }
}
