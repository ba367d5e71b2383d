//! `vramgate test`: policy test cases, as `kyverno test` runs them for Kyverno policies
//! (<https://kyverno.io/docs/kyverno-cli/usage/test/>: a `kyverno-test.yaml` naming policies,
//! resources and the expected result of each). Pure: the CLI (`cli/test.rs`) finds and reads
//! the files; this module parses a case file, judges a case's object exactly as the webhook
//! would (the mutating webhook's patch, then the validating webhook on the patched object, as
//! the API server calls them) and compares field by field.
//!
//! A case file, `vramgate-test.yaml` (paths relative to it):
//!
//! ```yaml
//! config: ../../config.example.yaml   # default config of every case; built-in defaults without
//! namespace: default                  # namespace of objects whose manifest names none
//! cases:
//!   - name: the 13B fine-tune fits
//!     manifest: ../fits-job.yaml
//!     document: 1                     # which object of the manifest (needed when it has several)
//!     config: other-policy.yaml       # this case's config instead of the file's
//!     user: alice                     # the requester (userInfo), for exemptions
//!     groups: [ml-leads]
//!     expect:
//!       decision: allow               # allow | warn | deny | skip (required)
//!       reason: fits                  # a reason of `check --output json`
//!       messages: ["fits with zero3"] # each must be part of some message
//!       exemption: honoured           # honoured | refused | unneeded | none
//!       patch: []                     # the mutating webhook's JSON Patch, exactly, less the
//!                                     # output annotations it writes on every object
//! ```

use crate::admission::Endpoint;
use crate::admission::decide::{Context, Decision, Operation, Reason, evaluate};
use crate::admission::exempt::{self, Outcome, UserInfo};
use crate::config::Settings;
use crate::json::Json;
use serde::Deserialize;
use serde_json::Value;
use strum::VariantArray;

/// The file name `vramgate test DIR` looks for.
pub const CASE_FILE: &str = "vramgate-test.yaml";

/// A case file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// Config of every case that names none; built-in defaults without one.
    pub config: Option<String>,
    /// Namespace of objects that name none (as `check --namespace`); default `default`.
    pub namespace: Option<String>,
    pub cases: Vec<Case>,
}

/// One case: an object, the config it is judged under, and what is expected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub manifest: String,
    /// 1-based object of the manifest; required when it holds more than one.
    pub document: Option<usize>,
    pub config: Option<String>,
    pub namespace: Option<String>,
    /// The requester's `userInfo.username`.
    pub user: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub expect: Expect,
}

/// What a case expects; fields left out are not compared.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub decision: String,
    pub reason: Option<String>,
    /// Each must be a part of some message.
    #[serde(default)]
    pub messages: Vec<String>,
    /// `honoured`, `refused`, `unneeded`, or `none` (no exemption asked for).
    pub exemption: Option<String>,
    /// The mutating webhook's JSON Patch, compared exactly, less the output annotations
    /// (`vramgate.io/estimated-*`, `vramgate.io/decision`) it writes on every object.
    pub patch: Option<Vec<Value>>,
}

/// Parses a case file and checks every expected value against the closed sets.
///
/// # Errors
/// Not YAML of this shape, or an expected decision, reason or exemption that does not exist
/// (each problem named with its case).
pub fn parse_case_file(text: &str) -> Result<CaseFile, Vec<String>> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let file: CaseFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        vec![format!("{path}: {}", e.into_inner())]
    })?;
    let mut problems = Vec::new();
    if file.cases.is_empty() {
        problems.push("cases: is empty; accepted: a list of cases".to_string());
    }
    for (i, c) in file.cases.iter().enumerate() {
        let at = format!("cases[{i}] ({})", c.name);
        if Decision::parse(&c.expect.decision).is_none() {
            problems.push(format!(
                "{at}: expect.decision '{}' is not accepted; accepted: allow, warn, deny, skip",
                c.expect.decision
            ));
        }
        if let Some(r) = &c.expect.reason
            && !Reason::VARIANTS.iter().any(|v| v.as_str() == r)
        {
            let all: Vec<&str> = Reason::VARIANTS.iter().map(|v| v.as_str()).collect();
            problems.push(format!("{at}: expect.reason '{r}' is not accepted; accepted: {}", all.join(", ")));
        }
        if let Some(x) = &c.expect.exemption
            && x != "none"
            && !Outcome::VARIANTS.iter().any(|v| v.as_str() == x)
        {
            problems.push(format!(
                "{at}: expect.exemption '{x}' is not accepted; accepted: honoured, refused, unneeded, none"
            ));
        }
        if c.document == Some(0) {
            problems.push(format!("{at}: document is 1-based; accepted: 1 or more"));
        }
        if !c.groups.is_empty() && c.user.is_none() {
            problems.push(format!("{at}: groups needs user"));
        }
    }
    if problems.is_empty() { Ok(file) } else { Err(problems) }
}

