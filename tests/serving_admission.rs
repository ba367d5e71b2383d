//! Admission of inference servers (issue 15): a Pod running vLLM, judged by whether it will
//! start on its GPUs. The serving keys are the `vramgate.io/*` annotations (reading them from
//! the container's args is the serving-deployments half of the issue). The Pod is the vLLM
//! docs' Kubernetes example (docs/deployment/k8s.md: `vllm/vllm-openai`, `vllm serve` with the
//! model as an argument) trimmed to one Pod, pinned to L40S nodes by the GPU Feature Discovery
//! label.

use crate::common::objects::review_of;
use serde_json::{Value, json};
use vramgate::admission::{self, Decision, Endpoint, Evaluation, Reason, decide::Context, decide::Operation};
use vramgate::config::Settings;
use vramgate::json::Json;

/// DeepSeek-R1-Distill-Qwen-14B at its full 131,072-token context on one L40S: 27.6 GiB of
/// weights leave about 12 GiB of KV cache, and one full-length request needs 24 GiB.
fn vllm_pod(annotations: Value, gpus: u64) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "vllm-r1-14b", "namespace": "serving", "annotations": annotations},
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L40S"},
            "containers": [{
                "name": "vllm",
                "image": "vllm/vllm-openai:v0.19.0",
                "command": ["vllm", "serve"],
                "args": ["deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "--max-model-len", "131072"],
                "ports": [{"containerPort": 8000}],
                "resources": {"limits": {"nvidia.com/gpu": gpus}}
            }]
        }
    })
}

fn serving_annotations(extra: &[(&str, &str)]) -> Value {
    let mut a = json!({
        "vramgate.io/workload": "serving",
        "vramgate.io/engine": "vllm",
        "vramgate.io/engine-version": "0.19.0",
        "vramgate.io/model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
        "vramgate.io/max-model-len": "131072"
    });
    for (k, v) in extra {
        a[format!("vramgate.io/{k}")] = json!(v);
    }
    a
}

fn evaluate(settings: &Settings, obj: &Value, endpoint: Endpoint, operation: Operation) -> Evaluation {
    let json = Json::from(obj);
    let ctx = Context { settings, namespace: Some("serving"), operation, old_object: None, endpoint, cluster: None };
    admission::evaluate(&json, &ctx)
}

#[test]
fn a_server_that_will_not_start_is_denied_with_its_numbers_and_the_fixes() {
    let settings = Settings::default();
    let e = evaluate(&settings, &vllm_pod(serving_annotations(&[]), 1), Endpoint::Validate, Operation::Create);
    assert_eq!((e.decision, e.reason), (Decision::Deny, Reason::WillNotStart), "{:?}", e.messages);
    let m = &e.messages[0];
    assert!(m.starts_with("vLLM will not start: max-model-len 131072 needs 24.0 GiB of KV cache per GPU"), "{m}");
    assert!(m.contains("on 1 x L40S") && m.contains("--max-model-len ") && m.contains("--kv-cache-dtype fp8"), "{m}");
    let s = &e.serving.as_ref().unwrap().serving;
    // 48 layers x K and V x 8 KV heads x 128 x 2 bytes per token x 131,072 tokens = 24 GiB.
    assert_eq!(s.kv_bytes_per_request, 48 * 2 * 8 * 128 * 2 * 131_072);
    assert!(s.max_model_len_that_starts.unwrap() < 131_072);
    assert_eq!(e.gpu.as_deref(), Some("L40S"));

    // The same through the webhook's bytes: denied, and the message is what kubectl shows.
    let a = admission::review(
        &settings,
        None,
        Endpoint::Validate,
        &serde_json::to_vec(&review_of(&vllm_pod(serving_annotations(&[]), 1), "CREATE", "serving")).unwrap(),
    );
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["response"]["allowed"], false);
    assert!(v["response"]["status"]["message"].as_str().unwrap().contains("vLLM will not start"), "{v}");
}

#[test]
fn on_will_not_start_warn_admits_with_the_message() {
    let settings = Settings::from_yaml("serving: {on_will_not_start: warn}\n").unwrap();
    let e = evaluate(&settings, &vllm_pod(serving_annotations(&[]), 1), Endpoint::Validate, Operation::Create);
    assert_eq!((e.decision, e.reason), (Decision::Warn, Reason::WillNotStart));
    assert!(e.messages[0].contains("vLLM will not start"));
}

