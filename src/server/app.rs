//! The two axum routers: the webhook (`/validate`, `/mutate`) and the probes and metrics
//! (`/healthz`, `/readyz`, `/metrics`), and the state they share.
//!
//! Transport errors are answered here with `{"error": "..."}` JSON bodies: 404 for an unknown
//! path, 405 for a wrong method, 413 for a body over the body limit ([`MAX_BODY_BYTES`] by
//! default), 408 for a body that does not arrive within the body read timeout, 503 for a review
//! that does not finish within the request timeout (reading the body and waiting for one of the
//! `max_concurrent_reviews` slots included), 400 for a body that cannot be read.
//!
//! The body is read before a review slot is taken, so a client trickling its body holds its
//! own connection, not a slot honest reviews wait for. The bytes of bodies held at once (being
//! read or answered) are bounded by a budget of `max_concurrent_reviews` x `max_body_bytes`,
//! taken as the bytes arrive: a slow body holds only the bytes it has sent. Everything else
//! is [`admission::review`]'s status and body, passed through. The limits are
//! [`crate::config::ServerLimits`], taken from the settings the state is created with; later settings (a
//! reload) do not change them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::metrics;
use super::state::AppState;
use crate::admission::{self, Endpoint};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Largest review body accepted by default: 7 MiB (`server.max_body_bytes`; see
/// [`crate::config::DEFAULT_MAX_BODY_BYTES`]).
pub const MAX_BODY_BYTES: usize = crate::config::DEFAULT_MAX_BODY_BYTES;

const APPLICATION_JSON: &str = "application/json";

/// The webhook routes: `POST /validate` and `POST /mutate`.
pub fn webhook_router(state: AppState) -> Router {
    let max_body_bytes = state.limits().max_body_bytes;
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // `review` reads the body itself under the same limit; this one holds for any other
        // extractor (without it axum's default is 2 MB).
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// The plain-HTTP routes: `GET /healthz`, `GET /readyz` and `GET /metrics`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn validate(State(state): State<AppState>, request: Request) -> Response {
    review(&state, Endpoint::Validate, request).await
}

async fn mutate(State(state): State<AppState>, request: Request) -> Response {
    review(&state, Endpoint::Mutate, request).await
}

/// One review: read the body (bounded in size and time), wait for a slot, answer it, count
/// it, time it; all within the request timeout.
async fn review(state: &AppState, endpoint: Endpoint, request: Request) -> Response {
    let started = Instant::now();
    let limits = state.limits();
    let response = match tokio::time::timeout(limits.request_timeout, review_in_time(state, endpoint, request)).await {
        Ok(Ok(response)) => response,
        Ok(Err((status, message))) => refuse(state, endpoint, status, &message),
        Err(_) => refuse(
            state,
            endpoint,
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("the review did not finish within the request timeout of {}", seconds(limits.request_timeout)),
        ),
    };
    let mut response = response;
    let elapsed = started.elapsed();
    // Counted here, where the whole review's time is known: an answer ready after the webhook
    // timeout is no admission (the API server gave up on it).
    if let Some(record) = response.extensions_mut().remove::<admission::Record>() {
        state.metrics().record(&record, &state.settings().catalog, elapsed);
    }
    state.metrics().observe_duration(endpoint, elapsed.as_secs_f64());
    response
}

async fn review_in_time(
    state: &AppState,
    endpoint: Endpoint,
    request: Request,
) -> Result<Response, (StatusCode, String)> {
    let limits = state.limits();
    // The body first, without a slot: a slow body must not hold one (it holds its connection,
    // bounded by `max_connections`, and the body bytes it has sent, bounded by the budget).
    let read = read_body(request, limits.max_body_bytes, state.body_budget());
    let (body, _budget) = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(body) => body?,
        Err(_) => {
            return Err((
                StatusCode::REQUEST_TIMEOUT,
                format!("the request body did not arrive within {}", seconds(limits.body_read_timeout)),
            ));
        }
    };
    // Reviews waiting here are bounded in time by the request timeout and in number by the
    // connection limit (one request at a time per HTTP/1.1 connection).
    let _slot = state
        .review_slots()
        .acquire()
        .await
        .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "the webhook is shutting down".to_owned()))?;
    Ok(answer(state, endpoint, &body))
}

