//! The decision for one Kubernetes object under its namespace's policy. Pure.
//!
//! Road: object → [`crate::workload::extract`] (pods and GPUs) → `vramgate.io/` annotations →
//! [`crate::request::parse_fields`] (the job) → GPU type (node selector or affinity on the GPU
//! Feature Discovery label, else the `gpu` annotation, else the namespace's default) →
//! [`crate::estimate::report`] → findings → one [`Decision`] under the namespace's mode.
//!
//! Each finding is either a *breach* (does not fit, over the cost limit, malformed, unknown GPU)
//! or *advice* (near capacity, over-provisioned, notes). Breaches deny in `enforce`, warn in
//! `warn` and are only counted in `audit`; advice warns in `enforce` and `warn`.
//!
//! This file holds the flow ([`evaluate`], screening then judging); each concern has its own
//! file: `vocabulary` (the types), `screen`, `update` (UPDATE semantics), `gpu` (GPU, MIG and
//! inventory choice), `findings` (findings and their messages), `patch_plan` (advice and patch
//! plans) and `output` (output annotations).

mod findings;
mod gpu;
mod output;
mod patch_plan;
mod screen;
mod serving;
mod shape;
mod update;
mod vocabulary;

use vocabulary::Findings;
pub use vocabulary::{Context, Decision, Evaluation, GpuSource, Operation, Reason};

use crate::admission::Endpoint;
use crate::admission::patch::{self, PatchOp};
use crate::config::{Policy, UpdatePolicy};
use crate::estimate::{self, Fit, GpuSpec, Report};
use crate::json::Json;
use crate::request::PREFIX;
use crate::workload;
use findings::{cluster_findings, cost_findings, fit_findings, overprovision_findings};
use gpu::{advice_max_gpus, choose_from_inventory, resolve_gpu, w_unconstrained};
use output::output_annotations;
use patch_plan::{advice_plan, cluster_product, pin_product};
use screen::{Screened, screen};
use std::borrow::Cow;
use update::Spend;

fn str_at<'v>(obj: &'v Json<'_>, ptr: &str) -> Option<&'v str> {
    obj.pointer(ptr).and_then(Json::as_str)
}

/// Who is being judged, under which policy.
struct Subject<'a> {
    kind: String,
    namespace: String,
    name: Option<String>,
    policy: &'a Policy,
    /// An UPDATE that raises neither GPUs nor spend, under `policy.update: lenient`.
    lenient_update: bool,
}

impl<'a> Subject<'a> {
    fn of(obj: &Json<'_>, ctx: &Context<'a>) -> Self {
        let namespace = str_at(obj, "/metadata/namespace").or(ctx.namespace).unwrap_or("").to_string();
        Self {
            kind: str_at(obj, "/kind").unwrap_or("").to_string(),
            name: str_at(obj, "/metadata/name").or_else(|| str_at(obj, "/metadata/generateName")).map(str::to_string),
            policy: ctx.settings.policy(&namespace),
            namespace,
            lenient_update: false,
        }
    }

    /// An evaluation with `findings` decided under this subject's mode.
    fn decide(&self, f: &Findings, gpus_requested: u64, estimate: Option<Report>) -> Evaluation {
        let lenient;
        let f = if self.lenient_update {
            lenient = f.for_lenient_update();
            &lenient
        } else {
            f
        };
        let (decision, reason) = f.decide(self.policy.mode);
        self.evaluation(decision, reason, f.messages(), gpus_requested, estimate)
    }

    /// Not vramgate's business.
    fn skip(&self, reason: Reason, message: String, gpus_requested: u64) -> Evaluation {
        self.evaluation(Decision::Skip, reason, vec![message], gpus_requested, None)
    }

    fn evaluation(
        &self,
        decision: Decision,
        reason: Reason,
        messages: Vec<String>,
        gpus_requested: u64,
        estimate: Option<Report>,
    ) -> Evaluation {
        Evaluation {
            decision,
            reason,
            messages,
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            mode: self.policy.mode,
            gpu: None,
            gpu_source: None,
            gpus_requested,
            estimate,
            overprovisioned_cost_usd: None,
            serving: None,
            patch_max_model_len: None,
            patch: Vec::new(),
        }
    }
}

/// Decides one object.
///
/// An UPDATE under `policy.update: lenient` that the validating webhook would deny is
/// compared with its old object, judged as a CREATE: when it raises neither the devices asked
/// for nor the estimated spend (per hour and in total), it is judged again with its breaches
/// turned into warnings, except a job that no longer fits its GPUs' memory.
#[must_use]
pub fn evaluate(obj: &Json<'_>, ctx: &Context<'_>) -> Evaluation {
    let (e, spend) = evaluate_as(obj, ctx, false);
    let lenient = ctx.operation == Operation::Update
        && ctx.endpoint == Endpoint::Validate
        && e.decision == Decision::Deny
        && ctx.settings.policy(&e.namespace).update == UpdatePolicy::Lenient;
    let Some(old) = ctx.old_object.filter(|_| lenient) else {
        return e;
    };
    let as_created = Context { operation: Operation::Create, old_object: None, ..*ctx };
    let (_, old_spend) = evaluate_as(old, &as_created, false);
    match (spend, old_spend) {
        (Some(new), Some(old)) if !new.raises(&old) => evaluate_as(obj, ctx, true).0,
        _ => e,
    }
}

/// [`evaluate`] without the UPDATE comparison; `lenient_update`: breaches other than not
/// fitting in memory are warnings. Also returns what the job would spend, when estimated.
fn evaluate_as(obj: &Json<'_>, ctx: &Context<'_>, lenient_update: bool) -> (Evaluation, Option<Spend>) {
    let mut subject = Subject::of(obj, ctx);
    subject.lenient_update = lenient_update;
    match screen(obj, ctx, &subject) {
        Ok(s) => judge(obj, ctx, &subject, s),
        Err(e) => (*e, None),
    }
}

