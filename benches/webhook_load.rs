//! Load benchmark of the webhook over real TLS on 127.0.0.1.
//!
//! Starts, in this process, (a) the real webhook (`serve_with`, port 0, a development
//! certificate) and (b) a do-nothing endpoint on the same TLS and accept stack
//! (`serve_tls`) that reads the body and returns a fixed AdmissionReview, (c) the real server
//! with a fixed answer instead of the decision, and (d) the real server that only reads the
//! body as JSON (serde's `IgnoredAny`: checked, nothing built) before the fixed answer: the
//! floor any webhook that reads its review pays, and (e) the kube-rs admission example's handler
//! (`AdmissionReview<DynamicObject>` read whole, a label check, a one-operation JSON Patch) on
//! the same TLS and accept stack: the reference the webhook's speed is judged against. Clients are
//! tokio-rustls + hyper HTTP/1.1 connections with keep-alive, one per task, each POSTing a
//! ~4 KB `batch/v1` Job AdmissionReview.
//!
//! Scenarios, for every endpoint: 1 connection (latency) and 16 connections (throughput),
//! each bounded by a request count and a time limit, repeated 3 times; the medians are
//! printed as a markdown table, with the process's CPU time per review (client and servers
//! together, from `/proc/self/task/*/schedstat` on Linux). Client and server share the
//! machine's cores, so the numbers are a floor for the server alone.
//!
//! Run: `cargo bench --bench webhook_load`.

// The allocator the binary uses (src/main.rs), so the numbers are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use common::{client_config, http_connect, median};
use vramgate::admission::{self, Endpoint};
use vramgate::config::Settings;
use vramgate::server::tls::{self, SwappableCert};
use vramgate::server::{ServeOptions, TlsSource, serve_tls, serve_with};

/// Repetitions of every scenario; medians are reported.
const REPETITIONS: usize = 3;
/// The real webhook's index in `bench_in`'s targets.
const VRAMGATE: usize = 0;
/// The do-nothing endpoint's index in `bench_in`'s targets.
const DO_NOTHING: usize = 1;
/// The kube-rs admission example's index in `bench_in`'s targets.
const KUBE_EXAMPLE: usize = 4;
/// Requests sent on each connection before measuring.
const WARM_UP_REQUESTS: usize = 200;

/// One scenario: how many connections, and when to stop.
#[derive(Clone, Copy)]
struct Scenario {
    connections: usize,
    max_requests: i64,
    max_time: Duration,
}

const LATENCY: Scenario = Scenario { connections: 1, max_requests: 5_000, max_time: Duration::from_secs(5) };
const THROUGHPUT: Scenario = Scenario { connections: 16, max_requests: 20_000, max_time: Duration::from_secs(10) };

/// What one run of a scenario measured.
struct Run {
    requests: usize,
    elapsed: Duration,
    /// CPU time of this whole process (client and servers) during the run, where known.
    cpu: Option<Duration>,
    p50: Duration,
    p99: Duration,
    statuses: BTreeMap<u16, usize>,
}

