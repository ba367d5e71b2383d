//! The admission decision end to end, without a socket: AdmissionReview bytes in, response
//! bytes out, on the real payloads in `tests/fixtures/` and on one object per workload kind,
//! both operations, every decision and every malformed case. Patches are applied to the
//! original object and the result is read back as its Kubernetes type.

use crate::common::objects::{decoded_patch, fits_annotations, gpu_job, pod_spec, review_of};
use serde_json::{Value, json};
use vramgate::admission::{self, Answer, Decision, Endpoint, Reason};
use vramgate::config::Settings;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).expect("fixture exists")
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("valid YAML")
}

fn call(settings: &Settings, endpoint: Endpoint, review: &Value) -> (Answer, Value) {
    let a = admission::review(settings, None, endpoint, &serde_json::to_vec(review).unwrap());
    let v: Value = serde_json::from_slice(&a.body).expect("every answer is JSON");
    (a, v)
}

fn validate(settings: &Settings, obj: &Value) -> (Answer, Value) {
    call(settings, Endpoint::Validate, &review_of(obj, "CREATE", "research"))
}

fn record(a: &Answer) -> (Decision, Reason) {
    let r = a.record.as_ref().expect("a 200 has a record");
    (r.decision, r.reason)
}

fn template(gpus: u64, product: Option<&str>) -> Value {
    json!({ "spec": pod_spec(gpus, product) })
}

fn meta(annotations: &Value) -> Value {
    json!({ "name": "train", "namespace": "research", "annotations": annotations })
}

fn job(annotations: &Value, parallelism: u64, gpus: u64, product: Option<&str>) -> Value {
    let mut job = gpu_job("train", annotations.clone(), parallelism, gpus, product);
    job["spec"]["completionMode"] = json!("Indexed");
    job
}

fn pytorchjob(annotations: &Value, workers: u64, product: Option<&str>) -> Value {
    json!({
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": meta(annotations),
        "spec": {"pytorchReplicaSpecs": {
            "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": template(8, product)},
            "Worker": {"replicas": workers, "restartPolicy": "OnFailure", "template": template(8, product)}
        }}
    })
}

/// One object per supported kind, each holding 8 GPUs in total.
fn every_kind(annotations: &Value) -> Vec<Value> {
    let m = meta(annotations);
    vec![
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": pod_spec(8, None)}),
        job(annotations, 2, 4, None),
        pytorchjob(annotations, 0, None),
        json!({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": m, "spec": {
            "slotsPerWorker": 4, "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "template": template(0, None)},
                "Worker": {"replicas": 2, "template": template(4, None)}}}}),
        json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": m, "spec": {
            "replicatedJobs": [{"name": "workers", "replicas": 2, "template": {"spec": {
                "parallelism": 1, "completions": 1, "template": template(4, None)}}}]}}),
        json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": m, "spec": {
            "entrypoint": "python train.py", "rayClusterSpec": {
                "headGroupSpec": {"rayStartParams": {}, "template": template(0, None)},
                "workerGroupSpecs": [{"groupName": "gpu", "replicas": 2, "rayStartParams": {},
                                      "template": template(4, None)}]}}}),
        json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": m, "spec": {
            "headGroupSpec": {"rayStartParams": {}, "template": template(0, None)},
            "workerGroupSpecs": [{"groupName": "gpu", "replicas": 1, "rayStartParams": {},
                                  "template": template(8, None)}]}}),
        json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": m, "spec": {
            "minAvailable": 2, "tasks": [{"name": "worker", "replicas": 2, "template": template(4, None)}]}}),
        json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": m, "spec": {
            "replicas": 1, "leaderWorkerTemplate": {"size": 2,
                "leaderTemplate": template(4, None), "workerTemplate": template(4, None)}}}),
    ]
}

/// Settings that may patch a job onto an H200, and the Llama 3 8B job (bf16-mixed, 8-bit AdamW,
/// checkpointing, 4k tokens, micro-batch 4; `strategy` if given) the patch tests move there.
fn patch_to_h200(strategy: Option<&str>) -> (Settings, Value) {
    let s = Settings::from_yaml("policy: {patch: true, patch_gpu_types: [H200-141GB]}\n").unwrap();
    let mut ann = json!({"vramgate.io/model": "llama-3-8b", "vramgate.io/precision": "bf16-mixed",
                         "vramgate.io/optimizer": "adamw-8bit", "vramgate.io/activation-checkpointing": "true",
                         "vramgate.io/sequence-length": "4096", "vramgate.io/micro-batch-size": "4"});
    if let Some(strategy) = strategy {
        ann["vramgate.io/strategy"] = json!(strategy);
    }
    (s, ann)
}

/// Llama 2 13B in fp32 under DDP, the job of the UPDATE and decision tests.
fn fp32_13b_ddp() -> Value {
    json!({"vramgate.io/model": "llama-2-13b", "vramgate.io/precision": "fp32", "vramgate.io/strategy": "ddp"})
}

