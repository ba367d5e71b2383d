//! Decisions of the validating webhook: what fits, what does not, and why.

use super::*;

// ------------------------------------------------------------------ decisions

#[test]
fn every_kind_that_fits_is_allowed_on_both_operations_with_its_gpus_counted() {
    let settings = Settings::default();
    for obj in every_kind(&fits_annotations()) {
        for op in ["CREATE", "UPDATE"] {
            let (a, v) = call(&settings, Endpoint::Validate, &review_of(&obj, op, "research"));
            assert_eq!(v["response"]["allowed"], true, "{} {op}: {v}", obj["kind"]);
            let r = a.record.unwrap();
            assert_eq!((r.decision, r.reason), (Decision::Allow, Reason::Fits), "{} {op}", obj["kind"]);
            assert_eq!(r.gpus_requested, 8, "{}", obj["kind"]);
            assert_eq!(r.gpu, "H100-80GB");
            assert!(r.cost_usd.unwrap() > 0.0);
        }
    }
}

#[test]
fn too_big_for_its_gpus_is_denied_with_what_it_needs_and_the_cheapest_change() {
    // The researcher: 13B in fp32 with DDP on 8 A100s.
    let ann = json!({"vramgate.io/model": "llama-2-13b", "vramgate.io/precision": "fp32",
                     "vramgate.io/strategy": "ddp", "vramgate.io/sequence-length": "2048"});
    let obj = pytorchjob(&ann, 0, Some("NVIDIA-A100-SXM4-80GB"));
    let (a, v) = validate(&Settings::default(), &obj);
    assert_eq!(v["response"]["allowed"], false);
    assert_eq!(v["response"]["status"]["code"], 403);
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.starts_with("vramgate: needs "), "{msg}");
    let a100 = Settings::default().catalog.find("A100-80GB").unwrap().memory_bytes;
    let gib = vramgate::estimate::units::Gib(a100);
    assert!(msg.contains(&format!("per GPU with ddp on 8 x A100-80GB ({gib}); fits with zero")), "{msg}");
    // The advice keeps the 8 GPUs asked for and names the annotation to change.
    assert!(msg.contains(" on 8 GPUs ("), "{msg}");
    assert!(msg.contains("set vramgate.io/strategy=zero"), "{msg}");
    assert_eq!(record(&a), (Decision::Deny, Reason::DoesNotFit));
}

#[test]
fn the_same_breach_warns_in_warn_mode_and_is_only_counted_in_audit_mode() {
    let ann = fp32_13b_ddp();
    let obj = pytorchjob(&ann, 0, None);
    for (mode, decision, warned) in [("warn", Decision::Warn, true), ("audit", Decision::Allow, false)] {
        let s = Settings::from_yaml(&format!("namespaces:\n  research: {{mode: {mode}}}\n")).unwrap();
        let (a, v) = validate(&s, &obj);
        assert_eq!(v["response"]["allowed"], true, "{mode}");
        assert_eq!(record(&a), (decision, Reason::DoesNotFit), "{mode}");
        let warnings = v["response"]["warnings"].as_array().map_or(0, Vec::len);
        assert_eq!(warnings > 0, warned, "{mode}: {v}");
        for w in v["response"]["warnings"].as_array().into_iter().flatten() {
            assert!(w.as_str().unwrap().chars().count() <= 120, "{w}");
        }
    }
}

#[test]
fn over_the_cost_limit_is_denied_naming_cost_and_limit() {
    let s = Settings::from_yaml("namespaces:\n  research: {max_cost_usd: 1000}\n").unwrap();
    let mut ann = fits_annotations();
    ann["vramgate.io/training-tokens"] = json!("2T");
    let (a, v) = validate(&s, &job(&ann, 2, 4, None));
    assert_eq!(record(&a), (Decision::Deny, Reason::OverCostLimit));
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("over namespace 'research' limit of $1,000"), "{msg}");
    // Without a token count the cost is unknown, which a cost limit cannot accept.
    let mut ann = fits_annotations();
    ann.as_object_mut().unwrap().remove("vramgate.io/training-tokens");
    let (a, v) = validate(&s, &job(&ann, 2, 4, None));
    assert_eq!(record(&a), (Decision::Deny, Reason::CostUnknown));
    assert!(v["response"]["status"]["message"].as_str().unwrap().contains("training-tokens"));
    // Another namespace has no limit.
    let mut obj = job(&ann, 2, 4, None);
    obj["metadata"]["namespace"] = json!("default");
    let (b, _) = call(&s, Endpoint::Validate, &review_of(&obj, "CREATE", "default"));
    assert_eq!(record(&b), (Decision::Allow, Reason::Fits));
}

