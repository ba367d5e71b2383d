//! `vramgate audit` and the in-cluster periodic audit: what the validating webhook would say
//! now about the workloads that already exist. Pure: the shell (`crate::server::audit`) lists
//! the objects of every kind in [`crate::workload::KINDS`]; this module judges each with the
//! same [`evaluate`] `check` and the webhook call, **as a CREATE** at the validating endpoint
//! (an existing object has no admission request to replay; a CREATE is the judgement it would
//! get if it were submitted again today), and sums what it finds.
//!
//! A finding is an object the webhook would deny or warn about now, one allowed only because
//! its namespace is in `audit` mode (its reason is not `fits`), or one that asks for more GPUs
//! than the engine's fewest that fit (`min_gpus`, the plan) with the surplus priced at the GPU
//! type's catalog `usd_per_hour` (the config's `gpus` overrides included): any surplus is
//! reported, not only one past `policy.overprovision_factor`, since every idle GPU is paid for.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::admission::Endpoint;
use crate::admission::decide::{Context, Decision, Operation, Reason, evaluate};
use crate::cluster::ClusterView;
use crate::config::Settings;
use crate::estimate::Fit;
use crate::json::Json;

pub mod policy_report;

/// The operation every object is judged as.
pub const JUDGED_AS: &str = "CREATE";

/// A resource that could not be listed, and why (a CRD not installed, forbidden).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unlisted {
    /// `pytorchjobs.kubeflow.org`.
    pub resource: String,
    pub reason: String,
    /// `false` for a resource the API server does not serve (404: the kind is not installed,
    /// nothing of it can exist); `true` when objects may exist that the audit did not see.
    pub incomplete: bool,
}

/// One object with a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditFinding {
    /// `apiVersion` of the object (`kubeflow.org/v1`).
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `metadata.uid`, when the object has one (every listed object does).
    pub uid: Option<String>,
    pub decision: Decision,
    pub reason: Reason,
    pub messages: Vec<String>,
    /// Catalog name of the GPU type judged on.
    pub gpu: Option<String>,
    /// Full GPUs (or MIG devices) the pods ask for.
    pub gpus: u64,
    /// Fewest GPUs of that type with which the job's own strategy fits (the engine's
    /// `min_gpus`), when it fits at all.
    pub gpus_needed: Option<u32>,
    /// GPUs asked for beyond `gpus_needed`.
    pub overprovisioned_gpus: u64,
    /// `overprovisioned_gpus` x the GPU type's `usd_per_hour`; `None` when the price is
    /// unknown (a type the catalog does not price, such as a MIG slice).
    pub overprovisioned_usd_per_hour: Option<f64>,
}

impl AuditFinding {
    /// Whether the webhook would deny it or warn about it now.
    #[must_use]
    pub fn denied_or_warned(&self) -> bool {
        matches!(self.decision, Decision::Deny | Decision::Warn)
    }
}

/// Counts of one audit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Objects listed.
    pub objects: usize,
    /// Objects judged (GPU workloads with annotations, or where they are required).
    pub judged: usize,
    /// Objects the webhook leaves alone (no GPUs, not annotated, owned by a judged workload).
    pub skipped: usize,
    pub denied: usize,
    pub warned: usize,
    /// Objects asking for more GPUs than they need.
    pub overprovisioned: usize,
    /// Sum of the priced findings' `overprovisioned_usd_per_hour`.
    pub overprovisioned_usd_per_hour: f64,
}

/// What `vramgate audit --output json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    /// Always [`JUDGED_AS`]: every object is judged as if it were created now.
    pub judged_as: &'static str,
    pub summary: Summary,
    /// Resources not listed (each also printed as a line).
    pub unlisted: Vec<Unlisted>,
    /// Objects with a finding, by namespace, kind and name.
    pub findings: Vec<AuditFinding>,
    /// Objects judged without a finding (allowed, fitting, no surplus GPU), by namespace, kind
    /// and name: the `pass` results of a PolicyReport.
    pub passed: Vec<AuditFinding>,
}

/// Gives a listed object its `apiVersion` and `kind`: the API server leaves them out of a
/// list's items (`kubectl get -o json` adds them back); the extractor needs them.
#[must_use]
pub fn typed(mut object: Value, api_version: &str, kind: &str) -> Value {
    if let Value::Object(m) = &mut object {
        m.entry("apiVersion").or_insert_with(|| Value::String(api_version.to_owned()));
        m.entry("kind").or_insert_with(|| Value::String(kind.to_owned()));
    }
    object
}

