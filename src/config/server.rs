//! `server:`: the webhook server's limits and their defaults.

use super::ConfigError;
use super::section::Section;
use serde_yaml_ng::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Largest review body accepted by default: 7 MiB. The API server limits a stored object to
/// about 3 MiB (etcd's request limit is 1.5 MiB by default), and an UPDATE review carries both
/// `object` and `oldObject`, JSON-encoded, so 7 MiB leaves room without letting one request
/// hold unbounded memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 7 * 1024 * 1024;
/// Default limit of a request's head (request line and headers): 64 KiB. The API server sends
/// a few hundred bytes.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Smallest `server.max_header_bytes` accepted: hyper's smallest read buffer.
pub const MIN_MAX_HEADER_BYTES: usize = 8192;
/// Default limit of one review, from its headers read to its response ready (reading the body
/// and waiting for a review slot included): 4 s. Every server timeout a review can wait on
/// (this one, the body read timeout, the handshake timeout) stays below the webhook's
/// `timeoutSeconds`, 5 s in the chart (the API server's own default is 10 s, its maximum 30 s:
/// <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#timeouts>),
/// so the server gives up on a review, and frees what it holds, before the API server does.
/// `tests/faults.rs` checks these defaults against the chart's `webhook.timeoutSeconds`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// Default limit of reading one review body: 3 s, inside the request timeout. The body is read
/// before a review slot is taken, so a slow body holds only its own connection.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Default longest wait for a request's headers, idle keep-alive time included. Longer than the
/// idle timeout of the API server's HTTP client (Go's `http.Transport`, 90 s in Kubernetes), so
/// the client closes an idle connection before the server does.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Default longest TLS handshake: 3 s, below the chart's 5 s webhook timeout (see
/// [`DEFAULT_REQUEST_TIMEOUT`]): a connection slot held by a stalled handshake is one an
/// honest review may be waiting for.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Default number of reviews in progress at once (body read and answer); more wait for a slot
/// within the request timeout. Review bodies held at once are at most this x the body limit
/// (8 x 7 MiB = 56 MiB), within the chart's 128 MiB memory limit.
pub const DEFAULT_MAX_CONCURRENT_REVIEWS: usize = 8;
/// Default number of open webhook connections; beyond it, new connections wait in the kernel's
/// accept queue until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default number of open connections to the plain-HTTP probe and metrics port; beyond it, new
/// connections wait in the accept queue. The kubelet's probes and a Prometheus scrape need a
/// few; the cap keeps idle connections from using up the process's file descriptors (which
/// would stop the webhook accepting).
pub const DEFAULT_METRICS_MAX_CONNECTIONS: usize = 64;
/// Default longest wait for a request's head on the probe and metrics port, idle keep-alive
/// time included: 30 s, so an idle or half-sent connection is closed well within a minute.
/// Prometheus and the kubelet reconnect when a kept-alive connection was closed.
pub const DEFAULT_METRICS_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default `server.webhook_timeout_seconds`: 5 s, the chart's `webhook.timeoutSeconds` (the
/// Kubernetes API server's own default is 10 s; `timeoutSeconds` is 1 to 30 s, "Dynamic
/// Admission Control: Timeouts").
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `server.webhook_timeout_seconds`: the API server accepts `timeoutSeconds` up to 30.
pub const MAX_WEBHOOK_TIMEOUT_SECONDS: f64 = 30.0;
/// Default most JSON values built of one review object (`request.object`, `request.oldObject`
/// each), counting only the fields vramgate reads (`admission::review::read_member`). The
/// largest real object in `tests/fixtures/` and `deploy/examples/` builds 118; 20,000 is room
/// for a JobSet of a hundred replicated Jobs or thousands of labels, while 8 concurrent reviews at the limit
/// (two objects each, about 100 bytes a value with its `Vec` slack) build about 32 MiB at
/// most (issue 12; `benches/memory.rs` measures it).
pub const DEFAULT_MAX_OBJECT_NODES: usize = 20_000;

