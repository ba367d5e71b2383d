//! `batch/v1 Job`: one group of `min(parallelism, completions)` pods.
//!
//! `parallelism` (default 1) is how many pods run at once; a Job never runs more pods than it
//! still needs completions, so a smaller `completions` caps it. `parallelism` is the field
//! that scales the group. `suspend` is ignored on purpose: queueing systems such as Kueue
//! create Jobs suspended and unsuspend them once admitted, and it is that admitted Job whose
//! GPUs matter.

use crate::json::Object;

use super::fields::{self, Errors, child};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup};

pub(super) fn groups(root: &Object<'_>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let Some(spec) = fields::required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    let scale = job_scale(spec, "/spec", errs);
    podspec::template_group("Job", scale, spec, "/spec", cfg, errs).into_iter().collect()
}

/// Concurrent pods of a JobSpec at `spec_ptr`; also used for JobSet's inner Jobs.
pub(super) fn job_pods(spec: &Object<'_>, spec_ptr: &str, errs: &mut Errors) -> u64 {
    let parallelism = fields::count(spec, "parallelism", spec_ptr, 1, errs);
    match fields::opt_count(spec, "completions", spec_ptr, errs) {
        Some(completions) => parallelism.min(completions),
        None => parallelism,
    }
}

fn job_scale(spec: &Object<'_>, spec_ptr: &str, errs: &mut Errors) -> Scale {
    let pods = job_pods(spec, spec_ptr, errs);
    Scale { pods, replicas_pointer: Some(child(spec_ptr, "parallelism")), pods_per_replica: 1, replicas_bounds: None }
}