// ------------------------------------------------------------------ protocol

#[test]
fn the_response_echoes_the_uid_and_speaks_v1() {
    let (a, v) = validate(&Settings::default(), &job(&fits_annotations(), 2, 4, None));
    assert_eq!(a.status, 200);
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(v["response"]["allowed"], true);
}

#[test]
fn the_real_v1_pod_review_is_answered_and_skipped_as_a_replica_sets_pod() {
    let body = fixture("admission/admissionreview-v1-pod-create-generatename.json");
    let a = admission::review(&Settings::default(), None, Endpoint::Validate, body.as_bytes());
    assert_eq!(a.status, 200);
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["response"]["uid"], "e94a7790-a4fc-11e9-a276-42010a3e0104");
    assert_eq!(v["response"]["allowed"], true);
    assert!(v["response"].get("patch").is_none());
    // Its controller is a ReplicaSet: a Deployment's pod, judged with the Deployment (issue 15).
    assert_eq!(record(&a), (Decision::Skip, Reason::OwnedPod));
    assert_eq!(a.record.unwrap().namespace, "keymaker");
}

#[test]
fn the_v1beta1_review_without_uid_gets_a_400_naming_both_problems() {
    let v: Value = yaml(&fixture("admission/admissionreview-v1beta1-pod-update-no-uid.yaml"));
    let a = admission::review(&Settings::default(), None, Endpoint::Validate, &serde_json::to_vec(&v).unwrap());
    assert_eq!(a.status, 400);
    assert!(a.record.is_none());
    let e: Value = serde_json::from_slice(&a.body).unwrap();
    let text = e["error"].as_str().unwrap();
    assert!(text.contains("v1beta1") && text.contains("admissionReviewVersions"), "{text}");
    assert!(text.contains("request.uid"), "{text}");
}

#[test]
fn the_kubewarden_requests_wrapped_in_a_review_are_skipped_as_not_ours() {
    // Deployments are read since issue 15; these nginx ones ask for no GPU.
    for (file, validate, mutate) in [
        ("admission/admissionrequest-deployment-create-with-limits.json", Reason::NoGpus, Reason::NoGpus),
        ("admission/admissionrequest-deployment-update-with-oldobject.json", Reason::Unchanged, Reason::Update),
        ("admission/admissionrequest-deployment-delete.json", Reason::Operation, Reason::Operation),
    ] {
        let request: Value = serde_json::from_str(&fixture(file)).unwrap();
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
        for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
            let (a, v) = call(&Settings::default(), endpoint, &review);
            assert_eq!(a.status, 200, "{file}");
            assert_eq!(v["response"]["allowed"], true, "{file}");
            assert_eq!(v["response"]["uid"], request["uid"], "{file}");
            assert!(v["response"].get("patch").is_none(), "{file}: never patch a DELETE or a kind we skip");
            let reason = if endpoint == Endpoint::Validate { validate } else { mutate };
            assert_eq!(record(&a), (Decision::Skip, reason), "{file}");
        }
    }
}

#[test]
fn malformed_bodies_get_a_400_with_a_message_never_a_panic() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"", "not an AdmissionReview JSON"),
        (b"{", "not an AdmissionReview JSON"),
        (b"[]", "not an AdmissionReview JSON"),
        (b"\xff\xfe", "not an AdmissionReview JSON"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "request is missing"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"u","operation":"CREATE","object":{}}}"#, "kind 'Pod'"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"PATCH","object":{}}}"#, "operation 'PATCH'"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE"}}"#, "request.object is missing"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7,"operation":"CREATE","object":{}}}"#, "not an AdmissionReview JSON"),
    ];
    for (body, expect) in cases {
        let a = admission::review(&Settings::default(), None, Endpoint::Validate, body);
        assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(body));
        let e: Value = serde_json::from_slice(&a.body).unwrap();
        assert!(e["error"].as_str().unwrap().contains(expect), "{e} should say {expect}");
    }
}

// Decisions: in admission/decisions.rs.
mod decisions;

// ------------------------------------------------------------------ mutation

/// The patch of `v`, which must have one.
fn patch_of(v: &Value) -> Value {
    decoded_patch(v).expect("the response carries a patch")
}

fn apply(obj: &Value, patch: &Value) -> Value {
    let mut out = obj.clone();
    let p: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
    json_patch::patch(&mut out, &p).expect("the patch applies to the original object");
    out
}

/// Every pod template of the object still reads as a Kubernetes PodTemplateSpec.
fn assert_templates_deserialise(obj: &Value) {
    let w = match vramgate::workload::extract(&obj.into(), &Default::default()).unwrap() {
        vramgate::workload::Extracted::Workload(w) => w,
        other => panic!("{other:?}"),
    };
    for g in &w.groups {
        let spec = obj.pointer(&g.pod_template_pointer).unwrap();
        let _: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(spec.clone()).expect("a PodSpec");
    }
}

