//! Live cost: what the workloads vramgate admitted hold now, and what the GPU fleet holds.
//!
//! A pod counts towards a workload when the workload is the pod itself (a Pod admitted with
//! `vramgate.io/` annotations) or an ancestor along controlling owner references (Pod → Job →
//! JobSet, Pod → RayCluster → RayJob, Pod → PyTorchJob) carrying `vramgate.io/decision`, the
//! annotation the mutating webhook writes. LeaderWorkerSet pods are owned through
//! StatefulSets, which vramgate does not watch; their `leaderworkerset.sigs.k8s.io/name` label
//! names the set instead. A Deployment's pods are owned through a ReplicaSet, which vramgate
//! does not watch either: the ReplicaSet is named `<deployment>-<pod-template-hash>` and the
//! pod carries that hash as its `pod-template-hash` label (Kubernetes docs, "Deployments",
//! "Pod-template-hash label"), which names the Deployment. KServe's predictor pods carry
//! `serving.kserve.io/inferenceservice` naming theirs.
//!
//! Serving (issue 15): the running GPUs and cost of pods whose admitted workload is a
//! Deployment, StatefulSet, InferenceService or LeaderWorkerSet, the kinds that run
//! inference servers, are also kept apart by namespace and GPU ([`Snapshot::serving`]).
//!
//! Price: the configured catalog price of the GPU type of the node a pod runs on, so the
//! dashboard follows the prices in the config; for a node of unknown type, the price per
//! GPU-hour the workload was admitted at (`estimated-cost-usd / estimated-gpu-hours`); else
//! 0. MIG devices are not counted here (a full GPU per MIG device would overstate the cost).

use std::collections::BTreeMap;

use super::inventory::Inventory;
use super::records::{Admission, Meta, PodPhase, PodRecord, WorkloadRecord};
use super::table::Table;
use crate::estimate::catalog::GpuCatalog;

/// The `team` label value of a workload without the team label.
pub const NO_TEAM: &str = "none";
/// The `gpu` label value of a pod on a node of no known pool (its node not yet seen).
pub const UNKNOWN_GPU: &str = "unknown";
/// LeaderWorkerSet's pod label naming the set (LWS API, `leaderworkerset.sigs.k8s.io/name`).
pub const LWS_NAME_LABEL: &str = "leaderworkerset.sigs.k8s.io/name";
/// The label a Deployment's pods carry with their ReplicaSet's hash suffix.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
/// KServe's predictor pod label naming the InferenceService (KServe `constants.go`,
/// `InferenceServicePodLabelKey`).
pub const KSERVE_NAME_LABEL: &str = "serving.kserve.io/inferenceservice";
/// Kinds whose admitted pods count as serving.
pub const SERVING_KINDS: [&str; 4] = ["Deployment", "StatefulSet", "InferenceService", "LeaderWorkerSet"];
/// Owner-reference hops followed from a pod (Pod → Job → JobSet needs 2).
const MAX_OWNER_HOPS: usize = 6;

/// Who pays: the live-cost metrics' labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CostKey {
    pub namespace: String,
    pub team: String,
    pub gpu: String,
}

/// GPUs held by running pods of admitted workloads, and what they cost per hour.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Running {
    pub gpus: u64,
    pub usd_per_hour: f64,
}

/// One GPU type's fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    pub nodes: u64,
    /// Allocatable GPUs.
    pub gpus: u64,
    /// GPUs requested by pods bound to these nodes and not yet terminated (any pod, admitted
    /// by vramgate or not).
    pub allocated: u64,
}

/// The live state at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub running: BTreeMap<CostKey, Running>,
    /// By pool name ([`Inventory::pools`]), unknown products included.
    pub capacity: BTreeMap<String, Capacity>,
    /// Unknown product label → nodes.
    pub unknown_products: BTreeMap<String, u64>,
    /// The part of `running` held by serving workloads ([`SERVING_KINDS`]), by namespace
    /// and GPU.
    pub serving: BTreeMap<ServingKey, Running>,
}

/// The serving metrics' labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServingKey {
    pub namespace: String,
    pub gpu: String,
}

