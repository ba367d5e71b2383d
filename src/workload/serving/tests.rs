//! Serving extraction on the public examples under `tests/fixtures/manifests/serving/` and on
//! inline objects for each command form, engine and failure.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Engine, Serving, max_model_len_patch, merge};
use crate::workload::{ExtractConfig, Extracted, Workload, extract};

const VLLM_DOCS: &str =
    include_str!("../../../tests/fixtures/manifests/serving/deployment-vllm-mistral-7b-k8s-docs.yaml");
const LWS: &str = include_str!("../../../tests/fixtures/manifests/serving/lws-vllm-llama-3.1-405b-tp8-pp2.yaml");
const KSERVE_S3: &str =
    include_str!("../../../tests/fixtures/manifests/serving/inferenceservice-kserve-llama-3.1-8b-s3.yaml");
const KSERVE_HF: &str =
    include_str!("../../../tests/fixtures/manifests/serving/inferenceservice-kserve-llama-2-7b-hf-backend.yaml");

fn workload(obj: &Value) -> Workload {
    match extract(&obj.into(), &ExtractConfig::default()) {
        Ok(Extracted::Workload(w)) => w,
        other => panic!("expected a workload, got {other:?}"),
    }
}

fn yaml(text: &str) -> Workload {
    workload(&serde_yaml_ng::from_str(text).expect("fixture is valid YAML"))
}

fn serving(w: &Workload) -> &Serving {
    w.serving.as_deref().unwrap_or_else(|| panic!("no server found in {w:#?}"))
}

/// key -> (value, pointer).
fn keys(s: &Serving) -> BTreeMap<&str, (&str, &str)> {
    s.keys.iter().map(|(k, v)| (k.as_str(), (v.value.as_str(), v.pointer.as_str()))).collect()
}

/// The server found in `w`, which must run `engine`, and its keys.
fn server(w: &Workload, engine: Engine) -> (&Serving, BTreeMap<&str, (&str, &str)>) {
    let s = serving(w);
    assert_eq!(s.engine, engine, "{s:#?}");
    (s, keys(s))
}

/// A Deployment of `replicas` pods, one container with `container` merged in and `gpus` GPUs.
fn deployment(replicas: u64, gpus: u64, container: Value) -> Value {
    let mut c = json!({"name": "server", "resources": {"limits": {"nvidia.com/gpu": gpus}}});
    for (k, v) in container.as_object().unwrap() {
        c[k] = v.clone();
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ml"},
           "spec": {"replicas": replicas, "template": {"spec": {"containers": [c]}}}})
}

const C: &str = "/spec/template/spec/containers/0";

#[test]
fn the_vllm_docs_deployment_reads_model_and_flags_from_its_sh_c_script() {
    let w = yaml(VLLM_DOCS);
    assert_eq!((w.replicas, w.total_gpus()), (1, 1));
    let (s, k) = server(&w, Engine::Vllm);
    let script = format!("{C}/args/0");
    assert_eq!(k["model"], ("mistralai/Mistral-7B-Instruct-v0.3", script.as_str()));
    // `--max_num_batched_tokens`: vLLM's parser takes underscores for dashes.
    assert_eq!(k["max-num-batched-tokens"], ("1024", script.as_str()));
    assert_eq!(k["workload"].0, "serving");
    assert!(s.keys["model"].via.contains("shell word 2"), "{:?}", s.keys["model"]);
    // `:latest` names no version, and it says so.
    assert!(!k.contains_key("engine-version"));
    assert!(s.notes.iter().any(|n| n.contains("'latest'")), "{:?}", s.notes);
    assert_eq!(s.ignored_flags, ["--trust-remote-code", "--enable-chunked-prefill"]);
    assert!(s.problems.is_empty() && s.unknown_flags.is_empty(), "{s:#?}");
    // No max-model-len: appended to the script's server command.
    let ops = max_model_len_patch(s, 8192).unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!((ops[0].op, ops[0].path.as_str()), ("replace", script.as_str()));
    assert_eq!(
        ops[0].value,
        "vllm serve mistralai/Mistral-7B-Instruct-v0.3 --trust-remote-code --enable-chunked-prefill \
         --max_num_batched_tokens 1024 --max-model-len=8192"
    );
}

