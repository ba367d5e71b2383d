//! AdmissionReview `admission.k8s.io/v1` decoding and encoding. Pure.
//!
//! A body that is not a usable v1 AdmissionReview gets a 400 whose JSON names every problem;
//! everything else gets a 200 with a response whose `uid` echoes the request's. The webhook
//! configuration asks only for v1 (`admissionReviewVersions: [v1]`), so a `v1beta1` review is
//! answered with a 400 that says so rather than half-understood; a review without `uid` cannot
//! be answered at all (the API server matches the response by it), so it is a 400 too.

use super::decide::{Context, Decision, Evaluation, Operation, evaluate};
use super::patch;
use super::{Answer, Endpoint, Record};
use crate::cluster::ClusterView;
use crate::config::Settings;
use crate::json::{self, Budget, Json, Member, ParseError, Within};
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The AdmissionReview `apiVersion` served.
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// Kubernetes shows warnings to the user; its docs ask for short ones (each under 120
/// characters, "Admission webhook warnings" in the dynamic admission control reference).
pub const MAX_WARNING_CHARS: usize = 120;

/// At most this many warnings per response (the API server truncates long lists).
pub const MAX_WARNINGS: usize = 12;

/// At most this many problems in a denial's `status.message`, each cut at
/// [`MAX_STATUS_MESSAGE_CHARS`]: the message is shown to the user by kubectl and stored in
/// the API server's audit log, so thousands of per-container errors (9 MB in issue 12) are
/// summarised as "and K more". The [`Evaluation`] (and `vramgate check`) keep all of them.
pub const MAX_STATUS_MESSAGES: usize = 10;

/// Longest single problem in a denial's `status.message`, in characters. The longest message
/// vramgate writes itself (a does-not-fit with its plan, behind a `/scale` prefix) is about 450
/// characters and must reach the user whole, advice included; what gets cut is user text a
/// message echoes (a megabyte annotation value). With [`MAX_STATUS_MESSAGES`], a message is
/// at most about 10 KB.
pub const MAX_STATUS_MESSAGE_CHARS: usize = 1000;

// Strings borrow from the body where they hold no escapes (`Cow`), as the object does
// ([`Json`]): a review allocates little more than the object's arrays. An optional string is a
// [`Text`]: serde borrows a bare `Cow<str>` only, never one inside an `Option`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<'a> {
    #[serde(borrow)]
    api_version: Option<Text<'a>>,
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    request: Option<RequestIn<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestIn<'a> {
    #[serde(borrow)]
    uid: Option<Text<'a>>,
    #[serde(borrow)]
    kind: Option<Gvk<'a>>,
    #[serde(borrow)]
    namespace: Option<Text<'a>>,
    #[serde(borrow)]
    operation: Option<Text<'a>>,
    // Kept as text and parsed after the envelope, under [`read_member`] and the
    // `server.max_object_nodes` budget (see [`parse_object`]).
    #[serde(default, borrow)]
    object: Option<&'a RawValue>,
    #[serde(default, borrow)]
    old_object: Option<&'a RawValue>,
    dry_run: Option<bool>,
    /// The parent's resource of a subresource request (`/scale`).
    #[serde(borrow)]
    resource: Option<Gvr<'a>>,
    /// `scale` for a `/scale` request ([`super::scale`]).
    #[serde(borrow)]
    sub_resource: Option<Text<'a>>,
    /// The object's name (a Scale's parent).
    #[serde(borrow)]
    name: Option<Text<'a>>,
    /// Who sent it: who may exempt an object (`policy.exemptions`).
    #[serde(default)]
    user_info: Option<super::exempt::UserInfo>,
}

/// A string member, borrowed from the body when it holds no escapes. `#[serde(borrow)]` makes
/// serde borrow a field whose type is `Cow<str>` itself; an `Option<Cow<str>>` is always
/// copied (serde_derive `internals/attr.rs`, `is_cow` looks at the field's own type;
/// serde-rs/serde#2016), so optional members hold this newtype's bare `Cow`.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
struct Gvr<'a> {
    #[serde(default, borrow)]
    group: Cow<'a, str>,
    #[serde(default, borrow)]
    resource: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Gvk<'a> {
    #[serde(default, borrow)]
    kind: Cow<'a, str>,
}

