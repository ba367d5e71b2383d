//! What "admitted" means (README, "Metrics"), through the real review and the router, and the
//! bounds of every label a client controls.

use super::*;

fn pod_template(gpus: u64) -> serde_json::Value {
    serde_json::json!({"spec": {"restartPolicy": "Never", "containers": [{
        "name": "trainer", "image": "ghcr.io/example/train:1",
        "resources": {"limits": {"nvidia.com/gpu": gpus}}
    }]}})
}

/// A PyTorchJob named `name` of 1 master and `workers` workers, 8 GPUs each.
fn pytorchjob(name: &str, workers: u64) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": "research", "annotations": fits_annotations()},
        "spec": {"pytorchReplicaSpecs": {
            "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": pod_template(8)},
            "Worker": {"replicas": workers, "restartPolicy": "OnFailure", "template": pod_template(8)}
        }}
    })
}

/// An 8-GPU Pod with the same annotations, `metadata` merged into its metadata.
fn pod(metadata: serde_json::Value) -> serde_json::Value {
    let mut pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": "research", "annotations": fits_annotations()},
        "spec": pod_template(8)["spec"].clone()
    });
    for (k, v) in metadata.as_object().expect("metadata is an object") {
        pod["metadata"][k] = v.clone();
    }
    pod
}

/// An AdmissionReview v1 of `object` in namespace research.
fn review_body(operation: &str, object: &serde_json::Value, old: Option<&serde_json::Value>, dry_run: bool) -> String {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": object["kind"]},
            "resource": {"group": "", "version": "v1", "resource": "x"},
            "namespace": "research",
            "operation": operation,
            "userInfo": {"username": "alice"},
            "object": object,
            "oldObject": old,
            "dryRun": dry_run
        }
    })
    .to_string()
}

