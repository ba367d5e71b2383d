//! Cluster awareness against an API server played by `tower_test::mock` (kube-rs's own way of
//! testing clients), answering list and watch requests with real Node, Pod, Job and
//! PyTorchJob objects from `tests/fixtures/cluster/` (origins in its README). Where a test
//! needs a shape no public capture has (a GPU pod owned by a PyTorchJob, a pod moving through
//! its phases), it derives it from a fixture in code and says so.
//!
//! Every wait is bounded (`eventually`: at most 10 s); the server side answers only what the
//! test scripts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::fake_api::{Listed, json_reply, list_reply, status_reply};
use axum::body::Body as AxumBody;
use axum::http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::watch;
use tower::ServiceExt;
use tower_test::mock::{Handle, SendResponse};
use vramgate::config::Settings;
use vramgate::server::cluster::{self, ClusterOptions};
use vramgate::server::{AppState, metrics_router, webhook_router};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cluster");

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture")).expect("JSON")
}

const NODES: &str = "/api/v1/nodes";
const PODS: &str = "/api/v1/pods";
const JOBS: &str = "/apis/batch/v1/jobs";
const PYTORCHJOBS: &str = "/apis/kubeflow.org/v1/pytorchjobs";
const CLAIM_TEMPLATES: &str = "/apis/resource.k8s.io/v1/resourceclaimtemplates";

#[derive(Default)]
struct ApiState {
    lists: BTreeMap<String, Listed>,
    /// Watch requests not yet answered, by path: the test answers them one by one.
    held: BTreeMap<String, Vec<SendResponse<Response<Body>>>>,
    /// (path, verb) of every request.
    seen: BTreeSet<(String, String)>,
    /// Query strings of every request, by path.
    queries: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Default)]
struct FakeApi(Arc<Mutex<ApiState>>);

impl FakeApi {
    fn set_list(&self, path: &str, listed: Listed) {
        self.0.lock().unwrap().lists.insert(path.to_owned(), listed);
    }

    /// Answers requests until the client goes away.
    async fn serve(self, mut handle: Handle<Request<Body>, Response<Body>>) {
        while let Some((req, send)) = handle.next_request().await {
            let path = req.uri().path().to_owned();
            let query = req.uri().query().unwrap_or("").to_owned();
            let watching = query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
            let verb = if watching { "watch" } else { "list" };
            assert_eq!(req.method(), Method::GET, "vramgate only reads: {} {path}", req.method());
            let mut st = self.0.lock().unwrap();
            st.seen.insert((path.clone(), verb.to_owned()));
            st.queries.entry(path.clone()).or_default().push(query);
            if watching {
                st.held.entry(path).or_default().push(send);
                continue;
            }
            let reply = list_reply(st.lists.get(&path));
            drop(st);
            send.send_response(reply);
        }
    }

    /// Waits (bounded) for a held watch on `path` and answers it with `events` (each
    /// `(type, object)`), then ends the stream: the watcher re-watches, and is held again.
    async fn watch_events(&self, path: &str, events: &[(&str, Value)]) {
        let send = self.take_held(path).await;
        let mut body = Vec::new();
        for (t, obj) in events {
            body.extend(serde_json::to_vec(&json!({"type": t, "object": obj})).unwrap());
            body.push(b'\n');
        }
        send.send_response(json_reply(200, body));
    }

    /// Answers a held watch on `path` with an HTTP error.
    async fn watch_fails(&self, path: &str, code: u16) {
        let send = self.take_held(path).await;
        send.send_response(status_reply(code));
    }

    async fn take_held(&self, path: &str) -> SendResponse<Response<Body>> {
        eventually(&format!("a watch on {path}"), || self.0.lock().unwrap().held.get_mut(path).and_then(Vec::pop)).await
    }

    fn seen(&self) -> BTreeSet<(String, String)> {
        self.0.lock().unwrap().seen.clone()
    }
}

/// Polls `f` every 20 ms for at most 10 s.
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(t) = f() {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after 10 s waiting for {what}");
}

/// A started watcher task against the fake API server.
struct Running {
    api: FakeApi,
    state: AppState,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) -> FakeApi {
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(5), self.task).await.expect("watchers stop").expect("no panic");
        self.api
    }
}

