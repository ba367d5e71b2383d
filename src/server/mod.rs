//! The HTTPS webhook server and the plain-HTTP probe and metrics server (imperative shell).
//!
//! [`serve`] loads the certificate and the config, binds both listeners, and serves until
//! its shutdown future completes:
//!
//! - the webhook, over TLS 1.2/1.3 ([`tls`]), at `POST /validate` and `POST /mutate`
//!   ([`webhook_router`]), each review answered by [`crate::admission::review`];
//! - `GET /healthz`, `GET /readyz` and `GET /metrics` over plain HTTP ([`metrics_router`],
//!   [`metrics`]), for the kubelet's probes and Prometheus;
//! - a background task that reloads the certificate and the config when their files change.
//!
//! Kubernetes' contract for webhooks: <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/>.

mod app;
pub mod audit;
pub mod cluster;
mod exemption_metrics;
mod listener;
pub mod metrics;
mod metrics_serving;
mod reload;
mod state;
pub mod status;
pub mod tls;
pub mod ui;

use std::fs;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

pub use app::{MAX_BODY_BYTES, metrics_router, webhook_router};
pub use listener::{
    HANDSHAKE_TIMEOUT, HEADER_READ_TIMEOUT, WARN_INTERVAL, serve_plain_with, serve_tls, serve_tls_with,
};
pub use metrics::Metrics;
pub use state::{AnswerFn, AppState};

use crate::config::Settings;
use reload::{CertWatch, ConfigWatch, Seen};
use tls::SwappableCert;

/// Default webhook address: `127.0.0.1:8443` (in a pod, listen on `0.0.0.0`).
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);
/// Default probe and metrics address: `127.0.0.1:8080`.
pub const DEFAULT_METRICS_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default interval between two checks of the certificate and config files.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(10);
/// Default time open connections get to finish after shutdown starts; well inside the pod's
/// default `terminationGracePeriodSeconds` of 30 s.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Time the probe and metrics connections get to finish once the webhook has stopped.
const METRICS_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Where the serving certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files, such as a `kubernetes.io/tls` Secret mounted as a volume (`tls.crt`,
    /// `tls.key`), re-read every reload interval.
    Files {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// Private key of the leaf (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// A self-signed certificate for `localhost`, `127.0.0.1` and `::1`, generated into
    /// `dir/tls.crt` and `dir/tls.key` (or reused from there), for local development.
    Dev {
        /// Directory for the generated files; created if missing.
        dir: PathBuf,
    },
}

/// Where [`serve`] reads its policy from: one source at a time (`--config` and `--config-map`
/// conflict).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConfigSource {
    /// No config: the built-in defaults ([`Settings::default`]).
    #[default]
    Builtin,
    /// A YAML file (`--config`), re-read when it changes (every `reload_interval`).
    File(PathBuf),
    /// A ConfigMap's `config.yaml` key (`--config-map NAMESPACE/NAME`), read through the API
    /// server at start and then watched.
    ConfigMap { namespace: String, name: String },
}

impl ConfigSource {
    /// `(namespace, name)` of the ConfigMap, when the config comes from one.
    fn config_map(&self) -> Option<(String, String)> {
        match self {
            ConfigSource::ConfigMap { namespace, name } => Some((namespace.clone(), name.clone())),
            _ => None,
        }
    }
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::Builtin => f.write_str("(built-in defaults)"),
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::ConfigMap { namespace, name } => write!(f, "ConfigMap {namespace}/{name}"),
        }
    }
}

