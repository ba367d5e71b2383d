//! TLS for the webhook: the rustls server config, a certificate resolver whose certificate
//! can be swapped while the server runs, PEM loading, and the self-signed development
//! certificate.
//!
//! The Kubernetes API server calls webhooks over HTTPS only and checks the serving
//! certificate against the `caBundle` of the webhook configuration
//! (<https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#contacting-the-webhook>).
//! Certificates are rotated by replacing the files (cert-manager or a Secret volume), so the
//! resolver re-reads paths rather than holding file handles (see `reload`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::version::{TLS12, TLS13};
use rustls::{ServerConfig, SupportedProtocolVersion};

/// The TLS versions the webhook accepts: 1.3 and 1.2. Nothing older is compiled into rustls,
/// and the Kubernetes API server (Go `crypto/tls`) offers 1.2 and 1.3 by default.
pub const PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];

/// The only ALPN protocol offered: the webhook speaks HTTP/1.1 (RFC 7301; `http/1.1` is the
/// registered identifier). Clients that send no ALPN extension are served too.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Names of the files written by [`write_dev_certificate`], as in a `kubernetes.io/tls`
/// Secret.
pub const DEV_CERT_FILE: &str = "tls.crt";
/// See [`DEV_CERT_FILE`].
pub const DEV_KEY_FILE: &str = "tls.key";

/// The crypto provider used for every TLS object of the process: *ring*, named explicitly so
/// that no process-wide default needs installing.
#[must_use]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The webhook's rustls server config: TLS 1.3 and 1.2 ([`PROTOCOL_VERSIONS`]), no client
/// authentication, ALPN `http/1.1`, certificates from `resolver`.
///
/// # Errors
/// If the provider has no cipher suite for these versions (never with *ring*).
pub fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> anyhow::Result<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(config)
}

