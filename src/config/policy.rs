//! `policy:` and `namespaces:`: what the webhook does with a job, cluster-wide and per namespace.

use super::ConfigError;
use crate::estimate::GpuSpec;
use crate::estimate::catalog::GpuCatalog;
use crate::estimate::plan::{DEFAULT_MAX_PLAN_HOURS, GpuCounts, Objective, PlanSearch};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The GPU assumed when neither the pod nor the annotations name one, unless the config says
/// otherwise. The most common training GPU in the clusters vramgate is written for.
pub const DEFAULT_GPU: &str = "H100-80GB";

/// Requested GPUs at or above this multiple of the GPUs needed earn an over-provisioning
/// warning, unless the config says otherwise. 4x: data parallelism legitimately buys speed
/// with 2x or 3x the GPUs memory needs, so only a large multiple is flagged by default.
pub const DEFAULT_OVERPROVISION_FACTOR: f64 = 4.0;

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
    /// What the advised (and patched) plan minimises when the job's `vramgate.io/objective`
    /// does not say: gpus, cost or time.
    pub objective: Objective,
    /// Longest wall-clock time of a plan, in hours: a longer one is never proposed.
    pub max_plan_hours: f64,
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

impl Policy {
    /// The one plan search under this policy, as `estimate`, the calculator and the webhook's
    /// patch run it: over `gpus`, GPU counts in steps of `step` up to `max_gpus`, the job's
    /// objective else this policy's, and this policy's time cap.
    #[must_use]
    pub fn plan_search<'a>(
        &self,
        gpus: Vec<&'a GpuSpec>,
        step: u32,
        max_gpus: u32,
        objective: Option<Objective>,
    ) -> PlanSearch<'a> {
        PlanSearch {
            gpus,
            counts: GpuCounts::multiples(step, max_gpus),
            objective: objective.unwrap_or(self.objective),
            max_plan_hours: self.max_plan_hours,
            change_settings: true,
        }
    }
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
            objective: Objective::default(),
            max_plan_hours: DEFAULT_MAX_PLAN_HOURS,
        }
    }
}

/// A policy as written in the file: every field optional, so a namespace entry overrides only
/// what it names.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Where `vramgate.io/exempt` is honoured (`exemptions.rs`); read from `policy:` only,
    /// an error in a namespace entry.
    pub exemptions: Option<super::Exemptions>,
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
    pub objective: Option<Objective>,
    pub max_plan_hours: Option<f64>,
}

fn some_nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

impl PolicyFile {
    /// Pushes every problem of this policy, each with its path under `at` (`namespaces.x`).
    pub(super) fn check(&self, at: &str, catalog: &GpuCatalog, errs: &mut Vec<ConfigError>) {
        let mut e = |k: &str, m: String| errs.push(ConfigError { path: format!("{at}.{k}"), message: m });
        if let Some(Some(c)) = self.max_cost_usd
            && !(c.is_finite() && c > 0.0)
        {
            e("max_cost_usd", format!("{c} is not accepted; accepted: dollars > 0, or null for no limit"));
        }
        if let Some(f) = self.overprovision_factor
            && !(f.is_finite() && f > 1.0)
        {
            e("overprovision_factor", format!("{f} is not accepted; accepted: a number > 1, e.g. 2"));
        }
        if let Some(h) = self.max_plan_hours
            && !(h.is_finite() && h > 0.0)
        {
            e("max_plan_hours", format!("{h} is not accepted; accepted: hours > 0, e.g. 2160 (90 days)"));
        }
        if let Some(g) = &self.default_gpu
            && catalog.find(g).is_none()
        {
            e("default_gpu", format!("unknown GPU '{g}'; closest: {}", catalog.suggest(g).join(", ")));
        }
        for (i, g) in self.patch_gpu_types.iter().flatten().enumerate() {
            if catalog.find(g).is_none() {
                e(
                    &format!("patch_gpu_types[{i}]"),
                    format!("unknown GPU '{g}'; closest: {}", catalog.suggest(g).join(", ")),
                );
            }
        }
    }

    pub(super) fn apply(&self, base: &Policy) -> Policy {
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
            objective: self.objective.unwrap_or(base.objective),
            max_plan_hours: self.max_plan_hours.unwrap_or(base.max_plan_hours),
        }
    }
}

/// The cluster-wide policy and each namespace's, resolved, with GPU names made canonical so
/// later lookups never fail. Call after [`PolicyFile::check`] found nothing.
pub(super) fn resolve_policies(
    policy: &PolicyFile,
    namespaces: &BTreeMap<String, PolicyFile>,
    catalog: &GpuCatalog,
) -> (Policy, BTreeMap<String, Policy>) {
    let canon = |g: &str| catalog.find(g).map_or_else(|| g.to_string(), |s| s.name.clone());
    let mut defaults = policy.apply(&Policy::default());
    defaults.default_gpu = canon(&defaults.default_gpu);
    defaults.patch_gpu_types = defaults.patch_gpu_types.iter().map(|g| canon(g)).collect();
    let namespaces = namespaces
        .iter()
        .map(|(ns, p)| {
            let mut p = p.apply(&defaults);
            p.default_gpu = canon(&p.default_gpu);
            p.patch_gpu_types = p.patch_gpu_types.iter().map(|g| canon(g)).collect();
            (ns.clone(), p)
        })
        .collect();
    (defaults, namespaces)
}