/// How [`serve`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Webhook (HTTPS) address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Probe and metrics (plain HTTP) address; port 0 picks a free port.
    pub metrics_listen: SocketAddr,
    /// The serving certificate.
    pub tls: TlsSource,
    /// Where the policy comes from.
    pub config: ConfigSource,
    /// How often the certificate and config files are checked for changes;
    /// [`Duration::ZERO`] turns reloading off.
    pub reload_interval: Duration,
    /// How long open connections get to finish once shutdown starts.
    pub shutdown_grace: Duration,
    /// PEM CA bundle for mutual TLS (`--client-ca`); overrides the config's
    /// `server.client_ca_file`. With neither, clients are not asked for a certificate.
    pub client_ca: Option<PathBuf>,
    /// Watch the cluster for the GPU inventory and live cost (`--cluster`).
    pub cluster: bool,
    /// How often the live cost is recomputed ([`cluster::DEFAULT_TICK`]).
    pub cluster_tick: Duration,
    /// Serve the calculator page ([`ui`]: `/ui`, `/api/estimate`) on the plain port
    /// (`--no-ui` turns it off).
    pub ui: bool,
}

impl ServeOptions {
    /// Options with `tls` and every other field at its default: [`DEFAULT_LISTEN`],
    /// [`DEFAULT_METRICS_LISTEN`], no config file, [`DEFAULT_RELOAD_INTERVAL`],
    /// [`DEFAULT_SHUTDOWN_GRACE`].
    #[must_use]
    pub fn new(tls: TlsSource) -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            metrics_listen: DEFAULT_METRICS_LISTEN,
            tls,
            config: ConfigSource::Builtin,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            client_ca: None,
            cluster: false,
            cluster_tick: cluster::DEFAULT_TICK,
            ui: true,
        }
    }
}

impl Default for ServeOptions {
    /// [`ServeOptions::new`] with a development certificate in `vramgate-dev-tls` under the
    /// system's temporary directory: fine on a laptop, never what a cluster should run.
    fn default() -> Self {
        Self::new(TlsSource::Dev { dir: std::env::temp_dir().join("vramgate-dev-tls") })
    }
}

/// The addresses [`serve_with`] bound, sent once both listeners accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundAddrs {
    /// The webhook's (HTTPS) address.
    pub webhook: SocketAddr,
    /// The probes' and metrics' (plain HTTP) address.
    pub metrics: SocketAddr,
}

/// Builds a multi-threaded tokio runtime, sets up logging ([`init_logging`]) and runs
/// [`serve`] until SIGTERM or Ctrl-C ([`shutdown_signal_now`]).
///
/// # Errors
/// As [`serve`], or the runtime cannot be built.
pub fn run(opts: ServeOptions) -> anyhow::Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vramgate")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal_now();
        serve(opts, shutdown).await
    })
}

/// Logs to stderr with `tracing-subscriber`'s text format, filtered by `RUST_LOG` (default
/// `info`). Does nothing if a global subscriber is already set.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a pod's log (and a CI log) gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

/// Completes on SIGTERM (what the kubelet sends to stop a pod) or Ctrl-C. If a signal handler
/// cannot be installed, that signal is logged and ignored. The SIGTERM handler is installed
/// before this returns, so a SIGTERM that arrives while the server starts is not the default
/// action (death by signal) but a graceful shutdown. Must be called within a tokio runtime.
pub fn shutdown_signal_now() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!("cannot listen for Ctrl-C: {e}");
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async {
            match sigterm {
                Ok(mut sigterm) => {
                    sigterm.recv().await;
                }
                Err(e) => {
                    tracing::error!("cannot listen for SIGTERM: {e}");
                    std::future::pending::<()>().await;
                }
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => tracing::info!("Ctrl-C received"),
            () = terminate => tracing::info!("SIGTERM received"),
        }
    }
}

/// Serves the webhook and the probes until `shutdown` completes, then drains (see
/// [`serve_with`]).
///
/// # Errors
/// At start only: the certificate, key or config cannot be loaded, or an address cannot be
/// bound. Once serving, errors are logged and never end the server.
pub async fn serve(opts: ServeOptions, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let (bound, _) = oneshot::channel();
    serve_with(opts, shutdown, bound).await
}

