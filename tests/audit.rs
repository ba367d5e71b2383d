//! The audit (`vramgate audit`, and the periodic one of `serve --cluster`): the listing of
//! `vramgate::server::audit` against an API server played by `tower_test::mock` (as in
//! `cluster.rs`; here it only answers lists, the one verb the audit uses), holding real captured
//! workloads from `tests/fixtures/manifests/` (origins in its README). The captures carry no
//! `vramgate.io/` annotations; where a test needs them it adds them in code and says which.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

use crate::common::fake_api::{Listed, json_reply, list_reply, status_reply};
use vramgate::admission::decide::{Decision, Reason};
use vramgate::config::Settings;
use vramgate::server::audit::{AuditCollector, list_workloads};

const MANIFESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/manifests");

fn manifest(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{MANIFESTS}/{name}")).expect("fixture");
    serde_yaml_ng::from_str(&text).expect("YAML")
}

/// A listed item as the API server sends it: named, in a namespace, without `apiVersion` and
/// `kind` (a list's items leave them out), with `annotations` added.
fn listed(mut obj: Value, namespace: &str, name: &str, annotations: Value) -> Value {
    let m = obj.as_object_mut().expect("an object");
    m.remove("apiVersion");
    m.remove("kind");
    let meta = m.entry("metadata").or_insert_with(|| json!({}));
    meta["namespace"] = json!(namespace);
    meta["name"] = json!(name);
    meta["annotations"] = annotations;
    obj
}

/// The Fast-LLM PyTorchJob (4 x 8 GPUs) with the model its own config trains
/// (`pytorchjob-fast-llm-mistral-4x8gpu.model-config.yaml`: Mistral-7B, bf16, ZeRO stage 2,
/// sequence 8192, micro-batch 1).
fn fast_llm(namespace: &str) -> Value {
    listed(
        manifest("pytorchjob-fast-llm-mistral-4x8gpu.yaml"),
        namespace,
        "fast-llm",
        json!({
            "vramgate.io/model": "mistral-7b", "vramgate.io/workload": "training",
            "vramgate.io/precision": "bf16-mixed", "vramgate.io/strategy": "zero2",
            "vramgate.io/sequence-length": "8192", "vramgate.io/micro-batch-size": "1",
            "vramgate.io/activation-checkpointing": "true", "vramgate.io/gpu": "H100-80GB"
        }),
    )
}

/// The KubeRay RayJob (4 workers x 1 GPU) annotated as a 70B full fine-tune: a 70B model's
/// bf16 weights alone are 140 GB, more than 4 x 80 GB holds with gradients and Adam states.
fn ray_70b(namespace: &str) -> Value {
    listed(
        manifest("rayjob-pytorch-4gpu-workers.yaml"),
        namespace,
        "ray-70b",
        json!({"vramgate.io/model": "llama-2-70b", "vramgate.io/workload": "training", "vramgate.io/gpu": "H100-80GB"}),
    )
}

/// Answers list requests by path; every other path is a 404, as for a CRD not installed.
#[derive(Clone, Default)]
struct Lists(Arc<Mutex<ListsState>>);

/// Answers by path, and the paths asked for, in order.
type ListsState = (BTreeMap<String, Listed>, Vec<String>);

impl Lists {
    fn set(&self, path: &str, a: Listed) {
        self.0.lock().unwrap().0.insert(path.to_owned(), a);
    }

    fn asked(&self) -> Vec<String> {
        self.0.lock().unwrap().1.clone()
    }

    fn client(&self) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let lists = self.clone();
        tokio::spawn(async move {
            while let Some((req, send)) = handle.next_request().await {
                assert_eq!(req.method(), Method::GET, "the audit only reads");
                let path = req.uri().path().to_owned();
                let reply = {
                    let mut st = lists.0.lock().unwrap();
                    st.1.push(path.clone());
                    list_reply(st.0.get(&path))
                };
                send.send_response(reply);
            }
        });
        kube::Client::new(service, "default")
    }
}