impl Run {
    fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// CPU seconds per request, client and server together.
    fn cpu_per_request(&self) -> Option<f64> {
        Some(self.cpu?.as_secs_f64() / self.requests.max(1) as f64)
    }
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs this file without `--bench`: a smoke run (a few requests
    // per scenario, one repetition) checks that it works without spending a minute on it.
    let quick = !std::env::args().any(|a| a == "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(bench(quick))
}

async fn bench(quick: bool) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("vramgate-bench-{}", std::process::id()));
    let result = bench_in(&dir, quick).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn bench_in(dir: &std::path::Path, quick: bool) -> anyhow::Result<()> {
    // (a) The real webhook.
    let (stop_real, real_stopped) = oneshot::channel::<()>();
    let (bound_tx, bound_rx) = oneshot::channel();
    let opts = ServeOptions {
        listen: "127.0.0.1:0".parse()?,
        metrics_listen: "127.0.0.1:0".parse()?,
        ..ServeOptions::new(TlsSource::Dev { dir: dir.to_path_buf() })
    };
    let real_server = tokio::spawn(serve_with(
        opts,
        async move {
            let _ = real_stopped.await;
        },
        bound_tx,
    ));
    let bound = bound_rx.await.context("the webhook did not start")?;
    let real = bound.webhook;

    // (b) The do-nothing endpoint, same certificate, same TLS config and accept loop.
    let cert_path = dir.join(tls::DEV_CERT_FILE);
    let loaded = tls::load_pem_files(&cert_path, &dir.join(tls::DEV_KEY_FILE))?;
    let tls_config = Arc::new(tls::server_config(Arc::new(SwappableCert::new(loaded.certified)))?);
    let nothing = Baseline::start(tls_config.clone(), do_nothing_router()).await?;

    // (c) The real server (router, body limit, metrics, timing) with a decision that returns
    // a fixed answer: separates the transport's cost from the decision's.
    let fixed_state = vramgate::server::AppState::with_answer(Settings::default(), fixed_answer);
    let fixed = Baseline::start(tls_config.clone(), vramgate::server::webhook_router(fixed_state)).await?;

    // (d) As (c), but the body is first read as JSON and thrown away: what no webhook that
    // reads its review can avoid, so the ratio no decision can beat on this machine.
    let parsed_state = vramgate::server::AppState::with_answer(Settings::default(), read_then_fixed_answer);
    let parsed = Baseline::start(tls_config.clone(), vramgate::server::webhook_router(parsed_state)).await?;

    // (e) The kube-rs admission example's handler: the reference for the webhook's speed.
    let kube_example = Baseline::start(tls_config, kube_example_router()).await?;

    let client = client_config(&cert_path)?;
    let body = Bytes::from(job_review());
    let repetitions = if quick { 1 } else { REPETITIONS };
    println!("review body: {} bytes; {repetitions} repetitions; medians reported", body.len());
    if quick {
        println!("smoke run (no --bench): a few requests per scenario; numbers are meaningless");
    }
    let kube_example_review: serde_json::Value = serde_json::from_slice(&kube_example_answer(&body)?)?;
    anyhow::ensure!(
        kube_example_review["response"]["allowed"] == true
            && kube_example_review["response"]["patchType"] == "JSONPatch",
        "the kube-rs example's handler should allow this review with a patch, got {kube_example_review}"
    );
    let (answer_time, answer_status) = time_answer(&body, if quick { 50 } else { 2_000 });
    println!(
        "admission::review alone (no I/O, one thread): {} per review, status {answer_status}",
        micros(answer_time)
    );

    // Index DO_NOTHING is the baseline the others are compared with.
    let targets = [
        ("vramgate /validate", real, "/validate"),
        ("do-nothing", nothing.addr, "/validate"),
        ("vramgate, fixed answer", fixed.addr, "/validate"),
        ("vramgate, JSON read, fixed answer", parsed.addr, "/validate"),
        ("kube-rs admission example", kube_example.addr, "/mutate"),
    ];
    let smoke = |s: Scenario| if quick { Scenario { max_requests: 64, ..s } } else { s };
    let scenarios = [("1 connection", smoke(LATENCY)), ("16 connections", smoke(THROUGHPUT))];
    // runs[target][scenario] = one Run per repetition; repetitions interleave the targets so
    // that drift (thermal, other load) hits both alike.
    let mut runs: Vec<Vec<Vec<Run>>> = targets.iter().map(|_| scenarios.iter().map(|_| Vec::new()).collect()).collect();
    for repetition in 0..repetitions {
        for (t, (name, addr, path)) in targets.iter().enumerate() {
            for (s, (scenario_name, scenario)) in scenarios.iter().enumerate() {
                let run = run_scenario(*addr, path, &client, &body, *scenario).await?;
                eprintln!(
                    "rep {} {name:<20} {scenario_name:<15} {:>6} req in {:>6.2?}: {:>8.0} req/s, CPU {} per review, p50 {:?}, p99 {:?}, statuses {:?}",
                    repetition + 1,
                    run.requests,
                    run.elapsed,
                    run.throughput(),
                    run.cpu_per_request().map_or_else(|| "?".to_owned(), micros),
                    run.p50,
                    run.p99,
                    run.statuses
                );
                // Every endpoint answers this review 200; anything else (a refused body, a
                // failed parse) would make the comparison meaningless, so the run stops here,
                // in the smoke run that `cargo test --all-targets` makes too.
                anyhow::ensure!(
                    run.statuses.keys().all(|&status| status == 200),
                    "{name}, {scenario_name}: every review should be answered 200, got {:?}",
                    run.statuses
                );
                runs[t][s].push(run);
            }
        }
    }

    println!();
    println!(
        "| endpoint | connections | requests/run | throughput (reviews/s) | CPU per review | p50 | p99 | HTTP statuses (last run) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut median_throughput = vec![[0.0; 2]; targets.len()];
    for (t, (name, _, _)) in targets.iter().enumerate() {
        for (s, (_, scenario)) in scenarios.iter().enumerate() {
            let reps = &runs[t][s];
            let throughput = median(reps.iter().map(Run::throughput).collect());
            median_throughput[t][s] = throughput;
            let p50 = median(reps.iter().map(|r| r.p50.as_secs_f64()).collect());
            let p99 = median(reps.iter().map(|r| r.p99.as_secs_f64()).collect());
            let requests = median(reps.iter().map(|r| r.requests as f64).collect());
            let cpu = reps.iter().map(Run::cpu_per_request).collect::<Option<Vec<_>>>().map(median);
            let statuses = reps.last().map(|r| format!("{:?}", r.statuses)).unwrap_or_default();
            println!(
                "| {name} | {} | {requests:.0} | {throughput:.0} | {} | {} | {} | {statuses} |",
                scenario.connections,
                cpu.map_or_else(|| "?".to_owned(), micros),
                micros(p50),
                micros(p99)
            );
        }
    }
    // Every other endpoint's median throughput as a share of the do-nothing one's (issue 3's
    // goal: the real webhook at 80% or more).
    println!();
    for (s, (scenario_name, _)) in scenarios.iter().enumerate() {
        for (t, (name, _, _)) in targets.iter().enumerate().filter(|&(t, _)| t != DO_NOTHING) {
            let share = median_throughput[t][s] / median_throughput[DO_NOTHING][s];
            println!("{scenario_name}: {name} at {:.0}% of the do-nothing throughput", share * 100.0);
        }
        // The goal's reference: the real webhook against the kube-rs example.
        let share = median_throughput[VRAMGATE][s] / median_throughput[KUBE_EXAMPLE][s];
        println!(
            "{scenario_name}: vramgate /validate at {:.0}% of the kube-rs admission example's throughput",
            share * 100.0
        );
    }

    // Where the time goes: the server's own histogram times each review from request start
    // to response ready (body read, answer, metrics), without TLS, HTTP parsing or the client.
    let metrics = fetch_metrics(bound.metrics).await?;
    let series = |name: &str| {
        metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok()).unwrap_or(0.0)
    };
    let sum = series(r#"vramgate_review_duration_seconds_sum{endpoint="validate"}"#);
    let count = series(r#"vramgate_review_duration_seconds_count{endpoint="validate"}"#);
    println!(
        "vramgate handler time (vramgate_review_duration_seconds, all runs and warm-ups): mean {} over {count:.0} reviews",
        micros(sum / count.max(1.0))
    );

    let _ = stop_real.send(());
    real_server.await?.context("webhook")?;
    for baseline in [nothing, fixed, parsed, kube_example] {
        baseline.stop().await?;
    }
    Ok(())
}

/// A baseline endpoint: `router` served by [`serve_tls`] (the webhook's TLS and accept loop)
/// on a free loopback port, until [`Baseline::stop`].
struct Baseline {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Baseline {
    async fn start(tls_config: Arc<rustls::ServerConfig>, router: Router) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_tls(
            listener,
            tls_config,
            router,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
        ));
        Ok(Self { addr, stop, server })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        Ok(self.server.await?)
    }
}

/// The answer of target (c): what `admission::review` returns for an allowed review, and the
/// record metrics count, without reading the body.
fn fixed_answer(_: &Settings, endpoint: Endpoint, _: &[u8]) -> admission::Answer {
    const ALLOWED: &[u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true}}"#;
    admission::Answer {
        status: 200,
        body: ALLOWED.to_vec(),
        record: Some(admission::Record {
            endpoint,
            operation: "CREATE".into(),
            kind: "Job".into(),
            name: None,
            owned_by_workload: false,
            decision: admission::Decision::Allow,
            reason: admission::Reason::Fits,
            dry_run: false,
            namespace: "research".into(),
            gpu: "A100-80GB".into(),
            gpus_requested: 8,
            gpus_needed: Some(8),
            gpu_hours: Some(100.0),
            cost_usd: Some(410.0),
            overprovisioned_cost_usd: Some(0.0),
            serving: None,
            exemption: None,
        }),
    }
}

/// The answer of target (d): the body read as JSON and dropped (a 400 if it is not JSON, so
/// the read cannot be optimised away), then target (c)'s fixed answer.
fn read_then_fixed_answer(settings: &Settings, endpoint: Endpoint, body: &[u8]) -> admission::Answer {
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Ok(_) => fixed_answer(settings, endpoint, body),
        Err(e) => admission::Answer { status: 400, body: e.to_string().into_bytes(), record: None },
    }
}