/// Judges every object (each with its `apiVersion` and `kind`, see [`typed`]) as a CREATE at
/// the validating endpoint under `settings`, with the cluster's inventory when there is one.
#[must_use]
pub fn audit(
    objects: &[Value],
    settings: &Settings,
    cluster: Option<ClusterView<'_>>,
    unlisted: Vec<Unlisted>,
) -> AuditReport {
    let mut summary = Summary { objects: objects.len(), ..Summary::default() };
    let mut findings = Vec::new();
    let mut passed = Vec::new();
    for object in objects {
        let json = Json::from(object);
        // Judged with its controller (a Job of a JobSet, the RayCluster of a RayJob): its GPUs
        // are its owner's, as at admission.
        let ctx = Context {
            settings,
            namespace: None,
            operation: Operation::Create,
            old_object: None,
            endpoint: Endpoint::Validate,
            cluster,
        };
        if crate::admission::owned_by_workload(&json) {
            summary.skipped += 1;
            continue;
        }
        let e = evaluate(&json, &ctx);
        if e.decision == Decision::Skip {
            summary.skipped += 1;
            continue;
        }
        summary.judged += 1;
        let est = e.estimate.as_ref().map(|r| &r.estimate);
        let gpus_needed = est.and_then(|x| x.min_gpus.filter(|n| *n > 0 && x.decision == Fit::Fits));
        let surplus = gpus_needed.map_or(0, |n| e.gpus_requested.saturating_sub(u64::from(n)));
        let price = e.gpu.as_deref().and_then(|g| settings.catalog.find(g)).map(|g| g.usd_per_hour);
        let waste = (surplus > 0).then(|| price.map(|p| p * surplus as f64)).flatten();
        let field = |ptr: &str| json.pointer(ptr).and_then(Json::as_str).map(str::to_owned);
        let finding = AuditFinding {
            api_version: field("/apiVersion").unwrap_or_default(),
            uid: field("/metadata/uid"),
            kind: e.kind,
            namespace: e.namespace,
            name: e.name.unwrap_or_default(),
            decision: e.decision,
            reason: e.reason,
            messages: e.messages,
            gpu: e.gpu,
            gpus: e.gpus_requested,
            gpus_needed,
            overprovisioned_gpus: surplus,
            overprovisioned_usd_per_hour: waste,
        };
        match finding.decision {
            Decision::Deny => summary.denied += 1,
            Decision::Warn => summary.warned += 1,
            _ => {}
        }
        if surplus > 0 {
            summary.overprovisioned += 1;
            summary.overprovisioned_usd_per_hour += waste.unwrap_or(0.0);
        }
        if finding.denied_or_warned() || finding.reason != Reason::Fits || surplus > 0 {
            findings.push(finding);
        } else {
            passed.push(finding);
        }
    }
    let order =
        |a: &AuditFinding, b: &AuditFinding| (&a.namespace, &a.kind, &a.name).cmp(&(&b.namespace, &b.kind, &b.name));
    findings.sort_by(order);
    passed.sort_by(order);
    AuditReport { judged_as: JUDGED_AS, summary, unlisted, findings, passed }
}

/// `vramgate audit`'s exit code: 0 when nothing would be denied or warned about, 1 when
/// something would, 2 when a resource could not be listed and objects may be missing (the
/// audit is incomplete). Over-provisioning alone (below the policy's factor, so no warning)
/// is reported but exits 0.
#[must_use]
pub fn exit_code(report: &AuditReport) -> i32 {
    if report.unlisted.iter().any(|u| u.incomplete) {
        2
    } else {
        i32::from(report.findings.iter().any(AuditFinding::denied_or_warned))
    }
}

/// Per-namespace sums for the metrics: findings by (namespace, reason), and the
/// over-provisioning $/hour by namespace. Namespaces are the objects' own; the metrics
/// shell caps them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ByNamespace {
    /// Objects denied or warned about now, by (namespace, reason).
    pub findings: BTreeMap<(String, &'static str), u64>,
    pub overprovisioned_usd_per_hour: BTreeMap<String, f64>,
}

