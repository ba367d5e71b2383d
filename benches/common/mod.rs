//! Helpers shared by the benches that drive a real server over TLS (`soak.rs`, `memory.rs`,
//! `webhook_load.rs`): the child-process guard, a free port, `/proc` memory readings, the TLS
//! client trusting the dev certificate, and one POST / GET each. Each bench uses a subset.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use vramgate::server::tls;

/// The child process, killed on drop if still running.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `vramgate serve --dev` child (with `args` added), ready, and a client trusting its dev
/// certificate.
pub struct Started {
    pub server: Server,
    pub webhook: SocketAddr,
    pub metrics: SocketAddr,
    pub client: Arc<ClientConfig>,
}

/// Starts `vramgate serve --dev` on two free ports with `args` added, its dev certificate under
/// `tmp`, run as the image runs it (Dockerfile: mimalloc returns freed pages at once), and
/// waits up to 20 s for `/readyz`.
pub async fn start_server(tmp: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<Started> {
    let (webhook_port, metrics_port) = (free_port()?, free_port()?);
    let webhook: SocketAddr = format!("127.0.0.1:{webhook_port}").parse()?;
    let metrics: SocketAddr = format!("127.0.0.1:{metrics_port}").parse()?;
    let child = Command::new(env!("CARGO_BIN_EXE_vramgate"))
        .args(["serve", "--dev", "--listen", &webhook.to_string(), "--metrics-listen", &metrics.to_string()])
        .args(args)
        .env("TMPDIR", tmp)
        .env("RUST_LOG", "error")
        .env("MIMALLOC_PURGE_DELAY", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start vramgate serve")?;
    let server = Server(child);
    let ready_by = Instant::now() + Duration::from_secs(20);
    while !matches!(get(metrics, "/readyz", Duration::from_secs(5)).await, Ok((200, _))) {
        if Instant::now() > ready_by {
            bail!("the server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = client_config(&tmp.join("vramgate-dev-tls/tls.crt"))?;
    Ok(Started { server, webhook, metrics, client })
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `VmRSS` or `VmHWM` of `pid`, in kB (`proc(5)`, `/proc/[pid]/status`).
pub fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// The middle value (the upper one of an even count); 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Whether `answer` is an AdmissionReview that denies.
pub fn is_denial(answer: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(answer)
        .is_ok_and(|v| v["kind"] == "AdmissionReview" && v["response"]["allowed"] == false)
}

/// A client trusting the PEM certificates in `cert` (the dev certificate), with the webhook's
/// TLS versions and ALPN `http/1.1`.
pub fn client_config(cert: &Path) -> anyhow::Result<Arc<ClientConfig>> {
    let pem = std::fs::read(cert).with_context(|| format!("read {}", cert.display()))?;
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&pem) {
        roots.add(der?)?;
    }
    let mut config = ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(tls::PROTOCOL_VERSIONS)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS connection to `addr` as `localhost` (handshake within 10 s).
pub async fn tls_connect(addr: SocketAddr, client: Arc<ClientConfig>) -> anyhow::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost")?;
    Ok(tokio::time::timeout(Duration::from_secs(10), TlsConnector::from(client).connect(name, tcp)).await??)
}

/// An HTTP/1.1 client on a new TLS connection (driven by a spawned task).
pub async fn http_connect(addr: SocketAddr, client: Arc<ClientConfig>) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let tls = tls_connect(addr, client).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// POSTs `body` to `path` as JSON; status and body of the answer, within `limit`.
pub async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    path: &str,
    body: Bytes,
    limit: Duration,
) -> anyhow::Result<(u16, Bytes)> {
    sender.ready().await?;
    let request = Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body))?;
    let response = tokio::time::timeout(limit, sender.send_request(request)).await??;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// A plain-HTTP GET (the probe and metrics port), read to the end within `limit`: status and
/// body.
pub async fn get(addr: SocketAddr, path: &str, limit: Duration) -> anyhow::Result<(u16, String)> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(limit, tcp.read_to_end(&mut answer)).await??;
    let text = String::from_utf8_lossy(&answer);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}
