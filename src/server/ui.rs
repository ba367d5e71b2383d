//! The calculator page: `GET /ui` (one HTML, one JS and one CSS file compiled into the binary,
//! no CDN, so it works air-gapped), `GET /api/options` (models, GPUs and choices from the
//! engine) and `POST /api/estimate`, served on the plain (probe and metrics) port by `serve`
//! (unless `--no-ui`) and alone by `vramgate ui --listen ADDR`.
//!
//! `POST /api/estimate` takes `{"fields": {"model": "llama-2-7b", ...}, "plan_gpus": "job"}`:
//! the fields are the `vramgate.io/*` keys without the prefix, parsed by the same
//! [`request::parse_fields`] as the annotations and `vramgate estimate`'s flags, so a bad value
//! is a 400 naming the field exactly as the CLI would. The answer holds the engine's report as
//! `vramgate estimate --output json` prints it and the annotations to paste into a job. No
//! state: every answer depends on the body and the GPU catalog in force only.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::AppState;
use crate::contract::{INPUT, PREFIX};
use crate::estimate::options::*;
use crate::estimate::{GpuSpec, catalog::GpuCatalog, presets, report};
use crate::request;

const INDEX_HTML: &str = include_str!("ui/index.html");
const APP_JS: &str = include_str!("ui/app.js");
const STYLE_CSS: &str = include_str!("ui/style.css");

/// Largest `POST /api/estimate` body: a `config.json` of [`request::MAX_HF_CONFIG_LEN`]
/// (256 KiB) escaped in JSON, plus the other fields.
pub const MAX_UI_BODY_BYTES: usize = 2 * request::MAX_HF_CONFIG_LEN + 16 * 1024;

/// A body must arrive within this: the page shares the probe port's connection cap
/// (`server.metrics_max_connections`), which slow bodies must not hold for long.
pub const UI_BODY_TIMEOUT: Duration = Duration::from_secs(3);

/// The page's routes, to merge into the plain port's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ui", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/ui/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/ui/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/ui/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/api/options", get(options))
        .route("/api/estimate", post(estimate))
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Only this origin's own scripts and styles: nothing is loaded from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(v).unwrap_or_default()).into_response()
}

async fn options(State(state): State<AppState>) -> Response {
    json_response(StatusCode::OK, &options_json(&state.settings().catalog))
}

async fn estimate(State(state): State<AppState>, request: Request) -> Response {
    let too_big = || {
        json_response(StatusCode::PAYLOAD_TOO_LARGE, &json!({"error": format!("body over {MAX_UI_BODY_BYTES} bytes")}))
    };
    // A declared length over the limit is refused before any byte is read.
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UI_BODY_BYTES as u64) {
        return too_big();
    }
    let body = request.into_body();
    let bytes = match tokio::time::timeout(UI_BODY_TIMEOUT, axum::body::to_bytes(body, MAX_UI_BODY_BYTES)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return too_big(),
        Err(_) => {
            return json_response(
                StatusCode::REQUEST_TIMEOUT,
                &json!({"error": format!("body not received within {} s", UI_BODY_TIMEOUT.as_secs())}),
            );
        }
    };
    let (status, v) = estimate_json(&bytes, &state.settings().catalog);
    json_response(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &v)
}

/// The models, GPUs and enumerated choices the page offers, all from the engine.
#[must_use]
pub fn options_json(catalog: &GpuCatalog) -> Value {
    fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|v| name(*v)).collect()
    }
    json!({
        "models": presets::presets().iter().map(|p| p.name).collect::<Vec<_>>(),
        "gpus": catalog.all().iter().map(|g| json!({"name": g.name, "memory_bytes": g.memory_bytes, "usd_per_hour": g.usd_per_hour})).collect::<Vec<_>>(),
        "choices": {
            "workload": names(WorkloadKind::ALL, WorkloadKind::as_str),
            "precision": names(Precision::ALL, Precision::as_str),
            "optimizer": names(Optimizer::ALL, Optimizer::as_str),
            "fine-tuning": names(FineTuningKind::ALL, FineTuningKind::as_str),
            "attention": names(Attention::ALL, Attention::as_str),
            "strategy": names(Strategy::ALL, Strategy::as_str),
            "offload": names(Offload::ALL, Offload::as_str),
            "kv-cache-dtype": names(KvCacheDtype::ALL, KvCacheDtype::as_str),
            "weight-quantization": names(WeightQuantization::ALL, WeightQuantization::as_str),
        },
        "keys": INPUT.iter().map(|k| json!({"name": k.name, "help": k.help})).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EstimateIn {
    fields: BTreeMap<String, String>,
    /// `job` (the job's GPU type, the default) or `all` (any catalog GPU).
    plan_gpus: Option<String>,
}

fn bad_request(problems: Vec<Value>) -> (u16, Value) {
    let joined: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p["field"].as_str().unwrap_or(""), p["message"].as_str().unwrap_or("")))
        .collect();
    (400, json!({"error": joined.join("; "), "problems": problems}))
}

