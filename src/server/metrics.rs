//! Prometheus metrics of the webhook, in the OpenMetrics text format.
//!
//! The family names and labels below are a contract: the Helm chart's alerts and the Grafana
//! dashboard query them. `prometheus-client` appends `_total` to counters and the unit
//! (`_seconds`) to families registered with one, so the names registered here lack those
//! suffixes. Every value is in base units (seconds, dollars, GPUs, GPU-hours).
//!
//! Label values are bounded, whatever a client sends (README, "Metrics"): endpoint, operation,
//! kind, decision and reason come from closed sets (`other` for a kind or operation outside
//! them); `gpu` is a catalog name, a published MIG profile of one, or `other`
//! ([`admission::gpu_label`]); `namespace` and `team` are the first `metrics.max_namespaces`
//! and `metrics.max_teams` distinct values seen, then `other`. Never a job name.
//!
//! The `vramgate_admitted_*` counters obey README's "What 'admitted' means":
//! [`Record::counts_as_admission`], plus what only the shell knows: the answer was ready within
//! the webhook timeout, and the same namespace, kind and name was not counted within the
//! admission window (a bounded map here; the clock is read here).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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

use super::status::{ClusterStatus, unix_now};
use crate::admission::{self, Endpoint, OTHER_LABEL, Record};
use crate::cluster::ledger::NO_TEAM;
use crate::config::{MetricsSettings, Settings};
use crate::estimate::catalog::GpuCatalog;

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
    operation: &'static str,
    kind: &'static str,
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

/// Locks `mutex`, taking the data of a poisoned one: every critical section below leaves its
/// data consistent at each step, and a metric must not take the review path down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A label whose values are the first `max` distinct valid values seen; later ones, and
/// invalid ones, are [`OTHER_LABEL`]. A value once given keeps its label for the life of the
/// process, so a counter's series never moves between labels.
#[derive(Debug)]
struct CappedLabel {
    max: usize,
    valid: fn(&str) -> bool,
    /// Values always labelled as themselves, outside the cap (`none`, the team of a workload
    /// without the team label).
    fixed: &'static [&'static str],
    seen: Mutex<HashSet<String>>,
}

impl CappedLabel {
    fn new(max: usize, valid: fn(&str) -> bool, fixed: &'static [&'static str]) -> Self {
        Self { max, valid, fixed, seen: Mutex::new(HashSet::new()) }
    }

    fn label(&self, value: &str) -> String {
        if self.fixed.contains(&value) {
            return value.to_owned();
        }
        if !(self.valid)(value) {
            return OTHER_LABEL.to_owned();
        }
        let mut seen = lock(&self.seen);
        if seen.contains(value) {
            return value.to_owned();
        }
        if seen.len() < self.max {
            seen.insert(value.to_owned());
            return value.to_owned();
        }
        OTHER_LABEL.to_owned()
    }
}