/// Median time of `admission::review` on `body`, in seconds, over 5 rounds of up to 2,000
/// calls or 1 s each: the part of a review's cost that is the decision, not the transport.
fn time_answer(body: &[u8], calls_per_round: u32) -> (f64, u16) {
    let settings = Settings::default();
    let status = admission::review(&settings, None, Endpoint::Validate, body).status;
    let rounds = (0..5)
        .map(|_| {
            let started = Instant::now();
            let mut calls = 0_u32;
            while calls < calls_per_round && started.elapsed() < Duration::from_secs(1) {
                std::hint::black_box(admission::review(
                    &settings,
                    None,
                    Endpoint::Validate,
                    std::hint::black_box(body),
                ));
                calls += 1;
            }
            started.elapsed().as_secs_f64() / f64::from(calls.max(1))
        })
        .collect();
    (median(rounds), status)
}

/// Sends up to `scenario.max_requests` reviews over `scenario.connections` keep-alive
/// connections (established and warmed up before the clock starts), stopping at
/// `scenario.max_time`.
async fn run_scenario(
    addr: SocketAddr,
    path: &'static str,
    client: &Arc<ClientConfig>,
    body: &Bytes,
    scenario: Scenario,
) -> anyhow::Result<Run> {
    let mut senders = Vec::with_capacity(scenario.connections);
    for _ in 0..scenario.connections {
        let mut sender = http_connect(addr, client.clone()).await?;
        for _ in 0..WARM_UP_REQUESTS / scenario.connections.max(1) {
            send(&mut sender, path, body).await?;
        }
        senders.push(sender);
    }

    let remaining = Arc::new(AtomicI64::new(scenario.max_requests));
    let cpu_before = process_cpu();
    let started = Instant::now();
    let deadline = started + scenario.max_time;
    let mut tasks = Vec::with_capacity(senders.len());
    for mut sender in senders {
        let remaining = remaining.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut statuses = BTreeMap::<u16, usize>::new();
            while remaining.fetch_sub(1, Ordering::Relaxed) > 0 && Instant::now() < deadline {
                let sent = Instant::now();
                let status = send(&mut sender, path, &body).await?;
                latencies.push(sent.elapsed());
                *statuses.entry(status).or_default() += 1;
            }
            anyhow::Ok((latencies, statuses))
        }));
    }
    let mut latencies = Vec::new();
    let mut statuses = BTreeMap::new();
    for task in tasks {
        let (l, s) = task.await??;
        latencies.extend(l);
        for (status, count) in s {
            *statuses.entry(status).or_default() += count;
        }
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    latencies.sort_unstable();
    Ok(Run {
        requests: latencies.len(),
        elapsed,
        cpu,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        statuses,
    })
}

