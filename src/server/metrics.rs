//! Prometheus metrics of the webhook, in the OpenMetrics text format.
//!
//! The family names and labels below are a contract: the Helm chart's alerts and the Grafana
//! dashboard query them. `prometheus-client` appends `_total` to counters and the unit
//! (`_seconds`) to families registered with one, so the names registered here lack those
//! suffixes. Every value is in base units (seconds, dollars, GPUs, GPU-hours).
//!
//! Label values are bounded: endpoint, operation, kind, decision and reason come from small
//! sets; namespace and GPU grow with the cluster's namespaces and the GPU catalog, never with
//! job names.

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::cluster::ClusterStatus;
use crate::admission::{Endpoint, Record};

/// Upper bounds (seconds) of the `vramgate_review_duration_seconds` buckets: 100 µs to 5 s.
/// A review normally takes tens of microseconds; the Kubernetes API server gives a webhook
/// 10 s by default (`timeoutSeconds`, at most 30 s).
pub const DURATION_BUCKETS: [f64; 15] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The content type of [`Metrics::encode`]'s output (OpenMetrics 1.0 text exposition).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    endpoint: &'static str,
    operation: String,
    kind: String,
    decision: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    endpoint: &'static str,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpendLabels {
    namespace: String,
    gpu: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every metric family of the process, and the registry that encodes them.
///
/// Cheap to share behind an `Arc`: every update is an atomic add or a short lock inside
/// `prometheus-client`'s families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reviews: Family<ReviewLabels, Counter>,
    review_errors: Family<ErrorLabels, Counter>,
    review_duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    admitted_jobs: Family<SpendLabels, Counter>,
    admitted_gpu_seconds: Family<SpendLabels, FloatCounter>,
    admitted_cost_usd: Family<SpendLabels, FloatCounter>,
    admitted_gpus_requested: Family<SpendLabels, Counter>,
    admitted_gpus_needed: Family<SpendLabels, Counter>,
    admitted_overprovisioned_cost_usd: Family<SpendLabels, FloatCounter>,
    config_reloads: Family<ResultLabels, Counter>,
    certificate_reloads: Family<ResultLabels, Counter>,
    config_last_reload_success: FloatGauge,
    certificate_not_after: FloatGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The cluster families (`serve --cluster`), encoded at each scrape from the watchers' last