#[test]
fn mutate_records_the_estimate_in_annotations() {
    let obj = job(&fits_annotations(), 2, 4, None);
    let (a, v) = call(&Settings::default(), Endpoint::Mutate, &review_of(&obj, "CREATE", "research"));
    assert_eq!(v["response"]["allowed"], true);
    assert!(v["response"].get("warnings").is_none());
    let patched = apply(&obj, &patch_of(&v));
    let ann = &patched["metadata"]["annotations"];
    assert_eq!(ann["vramgate.io/decision"], "allow");
    let memory = ann["vramgate.io/estimated-memory-per-gpu"].as_str().unwrap();
    assert!(memory.ends_with("Mi") && vramgate::request::parse_output_memory_mib(memory).unwrap() > 1024, "{memory}");
    let needed = vramgate::request::parse_output_gpus(ann["vramgate.io/estimated-gpus"].as_str().unwrap()).unwrap();
    let rec = a.record.unwrap();
    assert_eq!(needed, rec.gpus_needed);
    let cost = vramgate::request::parse_output_amount(ann["vramgate.io/estimated-cost-usd"].as_str().unwrap());
    assert_eq!(cost.unwrap(), rec.cost_usd, "the cost annotation reads back exactly");
    let hours = vramgate::request::parse_output_amount(ann["vramgate.io/estimated-gpu-hours"].as_str().unwrap());
    assert_eq!(hours.unwrap(), rec.gpu_hours);
    let _: k8s_openapi::api::batch::v1::Job = serde_json::from_value(patched.clone()).expect("still a Job");
    // Re-submitting the annotated object changes nothing and validates the same.
    let (_, again) = call(&Settings::default(), Endpoint::Mutate, &review_of(&patched, "CREATE", "research"));
    assert!(again["response"].get("patch").is_none(), "{again}");
    let (b, _) = validate(&Settings::default(), &patched);
    assert_eq!(record(&b), (Decision::Allow, Reason::Fits));
    // An object without annotations at all gets the whole map added.
    let mut bare = obj.clone();
    bare["metadata"].as_object_mut().unwrap().remove("annotations");
    bare["metadata"]["annotations"] = json!({"vramgate.io/model": "gpt2"});
    let (_, v) = call(&Settings::default(), Endpoint::Mutate, &review_of(&bare, "CREATE", "research"));
    assert_eq!(apply(&bare, &patch_of(&v))["metadata"]["annotations"]["vramgate.io/model"], "gpt2");
}

#[test]
fn with_patch_allowed_a_job_too_big_is_scaled_out_and_then_fits() {
    let s = Settings::from_yaml("policy: {patch: true}\n").unwrap();
    let ann = json!({"vramgate.io/model": "llama-2-70b", "vramgate.io/precision": "bf16-mixed",
                     "vramgate.io/strategy": "zero3", "vramgate.io/activation-checkpointing": "true",
                     "vramgate.io/sequence-length": "4096", "vramgate.io/training-tokens": "10B"});
    let cases = vec![
        ("PyTorchJob", pytorchjob(&ann, 0, Some("NVIDIA-H100-80GB-HBM3")), "/spec/pytorchReplicaSpecs/Worker/replicas"),
        ("Job", job(&ann, 1, 8, None), "/spec/parallelism"),
    ];
    for (kind, obj, replicas) in cases {
        let (before, _) = validate(&s, &obj);
        assert_eq!(record(&before), (Decision::Deny, Reason::DoesNotFit), "{kind}");
        let (a, v) = call(&s, Endpoint::Mutate, &review_of(&obj, "CREATE", "research"));
        assert_eq!(record(&a), (Decision::Warn, Reason::Patched), "{kind}");
        let w = v["response"]["warnings"][0].as_str().unwrap();
        assert!(w.starts_with("vramgate: patched to fit:"), "{w}");
        let patched = apply(&obj, &patch_of(&v));
        assert!(
            patched.pointer(replicas).unwrap().as_u64().unwrap() > obj.pointer(replicas).unwrap().as_u64().unwrap()
        );
        assert_templates_deserialise(&patched);
        if kind == "Job" {
            let j: k8s_openapi::api::batch::v1::Job = serde_json::from_value(patched.clone()).expect("still a Job");
            let spec = j.spec.unwrap();
            assert_eq!(spec.parallelism, spec.completions, "an Indexed Job keeps one pod per index");
        }
        let (after, _) = validate(&s, &patched);
        assert_eq!(record(&after), (Decision::Allow, Reason::Fits), "{kind}: {patched}");
    }
}

