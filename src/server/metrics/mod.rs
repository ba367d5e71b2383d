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
//!
//! Code map: this file holds [`Metrics`] (registration of every family and the review, spend
//! and reload counters); `labels` the bounded label values (capped namespaces and teams, the
//! operation set); `admissions` the admission window that makes a retried CREATE count once;
//! `cluster` the collector of the cluster families, rendered at each scrape.

mod admissions;
mod cluster;
mod labels;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};

use self::admissions::Admissions;
use self::cluster::ClusterCollector;
use self::labels::{Bounds, operation_label};
use super::status::{ClusterStatus, unix_now};
use crate::admission::{self, Endpoint, Record};
use crate::config::Settings;
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

/// Registers a new `M` as `name` with `help` and returns it: the registry encodes one handle,
/// [`Metrics`] updates through the other (they share the values). The type is the field's.
fn registered<M: Metric + Clone + Default>(registry: &mut Registry, name: &str, help: &str) -> M {
    let metric = M::default();
    registry.register(name, help, metric.clone());
    metric
}

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
    reviews_late: Family<EndpointLabels, Counter>,
    review_errors: Family<ErrorLabels, Counter>,
    review_duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    admitted_jobs: Family<SpendLabels, Counter>,
    admitted_gpu_seconds: Family<SpendLabels, FloatCounter>,
    admitted_cost_usd: Family<SpendLabels, FloatCounter>,
    admitted_gpus_requested: Family<SpendLabels, Counter>,
    admitted_gpus_needed: Family<SpendLabels, Counter>,
    admitted_overprovisioned_cost_usd: Family<SpendLabels, FloatCounter>,
    admitted_serving_usd_per_hour: Family<SpendLabels, FloatCounter>,
    admitted_serving_kv_cache_tokens: Family<SpendLabels, Counter>,
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

        let reviews: Family<ReviewLabels, Counter> = registered(
            &mut registry,
            "vramgate_reviews",
            "AdmissionReviews answered with 200, by endpoint, operation, object kind, decision and reason",
        );
        let reviews_late: Family<EndpointLabels, Counter> = registered(
            &mut registry,
            "vramgate_reviews_late",
            "Reviews whose answer was ready only after the webhook timeout (server.webhook_timeout_seconds, the \
             webhook configurations' timeoutSeconds): the API server had given up on them, so none counts as an \
             admission; by endpoint",
        );
        let review_errors: Family<ErrorLabels, Counter> = registered(
            &mut registry,
            "vramgate_review_errors",
            "Review requests answered without a review (400 unusable body, 413 body too large, 500 internal \
             error), by endpoint and HTTP status code",
        );
        let review_duration =
            Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "vramgate_review_duration",
            "Time from the start of a review request to its response being ready, body read included",
            Unit::Seconds,
            review_duration.clone(),
        );

        let admitted_jobs: Family<SpendLabels, Counter> = registered(
            &mut registry,
            "vramgate_admitted_jobs",
            "GPU workloads admitted (a CREATE allowed or warned by the validating webhook in time, not a dry run, \
             not a pod of a supported controller, not a retry within the admission window), by namespace and GPU",
        );
        // Base unit: GPU-seconds (Prometheus naming); the dashboard divides by 3600.
        let admitted_gpu_seconds: Family<SpendLabels, FloatCounter> = registered(
            &mut registry,
            "vramgate_admitted_gpu_seconds",
            "Estimated GPU time of admitted jobs in GPU-seconds (GPU-hours x 3600), by namespace and GPU",
        );
        let admitted_cost_usd: Family<SpendLabels, FloatCounter> = registered(
            &mut registry,
            "vramgate_admitted_cost_usd",
            "Estimated GPU cost in US dollars of admitted jobs, by namespace and GPU",
        );
        let admitted_gpus_requested: Family<SpendLabels, Counter> = registered(
            &mut registry,
            "vramgate_admitted_gpus_requested",
            "GPUs requested by admitted jobs, by namespace and GPU",
        );
        let admitted_gpus_needed: Family<SpendLabels, Counter> = registered(
            &mut registry,
            "vramgate_admitted_gpus_needed",
            "Fewest GPUs with which admitted jobs would fit, by namespace and GPU",
        );
        let admitted_overprovisioned_cost_usd: Family<SpendLabels, FloatCounter> = registered(
            &mut registry,
            "vramgate_admitted_overprovisioned_cost_usd",
            "Estimated US dollars spent by admitted jobs on GPUs beyond those they need, by namespace and GPU",
        );
        // Inference servers are priced per hour and hold KV-cache tokens (no training run).
        let admitted_serving_usd_per_hour: Family<SpendLabels, FloatCounter> = registered(
            &mut registry,
            "vramgate_admitted_serving_usd_per_hour",
            "Sum of the estimated US dollars per hour of the inference servers admitted (replicas included), by \
             namespace and GPU",
        );
        let admitted_serving_kv_cache_tokens: Family<SpendLabels, Counter> = registered(
            &mut registry,
            "vramgate_admitted_serving_kv_cache_tokens",
            "KV-cache tokens of the inference servers admitted (each replica's pool x replicas), by namespace and GPU",
        );

        let config_reloads: Family<ResultLabels, Counter> = registered(
            &mut registry,
            "vramgate_config_reloads",
            "Attempts to load a changed config file, by result (success or failure; on failure the old config \
             stays in force)",
        );
        let certificate_reloads: Family<ResultLabels, Counter> = registered(
            &mut registry,
            "vramgate_certificate_reloads",
            "Attempts to load a changed TLS certificate and key, by result (success or failure; on failure the \
             old certificate stays in use)",
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
        let build_info: Family<VersionLabels, Gauge> =
            registered(&mut registry, "vramgate_build_info", "Always 1, labelled with the vramgate version");
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
            admitted_serving_usd_per_hour,
            admitted_serving_kv_cache_tokens,
            config_reloads,
            certificate_reloads,
            config_last_reload_success,
            certificate_not_after,
            exemptions,
            bounds,
            audit,
            admissions: Admissions::new(settings.metrics.admission_window, settings.metrics.max_remembered_admissions),
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
        if let Some(s) = record.serving {
            add(&self.admitted_serving_usd_per_hour, &labels, Some(s.usd_per_hour));
            self.admitted_serving_kv_cache_tokens.get_or_create(&labels).inc_by(s.kv_cache_tokens);
        }
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
