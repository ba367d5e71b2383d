//! The real server on 127.0.0.1 (port 0): TLS handshakes, certificate and config reload,
//! protocol versions, start-up errors and graceful shutdown. Every wait is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use vramgate::server::tls::{self, PROTOCOL_VERSIONS};
use vramgate::server::{BoundAddrs, ConfigSource, ServeOptions, TlsSource, serve_with};

/// Longest any single step may take before the test fails.
const STEP: Duration = Duration::from_secs(10);

use crate::common;
use crate::common::{TempDir, client_config, eventually, leaf, new_cert, replace, write_pair};

fn options(tls: TlsSource) -> ServeOptions {
    ServeOptions {
        listen: "127.0.0.1:0".parse().expect("address"),
        metrics_listen: "127.0.0.1:0".parse().expect("address"),
        reload_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(2),
        ..ServeOptions::new(tls)
    }
}

/// A running server: its addresses, the trigger of its shutdown, and its task.
struct Running {
    addrs: BoundAddrs,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

async fn start(opts: ServeOptions) -> Running {
    let common::Spawned { addrs, stop, task } = common::spawn(opts).await;
    Running { addrs, stop, task }
}

impl Running {
    /// Triggers shutdown and returns how long `serve_with` took to return.
    async fn shut_down(self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.send(());
        let result = tokio::time::timeout(STEP, self.task).await.expect("serve returns").expect("serve task");
        result.expect("serve ends without error");
        started.elapsed()
    }
}

/// [`common::connect`], within [`STEP`].
async fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
    tokio::time::timeout(STEP, common::connect(addr, config)).await.expect("handshake finishes in time")
}

/// POSTs `body` to `path` over an established TLS connection; returns status, content type
/// and body.
async fn post(tls: TlsStream<TcpStream>, path: &str, body: &'static str) -> (u16, String, Vec<u8>) {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.expect("HTTP handshake");
    let driver = tokio::spawn(connection);
    let request = Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("request");
    let response = tokio::time::timeout(STEP, sender.send_request(request)).await.expect("in time").expect("response");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    driver.abort();
    (status, content_type, body)
}

