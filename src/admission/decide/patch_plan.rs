//! Plans: the advice a denial names and the patch the mutating webhook applies (GPU count in
//! whole replicas of the scaling group, GPU type through the product node selector).

use super::gpu::{GpuChoice, cluster_max_gpus};
use super::shape::scaling_step;
use super::vocabulary::GpuSource;
use crate::admission::patch::{self, PatchOp};
use crate::cluster::ClusterView;
use crate::config::{Policy, Settings};
use crate::estimate::units::Gib;
use crate::estimate::{GpuCounts, GpuSpec, Job, Objective, Plan, PlanSearch, plan};
use crate::pointer::escape_token;
use crate::request::PREFIX;
use crate::workload::{self, PodGroup, Workload};
use serde_json::json;

/// The plan a denial advises: the engine's one search ([`plan::search`], as `vramgate
/// estimate` runs it) under the job's objective, on its GPU type, in whole replicas of its
/// scaling group, up to `max_gpus`; it may change the job's settings (strategy,
/// checkpointing, micro-batch, LoRA precision; for inference tensor parallelism and
/// quantisation).
pub(super) fn advice_plan(
    job: &Job,
    gpu: &GpuSpec,
    workload: &Workload,
    max_gpus: u32,
    objective: Objective,
    policy: &Policy,
) -> Option<Plan> {
    let search = policy.plan_search(vec![gpu], scaling_step(workload).map_or(1, |s| s.step), max_gpus, Some(objective));
    plan::search(job, &search)
}

/// A patch that makes the job fit, and what it says.
pub(super) struct Patched {
    pub(super) plan: Plan,
    pub(super) ops: Vec<PatchOp>,
    pub(super) message: String,
}

/// The best patch that fits under `objective`: GPU count through the scaling group's
/// replicas (in whole replicas), GPU type through the pods' `nvidia.com/gpu.product` node
/// selector (only types in `patch_gpu_types`, only where no required affinity pins the
/// product); the job's settings stay. `Err` when no patch can make it fit, with the reason
/// when the workload's own bounds on its replicas are what prevents it. The engine's one
/// search ([`plan::search`]) per GPU type, ranked by its one ranking ([`plan::ranks_before`]).
pub(super) fn patch_plan(
    w: &Workload,
    job: &Job,
    choice: &GpuChoice,
    objective: Objective,
    policy: &Policy,
    settings: &Settings,
    cluster: Option<ClusterView<'_>>,
) -> Result<Patched, Option<String>> {
    // MIG slices and memory-label GPUs are not patched: their type is not a catalog product.
    let can_change_type =
        choice.source != GpuSource::GpuMemoryLabel && w.gpu_pods().all(|g| g.mig.is_empty() && !g.product_in_affinity);
    let mut types: Vec<&GpuSpec> = vec![&choice.spec];
    if can_change_type {
        // A type chosen from the inventory may become any type the cluster has.
        let inventory_types: Vec<&str> = match cluster {
            Some(view) if choice.source == GpuSource::Inventory => {
                view.inventory.full_gpu_pools().map(|p| p.gpu.as_str()).collect()
            }
            _ => Vec::new(),
        };
        for name in policy.patch_gpu_types.iter().map(String::as_str).chain(inventory_types) {
            if let Some(g) = settings.catalog.find(name)
                && !types.iter().any(|t| t.name == g.name)
                && cluster_product(cluster, g).is_some()
            {
                types.push(g);
            }
        }
    }
    // With an inventory, only types the cluster has, and a pod no larger than its nodes.
    if let Some(view) = cluster {
        let per_pod = w.gpu_pods().map(|g| g.gpus_per_pod).max().unwrap_or(0);
        types.retain(|t| view.inventory.pool(&t.name).is_some_and(|p| per_pod <= p.max_gpus_per_node));
    }
    let step = scaling_step(w);
    // A patch only adds capacity: the replicas field never goes below what it holds now (nor
    // below the workload's own minimum), and never above the workload's own maximum.
    let (lowest_k, highest_k) = step.map_or((0, 0), |s| replica_range(s.group));
    let mut best: Option<Plan> = None;
    // The fewest replicas that would fit were the workload's own maximum lifted, per type.
    let mut beyond_bound: Option<u64> = None;
    let to_u32 = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
    for gpu in types {
        let max_gpus = cluster_max_gpus(cluster, &gpu.name, settings.max_gpus);
        // Counts reachable: others + k x step, k replicas of the scaling group from what it
        // holds now; without a scaling group only the count the job asks for.
        let counts = |max_k: u64| match step {
            Some(s) => GpuCounts {
                base: to_u32(s.others),
                step: s.step,
                min_steps: to_u32(lowest_k),
                max_steps: to_u32(max_k),
                max_gpus,
            },
            None => GpuCounts { base: job.gpus, step: 0, min_steps: 0, max_steps: 0, max_gpus },
        };
        let search = |max_k: u64| {
            plan::search(
                job,
                &PlanSearch {
                    gpus: vec![gpu],
                    counts: counts(max_k),
                    objective,
                    max_plan_hours: policy.max_plan_hours,
                    change_settings: false,
                },
            )
        };
        match search(highest_k) {
            Some(p) if best.as_ref().is_none_or(|b| plan::ranks_before(&p, b)) => best = Some(p),
            Some(_) => {}
            None if step
                .is_some_and(|s| highest_k < (u64::from(max_gpus).saturating_sub(s.others)) / u64::from(s.step)) =>
            {
                if let Some(p) = search(u64::from(u32::MAX)) {
                    let s = step.expect("checked");
                    let k = (u64::from(p.gpus) - s.others) / u64::from(s.step);
                    beyond_bound = Some(beyond_bound.map_or(k, |b| b.min(k)));
                }
            }
            None => {}
        }
    }
    let Some(plan) = best else {
        // Say why when the workload's own maximum is what stops the patch.
        return Err(step.zip(beyond_bound).map(|(s, k)| {
            format!(
                "not patched: {} would need {k} replicas, above its own maximum of {highest_k} ({})",
                s.group.role,
                bound_field(w.kind)
            )
        }));
    };
    // The replicas of the plan's scaling group (`None`: as the job asks).
    let replicas = step
        .map(|s| (u64::from(plan.gpus) - s.others) / u64::from(s.step))
        .filter(|&k| plan.gpus != job.gpus || step.is_some_and(|s| replicas_field_below(s.group, k)));
    let mut ops = Vec::new();
    let mut changes = Vec::new();
    if let (Some(k), Some(s)) = (replicas, step) {
        let ptr = s.group.replicas_pointer.clone().ok_or(None)?;
        ops.push(PatchOp::add(ptr.clone(), json!(k)));
        let current = s.group.replicas_written.as_ref().map_or("default", |r| r.text.as_str());
        changes.push(format!("{} {} {current} -> {k}", s.group.role, last_token(&ptr)));
        // A batch/v1 Job runs min(parallelism, completions) pods: completions rise to at
        // least the new parallelism, and are never lowered (that would drop requested work).
        if w.kind == workload::WorkloadKind::Job
            && let Some(c) = ptr.strip_suffix("/parallelism").map(|p| format!("{p}/completions"))
            && let Some(completions) = &s.group.completions_written
        {
            match completions.value {
                Some(have) if have >= k => changes.push(format!("completions {have} kept")),
                _ => {
                    changes.push(format!("completions {} -> {k}", completions.text));
                    ops.push(PatchOp::add(c, json!(k)));
                }
            }
        }
    }
    if plan.gpu != choice.spec.name {
        let gpu = settings.catalog.find(&plan.gpu).ok_or(None)?;
        let product = cluster_product(cluster, gpu).ok_or(None)?;
        ops.extend(pin_product(w, &product));
        let mut fields = format!("{}={product}", workload::PRODUCT_LABEL);
        if w.annotations.contains_key(&format!("{PREFIX}gpu")) {
            ops.push(PatchOp::add(
                format!("/metadata/annotations/{}", escape_token(&format!("{PREFIX}gpu"))),
                json!(gpu.name),
            ));
            fields.push_str(&format!(", {PREFIX}gpu={}", gpu.name));
        }
        changes.push(format!("GPU {} -> {} (node selector {fields})", choice.spec.name, gpu.name));
    }
    if ops.is_empty() {
        return Err(None);
    }
    let message = format!(
        "patched to fit: {}; now {} GPUs at {} each",
        changes.join(", "),
        plan.gpus,
        Gib(plan.per_gpu_total_bytes)
    );
    Ok(Patched { plan, ops: patch::dedupe(ops), message })
}

