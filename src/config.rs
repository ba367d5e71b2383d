//! The config file shared by `vramgate serve` and `vramgate check`: policy (cluster default and
//! per namespace), the GPU catalog with prices, and which resources count as GPUs.
//!
//! Parsing and validation ([`Settings::from_yaml`]) are pure; [`load_file`] is the one function
//! here that touches the file system. Every problem is reported together, each with the path of
//! its key (`namespaces.research.mode`), so an operator fixes a config in one round.
//!
//! Keys are snake_case, like the GPU entries (`memory_bytes`) and the JSON the CLI prints.
//! Unknown keys are errors: a misspelt `max_cost_usd` must not silently mean "no limit".

use crate::estimate::catalog::GpuCatalog;
use crate::estimate::gpu::GpuSpec;
use crate::workload::ExtractConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The GPU assumed when neither the pod nor the annotations name one, unless the config says
/// otherwise. The most common training GPU in the clusters vramgate is written for.
pub const DEFAULT_GPU: &str = "H100-80GB";

/// Largest GPU count a plan search proposes, unless the config says otherwise.
pub const DEFAULT_MAX_GPUS: u32 = 1024;

/// Requested GPUs at or above this multiple of the GPUs needed earn an over-provisioning
/// warning, unless the config says otherwise. 4x: data parallelism legitimately buys speed
/// with 2x or 3x the GPUs memory needs, so only a large multiple is flagged by default.
pub const DEFAULT_OVERPROVISION_FACTOR: f64 = 4.0;

/// Largest review body accepted by default: 7 MiB. The API server limits a stored object to
/// about 3 MiB (etcd's request limit is 1.5 MiB by default), and an UPDATE review carries both
/// `object` and `oldObject`, JSON-encoded, so 7 MiB leaves room without letting one request
/// hold unbounded memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 7 * 1024 * 1024;
/// Default limit of a request's head (request line and headers): 64 KiB. The API server sends
/// a few hundred bytes.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Smallest `server.max_header_bytes` accepted: hyper's smallest read buffer.
pub const MIN_MAX_HEADER_BYTES: usize = 8192;
/// Default limit of one review, from its headers read to its response ready (reading the body
/// and waiting for a review slot included): 4 s. Every server timeout a review can wait on
/// (this one, the body read timeout, the handshake timeout) stays below the webhook's
/// `timeoutSeconds`, 5 s in the chart (the API server's own default is 10 s, its maximum 30 s:
/// <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#timeouts>),
/// so the server gives up on a review, and frees what it holds, before the API server does.
/// `tests/faults.rs` checks these defaults against the chart's `webhook.timeoutSeconds`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// Default limit of reading one review body: 3 s, inside the request timeout. The body is read
/// before a review slot is taken, so a slow body holds only its own connection.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Default longest wait for a request's headers, idle keep-alive time included. Longer than the
/// idle timeout of the API server's HTTP client (Go's `http.Transport`, 90 s in Kubernetes), so
/// the client closes an idle connection before the server does.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Default longest TLS handshake: 3 s, below the chart's 5 s webhook timeout (see
/// [`DEFAULT_REQUEST_TIMEOUT`]): a connection slot held by a stalled handshake is one an
/// honest review may be waiting for.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);
/// Default number of reviews in progress at once (body read and answer); more wait for a slot
/// within the request timeout. Review bodies held at once are at most this x the body limit
/// (8 x 7 MiB = 56 MiB), within the chart's 128 MiB memory limit.
pub const DEFAULT_MAX_CONCURRENT_REVIEWS: usize = 8;
/// Default number of open webhook connections; beyond it, new connections wait in the kernel's
/// accept queue until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default number of open connections to the plain-HTTP probe and metrics port; beyond it, new
/// connections wait in the accept queue. The kubelet's probes and a Prometheus scrape need a
/// few; the cap keeps idle connections from using up the process's file descriptors (which
/// would stop the webhook accepting).
pub const DEFAULT_METRICS_MAX_CONNECTIONS: usize = 64;
/// Default longest wait for a request's head on the probe and metrics port, idle keep-alive
/// time included: 30 s, so an idle or half-sent connection is closed well within a minute.
/// Prometheus and the kubelet reconnect when a kept-alive connection was closed.
pub const DEFAULT_METRICS_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default `server.webhook_timeout_seconds`: 5 s, the chart's `webhook.timeoutSeconds` (the
/// Kubernetes API server's own default is 10 s; `timeoutSeconds` is 1 to 30 s, "Dynamic
/// Admission Control: Timeouts").
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `server.webhook_timeout_seconds`: the API server accepts `timeoutSeconds` up to 30.
pub const MAX_WEBHOOK_TIMEOUT_SECONDS: f64 = 30.0;
/// Default most JSON values built of one review object (`request.object`, `request.oldObject`
/// each), counting only the fields vramgate reads (`admission::review::read_member`). The
/// largest real object in `tests/fixtures/` and `deploy/examples/` builds 118; 20,000 is room
/// for a JobSet of a hundred replicated Jobs or thousands of labels, while 8 concurrent reviews at the limit
/// (two objects each, about 100 bytes a value with its `Vec` slack) build about 32 MiB at
/// most (issue 12; `benches/memory.rs` measures it).
pub const DEFAULT_MAX_OBJECT_NODES: usize = 20_000;

/// The webhook server's limits, as written (`server:`): every field optional. Read at start;
/// a reload that changes them is logged and takes effect at the next start.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub max_body_bytes: Option<u64>,
    pub max_header_bytes: Option<u64>,
    pub request_timeout_seconds: Option<f64>,
    pub body_read_timeout_seconds: Option<f64>,
    pub header_read_timeout_seconds: Option<f64>,
    pub handshake_timeout_seconds: Option<f64>,
    pub max_concurrent_reviews: Option<u64>,
    pub max_connections: Option<u64>,
    pub client_ca_file: Option<PathBuf>,
    pub metrics_max_connections: Option<u64>,
    pub metrics_header_read_timeout_seconds: Option<f64>,
    pub webhook_timeout_seconds: Option<f64>,
    pub max_object_nodes: Option<u64>,
}

