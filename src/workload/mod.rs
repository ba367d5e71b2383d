//! Workload extraction: turns a Kubernetes object (as decoded from an AdmissionReview's
//! `request.object`, or from a YAML manifest) into a typed [`Workload`] — which groups of pods
//! it runs, how many of each, and how many GPUs (full or MIG) each pod asks for.
//!
//! **This module is pure.** It does no I/O, reads no clock or environment and logs nothing.
//! Bad input is an answer, never a panic: any JSON value gives `Ok` or `Err`, and every error
//! names the JSON pointer of the offending field, the value found and what is accepted. All
//! errors of one object are collected, so a user fixes a manifest in one round trip.
//!
//! Kinds are matched on API group *and* kind (a `batch/v1 Job` and a
//! `batch.volcano.sh/v1alpha1 Job` are different things) and on the versions whose shape this
//! module knows; anything else is [`Extracted::Unsupported`], never an error, because an
//! admission webhook must let objects it does not understand through to other policies.

mod apps;
mod batch;
mod fields;
mod jobset;
mod kserve;
mod kubeflow;
mod lws;
mod pod;
mod podspec;
mod ray;
pub mod serving;
mod volcano;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::json::{self, Json};
use serde::Serialize;

use fields::Errors;
pub use podspec::{PRODUCT_LABEL, looks_like_accelerator};

/// Which extended resources count as GPUs. Cluster operators name them: the NVIDIA device
/// plugin uses `nvidia.com/gpu`, and MIG's "mixed" strategy exposes one resource per profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractConfig {
    /// Resource names whose quantity is a count of full GPUs (e.g. `nvidia.com/gpu`,
    /// `amd.com/gpu`). A container's full-GPU count is the sum over these names.
    pub gpu_resource_names: Vec<String>,
    /// Prefix of MIG resources; the rest of the name is the profile (`nvidia.com/mig-3g.40gb`
    /// → `3g.40gb`).
    pub mig_resource_prefix: String,
    /// Dynamic Resource Allocation device classes whose devices count as full GPUs. The
    /// default is the NVIDIA DRA driver's GPU class, `gpu.nvidia.com` (NVIDIA
    /// k8s-dra-driver-gpu, "DeviceClass gpu.nvidia.com").
    pub dra_device_classes: Vec<String>,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        Self {
            gpu_resource_names: vec!["nvidia.com/gpu".to_owned()],
            mig_resource_prefix: "nvidia.com/mig-".to_owned(),
            dra_device_classes: vec!["gpu.nvidia.com".to_owned()],
        }
    }
}

/// What [`extract`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Extracted {
    /// A kind (or version) this module does not model; the caller should let it through.
    Unsupported { api_version: String, kind: String },
    /// A workload whose pods were counted.
    Workload(Workload),
}

/// The kinds of workload this module understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum WorkloadKind {
    /// `v1 Pod`.
    Pod,
    /// `batch/v1 Job`.
    Job,
    /// `kubeflow.org/v1 PyTorchJob`.
    PyTorchJob,
    /// `kubeflow.org/v2beta1 MPIJob` (and the older `kubeflow.org/v1` one).
    MpiJob,
    /// `jobset.x-k8s.io/v1alpha2 JobSet`.
    JobSet,
    /// `ray.io/v1 RayJob` (and `v1alpha1`).
    RayJob,
    /// `ray.io/v1 RayCluster` (and `v1alpha1`).
    RayCluster,
    /// `batch.volcano.sh/v1alpha1 Job`.
    VolcanoJob,
    /// `leaderworkerset.x-k8s.io/v1 LeaderWorkerSet`.
    LeaderWorkerSet,
    /// `apps/v1 Deployment` (issue 15: inference servers).
    Deployment,
    /// `apps/v1 StatefulSet`.
    StatefulSet,
    /// `serving.kserve.io/v1beta1 InferenceService` (its predictor).
    InferenceService,
}

/// One workload kind vramgate reads: the single table that [`WorkloadKind::from_type`],
/// [`WorkloadKind::as_str`], the cluster watchers and the RBAC rules
/// (`crate::cluster::resources`) derive from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSpec {
    pub kind: WorkloadKind,
    /// API group; `""` is the core group.
    pub group: &'static str,
    /// The versions whose shape this module reads, listed explicitly because a new version may
    /// move the fields read (an unknown one is unsupported rather than misread). The first is
    /// the one the cluster watchers list and watch.
    pub versions: &'static [&'static str],
    /// The Kubernetes `kind` string.
    pub kind_name: &'static str,
    /// The resource name (plural) in API paths and RBAC rules, as each CRD declares it
    /// (`spec.names.plural`).
    pub plural: &'static str,
    /// Whether vramgate judges its `/scale` subresource (`crate::admission::scale`): the cluster
    /// watchers then keep it whole (the parent a scale request is judged against) instead of
    /// its metadata only.
    pub scale_subresource: bool,
}

