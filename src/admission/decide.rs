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

use super::Endpoint;
use super::patch::{self, PatchOp, escape_token};
use crate::cluster::{ClusterView, GpuPool};
use crate::config::{GpuChoice as Choose, Mode, Policy, Settings, Unseen, UpdatePolicy};
use crate::estimate::units::{Gib, MIB};
use crate::estimate::{self, Fit, GpuSpec, Job, Plan, PlanSearch, Report, WorkloadKind as Work, memory};
use crate::json::Json;
use crate::request::{self, OUTPUT_KEYS, PREFIX};
use crate::workload::{self, Extracted, PodGroup, Workload};
use serde::Serialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What happens to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Admitted, nothing to say.
    Allow,
    /// Admitted, with warnings.
    Warn,
    /// Refused.
    Deny,
    /// Not vramgate's business (unsupported kind, no GPUs, DELETE): admitted untouched.
    Skip,
}

impl Decision {
    pub const ALL: [Self; 4] = [Self::Allow, Self::Warn, Self::Deny, Self::Skip];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Warn => "warn",
            Self::Deny => "deny",
            Self::Skip => "skip",
        }
    }

    /// Reads [`Decision::as_str`] back (the `vramgate.io/decision` output annotation).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Why, as a bounded metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Fits its GPUs, within policy.
    Fits,
    /// Needs more memory per GPU than its GPUs have.
    DoesNotFit,
    /// Within the estimator's error band of the GPU's memory: may or may not fit.
    NearCapacity,
    /// Estimated cost above the namespace's limit.
    OverCostLimit,
    /// A cost limit applies but the cost is unknown (no `training-tokens`).
    CostUnknown,
    /// Asks for at least `overprovision_factor` x the GPUs it needs.
    Overprovisioned,
    /// A `vramgate.io/` annotation is malformed.
    MalformedAnnotation,
    /// The object's GPU fields are malformed.
    MalformedObject,
    /// A GPU workload without annotations where the policy requires them.
    AnnotationsRequired,
    /// The GPU product or name is not in the catalog.
    UnknownGpu,
    /// The cluster has no node of the GPU type the job is judged on (inventory).
    NotInCluster,
    /// A pod asks for more GPUs than any node of its type has, or the job for more than the
    /// cluster has of that type (inventory).
    ExceedsCluster,
    /// The mutating webhook changed GPU count or type to a plan that fits.
    Patched,
    /// GPU workload without annotations, annotations not required.
    NotAnnotated,
    /// The object asks for no GPU.
    NoGpus,
    /// A kind vramgate does not read.
    UnsupportedKind,
    /// DELETE or CONNECT.
    Operation,
    /// An UPDATE that changes neither the pods' GPUs nor the annotations.
    Unchanged,
    /// A Pod whose controller (owner reference with `controller: true`) is a kind vramgate
    /// reads: judged, and counted, with its owner.
    OwnedPod,
    /// An UPDATE that the namespace's `policy.update` does not judge (`skip`), or any UPDATE
    /// at the mutating webhook, which changes nothing on UPDATE.
    Update,
    /// GPUs asked for in a way vramgate cannot count (DRA claims it cannot resolve,
    /// accelerator resources not configured as GPUs).
    UnseenGpus,
    /// A `/scale` request whose parent object vramgate cannot see.
    UnjudgedScale,
}

impl Reason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fits => "fits",
            Self::DoesNotFit => "does-not-fit",
            Self::NearCapacity => "near-capacity",
            Self::OverCostLimit => "over-cost-limit",
            Self::CostUnknown => "cost-unknown",
            Self::Overprovisioned => "overprovisioned",
            Self::MalformedAnnotation => "malformed-annotation",
            Self::MalformedObject => "malformed-object",
            Self::AnnotationsRequired => "annotations-required",
            Self::UnknownGpu => "unknown-gpu",
            Self::NotInCluster => "not-in-cluster",
            Self::ExceedsCluster => "exceeds-cluster",
            Self::Patched => "patched",
            Self::NotAnnotated => "not-annotated",
            Self::NoGpus => "no-gpus",
            Self::UnsupportedKind => "unsupported-kind",
            Self::Operation => "operation",
            Self::Unchanged => "unchanged",
            Self::OwnedPod => "owned-pod",
            Self::Update => "update",
            Self::UnseenGpus => "unseen-gpus",
            Self::UnjudgedScale => "unjudged-scale",
        }
    }
}

/// The admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    /// Parses the AdmissionRequest's `operation`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "CREATE" => Self::Create,
            "UPDATE" => Self::Update,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            _ => return None,
        })
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        }
    }
}

/// Where an object comes from and what may be done to it.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub settings: &'a Settings,
    /// The request's namespace, used when the object's metadata has none (a CREATE's object
    /// often has none; `check` passes the namespace kubectl would use).
    pub namespace: Option<&'a str>,
    pub operation: Operation,
    /// An UPDATE's previous object.
    pub old_object: Option<&'a Json<'a>>,
    /// `Mutate` may patch; `Validate` and `check` never do.
    pub endpoint: Endpoint,
    /// The cluster's last known GPU inventory (`serve --cluster`); `None`: judged without it.
    pub cluster: Option<ClusterView<'a>>,
}

/// Where the GPU type came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuSource {
    /// `nvidia.com/gpu.product` in the node selector or required node affinity.
    NodeSelector,
    /// `nvidia.com/gpu.memory` only: the default or annotated GPU with that much memory.
    GpuMemoryLabel,
    /// The `vramgate.io/gpu` annotation.
    Annotation,
    /// The namespace's (or cluster's) `default_gpu`.
    Default,
    /// Chosen from the cluster's inventory (`policy.gpu_choice`): the job names no GPU type.
    Inventory,
}