/// GETs `path` from the plain-HTTP probe server.
async fn get_plain(addr: SocketAddr, path: &str) -> (u16, String) {
    let tcp = TcpStream::connect(addr).await.expect("connect to metrics");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
    let driver = tokio::spawn(connection);
    let request = Request::get(path).header("host", "localhost").body(Empty::<Bytes>::new()).expect("request");
    let response = tokio::time::timeout(STEP, sender.send_request(request)).await.expect("in time").expect("response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    driver.abort();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The value of the sample line `series` (name with labels) in the metrics, 0 if absent.
async fn sample(addr: SocketAddr, series: &str) -> f64 {
    let (status, text) = get_plain(addr, "/metrics").await;
    assert_eq!(status, 200);
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse::<f64>().ok()).unwrap_or(0.0)
}

/// The sample of `vramgate_{family}_reloads_total` with `result` (`success` or `failure`).
fn reloads(family: &str, result: &str) -> String {
    format!(r#"vramgate_{family}_reloads_total{{result="{result}"}}"#)
}

/// Runs `serve_with(opts)`, which must refuse to start within [`STEP`]; its error.
async fn refused_at_start(opts: ServeOptions) -> anyhow::Error {
    let (bound, _) = oneshot::channel();
    tokio::time::timeout(STEP, serve_with(opts, std::future::pending::<()>(), bound))
        .await
        .expect("fails fast")
        .expect_err("refused at start")
}

/// Starts a server on `cert`, written into `dir` ([`write_pair`]), that reads `dir/config.yaml`
/// (written with `config` first) if `config` is given; returns it and the options it was
/// started with.
async fn start_in(dir: &TempDir, cert: &common::Cert, config: Option<&str>) -> (Running, ServeOptions) {
    let (cert, key) = write_pair(dir, cert);
    let mut opts = options(TlsSource::Files { cert, key });
    if let Some(config) = config {
        let config_path = dir.path("config.yaml");
        replace(&config_path, config);
        opts.config = ConfigSource::File(config_path);
    }
    (start(opts.clone()).await, opts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_reviews_over_tls_and_reloads_the_certificate() {
    let dir = TempDir::new("reload");
    let a = new_cert();
    let (cert, key) = write_pair(&dir, &a);
    let server = start(options(TlsSource::Files { cert: cert.clone(), key: key.clone() })).await;
    let both = [&rustls::version::TLS13, &rustls::version::TLS12];

    // Cert A: a review goes through, with ALPN http/1.1.
    let conn = connect(server.addrs.webhook, client_config(&a.der, &both)).await.expect("handshake trusting A");
    assert_eq!(leaf(&conn), a.der);
    assert_eq!(conn.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (status, content_type, body) = post(conn, "/validate", "{}").await;
    assert!(status == 200 || status == 400, "{status}");
    assert_eq!(content_type, "application/json");
    serde_json::from_slice::<serde_json::Value>(&body).expect("JSON body");
    let (status, _) = get_plain(server.addrs.metrics, "/readyz").await;
    assert_eq!(status, 200);

    // Cert B (another key) replaces A on disk: served after the next poll.
    let b = new_cert();
    write_pair(&dir, &b);
    let trust_b = client_config(&b.der, &both);
    eventually("certificate B to be served", || {
        let (trust_b, b_der, addr) = (trust_b.clone(), b.der.clone(), server.addrs.webhook);
        async move { connect(addr, trust_b).await.is_ok_and(|c| leaf(&c) == b_der) }
    })
    .await;
    assert!(sample(server.addrs.metrics, &reloads("certificate", "success")).await >= 1.0);
    let not_after = sample(server.addrs.metrics, "vramgate_certificate_not_after_timestamp_seconds").await;
    assert!(not_after > 1_600_000_000.0, "{not_after}");

    // A corrupt certificate is refused: B stays in use, the failure is counted.
    let failure = &reloads("certificate", "failure");
    let failures_before = sample(server.addrs.metrics, failure).await;
    replace(&cert, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    eventually("the corrupt certificate to be counted as a failure", || async {
        sample(server.addrs.metrics, failure).await > failures_before
    })
    .await;
    let conn = connect(server.addrs.webhook, trust_b.clone()).await.expect("B still served");
    assert_eq!(leaf(&conn), b.der);
    let (status, _, _) = post(conn, "/mutate", "{}").await;
    assert!(status == 200 || status == 400, "{status}");

    // A key that does not match the certificate is refused too.
    let c = new_cert();
    replace(&key, &c.key_pem);
    replace(&cert, &b.cert_pem);
    let failures_before = sample(server.addrs.metrics, failure).await;
    replace(&key, &a.key_pem);
    eventually("the mismatched key to be counted as a failure", || async {
        sample(server.addrs.metrics, failure).await > failures_before
    })
    .await;
    let conn = connect(server.addrs.webhook, trust_b).await.expect("B still served");
    assert_eq!(leaf(&conn), b.der);

    let took = server.shut_down().await;
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tls_1_2_and_1_3_are_offered() {
    assert_eq!(
        PROTOCOL_VERSIONS.iter().map(|v| v.version).collect::<Vec<_>>(),
        [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]
    );

    let dir = TempDir::new("versions");
    let a = new_cert();
    let (server, _) = start_in(&dir, &a, None).await;

    for (version, expected) in
        [(&rustls::version::TLS12, ProtocolVersion::TLSv1_2), (&rustls::version::TLS13, ProtocolVersion::TLSv1_3)]
    {
        let conn = connect(server.addrs.webhook, client_config(&a.der, &[version])).await.expect("handshake");
        assert_eq!(conn.get_ref().1.protocol_version(), Some(expected));
    }

    // A TLS 1.1 ClientHello (RFC 4346 §7.4.1.2) with no supported_versions extension: the
    // server answers with a protocol_version alert, never a ServerHello.
    let mut hello = vec![0x03, 0x02]; // client_version: TLS 1.1
    hello.extend([0x42; 32]); // random
    hello.push(0); // session_id: empty
    hello.extend([0x00, 0x04, 0x00, 0x2f, 0x00, 0x35]); // TLS_RSA_WITH_AES_{128,256}_CBC_SHA
    hello.extend([0x01, 0x00]); // compression: null
    // signature_algorithms (ecdsa_secp256r1_sha256): rustls wants it before it looks at the
    // version, so with it the refusal below is the version check's.
    hello.extend([0x00, 0x08, 0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03]);
    let mut handshake = vec![0x01, 0x00, 0x00, u8::try_from(hello.len()).expect("short")]; // ClientHello
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x02, 0x00, u8::try_from(handshake.len()).expect("short")];
    record.extend(handshake);
    let mut tcp = TcpStream::connect(server.addrs.webhook).await.expect("connect");
    tcp.write_all(&record).await.expect("send ClientHello");
    let mut reply = Vec::new();
    tokio::time::timeout(STEP, tcp.read_to_end(&mut reply)).await.expect("server answers in time").expect("read");
    assert_eq!(reply.first(), Some(&0x15), "expected an alert record, got {reply:02x?}");
    // Alert: level fatal (2), description protocol_version (70).
    assert_eq!(reply.get(5..7), Some(&[0x02, 70][..]), "{reply:02x?}");

    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_serve_within_the_grace_period() {
    let dir = TempDir::new("shutdown");
    let a = new_cert();
    let (server, _) = start_in(&dir, &a, None).await;
    let both = [&rustls::version::TLS13, &rustls::version::TLS12];

    // An idle keep-alive connection (a request served, the connection left open) and a
    // connection stuck before its handshake must not hold up the exit.
    let conn = connect(server.addrs.webhook, client_config(&a.der, &both)).await.expect("handshake");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(conn)).await.expect("HTTP");
    let driver = tokio::spawn(connection);
    let request = Request::post("/validate").header("host", "localhost").body(Full::new(Bytes::from_static(b"{}")));
    let response = sender.send_request(request.expect("request")).await.expect("response");
    response.into_body().collect().await.expect("body");
    let silent = TcpStream::connect(server.addrs.webhook).await.expect("connect");

    let metrics = server.addrs.metrics;
    let took = server.shut_down().await;
    assert!(took < Duration::from_secs(2) + Duration::from_millis(500), "took {took:?} with a 2 s grace");
    // The keep-alive connection was closed by the server.
    tokio::time::timeout(STEP, driver).await.expect("client connection closed").expect("driver task").ok();
    drop(silent);
    assert!(TcpStream::connect(metrics).await.is_err(), "probe server still listening");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_is_reloaded_and_a_bad_one_kept_out() {
    let dir = TempDir::new("config");
    let (server, _) = start_in(&dir, &new_cert(), Some("policy: {mode: enforce}\n")).await;
    let config = dir.path("config.yaml");
    let metrics = server.addrs.metrics;
    let (failure, success) = (&reloads("config", "failure"), &reloads("config", "success"));
    let loaded_at = sample(metrics, "vramgate_config_last_reload_success_timestamp_seconds").await;
    assert!(loaded_at > 1_600_000_000.0, "{loaded_at}");

    replace(&config, "policy: [this is not a mapping\n");
    eventually("the bad config to be counted", || async { sample(metrics, failure).await >= 1.0 }).await;
    assert_eq!(sample(metrics, success).await, 0.0);
    assert_eq!(get_plain(metrics, "/readyz").await.0, 200, "a bad reload does not make the server unready");

    replace(&config, "# back to the defaults\n{}\n");
    eventually("the good config to be loaded", || async { sample(metrics, success).await >= 1.0 }).await;
    assert_eq!(sample(metrics, failure).await, 1.0, "one failure per bad file, not one per poll");

    server.shut_down().await;
}

/// A real AdmissionReview (a PyTorchJob too big for its GPUs): denied under `enforce`, allowed
/// under `warn`.
const TOO_BIG: &str = include_str!("../deploy/examples/review-too-big-pytorchjob.json");

/// `response.allowed` of `TOO_BIG` reviewed over a new connection.
async fn too_big_allowed(addr: SocketAddr, trusted: &CertificateDer<'static>) -> bool {
    let conn = connect(addr, client_config(trusted, PROTOCOL_VERSIONS)).await.expect("handshake");
    let (status, _, body) = post(conn, "/validate", TOO_BIG).await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    json["response"]["allowed"].as_bool().expect("allowed")
}

/// Issue 12, item 10: a config file emptied (or left with comments only) is refused, not taken
/// for the built-in defaults: the policy in force stays, and a failure is counted. At start, an
/// explicit config file that says nothing is an error. (Before the fix both loaded the
/// defaults, and the reload counted as a success.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_says_nothing_is_refused_on_reload_and_at_start() {
    let dir = TempDir::new("empty-config");
    let a = new_cert();
    let (server, opts) = start_in(&dir, &a, Some("policy: {mode: warn}\n")).await;
    let config = dir.path("config.yaml");
    let metrics = server.addrs.metrics;
    let (failure, success) = (&reloads("config", "failure"), &reloads("config", "success"));
    assert!(too_big_allowed(server.addrs.webhook, &a.der).await, "warn allows");

    replace(&config, "# all settings removed\n");
    eventually("the comment-only config to be refused", || async { sample(metrics, failure).await >= 1.0 }).await;
    replace(&config, "");
    eventually("the empty config to be refused", || async { sample(metrics, failure).await >= 2.0 }).await;
    assert_eq!(sample(metrics, success).await, 0.0);
    assert!(too_big_allowed(server.addrs.webhook, &a.der).await, "the warn policy is still in force");
    server.shut_down().await;

    let error = refused_at_start(opts).await;
    assert!(format!("{error:#}").contains("the config is empty"), "{error:#}");
}

/// A self-signed certificate for localhost valid from `not_before` to `not_after` (Unix
/// seconds).
fn cert_valid(not_before: i64, not_after: i64) -> common::Cert {
    let at =
        |unix: i64| rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(u64::try_from(unix).expect("after 1970"));
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
    params.not_before = at(not_before);
    params.not_after = at(not_after);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("certificate");
    common::Cert { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().clone() }
}

fn unix_now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
        .expect("seconds")
}

/// Issue 12, item 10: an expired or not-yet-valid pair does not replace a valid one on reload;
/// the refusal is counted. A not-yet-valid pair is served once its notBefore passes. At start,
/// an expired pair is an error. (Before the fix any pair that parsed was served and counted as
/// a success.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_outside_its_validity_period_is_not_served() {
    let dir = TempDir::new("cert-validity");
    let good = new_cert();
    let (server, opts) = start_in(&dir, &good, None).await;
    let metrics = server.addrs.metrics;
    let (failure, success) = (&reloads("certificate", "failure"), &reloads("certificate", "success"));
    let now = unix_now();

    let expired = cert_valid(now - 7 * 86_400, now - 86_400);
    write_pair(&dir, &expired);
    eventually("the expired pair to be refused", || async { sample(metrics, failure).await >= 1.0 }).await;
    let conn = connect(server.addrs.webhook, client_config(&good.der, PROTOCOL_VERSIONS)).await.expect("handshake");
    assert_eq!(leaf(&conn), good.der, "the valid certificate is still served");
    drop(conn);

    let later = cert_valid(now + 365 * 86_400, now + 730 * 86_400);
    write_pair(&dir, &later);
    eventually("the future pair to be refused", || async { sample(metrics, failure).await >= 2.0 }).await;
    let conn = connect(server.addrs.webhook, client_config(&good.der, PROTOCOL_VERSIONS)).await.expect("handshake");
    assert_eq!(leaf(&conn), good.der, "the valid certificate is still served");
    drop(conn);
    assert_eq!(sample(metrics, success).await, 0.0);

    // Valid three seconds from now: refused first, then served once valid, without a file change.
    let soon = cert_valid(unix_now() + 3, now + 86_400);
    write_pair(&dir, &soon);
    eventually("the pair valid soon to be refused", || async { sample(metrics, failure).await >= 3.0 }).await;
    eventually("the pair to be served once valid", || async { sample(metrics, success).await >= 1.0 }).await;
    let conn = connect(server.addrs.webhook, client_config(&soon.der, PROTOCOL_VERSIONS)).await.expect("handshake");
    assert_eq!(leaf(&conn), soon.der);
    drop(conn);
    server.shut_down().await;

    write_pair(&dir, &expired);
    let error = refused_at_start(opts).await;
    assert!(format!("{error:#}").contains("expired"), "{error:#}");
}

/// Issue 12, item 13: `serve --dev` refuses a certificate directory that others can write to
/// or that another user owns (the default is in the shared temporary directory), and creates
/// its own with mode 0700. (Before the fix any existing directory was used.)
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_certificate_directory_others_could_tamper_with_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("dev-unsafe");
    let certs = dir.0.join("certs");
    std::fs::create_dir(&certs).expect("mkdir");
    for mode in [0o777, 0o1777, 0o770] {
        std::fs::set_permissions(&certs, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let error = refused_at_start(options(TlsSource::Dev { dir: certs.clone() })).await;
        assert!(format!("{error:#}").contains("writable by group or others"), "{mode:o}: {error:#}");
        assert!(!certs.join(tls::DEV_KEY_FILE).exists(), "no key written into an unsafe directory");
    }
    // Another user's directory (only checkable as root, who can give it away).
    std::fs::set_permissions(&certs, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    if std::os::unix::fs::chown(&certs, Some(65_534), None).is_ok() {
        let error = refused_at_start(options(TlsSource::Dev { dir: certs.clone() })).await;
        assert!(format!("{error:#}").contains("belongs to user id 65534"), "{error:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_certificate_is_generated_and_served() {
    let dir = TempDir::new("dev");
    let server = start(options(TlsSource::Dev { dir: dir.0.join("certs") })).await;
    let pem = std::fs::read(dir.0.join("certs").join(tls::DEV_CERT_FILE)).expect("tls.crt written");
    let der = CertificateDer::pem_slice_iter(&pem).next().expect("a certificate").expect("PEM");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = std::fs::metadata(dir.0.join("certs").join(tls::DEV_KEY_FILE)).expect("tls.key written");
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
        let created = std::fs::metadata(dir.0.join("certs")).expect("certs created");
        assert_eq!(created.permissions().mode() & 0o777, 0o700);
    }
    let both = [&rustls::version::TLS13, &rustls::version::TLS12];
    let conn = connect(server.addrs.webhook, client_config(&der, &both)).await.expect("trusting tls.crt works");
    assert_eq!(leaf(&conn), der);
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_start_up_inputs_are_errors_not_panics() {
    let dir = TempDir::new("bad");
    let a = new_cert();
    let b = new_cert();
    let (cert, key) = write_pair(&dir, &a);

    let missing = refused_at_start(options(TlsSource::Files { cert: dir.path("nope.crt"), key: key.clone() })).await;
    assert!(format!("{missing:#}").contains("nope.crt"), "{missing:#}");

    let mismatched_key = dir.path("other.key");
    replace(&mismatched_key, &b.key_pem);
    let mismatch = refused_at_start(options(TlsSource::Files { cert: cert.clone(), key: mismatched_key })).await;
    assert!(format!("{mismatch:#}").contains("does not belong"), "{mismatch:#}");

    let config = dir.path("bad.yaml");
    replace(&config, "policy: [unclosed\n");
    let bad_config = refused_at_start(ServeOptions {
        config: ConfigSource::File(config),
        ..options(TlsSource::Files { cert: cert.clone(), key: key.clone() })
    })
    .await;
    assert!(format!("{bad_config:#}").contains("bad.yaml"), "{bad_config:#}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = refused_at_start(ServeOptions {
        listen: taken.local_addr().expect("addr"),
        ..options(TlsSource::Files { cert, key })
    })
    .await;
    assert!(format!("{busy:#}").contains("cannot listen"), "{busy:#}");
}

/// A CA that signs client certificates (rcgen), and client certificates signed by it.
struct ClientCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl ClientCa {
    fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().expect("CA key");
        Self { issuer: rcgen::CertifiedIssuer::self_signed(params, key).expect("CA certificate") }
    }

    /// A client certificate (client-auth usage) and its key, signed by this CA.
    fn client(&self, name: &str) -> (CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("client key");
        let cert = params.signed_by(&key, &*self.issuer).expect("client certificate");
        let key_der = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
        (cert.der().clone(), key_der.into())
    }
}

/// A TLS 1.3 client config trusting `server`, presenting `client` (certificate and key) if given.
fn mtls_client_config(
    server: &CertificateDer<'static>,
    client: Option<(CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>)>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(server.clone()).expect("trust anchor");
    let builder = ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match client {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A review POSTed with `config`: its status, or why no response came. With TLS 1.3 a refused
/// client certificate surfaces after the client's side of the handshake, on the first read.
async fn mtls_review(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<u16, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = tokio::time::timeout(STEP, TlsConnector::from(config).connect(name, tcp))
        .await
        .expect("handshake finishes in time")
        .map_err(|e| format!("handshake: {e}"))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let request = Request::post("/validate")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{}")))
        .expect("request");
    let response = tokio::time::timeout(STEP, sender.send_request(request))
        .await
        .expect("in time")
        .map_err(|e| format!("request: {e}"))?;
    driver.abort();
    Ok(response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_only_clients_with_a_certificate_it_signed_are_served() {
    let dir = TempDir::new("mtls");
    let server_cert = new_cert();
    let (cert, key) = write_pair(&dir, &server_cert);
    let ca = ClientCa::new("vramgate test client CA");
    let other_ca = ClientCa::new("some other CA");
    let ca_path = dir.path("client-ca.crt");
    replace(&ca_path, &ca.issuer.pem());
    let server = start(ServeOptions { client_ca: Some(ca_path), ..options(TlsSource::Files { cert, key }) }).await;

    // A client certificate signed by the CA: served.
    let good = mtls_client_config(&server_cert.der, Some(ca.client("kube-apiserver")));
    let status = mtls_review(server.addrs.webhook, good.clone()).await.expect("a client signed by the CA is served");
    assert!(status == 200 || status == 400, "{status}");

    // Signed by another CA, or no certificate at all: no response.
    let foreign = mtls_client_config(&server_cert.der, Some(other_ca.client("kube-apiserver")));
    let refused = mtls_review(server.addrs.webhook, foreign).await;
    assert!(refused.is_err(), "a client signed by another CA got {refused:?}");
    let anonymous = mtls_client_config(&server_cert.der, None);
    let refused = mtls_review(server.addrs.webhook, anonymous).await;
    assert!(refused.is_err(), "a client without a certificate got {refused:?}");

    // The probes stay plain HTTP; the good client is still served after the refusals.
    assert_eq!(get_plain(server.addrs.metrics, "/healthz").await.0, 200);
    assert_eq!(get_plain(server.addrs.metrics, "/readyz").await.0, 200);
    assert!(mtls_review(server.addrs.webhook, good).await.is_ok());
    server.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_client_ca_is_a_start_up_error() {
    let dir = TempDir::new("mtls-bad");
    let (cert, key) = write_pair(&dir, &new_cert());
    let ca_path = dir.path("client-ca.crt");
    replace(&ca_path, "not a certificate\n");
    let err =
        refused_at_start(ServeOptions { client_ca: Some(ca_path), ..options(TlsSource::Files { cert, key }) }).await;
    assert!(format!("{err:#}").contains("client-ca.crt"), "{err:#}");
}