#[test]
fn the_lws_example_reads_tp_and_pp_from_the_leader_script_and_fills_the_group() {
    let w = yaml(LWS);
    assert_eq!(w.replicas, 2);
    let (s, k) = server(&w, Engine::Vllm);
    assert_eq!(s.container_pointer, "/spec/leaderWorkerTemplate/leaderTemplate/spec/containers/0");
    assert_eq!(k["model"].0, "meta-llama/Llama-3.1-405B-Instruct");
    assert_eq!(k["tensor-parallel"].0, "8");
    assert_eq!(k["pipeline-parallel"].0, "2", "--pipeline_parallel_size");
    assert_eq!(k["engine-version"], ("0.8.5", "/spec/leaderWorkerTemplate/leaderTemplate/spec/containers/0/image"));
    // 8 x 2 = 16 GPUs: 8 on the leader and 8 on its one worker, so no problem; the first
    // command of the script (ray's start, with a `$(LWS_GROUP_SIZE)` Kubernetes leaves to
    // LWS) is not the server and is not read.
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.ignored_flags, ["--port 8080"]);
    let ops = max_model_len_patch(s, 32768).unwrap();
    let text = ops[0].value.as_str().unwrap();
    assert!(text.ends_with("--tensor-parallel-size 8 --pipeline_parallel_size 2 --max-model-len=32768"), "{text}");
    assert!(text.starts_with("bash /vllm-workspace/examples/online_serving/multi-node-serving.sh leader"));
}

#[test]
fn a_kserve_huggingface_predictor_is_vllm_and_a_model_in_s3_needs_an_annotation() {
    let w = yaml(KSERVE_S3);
    // minReplicas 0 scales to zero; one pod is what must fit when it scales up.
    assert_eq!((w.replicas, w.total_gpus()), (1, 1));
    let (s, k) = server(&w, Engine::Vllm);
    assert_eq!(k["max-model-len"], ("1024", "/spec/predictor/model/args/1"));
    assert_eq!(k["gpu-memory-utilization"].0, "0.95");
    assert_eq!(k["tensor-parallel"].0, "1");
    assert_eq!(k["enforce-eager"].0, "true");
    assert!(!k.contains_key("model"));
    assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
    assert_eq!(
        (s.problems[0].key.as_deref(), s.problems[0].path.as_str()),
        (Some("model"), "/spec/predictor/model/storageUri")
    );
    assert!(s.problems[0].message.contains("s3://") && s.problems[0].message.contains("vramgate.io/hf-config"));
    // An architecture annotation settles it.
    let annotated: BTreeMap<String, String> = [("architecture".to_owned(), "layers=32,hidden=4096".to_owned())].into();
    assert!(merge(Some(s), &annotated).problems.is_empty());
    // KServe's runtime image is not in the object: its vLLM version is unknown, not guessed.
    assert!(!k.contains_key("engine-version"));
    let ops = max_model_len_patch(s, 512).unwrap();
    assert_eq!((ops[0].path.as_str(), &ops[0].value), ("/spec/predictor/model/args/1", &json!("--max-model-len=512")));
}

#[test]
fn a_kserve_predictor_on_the_transformers_backend_is_not_a_vllm_server() {
    let w = yaml(KSERVE_HF);
    assert_eq!(w.total_gpus(), 1);
    assert!(w.serving.is_none(), "--backend=huggingface runs Transformers: {:?}", w.serving);
}

