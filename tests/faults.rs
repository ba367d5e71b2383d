//! Faults and limits of the real server on 127.0.0.1 (port 0): body, header and connection
//! limits, slow clients, review concurrency, panics, certificate files removed and restored,
//! limits fixed at start, and SIGTERM under load with the real binary. Every wait is bounded;
//! the limits are set small through the config file's `server:` section so each test takes
//! about a second.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use vramgate::admission::{self, Answer, Endpoint};
use vramgate::config::Settings;
use vramgate::server::tls::{self, SwappableCert};
use vramgate::server::{AppState, BoundAddrs, ConfigSource, ServeOptions, TlsSource, serve_tls_with, webhook_router};

/// Longest any single step may take before the test fails.
const STEP: Duration = Duration::from_secs(10);
/// A real AdmissionReview (a PyTorchJob too big for its GPUs): answered 200.
const REVIEW: &str = include_str!("../deploy/examples/review-too-big-pytorchjob.json");

use crate::common;
use crate::common::{Cert, TempDir, client_config, connect, eventually, leaf, new_cert, replace, write_pair};

/// A running server: its addresses, certificate, the trigger of its shutdown, and its task.
struct Running {
    addrs: BoundAddrs,
    cert: Cert,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
    dir: TempDir,
}

/// Starts the server with `config` as its config file.
async fn start(name: &str, config: &str) -> Running {
    let dir = TempDir::new(name);
    let cert = new_cert();
    let (cert_path, key_path) = write_pair(&dir, &cert);
    let config_path = dir.path("config.yaml");
    replace(&config_path, config);
    let opts = ServeOptions {
        listen: "127.0.0.1:0".parse().expect("address"),
        metrics_listen: "127.0.0.1:0".parse().expect("address"),
        config: ConfigSource::File(config_path),
        reload_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(2),
        ..ServeOptions::new(TlsSource::Files { cert: cert_path, key: key_path })
    };
    let common::Spawned { addrs, stop, task } = common::spawn(opts).await;
    Running { addrs, cert, stop, task, dir }
}

impl Running {
    async fn shut_down(self) {
        let _ = self.stop.send(());
        let result = tokio::time::timeout(STEP, self.task).await.expect("serve returns").expect("serve task");
        result.expect("serve ends without error");
    }

    fn client(&self) -> Arc<ClientConfig> {
        client_config(&self.cert.der, tls::PROTOCOL_VERSIONS)
    }

    /// A new TLS connection to the webhook, handshake done.
    async fn tls(&self) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        connect(self.addrs.webhook, self.client()).await.expect("handshake")
    }

    /// Asserts that the webhook still answers an honest review (after whatever the test did).
    async fn assert_still_reviews(&self) {
        assert_reviews(self.addrs.webhook, self.client()).await;
    }
}

/// The head of a POST of `len` body bytes to `path`.
fn head(path: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// What came back on a connection: the status of the first response (if any) and its body.
#[derive(Debug)]
struct Reply {
    status: Option<u16>,
    body: String,
}

/// Reads one HTTP/1.1 response (Content-Length framed) or until the peer closes, within
/// `within`; `None` if neither happened in time.
async fn read_reply(stream: &mut (impl AsyncRead + Unpin), within: Duration) -> Option<Reply> {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(reply) = parse_reply(&buf) {
            return Some(reply);
        }
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => {
                let text = String::from_utf8_lossy(&buf).into_owned();
                let status = text.split(' ').nth(1).and_then(|s| s.parse().ok());
                let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
                return Some(Reply { status, body });
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn parse_reply(buf: &[u8]) -> Option<Reply> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())?;
    (body.len() >= len).then(|| Reply { status: Some(status), body: body[..len].to_owned() })
}

/// POSTs `body` to `path` on a new connection and reads the reply.
async fn review(addr: SocketAddr, config: Arc<ClientConfig>, path: &str, body: &str) -> Reply {
    let mut tls = tokio::time::timeout(STEP, connect(addr, config)).await.expect("in time").expect("handshake");
    tls.write_all(format!("{}{body}", head(path, body.len())).as_bytes()).await.expect("write");
    read_reply(&mut tls, STEP).await.expect("a reply in time")
}

/// GETs `path` from the plain-HTTP probe server.
async fn get_plain(addr: SocketAddr, path: &str) -> Reply {
    let mut tcp = TcpStream::connect(addr).await.expect("connect to metrics");
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).await.expect("write");
    read_reply(&mut tcp, STEP).await.expect("a reply in time")
}

