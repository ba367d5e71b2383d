//! `leaderworkerset.x-k8s.io/v1 LeaderWorkerSet`: `spec.replicas` (default 1) groups of
//! `spec.leaderWorkerTemplate.size` (default 1) pods each: one leader and `size - 1` workers.
//!
//! So two groups: `leader`, `replicas` pods from `leaderTemplate` (or `workerTemplate` when
//! there is none), and `worker`, `replicas × (size - 1)` pods from `workerTemplate`. Both are
//! scaled by `/spec/replicas`; the worker group is always listed (possibly with 0 pods) so
//! its template is checked even when `size` is 1.

use crate::json::Object;

use super::fields::{self, Errors};
use super::podspec::{self, Scale};
use super::{ExtractConfig, PodGroup};

const LWT: &str = "/spec/leaderWorkerTemplate";

pub(super) fn groups(root: &Object<'_>, cfg: &ExtractConfig, errs: &mut Errors) -> Vec<PodGroup> {
    let Some(spec) = fields::required_object(root, "spec", "", errs) else {
        return Vec::new();
    };
    let replicas = fields::count(spec, "replicas", "/spec", 1, errs);
    let Some(lwt) = fields::required_object(spec, "leaderWorkerTemplate", "/spec", errs) else {
        return Vec::new();
    };
    let size = fields::count(lwt, "size", LWT, 1, errs);
    if size == 0 {
        errs.push(format!("{LWT}/size"), "size must be at least 1 (the leader counts), got 0");
    }
    let workers_per_group = size.saturating_sub(1);

    let leader_scale = Scale::replicas(replicas, 1, "/spec/replicas".to_owned());
    let worker_scale = Scale::replicas(replicas, workers_per_group, "/spec/replicas".to_owned());
    if fields::field(lwt, "leaderTemplate").is_none() {
        // The leader runs the worker template: read it once (so a fault in it is reported
        // once) and use it for both groups.
        let Some(leader) = podspec::template_group_at("leader", leader_scale, lwt, "workerTemplate", LWT, cfg, errs)
        else {
            return Vec::new();
        };
        let worker = PodGroup {
            role: "worker".to_owned(),
            pods: worker_scale.pods,
            replicas_pointer: worker_scale.replicas_pointer,
            pods_per_replica: worker_scale.pods_per_replica,
            replicas_bounds: worker_scale.replicas_bounds,
            ..leader.clone()
        };
        return vec![leader, worker];
    }
    let mut out = Vec::with_capacity(2);
    out.extend(podspec::template_group_at("leader", leader_scale, lwt, "leaderTemplate", LWT, cfg, errs));
    out.extend(podspec::template_group_at("worker", worker_scale, lwt, "workerTemplate", LWT, cfg, errs));
    out
}
