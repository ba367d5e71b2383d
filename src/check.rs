//! `vramgate check`: the webhook's decision on manifests, offline. Pure: the CLI reads the files
//! and prints; this module turns text into objects and objects into [`CheckResult`]s with the
//! same [`evaluate`] the validating webhook calls (as for a CREATE).

use crate::admission::Endpoint;
use crate::admission::decide::{Context, Decision, Evaluation, Operation, evaluate};
use crate::admission::exempt::{self, Exemption, UserInfo};
use crate::config::Settings;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The namespace `kubectl apply` uses when neither the manifest nor the flag names one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// One object's verdict, as `check --output json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// `FILE#N`: the file and the object's position in it (1-based; items of a `List` count).
    pub source: String,
    /// Kind, namespace, name, decision, reason, messages, GPU and count found, estimate.
    #[serde(flatten)]
    pub evaluation: Evaluation,
    /// A `vramgate.io/exempt` annotation and what became of it, as the validating webhook
    /// would decide for the same user (`check --as`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption: Option<Exemption>,
}

impl CheckResult {
    #[must_use]
    pub fn decision(&self) -> Decision {
        self.evaluation.decision
    }
}

/// Splits a file's text into objects: multi-document YAML (JSON is YAML), empty documents
/// dropped, a `kind: List` (what `kubectl get -o yaml` prints) expanded into its items.
///
/// # Errors
/// The text is not YAML, or a document is not a mapping (the message names the document).
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| format!("document {}: not YAML or JSON: {e}", i + 1))?;
        match v {
            Value::Null => {}
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => match m.get("items") {
                Some(Value::Array(items)) => out.extend(items.iter().cloned()),
                _ => return Err(format!("document {}: a List without an items array", i + 1)),
            },
            Value::Object(_) => out.push(v),
            other => {
                return Err(format!(
                    "document {}: a Kubernetes object must be a mapping, got {}",
                    i + 1,
                    match other {
                        Value::Array(_) => "a list",
                        Value::String(_) => "a string",
                        _ => "a scalar",
                    }
                ));
            }
        }
    }
    Ok(out)
}

/// Checks every object of one file (`source` names it in the results), sent by no known user.
#[must_use]
pub fn check_objects(source: &str, objects: &[Value], settings: &Settings, namespace: &str) -> Vec<CheckResult> {
    check_objects_as(source, objects, settings, namespace, None)
}

/// [`check_objects`] as sent by `user` (the review's `userInfo`, which decides who may
/// exempt an object).
#[must_use]
pub fn check_objects_as(
    source: &str,
    objects: &[Value],
    settings: &Settings,
    namespace: &str,
    user: Option<&UserInfo>,
) -> Vec<CheckResult> {
    objects
        .iter()
        .enumerate()
        .map(|(i, obj)| {
            let ctx = Context {
                settings,
                namespace: Some(namespace),
                operation: Operation::Create,
                old_object: None,
                endpoint: Endpoint::Validate,
                cluster: None,
            };
            let json = obj.into();
            let mut evaluation = evaluate(&json, &ctx);
            let exemption = exempt::apply(&mut evaluation, &json, user, &settings.exemptions);
            CheckResult { source: format!("{source}#{}", i + 1), evaluation, exemption }
        })
        .collect()
}

/// 0 when everything is admitted, 1 when something is denied.
#[must_use]
pub fn exit_code(results: &[CheckResult]) -> i32 {
    i32::from(results.iter().any(|r| r.decision() == Decision::Deny))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_expanded_and_empty_documents_dropped() {
        let objs = documents(
            "---\n---\napiVersion: v1\nkind: List\nitems:\n- {kind: Pod}\n- {kind: Job}\n---\n{\"kind\": \"Job\"}\n",
        )
        .unwrap();
        assert_eq!(objs.len(), 3);
    }

    #[test]
    fn a_scalar_document_is_an_error_naming_it() {
        let e = documents("kind: Pod\n---\njust text\n").unwrap_err();
        assert!(e.starts_with("document 2"), "{e}");
    }
}
