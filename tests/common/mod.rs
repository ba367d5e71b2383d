//! Helpers shared by the integration tests that run the real server (`tls.rs`, `faults.rs`):
//! temporary directories and self-signed certificates written the way cert-manager writes them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rustls::pki_types::CertificateDer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
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
