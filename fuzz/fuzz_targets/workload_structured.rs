//! Structure-aware: `arbitrary` builds an object of every supported kind (and one unsupported)
//! with hostile pod templates (GPU quantities as huge, negative, fractional, string or absent
//! numbers; MIG and full GPUs mixed; init and sidecar containers; node selectors, affinity and
//! memory labels) and annotations (valid values and arbitrary strings), then runs it through
//! `workload::extract` and the whole review path on both endpoints under four policies.
//! Besides the answer invariants: a mutating patch applies to the object it was made for, and
//! a job the mutating webhook patched to fit is not judged `does-not-fit` by the validating one.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;
use vramgate::admission::{Endpoint, Reason};
use vramgate::config::Settings;
use vramgate::request::{INPUT_KEYS, OUTPUT_KEYS};
use vramgate::workload::{KINDS, WorkloadKind};

#[derive(Arbitrary, Debug)]
enum Num {
    Small(u8),
    Big(u64),
    Negative(i64),
    Float(f64),
    Text(String),
    Quantity(u16, u8),
    Null,
    Bool(bool),
}

impl Num {
    fn json(&self) -> Value {
        match self {
            Self::Small(n) => json!(n % 17),
            Self::Big(n) => json!(n),
            Self::Negative(n) => json!(-(n.unsigned_abs() as i128).min(i64::MAX as i128) as i64),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Self::Text(s) => json!(s),
            Self::Quantity(n, s) => {
                let suffix = ["", "k", "Ki", "m", "e3", "M", ".5", "Gi"][usize::from(*s) % 8];
                json!(format!("{n}{suffix}"))
            }
            Self::Null => Value::Null,
            Self::Bool(b) => json!(b),
        }
    }
}

const PRODUCTS: &[&str] = &[
    "NVIDIA-H100-80GB-HBM3",
    "NVIDIA-A100-SXM4-80GB",
    "NVIDIA-A100-SXM4-40GB",
    "NVIDIA-H200",
    "Tesla-T4",
    "NVIDIA-L4",
    "NVIDIA-A100-SXM4-40GB-MIG-3g.20gb",
    "NVIDIA-GeForce-RTX-4090",
    "unknown-gpu",
];

const MIG: &[&str] = &["1g.10gb", "3g.40gb", "7g.80gb", "2g.20gb", "bogus", ""];

#[derive(Arbitrary, Debug)]
struct Container {
    gpus: Option<Num>,
    requests: Option<Num>,
    mig: Option<(u8, Num)>,
    other_resource: bool,
    sidecar: bool,
}

#[derive(Arbitrary, Debug)]
struct Group {
    replicas: Option<Num>,
    containers: Vec<Container>,
    init: Vec<Container>,
    product: Option<u8>,
    affinity: Vec<u8>,
    memory_label: Option<Num>,
}

