//! The fields of a Node, a Pod or a workload that the inventory and the live cost need, read
//! from the API objects. Pure: objects in, records out; a field that cannot be read is left
//! out of the record (a Node whose GPU quantity is not a whole number offers no GPUs), never a
//! panic.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::table::Keyed;
use crate::admission::decide::Decision;
use crate::request::{self, PREFIX};
use crate::workload::{self, ExtractConfig, Extracted, PRODUCT_LABEL};

/// GPU Feature Discovery's label for the GPU memory in MiB (NVIDIA GPU Feature Discovery,
/// README "Generated Labels").
pub const MEMORY_LABEL: &str = "nvidia.com/gpu.memory";
/// GPU Feature Discovery's label for the number of GPUs on the node.
pub const COUNT_LABEL: &str = "nvidia.com/gpu.count";

/// A Node's GPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub name: String,
    /// `nvidia.com/gpu.product` (e.g. `NVIDIA-H100-80GB-HBM3`; with MIG's single strategy
    /// GPU Feature Discovery appends `-MIG-<profile>`).
    pub product: Option<String>,
    /// `nvidia.com/gpu.memory`, MiB.
    pub memory_mib: Option<u64>,
    /// Full GPUs the kubelet can hand out: `status.allocatable` of the configured GPU resource
    /// names (the device plugin's count), else `status.capacity`, else the
    /// `nvidia.com/gpu.count` label.
    pub gpus: u64,
    /// MIG devices allocatable by profile (MIG's mixed strategy: `nvidia.com/mig-3g.40gb`).
    pub mig: BTreeMap<String, u64>,
    /// `spec.unschedulable` (cordoned). Still counted as capacity the cluster could provide.
    pub unschedulable: bool,
}

impl Keyed for NodeRecord {
    fn key(&self) -> &str {
        &self.name
    }
}

/// A whole number of devices from a resource quantity ("8"); anything else is not a count.
fn count(q: &str) -> Option<u64> {
    q.trim().parse::<u64>().ok()
}

impl NodeRecord {
    /// Reads a Node; `cfg` names the GPU resources and the MIG prefix (the config's
    /// `resources`).
    #[must_use]
    pub fn from_node(node: &Node, cfg: &ExtractConfig) -> Self {
        let labels = node.metadata.labels.as_ref();
        let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
        let status = node.status.as_ref();
        let sum_of = |map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            let map = map?;
            let mut found = false;
            let mut total = 0u64;
            for name in &cfg.gpu_resource_names {
                if let Some(n) = map.get(name).and_then(|q| count(&q.0)) {
                    found = true;
                    total = total.saturating_add(n);
                }
            }
            found.then_some(total)
        };
        let gpus = sum_of(status.and_then(|s| s.allocatable.as_ref()))
            .or_else(|| sum_of(status.and_then(|s| s.capacity.as_ref())))
            .or_else(|| label(COUNT_LABEL).and_then(count))
            .unwrap_or(0);
        let mig = status
            .and_then(|s| s.allocatable.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|(k, q)| {
                let profile =
                    k.strip_prefix(cfg.mig_resource_prefix.as_str()).filter(|_| !cfg.mig_resource_prefix.is_empty())?;
                Some((profile.to_owned(), count(&q.0)?))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            product: label(PRODUCT_LABEL).map(str::to_owned),
            memory_mib: label(MEMORY_LABEL).and_then(count),
            gpus,
            mig,
            unschedulable: node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
        }
    }

    /// Whether the node offers any GPU, full or MIG.
    #[must_use]
    pub fn has_gpus(&self) -> bool {
        self.gpus > 0 || !self.mig.is_empty()
    }
}

/// A controller (or first) owner reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    pub uid: String,
}

fn owner_of(meta: &ObjectMeta) -> Option<OwnerRef> {
    let refs = meta.owner_references.as_ref()?;
    let r = refs.iter().find(|r| r.controller == Some(true)).or_else(|| refs.first())?;
    Some(OwnerRef { kind: r.kind.clone(), name: r.name.clone(), uid: r.uid.clone() })
}

/// A Pod's phase (`status.phase`; API reference: "Pod Lifecycle").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Pending") | None => Self::Pending,
            Some("Running") => Self::Running,
            Some("Succeeded") => Self::Succeeded,
            Some("Failed") => Self::Failed,
            Some(_) => Self::Unknown,
        }
    }

    /// Succeeded or Failed: the pod's containers have stopped and hold nothing.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// What a Pod and a workload record share: identity, controlling owner, labels, and the
