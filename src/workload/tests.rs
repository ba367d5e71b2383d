//! Tests of workload extraction: the real manifests and admission payloads under
//! `tests/fixtures/`, one inline object per kind and edge case, a bounded mutation loop and a
//! proptest showing that no input makes `extract` panic.

use serde_json::{Value, json};

use super::{ExtractConfig, Extracted, PodGroup, Workload, WorkloadError, WorkloadKind, extract};

const FAST_LLM: &str = include_str!("../../tests/fixtures/manifests/pytorchjob-fast-llm-mistral-4x8gpu.yaml");
const DEEPSPEED: &str = include_str!("../../tests/fixtures/manifests/pytorchjob-deepspeed-demo.yaml");
const KUEUE_JOB: &str = include_str!("../../tests/fixtures/manifests/job-gpu-parallelism3-kueue.yaml");
const RAYJOB: &str = include_str!("../../tests/fixtures/manifests/rayjob-pytorch-4gpu-workers.yaml");
const TRAINING_RUNTIME: &str =
    include_str!("../../tests/fixtures/manifests/clustertrainingruntime-torchtune-llama3.2-1b.yaml");
const REVIEW_POD: &str = include_str!("../../tests/fixtures/admission/admissionreview-v1-pod-create-generatename.json");
const REQUEST_DEPLOYMENT: &str =
    include_str!("../../tests/fixtures/admission/admissionrequest-deployment-create-with-limits.json");
const REQUEST_DELETE: &str = include_str!("../../tests/fixtures/admission/admissionrequest-deployment-delete.json");

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("fixture is valid YAML")
}

fn run(obj: &Value) -> Result<Extracted, Vec<WorkloadError>> {
    extract(&obj.into(), &ExtractConfig::default())
}

fn workload(obj: &Value) -> Workload {
    match run(obj) {
        Ok(Extracted::Workload(w)) => w,
        other => panic!("expected a workload, got {other:?}"),
    }
}

fn errors(obj: &Value) -> Vec<WorkloadError> {
    match run(obj) {
        Err(e) => e,
        other => panic!("expected errors, got {other:?}"),
    }
}

/// (role, pods, gpus per pod) of each group, for compact comparisons.
fn shape(w: &Workload) -> Vec<(&str, u64, u64)> {
    w.groups.iter().map(|g| (g.role.as_str(), g.pods, g.gpus_per_pod)).collect()
}

fn group<'a>(w: &'a Workload, role: &str) -> &'a PodGroup {
    w.groups.iter().find(|g| g.role == role).unwrap_or_else(|| panic!("no group {role} in {:?}", shape(w)))
}

/// Asserts some error sits at `path` and its message contains every one of `words`.
fn assert_error(errs: &[WorkloadError], path: &str, words: &[&str]) {
    let hit = errs.iter().any(|e| e.path == path && words.iter().all(|w| e.message.contains(w)));
    assert!(hit, "no error at {path} mentioning {words:?} in {errs:#?}");
}

/// A pod spec with one container whose limits are `limits`.
fn pod_with_limits(limits: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "resources": {"limits": limits}}]}
    })
}

/// A pod template with `gpus` full GPUs in its only container.
fn template(gpus: u64) -> Value {
    json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": gpus}}}]}})
}

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
    // An nginx Deployment scaled to 0 (issue 15 reads Deployments; nothing in it serves).
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

// ---------------------------------------------------------------- every kind, inline

