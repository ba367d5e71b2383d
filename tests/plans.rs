//! Issue 14, advice: one plan search under an explicit objective, the same from `vramgate
//! estimate`, `vramgate check` and the webhook; wall-clock time capped; inference plans that
//! search tensor parallelism and quantisation; micro-batch and LoRA precision advice.

use crate::common::engine::{gpu, preset_job, readme_job};
use crate::common::objects::{gpu_job, review_of};
use crate::common::{vramgate, vramgate_json};
use serde_json::{Value, json};
use vramgate::admission::{self, Endpoint};
use vramgate::config::Settings;
use vramgate::estimate::*;

fn search<'a>(g: &'a GpuSpec, objective: Objective, max_plan_hours: f64) -> PlanSearch<'a> {
    PlanSearch {
        gpus: vec![g],
        counts: GpuCounts::multiples(1, 1024),
        objective,
        max_plan_hours,
        change_settings: true,
    }
}

#[test]
fn for_the_readme_example_objective_cost_finds_the_cheaper_plan_than_objective_gpus() {
    // The example runs 79 years on 8 GPUs; the cap is lifted here to compare the rankings alone.
    let (job, g) = (readme_job(), gpu("A100-80GB"));
    let by_gpus = plan::search(&job, &search(&g, Objective::Gpus, f64::INFINITY)).unwrap();
    let by_cost = plan::search(&job, &search(&g, Objective::Cost, f64::INFINITY)).unwrap();
    assert!(by_gpus.gpus <= by_cost.gpus, "{by_gpus:?} {by_cost:?}");
    // Fewest GPUs needs activation checkpointing, which recomputes the forward: 8·N·D FLOPs
    // instead of 6·N·D (compute.rs), so it costs 8/6 of a plan without it.
    assert_eq!(by_gpus.activation_checkpointing, Some(true));
    assert_eq!(by_cost.activation_checkpointing, Some(false));
    let (cg, cc) = (by_gpus.cost_usd.unwrap(), by_cost.cost_usd.unwrap());
    assert!(cc < cg);
    assert!((cg / cc - 8.0 / 6.0).abs() < 1e-9, "{cg} / {cc}");
    // Without recomputation the plan's FLOPs are the job's own: it costs what the job as
    // asked would, on the same GPU type.
    let own = estimate(&job, &g).unwrap().cost_usd.unwrap();
    assert!((cc - own).abs() <= 1e-9 * own, "{cc} vs {own}");
}

#[test]
fn no_plan_runs_longer_than_the_cap_and_the_readme_example_gets_none() {
    let (job, g) = (readme_job(), gpu("A100-80GB"));
    // 5.56M GPU-hours (fp32 on A100: 19.5 TFLOP/s at 40% MFU) are 5,431 h on 1024 GPUs.
    assert!(plan::search(&job, &search(&g, Objective::Cost, plan::DEFAULT_MAX_PLAN_HOURS)).is_none());
    let (p, shortest) =
        plan::over_time_limit(&job, &search(&g, Objective::Cost, plan::DEFAULT_MAX_PLAN_HOURS)).unwrap();
    assert!(shortest > plan::DEFAULT_MAX_PLAN_HOURS && p.gpu_hours.unwrap() / 1024.0 == shortest);
    // Llama 2 7B in bf16 over 2T tokens on H100: 6·6.74e9·2e12 / (989e12·0.4) / 3600 = 56.8k
    // GPU-hours; within 2,160 h takes at least 27 GPUs, more than memory needs.
    let mut job = preset_job("llama-2-7b");
    job.training_tokens = Some(2e12);
    let h100 = gpu("H100-80GB");
    let gpu_hours = 6.0 * job.model.active_params() as f64 * 2e12 / (h100.dense_bf16_flops * 0.4) / 3600.0;
    for objective in Objective::ALL {
        let p = plan::search(&job, &search(&h100, *objective, 2160.0)).unwrap();
        assert!(p.wall_hours.unwrap() <= 2160.0, "{p:?}");
        assert!(f64::from(p.gpus) >= (gpu_hours / 2160.0).ceil(), "{p:?}");
    }
}

