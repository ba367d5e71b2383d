//! Property tests of the hostile-input surface (issue 5):
//! - every value the mutating webhook writes into an output annotation reads back exactly
//!   (`request::render_output_*` / `parse_output_*`, and the real patch read back);
//! - any field map yields a job or typed errors, and any job an estimate or typed errors;
//! - any JSON object yields a workload, `Unsupported` or errors naming a field;
//! - a bad annotation added to a job never turns a denial into an admission.

use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use vramgate::admission::{self, Decision, Endpoint};
use vramgate::config::Settings;
use vramgate::estimate::units::MIB;
use vramgate::estimate::{self, GpuCatalog};
use vramgate::request::{self, INPUT_KEYS, OUTPUT_KEYS};
use vramgate::workload::{self, Extracted};

// ---------------------------------------------------------------------------------------------
// Output annotations: parse(render(x)) == x.

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn memory_per_gpu_reads_back_exactly_and_never_below_the_estimate(bytes in any::<u64>()) {
        let mib = request::output_memory_mib(bytes);
        let text = request::render_output_memory_mib(mib);
        prop_assert!(text.ends_with("Mi") && text[..text.len() - 2].bytes().all(|b| b.is_ascii_digit()), "{text}");
        prop_assert_eq!(request::parse_output_memory_mib(&text), Ok(mib));
        let covered = u128::from(mib) * u128::from(MIB);
        prop_assert!(covered >= u128::from(bytes) && covered - u128::from(bytes) < u128::from(MIB));
    }

    #[test]
    fn any_mebibyte_count_reads_back(mib in any::<u64>()) {
        prop_assert_eq!(request::parse_output_memory_mib(&request::render_output_memory_mib(mib)), Ok(mib));
    }

    #[test]
    fn estimated_gpus_read_back(gpus in proptest::option::of(any::<u32>())) {
        prop_assert_eq!(request::parse_output_gpus(&request::render_output_gpus(gpus)), Ok(gpus));
    }

    #[test]
    fn gpu_hours_and_cost_read_back_bit_for_bit(x in proptest::option::of(any::<f64>().prop_filter("finite", |x| x.is_finite()))) {
        let text = request::render_output_amount(x);
        prop_assert!(!text.contains('e') || text == "unknown", "no exponent: {text}");
        let back = request::parse_output_amount(&text);
        prop_assert_eq!(back.map(|b| b.map(f64::to_bits)), Ok(x.map(f64::to_bits)), "{}", text);
    }

    #[test]
    fn output_parsers_reject_garbage_with_a_typed_error(s in ".{0,40}") {
        // Whatever a user writes into an output annotation: a value or an error, never a panic;
        // what parses renders back to the same value.
        if let Ok(m) = request::parse_output_memory_mib(&s) {
            prop_assert_eq!(request::parse_output_memory_mib(&request::render_output_memory_mib(m)), Ok(m));
        }
        if let Ok(g) = request::parse_output_gpus(&s) {
            prop_assert_eq!(request::parse_output_gpus(&request::render_output_gpus(g)), Ok(g));
        }
        match request::parse_output_amount(&s) {
            Ok(Some(x)) => prop_assert!(x.is_finite()),
            Ok(None) => prop_assert_eq!(s.as_str(), "unknown"),
            Err(e) => prop_assert!(e.to_string().contains("accepted"), "{e}"),
        }
    }
}

#[test]
fn amounts_at_the_edges_of_f64_read_back_and_non_finite_ones_are_unknown() {
    for x in [0.0, -0.0, 0.1 + 0.2, 5e-324, f64::MIN_POSITIVE, f64::MAX, f64::MIN, 1e21, 123456.789, 2664686.25] {
        let text = request::render_output_amount(Some(x));
        assert_eq!(request::parse_output_amount(&text).unwrap().map(f64::to_bits), Some(x.to_bits()), "{text}");
    }
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(request::render_output_amount(Some(x)), "unknown");
    }
    for bad in ["NaN", "inf", "-inf", "infinity", "1e3", "1.", ".5", "+1", "1,5", " 1", "", "0x10", "--1"] {
        assert!(request::parse_output_amount(bad).is_err(), "{bad}");
    }
    for bad in ["52.0 GiB", "53248", "53248Gi", "-1Mi", "Mi", "1.5Mi", "18446744073709551616Mi", " 1Mi"] {
        assert!(request::parse_output_memory_mib(bad).is_err(), "{bad}");
    }
    for bad in ["none fits", "-1", "4294967296", "1.0", "", "+3"] {
        assert!(request::parse_output_gpus(bad).is_err(), "{bad}");
    }
}