#[test]
fn every_kind_counts_its_pods_as_the_kind_defines_them() {
    type Groups = &'static [(&'static str, u64, u64)];
    let cases: Vec<(&str, Value, Groups, u64)> = vec![
        (
            "a Job runs min(parallelism, completions) pods",
            json!({"apiVersion": "batch/v1", "kind": "Job",
                   "spec": {"parallelism": 8, "completions": 2, "template": template(4)}}),
            &[("Job", 2, 4)],
            8,
        ),
        (
            "a Job without parallelism runs one pod",
            json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": template(2)}}),
            &[("Job", 1, 2)],
            2,
        ),
        (
            "an MPIJob v2beta1 launcher defaults to 1 and its workers to 0",
            json!({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "spec": {
                "mpiReplicaSpecs": {
                    "Launcher": {"template": template(0)},
                    "Worker": {"template": template(8)}}}}),
            &[("Launcher", 1, 0), ("Worker", 0, 8)],
            0,
        ),
        (
            "an MPIJob counts its declared workers",
            json!({"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "spec": {
                "slotsPerWorker": 8,
                "mpiReplicaSpecs": {
                    "Worker": {"replicas": 2, "template": template(8)},
                    "Launcher": {"replicas": 1, "template": template(0)}}}}),
            &[("Launcher", 1, 0), ("Worker", 2, 8)],
            16,
        ),
        (
            "a JobSet multiplies replicas by each Job's parallelism",
            json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "spec": {
                "replicatedJobs": [
                    {"name": "driver", "template": {"spec": {"template": template(0)}}},
                    {"name": "workers", "replicas": 2, "template": {"spec": {
                        "parallelism": 4, "completions": 4, "template": template(8)}}}]}}),
            &[("driver", 1, 0), ("workers", 8, 8)],
            64,
        ),
        (
            "a RayCluster has a head and its worker groups",
            json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "spec": {
                "headGroupSpec": {"template": template(0)},
                "workerGroupSpecs": [
                    {"groupName": "a100", "replicas": 2, "template": template(4)},
                    {"replicas": 3, "numOfHosts": 2, "template": template(1)}]}}),
            &[("head", 1, 0), ("a100", 2, 4), ("worker-group-1", 6, 1)],
            14,
        ),
        (
            "a Ray worker group's replicas are clamped into [minReplicas, maxReplicas]",
            json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "spec": {
                "headGroupSpec": {"template": template(0)},
                "workerGroupSpecs": [
                    {"groupName": "low", "replicas": 1, "minReplicas": 3, "template": template(1)},
                    {"groupName": "high", "replicas": 9, "maxReplicas": 5, "template": template(1)},
                    {"groupName": "unset", "minReplicas": 2, "template": template(1)},
                    {"groupName": "off", "replicas": 4, "suspend": true, "template": template(1)}]}}),
            &[("head", 1, 0), ("low", 3, 1), ("high", 5, 1), ("unset", 2, 1), ("off", 0, 1)],
            10,
        ),
        (
            "a Volcano Job counts each task's replicas",
            json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "spec": {
                "minAvailable": 1,
                "tasks": [
                    {"name": "master", "replicas": 1, "template": template(1)},
                    {"replicas": 4, "template": template(2)}]}}),
            &[("master", 1, 1), ("default1", 4, 2)],
            9,
        ),
        (
            "a LeaderWorkerSet has replicas leaders and replicas*(size-1) workers",
            json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                   "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 4,
                       "leaderTemplate": template(0), "workerTemplate": template(8)}}}),
            &[("leader", 2, 0), ("worker", 6, 8)],
            48,
        ),
        (
            "a LeaderWorkerSet leader uses the worker template when it has none",
            json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                   "spec": {"leaderWorkerTemplate": {"size": 2, "workerTemplate": template(8)}}}),
            &[("leader", 1, 8), ("worker", 1, 8)],
            16,
        ),
        (
            "a RayJob bound to an existing cluster creates no pods",
            json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "spec": {
                "entrypoint": "python x.py", "clusterSelector": {"ray.io/cluster": "shared"}}}),
            &[],
            0,
        ),
        (
            "zero replicas is a valid, empty group",
            json!({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {
                "pytorchReplicaSpecs": {"Worker": {"replicas": 0, "template": template(8)}}}}),
            &[("Worker", 0, 8)],
            0,
        ),
    ];
    for (name, obj, groups, total) in cases {
        let w = match run(&obj) {
            Ok(Extracted::Workload(w)) => w,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(shape(&w), groups.to_vec(), "{name}");
        assert_eq!(w.total_gpus(), total, "{name}");
    }
}

#[test]
fn each_kind_points_at_the_field_that_scales_each_group() {
    let cases: Vec<(Value, &str, &str, u64)> = vec![
        (
            json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "spec": {
                "replicatedJobs": [{"name": "w", "replicas": 2, "template": {"spec": {
                    "parallelism": 3, "template": template(1)}}}]}}),
            "w",
            "/spec/replicatedJobs/0/replicas",
            3,
        ),
        (
            json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "spec": {
                "tasks": [{"name": "t", "replicas": 2, "template": template(1)}]}}),
            "t",
            "/spec/tasks/0/replicas",
            1,
        ),
        (
            json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                   "spec": {"leaderWorkerTemplate": {"size": 5, "workerTemplate": template(1)}}}),
            "worker",
            "/spec/replicas",
            4,
        ),
    ];
    for (obj, role, pointer, per_replica) in cases {
        let w = workload(&obj);
        let g = group(&w, role);
        assert_eq!(g.replicas_pointer.as_deref(), Some(pointer));
        assert_eq!(g.pods_per_replica, per_replica, "{pointer}");
    }
    let js = workload(&json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
        "spec": {"replicatedJobs": [{"name": "w", "template": {"spec": {"template": template(1)}}}]}}));
    assert_eq!(js.groups[0].pod_template_pointer, "/spec/replicatedJobs/0/template/spec/template/spec");
}