#[test]
fn cli_check_and_webhook_return_the_same_plan_for_the_same_job_and_objective() {
    let annotations = json!({
        "vramgate.io/model": "llama-2-13b",
        "vramgate.io/precision": "fp32",
        "vramgate.io/training-tokens": "20B",
        "vramgate.io/objective": "gpus",
    });
    // Eight pods of one GPU: the scaling step is one GPU, as the CLI's.
    let job = gpu_job("same-plan", annotations, 8, 1, Some("NVIDIA-A100-SXM4-80GB"));
    let (code, cli, err) = vramgate_json(&[
        "estimate",
        "--model",
        "llama-2-13b",
        "--precision",
        "fp32",
        "--training-tokens",
        "20B",
        "--objective",
        "gpus",
        "--gpu",
        "A100-80GB",
        "--gpus",
        "8",
    ]);
    assert_eq!(code, 1, "{err}");
    let cli_plan = &cli["plan"];
    assert!(cli_plan.is_object(), "{cli}");
    assert!(cli.get("cheapest_plan").is_none(), "renamed to plan");

    let settings = Settings::default();
    let checked = vramgate::check::check_objects("x.yaml", std::slice::from_ref(&job), &settings, "research");
    let check_json = serde_json::to_value(&checked[0]).unwrap();
    assert_eq!(&check_json["estimate"]["plan"], cli_plan);

    let review = serde_json::to_vec(&review_of(&job, "CREATE", "research")).unwrap();
    let a = admission::review(&settings, None, Endpoint::Validate, &review);
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains(&format!("on {} GPUs", cli_plan["gpus"])), "{msg} / {cli_plan}");
    assert!(msg.contains("objective gpus"), "{msg}");
    for change in cli_plan["changes"].as_array().unwrap() {
        let kv = format!("vramgate.io/{}={}", change[0].as_str().unwrap(), change[1].as_str().unwrap());
        assert!(msg.contains(&kv), "{msg} lacks {kv}");
    }
}

#[test]
fn the_namespace_objective_is_the_default_and_the_annotation_overrides_it() {
    let settings = Settings::from_yaml("namespaces:\n  research:\n    objective: gpus\n").unwrap();
    let message = |annotations: Value| {
        let job = gpu_job("ns", annotations, 8, 1, Some("NVIDIA-A100-SXM4-80GB"));
        let review = serde_json::to_vec(&review_of(&job, "CREATE", "research")).unwrap();
        let a = admission::review(&settings, None, Endpoint::Validate, &review);
        let v: Value = serde_json::from_slice(&a.body).unwrap();
        v["response"]["status"]["message"].as_str().unwrap().to_string()
    };
    let base = json!({"vramgate.io/model": "llama-2-13b", "vramgate.io/precision": "fp32", "vramgate.io/training-tokens": "20B"});
    assert!(message(base.clone()).contains("objective gpus"));
    let mut own = base;
    own["vramgate.io/objective"] = json!("time");
    assert!(message(own).contains("objective time"));
    let e = format!("{:?}", Settings::from_yaml("policy:\n  objective: fastest\n").unwrap_err());
    assert!(e.contains("objective"), "{e}");
}

#[test]
fn inference_that_does_not_fit_is_planned_with_tensor_parallelism_or_quantisation_never_training() {
    let mut job = preset_job("llama-3.1-70b");
    job.workload = WorkloadKind::Inference;
    job.gpus = 4;
    let h100 = gpu("H100-80GB");
    assert_eq!(estimate(&job, &h100).unwrap().decision, Fit::DoesNotFit);
    // 70.6B bf16 weights are 141 GB: half of them (65.7 GiB) are within the warn band of an
    // H100's 79.2 GiB with the CUDA context and allocator reserve; a quarter fits.
    let mut tp = job.clone();
    (tp.tensor_parallel, tp.gpus) = (2, 2);
    assert_ne!(estimate(&tp, &h100).unwrap().decision, Fit::DoesNotFit);
    (tp.tensor_parallel, tp.gpus) = (4, 4);
    assert_eq!(estimate(&tp, &h100).unwrap().decision, Fit::Fits);
    for objective in Objective::ALL {
        let p = plan::search(&job, &search(&h100, *objective, plan::DEFAULT_MAX_PLAN_HOURS)).unwrap();
        assert!(p.tensor_parallel > 1 || p.weight_quantization != WeightQuantization::None, "{p:?}");
        assert_eq!((p.strategy, p.activation_checkpointing, p.gradient_accumulation_steps), (None, None, None));
        assert!(p.changes.iter().all(|(k, _)| k == "tensor-parallel" || k == "weight-quantization"), "{p:?}");
    }
    // The webhook names the same kind of change, never LoRA or ZeRO.
    let obj = gpu_job(
        "serve",
        json!({"vramgate.io/model": "llama-3.1-70b", "vramgate.io/workload": "inference"}),
        1,
        4,
        Some("NVIDIA-H100-80GB-HBM3"),
    );
    let review = serde_json::to_vec(&review_of(&obj, "CREATE", "research")).unwrap();
    let a = admission::review(&Settings::default(), None, Endpoint::Validate, &review);
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("tensor-parallel") || msg.contains("weight-quantization"), "{msg}");
    for training in ["LoRA", "zero3", "checkpointing", "ddp"] {
        assert!(!msg.contains(training), "{msg}");
    }
}