/// [`server_config`], and, with `client_ca`, mutual TLS: every client must present a
/// certificate that chains to one of `client_ca`'s certificates (checked by rustls'
/// `WebPkiClientVerifier`: signature, validity dates, client-auth key usage); a client without
/// one, or with another, fails the handshake.
///
/// # Errors
/// As [`server_config`], or the CA store cannot make a verifier (empty).
pub fn server_config_with_client_ca(
    resolver: Arc<dyn ResolvesServerCert>,
    client_ca: Option<RootCertStore>,
) -> anyhow::Result<ServerConfig> {
    let Some(roots) = client_ca else { return server_config(resolver) };
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .context("cannot build the client certificate verifier")?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .context("TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(config)
}

/// Reads a PEM bundle of CA certificates for [`server_config_with_client_ca`].
///
/// # Errors
/// The file cannot be read, is not PEM, holds no certificate, or one is not a usable trust
/// anchor.
pub fn load_client_ca(path: &Path) -> anyhow::Result<RootCertStore> {
    let pem = fs::read(path).with_context(|| format!("cannot read client CA {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("client CA {} is not valid PEM", path.display()))?;
    if certs.is_empty() {
        bail!("client CA {} holds no CERTIFICATE block", path.display());
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).with_context(|| format!("client CA {} holds an unusable certificate", path.display()))?;
    }
    Ok(roots)
}

/// A certificate chain with its private key, checked to match, as read from PEM files.
#[derive(Debug, Clone)]
pub struct LoadedCert {
    /// What rustls serves.
    pub certified: Arc<CertifiedKey>,
    /// notAfter of the leaf certificate, Unix seconds.
    pub not_after: i64,
    /// notBefore of the leaf certificate, Unix seconds.
    pub not_before: i64,
}

impl LoadedCert {
    /// Why the leaf certificate cannot be served at `now` (Unix seconds): it expired, or it is
    /// not valid yet. `None`: within its validity period. A client (the API server's Go
    /// `crypto/tls`) refuses a certificate outside it, so serving one is an outage.
    #[must_use]
    pub fn invalid_at(&self, now: i64) -> Option<String> {
        if now >= self.not_after {
            Some(format!("the certificate expired at {} (Unix seconds; now {now})", self.not_after))
        } else if now < self.not_before {
            Some(format!("the certificate is not valid before {} (Unix seconds; now {now})", self.not_before))
        } else {
            None
        }
    }
}

/// Now, in Unix seconds (0 if the clock is before 1970).
#[must_use]
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Parses a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
/// SEC1), and checks that the key belongs to the leaf certificate.
///
/// # Errors
/// No certificate, no key, unparsable PEM or DER, an unsupported key type, or a key that
/// does not match the certificate.
pub fn parse_pem_pair(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<LoadedCert> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("certificate file is not valid PEM")?;
    let Some(leaf) = chain.first() else {
        bail!("certificate file holds no CERTIFICATE block");
    };
    let (not_before, not_after) = validity(leaf.as_ref())?;
    // The first PKCS#8, PKCS#1 or SEC1 block, as `rustls-pemfile`'s `private_key` did.
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => bail!("key file holds no PRIVATE KEY block"),
        Err(e) => return Err(anyhow::Error::new(e).context("key file is not valid PEM")),
    };
    let signing_key = provider().key_provider.load_private_key(key).context("unusable private key")?;
    let certified = CertifiedKey::new(chain, signing_key);
    // Compares the key's SubjectPublicKeyInfo with the leaf certificate's. Strict: an
    // "unknown" answer (a key type that cannot tell its public key) is refused as well.
    certified.keys_match().context("the private key does not belong to the certificate")?;
    Ok(LoadedCert { certified: Arc::new(certified), not_after, not_before })
}

/// Reads and parses a certificate file and a key file ([`parse_pem_pair`]).
///
/// # Errors
/// A file cannot be read, or [`parse_pem_pair`] fails; the message names the paths.
pub fn load_pem_files(cert: &Path, key: &Path) -> anyhow::Result<LoadedCert> {
    let cert_pem = fs::read(cert).with_context(|| format!("cannot read certificate {}", cert.display()))?;
    let key_pem = fs::read(key).with_context(|| format!("cannot read key {}", key.display()))?;
    parse_pem_pair(&cert_pem, &key_pem).with_context(|| format!("{} / {}", cert.display(), key.display()))
}

/// The notBefore and notAfter of a DER certificate, in Unix seconds.
fn validity(der: &[u8]) -> anyhow::Result<(i64, i64)> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| anyhow!("leaf certificate is not valid X.509: {e}"))?;
    Ok((cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp()))
}

/// A [`ResolvesServerCert`] that serves one certificate for every ClientHello and lets the
/// reloader swap it atomically: handshakes in progress keep the one they started with.
#[derive(Debug)]
pub struct SwappableCert {
    current: ArcSwap<CertifiedKey>,
}

impl SwappableCert {
    /// Starts with `certified`.
    #[must_use]
    pub fn new(certified: Arc<CertifiedKey>) -> Self {
        Self { current: ArcSwap::new(certified) }
    }

    /// Serves `certified` from the next handshake on.
    pub fn swap(&self, certified: Arc<CertifiedKey>) {
        self.current.store(certified);
    }