#[test]
fn an_args_only_container_of_the_vllm_image_is_vllm_serve_with_a_positional_model() {
    let w = workload(&deployment(
        3,
        2,
        json!({"image": "vllm/vllm-openai:v0.6.4",
               "args": ["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192", "-tp", "2", "--dtype", "bfloat16"]}),
    ));
    assert_eq!((w.replicas, w.groups[0].gpus_per_pod), (3, 2), "replicas multiply pods, not GPUs per pod");
    let (s, k) = server(&w, Engine::Vllm);
    assert_eq!(k["model"], ("meta-llama/Llama-3.1-8B-Instruct", "/spec/template/spec/containers/0/args/0"));
    assert_eq!(k["max-model-len"], ("8192", "/spec/template/spec/containers/0/args/2"));
    assert_eq!(k["tensor-parallel"], ("2", "/spec/template/spec/containers/0/args/4"));
    assert_eq!(k["precision"].0, "bf16");
    assert_eq!(k["engine-version"].0, "0.6.4");
    let ops = max_model_len_patch(s, 4096).unwrap();
    assert_eq!(
        (ops[0].op, ops[0].path.as_str(), &ops[0].value),
        ("replace", "/spec/template/spec/containers/0/args/2", &json!("4096"))
    );
}

#[test]
fn python_m_api_server_reads_joined_flags_and_names_what_vllm_would_refuse() {
    let w = workload(&deployment(
        1,
        1,
        json!({"image": "registry.local/llm:1.2",
               "command": ["python3", "-u", "-m", "vllm.entrypoints.openai.api_server"],
               "args": ["--model=Qwen/Qwen2.5-7B-Instruct", "--max-model-len=16k", "--enforce-eager=true",
                        "--port", "8000", "--frobnicate", "x", "stray", "--kv-cache-dtype"]}),
    ));
    let (s, k) = server(&w, Engine::Vllm);
    assert_eq!(k["model"].0, "Qwen/Qwen2.5-7B-Instruct");
    assert_eq!(k["max-model-len"].0, "16000", "vLLM's human-readable 16k");
    assert!(!k.contains_key("enforce-eager"));
    assert!(s.notes.iter().any(|n| n.contains("registry.local/llm:1.2") && n.contains("engine-version")));
    assert_eq!(s.ignored_flags, ["--port 8000"]);
    assert_eq!(s.unknown_flags.iter().map(|u| u.value.as_str()).collect::<Vec<_>>(), ["--frobnicate x"]);
    let problems: Vec<String> = s.problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    // Each in argparse's own words: a `store_true` switch given a value, a positional it does
    // not take, a flag that needs a value given none.
    assert_eq!(
        problems,
        [
            format!("{C}/args/2: --enforce-eager is a switch and takes no value, got 'true': vllm would refuse it"),
            format!(
                "{C}/args/7: 'stray' is an argument vllm does not take (it would exit with \"unrecognized arguments\")"
            ),
            format!("{C}/args/8: --kv-cache-dtype needs a value: vllm would refuse it (\"expected one argument\")"),
        ]
    );
    let ops = max_model_len_patch(s, 8192).unwrap();
    assert_eq!(
        (ops[0].path.as_str(), &ops[0].value),
        ("/spec/template/spec/containers/0/args/1", &json!("--max-model-len=8192"))
    );
}

#[test]
fn sglang_flags_map_onto_the_same_keys() {
    let w = workload(&deployment(
        1,
        2,
        json!({"image": "lmsysorg/sglang:v0.4.1-cu124",
               "command": ["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen2.5-7B-Instruct",
                           "--tp", "2", "--context-length", "32768", "--mem-fraction-static", "0.85",
                           "--disable-cuda-graph", "--host", "0.0.0.0"]}),
    ));
    let (s, k) = server(&w, Engine::Sglang);
    let want = [
        ("engine", "sglang"),
        ("engine-version", "0.4.1"),
        ("model", "Qwen/Qwen2.5-7B-Instruct"),
        ("tensor-parallel", "2"),
        ("max-model-len", "32768"),
        ("gpu-memory-utilization", "0.85"),
        ("enforce-eager", "true"),
    ];
    for (key, v) in want {
        assert_eq!(k[key].0, v, "{key}");
    }
    // No args array: the patch creates one (Kubernetes appends args to command).
    let ops = max_model_len_patch(s, 8192).unwrap();
    assert_eq!((ops[0].op, ops[0].path.as_str()), ("replace", "/spec/template/spec/containers/0/command/8"));
}