#[test]
fn every_decision_reads_back() {
    for d in Decision::ALL {
        assert_eq!(Decision::parse(d.as_str()), Some(d));
    }
    assert_eq!(Decision::parse("Allow"), None);
}

// ---------------------------------------------------------------------------------------------
// The real webhook's annotations read back as what it decided.

fn job_object(annotations: &BTreeMap<String, String>, gpus: u64, parallelism: u64) -> Value {
    let annotations: serde_json::Map<String, Value> =
        annotations.iter().map(|(k, v)| (format!("vramgate.io/{k}"), json!(v))).collect();
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "train", "namespace": "research", "annotations": annotations},
        "spec": {"parallelism": parallelism, "completions": parallelism, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "t", "image": "x", "resources": {"limits": {"nvidia.com/gpu": gpus}}}]}}}
    })
}

fn review(obj: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "uid-1", "kind": {"group": "batch", "version": "v1", "kind": "Job"},
                    "namespace": "research", "operation": "CREATE", "object": obj}
    }))
    .unwrap()
}

fn arb_job_fields() -> impl Strategy<Value = BTreeMap<String, String>> {
    (
        prop::sample::select(vec!["gpt2", "llama-2-7b", "llama-2-13b", "llama-2-70b", "mistral-7b", "mixtral-8x7b"]),
        prop::sample::select(vec!["fp32", "bf16-mixed", "bf16-true", "fp16-mixed"]),
        prop::sample::select(vec!["ddp", "zero1", "zero2", "zero3", "fsdp"]),
        prop::sample::select(vec!["training", "inference"]),
        prop::sample::select(vec!["1", "2", "8"]),
        prop::sample::select(vec!["512", "2048", "8192"]),
        prop::sample::select(vec!["true", "false"]),
        proptest::option::of(prop::sample::select(vec!["20B", "2T", "1M"])),
    )
        .prop_map(|(model, precision, strategy, workload, mbs, seq, ac, tokens)| {
            let mut f = BTreeMap::new();
            for (k, v) in [
                ("model", model),
                ("precision", precision),
                ("strategy", strategy),
                ("workload", workload),
                ("micro-batch-size", mbs),
                ("sequence-length", seq),
                ("activation-checkpointing", ac),
            ] {
                f.insert(k.to_string(), v.to_string());
            }
            if let Some(t) = tokens {
                f.insert("training-tokens".into(), t.to_string());
            }
            f
        })
}