#[test]
fn with_patch_gpu_types_a_job_moves_to_a_bigger_gpu_through_its_node_selector() {
    let (s, ann) = patch_to_h200(Some("ddp"));
    // A Pod cannot add replicas: only the GPU type can change.
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta(&ann),
                     "spec": pod_spec(1, Some("NVIDIA-A100-SXM4-80GB"))});
    let (before, _) = validate(&s, &obj);
    assert_eq!(record(&before), (Decision::Deny, Reason::DoesNotFit));
    let (a, v) = call(&s, Endpoint::Mutate, &review_of(&obj, "CREATE", "research"));
    assert_eq!(record(&a), (Decision::Warn, Reason::Patched), "{v}");
    let patched = apply(&obj, &patch_of(&v));
    assert_eq!(patched["spec"]["nodeSelector"]["nvidia.com/gpu.product"], "NVIDIA-H200");
    let _: k8s_openapi::api::core::v1::Pod = serde_json::from_value(patched.clone()).expect("still a Pod");
    let (after, _) = validate(&s, &patched);
    let r = after.record.unwrap();
    assert_eq!((r.decision, r.gpu.as_str()), (Decision::Allow, "H200"));
}

#[test]
fn without_patch_permission_mutate_only_annotates_and_never_denies() {
    let ann = fp32_13b_ddp();
    let obj = pytorchjob(&ann, 0, None);
    let (a, v) = call(&Settings::default(), Endpoint::Mutate, &review_of(&obj, "CREATE", "research"));
    assert_eq!(v["response"]["allowed"], true);
    let patch = patch_of(&v);
    assert!(
        patch.as_array().unwrap().iter().all(|op| op["path"].as_str().unwrap().starts_with("/metadata/annotations"))
    );
    assert_eq!(apply(&obj, &patch)["metadata"]["annotations"]["vramgate.io/decision"], "deny");
    assert_eq!(a.record.unwrap().decision, Decision::Allow);
}

// Real manifests and shipped examples: in admission/examples.rs.
mod examples;

// ------------------------------------------------------------------ patch semantics (issue 12)

/// The JSON Patch of a mutate answer, with every path written once.
fn assert_no_duplicate_paths(patch: &Value) {
    let paths: Vec<&str> = patch.as_array().unwrap().iter().map(|op| op["path"].as_str().unwrap()).collect();
    let mut unique = paths.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), paths.len(), "duplicate operations in {patch}");
}

fn llama_70b_annotations() -> Value {
    json!({"vramgate.io/model": "llama-2-70b", "vramgate.io/precision": "bf16-mixed",
           "vramgate.io/strategy": "zero3", "vramgate.io/activation-checkpointing": "true",
           "vramgate.io/sequence-length": "4096", "vramgate.io/training-tokens": "10B"})
}

#[test]
fn a_patched_job_keeps_all_its_completions_and_the_warning_names_each_field() {
    let s = Settings::from_yaml("policy: {patch: true}\n").unwrap();
    // The real Kueue Job, asked for 100 completions one pod at a time, on 8 GPUs per pod.
    let mut obj = yaml(&fixture("manifests/job-gpu-parallelism3-kueue.yaml"));
    obj["metadata"]["annotations"] = llama_70b_annotations();
    obj["spec"]["parallelism"] = json!(1);
    obj["spec"]["completions"] = json!(100);
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"nvidia.com/gpu": 8}, "limits": {"nvidia.com/gpu": 8}});
    let (a, v) = call(&s, Endpoint::Mutate, &review_of(&obj, "CREATE", "research"));
    assert_eq!(record(&a), (Decision::Warn, Reason::Patched), "{v}");
    let patched = apply(&obj, &patch_of(&v));
    let j: k8s_openapi::api::batch::v1::Job = serde_json::from_value(patched.clone()).expect("still a Job");
    let spec = j.spec.unwrap();
    let parallelism = spec.parallelism.unwrap();
    assert!(parallelism > 1, "scaled out: {parallelism}");
    assert_eq!(spec.completions, Some(100), "requested work is never removed");
    let w = v["response"]["warnings"][0].as_str().unwrap();
    assert!(w.contains(&format!("parallelism 1 -> {parallelism}")) && w.contains("completions 100 kept"), "{w}");
    let (after, _) = validate(&s, &patched);
    assert_eq!(record(&after), (Decision::Allow, Reason::Fits), "{patched}");
    // Completions below the new parallelism are raised to it, and the warning says so.
    obj["spec"]["completions"] = json!(1);
    let (_, v) = call(&s, Endpoint::Mutate, &review_of(&obj, "CREATE", "research"));
    let patched = apply(&obj, &patch_of(&v));
    assert_eq!(patched["spec"]["completions"], patched["spec"]["parallelism"]);
    let w = v["response"]["warnings"][0].as_str().unwrap();
    assert!(w.contains(&format!("completions 1 -> {}", patched["spec"]["parallelism"])), "{w}");
}

