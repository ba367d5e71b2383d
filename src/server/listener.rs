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
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Longest a client may take to complete the TLS handshake after connecting. The API server
/// gives a whole webhook call 10 s by default (`timeoutSeconds`, 1 to 30 s), so a handshake
/// slower than that is of no use to anyone.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for a request's headers, idle keep-alive time included (hyper starts this
/// timer when it starts waiting for the next request). Longer than the idle timeout of the
/// API server's HTTP client (Go's `http.Transport`, 90 s in Kubernetes), so the client closes
/// an idle connection before the server does; otherwise a POST sent just as the server
/// closes would fail without being retried.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Pause after an accept error (typically EMFILE) before accepting again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` over TLS on `listener` until `shutdown` completes, then stops accepting,
/// asks every open connection to finish its request in progress and close, and waits up to
/// `grace` for them before closing the rest.
///
/// Used by [`super::serve`] for the webhook, and usable for any router (the load benchmark
/// serves a do-nothing one through the same stack).
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
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
                connections.spawn(serve_connection(tcp, peer, acceptor.clone(), router.clone(), stop_rx.clone()));
            }
            Err(e) => {
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

/// One connection: handshake, then HTTP/1.1 until the client closes, an error, or shutdown.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    // Responses are written whole; without Nagle they leave at once (the API server waits on
    // each one).
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
    let tls = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::warn!(%peer, "TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "TLS handshake timed out after {HANDSHAKE_TIMEOUT:?}");
                return;
            }
        },
        () = stopped(&mut stop) => return,
    };

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).keep_alive(true).header_read_timeout(HEADER_READ_TIMEOUT);
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
