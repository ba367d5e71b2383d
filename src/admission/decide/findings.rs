//! Findings (breaches and advice) and their messages: fit, cost, over-provisioning, inventory.

use super::gpu::{GpuChoice, advice_max_gpus};
use super::patch_plan::patch_plan;
use super::vocabulary::{Context, Findings, GpuSource, Reason};
use super::{Outcome, Subject};
use crate::admission::Endpoint;
use crate::cluster::ClusterView;
use crate::config::Policy;
use crate::estimate::units::Gib;
use crate::estimate::{self, Fit, GpuSpec, Job, Objective, Plan, Report, WorkloadKind as Work};
use crate::request::PREFIX;
use crate::workload::Workload;
use std::borrow::Cow;

/// Near capacity is advice; not fitting is a breach, unless the mutating webhook may patch the
/// job into a plan that fits (the best under `objective`, the job's or its namespace's).
#[allow(clippy::too_many_arguments)] // the judged job's parts, each read here
pub(super) fn fit_findings<'s>(
    ctx: &Context<'s>,
    subject: &Subject<'_>,
    workload: &Workload,
    job: &Job,
    choice: &GpuChoice<'s>,
    report: &Report,
    objective: Objective,
    f: &mut Findings,
) -> Outcome<'s> {
    let est = &report.estimate;
    let as_asked =
        Outcome { gpus: job.gpus, gpu: choice.spec.clone(), total_bytes: est.per_gpu.total_bytes, patch: Vec::new() };
    match est.decision {
        Fit::Fits => as_asked,
        Fit::Warn => {
            let mut message = format!(
                "needs {} per GPU of {}'s {} ({:.0}%), within the estimate's error: it may run out of memory",
                Gib(est.per_gpu.total_bytes),
                choice.spec.name,
                Gib(choice.spec.memory_bytes),
                100.0 * est.per_gpu.total_bytes as f64 / choice.spec.memory_bytes as f64
            );
            // A term the engine cannot justify warns but never denies (issue 14): say which.
            if est.per_gpu.uncertain_bytes > 0 {
                message.push_str(&format!(
                    "; {} of it is uncertain (the math SDPA kernel's fp32 score matrix, which runs only when transformers passes no attention mask), {} without it",
                    Gib(est.per_gpu.uncertain_bytes),
                    Gib(est.per_gpu.total_bytes.saturating_sub(est.per_gpu.uncertain_bytes))
                ));
            }
            f.advice(Reason::NearCapacity, message);
            as_asked
        }
        Fit::DoesNotFit => {
            // The validating webhook searches too, only to say why no patch was made. A DRA
            // claim's devices live in its template, which a patch cannot rewrite.
            let patched = if subject.policy.patch && workload.groups.iter().all(|g| g.dra_claims.is_empty()) {
                patch_plan(workload, job, choice, objective, subject.policy, ctx.settings, ctx.cluster)
            } else {
                Err(None)
            };
            match patched {
                Ok(p) if ctx.endpoint == Endpoint::Mutate => {
                    f.advice(Reason::Patched, p.message);
                    Outcome {
                        gpus: p.plan.gpus,
                        gpu: ctx.settings.catalog.find(&p.plan.gpu).map_or_else(|| choice.spec.clone(), Cow::Borrowed),
                        total_bytes: p.plan.per_gpu_total_bytes,
                        patch: p.ops,
                    }
                }
                not_patched => {
                    let plan = report.plan.as_ref();
                    let (max_gpus, one_pod) =
                        advice_max_gpus(ctx.cluster, &choice.spec.name, workload, ctx.settings.max_gpus);
                    let mut message = does_not_fit_message(job, &choice.spec, plan, est, max_gpus, one_pod);
                    if let Err(Some(why)) = not_patched {
                        message.push_str("; ");
                        message.push_str(&why);
                    }
                    f.breach(Reason::DoesNotFit, message);
                    as_asked
                }
            }
        }
    }
}

/// The namespace's cost limit: over it, or unknown while a limit applies, is a breach.
pub(super) fn cost_findings(
    policy: &Policy,
    namespace: &str,
    job: &Job,
    gpu: &GpuSpec,
    compute: Option<estimate::Compute>,
    f: &mut Findings,
) {
    let Some(limit) = policy.max_cost_usd else { return };
    match compute {
        Some(c) if c.cost_usd > limit => f.breach(
            Reason::OverCostLimit,
            format!(
                "estimated cost ${} ({:.0} GPU-hours on {}) is over namespace '{namespace}' limit of ${}",
                dollars(c.cost_usd),
                c.gpu_hours,
                gpu.name,
                dollars(limit)
            ),
        ),
        Some(_) => {}
        None if job.workload == Work::Training => f.breach(
            Reason::CostUnknown,
            format!(
                "namespace '{namespace}' limits a job's cost to ${}, but the cost is unknown: \
                 set {PREFIX}training-tokens (e.g. 20B)",
                dollars(limit)
            ),
        ),
        None => {}
    }
}

/// GPUs beyond those the job needs: their share of the cost (returned, for metrics), and
/// advice when the job asks for at least `overprovision_factor` x what it needs. The share
/// assumes the surplus does not shorten the run; data parallelism can buy speed with it, which
/// the message says.
pub(super) fn overprovision_findings(
    policy: &Policy,
    report: &Report,
    gpu: &GpuSpec,
    cost_usd: Option<f64>,
    f: &mut Findings,
) -> Option<f64> {
    let est = &report.estimate;
    let needed = est.min_gpus.filter(|n| *n > 0 && est.decision == Fit::Fits)?;
    let requested = u64::from(est.gpus);
    let surplus = requested.saturating_sub(u64::from(needed));
    if surplus == 0 {
        return None;
    }
    let share = surplus as f64 / requested as f64;
    if requested as f64 >= policy.overprovision_factor * f64::from(needed) {
        let waste = match cost_usd {
            Some(c) => format!("${} of its ${}", dollars(c * share), dollars(c)),
            None => format!("${}/hour", dollars(gpu.usd_per_hour * surplus as f64)),
        };
        f.advice(
            Reason::Overprovisioned,
            format!(
                "asks for {requested} GPUs but fits on {needed}; the {surplus} extra cost {waste} unless they buy speed"
            ),
        );
    }
    cost_usd.map(|c| c * share)
}