/// The webhook server's limits, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest review body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest request head (hyper's read buffer); larger ones get 431.
    pub max_header_bytes: usize,
    /// Longest a review may take, body read and slot wait included; then 503.
    pub request_timeout: Duration,
    /// Longest a review body may take to arrive (read before a review slot is taken); then
    /// 408.
    pub body_read_timeout: Duration,
    /// Longest wait for a request's headers (idle keep-alive included); then the connection
    /// closes.
    pub header_read_timeout: Duration,
    /// Longest TLS handshake; then the connection closes.
    pub handshake_timeout: Duration,
    /// Reviews answered at once; more wait for a slot within `request_timeout`. Also bounds
    /// the review bodies held at once to this x `max_body_bytes`.
    pub max_concurrent_reviews: usize,
    /// Open webhook connections at once; more wait in the accept queue.
    pub max_connections: usize,
    /// PEM CA bundle that webhook clients' certificates must chain to (mutual TLS); `None`: no
    /// client certificate asked for.
    pub client_ca_file: Option<PathBuf>,
    /// Open connections to the probe and metrics port at once; more wait in the accept queue.
    pub metrics_max_connections: usize,
    /// Longest wait for a request's head on the probe and metrics port (idle keep-alive
    /// included); then the connection closes.
    pub metrics_header_read_timeout: Duration,
    /// The `timeoutSeconds` of the webhook configurations: a review whose answer is ready later
    /// was already given up on by the API server, so it does not count as an admission
    /// (`vramgate_reviews_late_total` counts it instead).
    pub webhook_timeout: Duration,
    /// Most JSON values built of one review object (the fields vramgate reads); beyond it, 400.
    pub max_object_nodes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_concurrent_reviews: DEFAULT_MAX_CONCURRENT_REVIEWS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            client_ca_file: None,
            metrics_max_connections: DEFAULT_METRICS_MAX_CONNECTIONS,
            metrics_header_read_timeout: DEFAULT_METRICS_HEADER_READ_TIMEOUT,
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT,
            max_object_nodes: DEFAULT_MAX_OBJECT_NODES,
        }
    }
}

impl ServerFile {
    /// The limits, or every problem with its key path (`server.max_body_bytes`).
    fn resolve(&self, errs: &mut Vec<ConfigError>) -> ServerLimits {
        let d = ServerLimits::default();
        let mut count = |key: &str, value: Option<u64>, min: u64, max: u64, default: usize| -> usize {
            match value {
                None => default,
                Some(v) if (min..=max).contains(&v) => usize::try_from(v).unwrap_or(default),
                Some(v) => {
                    errs.push(ConfigError {
                        path: format!("server.{key}"),
                        message: format!("{v} is not accepted; accepted: {min} to {max}"),
                    });
                    default
                }
            }
        };
        let max_body_bytes = count("max_body_bytes", self.max_body_bytes, 1024, 64 * 1024 * 1024, d.max_body_bytes);
        let max_header_bytes = count(
            "max_header_bytes",
            self.max_header_bytes,
            MIN_MAX_HEADER_BYTES as u64,
            1024 * 1024,
            d.max_header_bytes,
        );
        let max_concurrent_reviews =
            count("max_concurrent_reviews", self.max_concurrent_reviews, 1, 65_536, d.max_concurrent_reviews);
        let max_connections = count("max_connections", self.max_connections, 1, 65_536, d.max_connections);
        let metrics_max_connections =
            count("metrics_max_connections", self.metrics_max_connections, 1, 65_536, d.metrics_max_connections);
        let max_object_nodes = count("max_object_nodes", self.max_object_nodes, 100, 10_000_000, d.max_object_nodes);
        let mut seconds = |key: &str, value: Option<f64>, default: Duration| -> Duration {
            match value {
                None => default,
                Some(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Duration::from_secs_f64(v),
                Some(v) => {
                    errs.push(ConfigError {
                        path: format!("server.{key}"),
                        message: format!("{v} is not accepted; accepted: seconds > 0 and at most 3600"),
                    });
                    default
                }
            }
        };
        let request_timeout = seconds("request_timeout_seconds", self.request_timeout_seconds, d.request_timeout);
        let body_read_timeout =
            seconds("body_read_timeout_seconds", self.body_read_timeout_seconds, d.body_read_timeout);
        let header_read_timeout =
            seconds("header_read_timeout_seconds", self.header_read_timeout_seconds, d.header_read_timeout);
        let handshake_timeout =
            seconds("handshake_timeout_seconds", self.handshake_timeout_seconds, d.handshake_timeout);
        let metrics_header_read_timeout = seconds(
            "metrics_header_read_timeout_seconds",
            self.metrics_header_read_timeout_seconds,
            d.metrics_header_read_timeout,
        );
        let webhook_timeout = match self.webhook_timeout_seconds {
            None => d.webhook_timeout,
            Some(v) if v.is_finite() && v > 0.0 && v <= MAX_WEBHOOK_TIMEOUT_SECONDS => Duration::from_secs_f64(v),
            Some(v) => {
                errs.push(ConfigError {
                    path: "server.webhook_timeout_seconds".into(),
                    message: format!(
                        "{v} is not accepted; accepted: seconds > 0 and at most {MAX_WEBHOOK_TIMEOUT_SECONDS} (the \
                         webhook configuration's timeoutSeconds)"
                    ),
                });
                d.webhook_timeout
            }
        };
        if self.client_ca_file.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            errs.push(ConfigError {
                path: "server.client_ca_file".into(),
                message: "must not be empty; accepted: the path of a PEM CA bundle, or leave the key out".into(),
            });
        }
        ServerLimits {
            max_body_bytes,
            max_header_bytes,
            request_timeout,
            body_read_timeout,
            header_read_timeout,
            handshake_timeout,
            max_concurrent_reviews,
            max_connections,
            client_ca_file: self.client_ca_file.clone(),
            metrics_max_connections,
            metrics_header_read_timeout,
            webhook_timeout,
            max_object_nodes,
        }
    }
}