#[must_use]
pub fn by_namespace(report: &AuditReport) -> ByNamespace {
    let mut out = ByNamespace::default();
    for f in &report.findings {
        if f.denied_or_warned() {
            *out.findings.entry((f.namespace.clone(), f.reason.as_str())).or_default() += 1;
        }
        if let Some(w) = f.overprovisioned_usd_per_hour {
            *out.overprovisioned_usd_per_hour.entry(f.namespace.clone()).or_default() += w;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(name: &str, ns: &str, gpus: u32, annotations: Value) -> Value {
        json!({
            "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": gpus}}}
            ]}}}
        })
    }

    #[test]
    fn a_listed_item_gets_its_type_and_keeps_one_it_has() {
        let o = typed(json!({"metadata": {}}), "batch/v1", "Job");
        assert_eq!(o["apiVersion"], "batch/v1");
        assert_eq!(o["kind"], "Job");
        let o = typed(json!({"apiVersion": "v1", "kind": "Pod"}), "batch/v1", "Job");
        assert_eq!(o["kind"], "Pod");
    }

    #[test]
    fn a_7b_inference_on_eight_h100_wastes_seven_gpus_and_a_70b_training_on_one_is_denied() {
        let settings = Settings::default();
        let h100 = settings.catalog.find("H100-80GB").unwrap().usd_per_hour;
        let small = typed(
            job(
                "small",
                "team-a",
                8,
                json!({"vramgate.io/model": "llama-2-7b", "vramgate.io/workload": "inference", "vramgate.io/gpu": "H100-80GB"}),
            ),
            "batch/v1",
            "Job",
        );
        let big = typed(
            job(
                "big",
                "team-b",
                1,
                json!({"vramgate.io/model": "llama-2-70b", "vramgate.io/workload": "training", "vramgate.io/fine-tuning": "full", "vramgate.io/gpu": "H100-80GB"}),
            ),
            "batch/v1",
            "Job",
        );
        let plain = typed(job("plain", "team-a", 0, json!({})), "batch/v1", "Job");
        let r = audit(&[small, big, plain], &settings, None, Vec::new());
        assert_eq!(r.summary.objects, 3);
        assert_eq!(r.summary.skipped, 1, "{r:#?}");
        let small = r.findings.iter().find(|f| f.name == "small").expect("small is over-provisioned");
        // 7B in bf16 is 14 GB of weights: one 80 GB GPU holds it (the engine's min_gpus).
        assert_eq!(small.gpus_needed, Some(1));
        assert_eq!(small.overprovisioned_gpus, 7);
        assert_eq!(small.overprovisioned_usd_per_hour, Some(7.0 * h100));
        let big = r.findings.iter().find(|f| f.name == "big").expect("big does not fit");
        // 70B full fine-tuning needs ~16 bytes a parameter: over a terabyte, not 80 GB.
        assert_eq!((big.decision, big.reason), (Decision::Deny, Reason::DoesNotFit));
        assert_eq!(big.overprovisioned_gpus, 0);
        assert_eq!(exit_code(&r), 1);
        let by = by_namespace(&r);
        assert_eq!(by.findings.get(&("team-b".to_owned(), "does-not-fit")), Some(&1));
        assert_eq!(by.overprovisioned_usd_per_hour.get("team-a"), Some(&(7.0 * h100)));
    }

    #[test]
    fn an_object_owned_by_a_judged_kind_is_skipped_not_judged_twice() {
        let mut child = typed(job("child", "a", 8, json!({"vramgate.io/model": "llama-2-7b"})), "batch/v1", "Job");
        child["metadata"]["ownerReferences"] = json!([{"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "name": "js", "uid": "u", "controller": true}]);
        let r = audit(&[child], &Settings::default(), None, Vec::new());
        assert_eq!((r.summary.judged, r.summary.skipped), (0, 1));
        assert!(r.findings.is_empty());
    }

    #[test]
    fn an_incomplete_listing_exits_2_and_a_missing_crd_does_not() {
        let missing = Unlisted { resource: "rayjobs.ray.io".into(), reason: "not served".into(), incomplete: false };
        let r = audit(&[], &Settings::default(), None, vec![missing.clone()]);
        assert_eq!(exit_code(&r), 0);
        let forbidden = Unlisted { incomplete: true, ..missing };
        assert_eq!(exit_code(&audit(&[], &Settings::default(), None, vec![forbidden])), 2);
    }
}
