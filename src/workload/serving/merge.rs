//! The serving keys read from the container under the object's annotations.

use std::collections::BTreeMap;

use super::{Problem, Serving, Sourced};

/// The fields a workload is judged by: the serving keys read from its container, each
/// overridden by an annotation of the same key, with the problems of the keys no annotation
/// settles. An object annotated `vramgate.io/workload` other than `serving` is not judged as a
/// server: its annotations alone count. Until the contract defines the serving keys (the
/// `engine` key), the annotations alone count too.
#[must_use]
pub fn merged_fields(serving: Option<&Serving>, annotated: &BTreeMap<String, String>) -> Merged {
    if crate::request::INPUT_KEYS.contains(&"engine") { merge(serving, annotated) } else { merge(None, annotated) }
}

/// [`merged_fields`] whatever the contract defines.
pub(super) fn merge(serving: Option<&Serving>, annotated: &BTreeMap<String, String>) -> Merged {
    let unmerged = || Merged { fields: annotated.clone(), read: BTreeMap::new(), problems: Vec::new() };
    let Some(s) = serving else { return unmerged() };
    if annotated.get("workload").is_some_and(|w| w.trim() != "serving") {
        return unmerged();
    }
    // The model is given by exactly one key (`request::resolve_model`): an annotated one of
    // them replaces the container's model.
    let model_annotated = MODEL_KEYS.iter().any(|k| annotated.contains_key(*k));
    let settled = |k: &str| annotated.contains_key(k) || (k == "model" && model_annotated);
    let read: BTreeMap<String, Sourced> =
        s.keys.iter().filter(|(k, _)| !settled(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut fields: BTreeMap<String, String> = read.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect();
    fields.extend(annotated.iter().map(|(k, v)| (k.clone(), v.clone())));
    let problems = s.problems.iter().filter(|p| p.key.as_deref().is_none_or(|k| !settled(k))).cloned().collect();
    Merged { fields, read, problems }
}

/// The keys that give the model, exactly one of which a request takes.
const MODEL_KEYS: [&str; 4] = ["model", "parameters", "architecture", "hf-config"];

/// What [`merged_fields`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Key -> value, annotations over what the container says.
    pub fields: BTreeMap<String, String>,
    /// The keys taken from the container, with their sources (for messages).
    pub read: BTreeMap<String, Sourced>,
    pub problems: Vec<Problem>,
}