/// What the review path builds of an object: the ALLOW-LIST of the members some reader looks
/// at (`src/workload/`, `admission::decide`, `request`). **A reader of a new member must add
/// it here** (a map whose keys are data: as [`Member::KeepAll`]), or it reads it as absent;
/// `tests/hostile.rs::fixtures_evaluate_the_same_parsed_with_the_allow_list_or_whole` catches a
/// fixture whose decision depends on a dropped member.
///
/// Every other member is skipped while parsing (serde_json still checks its syntax, but builds
/// nothing): most of a real object's bytes (`managedFields`, `status`, environments, commands,
/// volumes, probes) and anything a client adds to make a review expensive (issue 12: a 7 MiB
/// `[0,0,...]` under an unread key cost 220 MiB). The rule is by key, not by path: a kept name
/// is kept wherever it appears, which costs a few stray values; the `server.max_object_nodes`
/// budget bounds what is built however it is reached. Open maps (annotations, labels, node
/// selectors, resource quantities, replica-type maps, elastic policies) keep every key, their
/// values being decided by this rule again; in them only the `last-applied-configuration`
/// annotation (a copy of the whole object, that no reader looks at) is skipped. The admitted
/// object itself is untouched: the API server keeps it, and patches only test and name paths
/// that are kept. A `match`: it runs for every key of every review.
#[must_use]
pub fn read_member(within: Within, key: &str) -> Member {
    if within == Within::OpenMap {
        return if key == "kubectl.kubernetes.io/last-applied-configuration" { Member::Skip } else { Member::Keep };
    }
    match key {
        // Open maps: their keys are data.
        "annotations" | "labels" | "nodeSelector" | "limits" | "requests" | "pytorchReplicaSpecs"
        | "mpiReplicaSpecs" | "elasticPolicy" | "clusterSelector" => Member::KeepAll,
        // The object and its metadata; owner references.
        "apiVersion" | "kind" | "metadata" | "spec" | "name" | "namespace" | "generateName" | "uid"
        | "ownerReferences" | "controller" | "subResource"
        // Pod templates, containers, resources, Dynamic Resource Allocation claims.
        | "template" | "containers" | "initContainers" | "restartPolicy" | "resources" | "claims"
        | "request" | "resourceClaims" | "resourceClaimName" | "resourceClaimTemplateName" | "devices"
        | "deviceClassName" | "exactly" | "count" | "allocationMode"
        // Node affinity.
        | "affinity" | "nodeAffinity" | "requiredDuringSchedulingIgnoredDuringExecution"
        | "nodeSelectorTerms" | "matchExpressions" | "matchFields" | "key" | "operator" | "values"
        // Scale: Job, JobSet, RayCluster/RayJob, LeaderWorkerSet, Volcano Job.
        | "parallelism" | "completions" | "suspend" | "replicas" | "minReplicas" | "maxReplicas"
        | "size" | "replicatedJobs" | "rayClusterSpec" | "headGroupSpec" | "workerGroupSpecs"
        | "groupName" | "numOfHosts" | "leaderWorkerTemplate" | "leaderTemplate" | "workerTemplate"
        | "tasks"
        // Inference servers (issue 15, `workload::serving`): command lines, environment, image;
        // KServe's predictor.
        | "command" | "args" | "env" | "value" | "valueFrom" | "image" | "predictor" | "model"
        | "storageUri" | "workerSpec" | "tensorParallelSize" | "pipelineParallelSize" => Member::Keep,
        _ => Member::Skip,
    }
}

/// `raw` (`request.object` or `request.oldObject`, named `field`) parsed under [`read_member`],
/// building at most `max_nodes` values: beyond that, the 400's message (issue 12: 200,000
/// annotations or containers are answered, not built).
fn parse_object<'a>(raw: &'a RawValue, field: &str, max_nodes: usize) -> Result<Json<'a>, String> {
    match json::parse(raw.get(), read_member, &Budget::new(max_nodes)) {
        Ok(doc) => Ok(doc),
        Err(ParseError::TooManyValues { limit }) => Err(format!(
            "{field} has more than {limit} JSON values in the fields vramgate reads (annotations, labels, \
             containers, resources, ...); accepted: at most {limit} (limit server.max_object_nodes)"
        )),
        Err(ParseError::Syntax(e)) => Err(format!("body is not an AdmissionReview JSON object: {field}: {e}")),
    }
}

