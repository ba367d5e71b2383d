//! `batch.volcano.sh/v1alpha1 Job`: one group per `spec.tasks[i]`, of `replicas` pods, scaled
//! by that field. Volcano's `replicas` has no default (a missing one is 0, Go's zero value),
//! and a task without a `name` is named `default<i>` as Volcano's mutating webhook does.
//! `minAvailable` is the gang-scheduling floor, not the pod count, so it is not read.

use serde_json::{Map, Value};

use super::fields::{self, Errors, child, describe, index};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup};

pub(super) fn groups(root: &Map<String, Value>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let Some(spec) = fields::required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    if fields::field(spec, "tasks").is_none() {
        errs.push("/spec/tasks", "tasks is required");
        return Vec::new();
    }
    let Some(tasks) = fields::opt_array(spec, "tasks", "/spec", errs) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        let t_ptr = index("/spec/tasks", i);
        let Some(task) = task.as_object() else {
            errs.push(t_ptr, format!("a task must be an object, got {}", describe(task)));
            continue;
        };
        let role = fields::opt_string(task, "name", &t_ptr, errs)
            .filter(|n| !n.is_empty())
            .map_or_else(|| format!("default{i}"), str::to_owned);
        let replicas = fields::count(task, "replicas", &t_ptr, 0, errs);
        let scale = Scale::replicas(replicas, 1, child(&t_ptr, "replicas"));
        out.extend(podspec::template_group(&role, scale, task, &t_ptr, cfg, errs));
    }
    out
}
