"""dashboards/vramgate.json: a current Grafana dashboard whose every panel queries vramgate's
metrics through the Prometheus datasource variable. (test_prometheus.py runs every query
against a real Prometheus.)"""

from __future__ import annotations

import re

import chartlib

METRICS = {
    "vramgate_reviews_total", "vramgate_review_errors_total", "vramgate_review_duration_seconds_bucket",
    "vramgate_review_duration_seconds_count", "vramgate_admitted_jobs_total", "vramgate_admitted_gpu_seconds_total",
    "vramgate_admitted_cost_usd_total", "vramgate_admitted_gpus_requested_total",
    "vramgate_admitted_gpus_needed_total", "vramgate_admitted_overprovisioned_cost_usd_total",
    "vramgate_config_reloads_total", "vramgate_certificate_reloads_total",
    "vramgate_config_last_reload_success_timestamp_seconds", "vramgate_certificate_not_after_timestamp_seconds",
    "vramgate_build_info",
    # cluster.enabled (vramgate serve --cluster): the GPU inventory and the live cost.
    "vramgate_cluster_nodes", "vramgate_cluster_gpus", "vramgate_cluster_gpus_allocated",
    "vramgate_cluster_unknown_gpu_products", "vramgate_running_gpus", "vramgate_running_cost_usd_per_hour",
    "vramgate_running_cost_usd_total", "vramgate_inventory_stale_seconds",
    "vramgate_inventory_last_sync_timestamp_seconds", "vramgate_cluster_watch_up", "vramgate_cluster_watch_errors_total",
    # The periodic audit (cluster.enabled, config.audit.interval_seconds).
    "vramgate_audit_findings", "vramgate_audit_overprovisioned_usd_per_hour", "vramgate_audit_last_run_timestamp_seconds",
    # Issue 15: admitted inference servers.
    "vramgate_serving_running_gpus", "vramgate_serving_running_cost_usd_per_hour",
    "vramgate_admitted_serving_usd_per_hour_total", "vramgate_admitted_serving_kv_cache_tokens_total",
}
DS = {"type": "prometheus", "uid": "${datasource}"}


def test_dashboard_metadata():
    d = chartlib.dashboard()
    assert d["schemaVersion"] >= 39
    assert d["uid"] == "vramgate-cost" and len(d["uid"]) <= 40
    assert d["id"] is None, "an exported dashboard must not pin a database id"
    assert d["title"] and d["tags"]
    assert "__inputs" not in d, "the datasource is a variable, so the sidecar can load the file as is"


def test_variables_datasource_namespace_gpu():
    variables = {v["name"]: v for v in chartlib.dashboard()["templating"]["list"]}
    assert set(variables) == {"datasource", "namespace", "gpu"}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "gpu"):
        v = variables[name]
        assert v["type"] == "query" and v["datasource"] == DS
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*"
        assert re.fullmatch(rf"label_values\(vramgate_admitted_jobs_total(\{{.*\}})?, {name}\)", v["definition"])
        assert v["query"]["query"] == v["definition"]


def test_panels_are_laid_out_and_query_the_datasource_variable():
    d = chartlib.dashboard()
    panels = chartlib.dashboard_panels(d)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps another panel"
                cells.add((x, y))
        if p["type"] == "row":
            continue
        assert p["datasource"] == DS, p["title"]
        assert p.get("description"), p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)) and refs
        for t in p["targets"]:
            assert t["datasource"] == DS and t["expr"].strip()


def test_every_vramgate_metric_is_on_the_dashboard_and_no_other():
    used = set()
    for _, expr in chartlib.dashboard_exprs(chartlib.dashboard()):
        used |= set(re.findall(r"\bvramgate_[a-z_]+", expr))
    assert used <= METRICS, used - METRICS
    assert used == METRICS, METRICS - used


def test_the_panels_the_issue_asks_for():
    titles = {p["title"] for p in chartlib.dashboard_panels(chartlib.dashboard())}
    for t in ("Estimated spend admitted", "Estimated spend admitted per hour, by namespace",
              "GPU-hours admitted", "GPUs requested vs needed, by namespace", "Over-provisioning cost",
              "Denied", "Warned", "Patched", "Decisions by reason", "Admission latency p50 / p99",
              "Review errors by code", "Config and certificate reload failures", "Certificate expires in",
              # Issue 6: cluster awareness.
              "Cost burn rate now", "Cost burn rate by team", "Running GPUs by namespace", "Estimated cost by team",
              "GPU fleet utilisation by type", "GPU capacity vs allocation by type", "Inventory staleness",
              "Unknown GPU products",
              # Issue 16: the audit of what runs.
              "Running jobs the webhook would refuse or warn about now", "Over-provisioning $/hour by namespace",
              "Would be refused or warned now, by namespace and reason",
              # Issue 15: serving.
              "Serving cost burn rate by namespace", "Serving GPUs by GPU type", "Servers denied at admission",
              "KV-cache tokens admitted by namespace", "Serving $/hour admitted by namespace"):
        assert t in titles