/// Every [`WorkloadKind`], in declaration order (`KINDS[k as usize].kind == k`). Groups,
/// versions and plurals: Kubernetes API reference (Pod, batch/v1 Job), Kubeflow
/// training-operator CRDs (PyTorchJob `kubeflow.org/v1`, MPIJob `v2beta1` and the older `v1`),
/// JobSet, KubeRay, Volcano and LeaderWorkerSet CRDs, Kubernetes apps/v1 (Deployment,
/// StatefulSet), KServe's InferenceService CRD (`serving.kserve.io`, `inferenceservices`).
pub static KINDS: [KindSpec; 12] = [
    spec(WorkloadKind::Pod, "", &["v1"], "Pod", "pods", false),
    spec(WorkloadKind::Job, "batch", &["v1"], "Job", "jobs", false),
    spec(WorkloadKind::PyTorchJob, "kubeflow.org", &["v1"], "PyTorchJob", "pytorchjobs", true),
    spec(WorkloadKind::MpiJob, "kubeflow.org", &["v2beta1", "v1"], "MPIJob", "mpijobs", false),
    spec(WorkloadKind::JobSet, "jobset.x-k8s.io", &["v1alpha2"], "JobSet", "jobsets", false),
    spec(WorkloadKind::RayJob, "ray.io", &["v1", "v1alpha1"], "RayJob", "rayjobs", false),
    spec(WorkloadKind::RayCluster, "ray.io", &["v1", "v1alpha1"], "RayCluster", "rayclusters", false),
    spec(WorkloadKind::VolcanoJob, "batch.volcano.sh", &["v1alpha1"], "Job", "jobs", false),
    spec(
        WorkloadKind::LeaderWorkerSet,
        "leaderworkerset.x-k8s.io",
        &["v1"],
        "LeaderWorkerSet",
        "leaderworkersets",
        true,
    ),
    spec(WorkloadKind::Deployment, "apps", &["v1"], "Deployment", "deployments", false),
    spec(WorkloadKind::StatefulSet, "apps", &["v1"], "StatefulSet", "statefulsets", false),
    spec(
        WorkloadKind::InferenceService,
        "serving.kserve.io",
        &["v1beta1"],
        "InferenceService",
        "inferenceservices",
        false,
    ),
];

const fn spec(
    kind: WorkloadKind,
    group: &'static str,
    versions: &'static [&'static str],
    kind_name: &'static str,
    plural: &'static str,
    scale_subresource: bool,
) -> KindSpec {
    KindSpec { kind, group, versions, kind_name, plural, scale_subresource }
}

impl WorkloadKind {
    /// Recognises a kind from its API group, version and kind ([`KINDS`]).
    #[must_use]
    pub fn from_type(group: &str, version: &str, kind: &str) -> Option<Self> {
        KINDS.iter().find(|k| k.group == group && k.kind_name == kind && k.versions.contains(&version)).map(|k| k.kind)
    }

    /// Its row of [`KINDS`].
    #[must_use]
    pub fn spec(self) -> &'static KindSpec {
        &KINDS[self as usize]
    }

    /// The Kubernetes `kind` string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.spec().kind_name
    }
}

/// A workload: its identity and the groups of identical pods it runs at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub api_version: String,
    pub kind: WorkloadKind,
    pub namespace: Option<String>,
    /// `metadata.name`, else `metadata.generateName` (a CREATE may carry only the prefix).
    pub name: Option<String>,
    /// `metadata.annotations` of the top object (not of its pod templates).
    pub annotations: BTreeMap<String, String>,
    /// `metadata.labels` of the top object.
    pub labels: BTreeMap<String, String>,
    /// One entry per pod template, in manifest order. Empty for a RayJob that submits to an
    /// existing cluster (`clusterSelector`).
    pub groups: Vec<PodGroup>,
    /// The `metadata.ownerReferences` entry with `controller: true`, if any: the object that
    /// created this one (a PyTorchJob for its pods, a Job for its pods).
    pub controller: Option<OwnerRef>,
    /// Copies of the whole workload that run side by side: a Deployment's, StatefulSet's or
    /// LeaderWorkerSet's `spec.replicas`, an InferenceService predictor's `minReplicas` (at
    /// least 1); 1 for kinds whose pods together make one job. Replicas multiply cost, not
    /// per-GPU memory.
    pub replicas: u64,
    /// The inference server a container runs (vLLM, SGLang, TGI), when one does
    /// ([`serving::Serving`]): the serving keys read from its command, env and image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<Box<serving::Serving>>,
}

