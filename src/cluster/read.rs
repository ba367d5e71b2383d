//! Reading the records from API objects (`k8s-openapi` types and object metadata): the
//! `server` feature's half of the records, pure like the rest. A field that cannot be read is
//! left out of the record (a Node whose GPU quantity is not a whole number offers no GPUs),
//! never a panic.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::records::{
    Admission, COUNT_LABEL, MEMORY_LABEL, Meta, NodeRecord, OwnerRef, PodPhase, PodRecord, WorkloadRecord,
};
use crate::contract::Decision;
use crate::request::{self, PREFIX};
use crate::workload::{self, ExtractConfig, Extracted, PRODUCT_LABEL};

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
}

fn owner_of(meta: &ObjectMeta) -> Option<OwnerRef> {
    let refs = meta.owner_references.as_ref()?;
    let r = refs.iter().find(|r| r.controller == Some(true)).or_else(|| refs.first())?;
    Some(OwnerRef { kind: r.kind.clone(), name: r.name.clone(), uid: r.uid.clone() })
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

impl PodRecord {
    /// Reads a Pod. A pod whose GPU fields cannot be read counts 0 GPUs (admission reported
    /// them when it was created).
    #[must_use]
    pub fn from_pod(pod: &Pod, cfg: &ExtractConfig) -> Self {
        let gpus = serde_json::to_value(pod)
            .ok()
            .and_then(|v| match workload::extract(&(&v).into(), cfg) {
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

impl Admission {
    /// The admission recorded in `meta`'s annotations; `None` when vramgate did not admit it
    /// (no `vramgate.io/decision`, or one that does not read back).
    #[must_use]
    pub fn of(meta: &ObjectMeta) -> Option<Self> {
        let a = meta.annotations.as_ref()?;
        let get = |k: &str| a.get(&format!("{PREFIX}{k}")).map(String::as_str);
        if Decision::parse(get("decision")?).is_none_or(|d| d == Decision::Deny) {
            return None;
        }
        let amount = |k: &str| get(k).and_then(|v| request::parse_output_amount(v).ok()).flatten();
        let usd_per_gpu_hour = match (amount("estimated-cost-usd"), amount("estimated-gpu-hours")) {
            (Some(c), Some(h)) if h > 0.0 && c.is_finite() => Some(c / h),
            _ => None,
        };
        Some(Self { usd_per_gpu_hour })
    }
}

impl WorkloadRecord {
    /// Reads a workload's `metadata` (what a metadata-only watch returns).
    #[must_use]
    pub fn from_meta(kind: &str, meta: &ObjectMeta) -> Self {
        Self { kind: kind.to_owned(), meta: Meta::of(kind, meta) }
    }
}
