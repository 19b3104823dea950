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
