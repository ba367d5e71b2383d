//! An audit as `wgpolicyk8s.io/v1alpha2` PolicyReports, one per namespace: the format
//! Kyverno, Kubewarden and Trivy write, so Policy Reporter and other readers show vramgate's
//! findings beside theirs. Schema: kubernetes-sigs/wg-policy-prototypes,
//! `policy-report/crd/v1alpha2/wgpolicyk8s.io_policyreports.yaml` (copied into
//! `tests/fixtures/policyreport/`, against which `tests/chart/test_audit.py` validates what
//! this module writes).
//!
//! Each judged object is one result of policy `vramgate`, rule = the decision's reason
//! (`does-not-fit`, `overprovisioned`, ... , `fits`), source `vramgate`, with the result the
//! webhook's answer would be: `fail` for a denial (and for a breach a namespace in `audit` mode
//! lets through: the requirement is not met, only not enforced), `warn` for a warning, `pass`
//! otherwise. GPUs, GPUs needed and the surplus's $/hour are `properties` (strings, as the
//! schema requires).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{AuditFinding, AuditReport};
use crate::admission::decide::{Decision, Reason};

/// The reports' `apiVersion`.
pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
/// The reports' name in each namespace.
pub const NAME: &str = "vramgate-audit";
/// `policy` and `source` of every result.
pub const POLICY: &str = "vramgate";

/// A result's outcome, as the schema's `result` enum spells it.
#[must_use]
pub fn result_of(f: &AuditFinding) -> &'static str {
    match f.decision {
        Decision::Deny => "fail",
        Decision::Warn => "warn",
        _ if f.reason != Reason::Fits => "fail",
        _ => "pass",
    }
}

fn result(f: &AuditFinding, now_unix_seconds: i64) -> Value {
    let mut properties = BTreeMap::new();
    properties.insert("gpus", f.gpus.to_string());
    if let Some(g) = &f.gpu {
        properties.insert("gpu", g.clone());
    }
    if let Some(n) = f.gpus_needed {
        properties.insert("gpus_needed", n.to_string());
    }
    if let Some(usd) = f.overprovisioned_usd_per_hour {
        properties.insert("overprovisioned_usd_per_hour", format!("{usd:.2}"));
    }
    let mut resource = json!({"apiVersion": f.api_version, "kind": f.kind, "name": f.name, "namespace": f.namespace});
    if let Some(uid) = &f.uid {
        resource["uid"] = json!(uid);
    }
    let message = if f.messages.is_empty() { "fits its GPUs, within policy".to_owned() } else { f.messages.join("; ") };
    json!({
        "policy": POLICY,
        "rule": f.reason.as_str(),
        "result": result_of(f),
        "source": POLICY,
        "category": "GPU memory and cost",
        "scored": true,
        "message": message,
        "properties": properties,
        "resources": [resource],
        "timestamp": {"seconds": now_unix_seconds, "nanos": 0},
    })
}

/// One PolicyReport per namespace with a judged object, in namespace order; results in the
/// report's order (findings, then passes, each by kind and name). `now_unix_seconds` stamps
/// the results (the caller reads the clock).
#[must_use]
pub fn policy_reports(audit: &AuditReport, now_unix_seconds: i64) -> Vec<Value> {
    let mut by_ns: BTreeMap<&str, Vec<&AuditFinding>> = BTreeMap::new();
    for f in audit.findings.iter().chain(&audit.passed) {
        by_ns.entry(f.namespace.as_str()).or_default().push(f);
    }
    by_ns.into_iter().map(|(ns, items)| report(ns, &items, now_unix_seconds)).collect()
}

/// The PolicyReport of `namespace` with these results (none: an empty report, which replaces
/// one written before once the namespace has nothing judged).
#[must_use]
pub fn report(namespace: &str, items: &[&AuditFinding], now_unix_seconds: i64) -> Value {
    let count = |r: &str| items.iter().filter(|f| result_of(f) == r).count();
    json!({
        "apiVersion": API_VERSION,
        "kind": "PolicyReport",
        "metadata": {
            "name": NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "vramgate"},
        },
        "summary": {"pass": count("pass"), "fail": count("fail"), "warn": count("warn"), "error": 0, "skip": 0},
        "results": items.iter().map(|f| result(f, now_unix_seconds)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn a_report_per_namespace_with_fail_warn_and_pass_counted() {
        let job = |name: &str, ns: &str, gpus: u32, model: &str| {
            json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
                             "annotations": {"vramgate.io/model": model, "vramgate.io/workload": "inference",
                                             "vramgate.io/gpu": "H100-80GB"}},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": gpus}}}]}}}
            })
        };
        // 7B inference on 1 GPU fits (pass); on 8 it warns (8 >= 2 x 1 needed); 405B
        // inference (810 GB of bf16 weights) does not fit one 80 GB GPU (fail).
        let objects =
            [job("ok", "a", 1, "llama-2-7b"), job("wide", "a", 8, "llama-2-7b"), job("huge", "b", 1, "llama-3.1-405b")];
        let report = super::super::audit(&objects, &Settings::default(), None, Vec::new());
        let reports = policy_reports(&report, 1_700_000_000);
        assert_eq!(reports.len(), 2);
        let a = &reports[0];
        assert_eq!((a["metadata"]["namespace"].as_str(), a["metadata"]["name"].as_str()), (Some("a"), Some(NAME)));
        assert_eq!(a["summary"], json!({"pass": 1, "fail": 0, "warn": 1, "error": 0, "skip": 0}));
        let wide = a["results"].as_array().unwrap().iter().find(|r| r["resources"][0]["name"] == "wide").unwrap();
        assert_eq!((wide["rule"].as_str(), wide["result"].as_str()), (Some("overprovisioned"), Some("warn")));
        assert_eq!(wide["resources"][0]["uid"], "uid-wide");
        assert_eq!(wide["properties"]["gpus_needed"], "1");
        let b = &reports[1];
        assert_eq!(b["summary"]["fail"], 1);
        assert_eq!(b["results"][0]["rule"], "does-not-fit");
        assert_eq!(b["results"][0]["timestamp"], json!({"seconds": 1_700_000_000, "nanos": 0}));
    }
}