/// The evaluation of one object: the decision, every message, and what it was judged on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub decision: Decision,
    pub reason: Reason,
    /// Everything the user should read, most important first. In `audit` mode they are kept
    /// here (and in `check`'s output) but not sent back to `kubectl`.
    pub messages: Vec<String>,
    pub kind: String,
    pub namespace: String,
    pub name: Option<String>,
    /// The policy mode that decided.
    pub mode: Mode,
    /// Catalog name of the GPU judged on (`A100-80GB`, or `A100-80GB MIG 3g.40gb`).
    pub gpu: Option<String>,
    pub gpu_source: Option<GpuSource>,
    /// Full GPUs (or MIG devices) the pods ask for (`gpus` in JSON).
    #[serde(rename = "gpus")]
    pub gpus_requested: u64,
    /// The engine's answer, with the cheapest plan that fits when the job does not.
    pub estimate: Option<Report>,
    /// Dollars of the estimated cost spent on GPUs beyond those needed.
    pub overprovisioned_cost_usd: Option<f64>,
    /// JSON Patch for the mutating webhook (empty elsewhere).
    #[serde(skip)]
    pub patch: Vec<PatchOp>,
}

impl Evaluation {
    /// Whether the object may enter the cluster.
    #[must_use]
    pub fn allowed(&self) -> bool {
        self.decision != Decision::Deny
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    Breach,
    Advice,
}

#[derive(Debug, Clone)]
struct Finding {
    severity: Severity,
    reason: Reason,
    message: String,
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn breach(&mut self, reason: Reason, message: String) {
        self.0.push(Finding { severity: Severity::Breach, reason, message });
    }
    fn advice(&mut self, reason: Reason, message: String) {
        self.0.push(Finding { severity: Severity::Advice, reason, message });
    }
    /// Decision and reason under `mode`: the first breach decides, else the first advice.
    fn decide(&self, mode: Mode) -> (Decision, Reason) {
        let first = |s: Severity| self.0.iter().find(|f| f.severity == s).map(|f| f.reason);
        if let Some(r) = first(Severity::Breach) {
            let d = match mode {
                Mode::Enforce => Decision::Deny,
                Mode::Warn => Decision::Warn,
                Mode::Audit => Decision::Allow,
            };
            return (d, r);
        }
        if let Some(r) = first(Severity::Advice) {
            return (if mode == Mode::Audit { Decision::Allow } else { Decision::Warn }, r);
        }
        (Decision::Allow, Reason::Fits)
    }
    /// The findings of an UPDATE that raises neither GPUs nor spend (`policy.update:
    /// lenient`): not fitting in memory stays a breach, said to be this update's doing; every
    /// other breach becomes advice.
    fn for_lenient_update(&self) -> Self {
        let out = self.0.iter().map(|f| match (f.severity, f.reason) {
            (Severity::Breach, Reason::DoesNotFit) => {
                Finding { message: format!("this update leaves the job unable to run: {}", f.message), ..f.clone() }
            }
            (Severity::Breach, _) => Finding {
                severity: Severity::Advice,
                reason: f.reason,
                message: format!(
                    "{} (allowed: this update raises neither GPUs nor cost; policy.update: lenient)",
                    f.message
                ),
            },
            _ => f.clone(),
        });
        Self(out.collect())
    }
    fn messages(&self) -> Vec<String> {
        // Breaches first, then advice, each in the order found.
        let mut m: Vec<String> =
            self.0.iter().filter(|f| f.severity == Severity::Breach).map(|f| f.message.clone()).collect();
        m.extend(self.0.iter().filter(|f| f.severity == Severity::Advice).map(|f| f.message.clone()));
        m
    }
}

/// `vramgate.io/` annotations of an object as read from raw JSON (used before extraction
/// succeeds, to tell an annotated object from one that is not ours).
fn has_vramgate_annotations(obj: &Json<'_>) -> bool {
    obj.pointer("/metadata/annotations")
        .and_then(Json::as_object)
        .is_some_and(|a| a.keys().any(|k| k.starts_with(PREFIX)))
}

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
            patch: Vec::new(),
        }
    }
}

