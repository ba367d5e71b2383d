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
              "Review errors by code", "Config and certificate reload failures", "Certificate expires in"):
        assert t in titles


def test_workload_panels_follow_the_namespace_and_gpu_variables():
    for title, expr in chartlib.dashboard_exprs(chartlib.dashboard()):
        if "vramgate_admitted_" in expr:
            for sel in re.findall(r"vramgate_admitted_\w+\{([^}]*)\}", expr):
                assert 'namespace=~"$namespace"' in sel and 'gpu=~"$gpu"' in sel, title
