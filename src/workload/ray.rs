//! KubeRay: `ray.io/v1 RayCluster` and `RayJob` (and their `v1alpha1` versions, same shape).
//!
//! A cluster is one `head` pod (`headGroupSpec`, not scalable) plus, per
//! `workerGroupSpecs[i]`, the pod count KubeRay's `GetWorkerGroupDesiredReplicas` computes:
//! 0 if the group is `suspend`ed; otherwise `replicas` clamped into
//! `[minReplicas, maxReplicas]` (defaults 0 and 2147483647; a missing `replicas` means
//! `minReplicas`), times `numOfHosts` (default 1, multi-host TPU-style groups). The
//! autoscaler may later move between min and max; admission judges what is asked for now.
//! The role is the group's `groupName`, else `worker-group-<i>`. The group records
//! `[minReplicas, maxReplicas]` as its replicas bounds, so a patch stays within them.
//!
//! A RayJob's cluster is `spec.rayClusterSpec`; a RayJob that instead names an existing
//! cluster with `clusterSelector` creates no pods of its own, so it has no groups. The small
//! submitter pod a RayJob may start is CPU-only and not modelled.

use crate::json::Object;

use super::fields::{self, Errors, child};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup};

/// KubeRay's default `maxReplicas` (int32 max).
const MAX_REPLICAS_DEFAULT: u64 = 2_147_483_647;

pub(super) fn raycluster_groups(root: &Object<'_>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let Some(spec) = fields::required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    cluster_groups(spec, "/spec", cfg, errs)
}

pub(super) fn rayjob_groups(root: &Object<'_>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let Some(spec) = fields::required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    if let Some(cluster) = fields::opt_object(spec, "rayClusterSpec", "/spec", errs) {
        return cluster_groups(cluster, "/spec/rayClusterSpec", cfg, errs);
    }
    let has_selector = fields::field(spec, "clusterSelector").is_some();
    if !has_selector && fields::field(spec, "rayClusterSpec").is_none() {
        errs.push(
            "/spec/rayClusterSpec",
            "a RayJob needs rayClusterSpec (a cluster to create) or clusterSelector (an \
             existing cluster); it has neither",
        );
    }
    Vec::new()
}

/// Groups of a RayClusterSpec at `ptr`.
fn cluster_groups(cluster: &Object<'_>, ptr: &str, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let mut out = Vec::new();
    if let Some(head) = fields::required_object(cluster, "headGroupSpec", ptr, errs) {
        let head_ptr = child(ptr, "headGroupSpec");
        out.extend(podspec::template_group("head", Scale::single(), head, &head_ptr, cfg, errs));
    }
    let Some(workers) = fields::opt_array(cluster, "workerGroupSpecs", ptr, errs) else {
        return out;
    };
    let list_ptr = child(ptr, "workerGroupSpecs");
    for (i, wg_ptr, wg) in fields::object_items(workers, &list_ptr, "worker group", errs) {
        let role = fields::name_or(wg, "groupName", &wg_ptr, || format!("worker-group-{i}"), errs);
        let replicas = fields::opt_count_up_to(wg, "replicas", &wg_ptr, MAX_REPLICAS_DEFAULT, errs);
        let min = fields::opt_count_up_to(wg, "minReplicas", &wg_ptr, MAX_REPLICAS_DEFAULT, errs).unwrap_or(0);
        let max = fields::opt_count_up_to(wg, "maxReplicas", &wg_ptr, MAX_REPLICAS_DEFAULT, errs)
            .unwrap_or(MAX_REPLICAS_DEFAULT);
        let hosts = fields::count(wg, "numOfHosts", &wg_ptr, 1, errs);
        let suspended = fields::opt_bool(wg, "suspend", &wg_ptr, errs) == Some(true);
        let desired = match replicas {
            _ if suspended => 0,
            Some(r) if r >= min && r > max => max,
            Some(r) if r >= min => r,
            _ => min,
        };
        // KubeRay clamps `replicas` into [minReplicas, maxReplicas]: a patch outside them
        // would not change what runs.
        let scale = Scale::replicas(desired, hosts, child(&wg_ptr, "replicas")).bounded(Some((min, max)));
        out.extend(podspec::template_group(&role, scale, wg, &wg_ptr, cfg, errs));
    }
    out
}
