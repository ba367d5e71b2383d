//! `/scale` subresource requests (`kubectl scale`, a HorizontalPodAutoscaler). Pure.
//!
//! The API server sends them as an UPDATE of an `autoscaling/v1 Scale` (`request.kind` is
//! `autoscaling/v1 Scale`, `request.resource` the parent's resource, `request.subResource`
//! `scale`; Kubernetes docs, "Dynamic Admission Control: Request" and "Scale subresource").
//! The Scale carries only `spec.replicas`; what it changes is the parent's field the CRD's
//! `subresources.scale.specReplicasPath` names ([`scaled_field`]).
//!
//! With `serve --cluster` the parent is watched whole: the request is judged as an UPDATE of
//! the parent with that field set to the new count (old object: the parent as watched),
//! through [`evaluate`], so decisions, messages and policy are those of the same UPDATE. A
//! scale whose parent vramgate cannot see (no `--cluster`, or not watched yet) is *unjudged*:
//! the namespace's `unjudged_scale` says whether it is allowed, warned about or a breach.

use super::decide::{Context, Decision, Evaluation, Operation, Reason, evaluate};
use crate::config::{Mode, Unjudged};
use crate::json::Json;
use serde_json::Value;

/// The parent kinds whose `/scale` vramgate judges: `(group, plural) → (kind, pointer of the
/// field the Scale sets, that field as the CRD writes it)`.
/// - PyTorchJob: Kubeflow training-operator CRD `kubeflow.org_pytorchjobs.yaml`,
///   `subresources.scale.specReplicasPath: .spec.pytorchReplicaSpecs.Worker.replicas`.
/// - LeaderWorkerSet: LWS CRD `leaderworkerset.x-k8s.io_leaderworkersets.yaml`,
///   `subresources.scale.specReplicasPath: .spec.replicas`.
#[must_use]
pub fn scaled_field(group: &str, plural: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match (group, plural) {
        ("kubeflow.org", "pytorchjobs") => Some((
            "PyTorchJob",
            "/spec/pytorchReplicaSpecs/Worker/replicas",
            "spec.pytorchReplicaSpecs.Worker.replicas",
        )),
        ("leaderworkerset.x-k8s.io", "leaderworkersets") => {
            Some(("LeaderWorkerSet", "/spec/replicas", "spec.replicas"))
        }
        _ => None,
    }
}

/// The request's target: the parent's resource and name.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `request.resource.group`.
    pub group: &'a str,
    /// `request.resource.resource` (plural).
    pub resource: &'a str,
    /// `request.name`.
    pub name: Option<&'a str>,
}

fn evaluation(kind: &str, namespace: &str, name: Option<&str>, mode: Mode) -> Evaluation {
    Evaluation {
        decision: Decision::Skip,
        reason: Reason::Operation,
        messages: Vec::new(),
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        name: name.map(str::to_owned),
        mode,
        gpu: None,
        gpu_source: None,
        gpus_requested: 0,
        estimate: None,
        overprovisioned_cost_usd: None,
        serving: None,
        patch_max_model_len: None,
        patch: Vec::new(),
    }
}