fn decoded_patch(v: &Value) -> Option<json_patch::Patch> {
    crate::common::objects::decoded_patch(v).map(|p| serde_json::from_value(p).expect("a JSON Patch"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn the_mutating_webhooks_annotations_read_back_as_what_it_estimated(
        fields in arb_job_fields(),
        gpus in 1u64..=8,
        parallelism in 1u64..=4,
    ) {
        let obj = job_object(&fields, gpus, parallelism);
        let a = admission::review(&Settings::default(), None, Endpoint::Mutate, &review(&obj));
        prop_assert_eq!(a.status, 200);
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        let record = a.record.clone().unwrap();
        let Some(patch) = decoded_patch(&v) else {
            // Only skipped objects go without annotations; these are all judged.
            prop_assert_eq!(record.decision, Decision::Skip, "{}", v);
            return Ok(());
        };
        let mut patched = obj.clone();
        json_patch::patch(&mut patched, &patch).unwrap();
        let ann = &patched["metadata"]["annotations"];
        let get = |k: &str| ann[format!("vramgate.io/{k}")].as_str().unwrap_or_else(|| panic!("{k} written")).to_string();

        // What the webhook estimated, through the same road (annotations -> job -> engine).
        let req = request::parse_fields(&fields).unwrap();
        let mut job = req.job;
        job.gpus = u32::try_from(gpus * parallelism).unwrap();
        let catalog = GpuCatalog::builtin();
        let e = estimate::estimate(&job, catalog.find("H100-80GB").unwrap()).unwrap();

        let mib = request::parse_output_memory_mib(&get("estimated-memory-per-gpu")).unwrap();
        prop_assert_eq!(mib, request::output_memory_mib(e.per_gpu.total_bytes));
        prop_assert_eq!(request::parse_output_gpus(&get("estimated-gpus")).unwrap(), record.gpus_needed);
        prop_assert_eq!(request::parse_output_amount(&get("estimated-gpu-hours")).unwrap(), record.gpu_hours);
        prop_assert_eq!(request::parse_output_amount(&get("estimated-cost-usd")).unwrap(), record.cost_usd);
        let written = Decision::parse(&get("decision")).unwrap();
        prop_assert!(matches!(written, Decision::Allow | Decision::Warn | Decision::Deny), "{:?}", written);

        // Re-submitted, the annotated object is judged the same (output keys are ignored).
        let again = admission::review(&Settings::default(), None, Endpoint::Validate, &review(&patched));
        let first = admission::review(&Settings::default(), None, Endpoint::Validate, &review(&obj));
        let (x, y) = (again.record.unwrap(), first.record.unwrap());
        prop_assert_eq!((x.decision, x.reason), (y.decision, y.reason));
    }
}

// ---------------------------------------------------------------------------------------------
// Any input: an estimate or a typed error.

fn arb_key() -> impl Strategy<Value = String> {
    let known: Vec<String> = INPUT_KEYS.iter().chain(OUTPUT_KEYS).map(|k| (*k).to_string()).collect();
    prop_oneof![
        6 => prop::sample::select(known),
        1 => "[a-z-]{1,20}",
        1 => ".{0,12}",
    ]
}

fn arb_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "llama-2-7b", "gpt2", "7B", "1e400", "NaN", "inf", "-1", "0", "1", "8", "4096", "1000000",
            "18446744073709551617", "0.4", "1.5", "true", "false", "fp32", "bf16-mixed", "zero3", "fsdp-hybrid",
            "lora", "qlora", "all-linear", "q_proj,v_proj", "inference", "training", "optimizer-and-parameters",
            "fp8", "nf4", "H100-80GB", "T4", "2T", "1e18", "1e-300", "",
            "layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000",
            "layers=1,hidden=1,heads=1,intermediate=1,vocab=1",
            "layers=10000000,hidden=10000000,heads=1,intermediate=10000000,vocab=10000000",
        ]).prop_map(str::to_string),
        1 => ".{0,48}",
        1 => "[0-9eE.+_-]{1,24}[KMBGTkmbgt]?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn any_field_map_yields_an_estimate_or_typed_errors(
        fields in prop::collection::btree_map(arb_key(), arb_value(), 0..8),
        gpus in prop_oneof![Just(0u32), 1u32..=64, Just(1 << 20), Just((1 << 20) + 1), Just(u32::MAX)],
        gpu in prop::sample::select(vec!["H100-80GB", "A100-40GB", "T4", "B200", "RTX-4090"]),
    ) {
        match request::parse_fields(&fields) {
            Ok(req) => {
                let mut job = req.job;
                job.gpus = gpus;
                let catalog = GpuCatalog::builtin();
                match estimate::estimate(&job, catalog.find(gpu).unwrap()) {
                    Ok(e) => {
                        prop_assert!(e.per_gpu.total_bytes > 0);
                        prop_assert!(e.cost_usd.is_none_or(|c| c.is_finite() && c >= 0.0), "{:?}", e.cost_usd);
                        prop_assert!(e.gpu_hours.is_none_or(|h| h.is_finite() && h >= 0.0), "{:?}", e.gpu_hours);
                    }
                    Err(invalid) => prop_assert!(invalid.0.iter().all(|p| !p.message.is_empty()), "{invalid:?}"),
                }
            }
            Err(problems) => {
                // `parse_fields` fails only with problems in it; each must say something.
                for p in problems {
                    prop_assert!(!p.message.is_empty(), "{:?}", p);
                }
            }
        }
    }
}