#[test]
fn estimate_for_inference_prints_no_training_fields() {
    let args = ["estimate", "--model", "llama-3.1-70b", "--workload", "inference", "--gpus", "4"];
    let (code, table, err) = vramgate(&args);
    assert_eq!(code, 1, "{err}");
    for training in ["ddp", "checkpointing", "adamw"] {
        assert!(!table.contains(training), "{training} in:\n{table}");
    }
    assert!(table.contains("fits with"), "{table}");
    let (_, json, _) = vramgate(&[&args[..], &["--output", "json"]].concat());
    assert!(!json.contains("ddp") && !json.contains("\"strategy\""), "{json}");
}

#[test]
fn an_activation_bound_job_is_offered_a_smaller_micro_batch_with_the_accumulation_that_keeps_the_batch() {
    let mut job = preset_job("llama-2-7b");
    (job.micro_batch_size, job.sequence_length, job.strategy, job.gpus) = (16, 4096, Strategy::Zero3, 8);
    assert!(plan::activation_bound(&job), "{:?}", memory::per_gpu(&job));
    let h100 = gpu("H100-80GB");
    let p = plan::search(&job, &search(&h100, Objective::Gpus, plan::DEFAULT_MAX_PLAN_HOURS)).unwrap();
    assert!(p.micro_batch_size < 16, "{p:?}");
    assert_eq!(p.micro_batch_size * p.gradient_accumulation_steps.unwrap(), 16);
    assert!(p.changes.contains(&("micro-batch-size".to_string(), p.micro_batch_size.to_string())));
    // The plan fits as stated.
    let mut fixed = job.clone();
    (fixed.micro_batch_size, fixed.activation_checkpointing, fixed.gpus) =
        (p.micro_batch_size, p.activation_checkpointing.unwrap(), p.gpus);
    fixed.strategy = p.strategy.unwrap();
    assert_eq!(estimate(&fixed, &h100).unwrap().decision, Fit::Fits);
    // A job bound by its model states (13B fp32 DDP at micro-batch 4) is never told to shrink
    // its micro-batch: that would not free the memory it lacks.
    let mut states = readme_job();
    states.micro_batch_size = 4;
    assert!(!plan::activation_bound(&states));
    let p = plan::search(&states, &search(&gpu("A100-80GB"), Objective::Gpus, f64::INFINITY)).unwrap();
    assert_eq!((p.micro_batch_size, p.gradient_accumulation_steps), (4, None));
}

#[test]
fn lora_under_mixed_precision_is_offered_bf16_base_weights_and_qlora_explains_its_precision() {
    let mut job = preset_job("llama-3.1-8b");
    job.fine_tuning.kind = FineTuningKind::Lora;
    let l4 = gpu("L4");
    let e = estimate(&job, &l4).unwrap();
    assert!(e.notes.iter().any(|n| n.contains("bf16-true") && n.contains("fp32")), "{:?}", e.notes);
    // bf16-mixed keeps the frozen base in fp32 (4 bytes a weight), bf16-true in 2: the
    // weights term halves but for the fp32 adapters.
    let mut bf16 = job.clone();
    bf16.precision = Precision::Bf16True;
    let (w32, w16) = (memory::per_gpu(&job).weights_bytes, memory::per_gpu(&bf16).weights_bytes);
    let adapters = job.lora_params() * 4;
    assert_eq!((w32 - adapters) / 2, w16 - adapters);
    let p = plan::search(&job, &search(&l4, Objective::Gpus, plan::DEFAULT_MAX_PLAN_HOURS)).unwrap();
    assert_eq!(p.precision, Precision::Bf16True, "{p:?}");
    // QLoRA's memory does not depend on the precision given, and the estimate says so.
    let mut q = preset_job("llama-2-7b");
    q.fine_tuning.kind = FineTuningKind::Qlora;
    let mut q32 = q.clone();
    q32.precision = Precision::Fp32;
    assert_eq!(memory::per_gpu(&q).total_bytes, memory::per_gpu(&q32).total_bytes);
    let e = estimate(&q32, &gpu("A100-80GB")).unwrap();
    assert!(
        e.notes.iter().any(|n| n.starts_with("qlora: precision fp32") && n.contains("compute dtype")),
        "{:?}",
        e.notes
    );
}