/// How a job that names no GPU type is given one from the cluster's inventory
/// (`policy.gpu_choice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuChoice {
    /// The GPU type with the least memory the job fits on: leaves the large GPUs for the jobs
    /// that need them.
    Smallest,
    /// The GPU type the job costs least on, by the configured prices and estimated GPU-hours
    /// (by price per hour when the job gives no `training-tokens`).
    Cheapest,
}

impl GpuChoice {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smallest => "smallest",
            Self::Cheapest => "cheapest",
        }
    }
}

/// Default `metrics.max_namespaces`: distinct `namespace` label values before `other`. A
/// thousand namespaces x a dozen GPU types stays a few thousand series per family.
pub const DEFAULT_METRICS_MAX_NAMESPACES: usize = 1000;
/// Default `metrics.max_teams`: distinct `team` label values of the live cost metrics before
/// `other`.
pub const DEFAULT_METRICS_MAX_TEAMS: usize = 200;
/// Default `metrics.admission_window_seconds`: a CREATE of a namespace, kind and name already
/// counted this recently is a retry, not a new admission (10 minutes: far longer than the API
/// server retries a call, short enough that a job deleted and submitted again is counted).
pub const DEFAULT_ADMISSION_WINDOW: Duration = Duration::from_secs(600);
/// Default `metrics.max_remembered_admissions`: admissions remembered for that window (each at
/// most a 63-byte namespace and a 253-byte name, so a few MiB at most); past it the oldest is
/// forgotten first.
pub const DEFAULT_MAX_REMEMBERED_ADMISSIONS: usize = 10_000;

/// Bounds of the metrics (`metrics:`), resolved. Read at start, like [`ServerLimits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSettings {
    /// Distinct `namespace` label values; namespaces seen later are labelled `other`.
    pub max_namespaces: usize,
    /// Distinct `team` label values; teams seen later are labelled `other`.
    pub max_teams: usize,
    /// A CREATE of a (namespace, kind, name) counted within this window is not counted again.
    pub admission_window: Duration,
    /// Admissions remembered for the window at most; the oldest is forgotten first.
    pub max_remembered_admissions: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            max_namespaces: DEFAULT_METRICS_MAX_NAMESPACES,
            max_teams: DEFAULT_METRICS_MAX_TEAMS,
            admission_window: DEFAULT_ADMISSION_WINDOW,
            max_remembered_admissions: DEFAULT_MAX_REMEMBERED_ADMISSIONS,
        }
    }
}

/// `metrics:` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    pub max_namespaces: Option<u64>,
    pub max_teams: Option<u64>,
    pub admission_window_seconds: Option<u64>,
    pub max_remembered_admissions: Option<u64>,
}

impl MetricsFile {
    fn resolve(&self, errs: &mut Vec<ConfigError>) -> MetricsSettings {
        let d = MetricsSettings::default();
        let mut count = |key: &str, value: Option<u64>, min: u64, max: u64, default: u64| -> u64 {
            match value {
                None => default,
                Some(v) if (min..=max).contains(&v) => v,
                Some(v) => {
                    errs.push(ConfigError {
                        path: format!("metrics.{key}"),
                        message: format!("{v} is not accepted; accepted: {min} to {max}"),
                    });
                    default
                }
            }
        };
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        MetricsSettings {
            max_namespaces: size(count("max_namespaces", self.max_namespaces, 1, 100_000, d.max_namespaces as u64)),
            max_teams: size(count("max_teams", self.max_teams, 1, 100_000, d.max_teams as u64)),
            admission_window: Duration::from_secs(count(
                "admission_window_seconds",
                self.admission_window_seconds,
                0,
                86_400,
                d.admission_window.as_secs(),
            )),
            max_remembered_admissions: size(count(
                "max_remembered_admissions",
                self.max_remembered_admissions,
                1,
                1_000_000,
                d.max_remembered_admissions as u64,
            )),
        }
    }
}

/// Default `cluster.inventory_max_stale_seconds`: 10 minutes. A node pool rarely appears or
/// disappears faster than that; beyond it, the inventory's findings warn instead of deny.
pub const DEFAULT_INVENTORY_MAX_STALE_SECONDS: u64 = 600;
/// Default `cluster.team_label`.
pub const DEFAULT_TEAM_LABEL: &str = "team";

/// Cluster awareness (`cluster:`; used by `serve --cluster`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSettings {
    /// The workload label whose value is the live-cost metrics' `team`.
    pub team_label: String,
    /// How long the last known inventory may be stale and still deny a job.
    pub inventory_max_stale_seconds: u64,
    /// Whether what the inventory finds (a GPU type the cluster lacks, more GPUs than it has)
    /// is a breach. `false` for clusters whose GPU nodes an autoscaler (cluster-autoscaler,
    /// Karpenter) creates on demand: there the inventory is what exists now, not what could.
    pub enforce_inventory: bool,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            team_label: DEFAULT_TEAM_LABEL.to_owned(),
            inventory_max_stale_seconds: DEFAULT_INVENTORY_MAX_STALE_SECONDS,
            enforce_inventory: true,
        }
    }
}

/// `cluster:` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    pub team_label: Option<String>,
    pub inventory_max_stale_seconds: Option<u64>,
    pub enforce_inventory: Option<bool>,
}

/// How the validating webhook judges an UPDATE (`policy.update`). The mutating webhook never
/// changes an object on UPDATE, whatever this says: controllers (autoscalers, queueing
/// systems) own an admitted object's replicas and GPU type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdatePolicy {
    /// An UPDATE that raises neither the GPUs asked for nor the estimated cost (total and per
    /// hour) is never denied: its breaches become warnings, unless the job no longer fits its
    /// GPUs' memory at all. An UPDATE that raises either is judged like a CREATE.
    Lenient,
    /// Every UPDATE is judged like a CREATE.
    Strict,
    /// UPDATEs are not judged.
    Skip,
}