/// The admitted workload a pod counts towards.
struct Root<'a> {
    labels: &'a BTreeMap<String, String>,
    admission: &'a Admission,
    /// The admitted object's kind (`Pod` for a pod admitted alone).
    kind: &'a str,
}

/// The admitted workload a pod belongs to: its labels, admission and kind.
fn admitted_root<'a>(pod: &'a PodRecord, workloads: &[&'a Table<WorkloadRecord>]) -> Option<Root<'a>> {
    let by_uid = |uid: &str| workloads.iter().find_map(|t| t.get(uid));
    let admitted =
        |m: &'a Meta, kind: &'a str| m.admitted.as_ref().map(|admission| Root { labels: &m.labels, admission, kind });
    if let Some(found) = admitted(&pod.meta, "Pod") {
        return Some(found);
    }
    let mut owner = pod.meta.owner.as_ref();
    for _ in 0..MAX_OWNER_HOPS {
        let Some(w) = owner.and_then(|o| by_uid(&o.uid)) else { break };
        if let Some(found) = admitted(&w.meta, &w.kind) {
            return Some(found);
        }
        owner = w.meta.owner.as_ref();
    }
    let named = |kind: &str, name: &str| {
        workloads
            .iter()
            .flat_map(|t| t.iter())
            .find(|w| w.kind == kind && w.meta.namespace == pod.meta.namespace && w.meta.name == name)
            .and_then(|w| admitted(&w.meta, &w.kind))
    };
    // Pod -> ReplicaSet `<deployment>-<hash>` -> Deployment.
    if let Some(o) = pod.meta.owner.as_ref().filter(|o| o.kind == "ReplicaSet")
        && let Some(hash) = pod.meta.labels.get(POD_TEMPLATE_HASH_LABEL)
        && let Some(deployment) = o.name.strip_suffix(hash.as_str()).and_then(|n| n.strip_suffix('-'))
        && let Some(found) = named("Deployment", deployment)
    {
        return Some(found);
    }
    if let Some(isvc) = pod.meta.labels.get(KSERVE_NAME_LABEL)
        && let Some(found) = named("InferenceService", isvc)
    {
        return Some(found);
    }
    named("LeaderWorkerSet", pod.meta.labels.get(LWS_NAME_LABEL)?)
}

/// The live state: capacity and allocation by GPU type, and running GPUs and cost per hour by
/// namespace, team (the workload's `team_label`, else the pod's, else [`NO_TEAM`]) and GPU.
/// `workloads` holds one table per watched kind.
#[must_use]
pub fn snapshot(
    inventory: &Inventory,
    pods: &Table<PodRecord>,
    workloads: &[&Table<WorkloadRecord>],
    catalog: &GpuCatalog,
    team_label: &str,
) -> Snapshot {
    let mut snap = Snapshot::default();
    for (name, p) in &inventory.pools {
        snap.capacity.insert(name.clone(), Capacity { nodes: p.nodes, gpus: p.gpus, allocated: 0 });
        if !p.known {
            snap.unknown_products.insert(name.clone(), p.nodes);
        }
    }
    for pod in pods.iter().filter(|p| p.gpus > 0 && !p.phase.is_terminal()) {
        let pool = pod.node.as_ref().and_then(|n| inventory.node_pool.get(n));
        if let Some(c) = pool.and_then(|p| snap.capacity.get_mut(p)) {
            c.allocated = c.allocated.saturating_add(pod.gpus);
        }
        if pod.phase != PodPhase::Running {
            continue;
        }
        let Some(Root { labels, admission, kind }) = admitted_root(pod, workloads) else { continue };
        let gpu = pool.map_or(UNKNOWN_GPU, String::as_str);
        let catalog_price =
            inventory.pool(gpu).filter(|p| !p.is_mig()).and_then(|_| catalog.find(gpu)).map(|g| g.usd_per_hour);
        let usd_per_gpu_hour = catalog_price.or(admission.usd_per_gpu_hour).unwrap_or(0.0);
        let team = labels.get(team_label).or_else(|| pod.meta.labels.get(team_label)).map_or(NO_TEAM, String::as_str);
        let key = CostKey { namespace: pod.meta.namespace.clone(), team: team.to_owned(), gpu: gpu.to_owned() };
        let r = snap.running.entry(key).or_default();
        r.gpus = r.gpus.saturating_add(pod.gpus);
        r.usd_per_hour += usd_per_gpu_hour * pod.gpus as f64;
        if SERVING_KINDS.contains(&kind) {
            let key = ServingKey { namespace: pod.meta.namespace.clone(), gpu: gpu.to_owned() };
            let r = snap.serving.entry(key).or_default();
            r.gpus = r.gpus.saturating_add(pod.gpus);
            r.usd_per_hour += usd_per_gpu_hour * pod.gpus as f64;
        }
    }
    snap
}

/// Estimated dollars spent so far, by [`CostKey`]: the integral of the cost per hour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cumulative {
    pub usd: BTreeMap<CostKey, f64>,
}