/// Dollars with thousands separators and no cents above $100.
pub(super) fn dollars(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x < 100.0 {
        return format!("{x:.2}");
    }
    let whole = x.round() as u64;
    let s = whole.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn does_not_fit_message(
    job: &Job,
    gpu: &GpuSpec,
    plan: Option<&Plan>,
    est: &estimate::Estimate,
    max_gpus: u32,
    one_pod: bool,
) -> String {
    let with = match job.workload {
        Work::Training => format!(" with {}", job.strategy),
        Work::Inference => format!(" with tensor-parallel {}", job.tensor_parallel),
    };
    let head = format!(
        "needs {} per GPU{with} on {} x {} ({})",
        Gib(est.per_gpu.total_bytes),
        job.gpus,
        gpu.name,
        Gib(gpu.memory_bytes)
    );
    match plan {
        Some(p) => {
            let mut changes: Vec<String> = p.changes.iter().map(|(k, v)| format!("set {PREFIX}{k}={v}")).collect();
            if let Some(a) = p.gradient_accumulation_steps {
                changes.push(format!(
                    "accumulate gradients over {a} micro-batches (same sequences per GPU per optimizer step)"
                ));
            }
            if p.gpus != job.gpus {
                changes.push(format!("request {} GPUs", p.gpus));
            }
            if p.gpu != gpu.name {
                changes.push(format!("use {}", p.gpu));
            }
            let with = match p.strategy {
                Some(s) if s != job.strategy => format!(" with {s}"),
                _ => String::new(),
            };
            let time = p.wall_hours.map(|h| format!(", {}", estimate::plan::hours_text(h))).unwrap_or_default();
            format!(
                "{head}; fits{with} on {} GPUs ({} each{time}; objective {}): {}",
                p.gpus,
                Gib(p.per_gpu_total_bytes),
                p.objective,
                changes.join(", ")
            )
        }
        None if job.workload == Work::Inference => format!(
            "{head}; no plan with up to {max_gpus} {} GPUs fits, even with tensor parallelism up to 8 and int4 \
             weights: use a larger GPU, a shorter context ({PREFIX}sequence-length) or fewer concurrent sequences \
             ({PREFIX}micro-batch-size)",
            gpu.name
        ),
        None if one_pod => format!(
            "{head}; no plan with up to {max_gpus} {} GPUs fits in one pod, even with zero3/fsdp and activation \
             checkpointing, and one pod cannot span nodes ({max_gpus} GPUs per node): run it as a multi-pod \
             workload (PyTorchJob, JobSet, LeaderWorkerSet), or use LoRA/QLoRA, a smaller micro-batch or \
             sequence, or a larger GPU",
            gpu.name
        ),
        None => format!(
            "{head}; no plan with up to {max_gpus} {} GPUs fits within the plan time limit, even with zero3/fsdp, \
             activation checkpointing and a smaller micro-batch: use LoRA/QLoRA, a shorter sequence, or a larger GPU",
            gpu.name
        ),
    }
}

/// What the inventory says about the plan that will run: its GPU type must exist in the
/// cluster, each pod must fit on one node of that type, and the job on all of them. Breaches
/// while the inventory is fresh; advice (naming its age) once it is older than
/// `cluster.inventory_max_stale_seconds`, or always with `cluster.enforce_inventory: false`.
pub(super) fn cluster_findings(
    view: ClusterView<'_>,
    enforced: bool,
    w: &Workload,
    outcome: &Outcome,
    source: GpuSource,
    f: &mut Findings,
) {
    if source == GpuSource::GpuMemoryLabel {
        return; // judged on a memory size, not a catalog type: nothing to look up
    }
    let mut found: Vec<(Reason, String)> = Vec::new();
    let gpu = &outcome.gpu.name;
    match view.inventory.pool(gpu) {
        None => found.push((
            Reason::NotInCluster,
            format!("the cluster has no {gpu} node; it has {}", view.inventory.summary()),
        )),
        Some(pool) => {
            for g in w.gpu_pods() {
                let per_pod = g.gpus_per_pod.saturating_add(g.mig.iter().map(|(_, n)| *n).sum::<u64>());
                if per_pod > pool.max_gpus_per_node {
                    found.push((
                        Reason::ExceedsCluster,
                        format!(
                            "{} pods ask for {per_pod} GPUs each; the largest {gpu} node has {}",
                            g.role, pool.max_gpus_per_node
                        ),
                    ));
                }
            }
            if u64::from(outcome.gpus) > pool.gpus {
                found.push((
                    Reason::ExceedsCluster,
                    format!(
                        "asks for {} {gpu} GPUs at once; the cluster has {} on {} node{}",
                        outcome.gpus,
                        pool.gpus,
                        pool.nodes,
                        if pool.nodes == 1 { "" } else { "s" }
                    ),
                ));
            }
        }
    }
    for (reason, message) in found {
        if !enforced {
            f.advice(reason, format!("{message} (cluster.enforce_inventory is off: not enforced)"));
        } else if view.is_fresh() {
            f.breach(reason, message);
        } else {
            let stale = view.stale_seconds.unwrap_or(0);
            f.advice(reason, format!("{message} (inventory stale {stale} s: not enforced)"));
        }
    }
}