/// The value of the sample line `series` (name with labels) in the metrics, 0 if absent.
async fn sample(addr: SocketAddr, series: &str) -> f64 {
    let reply = get_plain(addr, "/metrics").await;
    assert_eq!(reply.status, Some(200));
    reply.body.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse::<f64>().ok()).unwrap_or(0.0)
}

/// `vramgate_review_errors_total` of `/validate` answered with HTTP `code`.
async fn validate_errors(addr: SocketAddr, code: u16) -> f64 {
    sample(addr, &format!(r#"vramgate_review_errors_total{{endpoint="validate",code="{code}"}}"#)).await
}

fn assert_json_error(reply: &Reply, status: u16) {
    assert_eq!(reply.status, Some(status), "{reply:?}");
    common::json_error_message(reply.body.as_bytes());
}

fn assert_review(reply: &Reply) {
    assert_eq!(reply.status, Some(200), "{reply:?}");
    let json: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON body");
    assert_eq!(json["kind"], "AdmissionReview", "{reply:?}");
    assert_eq!(json["response"]["allowed"], false, "the too-big job is denied: {reply:?}");
}

/// Asserts that [`REVIEW`], POSTed to `/validate` on `addr` over a new connection made with
/// `client`, is answered (and denied) as [`assert_review`] checks.
async fn assert_reviews(addr: SocketAddr, client: Arc<ClientConfig>) {
    assert_review(&review(addr, client, "/validate", REVIEW).await);
}

/// One fault: a server started with `config` gets `fault` (which asserts what the fault must
/// get), must still answer an honest review afterwards, and shuts down.
async fn fault_then_review(name: &str, config: &str, fault: impl AsyncFnOnce(&Running)) {
    let server = start(name, config).await;
    fault(&server).await;
    server.assert_still_reviews().await;
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_configured_limit_is_a_counted_413() {
    let server = start("body-limit", "server: {max_body_bytes: 4096}\n").await;
    let reply = review(server.addrs.webhook, server.client(), "/validate", &" ".repeat(4097)).await;
    assert_json_error(&reply, 413);
    assert!(reply.body.contains("4096 bytes"), "{reply:?}");
    server.assert_still_reviews().await;
    assert_eq!(validate_errors(server.addrs.metrics, 413).await, 1.0);
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_is_a_counted_408_at_the_body_read_timeout() {
    fault_then_review("body-timeout", "server: {body_read_timeout_seconds: 0.3}\n", async |server| {
        let mut tls = server.tls().await;
        tls.write_all(format!("{}{}", head("/validate", REVIEW.len()), &REVIEW[..100]).as_bytes())
            .await
            .expect("write");
        let started = Instant::now();
        let reply = read_reply(&mut tls, STEP).await.expect("a reply in time");
        assert_json_error(&reply, 408);
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        assert_eq!(validate_errors(server.addrs.metrics, 408).await, 1.0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_max_header_bytes_is_a_431() {
    fault_then_review("header-limit", "server: {max_header_bytes: 8192}\n", async |server| {
        let mut tls = server.tls().await;
        let big = format!(
            "POST /validate HTTP/1.1\r\nHost: localhost\r\nX-Padding: {}\r\nContent-Length: 2\r\n\r\n{{}}",
            "a".repeat(20_000)
        );
        // The server may close while the head is still being written.
        let _ = tls.write_all(big.as_bytes()).await;
        let reply = read_reply(&mut tls, STEP).await.expect("a reply or a close in time");
        assert!(matches!(reply.status, Some(431) | None), "{reply:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_are_cut_off_at_the_header_read_timeout() {
    fault_then_review("slowloris", "server: {header_read_timeout_seconds: 0.3}\n", async |server| {
        let mut tls = server.tls().await;
        tls.write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\n").await.expect("write");
        let started = Instant::now();
        // One header byte every 100 ms: never a whole head.
        let mut closed = false;
        for _ in 0..30 {
            if tls.write_all(b"X").await.is_err() || tls.flush().await.is_err() {
                closed = true;
                break;
            }
            let mut byte = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(100), tls.read(&mut byte)).await {
                Ok(Ok(0) | Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(_)) => {
                    // hyper may answer 408 before closing; either way the connection ends.
                    closed = true;
                    break;
                }
                Err(_) => {}
            }
        }
        assert!(closed, "the slow client was still connected after {:?}", started.elapsed());
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_the_handshake_is_dropped_at_the_handshake_timeout() {
    fault_then_review("handshake-timeout", "server: {handshake_timeout_seconds: 0.3}\n", async |server| {
        let mut tcp = TcpStream::connect(server.addrs.webhook).await.expect("connect");
        tcp.write_all(&[0x16, 0x03, 0x01]).await.expect("the start of a record, then nothing");
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf)).await.expect("closed in time");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    })
    .await;
}

/// Takes 2 s over a body of `slow` (a review that hogs its slot; the answer is synchronous, so
/// the request timeout cannot cut it short); answers every other review as the server does.
fn slow_on_slow(settings: &Settings, endpoint: Endpoint, body: &[u8]) -> Answer {
    if body == b"slow" {
        std::thread::sleep(Duration::from_secs(2));
    }
    admission::review(settings, None, endpoint, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn reviews_beyond_max_concurrent_reviews_wait_and_get_a_503_at_the_request_timeout() {
    let settings =
        Settings::from_yaml("server: {max_concurrent_reviews: 1, request_timeout_seconds: 0.3}\n").expect("settings");
    let state = AppState::with_answer(settings, slow_on_slow);
    let (addr, cert, stop, task) = serve_router(webhook_router(state.clone())).await;
    // A holds the only review slot for 2 s.
    let config = client_config(&cert.der, tls::PROTOCOL_VERSIONS);
    let slow = tokio::spawn(async move {
        let started = Instant::now();
        (review(addr, config, "/validate", "slow").await, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // B waits for the slot until its request timeout.
    let started = Instant::now();
    let b = review(addr, client_config(&cert.der, tls::PROTOCOL_VERSIONS), "/validate", REVIEW).await;
    assert_json_error(&b, 503);
    assert!(b.body.contains("request timeout"), "{b:?}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500), "{waited:?}");
    // A finishes (a 400: "slow" is no review); then the slot is free again.
    let (a, took) = tokio::time::timeout(STEP, slow).await.expect("A in time").expect("task");
    assert_json_error(&a, 400);
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert_reviews(addr, client_config(&cert.der, tls::PROTOCOL_VERSIONS)).await;
    let metrics = state.metrics().encode().expect("metrics");
    assert!(metrics.contains(r#"vramgate_review_errors_total{endpoint="validate",code="503"} 1"#), "{metrics}");
    let _ = stop.send(());
    tokio::time::timeout(STEP, task).await.expect("stops").expect("task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_max_connections_wait_until_one_closes() {
    let server = start("connections", "server: {max_connections: 1}\n").await;
    let a = connect(server.addrs.webhook, server.client()).await.expect("handshake");
    // B's handshake cannot start while A holds the only connection slot.
    let (addr, config) = (server.addrs.webhook, server.client());
    let b = tokio::spawn(async move { connect(addr, config).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b.is_finished(), "a second connection was served beyond max_connections: 1");
    drop(a);
    let mut b = tokio::time::timeout(STEP, b).await.expect("B served once A closed").expect("task").expect("handshake");
    b.write_all(format!("{}{REVIEW}", head("/validate", REVIEW.len())).as_bytes()).await.expect("write");
    assert_review(&read_reply(&mut b, STEP).await.expect("B's reply"));
    drop(b);
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_does_not_change_the_limits_fixed_at_start() {
    let server = start("limits-fixed", "server: {max_body_bytes: 4096}\n").await;
    let config = server.dir.path("config.yaml");
    replace(&config, "server: {max_body_bytes: 1048576}\npolicy: {mode: warn}\n");
    eventually("the config reload", || async {
        sample(server.addrs.metrics, r#"vramgate_config_reloads_total{result="success"}"#).await >= 1.0
    })
    .await;
    let reply = review(server.addrs.webhook, server.client(), "/validate", &" ".repeat(8192)).await;
    assert_json_error(&reply, 413);
    server.shut_down().await;
}

/// Issue 12, item 2: four clients trickling their bodies, more than `max_concurrent_reviews`,
/// must not hold the review slots; an honest review is answered within the chart's webhook
/// timeout. The body and request timeouts are set longer than that (the old defaults), so
/// only the order of body read and slot decides. (Before the fix a slot was taken before the
/// body was read: the honest review waited behind the slow bodies for 10 s or more.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_do_not_hold_the_review_slots_honest_reviews_wait_for() {
    let server = start(
        "slow-bodies",
        "server: {max_concurrent_reviews: 2, body_read_timeout_seconds: 10, request_timeout_seconds: 30}\n",
    )
    .await;
    let done = Arc::new(AtomicBool::new(false));
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut tls = server.tls().await;
        tls.write_all(format!("{}{}", head("/validate", REVIEW.len()), &REVIEW[..1]).as_bytes()).await.expect("write");
        let done = done.clone();
        // One body byte every 100 ms, for at most 6 s, until the test is done.
        slow.push(tokio::spawn(async move {
            for i in 1..60 {
                if done.load(Ordering::SeqCst) || tls.write_all(&REVIEW.as_bytes()[i..=i]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let honest = tokio::time::timeout(
        chart_webhook_timeout(),
        review(server.addrs.webhook, server.client(), "/validate", REVIEW),
    )
    .await
    .expect("the honest review is answered within the chart's webhook timeout");
    assert_review(&honest);
    done.store(true, Ordering::SeqCst);
    for task in slow {
        tokio::time::timeout(STEP, task).await.expect("the slow client stops").expect("task");
    }
    server.shut_down().await;
}

/// `webhook.timeoutSeconds` in the chart's values.yaml.
fn chart_webhook_timeout() -> Duration {
    let values: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../charts/vramgate/values.yaml")).expect("values.yaml");
    Duration::from_secs(values["webhook"]["timeoutSeconds"].as_u64().expect("webhook.timeoutSeconds"))
}

/// Issue 12, item 2: every server timeout a review can wait on (the whole review, its body, the
/// handshake of its connection) is below the webhook timeout the chart sets, with the config
/// the chart renders (its `config:` values, `source` left out, as `vramgate.configFile` does).
#[test]
fn the_review_path_timeouts_are_below_the_charts_webhook_timeout() {
    let values: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../charts/vramgate/values.yaml")).expect("values.yaml");
    let mut config = values["config"].clone();
    config.as_mapping_mut().expect("config is a mapping").remove("source");
    let settings = Settings::from_yaml(&serde_yaml_ng::to_string(&config).expect("yaml")).expect("the chart's config");
    let webhook = chart_webhook_timeout();
    let limits = &settings.server;
    for (name, timeout) in [
        ("request_timeout", limits.request_timeout),
        ("body_read_timeout", limits.body_read_timeout),
        ("handshake_timeout", limits.handshake_timeout),
    ] {
        assert!(timeout < webhook, "server.{name} {timeout:?} is not below webhook.timeoutSeconds {webhook:?}");
    }
    assert!(limits.body_read_timeout < limits.request_timeout, "a slow body gets its own 408 first");
}

/// Issue 12, item 11: the probe and metrics port holds at most `metrics_max_connections` open
/// connections, closes idle ones at `metrics_header_read_timeout_seconds`, and the webhook
/// keeps accepting meanwhile. (Before the fix the port had neither: the third connection was
/// served at once and idle ones stayed open for good.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_port_caps_its_connections_and_closes_idle_ones() {
    let server =
        start("metrics-idle", "server: {metrics_max_connections: 2, metrics_header_read_timeout_seconds: 1}\n").await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(server.addrs.metrics).await.expect("connect"));
    }
    // Beyond the cap: a probe waits while the two idle connections hold the slots.
    let addr = server.addrs.metrics;
    let probe = tokio::spawn(async move { get_plain(addr, "/healthz").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!probe.is_finished(), "a connection was served beyond metrics_max_connections: 2");
    // The webhook still accepts and answers.
    server.assert_still_reviews().await;
    // The idle connections are closed by the server at the header read timeout...
    for tcp in &mut idle {
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout(STEP, tcp.read(&mut buf)).await.expect("closed by the server in time") {
                Ok(0) | Err(_) => break,
                Ok(_) => {} // hyper may answer 408 before closing
            }
        }
    }
    // ...and the waiting probe is then served.
    let reply = tokio::time::timeout(STEP, probe).await.expect("the probe in time").expect("task");
    assert_eq!(reply.status, Some(200), "{reply:?}");
    assert_eq!(reply.body, "ok");
    server.shut_down().await;
}

/// Panics on a body of `boom`; answers every other review as the server does.
fn panics_on_boom(settings: &Settings, endpoint: Endpoint, body: &[u8]) -> Answer {
    assert!(body != b"boom", "a bug in the review");
    admission::review(settings, None, endpoint, body)
}

/// Serves `router` over TLS on 127.0.0.1 with the default limits; returns its address, its
/// certificate and the shutdown trigger.
async fn serve_router(router: Router) -> (SocketAddr, Cert, oneshot::Sender<()>, JoinHandle<()>) {
    let cert = new_cert();
    let loaded = tls::parse_pem_pair(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).expect("pair");
    let config = Arc::new(tls::server_config(Arc::new(SwappableCert::new(loaded.certified))).expect("config"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        serve_tls_with(listener, config, router, shutdown, Duration::from_secs(1), &Settings::default().server).await;
    });
    (addr, cert, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_keeps_serving_after_a_panicking_review() {
    let state = AppState::with_answer(Settings::default(), panics_on_boom);
    let (addr, cert, stop, task) = serve_router(webhook_router(state.clone())).await;
    let mut tls = connect(addr, client_config(&cert.der, tls::PROTOCOL_VERSIONS)).await.expect("handshake");
    // Same keep-alive connection: the 500, then a real review.
    tls.write_all(format!("{}boom", head("/validate", 4)).as_bytes()).await.expect("write");
    assert_json_error(&read_reply(&mut tls, STEP).await.expect("reply"), 500);
    tls.write_all(format!("{}{REVIEW}", head("/validate", REVIEW.len())).as_bytes()).await.expect("write");
    assert_review(&read_reply(&mut tls, STEP).await.expect("reply"));
    // And on new connections.
    for _ in 0..3 {
        assert_json_error(
            &review(addr, client_config(&cert.der, tls::PROTOCOL_VERSIONS), "/mutate", "boom").await,
            500,
        );
        assert_reviews(addr, client_config(&cert.der, tls::PROTOCOL_VERSIONS)).await;
    }
    let _ = stop.send(());
    tokio::time::timeout(STEP, task).await.expect("stops").expect("task");
}

async fn explode() -> axum::http::StatusCode {
    panic!("a bug in the connection layer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_outside_the_review_ends_that_connection_only() {
    // A handler panicking outside `catch_unwind`: the connection task unwinds.
    let state = AppState::new(Settings::default());
    let router = webhook_router(state).route("/explode", post(explode));
    let (addr, cert, stop, task) = serve_router(router).await;
    for _ in 0..3 {
        let mut tls = connect(addr, client_config(&cert.der, tls::PROTOCOL_VERSIONS)).await.expect("handshake");
        tls.write_all(format!("{}{{}}", head("/explode", 2)).as_bytes()).await.expect("write");
        let reply = read_reply(&mut tls, STEP).await.expect("closed in time");
        assert_eq!(reply.status, None, "{reply:?}");
        assert_reviews(addr, client_config(&cert.der, tls::PROTOCOL_VERSIONS)).await;
    }
    let _ = stop.send(());
    tokio::time::timeout(STEP, task).await.expect("stops").expect("task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_certificate_files_keep_the_last_good_one_until_good_files_return() {
    let server = start("cert-removed", "policy: {mode: enforce}\n").await;
    let cert_path = server.dir.path("tls.crt");
    let key_path = server.dir.path("tls.key");
    let failure = r#"vramgate_certificate_reloads_total{result="failure"}"#;
    let success = r#"vramgate_certificate_reloads_total{result="success"}"#;

    // Both files removed: one failure counted, the certificate in memory still served.
    std::fs::remove_file(&cert_path).expect("remove cert");
    std::fs::remove_file(&key_path).expect("remove key");
    eventually("the removal to be counted", || async { sample(server.addrs.metrics, failure).await >= 1.0 }).await;
    let conn = connect(server.addrs.webhook, server.client()).await.expect("the last good certificate");
    assert_eq!(leaf(&conn), server.cert.der);
    drop(conn);
    server.assert_still_reviews().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sample(server.addrs.metrics, failure).await, 1.0, "counted once, not once per poll");
    assert_eq!(get_plain(server.addrs.metrics, "/readyz").await.status, Some(200));

    // Only the certificate comes back: still a failure (no key).
    replace(&cert_path, &server.cert.cert_pem);
    eventually("the half pair to be counted", || async { sample(server.addrs.metrics, failure).await >= 2.0 }).await;

    // A new good pair: served.
    let fresh = new_cert();
    replace(&key_path, &fresh.key_pem);
    replace(&cert_path, &fresh.cert_pem);
    eventually("the new pair to be loaded", || async { sample(server.addrs.metrics, success).await >= 1.0 }).await;
    let conn = connect(server.addrs.webhook, client_config(&fresh.der, tls::PROTOCOL_VERSIONS))
        .await
        .expect("the new certificate");
    assert_eq!(leaf(&conn), fresh.der);
    drop(conn);
    assert_review(
        &review(server.addrs.webhook, client_config(&fresh.der, tls::PROTOCOL_VERSIONS), "/validate", REVIEW).await,
    );
    server.shut_down().await;
}

// The real binary as a child process: in faults/process.rs.
mod process;

/// `REVIEW` with `member` inserted first in its object's `spec`.
fn review_with_spec_member(member: &str) -> String {
    REVIEW.replacen("\"spec\": {", &format!("\"spec\": {{{member},"), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worst_case_bodies_are_decided_and_read_members_over_the_value_limit_are_a_counted_400() {
    // Issue 12: ~7 MiB reviews whose object holds `[0,0,...]` or `[{},{},...]` under a member
    // vramgate never reads are decided as the review without it (denied: the PyTorchJob is too
    // big), concurrently. Peak memory under 8 of them is measured by `benches/memory.rs`.
    assert!(REVIEW.contains("\"spec\": {"), "the example review's layout");
    // The default limits (`server.max_object_nodes`: 20,000), but time: an unoptimised build on
    // a busy machine may read two 7 MiB bodies slower than the default 10 s.
    let server = start("memory", "server: {body_read_timeout_seconds: 120, request_timeout_seconds: 300}\n").await;
    let unread = |item: &str| {
        let n = (7 * 1024 * 1024 - REVIEW.len() - 1024) / (item.len() + 1);
        review_with_spec_member(&format!("\"x\": [{}]", vec![item; n].join(",")))
    };
    let tasks: Vec<_> = [unread("0"), unread("{}")]
        .into_iter()
        .map(|body| {
            let (addr, config) = (server.addrs.webhook, server.client());
            tokio::spawn(async move {
                let mut tls = connect(addr, config).await.expect("handshake");
                tls.write_all(format!("{}{body}", head("/validate", body.len())).as_bytes()).await.expect("write");
                // `write_all` returns once rustls holds the last bytes; without a flush they can
                // stay there while the server waits for them (a 408 after 120 s, seen twice).
                tls.flush().await.expect("flush");
                read_reply(&mut tls, Duration::from_secs(300)).await.expect("a reply in time")
            })
        })
        .collect();
    for task in tasks {
        assert_review(&task.await.expect("task"));
    }
    // 30,000 annotations are read (built) values: past the limit, a 400 that names it.
    let annotations: Vec<String> = (0..30_000).map(|i| format!("\"example.com/a{i}\": \"\"")).collect();
    let body = REVIEW.replacen("\"annotations\": {", &format!("\"annotations\": {{{},", annotations.join(",")), 1);
    assert_ne!(body, REVIEW, "the example review has annotations");
    let reply = review(server.addrs.webhook, server.client(), "/validate", &body).await;
    assert_json_error(&reply, 400);
    assert!(reply.body.contains("more than 20000 JSON values"), "{reply:?}");
    assert!(reply.body.contains("server.max_object_nodes"), "{reply:?}");
    assert_eq!(validate_errors(server.addrs.metrics, 400).await, 1.0);
    server.shut_down().await;
}

/// SECURITY.md's memory promise: review bodies held at once (being read or answered) take their
/// bytes from one budget of `max_concurrent_reviews` x `max_body_bytes`. Here the budget is one
/// body of 8 KiB: a client that sent 8,000 bytes of a body and stalls holds it, so an honest
/// review's body waits until the stalled one is cut off (408) and its bytes are released; the
/// honest review is then answered. Without the budget the honest review would be answered at
/// once, while the stalled body still held its bytes (so its 408 would not be there yet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_bytes_held_at_once_are_bounded_by_the_body_budget() {
    let server = start(
        "body-budget",
        "server: {max_body_bytes: 8192, max_concurrent_reviews: 1, body_read_timeout_seconds: 1, \
         request_timeout_seconds: 4}\n",
    )
    .await;
    let mut stalled = connect(server.addrs.webhook, server.client()).await.expect("handshake");
    stalled.write_all(format!("{}{}", head("/validate", 8192), " ".repeat(8000)).as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let honest = review(server.addrs.webhook, server.client(), "/validate", REVIEW).await;
    assert_review(&honest);
    // The stalled body had been cut off before the honest one could be read.
    let cut = read_reply(&mut stalled, Duration::from_millis(200))
        .await
        .expect("the stalled body was refused before the honest review was read");
    assert_json_error(&cut, 408);
    server.shut_down().await;
}
