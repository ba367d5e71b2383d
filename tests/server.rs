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
mod admitted;
