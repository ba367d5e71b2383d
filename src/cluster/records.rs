//! The fields of a Node, a Pod or a workload that the inventory and the live cost need. Pure
//! data; `read.rs` fills them from the API objects.

use std::collections::BTreeMap;

use super::table::Keyed;

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

impl NodeRecord {
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
    /// Reads `status.phase`; a pod without one has not been scheduled yet.
    #[must_use]
    pub fn parse(s: Option<&str>) -> Self {
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

/// What vramgate's mutating webhook wrote on an object it admitted (the output annotations):
/// a `vramgate.io/decision` other than `deny`, and the price it was admitted at.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// `estimated-cost-usd` / `estimated-gpu-hours`: the price per GPU-hour it was admitted
    /// at; `None` when either is `unknown`.
    pub usd_per_gpu_hour: Option<f64>,
}

impl Eq for Admission {}

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
