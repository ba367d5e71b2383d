//! The HTTPS accept loop: TCP accept, TLS handshake with a timeout, HTTP/1.1 with keep-alive
//! serving an axum router, and graceful shutdown.
//!
//! A connection's failure (handshake refused or timed out, client reset, malformed HTTP) is
//! logged and ends that connection only; an accept error (out of file descriptors) is logged
//! and retried after a pause. Nothing here ends the server but the shutdown future.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
    let acceptor = TlsAcceptor::from(tls);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let conn = ConnLimits {
        handshake_timeout: limits.handshake_timeout,
        header_read_timeout: limits.header_read_timeout,
        max_header_bytes: limits.max_header_bytes.max(crate::config::MIN_MAX_HEADER_BYTES),
    };
    let mut full_logged = false;

    loop {
        // A connection slot first: at the limit, connections wait in the accept queue.
        let slot = if let Ok(slot) = slots.clone().try_acquire_owned() {
            full_logged = false;
            slot
        } else {
            if !full_logged {
                tracing::warn!(
                    max_connections = limits.max_connections,
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
                    acceptor.clone(),
                    router.clone(),
                    stop_rx.clone(),
                    conn,
                    slot,
                ));
            }
            Err(e) => {
                drop(slot);
                tracing::warn!("cannot accept a connection: {e}; retrying");
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
        tracing::info!(open, "waiting up to {grace:?} for open connections to finish");
    }
    let drained = tokio::time::timeout(grace, async {
        while let Some(finished) = connections.join_next().await {
            log_join_error(finished);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(open = connections.len(), "shutdown grace period over; closing the remaining connections");
        connections.shutdown().await;
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
    handshake_timeout: Duration,
    header_read_timeout: Duration,
    max_header_bytes: usize,
}

/// One connection: handshake, then HTTP/1.1 until the client closes, an error, or shutdown.
/// `_slot` is its place under the connection limit, given back when the task ends (or unwinds).
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
    mut stop: watch::Receiver<bool>,
    limits: ConnLimits,
    _slot: OwnedSemaphorePermit,
) {
    // Responses are written whole; without Nagle they leave at once (the API server waits on
    // each one).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp));
    let tls = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::warn!(%peer, "TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "TLS handshake timed out after {:?}", limits.handshake_timeout);
                return;
            }
        },
        () = stopped(&mut stop) => return,
    };

    let mut http = hyper::server::conn::http1::Builder::new();
    // `max_buf_size` bounds the request head: a longer one is answered 431 and closed.
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    let connection = http.serve_connection(TokioIo::new(tls), TowerToHyperService::new(router));
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