/// A namespace name: a DNS label (Kubernetes docs, "Namespaces": RFC 1123 label, at most 63).
fn is_namespace(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A non-empty label value: at most 63 alphanumerics, `-`, `_` or `.`, starting and ending
/// alphanumeric (Kubernetes docs, "Labels and Selectors: Syntax and character set").
fn is_label_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Longest object name remembered: a DNS subdomain (Kubernetes docs, "Object Names and IDs").
/// A longer one cannot come from the API server; its CREATE is counted without being
/// remembered, so a direct client cannot make the map hold large keys.
const MAX_NAME_BYTES: usize = 253;

/// (namespace, kind label, name) of a counted CREATE.
type AdmissionKey = (String, &'static str, String);

/// The CREATEs counted within the admission window, oldest first: at most `max`, each
/// forgotten once the window has passed or, when full, oldest first.
#[derive(Debug)]
struct Admissions {
    window: Duration,
    max: usize,
    inner: Mutex<AdmissionsInner>,
}

#[derive(Debug, Default)]
struct AdmissionsInner {
    at: HashMap<Arc<AdmissionKey>, Instant>,
    order: VecDeque<(Arc<AdmissionKey>, Instant)>,
}

impl AdmissionsInner {
    fn forget_oldest(&mut self) {
        if let Some((key, _)) = self.order.pop_front() {
            self.at.remove(&key);
        }
    }
}

impl Admissions {
    /// Whether the CREATE of `name` in `namespace` is the first within the window at `now`;
    /// if so it is remembered.
    fn first(&self, namespace: &str, kind: &'static str, name: &str, now: Instant) -> bool {
        if self.window.is_zero() || !is_namespace(namespace) || name.is_empty() || name.len() > MAX_NAME_BYTES {
            return true;
        }
        let mut inner = lock(&self.inner);
        while inner.order.front().is_some_and(|(_, at)| now.saturating_duration_since(*at) >= self.window) {
            inner.forget_oldest();
        }
        let key = (namespace.to_owned(), kind, name.to_owned());
        if inner.at.contains_key(&key) {
            return false;
        }
        while inner.at.len() >= self.max {
            inner.forget_oldest();
        }
        let key = Arc::new(key);
        inner.at.insert(key.clone(), now);
        inner.order.push_back((key, now));
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.inner).at.len()
    }
}

/// The label caps shared by the review families and the cluster collector, so a namespace
/// has one label everywhere.
#[derive(Debug)]
struct Bounds {
    namespaces: CappedLabel,
    teams: CappedLabel,
}

impl Bounds {
    fn new(settings: &MetricsSettings) -> Self {
        Self {
            namespaces: CappedLabel::new(settings.max_namespaces, is_namespace, &[]),
            teams: CappedLabel::new(settings.max_teams, is_label_value, &[NO_TEAM]),
        }
    }
}

/// The `operation` label: the four AdmissionReview operations, else `other`.
fn operation_label(operation: &str) -> &'static str {
    ["CREATE", "UPDATE", "DELETE", "CONNECT"].into_iter().find(|o| *o == operation).unwrap_or(OTHER_LABEL)
}

/// Every metric family of the process, and the registry that encodes them.
///
/// Cheap to share behind an `Arc`: every update is an atomic add or a short lock inside
/// `prometheus-client`'s families.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reviews: Family<ReviewLabels, Counter>,
    reviews_late: Family<EndpointLabels, Counter>,
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
    exemptions: super::exemption_metrics::ExemptionCounter,
    bounds: Arc<Bounds>,
    /// The periodic audit's families (`super::audit`).
    audit: super::audit::collector::AuditCollector,
    admissions: Admissions,
    /// Answers ready later than this were given up on by the API server.
    webhook_timeout: Duration,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The cluster families (`serve --cluster`), encoded at each scrape from the watchers' last