#[test]
fn the_mutating_webhook_decides_to_patch_max_model_len_on_create_only() {
    let settings = Settings::from_yaml("serving: {patch_max_model_len: true}\n").unwrap();
    let pod = vllm_pod(serving_annotations(&[]), 1);
    let e = evaluate(&settings, &pod, Endpoint::Mutate, Operation::Create);
    let n = e.patch_max_model_len.expect("a patch decision");
    assert_eq!(Some(n), e.serving.as_ref().unwrap().serving.max_model_len_that_starts);
    assert_eq!((e.decision, e.reason), (Decision::Warn, Reason::Patched), "{:?}", e.messages);
    assert!(e.messages[0].starts_with(&format!("patch max-model-len to {n}")), "{:?}", e.messages);
    // At that length it starts.
    let patched = vllm_pod(serving_annotations(&[("max-model-len", &n.to_string())]), 1);
    assert_eq!(evaluate(&settings, &patched, Endpoint::Validate, Operation::Create).decision, Decision::Allow);
    // Never on UPDATE, never at the validating webhook.
    let u = evaluate(&settings, &pod, Endpoint::Mutate, Operation::Update);
    assert_eq!(u.patch_max_model_len, None);
    let v = evaluate(&settings, &pod, Endpoint::Validate, Operation::Create);
    assert_eq!((v.decision, v.patch_max_model_len), (Decision::Deny, None));
}

#[test]
fn a_server_that_starts_is_allowed_and_priced_per_hour() {
    let settings = Settings::default();
    let pod = vllm_pod(serving_annotations(&[("max-model-len", "32768")]), 1);
    let e = evaluate(&settings, &pod, Endpoint::Validate, Operation::Create);
    assert_eq!(e.decision, Decision::Allow, "{:?}", e.messages);
    let r = e.serving.unwrap();
    assert!(r.serving.starts());
    let l40s = settings.catalog.find("L40S").unwrap();
    assert_eq!(r.usd_per_hour, l40s.usd_per_hour);
}

#[test]
fn tensor_parallel_must_match_the_pods_gpus_and_an_unknown_model_needs_its_context() {
    let settings = Settings::default();
    // Two GPUs asked for, tensor-parallel 4: not a whole replica.
    let pod = vllm_pod(serving_annotations(&[("tensor-parallel", "4")]), 2);
    let e = evaluate(&settings, &pod, Endpoint::Validate, Operation::Create);
    assert_eq!((e.decision, e.reason), (Decision::Deny, Reason::MalformedAnnotation));
    assert!(e.messages[0].contains("whole replicas of tensor-parallel 4"), "{:?}", e.messages);
    // An unknown model: the architecture comes from an annotation, but nothing says its
    // context, so max-model-len is required (and named).
    let mut a = serving_annotations(&[]);
    a.as_object_mut().unwrap().remove("vramgate.io/model");
    a.as_object_mut().unwrap().remove("vramgate.io/max-model-len");
    a["vramgate.io/architecture"] = json!("layers=32,hidden=4096,heads=32,kv-heads=8,intermediate=14336,vocab=32000");
    // The container names an unknown model and no --max-model-len (the container's flags are
    // read under the annotations, so they must not say it either).
    let mut pod = vllm_pod(a, 1);
    pod["spec"]["containers"][0]["args"] = json!(["example-org/in-house-model"]);
    let e = evaluate(&settings, &pod, Endpoint::Validate, Operation::Create);
    assert_eq!(e.decision, Decision::Deny);
    assert!(e.messages.iter().any(|m| m.contains("vramgate.io/max-model-len")), "{:?}", e.messages);
}

#[test]
fn serving_keys_without_workload_serving_are_reported_not_dropped() {
    let settings = Settings::default();
    let mut a = serving_annotations(&[]);
    a["vramgate.io/workload"] = json!("inference");
    let e = evaluate(&settings, &vllm_pod(a, 1), Endpoint::Validate, Operation::Create);
    assert_eq!((e.decision, e.reason), (Decision::Deny, Reason::MalformedAnnotation));
    for key in ["engine", "engine-version", "max-model-len"] {
        assert!(
            e.messages.iter().any(|m| m.contains(&format!("vramgate.io/{key}")) && m.contains("workload serving")),
            "{key}: {:?}",
            e.messages
        );
    }
}
