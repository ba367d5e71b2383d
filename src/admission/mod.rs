//! The admission decision: an AdmissionReview body in, a response body out.
//!
//! **Pure.** No I/O, clock, environment or logging: [`review`] maps bytes and [`Settings`] to
//! an [`Answer`], and the server (the imperative shell) writes it to the socket and turns its
//! [`Record`] into metrics. `vramgate check` calls [`decide::evaluate`] on manifests, so the
//! webhook and the CLI make the same decision.

pub mod decide;
mod dra;
pub mod exempt;
pub mod patch;
pub mod review;
pub mod scale;

pub use decide::{Decision, Evaluation, Reason, evaluate};
pub use review::review;

use crate::estimate::catalog::GpuCatalog;
use crate::json::Json;
use crate::workload::WorkloadKind;

/// Which webhook path a review came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /validate`: allow, warn or deny; never patches.
    Validate,
    /// `POST /mutate`: records the estimate in annotations and, where policy allows, patches
    /// the GPU count or type to a plan that fits.
    Mutate,
}

impl Endpoint {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validate => "validate",
            Self::Mutate => "mutate",
        }
    }
}

/// What the server sends back: an HTTP status and a JSON body, plus what happened, for
/// metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// 200 for every review answered (allowed or not); 400 for a body that is not a usable
    /// AdmissionReview.
    pub status: u16,
    /// `application/json` bytes: an AdmissionReview, or `{"error": "..."}` with a 400.
    pub body: Vec<u8>,
    /// `None` for a 400.
    pub record: Option<Record>,
}

