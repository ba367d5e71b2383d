//! Admission of inference servers (issue 15): a Pod running vLLM, judged by whether it will
//! start on its GPUs. The serving keys come from the containers' command, args, env and image
//! tag, with `vramgate.io/*` annotations over them. The Pod is the vLLM
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

// ---- real deployments (tests/fixtures/manifests/serving/, origins in tests/fixtures/README.md):
// the server, model and flags are read from the containers; annotations add what they do not say.

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/manifests/serving/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn annotate(obj: &mut Value, kv: &[(&str, &str)]) {
    let meta = obj["metadata"].as_object_mut().unwrap();
    let ann = meta.entry("annotations").or_insert_with(|| json!({}));
    for (k, v) in kv {
        ann[format!("vramgate.io/{k}")] = json!(v);
    }
}

/// The vLLM docs' Deployment (`sh -c "vllm serve mistralai/Mistral-7B-Instruct-v0.3 ..."`, no
/// --max-model-len, so the model's 32,768) on an L4 at gpu-memory-utilization 0.75: 13.5 GiB of
/// weights leave about 3 GiB of KV cache, under the 4 GiB one full-length request needs (32
/// layers x K and V x 8 KV heads x 128 x 2 bytes = 128 KiB per token). Denied with the length
/// that starts; with `serving.patch_max_model_len` the mutating webhook writes that length into
/// the container's script instead, and the patched Deployment is allowed.
#[test]
fn the_vllm_docs_deployment_that_will_not_start_is_denied_or_patched_to_the_length_that_starts() {
    let mut d = fixture("deployment-vllm-mistral-7b-k8s-docs.yaml");
    annotate(
        &mut d,
        &[("workload", "serving"), ("engine-version", "0.19.0"), ("gpu", "L4"), ("gpu-memory-utilization", "0.75")],
    );
    let e = evaluate(&Settings::default(), &d, Endpoint::Validate, Operation::Create);
    assert_eq!((e.decision, e.reason), (Decision::Deny, Reason::WillNotStart), "{:?}", e.messages);
    let s = &e.serving.as_ref().unwrap().serving;
    assert_eq!(s.max_model_len, 32_768, "read from the model, since the script does not say");
    assert_eq!(s.kv_bytes_per_token, 32 * 2 * 8 * 128 * 2);
    assert_eq!(s.max_num_batched_tokens, 1024, "--max_num_batched_tokens in the script");
    let n = s.max_model_len_that_starts.unwrap();
    assert!(n < 32_768 && e.messages[0].contains(&format!("--max-model-len {n}")), "{:?}", e.messages);

    let settings = Settings::from_yaml("serving: {patch_max_model_len: true}\n").unwrap();
    let m = evaluate(&settings, &d, Endpoint::Mutate, Operation::Create);
    assert_eq!((m.decision, m.patch_max_model_len), (Decision::Warn, Some(n)), "{:?}", m.messages);
    let ops: json_patch::Patch =
        serde_json::from_slice(&vramgate::admission::patch::to_json(&m.patch)).expect("a JSON patch");
    let mut patched = d.clone();
    json_patch::patch(&mut patched, &ops).expect("the patch applies to the Deployment");
    let script = patched["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str().unwrap();
    assert!(script.starts_with("vllm serve mistralai/Mistral-7B-Instruct-v0.3 "), "{script}");
    assert!(script.contains(&format!("--max-model-len={n}")), "{script}");
    let after = evaluate(&settings, &patched, Endpoint::Validate, Operation::Create);
    assert_eq!(after.decision, Decision::Allow, "{:?}", after.messages);
    assert_eq!(after.serving.unwrap().serving.max_model_len, n);
}

/// A server known only from annotations (no container names it) is not patched: it is judged as
/// if patching were off, and the message says why.
#[test]
fn a_server_known_only_from_annotations_is_not_patched_and_says_why() {
    let settings = Settings::from_yaml("serving: {patch_max_model_len: true}\n").unwrap();
    let mut pod = vllm_pod(serving_annotations(&[]), 1);
    pod["spec"]["containers"][0]["command"] = json!(["/opt/launch.sh"]);
    pod["spec"]["containers"][0]["args"] = json!([]);
    let e = evaluate(&settings, &pod, Endpoint::Mutate, Operation::Create);
    assert_eq!((e.decision, e.reason, e.patch_max_model_len), (Decision::Deny, Reason::WillNotStart, None));
    assert!(e.messages[0].contains("max-model-len not patched: the containers' command does not name the server"));
}

/// LWS's vLLM example: Llama 3.1 405B at tensor-parallel 8 x pipeline-parallel 2 over a leader
/// and a worker of 8 GPUs each, read from the leader's `sh -c` script.
#[test]
fn the_lws_example_is_read_from_the_leaders_script_as_tp8_pp2() {
    let mut lws = fixture("lws-vllm-llama-3.1-405b-tp8-pp2.yaml");
    annotate(&mut lws, &[("workload", "serving")]);
    let e = evaluate(&Settings::default(), &lws, Endpoint::Validate, Operation::Create);
    let s = &e.serving.as_ref().expect("judged as a server").serving;
    assert_eq!((s.tensor_parallel, s.pipeline_parallel, s.gpus_per_replica), (8, 2, 16), "{:?}", e.messages);
    assert_eq!(e.gpus_requested, 32, "2 groups of a leader and a worker, 8 GPUs each");
    assert_ne!(e.decision, Decision::Deny, "{:?}", e.messages);
}

/// KServe's sample loads its model from `s3://`: the model is unknown, and the denial asks for it.
#[test]
fn the_kserve_sample_with_a_model_in_s3_is_denied_asking_for_the_model() {
    let mut isvc = fixture("inferenceservice-kserve-llama-3.1-8b-s3.yaml");
    annotate(&mut isvc, &[("workload", "serving")]);
    let e = evaluate(&Settings::default(), &isvc, Endpoint::Validate, Operation::Create);
    assert_eq!(e.decision, Decision::Deny, "{:?}", e.messages);
    assert!(e.messages.iter().any(|m| m.contains("s3://") && m.contains("vramgate.io/model")), "{:?}", e.messages);
}
