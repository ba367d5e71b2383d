//! /scale subresources and DRA claims of watched workloads.

use super::*;

// ------------------------------------------------------------------ /scale and DRA

/// Annotations of a Llama 2 13B ZeRO-3 fine-tune that fits 8 x 80 GB and not 4 (as `job`).
fn fits_eight_annotations() -> Value {
    job(1, 1, None)["metadata"]["annotations"].clone()
}

/// The Kubeflow docs' PyTorchJob (the fixture), moved to `research`, annotated with
/// [`fits_eight_annotations`], one GPU per pod, Master 1 + Worker `workers`.
fn gpu_pytorchjob(workers: u64) -> Value {
    let mut pj = fixture("pytorchjob-v1-succeeded-kubeflow-website.json");
    pj["metadata"]["namespace"] = json!("research");
    pj["metadata"]["annotations"] = fits_eight_annotations();
    for role in ["Master", "Worker"] {
        pj["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"]["containers"][0]["resources"] =
            json!({"limits": {"nvidia.com/gpu": 1}});
    }
    pj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = json!(workers);
    pj
}

/// A `kubectl scale pytorchjob --replicas=N` review, shaped as in tests/admission.rs.
fn scale_review(name: &str, replicas: u64, old: u64) -> Value {
    let scale = |n: u64| {
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
               "metadata": {"name": name, "namespace": "research"}, "spec": {"replicas": n}})
    };
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "b6c1f1d2-0000-4000-8000-000000000002",
        "kind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
        "resource": {"group": "kubeflow.org", "version": "v1", "resource": "pytorchjobs"},
        "subResource": "scale", "name": name, "namespace": "research", "operation": "UPDATE",
        "userInfo": {"username": "hpa"}, "object": scale(replicas), "oldObject": scale(old), "dryRun": false}})
}

/// The UPDATE of `old` to `new`, as `kubectl edit` sends it.
fn update_review(new: &Value, old: &Value) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "b6c1f1d2-0000-4000-8000-000000000003",
        "kind": {"group": "kubeflow.org", "version": "v1", "kind": "PyTorchJob"},
        "resource": {"group": "kubeflow.org", "version": "v1", "resource": "pytorchjobs"},
        "name": new["metadata"]["name"], "namespace": "research", "operation": "UPDATE",
        "userInfo": {"username": "alice"}, "object": new, "oldObject": old, "dryRun": false}})
}

#[tokio::test]
async fn a_scale_of_a_watched_pytorchjob_is_judged_as_the_same_update() {
    let api = api_with_nodes();
    let parent = gpu_pytorchjob(3);
    let name = parent["metadata"]["name"].as_str().unwrap().to_owned();
    api.set_list(PYTORCHJOBS, Listed::Items(vec![parent.clone()]));
    let run = start(api, Settings::default(), cluster_opts());
    eventually("the inventory", || run.state.cluster().inventory()).await;
    eventually("the watched PyTorchJob", || {
        run.state.cluster().objects().parent("pytorchjobs.kubeflow.org", "research", &name).cloned()
    })
    .await;

    // 1 + 1 GPUs cannot hold the job; 1 + 7 (the A100 node's 8) can.
    for (workers, allowed) in [(1, false), (7, true)] {
        let scaled = review_body(&run.state, "/validate", &scale_review(&name, workers, 3)).await;
        let updated = review_body(&run.state, "/validate", &update_review(&gpu_pytorchjob(workers), &parent)).await;
        assert_eq!(scaled["allowed"], json!(allowed), "scale to {workers}: {scaled}");
        assert_eq!(scaled["allowed"], updated["allowed"], "scale and UPDATE to {workers} differ:\n{scaled}\n{updated}");
        assert_eq!(scaled["auditAnnotations"]["reason"], updated["auditAnnotations"]["reason"], "{scaled}\n{updated}");
        if !allowed {
            let m = message(&scaled);
            let prefix =
                format!("scale of PyTorchJob research/{name} to 1 (spec.pytorchReplicaSpecs.Worker.replicas): ");
            assert!(m.contains(&prefix), "{m}");
            assert_eq!(m.replace(&prefix, ""), message(&updated), "the scale says what the UPDATE says");
        }
    }
    // A scale of a PyTorchJob the watch has not seen is unjudged (warned), not judged blind.
    let unseen = review_body(&run.state, "/validate", &scale_review("not-watched", 64, 1)).await;
    assert_eq!(unseen["auditAnnotations"]["reason"], "unjudged-scale", "{unseen}");
    assert!(message(&unseen).contains("not (yet) in the cluster state"), "{unseen}");
    run.stop().await;
}