// ---------------------------------------------------------------- containers and GPUs

#[test]
fn init_and_sidecar_containers_follow_the_kubernetes_effective_request() {
    /// (init containers as (restartPolicy Always?, GPUs), app containers' GPUs, expected).
    type Case<'a> = (&'a [(bool, u64)], &'a [u64], u64);
    let cases: &[Case] = &[
        // A plain init container's GPUs are reused by the app: max, not sum.
        (&[(false, 4)], &[2], 4),
        (&[(false, 1)], &[2, 3], 5),
        // A sidecar keeps running: its GPUs add to the app's.
        (&[(true, 1)], &[2], 3),
        // The plain init container runs alongside sidecars started before it.
        (&[(true, 1), (false, 4)], &[2], 5),
        // ... but not alongside sidecars started after it.
        (&[(false, 4), (true, 1)], &[2], 4),
        (&[(true, 2), (true, 2)], &[0], 4),
        (&[], &[1, 1, 1], 3),
    ];
    for (init, app, want) in cases {
        let init: Vec<Value> = init
            .iter()
            .enumerate()
            .map(|(i, (sidecar, g))| {
                let mut c = json!({"name": format!("init{i}"),
                                   "resources": {"limits": {"nvidia.com/gpu": g}}});
                if *sidecar {
                    c["restartPolicy"] = json!("Always");
                }
                c
            })
            .collect();
        let app: Vec<Value> =
            app.iter().map(|g| json!({"name": "c", "resources": {"limits": {"nvidia.com/gpu": g}}})).collect();
        let obj = json!({"apiVersion": "v1", "kind": "Pod",
                         "spec": {"initContainers": init, "containers": app}});
        assert_eq!(workload(&obj).groups[0].gpus_per_pod, *want, "{obj}");
    }
}

#[test]
fn gpu_pointers_name_the_containers_that_decide_the_count() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {
        "initContainers": [
            {"name": "side", "restartPolicy": "Always", "resources": {"limits": {"nvidia.com/gpu": 1}}},
            {"name": "big", "resources": {"limits": {"nvidia.com/gpu": 8}}}],
        "containers": [
            {"name": "app", "resources": {"limits": {"nvidia.com/gpu": 2}}},
            {"name": "cpu"}]}});
    let g = &workload(&obj).groups[0];
    assert_eq!(g.gpus_per_pod, 9);
    assert_eq!(
        g.gpu_limit_pointers,
        [
            "/spec/initContainers/0/resources/limits/nvidia.com~1gpu",
            "/spec/initContainers/1/resources/limits/nvidia.com~1gpu",
        ]
    );

    let steady = json!({"apiVersion": "v1", "kind": "Pod", "spec": {
        "initContainers": [{"name": "side", "restartPolicy": "Always",
                            "resources": {"limits": {"nvidia.com/gpu": 1}}}],
        "containers": [{"name": "app", "resources": {"limits": {"nvidia.com/gpu": 2}}}]}});
    assert_eq!(
        workload(&steady).groups[0].gpu_limit_pointers,
        [
            "/spec/initContainers/0/resources/limits/nvidia.com~1gpu",
            "/spec/containers/0/resources/limits/nvidia.com~1gpu",
        ]
    );
}

#[test]
fn gpu_quantities_accept_whole_numbers_and_strings_of_digits() {
    let cases: Vec<(Value, u64)> = vec![
        (json!(8), 8),
        (json!("1"), 1),
        (json!("08"), 8),
        (json!(2.0), 2),
        (json!(0), 0),
        (json!(u64::MAX), u64::MAX),
    ];
    for (v, want) in cases {
        let w = workload(&pod_with_limits(json!({"nvidia.com/gpu": v})));
        assert_eq!(w.groups[0].gpus_per_pod, want, "{v}");
    }
}