fn bad_request(problems: &[String]) -> Answer {
    let body = json!({ "error": problems.join("; "), "problems": problems });
    Answer { status: 400, body: serde_json::to_vec(&body).unwrap_or_default(), record: None }
}

/// Answers one review body under `settings`: the one entry point of the review path (the
/// server, tests, benches and fuzzers call it). With `cluster` (`serve --cluster`), the job is
/// judged also against the cluster's last known GPU inventory: GPU types the cluster lacks, pods
/// larger than its nodes, jobs larger than its fleet, and a GPU type chosen for a job that names
/// none; `None` judges without cluster knowledge (as `check` does).
#[must_use]
pub fn review(settings: &Settings, cluster: Option<ClusterView<'_>>, endpoint: Endpoint, body: &[u8]) -> Answer {
    // JSON is UTF-8 (RFC 8259 section 8.1). Checked first, over the whole body: serde skips
    // unread fields (and members [`read_member`] skips) without checking their bytes, so a body with
    // invalid UTF-8 there was answered 200 (found by the `review_body` fuzz target).
    let body = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            return bad_request(&[format!(
                "body is not an AdmissionReview JSON object: it is not UTF-8 (invalid bytes at offset {})",
                e.valid_up_to()
            )]);
        }
    };
    let parsed: ReviewIn = match serde_json::from_str(body) {
        Ok(r) => r,
        Err(e) => return bad_request(&[format!("body is not an AdmissionReview JSON object: {e}")]),
    };
    let max_nodes = settings.server.max_object_nodes;
    let (object, old_object) = match parsed.request.as_ref().map(|r| {
        let object = r.object.map(|o| parse_object(o, "request.object", max_nodes)).transpose()?;
        let old = r.old_object.map(|o| parse_object(o, "request.oldObject", max_nodes)).transpose()?;
        Ok::<_, String>((object, old))
    }) {
        Some(Ok(objects)) => objects,
        Some(Err(problem)) => return bad_request(&[problem]),
        None => (None, None),
    };
    let mut problems = Vec::new();
    match parsed.api_version.as_deref() {
        Some(API_VERSION) => {}
        Some(v) => problems.push(format!(
            "apiVersion '{v}' is not served; accepted: {API_VERSION} (set admissionReviewVersions: [v1] in the webhook configuration)"
        )),
        None => problems.push(format!("apiVersion is missing; accepted: {API_VERSION}")),
    }
    match parsed.kind.as_deref() {
        Some("AdmissionReview") => {}
        Some(k) => problems.push(format!("kind '{k}' is not accepted; accepted: AdmissionReview")),
        None => problems.push("kind is missing; accepted: AdmissionReview".into()),
    }
    let Some(req) = parsed.request else {
        problems.push("request is missing".into());
        return bad_request(&problems);
    };
    let uid = req.uid.filter(|u| !u.is_empty());
    if uid.is_none() {
        problems.push("request.uid is missing or empty; a response cannot be matched to its request without it".into());
    }
    let operation = match req.operation.as_deref().map(|o| (o, Operation::parse(o))) {
        Some((_, Some(op))) => Some(op),
        Some((o, None)) => {
            problems
                .push(format!("request.operation '{o}' is not accepted; accepted: CREATE, UPDATE, DELETE, CONNECT"));
            None
        }
        None => {
            problems.push("request.operation is missing".into());
            None
        }
    };
    if matches!(operation, Some(Operation::Create | Operation::Update)) && object.is_none() {
        problems.push("request.object is missing; CREATE and UPDATE carry the object".into());
    }
    let (Some(uid), Some(operation), true) = (uid, operation, problems.is_empty()) else {
        return bad_request(&problems);
    };

    let ctx = Context {
        settings,
        namespace: req.namespace.as_deref(),
        operation,
        old_object: old_object.as_ref(),
        endpoint,
        cluster,
    };
    // DELETE and CONNECT may carry no object: `evaluate` skips them before reading it.
    let object = object.as_ref().unwrap_or(&Json::Null);
    let eval = match (req.sub_resource.as_deref(), &req.resource) {
        (Some("scale"), Some(r)) => {
            let target = super::scale::Target { group: &r.group, resource: &r.resource, name: req.name.as_deref() };
            super::scale::decide(object, target, &ctx)
        }
        _ => evaluate(object, &ctx),
    };
    // An exemption changes only what the validating webhook answers (the mutating one never
    // denies).
    let mut eval = eval;
    let exemption = (endpoint == Endpoint::Validate)
        .then(|| super::exempt::apply(&mut eval, object, req.user_info.as_ref(), &settings.exemptions))
        .flatten();
    let kind = req.kind.map(|k| k.kind.into_owned()).filter(|k| !k.is_empty()).unwrap_or_else(|| eval.kind.clone());
    let mut answer = respond(endpoint, &uid, operation, kind, req.dry_run.unwrap_or(false), &eval, exemption.as_ref());
    if let Some(record) = answer.record.as_mut() {
        // `metadata.name` only: a `generateName` prefix names no one object.
        record.name = object.pointer("/metadata/name").and_then(Json::as_str).map(str::to_owned);
        record.owned_by_workload = super::owned_by_workload(object);
    }
    answer
}