    /// The certificate served now.
    #[must_use]
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Makes sure `dir` holds a usable self-signed development certificate for `localhost`,
/// `127.0.0.1` and `::1` in [`DEV_CERT_FILE`] and [`DEV_KEY_FILE`]: keeps a pair already
/// there if it loads and has not expired, generates a new one (ECDSA P-256, by rcgen)
/// otherwise. The key file is written with mode 0600. Returns the two paths.
///
/// The directory is created with mode 0700. One that exists must be a directory (not a
/// symbolic link) owned by this process's user and writable by no one else: the default one
/// is in the shared temporary directory, where another user could have created it to plant a
/// certificate and key of their own (and read the key, or swap it, while the server runs).
///
/// Not for production: no CA signs it, and clients must trust the certificate itself
/// (`curl --cacert DIR/tls.crt`).
///
/// # Errors
/// The directory is not safe (see above), the directory or the files cannot be written, or
/// generation fails.
pub fn write_dev_certificate(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert_path = dir.join(DEV_CERT_FILE);
    let key_path = dir.join(DEV_KEY_FILE);
    ensure_private_dir(dir)?;
    if let Ok(existing) = load_pem_files(&cert_path, &key_path)
        && existing.invalid_at(unix_now()).is_none()
    {
        return Ok((cert_path, key_path));
    }
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let generated = rcgen::generate_simple_self_signed(names).context("cannot generate a development certificate")?;
    // Key first: a reader that sees the new certificate then also sees its key.
    write_atomically(&key_path, generated.signing_key.serialize_pem().as_bytes(), 0o600)?;
    write_atomically(&cert_path, generated.cert.pem().as_bytes(), 0o644)?;
    Ok((cert_path, key_path))
}

/// Creates `dir` with mode 0700 if missing (its parents as usual); refuses one that is a
/// symbolic link, not a directory, not owned by this process's user, or writable by group or
/// others.
fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let meta = fs::symlink_metadata(dir).with_context(|| format!("cannot inspect {}", dir.display()))?;
    if !meta.file_type().is_dir() {
        bail!(
            "the development certificate directory {} is not a directory (a symbolic link or a file); \
             accepted: a directory of your own that no one else can write to",
            dir.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            bail!(
                "the development certificate directory {} is writable by group or others (mode {mode:04o}); \
                 accepted: a directory no one else can write to (chmod 700 {0}, or remove it and let \
                 vramgate create it)",
                dir.display()
            );
        }
        // The owner of /proc/self is this process's effective user (Linux). Without /proc the
        // owner is not checked; the mode still is.
        if let Ok(me) = fs::metadata("/proc/self").map(|m| m.uid())
            && meta.uid() != me
        {
            bail!(
                "the development certificate directory {} belongs to user id {}, not to this process's {me}; \
                 accepted: a directory of your own (remove it, or run vramgate as its owner)",
                dir.display(),
                meta.uid()
            );
        }
    }
    Ok(())
}

/// Writes `contents` to a temporary file beside `path`, then renames it over `path`, so a
/// concurrent reader sees the old file or the new one, never half of one.
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut tmp_name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(file);
    fs::rename(&tmp, path).with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (generated.cert.pem(), generated.signing_key.serialize_pem())
    }

    fn error(cert: &str, key: &str) -> String {
        format!("{:#}", parse_pem_pair(cert.as_bytes(), key.as_bytes()).unwrap_err())
    }

    #[test]
    fn a_pem_pair_parses_and_each_missing_or_broken_block_is_named() {
        let (cert, key) = pair();
        let loaded = parse_pem_pair(cert.as_bytes(), key.as_bytes()).unwrap();
        assert!(loaded.not_before < loaded.not_after);
        // A key and a certificate in one file: each parse takes its own block.
        let both = format!("{key}{cert}");
        assert!(parse_pem_pair(both.as_bytes(), both.as_bytes()).is_ok());

        assert_eq!(error(&key, &key), "certificate file holds no CERTIFICATE block");
        assert_eq!(error(&cert, &cert), "key file holds no PRIVATE KEY block");
        let broken_cert = "-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(
            error(broken_cert, &key).starts_with("certificate file is not valid PEM: "),
            "{}",
            error(broken_cert, &key)
        );
        let broken_key = "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n";
        assert!(error(&cert, broken_key).starts_with("key file is not valid PEM: "), "{}", error(&cert, broken_key));
        let (_, other_key) = pair();
        assert!(error(&cert, &other_key).starts_with("the private key does not belong to the certificate"));
    }
}