#[test]
fn gpu_quantities_that_are_not_whole_counts_are_errors_naming_path_and_value() {
    let path = "/spec/containers/0/resources/limits/nvidia.com~1gpu";
    let cases: Vec<(Value, &str)> = vec![
        (json!("1.5"), "'1.5'"),
        (json!("abc"), "'abc'"),
        (json!("-1"), "'-1'"),
        (json!("1e400"), "'1e400'"),
        (json!("NaN"), "'NaN'"),
        (json!(""), "''"),
        (json!(" 1"), "' 1'"),
        (json!("99999999999999999999999"), "'99999999999999999999999'"),
        (json!(1.5), "1.5"),
        (json!(-1), "-1"),
        (json!(1e300), "1e+300"),
        (json!(true), "true"),
        (json!([1]), "an array"),
        (json!({"n": 1}), "an object"),
    ];
    for (v, shown) in cases {
        let errs = errors(&pod_with_limits(json!({"nvidia.com/gpu": v})));
        assert_error(&errs, path, &["nvidia.com/gpu must be a whole number of GPUs", shown]);
    }
}

#[test]
fn requests_alone_count_and_requests_differing_from_limits_are_errors() {
    let only_requests = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"nvidia.com/gpu": "2"}}}]}});
    let g = &workload(&only_requests).groups[0];
    assert_eq!(g.gpus_per_pod, 2);
    assert_eq!(g.gpu_limit_pointers, ["/spec/containers/0/resources/requests/nvidia.com~1gpu"]);

    let differ = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
        {"name": "c", "resources": {"limits": {"nvidia.com/gpu": 8}, "requests": {"nvidia.com/gpu": 4}}}]}});
    assert_error(
        &errors(&differ),
        "/spec/containers/0/resources/requests/nvidia.com~1gpu",
        &["request (4)", "limit (8)"],
    );
}

#[test]
fn null_resource_values_are_tolerated_like_kubernetes_does() {
    let w = workload(&pod_with_limits(json!({"cpu": null, "memory": null, "nvidia.com/gpu": null})));
    assert_eq!(w.groups[0].gpus_per_pod, 0);
    assert!(w.groups[0].gpu_limit_pointers.is_empty());
}

#[test]
fn mig_devices_are_counted_per_profile() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [
        {"name": "a", "resources": {"limits": {"nvidia.com/mig-3g.40gb": 1, "nvidia.com/mig-1g.10gb": "2"}}},
        {"name": "b", "resources": {"limits": {"nvidia.com/mig-3g.40gb": 1}}}]}});
    let w = workload(&obj);
    let g = &w.groups[0];
    assert_eq!(g.gpus_per_pod, 0);
    assert_eq!(g.mig, [("1g.10gb".to_owned(), 2), ("3g.40gb".to_owned(), 2)]);
    assert!(g.uses_gpus());
    assert_eq!(w.gpu_pods().count(), 1);
    assert_eq!(w.total_gpus(), 0);
}

#[test]
fn mixing_mig_and_full_gpus_in_one_pod_is_an_error() {
    let obj = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {
        "containers": [
            {"name": "a", "resources": {"limits": {"nvidia.com/gpu": 1}}},
            {"name": "b", "resources": {"limits": {"nvidia.com/mig-3g.40gb": 1}}}]}}}});
    assert_error(&errors(&obj), "/spec/template/spec", &["1 full GPU", "nvidia.com/mig-3g.40gb", "not both"]);
}

#[test]
fn mig_quantities_are_validated_too() {
    let errs = errors(&pod_with_limits(json!({"nvidia.com/mig-2g.20gb": "half"})));
    assert_error(
        &errs,
        "/spec/containers/0/resources/limits/nvidia.com~1mig-2g.20gb",
        &["whole number of MIG devices", "'half'"],
    );
    let errs = errors(&pod_with_limits(json!({"nvidia.com/mig-": 1})));
    assert_error(&errs, "/spec/containers/0/resources/limits/nvidia.com~1mig-", &["no MIG profile"]);
}