/// JSON values shaped like Kubernetes objects: field names from the ones the extractor reads,
/// leaves that are hostile numbers and strings.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![
            "v1",
            "batch/v1",
            "Pod",
            "Job",
            "PyTorchJob",
            "kubeflow.org/v1",
            "JobSet",
            "jobset.x-k8s.io/v1alpha2",
            "RayJob",
            "ray.io/v1",
            "LeaderWorkerSet",
            "leaderworkerset.x-k8s.io/v1",
            "MPIJob",
            "kubeflow.org/v2beta1",
            "batch.volcano.sh/v1alpha1",
            "Always",
            "1",
            "1.5",
            "abc",
            "-1",
            "8",
            "NVIDIA-H100-80GB-HBM3",
            "In",
            "81559",
        ])
        .prop_map(|s| json!(s)),
        ".{0,8}".prop_map(Value::String),
    ];
    let keys = prop::sample::select(vec![
        "apiVersion",
        "kind",
        "metadata",
        "annotations",
        "spec",
        "template",
        "containers",
        "initContainers",
        "resources",
        "limits",
        "requests",
        "nvidia.com/gpu",
        "nvidia.com/mig-3g.40gb",
        "replicas",
        "parallelism",
        "completions",
        "pytorchReplicaSpecs",
        "Worker",
        "Master",
        "mpiReplicaSpecs",
        "Launcher",
        "replicatedJobs",
        "rayClusterSpec",
        "headGroupSpec",
        "workerGroupSpecs",
        "numOfHosts",
        "tasks",
        "leaderWorkerTemplate",
        "leaderTemplate",
        "workerTemplate",
        "size",
        "nodeSelector",
        "nvidia.com/gpu.product",
        "affinity",
        "restartPolicy",
        "name",
        "vramgate.io/model",
    ]);
    leaf.prop_recursive(6, 96, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone().prop_map(str::to_string), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arb_object() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            ("v1", "Pod"),
            ("batch/v1", "Job"),
            ("kubeflow.org/v1", "PyTorchJob"),
            ("kubeflow.org/v2beta1", "MPIJob"),
            ("jobset.x-k8s.io/v1alpha2", "JobSet"),
            ("ray.io/v1", "RayJob"),
            ("ray.io/v1", "RayCluster"),
            ("batch.volcano.sh/v1alpha1", "Job"),
            ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
            ("apps/v1", "Deployment"),
        ]),
        arb_json(),
        arb_json(),
    )
        .prop_map(|((api_version, kind), spec, metadata)| {
            json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec})
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn any_json_object_yields_a_workload_unsupported_or_errors_naming_a_field(
        obj in prop_oneof![1 => arb_json(), 3 => arb_object()],
    ) {
        match workload::extract(&(&obj).into(), &Default::default()) {
            Ok(Extracted::Workload(w)) => {
                for g in &w.groups {
                    prop_assert!(obj.pointer(&g.pod_template_pointer).is_some(), "{}", g.pod_template_pointer);
                    for p in &g.gpu_limit_pointers {
                        prop_assert!(obj.pointer(p).is_some(), "{}", p);
                    }
                }
                let _ = w.total_gpus();
            }
            Ok(Extracted::Unsupported { .. }) => {}
            Err(errors) => {
                // `extract` fails only with errors in it; each must say something.
                for e in errors {
                    prop_assert!(!e.message.is_empty());
                }
            }
        }
        // And the whole review of it: a 200 that echoes the uid (it is a well-formed review).
        let body = serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u", "operation": "CREATE", "namespace": "research", "object": obj}})).unwrap();
        for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
            let a = admission::review(&Settings::default(), None, endpoint, &body);
            let v: Value = serde_json::from_slice(&a.body).unwrap();
            if obj.is_object() {
                prop_assert_eq!(a.status, 200, "{}", v);
                prop_assert_eq!(&v["response"]["uid"], "u");
            } else {
                prop_assert!(a.status == 200 || a.status == 400, "{}", v);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A bad annotation never turns a denial into an admission.

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn adding_a_bad_annotation_never_admits_a_job_that_was_denied(
        fields in arb_job_fields(),
        gpus in 1u64..=8,
        bad_key in arb_key(),
        bad_value in arb_value(),
    ) {
        let settings = Settings::from_yaml("policy: {max_cost_usd: 50000}\n").unwrap();
        let clean = job_object(&fields, gpus, 1);
        let decide = |obj: &Value| {
            let a = admission::review(&settings, None, Endpoint::Validate, &review(obj));
            a.record.expect("a 200").decision
        };
        let before = decide(&clean);
        let mut hostile_fields = fields.clone();
        let is_output = OUTPUT_KEYS.contains(&bad_key.as_str());
        hostile_fields.insert(bad_key, bad_value);
        // Only fields that are bad (or output keys, which are ignored): a valid value for an
        // input key is another job, which may legitimately fit.
        if !is_output && request::parse_fields(&hostile_fields).is_ok() {
            return Ok(());
        }
        let after = decide(&job_object(&hostile_fields, gpus, 1));
        if before == Decision::Deny {
            prop_assert_eq!(after, Decision::Deny, "{:?}", hostile_fields);
        }
    }
}