fn start(api: FakeApi, settings: Settings, opts: ClusterOptions) -> Running {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(api.clone().serve(handle));
    let client = kube::Client::new(service, "default");
    let state = AppState::new(settings);
    state.set_ready(true);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(cluster::run(client, state.clone(), opts, stop_rx));
    Running { api, state, stop, task }
}

fn cluster_opts() -> ClusterOptions {
    ClusterOptions { inventory: true, config_map: None, tick: Duration::from_millis(50), config_map_text: None }
}

/// The real GPU Feature Discovery nodes: an 8 x A100-SXM4-80GB node, an A100-40GB in MIG mixed
/// mode (2 x 1g.5gb, 1 x 2g.10gb, no full GPU allocatable), and an A16 vGPU node whose product
/// (`NVIDIA-A16-4Q`) the catalog does not know.
fn real_nodes() -> Vec<Value> {
    vec![
        fixture("node-a100-80gb-x8-kwok-template-nvsentinel.json"),
        fixture("node-a100-40gb-mig-mixed-gfd-runai.json"),
        fixture("node-a16-vgpu-gfd-edgexr.json"),
    ]
}

const A100_NODE: &str = "nvs-kwok-node-001";

fn api_with_nodes() -> FakeApi {
    let api = FakeApi::default();
    api.set_list(NODES, Listed::Items(real_nodes()));
    api.set_list(PODS, Listed::Items(vec![fixture("pod-owned-by-job-running-cpu-hkube.json")]));
    api.set_list(JOBS, Listed::Items(vec![fixture("job-batchv1-active-cpu-hkube.json")]));
    api
}