impl Cumulative {
    /// Adds `seconds` at the rates of `snap` (the state at the start of the interval).
    pub fn advance(&mut self, snap: &Snapshot, seconds: f64) {
        if !(seconds.is_finite() && seconds > 0.0) {
            return;
        }
        for (k, r) in &snap.running {
            *self.usd.entry(k.clone()).or_default() += r.usd_per_hour * seconds / 3600.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::records::{NodeRecord, OwnerRef};
    use crate::cluster::table::Change;

    fn pod(uid: &str, node: Option<&str>, phase: PodPhase, gpus: u64, owner: Option<&str>) -> PodRecord {
        PodRecord {
            meta: Meta {
                uid: uid.into(),
                namespace: "research".into(),
                name: uid.into(),
                owner: owner.map(|o| OwnerRef { kind: "Job".into(), name: o.into(), uid: o.into() }),
                labels: BTreeMap::new(),
                admitted: None,
            },
            node: node.map(Into::into),
            phase,
            gpus,
        }
    }

    fn workload(uid: &str, kind: &str, owner: Option<&str>, admitted: bool, team: Option<&str>) -> WorkloadRecord {
        WorkloadRecord {
            kind: kind.into(),
            meta: Meta {
                uid: uid.into(),
                namespace: "research".into(),
                name: uid.into(),
                owner: owner.map(|o| OwnerRef { kind: "JobSet".into(), name: o.into(), uid: o.into() }),
                labels: team.map(|t| [("team".to_owned(), t.to_owned())].into()).unwrap_or_default(),
                admitted: admitted.then_some(Admission { usd_per_gpu_hour: Some(2.0) }),
            },
        }
    }

    fn table<R: super::super::table::Keyed>(rs: Vec<R>) -> Table<R> {
        let mut t = Table::default();
        t.apply(Change::Init);
        for r in rs {
            t.apply(Change::InitApply(r));
        }
        t.apply(Change::InitDone);
        t
    }

    #[test]
    fn running_pods_of_admitted_workloads_cost_their_gpus_at_the_catalog_price() {
        let catalog = GpuCatalog::builtin();
        let h100 = catalog.find("H100-80GB").unwrap().usd_per_hour;
        let nodes = [NodeRecord {
            name: "n1".into(),
            product: Some("NVIDIA-H100-80GB-HBM3".into()),
            memory_mib: None,
            gpus: 8,
            mig: BTreeMap::new(),
            unschedulable: false,
        }];
        let inv = Inventory::build(&nodes, &catalog);
        // js (admitted JobSet, team nlp) → job j1 (not annotated) → pods; job j2 not admitted.
        let workloads = table(vec![
            workload("js", "JobSet", None, true, Some("nlp")),
            workload("j1", "Job", Some("js"), false, None),
            workload("j2", "Job", None, false, None),
        ]);
        let pods = table(vec![
            pod("running", Some("n1"), PodPhase::Running, 4, Some("j1")),
            pod("pending-bound", Some("n1"), PodPhase::Pending, 2, Some("j1")),
            pod("pending", None, PodPhase::Pending, 8, Some("j1")),
            pod("done", Some("n1"), PodPhase::Succeeded, 8, Some("j1")),
            pod("other", Some("n1"), PodPhase::Running, 1, Some("j2")),
        ]);
        let snap = snapshot(&inv, &pods, &[&workloads], &catalog, "team");
        let key = CostKey { namespace: "research".into(), team: "nlp".into(), gpu: "H100-80GB".into() };
        assert_eq!(snap.running.len(), 1, "{:?}", snap.running);
        assert_eq!(snap.running[&key].gpus, 4);
        assert!((snap.running[&key].usd_per_hour - 4.0 * h100).abs() < 1e-9);
        // Allocation counts every bound, non-terminated pod: 4 + 2 + 1.
        assert_eq!(snap.capacity["H100-80GB"], Capacity { nodes: 1, gpus: 8, allocated: 7 });

        let mut total = Cumulative::default();
        total.advance(&snap, 1800.0);
        total.advance(&snap, 1800.0);
        assert!((total.usd[&key] - 4.0 * h100).abs() < 1e-9, "one hour at the hourly rate");
    }

    #[test]
    fn an_unknown_node_type_uses_the_admitted_price_and_lws_pods_are_found_by_label() {
        let catalog = GpuCatalog::builtin();
        let inv = Inventory::default();
        let workloads = table(vec![workload("lws", "LeaderWorkerSet", None, true, None)]);
        let mut p = pod("leader-0", Some("n9"), PodPhase::Running, 2, Some("sts-uid"));
        p.meta.labels.insert(LWS_NAME_LABEL.into(), "lws".into());
        let snap = snapshot(&inv, &table(vec![p]), &[&workloads], &catalog, "team");
        let key = CostKey { namespace: "research".into(), team: NO_TEAM.into(), gpu: UNKNOWN_GPU.into() };
        assert_eq!(snap.running[&key], Running { gpus: 2, usd_per_hour: 4.0 });
    }

    #[test]
    fn a_deployments_pods_are_found_through_their_replica_sets_name_and_count_as_serving() {
        let catalog = GpuCatalog::builtin();
        let inv = Inventory::default();
        let mut d = workload("d-uid", "Deployment", None, true, None);
        d.meta.name = "vllm-llama".into();
        let workloads = table(vec![d]);
        let replica_set =
            OwnerRef { kind: "ReplicaSet".into(), name: "vllm-llama-7d4b9c8f5".into(), uid: "rs-uid".into() };
        let mut p = pod("p1", Some("n9"), PodPhase::Running, 2, None);
        p.meta.owner = Some(replica_set.clone());
        p.meta.labels.insert(POD_TEMPLATE_HASH_LABEL.into(), "7d4b9c8f5".into());
        // A ReplicaSet whose name does not end in the pod's hash names no Deployment.
        let mut stray = pod("p2", Some("n9"), PodPhase::Running, 1, None);
        stray.meta.owner = Some(OwnerRef { name: "other-7d4b9c8f5".into(), ..replica_set });
        stray.meta.labels.insert(POD_TEMPLATE_HASH_LABEL.into(), "0000".into());
        let snap = snapshot(&inv, &table(vec![p, stray]), &[&workloads], &catalog, "team");
        let key = CostKey { namespace: "research".into(), team: NO_TEAM.into(), gpu: UNKNOWN_GPU.into() };
        // The admitted price of the helper's workloads is 2 USD per GPU-hour.
        assert_eq!(snap.running[&key], Running { gpus: 2, usd_per_hour: 4.0 });
        let serving = ServingKey { namespace: "research".into(), gpu: UNKNOWN_GPU.into() };
        assert_eq!(snap.serving[&serving], Running { gpus: 2, usd_per_hour: 4.0 });
    }

    #[test]
    fn training_workloads_are_not_serving() {
        let catalog = GpuCatalog::builtin();
        let workloads = table(vec![workload("job", "Job", None, true, None)]);
        let p = pod("p", Some("n9"), PodPhase::Running, 4, Some("job"));
        let snap = snapshot(&Inventory::default(), &table(vec![p]), &[&workloads], &catalog, "team");
        assert_eq!(snap.running.values().map(|r| r.gpus).sum::<u64>(), 4);
        assert!(snap.serving.is_empty());
    }
}
