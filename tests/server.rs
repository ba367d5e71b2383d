//! The webhook and metrics routers without a socket (`tower::ServiceExt::oneshot`): routes,
//! status codes and bodies of the transport layer, the body limit, probes, and the metrics
//! exposition. Nothing here depends on what `admission::review` decides.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use std::time::Duration;
use tower::ServiceExt;

use crate::common::objects::fits_annotations;
use vramgate::admission::{Answer, Decision, Endpoint, Reason, Record};
use vramgate::config::Settings;
use vramgate::server::{AppState, MAX_BODY_BYTES, Metrics, metrics_router, webhook_router};

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

async fn call(router: Router, request: Request<Body>) -> Reply {
    let response = router.oneshot(request).await.expect("routers are infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ASCII content type").to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    Reply { status, content_type, body }
}

fn request(method: Method, uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("valid request")
}

async fn metrics_text(state: &AppState) -> String {
    let reply = call(metrics_router(state.clone()), request(Method::GET, "/metrics", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.text()
}

fn assert_json_error(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.content_type, "application/json");
    crate::common::json_error_message(&reply.body);
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404() {
    let state = AppState::new(Settings::default());
    for path in ["/", "/validate/extra", "/metrics", "/admit"] {
        let reply = call(webhook_router(state.clone()), request(Method::POST, path, "{}")).await;
        assert_json_error(&reply, StatusCode::NOT_FOUND);
    }
    let reply = call(metrics_router(state), request(Method::GET, "/validate", Body::empty())).await;
    assert_json_error(&reply, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405() {
    let state = AppState::new(Settings::default());
    for (method, path) in [(Method::GET, "/validate"), (Method::PUT, "/mutate"), (Method::DELETE, "/validate")] {
        let reply = call(webhook_router(state.clone()), request(method, path, Body::empty())).await;
        assert_json_error(&reply, StatusCode::METHOD_NOT_ALLOWED);
    }
    let reply = call(metrics_router(state), request(Method::POST, "/metrics", Body::empty())).await;
    assert_json_error(&reply, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_body_over_7_mib_is_refused_with_413_and_counted() {
    assert_eq!(MAX_BODY_BYTES, 7 * 1024 * 1024);
    let state = AppState::new(Settings::default());

    // Without Content-Length (as a chunked body arrives): refused once the limit is passed.
    let reply =
        call(webhook_router(state.clone()), request(Method::POST, "/validate", vec![b' '; MAX_BODY_BYTES + 1])).await;
    assert_json_error(&reply, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        reply.json()["error"].as_str().is_some_and(|m| m.contains(&MAX_BODY_BYTES.to_string())),
        "{}",
        reply.text()
    );

    // With a Content-Length over the limit: refused before reading.
    let mut declared = request(Method::POST, "/mutate", vec![b' '; MAX_BODY_BYTES + 1]);
    declared.headers_mut().insert(header::CONTENT_LENGTH, (MAX_BODY_BYTES + 1).into());
    let reply = call(webhook_router(state.clone()), declared).await;
    assert_json_error(&reply, StatusCode::PAYLOAD_TOO_LARGE);

    let text = metrics_text(&state).await;
    assert!(text.contains(r#"vramgate_review_errors_total{endpoint="validate",code="413"} 1"#), "{text}");
    assert!(text.contains(r#"vramgate_review_errors_total{endpoint="mutate",code="413"} 1"#), "{text}");
}

#[tokio::test]
async fn a_body_just_under_the_limit_reaches_the_review() {
    let state = AppState::new(Settings::default());
    // Not a usable AdmissionReview, but within the limit: the review answers it (a 400 from
    // `answer`, counted as a review error), the transport does not refuse it.
    let mut body = vec![b' '; MAX_BODY_BYTES - 1];
    body[0] = b'{';
    let mut req = request(Method::POST, "/validate", body);
    req.headers_mut().insert(header::CONTENT_LENGTH, (MAX_BODY_BYTES - 1).into());
    let reply = call(webhook_router(state.clone()), req).await;
    assert!(reply.status == StatusCode::OK || reply.status == StatusCode::BAD_REQUEST, "{}", reply.status);
    assert_eq!(reply.content_type, "application/json");
    reply.json();

    let text = metrics_text(&state).await;
    assert!(!text.contains(r#"code="413""#), "{text}");
    assert!(text.contains(r#"vramgate_review_duration_seconds_count{endpoint="validate"} 1"#), "{text}");
}

#[tokio::test]
async fn reviews_answer_json_on_both_endpoints_and_are_timed() {
    let state = AppState::new(Settings::default());
    for path in ["/validate", "/mutate"] {
        let reply = call(webhook_router(state.clone()), request(Method::POST, path, "not json")).await;
        assert!(reply.status == StatusCode::OK || reply.status == StatusCode::BAD_REQUEST, "{}", reply.status);
        assert_eq!(reply.content_type, "application/json");
        reply.json();
    }
    let text = metrics_text(&state).await;
    for endpoint in ["validate", "mutate"] {
        assert!(
            text.contains(&format!(r#"vramgate_review_duration_seconds_count{{endpoint="{endpoint}"}} 1"#)),
            "{text}"
        );
        // Each answer is counted once: as a review (200) or as a review error (400).
        let counted = text
            .lines()
            .filter(|l| l.starts_with("vramgate_review") && !l.starts_with("vramgate_review_duration"))
            .filter(|l| !l.starts_with("vramgate_reviews_late"))
            .filter(|l| l.contains(&format!(r#"endpoint="{endpoint}""#)))
            .count();
        assert_eq!(counted, 1, "{text}");
    }
}

#[tokio::test]
async fn healthz_is_always_ok() {
    let state = AppState::new(Settings::default());
    let reply = call(metrics_router(state), request(Method::GET, "/healthz", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "ok");
}

#[tokio::test]
async fn readyz_follows_the_ready_flag() {
    let state = AppState::new(Settings::default());
    let readyz = || call(metrics_router(state.clone()), request(Method::GET, "/readyz", Body::empty()));
    assert_eq!(readyz().await.status, StatusCode::SERVICE_UNAVAILABLE, "not ready before serving");
    state.set_ready(true);
    assert_eq!(readyz().await.status, StatusCode::OK);
    state.set_ready(false);
    assert_eq!(readyz().await.status, StatusCode::SERVICE_UNAVAILABLE, "not ready during shutdown");
}

#[tokio::test]
async fn metrics_are_openmetrics_text_with_build_info() {
    let state = AppState::new(Settings::default());
    let reply = call(metrics_router(state.clone()), request(Method::GET, "/metrics", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    let text = reply.text();
    assert!(text.contains(&format!(r#"vramgate_build_info{{version="{}"}} 1"#, env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains(r#"vramgate_config_reloads_total{result="success"} 0"#), "{text}");
    assert!(text.contains(r#"vramgate_certificate_reloads_total{result="failure"} 0"#), "{text}");

    // A family appears once it has a series; with one of each, every family is documented.
    count(state.metrics(), &record());
    state.metrics().record_error(Endpoint::Validate, 400);
    state.metrics().observe_duration(Endpoint::Validate, 0.001);
    let text = metrics_text(&state).await;
    for family in [
        "vramgate_reviews",
        "vramgate_reviews_late",
        "vramgate_review_errors",
        "vramgate_review_duration_seconds",
        "vramgate_admitted_jobs",
        "vramgate_admitted_gpu_seconds",
        "vramgate_admitted_cost_usd",
        "vramgate_admitted_gpus_requested",
        "vramgate_admitted_gpus_needed",
        "vramgate_admitted_overprovisioned_cost_usd",
        "vramgate_config_reloads",
        "vramgate_certificate_reloads",
        "vramgate_config_last_reload_success_timestamp_seconds",
        "vramgate_certificate_not_after_timestamp_seconds",
        "vramgate_build_info",
    ] {
        assert!(text.contains(&format!("# HELP {family} ")), "no help for {family}: {text}");
    }
}

/// Asserts that each of `lines` stands as a whole line in `text`.
fn assert_lines(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.lines().any(|l| l == *line), "missing {line}\n{text}");
    }
}

/// [`record`] without the estimates a training run brings (GPUs needed, GPU-hours, cost):
/// a review the engine could not estimate, or an inference server, priced per hour.
fn record_without_estimates() -> Record {
    Record { gpus_needed: None, gpu_hours: None, cost_usd: None, overprovisioned_cost_usd: None, ..record() }
}

fn record() -> Record {
    Record {
        endpoint: Endpoint::Validate,
        operation: "CREATE".into(),
        kind: "PyTorchJob".into(),
        name: None,
        owned_by_workload: false,
        decision: Decision::Allow,
        reason: Reason::Fits,
        dry_run: false,
        namespace: "research".into(),
        gpu: "h100-80gb".into(),
        gpus_requested: 8,
        gpus_needed: Some(4),
        gpu_hours: Some(12.5),
        cost_usd: Some(50.0),
        overprovisioned_cost_usd: Some(25.0),
        exemption: None,
        serving: None,
    }
}

fn encode(metrics: &Metrics) -> String {
    metrics.encode().expect("metrics encode")
}

/// Counts `record` as a review answered at once, GPU labels from the built-in catalog.
fn count(metrics: &Metrics, record: &Record) {
    metrics.record(record, &Settings::default().catalog, Duration::ZERO);
}

#[test]
fn an_admitted_record_counts_the_review_and_the_spend() {
    let metrics = Metrics::new();
    count(&metrics, &record());
    count(&metrics, &record());
    let text = encode(&metrics);
    assert_lines(
        &text,
        &[
            r#"vramgate_reviews_total{endpoint="validate",operation="CREATE",kind="PyTorchJob",decision="allow",reason="fits"} 2"#,
            r#"vramgate_admitted_jobs_total{namespace="research",gpu="H100-80GB"} 2"#,
            r#"vramgate_admitted_gpus_requested_total{namespace="research",gpu="H100-80GB"} 16"#,
            r#"vramgate_admitted_gpus_needed_total{namespace="research",gpu="H100-80GB"} 8"#,
            r#"vramgate_admitted_gpu_seconds_total{namespace="research",gpu="H100-80GB"} 90000.0"#,
            r#"vramgate_admitted_cost_usd_total{namespace="research",gpu="H100-80GB"} 100.0"#,
            r#"vramgate_admitted_overprovisioned_cost_usd_total{namespace="research",gpu="H100-80GB"} 50.0"#,
        ],
    );
}

#[test]
fn a_warned_record_is_an_admission_and_missing_estimates_add_nothing() {
    let metrics = Metrics::new();
    count(&metrics, &Record { decision: Decision::Warn, reason: Reason::NearCapacity, ..record_without_estimates() });
    let text = encode(&metrics);
    assert!(text.contains(r#"vramgate_admitted_jobs_total{namespace="research",gpu="H100-80GB"} 1"#), "{text}");
    assert!(text.contains(r#"vramgate_admitted_gpus_requested_total{namespace="research",gpu="H100-80GB"} 8"#));
    for family in ["gpus_needed", "gpu_seconds", "cost_usd", "overprovisioned_cost_usd"] {
        assert!(!text.contains(&format!("vramgate_admitted_{family}_total{{")), "{family} added: {text}");
    }
}

/// An admitted inference server is priced per hour and counted by the KV-cache tokens it holds
/// (each replica's pool x replicas, as the review records it); a training job adds nothing there.
#[test]
fn an_admitted_server_counts_its_dollars_per_hour_and_kv_cache_tokens() {
    let metrics = Metrics::new();
    let server = vramgate::admission::ServingRecord { usd_per_hour: 12.5, kv_cache_tokens: 82_000 };
    let served = Record { kind: "Deployment".into(), serving: Some(server), ..record_without_estimates() };
    count(&metrics, &served);
    count(&metrics, &Record { name: Some("other".into()), ..served.clone() });
    count(&metrics, &Record { decision: Decision::Deny, reason: Reason::WillNotStart, ..served.clone() });
    count(&metrics, &record());
    let text = encode(&metrics);
    assert_lines(
        &text,
        &[
            r#"vramgate_admitted_serving_usd_per_hour_total{namespace="research",gpu="H100-80GB"} 25.0"#,
            r#"vramgate_admitted_serving_kv_cache_tokens_total{namespace="research",gpu="H100-80GB"} 164000"#,
            r#"vramgate_admitted_jobs_total{namespace="research",gpu="H100-80GB"} 3"#,
        ],
    );
}

#[test]
fn dry_runs_mutations_denials_and_skips_count_as_reviews_only() {
    let not_admissions = [
        Record { dry_run: true, ..record() },
        Record { endpoint: Endpoint::Mutate, reason: Reason::Patched, ..record() },
        Record { decision: Decision::Deny, reason: Reason::DoesNotFit, ..record() },
        Record { decision: Decision::Skip, reason: Reason::NoGpus, gpu: String::new(), ..record() },
    ];
    let metrics = Metrics::new();
    for r in &not_admissions {
        count(&metrics, r);
    }
    let text = encode(&metrics);
    assert!(!text.contains("vramgate_admitted_jobs_total{"), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("vramgate_admitted_")
            && !l.starts_with("vramgate_admitted_jobs")
            && l.contains('{')),
        "{text}"
    );
    let review_lines = text.lines().filter(|l| l.starts_with("vramgate_reviews_total{")).collect::<Vec<_>>();
    assert_eq!(review_lines.len(), 4, "{text}");
    assert!(text.contains(
        r#"vramgate_reviews_total{endpoint="validate",operation="CREATE",kind="PyTorchJob",decision="allow",reason="fits"} 1"#
    ));
    assert!(text.contains(
        r#"vramgate_reviews_total{endpoint="mutate",operation="CREATE",kind="PyTorchJob",decision="allow",reason="patched"} 1"#
    ));
    assert!(text.contains(r#"decision="deny",reason="does-not-fit"} 1"#), "{text}");
    assert!(text.contains(r#"decision="skip",reason="no-gpus"} 1"#), "{text}");
}

#[test]
fn errors_reloads_and_certificate_expiry_are_exposed() {
    let metrics = Metrics::new();
    metrics.record_error(Endpoint::Validate, 400);
    metrics.record_error(Endpoint::Validate, 400);
    metrics.record_error(Endpoint::Mutate, 500);
    metrics.config_reload(false);
    metrics.config_reload(true);
    metrics.certificate_reload(false);
    metrics.set_certificate_not_after(1_900_000_000);
    metrics.observe_duration(Endpoint::Mutate, 0.0003);
    let text = encode(&metrics);
    assert_lines(
        &text,
        &[
            r#"vramgate_review_errors_total{endpoint="validate",code="400"} 2"#,
            r#"vramgate_review_errors_total{endpoint="mutate",code="500"} 1"#,
            r#"vramgate_config_reloads_total{result="success"} 1"#,
            r#"vramgate_config_reloads_total{result="failure"} 1"#,
            r#"vramgate_certificate_reloads_total{result="failure"} 1"#,
            r#"vramgate_certificate_reloads_total{result="success"} 0"#,
            "vramgate_certificate_not_after_timestamp_seconds 1900000000.0",
            r#"vramgate_review_duration_seconds_bucket{le="0.00025",endpoint="mutate"} 0"#,
            r#"vramgate_review_duration_seconds_bucket{le="0.0005",endpoint="mutate"} 1"#,
            r#"vramgate_review_duration_seconds_count{endpoint="mutate"} 1"#,
        ],
    );
    let reloaded_at = text
        .lines()
        .find_map(|l| l.strip_prefix("vramgate_config_last_reload_success_timestamp_seconds "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("last reload timestamp");
    assert!(reloaded_at > 1_600_000_000.0, "{reloaded_at}");
}

/// A stand-in review that answers 200 with a fixed body and the record of an admission.
fn admit(_settings: &Settings, endpoint: Endpoint, body: &[u8]) -> Answer {
    Answer {
        status: 200,
        body: format!(r#"{{"endpoint":"{}","bytes":{}}}"#, endpoint.as_str(), body.len()).into_bytes(),
        record: Some(Record { endpoint, ..record() }),
    }
}

/// A stand-in review with a bug.
fn panics(_settings: &Settings, _endpoint: Endpoint, _body: &[u8]) -> Answer {
    panic!("a bug in the review");
}

#[tokio::test]
async fn the_answer_status_and_body_pass_through_and_its_record_is_counted() {
    let state = AppState::with_answer(Settings::default(), admit);
    let reply = call(webhook_router(state.clone()), request(Method::POST, "/validate", "12345")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.text(), r#"{"endpoint":"validate","bytes":5}"#);
    let reply = call(webhook_router(state.clone()), request(Method::POST, "/mutate", "{}")).await;
    assert_eq!(reply.text(), r#"{"endpoint":"mutate","bytes":2}"#);

    let text = metrics_text(&state).await;
    assert_lines(
        &text,
        &[
            r#"vramgate_reviews_total{endpoint="validate",operation="CREATE",kind="PyTorchJob",decision="allow",reason="fits"} 1"#,
            r#"vramgate_reviews_total{endpoint="mutate",operation="CREATE",kind="PyTorchJob",decision="allow",reason="fits"} 1"#,
            // Only the validating review counts as an admission.
            r#"vramgate_admitted_jobs_total{namespace="research",gpu="H100-80GB"} 1"#,
            r#"vramgate_review_duration_seconds_count{endpoint="validate"} 1"#,
            r#"vramgate_review_duration_seconds_count{endpoint="mutate"} 1"#,
        ],
    );
    assert!(!text.contains("vramgate_review_errors_total{"), "{text}");
}

#[tokio::test]
async fn a_panicking_review_is_a_json_500_not_a_dropped_connection() {
    let state = AppState::with_answer(Settings::default(), panics);
    let reply = call(webhook_router(state.clone()), request(Method::POST, "/validate", "{}")).await;
    assert_json_error(&reply, StatusCode::INTERNAL_SERVER_ERROR);
    // The server goes on answering.
    let reply = call(webhook_router(state.clone()), request(Method::POST, "/mutate", "{}")).await;
    assert_json_error(&reply, StatusCode::INTERNAL_SERVER_ERROR);
    let text = metrics_text(&state).await;
    assert!(text.contains(r#"vramgate_review_errors_total{endpoint="validate",code="500"} 1"#), "{text}");
    assert!(text.contains(r#"vramgate_review_errors_total{endpoint="mutate",code="500"} 1"#), "{text}");
}

// What "admitted" means (README, "Metrics"), through the real review and the router, and the
// bounds of every label a client controls.

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
