//! Real manifests and the shipped examples (`deploy/examples/`) through the whole review path.

use super::*;

// ------------------------------------------------------------------ real manifests

#[test]
fn the_real_training_manifests_are_judged_once_annotated() {
    let settings = Settings::default();
    for (file, gpus) in [
        ("manifests/pytorchjob-fast-llm-mistral-4x8gpu.yaml", 32),
        ("manifests/pytorchjob-deepspeed-demo.yaml", 2),
        ("manifests/job-gpu-parallelism3-kueue.yaml", 3),
        ("manifests/rayjob-pytorch-4gpu-workers.yaml", 4),
    ] {
        let mut obj = yaml(&fixture(file));
        // As shipped they carry no vramgate annotations: counted, not judged.
        let (a, _) = validate(&settings, &obj);
        assert_eq!(record(&a), (Decision::Skip, Reason::NotAnnotated), "{file}");
        assert_eq!(a.record.unwrap().gpus_requested, gpus, "{file}: the GPUs are counted even when not judged");
        // The Fast-LLM model config: Mistral 7B shape, bf16, ZeRO-2, seq 8192, micro-batch 1.
        let anns = obj["metadata"].as_object_mut().unwrap().entry("annotations").or_insert(json!({}));
        for (k, v) in [
            ("vramgate.io/architecture", "layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000"),
            ("vramgate.io/precision", "bf16-mixed"),
            ("vramgate.io/strategy", "zero2"),
            ("vramgate.io/sequence-length", "8192"),
            ("vramgate.io/micro-batch-size", "1"),
            ("vramgate.io/gpu", "A100-80GB"),
        ] {
            anns[k] = json!(v);
        }
        let (a, v) = validate(&settings, &obj);
        let r = a.record.unwrap();
        assert_eq!(r.gpus_requested, gpus, "{file}");
        assert_eq!(r.gpu, "A100-80GB", "{file}");
        // The webhook's decision is the engine's, for the same job on the GPUs it found.
        let fields = vramgate::request::fields_from_annotations(
            &obj["metadata"]["annotations"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect(),
        );
        let mut req = vramgate::request::parse_fields(&fields).unwrap();
        req.job.gpus = u32::try_from(gpus).unwrap();
        let gpu = settings.catalog.find("A100-80GB").unwrap();
        let engine = vramgate::estimate::estimate(&req.job, gpu).unwrap();
        match engine.decision {
            vramgate::estimate::Fit::DoesNotFit => {
                assert_eq!((r.decision, r.reason), (Decision::Deny, Reason::DoesNotFit), "{file}: {v}")
            }
            vramgate::estimate::Fit::Warn => assert_eq!(r.reason, Reason::NearCapacity, "{file}: {v}"),
            vramgate::estimate::Fit::Fits => assert_ne!(r.decision, Decision::Deny, "{file}: {v}"),
        }
        assert_eq!(r.gpus_needed, engine.min_gpus, "{file}");
    }
}

// ------------------------------------------------------------------ shipped examples

#[test]
fn the_readme_curl_example_is_denied_with_the_message_the_readme_shows() {
    let root = env!("CARGO_MANIFEST_DIR");
    let body = std::fs::read(format!("{root}/deploy/examples/review-too-big-pytorchjob.json")).unwrap();
    let review: Value = serde_json::from_slice(&body).unwrap();
    // The review wraps exactly the shipped manifest.
    let manifest = yaml(&std::fs::read_to_string(format!("{root}/deploy/examples/too-big-pytorchjob.yaml")).unwrap());
    assert_eq!(review["request"]["object"], manifest);
    let a = admission::review(&Settings::default(), None, Endpoint::Validate, &body);
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    assert!(readme.contains(msg), "README must show the current denial message: {msg}");
}

#[test]
fn near_capacity_is_allowed_with_a_warning_that_it_may_run_out_of_memory() {
    // Within the estimator's error band (92-108% of the GPU): vramgate does not pretend to know.
    let ann = json!({"vramgate.io/model": "llama-2-13b", "vramgate.io/precision": "bf16-mixed",
                     "vramgate.io/strategy": "zero3", "vramgate.io/sequence-length": "4608",
                     "vramgate.io/activation-checkpointing": "false"});
    let obj = job(&ann, 2, 4, None);
    let (a, v) = validate(&Settings::default(), &obj);
    let r = a.record.unwrap();
    let settings = Settings::default();
    let gpu = settings.catalog.find("H100-80GB").unwrap();
    let fields = vramgate::request::fields_from_annotations(
        &ann.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect(),
    );
    let mut job = vramgate::request::parse_fields(&fields).unwrap().job;
    job.gpus = 8;
    let total = vramgate::estimate::memory::per_gpu(&job).total_bytes as f64;
    let share = total / gpu.memory_bytes as f64;
    assert!((vramgate::estimate::WARN_LOW..vramgate::estimate::WARN_HIGH).contains(&share), "{share}");
    assert_eq!((r.decision, r.reason), (Decision::Warn, Reason::NearCapacity));
    assert_eq!(v["response"]["allowed"], true);
    let w = v["response"]["warnings"].as_array().unwrap();
    assert!(w.iter().any(|x| x.as_str().unwrap().contains("may run out of memory")), "{w:?}");
}

#[test]
fn a_gpu_product_pinned_by_required_affinity_is_never_patched_to_another_type() {
    let (s, ann) = patch_to_h200(None);
    let affinity = |key: &str, value: &str| {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}]}}})
    };
    let mut pinned = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta(&ann), "spec": pod_spec(1, None)});
    pinned["spec"]["affinity"] = affinity("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB");
    let (a, _) = call(&s, Endpoint::Mutate, &review_of(&pinned, "CREATE", "research"));
    assert_eq!(record(&a).1, Reason::DoesNotFit, "a node selector would contradict the affinity");
    // A term on another label (whose value merely mentions the product key) pins nothing.
    let mut free = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta(&ann),
                          "spec": pod_spec(1, Some("NVIDIA-A100-SXM4-80GB"))});
    free["spec"]["affinity"] = affinity("topology.kubernetes.io/zone", "nvidia.com/gpu.product");
    let (a, _) = call(&s, Endpoint::Mutate, &review_of(&free, "CREATE", "research"));
    assert_eq!(record(&a), (Decision::Warn, Reason::Patched));
}
