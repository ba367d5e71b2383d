//! `batch.volcano.sh/v1alpha1 Job`: one group per `spec.tasks[i]`, of `replicas` pods, scaled
//! by that field. Volcano's `replicas` has no default (a missing one is 0, Go's zero value),
//! and a task without a `name` is named `default<i>` as Volcano's mutating webhook does.
//! `minAvailable` is the gang-scheduling floor, not the pod count, so it is not read.

use crate::json::Object;

use super::fields::{self, Errors, child};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup};

pub(super) fn groups(root: &Object<'_>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let tasks = fields::spec_items(root, "tasks", "task", errs);
    let mut out = Vec::with_capacity(tasks.len());
    for (i, t_ptr, task) in tasks {
        let role = fields::name_or(task, "name", &t_ptr, || format!("default{i}"), errs);
        let replicas = fields::count(task, "replicas", &t_ptr, 0, errs);
        let scale = Scale::replicas(replicas, 1, child(&t_ptr, "replicas"));
        out.extend(podspec::template_group(&role, scale, task, &t_ptr, cfg, errs));
    }
    out
}