impl UpdatePolicy {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lenient => "lenient",
            Self::Strict => "strict",
            Self::Skip => "skip",
        }
    }
}

/// What the webhook does with a job that breaks policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny what does not fit, what costs more than the limit, and malformed annotations.
    Enforce,
    /// Allow, with warnings that `kubectl` prints.
    Warn,
    /// Allow silently; only metrics record what would have been denied.
    Audit,
}

impl Mode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Warn => "warn",
            Self::Audit => "audit",
        }
    }
}

/// The policy that applies to one namespace, every field resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub mode: Mode,
    /// Whether the mutating webhook may change GPU count, replicas or GPU type to a plan that
    /// fits (instead of the validating webhook denying the job).
    pub patch: bool,
    /// Whether a GPU workload without any `vramgate.io/` annotation is a policy breach.
    pub require_annotations: bool,
    /// Largest estimated cost of one job, in US dollars; `None`: no limit.
    pub max_cost_usd: Option<f64>,
    /// Catalog GPU assumed when the pod names none (no node selector or affinity on a GPU
    /// product) and there is no `vramgate.io/gpu` annotation.
    pub default_gpu: String,
    /// Requested GPUs >= this x needed earns a warning naming the waste.
    pub overprovision_factor: f64,
    /// GPU types a patch may switch a job to; empty: a patch keeps the job's GPU type.
    pub patch_gpu_types: Vec<String>,
    /// With a cluster inventory: how a job that names no GPU type gets one.
    pub gpu_choice: GpuChoice,
    /// How an UPDATE is judged.
    pub update: UpdatePolicy,
    /// A `/scale` request whose parent object vramgate cannot see (no `--cluster`, or not
    /// yet watched): allowed silently, allowed with a warning, or a policy breach.
    pub unjudged_scale: Unjudged,
    /// GPUs a pod asks for in a way vramgate cannot count (DRA claims it cannot resolve,
    /// accelerator resources not in `resources.gpu`): a warning, or a policy breach.
    pub unseen_gpus: Unseen,
}

/// What an unjudged `/scale` request gets (`unjudged_scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unjudged {
    /// Allowed; counted in metrics only.
    Allow,
    /// Allowed with a warning naming the parent and how to have it judged (advice).
    Warn,
    /// A breach: denied under `enforce`, a warning under `warn`, counted under `audit`.
    Deny,
}

/// What GPUs vramgate cannot count get (`unseen_gpus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unseen {
    /// A warning naming them; the job is judged on the GPUs it can count (advice).
    Warn,
    /// A breach: denied under `enforce`, a warning under `warn`, counted under `audit`.
    Deny,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            patch: false,
            require_annotations: false,
            max_cost_usd: None,
            default_gpu: DEFAULT_GPU.to_string(),
            overprovision_factor: DEFAULT_OVERPROVISION_FACTOR,
            patch_gpu_types: Vec::new(),
            gpu_choice: GpuChoice::Smallest,
            update: UpdatePolicy::Lenient,
            unjudged_scale: Unjudged::Warn,
            unseen_gpus: Unseen::Warn,
        }
    }
}

/// A policy as written in the file: every field optional, so a namespace entry overrides only
/// what it names.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub mode: Option<Mode>,
    pub patch: Option<bool>,
    pub require_annotations: Option<bool>,
    /// A number, or `null` in a namespace entry to lift the cluster limit.
    #[serde(default, deserialize_with = "some_nullable")]
    pub max_cost_usd: Option<Option<f64>>,
    pub default_gpu: Option<String>,
    pub overprovision_factor: Option<f64>,
    pub patch_gpu_types: Option<Vec<String>>,
    pub gpu_choice: Option<GpuChoice>,
    pub update: Option<UpdatePolicy>,
    pub unjudged_scale: Option<Unjudged>,
    pub unseen_gpus: Option<Unseen>,
}

fn some_nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

impl PolicyFile {
    fn apply(&self, base: &Policy) -> Policy {
        Policy {
            mode: self.mode.unwrap_or(base.mode),
            patch: self.patch.unwrap_or(base.patch),
            require_annotations: self.require_annotations.unwrap_or(base.require_annotations),
            max_cost_usd: self.max_cost_usd.unwrap_or(base.max_cost_usd),
            default_gpu: self.default_gpu.clone().unwrap_or_else(|| base.default_gpu.clone()),
            overprovision_factor: self.overprovision_factor.unwrap_or(base.overprovision_factor),
            patch_gpu_types: self.patch_gpu_types.clone().unwrap_or_else(|| base.patch_gpu_types.clone()),
            gpu_choice: self.gpu_choice.unwrap_or(base.gpu_choice),
            update: self.update.unwrap_or(base.update),
            unjudged_scale: self.unjudged_scale.unwrap_or(base.unjudged_scale),
            unseen_gpus: self.unseen_gpus.unwrap_or(base.unseen_gpus),
        }
    }
}

/// Which extended resources are GPUs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesFile {
    /// Resource names counted as whole GPUs. Default `[nvidia.com/gpu]`.
    #[serde(default = "default_gpu_resources")]
    pub gpu: Vec<String>,
    /// Prefix of MIG profile resources (MIG "mixed" strategy). Default `nvidia.com/mig-`.
    #[serde(default = "default_mig_prefix")]
    pub mig_prefix: String,
    /// DRA device classes whose devices count as full GPUs (`resourceClaimTemplate` requests
    /// with this `deviceClassName`). Default `[gpu.nvidia.com]`.
    #[serde(default = "default_dra_device_classes")]
    pub dra_device_classes: Vec<String>,
}

fn default_dra_device_classes() -> Vec<String> {
    ExtractConfig::default().dra_device_classes
}

fn default_gpu_resources() -> Vec<String> {
    ExtractConfig::default().gpu_resource_names
}
fn default_mig_prefix() -> String {
    ExtractConfig::default().mig_resource_prefix
}

