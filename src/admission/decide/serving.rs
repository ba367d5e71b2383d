//! The decision for an inference server (`vramgate.io/workload: serving`, issue 15): will it
//! start on its GPUs? A server that will not is denied or warned per `serving.on_will_not_start`
//! with the engine's message (its numbers and the changes that start it); under
//! `serving.patch_max_model_len` the mutating webhook decides instead to patch max-model-len to
//! the largest that starts (CREATE only). Replicas multiply cost, not per-GPU memory: the pods'
//! GPUs must be whole replicas of tensor x pipeline parallel.

use super::gpu::GpuChoice;
use super::output::output_annotations;
use super::update::Spend;
use super::vocabulary::{Context, Findings, Operation, Reason};
use super::{Evaluation, Subject};
use crate::admission::Endpoint;
use crate::admission::patch::{self, PatchOp};
use crate::config::OnWillNotStart;
use crate::estimate::Job;
use crate::estimate::serving::{Failure, ServingConfig, serving_report};
use crate::json::Json;
use crate::request::PREFIX;
use crate::workload::Workload;
use crate::workload::serving::max_model_len_patch;

#[allow(clippy::too_many_arguments)]
pub(super) fn judge(
    obj: &Json<'_>,
    ctx: &Context<'_>,
    subject: &Subject<'_>,
    workload: &Workload,
    job: &Job,
    cfg: &ServingConfig,
    choice: &GpuChoice<'_>,
    devices: u64,
    mut f: Findings,
) -> (Evaluation, Option<Spend>) {
    let settings = ctx.settings;
    let gpus = u32::try_from(devices).unwrap_or(u32::MAX);
    let report = match serving_report(job, cfg, Some(gpus), &choice.spec, settings.catalog.all()) {
        Ok(r) => r,
        Err(invalid) => return (super::unusable_job(subject, invalid, choice, devices, f), None),
    };
    let s = &report.serving;
    let mut patch_to = None;
    let mut patch_ops: Vec<PatchOp> = Vec::new();
    if let (Some(failure), Some(message)) = (s.failure, s.message.clone()) {
        let patchable = matches!(failure, Failure::KvCacheBelowMaxModelLen | Failure::MaxModelLenOverModel);
        let wanted = s.max_model_len_that_starts.filter(|_| {
            patchable
                && settings.serving.patch_max_model_len
                && ctx.endpoint == Endpoint::Mutate
                && ctx.operation == Operation::Create
        });
        // The flag is rewritten where the container gives it (workload::serving::max_model_len_patch);
        // a server known only from annotations, or a value from a non-literal variable, is not
        // patched, and the object is judged as if patching were off, saying why.
        let ops = wanted.map(|n| match workload.serving.as_deref() {
            Some(server) => max_model_len_patch(server, u64::from(n)),
            None => Err("the containers' command does not name the server (only annotations do)".to_string()),
        });
        match (wanted, ops) {
            (Some(n), Some(Ok(ops))) => {
                patch_to = Some(n);
                patch_ops = ops.into_iter().map(|o| PatchOp { op: o.op, path: o.path, value: o.value }).collect();
                f.advice(
                    Reason::Patched,
                    format!("patch max-model-len to {n}: the largest that starts (was {}); {message}", s.max_model_len),
                );
            }
            (_, ops) => {
                let message = match ops {
                    Some(Err(why)) => format!("{message}; max-model-len not patched: {why}"),
                    _ => message,
                };
                match settings.serving.on_will_not_start {
                    OnWillNotStart::Deny => f.breach(Reason::WillNotStart, message),
                    OnWillNotStart::Warn => f.advice(Reason::WillNotStart, message),
                }
            }
        }
    }
    if s.engine_version_assumed {
        f.advice(
            Reason::Fits,
            format!(
                "{} version unknown: judged as {}; set {PREFIX}engine-version (or use a versioned image tag)",
                s.engine.display_name(),
                s.engine_version
            ),
        );
    }
    for m in &choice.notes {
        f.advice(Reason::Fits, m.clone());
    }
    let spend = Spend { devices, usd_per_hour: report.usd_per_hour, cost_usd: None };
    let mut e = subject.decide(&f, devices, None);
    e.gpu = Some(choice.spec.name.clone());
    e.gpu_source = Some(choice.source);
    e.patch_max_model_len = patch_to;
    if ctx.endpoint == Endpoint::Mutate {
        // The server reserves gpu_memory_utilization x its GPU's memory, whatever it fills.
        patch_ops.extend(output_annotations(obj, &e, report.serving.budget_bytes, None));
        e.patch = patch::dedupe(patch_ops);
    }
    e.serving = Some(report);
    (e, Some(spend))
}
