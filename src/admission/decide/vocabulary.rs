//! The vocabulary of a decision: what happens ([`Decision`]), why ([`Reason`]), the operation,
//! where the GPU type came from, the [`Context`] an object is judged in and the [`Evaluation`].

use crate::admission::Endpoint;
use crate::admission::patch::PatchOp;
use crate::cluster::ClusterView;
use crate::config::{Mode, Settings};
use crate::estimate::Report;
use crate::json::Json;
use serde::Serialize;

/// What happens to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Admitted, nothing to say.
    Allow,
    /// Admitted, with warnings.
    Warn,
    /// Refused.
    Deny,
    /// Not vramgate's business (unsupported kind, no GPUs, DELETE): admitted untouched.
    Skip,
}

impl Decision {
    pub const ALL: [Self; 4] = [Self::Allow, Self::Warn, Self::Deny, Self::Skip];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Warn => "warn",
            Self::Deny => "deny",
            Self::Skip => "skip",
        }
    }

    /// Reads [`Decision::as_str`] back (the `vramgate.io/decision` output annotation).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Why, as a bounded metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Fits its GPUs, within policy.
    Fits,
    /// Needs more memory per GPU than its GPUs have.
    DoesNotFit,
    /// Within the estimator's error band of the GPU's memory: may or may not fit.
    NearCapacity,
    /// Estimated cost above the namespace's limit.
    OverCostLimit,
    /// A cost limit applies but the cost is unknown (no `training-tokens`).
    CostUnknown,
    /// Asks for at least `overprovision_factor` x the GPUs it needs.
    Overprovisioned,
    /// A `vramgate.io/` annotation is malformed.
    MalformedAnnotation,
    /// The object's GPU fields are malformed.
    MalformedObject,
    /// A GPU workload without annotations where the policy requires them.
    AnnotationsRequired,
    /// The GPU product or name is not in the catalog.
    UnknownGpu,
    /// The cluster has no node of the GPU type the job is judged on (inventory).
    NotInCluster,
    /// A pod asks for more GPUs than any node of its type has, or the job for more than the
    /// cluster has of that type (inventory).
    ExceedsCluster,
    /// The mutating webhook changed GPU count or type to a plan that fits.
    Patched,
    /// GPU workload without annotations, annotations not required.
    NotAnnotated,
    /// The object asks for no GPU.
    NoGpus,
    /// A kind vramgate does not read.
    UnsupportedKind,
    /// DELETE or CONNECT.
    Operation,
    /// An UPDATE that changes neither the pods' GPUs nor the annotations.
    Unchanged,
    /// A Pod whose controller (owner reference with `controller: true`) is a kind vramgate
    /// reads: judged, and counted, with its owner.
    OwnedPod,
    /// An UPDATE that the namespace's `policy.update` does not judge (`skip`), or any UPDATE
    /// at the mutating webhook, which changes nothing on UPDATE.
    Update,
    /// GPUs asked for in a way vramgate cannot count (DRA claims it cannot resolve,
    /// accelerator resources not configured as GPUs).
    UnseenGpus,
    /// A `/scale` request whose parent object vramgate cannot see.
    UnjudgedScale,
}

impl Reason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fits => "fits",
            Self::DoesNotFit => "does-not-fit",
            Self::NearCapacity => "near-capacity",
            Self::OverCostLimit => "over-cost-limit",
            Self::CostUnknown => "cost-unknown",
            Self::Overprovisioned => "overprovisioned",
            Self::MalformedAnnotation => "malformed-annotation",
            Self::MalformedObject => "malformed-object",
            Self::AnnotationsRequired => "annotations-required",
            Self::UnknownGpu => "unknown-gpu",
            Self::NotInCluster => "not-in-cluster",
            Self::ExceedsCluster => "exceeds-cluster",
            Self::Patched => "patched",
            Self::NotAnnotated => "not-annotated",
            Self::NoGpus => "no-gpus",
            Self::UnsupportedKind => "unsupported-kind",
            Self::Operation => "operation",
            Self::Unchanged => "unchanged",
            Self::OwnedPod => "owned-pod",
            Self::Update => "update",
            Self::UnseenGpus => "unseen-gpus",
            Self::UnjudgedScale => "unjudged-scale",
        }
    }
}

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    /// Parses the AdmissionRequest's `operation`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "CREATE" => Self::Create,
            "UPDATE" => Self::Update,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            _ => return None,
        })
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        }
    }
}

/// Where an object comes from and what may be done to it.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub settings: &'a Settings,
    /// The request's namespace, used when the object's metadata has none (a CREATE's object
    /// often has none; `check` passes the namespace kubectl would use).
    pub namespace: Option<&'a str>,
    pub operation: Operation,
    /// An UPDATE's previous object.
    pub old_object: Option<&'a Json<'a>>,
    /// `Mutate` may patch; `Validate` and `check` never do.
    pub endpoint: Endpoint,
    /// The cluster's last known GPU inventory (`serve --cluster`); `None`: judged without it.
    pub cluster: Option<ClusterView<'a>>,
}

/// Where the GPU type came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuSource {
    /// `nvidia.com/gpu.product` in the node selector or required node affinity.
    NodeSelector,
    /// `nvidia.com/gpu.memory` only: the default or annotated GPU with that much memory.
    GpuMemoryLabel,
    /// The `vramgate.io/gpu` annotation.
    Annotation,
    /// The namespace's (or cluster's) `default_gpu`.
    Default,
    /// Chosen from the cluster's inventory (`policy.gpu_choice`): the job names no GPU type.
    Inventory,
}

/// The evaluation of one object: the decision, every message, and what it was judged on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub decision: Decision,
    pub reason: Reason,
    /// Everything the user should read, most important first. In `audit` mode they are kept
    /// here (and in `check`'s output) but not sent back to `kubectl`.
    pub messages: Vec<String>,
    pub kind: String,
    pub namespace: String,
    pub name: Option<String>,
    /// The policy mode that decided.
    pub mode: Mode,
    /// Catalog name of the GPU judged on (`A100-80GB`, or `A100-80GB MIG 3g.40gb`).
    pub gpu: Option<String>,
    pub gpu_source: Option<GpuSource>,
    /// Full GPUs (or MIG devices) the pods ask for (`gpus` in JSON).
    #[serde(rename = "gpus")]
    pub gpus_requested: u64,
    /// The engine's answer, with the cheapest plan that fits when the job does not.
    pub estimate: Option<Report>,
    /// Dollars of the estimated cost spent on GPUs beyond those needed.
    pub overprovisioned_cost_usd: Option<f64>,
    /// JSON Patch for the mutating webhook (empty elsewhere).
    #[serde(skip)]
    pub patch: Vec<PatchOp>,
}

impl Evaluation {
    /// Whether the object may enter the cluster.
    #[must_use]
    pub fn allowed(&self) -> bool {
        self.decision != Decision::Deny
    }
}
