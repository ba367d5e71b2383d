//! Kubernetes objects and AdmissionReviews that several test modules build.

use base64::Engine as _;
use serde_json::{Value, json};

/// The uid every review built here carries (the example uid of the Kubernetes docs' AdmissionReview).
pub const UID: &str = "705ab4f5-6393-11e8-b7cc-42010a800002";

/// Annotations of a job that fits 8 H100s and needs more than half of them: Llama 2 13B,
/// bf16-mixed, ZeRO-3, 2k tokens, no checkpointing.
pub fn fits_annotations() -> Value {
    json!({
        "vramgate.io/model": "llama-2-13b",
        "vramgate.io/precision": "bf16-mixed",
        "vramgate.io/optimizer": "adamw",
        "vramgate.io/strategy": "zero3",
        "vramgate.io/micro-batch-size": "1",
        "vramgate.io/sequence-length": "2048",
        "vramgate.io/activation-checkpointing": "false",
        "vramgate.io/training-tokens": "20B"
    })
}

/// An `admission.k8s.io/v1` AdmissionReview of `obj` (CREATE/UPDATE/... by `operation`) in
/// `namespace`, by user `alice`, not a dry run.
pub fn review_of(obj: &Value, operation: &str, namespace: &str) -> Value {
    let kind = obj["kind"].as_str().unwrap_or("");
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": UID,
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "x"},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "alice"},
            "object": obj,
            "oldObject": null,
            "dryRun": false
        }
    })
}

/// The JSON Patch of an AdmissionReview `response`, decoded from its base64 `patch`; `None` when
/// it has no patch. Panics unless `patchType` is `JSONPatch` and `patch` a base64 string of JSON.
pub fn decoded_patch(review: &Value) -> Option<Value> {
    let response = &review["response"];
    let patch = response.get("patch")?;
    assert_eq!(response["patchType"], "JSONPatch");
    let b64 = patch.as_str().expect("patch is a base64 string, not an array of numbers");
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("base64 patch");
    Some(serde_json::from_slice(&bytes).expect("a JSON Patch"))
}

/// A pod spec with one container asking for `gpus` GPUs, pinned to `product` by the GPU
/// feature discovery label when given.
pub fn pod_spec(gpus: u64, product: Option<&str>) -> Value {
    let mut spec = json!({
        "restartPolicy": "Never",
        "containers": [{
            "name": "trainer",
            "image": "ghcr.io/example/train:1",
            "resources": {"limits": {"nvidia.com/gpu": gpus}}
        }]
    });
    if let Some(p) = product {
        spec["nodeSelector"] = json!({ "nvidia.com/gpu.product": p });
    }
    spec
}

/// A batch/v1 Job `name` in namespace `research` of `parallelism` pods with [`pod_spec`]`(gpus, product)`.
pub fn gpu_job(name: &str, annotations: Value, parallelism: u64, gpus: u64, product: Option<&str>) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "research", "annotations": annotations},
        "spec": {"parallelism": parallelism, "completions": parallelism, "template": {"spec": pod_spec(gpus, product)}}
    })
}