/// What will run: the job as asked, or as patched.
struct Outcome<'a> {
    gpus: u32,
    gpu: Cow<'a, GpuSpec>,
    total_bytes: u64,
    patch: Vec<PatchOp>,
}

/// Estimates a screened workload and turns the estimate into findings.
fn judge(obj: &Json<'_>, ctx: &Context<'_>, subject: &Subject<'_>, s: Screened) -> (Evaluation, Option<Spend>) {
    let settings = ctx.settings;
    let policy = subject.policy;
    let Screened { workload, request: req, devices, unseen } = s;
    let mut f = unseen;
    if let Some(n) = req.gpus
        && u64::from(n) != devices
    {
        f.breach(
            Reason::MalformedAnnotation,
            format!(
                "{PREFIX}gpus is {n} but the pods ask for {devices} GPUs; the pod spec decides: \
                 remove the annotation or make them agree"
            ),
        );
    }
    let Some(choice) = resolve_gpu(&workload, req.gpu.as_deref(), policy, settings, &mut f) else {
        return (subject.decide(&f, devices, None), None);
    };
    if let Some(cfg) = &req.serving {
        return serving::judge(obj, ctx, subject, &workload, &req.job, cfg, &choice, devices, f);
    }

    let mut job = req.job;
    job.gpus = u32::try_from(devices).unwrap_or(u32::MAX);
    let mut choice = choice;
    if let Some(view) = ctx.cluster
        && choice.source == GpuSource::Default
        && w_unconstrained(&workload)
        && let Some(c) = choose_from_inventory(&job, &workload, devices, view, policy, settings)
    {
        choice = c;
    }
    let estimate = match estimate::estimate(&job, &choice.spec) {
        Ok(e) => e,
        Err(invalid) => return (unusable_job(subject, invalid, &choice, devices, f), None),
    };
    // The plan the advice names (computed only for a job that does not fit).
    // The job's objective, else its namespace's: one search, as `vramgate estimate` runs it.
    let objective = req.objective.unwrap_or(policy.objective);
    let (max_gpus, _) = advice_max_gpus(ctx.cluster, &choice.spec.name, &workload, settings.max_gpus);
    let plan = (estimate.decision == Fit::DoesNotFit)
        .then(|| advice_plan(&job, &choice.spec, &workload, max_gpus, objective, policy))
        .flatten();
    let report = Report { estimate, plan };

    let mut outcome = fit_findings(ctx, subject, &workload, &job, &choice, &report, objective, &mut f);
    if let Some(view) = ctx.cluster {
        cluster_findings(view, settings.cluster.enforce_inventory, &workload, &outcome, choice.source, &mut f);
        // A GPU type chosen from the inventory is pinned when the policy lets vramgate patch,
        // so the pods land on the type they were judged on.
        if choice.source == GpuSource::Inventory
            && ctx.endpoint == Endpoint::Mutate
            && policy.patch
            && outcome.gpu.name == choice.spec.name
            && let Some(product) = cluster_product(Some(view), &choice.spec)
        {
            outcome.patch.extend(pin_product(&workload, &product));
            f.advice(
                Reason::Patched,
                format!("patched: pinned to {} ({}={product})", choice.spec.name, workload::PRODUCT_LABEL),
            );
        }
    }
    // Cost and over-provisioning are judged on what will run (the patched plan, if any).
    let mut final_job = job.clone();
    final_job.gpus = outcome.gpus;
    let compute = estimate::compute::compute(&final_job, &outcome.gpu);
    cost_findings(policy, &subject.namespace, &job, &outcome.gpu, compute, &mut f);
    let overprovisioned_cost_usd = if outcome.patch.is_empty() {
        overprovision_findings(policy, &report, &outcome.gpu, compute.map(|c| c.cost_usd), &mut f)
    } else {
        None
    };
    if report.estimate.coarse {
        f.advice(
            Reason::Fits,
            format!("estimate is coarse: {PREFIX}parameters gives no architecture; set {PREFIX}model or architecture"),
        );
    }
    for m in choice.notes {
        f.advice(Reason::Fits, m);
    }

    let spend = Spend {
        devices,
        usd_per_hour: outcome.gpu.usd_per_hour * f64::from(outcome.gpus),
        cost_usd: compute.map(|c| c.cost_usd),
    };
    let mut e = subject.decide(&f, devices, Some(report));
    e.gpu = Some(choice.spec.name.clone());
    e.gpu_source = Some(choice.source);
    e.overprovisioned_cost_usd = overprovisioned_cost_usd;
    if ctx.endpoint == Endpoint::Mutate {
        let mut patch = outcome.patch;
        patch.extend(output_annotations(obj, &e, outcome.total_bytes, compute));
        e.patch = patch::dedupe(patch);
    }
    (e, Some(spend))
}

/// The decision for a job the engine refuses: each problem a breach naming its annotation (or
/// the pods' GPU count), judged on the GPU type chosen. Shared by training and serving.
fn unusable_job(
    subject: &Subject<'_>,
    invalid: estimate::InvalidJob,
    choice: &gpu::GpuChoice<'_>,
    devices: u64,
    mut f: Findings,
) -> Evaluation {
    for p in invalid.0 {
        let field =
            if p.field == "gpus" { "GPUs the pods ask for".to_string() } else { format!("{PREFIX}{}", p.field) };
        f.breach(Reason::MalformedAnnotation, format!("{field}: {}", p.message));
    }
    let mut e = subject.decide(&f, devices, None);
    e.gpu = Some(choice.spec.name.clone());
    e.gpu_source = Some(choice.source);
    e
}