/// [`Live`] state, so a series disappears when what it counts does (a finished job's team,
/// a drained node pool) instead of lingering at its last value.
///
/// `namespace` and `team` are bounded as the review families' are (a team is a workload's
/// label value: any tenant's text); series that share bounded labels are summed. `gpu` and
/// `product` come from node labels (GPU Feature Discovery), which tenants do not write, and
/// grow only with the node pools.
#[derive(Debug)]
struct ClusterCollector(Arc<ClusterStatus>, Arc<Bounds>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GpuLabels {
    gpu: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProductLabels {
    product: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
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
        let bounds = &self.1;
        let cost = |k: &crate::cluster::CostKey| CostLabels {
            namespace: bounds.namespaces.label(&k.namespace),
            team: bounds.teams.label(&k.team),
            gpu: k.gpu.clone(),
        };
        let mut running: BTreeMap<CostLabels, (u64, f64)> = BTreeMap::new();
        for (k, r) in &snap.running {
            let sum = running.entry(cost(k)).or_default();
            sum.0 = sum.0.saturating_add(r.gpus);
            sum.1 += r.usd_per_hour;
        }
        let mut spent: BTreeMap<CostLabels, f64> = BTreeMap::new();
        for (k, usd) in &live.cumulative.usd {
            *spent.entry(cost(k)).or_default() += usd;
        }
        family(
            e,
            "vramgate_running_gpus",
            "GPUs held by running pods of workloads vramgate admitted, by namespace, team and GPU type",
            None,
            running.iter().map(|(k, r)| (k.clone(), ConstGauge::new(r.0 as i64))),
        )?;
        family(
            e,
            "vramgate_running_cost_usd_per_hour",
            "Estimated cost per hour in US dollars of those GPUs at the configured prices",
            None,
            running.iter().map(|(k, r)| (k.clone(), ConstGauge::new(r.1))),
        )?;
        family(
            e,
            "vramgate_running_cost_usd",
            "Estimated US dollars spent by running pods of admitted workloads since this process started",
            None,
            spent.into_iter().map(|(k, usd)| (k, ConstCounter::new(usd))),
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
    /// `failure` series of the reload counters and the late-review counters at 0 (so
    /// `increase()` sees their first change). Bounds and webhook timeout are the defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::configured(&Settings::default(), Arc::new(ClusterStatus::default()))
    }

    /// [`Metrics::new`] with the label caps and admission window of `settings.metrics` and the
    /// webhook timeout of `settings.server` (fixed from then on), and the cluster families read
    /// from `cluster` at each scrape.
    #[must_use]
    pub fn configured(settings: &Settings, cluster: Arc<ClusterStatus>) -> Self {
        let mut registry = Registry::default();
        let bounds = Arc::new(Bounds::new(&settings.metrics));
        registry.register_collector(Box::new(ClusterCollector(cluster.clone(), bounds.clone())));
        let b = bounds.clone();
        let namespace = Arc::new(move |ns: &str| b.namespaces.label(ns));
        registry.register_collector(Box::new(super::metrics_serving::ServingCollector::new(cluster, namespace)));
        let audit = super::audit::collector::AuditCollector::new(settings.metrics.max_namespaces);
        registry.register_collector(Box::new(audit.clone()));

        let reviews = Family::<ReviewLabels, Counter>::default();
        registry.register(
            "vramgate_reviews",
            "AdmissionReviews answered with 200, by endpoint, operation, object kind, decision and reason",
            reviews.clone(),
        );
        let reviews_late = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "vramgate_reviews_late",
            "Reviews whose answer was ready only after the webhook timeout (server.webhook_timeout_seconds, the \
             webhook configurations' timeoutSeconds): the API server had given up on them, so none counts as an \
             admission; by endpoint",
            reviews_late.clone(),
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
            "GPU workloads admitted (a CREATE allowed or warned by the validating webhook in time, not a dry run, \
             not a pod of a supported controller, not a retry within the admission window), by namespace and GPU",
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
        let exemptions = super::exemption_metrics::ExemptionCounter::register(&mut registry);
        let build_info = Family::<VersionLabels, Gauge>::default();
        registry.register("vramgate_build_info", "Always 1, labelled with the vramgate version", build_info.clone());
        build_info.get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION") }).set(1);

        for result in ["success", "failure"] {
            drop(config_reloads.get_or_create(&ResultLabels { result }));
            drop(certificate_reloads.get_or_create(&ResultLabels { result }));
        }
        for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
            drop(reviews_late.get_or_create(&EndpointLabels { endpoint: endpoint.as_str() }));
        }

        Self {
            registry,
            reviews,
            reviews_late,
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
            exemptions,
            bounds,
            audit,
            admissions: Admissions {
                window: settings.metrics.admission_window,
                max: settings.metrics.max_remembered_admissions,
                inner: Mutex::default(),
            },
            webhook_timeout: settings.server.webhook_timeout,
        }
    }

    /// Counts one review answered `elapsed` after its request arrived, and, if it admits a
    /// workload, the workload's spend under its bounded namespace and GPU labels (`catalog`
    /// names the GPU label values): [`Metrics::record_at`] now.
    pub fn record(&self, record: &Record, catalog: &GpuCatalog, elapsed: Duration) {
        self.record_at(record, catalog, elapsed, Instant::now());
    }

    /// [`Metrics::record`] at `now`. The spend is counted where [`Record::counts_as_admission`],
    /// the answer was ready within the webhook timeout (else it counts in
    /// `vramgate_reviews_late_total`), and no CREATE of the same namespace, kind and name was
    /// counted within the admission window before `now` (an object without `metadata.name` is
    /// never taken for a retry).
    pub fn record_at(&self, record: &Record, catalog: &GpuCatalog, elapsed: Duration, now: Instant) {
        let kind = admission::kind_label(&record.kind);
        self.reviews
            .get_or_create(&ReviewLabels {
                endpoint: record.endpoint.as_str(),
                operation: operation_label(&record.operation),
                kind,
                decision: record.decision.as_str(),
                reason: record.reason.as_str(),
            })
            .inc();
        if let Some(outcome) = record.exemption {
            self.exemptions.inc(self.bounds.namespaces.label(&record.namespace), outcome);
        }
        if elapsed > self.webhook_timeout {
            self.reviews_late.get_or_create(&EndpointLabels { endpoint: record.endpoint.as_str() }).inc();
            return;
        }
        if !record.counts_as_admission() {
            return;
        }
        if let Some(name) = &record.name
            && !self.admissions.first(&record.namespace, kind, name, now)
        {
            return;
        }
        let labels = SpendLabels {
            namespace: self.bounds.namespaces.label(&record.namespace),
            gpu: admission::gpu_label(catalog, &record.gpu),
        };
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

    /// The periodic audit's last report, for [`super::audit::run`] to publish into.
    #[must_use]
    pub fn audit(&self) -> &super::audit::collector::AuditCollector {
        &self.audit
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

#[cfg(test)]
mod tests {
    use super::*;

    fn admissions(window_seconds: u64, max: usize) -> Admissions {
        Admissions { window: Duration::from_secs(window_seconds), max, inner: Mutex::default() }
    }

    #[test]
    fn a_create_is_first_again_once_the_window_has_passed() {
        let a = admissions(600, 100);
        let t0 = Instant::now();
        assert!(a.first("research", "PyTorchJob", "train", t0));
        assert!(!a.first("research", "PyTorchJob", "train", t0 + Duration::from_secs(599)));
        // Another namespace, kind or name is another workload.
        assert!(a.first("other-ns", "PyTorchJob", "train", t0));
        assert!(a.first("research", "JobSet", "train", t0));
        assert!(a.first("research", "PyTorchJob", "train-2", t0));
        // The window runs from the counted CREATE, not from the retries.
        assert!(a.first("research", "PyTorchJob", "train", t0 + Duration::from_secs(600)));
        assert_eq!(a.len(), 1, "the three others, counted at t0 too, are forgotten");
    }

    #[test]
    fn the_remembered_admissions_are_capped_oldest_forgotten_first() {
        let a = admissions(600, 3);
        let t0 = Instant::now();
        for (i, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            assert!(a.first("research", "Job", name, t0 + Duration::from_secs(i as u64)));
        }
        assert_eq!(a.len(), 3);
        // `a`, the oldest, was forgotten to make room; `d` is still remembered.
        assert!(!a.first("research", "Job", "d", t0 + Duration::from_secs(5)));
        assert!(a.first("research", "Job", "a", t0 + Duration::from_secs(5)));
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn names_no_api_server_sends_and_a_zero_window_are_never_remembered() {
        let a = admissions(600, 10);
        let now = Instant::now();
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let bad_namespace = "N".repeat(64);
        for _ in 0..2 {
            assert!(a.first("research", "Job", &long, now));
            assert!(a.first(&bad_namespace, "Job", "train", now));
        }
        assert_eq!(a.len(), 0);
        let off = admissions(0, 10);
        assert!(off.first("research", "Job", "train", now) && off.first("research", "Job", "train", now));
    }

    #[test]
    fn teams_are_capped_with_none_outside_the_cap_and_invalid_values_other() {
        let bounds = Bounds::new(&MetricsSettings { max_teams: 2, ..MetricsSettings::default() });
        let t = |v: &str| bounds.teams.label(v);
        assert_eq!(t("nlp"), "nlp");
        assert_eq!(t(NO_TEAM), NO_TEAM);
        assert_eq!(t("vision"), "vision");
        assert_eq!(t("speech"), OTHER_LABEL);
        assert_eq!(t("nlp"), "nlp", "a value keeps its label");
        assert_eq!(t(NO_TEAM), NO_TEAM, "none is outside the cap");
        let bounds = Bounds::new(&MetricsSettings::default());
        for invalid in ["", "-x", "a b", &"t".repeat(64), "caf\u{e9}"] {
            assert_eq!(bounds.teams.label(invalid), OTHER_LABEL, "{invalid:?}");
            assert_eq!(bounds.namespaces.label(invalid), OTHER_LABEL, "{invalid:?}");
        }
        assert_eq!(bounds.namespaces.label("Research"), OTHER_LABEL, "a namespace is lowercase");
    }

    #[test]
    fn operations_outside_the_four_are_other() {
        assert_eq!(operation_label("CREATE"), "CREATE");
        assert_eq!(operation_label("PATCH"), OTHER_LABEL);
    }
}