/// CPU time used so far by all of this process's threads (Linux: the sum of
/// `/proc/self/task/*/schedstat`, nanoseconds on CPU); `None` elsewhere.
fn process_cpu() -> Option<Duration> {
    let mut nanos = 0_u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let text = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        nanos += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(nanos))
}

/// POSTs one review and reads the whole response; returns its status.
async fn send(sender: &mut SendRequest<Full<Bytes>>, path: &str, body: &Bytes) -> anyhow::Result<u16> {
    sender.ready().await?;
    let request = Request::post(path)
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(body.clone()))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    response.into_body().collect().await?;
    Ok(status)
}

/// `GET /metrics` from the plain-HTTP probe server.
async fn fetch_metrics(addr: SocketAddr) -> anyhow::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::get("/metrics").header(header::HOST, "localhost").body(Full::new(Bytes::new()))?;
    let body = sender.send_request(request).await?.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Reads the body (as a real webhook must) and answers a fixed allowing AdmissionReview.
fn do_nothing_router() -> Router {
    const ALLOWED: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":true}}"#;
    Router::new().fallback(|body: Bytes| async move {
        drop(body);
        ([(header::CONTENT_TYPE, "application/json")], ALLOWED)
    })
}

/// Target (e): the handler of kube-rs's admission example (`examples/admission_controller.rs`
/// in kube-rs/kube: the review deserialised whole as `AdmissionReview<DynamicObject>`, turned
/// into an `AdmissionRequest`, answered with `AdmissionResponse::from`, denied on an `illegal`
/// label, else patched with an `admission` label), written here against `kube::core::admission`
/// and served by this stack instead of warp, without its log lines. A body that is not a review
/// gets a 400, as warp's JSON filter gives.
fn kube_example_router() -> Router {
    Router::new().fallback(|body: Bytes| async move {
        match kube_example_answer(&body) {
            Ok(answer) => ([(header::CONTENT_TYPE, "application/json")], answer).into_response(),
            Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        }
    })
}