/// admission vramgate recorded on the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// `metadata.uid` (else `kind/namespace/name`).
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// The controlling owner (a Job, a PyTorchJob, a RayCluster, …).
    pub owner: Option<OwnerRef>,
    /// `metadata.labels` (the team label; LeaderWorkerSet's name label).
    pub labels: BTreeMap<String, String>,
    /// Set when vramgate admitted this object.
    pub admitted: Option<Admission>,
}

impl Meta {
    /// Reads `metadata` of an object of `kind`.
    #[must_use]
    pub fn of(kind: &str, meta: &ObjectMeta) -> Self {
        let namespace = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().or_else(|| meta.generate_name.clone()).unwrap_or_default();
        Self {
            uid: meta.uid.clone().unwrap_or_else(|| format!("{kind}/{namespace}/{name}")),
            namespace,
            name,
            owner: owner_of(meta),
            labels: meta.labels.clone().unwrap_or_default(),
            admitted: Admission::of(meta),
        }
    }
}

/// A Pod's GPUs, node and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRecord {
    pub meta: Meta,
    /// `spec.nodeName`: set once scheduled.
    pub node: Option<String>,
    pub phase: PodPhase,
    /// Full GPUs, counted as Kubernetes does (init and sidecar containers included): the same
    /// rule as admission ([`crate::workload`]).
    pub gpus: u64,
}

impl Keyed for PodRecord {
    fn key(&self) -> &str {
        &self.meta.uid
    }
}

impl PodRecord {
    /// Reads a Pod. A pod whose GPU fields cannot be read counts 0 GPUs (admission reported
    /// them when it was created).
    #[must_use]
    pub fn from_pod(pod: &Pod, cfg: &ExtractConfig) -> Self {
        let gpus = serde_json::to_value(pod)
            .ok()
            .and_then(|v| match workload::extract(&v, cfg) {
                Ok(Extracted::Workload(w)) => Some(w.total_gpus()),
                _ => None,
            })
            .unwrap_or(0);
        Self {
            meta: Meta::of("Pod", &pod.metadata),
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty()),
            phase: PodPhase::parse(pod.status.as_ref().and_then(|s| s.phase.as_deref())),
            gpus,
        }
    }
}

/// What vramgate's mutating webhook wrote on an object it admitted (the output annotations).
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    pub decision: Decision,
    /// `estimated-cost-usd` / `estimated-gpu-hours`: the price per GPU-hour it was admitted
    /// at; `None` when either is `unknown`.
    pub usd_per_gpu_hour: Option<f64>,
}

impl Eq for Admission {}

impl Admission {
    /// The admission recorded in `meta`'s annotations; `None` when vramgate did not admit it
    /// (no `vramgate.io/decision`, or one that does not read back).
    #[must_use]
    pub fn of(meta: &ObjectMeta) -> Option<Self> {
        let a = meta.annotations.as_ref()?;
        let get = |k: &str| a.get(&format!("{PREFIX}{k}")).map(String::as_str);
        let decision = Decision::parse(get("decision")?)?;
        if decision == Decision::Deny {
            return None;
        }
        let amount = |k: &str| get(k).and_then(|v| request::parse_output_amount(v).ok()).flatten();
        let usd_per_gpu_hour = match (amount("estimated-cost-usd"), amount("estimated-gpu-hours")) {
            (Some(c), Some(h)) if h > 0.0 && c.is_finite() => Some(c / h),
            _ => None,
        };
        Some(Self { decision, usd_per_gpu_hour })
    }
}

/// A workload object (a Job, a PyTorchJob, a RayCluster, …) read from its metadata only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRecord {
    pub kind: String,
    pub meta: Meta,
}

impl Keyed for WorkloadRecord {
    fn key(&self) -> &str {
        &self.meta.uid
    }
}

impl WorkloadRecord {
    /// Reads a workload's `metadata` (what a metadata-only watch returns).
    #[must_use]
    pub fn from_meta(kind: &str, meta: &ObjectMeta) -> Self {
        Self { kind: kind.to_owned(), meta: Meta::of(kind, meta) }
    }
}