/// Decides one `/scale` request: `scale` is the request's Scale object.
#[must_use]
pub fn decide(scale: &Json<'_>, target: Target<'_>, ctx: &Context<'_>) -> Evaluation {
    let namespace =
        scale.pointer("/metadata/namespace").and_then(Json::as_str).or(ctx.namespace).unwrap_or("").to_owned();
    let name = scale.pointer("/metadata/name").and_then(Json::as_str).or(target.name).unwrap_or("");
    let policy = ctx.settings.policy(&namespace);
    let mut out = evaluation("Scale", &namespace, Some(name), policy.mode);
    let Some((kind, pointer, field)) = scaled_field(target.group, target.resource) else {
        out.reason = Reason::UnsupportedKind;
        out.messages.push(format!(
            "scale of {}.{} is not a kind vramgate reads; allowed untouched",
            target.resource, target.group
        ));
        return out;
    };
    out.kind = kind.to_owned();
    if ctx.operation != Operation::Update {
        out.messages.push(format!("{} of a Scale: nothing to check", ctx.operation.as_str()));
        return out;
    }
    let breach = |mut out: Evaluation, reason: Reason, message: String| {
        out.decision = match policy.mode {
            Mode::Enforce => Decision::Deny,
            Mode::Warn => Decision::Warn,
            Mode::Audit => Decision::Allow,
        };
        out.reason = reason;
        out.messages.push(message);
        out
    };
    let replicas = match scale.pointer("/spec/replicas") {
        Some(v) => match v.as_u64().and_then(|n| i32::try_from(n).ok()) {
            Some(n) => n,
            None => {
                let m = format!(
                    "spec.replicas of the Scale must be a whole number from 0 to 2147483647, got {}",
                    v.describe()
                );
                return breach(out, Reason::MalformedObject, m);
            }
        },
        // Kubernetes defaults an absent `spec.replicas` of a Scale to 0.
        None => 0,
    };
    let what = format!("scale of {kind} {namespace}/{name} to {replicas} ({field})");

    let objects = ctx.cluster.and_then(|c| c.objects);
    let parent_label = format!("{}.{}", target.resource, target.group);
    let Some(parent) = objects.and_then(|o| o.parent(&parent_label, &namespace, name)) else {
        let why = if objects.is_some() {
            format!("the {kind} is not (yet) in the cluster state vramgate watches")
        } else {
            format!(
                "vramgate does not see the {kind} (no serve --cluster, or its cluster state not yet synced); serve \
                 with --cluster to have scale requests judged, or run vramgate check on the scaled manifest"
            )
        };
        let message = format!("{what} is not judged: {why}");
        return match policy.unjudged_scale {
            Unjudged::Allow => {
                out.decision = Decision::Allow;
                out.reason = Reason::UnjudgedScale;
                out.messages.push(message);
                out
            }
            Unjudged::Warn => {
                out.decision = if policy.mode == Mode::Audit { Decision::Allow } else { Decision::Warn };
                out.reason = Reason::UnjudgedScale;
                out.messages.push(message);
                out
            }
            Unjudged::Deny => breach(out, Reason::UnjudgedScale, message),
        };
    };
    let mut scaled: Value = parent.clone();
    if !set(&mut scaled, pointer, replicas) {
        let message = format!("{what} is not judged: the watched {kind} has no {}", parent_of(field));
        return breach(out, Reason::MalformedObject, message);
    }
    let old = Json::from(parent);
    let new = Json::from(&scaled);
    // Judged as the validating webhook would judge the UPDATE: a Scale cannot carry the
    // parent's patches, so the mutating webhook only ever passes it.
    let inner = Context {
        namespace: Some(&namespace),
        operation: Operation::Update,
        old_object: Some(&old),
        endpoint: super::Endpoint::Validate,
        ..*ctx
    };
    let mut e = evaluate(&new, &inner);
    e.patch.clear();
    for m in &mut e.messages {
        *m = format!("{what}: {m}");
    }
    e
}

/// `spec.pytorchReplicaSpecs.Worker` of `spec.pytorchReplicaSpecs.Worker.replicas`.
fn parent_of(field: &str) -> &str {
    field.rsplit_once('.').map_or(field, |(p, _)| p)
}

/// Sets the integer at `pointer` (its parent object must exist); false when it does not.
fn set(obj: &mut Value, pointer: &str, n: i32) -> bool {
    let Some((parent, key)) = pointer.rsplit_once('/') else { return false };
    match obj.pointer_mut(parent).and_then(Value::as_object_mut) {
        Some(o) => {
            o.insert(key.to_owned(), Value::from(n));
            true
        }
        None => false,
    }
}