#[test]
fn far_more_gpus_than_needed_warns_with_the_gpus_and_dollars_wasted() {
    let ann = json!({"vramgate.io/model": "llama-2-7b", "vramgate.io/precision": "bf16-mixed",
                     "vramgate.io/strategy": "zero3", "vramgate.io/activation-checkpointing": "true",
                     "vramgate.io/training-tokens": "20B"});
    let (a, v) = validate(&Settings::default(), &job(&ann, 8, 8, None));
    assert_eq!(record(&a), (Decision::Warn, Reason::Overprovisioned));
    let r = a.record.unwrap();
    assert_eq!(r.gpus_requested, 64);
    let needed = r.gpus_needed.unwrap();
    assert!(needed < 32, "{needed}");
    let w = v["response"]["warnings"].as_array().unwrap();
    let text: Vec<&str> = w.iter().map(|x| x.as_str().unwrap()).collect();
    let joined = text.join(" ");
    assert!(joined.contains("asks for 64 GPUs but fits on"), "{joined}");
    assert!(joined.contains(&format!("the {} extra cost $", 64 - needed)), "{joined}");
    let waste = r.overprovisioned_cost_usd.unwrap();
    let expect = r.cost_usd.unwrap() * f64::from(64 - needed) / 64.0;
    assert!((waste - expect).abs() < 1e-6);
}

#[test]
fn malformed_annotations_are_all_reported_together_naming_key_value_and_accepted_forms() {
    let ann = json!({"vramgate.io/model": "llama-2-7b", "vramgate.io/precision": "fp64",
                     "vramgate.io/micro-batch-size": "lots", "vramgate.io/stratgey": "zero3"});
    let (a, v) = validate(&Settings::default(), &job(&ann, 1, 8, None));
    assert_eq!(record(&a), (Decision::Deny, Reason::MalformedAnnotation));
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    // An unknown key is reported with its likely meaning, and hides none of the other
    // problems (issue 14): every bad value at once.
    assert!(msg.contains("vramgate.io/stratgey: unknown key; did you mean `strategy`?"), "{msg}");
    assert!(msg.contains("vramgate.io/precision: 'fp64' is not accepted; accepted:"), "{msg}");
    assert!(msg.contains("vramgate.io/micro-batch-size: 'lots'"), "{msg}");
    // In warn mode the same object is admitted with the same messages as warnings.
    let s = Settings::from_yaml("policy: {mode: warn}\n").unwrap();
    let (a, v) = validate(&s, &job(&ann, 1, 8, None));
    assert_eq!(record(&a), (Decision::Warn, Reason::MalformedAnnotation));
    let w = v["response"]["warnings"].as_array().unwrap();
    assert!(w.iter().any(|x| x.as_str().unwrap().contains("vramgate.io/precision")), "{w:?}");
}

#[test]
fn a_malformed_gpu_field_in_an_annotated_object_is_denied_with_its_path() {
    let mut obj = job(&fits_annotations(), 1, 8, None);
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = json!("eight");
    let (a, v) = validate(&Settings::default(), &obj);
    assert_eq!(record(&a), (Decision::Deny, Reason::MalformedObject));
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu"), "{msg}");
    // Not annotated and not required: not ours, left to Kubernetes.
    obj["metadata"]["annotations"] = json!({});
    let (a, _) = validate(&Settings::default(), &obj);
    assert_eq!(record(&a), (Decision::Skip, Reason::NotAnnotated));
}

#[test]
fn an_unknown_gpu_product_is_reported_never_guessed() {
    let (a, v) = validate(&Settings::default(), &job(&fits_annotations(), 1, 8, Some("NVIDIA-Mystery-9000")));
    assert_eq!(record(&a), (Decision::Deny, Reason::UnknownGpu));
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("'NVIDIA-Mystery-9000' is not in the GPU catalog"), "{msg}");
    let mut ann = fits_annotations();
    ann["vramgate.io/gpu"] = json!("H100-90GB");
    let (a, v) = validate(&Settings::default(), &job(&ann, 1, 8, None));
    assert_eq!(record(&a), (Decision::Deny, Reason::UnknownGpu));
    assert!(v["response"]["status"]["message"].as_str().unwrap().contains("closest: "));
}