/// [`serve`], sending the bound addresses through `bound` once the server is ready (useful
/// with port 0). On shutdown, `/readyz` turns 503, the webhook stops accepting, open
/// connections get [`ServeOptions::shutdown_grace`] to finish, then the probe server stops.
///
/// # Errors
/// As [`serve`].
pub async fn serve_with(
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    bound: oneshot::Sender<BoundAddrs>,
) -> anyhow::Result<()> {
    // Certificate.
    let (cert_path, key_path) = match &opts.tls {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::Dev { dir } => {
            let (cert, key) = tls::write_dev_certificate(dir)?;
            tracing::info!(
                cert = %cert.display(),
                "using a self-signed development certificate; trust it with `curl --cacert {}`",
                cert.display()
            );
            (cert, key)
        }
    };
    let cert_pem = fs::read(&cert_path).with_context(|| format!("cannot read certificate {}", cert_path.display()))?;
    let key_pem = fs::read(&key_path).with_context(|| format!("cannot read key {}", key_path.display()))?;
    let loaded = tls::parse_pem_pair(&cert_pem, &key_pem)
        .with_context(|| format!("bad certificate/key {} / {}", cert_path.display(), key_path.display()))?;
    // A client refuses a certificate outside its validity period: serving one is an outage.
    if let Some(why) = loaded.invalid_at(tls::unix_now()) {
        anyhow::bail!("unusable certificate {}: {why}", cert_path.display());
    }

    // The API server, when something is read from it. Decisions never wait on it: the
    // watchers run in the background and reviews read their last result.
    let client = if opts.cluster || matches!(opts.config, ConfigSource::ConfigMap { .. }) {
        Some(kube::Client::try_default().await.context(
            "cannot configure a Kubernetes client (in a pod: the service account token; elsewhere: KUBECONFIG)",
        )?)
    } else {
        None
    };

    // Config.
    let mut config_map_text = None;
    let (settings, config_seen) = match (&opts.config, &client) {
        (ConfigSource::ConfigMap { namespace, name }, Some(client)) => {
            let text = cluster::read_config_map(client.clone(), namespace, name).await?;
            let settings = reload::parse_config(text.as_bytes()).map_err(|errors| {
                anyhow::anyhow!("invalid config in ConfigMap {namespace}/{name}:\n  {}", errors.join("\n  "))
            })?;
            config_map_text = Some(text);
            (settings, None)
        }
        (ConfigSource::Builtin | ConfigSource::ConfigMap { .. }, _) => (Settings::default(), None),
        (ConfigSource::File(path), _) => {
            let bytes = fs::read(path).with_context(|| format!("cannot read config {}", path.display()))?;
            let settings = reload::parse_config(&bytes)
                .map_err(|errors| anyhow::anyhow!("invalid config {}:\n  {}", path.display(), errors.join("\n  ")))?;
            (settings, Some(bytes))
        }
    };

    // Server limits and the client CA: read at start only.
    let limits = settings.server.clone();
    let client_ca_path = opts.client_ca.clone().or_else(|| limits.client_ca_file.clone());
    let client_ca = client_ca_path.as_deref().map(tls::load_client_ca).transpose()?;

    let state = AppState::new(settings);
    state.metrics().config_loaded_now();
    state.metrics().set_certificate_not_after(loaded.not_after);
    let resolver = Arc::new(SwappableCert::new(loaded.certified));
    let tls_config = Arc::new(tls::server_config_with_client_ca(resolver.clone(), client_ca)?);

    // Listeners.
    let webhook_listener =
        TcpListener::bind(opts.listen).await.with_context(|| format!("cannot listen on {} (webhook)", opts.listen))?;
    let metrics_listener = TcpListener::bind(opts.metrics_listen)
        .await
        .with_context(|| format!("cannot listen on {} (metrics)", opts.metrics_listen))?;
    let addrs = BoundAddrs {
        webhook: webhook_listener.local_addr().context("webhook listener address")?,
        metrics: metrics_listener.local_addr().context("metrics listener address")?,
    };

    // Background work stops when `stop` turns true.
    let (stop_tx, stop_rx) = watch::channel(false);
    let reloader = (!opts.reload_interval.is_zero()).then(|| {
        let cert_watch = CertWatch {
            cert: cert_path.clone(),
            key: key_path.clone(),
            last: Seen::Contents((cert_pem, key_pem)),
            resolver,
            pending: None,
        };
        let config_watch = match (&opts.config, config_seen) {
            (ConfigSource::File(path), Some(bytes)) => {
                Some(ConfigWatch { path: path.clone(), last: Seen::Contents(bytes) })
            }
            _ => None,
        };
        tokio::spawn(reload_loop(opts.reload_interval, cert_watch, config_watch, state.clone(), stop_rx.clone()))
    });
    let watchers = client.clone().map(|client| {
        let cluster_opts = cluster::ClusterOptions {
            inventory: opts.cluster,
            config_map: opts.config.config_map(),
            tick: opts.cluster_tick,
            config_map_text,
        };
        tokio::spawn(cluster::run(client, state.clone(), cluster_opts, stop_rx.clone()))
    });
    // The periodic audit (`audit.interval_seconds`): with the inventory, over the workloads.
    let auditor = client.filter(|_| opts.cluster).zip(state.settings().audit.interval).map(|(client, every)| {
        tokio::spawn(audit::run(client, state.clone(), audit::FIRST_DELAY, every, stop_rx.clone()))
    });
    // The same accept loop as the webhook's, without TLS: a connection cap and a header read
    // timeout, so idle connections cannot use up the process's file descriptors.
    let metrics_server = {
        let mut stop = stop_rx.clone();
        let router = metrics_router(state.clone());
        let router = if opts.ui { router.merge(ui::router(state.clone())) } else { router };
        let limits = limits.clone();
        tokio::spawn(async move {
            let stopped = async move { listener::stopped(&mut stop).await };
            serve_plain_with(metrics_listener, router, stopped, METRICS_SHUTDOWN_GRACE, &limits).await;
        })
    };

    state.set_ready(true);
    tracing::info!(
        webhook = %addrs.webhook,
        metrics = %addrs.metrics,
        cert = %cert_path.display(),
        client_ca = client_ca_path.as_ref().map_or_else(|| "(none: no client certificate asked for)".to_owned(), |p| p.display().to_string()),
        max_concurrent_reviews = limits.max_concurrent_reviews,
        max_connections = limits.max_connections,
        config = %opts.config,
        cluster = opts.cluster,
        version = env!("CARGO_PKG_VERSION"),
        "vramgate webhook serving"
    );
    let _ = bound.send(addrs);

    let draining = state.clone();
    let shutdown = async move {
        shutdown.await;
        draining.set_ready(false);
        tracing::info!("shutting down: no new connections; draining open ones");
    };
    serve_tls_with(webhook_listener, tls_config, webhook_router(state.clone()), shutdown, opts.shutdown_grace, &limits)
        .await;

    let _ = stop_tx.send(true);
    if let Some(reloader) = reloader {
        let _ = reloader.await;
    }
    if let Some(watchers) = watchers {
        let _ = watchers.await;
    }
    if let Some(auditor) = auditor {
        let _ = auditor.await;
    }
    // The probe server's connections are short; a scraper that holds one open must not hold
    // up the exit (the loop closes what is left after METRICS_SHUTDOWN_GRACE).
    if let Err(e) = metrics_server.await {
        tracing::error!("metrics server failed: {e}");
    }
    tracing::info!("vramgate webhook stopped");
    Ok(())
}

/// Polls the certificate and config files every `interval` until `stop` turns true.
async fn reload_loop(
    interval: Duration,
    mut cert: CertWatch,
    mut config: Option<ConfigWatch>,
    state: AppState,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; the files were read at start.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = listener::stopped(&mut stop) => return,
            _ = ticks.tick() => {}
        }
        // A few kilobytes from local files (usually tmpfs): fine on an async worker.
        cert.poll(&state);
        if let Some(config) = config.as_mut() {
            config.poll(&state);
        }
    }
}