/// A controller owner reference (`metadata.ownerReferences[i]` with `controller: true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl OwnerRef {
    /// The owner's kind when it is one vramgate reads (matched on API group, version and kind,
    /// as [`WorkloadKind::from_type`] does).
    #[must_use]
    pub fn workload_kind(&self) -> Option<WorkloadKind> {
        let (group, version) = self.api_version.rsplit_once('/').unwrap_or(("", &self.api_version));
        WorkloadKind::from_type(group, version, &self.kind)
    }

    /// Whether the owner is an `apps/v1 ReplicaSet`: a Deployment's (the ReplicaSet's own
    /// controller), which vramgate judges instead of its pods. A ReplicaSet made by hand is
    /// not read, so its pods are not judged either (README, "Serving deployments").
    #[must_use]
    pub fn is_replica_set(&self) -> bool {
        self.api_version == "apps/v1" && self.kind == "ReplicaSet"
    }
}

impl Workload {
    /// Full GPUs the workload holds at once: the sum over groups of pods × GPUs per pod,
    /// saturating (input sizes are bounded, but a saturated answer is still a refusal-worthy
    /// answer, where an overflow would be a wrong one).
    #[must_use]
    pub fn total_gpus(&self) -> u64 {
        self.groups.iter().fold(0u64, |acc, g| acc.saturating_add(g.total_gpus()))
    }

    /// The groups whose pods ask for GPUs (full or MIG), whatever their pod count.
    pub fn gpu_pods(&self) -> impl Iterator<Item = &PodGroup> {
        self.groups.iter().filter(|g| g.uses_gpus())
    }
}

/// A set of pods built from one pod template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodGroup {
    /// The kind's own name for the group: `Master`, `Worker`, `head`, a Ray `groupName`, a
    /// replicated Job's or Volcano task's name, `leader`/`worker`, or the kind name for a
    /// single-template kind.
    pub role: String,
    /// Pods of this group that run concurrently, as the kind defines it (see each kind's file).
    pub pods: u64,
    /// RFC 6901 pointer to the integer field that scales this group (it may be absent from
    /// the object, which then means its default); `None` when nothing scales it (a Pod, a Ray
    /// head).
    pub replicas_pointer: Option<String>,
    /// Pods added per unit of the field at `replicas_pointer` (a JobSet replica is a Job of
    /// `parallelism` pods, a Ray replica spans `numOfHosts` pods); 0 without a pointer.
    pub pods_per_replica: u64,
    /// The values the field at `replicas_pointer` may take by the workload's own rules, as
    /// `(min, max)`: a Ray worker group's `minReplicas`/`maxReplicas`, a PyTorchJob Worker's
    /// `elasticPolicy.minReplicas`/`maxReplicas`. `None`: the kind sets no bound.
    pub replicas_bounds: Option<(u64, u64)>,
    /// Full GPUs per pod: Kubernetes' effective pod request, the larger of (sum over regular
    /// and restartable-sidecar containers) and (the largest init-container request plus the
    /// sidecars started before it).
    pub gpus_per_pod: u64,
    /// MIG devices per pod by profile (e.g. `("3g.40gb", 1)`), sorted by profile, counted by
    /// the same effective-request rule.
    pub mig: Vec<(String, u64)>,
    /// Pointers to every full-GPU quantity (`resources/limits/nvidia.com~1gpu`, and the
    /// matching `requests` entry where present) of the containers that make up
    /// `gpus_per_pod`: the fields to rewrite together to change the pod's GPU count.
    pub gpu_limit_pointers: Vec<String>,
    /// Pointer to the pod template's `spec` (e.g. `/spec/template/spec`).
    pub pod_template_pointer: String,
    /// The GPU product the pod is pinned to, when exactly one is allowed.
    pub gpu_product: Option<String>,
    /// Every GPU product the pod may land on (from the `nvidia.com/gpu.product` node selector
    /// and required node affinity `In` terms); empty when unconstrained.
    pub gpu_products: Vec<String>,
    /// The least GPU memory (MiB) the pod's node can have, from the `nvidia.com/gpu.memory`
    /// label (GPU feature discovery publishes it in MiB).
    pub gpu_memory_mib: Option<u64>,
    /// The pod's Dynamic Resource Allocation claims (`spec.resourceClaims`): their devices
    /// cannot be counted from the object alone (see `admission::dra`).
    pub dra_claims: Vec<DraClaim>,
    /// Resources a container asks for that look like accelerators but are not configured as
    /// GPUs (`amd.com/gpu`, `nvidia.com/gpu.shared`, ...): `(name, per-pod quantity)`.
    pub unseen_resources: Vec<(String, String)>,
    /// Whether a required node-affinity term has an expression on [`PRODUCT_LABEL`]: the pod's
    /// GPU product is pinned there, which a patch of the node selector would not change.
    #[serde(skip)]
    pub product_in_affinity: bool,
    /// Whether the pod template has a `nodeSelector` (a patch adds to it, else creates it).
    #[serde(skip)]
    pub has_node_selector: bool,
    /// The field at `replicas_pointer` as written; `None` when absent (its default applies).
    #[serde(skip)]
    pub replicas_written: Option<Written>,
    /// A batch/v1 Job's `completions` beside the `parallelism` at `replicas_pointer`, as
    /// written; `None` when absent or when the pointer is not a `parallelism`.
    #[serde(skip)]
    pub completions_written: Option<Written>,
}