/// The response AdmissionReview, serialised straight from borrowed fields. Members are
/// declared in alphabetical order: the bytes are those a `serde_json::Value` (a sorted map)
/// gave before, so captured responses stay comparable.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_annotations: Option<AuditOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut>,
    uid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<Vec<String>>,
}

#[derive(Serialize)]
struct AuditOut {
    decision: &'static str,
    /// Who exempted the object and why (`admission::exempt`); the API server prefixes the key
    /// with the webhook's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    exempted: Option<String>,
    reason: &'static str,
}

#[derive(Serialize)]
struct StatusOut {
    code: u16,
    message: String,
    reason: &'static str,
}

fn respond(
    endpoint: Endpoint,
    uid: &str,
    operation: Operation,
    kind: String,
    dry_run: bool,
    e: &Evaluation,
    exemption: Option<&super::exempt::Exemption>,
) -> Answer {
    let mut response = ResponseOut {
        allowed: true,
        audit_annotations: (e.decision != Decision::Skip).then(|| AuditOut {
            decision: e.decision.as_str(),
            exempted: exemption.and_then(super::exempt::Exemption::audit_value),
            reason: e.reason.as_str(),
        }),
        patch: None,
        patch_type: None,
        status: None,
        uid,
        warnings: None,
    };
    let decision = match endpoint {
        Endpoint::Validate => {
            response.allowed = e.allowed();
            if e.decision == Decision::Deny {
                response.status =
                    Some(StatusOut { code: 403, message: status_message(&e.messages), reason: "Forbidden" });
            } else if e.decision == Decision::Warn {
                response.warnings = Some(warnings(&e.messages));
            }
            e.decision
        }
        Endpoint::Mutate => {
            // The mutating webhook never denies (the validating one does, after it); it
            // speaks only when it changed something, so kubectl does not print advice twice.
            if !e.patch.is_empty() {
                response.patch_type = Some("JSONPatch");
                response.patch = Some(patch::to_base64(&e.patch));
            }
            if e.reason == super::Reason::Patched {
                response.warnings = Some(warnings(&e.messages));
                Decision::Warn
            } else if e.decision == Decision::Skip {
                Decision::Skip
            } else {
                Decision::Allow
            }
        }
    };
    let review = ReviewOut { api_version: API_VERSION, kind: "AdmissionReview", response };
    let record = Record {
        endpoint,
        operation: operation.as_str().to_string(),
        kind,
        name: None,
        owned_by_workload: false,
        decision,
        reason: e.reason,
        dry_run,
        namespace: e.namespace.clone(),
        gpu: e.gpu.clone().unwrap_or_default(),
        gpus_requested: e.gpus_requested,
        gpus_needed: e.estimate.as_ref().and_then(|r| r.estimate.min_gpus),
        gpu_hours: e.estimate.as_ref().and_then(|r| r.estimate.gpu_hours),
        cost_usd: e.estimate.as_ref().and_then(|r| r.estimate.cost_usd),
        overprovisioned_cost_usd: e.overprovisioned_cost_usd,
        exemption: exemption.map(|x| x.outcome),
        serving: e.serving.as_ref().map(|r| crate::admission::ServingRecord {
            usd_per_hour: r.usd_per_hour,
            kv_cache_tokens: r.serving.kv_cache_tokens.saturating_mul(u64::from(r.replicas)),
        }),
    };
    Answer { status: 200, body: serde_json::to_vec(&review).unwrap_or_default(), record: Some(record) }
}