/// Sends `body` to /validate and checks it was allowed.
async fn validate_allowed(state: &AppState, body: String) {
    let reply = call(webhook_router(state.clone()), request(Method::POST, "/validate", body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["response"]["allowed"], true, "{}", reply.text());
}

/// Sends a CREATE of `object` (not a dry run) to /validate and checks it was allowed.
async fn create(state: &AppState, object: &serde_json::Value) {
    validate_allowed(state, review_body("CREATE", object, None, false)).await;
}

/// The admitted jobs of namespace research on H100-80GB in the metrics, if exported.
async fn admitted_jobs(state: &AppState) -> Option<f64> {
    sample(&metrics_text(state).await, JOBS)
}

/// The value of the series `series` (name and labels exactly), if exported.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

const JOBS: &str = r#"vramgate_admitted_jobs_total{namespace="research",gpu="H100-80GB"}"#;
const GPUS_REQUESTED: &str = r#"vramgate_admitted_gpus_requested_total{namespace="research",gpu="H100-80GB"}"#;

#[tokio::test]
async fn the_same_create_sent_again_counts_once_and_generate_name_objects_each_time() {
    let state = AppState::new(Settings::default());
    let job = pytorchjob("train", 7);
    create(&state, &job).await;
    create(&state, &job).await;
    let text = metrics_text(&state).await;
    assert_eq!(sample(&text, JOBS), Some(1.0), "a re-sent CREATE counted again:\n{text}");
    assert_eq!(sample(&text, GPUS_REQUESTED), Some(64.0), "{text}");
    // Both reviews are still reviews.
    let reviewed: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with(r#"vramgate_reviews_total{endpoint="validate",operation="CREATE",kind="PyTorchJob","#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(reviewed, 2.0, "{text}");

    // Another name is another workload; each generateName object gets a new name.
    create(&state, &pytorchjob("train-2", 7)).await;
    let mut generated = pod(serde_json::json!({"generateName": "train-"}));
    generated["metadata"].as_object_mut().expect("object").remove("name");
    for _ in 0..2 {
        create(&state, &generated).await;
    }
    assert_eq!(admitted_jobs(&state).await, Some(4.0));
}

#[tokio::test]
async fn updates_count_nothing_whatever_they_change() {
    let state = AppState::new(Settings::default());
    create(&state, &pytorchjob("train", 3)).await;
    // A parallelism change, and an unchanged re-apply.
    let (old, new) = (pytorchjob("train", 3), pytorchjob("train", 7));
    validate_allowed(&state, review_body("UPDATE", &new, Some(&old), false)).await;
    validate_allowed(&state, review_body("UPDATE", &new, Some(&new), false)).await;
    let text = metrics_text(&state).await;
    assert_eq!(sample(&text, JOBS), Some(1.0), "an UPDATE added to the admitted counters:\n{text}");
    assert_eq!(sample(&text, GPUS_REQUESTED), Some(32.0), "{text}");
}

#[tokio::test]
async fn a_pod_controlled_by_a_pytorchjob_is_not_counted_and_a_lone_pod_is() {
    let state = AppState::new(Settings::default());
    let owned = pod(serde_json::json!({
        "name": "train-worker-0",
        "ownerReferences": [{
            "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "train",
            "uid": "3d1e5a8c-0000-4000-8000-000000000001", "controller": true, "blockOwnerDeletion": true
        }]
    }));
    let reply = call(
        webhook_router(state.clone()),
        request(Method::POST, "/validate", review_body("CREATE", &owned, None, false)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let text = metrics_text(&state).await;
    assert!(!text.contains("vramgate_admitted_jobs_total{"), "a PyTorchJob's pod was counted:\n{text}");

    // A non-controller owner, or an owner of an unsupported kind (a DaemonSet; a StatefulSet is
    // read since issue 15), does not make it a workload's.
    let lone = pod(serde_json::json!({
        "name": "lone",
        "ownerReferences": [
            {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "train", "uid": "u1", "controller": false},
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "db", "uid": "u2", "controller": true}
        ]
    }));
    create(&state, &lone).await;
    assert_eq!(admitted_jobs(&state).await, Some(1.0));
}

#[tokio::test]
async fn a_dry_run_create_is_not_counted() {
    let state = AppState::new(Settings::default());
    validate_allowed(&state, review_body("CREATE", &pytorchjob("train", 3), None, true)).await;
    let text = metrics_text(&state).await;
    assert!(!text.contains("vramgate_admitted_jobs_total{"), "{text}");
    // Nor does it stop the real CREATE that follows from counting.
    create(&state, &pytorchjob("train", 3)).await;
    assert_eq!(admitted_jobs(&state).await, Some(1.0));
}

#[tokio::test]
async fn an_answer_ready_after_the_webhook_timeout_is_counted_late_not_admitted() {
    // 1 ns: every answer is late.
    let late = Settings::from_yaml("server: {webhook_timeout_seconds: 0.000000001}\n").expect("valid config");
    let state = AppState::new(late);
    create(&state, &pytorchjob("train", 3)).await;
    let text = metrics_text(&state).await;
    assert!(!text.contains("vramgate_admitted_jobs_total{"), "a late answer was counted:\n{text}");
    assert_eq!(sample(&text, r#"vramgate_reviews_late_total{endpoint="validate"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"vramgate_reviews_late_total{endpoint="mutate"}"#), Some(0.0), "{text}");

    // With the default (5 s), the same review is on time.
    let state = AppState::new(Settings::default());
    create(&state, &pytorchjob("train", 3)).await;
    let text = metrics_text(&state).await;
    assert_eq!(sample(&text, JOBS), Some(1.0), "{text}");
    assert_eq!(sample(&text, r#"vramgate_reviews_late_total{endpoint="validate"}"#), Some(0.0), "{text}");
}

#[tokio::test]
async fn gpu_memory_labels_and_mig_profiles_become_closed_gpu_labels() {
    // Warn mode: every one is admitted, whether it fits or not, so each gets a gpu label.
    let state = AppState::new(Settings::from_yaml("policy: {mode: warn}\n").expect("valid config"));
    let mut by_memory = pod(serde_json::json!({"name": "by-memory"}));
    by_memory["spec"]["nodeSelector"] = serde_json::json!({"nvidia.com/gpu.memory": "81559"});
    let mig = |name: &str, resource: &str| {
        let mut p = pod(serde_json::json!({ "name": name }));
        p["spec"]["containers"][0]["resources"]["limits"] = serde_json::json!({ resource: 1 });
        p
    };
    for object in
        [&by_memory, &mig("crafted", "nvidia.com/mig-7g.00000080gb"), &mig("published", "nvidia.com/mig-7g.80gb")]
    {
        create(&state, object).await;
    }
    let text = metrics_text(&state).await;
    let mut jobs: Vec<&str> = text.lines().filter(|l| l.starts_with("vramgate_admitted_jobs_total{")).collect();
    jobs.sort_unstable();
    assert_eq!(
        jobs,
        [
            r#"vramgate_admitted_jobs_total{namespace="research",gpu="H100-80GB (memory label)"} 1"#,
            r#"vramgate_admitted_jobs_total{namespace="research",gpu="H100-80GB MIG 7g.80gb"} 1"#,
            r#"vramgate_admitted_jobs_total{namespace="research",gpu="H100-80GB MIG other"} 1"#,
        ],
        "{text}"
    );
}

/// A stand-in review for the cardinality test: the body is `i`, the record of review `i`
/// carries crafted namespace, kind, operation and GPU text.
fn crafted(_settings: &Settings, endpoint: Endpoint, body: &[u8]) -> Answer {
    let i: usize = std::str::from_utf8(body).ok().and_then(|b| b.parse().ok()).expect("body is a number");
    let gpu = match i % 5 {
        0 => format!("H100-80GB ({} MiB)", 1000 + i),
        1 => format!("A100-80GB MIG 1g.{i:08}gb"),
        2 => "A100-80GB MIG 3g.40gb".to_owned(),
        3 => format!("gpu-{i}"),
        _ => "h100-80gb".to_owned(),
    };
    let kind = match i % 3 {
        0 => "PyTorchJob".to_owned(),
        1 => format!("Kind{i}"),
        _ => "Pod".to_owned(),
    };
    Answer {
        status: 200,
        body: b"{}".to_vec(),
        record: Some(Record {
            endpoint,
            kind,
            namespace: format!("ns-{i}"),
            name: Some(format!("job-{i}")),
            gpu,
            ..record()
        }),
    }
}

#[tokio::test]
async fn crafted_reviews_make_a_bounded_number_of_series_with_other_past_the_caps() {
    const REVIEWS: usize = 5_000;
    let settings = Settings::from_yaml("metrics: {max_namespaces: 10}\n").expect("valid config");
    let state = AppState::with_answer(settings, crafted);
    for i in 0..REVIEWS {
        let reply = call(webhook_router(state.clone()), request(Method::POST, "/validate", i.to_string())).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let text = metrics_text(&state).await;
    let series = |family: &str| text.lines().filter(|l| l.starts_with(&format!("{family}{{"))).collect::<Vec<_>>();

    // Namespaces ns-0..ns-9 (each with the GPU of its index), then `other` with all five GPU
    // labels: 15 series, holding all 5,000 admissions.
    let jobs = series("vramgate_admitted_jobs_total");
    assert_eq!(jobs.len(), 15, "{jobs:#?}");
    let total: f64 = jobs.iter().filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum();
    assert_eq!(total, REVIEWS as f64);
    for family in [
        "vramgate_admitted_gpus_requested_total",
        "vramgate_admitted_cost_usd_total",
        "vramgate_admitted_gpu_seconds_total",
    ] {
        assert_eq!(series(family).len(), 15, "{family}");
    }
    for gpu in ["H100-80GB (memory label)", "A100-80GB MIG other", "A100-80GB MIG 3g.40gb", "other", "H100-80GB"] {
        let line = format!(r#"vramgate_admitted_jobs_total{{namespace="other",gpu="{gpu}"}} {}"#, (REVIEWS - 10) / 5);
        assert!(jobs.contains(&line.as_str()), "missing {line}\n{jobs:#?}");
    }
    assert!(jobs.contains(&r#"vramgate_admitted_jobs_total{namespace="ns-9",gpu="H100-80GB"} 1"#), "{jobs:#?}");
    assert!(!text.contains("ns-10"), "an 11th namespace became a label");

    // Kinds outside the supported set are `other`: three series.
    let reviews = series("vramgate_reviews_total");
    assert_eq!(reviews.len(), 3, "{reviews:#?}");
    assert!(reviews.iter().any(|l| l.contains(r#"kind="other""#)), "{reviews:#?}");
    assert!(text.len() < 16 * 1024, "{} bytes of metrics", text.len());
}