#[test]
fn extra_gpu_resource_names_come_from_the_config() {
    let cfg = ExtractConfig {
        gpu_resource_names: vec!["nvidia.com/gpu".into(), "amd.com/gpu".into()],
        ..ExtractConfig::default()
    };
    let obj = pod_with_limits(json!({"amd.com/gpu": 2, "nvidia.com/gpu": 1}));
    let Ok(Extracted::Workload(w)) = extract(&(&obj).into(), &cfg) else {
        panic!("expected a workload");
    };
    assert_eq!(w.groups[0].gpus_per_pod, 3);
    assert_eq!(
        w.groups[0].gpu_limit_pointers,
        ["/spec/containers/0/resources/limits/amd.com~1gpu", "/spec/containers/0/resources/limits/nvidia.com~1gpu",]
    );
    // With the default config the AMD resource is just another resource.
    assert_eq!(workload(&obj).groups[0].gpus_per_pod, 1);
}

#[test]
fn ten_thousand_containers_are_summed_without_trouble() {
    let containers: Vec<Value> =
        (0..10_000).map(|i| json!({"name": format!("c{i}"), "resources": {"limits": {"nvidia.com/gpu": 1}}})).collect();
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": containers}});
    let g = &workload(&obj).groups[0];
    assert_eq!(g.gpus_per_pod, 10_000);
    assert_eq!(g.gpu_limit_pointers.len(), 10_000);
}

#[test]
fn huge_counts_saturate_instead_of_overflowing() {
    let obj = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {
        "parallelism": 1_000_000_000,
        "template": {"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"nvidia.com/gpu": u64::MAX}}},
            {"name": "b", "resources": {"limits": {"nvidia.com/gpu": u64::MAX}}}]}}}});
    let w = workload(&obj);
    assert_eq!(w.groups[0].gpus_per_pod, u64::MAX);
    assert_eq!(w.total_gpus(), u64::MAX);
}

// ---------------------------------------------------------------- node selection

#[test]
fn gpu_product_and_memory_come_from_node_selector_and_required_affinity() {
    let affinity = |exprs: Value| {
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": exprs}]}}})
    };
    let h100 = "NVIDIA-H100-80GB-HBM3";
    let a100 = "NVIDIA-A100-SXM4-80GB";
    /// (name, extra pod-spec fields, product, products, memory floor).
    type Case<'a> = (&'a str, Value, Option<&'a str>, Vec<&'a str>, Option<u64>);
    let cases: Vec<Case> = vec![
        (
            "node selector",
            json!({"nodeSelector": {"nvidia.com/gpu.product": h100, "nvidia.com/gpu.memory": "81559"}}),
            Some(h100),
            vec![h100],
            Some(81559),
        ),
        (
            "affinity with one value",
            json!({"affinity": affinity(json!([
                {"key": "nvidia.com/gpu.product", "operator": "In", "values": [h100]}]))}),
            Some(h100),
            vec![h100],
            None,
        ),
        (
            "affinity with several values",
            json!({"affinity": affinity(json!([
                {"key": "nvidia.com/gpu.product", "operator": "In", "values": [h100, a100]},
                {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["40000"]}]))}),
            None,
            vec![a100, h100],
            Some(40001),
        ),
        (
            "selector narrows affinity",
            json!({"nodeSelector": {"nvidia.com/gpu.product": a100},
                   "affinity": affinity(json!([
                       {"key": "nvidia.com/gpu.product", "operator": "In", "values": [h100, a100]}]))}),
            Some(a100),
            vec![a100],
            None,
        ),
        (
            "other operators leave the product open",
            json!({"affinity": affinity(json!([
                {"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": [a100]},
                {"key": "nvidia.com/gpu.memory", "operator": "In", "values": ["81920", "40960"]}]))}),
            None,
            vec![],
            Some(40960),
        ),
        ("no constraint", json!({}), None, vec![], None),
    ];
    for (name, extra, product, products, memory) in cases {
        let mut spec = json!({"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 1}}}]});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let g = workload(&json!({"apiVersion": "v1", "kind": "Pod", "spec": spec})).groups[0].clone();
        assert_eq!(g.gpu_product.as_deref(), product, "{name}");
        assert_eq!(g.gpu_products, products, "{name}");
        assert_eq!(g.gpu_memory_mib, memory, "{name}");
    }
}

#[test]
fn any_affinity_term_without_a_product_leaves_the_product_open() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {
        "containers": [{"name": "c"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["X"]}]},
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}});
    assert!(workload(&obj).groups[0].gpu_products.is_empty());
}