#[derive(Arbitrary, Debug)]
enum AnnValue {
    Valid(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// An index into the crate's own list of kinds (`workload::KINDS`), one past it for an
    /// unsupported kind.
    kind: u8,
    groups: Vec<Group>,
    annotations: Vec<(u8, AnnValue)>,
    update: bool,
    policy: u8,
    dry_run: bool,
}

/// Plausible values per key (indexed by key position), so that inputs reach the engine.
fn valid_value(key: &str, i: u8) -> String {
    let pick = |xs: &[&str]| xs[usize::from(i) % xs.len()].to_string();
    match key {
        "model" => {
            pick(&["llama-2-7b", "llama-2-13b", "llama-2-70b", "gpt2", "mixtral-8x7b", "meta-llama/Llama-2-7b-hf"])
        }
        "parameters" => pick(&["7B", "350M", "6.74e9", "1T", "1e400", "0", "-1B"]),
        "architecture" => pick(&[
            "layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000",
            "layers=2,hidden=64,heads=4,intermediate=256,vocab=1000,experts=8,experts-per-token=2",
        ]),
        "hf-config" => pick(&[
            r#"{"model_type":"llama","num_hidden_layers":2,"hidden_size":64,"num_attention_heads":4,"intermediate_size":256,"vocab_size":1000}"#,
        ]),
        "workload" => pick(&["training", "inference"]),
        "precision" => pick(&["fp32", "bf16-mixed", "fp16-mixed", "bf16-true", "fp8-mixed"]),
        "optimizer" => pick(&["adamw", "adamw-fused", "sgd", "adafactor", "adamw-8bit", "lion"]),
        "fine-tuning" => pick(&["full", "lora", "qlora"]),
        "lora-rank" => pick(&["16", "1", "65536"]),
        "lora-targets" => pick(&["attention", "all-linear", "q_proj,v_proj"]),
        "micro-batch-size" | "sequence-length" | "tensor-parallel" | "pipeline-parallel" | "hybrid-shard-group"
        | "gpus" => pick(&["1", "2", "8", "4096", "1000000"]),
        "activation-checkpointing" => pick(&["true", "false"]),
        "attention" => pick(&["sdpa", "eager"]),
        "strategy" => pick(&["ddp", "zero1", "zero2", "zero3", "fsdp", "fsdp-hybrid"]),
        "offload" => pick(&["none", "optimizer", "optimizer-and-parameters"]),
        "kv-cache-dtype" => pick(&["auto", "fp8", "int8"]),
        "weight-quantization" => pick(&["none", "int8", "int4", "nf4"]),
        "training-tokens" => pick(&["20B", "2T", "1", "1e18"]),
        "mfu" => pick(&["0.4", "1", "1e-300"]),
        "gpu" => pick(&["H100-80GB", "A100-80GB", "T4", "B200", "nope"]),
        _ => pick(&["allow", "deny", "52.0 GiB", "53248Mi", "none", "unknown"]),
    }
}

fn container(c: &Container, i: usize, init: bool) -> Value {
    let mut limits = Map::new();
    let mut requests = Map::new();
    if let Some(n) = &c.gpus {
        limits.insert("nvidia.com/gpu".into(), n.json());
    }
    if let Some(n) = &c.requests {
        requests.insert("nvidia.com/gpu".into(), n.json());
    }
    if let Some((p, n)) = &c.mig {
        limits.insert(format!("nvidia.com/mig-{}", MIG[usize::from(*p) % MIG.len()]), n.json());
    }
    if c.other_resource {
        limits.insert("cpu".into(), json!("4"));
        limits.insert("memory".into(), json!("64Gi"));
    }
    let mut out = json!({"name": format!("c{i}"), "image": "x", "resources": {"limits": limits, "requests": requests}});
    if init && c.sidecar {
        out["restartPolicy"] = json!("Always");
    }
    out
}

fn template(g: &Group) -> Value {
    let containers: Vec<Value> = g.containers.iter().take(4).enumerate().map(|(i, c)| container(c, i, false)).collect();
    let init: Vec<Value> = g.init.iter().take(3).enumerate().map(|(i, c)| container(c, i, true)).collect();
    let mut spec = json!({"containers": containers});
    if !init.is_empty() {
        spec["initContainers"] = json!(init);
    }
    let mut selector = Map::new();
    if let Some(p) = g.product {
        selector.insert("nvidia.com/gpu.product".into(), json!(PRODUCTS[usize::from(p) % PRODUCTS.len()]));
    }
    if let Some(m) = &g.memory_label {
        selector.insert("nvidia.com/gpu.memory".into(), m.json());
    }
    if !selector.is_empty() {
        spec["nodeSelector"] = Value::Object(selector);
    }
    if !g.affinity.is_empty() {
        let values: Vec<&str> = g.affinity.iter().take(3).map(|p| PRODUCTS[usize::from(*p) % PRODUCTS.len()]).collect();
        spec["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "nvidia.com/gpu.product", "operator": "In", "values": values}]}]}}});
    }
    json!({"spec": spec})
}

fn replicas(g: &Group) -> Value {
    g.replicas.as_ref().map_or(json!(1), Num::json)
}

fn object(input: &Input) -> Value {
    let empty =
        Group { replicas: None, containers: vec![], init: vec![], product: None, affinity: vec![], memory_label: None };
    let groups: Vec<&Group> = input.groups.iter().take(3).collect();
    let g0 = groups.first().copied().unwrap_or(&empty);
    let g1 = groups.get(1).copied().unwrap_or(g0);
    let mut annotations = Map::new();
    for (k, v) in input.annotations.iter().take(12) {
        let keys: Vec<&str> = INPUT_KEYS.iter().chain(OUTPUT_KEYS).copied().collect();
        let key = keys[usize::from(*k) % keys.len()];
        let value = match v {
            AnnValue::Valid(i) => valid_value(key, *i),
            AnnValue::Raw(s) => s.clone(),
        };
        annotations.insert(format!("vramgate.io/{key}"), json!(value));
    }
    let meta = json!({"name": "fuzz", "namespace": "research", "annotations": annotations});
    // Every kind vramgate reads, each in its own shape (an exhaustive match: a kind added to
    // `KINDS` does not compile here until it is fuzzed), and one it does not read.
    let Some(kind) = KINDS.get(usize::from(input.kind) % (KINDS.len() + 1)) else {
        return json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta,
            "spec": {"template": template(g0)}});
    };
    let spec = match kind.kind {
        WorkloadKind::Pod => template(g0)["spec"].clone(),
        WorkloadKind::Job => {
            json!({"parallelism": replicas(g0), "completions": replicas(g0), "template": template(g0)})
        }
        WorkloadKind::PyTorchJob => json!({"pytorchReplicaSpecs": {
            "Master": {"replicas": 1, "template": template(g0)},
            "Worker": {"replicas": replicas(g1), "template": template(g1)}}}),
        WorkloadKind::MpiJob => json!({"slotsPerWorker": 1, "mpiReplicaSpecs": {
            "Launcher": {"replicas": 1, "template": template(g0)},
            "Worker": {"replicas": replicas(g1), "template": template(g1)}}}),
        WorkloadKind::JobSet => json!({"replicatedJobs": groups.iter().enumerate().map(|(i, g)| json!({
            "name": format!("j{i}"), "replicas": replicas(g),
            "template": {"spec": {"parallelism": 1, "template": template(g)}}})).collect::<Vec<_>>()}),
        WorkloadKind::RayJob | WorkloadKind::RayCluster => {
            let cluster = json!({"headGroupSpec": {"rayStartParams": {}, "template": template(g0)},
                "workerGroupSpecs": [{"groupName": "gpu", "replicas": replicas(g1), "minReplicas": 0,
                    "maxReplicas": 100, "rayStartParams": {}, "template": template(g1)}]});
            if kind.kind == WorkloadKind::RayJob {
                json!({"entrypoint": "python train.py", "rayClusterSpec": cluster})
            } else {
                cluster
            }
        }
        WorkloadKind::VolcanoJob => json!({"tasks": groups.iter().enumerate().map(|(i, g)| json!({
            "name": format!("t{i}"), "replicas": replicas(g), "template": template(g)})).collect::<Vec<_>>()}),
        WorkloadKind::LeaderWorkerSet => json!({"replicas": replicas(g0), "leaderWorkerTemplate": {
            "size": replicas(g1), "leaderTemplate": template(g0), "workerTemplate": template(g1)}}),
        WorkloadKind::Deployment | WorkloadKind::StatefulSet => {
            json!({"replicas": replicas(g0), "template": template(g0)})
        }
        WorkloadKind::InferenceService => {
            let mut predictor = template(g0)["spec"].clone();
            predictor["minReplicas"] = replicas(g0);
            json!({"predictor": predictor})
        }
    };
    let api_version = match kind.group {
        "" => kind.versions[0].to_owned(),
        group => format!("{group}/{}", kind.versions[0]),
    };
    json!({"apiVersion": api_version, "kind": kind.kind_name, "metadata": meta, "spec": spec})
}