fn kube_example_answer(body: &[u8]) -> anyhow::Result<Vec<u8>> {
    use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
    use kube::core::{DynamicObject, ResourceExt};

    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body)?;
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(request) => request,
        Err(e) => return Ok(serde_json::to_vec(&AdmissionResponse::invalid(e.to_string()).into_review())?),
    };
    let mut response = AdmissionResponse::from(&request);
    if let Some(object) = &request.object {
        if object.labels().contains_key("illegal") {
            response = response.deny("Resource contained 'illegal' label");
        } else if !object.labels().contains_key("admission") {
            let mut operations = Vec::new();
            if object.metadata.labels.is_none() {
                operations.push(serde_json::json!({ "op": "add", "path": "/metadata/labels", "value": {} }));
            }
            operations.push(serde_json::json!({
                "op": "add",
                "path": "/metadata/labels/admission",
                "value": "modified-by-admission-controller"
            }));
            response = response.with_patch(serde_json::from_value(serde_json::Value::Array(operations))?)?;
        }
    }
    Ok(serde_json::to_vec(&response.into_review())?)
}

/// A `batch/v1` Job CREATE review of about 4 KB: a Llama-2-7B fine-tune on 8 GPUs, with the
/// labels and environment a real training job carries.
fn job_review() -> Vec<u8> {
    let env: Vec<serde_json::Value> = (0..40)
        .map(|i| serde_json::json!({ "name": format!("TRAINING_SETTING_{i:02}"), "value": format!("value-{i:02}-of-the-training-run") }))
        .collect();
    let job = serde_json::json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "llama-2-7b-finetune",
            "namespace": "research",
            "labels": {
                "app.kubernetes.io/name": "llama-finetune",
                "app.kubernetes.io/part-of": "training",
                "team": "nlp",
                "kueue.x-k8s.io/queue-name": "gpu-queue"
            },
            "annotations": {
                "vramgate.io/model": "llama-2-7b",
                "vramgate.io/precision": "bf16",
                "vramgate.io/micro-batch-size": "4",
                "vramgate.io/sequence-length": "4096",
                "vramgate.io/training-tokens": "2B",
                "vramgate.io/gpu": "A100-80GB"
            }
        },
        "spec": {
            "backoffLimit": 2,
            "completions": 1,
            "parallelism": 1,
            "template": {
                "metadata": { "labels": { "app.kubernetes.io/name": "llama-finetune" } },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "trainer",
                        "image": "ghcr.io/example/llama-trainer:2024.06",
                        "command": ["torchrun", "--nproc_per_node=8", "train.py", "--config", "/etc/train/config.yaml"],
                        "env": env,
                        "resources": {
                            "requests": { "cpu": "32", "memory": "512Gi", "nvidia.com/gpu": "8" },
                            "limits": { "memory": "512Gi", "nvidia.com/gpu": "8" }
                        },
                        "volumeMounts": [{ "name": "dshm", "mountPath": "/dev/shm" }]
                    }],
                    "volumes": [{ "name": "dshm", "emptyDir": { "medium": "Memory" } }]
                }
            }
        }
    });
    let gvk = serde_json::json!({ "group": "batch", "version": "v1", "kind": "Job" });
    let gvr = serde_json::json!({ "group": "batch", "version": "v1", "resource": "jobs" });
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": "llama-2-7b-finetune",
            "namespace": "research",
            "operation": "CREATE",
            "userInfo": { "username": "alice@example.com", "groups": ["system:authenticated", "nlp"] },
            "object": job,
            "oldObject": null,
            "dryRun": false,
            "options": { "apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions" }
        }
    });
    serde_json::to_vec(&review).unwrap_or_default()
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn micros(seconds: f64) -> String {
    format!("{:.0} µs", seconds * 1e6)
}