def expr_of(title: str) -> list[str]:
    return [e for t, e in chartlib.dashboard_exprs(chartlib.dashboard()) if t == title]


def test_the_cluster_panels_query_what_the_issue_says():
    """The queries the issue names, with the dashboard's variable filters."""
    sel = '{namespace=~"$namespace", gpu=~"$gpu"}'
    assert expr_of("Cost burn rate by team") == [f"sum by (team) (vramgate_running_cost_usd_per_hour{sel})"]
    assert expr_of("Running GPUs by namespace") == [f"sum by (namespace) (vramgate_running_gpus{sel})"]
    assert expr_of("GPU fleet utilisation by type") == [
        'sum by (gpu) (vramgate_cluster_gpus_allocated{gpu=~"$gpu"}) / sum by (gpu) (vramgate_cluster_gpus{gpu=~"$gpu"})']
    (cost,) = expr_of("Estimated cost by team")
    assert "increase(vramgate_running_cost_usd_total" in cost and "[$__range]" in cost and "by (team)" in cost


def test_the_cluster_panels_are_in_their_own_row_below_the_others():
    panels = chartlib.dashboard_panels(chartlib.dashboard())
    rows = [p for p in panels if p["type"] == "row"]
    live = next(r for r in rows if r["title"].startswith("Live cost and GPU fleet"))
    audit = next(r for r in rows if r["title"].startswith("Audit of what runs"))
    # The cluster rows come last: live cost, then the audit.
    assert sorted(r["gridPos"]["y"] for r in rows)[-2:] == [live["gridPos"]["y"], audit["gridPos"]["y"]]
    cluster_metrics = ("vramgate_cluster_", "vramgate_running_", "vramgate_inventory_")
    for p in panels:
        exprs = [t["expr"] for t in p.get("targets", [])]
        if any(m in e for e in exprs for m in cluster_metrics):
            assert p["gridPos"]["y"] > live["gridPos"]["y"], p["title"]
            assert all(any(m in e for m in cluster_metrics) for e in exprs), p["title"]
            assert p["gridPos"]["y"] < audit["gridPos"]["y"], p["title"]
        if any("vramgate_audit_" in e for e in exprs):
            assert p["gridPos"]["y"] > audit["gridPos"]["y"], p["title"]
            assert all("vramgate_audit_" in e for e in exprs), p["title"]


def test_workload_panels_follow_the_namespace_and_gpu_variables():
    for title, expr in chartlib.dashboard_exprs(chartlib.dashboard()):
        for metric in ("vramgate_admitted_", "vramgate_running_"):
            for m in re.finditer(metric + r"\w+(\{[^}]*\})?", expr):
                sel = m.group(1) or ""
                assert 'namespace=~"$namespace"' in sel and 'gpu=~"$gpu"' in sel, title


def test_fleet_panels_follow_the_gpu_variable():
    for title, expr in chartlib.dashboard_exprs(chartlib.dashboard()):
        for m in re.finditer(r"vramgate_cluster_(nodes|gpus|gpus_allocated)\b(\{[^}]*\})?", expr):
            assert 'gpu=~"$gpu"' in (m.group(2) or ""), title


def test_the_serving_panels_query_the_serving_families_and_the_denied_servers():
    sel = '{namespace=~"$namespace", gpu=~"$gpu"}'
    assert expr_of("Serving cost burn rate by namespace") == [
        f"sum by (namespace) (vramgate_serving_running_cost_usd_per_hour{sel})"]
    assert expr_of("Serving GPUs by GPU type") == [f"sum by (gpu) (vramgate_serving_running_gpus{sel})"]
    (denied,) = expr_of("Servers denied at admission")
    for kind in ("Deployment", "StatefulSet", "InferenceService", "LeaderWorkerSet"):
        assert kind in denied
    assert 'decision="deny"' in denied and 'endpoint="validate"' in denied
    # What admission committed: KV-cache tokens and dollars per hour of the servers admitted.
    for title, family in (("KV-cache tokens admitted by namespace", "vramgate_admitted_serving_kv_cache_tokens_total"),
                          ("Serving $/hour admitted by namespace", "vramgate_admitted_serving_usd_per_hour_total")):
        assert expr_of(title) == [f"sort_desc(sum by (namespace) (increase({family}{sel}[$__range])))"]
