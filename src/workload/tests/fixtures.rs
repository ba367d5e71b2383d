//! The real manifests and admission payloads under `tests/fixtures/`, and how a kind is recognised.

use super::*;

// ---------------------------------------------------------------- real manifests

#[test]
fn real_manifests_yield_the_documented_groups_and_gpu_totals() {
    type Groups = &'static [(&'static str, u64, u64)];
    let cases: &[(&str, &str, WorkloadKind, Groups, u64)] = &[
        ("fast-llm", FAST_LLM, WorkloadKind::PyTorchJob, &[("Master", 1, 8), ("Worker", 3, 8)], 32),
        ("deepspeed", DEEPSPEED, WorkloadKind::PyTorchJob, &[("Master", 1, 1), ("Worker", 1, 1)], 2),
        ("kueue job", KUEUE_JOB, WorkloadKind::Job, &[("Job", 3, 1)], 3),
        ("rayjob", RAYJOB, WorkloadKind::RayJob, &[("head", 1, 0), ("gpu-group", 4, 1)], 4),
    ];
    for (name, text, kind, groups, total) in cases {
        let w = workload(&yaml(text));
        assert_eq!(w.kind, *kind, "{name}");
        assert_eq!(shape(&w), groups.to_vec(), "{name}");
        assert_eq!(w.total_gpus(), *total, "{name}");
    }
}

#[test]
fn fast_llm_null_cpu_limit_is_tolerated_and_pointers_name_both_gpu_fields() {
    let w = workload(&yaml(FAST_LLM));
    assert_eq!(w.name.as_deref(), Some("fast-llm"));
    let worker = group(&w, "Worker");
    assert_eq!(worker.replicas_pointer.as_deref(), Some("/spec/pytorchReplicaSpecs/Worker/replicas"));
    assert_eq!(worker.pods_per_replica, 1);
    assert_eq!(worker.pod_template_pointer, "/spec/pytorchReplicaSpecs/Worker/template/spec");
    let base = "/spec/pytorchReplicaSpecs/Worker/template/spec/containers/0/resources";
    assert_eq!(
        worker.gpu_limit_pointers,
        vec![format!("{base}/limits/nvidia.com~1gpu"), format!("{base}/requests/nvidia.com~1gpu"),]
    );
    assert!(worker.mig.is_empty());
    assert_eq!(worker.gpu_product, None);
}

#[test]
fn kueue_job_takes_its_name_from_generate_name_and_keeps_top_level_metadata() {
    let w = workload(&yaml(KUEUE_JOB));
    assert_eq!(w.api_version, "batch/v1");
    assert_eq!(w.name.as_deref(), Some("sample-job-"));
    assert_eq!(w.namespace.as_deref(), Some("default"));
    assert_eq!(w.labels.get("kueue.x-k8s.io/queue-name").map(String::as_str), Some("user-queue"));
    assert_eq!(w.annotations.get("provreq.kueue.x-k8s.io/maxRunDurationSeconds").map(String::as_str), Some("600"));
    let job = group(&w, "Job");
    assert_eq!(job.replicas_pointer.as_deref(), Some("/spec/parallelism"));
    assert_eq!(job.pod_template_pointer, "/spec/template/spec");
}

#[test]
fn rayjob_head_has_no_gpus_and_is_not_a_gpu_pod() {
    let w = workload(&yaml(RAYJOB));
    let roles: Vec<&str> = w.gpu_pods().map(|g| g.role.as_str()).collect();
    assert_eq!(roles, ["gpu-group"]);
    let head = group(&w, "head");
    assert_eq!(head.replicas_pointer, None);
    assert_eq!(head.pod_template_pointer, "/spec/rayClusterSpec/headGroupSpec/template/spec");
    assert_eq!(
        group(&w, "gpu-group").replicas_pointer.as_deref(),
        Some("/spec/rayClusterSpec/workerGroupSpecs/0/replicas")
    );
}