impl Default for ResourcesFile {
    fn default() -> Self {
        Self {
            gpu: default_gpu_resources(),
            mig_prefix: default_mig_prefix(),
            dra_device_classes: default_dra_device_classes(),
        }
    }
}

/// A GPU catalog entry as written: every field but `name` optional, so overriding a built-in
/// GPU's price takes one line.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GpuEntry {
    pub name: String,
    pub aliases: Option<Vec<String>>,
    pub gfd_products: Option<Vec<String>>,
    pub memory_bytes: Option<u64>,
    pub dense_bf16_flops: Option<f64>,
    pub dense_fp16_flops: Option<f64>,
    pub dense_fp8_flops: Option<f64>,
    pub dense_fp32_flops: Option<f64>,
    pub bf16_supported: Option<bool>,
    pub fp8_supported: Option<bool>,
    pub usd_per_hour: Option<f64>,
    pub price_source: Option<String>,
    pub price_date: Option<String>,
    pub spec_source: Option<String>,
}

impl GpuEntry {
    /// The entry laid over `base` (a built-in GPU), or, without one, a new GPU whose required
    /// facts must all be given. Errors name the missing fields.
    fn resolve(&self, base: Option<&GpuSpec>) -> Result<GpuSpec, Vec<&'static str>> {
        let mut missing = Vec::new();
        let mut need = |field: &'static str, present: bool| {
            if base.is_none() && !present {
                missing.push(field);
            }
        };
        need("memory_bytes", self.memory_bytes.is_some());
        need("dense_bf16_flops", self.dense_bf16_flops.is_some());
        need("dense_fp16_flops", self.dense_fp16_flops.is_some());
        need("dense_fp32_flops", self.dense_fp32_flops.is_some());
        need("bf16_supported", self.bf16_supported.is_some());
        need("usd_per_hour", self.usd_per_hour.is_some());
        if !missing.is_empty() {
            return Err(missing);
        }
        let b = base.cloned().unwrap_or_else(|| GpuSpec {
            name: self.name.clone(),
            aliases: Vec::new(),
            gfd_products: Vec::new(),
            memory_bytes: 0,
            dense_bf16_flops: 0.0,
            dense_fp16_flops: 0.0,
            dense_fp8_flops: 0.0,
            dense_fp32_flops: 0.0,
            bf16_supported: false,
            fp8_supported: false,
            usd_per_hour: 0.0,
            price_source: String::new(),
            price_date: String::new(),
            spec_source: String::new(),
        });
        Ok(GpuSpec {
            name: b.name,
            aliases: self.aliases.clone().unwrap_or(b.aliases),
            gfd_products: self.gfd_products.clone().unwrap_or(b.gfd_products),
            memory_bytes: self.memory_bytes.unwrap_or(b.memory_bytes),
            dense_bf16_flops: self.dense_bf16_flops.unwrap_or(b.dense_bf16_flops),
            dense_fp16_flops: self.dense_fp16_flops.unwrap_or(b.dense_fp16_flops),
            dense_fp8_flops: self.dense_fp8_flops.unwrap_or(b.dense_fp8_flops),
            dense_fp32_flops: self.dense_fp32_flops.unwrap_or(b.dense_fp32_flops),
            bf16_supported: self.bf16_supported.unwrap_or(b.bf16_supported),
            fp8_supported: self.fp8_supported.unwrap_or(b.fp8_supported),
            usd_per_hour: self.usd_per_hour.unwrap_or(b.usd_per_hour),
            // A new price without its own source must not keep the old price's source.
            price_source: self.price_source.clone().unwrap_or_else(|| {
                if self.usd_per_hour.is_some() { "config file".to_string() } else { b.price_source }
            }),
            price_date: self
                .price_date
                .clone()
                .unwrap_or_else(|| if self.usd_per_hour.is_some() { String::new() } else { b.price_date }),
            spec_source: self.spec_source.clone().unwrap_or(b.spec_source),
        })
    }
}

/// The file, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Cluster-wide policy; a namespace without an entry gets exactly this.
    #[serde(default)]
    pub policy: PolicyFile,
    /// Per-namespace overrides of `policy`.
    #[serde(default)]
    pub namespaces: BTreeMap<String, PolicyFile>,
    #[serde(default)]
    pub resources: ResourcesFile,
    /// GPU catalog entries: one named like a built-in GPU overrides only the fields it gives
    /// (e.g. your negotiated `usd_per_hour`); any other is added and must give every fact.
    #[serde(default)]
    pub gpus: Vec<GpuEntry>,
    /// Largest GPU count a plan may propose. Default 1024.
    pub max_gpus: Option<u32>,
    /// The webhook server's limits (read at start only).
    #[serde(default)]
    pub server: ServerFile,
    /// Cluster awareness (`serve --cluster`).
    #[serde(default)]
    pub cluster: ClusterFile,
    /// Bounds of the metrics' labels and admission counting (read at start only).
    #[serde(default)]
    pub metrics: MetricsFile,
}

/// One problem in the config, with the path of its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// Dotted path (`namespaces.research.mode`); `""` for the file as a whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { write!(f, "{}", self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

/// The validated config: what the webhook and `check` decide with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub defaults: Policy,
    pub namespaces: BTreeMap<String, Policy>,
    pub catalog: GpuCatalog,
    pub extract: ExtractConfig,
    pub max_gpus: u32,
    /// The webhook server's limits; `serve` reads them at start only.
    pub server: ServerLimits,
    pub cluster: ClusterSettings,
    /// Bounds of the metrics; `serve` reads them at start only.
    pub metrics: MetricsSettings,
}