/// One answered review, as metrics see it. The strings here are as the request gave them;
/// the metrics bound them ([`kind_label`], [`gpu_label`], a capped namespace set) before they
/// become label values, and the name never does.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub endpoint: Endpoint,
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT`.
    pub operation: String,
    /// The object's kind (`PyTorchJob`), as the request's `kind.kind` says.
    pub kind: String,
    /// `metadata.name`; `None` for an object created with only `generateName` (each such
    /// CREATE makes a new object, so it is never taken for a retry of another).
    pub name: Option<String>,
    /// Whether the object's controller (the `ownerReferences` entry with `controller: true`)
    /// is a supported workload kind: a Pod of a PyTorchJob, a Job of a JobSet, the RayCluster
    /// of a RayJob. Its GPUs were counted when its controller was admitted.
    pub owned_by_workload: bool,
    pub decision: Decision,
    pub reason: Reason,
    pub dry_run: bool,
    /// `""` for cluster-scoped objects.
    pub namespace: String,
    /// Catalog GPU name the job was judged on; `""` when none (no GPUs, skipped).
    pub gpu: String,
    /// Full GPUs the object asks for.
    pub gpus_requested: u64,
    /// Fewest GPUs of that type with which the job's own strategy fits.
    pub gpus_needed: Option<u32>,
    pub gpu_hours: Option<f64>,
    pub cost_usd: Option<f64>,
    /// Dollars spent on GPUs requested beyond `gpus_needed` (cost x surplus / requested).
    pub overprovisioned_cost_usd: Option<f64>,
    /// What became of a `vramgate.io/exempt` annotation (validating endpoint only).
    pub exemption: Option<exempt::Outcome>,
    /// An inference server (`workload: serving`): what it holds once started.
    pub serving: Option<ServingRecord>,
}

/// What an admitted inference server commits: serving is priced per hour (no training tokens),
/// and its capacity is the KV cache's tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServingRecord {
    /// GPUs of every replica, at the catalog's price.
    pub usd_per_hour: f64,
    /// Tokens the KV cache holds across the replicas (one replica's pool x replicas).
    pub kv_cache_tokens: u64,
}

impl Record {
    /// Whether this review admits a GPU workload into the cluster's spend (README, "What
    /// 'admitted' means"): the validating webhook (it runs after every mutation and sees the
    /// final object) allowed or warned a CREATE, not a dry run, of an object that asks for
    /// GPUs and whose controller is not a supported workload kind. An UPDATE never is: what
    /// runs is priced live by the cluster ledger (`serve --cluster`). The server adds what
    /// only it can know: the answer was ready within the webhook timeout, and the same
    /// namespace, kind and name was not counted within the admission window.
    #[must_use]
    pub fn counts_as_admission(&self) -> bool {
        self.endpoint == Endpoint::Validate
            && self.operation == "CREATE"
            && !self.dry_run
            && !self.owned_by_workload
            && matches!(self.decision, Decision::Allow | Decision::Warn)
            && !self.gpu.is_empty()
    }
}

/// The `kind` label values other than [`OTHER_LABEL`]: the supported workload kinds
/// ([`WorkloadKind::as_str`]; Volcano's `Job` shares batch's name) and `Scale`, the kind of a
/// scale subresource review.
pub const KIND_LABELS: [&str; 12] = [
    "Pod",
    "Job",
    "PyTorchJob",
    "MPIJob",
    "JobSet",
    "RayJob",
    "RayCluster",
    "LeaderWorkerSet",
    "Scale",
    // Inference servers (issue 15).
    "Deployment",
    "StatefulSet",
    "InferenceService",
];

/// The label value of anything outside a closed set: an unsupported kind, a GPU that is not
/// a catalog entry, a namespace or team past the configured cap.
pub const OTHER_LABEL: &str = "other";

/// NVIDIA's published MIG profiles (NVIDIA Multi-Instance GPU User Guide, "Supported MIG
/// Profiles": A30, A100 40 GB and 80 GB, H100 80 GB and 94 GB, GH200 96 GB, H200, B200), the
/// only MIG profiles a `gpu` label names; any other is `MIG other`. Media-extension (`+me`)
/// variants are not listed: their resource names are not of the `<n>g.<m>gb` form vramgate reads.
pub const MIG_PROFILES: [&str; 35] = [
    "1g.5gb", "1g.6gb", "1g.10gb", "1g.12gb", "1g.18gb", "1g.20gb", "1g.23gb", "1g.24gb", "1g.35gb", "1g.45gb",
    "2g.10gb", "2g.12gb", "2g.20gb", "2g.24gb", "2g.35gb", "2g.45gb", "3g.20gb", "3g.40gb", "3g.47gb", "3g.48gb",
    "3g.71gb", "3g.90gb", "4g.20gb", "4g.24gb", "4g.40gb", "4g.47gb", "4g.48gb", "4g.71gb", "4g.90gb", "7g.40gb",
    "7g.80gb", "7g.94gb", "7g.96gb", "7g.141gb", "7g.180gb",
];

/// The `kind` label of a request's kind: itself if in [`KIND_LABELS`], else `other` (a
/// direct client may send any string).
#[must_use]
pub fn kind_label(kind: &str) -> &'static str {
    KIND_LABELS.iter().find(|k| **k == kind).copied().unwrap_or(OTHER_LABEL)
}

/// The `gpu` label of the GPU a job was judged on ([`Evaluation::gpu`]): a catalog name
/// (canonical spelling), `<catalog name> MIG <profile>` for a profile of [`MIG_PROFILES`]
/// (`MIG other` for any other), `<catalog name> (memory label)` for a GPU sized by a
/// `nvidia.com/gpu.memory` node selector, and `other` for anything else. Every value comes
/// from the catalog and fixed lists, never from the object's text.
#[must_use]
pub fn gpu_label(catalog: &GpuCatalog, gpu: &str) -> String {
    if let Some(spec) = catalog.find(gpu) {
        return spec.name.clone();
    }
    if let Some((base, profile)) = gpu.rsplit_once(" MIG ") {
        let base = base_gpu_label(catalog, base);
        if base == OTHER_LABEL {
            return base;
        }
        let profile = MIG_PROFILES.iter().find(|p| p.eq_ignore_ascii_case(profile)).copied().unwrap_or(OTHER_LABEL);
        return format!("{base} MIG {profile}");
    }
    base_gpu_label(catalog, gpu)
}

/// A catalog name, or `<catalog name> (memory label)` for `<catalog name> (<n> MiB)`.
fn base_gpu_label(catalog: &GpuCatalog, gpu: &str) -> String {
    if let Some(spec) = catalog.find(gpu) {
        return spec.name.clone();
    }
    match gpu.strip_suffix(" MiB)").and_then(|g| g.rsplit_once(" (")) {
        Some((name, mib)) if !mib.is_empty() && mib.bytes().all(|b| b.is_ascii_digit()) => {
            catalog.find(name).map_or_else(|| OTHER_LABEL.to_owned(), |spec| format!("{} (memory label)", spec.name))
        }
        _ => OTHER_LABEL.to_owned(),
    }
}

/// Whether `object`'s controller (`metadata.ownerReferences[]` with `controller: true`, at
/// most one by Kubernetes' rules) is a supported workload kind, by its `apiVersion` and `kind`,
/// or an apps/v1 ReplicaSet (a Deployment's, issue 15: `workload::OwnerRef::is_replica_set`).
#[must_use]
pub fn owned_by_workload(object: &Json<'_>) -> bool {
    let Some(owners) = object.pointer("/metadata/ownerReferences").and_then(Json::as_array) else {
        return false;
    };
    owners.iter().any(|o| {
        let field = |k: &str| o.get(k).and_then(Json::as_str).unwrap_or_default();
        let api_version = field("apiVersion");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        o.get("controller").and_then(Json::as_bool) == Some(true)
            && (WorkloadKind::from_type(group, version, field("kind")).is_some()
                || (api_version == "apps/v1" && field("kind") == "ReplicaSet"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_labels_come_from_the_catalog_and_the_published_mig_profiles() {
        let catalog = GpuCatalog::builtin();
        for (gpu, label) in [
            ("H100-80GB", "H100-80GB"),
            ("h100-80gb", "H100-80GB"),
            ("A100-80GB MIG 3g.40gb", "A100-80GB MIG 3g.40gb"),
            ("A100-80GB MIG 1g.00000010gb", "A100-80GB MIG other"),
            ("A100-80GB MIG 9g.999gb", "A100-80GB MIG other"),
            ("A100-80GB (40960 MiB)", "A100-80GB (memory label)"),
            ("A100-80GB (40960 MiB) MIG 1g.10gb", "A100-80GB (memory label) MIG 1g.10gb"),
            ("A100-80GB (4x MiB)", "other"),
            ("Unknown (40960 MiB)", "other"),
            ("Unknown MIG 1g.10gb", "other"),
            ("NVIDIA-H100-80GB-HBM3-custom", "other"),
            ("", "other"),
        ] {
            assert_eq!(gpu_label(&catalog, gpu), label, "{gpu}");
        }
    }

    #[test]
    fn kind_labels_are_the_supported_kinds_scale_or_other() {
        for kind in KIND_LABELS {
            assert_eq!(kind_label(kind), kind);
        }
        assert_eq!(kind_label("DaemonSet"), OTHER_LABEL);
        assert_eq!(kind_label("pytorchjob"), OTHER_LABEL);
    }

    fn object(owners: &str) -> Json<'_> {
        serde_json::from_str(owners).expect("valid JSON")
    }

    #[test]
    fn only_a_controller_of_a_supported_kind_makes_an_object_a_workloads() {
        let owned = r#"{"metadata": {"ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1"},
            {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "2", "controller": true}]}}"#;
        assert!(owned_by_workload(&object(owned)));
        // Issue 15: a Deployment's pod (its ReplicaSet) and a LeaderWorkerSet's StatefulSet.
        for owner in ["ReplicaSet", "StatefulSet"] {
            let obj = format!(
                r#"{{"metadata": {{"ownerReferences": [{{"apiVersion": "apps/v1", "kind": "{owner}", "controller": true}}]}}}}"#
            );
            assert!(owned_by_workload(&object(&obj)), "{owner}");
        }
        for not_owned in [
            r#"{"metadata": {}}"#,
            r#"{"metadata": {"ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "controller": false}]}}"#,
            r#"{"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "controller": true}]}}"#,
            r#"{"metadata": {"ownerReferences": [{"apiVersion": "kubeflow.org/v9", "kind": "PyTorchJob", "controller": true}]}}"#,
            r#"{"metadata": {"ownerReferences": "not a list"}}"#,
        ] {
            assert!(!owned_by_workload(&object(not_owned)), "{not_owned}");
        }
    }
}