#[test]
fn tgi_reads_its_environment_under_its_flags_and_shards_over_every_gpu_by_default() {
    let env = json!([{"name": "MODEL_ID", "value": "meta-llama/Llama-3.1-8B-Instruct"},
                     {"name": "MAX_TOTAL_TOKENS", "value": "4096"},
                     {"name": "QUANTIZE", "value": "bitsandbytes-nf4"},
                     {"name": "MAX_BATCH_PREFILL_TOKENS", "value": "2048"}]);
    let w = workload(&deployment(
        1,
        2,
        json!({"image": "ghcr.io/huggingface/text-generation-inference:2.4.0", "env": env,
               "args": ["--max-batch-prefill-tokens", "8192"]}),
    ));
    let (s, k) = server(&w, Engine::Tgi);
    assert_eq!(k["model"], ("meta-llama/Llama-3.1-8B-Instruct", "/spec/template/spec/containers/0/env/0/value"));
    assert_eq!(k["max-model-len"], ("4096", "/spec/template/spec/containers/0/env/1/value"));
    assert_eq!(k["weight-quantization"].0, "bitsandbytes");
    assert_eq!(k["max-num-batched-tokens"], ("8192", "/spec/template/spec/containers/0/args/1"), "a flag beats env");
    assert_eq!(k["tensor-parallel"].0, "2");
    assert_eq!(s.keys["tensor-parallel"].via, "TGI default: every GPU of the pod");
    assert_eq!(k["engine-version"].0, "2.4.0");
    let ops = max_model_len_patch(s, 2048).unwrap();
    assert_eq!((ops[0].path.as_str(), &ops[0].value), ("/spec/template/spec/containers/0/env/1/value", &json!("2048")));

    // The launcher named in a command, with no env and no args.
    let w = workload(&deployment(
        1,
        1,
        json!({"command": ["text-generation-launcher", "--model-id", "m/x", "--num-shard", "1"]}),
    ));
    assert_eq!(keys(serving(&w))["tensor-parallel"].0, "1");
}

#[test]
fn shell_variables_expand_from_literal_env_only_and_the_rest_is_said() {
    let env = json!([{"name": "MODEL", "value": "meta-llama/Llama-3.1-8B-Instruct"},
                     {"name": "LEN", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "len"}}}]);
    let w = workload(&deployment(
        1,
        1,
        json!({"image": "vllm/vllm-openai:v0.9.0", "env": env,
               "command": ["bash", "-ec", "pip install x && exec vllm serve \"$MODEL\" --max-model-len ${LEN} -tp 1"]}),
    ));
    let (s, k) = server(&w, Engine::Vllm);
    assert_eq!(k["model"].0, "meta-llama/Llama-3.1-8B-Instruct");
    assert!(!k.contains_key("max-model-len"));
    assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
    assert_eq!(s.problems[0].key.as_deref(), Some("max-model-len"));
    assert!(s.problems[0].message.contains("$LEN") && s.problems[0].message.contains("vramgate.io/max-model-len"));
    assert!(max_model_len_patch(s, 4096).is_err(), "a value from a ConfigMap is not rewritten in place");

    // Kubernetes' own `$(VAR)` in args, from the container's env.
    let w = workload(&deployment(
        1,
        1,
        json!({"image": "vllm/vllm-openai:v0.9.0", "env": [{"name": "M", "value": "Qwen/Qwen3-8B"}],
               "args": ["--model", "$(M)", "--max-model-len", "$$5"]}),
    ));
    let k = keys(serving(&w)).into_iter().map(|(k, v)| (k, v.0.to_owned())).collect::<BTreeMap<_, _>>();
    assert_eq!((k["model"].as_str(), k["max-model-len"].as_str()), ("Qwen/Qwen3-8B", "$5"));
}