impl Default for Settings {
    /// Built-in defaults: enforce, no patching, no cost limit, H100-80GB, the built-in catalog.
    fn default() -> Self {
        Self {
            defaults: Policy::default(),
            namespaces: BTreeMap::new(),
            catalog: GpuCatalog::builtin(),
            extract: ExtractConfig::default(),
            max_gpus: DEFAULT_MAX_GPUS,
            server: ServerLimits::default(),
            cluster: ClusterSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

impl Settings {
    /// The policy of `namespace` (the cluster default when it has no entry).
    #[must_use]
    pub fn policy(&self, namespace: &str) -> &Policy {
        self.namespaces.get(namespace).unwrap_or(&self.defaults)
    }

    /// Parses and validates a config file's text (YAML, or JSON, which is YAML).
    ///
    /// # Errors
    /// Every problem found, each with its key's path.
    pub fn from_yaml(text: &str) -> Result<Self, Vec<ConfigError>> {
        check_size_and_nesting(text)?;
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let file: ConfigFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            vec![ConfigError { path, message: e.into_inner().to_string() }]
        })?;
        Self::from_file(file)
    }

    /// Validates a parsed file.
    ///
    /// # Errors
    /// Every problem found, each with its key's path.
    pub fn from_file(file: ConfigFile) -> Result<Self, Vec<ConfigError>> {
        let mut errs = Vec::new();
        let catalog = match catalog_with(&file.gpus) {
            Ok(c) => c,
            Err(e) => {
                errs.extend(e);
                GpuCatalog::builtin()
            }
        };

        let check_policy = |p: &PolicyFile, at: &str, errs: &mut Vec<ConfigError>| {
            let mut e = |k: &str, m: String| errs.push(ConfigError { path: format!("{at}.{k}"), message: m });
            if let Some(Some(c)) = p.max_cost_usd
                && !(c.is_finite() && c > 0.0)
            {
                e("max_cost_usd", format!("{c} is not accepted; accepted: dollars > 0, or null for no limit"));
            }
            if let Some(f) = p.overprovision_factor
                && !(f.is_finite() && f > 1.0)
            {
                e("overprovision_factor", format!("{f} is not accepted; accepted: a number > 1, e.g. 2"));
            }
            if let Some(g) = &p.default_gpu
                && catalog.find(g).is_none()
            {
                e("default_gpu", format!("unknown GPU '{g}'; closest: {}", catalog.suggest(g).join(", ")));
            }
            for (i, g) in p.patch_gpu_types.iter().flatten().enumerate() {
                if catalog.find(g).is_none() {
                    e(
                        &format!("patch_gpu_types[{i}]"),
                        format!("unknown GPU '{g}'; closest: {}", catalog.suggest(g).join(", ")),
                    );
                }
            }
        };
        check_policy(&file.policy, "policy", &mut errs);
        for (ns, p) in &file.namespaces {
            if !is_dns_label(ns) {
                errs.push(ConfigError {
                    path: format!("namespaces.{ns}"),
                    message: "is not a namespace name; accepted: a DNS label (a-z, 0-9, '-', at most 63)".into(),
                });
            }
            check_policy(p, &format!("namespaces.{ns}"), &mut errs);
        }
        if file.resources.gpu.is_empty() && file.resources.mig_prefix.is_empty() {
            errs.push(ConfigError {
                path: "resources".into(),
                message: "names no GPU resource and no MIG prefix: no GPU would ever be counted".into(),
            });
        }
        for (i, r) in file.resources.gpu.iter().enumerate() {
            if r.trim().is_empty() || r.contains(char::is_whitespace) {
                errs.push(ConfigError {
                    path: format!("resources.gpu[{i}]"),
                    message: format!("'{r}' is not a resource name; accepted: e.g. nvidia.com/gpu"),
                });
            }
        }
        let server = file.server.resolve(&mut errs);
        let metrics = file.metrics.resolve(&mut errs);
        let cluster = ClusterSettings {
            team_label: file.cluster.team_label.clone().unwrap_or_else(|| DEFAULT_TEAM_LABEL.to_owned()),
            inventory_max_stale_seconds: file
                .cluster
                .inventory_max_stale_seconds
                .unwrap_or(DEFAULT_INVENTORY_MAX_STALE_SECONDS),
            enforce_inventory: file.cluster.enforce_inventory.unwrap_or(true),
        };
        if !is_label_key(&cluster.team_label) {
            errs.push(ConfigError {
                path: "cluster.team_label".into(),
                message: format!(
                    "'{}' is not a label key; accepted: [prefix/]name, name at most 63 of a-z A-Z 0-9 - _ . (e.g. team)",
                    cluster.team_label
                ),
            });
        }
        let max_gpus = file.max_gpus.unwrap_or(DEFAULT_MAX_GPUS);
        if !(1..=crate::estimate::MAX_GPUS).contains(&max_gpus) {
            errs.push(ConfigError {
                path: "max_gpus".into(),
                message: format!("{max_gpus} is not accepted; accepted: 1 to {}", crate::estimate::MAX_GPUS),
            });
        }
        if !errs.is_empty() {
            return Err(errs);
        }

        // Canonical GPU names, so later lookups never fail.
        let canon = |g: &str| catalog.find(g).map_or_else(|| g.to_string(), |s| s.name.clone());
        let mut defaults = file.policy.apply(&Policy::default());
        defaults.default_gpu = canon(&defaults.default_gpu);
        defaults.patch_gpu_types = defaults.patch_gpu_types.iter().map(|g| canon(g)).collect();
        let namespaces = file
            .namespaces
            .iter()
            .map(|(ns, p)| {
                let mut p = p.apply(&defaults);
                p.default_gpu = canon(&p.default_gpu);
                p.patch_gpu_types = p.patch_gpu_types.iter().map(|g| canon(g)).collect();
                (ns.clone(), p)
            })
            .collect();
        Ok(Self {
            defaults,
            namespaces,
            catalog,
            extract: ExtractConfig {
                gpu_resource_names: file.resources.gpu,
                mig_resource_prefix: file.resources.mig_prefix,
                dra_device_classes: file.resources.dra_device_classes,
            },
            max_gpus,
            server,
            cluster,
            metrics,
        })
    }
}

/// A Kubernetes label key: an optional DNS-subdomain prefix and `/`, then a name of at most
/// 63 alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric (Kubernetes docs,
/// "Labels and Selectors: Syntax and character set").
fn is_label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| !p.is_empty() && p.len() <= 253 && p.split('.').all(is_dns_label));
    name_ok && prefix_ok
}