#[tokio::test]
async fn real_workloads_are_judged_as_created_missing_crds_skipped_with_a_line() {
    let lists = Lists::default();
    lists.set("/apis/kubeflow.org/v1/pytorchjobs", Listed::Items(vec![fast_llm("team-a")]));
    lists.set("/apis/ray.io/v1/rayjobs", Listed::Items(vec![ray_70b("team-b")]));
    // The Kueue Job as captured: GPUs, no annotations: not vramgate's business by default.
    lists.set(
        "/apis/batch/v1/jobs",
        Listed::Items(vec![listed(manifest("job-gpu-parallelism3-kueue.yaml"), "default", "kueue", json!({}))]),
    );
    lists.set("/api/v1/pods", Listed::Items(Vec::new()));
    let client = lists.client();
    let listing = list_workloads(&client, None).await;
    let settings = Settings::default();
    let report = vramgate::audit::audit(&listing.objects, &settings, None, listing.unlisted);

    assert_eq!(report.judged_as, "CREATE");
    assert_eq!((report.summary.objects, report.summary.judged, report.summary.skipped), (3, 2, 1), "{report:#?}");
    let ray = report.findings.iter().find(|f| f.name == "ray-70b").expect("the RayJob is a finding");
    assert_eq!((ray.kind.as_str(), ray.namespace.as_str()), ("RayJob", "team-b"));
    assert_eq!((ray.decision, ray.reason), (Decision::Deny, Reason::DoesNotFit));
    assert_eq!(ray.gpus, 4, "4 workers x 1 GPU, per the fixture");

    let llm = report.findings.iter().find(|f| f.name == "fast-llm").expect("the PyTorchJob is over-provisioned");
    assert_eq!(llm.gpus, 32, "Master 1 + Worker 3, 8 GPUs each, per the fixture");
    let needed = llm.gpus_needed.expect("a 7B model fits on H100s");
    assert!(needed < 32, "{llm:#?}");
    let h100 = settings.catalog.find("H100-80GB").unwrap().usd_per_hour;
    assert_eq!(llm.overprovisioned_gpus, 32 - u64::from(needed));
    assert_eq!(llm.overprovisioned_usd_per_hour, Some(f64::from(32 - needed) * h100));
    assert_eq!(report.summary.overprovisioned_usd_per_hour, f64::from(32 - needed) * h100);

    // Every kind not served is named, none is called incomplete, and nothing is missing.
    let unlisted: Vec<&str> = report.unlisted.iter().map(|u| u.resource.as_str()).collect();
    assert!(
        unlisted.contains(&"mpijobs.kubeflow.org") && unlisted.contains(&"jobsets.jobset.x-k8s.io"),
        "{unlisted:?}"
    );
    assert!(report.unlisted.iter().all(|u| !u.incomplete && u.reason.contains("not served")), "{report:#?}");
    assert_eq!(vramgate::audit::exit_code(&report), 1, "a job would be denied");
    // One list per kind of KINDS, cluster-wide.
    assert_eq!(lists.asked().len(), vramgate::workload::KINDS.len());
}

#[tokio::test]
async fn one_namespace_is_listed_at_its_own_paths_and_a_forbidden_kind_makes_the_audit_incomplete() {
    let lists = Lists::default();
    lists.set("/apis/ray.io/v1/namespaces/team-b/rayjobs", Listed::Items(vec![ray_70b("team-b")]));
    lists.set("/apis/batch/v1/namespaces/team-b/jobs", Listed::Status(403));
    let client = lists.client();
    let listing = list_workloads(&client, Some("team-b")).await;
    assert!(lists.asked().iter().all(|p| p.contains("/namespaces/team-b/")), "{:?}", lists.asked());
    let report = vramgate::audit::audit(&listing.objects, &Settings::default(), None, listing.unlisted);
    let jobs = report.unlisted.iter().find(|u| u.resource == "jobs.batch").expect("jobs not listed");
    assert!(jobs.incomplete && jobs.reason.contains("cannot list"), "{jobs:?}");
    assert_eq!(vramgate::audit::exit_code(&report), 2, "objects may be missing");
}

#[tokio::test]
async fn the_metrics_are_the_last_audit_by_namespace_with_the_namespaces_capped() {
    let lists = Lists::default();
    lists.set("/apis/ray.io/v1/rayjobs", Listed::Items(vec![ray_70b("team-b"), ray_70b("team-c"), ray_70b("team-d")]));
    lists.set("/apis/kubeflow.org/v1/pytorchjobs", Listed::Items(vec![fast_llm("team-a")]));
    let client = lists.client();
    let listing = list_workloads(&client, None).await;
    let report = vramgate::audit::audit(&listing.objects, &Settings::default(), None, listing.unlisted);
    let waste = report.summary.overprovisioned_usd_per_hour;
    // Two namespaces keep their names: the one with a finding and waste ranks first (team-a:
    // its over-provisioning warns), then by name among equals; the rest are `other`.
    let collector = AuditCollector::new(2);
    assert!(collector.series().is_none(), "nothing before the first audit");
    collector.set(report, 1_700_000_000.0);
    let series = collector.series().expect("a report");
    let (findings, by_ns, at) = (series.findings, series.overprovisioned_usd_per_hour, series.finished_unix_seconds);
    assert_eq!(at, 1_700_000_000.0);
    assert_eq!(findings.get(&("team-a".to_owned(), "overprovisioned")), Some(&1), "{findings:?}");
    assert_eq!(findings.get(&("team-b".to_owned(), "does-not-fit")), Some(&1), "{findings:?}");
    assert_eq!(findings.get(&("other".to_owned(), "does-not-fit")), Some(&2), "team-c and team-d: {findings:?}");
    assert_eq!(findings.len(), 3);
    assert_eq!(by_ns.get("team-a"), Some(&waste));

    // And through the registry, as Prometheus scrapes it.
    let metrics = vramgate::server::Metrics::new();
    let listing = list_workloads(&client, None).await;
    metrics.audit().set(vramgate::audit::audit(&listing.objects, &Settings::default(), None, listing.unlisted), 5.0);
    let text = metrics.encode().unwrap();
    assert!(text.contains("vramgate_audit_findings{namespace=\"team-c\",reason=\"does-not-fit\"} 1"), "{text}");
    assert!(text.contains("vramgate_audit_last_run_timestamp_seconds 5.0"), "{text}");
    let scraped: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("vramgate_audit_overprovisioned_usd_per_hour{namespace=\"team-a\"} "))
        .and_then(|v| v.parse().ok())
        .expect("team-a's waste");
    assert_eq!(scraped, waste);
}

