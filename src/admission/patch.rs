//! JSON Patch (RFC 6902) operations the mutating webhook returns, serialised by hand.
//!
//! Kubernetes wants `response.patch` as the base64 of the patch's JSON bytes
//! (`patchType: JSONPatch`). kube-rs's `AdmissionResponse` serialises its `patch` field as an
//! array of numbers instead (kube-rs issue 1781), which the API server rejects; this module
//! writes the bytes itself and the tests check them.

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

/// One RFC 6902 operation. Only `add` is needed: on an object member it creates or replaces
/// (RFC 6902 §4.1), so it works whether the field was written or defaulted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOp {
    pub op: &'static str,
    /// RFC 6901 pointer.
    pub path: String,
    pub value: Value,
}

impl PatchOp {
    /// `add` `value` at `path`.
    #[must_use]
    pub fn add(path: impl Into<String>, value: Value) -> Self {
        Self { op: "add", path: path.into(), value }
    }
}

/// `ops` with each path written once: where several operations set the same path (two pod
/// groups sharing one template, as a LeaderWorkerSet without `leaderTemplate` does), the last
/// one is kept, at its place, so the result of applying the patch is unchanged.
#[must_use]
pub fn dedupe(ops: Vec<PatchOp>) -> Vec<PatchOp> {
    let mut out: Vec<PatchOp> = Vec::with_capacity(ops.len());
    for op in ops {
        out.retain(|o| o.path != op.path);
        out.push(op);
    }
    out
}

/// The JSON bytes of a patch.
#[must_use]
pub fn to_json(ops: &[PatchOp]) -> Vec<u8> {
    // A Vec of plain structs with string keys always serialises.
    serde_json::to_vec(ops).unwrap_or_else(|_| b"[]".to_vec())
}

/// The base64 (standard alphabet, padded) of the patch's JSON, as `response.patch` wants.
#[must_use]
pub fn to_base64(ops: &[PatchOp]) -> String {
    base64::engine::general_purpose::STANDARD.encode(to_json(ops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_patch_is_base64_of_json_text_not_an_array_of_numbers() {
        let ops = vec![PatchOp::add("/metadata/annotations/vramgate.io~1decision", json!("allow"))];
        let b64 = to_base64(&ops);
        assert_eq!(
            b64,
            "W3sib3AiOiJhZGQiLCJwYXRoIjoiL21ldGFkYXRhL2Fubm90YXRpb25zL3ZyYW1nYXRlLmlvfjFkZWNpc2lvbiIsInZhbHVlIjoiYWxsb3cifV0="
        );
        let decoded = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        assert_eq!(
            std::str::from_utf8(&decoded).unwrap(),
            r#"[{"op":"add","path":"/metadata/annotations/vramgate.io~1decision","value":"allow"}]"#
        );
    }

    #[test]
    fn dedupe_keeps_one_operation_per_path_the_last_one() {
        let ops = vec![PatchOp::add("/a", json!(1)), PatchOp::add("/b", json!(2)), PatchOp::add("/a", json!(3))];
        assert_eq!(dedupe(ops), vec![PatchOp::add("/b", json!(2)), PatchOp::add("/a", json!(3))]);
    }
}
