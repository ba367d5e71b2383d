//! The accept loop of both listeners: TCP accept under a connection limit, a TLS handshake
//! with a timeout (the webhook) or none (the probes and metrics), HTTP/1.1 with keep-alive and
//! a header read timeout serving an axum router, and graceful shutdown.
//!
//! A connection's failure (handshake refused or timed out, client reset, malformed HTTP) is
//! logged and ends that connection only; an accept error (out of file descriptors) is logged
//! and retried after a pause. Failed handshakes and accept errors are logged at most once per
//! [`WARN_INTERVAL`] each, with the number of lines held back. Nothing here ends the server
//! but the shutdown future.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

use crate::config::ServerLimits;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Default longest TLS handshake after connecting (`server.handshake_timeout_seconds`). The API
/// server gives a whole webhook call 10 s by default (`timeoutSeconds`, 1 to 30 s), so a
/// handshake slower than that is of no use to anyone.
pub const HANDSHAKE_TIMEOUT: Duration = crate::config::DEFAULT_HANDSHAKE_TIMEOUT;

/// Default longest wait for a request's headers, idle keep-alive time included
/// (`server.header_read_timeout_seconds`; hyper starts this timer when it starts waiting for
/// the next request). Longer than the idle timeout of the API server's HTTP client (Go's
/// `http.Transport`, 90 s in Kubernetes), so the client closes an idle connection before the
/// server does; otherwise a POST sent just as the server closes would fail without being
/// retried.
pub const HEADER_READ_TIMEOUT: Duration = crate::config::DEFAULT_HEADER_READ_TIMEOUT;

/// Pause after an accept error (typically EMFILE) before accepting again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` over TLS on `listener` until `shutdown` completes, then stops accepting,
/// asks every open connection to finish its request in progress and close, and waits up to
/// `grace` for them before closing the rest.
///
/// Usable for any router (the load benchmark serves a do-nothing one through the same stack).
/// The connection limits are the defaults ([`ServerLimits::default`]); [`serve_tls_with`]
/// takes them.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    serve_tls_with(listener, tls, router, shutdown, grace, &ServerLimits::default()).await;
}

/// [`serve_tls`] with `limits`: at most `max_connections` open connections (beyond them, new
/// ones wait in the kernel's accept queue), `handshake_timeout`, `header_read_timeout` and
/// `max_header_bytes`. Used by [`super::serve`] for the webhook.
///
/// A panic in a connection task (TLS, HTTP or a handler) ends that connection only: tokio
/// catches it, the task's connection slot is released, and it is logged here.
pub async fn serve_tls_with(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    limits: &ServerLimits,
) {
    accept_loop(listener, Door::webhook(tls, limits), router, shutdown, grace).await;
}

/// Serves `router` over plain HTTP/1.1 on `listener` with the same accept loop, limits and
/// graceful shutdown as [`serve_tls_with`], without TLS: at most `metrics_max_connections`
/// open connections (more wait in the accept queue) and `metrics_header_read_timeout` for a
/// request head, idle keep-alive time included, so an idle or half-sent connection is closed
/// and gives its slot back. Used by [`super::serve`] for the probes and metrics.
pub async fn serve_plain_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    limits: &ServerLimits,
) {
    accept_loop(listener, Door::metrics(limits), router, shutdown, grace).await;
}