/// What the PolicyReport writer sent: (path, query, content type, body).
type Patched = Arc<Mutex<Vec<(String, String, String, Value)>>>;

/// An API server that accepts server-side applies of PolicyReports, except in `refuse`.
fn apply_server(refuse: &'static str) -> (kube::Client, Patched) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen: Patched = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        use http_body_util::BodyExt;
        while let Some((req, send)) = handle.next_request().await {
            assert_eq!(req.method(), Method::PATCH);
            let path = req.uri().path().to_owned();
            let query = req.uri().query().unwrap_or("").to_owned();
            let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).expect("an apply patch is the object, as JSON");
            log.lock().unwrap().push((path.clone(), query, ct, body.clone()));
            let reply = if path.contains(&format!("/namespaces/{refuse}/")) {
                status_reply(404)
            } else {
                json_reply(200, serde_json::to_vec(&body).unwrap())
            };
            send.send_response(reply);
        }
    });
    (kube::Client::new(service, "default"), seen)
}

#[tokio::test]
async fn policy_reports_are_applied_per_namespace_and_a_namespace_left_empty_is_emptied() {
    use vramgate::server::audit::write_policy_reports;
    let lists = Lists::default();
    lists.set("/apis/ray.io/v1/rayjobs", Listed::Items(vec![ray_70b("team-b")]));
    lists.set("/apis/kubeflow.org/v1/pytorchjobs", Listed::Items(vec![fast_llm("team-a")]));
    let listing = list_workloads(&lists.client(), None).await;
    let report = vramgate::audit::audit(&listing.objects, &Settings::default(), None, listing.unlisted);
    let reports = vramgate::audit::policy_report::policy_reports(&report, 1_700_000_000);

    let (client, seen) = apply_server("none");
    let mut written = std::collections::BTreeSet::new();
    write_policy_reports(&client, &reports, &mut written).await;
    {
        let seen = seen.lock().unwrap();
        let paths: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/apis/wgpolicyk8s.io/v1alpha2/namespaces/team-a/policyreports/vramgate-audit",
                "/apis/wgpolicyk8s.io/v1alpha2/namespaces/team-b/policyreports/vramgate-audit"
            ]
        );
        for (_, query, ct, body) in seen.iter() {
            assert_eq!(ct, "application/apply-patch+yaml", "server-side apply");
            assert!(query.contains("fieldManager=vramgate") && query.contains("force=true"), "{query}");
            assert_eq!(body["kind"], "PolicyReport");
        }
        assert_eq!(seen[1].3["results"][0]["rule"], "does-not-fit");
    }
    assert_eq!(written.iter().map(String::as_str).collect::<Vec<_>>(), ["team-a", "team-b"]);

    // team-b's RayJob is gone: its report is emptied, not left stale; then forgotten.
    seen.lock().unwrap().clear();
    let only_a: Vec<Value> = reports.iter().filter(|r| r["metadata"]["namespace"] == "team-a").cloned().collect();
    write_policy_reports(&client, &only_a, &mut written).await;
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        let b = seen.iter().find(|s| s.0.contains("/team-b/")).expect("team-b emptied");
        assert_eq!(b.3["results"], serde_json::json!([]));
        assert_eq!(b.3["summary"]["fail"], 0);
    }
    assert_eq!(written.iter().map(String::as_str).collect::<Vec<_>>(), ["team-a"]);

    // A namespace the API server refuses (no CRD: 404) is not counted as written.
    let (client, _) = apply_server("team-a");
    let mut written = std::collections::BTreeSet::new();
    write_policy_reports(&client, &reports, &mut written).await;
    assert_eq!(written.iter().map(String::as_str).collect::<Vec<_>>(), ["team-b"]);
}