/// The webhook server's limits, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest review body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest request head (hyper's read buffer); larger ones get 431.
    pub max_header_bytes: usize,
    /// Longest a review may take, body read and slot wait included; then 503.
    pub request_timeout: Duration,
    /// Longest a review body may take to arrive (read before a review slot is taken); then
    /// 408.
    pub body_read_timeout: Duration,
    /// Longest wait for a request's headers (idle keep-alive included); then the connection
    /// closes.
    pub header_read_timeout: Duration,
    /// Longest TLS handshake; then the connection closes.
    pub handshake_timeout: Duration,
    /// Reviews answered at once; more wait for a slot within `request_timeout`. Also bounds
    /// the review bodies held at once to this x `max_body_bytes`.
    pub max_concurrent_reviews: usize,
    /// Open webhook connections at once; more wait in the accept queue.
    pub max_connections: usize,
    /// PEM CA bundle that webhook clients' certificates must chain to (mutual TLS); `None`: no
    /// client certificate asked for.
    pub client_ca_file: Option<PathBuf>,
    /// Open connections to the probe and metrics port at once; more wait in the accept queue.
    pub metrics_max_connections: usize,
    /// Longest wait for a request's head on the probe and metrics port (idle keep-alive
    /// included); then the connection closes.
    pub metrics_header_read_timeout: Duration,
    /// The `timeoutSeconds` of the webhook configurations: a review whose answer is ready later
    /// was already given up on by the API server, so it does not count as an admission
    /// (`vramgate_reviews_late_total` counts it instead).
    pub webhook_timeout: Duration,
    /// Most JSON values built of one review object (the fields vramgate reads); beyond it, 400.
    pub max_object_nodes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_concurrent_reviews: DEFAULT_MAX_CONCURRENT_REVIEWS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            client_ca_file: None,
            metrics_max_connections: DEFAULT_METRICS_MAX_CONNECTIONS,
            metrics_header_read_timeout: DEFAULT_METRICS_HEADER_READ_TIMEOUT,
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT,
            max_object_nodes: DEFAULT_MAX_OBJECT_NODES,
        }
    }
}

/// Reads `server:` (every key optional; read at start, a reload that changes it is logged and
/// takes effect at the next start): the limits, every problem pushed with its key path
/// (`server.max_body_bytes`).
pub(super) fn resolve(section: &Value, errs: &mut Vec<ConfigError>) -> ServerLimits {
    let mut s = Section::new("server", section, errs);
    let limits = ServerLimits {
        max_body_bytes: s.size("max_body_bytes", 1024, 64 * 1024 * 1024, DEFAULT_MAX_BODY_BYTES),
        max_header_bytes: s.size(
            "max_header_bytes",
            MIN_MAX_HEADER_BYTES as u64,
            1024 * 1024,
            DEFAULT_MAX_HEADER_BYTES,
        ),
        request_timeout: s.seconds("request_timeout_seconds", 3600.0, DEFAULT_REQUEST_TIMEOUT, ""),
        body_read_timeout: s.seconds("body_read_timeout_seconds", 3600.0, DEFAULT_BODY_READ_TIMEOUT, ""),
        header_read_timeout: s.seconds("header_read_timeout_seconds", 3600.0, DEFAULT_HEADER_READ_TIMEOUT, ""),
        handshake_timeout: s.seconds("handshake_timeout_seconds", 3600.0, DEFAULT_HANDSHAKE_TIMEOUT, ""),
        max_concurrent_reviews: s.size("max_concurrent_reviews", 1, 65_536, DEFAULT_MAX_CONCURRENT_REVIEWS),
        max_connections: s.size("max_connections", 1, 65_536, DEFAULT_MAX_CONNECTIONS),
        client_ca_file: s.path("client_ca_file", "the path of a PEM CA bundle"),
        metrics_max_connections: s.size("metrics_max_connections", 1, 65_536, DEFAULT_METRICS_MAX_CONNECTIONS),
        metrics_header_read_timeout: s.seconds(
            "metrics_header_read_timeout_seconds",
            3600.0,
            DEFAULT_METRICS_HEADER_READ_TIMEOUT,
            "",
        ),
        webhook_timeout: s.seconds(
            "webhook_timeout_seconds",
            MAX_WEBHOOK_TIMEOUT_SECONDS,
            DEFAULT_WEBHOOK_TIMEOUT,
            " (the webhook configuration's timeoutSeconds)",
        ),
        max_object_nodes: s.size("max_object_nodes", 100, 10_000_000, DEFAULT_MAX_OBJECT_NODES),
    };
    s.finish();
    limits
}