/// The built-in catalog with config-file `entries` laid over it (see [`GpuEntry`]); shared by
/// the config file's `gpus` and `vramgate estimate --gpu-catalog`.
///
/// # Errors
/// Every problem of every entry, with its path (`gpus[2].usd_per_hour`).
pub fn catalog_with(entries: &[GpuEntry]) -> Result<GpuCatalog, Vec<ConfigError>> {
    let mut errs = Vec::new();
    let mut err = |path: String, message: String| errs.push(ConfigError { path, message });
    let mut catalog = GpuCatalog::builtin();
    let mut specs = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if entry.name.trim().is_empty() {
            err(format!("gpus[{i}].name"), "must not be empty".into());
            continue;
        }
        let g = match entry.resolve(catalog.find(&entry.name)) {
            Ok(g) => g,
            Err(missing) => {
                for m in missing {
                    err(
                        format!("gpus[{i}].{m}"),
                        format!("is required: '{}' is not a built-in GPU, so every fact must be given", entry.name),
                    );
                }
                continue;
            }
        };
        if g.memory_bytes == 0 {
            err(format!("gpus[{i}].memory_bytes"), "must be more than 0".into());
        }
        if !(g.usd_per_hour.is_finite() && g.usd_per_hour >= 0.0) {
            err(
                format!("gpus[{i}].usd_per_hour"),
                format!("{} is not accepted; accepted: dollars >= 0", g.usd_per_hour),
            );
        }
        for (field, v) in [
            ("dense_bf16_flops", g.dense_bf16_flops),
            ("dense_fp16_flops", g.dense_fp16_flops),
            ("dense_fp8_flops", g.dense_fp8_flops),
            ("dense_fp32_flops", g.dense_fp32_flops),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                err(format!("gpus[{i}].{field}"), format!("{v} is not accepted; accepted: FLOP/s >= 0"));
            }
        }
        specs.push(g);
    }
    catalog.merge(specs);
    if errs.is_empty() { Ok(catalog) } else { Err(errs) }
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Largest config file accepted: 256 KiB. A config is a few kilobytes (a catalog of a hundred
/// GPUs is about 50 KiB); a ConfigMap holds at most 1 MiB
/// (<https://kubernetes.io/docs/concepts/configuration/configmap/#motivation>).
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;
/// Most flow collections (`[` and `{` characters) a config file may hold: 1,024. The YAML
/// parser's work grows with the number of tokens times the flow nesting depth (libyaml checks
/// every open flow level at each token), so 128 KiB of `[` took it 14 s; a bound on the
/// openers bounds the depth whatever the quoting. Block-style nesting (indentation) is not
/// limited here: its depth is bounded by the file size and by the deserializer's recursion
/// limit of 128.
pub const MAX_CONFIG_FLOW_COLLECTIONS: usize = 1024;

/// Refuses a config text over [`MAX_CONFIG_BYTES`] or with more than
/// [`MAX_CONFIG_FLOW_COLLECTIONS`] flow collections, before any parsing.
fn check_size_and_nesting(text: &str) -> Result<(), Vec<ConfigError>> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(vec![ConfigError {
            path: String::new(),
            message: format!(
                "the config is {} bytes; accepted: at most {MAX_CONFIG_BYTES} bytes (256 KiB)",
                text.len()
            ),
        }]);
    }
    let openers = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if openers > MAX_CONFIG_FLOW_COLLECTIONS {
        return Err(vec![ConfigError {
            path: String::new(),
            message: format!(
                "the config holds {openers} `[` or `{{` characters (flow collections, nested as deep as that); \
                 accepted: at most {MAX_CONFIG_FLOW_COLLECTIONS} (write deep structures in block style)"
            ),
        }]);
    }
    Ok(())
}

