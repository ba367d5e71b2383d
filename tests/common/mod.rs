//! Helpers shared by the modules of the integration-test binary. Here: for the tests that run
//! the real server (`tls.rs`, `faults.rs`): temporary directories, self-signed certificates
//! written the way cert-manager writes them, a TLS client and a bounded wait. In `objects`:
//! Kubernetes objects and AdmissionReviews; in `golden`: golden-file comparison; in `engine`:
//! the catalog's GPUs and preset jobs; in `fake_api`: the answers of a fake Kubernetes API
//! server. Also: the real binary run as a user runs it ([`vramgate`], [`vramgate_json`]).
#![allow(dead_code)]

pub mod engine;
pub mod fake_api;
pub mod golden;
pub mod objects;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use vramgate::server::{BoundAddrs, ServeOptions, serve_with};

/// A fresh directory under the system temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = format!("vramgate-{name}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let dir = std::env::temp_dir().join(unique);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// Writes `contents` to `file` in this directory; returns its path.
    pub fn write(&self, file: &str, contents: &str) -> PathBuf {
        let path = self.path(file);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// This directory as a command-line argument.
    pub fn arg(&self) -> &str {
        self.0.to_str().expect("temp dir path is UTF-8")
    }
}

/// Runs the real `vramgate` binary with `args`: its exit code, stdout and stderr.
pub fn vramgate(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vramgate")).args(args).output().expect("vramgate runs");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs `vramgate args... --output json`: its exit code, stdout parsed as JSON (a panic naming
/// both streams if it is not), and stderr.
pub fn vramgate_json(args: &[&str]) -> (i32, serde_json::Value, String) {
    let (code, out, err) = vramgate(&[args, &["--output", "json"]].concat());
    let json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}\n{err}"));
    (code, json, err)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for localhost and 127.0.0.1.
pub struct Cert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

pub fn new_cert() -> Cert {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("rcgen generates");
    Cert {
        cert_pem: generated.cert.pem(),
        key_pem: generated.signing_key.serialize_pem(),
        der: generated.cert.der().clone(),
    }
}

/// Replaces `path` atomically (write beside, rename over), as cert-manager and the kubelet do.
pub fn replace(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

pub fn write_pair(dir: &TempDir, cert: &Cert) -> (PathBuf, PathBuf) {
    let (cert_path, key_path) = (dir.path("tls.crt"), dir.path("tls.key"));
    replace(&key_path, &cert.key_pem);
    replace(&cert_path, &cert.cert_pem);
    (cert_path, key_path)
}

/// A server started by [`spawn`]: its addresses, the trigger of its shutdown, and its task.
pub struct Spawned {
    pub addrs: BoundAddrs,
    pub stop: oneshot::Sender<()>,
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// Starts `serve_with(opts)` on the test's runtime and waits (at most 10 s) until both
/// listeners accept; panics with the server's error if it does not start.
pub async fn spawn(opts: ServeOptions) -> Spawned {
    let (stop, stopped) = oneshot::channel::<()>();
    let (bound_tx, bound_rx) = oneshot::channel();
    let task = tokio::spawn(serve_with(
        opts,
        async move {
            let _ = stopped.await;
        },
        bound_tx,
    ));
    match tokio::time::timeout(std::time::Duration::from_secs(10), bound_rx).await {
        Ok(Ok(addrs)) => Spawned { addrs, stop, task },
        other => panic!("server did not start: {other:?}, {:?}", task.await),
    }
}

/// A client that trusts only `trusted`, speaks `versions` and asks for HTTP/1.1 by ALPN.
pub fn client_config(
    trusted: &CertificateDer<'static>,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).expect("trust anchor");
    let mut config = ClientConfig::builder_with_provider(vramgate::server::tls::provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TCP connection and TLS handshake to `addr` as `localhost` (no time limit: callers that
/// need one add it).
pub async fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(config).connect(name, tcp).await
}

/// The leaf certificate the server presented.
pub fn leaf(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().and_then(|c| c.first()).expect("server sent a certificate").clone().into_owned()
}

/// Polls `check` every 50 ms until it holds, for at most 5 s (and at most 200 polls).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    for _ in 0..200 {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}

/// The message of a JSON error body `{"error": "..."}`; panics, naming the body, if the body is
/// not JSON or its `error` is missing or empty.
pub fn json_error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let json: serde_json::Value =
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"));
    match json["error"].as_str() {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => panic!("no error message: {text}"),
    }
}