/// The one accept loop of both listeners: a connection slot, then accept, then a task per
/// connection (TLS handshake when `door.tls` is set, then HTTP/1.1); on `shutdown`, stop
/// accepting and give open connections `grace` to finish.
async fn accept_loop(
    listener: TcpListener,
    door: Door,
    router: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let name = door.name;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(door.limits.max_connections));
    let failures = Arc::new(RateLimitedLog::new(WARN_INTERVAL));
    let accept_errors = RateLimitedLog::new(WARN_INTERVAL);
    let mut full_logged = false;

    loop {
        // A connection slot first: at the limit, connections wait in the accept queue.
        let slot = if let Ok(slot) = slots.clone().try_acquire_owned() {
            full_logged = false;
            slot
        } else {
            if !full_logged {
                tracing::warn!(
                    listener = name,
                    max_connections = door.limits.max_connections,
                    "connection limit reached; new connections wait"
                );
                full_logged = true;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            }
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        // Reap finished connection tasks so the set holds only open connections.
        while let Some(finished) = connections.try_join_next() {
            log_join_error(finished);
        }
        match accepted {
            Ok((tcp, peer)) => {
                connections.spawn(serve_connection(
                    tcp,
                    peer,
                    door.clone(),
                    router.clone(),
                    stop_rx.clone(),
                    slot,
                    failures.clone(),
                ));
            }
            Err(e) => {
                drop(slot);
                if let Some(suppressed) = accept_errors.allow(Instant::now()) {
                    tracing::warn!(listener = name, suppressed, "cannot accept a connection: {e}; retrying");
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }

    drop(listener);
    // Receivers see `true`: handshakes in progress are dropped, HTTP connections finish the
    // request in progress and close (hyper's graceful shutdown).
    let _ = stop_tx.send(true);
    let open = connections.len();
    if open > 0 {
        tracing::info!(listener = name, open, "waiting up to {grace:?} for open connections to finish");
    }
    let drained = tokio::time::timeout(grace, async {
        while let Some(finished) = connections.join_next().await {
            log_join_error(finished);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            listener = name,
            open = connections.len(),
            "shutdown grace period over; closing the remaining connections"
        );
        connections.shutdown().await;
    }
}

/// Shortest time between two WARN lines of the same kind (failed handshakes, accept errors):
/// a flood of bad clients or a lasting EMFILE must not flood the log. The lines in between are
/// counted and the next line says how many were suppressed.
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// A log line let through at most once per `interval`, counting the ones held back.
#[derive(Debug)]
struct RateLimitedLog {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedLog {
    fn new(interval: Duration) -> Self {
        Self { interval, state: Mutex::new((None, 0)) }
    }

    /// `Some(lines suppressed since the last one)` if a line may be written at `now`; `None`
    /// (and one more suppressed) otherwise.
    fn allow(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (last, suppressed) = &mut *state;
        if last.is_some_and(|at| now.saturating_duration_since(at) < self.interval) {
            *suppressed += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(suppressed))
    }
}

/// Completes once `stop` holds `true` (or its sender is gone).
pub(super) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The `Ref` that `wait_for` returns is not `Send`; drop it here rather than hold it in a
    // caller's `select!`.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

fn log_join_error(finished: Result<(), tokio::task::JoinError>) {
    if let Err(e) = finished
        && e.is_panic()
    {
        tracing::error!("a connection task panicked: {e}");
    }
}

/// The per-connection limits.
#[derive(Debug, Clone, Copy)]
struct ConnLimits {
    max_connections: usize,
    /// Unused without TLS.
    handshake_timeout: Duration,
    header_read_timeout: Duration,
    max_header_bytes: usize,
}

/// One listener as the accept loop serves it: its name in the log, TLS or none, and the
/// limits of its connections from `server:`, chosen here for each listener.
#[derive(Clone)]
struct Door {
    name: &'static str,
    /// A TLS handshake (within `limits.handshake_timeout`) before HTTP; `None`: plain HTTP.
    tls: Option<TlsAcceptor>,
    limits: ConnLimits,
}

impl Door {
    /// The webhook: TLS, `server.max_connections`, `handshake_timeout_seconds`,
    /// `header_read_timeout_seconds` and `max_header_bytes` (never below the smallest head
    /// accepted, `config::MIN_MAX_HEADER_BYTES`).
    fn webhook(tls: Arc<ServerConfig>, limits: &ServerLimits) -> Self {
        Self {
            name: "webhook",
            tls: Some(TlsAcceptor::from(tls)),
            limits: ConnLimits {
                max_connections: limits.max_connections,
                handshake_timeout: limits.handshake_timeout,
                header_read_timeout: limits.header_read_timeout,
                max_header_bytes: limits.max_header_bytes.max(crate::config::MIN_MAX_HEADER_BYTES),
            },
        }
    }

    /// The probes and metrics: plain HTTP, `server.metrics_max_connections` and
    /// `metrics_header_read_timeout_seconds`; a probe or scrape needs no more than the
    /// smallest head accepted.
    fn metrics(limits: &ServerLimits) -> Self {
        Self {
            name: "metrics",
            tls: None,
            limits: ConnLimits {
                max_connections: limits.metrics_max_connections,
                handshake_timeout: Duration::ZERO,
                header_read_timeout: limits.metrics_header_read_timeout,
                max_header_bytes: crate::config::MIN_MAX_HEADER_BYTES,
            },
        }
    }
}

/// One connection: handshake (with TLS), then HTTP/1.1 until the client closes, an error, or
/// shutdown. `_slot` is its place under the connection limit, given back when the task ends
/// (or unwinds).
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    door: Door,
    router: Router,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
    failures: Arc<RateLimitedLog>,
) {
    let Door { tls, limits, .. } = door;
    // Responses are written whole; without Nagle they leave at once (the API server waits on
    // each one).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    let Some(acceptor) = tls else {
        serve_http(TokioIo::new(tcp), peer, router, stop, limits).await;
        return;
    };
    let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp));
    let failed = |why: String| {
        // At most one line per WARN_INTERVAL: a scanner or a misconfigured client retrying
        // must not flood the log.
        if let Some(suppressed) = failures.allow(Instant::now()) {
            tracing::warn!(%peer, suppressed, "{why}");
        } else {
            tracing::debug!(%peer, "{why}");
        }
    };
    let tls = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                failed(format!("TLS handshake failed: {e}"));
                return;
            }
            Err(_) => {
                failed(format!("TLS handshake timed out after {:?}", limits.handshake_timeout));
                return;
            }
        },
        () = stopped(&mut stop) => return,
    };
    serve_http(TokioIo::new(tls), peer, router, stop, limits).await;
}

/// HTTP/1.1 with keep-alive on an established connection, until the client closes, an error,
/// the header read timeout, or shutdown.
async fn serve_http<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
    limits: ConnLimits,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    // `max_buf_size` bounds the request head: a longer one is answered 431 and closed.
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    let connection = http.serve_connection(io, TowerToHyperService::new(router));
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            connection.as_mut().await
        }
    };
    if let Err(e) = result {
        // A client closing mid-request or an idle connection timing out is routine; anything
        // else is worth a line.
        if e.is_incomplete_message() || e.is_canceled() || e.is_timeout() {
            tracing::debug!(%peer, "connection closed: {e}");
        } else {
            tracing::warn!(%peer, "connection error: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_those_held_back() {
        let log = RateLimitedLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.allow(t0), Some(0));
        for i in 1..=1000 {
            assert_eq!(log.allow(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.allow(t0 + Duration::from_secs(10)), Some(1000));
        assert_eq!(log.allow(t0 + Duration::from_secs(11)), None);
        assert_eq!(log.allow(t0 + Duration::from_secs(21)), Some(1));
    }
}