#[test]
fn a_ray_worker_group_is_never_patched_beyond_its_max_replicas_and_the_denial_says_why() {
    let s = Settings::from_yaml("policy: {patch: true}\n").unwrap();
    // The real RayJob: its GPU group is pinned to exactly 4 one-GPU workers.
    let mut obj = yaml(&fixture("manifests/rayjob-pytorch-4gpu-workers.yaml"));
    obj["metadata"]["annotations"] = llama_70b_annotations();
    let (a, v) = call(&s, Endpoint::Mutate, &review_of(&obj, "CREATE", "research"));
    assert_eq!(record(&a).1, Reason::DoesNotFit, "no patch within minReplicas..maxReplicas: {v}");
    if v["response"].get("patch").is_some() {
        let patch = patch_of(&v);
        assert!(
            patch
                .as_array()
                .unwrap()
                .iter()
                .all(|op| op["path"].as_str().unwrap().starts_with("/metadata/annotations")),
            "{patch}"
        );
    }
    let (a, v) = validate(&s, &obj);
    assert_eq!(record(&a), (Decision::Deny, Reason::DoesNotFit));
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("not patched: gpu-group would need") && msg.contains("maxReplicas"), "{msg}");
    // With the bound lifted the same job is patched, and validation agrees with the result.
    obj["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplicas"] = json!(1000);
    let (a, v) = call(&s, Endpoint::Mutate, &review_of(&obj, "CREATE", "research"));
    assert_eq!(record(&a), (Decision::Warn, Reason::Patched), "{v}");
    let patched = apply(&obj, &patch_of(&v));
    assert_eq!(record(&validate(&s, &patched).0), (Decision::Allow, Reason::Fits));
}

#[test]
fn an_elastic_pytorchjob_is_patched_only_within_its_elastic_policy() {
    let s = Settings::from_yaml("policy: {patch: true}\n").unwrap();
    let unbounded = pytorchjob(&llama_70b_annotations(), 0, Some("NVIDIA-H100-80GB-HBM3"));
    let (_, v) = call(&s, Endpoint::Mutate, &review_of(&unbounded, "CREATE", "research"));
    let needed =
        apply(&unbounded, &patch_of(&v))["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"].as_u64().unwrap();
    assert!(needed >= 1, "{v}");
    // maxReplicas below what it needs: not patched, and the denial names the bound.
    let mut tight = unbounded.clone();
    tight["spec"]["elasticPolicy"] = json!({"minReplicas": 0, "maxReplicas": needed - 1});
    let (a, v) = call(&s, Endpoint::Mutate, &review_of(&tight, "CREATE", "research"));
    assert_eq!(record(&a).1, Reason::DoesNotFit, "{v}");
    let (_, v) = validate(&s, &tight);
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("elasticPolicy.maxReplicas"), "{msg}");
    // A minReplicas above what it needs: the patch starts there.
    let mut floor = unbounded.clone();
    floor["spec"]["elasticPolicy"] = json!({"minReplicas": needed + 2, "maxReplicas": needed + 4});
    let (a, v) = call(&s, Endpoint::Mutate, &review_of(&floor, "CREATE", "research"));
    assert_eq!(record(&a), (Decision::Warn, Reason::Patched), "{v}");
    let patched = apply(&floor, &patch_of(&v));
    assert_eq!(patched["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"], json!(needed + 2));
}

#[test]
fn a_leaderworkerset_without_leader_template_gets_each_patch_operation_once() {
    let (s, ann) = patch_to_h200(Some("ddp"));
    let obj = json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": meta(&ann),
        "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 2,
            "workerTemplate": template(1, Some("NVIDIA-A100-SXM4-80GB"))}}});
    let (a, v) = call(&s, Endpoint::Mutate, &review_of(&obj, "CREATE", "research"));
    assert_eq!(record(&a), (Decision::Warn, Reason::Patched), "{v}");
    let patch = patch_of(&v);
    assert_no_duplicate_paths(&patch);
    let patched = apply(&obj, &patch);
    let spec = &patched["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"];
    assert_eq!(spec["nodeSelector"]["nvidia.com/gpu.product"], "NVIDIA-H200");
    let _: k8s_openapi::api::core::v1::PodTemplateSpec =
        serde_json::from_value(patched["spec"]["leaderWorkerTemplate"]["workerTemplate"].clone()).unwrap();
    let r = validate(&s, &patched).0.record.unwrap();
    assert_eq!((r.decision, r.gpu.as_str()), (Decision::Allow, "H200"));
}

#[test]
fn a_bare_pod_is_never_advised_more_gpus_than_one_node_holds() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta(&llama_70b_annotations()),
                     "spec": pod_spec(1, None)});
    let (a, v) = validate(&Settings::default(), &pod);
    assert_eq!(record(&a), (Decision::Deny, Reason::DoesNotFit));
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    let asked: Vec<u64> =
        msg.match_indices("request ").filter_map(|(i, _)| msg[i + 8..].split(' ').next()?.parse().ok()).collect();
    assert!(asked.iter().all(|n| *n <= 8), "a pod runs on one node of at most 8 GPUs: {msg}");
    assert!(msg.contains("multi-pod workload"), "{msg}");
    // The same job as a PyTorchJob can spread over nodes, so it is told how many GPUs it needs.
    let (_, v) = validate(&Settings::default(), &pytorchjob(&llama_70b_annotations(), 0, None));
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("request ") && !msg.contains("multi-pod"), "{msg}");
}