/// A denial's `status.message`: `vramgate: ` and the first [`MAX_STATUS_MESSAGES`] messages
/// joined by `; `, each cut at [`MAX_STATUS_MESSAGE_CHARS`] (ending `…`), then how many more
/// there are. At most about 3,300 characters whatever the evaluation found.
#[must_use]
pub fn status_message(messages: &[String]) -> String {
    let mut shown: Vec<String> = messages
        .iter()
        .take(MAX_STATUS_MESSAGES)
        .map(|m| {
            if m.chars().count() <= MAX_STATUS_MESSAGE_CHARS {
                return m.clone();
            }
            let mut cut: String = m.chars().take(MAX_STATUS_MESSAGE_CHARS - 1).collect();
            cut.push('…');
            cut
        })
        .collect();
    if messages.len() > MAX_STATUS_MESSAGES {
        shown.push(format!(
            "and {} more problems; run vramgate check on the manifest for all",
            messages.len() - MAX_STATUS_MESSAGES
        ));
    }
    format!("vramgate: {}", shown.join("; "))
}

/// Messages as Kubernetes warnings: each at most [`MAX_WARNING_CHARS`] characters, split at
/// `; ` and then at spaces (a continuation starts with `…`), at most [`MAX_WARNINGS`].
#[must_use]
pub fn warnings(messages: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for m in messages {
        let m = format!("vramgate: {m}");
        let mut line = String::new();
        for word in m.split(' ') {
            let word: String = word.chars().take(MAX_WARNING_CHARS - 2).collect();
            let extra =
                if line.is_empty() { word.chars().count() } else { line.chars().count() + 1 + word.chars().count() };
            if extra > MAX_WARNING_CHARS && !line.is_empty() {
                out.push(std::mem::take(&mut line));
                line.push('…');
            }
            if !line.is_empty() && line != "…" {
                line.push(' ');
            }
            line.push_str(&word);
        }
        if !line.is_empty() && line != "…" {
            out.push(line);
        }
    }
    if out.len() > MAX_WARNINGS {
        let more = out.len() - (MAX_WARNINGS - 1);
        out.truncate(MAX_WARNINGS - 1);
        out.push(format!("vramgate: … {more} more lines; run vramgate check on the manifest for all"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_short_and_lose_no_word() {
        let long = "needs 112.4 GiB per GPU with ddp on 8 x A100-80GB (80.0 GiB); fits with zero3 on 8 GPUs (27.1 GiB each): set vramgate.io/strategy=zero3, turn on activation checkpointing".to_string();
        let w = warnings(&[long.clone(), "short".into()]);
        assert!(w.iter().all(|l| l.chars().count() <= MAX_WARNING_CHARS), "{w:?}");
        assert!(w.len() >= 3);
        let joined = w.join(" ").replace(" …", " ").replace("…", "");
        for word in long.split(' ') {
            assert!(joined.contains(word), "{word} lost from {w:?}");
        }
        assert_eq!(w.last().unwrap(), "vramgate: short");
    }

    #[test]
    fn request_strings_borrow_from_the_body_unless_escaped() {
        // `\u0041` is `A`: JSON escapes must be decoded into a copy; a plain string is a slice
        // of the body.
        let body = r#"{"kind":"AdmissionReview","request":{"uid":"u-1","operation":"CRE\u0041TE","namespace":"ml"}}"#;
        let r: ReviewIn = serde_json::from_str(body).unwrap();
        assert!(matches!(r.kind.map(|k| k.0), Some(Cow::Borrowed("AdmissionReview"))));
        let req = r.request.unwrap();
        assert!(matches!(req.uid.map(|t| t.0), Some(Cow::Borrowed("u-1"))));
        assert!(matches!(req.namespace.map(|t| t.0), Some(Cow::Borrowed("ml"))));
        assert!(matches!(req.operation.map(|t| t.0), Some(Cow::Owned(o)) if o == "CREATE"));
        // A member of another type is refused in serde's words for a string (column 19: the `5`), as before.
        let e = serde_json::from_str::<ReviewIn>(r#"{"request":{"uid":5}}"#).err().unwrap();
        assert_eq!(e.to_string(), "invalid type: integer `5`, expected a string at line 1 column 19");
    }

    #[test]
    fn a_single_overlong_word_is_cut_not_looped_on() {
        let w = warnings(&["x".repeat(500)]);
        assert!(w.iter().all(|l| l.chars().count() <= MAX_WARNING_CHARS), "{w:?}");
    }
}