/// An object that passed screening: a workload with GPUs and well-formed annotations.
struct Screened {
    workload: Workload,
    request: request::Request,
    devices: u64,
    /// Findings about GPUs vramgate cannot count (judged without them).
    unseen: Findings,
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

/// What a judged job holds and spends, to tell an UPDATE that raises either.
#[derive(Debug, Clone, Copy)]
struct Spend {
    /// Full GPUs plus MIG devices asked for.
    devices: u64,
    /// Price per hour of the GPUs that will run (the patched plan, if any).
    usd_per_hour: f64,
    /// Estimated cost of the whole run; `None` without `training-tokens`.
    cost_usd: Option<f64>,
}

impl Spend {
    /// Whether `self` (the new object) asks for more devices or spends more than `old`. A cost
    /// known on one side only cannot be compared, so it counts as raised.
    fn raises(&self, old: &Spend) -> bool {
        // Relative slack for float noise in prices computed the same way.
        let more = |new: f64, old: f64| new > old + old.abs() * 1e-9;
        self.devices > old.devices
            || more(self.usd_per_hour, old.usd_per_hour)
            || match (self.cost_usd, old.cost_usd) {
                (None, None) => false,
                (Some(n), Some(o)) => more(n, o),
                _ => true,
            }
    }
}

/// Everything that ends before an estimate: operations and kinds vramgate does not judge,
/// malformed objects, unchanged updates, missing or malformed annotations, no GPUs.
fn screen(obj: &Json<'_>, ctx: &Context<'_>, subject: &Subject<'_>) -> Result<Screened, Box<Evaluation>> {
    let settings = ctx.settings;
    let policy = subject.policy;
    if matches!(ctx.operation, Operation::Delete | Operation::Connect) {
        return Err(Box::new(subject.skip(
            Reason::Operation,
            format!("{}: nothing to check", ctx.operation.as_str()),
            0,
        )));
    }
    let mut workload = match workload::extract(obj, &settings.extract) {
        Ok(Extracted::Workload(w)) => w,
        Ok(Extracted::Unsupported { api_version, kind }) => {
            let message = format!("{api_version} {kind} is not a kind vramgate reads; allowed untouched");
            return Err(Box::new(subject.skip(Reason::UnsupportedKind, message, 0)));
        }
        Err(errors) => {
            if !has_vramgate_annotations(obj) && !policy.require_annotations {
                let message = "no vramgate.io/ annotations and GPU fields that cannot be read: \
                               left to Kubernetes' own validation";
                return Err(Box::new(subject.skip(Reason::NotAnnotated, message.into(), 0)));
            }
            let mut f = Findings::default();
            for e in errors {
                let at = if e.path.is_empty() { "object" } else { &e.path };
                f.breach(Reason::MalformedObject, format!("{at}: {}", e.message));
            }
            return Err(Box::new(subject.decide(&f, 0, None)));
        }
    };

    // A Pod its controller created from a template: the controller's object was judged (and
    // counted) as a whole; judging each pod alone would deny the pods of an admitted job.
    // A forged owner reference buys nothing lasting: the garbage collector deletes a
    // dependent whose owner does not exist (Kubernetes docs, "Owners and dependents").
    if workload.kind == workload::WorkloadKind::Pod
        && let Some(owner) = &workload.controller
        && owner.workload_kind().is_some()
    {
        let message = format!("pod of {}/{}, judged with its owner", owner.kind, owner.name);
        return Err(Box::new(subject.skip(Reason::OwnedPod, message, 0)));
    }

    // DRA claims counted from the cluster's templates; what cannot be counted is a finding.
    let seen = super::dra::resolve(&mut workload, &subject.namespace, ctx.cluster, &settings.extract);
    let unseen = |f: &mut Findings| {
        for m in &seen.unseen {
            match policy.unseen_gpus {
                Unseen::Warn => f.advice(Reason::UnseenGpus, m.clone()),
                Unseen::Deny => f.breach(Reason::UnseenGpus, m.clone()),
            }
        }
    };

    if ctx.operation == Operation::Update {
        let devices = devices_requested(&workload);
        if ctx.endpoint == Endpoint::Mutate {
            // Controllers own an admitted object's replicas and GPU type: a patch on UPDATE
            // would revert an autoscaler's or a queueing controller's choice.
            let message = "UPDATE: the mutating webhook changes nothing on update; the validating webhook judges it";
            return Err(Box::new(subject.skip(Reason::Update, message.into(), devices)));
        }
        if policy.update == UpdatePolicy::Skip {
            let message = format!("UPDATE not judged: namespace '{}' has policy.update: skip", subject.namespace);
            return Err(Box::new(subject.skip(Reason::Update, message, devices)));
        }
        if let Some(old) = ctx.old_object
            && let Ok(Extracted::Workload(mut old_w)) = workload::extract(old, &settings.extract)
            && {
                super::dra::resolve(&mut old_w, &subject.namespace, ctx.cluster, &settings.extract);
                same_gpu_shape(&old_w, &workload, policy, settings, ctx.cluster.is_some())
            }
        {
            let message = "update changes neither GPUs nor vramgate.io/ annotations; decided at creation";
            return Err(Box::new(subject.skip(Reason::Unchanged, message.into(), devices)));
        }
    }

    let fields = request::fields_from_annotations(&workload.annotations);
    let devices = devices_requested(&workload);
    if !fields.keys().any(|k| !OUTPUT_KEYS.contains(&k.as_str())) {
        if devices == 0 && seen.unseen.is_empty() {
            return Err(Box::new(subject.skip(Reason::NoGpus, "asks for no GPU".into(), 0)));
        }
        if devices == 0 && !policy.require_annotations {
            let message = format!(
                "no vramgate.io/ annotations; not checked. GPUs vramgate cannot count: {}",
                seen.unseen.join("; ")
            );
            return Err(Box::new(subject.skip(Reason::UnseenGpus, message, 0)));
        }
        if !policy.require_annotations {
            let message = format!("asks for {devices} GPUs without vramgate.io/ annotations; not checked");
            return Err(Box::new(subject.skip(Reason::NotAnnotated, message, devices)));
        }
        let mut f = Findings::default();
        let asks = if devices == 0 { "GPUs vramgate cannot count".to_owned() } else { format!("{devices} GPUs") };
        f.breach(
            Reason::AnnotationsRequired,
            format!(
                "asks for {asks} without vramgate.io/ annotations, which namespace '{}' requires: \
                 set at least vramgate.io/model (or parameters) and vramgate.io/precision",
                subject.namespace
            ),
        );
        unseen(&mut f);
        return Err(Box::new(subject.decide(&f, devices, None)));
    }

    let mut f = Findings::default();
    let request = match request::parse_fields(&fields) {
        Ok(r) => r,
        Err(problems) => {
            for p in problems {
                f.breach(Reason::MalformedAnnotation, format!("{PREFIX}{}: {}", p.field, p.message));
            }
            return Err(Box::new(subject.decide(&f, devices, None)));
        }
    };
    if devices == 0 && !seen.unseen.is_empty() {
        unseen(&mut f);
        return Err(Box::new(subject.decide(&f, 0, None)));
    }
    if devices == 0 {
        f.advice(
            Reason::NoGpus,
            "has vramgate.io/ annotations but its pods ask for no GPU (resources.limits nvidia.com/gpu); \
             nothing to check"
                .into(),
        );
        return Err(Box::new(subject.decide(&f, 0, None)));
    }
    let mut unseen_findings = Findings::default();
    unseen(&mut unseen_findings);
    Ok(Screened { workload, request, devices, unseen: unseen_findings })
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
    // The plan the advice names (computed only for a job that does not fit).
    let (max_gpus, _) = advice_max_gpus(ctx.cluster, &choice.spec.name, &workload, settings.max_gpus);
    let cheapest_plan =
        (estimate.decision == Fit::DoesNotFit).then(|| advice_plan(&job, &choice.spec, &workload, max_gpus)).flatten();
    let report = Report { estimate, cheapest_plan };

    let mut outcome = fit_findings(obj, ctx, subject, &workload, &job, &choice, &report, &mut f);
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
            outcome.patch.extend(pin_product(obj, &workload, &product));
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

/// Near capacity is advice; not fitting is a breach, unless the mutating webhook may patch the
/// job into a plan that fits.
#[allow(clippy::too_many_arguments)]
fn fit_findings<'s>(
    obj: &Json<'_>,
    ctx: &Context<'s>,
    subject: &Subject<'_>,
    workload: &Workload,
    job: &Job,
    choice: &GpuChoice<'s>,
    report: &Report,
    f: &mut Findings,
) -> Outcome<'s> {
    let est = &report.estimate;
    let as_asked =
        Outcome { gpus: job.gpus, gpu: choice.spec.clone(), total_bytes: est.per_gpu.total_bytes, patch: Vec::new() };
    match est.decision {
        Fit::Fits => as_asked,
        Fit::Warn => {
            f.advice(
                Reason::NearCapacity,
                format!(
                    "needs {} per GPU of {}'s {} ({:.0}%), within the estimate's error: it may run out of memory",
                    Gib(est.per_gpu.total_bytes),
                    choice.spec.name,
                    Gib(choice.spec.memory_bytes),
                    100.0 * est.per_gpu.total_bytes as f64 / choice.spec.memory_bytes as f64
                ),
            );
            as_asked
        }
        Fit::DoesNotFit => {
            // The validating webhook searches too, only to say why no patch was made. A DRA
            // claim's devices live in its template, which a patch cannot rewrite.
            let patched = if subject.policy.patch && workload.groups.iter().all(|g| g.dra_claims.is_empty()) {
                patch_plan(obj, workload, job, choice, subject.policy, ctx.settings, ctx.cluster)
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
                    let plan = report.cheapest_plan.as_ref();
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
fn cost_findings(
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
fn overprovision_findings(
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
fn dollars(x: f64) -> String {
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

/// Full GPUs plus MIG devices the pods hold at once.
fn devices_requested(w: &Workload) -> u64 {
    w.groups.iter().fold(0u64, |acc, g| {
        let per_pod = g.gpus_per_pod.saturating_add(g.mig.iter().map(|(_, n)| *n).sum::<u64>());
        acc.saturating_add(g.pods.saturating_mul(per_pod))
    })
}

/// What is decided of one GPU pod group: role, pods, GPUs and MIG devices per pod.
type GroupShape<'w> = (&'w str, u64, u64, &'w [(String, u64)]);

fn decided_shape(w: &Workload) -> Vec<GroupShape<'_>> {
    w.gpu_pods().map(|g| (g.role.as_str(), g.pods, g.gpus_per_pod, g.mig.as_slice())).collect()
}

/// Whether an UPDATE leaves everything vramgate decides on as it was: per GPU pod group its
/// role, pods, GPUs and MIG devices per pod; the GPU type the job resolves to (so a product
/// selector naming the type it was already judged on is no change); and the input
/// annotations. Pointers are not compared: a CPU-only container inserted before the GPU one
/// moves them without changing anything decided.
fn same_gpu_shape(old: &Workload, new: &Workload, policy: &Policy, settings: &Settings, inventory: bool) -> bool {
    let inputs = |w: &Workload| -> BTreeMap<String, String> {
        request::fields_from_annotations(&w.annotations)
            .into_iter()
            .filter(|(k, _)| !OUTPUT_KEYS.contains(&k.as_str()))
            .collect()
    };
    // The GPU type as judged, with the annotation as written (the inputs compared above).
    let gpu = |w: &Workload| -> Option<(String, u64, bool)> {
        let annotated = w.annotations.get(&format!("{PREFIX}gpu")).map(String::as_str);
        let choice = resolve_gpu(w, annotated, policy, settings, &mut Findings::default())?;
        // With an inventory, a job that names no type gets one from it: keep that distinction.
        Some((choice.spec.name.clone(), choice.spec.memory_bytes, inventory && w_unconstrained(w)))
    };
    inputs(old) == inputs(new) && decided_shape(old) == decided_shape(new) && gpu(old) == gpu(new)
}

/// The GPU a job is judged on.
struct GpuChoice<'a> {
    /// Borrowed from the catalog unless adjusted (a MIG slice, a `gpu.memory` label).
    spec: Cow<'a, GpuSpec>,
    source: GpuSource,
    /// Advice about how it was chosen (mismatches, several candidates).
    notes: Vec<String>,
}

/// Memory of a MIG profile such as `3g.40gb`: the number before `gb`, in 10^9 bytes. NVIDIA's
/// MIG user guide names profiles by compute slices (`3g`) and memory in GB; the driver reports
/// a little more than n x 10^9 bytes for each (e.g. 9.5 GiB = 10.2e9 for `1g.10gb`), so this is
/// a lower bound. Returns (compute slices, bytes).
fn mig_profile(profile: &str) -> Option<(u32, u64)> {
    let (g, mem) = profile.split_once('.')?;
    let slices: u32 = g.strip_suffix('g')?.parse().ok()?;
    let gb: u64 = mem.to_ascii_lowercase().strip_suffix("gb")?.parse().ok()?;
    (slices > 0 && gb > 0).then_some((slices, gb.saturating_mul(1_000_000_000)))
}

/// A MIG slice as a GPU: the parent's memory replaced by the slice's, and compute and price
/// scaled by the compute slices out of 7 (A100/H100 have 7 GPCs for MIG; NVIDIA MIG user
/// guide).
fn mig_slice(parent: &GpuSpec, profile: &str) -> Option<GpuSpec> {
    let (slices, bytes) = mig_profile(profile)?;
    let share = f64::from(slices.min(7)) / 7.0;
    let mut s = parent.clone();
    s.name = format!("{} MIG {profile}", parent.name);
    s.aliases.clear();
    s.gfd_products.clear();
    s.memory_bytes = bytes.min(parent.memory_bytes);
    s.dense_bf16_flops *= share;
    s.dense_fp16_flops *= share;
    s.dense_fp8_flops *= share;
    s.dense_fp32_flops *= share;
    s.usd_per_hour *= share;
    Some(s)
}

/// GPU Feature Discovery decorates a MIG node's product label (`NVIDIA-A100-SXM4-80GB-MIG-3g.40gb`);
/// the parent product is what precedes `-MIG-`.
fn strip_mig_suffix(product: &str) -> &str {
    match product.to_ascii_uppercase().find("-MIG-") {
        Some(i) => &product[..i],
        None => product,
    }
}

fn resolve_gpu<'s>(
    w: &Workload,
    annotated: Option<&str>,
    policy: &Policy,
    settings: &'s Settings,
    f: &mut Findings,
) -> Option<GpuChoice<'s>> {
    let catalog = &settings.catalog;
    let mut notes = Vec::new();
    // The fallback GPU: the annotation, else the namespace default.
    let fallback = match annotated {
        Some(name) => match catalog.find(name) {
            Some(g) => Some((Cow::Borrowed(g), GpuSource::Annotation)),
            None => {
                f.breach(
                    Reason::UnknownGpu,
                    format!(
                        "{PREFIX}gpu: '{name}' is not in the GPU catalog; closest: {} (vramgate catalog lists all)",
                        catalog.suggest(name).join(", ")
                    ),
                );
                None
            }
        },
        None => catalog.find(&policy.default_gpu).map(|g| (Cow::Borrowed(g), GpuSource::Default)),
    };

    let mut chosen: Vec<(Cow<'s, GpuSpec>, GpuSource)> = Vec::new();
    let mut failed = false;
    for g in w.gpu_pods() {
        let base: Option<(Cow<'s, GpuSpec>, GpuSource)> = if g.gpu_products.is_empty() {
            match (g.gpu_memory_mib, &fallback) {
                (Some(mib), Some((spec, _))) => {
                    let mut s = GpuSpec::clone(spec);
                    s.memory_bytes = mib.saturating_mul(MIB);
                    s.name = format!("{} ({mib} MiB)", spec.name);
                    Some((Cow::Owned(s), GpuSource::GpuMemoryLabel))
                }
                (None, Some(fb)) => Some(fb.clone()),
                (_, None) => None,
            }
        } else {
            let mut specs = Vec::new();
            for p in &g.gpu_products {
                let parent = if g.mig.is_empty() { p.as_str() } else { strip_mig_suffix(p) };
                match catalog.find_gfd_product(parent) {
                    Some(s) => specs.push(s),
                    None => {
                        failed = true;
                        f.breach(
                            Reason::UnknownGpu,
                            format!(
                                "{}: nvidia.com/gpu.product '{p}' is not in the GPU catalog; add it to the config's gpus (gfd_products: [{p}])",
                                g.role
                            ),
                        );
                    }
                }
            }
            specs.sort_by_key(|s| s.memory_bytes);
            if specs.len() > 1 && specs.iter().any(|s| s.name != specs[0].name) {
                notes.push(format!(
                    "{}: may land on {}; judged on the smallest, {}",
                    g.role,
                    specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" or "),
                    specs[0].name
                ));
            }
            if let (Some(s), Some(name)) = (specs.first(), annotated)
                && catalog.find(name).is_some_and(|a| a.name != s.name)
            {
                notes.push(format!("{PREFIX}gpu={name} ignored: {}'s node selector asks for {}", g.role, s.name));
            }
            specs.into_iter().next().map(|s| (Cow::Borrowed(s), GpuSource::NodeSelector))
        };
        let Some((mut spec, source)) = base else {
            failed = true;
            continue;
        };
        if let Some((profile, _)) =
            g.mig.iter().filter(|(_, n)| *n > 0).min_by_key(|(p, _)| mig_profile(p).map(|x| x.1))
        {
            match mig_slice(&spec, profile) {
                Some(s) => spec = Cow::Owned(s),
                None => {
                    failed = true;
                    f.breach(
                        Reason::UnknownGpu,
                        format!("{}: MIG profile '{profile}' is not of the form <n>g.<m>gb (e.g. 3g.40gb)", g.role),
                    );
                    continue;
                }
            }
        }
        chosen.push((spec, source));
    }
    if failed || chosen.is_empty() {
        return None;
    }
    chosen.sort_by_key(|(s, _)| s.memory_bytes);
    if chosen.iter().any(|(s, _)| s.name != chosen[0].0.name) {
        notes.push(format!("pod groups use different GPUs; judged on the smallest, {}", chosen[0].0.name));
    }
    let (spec, source) = chosen.swap_remove(0);
    Some(GpuChoice { spec, source, notes })
}

/// The group a patch scales: the one with a replicas field holding the most GPUs (Masters and
/// Launchers excluded).
#[derive(Debug, Clone, Copy)]
struct Step<'w> {
    group: &'w PodGroup,
    /// GPUs added per replica.
    step: u32,
    /// GPUs of every other group.
    others: u64,
}

fn scaling_step(w: &Workload) -> Option<Step<'_>> {
    let total = devices_requested(w);
    // A PyTorchJob's Master and an MPIJob's Launcher are one pod by definition: never scaled.
    let singleton = |g: &PodGroup| g.role.eq_ignore_ascii_case("master") || g.role.eq_ignore_ascii_case("launcher");
    let group = w
        .gpu_pods()
        .filter(|g| g.replicas_pointer.is_some() && g.pods_per_replica > 0 && g.mig.is_empty() && !singleton(g))
        .max_by_key(|g| (g.total_gpus(), g.gpus_per_pod))?;
    // Groups that share the replicas field (a LeaderWorkerSet's leader and workers) scale
    // together: one replica adds each one's pods.
    let pointer = group.replicas_pointer.as_deref();
    let (mut step, mut scaled) = (0u64, 0u64);
    for g in w.groups.iter().filter(|g| g.replicas_pointer.as_deref() == pointer) {
        if !g.mig.is_empty() {
            return None;
        }
        step = step.saturating_add(g.pods_per_replica.saturating_mul(g.gpus_per_pod));
        scaled = scaled.saturating_add(g.total_gpus());
    }
    let step = u32::try_from(step).ok().filter(|s| *s > 0)?;
    Some(Step { group, step, others: total.saturating_sub(scaled) })
}

/// The plan a denial advises: the least change that fits on the GPUs the job asks for, else
/// the cheapest plan on its GPU type (fewest GPUs, in whole replicas of its scaling group,
/// then cost), either of which may switch to ZeRO/FSDP or turn on activation checkpointing.
fn advice_plan(job: &Job, gpu: &GpuSpec, workload: &Workload, max_gpus: u32) -> Option<Plan> {
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
fn advice_at_requested_count(job: &Job, gpu: &GpuSpec) -> Option<Plan> {
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

fn does_not_fit_message(
    job: &Job,
    gpu: &GpuSpec,
    plan: Option<&Plan>,
    est: &estimate::Estimate,
    max_gpus: u32,
    one_pod: bool,
) -> String {
    let head = format!(
        "needs {} per GPU with {} on {} x {} ({})",
        Gib(est.per_gpu.total_bytes),
        job.strategy,
        job.gpus,
        gpu.name,
        Gib(gpu.memory_bytes)
    );
    match plan {
        Some(p) => {
            let mut changes = Vec::new();
            if p.strategy != job.strategy {
                changes.push(format!("set {PREFIX}strategy={}", p.strategy));
            }
            if p.activation_checkpointing && !job.activation_checkpointing {
                changes.push(format!("turn on activation checkpointing ({PREFIX}activation-checkpointing=true)"));
            }
            if p.gpus != job.gpus {
                changes.push(format!("request {} GPUs", p.gpus));
            }
            let with = if p.strategy != job.strategy { format!(" with {}", p.strategy) } else { String::new() };
            format!(
                "{head}; fits{with} on {} GPUs ({} each): {}",
                p.gpus,
                Gib(p.per_gpu_total_bytes),
                changes.join(", ")
            )
        }
        None if one_pod => format!(
            "{head}; no plan with up to {max_gpus} {} GPUs fits in one pod, even with zero3/fsdp and activation \
             checkpointing, and one pod cannot span nodes ({max_gpus} GPUs per node): run it as a multi-pod \
             workload (PyTorchJob, JobSet, LeaderWorkerSet), or use LoRA/QLoRA, a smaller micro-batch or \
             sequence, or a larger GPU",
            gpu.name
        ),
        None => format!(
            "{head}; no plan with up to {max_gpus} {} GPUs fits, even with zero3/fsdp and activation checkpointing: \
             use LoRA/QLoRA, a smaller micro-batch or sequence, or a larger GPU",
            gpu.name
        ),
    }
}

/// A patch that makes the job fit, and what it says.
struct Patched {
    plan: Plan,
    ops: Vec<PatchOp>,
    message: String,
}

/// The cheapest patch that fits: GPU count through the scaling group's replicas (in whole
/// replicas), GPU type through the pods' `nvidia.com/gpu.product` node selector (only types in
/// `patch_gpu_types`, only where no required affinity pins the product). Fewest GPUs, then
/// cost. `Err` when no patch can make it fit, with the reason when the workload's own bounds
/// on its replicas are what prevents it.
fn patch_plan(
    obj: &Json<'_>,
    w: &Workload,
    job: &Job,
    choice: &GpuChoice,
    policy: &Policy,
    settings: &Settings,
    cluster: Option<ClusterView<'_>>,
) -> Result<Patched, Option<String>> {
    // MIG slices and memory-label GPUs are not patched: their type is not a catalog product.
    let can_change_type = choice.source != GpuSource::GpuMemoryLabel
        && w.gpu_pods().all(|g| g.mig.is_empty() && !has_affinity_on_product(obj, g));
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
    let (lowest_k, highest_k) = step.map_or((0, 0), |s| replica_range(obj, s.group));
    let mut best: Option<(u32, f64, Plan, Option<u64>)> = None;
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
                    if let Some(n) = count(k).filter(|n| *n != job.gpus || replicas_field_below(obj, s.group, k)) {
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
            let c = estimate::compute::compute(&j, gpu);
            let usd_per_hour = gpu.usd_per_hour * f64::from(n);
            let rank = c.map_or(usd_per_hour, |c| c.cost_usd);
            let better = best.as_ref().is_none_or(|(bn, bc, _, _)| n < *bn || (n == *bn && rank < *bc - 1e-9));
            if better {
                let plan = Plan {
                    gpu: gpu.name.clone(),
                    gpus: n,
                    strategy: job.strategy,
                    activation_checkpointing: job.activation_checkpointing,
                    per_gpu_total_bytes: total,
                    gpu_hours: c.map(|c| c.gpu_hours),
                    cost_usd: c.map(|c| c.cost_usd),
                    usd_per_hour,
                };
                best = Some((n, rank, plan, k));
            }
        }
    }
    let Some((_, _, plan, replicas)) = best else {
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
        changes.push(format!("{} {} {} -> {k}", s.group.role, last_token(&ptr), current_replicas(obj, &ptr)));
        // A batch/v1 Job runs min(parallelism, completions) pods: completions rise to at
        // least the new parallelism, and are never lowered (that would drop requested work).
        if w.kind == workload::WorkloadKind::Job
            && let Some(c) = ptr.strip_suffix("/parallelism").map(|p| format!("{p}/completions"))
            && let Some(completions) = obj.pointer(&c)
        {
            match completions.as_u64() {
                Some(have) if have >= k => changes.push(format!("completions {have} kept")),
                _ => {
                    changes.push(format!("completions {completions} -> {k}"));
                    ops.push(PatchOp::add(c, json!(k)));
                }
            }
        }
    }
    if plan.gpu != choice.spec.name {
        let gpu = settings.catalog.find(&plan.gpu).ok_or(None)?;
        let product = cluster_product(cluster, gpu).ok_or(None)?;
        ops.extend(pin_product(obj, w, &product));
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
fn replica_range(obj: &Json<'_>, g: &PodGroup) -> (u64, u64) {
    let running = g.pods.checked_div(g.pods_per_replica).unwrap_or(0);
    let written = g.replicas_pointer.as_deref().and_then(|p| obj.pointer(p)).and_then(Json::as_u64).unwrap_or(0);
    let (min, max) = g.replicas_bounds.unwrap_or((0, u64::MAX));
    (running.max(written).max(min), max)
}

/// Whether the replicas field of `g` holds less than `k` (a Job whose completions cap its
/// pods may run fewer pods than its parallelism: raising it is still a change).
fn replicas_field_below(obj: &Json<'_>, g: &PodGroup, k: u64) -> bool {
    g.replicas_pointer.as_deref().and_then(|p| obj.pointer(p)).and_then(Json::as_u64).is_some_and(|v| v < k)
}

/// The field holding a kind's own bound on its replicas, as a user writes it.
fn bound_field(kind: workload::WorkloadKind) -> &'static str {
    match kind {
        workload::WorkloadKind::PyTorchJob => "spec.elasticPolicy.maxReplicas",
        workload::WorkloadKind::RayCluster | workload::WorkloadKind::RayJob => "the worker group's maxReplicas",
        _ => "its bound",
    }
}

/// The last reference token of a pointer (`/spec/parallelism` → `parallelism`).
fn last_token(ptr: &str) -> &str {
    ptr.rsplit('/').next().unwrap_or(ptr)
}

/// Operations that set every GPU pod template's `nvidia.com/gpu.product` node selector.
fn pin_product(obj: &Json<'_>, w: &Workload, product: &str) -> Vec<PatchOp> {
    w.gpu_pods()
        .map(|g| {
            let sel = format!("{}/nodeSelector", g.pod_template_pointer);
            if obj.pointer(&sel).is_some() {
                PatchOp::add(format!("{sel}/{}", escape_token(workload::PRODUCT_LABEL)), json!(product))
            } else {
                PatchOp::add(sel, json!({ workload::PRODUCT_LABEL: product }))
            }
        })
        .collect()
}

/// The product label value that selects `gpu`'s nodes: the one the cluster's nodes carry,
/// with an inventory (none if the cluster has no such node); else the catalog's first.
fn cluster_product(cluster: Option<ClusterView<'_>>, gpu: &GpuSpec) -> Option<String> {
    match cluster {
        Some(view) => view.inventory.pool(&gpu.name)?.products.first().cloned(),
        None => gpu.gfd_products.first().cloned(),
    }
}

/// GPUs on one node when no inventory says: 8, the count on NVIDIA's HGX/DGX A100, H100 and
/// H200 systems (NVIDIA DGX H100/H200 user guide), the largest common GPU server.
const TYPICAL_GPUS_PER_NODE: u32 = 8;

/// The most GPUs advice may name for `w` on `gpu`, and whether `w` is one pod that nothing
/// scales (a bare Pod): such a pod runs on one node, so advice never asks it for more GPUs
/// than a node holds (the inventory's largest node of that type, else
/// [`TYPICAL_GPUS_PER_NODE`]).
fn advice_max_gpus(cluster: Option<ClusterView<'_>>, gpu: &str, w: &Workload, max_gpus: u32) -> (u32, bool) {
    let max_gpus = cluster_max_gpus(cluster, gpu, max_gpus);
    let one_pod = scaling_step(w).is_none() && w.gpu_pods().map(|g| g.pods).sum::<u64>() == 1;
    if !one_pod {
        return (max_gpus, false);
    }
    let per_node = match cluster.and_then(|v| v.inventory.pool(gpu)) {
        Some(p) => u32::try_from(p.max_gpus_per_node).unwrap_or(u32::MAX),
        None => TYPICAL_GPUS_PER_NODE,
    };
    (max_gpus.min(per_node), true)
}

/// The most GPUs of type `gpu` a plan may propose: the configured `max_gpus`, and with an
/// inventory no more than the cluster has of that type.
fn cluster_max_gpus(cluster: Option<ClusterView<'_>>, gpu: &str, max_gpus: u32) -> u32 {
    match cluster.and_then(|v| v.inventory.pool(gpu)) {
        Some(p) => max_gpus.min(u32::try_from(p.gpus).unwrap_or(u32::MAX)),
        None => max_gpus,
    }
}

/// Whether no GPU pod group constrains its GPU type (no product, memory label or MIG).
fn w_unconstrained(w: &Workload) -> bool {
    w.gpu_pods().all(|g| g.gpu_products.is_empty() && g.gpu_memory_mib.is_none() && g.mig.is_empty())
}

/// The GPU type for a job that names none, from the cluster's inventory under the
/// namespace's `gpu_choice`: among the types whose nodes can hold its pods and that have
/// enough GPUs, the smallest (least memory, then cheapest per hour) or the cheapest
/// (estimated cost, else price per hour) it fits on. When it fits on none, the largest such
/// type, so the denial names the best the cluster can do. `None` when the inventory has no
/// GPU type of the catalog.
fn choose_from_inventory<'s>(
    job: &Job,
    w: &Workload,
    devices: u64,
    view: ClusterView<'_>,
    policy: &Policy,
    settings: &'s Settings,
) -> Option<GpuChoice<'s>> {
    let per_pod = w.gpu_pods().map(|g| g.gpus_per_pod).max().unwrap_or(0);
    let pools: Vec<(&GpuPool, &GpuSpec)> =
        view.inventory.full_gpu_pools().filter_map(|p| Some((p, settings.catalog.find(&p.gpu)?))).collect();
    let roomy: Vec<&(&GpuPool, &GpuSpec)> =
        pools.iter().filter(|(p, _)| per_pod <= p.max_gpus_per_node && devices <= p.gpus).collect();
    let total_bytes = memory::per_gpu(job).total_bytes;
    let fits = |g: &GpuSpec| estimate::validate(job, g).is_ok() && Fit::judge(total_bytes, g.memory_bytes) == Fit::Fits;
    let cost = |g: &GpuSpec| estimate::compute::compute(job, g).map_or(g.usd_per_hour * devices as f64, |c| c.cost_usd);
    let fitting: Vec<&GpuSpec> = roomy.iter().map(|(_, g)| *g).filter(|g| fits(g)).collect();
    let picked = match policy.gpu_choice {
        Choose::Smallest => fitting
            .iter()
            .copied()
            .min_by(|a, b| a.memory_bytes.cmp(&b.memory_bytes).then(a.usd_per_hour.total_cmp(&b.usd_per_hour))),
        // Each type's cost once (an estimate of its compute), not once per comparison.
        Choose::Cheapest => fitting
            .iter()
            .map(|g| (cost(g), *g))
            .min_by(|(ca, a), (cb, b)| ca.total_cmp(cb).then(a.memory_bytes.cmp(&b.memory_bytes)))
            .map(|(_, g)| g),
    };
    let (spec, note) = match picked {
        Some(g) => (
            g,
            format!(
                "no GPU type named: judged on {}, the {} type in the cluster that fits",
                g.name,
                policy.gpu_choice.as_str()
            ),
        ),
        None => {
            let largest = roomy
                .iter()
                .map(|(_, g)| *g)
                .max_by_key(|g| g.memory_bytes)
                .or_else(|| pools.iter().map(|(_, g)| *g).max_by_key(|g| g.memory_bytes))?;
            (
                largest,
                format!("no GPU type named and none in the cluster fits: judged on the largest, {}", largest.name),
            )
        }
    };
    Some(GpuChoice { spec: Cow::Borrowed(spec), source: GpuSource::Inventory, notes: vec![note] })
}

/// What the inventory says about the plan that will run: its GPU type must exist in the
/// cluster, each pod must fit on one node of that type, and the job on all of them. Breaches
/// while the inventory is fresh; advice (naming its age) once it is older than
/// `cluster.inventory_max_stale_seconds`, or always with `cluster.enforce_inventory: false`.
fn cluster_findings(
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

fn current_replicas(obj: &Json<'_>, ptr: &str) -> String {
    obj.pointer(ptr).map_or_else(|| "default".to_string(), Json::to_string)
}

fn has_affinity_on_product(obj: &Json<'_>, g: &PodGroup) -> bool {
    let ptr = format!(
        "{}/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms",
        g.pod_template_pointer
    );
    // Any term with an expression on the product label pins it (serialising the terms and
    // searching the text would also match a label *value* that happens to contain the key).
    let expressions = obj.pointer(&ptr).and_then(Json::as_array).into_iter().flatten().flat_map(|term| {
        ["matchExpressions", "matchFields"].into_iter().filter_map(|k| term.get(k).and_then(Json::as_array)).flatten()
    });
    expressions.into_iter().any(|e| e.get("key").and_then(Json::as_str) == Some(workload::PRODUCT_LABEL))
}

/// The output annotations, as `add` operations (creating `metadata.annotations` if absent).
fn output_annotations(
    obj: &Json<'_>,
    e: &Evaluation,
    total_bytes: u64,
    compute: Option<estimate::Compute>,
) -> Vec<PatchOp> {
    let needed = e.estimate.as_ref().and_then(|r| r.estimate.min_gpus);
    // Each value is written by a `request::render_output_*` function and reads back exactly
    // with its `parse_output_*` twin (`tests/properties.rs`).
    let values: [(&str, String); 5] = [
        ("estimated-memory-per-gpu", request::render_output_memory_mib(request::output_memory_mib(total_bytes))),
        ("estimated-gpus", request::render_output_gpus(needed)),
        ("estimated-gpu-hours", request::render_output_amount(compute.map(|c| c.gpu_hours))),
        ("estimated-cost-usd", request::render_output_amount(compute.map(|c| c.cost_usd))),
        ("decision", e.decision.as_str().to_string()),
    ];
    let existing = obj.pointer("/metadata/annotations").and_then(Json::as_object);
    if existing.is_none() {
        let map: serde_json::Map<String, Value> =
            values.iter().map(|(k, v)| (format!("{PREFIX}{k}"), json!(v))).collect();
        if obj.pointer("/metadata").is_some() {
            return vec![PatchOp::add("/metadata/annotations", Value::Object(map))];
        }
        return vec![PatchOp::add("/metadata", json!({ "annotations": map }))];
    }
    values
        .iter()
        .filter(|(k, v)| {
            existing.and_then(|a| a.get(&format!("{PREFIX}{k}"))).and_then(Json::as_str) != Some(v.as_str())
        })
        .map(|(k, v)| {
            PatchOp::add(format!("/metadata/annotations/{}", escape_token(&format!("{PREFIX}{k}"))), json!(v))
        })
        .collect()
}