#[test]
fn tensor_times_pipeline_parallel_beyond_the_pods_gpus_is_a_problem() {
    let w = workload(&deployment(
        1,
        2,
        json!({"command": ["vllm", "serve", "m/x", "--tensor-parallel-size", "4"], "image": "vllm/vllm-openai:v0.10.1"}),
    ));
    let s = serving(&w);
    assert_eq!(s.problems.len(), 1);
    assert_eq!(s.problems[0].path, format!("{C}/command/4"));
    assert!(s.problems[0].message.contains("needs 4 GPUs, the pod asks for 2"), "{}", s.problems[0]);
}

#[test]
fn image_tags_give_a_version_only_when_they_are_a_release() {
    let version = |image: &str| {
        let w = workload(&deployment(1, 1, json!({"image": image, "args": ["m/x"]})));
        let s = serving(&w).clone();
        (s.keys.get("engine-version").map(|v| v.value.clone()), s.notes)
    };
    assert_eq!(version("vllm/vllm-openai:v0.6.4.post1").0.as_deref(), Some("0.6.4"));
    assert_eq!(version("docker.io/vllm/vllm-openai:0.10.1-cu128").0.as_deref(), Some("0.10.1"));
    let (v, notes) = version("vllm/vllm-openai@sha256:0123456789abcdef");
    assert!(v.is_none() && notes.iter().any(|n| n.contains("no tag")), "{notes:?}");
    let (v, notes) = version("vllm/vllm-openai:nightly");
    assert!(v.is_none() && notes.iter().any(|n| n.contains("'nightly'")), "{notes:?}");
}

#[test]
fn containers_running_no_known_server_are_not_serving() {
    for c in [
        json!({"image": "pytorch/pytorch:2.4.0", "command": ["torchrun", "train.py"]}),
        json!({"image": "lmsysorg/sglang:v0.4.1", "args": ["--model-path", "m"]}),
        json!({"image": "busybox", "command": ["sh", "-c", "sleep 3600"]}),
        json!({"image": "vllm/vllm-openai:v0.6.4", "command": ["python3", "bench.py"]}),
    ] {
        let w = workload(&deployment(2, 1, c.clone()));
        assert!(w.serving.is_none(), "{c}: {:?}", w.serving);
        assert_eq!(w.replicas, 2);
    }
    let st = workload(&json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "vllm/vllm-openai:v0.6.4",
        "args": ["m/x"], "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}}}));
    assert_eq!((st.replicas, serving(&st).engine), (1, Engine::Vllm));
}

#[test]
fn annotations_override_what_the_container_says_and_settle_its_problems() {
    let w = workload(&deployment(
        1,
        1,
        json!({"image": "vllm/vllm-openai:v0.9.0", "env": [{"name": "LEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
               "command": ["sh", "-c", "vllm serve m/x --max-model-len $LEN --gpu-memory-utilization 0.8"]}),
    ));
    let s = serving(&w);
    let annotated: BTreeMap<String, String> =
        [("gpu-memory-utilization", "0.9"), ("max-model-len", "4096")].map(|(k, v)| (k.into(), v.into())).into();
    let m = merge(Some(s), &annotated);
    assert_eq!(m.fields["gpu-memory-utilization"], "0.9");
    assert_eq!(m.fields["max-model-len"], "4096");
    assert_eq!(m.fields["model"], "m/x");
    assert!(m.problems.is_empty(), "the annotation gives the value vramgate could not read");
    assert!(m.read.contains_key("model") && !m.read.contains_key("max-model-len"));
    // Without the annotation the problem stands.
    assert_eq!(merge(Some(s), &BTreeMap::new()).problems.len(), 1);
    // A model given by another key replaces the container's: a request takes exactly one.
    let hf: BTreeMap<String, String> = [("hf-config".to_owned(), "{}".to_owned())].into();
    let m = merge(Some(s), &hf);
    assert!(!m.fields.contains_key("model") && m.fields.contains_key("hf-config"));
    // Annotated as another workload: the container is not read.
    let other: BTreeMap<String, String> = [("workload".to_owned(), "inference".to_owned())].into();
    assert_eq!(merge(Some(s), &other).fields, other);
}
