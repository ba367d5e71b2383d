//! Tests of workload extraction: the real manifests and admission payloads under
//! `tests/fixtures/`, one inline object per kind and edge case, a bounded mutation loop and a
//! proptest showing that no input makes `extract` panic.
//!
//! This file holds the fixtures and helpers; the tests are grouped by what they exercise:
//! `fixtures` (real manifests, admission payloads, kind recognition), `kinds` (every kind
//! inline, replica bounds and owners), `containers` (containers, GPU quantities, node
//! selection) and `hostile` (structural errors, the mutation loop and the proptest).

mod containers;
mod fixtures;
mod hostile;
mod kinds;

use serde_json::{Value, json};

use super::{ExtractConfig, Extracted, PodGroup, Workload, WorkloadError, WorkloadKind, Written, extract, fields};

const FAST_LLM: &str = include_str!("../../../tests/fixtures/manifests/pytorchjob-fast-llm-mistral-4x8gpu.yaml");
const DEEPSPEED: &str = include_str!("../../../tests/fixtures/manifests/pytorchjob-deepspeed-demo.yaml");
const KUEUE_JOB: &str = include_str!("../../../tests/fixtures/manifests/job-gpu-parallelism3-kueue.yaml");
const RAYJOB: &str = include_str!("../../../tests/fixtures/manifests/rayjob-pytorch-4gpu-workers.yaml");
const TRAINING_RUNTIME: &str =
    include_str!("../../../tests/fixtures/manifests/clustertrainingruntime-torchtune-llama3.2-1b.yaml");
const REVIEW_POD: &str =
    include_str!("../../../tests/fixtures/admission/admissionreview-v1-pod-create-generatename.json");
const REQUEST_DEPLOYMENT: &str =
    include_str!("../../../tests/fixtures/admission/admissionrequest-deployment-create-with-limits.json");
const REQUEST_DELETE: &str = include_str!("../../../tests/fixtures/admission/admissionrequest-deployment-delete.json");

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("fixture is valid YAML")
}

fn run(obj: &Value) -> Result<Extracted, Vec<WorkloadError>> {
    extract(&obj.into(), &ExtractConfig::default())
}

fn workload(obj: &Value) -> Workload {
    match run(obj) {
        Ok(Extracted::Workload(w)) => w,
        other => panic!("expected a workload, got {other:?}"),
    }
}

fn errors(obj: &Value) -> Vec<WorkloadError> {
    match run(obj) {
        Err(e) => e,
        other => panic!("expected errors, got {other:?}"),
    }
}

/// (role, pods, gpus per pod) of each group, for compact comparisons.
fn shape(w: &Workload) -> Vec<(&str, u64, u64)> {
    w.groups.iter().map(|g| (g.role.as_str(), g.pods, g.gpus_per_pod)).collect()
}

fn group<'a>(w: &'a Workload, role: &str) -> &'a PodGroup {
    w.groups.iter().find(|g| g.role == role).unwrap_or_else(|| panic!("no group {role} in {:?}", shape(w)))
}

/// Asserts some error sits at `path` and its message contains every one of `words`.
fn assert_error(errs: &[WorkloadError], path: &str, words: &[&str]) {
    let hit = errs.iter().any(|e| e.path == path && words.iter().all(|w| e.message.contains(w)));
    assert!(hit, "no error at {path} mentioning {words:?} in {errs:#?}");
}

/// A pod spec with one container whose limits are `limits`.
fn pod_with_limits(limits: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "resources": {"limits": limits}}]}
    })
}

/// A pod template with `gpus` full GPUs in its only container.
fn template(gpus: u64) -> Value {
    json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": gpus}}}]}})
}