/// The one object of a manifest a case judges.
///
/// # Errors
/// The manifest holds no object, several without `document`, or fewer than `document`.
pub fn pick_object(objects: &[Value], document: Option<usize>) -> Result<&Value, String> {
    match (document, objects.len()) {
        (_, 0) => Err("the manifest holds no object".into()),
        (None, 1) => Ok(&objects[0]),
        (None, n) => Err(format!("the manifest holds {n} objects; name one with document: N (1 to {n})")),
        (Some(d), n) => objects.get(d - 1).ok_or_else(|| format!("document {d} asked for; the manifest holds {n}")),
    }
}

/// What vramgate decided about a case's object.
#[derive(Debug, Clone, PartialEq)]
pub struct Actual {
    pub decision: Decision,
    pub reason: Reason,
    pub messages: Vec<String>,
    pub exemption: Option<Outcome>,
    /// The mutating webhook's JSON Patch, less its output annotations.
    pub patch: Vec<Value>,
}

/// Judges `obj` as the admission chain does on a CREATE: the mutating webhook first (its
/// patch), then the validating webhook on the patched object (exemption included).
#[must_use]
pub fn judge(obj: &Value, settings: &Settings, namespace: &str, user: Option<&UserInfo>) -> Actual {
    let ctx = |endpoint| Context {
        settings,
        namespace: Some(namespace),
        operation: Operation::Create,
        old_object: None,
        endpoint,
        cluster: None,
    };
    let mutated = evaluate(&Json::from(obj), &ctx(Endpoint::Mutate));
    let ops: Vec<Value> = mutated.patch.iter().map(|op| serde_json::to_value(op).unwrap_or(Value::Null)).collect();
    let mut patched = obj.clone();
    for op in &ops {
        apply_add(&mut patched, op);
    }
    let json = Json::from(&patched);
    let mut e = evaluate(&json, &ctx(Endpoint::Validate));
    let exemption = exempt::apply(&mut e, &json, user, &settings.exemptions).map(|x| x.outcome);
    let patch = ops.into_iter().filter(|op| !is_output_annotation(op)).collect();
    Actual { decision: e.decision, reason: e.reason, messages: e.messages, exemption, patch }
}

/// Whether `op` writes one of the output annotations (`contract::OUTPUT_KEYS`), which the
/// mutating webhook records on every object it judges.
fn is_output_annotation(op: &Value) -> bool {
    let path = op["path"].as_str().unwrap_or("");
    crate::contract::OUTPUT_KEYS.iter().any(|k| path == format!("/metadata/annotations/vramgate.io~1{k}"))
}

/// Applies one RFC 6902 `add` to an object member (the only operation the mutating webhook
/// makes, `admission::patch`), creating the member or replacing it; anything else is left.
fn apply_add(doc: &mut Value, op: &Value) {
    let (Some("add"), Some(path)) = (op["op"].as_str(), op["path"].as_str()) else { return };
    let Some((parent, last)) = path.rsplit_once('/') else { return };
    if let Some(Value::Object(m)) = doc.pointer_mut(parent) {
        m.insert(crate::pointer::unescape_token(last).into_owned(), op["value"].clone());
    }
}

/// One field that differs: its name and readable lines of what was expected and what came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub field: &'static str,
    pub expected: String,
    pub actual: Vec<String>,
}

/// Every field of `expect` that `actual` does not match (empty: the case passes).
#[must_use]
pub fn compare(expect: &Expect, actual: &Actual) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if expect.decision != actual.decision.as_str() {
        out.push(Mismatch {
            field: "decision",
            expected: expect.decision.clone(),
            actual: vec![actual.decision.as_str().into()],
        });
    }
    if let Some(r) = &expect.reason
        && r != actual.reason.as_str()
    {
        out.push(Mismatch { field: "reason", expected: r.clone(), actual: vec![actual.reason.as_str().into()] });
    }
    for m in &expect.messages {
        if !actual.messages.iter().any(|a| a.contains(m.as_str())) {
            out.push(Mismatch {
                field: "messages",
                expected: format!("a message containing \"{m}\""),
                actual: if actual.messages.is_empty() { vec!["(no messages)".into()] } else { actual.messages.clone() },
            });
        }
    }
    if let Some(x) = &expect.exemption {
        let got = actual.exemption.map_or("none", Outcome::as_str);
        if x != got {
            out.push(Mismatch { field: "exemption", expected: x.clone(), actual: vec![got.into()] });
        }
    }
    if let Some(p) = &expect.patch
        && *p != actual.patch
    {
        // Line by line: operations expected but not made (-), made but not expected (+).
        let mut lines: Vec<String> =
            p.iter().filter(|op| !actual.patch.contains(op)).map(|op| format!("- {op}")).collect();
        lines.extend(actual.patch.iter().filter(|op| !p.contains(op)).map(|op| format!("+ {op}")));
        if lines.is_empty() {
            lines.push("the same operations in another order".into());
        }
        out.push(Mismatch {
            field: "patch",
            expected: format!("{} operations (- expected, not made; + made, not expected)", p.len()),
            actual: lines,
        });
    }
    out
}