fn refuse(state: &AppState, endpoint: Endpoint, status: StatusCode, message: &str) -> Response {
    tracing::debug!(endpoint = endpoint.as_str(), status = status.as_u16(), "review refused: {message}");
    state.metrics().record_error(endpoint, status.as_u16());
    json_error(status, message)
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// The whole body, at most `max_bytes`: a declared `Content-Length` over the limit is refused
/// before reading; a longer body is refused once it passes the limit. Each chunk takes its
/// bytes from `budget` as it arrives (waiting while the budget is spent); the returned permit
/// holds them until the review is done.
async fn read_body(
    request: Request,
    max_bytes: usize,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), (StatusCode, String)> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {max_bytes} bytes{}", mib(max_bytes)),
        )
    };
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_bytes as u64) {
        return Err(too_large());
    }
    let mut chunks = request.into_body().into_data_stream();
    // With a declared length (the API server always sends one): one buffer reserved from it,
    // each chunk copied in as it arrives and then dropped, so a body costs about its own size,
    // not its received chunks plus a joined copy. The reservation is only address space: pages
    // become resident as bytes arrive, so a slow body still holds only what it has sent.
    // Without one (chunked): the chunks as received, joined once at the end; a buffer grown by
    // doubling instead pushed the soak's RSS from about 48 to 90 MiB (an allocator keeps what
    // the reallocations free).
    let mut one: Option<Vec<u8>> =
        declared.map(|len| Vec::with_capacity(usize::try_from(len).unwrap_or(max_bytes).min(max_bytes)));
    let mut parts: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    let mut held: Option<OwnedSemaphorePermit> = None;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| (StatusCode::BAD_REQUEST, format!("cannot read the request body: {e}")))?;
        if total + chunk.len() > max_bytes {
            return Err(too_large());
        }
        // A chunk is at most `max_bytes` (checked above), and the budget is at least that.
        let bytes = u32::try_from(chunk.len()).map_err(|_| too_large())?;
        let permit = budget
            .clone()
            .acquire_many_owned(bytes)
            .await
            .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "the webhook is shutting down".to_owned()))?;
        match held.as_mut() {
            Some(held) => held.merge(permit),
            None => held = Some(permit),
        }
        total += chunk.len();
        match one.as_mut() {
            Some(buffer) => buffer.extend_from_slice(&chunk),
            None => parts.push(chunk),
        }
    }
    let body = match one {
        Some(buffer) => Bytes::from(buffer),
        None if parts.len() == 1 => parts.swap_remove(0),
        None => {
            let mut body = Vec::with_capacity(total);
            for part in &parts {
                body.extend_from_slice(part);
            }
            Bytes::from(body)
        }
    };
    Ok((body, held))
}

/// ` (7 MiB)` for a limit of a MiB or more, nothing below.
#[allow(clippy::cast_precision_loss)] // a body limit is at most 64 MiB
fn mib(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes < MIB {
        String::new()
    } else if bytes.is_multiple_of(MIB) {
        format!(" ({} MiB)", bytes / MIB)
    } else {
        format!(" ({:.1} MiB)", bytes as f64 / MIB as f64)
    }
}

/// Runs [`admission::review`] (or the state's [`super::AnswerFn`]) and turns its
/// [`admission::Answer`] into the response.
///
/// `answer` is pure and returns in microseconds, so it runs inline on the async worker. It
/// must not panic; should it, `catch_unwind` turns the bug into a logged, counted 500 with a
/// JSON body instead of a dropped connection (the API server would then apply the webhook's
/// `failurePolicy` either way, but with a reason). Nothing is shared mutably with `answer`,
/// so no broken invariant can outlive the panic: `AssertUnwindSafe` is sound here.
fn answer(state: &AppState, endpoint: Endpoint, body: &[u8]) -> Response {
    let settings = state.settings_now();
    let answer_fn = state.answer_fn();
    let inventory = state.cluster().inventory();
    let objects = state.cluster().objects();
    let view =
        inventory.as_deref().map(|i| state.cluster().view(i, &objects, settings.cluster.inventory_max_stale_seconds));
    let answer = match catch_unwind(AssertUnwindSafe(|| match answer_fn {
        Some(f) => f(&settings, endpoint, body),
        None => admission::review(&settings, view, endpoint, body),
    })) {
        Ok(answer) => answer,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_owned());
            tracing::error!(endpoint = endpoint.as_str(), "review panicked (a vramgate bug): {message}");
            state.metrics().record_error(endpoint, 500);
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while reviewing; see the webhook's log",
            );
        }
    };
    match &answer.record {
        Some(record) => {
            tracing::debug!(
                endpoint = endpoint.as_str(),
                operation = %record.operation,
                kind = %record.kind,
                namespace = %record.namespace,
                decision = record.decision.as_str(),
                reason = record.reason.as_str(),
                "reviewed"
            );
        }
        None => {
            tracing::debug!(endpoint = endpoint.as_str(), status = answer.status, "review refused");
            state.metrics().record_error(endpoint, answer.status);
        }
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or_else(|_| {
        tracing::error!(status = answer.status, "admission answered an invalid HTTP status (a vramgate bug)");
        StatusCode::INTERNAL_SERVER_ERROR
    });
    let mut response =
        (status, [(header::CONTENT_TYPE, HeaderValue::from_static(APPLICATION_JSON))], answer.body).into_response();
    if let Some(record) = answer.record {
        // Counted by `review` once the review's time is known.
        response.extensions_mut().insert(record);
    }
    response
}

/// `{"error": message}` with `status`.
fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn not_found(request: Request) -> Response {
    json_error(StatusCode::NOT_FOUND, &format!("no route for {}", request.uri().path()))
}

async fn method_not_allowed(request: Request) -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method {} is not allowed on {}", request.method(), request.uri().path()),
    )
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: 200 while the webhook can serve, 503 before that and during shutdown. The body's
/// second line says how current the cluster inventory is; a stale inventory does not make the
/// webhook unready (reviews are answered from the last known one: failing readiness would
/// leave the API server no endpoint and, under `failurePolicy: Fail`, block every admission).
async fn readyz(State(state): State<AppState>) -> Response {
    let inventory = state.cluster().readiness_line();
    if state.is_ready() {
        (StatusCode::OK, format!("ready\n{inventory}\n")).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready\n{inventory}\n")).into_response()
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    match state.metrics().encode() {
        Ok(text) => ([(header::CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE))], text).into_response(),
        Err(e) => {
            tracing::error!("cannot encode metrics: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics").into_response()
        }
    }
}