/// [`Live`] state, so a series disappears when what it counts does (a finished job's team,
/// a drained node pool) instead of lingering at its last value.
#[derive(Debug)]
struct ClusterCollector(Arc<ClusterStatus>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GpuLabels {
    gpu: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProductLabels {
    product: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CostLabels {
    namespace: String,
    team: String,
    gpu: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource: String,
}

fn family<S: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (S, M)>,
) -> Result<(), std::fmt::Error> {
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let metric_type = EncodeMetric::metric_type(&series.peek().expect("peeked").1);
    let mut family = encoder.encode_descriptor(name, help, unit, metric_type)?;
    for (labels, metric) in series {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for ClusterCollector {
    #[allow(clippy::cast_precision_loss)] // GPU counts far below 2^53
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = &self.0;
        if !status.is_enabled() {
            return Ok(());
        }
        let live = status.live();
        let snap = &live.snapshot;
        let gpu = |g: &String| GpuLabels { gpu: g.clone() };
        let e = &mut encoder;
        family(
            e,
            "vramgate_cluster_nodes",
            "GPU nodes by GPU type (catalog name, or the raw product label of an unknown product)",
            None,
            snap.capacity.iter().map(|(g, c)| (gpu(g), ConstGauge::new(c.nodes as i64))),
        )?;
        family(
            e,
            "vramgate_cluster_gpus",
            "Allocatable GPUs by GPU type: what the cluster could provide",
            None,
            snap.capacity.iter().map(|(g, c)| (gpu(g), ConstGauge::new(c.gpus as i64))),
        )?;
        family(
            e,
            "vramgate_cluster_gpus_allocated",
            "GPUs requested by pods bound to nodes of the type and not terminated",
            None,
            snap.capacity.iter().map(|(g, c)| (gpu(g), ConstGauge::new(c.allocated as i64))),
        )?;
        family(
            e,
            "vramgate_cluster_unknown_gpu_products",
            "GPU nodes whose nvidia.com/gpu.product is not in the catalog, by product",
            None,
            snap.unknown_products
                .iter()
                .map(|(p, n)| (ProductLabels { product: p.clone() }, ConstGauge::new(*n as i64))),
        )?;
        let cost = |k: &crate::cluster::CostKey| CostLabels {
            namespace: k.namespace.clone(),
            team: k.team.clone(),
            gpu: k.gpu.clone(),
        };
        family(
            e,
            "vramgate_running_gpus",
            "GPUs held by running pods of workloads vramgate admitted, by namespace, team and GPU type",
            None,
            snap.running.iter().map(|(k, r)| (cost(k), ConstGauge::new(r.gpus as i64))),
        )?;
        family(
            e,
            "vramgate_running_cost_usd_per_hour",
            "Estimated cost per hour in US dollars of those GPUs at the configured prices",
            None,
            snap.running.iter().map(|(k, r)| (cost(k), ConstGauge::new(r.usd_per_hour))),
        )?;
        family(
            e,
            "vramgate_running_cost_usd",
            "Estimated US dollars spent by running pods of admitted workloads since this process started",
            None,
            live.cumulative.usd.iter().map(|(k, usd)| (cost(k), ConstCounter::new(*usd))),
        )?;
        single(
            e,
            "vramgate_inventory_stale",
            "Seconds the GPU inventory has been stale (0 while the node watch is healthy)",
            Some(&Unit::Seconds),
            Some(ConstGauge::new(status.stale_seconds().unwrap_or(0) as f64)),
        )?;
        single(
            e,
            "vramgate_inventory_last_sync_timestamp",
            "Unix time the GPU inventory was last known current",
            Some(&Unit::Seconds),
            status.last_sync_unix().map(ConstGauge::new),
        )?;
        let watches = || live.watches.iter().filter(|(_, h)| !h.absent);
        family(
            e,
            "vramgate_cluster_watch_up",
            "1 while the watch of a resource is healthy, 0 while it fails (not exported for resources the API server does not serve)",
            None,
            watches().map(|(r, h)| (ResourceLabels { resource: r.clone() }, ConstGauge::new(i64::from(h.up)))),
        )?;
        family(
            e,
            "vramgate_cluster_watch_errors",
            "Errors of the watch of a resource, each retried with backoff (a resource the API server does not serve is not an error)",
            None,
            live.watches.iter().map(|(r, h)| (ResourceLabels { resource: r.clone() }, ConstCounter::new(h.errors))),
        )?;
        Ok(())
    }
}

/// A family of one series without labels; nothing when `metric` is `None`.
fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: Option<M>,
) -> Result<(), std::fmt::Error> {
    let Some(metric) = metric else { return Ok(()) };
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

impl Metrics {
    /// Registers every family, sets `vramgate_build_info` to 1 and creates the `success` and
    /// `failure` series of the reload counters at 0 (so `increase()` sees their first change).
    #[must_use]
    pub fn new() -> Self {
        Self::with_cluster(Arc::new(ClusterStatus::default()))
    }

    /// [`Metrics::new`], with the cluster families read from `cluster` at each scrape.
    #[must_use]
    pub fn with_cluster(cluster: Arc<ClusterStatus>) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ClusterCollector(cluster)));

        let reviews = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "vramgate_reviews",
            "AdmissionReviews answered with 200, by endpoint, operation, object kind, decision and reason",
            reviews.clone(),
        );
        let review_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "vramgate_review_errors",
            "Review requests answered without a review (400 unusable body, 413 body too large, 500 internal \
             error), by endpoint and HTTP status code",
            review_errors.clone(),
        );
        let review_duration =
            Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "vramgate_review_duration",
            "Time from the start of a review request to its response being ready, body read included",
            Unit::Seconds,
            review_duration.clone(),
        );

        let admitted_jobs = Family::<SpendLabels, Counter>::default();
        registry.register(
            "vramgate_admitted_jobs",
            "GPU jobs admitted (allowed or warned, not dry runs) by the validating webhook, by namespace and GPU",
            admitted_jobs.clone(),
        );
        // Base unit: GPU-seconds (Prometheus naming); the dashboard divides by 3600.
        let admitted_gpu_seconds = Family::<SpendLabels, FloatCounter>::default();
        registry.register(
            "vramgate_admitted_gpu_seconds",
            "Estimated GPU time of admitted jobs in GPU-seconds (GPU-hours x 3600), by namespace and GPU",
            admitted_gpu_seconds.clone(),
        );
        let admitted_cost_usd = Family::<SpendLabels, FloatCounter>::default();
        registry.register(
            "vramgate_admitted_cost_usd",
            "Estimated GPU cost in US dollars of admitted jobs, by namespace and GPU",
            admitted_cost_usd.clone(),
        );
        let admitted_gpus_requested = Family::<SpendLabels, Counter>::default();
        registry.register(
            "vramgate_admitted_gpus_requested",
            "GPUs requested by admitted jobs, by namespace and GPU",
            admitted_gpus_requested.clone(),
        );
        let admitted_gpus_needed = Family::<SpendLabels, Counter>::default();
        registry.register(
            "vramgate_admitted_gpus_needed",
            "Fewest GPUs with which admitted jobs would fit, by namespace and GPU",
            admitted_gpus_needed.clone(),
        );
        let admitted_overprovisioned_cost_usd = Family::<SpendLabels, FloatCounter>::default();
        registry.register(
            "vramgate_admitted_overprovisioned_cost_usd",
            "Estimated US dollars spent by admitted jobs on GPUs beyond those they need, by namespace and GPU",
            admitted_overprovisioned_cost_usd.clone(),
        );

        let config_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "vramgate_config_reloads",
            "Attempts to load a changed config file, by result (success or failure; on failure the old config \
             stays in force)",
            config_reloads.clone(),
        );
        let certificate_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "vramgate_certificate_reloads",
            "Attempts to load a changed TLS certificate and key, by result (success or failure; on failure the \
             old certificate stays in use)",
            certificate_reloads.clone(),
        );
        let config_last_reload_success = FloatGauge::default();
        registry.register_with_unit(
            "vramgate_config_last_reload_success_timestamp",
            "Unix time at which the config in force was loaded (at start or by the last successful reload)",
            Unit::Seconds,
            config_last_reload_success.clone(),
        );
        let certificate_not_after = FloatGauge::default();
        registry.register_with_unit(
            "vramgate_certificate_not_after_timestamp",
            "Unix time at which the serving certificate in use expires (its notAfter)",
            Unit::Seconds,
            certificate_not_after.clone(),
        );
        let build_info = Family::<VersionLabels, Gauge>::default();
        registry.register("vramgate_build_info", "Always 1, labelled with the vramgate version", build_info.clone());
        build_info.get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION") }).set(1);

        for result in ["success", "failure"] {
            drop(config_reloads.get_or_create(&ResultLabels { result }));
            drop(certificate_reloads.get_or_create(&ResultLabels { result }));
        }

        Self {
            registry,
            reviews,
            review_errors,
            review_duration,
            admitted_jobs,
            admitted_gpu_seconds,
            admitted_cost_usd,
            admitted_gpus_requested,
            admitted_gpus_needed,
            admitted_overprovisioned_cost_usd,
            config_reloads,
            certificate_reloads,
            config_last_reload_success,
            certificate_not_after,
        }
    }

    /// Counts one answered review, and, where [`Record::counts_as_admission`], the job's
    /// spend under its namespace and GPU.
    pub fn record(&self, record: &Record) {
        self.reviews
            .get_or_create(&ReviewLabels {
                endpoint: record.endpoint.as_str(),
                operation: record.operation.clone(),
                kind: record.kind.clone(),
                decision: record.decision.as_str(),
                reason: record.reason.as_str(),
            })
            .inc();
        if !record.counts_as_admission() {
            return;
        }
        let labels = SpendLabels { namespace: record.namespace.clone(), gpu: record.gpu.clone() };
        self.admitted_jobs.get_or_create(&labels).inc();
        self.admitted_gpus_requested.get_or_create(&labels).inc_by(record.gpus_requested);
        if let Some(needed) = record.gpus_needed {
            self.admitted_gpus_needed.get_or_create(&labels).inc_by(u64::from(needed));
        }
        add(&self.admitted_gpu_seconds, &labels, record.gpu_hours.map(|h| h * 3600.0));
        add(&self.admitted_cost_usd, &labels, record.cost_usd);
        add(&self.admitted_overprovisioned_cost_usd, &labels, record.overprovisioned_cost_usd);
    }

    /// Counts one review request answered without a review: `status` is the HTTP status sent
    /// (400, 413 or 500).
    pub fn record_error(&self, endpoint: Endpoint, status: u16) {
        self.review_errors.get_or_create(&ErrorLabels { endpoint: endpoint.as_str(), code: status.to_string() }).inc();
    }

    /// Observes the duration of one review request, in seconds.
    pub fn observe_duration(&self, endpoint: Endpoint, seconds: f64) {
        self.review_duration.get_or_create(&EndpointLabels { endpoint: endpoint.as_str() }).observe(seconds);
    }

    /// Counts one config reload attempt; a success also sets the last-success timestamp to now.
    pub fn config_reload(&self, success: bool) {
        self.config_reloads.get_or_create(&ResultLabels { result: result_label(success) }).inc();
        if success {
            self.config_loaded_now();
        }
    }

    /// Sets `vramgate_config_last_reload_success_timestamp_seconds` to now, without counting a
    /// reload (the config loaded at start).
    pub fn config_loaded_now(&self) {
        self.config_last_reload_success.set(unix_now());
    }

    /// Counts one certificate reload attempt.
    pub fn certificate_reload(&self, success: bool) {
        self.certificate_reloads.get_or_create(&ResultLabels { result: result_label(success) }).inc();
    }

    /// Sets the notAfter (Unix seconds) of the certificate in use.
    pub fn set_certificate_not_after(&self, unix_seconds: i64) {
        // Exact for any date before the year 285 million; f64 is what the gauge holds.
        #[allow(clippy::cast_precision_loss)]
        self.certificate_not_after.set(unix_seconds as f64);
    }

    /// The OpenMetrics text exposition of every family, served with [`CONTENT_TYPE`].
    ///
    /// # Errors
    /// Only if a label value cannot be written, which `prometheus-client` does not do for the
    /// label types used here.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Adds a non-negative, finite amount to a float counter (a counter must never go down; a NaN
/// would poison it for good).
fn add(family: &Family<SpendLabels, FloatCounter>, labels: &SpendLabels, amount: Option<f64>) {
    if let Some(amount) = amount.filter(|a| a.is_finite() && *a >= 0.0) {
        family.get_or_create(labels).inc_by(amount);
    }
}

fn result_label(success: bool) -> &'static str {
    if success { "success" } else { "failure" }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}
