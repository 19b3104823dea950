//! Log output that a busy RADIUS server can afford.
//!
//! Every decision is one log line; at tens of thousands of requests a
//! second, one `write(2)` per line would cost more than the request. Lines
//! are appended to a buffer instead (whole lines, under a lock) and written
//! to stderr in one call when the buffer holds 64 KiB, and at least every
//! 50 ms by a small thread. The cost: after a SIGKILL, up to the last 50 ms
//! of log lines are lost; a normal exit writes everything.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Written as soon as this much is pending.
const FLUSH_AT: usize = 64 * 1024;
/// Longest a line waits.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug, Default)]
struct Pending {
    buffer: Mutex<Vec<u8>>,
}

impl Pending {
    fn flush(&self) {
        let batch = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|e| e.into_inner()));
        if !batch.is_empty() {
            let mut stderr = io::stderr().lock();
            let _ = stderr.write_all(&batch);
            let _ = stderr.flush();
        }
    }
}

/// A `MakeWriter` for tracing that batches lines to stderr.
#[derive(Debug, Clone)]
pub struct BatchedStderr {
    pending: Arc<Pending>,
}

/// Writes what is pending when dropped.
#[derive(Debug)]
pub struct FlushOnDrop {
    pending: Arc<Pending>,
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.pending.flush();
    }
}

impl BatchedStderr {
    /// Starts the flushing thread; keep the guard until exit.
    pub fn start() -> (BatchedStderr, FlushOnDrop) {
        let pending = Arc::new(Pending::default());
        let background = Arc::downgrade(&pending);
        std::thread::Builder::new()
            .name("gatehouse-log".into())
            .spawn(move || {
                // Ends when the last handle (the guard) is gone.
                while let Some(pending) = background.upgrade() {
                    pending.flush();
                    drop(pending);
                    std::thread::sleep(FLUSH_EVERY);
                }
            })
            .expect("start the log flushing thread");
        (
            BatchedStderr {
                pending: pending.clone(),
            },
            FlushOnDrop { pending },
        )
    }
}

impl Write for BatchedStderr {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let full = {
            let mut buffer = self
                .pending
                .buffer
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            buffer.extend_from_slice(bytes);
            buffer.len() >= FLUSH_AT
        };
        if full {
            self.pending.flush();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedStderr {
    type Writer = BatchedStderr;

    fn make_writer(&'a self) -> BatchedStderr {
        self.clone()
    }
}

/// RFC 3339 UTC timestamps with microseconds, formatting the date and time
/// of day only when the second changes (every log line needs a timestamp;
/// most lines in a busy second share all but the fraction).
#[derive(Debug, Default)]
pub struct FastUtcTime {
    last: Mutex<(i64, String)>,
}

impl tracing_subscriber::fmt::time::FormatTime for FastUtcTime {
    fn format_time(
        &self,
        writer: &mut tracing_subscriber::fmt::format::Writer<'_>,
    ) -> std::fmt::Result {
        let now = gatehouse_license::jiff::Timestamp::now();
        let second = now.as_second();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.0 != second || last.1.is_empty() {
            *last = (second, now.strftime("%Y-%m-%dT%H:%M:%S").to_string());
        }
        write!(writer, "{}.{:06}Z", last.1, now.subsec_microsecond())
    }
}

/// One line per event: `<time> <LEVEL> <target>: <message> key=value …`.
///
/// Written without the general-purpose machinery of the default formatter
/// (no ANSI styling, no span context), because the RADIUS server writes one
/// line per decision. Text fields recorded as `&str` (such as user names
/// taken from packets) are quoted, with anything unusual escaped, so a
/// crafted value cannot forge a line; `%value` fields are written as they
/// are and must be Gatehouse's own text or validated names.
#[derive(Debug, Default)]
pub struct LineFormat {
    time: FastUtcTime,
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for LineFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use tracing_subscriber::fmt::time::FormatTime as _;
        self.time.format_time(&mut writer)?;
        let metadata = event.metadata();
        writer.write_str(match *metadata.level() {
            tracing::Level::ERROR => " ERROR ",
            tracing::Level::WARN => "  WARN ",
            tracing::Level::INFO => "  INFO ",
            tracing::Level::DEBUG => " DEBUG ",
            tracing::Level::TRACE => " TRACE ",
        })?;
        writer.write_str(metadata.target())?;
        writer.write_str(":")?;
        let mut fields = FieldWriter {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

struct FieldWriter<'a, 'w> {
    writer: &'a mut tracing_subscriber::fmt::format::Writer<'w>,
    result: std::fmt::Result,
}

impl FieldWriter<'_, '_> {
    fn name(&mut self, field: &tracing::field::Field) -> std::fmt::Result {
        self.writer.write_char(' ')?;
        if field.name() != "message" {
            self.writer.write_str(field.name())?;
            self.writer.write_char('=')?;
        }
        Ok(())
    }
}

/// True when a value can be written between quotes as it is.
fn plain(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

impl tracing::field::Visit for FieldWriter<'_, '_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = self.name(field).and_then(|()| {
            if field.name() == "message" {
                self.writer.write_str(value)
            } else if plain(value) {
                self.writer.write_char('"')?;
                self.writer.write_str(value)?;
                self.writer.write_char('"')
            } else {
                write!(self.writer, "{value:?}")
            }
        });
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = self
            .name(field)
            .and_then(|()| write!(self.writer, "{value:?}"));
    }
}

/// One JSON object per line, for log collectors: `time`, `level`,
/// `target`, `message`, then the event's fields under their own names
/// (numbers and booleans as such, everything else as strings). The names
/// are the ones the text lines use, so they are as stable as those: a
/// RADIUS decision has `client`, `nas`, `from`, `user`, `result`,
/// `reason` and `policy`.
#[derive(Debug, Default)]
pub struct JsonFormat {
    time: FastUtcTime,
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use tracing_subscriber::fmt::time::FormatTime as _;
        let mut time = String::new();
        self.time
            .format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut time))?;
        let metadata = event.metadata();
        let mut object = serde_json::Map::new();
        object.insert("time".into(), time.into());
        object.insert(
            "level".into(),
            metadata.level().as_str().to_ascii_lowercase().into(),
        );
        object.insert("target".into(), metadata.target().into());
        let mut fields = JsonFields(&mut object);
        event.record(&mut fields);
        let line = serde_json::to_string(&object).map_err(|_| std::fmt::Error)?;
        writer.write_str(&line)?;
        writer.write_char('\n')
    }
}

struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl tracing::field::Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// The line format `log.format` chose.
#[derive(Debug)]
pub enum Format {
    Text(LineFormat),
    Json(JsonFormat),
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Format
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        match self {
            Format::Text(format) => format.format_event(context, writer, event),
            Format::Json(format) => format.format_event(context, writer, event),
        }
    }
}

/// Where log lines go: stderr (batched), and a syslog receiver when
/// `[log.syslog]` is set.
#[derive(Clone)]
pub struct Outputs {
    pub stderr: BatchedStderr,
    pub syslog: Option<crate::syslog::SyslogSink>,
}

/// One event's writer for every output.
pub struct OutputsWriter {
    stderr: BatchedStderr,
    syslog: Option<crate::syslog::SyslogWriter>,
}

impl Write for OutputsWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Some(syslog) = &mut self.syslog {
            syslog.write_all(bytes)?;
        }
        self.stderr.write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Outputs {
    type Writer = OutputsWriter;

    fn make_writer(&'a self) -> OutputsWriter {
        OutputsWriter {
            stderr: self.stderr.clone(),
            syslog: self.syslog.as_ref().map(|sink| sink.make_writer()),
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> OutputsWriter {
        OutputsWriter {
            stderr: self.stderr.clone(),
            syslog: self.syslog.as_ref().map(|sink| sink.make_writer_for(meta)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
        type Writer = Capture;

        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    fn logged(event: impl FnOnce()) -> String {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .event_format(LineFormat::default())
            .finish();
        tracing::subscriber::with_default(subscriber, event);
        String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_line_has_time_level_target_message_and_fields() {
        let line = logged(
            || tracing::info!(target: "gatehouse::radius", client = %"vpn-1", user = "alice", attempts = 3, "RADIUS decision"),
        );
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(time.len() == 27 && time.ends_with('Z'), "{time}");
        assert_eq!(
            rest,
            " INFO gatehouse::radius: RADIUS decision client=vpn-1 user=\"alice\" attempts=3\n"
        );
    }

    fn logged_json(event: impl FnOnce()) -> String {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .event_format(Format::Json(JsonFormat::default()))
            .finish();
        tracing::subscriber::with_default(subscriber, event);
        String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_json_line_is_one_object_with_typed_fields() {
        let line = logged_json(
            || tracing::info!(target: "gatehouse::radius", client = %"vpn-1", user = "mallory\n{\"forged\":1}", attempts = 3, ok = true, "RADIUS decision"),
        );
        assert_eq!(line.lines().count(), 1, "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "info");
        assert_eq!(value["target"], "gatehouse::radius");
        assert_eq!(value["message"], "RADIUS decision");
        assert_eq!(value["client"], "vpn-1");
        assert_eq!(value["user"], "mallory\n{\"forged\":1}");
        assert_eq!(value["attempts"], 3);
        assert_eq!(value["ok"], true);
        let time = value["time"].as_str().unwrap();
        assert!(time.len() == 27 && time.ends_with('Z'), "{time}");
    }

    #[test]
    fn crafted_text_fields_cannot_forge_a_line() {
        let line = logged(|| {
            tracing::warn!(
                user = "mallory\n2026-01-01T00:00:00.000000Z  INFO fake: Accept",
                "authentication failed"
            )
        });
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains(r#"user="mallory\n2026"#), "{line}");
    }
}