// ------------------------------------------------------------------ UPDATE semantics (issue 12)

fn update_review(old: &Value, new: &Value) -> Value {
    let mut review = review_of(new, "UPDATE", "research");
    review["request"]["oldObject"] = old.clone();
    review
}

/// A RayCluster of `workers` workers with `gpus` GPUs each, annotated as [`fits_annotations`]
/// without `training-tokens` (so its cost is unknown).
fn raycluster(workers: u64, gpus: u64) -> Value {
    let mut ann = fits_annotations();
    ann.as_object_mut().unwrap().remove("vramgate.io/training-tokens");
    json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta(&ann), "spec": {
        "headGroupSpec": {"rayStartParams": {}, "template": template(0, None)},
        "workerGroupSpecs": [{"groupName": "gpu", "replicas": workers, "minReplicas": 0, "maxReplicas": 16,
                              "rayStartParams": {}, "template": template(gpus, None)}]}})
}

#[test]
fn an_autoscaler_scale_down_is_allowed_under_lenient_and_still_judged_under_strict() {
    // A cost cap the cluster was created before: with no training-tokens its cost is unknown.
    let lenient = Settings::from_yaml("policy: {max_cost_usd: 5000}\n").unwrap();
    let strict = Settings::from_yaml("policy: {max_cost_usd: 5000, update: strict}\n").unwrap();
    let (eight, two) = (raycluster(8, 8), raycluster(2, 8));
    assert_eq!(record(&validate(&lenient, &eight).0), (Decision::Deny, Reason::CostUnknown));
    let (a, v) = call(&lenient, Endpoint::Validate, &update_review(&eight, &two));
    assert_eq!(record(&a), (Decision::Warn, Reason::CostUnknown), "{v}");
    assert_eq!(v["response"]["allowed"], true);
    let w = v["response"]["warnings"].as_array().unwrap();
    assert!(w.iter().any(|x| x.as_str().unwrap().contains("this update raises neither GPUs nor cost")), "{w:?}");
    let (a, _) = call(&strict, Endpoint::Validate, &update_review(&eight, &two));
    assert_eq!(record(&a), (Decision::Deny, Reason::CostUnknown));
    // Scaling back up raises GPUs: judged like a CREATE even under lenient.
    let (a, _) = call(&lenient, Endpoint::Validate, &update_review(&two, &eight));
    assert_eq!(record(&a), (Decision::Deny, Reason::CostUnknown));
    // policy.update: skip judges no UPDATE at all.
    let skip = Settings::from_yaml("policy: {max_cost_usd: 5000}\nnamespaces: {research: {update: skip}}\n").unwrap();
    let (a, _) = call(&skip, Endpoint::Validate, &update_review(&two, &eight));
    assert_eq!(record(&a), (Decision::Skip, Reason::Update));
}

#[test]
fn an_update_that_leaves_the_job_unable_to_run_is_denied_saying_so() {
    let s = Settings::from_yaml("policy: {max_cost_usd: 5000}\n").unwrap();
    // Llama 2 13B with ZeRO-3 fits 8 one-GPU workers, not 2.
    let (eight, two) = (raycluster(8, 1), raycluster(2, 1));
    let (a, v) = call(&s, Endpoint::Validate, &update_review(&eight, &two));
    assert_eq!(record(&a), (Decision::Deny, Reason::DoesNotFit), "{v}");
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.starts_with("vramgate: this update leaves the job unable to run: needs"), "{msg}");
    assert!(
        msg.contains(
            "cost is unknown: set vramgate.io/training-tokens (e.g. 20B) (allowed: this update raises neither"
        ),
        "the cost breach is only a warning on a scale-down: {msg}"
    );
}

#[test]
fn the_mutating_webhook_changes_nothing_on_update() {
    let s = Settings::from_yaml("policy: {patch: true}\n").unwrap();
    let old = job(&llama_70b_annotations(), 2, 8, None);
    let new = job(&llama_70b_annotations(), 1, 8, Some("NVIDIA-A100-SXM4-80GB"));
    // The same object as a CREATE would be patched.
    let (a, _) = call(&s, Endpoint::Mutate, &review_of(&new, "CREATE", "research"));
    assert_eq!(record(&a).1, Reason::Patched);
    let (a, v) = call(&s, Endpoint::Mutate, &update_review(&old, &new));
    assert_eq!(record(&a), (Decision::Skip, Reason::Update), "{v}");
    assert!(v["response"].get("patch").is_none(), "a queueing controller's choice is not reverted: {v}");
    assert_eq!(v["response"]["allowed"], true);
}

