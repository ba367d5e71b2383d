//! `vramgate serve`: the admission webhook and its probe and metrics port.

use super::settings_or_report;
use clap::Args;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file: policy, GPU catalog and prices (re-read when it changes).
    #[arg(long, env = "VRAMGATE_CONFIG", value_name = "FILE", required_unless_present_any = ["dev", "config_map"])]
    pub config: Option<std::path::PathBuf>,
    /// Config from a ConfigMap's `config.yaml` key instead of a file, as NAMESPACE/NAME:
    /// read at start through the API server, then watched (a change that does not validate
    /// is logged and the last good config stays in force).
    #[arg(long, value_name = "NAMESPACE/NAME", conflicts_with = "config", value_parser = parse_config_map)]
    pub config_map: Option<(String, String)>,
    /// Watch the cluster (in-cluster service account, else KUBECONFIG): the GPU inventory
    /// from Nodes' GPU Feature Discovery labels for decisions, and the live cost of running
    /// admitted jobs for metrics. Needs the RBAC of `vramgate cluster rbac`.
    #[arg(long)]
    pub cluster: bool,
    /// PEM certificate chain served on --listen (re-read when it changes).
    #[arg(long, value_name = "FILE", required_unless_present = "dev", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", required_unless_present = "dev", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Local use: a self-signed certificate for localhost (written to a temporary directory
    /// that is logged) and built-in defaults unless --config is given.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub dev: bool,
    /// HTTPS address of POST /validate and POST /mutate.
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    /// Plain-HTTP address of /healthz, /readyz and /metrics (and the calculator page, /ui).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub metrics_listen: std::net::SocketAddr,
    /// Seconds between checks of the certificate and config files for changes.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub reload_interval: u64,
    /// Mutual TLS: PEM CA bundle that webhook clients' certificates must chain to; clients
    /// without such a certificate are refused at the handshake. Overrides the config's
    /// server.client_ca_file. Read at start.
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<std::path::PathBuf>,
    /// Do not serve the calculator page (/ui, /api/estimate) on the plain-HTTP port.
    #[arg(long)]
    pub no_ui: bool,
}

/// `NAMESPACE/NAME`, each a DNS name.
fn parse_config_map(s: &str) -> Result<(String, String), String> {
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 253
            && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    match s.split_once('/') {
        Some((ns, name)) if ok(ns) && ok(name) => Ok((ns.to_owned(), name.to_owned())),
        _ => Err(format!("'{s}' is not NAMESPACE/NAME (lowercase DNS names, e.g. vramgate/vramgate-config)")),
    }
}

pub(super) fn run(a: ServeArgs) -> anyhow::Result<i32> {
    let tls = match (a.dev, a.tls_cert, a.tls_key) {
        (true, _, _) => crate::server::TlsSource::Dev { dir: std::env::temp_dir().join("vramgate-dev-tls") },
        (false, Some(cert), Some(key)) => crate::server::TlsSource::Files { cert, key },
        _ => anyhow::bail!("--tls-cert and --tls-key are required without --dev"),
    };
    if let Some(p) = &a.config
        && settings_or_report(Some(p)).is_none()
    {
        return Ok(2);
    }
    let config = match (a.config, a.config_map) {
        (Some(path), _) => crate::server::ConfigSource::File(path),
        (None, Some((namespace, name))) => crate::server::ConfigSource::ConfigMap { namespace, name },
        (None, None) => crate::server::ConfigSource::Builtin,
    };
    let opts = crate::server::ServeOptions {
        listen: a.listen,
        metrics_listen: a.metrics_listen,
        tls,
        config,
        reload_interval: std::time::Duration::from_secs(a.reload_interval),
        client_ca: a.client_ca,
        cluster: a.cluster,
        ui: !a.no_ui,
        ..crate::server::ServeOptions::default()
    };
    match crate::server::run(opts) {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(2)
        }
    }
}