/// A scalar field of the object as written: its value as a whole number, if it is one, and its
/// JSON text (for messages: `3`, or `"3"` for a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub value: Option<u64>,
    pub text: String,
}

impl Written {
    fn at(obj: &Json<'_>, ptr: &str) -> Option<Self> {
        obj.pointer(ptr).map(|v| Self { value: v.as_u64(), text: v.to_string() })
    }
}

/// Records on each group what the decision reads of the object beyond the group's shape (the
/// patch plan's inputs), so it never walks the raw JSON again.
fn record_object_fields(obj: &Json<'_>, groups: &mut [PodGroup]) {
    for g in groups {
        let affinity = format!(
            "{}/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
            g.pod_template_pointer
        );
        // Any term with an expression on the product label pins it (serialising the terms and
        // searching the text would also match a label *value* that happens to contain the key).
        let expressions = obj.pointer(&affinity).and_then(Json::as_array).into_iter().flatten().flat_map(|term| {
            ["matchExpressions", "matchFields"]
                .into_iter()
                .filter_map(|k| term.get(k).and_then(Json::as_array))
                .flatten()
        });
        g.product_in_affinity =
            expressions.into_iter().any(|e| e.get("key").and_then(Json::as_str) == Some(PRODUCT_LABEL));
        g.has_node_selector = obj.pointer(&format!("{}/nodeSelector", g.pod_template_pointer)).is_some();
        g.replicas_written = g.replicas_pointer.as_deref().and_then(|p| Written::at(obj, p));
        g.completions_written = g
            .replicas_pointer
            .as_deref()
            .and_then(|p| p.strip_suffix("/parallelism"))
            .and_then(|p| Written::at(obj, &format!("{p}/completions")));
    }
}

/// One entry of a pod's `spec.resourceClaims` (Kubernetes API, PodResourceClaim): the
/// devices of a ResourceClaim made from a template for each pod, or of one shared claim.
/// Every claim of the pod is allocated before the pod is scheduled, whether or not a
/// container names it in `resources.claims` (Kubernetes docs, "Dynamic Resource Allocation").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DraClaim {
    /// The entry's `name`, what containers' `resources.claims[].name` refer to.
    pub name: String,
    /// `resourceClaimTemplateName`: a claim per pod, made from this template.
    pub template: Option<String>,
    /// `resourceClaimName`: an existing claim, shared.
    pub claim: Option<String>,
    /// Pointer to the entry.
    pub pointer: String,
}

impl PodGroup {
    /// Full GPUs of the whole group, saturating.
    #[must_use]
    pub fn total_gpus(&self) -> u64 {
        self.pods.saturating_mul(self.gpus_per_pod)
    }

    /// Whether each pod asks for any GPU, full or MIG.
    #[must_use]
    pub fn uses_gpus(&self) -> bool {
        self.gpus_per_pod > 0 || self.mig.iter().any(|(_, n)| *n > 0)
    }
}

/// One problem in the object: where, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct WorkloadError {
    /// RFC 6901 pointer to the offending field (`""` is the object itself).
    pub path: String,
    /// Names the value found and what is accepted.
    pub message: String,
}

