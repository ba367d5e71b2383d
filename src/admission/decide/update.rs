//! UPDATE semantics: what an unchanged update is, and what a judged job holds and spends (to tell
//! an update under `policy.update: lenient` that raises neither).

use super::gpu::{resolve_gpu, w_unconstrained};
use super::vocabulary::Findings;
use crate::config::{Policy, Settings};
use crate::request::{self, OUTPUT_KEYS, PREFIX};
use crate::workload::Workload;
use std::collections::BTreeMap;

/// What a judged job holds and spends, to tell an UPDATE that raises either.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spend {
    /// Full GPUs plus MIG devices asked for.
    pub(super) devices: u64,
    /// Price per hour of the GPUs that will run (the patched plan, if any).
    pub(super) usd_per_hour: f64,
    /// Estimated cost of the whole run; `None` without `training-tokens`.
    pub(super) cost_usd: Option<f64>,
}

impl Spend {
    /// Whether `self` (the new object) asks for more devices or spends more than `old`. A cost
    /// known on one side only cannot be compared, so it counts as raised.
    pub(super) fn raises(&self, old: &Spend) -> bool {
        // Relative slack for float noise in prices computed the same way.
        let more = |new: f64, old: f64| new > old + old.abs() * 1e-9;
        self.devices > old.devices
            || more(self.usd_per_hour, old.usd_per_hour)
            || match (self.cost_usd, old.cost_usd) {
                (None, None) => false,
                (Some(n), Some(o)) => more(n, o),
                _ => true,
            }
    }
}

/// What is decided of one GPU pod group: role, pods, GPUs and MIG devices per pod.
pub(super) type GroupShape<'w> = (&'w str, u64, u64, &'w [(String, u64)]);

pub(super) fn decided_shape(w: &Workload) -> Vec<GroupShape<'_>> {
    w.gpu_pods().map(|g| (g.role.as_str(), g.pods, g.gpus_per_pod, g.mig.as_slice())).collect()
}

/// Whether an UPDATE leaves everything vramgate decides on as it was: per GPU pod group its
/// role, pods, GPUs and MIG devices per pod; the GPU type the job resolves to (so a product
/// selector naming the type it was already judged on is no change); and the input
/// annotations. Pointers are not compared: a CPU-only container inserted before the GPU one
/// moves them without changing anything decided.
pub(super) fn same_gpu_shape(
    old: &Workload,
    new: &Workload,
    policy: &Policy,
    settings: &Settings,
    inventory: bool,
) -> bool {
    let inputs = |w: &Workload| -> BTreeMap<String, String> {
        request::fields_from_annotations(&w.annotations)
            .into_iter()
            .filter(|(k, _)| !OUTPUT_KEYS.contains(&k.as_str()))
            .collect()
    };
    // The GPU type as judged, with the annotation as written (the inputs compared above).
    let gpu = |w: &Workload| -> Option<(String, u64, bool)> {
        let annotated = w.annotations.get(&format!("{PREFIX}gpu")).map(String::as_str);
        let choice = resolve_gpu(w, annotated, policy, settings, &mut Findings::default())?;
        // With an inventory, a job that names no type gets one from it: keep that distinction.
        Some((choice.spec.name.clone(), choice.spec.memory_bytes, inventory && w_unconstrained(w)))
    };
    inputs(old) == inputs(new) && decided_shape(old) == decided_shape(new) && gpu(old) == gpu(new)
}