#[test]
fn bad_gpu_memory_labels_are_errors() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "spec": {
        "containers": [{"name": "c"}], "nodeSelector": {"nvidia.com/gpu.memory": "80GB"}}});
    assert_error(&errors(&obj), "/spec/nodeSelector/nvidia.com~1gpu.memory", &["MiB", "'80GB'"]);
}

// ---------------------------------------------------------------- structural errors

#[test]
fn bad_replica_counts_are_errors_naming_the_field_and_value() {
    let cases: Vec<(Value, &str)> = vec![
        (json!(-1), "-1"),
        (json!(1.5), "1.5"),
        (json!(3.0), "3.0"),
        (json!("3"), "'3'"),
        (json!(1_000_000_001u64), "1000000001"),
        (json!([]), "an array of 0 items"),
    ];
    for (v, shown) in cases {
        let obj = json!({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {
            "pytorchReplicaSpecs": {"Worker": {"replicas": v, "template": template(1)}}}});
        assert_error(
            &errors(&obj),
            "/spec/pytorchReplicaSpecs/Worker/replicas",
            &["replicas must be a whole number from 0 to 1000000000", shown],
        );
    }
}

#[test]
fn a_declared_replica_spec_without_a_template_is_an_error() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {
                "pytorchReplicaSpecs": {"Master": {"replicas": 1}}}}),
            "/spec/pytorchReplicaSpecs/Master/template",
        ),
        (json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"parallelism": 2}}), "/spec/template"),
        (
            json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "spec": {
                "headGroupSpec": {"template": template(0)}, "workerGroupSpecs": [{"replicas": 1}]}}),
            "/spec/workerGroupSpecs/0/template",
        ),
        (
            json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
                   "spec": {"leaderWorkerTemplate": {"size": 2}}}),
            "/spec/leaderWorkerTemplate/workerTemplate",
        ),
        (
            json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {}}}}),
            "/spec/template/spec/containers",
        ),
    ];
    for (obj, path) in cases {
        assert_error(&errors(&obj), path, &["required"]);
    }
}

#[test]
fn all_errors_of_one_object_are_reported_together() {
    let obj = json!({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": 5, "labels": {"a": 1}},
        "spec": {"pytorchReplicaSpecs": {
            "Chief": {},
            "Master": {"replicas": -2},
            "Worker": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "c", "resources": {"limits": {"nvidia.com/gpu": "1.5"}}},
                "not a container"]}}}}}});
    let errs = errors(&obj);
    assert_error(&errs, "/metadata/name", &["string"]);
    assert_error(&errs, "/metadata/labels/a", &["string"]);
    assert_error(&errs, "/spec/pytorchReplicaSpecs/Chief", &["unknown replica type", "Master, Worker"]);
    assert_error(&errs, "/spec/pytorchReplicaSpecs/Master/replicas", &["-2"]);
    assert_error(&errs, "/spec/pytorchReplicaSpecs/Master/template", &["required"]);
    assert_error(
        &errs,
        "/spec/pytorchReplicaSpecs/Worker/template/spec/containers/0/resources/limits/nvidia.com~1gpu",
        &["'1.5'"],
    );
    assert_error(&errs, "/spec/pytorchReplicaSpecs/Worker/template/spec/containers/1", &["must be an object"]);
    assert_eq!(errs.len(), 7, "{errs:#?}");
}

#[test]
fn a_rayjob_with_neither_cluster_spec_nor_selector_is_an_error() {
    let obj = json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "spec": {"entrypoint": "x"}});
    assert_error(&errors(&obj), "/spec/rayClusterSpec", &["clusterSelector"]);
}

#[test]
fn error_messages_cut_long_values_short() {
    let long = "9".repeat(10_000) + "x";
    let errs = errors(&pod_with_limits(json!({"nvidia.com/gpu": long})));
    assert!(errs[0].message.len() < 300, "{}", errs[0].message);
    assert!(errs[0].to_string().starts_with("/spec/containers/0/"));
}

