//! Plans: the advice a denial names and the patch the mutating webhook applies (GPU count in
//! whole replicas of the scaling group, GPU type through the product node selector).

use super::gpu::{GpuChoice, cluster_max_gpus};
use super::shape::scaling_step;
use super::vocabulary::GpuSource;
use crate::admission::patch::{self, PatchOp};
use crate::cluster::ClusterView;
use crate::config::{Policy, Settings};
use crate::estimate::units::Gib;
use crate::estimate::{self, Fit, GpuSpec, Job, Plan, PlanSearch, memory};
use crate::pointer::escape_token;
use crate::request::PREFIX;
use crate::workload::{self, PodGroup, Workload};
use serde_json::json;

/// The plan a denial advises: the least change that fits on the GPUs the job asks for, else
/// the cheapest plan on its GPU type (fewest GPUs, in whole replicas of its scaling group,
/// then cost), either of which may switch to ZeRO/FSDP or turn on activation checkpointing.
pub(super) fn advice_plan(job: &Job, gpu: &GpuSpec, workload: &Workload, max_gpus: u32) -> Option<Plan> {
    advice_at_requested_count(job, gpu).or_else(|| {
        let search = PlanSearch {
            gpus: vec![gpu],
            gpu_step: scaling_step(workload).map_or(1, |s| s.step),
            max_gpus,
            change_strategy: true,
            change_checkpointing: true,
        };
        estimate::cheapest_plan(job, &search)
    })
}

/// The least change that fits on the GPUs the job already asks for: another sharding strategy
/// and/or activation checkpointing (the researcher keeps the GPU count they chose for speed).
pub(super) fn advice_at_requested_count(job: &Job, gpu: &GpuSpec) -> Option<Plan> {
    let unit = job.tensor_parallel.max(1).saturating_mul(job.pipeline_parallel.max(1));
    if job.gpus == 0 || !job.gpus.is_multiple_of(unit) {
        return None;
    }
    let search = PlanSearch {
        gpus: vec![gpu],
        gpu_step: job.gpus / unit,
        max_gpus: job.gpus,
        change_strategy: true,
        change_checkpointing: true,
    };
    estimate::cheapest_plan(job, &search)
}

/// A patch that makes the job fit, and what it says.
pub(super) struct Patched {
    pub(super) plan: Plan,
    pub(super) ops: Vec<PatchOp>,
    pub(super) message: String,
}

/// The cheapest patch that fits: GPU count through the scaling group's replicas (in whole
/// replicas), GPU type through the pods' `nvidia.com/gpu.product` node selector (only types in
/// `patch_gpu_types`, only where no required affinity pins the product). Fewest GPUs, then
/// cost. `Err` when no patch can make it fit, with the reason when the workload's own bounds
/// on its replicas are what prevents it. Ranked by the engine's one ranking
/// ([`estimate::consider_plan`], as [`estimate::cheapest_plan`] ranks).
pub(super) fn patch_plan(
    w: &Workload,
    job: &Job,
    choice: &GpuChoice,
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
    let mut best: estimate::BestPlan = None;
    // The replicas of the best plan's scaling group (`None`: as the job asks).
    let mut replicas: Option<u64> = None;
    // The fewest replicas that would fit were the workload's own maximum lifted, per type.
    let mut beyond_bound: Option<u64> = None;
    // One clone for the whole search: only the GPU count changes between probes.
    let mut j = job.clone();
    for gpu in types {
        // Counts reachable: the current one, or others + k x step, k replicas of the scaling
        // group (per-GPU memory never rises with the data-parallel degree: binary search k).
        let mut candidates: Vec<(u32, Option<u64>)> = vec![(job.gpus, None)];
        if let Some(s) = step {
            let count = |k: u64| u32::try_from(s.others + k * u64::from(s.step)).ok();
            let max_gpus = cluster_max_gpus(cluster, &gpu.name, settings.max_gpus);
            let max_k = (u64::from(max_gpus).saturating_sub(s.others)) / u64::from(s.step);
            let mut fits_at = |k: u64| {
                let Some(n) = count(k) else { return false };
                j.gpus = n;
                estimate::validate(&j, gpu).is_ok()
                    && Fit::judge(memory::per_gpu(&j).total_bytes, gpu.memory_bytes) == Fit::Fits
            };
            // k = lowest_k + i - 1 for i in 1..=n: the fewest replicas from lowest_k up.
            let search = |hi: u64, fits_at: &mut dyn FnMut(u64) -> bool| {
                let n = hi.saturating_add(1).saturating_sub(lowest_k);
                estimate::fewest(n, |i| fits_at(lowest_k + i - 1)).map(|i| lowest_k + i - 1)
            };
            match search(max_k.min(highest_k), &mut fits_at) {
                Some(k) => {
                    if let Some(n) = count(k).filter(|n| *n != job.gpus || replicas_field_below(s.group, k)) {
                        candidates.push((n, Some(k)));
                    }
                }
                None if highest_k < max_k => {
                    if let Some(k) = search(max_k, &mut fits_at) {
                        beyond_bound = Some(beyond_bound.map_or(k, |b| b.min(k)));
                    }
                }
                None => {}
            }
        }
        for (n, k) in candidates {
            j.gpus = n;
            if estimate::validate(&j, gpu).is_err() {
                continue;
            }
            let total = memory::per_gpu(&j).total_bytes;
            if Fit::judge(total, gpu.memory_bytes) != Fit::Fits {
                continue;
            }
            // The engine's ranking (fewest GPUs, then cost), remembering the replicas of the
            // plan kept.
            if estimate::consider_plan(&mut best, &j, gpu, || total) {
                replicas = k;
            }
        }
    }
    let Some((_, _, plan)) = best else {
        // Say why when the workload's own maximum is what stops the patch.
        return Err(step.zip(beyond_bound).map(|(s, k)| {
            format!(
                "not patched: {} would need {k} replicas, above its own maximum of {highest_k} ({})",
                s.group.role,
                bound_field(w.kind)
            )
        }));
    };
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
