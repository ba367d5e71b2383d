//! The vocabulary of a decision: what happens ([`Decision`]), why ([`Reason`]), the operation,
//! where the GPU type came from, the [`Context`] an object is judged in and the [`Evaluation`].

use crate::admission::Endpoint;
use crate::admission::patch::PatchOp;
use crate::cluster::ClusterView;
use crate::config::{Mode, Settings};
use crate::estimate::Report;
use crate::estimate::serving::ServingReport;
use crate::json::Json;
use serde::Serialize;
use strum::{EnumString, IntoStaticStr, VariantArray};

pub use crate::contract::Decision;

/// Why, as a bounded metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, IntoStaticStr, VariantArray)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
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
    /// An inference server (`workload: serving`) that will not start on its GPUs (issue 15).
    WillNotStart,
}

impl Reason {
    /// The `reason` label and audit annotation: the serde name (`does-not-fit`), derived by
    /// strum.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, IntoStaticStr, EnumString, VariantArray)]
#[serde(rename_all = "UPPERCASE")]
#[strum(serialize_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    /// Parses the AdmissionRequest's `operation` (exactly as Kubernetes writes it: `CREATE`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok()
    }

    /// The serde name (`CREATE`), derived by strum.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, IntoStaticStr, VariantArray)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
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
    /// An inference server's report (`workload: serving`) instead of `estimate` (issue 15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<ServingReport>,
    /// The decision "patch max-model-len to N": the largest that starts, decided at the mutating
    /// webhook on CREATE under `serving.patch_max_model_len`; the container-args patch that
    /// applies it is `workload::serving::max_model_len_patch`'s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_max_model_len: Option<u32>,
    /// JSON Patch for the mutating webhook (empty elsewhere).
    #[serde(skip)]
    pub patch: Vec<PatchOp>,
}

impl GpuSource {
    /// The serde name (`node-selector`), derived by strum.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Evaluation {
    /// Whether the object may enter the cluster.
    #[must_use]
    pub fn allowed(&self) -> bool {
        self.decision != Decision::Deny
    }
}

/// Whether a finding decides under the mode (a breach) or only warns (advice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Severity {
    Breach,
    Advice,
}

#[derive(Debug, Clone)]
pub(super) struct Finding {
    pub(super) severity: Severity,
    pub(super) reason: Reason,
    pub(super) message: String,
}

#[derive(Default)]
pub(super) struct Findings(pub(super) Vec<Finding>);

impl Findings {
    pub(super) fn breach(&mut self, reason: Reason, message: String) {
        self.0.push(Finding { severity: Severity::Breach, reason, message });
    }
    pub(super) fn advice(&mut self, reason: Reason, message: String) {
        self.0.push(Finding { severity: Severity::Advice, reason, message });
    }
    /// Decision and reason under `mode`: the first breach decides, else the first advice.
    pub(super) fn decide(&self, mode: Mode) -> (Decision, Reason) {
        let first = |s: Severity| self.0.iter().find(|f| f.severity == s).map(|f| f.reason);
        if let Some(r) = first(Severity::Breach) {
            let d = match mode {
                Mode::Enforce => Decision::Deny,
                Mode::Warn => Decision::Warn,
                Mode::Audit => Decision::Allow,
            };
            return (d, r);
        }
        if let Some(r) = first(Severity::Advice) {
            return (if mode == Mode::Audit { Decision::Allow } else { Decision::Warn }, r);
        }
        (Decision::Allow, Reason::Fits)
    }
    /// The findings of an UPDATE that raises neither GPUs nor spend (`policy.update:
    /// lenient`): not fitting in memory stays a breach, said to be this update's doing; every
    /// other breach becomes advice.
    pub(super) fn for_lenient_update(&self) -> Self {
        let out = self.0.iter().map(|f| match (f.severity, f.reason) {
            (Severity::Breach, Reason::DoesNotFit | Reason::WillNotStart) => {
                Finding { message: format!("this update leaves the job unable to run: {}", f.message), ..f.clone() }
            }
            (Severity::Breach, _) => Finding {
                severity: Severity::Advice,
                reason: f.reason,
                message: format!(
                    "{} (allowed: this update raises neither GPUs nor cost; policy.update: lenient)",
                    f.message
                ),
            },
            _ => f.clone(),
        });
        Self(out.collect())
    }
    pub(super) fn messages(&self) -> Vec<String> {
        // Breaches first, then advice, each in the order found.
        let mut m: Vec<String> =
            self.0.iter().filter(|f| f.severity == Severity::Breach).map(|f| f.message.clone()).collect();
        m.extend(self.0.iter().filter(|f| f.severity == Severity::Advice).map(|f| f.message.clone()));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The strum-derived strings (labels, annotations, messages) are the serde names (`check`'s
    /// JSON, the audit annotations), and read back.
    #[test]
    fn derived_strings_are_the_serde_names() {
        let serde_name = |v: serde_json::Value| v.as_str().expect("a unit variant serialises as a string").to_owned();
        for d in Decision::ALL {
            assert_eq!(d.as_str(), serde_name(serde_json::json!(d)));
            assert_eq!(Decision::parse(d.as_str()), Some(d));
        }
        for r in Reason::VARIANTS {
            assert_eq!(r.as_str(), serde_name(serde_json::json!(r)));
        }
        for o in Operation::VARIANTS {
            assert_eq!(o.as_str(), serde_name(serde_json::json!(o)));
            assert_eq!(Operation::parse(o.as_str()), Some(*o));
        }
        for g in GpuSource::VARIANTS {
            assert_eq!(g.as_str(), serde_name(serde_json::json!(g)));
        }
        assert_eq!(Operation::parse("create"), None, "Kubernetes writes operations in upper case");
        assert_eq!(Reason::DoesNotFit.as_str(), "does-not-fit");
        assert_eq!(Reason::NoGpus.as_str(), "no-gpus");
    }
}
