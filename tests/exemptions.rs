//! `vramgate.io/exempt` end to end: the review path (response, audit annotation, warning) and
//! its metric, and `vramgate check` (the real binary) showing the same outcome.

use crate::common::objects::{gpu_job, review_of};
use crate::common::{TempDir, vramgate_json};
use serde_json::{Value, json};
use std::time::Duration;
use vramgate::admission::{Endpoint, review};
use vramgate::config::Settings;
use vramgate::server::Metrics;

const CONFIG: &str = "policy:\n  exemptions:\n    namespaces: [research]\n";

/// Llama 2 70B in fp32 with DDP on one H100: 16 bytes per parameter is about 1 TB, so it is
/// denied without an exemption whatever the estimate's details.
fn too_big(namespace: &str, exempt: Option<&str>) -> Value {
    let mut ann =
        json!({"vramgate.io/model": "llama-2-70b", "vramgate.io/precision": "fp32", "vramgate.io/strategy": "ddp"});
    if let Some(r) = exempt {
        ann["vramgate.io/exempt"] = json!(r);
    }
    let mut job = gpu_job("big", ann, 1, 1, Some("NVIDIA-H100-80GB-HBM3"));
    job["metadata"]["namespace"] = json!(namespace);
    job
}

/// The validating answer to `obj` sent by `user`, and the metrics after counting it as the
/// server does.
fn validate(settings: &Settings, obj: &Value, user: &str) -> (Value, String) {
    let mut body = review_of(obj, "CREATE", obj["metadata"]["namespace"].as_str().unwrap());
    body["request"]["userInfo"] = json!({"username": user, "groups": ["system:authenticated", "ml-leads"]});
    let answer = review(settings, None, Endpoint::Validate, &serde_json::to_vec(&body).unwrap());
    assert_eq!(answer.status, 200);
    let metrics = Metrics::configured(settings, Default::default());
    metrics.record(answer.record.as_ref().unwrap(), &settings.catalog, Duration::ZERO);
    (serde_json::from_slice(&answer.body).unwrap(), metrics.encode().unwrap())
}

#[test]
fn honoured_in_an_allowed_namespace_warns_annotates_and_counts() {
    let settings = Settings::from_yaml(CONFIG).unwrap();
    let (plain, _) = validate(&settings, &too_big("research", None), "alice");
    assert_eq!(plain["response"]["allowed"], false, "denied without the exemption");
    let (r, metrics) = validate(&settings, &too_big("research", Some("vendor benchmark, ticket 42")), "alice");
    let response = &r["response"];
    assert_eq!(response["allowed"], true, "{r}");
    assert_eq!(response["auditAnnotations"]["exempted"], "alice: vendor benchmark, ticket 42");
    assert_eq!(response["auditAnnotations"]["decision"], "warn");
    assert_eq!(response["auditAnnotations"]["reason"], "does-not-fit");
    let warnings = response["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect::<Vec<_>>();
    let joined = warnings.join(" ");
    assert!(
        joined.starts_with("vramgate: exempted by alice: vendor benchmark, ticket 42; would have been denied: needs"),
        "{warnings:?}"
    );
    assert!(metrics.contains(r#"vramgate_exemptions_total{namespace="research",outcome="honoured"} 1"#), "{metrics}");
}

#[test]
fn a_disallowed_namespace_is_still_denied_and_counted_as_refused() {
    let settings = Settings::from_yaml(CONFIG).unwrap();
    let (r, metrics) = validate(&settings, &too_big("sandbox", Some("please")), "alice");
    let response = &r["response"];
    assert_eq!(response["allowed"], false, "{r}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("vramgate.io/exempt not honoured: namespace 'sandbox' is not in policy.exemptions.namespaces"),
        "{message}"
    );
    assert!(response["auditAnnotations"].get("exempted").is_none(), "{r}");
    assert!(metrics.contains(r#"vramgate_exemptions_total{namespace="sandbox",outcome="refused"} 1"#), "{metrics}");
}

#[test]
fn a_disallowed_user_is_still_denied_and_an_allowed_group_is_honoured() {
    let settings = Settings::from_yaml(
        "policy:\n  exemptions:\n    namespaces: [research]\n    users: [bob]\n    groups: [ml-leads]\n",
    )
    .unwrap();
    let mut obj = too_big("research", Some("approved"));
    let mut body = review_of(&obj, "CREATE", "research");
    body["request"]["userInfo"] = json!({"username": "mallory", "groups": ["system:authenticated"]});
    let answer = review(&settings, None, Endpoint::Validate, &serde_json::to_vec(&body).unwrap());
    let r: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(r["response"]["allowed"], false, "{r}");
    assert!(r["response"]["status"]["message"].as_str().unwrap().contains("user 'mallory'"), "{r}");
    // `validate` sends the group ml-leads.
    obj["metadata"]["name"] = json!("big-2");
    let (r, _) = validate(&settings, &obj, "carol");
    assert_eq!(r["response"]["allowed"], true, "{r}");
}

#[test]
fn the_mutating_endpoint_ignores_exemptions() {
    let settings = Settings::from_yaml(CONFIG).unwrap();
    let body = review_of(&too_big("research", Some("approved")), "CREATE", "research");
    let answer = review(&settings, None, Endpoint::Mutate, &serde_json::to_vec(&body).unwrap());
    assert_eq!(answer.record.unwrap().exemption, None);
}

/// `vramgate check --config config.yaml ARGS job.yaml --output json` in `dir`: the exit code
/// and the one object's entry.
fn check(dir: &TempDir, args: &[&str]) -> (i32, Value) {
    let (config, job) = (dir.path("config.yaml"), dir.path("job.yaml"));
    let (config, job) = (config.to_str().expect("UTF-8 path"), job.to_str().expect("UTF-8 path"));
    let (code, v, _) = vramgate_json(&[&["check", "--config", config], args, &[job]].concat());
    (code, v[0].clone())
}

#[test]
fn check_shows_the_exemption_as_the_webhook_decides_it() {
    let dir = TempDir::new("exempt-check");
    dir.write("config.yaml", "policy:\n  exemptions:\n    namespaces: [research]\n    groups: [ml-leads]\n");
    dir.write("job.yaml", &serde_yaml_ng::to_string(&too_big("research", Some("approved"))).unwrap());
    let (code, r) = check(&dir, &["--as", "alice", "--as-group", "ml-leads"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["decision"], "warn");
    assert_eq!(r["exemption"]["outcome"], "honoured");
    assert_eq!(r["exemption"]["user"], "alice");
    let (code, r) = check(&dir, &[]);
    assert_eq!(code, 1, "no user known while groups are named: {r}");
    assert_eq!(r["exemption"]["outcome"], "refused");
    assert!(r["exemption"]["message"].as_str().unwrap().contains("pass --as"), "{r}");
}
