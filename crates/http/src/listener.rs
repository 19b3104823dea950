//! The HTTP listener (SPEC §12): every connection is bounded in time and in
//! number, so idle or slow sockets cannot stop the panel, the API or the
//! phone endpoints, nor use up the process's file descriptors.
//!
//! - a request's headers must arrive within `header_read_timeout` (a
//!   slow-loris sending a byte now and then is closed), and a TLS handshake
//!   within the same time;
//! - a connection with no bytes either way for `idle_timeout` is closed;
//! - at most `max_connections` are open, and `max_connections_per_address`
//!   from one address (an IPv6 /64); beyond that a new connection is
//!   closed at once, the refusal counted (`/metrics`) and logged,
//!   rate-limited.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use gatehouse_core::clients::holder;
use gatehouse_core::ratelimit::RateLimitedLog;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::ServiceExt as _;

use crate::Tls;

/// `[http]` limits on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            max_connections_per_address: 64,
        }
    }
}

/// Connections open and refused (`/metrics`).
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicU64,
    refused: AtomicU64,
    timed_out: AtomicU64,
}

impl ConnectionStats {
    /// Open now, refused at the caps, closed for a timeout, since start.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.open.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.timed_out.load(Ordering::Relaxed),
        )
    }
}

/// Open connections, overall and per address.
struct Slots {
    limits: Limits,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    stats: Arc<ConnectionStats>,
}

/// A connection's place under the caps, given back when it closes.
struct Slot {
    slots: Arc<Slots>,
    address: IpAddr,
}

impl Slots {
    fn take(self: &Arc<Slots>, address: IpAddr) -> Option<Slot> {
        let address = holder(address);
        let mut per_address = self.per_address.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = self.stats.open.load(Ordering::Relaxed) as usize;
        let here = per_address.get(&address).copied().unwrap_or(0);
        if total >= self.limits.max_connections || here >= self.limits.max_connections_per_address {
            return None;
        }
        per_address.insert(address, here + 1);
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            slots: self.clone(),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_address = self
            .slots
            .per_address
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                per_address.remove(&self.address);
            }
        }
        self.slots.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The stream, noting when bytes last moved either way.
struct Watched<S> {
    inner: S,
    started: Instant,
    /// Milliseconds since `started` of the last byte moved.
    last: Arc<AtomicU64>,
}

impl<S> Watched<S> {
    fn touch(&self) {
        self.last
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` (with TLS when given) under `limits`
/// until `shutdown`, then lets open requests finish (up to five seconds).
pub async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    tls: Option<Tls>,
    limits: Limits,
    stats: Arc<ConnectionStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let acceptor = match &tls {
        None => None,
        Some(tls) => Some(tokio_rustls::TlsAcceptor::from(
            axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await?
                .get_inner(),
        )),
    };
    let slots = Arc::new(Slots {
        limits,
        per_address: Mutex::new(HashMap::new()),
        stats,
    });
    let refusals = Arc::new(RateLimitedLog::new(Duration::from_secs(10), 5));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let connections = tokio_util_tasks::Tasks::default();
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or similar: wait a moment rather
                    // than spin.
                    tracing::warn!(%error, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = slots.take(peer.ip()) else {
            slots.stats.refused.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = refusals.allow() {
                tracing::warn!(%peer, suppressed, "HTTP connection refused: too many open connections (http.max_connections, http.max_connections_per_address)");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let stopped = stopped.clone();
        connections.spawn(
            async move {
                let _slot = slot;
                let started = Instant::now();
                let last = Arc::new(AtomicU64::new(0));
                let watched = Watched {
                    inner: stream,
                    started,
                    last: last.clone(),
                };
                match acceptor {
                    None => connection(watched, peer, router, limits, last, started, stopped).await,
                    Some(acceptor) => {
                        let handshake = tokio::time::timeout(
                            limits.header_read_timeout,
                            acceptor.accept(watched),
                        )
                        .await;
                        match handshake {
                            Ok(Ok(stream)) => {
                                connection(stream, peer, router, limits, last, started, stopped)
                                    .await
                            }
                            Ok(Err(_)) => Outcome::Closed,
                            Err(_) => Outcome::TimedOut,
                        }
                    }
                }
            },
            slots.stats.clone(),
        );
    }
    drop(listener);
    let _ = stop.send(true);
    connections.wait(Duration::from_secs(5)).await;
    Ok(())
}

/// How a connection ended.
enum Outcome {
    Closed,
    TimedOut,
}

/// One HTTP/1.1 connection: requests served until the peer closes, a
/// timeout, or shutdown.
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    last: Arc<AtomicU64>,
    started: Instant,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(tower::service_fn(
        move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(axum::body::Body::new))
        },
    ));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut served = std::pin::pin!(builder.serve_connection(TokioIo::new(stream), service));
    let idle = limits.idle_timeout;
    loop {
        let quiet_for = started
            .elapsed()
            .saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
        let wake_in = idle.saturating_sub(quiet_for);
        tokio::select! {
            result = served.as_mut() => {
                return match result {
                    Err(error) if error.is_timeout() => Outcome::TimedOut,
                    _ => Outcome::Closed,
                };
            }
            _ = stopped.changed() => {
                served.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep(wake_in) => {
                let quiet_for = started
                    .elapsed()
                    .saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
                if quiet_for >= idle {
                    return Outcome::TimedOut;
                }
            }
        }
    }
}

/// The connection tasks, so shutdown can wait for them.
mod tokio_util_tasks {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::{ConnectionStats, Outcome};

    #[derive(Default)]
    pub(super) struct Tasks {
        count: Arc<AtomicUsize>,
        ended: Arc<Notify>,
    }

    impl Tasks {
        pub fn spawn(
            &self,
            task: impl Future<Output = Outcome> + Send + 'static,
            stats: Arc<ConnectionStats>,
        ) {
            let (count, ended) = (self.count.clone(), self.ended.clone());
            count.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(async move {
                if let Outcome::TimedOut = task.await {
                    stats.timed_out.fetch_add(1, Ordering::Relaxed);
                }
                count.fetch_sub(1, Ordering::AcqRel);
                ended.notify_waiters();
            });
        }

        /// Until every connection has ended, or `limit`.
        pub async fn wait(&self, limit: Duration) {
            let deadline = tokio::time::Instant::now() + limit;
            loop {
                let ended = self.ended.notified();
                if self.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                if tokio::time::timeout_at(deadline, ended).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caps_hold_and_slots_come_back() {
        let slots = Arc::new(Slots {
            limits: Limits {
                max_connections: 3,
                max_connections_per_address: 2,
                ..Limits::default()
            },
            per_address: Mutex::new(HashMap::new()),
            stats: Arc::default(),
        });
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let two: IpAddr = "192.0.2.2".parse().unwrap();
        let a = slots.take(one).unwrap();
        let _b = slots.take(one).unwrap();
        assert!(slots.take(one).is_none(), "per address");
        let _c = slots.take(two).unwrap();
        assert!(slots.take(two).is_none(), "overall");
        drop(a);
        let _d = slots.take(one).expect("a slot came back");
        assert_eq!(slots.stats.snapshot().0, 3);
    }
}
