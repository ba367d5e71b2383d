//! Every supported kind inline: how it counts its pods, which field scales each group, replica
//! bounds and owner references.

use super::*;

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
    assert_eq!(group(&workload(&pt), "Worker").replicas_bounds, Some((2, fields::MAX_COUNT)));
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
    assert_eq!(g.replicas_written, Some(Written { value: Some(2), text: "2".into() }));
    assert_eq!(g.completions_written, Some(Written { value: Some(4), text: "4".into() }));

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