/// The Kubernetes docs' DRA Job (tests/fixtures/manifests), annotated, with `parallelism`
/// pods and only its per-pod claim (the shared `resourceClaimName` claim dropped).
fn dra_job(parallelism: u64) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/manifests/job-dra-claims-k8s-docs.yaml"
    ))
    .expect("fixture");
    let mut j: Value = serde_yaml_ng::from_str(&text).expect("YAML");
    j["metadata"]["annotations"] = fits_eight_annotations();
    j["spec"]["parallelism"] = json!(parallelism);
    let spec = &mut j["spec"]["template"]["spec"];
    spec["resourceClaims"].as_array_mut().unwrap().retain(|c| c.get("resourceClaimTemplateName").is_some());
    spec["containers"].as_array_mut().unwrap().truncate(1);
    j
}

#[tokio::test]
async fn dra_claims_count_the_gpus_of_their_watched_resource_claim_template() {
    let api = api_with_nodes();
    api.set_list(CLAIM_TEMPLATES, Listed::Items(vec![fixture("resourceclaimtemplate-v1-4gpu-k8s-docs.json")]));
    let run = start(api, Settings::default(), cluster_opts());
    eventually("the inventory", || run.state.cluster().inventory()).await;
    eventually("the ResourceClaimTemplate", || {
        run.state.cluster().objects().claim_template("research", "example-resource-claim-template").cloned()
    })
    .await;
    // Each pod's claim is 4 gpu.nvidia.com devices: judged as nvidia.com/gpu: 4 per pod would be.
    for pods in [1, 2] {
        let dra = review(&run.state, "/validate", &dra_job(pods)).await;
        let plain = review(&run.state, "/validate", &job(pods, 4, None)).await;
        for k in ["allowed", "auditAnnotations", "warnings", "status"] {
            assert_eq!(dra.get(k), plain.get(k), "{pods} pods, {k}:\n{dra}\n{plain}");
        }
    }
    // 2 pods x 4 = the 8 GPUs the job needs.
    let fits = review(&run.state, "/validate", &dra_job(2)).await;
    assert_eq!(fits["auditAnnotations"]["reason"], "fits", "{fits}");
    // The shared claim of the docs' Job is still named, not counted.
    let docs = review(&run.state, "/validate", &{
        let mut j = dra_job(2);
        j["spec"]["template"]["spec"]["resourceClaims"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "shared-gpu-claim", "resourceClaimName": "example-resource-claim"}));
        j
    })
    .await;
    assert!(message(&docs).contains("example-resource-claim'"), "{docs}");
    run.stop().await;
}

#[test]
fn a_scale_of_a_leaderworkerset_sets_its_spec_replicas() {
    let settings = Settings::default();
    let inv = inventory_of(&real_nodes(), &settings);
    // An LWS of groups of 2 pods x 4 GPUs, annotated like `job`: one group (8 GPUs) fits.
    let lws = |replicas: u64| {
        let t = json!({"spec": {"containers": [{"name": "c", "image": "ghcr.io/example/train:1",
                                                "resources": {"limits": {"nvidia.com/gpu": 4}}}]}});
        json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
               "metadata": {"name": "vllm", "namespace": "research", "uid": "lws-1", "annotations": fits_eight_annotations()},
               "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": 2, "workerTemplate": t}}})
    };
    let mut objects = vramgate::cluster::ClusterObjects::default();
    let parent = vramgate::cluster::ObjectRecord::from_value("leaderworkersets.leaderworkerset.x-k8s.io", lws(1));
    objects.parents.insert((parent.resource.clone(), parent.namespace.clone(), parent.name.clone()), parent.object);
    let view = vramgate::cluster::ClusterView {
        inventory: &inv,
        stale_seconds: None,
        max_stale_seconds: 600,
        objects: Some(&objects),
    };
    let answer = |body: Value| {
        let a = vramgate::admission::review(
            &settings,
            Some(view),
            vramgate::admission::Endpoint::Validate,
            &serde_json::to_vec(&body).unwrap(),
        );
        let r = a.record.expect("a record");
        (r.decision, r.reason, r.gpus_requested)
    };
    let mut scale = scale_review("vllm", 2, 1);
    scale["request"]["resource"] =
        json!({"group": "leaderworkerset.x-k8s.io", "version": "v1", "resource": "leaderworkersets"});
    let mut update = update_review(&lws(2), &lws(1));
    update["request"]["kind"] =
        json!({"group": "leaderworkerset.x-k8s.io", "version": "v1", "kind": "LeaderWorkerSet"});
    // 2 groups x 2 pods x 4 GPUs = 16: more than the cluster's 8 A100s, as the UPDATE says.
    let (scaled, updated) = (answer(scale), answer(update));
    assert_eq!(scaled, updated);
    assert_eq!(scaled.2, 16, "{scaled:?}");
    assert_eq!(scaled.0, vramgate::admission::Decision::Deny, "{scaled:?}");
}