#[test]
fn an_update_that_moves_pointers_or_names_the_same_gpu_is_unchanged() {
    let ann = fp32_13b_ddp();
    let old = job(&ann, 1, 8, None);
    // A CPU-only sidecar inserted before the trainer moves its container index.
    let mut new = old.clone();
    let containers = new["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap();
    containers
        .insert(0, json!({"name": "log-shipper", "image": "fluent-bit:3", "resources": {"limits": {"cpu": "1"}}}));
    let (a, _) = call(&Settings::default(), Endpoint::Validate, &update_review(&old, &new));
    assert_eq!(record(&a), (Decision::Skip, Reason::Unchanged));
    // A product selector naming the GPU it was already judged on (the default H100).
    new["spec"]["template"]["spec"]["nodeSelector"] = json!({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"});
    let (a, _) = call(&Settings::default(), Endpoint::Validate, &update_review(&old, &new));
    assert_eq!(record(&a), (Decision::Skip, Reason::Unchanged));
}

// ------------------------------------------------------------------ pods of workloads (issue 12)

#[test]
fn a_pod_owned_by_a_supported_workload_is_skipped_while_a_lone_one_is_judged() {
    // The pod a PyTorchJob of 8 x 8 GPUs creates: the template's annotations, 8 GPUs.
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta(&llama_70b_annotations()),
                         "spec": pod_spec(8, None)});
    let (a, _) = validate(&Settings::default(), &pod);
    assert_eq!(record(&a), (Decision::Deny, Reason::DoesNotFit), "alone, it does not fit");
    pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "name": "train", "uid": "6d9f0a1e-4c1b-4a8e-9b57-3f1c2d0e5a77", "controller": true, "blockOwnerDeletion": true}]);
    for endpoint in [Endpoint::Validate, Endpoint::Mutate] {
        let (a, v) = call(&Settings::default(), endpoint, &review_of(&pod, "CREATE", "research"));
        assert_eq!(record(&a), (Decision::Skip, Reason::OwnedPod), "{v}");
        assert_eq!(v["response"]["allowed"], true);
        assert!(v["response"].get("patch").is_none());
        assert!(!a.record.unwrap().counts_as_admission(), "counted with its owner, never alone");
    }
    // Owned by a ReplicaSet: a Deployment's pod, judged with the Deployment (issue 15).
    pod["metadata"]["ownerReferences"][0]["apiVersion"] = json!("apps/v1");
    pod["metadata"]["ownerReferences"][0]["kind"] = json!("ReplicaSet");
    assert_eq!(record(&validate(&Settings::default(), &pod).0), (Decision::Skip, Reason::OwnedPod));
    // Owned by a kind vramgate does not read (a DaemonSet), or not as controller: judged.
    pod["metadata"]["ownerReferences"][0]["kind"] = json!("DaemonSet");
    assert_eq!(record(&validate(&Settings::default(), &pod).0), (Decision::Deny, Reason::DoesNotFit));
    pod["metadata"]["ownerReferences"][0]["apiVersion"] = json!("kubeflow.org/v1");
    pod["metadata"]["ownerReferences"][0]["kind"] = json!("PyTorchJob");
    pod["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    assert_eq!(record(&validate(&Settings::default(), &pod).0), (Decision::Deny, Reason::DoesNotFit));
}

// ------------------------------------------------------------------ scale and unseen GPUs

/// A `/scale` review of PyTorchJob `research/train` to `replicas` workers, shaped as the
/// Kubernetes docs' AdmissionReview request example for a scale ("Dynamic Admission Control",
/// `kind` autoscaling/v1 Scale, `resource` the parent, `subResource: scale`), as `kubectl
/// scale pytorchjob train --replicas=N` sends it.
fn scale_review(replicas: u64) -> Value {
    let scale = |n: u64| {
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
               "metadata": {"name": "train", "namespace": "research", "uid": "5e0c1b3a-0000-4000-8000-00000000000a"},
               "spec": {"replicas": n}, "status": {"replicas": 2, "selector": "training.kubeflow.org/job-name=train"}})
    };
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800003",
            "kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "resource": {"group": "kubeflow.org", "version": "v1", "resource": "pytorchjobs"},
            "subResource": "scale",
            "requestKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
            "requestResource": {"group": "kubeflow.org", "version": "v1", "resource": "pytorchjobs"},
            "requestSubResource": "scale",
            "name": "train", "namespace": "research", "operation": "UPDATE",
            "userInfo": {"username": "alice"},
            "object": scale(replicas), "oldObject": scale(2), "dryRun": false
        }
    })
}