/// Reads and validates a config file. The one impure function of this module.
///
/// # Errors
/// The file cannot be read (one error with path `""`), or every problem [`Settings::from_yaml`]
/// finds.
pub fn load_file(path: &std::path::Path) -> Result<Settings, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError { path: String::new(), message: format!("cannot read {}: {e}", path.display()) }]
    })?;
    Settings::from_yaml(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12, item 10: 128 KiB of nested `[` took the YAML parser 14 s before it failed;
    /// now it is refused before parsing, with the limit named. So is a file over the size cap.
    #[test]
    fn a_deeply_nested_or_oversized_config_is_refused_before_parsing() {
        let e = Settings::from_yaml(&"[".repeat(128 * 1024)).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].message.contains("131072 `[` or `{`") && e[0].message.contains("at most 1024"), "{e:?}");
        let e = Settings::from_yaml(&format!("# {}\n", "x".repeat(MAX_CONFIG_BYTES))).unwrap_err();
        assert!(e[0].message.contains("at most 262144 bytes"), "{e:?}");
        // At the limits, a config still loads.
        let ok = format!("{}max_gpus: 8\n", "# padding\n".repeat(100));
        assert_eq!(Settings::from_yaml(&ok).unwrap().max_gpus, 8);
        assert!(Settings::from_yaml(&format!("resources: {{gpu: [{}]}}\n", "nvidia.com/gpu")).is_ok());
    }

    #[test]
    fn an_empty_file_is_the_built_in_defaults() {
        let s = Settings::from_yaml("").unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.policy("anything").mode, Mode::Enforce);
    }

    #[test]
    fn a_namespace_overrides_only_what_it_names() {
        let s = Settings::from_yaml(
            "policy: {mode: enforce, max_cost_usd: 1000, default_gpu: a100-80gb}\n\
             namespaces:\n  research: {mode: warn}\n  big: {max_cost_usd: null}\n",
        )
        .unwrap();
        let r = s.policy("research");
        assert_eq!((r.mode, r.max_cost_usd, r.default_gpu.as_str()), (Mode::Warn, Some(1000.0), "A100-80GB"));
        assert_eq!(s.policy("big").max_cost_usd, None);
        assert_eq!(s.policy("other").mode, Mode::Enforce);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let e = Settings::from_yaml(
            "policy: {max_cost_usd: -5, default_gpu: H200-80GB, overprovision_factor: 0.5}\n\
             namespaces:\n  Research_Team: {patch_gpu_types: [B300]}\n",
        )
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "policy.max_cost_usd",
            "policy.default_gpu",
            "policy.overprovision_factor",
            "namespaces.Research_Team",
            "namespaces.Research_Team.patch_gpu_types[0]",
        ] {
            assert!(paths.contains(&p), "{p} missing from {e:?}");
        }
    }

    #[test]
    fn a_misspelt_key_is_an_error_not_a_silent_default() {
        let e = Settings::from_yaml("namespaces:\n  research: {max_cost: 10}\n").unwrap_err();
        assert!(e[0].path.starts_with("namespaces.research"), "{e:?}");
        assert!(e[0].message.contains("max_cost"), "{e:?}");
        let e = Settings::from_yaml("policy: {mode: block}\n").unwrap_err();
        assert_eq!(e[0].path, "policy.mode");
        assert!(e[0].message.contains("enforce"), "{e:?}");
    }

    #[test]
    fn server_limits_default_and_are_validated_with_their_paths() {
        assert_eq!(Settings::from_yaml("policy: {}\n").unwrap().server, ServerLimits::default());
        let s = Settings::from_yaml(
            "server: {max_body_bytes: 2048, request_timeout_seconds: 0.5, max_concurrent_reviews: 2, \
             client_ca_file: /etc/ca.crt}\n",
        )
        .unwrap();
        assert_eq!(s.server.max_body_bytes, 2048);
        assert_eq!(s.server.request_timeout, Duration::from_millis(500));
        assert_eq!(s.server.max_concurrent_reviews, 2);
        assert_eq!(s.server.client_ca_file, Some(PathBuf::from("/etc/ca.crt")));
        assert_eq!(s.server.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
        let e = Settings::from_yaml(
            "server: {max_header_bytes: 100, body_read_timeout_seconds: 0, handshake_timeout_seconds: .nan, \
             max_connections: 0, client_ca_file: ''}\n",
        )
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "server.max_header_bytes",
            "server.body_read_timeout_seconds",
            "server.handshake_timeout_seconds",
            "server.max_connections",
            "server.client_ca_file",
        ] {
            assert!(paths.contains(&p), "{p} missing from {e:?}");
        }
        let e = Settings::from_yaml("server: {max_body: 10}\n").unwrap_err();
        assert!(e[0].path.starts_with("server") && e[0].message.contains("max_body"), "{e:?}");
    }

    #[test]
    fn metrics_bounds_and_the_webhook_timeout_default_and_are_validated_with_their_paths() {
        let s = Settings::from_yaml("policy: {}\n").unwrap();
        assert_eq!(s.metrics, MetricsSettings::default());
        assert_eq!(s.server.webhook_timeout, Duration::from_secs(5));
        let s = Settings::from_yaml(
            "metrics: {max_namespaces: 10, max_teams: 3, admission_window_seconds: 0, max_remembered_admissions: 5}\n\
             server: {webhook_timeout_seconds: 2.5}\n",
        )
        .unwrap();
        assert_eq!(
            s.metrics,
            MetricsSettings {
                max_namespaces: 10,
                max_teams: 3,
                admission_window: Duration::ZERO,
                max_remembered_admissions: 5
            }
        );
        assert_eq!(s.server.webhook_timeout, Duration::from_millis(2500));
        let e = Settings::from_yaml(
            "metrics: {max_namespaces: 0, max_teams: 100001, admission_window_seconds: 86401, \
             max_remembered_admissions: 0}\nserver: {webhook_timeout_seconds: 31}\n",
        )
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "metrics.max_namespaces",
            "metrics.max_teams",
            "metrics.admission_window_seconds",
            "metrics.max_remembered_admissions",
            "server.webhook_timeout_seconds",
        ] {
            assert!(paths.contains(&p), "{p} missing from {e:?}");
        }
        assert!(e.iter().any(|e| e.message.contains("31 is not accepted")), "{e:?}");
        let e = Settings::from_yaml("metrics: {max_series: 10}\n").unwrap_err();
        assert!(e[0].path.starts_with("metrics") && e[0].message.contains("max_series"), "{e:?}");
    }

    #[test]
    fn a_built_in_gpu_is_overridden_field_by_field() {
        let s = Settings::from_yaml("gpus:\n- {name: h100, usd_per_hour: 2.5}\n").unwrap();
        let h100 = s.catalog.find("H100-80GB").unwrap();
        let builtin = GpuCatalog::builtin().find("H100-80GB").unwrap().clone();
        assert_eq!(h100.usd_per_hour, 2.5);
        assert_eq!(h100.price_source, "config file");
        assert_eq!((h100.memory_bytes, &h100.gfd_products), (builtin.memory_bytes, &builtin.gfd_products));
        assert_eq!(s.catalog.all().len(), GpuCatalog::builtin().all().len());
    }

    #[test]
    fn a_new_gpu_must_give_every_fact_and_is_told_which_are_missing() {
        let e = Settings::from_yaml("gpus:\n- {name: MI300X, memory_bytes: 206158430208}\n").unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"gpus[0].usd_per_hour") && paths.contains(&"gpus[0].bf16_supported"), "{e:?}");
        assert!(!paths.contains(&"gpus[0].memory_bytes"));
        let s = Settings::from_yaml(
            "gpus:\n- {name: MI300X, memory_bytes: 206158430208, dense_bf16_flops: 1.3e15, dense_fp16_flops: 1.3e15, \
             dense_fp32_flops: 1.6e14, bf16_supported: true, usd_per_hour: 4.0}\n",
        )
        .unwrap();
        assert_eq!(s.catalog.find("mi300x").unwrap().memory_bytes, 206_158_430_208);
    }
}
