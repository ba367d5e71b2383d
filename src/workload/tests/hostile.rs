//! Structural errors, and hostile input: a bounded mutation loop over every field of the real
//! fixtures and a proptest of several replacements at once; `extract` answers, never panics.

use super::*;

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
        Value::Object(m) => m.iter().map(|(k, c)| (fields::child(here, k), c)).collect(),
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