#[test]
fn a_scale_without_the_cluster_is_unjudged_warned_by_default_and_denied_when_configured() {
    let settings = Settings::default();
    let (a, v) = call(&settings, Endpoint::Validate, &scale_review(16));
    assert_eq!(record(&a), (Decision::Warn, Reason::UnjudgedScale), "{v}");
    assert_eq!(a.record.as_ref().unwrap().kind, "Scale");
    assert_eq!(v["response"]["allowed"], true);
    let warnings = v["response"]["warnings"].to_string();
    for part in ["PyTorchJob research/train", "to 16", "Worker.replicas", "serve --cluster"] {
        assert!(warnings.contains(part), "{part} missing from {warnings}");
    }

    let deny = Settings::from_yaml("namespaces:\n  research:\n    unjudged_scale: deny\n").unwrap();
    let (a, v) = call(&deny, Endpoint::Validate, &scale_review(16));
    assert_eq!(record(&a), (Decision::Deny, Reason::UnjudgedScale), "{v}");
    assert_eq!(v["response"]["allowed"], false);
    assert!(v["response"]["status"]["message"].as_str().unwrap().contains("serve --cluster"), "{v}");
    // The mutating webhook never denies, and a Scale is never patched.
    let (_, v) = call(&deny, Endpoint::Mutate, &scale_review(16));
    assert_eq!((v["response"]["allowed"].clone(), v["response"].get("patch")), (json!(true), None), "{v}");
}

fn annotated(mut obj: Value) -> Value {
    obj["metadata"]["annotations"] = fits_annotations();
    obj
}

#[test]
fn dra_claims_without_the_cluster_are_named_never_no_gpus_and_a_breach_when_configured() {
    let obj = annotated(yaml(&fixture("manifests/job-dra-claims-k8s-docs.yaml")));
    let (a, v) = validate(&Settings::default(), &obj);
    assert_eq!(record(&a), (Decision::Warn, Reason::UnseenGpus), "{v}");
    let warnings = v["response"]["warnings"].to_string();
    for part in ["example-resource-claim-template", "serve --cluster", "example-resource-claim'"] {
        assert!(warnings.contains(part), "{part} missing from {warnings}");
    }
    let deny = Settings::from_yaml("policy:\n  unseen_gpus: deny\n").unwrap();
    let (a, v) = validate(&deny, &obj);
    assert_eq!(record(&a), (Decision::Deny, Reason::UnseenGpus), "{v}");
}

#[test]
fn an_accelerator_resource_not_configured_is_named_with_the_key_that_counts_it() {
    let mut obj = job(&fits_annotations(), 1, 0, None);
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = json!({"amd.com/gpu": 8});
    let (a, v) = validate(&Settings::default(), &obj);
    assert_eq!(record(&a), (Decision::Warn, Reason::UnseenGpus), "{v}");
    let warnings = v["response"]["warnings"].to_string();
    assert!(warnings.contains("amd.com/gpu: 8") && warnings.contains("resources.gpu"), "{warnings}");
    // Counted once configured.
    let amd = Settings::from_yaml("resources:\n  gpu: [nvidia.com/gpu, amd.com/gpu]\n").unwrap();
    let (a, _) = validate(&amd, &obj);
    assert_eq!(a.record.as_ref().unwrap().gpus_requested, 8);
    assert_ne!(record(&a).1, Reason::UnseenGpus);
}

#[test]
fn an_unannotated_dra_job_is_not_called_gpu_free_and_breaches_required_annotations() {
    let obj = yaml(&fixture("manifests/job-dra-claims-k8s-docs.yaml"));
    let (a, v) = validate(&Settings::default(), &obj);
    assert_eq!(record(&a), (Decision::Skip, Reason::UnseenGpus), "{v}");
    let required = Settings::from_yaml("policy:\n  require_annotations: true\n").unwrap();
    let (a, v) = validate(&required, &obj);
    assert_eq!(record(&a), (Decision::Deny, Reason::AnnotationsRequired), "{v}");
    let m = v["response"]["status"]["message"].as_str().unwrap();
    assert!(m.contains("asks for GPUs vramgate cannot count") && m.contains("example-resource-claim-template"), "{m}");
}

/// Issue 14: QLoRA on a GQA model at 8 x 4096 ran on one H100, but the math SDPA kernel's score
/// matrix (which runs only when transformers passes no mask) put the estimate over the card.
/// That uncertain term warns and is named; it does not deny.
#[test]
fn an_uncertain_term_alone_warns_and_is_named_but_does_not_deny() {
    let ann = json!({"vramgate.io/model": "mistral-7b", "vramgate.io/fine-tuning": "qlora",
                     "vramgate.io/lora-rank": "64", "vramgate.io/lora-targets": "attention",
                     "vramgate.io/precision": "bf16-true", "vramgate.io/micro-batch-size": "8",
                     "vramgate.io/sequence-length": "4096", "vramgate.io/activation-checkpointing": "true"});
    let obj = job(&ann, 1, 1, None);
    let (a, v) = validate(&Settings::default(), &obj);
    let r = a.record.unwrap();
    assert_eq!((r.decision, r.reason), (Decision::Warn, Reason::NearCapacity));
    assert_eq!(v["response"]["allowed"], true);
    let w = v["response"]["warnings"].as_array().unwrap();
    assert!(w.iter().any(|x| x.as_str().unwrap().contains("uncertain (the math SDPA kernel")), "{w:?}");
}