async fn http(router: axum::Router, method: Method, path: &str, body: Vec<u8>) -> (StatusCode, String) {
    let req = Request::builder().method(method).uri(path).header("content-type", "application/json");
    let resp = router.oneshot(req.body(AxumBody::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn metrics(state: &AppState) -> String {
    http(metrics_router(state.clone()), Method::GET, "/metrics", Vec::new()).await.1
}

/// Scrapes every 20 ms until `pred` holds (at most 10 s).
async fn scrape_until(state: &AppState, what: &str, pred: impl Fn(&str) -> bool) -> String {
    for _ in 0..500 {
        let text = metrics(state).await;
        if pred(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after 10 s waiting for {what}:\n{}", metrics(state).await);
}

async fn readyz(state: &AppState) -> (StatusCode, String) {
    http(metrics_router(state.clone()), Method::GET, "/readyz", Vec::new()).await
}

/// A batch/v1 Job of `pods` pods with `gpus` GPUs each, optionally pinned to `product`,
/// annotated as a Llama 2 13B ZeRO-3 fine-tune that fits 8 x 80 GB.
fn job(pods: u64, gpus: u64, product: Option<&str>) -> Value {
    let annotations = json!({
        "vramgate.io/model": "llama-2-13b", "vramgate.io/precision": "bf16-mixed",
        "vramgate.io/optimizer": "adamw", "vramgate.io/strategy": "zero3",
        "vramgate.io/micro-batch-size": "1", "vramgate.io/sequence-length": "2048",
        "vramgate.io/activation-checkpointing": "false", "vramgate.io/training-tokens": "20B"});
    crate::common::objects::gpu_job("llama-ft", annotations, pods, gpus, product)
}

async fn review(state: &AppState, path: &str, obj: &Value) -> Value {
    let body = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "b6c1f1d2-0000-4000-8000-000000000001", "kind": {"group": "batch", "version": "v1", "kind": "Job"},
                    "resource": {"group": "batch", "version": "v1", "resource": "jobs"},
                    "namespace": "research", "operation": "CREATE", "userInfo": {"username": "alice"},
                    "object": obj, "dryRun": false}
    });
    review_body(state, path, &body).await
}

/// Posts a whole AdmissionReview; returns its `response`.
async fn review_body(state: &AppState, path: &str, body: &Value) -> Value {
    let (status, text) =
        http(webhook_router(state.clone()), Method::POST, path, serde_json::to_vec(body).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["response"].clone()
}

fn message(response: &Value) -> String {
    response["status"]["message"].as_str().map_or_else(|| response["warnings"].to_string(), str::to_owned)
}

#[tokio::test]
async fn the_inventory_comes_from_real_gfd_nodes_and_unknown_products_are_reported() {
    let run = start(api_with_nodes(), Settings::default(), cluster_opts());
    let inv = eventually("the inventory", || run.state.cluster().inventory()).await;
    let a100 = inv.pool("A100-80GB").expect("the 8 x A100-SXM4-80GB node");
    assert_eq!((a100.nodes, a100.gpus, a100.max_gpus_per_node), (1, 8, 8));
    assert_eq!(a100.products.iter().collect::<Vec<_>>(), ["NVIDIA-A100-SXM4-80GB"]);
    // The MIG node: its count label says 1 GPU, but the kubelet can allocate none whole;
    // its slices are pools of their own.
    assert!(inv.pool("A100-40GB").is_none());
    assert_eq!(inv.pool("A100-40GB MIG 1g.5gb").map(|p| p.gpus), Some(2));
    assert_eq!(inv.pool("A100-40GB MIG 2g.10gb").map(|p| p.gpus), Some(1));
    let unknown: Vec<&str> = inv.unknown().map(|p| p.gpu.as_str()).collect();
    assert_eq!(unknown, ["NVIDIA-A16-4Q"]);

    let (status, body) = readyz(&run.state).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("inventory: current (A100-80GB: 8 GPUs on 1 node"), "{body}");
    assert!(body.contains("unknown GPU products: NVIDIA-A16-4Q"), "{body}");

    let text = scrape_until(&run.state, "capacity metrics", |t| t.contains("vramgate_cluster_gpus{")).await;
    assert!(text.contains(r#"vramgate_cluster_gpus{gpu="A100-80GB"} 8"#), "{text}");
    assert!(text.contains(r#"vramgate_cluster_nodes{gpu="A100-80GB"} 1"#), "{text}");
    assert!(text.contains(r#"vramgate_cluster_gpus{gpu="A100-40GB MIG 1g.5gb"} 2"#), "{text}");
    assert!(text.contains(r#"vramgate_cluster_unknown_gpu_products{product="NVIDIA-A16-4Q"} 1"#), "{text}");
    assert!(text.contains("vramgate_inventory_stale_seconds 0"), "{text}");
    assert!(text.contains(r#"vramgate_cluster_watch_up{resource="nodes"} 1"#), "{text}");
    // CRDs this API server does not serve are not reported as failing watches.
    assert!(!text.contains(r#"vramgate_cluster_watch_up{resource="rayjobs.ray.io"}"#), "{text}");
    assert_eq!(series(&text, r#"vramgate_cluster_watch_errors_total{resource="rayjobs.ray.io"}"#), Some(0.0), "{text}");
    run.stop().await;
}

#[tokio::test]
async fn decisions_use_the_inventory_types_per_pod_and_total_gpus() {
    let run = start(api_with_nodes(), Settings::default(), cluster_opts());
    eventually("the inventory", || run.state.cluster().inventory()).await;

    // A type the cluster does not have: denied, naming what it has.
    let r = review(&run.state, "/validate", &job(1, 8, Some("NVIDIA-H100-80GB-HBM3"))).await;
    assert_eq!(r["allowed"], false, "{r}");
    let m = message(&r);
    assert!(m.contains("the cluster has no H100-80GB node; it has A100-80GB: 8 GPUs on 1 node"), "{m}");

    // More GPUs per pod than its largest node, and more in all than the cluster has.
    let r = review(&run.state, "/validate", &job(1, 16, Some("NVIDIA-A100-SXM4-80GB"))).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert!(message(&r).contains("pods ask for 16 GPUs each; the largest A100-80GB node has 8"), "{r}");
    let r = review(&run.state, "/validate", &job(2, 8, Some("NVIDIA-A100-SXM4-80GB"))).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert!(message(&r).contains("asks for 16 A100-80GB GPUs at once; the cluster has 8 on 1 node"), "{r}");

    // What fits the cluster is allowed.
    let r = review(&run.state, "/validate", &job(1, 8, Some("NVIDIA-A100-SXM4-80GB"))).await;
    assert_eq!(r["allowed"], true, "{r}");

    // No type named: judged on the cluster's A100-80GB, not the configured default (H100).
    let r = review(&run.state, "/validate", &job(1, 8, None)).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(message(&r).contains("no GPU type named: judged on A100-80GB, the smallest type in the cluster"), "{r}");
    run.stop().await;

    // The same job without an inventory is judged on the default GPU, and an H100 job passes.
    let plain = AppState::new(Settings::default());
    let r = review(&plain, "/validate", &job(1, 8, Some("NVIDIA-H100-80GB-HBM3"))).await;
    assert_eq!(r["allowed"], true, "{r}");
}

#[tokio::test]
async fn with_enforce_inventory_off_the_inventory_only_warns() {
    // Where an autoscaler creates GPU nodes on demand, what exists now is not what could.
    let settings = Settings::from_yaml("cluster: {enforce_inventory: false}\n").unwrap();
    let run = start(api_with_nodes(), settings, cluster_opts());
    eventually("the inventory", || run.state.cluster().inventory()).await;
    let r = review(&run.state, "/validate", &job(1, 8, Some("NVIDIA-H100-80GB-HBM3"))).await;
    assert_eq!(r["allowed"], true, "{r}");
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("the cluster has no H100-80GB node"), "{r}");
    assert!(warnings.contains("not enforced"), "{r}");
    run.stop().await;
}

#[tokio::test]
async fn with_patching_allowed_a_type_chosen_from_the_inventory_is_pinned() {
    let settings = Settings::from_yaml("policy: {patch: true}\n").unwrap();
    let run = start(api_with_nodes(), settings, cluster_opts());
    eventually("the inventory", || run.state.cluster().inventory()).await;
    let obj = job(1, 8, None);
    let r = review(&run.state, "/mutate", &obj).await;
    assert_eq!(r["patchType"], "JSONPatch", "{r}");
    use base64::Engine as _;
    let patch: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD.decode(r["patch"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
    let mut patched = obj.clone();
    json_patch::patch(&mut patched, &patch).unwrap();
    assert_eq!(
        patched["spec"]["template"]["spec"]["nodeSelector"]["nvidia.com/gpu.product"], "NVIDIA-A100-SXM4-80GB",
        "the product label value the cluster's nodes carry: {patched}"
    );
    let _: k8s_openapi::api::batch::v1::Job = serde_json::from_value(patched).expect("still a Job");
    run.stop().await;
}

/// The PyTorchJob of the Kubeflow docs, as vramgate's mutating webhook would have left it
/// (output annotations added; team label added), and a GPU pod derived from the run:ai
/// capture, owned by it and bound to the A100 node, in `phase`.
fn admitted_pytorchjob() -> Value {
    let mut pj = fixture("pytorchjob-v1-succeeded-kubeflow-website.json");
    pj["metadata"]["annotations"] = json!({
        "vramgate.io/decision": "allow", "vramgate.io/estimated-gpus": "1",
        "vramgate.io/estimated-gpu-hours": "50", "vramgate.io/estimated-cost-usd": "100"
    });
    pj["metadata"]["labels"] = json!({"team": "nlp"});
    pj
}

fn gpu_pod(name: &str, phase: &str, rv: u64) -> Value {
    let pj = admitted_pytorchjob();
    let mut pod = fixture("pod-gpu1-unowned-reservation-runai.json");
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["uid"] = json!(format!("uid-{name}"));
    pod["metadata"]["namespace"] = json!("default");
    pod["metadata"]["resourceVersion"] = json!(rv.to_string());
    pod["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": pj["metadata"]["name"],
        "uid": pj["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true
    }]);
    pod["spec"]["nodeName"] = json!(A100_NODE);
    pod["status"]["phase"] = json!(phase);
    pod
}

fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels).and_then(|v| v.trim().parse().ok()))
}

#[tokio::test]
async fn live_cost_follows_a_pod_through_pending_running_succeeded_and_failed() {
    let api = api_with_nodes();
    api.set_list(PYTORCHJOBS, Listed::Items(vec![admitted_pytorchjob()]));
    api.set_list(
        PODS,
        Listed::Items(vec![fixture("pod-owned-by-job-running-cpu-hkube.json"), gpu_pod("worker-0", "Pending", 200)]),
    );
    let run = start(api.clone(), Settings::default(), cluster_opts());
    let price = Settings::default().catalog.find("A100-80GB").unwrap().usd_per_hour;
    let running = r#"vramgate_running_gpus{namespace="default",team="nlp",gpu="A100-80GB"}"#;
    let per_hour = r#"vramgate_running_cost_usd_per_hour{namespace="default",team="nlp",gpu="A100-80GB"}"#;
    let total = r#"vramgate_running_cost_usd_total{namespace="default",team="nlp",gpu="A100-80GB"}"#;
    let allocated = r#"vramgate_cluster_gpus_allocated{gpu="A100-80GB"}"#;
    let state = &run.state;

    // Pending, bound to the node: allocated, not running.
    let text = scrape_until(state, "allocation of the pending pod", |t| series(t, allocated) == Some(1.0)).await;
    assert_eq!(series(&text, running), None, "{text}");

    // Running: one A100 at the catalog price.
    api.watch_events(PODS, &[("MODIFIED", gpu_pod("worker-0", "Running", 201))]).await;
    let text = scrape_until(state, "the running pod", |t| series(t, running).is_some()).await;
    assert_eq!(series(&text, running), Some(1.0), "{text}");
    assert!((series(&text, per_hour).unwrap() - price).abs() < 1e-9, "{text}");
    // The cumulative cost grows while it runs.
    let text = scrape_until(state, "cost accrued", |t| series(t, total).is_some_and(|v| v > 0.0)).await;
    let first = series(&text, total).unwrap();
    let text = scrape_until(state, "more cost accrued", |t| series(t, total).is_some_and(|v| v > first)).await;
    let later = series(&text, total).unwrap();

    // Succeeded: it holds nothing; the cost so far stays.
    api.watch_events(PODS, &[("MODIFIED", gpu_pod("worker-0", "Succeeded", 202))]).await;
    let text = scrape_until(state, "the succeeded pod released", |t| {
        series(t, running).is_none() && series(t, allocated) == Some(0.0)
    })
    .await;
    assert!(series(&text, total).unwrap() >= later, "a counter never goes down: {text}");

    // Another pod runs, then fails: counted while running, released when failed.
    api.watch_events(PODS, &[("ADDED", gpu_pod("worker-1", "Running", 203))]).await;
    scrape_until(state, "the second pod running", |t| series(t, running) == Some(1.0)).await;
    api.watch_events(PODS, &[("MODIFIED", gpu_pod("worker-1", "Failed", 204))]).await;
    scrape_until(state, "the failed pod released", |t| {
        series(t, running).is_none() && series(t, allocated) == Some(0.0)
    })
    .await;

    // Every request was a list or a watch of a resource in `vramgate cluster rbac`, and every
    // rule there was used: the RBAC is exactly what the code needs.
    let api = run.stop().await;
    let used: BTreeSet<(String, String, String)> = api
        .seen()
        .into_iter()
        .map(|(path, verb)| {
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let (group, resource) = match parts.as_slice() {
                ["api", "v1", resource] => (String::new(), (*resource).to_owned()),
                ["apis", group, _version, resource] => ((*group).to_owned(), (*resource).to_owned()),
                _ => panic!("unexpected request path {path}"),
            };
            (group, resource, verb)
        })
        .collect();
    let granted: BTreeSet<(String, String, String)> = cluster::rbac()
        .cluster_role
        .into_iter()
        .flat_map(|rule| {
            let mut out = Vec::new();
            for g in &rule.api_groups {
                for r in &rule.resources {
                    for v in &rule.verbs {
                        out.push((g.clone(), r.clone(), v.clone()));
                    }
                }
            }
            out
        })
        .collect();
    // Resources the fake serves are listed and watched; the ones it does not (404) are
    // listed, and their watch would follow a successful list.
    let listed: BTreeSet<_> =
        used.iter().filter(|(_, _, v)| v == "list").map(|(g, r, _)| (g.clone(), r.clone())).collect();
    let granted_resources: BTreeSet<_> = granted.iter().map(|(g, r, _)| (g.clone(), r.clone())).collect();
    assert_eq!(listed, granted_resources, "every granted resource is read, nothing else");
    assert!(used.is_subset(&granted), "used {used:?} beyond granted {granted:?}");
    for served in [("", "nodes"), ("", "pods"), ("batch", "jobs"), ("kubeflow.org", "pytorchjobs")] {
        assert!(used.contains(&(served.0.to_owned(), served.1.to_owned(), "watch".to_owned())), "{served:?} watched");
    }
}

#[tokio::test]
async fn a_failing_node_watch_keeps_the_last_inventory_reports_staleness_and_recovers() {
    // A stale inventory denies for 1 s, then only warns.
    let settings = Settings::from_yaml("cluster: {inventory_max_stale_seconds: 1}\n").unwrap();
    let api = api_with_nodes();
    let run = start(api.clone(), settings, cluster_opts());
    eventually("the inventory", || run.state.cluster().inventory()).await;
    let h100_job = job(1, 8, Some("NVIDIA-H100-80GB-HBM3"));
    assert_eq!(review(&run.state, "/validate", &h100_job).await["allowed"], false);

    // The API server becomes unreachable for the nodes: the watch fails, relists fail.
    api.set_list(NODES, Listed::Status(500));
    api.watch_fails(NODES, 500).await;
    eventually("staleness", || run.state.cluster().stale_seconds()).await;
    let inv = run.state.cluster().inventory().expect("the last known inventory is kept");
    assert_eq!(inv.pool("A100-80GB").map(|p| p.gpus), Some(8));
    let text = metrics(&run.state).await;
    assert!(text.contains(r#"vramgate_cluster_watch_up{resource="nodes"} 0"#), "{text}");
    assert!(series(&text, r#"vramgate_cluster_watch_errors_total{resource="nodes"}"#).unwrap() >= 1.0, "{text}");

    // Past the limit the inventory's findings are advice: allowed, with a warning.
    eventually("stale past the limit", || run.state.cluster().stale_seconds().filter(|s| *s >= 1)).await;
    let (_, body) = readyz(&run.state).await;
    assert!(body.contains("inventory: stale for"), "{body}");
    let r = review(&run.state, "/validate", &h100_job).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r["warnings"].to_string().contains("not enforced"), "{r}");
    let text = metrics(&run.state).await;
    assert!(series(&text, "vramgate_inventory_stale_seconds").unwrap() >= 1.0, "{text}");

    // The API server is back, without the A100 node: the relist replaces the inventory.
    api.set_list(NODES, Listed::Items(real_nodes().into_iter().skip(1).collect()));
    eventually("recovery", || run.state.cluster().stale_seconds().is_none().then_some(())).await;
    let inv = eventually("the relisted inventory", || {
        run.state.cluster().inventory().filter(|i| i.pool("A100-80GB").is_none())
    })
    .await;
    assert_eq!(inv.pool("A100-40GB MIG 1g.5gb").map(|p| p.gpus), Some(2));
    let (_, body) = readyz(&run.state).await;
    assert!(body.contains("inventory: current"), "{body}");
    run.stop().await;
}

#[tokio::test]
async fn a_config_map_config_reloads_on_change_and_keeps_the_last_good_one() {
    let cm = |text: &str, rv: u64| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "vramgate", "namespace": "vramgate", "resourceVersion": rv.to_string()},
               "data": {"config.yaml": text}})
    };
    let api = FakeApi::default();
    let path = "/api/v1/namespaces/vramgate/configmaps";
    api.set_list(path, Listed::Items(vec![cm("policy: {mode: enforce}\n", 1)]));

    // What `serve --config-map` reads at start.
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(api.clone().serve(handle));
    let text = cluster::read_config_map(kube::Client::new(service, "default"), "vramgate", "vramgate").await.unwrap();
    assert_eq!(text, "policy: {mode: enforce}\n");

    let opts = ClusterOptions {
        inventory: false,
        config_map: Some(("vramgate".into(), "vramgate".into())),
        tick: Duration::from_millis(50),
        config_map_text: Some(text.clone()),
    };
    let run = start(api.clone(), Settings::from_yaml(&text).unwrap(), opts);
    let mode = |s: &AppState| s.settings().policy("research").mode.as_str();
    let reloads = |t: &str, result: &str| series(t, &format!(r#"vramgate_config_reloads_total{{result="{result}"}}"#));

    api.watch_events(path, &[("MODIFIED", cm("policy: {mode: warn}\n", 2))]).await;
    eventually("the new config", || (mode(&run.state) == "warn").then_some(())).await;
    let text = metrics(&run.state).await;
    assert_eq!(reloads(&text, "success"), Some(1.0), "{text}");

    // An invalid config is refused; the last good one stays.
    api.watch_events(path, &[("MODIFIED", cm("policy: {mode: block}\n", 3))]).await;
    scrape_until(&run.state, "the refusal", |t| reloads(t, "failure") == Some(1.0)).await;
    assert_eq!(mode(&run.state), "warn");
    // A value emptied to comments only is refused too, not taken for the defaults (enforce):
    // issue 12, item 10.
    api.watch_events(path, &[("MODIFIED", cm("# everything removed\n", 4))]).await;
    scrape_until(&run.state, "the refusal of the empty config", |t| reloads(t, "failure") == Some(2.0)).await;
    assert_eq!(mode(&run.state), "warn");

    // Only the one ConfigMap, by name, with the verbs of `configMapRole`.
    let api = run.stop().await;
    let queries = api.0.lock().unwrap().queries.get(path).cloned().unwrap_or_default();
    assert!(queries.iter().all(|q| q.contains("fieldSelector=metadata.name%3Dvramgate")), "{queries:?}");
    let verbs: BTreeSet<String> = api.seen().into_iter().map(|(_, v)| v).collect();
    let rule = &cluster::rbac().config_map_role[0];
    assert_eq!(verbs, rule.verbs.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(rule.resources, ["configmaps"]);
}

/// The inventory a decision sees, built the way the watchers build it, from Node objects.
fn inventory_of(nodes: &[Value], settings: &Settings) -> vramgate::cluster::Inventory {
    let records: Vec<vramgate::cluster::NodeRecord> = nodes
        .iter()
        .map(|n| {
            let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(n.clone()).expect("a Node");
            vramgate::cluster::NodeRecord::from_node(&node, &settings.extract)
        })
        .collect();
    vramgate::cluster::Inventory::build(&records, &settings.catalog)
}

/// A GPU node derived from the A100-80GB capture: another product label and GPU count (no
/// public capture of these nodes exists).
fn derived_node(name: &str, product: &str, gpus: u64) -> Value {
    let mut n = fixture("node-a100-80gb-x8-kwok-template-nvsentinel.json");
    n["metadata"]["name"] = json!(name);
    n["metadata"]["labels"]["nvidia.com/gpu.product"] = json!(product);
    n["status"]["allocatable"]["nvidia.com/gpu"] = json!(gpus.to_string());
    n["status"]["capacity"]["nvidia.com/gpu"] = json!(gpus.to_string());
    n
}

#[test]
fn gpu_choice_smallest_and_cheapest_pick_different_types_for_a_job_that_names_none() {
    let settings = Settings::from_yaml("namespaces:\n  research: {gpu_choice: cheapest}\n  sandbox: {}\n").unwrap();
    let inv = inventory_of(
        &[derived_node("a40", "NVIDIA-A100-SXM4-40GB", 8), derived_node("h100", "NVIDIA-H100-80GB-HBM3", 8)],
        &settings,
    );
    let view =
        vramgate::cluster::ClusterView { inventory: &inv, stale_seconds: None, max_stale_seconds: 600, objects: None };
    // A 1B-parameter fine-tune with a token count: fits both; H100 does more FLOPs per dollar
    // at the catalog prices, the A100-40GB has less memory.
    let mut obj = job(1, 8, None);
    obj["metadata"]["annotations"] = json!({
        "vramgate.io/model": "llama-3.2-1b", "vramgate.io/precision": "bf16-mixed",
        "vramgate.io/strategy": "ddp", "vramgate.io/training-tokens": "10B"
    });
    let mut judged_on = |namespace: &str| {
        obj["metadata"]["namespace"] = json!(namespace);
        let body = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u-1", "namespace": namespace, "operation": "CREATE", "object": obj.clone()}
        });
        let a = vramgate::admission::review(
            &settings,
            Some(view),
            vramgate::admission::Endpoint::Validate,
            &serde_json::to_vec(&body).unwrap(),
        );
        a.record.expect("a record").gpu
    };
    assert_eq!(judged_on("sandbox"), "A100-40GB", "smallest (the default choice)");
    assert_eq!(judged_on("research"), "H100-80GB", "cheapest by estimated cost");
}

// /scale and DRA: in cluster/scale.rs.
mod scale;