#[test]
fn nested_garbage_in_any_field_is_an_answer_not_a_panic() {
    let mut deep = json!(1);
    for _ in 0..500 {
        deep = json!({"spec": [deep]});
    }
    let top_level: Vec<Value> = vec![
        Value::Null,
        json!(42),
        json!("Pod"),
        json!([{"apiVersion": "v1", "kind": "Pod"}]),
        json!({"apiVersion": "v1", "kind": "Pod"}),
        json!({"apiVersion": "v1", "kind": "Pod", "spec": deep.clone()}),
        json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": deep.clone()}}),
        json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [deep.clone()]}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": deep.clone(), "spec": {"containers": [{"resources": deep.clone()}]}}),
        json!({"apiVersion": "v1", "kind": "Pod", "spec": {"affinity": deep.clone(), "nodeSelector": deep.clone()}}),
        json!({"apiVersion": "ray.io/v1", "kind": "RayJob", "spec": {"rayClusterSpec": deep.clone()}}),
        json!({"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "spec": {"replicatedJobs": [deep.clone(), 1, null]}}),
        json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "spec": {"tasks": {"a": deep.clone()}}}),
        json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "spec": {"leaderWorkerTemplate": deep}}),
    ];
    for obj in top_level {
        let _ = run(&obj);
    }
}

// ---------------------------------------------------------------- mutation loop

/// Every node of a JSON value as an RFC 6901 pointer (root excluded).
fn pointers(v: &Value, here: &str, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, c)| (super::fields::child(here, k), c)).collect(),
        Value::Array(a) => a.iter().enumerate().map(|(i, c)| (format!("{here}/{i}"), c)).collect(),
        _ => return,
    };
    for (p, c) in children {
        out.push(p.clone());
        pointers(c, &p, out);
    }
}

fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(u64::MAX),
        json!("x"),
        json!("1"),
        json!(true),
        json!([]),
        json!([null, 7]),
        json!({}),
        json!({"nvidia.com/gpu": "2"}),
    ]
}

#[test]
fn replacing_any_field_of_any_fixture_never_panics() {
    let fixtures = [FAST_LLM, DEEPSPEED, KUEUE_JOB, RAYJOB, TRAINING_RUNTIME];
    let mut runs = 0usize;
    for text in fixtures {
        let original = yaml(text);
        let mut paths = Vec::new();
        pointers(&original, "", &mut paths);
        for p in &paths {
            for r in replacements() {
                let mut obj = original.clone();
                *obj.pointer_mut(p).expect("pointer from the walk") = r;
                let _ = run(&obj);
                runs += 1;
            }
        }
    }
    assert!(runs > 1_000, "only {runs} mutations ran");
}

/// Kinds a fixture's body is sometimes read as, to reach every kind's reader.
const OTHER_KINDS: [(&str, &str); 6] = [
    ("v1", "Pod"),
    ("batch.volcano.sh/v1alpha1", "Job"),
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
    ("jobset.x-k8s.io/v1alpha2", "JobSet"),
    ("ray.io/v1", "RayCluster"),
    ("kubeflow.org/v2beta1", "MPIJob"),
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 600, ..Default::default() })]

    /// Up to three fields of a real fixture, picked by index among the leaves and inner nodes
    /// present at the time, replaced at once by hostile values, the body sometimes read as
    /// another kind: `extract` answers and never panics (failures shrink to a small case).
    #[test]
    fn several_random_replacements_at_once_never_panic(
        fixture in 0..4usize,
        as_kind in proptest::option::of(0..OTHER_KINDS.len()),
        edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<usize>()), 1..=3),
    ) {
        let mut obj = yaml([FAST_LLM, DEEPSPEED, KUEUE_JOB, RAYJOB][fixture]);
        if let Some(k) = as_kind {
            let (api, kind) = OTHER_KINDS[k];
            obj["apiVersion"] = json!(api);
            obj["kind"] = json!(kind);
        }
        let values = replacements();
        for (path, value) in edits {
            let mut paths = Vec::new();
            pointers(&obj, "", &mut paths);
            if paths.is_empty() {
                break;
            }
            let p = &paths[path % paths.len()];
            if let Some(slot) = obj.pointer_mut(p) {
                *slot = values[value % values.len()].clone();
            }
        }
        let _ = run(&obj);
    }
}

// ---------------------------------------------------------------- bounds and owners

