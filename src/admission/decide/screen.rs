//! Screening: everything that ends before an estimate (operations and kinds not judged,
//! malformed objects, unchanged updates, missing or malformed annotations, no GPUs).

use super::Subject;
use super::shape::devices_requested;
use super::update::same_gpu_shape;
use super::vocabulary::Findings;
use super::vocabulary::{Context, Evaluation, Operation, Reason};
use crate::admission::Endpoint;
use crate::config::{Unseen, UpdatePolicy};
use crate::json::Json;
use crate::request::{self, OUTPUT_KEYS, PREFIX};
use crate::workload::{self, Extracted, Workload};

/// `vramgate.io/` annotations of an object as read from raw JSON (used before extraction
/// succeeds, to tell an annotated object from one that is not ours).
pub(super) fn has_vramgate_annotations(obj: &Json<'_>) -> bool {
    obj.pointer("/metadata/annotations")
        .and_then(Json::as_object)
        .is_some_and(|a| a.keys().any(|k| k.starts_with(PREFIX)))
}

/// An object that passed screening: a workload with GPUs and well-formed annotations.
pub(super) struct Screened {
    pub(super) workload: Workload,
    pub(super) request: request::Request,
    pub(super) devices: u64,
    /// Findings about GPUs vramgate cannot count (judged without them).
    pub(super) unseen: Findings,
}

/// Everything that ends before an estimate: operations and kinds vramgate does not judge,
/// malformed objects, unchanged updates, missing or malformed annotations, no GPUs.
pub(super) fn screen(obj: &Json<'_>, ctx: &Context<'_>, subject: &Subject<'_>) -> Result<Screened, Box<Evaluation>> {
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
    // So is a Deployment's pod (its controller a ReplicaSet, which the Deployment owns) and a
    // StatefulSet or Deployment a LeaderWorkerSet or other read kind created.
    if matches!(
        workload.kind,
        workload::WorkloadKind::Pod | workload::WorkloadKind::Deployment | workload::WorkloadKind::StatefulSet
    ) && let Some(owner) = &workload.controller
        && (owner.workload_kind().is_some() || owner.is_replica_set())
    {
        let what = if workload.kind == workload::WorkloadKind::Pod { "pod" } else { workload.kind.as_str() };
        let message = format!("{what} of {}/{}, judged with its owner", owner.kind, owner.name);
        return Err(Box::new(subject.skip(Reason::OwnedPod, message, 0)));
    }

    // DRA claims counted from the cluster's templates; what cannot be counted is a finding.
    let seen = crate::admission::dra::resolve(&mut workload, &subject.namespace, ctx.cluster, &settings.extract);
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
                crate::admission::dra::resolve(&mut old_w, &subject.namespace, ctx.cluster, &settings.extract);
                same_gpu_shape(&old_w, &workload, policy, settings, ctx.cluster.is_some())
            }
        {
            let message = "update changes neither GPUs nor vramgate.io/ annotations; decided at creation";
            return Err(Box::new(subject.skip(Reason::Unchanged, message.into(), devices)));
        }
    }

    // A server's container (issue 15): the keys its command line says, under the annotations.
    let merged = workload::serving::merged_fields(
        workload.serving.as_deref(),
        &request::fields_from_annotations(&workload.annotations),
    );
    let fields = merged.fields;
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
    for p in &merged.problems {
        f.breach(Reason::MalformedObject, p.to_string());
    }
    let request = match request::parse_fields(&fields) {
        Ok(r) if merged.problems.is_empty() => r,
        Ok(_) => return Err(Box::new(subject.decide(&f, devices, None))),
        Err(problems) => {
            for p in problems {
                // A value read from the server's container is named where it was read.
                let at = merged.read.get(&p.field).map(|s| format!(" (read from {})", s.at())).unwrap_or_default();
                f.breach(Reason::MalformedAnnotation, format!("{PREFIX}{}{at}: {}", p.field, p.message));
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