#[test]
fn the_gpu_comes_from_the_node_selector_then_the_annotation_then_the_namespace_default() {
    let s = Settings::from_yaml("namespaces:\n  research: {default_gpu: A100-80GB}\n").unwrap();
    let gpu_of = |obj: &Value| validate(&s, obj).0.record.unwrap().gpu;
    assert_eq!(gpu_of(&job(&fits_annotations(), 1, 8, None)), "A100-80GB");
    let mut ann = fits_annotations();
    ann["vramgate.io/gpu"] = json!("h200");
    assert_eq!(gpu_of(&job(&ann, 1, 8, None)), "H200");
    assert_eq!(gpu_of(&job(&ann, 1, 8, Some("NVIDIA-H100-80GB-HBM3"))), "H100-80GB");
    // The disagreement is said, not silently resolved.
    let (_, v) = validate(&s, &job(&ann, 1, 8, Some("NVIDIA-H100-80GB-HBM3")));
    let w = v["response"]["warnings"].as_array().unwrap();
    assert!(w.iter().any(|x| x.as_str().unwrap().contains("vramgate.io/gpu=h200 ignored")), "{w:?}");
}

#[test]
fn a_mig_slice_is_judged_on_its_own_memory() {
    let mut obj = job(&fits_annotations(), 1, 0, Some("NVIDIA-A100-SXM4-80GB-MIG-3g.40gb"));
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = json!({"nvidia.com/mig-3g.40gb": 1});
    let (a, _) = validate(&Settings::default(), &obj);
    let r = a.record.unwrap();
    assert_eq!(r.gpu, "A100-80GB MIG 3g.40gb");
    assert_eq!(r.gpus_requested, 1);
    // A 7B model's full training states do not fit 40 GB.
    assert_eq!((r.decision, r.reason), (Decision::Deny, Reason::DoesNotFit));
}

#[test]
fn required_annotations_turn_an_unannotated_gpu_job_into_a_breach() {
    let obj = job(&json!({}), 1, 8, None);
    let (a, _) = validate(&Settings::default(), &obj);
    assert_eq!(record(&a), (Decision::Skip, Reason::NotAnnotated));
    let s = Settings::from_yaml("policy: {require_annotations: true}\n").unwrap();
    let (a, v) = validate(&s, &obj);
    assert_eq!(record(&a), (Decision::Deny, Reason::AnnotationsRequired));
    assert!(v["response"]["status"]["message"].as_str().unwrap().contains("vramgate.io/model"));
}

#[test]
fn an_update_that_changes_no_gpu_field_is_not_re_judged() {
    // Admitted under an old policy, it must still be able to lose its finalizers.
    let ann = fp32_13b_ddp();
    let old = job(&ann, 1, 8, None);
    let mut new = old.clone();
    new["metadata"]["finalizers"] = json!([]);
    let mut review = review_of(&new, "UPDATE", "research");
    review["request"]["oldObject"] = old.clone();
    let (a, _) = call(&Settings::default(), Endpoint::Validate, &review);
    assert_eq!(record(&a), (Decision::Skip, Reason::Unchanged));
    // Kueue unsuspending with a node selector is a real change and is judged.
    new["spec"]["template"]["spec"]["nodeSelector"] = json!({"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"});
    review["request"]["object"] = new;
    let (a, _) = call(&Settings::default(), Endpoint::Validate, &review);
    assert_eq!(record(&a), (Decision::Deny, Reason::DoesNotFit));
}

#[test]
fn dry_run_is_answered_the_same_and_marked_so_metrics_do_not_count_it() {
    let mut review = review_of(&job(&fits_annotations(), 1, 8, None), "CREATE", "research");
    review["request"]["dryRun"] = json!(true);
    let (a, v) = call(&Settings::default(), Endpoint::Validate, &review);
    assert_eq!(v["response"]["allowed"], true);
    let r = a.record.unwrap();
    assert!(r.dry_run);
    assert!(!r.counts_as_admission());
}