/// `POST /api/estimate`'s status and JSON body for `body`. Pure.
#[must_use]
pub fn estimate_json(body: &[u8], catalog: &GpuCatalog) -> (u16, Value) {
    let input: EstimateIn = match serde_json::from_slice(body) {
        Ok(i) => i,
        Err(e) => {
            return bad_request(vec![json!({"field": "body", "message": format!(
                "not accepted: {e}; accepted: {{\"fields\": {{\"model\": \"llama-2-7b\", ...}}, \"plan_gpus\": \"job\" | \"all\"}}"
            )})]);
        }
    };
    let req = match request::parse_fields(&input.fields) {
        Ok(r) => r,
        Err(problems) => {
            return bad_request(problems.iter().map(|p| json!({"field": p.field, "message": p.message})).collect());
        }
    };
    let gpu_name = req.gpu.clone().unwrap_or_else(|| crate::config::DEFAULT_GPU.to_string());
    let Some(gpu) = catalog.find(&gpu_name) else {
        return bad_request(vec![json!({"field": "gpu", "message": format!(
            "unknown GPU '{gpu_name}'; closest: {}", catalog.suggest(&gpu_name).join(", ")
        )})]);
    };
    let gpus: Vec<&GpuSpec> = match input.plan_gpus.as_deref().unwrap_or("job") {
        "job" => vec![gpu],
        "all" => catalog.all().iter().collect(),
        other => {
            return bad_request(vec![json!({"field": "plan_gpus", "message": format!(
                "'{}' is not accepted; accepted: job, all", request::shown(other)
            )})]);
        }
    };
    let mut job = req.job;
    job.gpus = req.gpus.unwrap_or(1);
    // The same search as `vramgate estimate` (src/cli/estimate.rs): the built-in policy's
    // objective default, GPU-count limit and time cap.
    let search = crate::config::Policy::default().plan_search(gpus, 1, crate::config::DEFAULT_MAX_GPUS, req.objective);
    let r = match report(&job, gpu, &search) {
        Ok(r) => r,
        Err(invalid) => {
            return bad_request(invalid.0.iter().map(|p| json!({"field": p.field, "message": p.message})).collect());
        }
    };
    let annotations: BTreeMap<String, String> = input
        .fields
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (format!("{PREFIX}{k}"), v.clone()))
        .collect();
    (
        200,
        json!({
            "report": r,
            "annotations": annotations,
            "annotations_yaml": annotations_yaml(&annotations),
        }),
    )
}

/// `metadata.annotations` as YAML to paste into a job: every value a double-quoted scalar
/// (JSON string syntax is YAML's double-quoted style, YAML 1.2 section 7.3.1), so numbers and
/// booleans stay strings as the contract requires.
#[must_use]
pub fn annotations_yaml(annotations: &BTreeMap<String, String>) -> String {
    let mut s = String::from("metadata:\n  annotations:\n");
    for (k, v) in annotations {
        s.push_str(&format!("    {k}: {}\n", Value::String(v.clone())));
    }
    s
}

/// `vramgate ui --listen ADDR`: the page alone, on plain HTTP, with `settings`' GPU catalog.
/// Prints the page's URL (the bound address: port 0 picks one) and serves until SIGTERM or
/// Ctrl-C.
///
/// # Errors
/// The runtime cannot start or the address cannot be bound.
pub fn run_standalone(listen: SocketAddr, settings: crate::config::Settings) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let limits = settings.server.clone();
        let state = AppState::new(settings);
        let app = router(state).fallback(|| async { json_response(StatusCode::NOT_FOUND, &json!({"error": "not found; the page is /ui"})) });
        println!("vramgate ui: http://{addr}/ui");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let stop = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        super::listener::serve_plain_with(listener, app, stop, Duration::from_secs(2), &limits).await;
        Ok(())
    })
}
