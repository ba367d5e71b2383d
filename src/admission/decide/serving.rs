//! The decision for an inference server (`vramgate.io/workload: serving`, issue 15): will it
//! start on its GPUs? A server that will not is denied or warned per `serving.on_will_not_start`
//! with the engine's message (its numbers and the changes that start it); under
//! `serving.patch_max_model_len` the mutating webhook decides instead to patch max-model-len to
//! the largest that starts (CREATE only). Replicas multiply cost, not per-GPU memory: the pods'
//! GPUs must be whole replicas of tensor x pipeline parallel.

use super::gpu::GpuChoice;
use super::update::Spend;
use super::vocabulary::{Context, Findings, Operation, Reason};
use super::{Evaluation, Subject};
use crate::admission::Endpoint;
use crate::config::OnWillNotStart;
use crate::estimate::Job;
use crate::estimate::serving::{Failure, ServingConfig, serving_report};
use crate::request::PREFIX;

pub(super) fn judge(
    ctx: &Context<'_>,
    subject: &Subject<'_>,
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
        Err(invalid) => {
            for p in invalid.0 {
                let field = if p.field == "gpus" {
                    "GPUs the pods ask for".to_string()
                } else {
                    format!("{PREFIX}{}", p.field)
                };
                f.breach(Reason::MalformedAnnotation, format!("{field}: {}", p.message));
            }
            let mut e = subject.decide(&f, devices, None);
            e.gpu = Some(choice.spec.name.clone());
            e.gpu_source = Some(choice.source);
            return (e, None);
        }
    };
    let s = &report.serving;
    let mut patch_to = None;
    if let (Some(failure), Some(message)) = (s.failure, s.message.clone()) {
        let patchable = matches!(failure, Failure::KvCacheBelowMaxModelLen | Failure::MaxModelLenOverModel);
        match s.max_model_len_that_starts {
            Some(n)
                if patchable
                    && settings.serving.patch_max_model_len
                    && ctx.endpoint == Endpoint::Mutate
                    && ctx.operation == Operation::Create =>
            {
                patch_to = Some(n);
                f.advice(
                    Reason::Patched,
                    format!("patch max-model-len to {n}: the largest that starts (was {}); {message}", s.max_model_len),
                );
            }
            _ => match settings.serving.on_will_not_start {
                OnWillNotStart::Deny => f.breach(Reason::WillNotStart, message),
                OnWillNotStart::Warn => f.advice(Reason::WillNotStart, message),
            },
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
    e.serving = Some(report);
    (e, Some(spend))
}