fn review(obj: &Value, old: Option<&Value>, dry_run: bool) -> Vec<u8> {
    let kind = obj["kind"].as_str().unwrap_or("");
    let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "fuzz-uid", "kind": {"group": "", "version": "v1", "kind": kind},
        "namespace": "research", "operation": if old.is_some() { "UPDATE" } else { "CREATE" },
        "object": obj, "oldObject": old, "dryRun": dry_run}});
    serde_json::to_vec(&body).expect("serialises")
}

fn policies() -> &'static [Settings] {
    static S: OnceLock<Vec<Settings>> = OnceLock::new();
    S.get_or_init(|| {
        [
            "{}",
            "policy: {patch: true, patch_gpu_types: [H200, B200, A100-80GB]}\nmax_gpus: 4096\n",
            "policy: {mode: warn, max_cost_usd: 100000, require_annotations: true}\n",
            "policy: {mode: audit, overprovision_factor: 1.5}\nresources: {gpu: [nvidia.com/gpu, amd.com/gpu]}\n",
        ]
        .iter()
        .map(|y| Settings::from_yaml(y).unwrap_or_else(|e| panic!("fuzz policy {y}: {e:?}")))
        .collect()
    })
}

fuzz_target!(|input: Input| {
    let obj = object(&input);
    let settings = &policies()[usize::from(input.policy) % policies().len()];
    let _ = vramgate::workload::extract(&(&obj).into(), &settings.extract);
    // An UPDATE that changes nothing (judged `unchanged`), or a CREATE.
    let old = input.update.then(|| obj.clone());
    let body = review(&obj, old.as_ref(), input.dry_run);
    let (validated, _) = common::checked_answer(settings, Endpoint::Validate, &body);
    let (mutated, v) = common::checked_answer(settings, Endpoint::Mutate, &body);
    assert_eq!(validated.status, 200, "a well-formed review is answered");
    let Some(p) = v["response"]["patch"].as_str() else { return };
    let ops = base64::engine::general_purpose::STANDARD.decode(p).expect("base64");
    let patch: json_patch::Patch = serde_json::from_slice(&ops).expect("a JSON Patch");
    let mut patched = obj.clone();
    json_patch::patch(&mut patched, &patch).unwrap_or_else(|e| panic!("the patch applies: {e}\n{patch:?}"));
    if mutated.record.as_ref().is_some_and(|r| r.reason == Reason::Patched) {
        let (after, _) = common::checked_answer(settings, Endpoint::Validate, &review(&patched, None, input.dry_run));
        let reason = after.record.expect("a 200").reason;
        assert_ne!(reason, Reason::DoesNotFit, "a job patched to fit is judged to fit");
    }
});