/// A failed case's diff, indented under its FAIL line.
#[must_use]
pub fn render_mismatches(mismatches: &[Mismatch]) -> String {
    let mut s = String::new();
    for m in mismatches {
        if m.field == "patch" {
            s.push_str(&format!("      patch: expected {}\n", m.expected));
            for l in &m.actual {
                s.push_str(&format!("        {l}\n"));
            }
        } else if m.actual.len() == 1 && m.field != "messages" {
            s.push_str(&format!("      {}: expected {}, got {}\n", m.field, m.expected, m.actual[0]));
        } else {
            s.push_str(&format!("      {}: expected {}, got:\n", m.field, m.expected));
            for l in &m.actual {
                s.push_str(&format!("        - {l}\n"));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn too_big() -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": "p", "annotations": {
                "vramgate.io/model": "llama-2-70b", "vramgate.io/precision": "fp32", "vramgate.io/strategy": "ddp" } },
            "spec": { "containers": [{ "name": "c", "resources": { "limits": { "nvidia.com/gpu": 1 } } }] }
        })
    }

    fn expect(yaml: &str) -> Expect {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn a_matching_expectation_has_no_mismatch_and_a_wrong_one_names_each_field() {
        let actual = judge(&too_big(), &Settings::default(), "default", None);
        assert_eq!(actual.decision, Decision::Deny);
        let ok = expect("{decision: deny, reason: does-not-fit, messages: [needs], exemption: none}");
        assert_eq!(compare(&ok, &actual), []);
        let wrong = expect("{decision: allow, reason: fits, messages: [fits on 1 GPU], exemption: honoured}");
        let m = compare(&wrong, &actual);
        let fields: Vec<&str> = m.iter().map(|m| m.field).collect();
        assert_eq!(fields, ["decision", "reason", "messages", "exemption"]);
        let text = render_mismatches(&m);
        assert!(text.contains("      decision: expected allow, got deny\n"), "{text}");
        assert!(text.contains("      reason: expected fits, got does-not-fit\n"), "{text}");
        assert!(text.contains("      exemption: expected honoured, got none\n"), "{text}");
    }

    /// Llama 2 13B, bf16 mixed with ZeRO-3, in a Job of one pod with one H100: ZeRO-3 keeps 16
    /// bytes per parameter (208 GB) sharded over the GPUs, so one GPU cannot hold it and the
    /// patch raises the pods.
    fn sharded_on_one_gpu() -> Value {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": { "name": "j", "annotations": {
                "vramgate.io/model": "llama-2-13b", "vramgate.io/precision": "bf16-mixed", "vramgate.io/strategy": "zero3" } },
            "spec": { "parallelism": 1, "completions": 1, "template": { "spec": {
                "nodeSelector": { "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" },
                "containers": [{ "name": "c", "resources": { "limits": { "nvidia.com/gpu": 1 } } }] } } }
        })
    }

    #[test]
    fn the_validating_webhook_judges_the_patched_object_and_a_patch_diff_lists_missing_and_extra_operations() {
        let unpatched = judge(&sharded_on_one_gpu(), &Settings::default(), "default", None);
        assert_eq!(unpatched.decision, Decision::Deny);
        assert_eq!(unpatched.patch, Vec::<Value>::new(), "no patch without policy.patch; output annotations left out");
        let settings = Settings::from_yaml("policy:\n  patch: true\n").unwrap();
        let actual = judge(&sharded_on_one_gpu(), &settings, "default", None);
        assert_ne!(actual.decision, Decision::Deny, "the patched job fits: {actual:?}");
        let paths: Vec<&str> = actual.patch.iter().map(|op| op["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["/spec/parallelism", "/spec/completions"]);
        let mut e = expect("{decision: allow}");
        e.decision = actual.decision.as_str().into();
        e.patch = Some(actual.patch.clone());
        assert_eq!(compare(&e, &actual), []);
        let mut changed = actual.patch.clone();
        changed[0] = json!({"op": "add", "path": "/spec/parallelism", "value": 1});
        e.patch = Some(changed);
        let m = compare(&e, &actual);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].actual.len(), 2, "{m:?}");
        assert_eq!(m[0].actual[0], r#"- {"op":"add","path":"/spec/parallelism","value":1}"#);
        assert!(m[0].actual[1].starts_with(r#"+ {"op":"add","path":"/spec/parallelism","value":"#), "{m:?}");
    }

    #[test]
    fn a_case_file_with_unknown_values_is_refused_naming_the_case() {
        let e = parse_case_file(
            "cases:\n- name: a\n  manifest: a.yaml\n  expect: {decision: block, reason: too-big, exemption: maybe}\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("cases[0] (a): expect.decision 'block'"), "{e:?}");
        let e = parse_case_file("cases:\n- name: a\n  manifest: a.yaml\n  expected: {decision: deny}\n").unwrap_err();
        assert!(e[0].contains("unknown field `expected`"), "{e:?}");
    }

    #[test]
    fn a_manifest_with_several_objects_needs_a_document() {
        let objs = [json!({"kind": "Pod"}), json!({"kind": "Job"})];
        assert!(pick_object(&objs, None).unwrap_err().contains("holds 2 objects"));
        assert_eq!(pick_object(&objs, Some(2)).unwrap()["kind"], "Job");
        assert!(pick_object(&objs, Some(3)).is_err());
        assert!(pick_object(&[], None).is_err());
    }
}