#[test]
fn cluster_training_runtime_is_unsupported_because_the_train_job_is_what_runs() {
    // A ClusterTrainingRuntime is a reusable template; node count and per-node resources are
    // finally set by the TrainJob that references it, so counting its GPUs would be a guess.
    let got = run(&yaml(TRAINING_RUNTIME)).unwrap();
    assert_eq!(
        got,
        Extracted::Unsupported {
            api_version: "trainer.kubeflow.org/v1alpha1".into(),
            kind: "ClusterTrainingRuntime".into(),
        }
    );
}

// ---------------------------------------------------------------- admission payloads

#[test]
fn the_pod_inside_a_real_admission_review_is_one_pod_named_by_its_generate_name() {
    let review: Value = serde_json::from_str(REVIEW_POD).unwrap();
    let w = workload(&review["request"]["object"]);
    assert_eq!(w.kind, WorkloadKind::Pod);
    assert!(w.name.is_some());
    assert_eq!(w.groups.len(), 1);
    assert_eq!(w.groups[0].pods, 1);
    assert_eq!(w.groups[0].replicas_pointer, None);
    assert_eq!(w.groups[0].pod_template_pointer, "/spec");
}

#[test]
fn a_deployment_in_an_admission_request_is_its_replicas_of_one_pod_and_no_server() {
    // An nginx Deployment scaled to 0 (Deployments are read for inference servers; nothing in it serves).
    let request: Value = serde_json::from_str(REQUEST_DEPLOYMENT).unwrap();
    let w = workload(&request["object"]);
    assert_eq!((w.kind, w.replicas, shape(&w)), (WorkloadKind::Deployment, 0, vec![("Deployment", 0, 0)]));
    assert_eq!(w.groups[0].replicas_pointer.as_deref(), Some("/spec/replicas"));
    assert!(w.serving.is_none());
}

#[test]
fn the_null_object_of_a_delete_is_an_error_at_the_root() {
    let request: Value = serde_json::from_str(REQUEST_DELETE).unwrap();
    assert_error(&errors(&request["object"]), "", &["JSON object", "null"]);
}

// ---------------------------------------------------------------- kind recognition

#[test]
fn kinds_are_recognised_by_group_and_version_not_by_kind_alone() {
    let cases: &[(&str, &str, Option<WorkloadKind>)] = &[
        ("v1", "Pod", Some(WorkloadKind::Pod)),
        ("batch/v1", "Job", Some(WorkloadKind::Job)),
        ("batch.volcano.sh/v1alpha1", "Job", Some(WorkloadKind::VolcanoJob)),
        ("kubeflow.org/v2beta1", "MPIJob", Some(WorkloadKind::MpiJob)),
        ("ray.io/v1alpha1", "RayCluster", Some(WorkloadKind::RayCluster)),
        ("apps/v1", "Deployment", Some(WorkloadKind::Deployment)),
        ("apps/v1", "StatefulSet", Some(WorkloadKind::StatefulSet)),
        ("apps/v1", "DaemonSet", None),
        ("serving.kserve.io/v1beta1", "InferenceService", Some(WorkloadKind::InferenceService)),
        ("serving.kserve.io/v1alpha1", "InferenceService", None),
        ("example.com/v1", "Job", None),
        ("batch/v2", "Job", None),
        ("v1", "Job", None),
        ("kubeflow.org/v1", "TFJob", None),
        ("trainer.kubeflow.org/v1alpha1", "TrainJob", None),
    ];
    for (api_version, kind, want) in cases {
        let obj = json!({"apiVersion": api_version, "kind": kind, "spec": {}});
        match (run(&obj), want) {
            (Ok(Extracted::Unsupported { .. }), None) => {}
            // Supported kinds with an empty spec report errors, but of that kind.
            (Ok(Extracted::Workload(w)), Some(k)) => assert_eq!(w.kind, *k),
            (Err(_), Some(_)) => {}
            (got, _) => panic!("{api_version} {kind}: {got:?}"),
        }
    }
}

#[test]
fn missing_or_non_string_api_version_and_kind_are_both_reported() {
    let errs = errors(&json!({"kind": 7}));
    assert_error(&errs, "/apiVersion", &["required"]);
    assert_error(&errs, "/kind", &["string", "7"]);
}