/// The replicas a patch may set on `g`'s replicas field, `(lowest, highest)`: from what the
/// field holds now (or the pods it runs, when absent) and the workload's own minimum, up to
/// the workload's own maximum.
pub(super) fn replica_range(g: &PodGroup) -> (u64, u64) {
    let running = g.pods.checked_div(g.pods_per_replica).unwrap_or(0);
    let written = g.replicas_written.as_ref().and_then(|r| r.value).unwrap_or(0);
    let (min, max) = g.replicas_bounds.unwrap_or((0, u64::MAX));
    (running.max(written).max(min), max)
}

/// Whether the replicas field of `g` holds less than `k` (a Job whose completions cap its
/// pods may run fewer pods than its parallelism: raising it is still a change).
pub(super) fn replicas_field_below(g: &PodGroup, k: u64) -> bool {
    g.replicas_written.as_ref().and_then(|r| r.value).is_some_and(|v| v < k)
}

/// The field holding a kind's own bound on its replicas, as a user writes it.
pub(super) fn bound_field(kind: workload::WorkloadKind) -> &'static str {
    match kind {
        workload::WorkloadKind::PyTorchJob => "spec.elasticPolicy.maxReplicas",
        workload::WorkloadKind::RayCluster | workload::WorkloadKind::RayJob => "the worker group's maxReplicas",
        _ => "its bound",
    }
}

/// The last reference token of a pointer (`/spec/parallelism` → `parallelism`).
pub(super) fn last_token(ptr: &str) -> &str {
    ptr.rsplit('/').next().unwrap_or(ptr)
}

/// Operations that set every GPU pod template's `nvidia.com/gpu.product` node selector.
pub(super) fn pin_product(w: &Workload, product: &str) -> Vec<PatchOp> {
    w.gpu_pods()
        .map(|g| {
            let sel = format!("{}/nodeSelector", g.pod_template_pointer);
            if g.has_node_selector {
                PatchOp::add(format!("{sel}/{}", escape_token(workload::PRODUCT_LABEL)), json!(product))
            } else {
                PatchOp::add(sel, json!({ workload::PRODUCT_LABEL: product }))
            }
        })
        .collect()
}

/// The product label value that selects `gpu`'s nodes: the one the cluster's nodes carry,
/// with an inventory (none if the cluster has no such node); else the catalog's first.
pub(super) fn cluster_product(cluster: Option<ClusterView<'_>>, gpu: &GpuSpec) -> Option<String> {
    match cluster {
        Some(view) => view.inventory.pool(&gpu.name)?.products.first().cloned(),
        None => gpu.gfd_products.first().cloned(),
    }
}