/// Reads a Kubernetes object into a [`Workload`], or says its kind is unsupported.
///
/// # Errors
/// Every problem found in the object, each with the pointer of its field: a missing or
/// non-string `apiVersion`/`kind`, wrong JSON types, invalid replica counts, GPU quantities
/// that are not whole numbers, MIG mixed with full GPUs in one pod, missing pod templates.
pub fn extract(obj: &Json<'_>, cfg: &ExtractConfig) -> Result<Extracted, Vec<WorkloadError>> {
    let mut errs = Errors::default();
    let Some(root) = obj.as_object() else {
        errs.push("", format!("the object must be a JSON object, got {}", obj.describe()));
        return Err(errs.into_vec());
    };
    let api_version = fields::required_string(root, "apiVersion", "", &mut errs);
    let kind_name = fields::required_string(root, "kind", "", &mut errs);
    let (Some(api_version), Some(kind_name)) = (api_version, kind_name) else {
        return Err(errs.into_vec());
    };
    // "batch/v1" → ("batch", "v1"); a bare "v1" is the core group "".
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let Some(kind) = WorkloadKind::from_type(group, version, kind_name) else {
        return Ok(Extracted::Unsupported { api_version: api_version.to_owned(), kind: kind_name.to_owned() });
    };

    let meta = fields::opt_object(root, "metadata", "", &mut errs);
    let (namespace, name, annotations, labels, controller) = match meta {
        Some(m) => {
            let namespace = fields::opt_string(m, "namespace", "/metadata", &mut errs);
            let name = fields::opt_string(m, "name", "/metadata", &mut errs);
            let generate = fields::opt_string(m, "generateName", "/metadata", &mut errs);
            (
                namespace.map(str::to_owned),
                name.or(generate).map(str::to_owned),
                fields::string_map(m, "annotations", "/metadata", &mut errs),
                fields::string_map(m, "labels", "/metadata", &mut errs),
                controller_owner(m, &mut errs),
            )
        }
        None => (None, None, BTreeMap::new(), BTreeMap::new(), None),
    };

    let mut groups = match kind {
        WorkloadKind::Pod => pod::groups(root, cfg, &mut errs),
        WorkloadKind::Job => batch::groups(root, cfg, &mut errs),
        WorkloadKind::PyTorchJob => kubeflow::pytorch_groups(root, cfg, &mut errs),
        WorkloadKind::MpiJob => kubeflow::mpi_groups(root, version, cfg, &mut errs),
        WorkloadKind::JobSet => jobset::groups(root, cfg, &mut errs),
        WorkloadKind::RayJob => ray::rayjob_groups(root, cfg, &mut errs),
        WorkloadKind::RayCluster => ray::raycluster_groups(root, cfg, &mut errs),
        WorkloadKind::VolcanoJob => volcano::groups(root, cfg, &mut errs),
        WorkloadKind::LeaderWorkerSet => lws::groups(root, cfg, &mut errs),
        WorkloadKind::Deployment | WorkloadKind::StatefulSet => apps::groups(root, kind, cfg, &mut errs),
        WorkloadKind::InferenceService => kserve::groups(root, cfg, &mut errs),
    };

    if !errs.is_empty() {
        return Err(errs.into_vec());
    }
    record_object_fields(obj, &mut groups);
    let replicas = match kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::LeaderWorkerSet => {
            obj.pointer("/spec/replicas").and_then(Json::as_u64).unwrap_or(1)
        }
        WorkloadKind::InferenceService => groups.first().map_or(1, |g| g.pods),
        _ => 1,
    };
    let serving = serving::detect(obj, kind, &groups).map(Box::new);
    Ok(Extracted::Workload(Workload {
        api_version: api_version.to_owned(),
        kind,
        namespace,
        name,
        annotations,
        labels,
        groups,
        controller,
        replicas,
        serving,
    }))
}

/// The `metadata.ownerReferences` entry marked `controller: true` (Kubernetes allows at most
/// one). Entries without it are owners too, but only the controller creates and manages the
/// object. A malformed entry is reported, not skipped.
fn controller_owner(meta: &json::Object<'_>, errs: &mut Errors) -> Option<OwnerRef> {
    let list = fields::opt_array(meta, "ownerReferences", "/metadata", errs)?;
    let mut found = None;
    for (_, ptr, entry) in fields::object_items(list, "/metadata/ownerReferences", "owner reference", errs) {
        let api_version = fields::required_string(entry, "apiVersion", &ptr, errs);
        let kind = fields::required_string(entry, "kind", &ptr, errs);
        let name = fields::required_string(entry, "name", &ptr, errs);
        if fields::opt_bool(entry, "controller", &ptr, errs) != Some(true) {
            continue;
        }
        if let (Some(a), Some(k), Some(n), None) = (api_version, kind, name, &found) {
            found = Some(OwnerRef { api_version: a.to_owned(), kind: k.to_owned(), name: n.to_owned() });
        }
    }
    found
}
