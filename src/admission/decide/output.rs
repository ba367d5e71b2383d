//! The output annotations the mutating webhook writes.

use super::vocabulary::Evaluation;
use crate::admission::patch::PatchOp;
use crate::estimate::{self};
use crate::json::Json;
use crate::pointer::escape_token;
use crate::request::{self, PREFIX};
use serde_json::{Value, json};

/// The output annotations, as `add` operations (creating `metadata.annotations` if absent).
pub(super) fn output_annotations(
    obj: &Json<'_>,
    e: &Evaluation,
    total_bytes: u64,
    compute: Option<estimate::Compute>,
) -> Vec<PatchOp> {
    let needed = e.estimate.as_ref().and_then(|r| r.estimate.min_gpus);
    // Each value is written by a `contract::render_output_*` function and reads back exactly
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