#[test]
fn ray_and_elastic_pytorch_groups_carry_their_own_replica_bounds() {
    // The real RayJob pins its GPU worker group with minReplicas = maxReplicas = 4.
    let w = workload(&yaml(RAYJOB));
    assert_eq!(group(&w, "gpu-group").replicas_bounds, Some((4, 4)));
    assert_eq!(group(&w, "head").replicas_bounds, None, "nothing scales the head");
    // A Ray group without bounds gets KubeRay's defaults, 0 and the int32 maximum.
    let rc = workload(&json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "spec": {
        "headGroupSpec": {"template": template(0)},
        "workerGroupSpecs": [{"groupName": "g", "replicas": 2, "template": template(1)}]}}));
    assert_eq!(group(&rc, "g").replicas_bounds, Some((0, 2_147_483_647)));
    // elasticPolicy bounds a PyTorchJob's Workers, not its Master.
    let mut pt = yaml(FAST_LLM);
    pt["spec"]["elasticPolicy"] = json!({"minReplicas": 2, "maxReplicas": 5});
    let w = workload(&pt);
    assert_eq!(group(&w, "Worker").replicas_bounds, Some((2, 5)));
    assert_eq!(group(&w, "Master").replicas_bounds, None);
    pt["spec"]["elasticPolicy"] = json!({"minReplicas": 2});
    assert_eq!(group(&workload(&pt), "Worker").replicas_bounds, Some((2, super::fields::MAX_COUNT)));
    // A bad bound is an error naming the field, never a silent "unbounded".
    pt["spec"]["elasticPolicy"] = json!({"maxReplicas": "5"});
    assert_error(&errors(&pt), "/spec/elasticPolicy/maxReplicas", &["maxReplicas", "whole number", "'5'"]);
    // Without elasticPolicy the Worker group is unbounded, as before.
    assert_eq!(group(&workload(&yaml(FAST_LLM)), "Worker").replicas_bounds, None);
}

#[test]
fn the_controller_owner_reference_is_read_and_malformed_ones_are_errors() {
    let mut pod = pod_with_limits(json!({"nvidia.com/gpu": 8}));
    assert_eq!(workload(&pod).controller, None);
    pod["metadata"]["ownerReferences"] = json!([
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "not-the-controller", "uid": "u1"},
        {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "train", "uid": "u2",
         "controller": true, "blockOwnerDeletion": true}
    ]);
    let owner = workload(&pod).controller.expect("the controller entry");
    assert_eq!(
        (owner.api_version.as_str(), owner.kind.as_str(), owner.name.as_str()),
        ("kubeflow.org/v1", "PyTorchJob", "train")
    );
    assert_eq!(owner.workload_kind(), Some(WorkloadKind::PyTorchJob));
    // Kinds are matched on group too: an apps/v1 ReplicaSet or a Job of another group is not ours.
    pod["metadata"]["ownerReferences"][1]["apiVersion"] = json!("apps/v1");
    pod["metadata"]["ownerReferences"][1]["kind"] = json!("ReplicaSet");
    assert_eq!(workload(&pod).controller.unwrap().workload_kind(), None);
    pod["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "controller": "yes"}]);
    assert_error(&errors(&pod), "/metadata/ownerReferences/0/controller", &["controller", "true or false"]);
    pod["metadata"]["ownerReferences"] = json!({"kind": "Job"});
    assert_error(&errors(&pod), "/metadata/ownerReferences", &["a list"]);
}

/// What the patch plan reads of the object is recorded on each group at extraction: the
/// affinity that pins the product, the node selector's presence, and the replicas and
/// completions fields as written.
#[test]
fn records_what_the_patch_plan_reads_of_the_object() {
    let job = |template_spec: Value, spec_extra: Value| {
        let mut spec = json!({"parallelism": 2, "template": {"spec": template_spec}});
        spec.as_object_mut().unwrap().extend(spec_extra.as_object().unwrap().clone());
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": spec})
    };
    let container = json!([{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": 1}}}]);
    let pinned = job(
        json!({"containers": container, "nodeSelector": {"zone": "a"}, "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["x"]}]}]}}}}),
        json!({"completions": 4}),
    );
    let g = &workload(&pinned).groups[0];
    assert!(g.product_in_affinity && g.has_node_selector);
    assert_eq!(g.replicas_written, Some(super::Written { value: Some(2), text: "2".into() }));
    assert_eq!(g.completions_written, Some(super::Written { value: Some(4), text: "4".into() }));

    // A label *value* naming the product label pins nothing.
    let open = job(
        json!({"containers": container, "affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["nvidia.com/gpu.product"]}]}]}}}}),
        json!({}),
    );
    let g = &workload(&open).groups[0];
    assert!(!g.product_in_affinity && !g.has_node_selector);
    assert_eq!(g.completions_written, None);
}
