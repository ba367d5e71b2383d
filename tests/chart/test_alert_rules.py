"""The PrometheusRule's alerts, extracted from the rendered chart: `promtool check rules`, and
`promtool test rules` with input series that must make each alert fire (and healthy series that
must not).

promtool compares expected annotations verbatim, so the unit tests run on a copy of the rules
without annotations; `promtool check rules` checks the real ones, annotation templates included.
"""

from __future__ import annotations

import copy

import pytest
import yaml

import chartlib
from chartlib import NAMESPACE, RELEASE, render
from conftest import run

JOB = RELEASE  # the ServiceMonitor's job label: the Service's name
POD = "10.0.0.7:8080"


@pytest.fixture(scope="module")
def rules(chart):
    return chartlib.rules_of(render({"prometheusRule": {"enabled": True}}, chart=chart))


def test_promtool_check_rules(rules, promtool, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    r = run([promtool, "check", "rules", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rules['groups'])} rules found" in r.stdout + r.stderr


def series(name, labels, values):
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


TARGET = {"job": JOB, "instance": POD}  # the labels Prometheus adds to every scraped series


def durations(buckets: dict[str, str]) -> list[dict]:
    """`vramgate_review_duration_seconds_bucket` of /validate: one series per `le`, its values."""
    return [series("vramgate_review_duration_seconds_bucket", TARGET | {"endpoint": "validate", "le": le}, values)
            for le, values in buckets.items()]


def reviews(kind: str, decision: str, reason: str, values: str) -> dict:
    """`vramgate_reviews_total` of validating CREATE reviews of `kind`."""
    return series("vramgate_reviews_total", TARGET | {"endpoint": "validate", "operation": "CREATE", "kind": kind,
                                                      "decision": decision, "reason": reason}, values)


def unit_tests() -> list[dict]:
    up = {"job": JOB, "namespace": NAMESPACE, "instance": POD}
    m = TARGET
    firing = {
        "input_series": [
            # One pod was up for 3 minutes, then stopped answering.
            series("up", up, "1 1 1 0x30"),
            # Half of all requests fail.
            series("vramgate_review_errors_total", m | {"endpoint": "validate", "code": "400"}, "0+60x30"),
            # Reviews take 2.5-5 s: p99 near the 5 s timeout.
            *durations({"2.5": "0x30", "5": "0+60x30", "+Inf": "0+60x30"}),
            # 10 of 11 checked jobs denied every minute.
            reviews("Job", "deny", "does-not-fit", "0+50x30"),
            reviews("Job", "allow", "fits", "0+5x30"),
            reviews("Pod", "skip", "not-annotated", "0+500x30"),
            # A refused config and a refused certificate at minute 2.
            series("vramgate_config_reloads_total", m | {"result": "failure"}, "0 0 1x30"),
            series("vramgate_certificate_reloads_total", m | {"result": "failure"}, "0 0 1x30"),
            # The certificate expires 7 days after the epoch (promtool's clock starts at 0).
            series("vramgate_certificate_not_after_timestamp_seconds", m, f"{7 * 86400}x180"),
            # The node watch breaks at minute 3: staleness grows a minute per minute, past the
            # default 600 s at minute 13.
            series("vramgate_inventory_stale_seconds", m, "0 0 0 60+60x40"),
            # The PyTorchJob watch fails from minute 2 on; the node watch stays up.
            series("vramgate_cluster_watch_up", m | {"resource": "pytorchjobs.kubeflow.org"}, "1 1 0x30"),
            series("vramgate_cluster_watch_up", m | {"resource": "nodes"}, "1x30"),
        ],
        "alert_rule_test": [
            {"eval_time": "2m", "alertname": "VramgateWebhookDown", "exp_alerts": []},
            {"eval_time": "9m", "alertname": "VramgateWebhookDown", "exp_alerts": [{"exp_labels": {"severity": "critical"}}]},
            {"eval_time": "14m", "alertname": "VramgateReplicaDown",
             "exp_alerts": [{"exp_labels": up | {"severity": "warning"}}]},
            {"eval_time": "12m", "alertname": "VramgateWebhookErrors", "exp_alerts": [{"exp_labels": {"severity": "warning"}}]},
            {"eval_time": "12m", "alertname": "VramgateLatencyNearTimeout",
             "exp_alerts": [{"exp_labels": {"severity": "warning", "endpoint": "validate"}}]},
            {"eval_time": "4m", "alertname": "VramgateDenialRateSpike", "exp_alerts": []},
            {"eval_time": "7m", "alertname": "VramgateDenialRateSpike", "exp_alerts": [{"exp_labels": {"severity": "warning"}}]},
            {"eval_time": "3m", "alertname": "VramgateConfigReloadFailing",
             "exp_alerts": [{"exp_labels": m | {"result": "failure", "severity": "warning"}}]},
            {"eval_time": "3m", "alertname": "VramgateCertificateReloadFailing",
             "exp_alerts": [{"exp_labels": m | {"result": "failure", "severity": "critical"}}]},
            {"eval_time": "30m", "alertname": "VramgateCertificateExpiringSoon", "exp_alerts": []},
            {"eval_time": "90m", "alertname": "VramgateCertificateExpiringSoon",
             "exp_alerts": [{"exp_labels": {"job": JOB, "instance": POD, "severity": "warning"}}]},
            {"eval_time": "12m", "alertname": "VramgateInventoryStale", "exp_alerts": []},
            {"eval_time": "17m", "alertname": "VramgateInventoryStale", "exp_alerts": []},
            {"eval_time": "19m", "alertname": "VramgateInventoryStale",
             "exp_alerts": [{"exp_labels": m | {"severity": "warning"}}]},
            {"eval_time": "15m", "alertname": "VramgateClusterWatchFailing", "exp_alerts": []},
            {"eval_time": "20m", "alertname": "VramgateClusterWatchFailing",
             "exp_alerts": [{"exp_labels": m | {"resource": "pytorchjobs.kubeflow.org", "severity": "warning"}}]},
        ],
    }
    healthy = {
        "input_series": [
            series("up", up, "1x60"),
            series("up", up | {"instance": "10.0.0.8:8080"}, "1x60"),
            series("vramgate_review_errors_total", m | {"endpoint": "validate", "code": "400"}, "0+1x60"),
            *durations({"0.001": "0+100x60", "5": "0+100x60", "+Inf": "0+100x60"}),
            # A steady 20% denials, and a burst of denials too small to page anyone.
            reviews("Job", "deny", "over-cost-limit", "0+20x60"),
            reviews("Job", "allow", "fits", "0+80x60"),
            reviews("PyTorchJob", "deny", "does-not-fit", "0 1 2 3x60"),
            series("vramgate_config_reloads_total", m | {"result": "failure"}, "0x60"),
            series("vramgate_config_reloads_total", m | {"result": "success"}, "0 1 1 2x60"),
            series("vramgate_certificate_reloads_total", m | {"result": "failure"}, "0x60"),
            series("vramgate_certificate_not_after_timestamp_seconds", m, f"{90 * 86400}x60"),
            # A node watch that breaks for 4 minutes (staleness up to 240 s) and recovers.
            series("vramgate_inventory_stale_seconds", m, "0x10 60+60x3 0x45"),
            # A watch that fails for 5 minutes and recovers; the rest stay up.
            series("vramgate_cluster_watch_up", m | {"resource": "jobs.batch"}, "1x10 0x4 1x45"),
            series("vramgate_cluster_watch_up", m | {"resource": "nodes"}, "1x60"),
        ],
        "alert_rule_test": [
            {"eval_time": "59m", "alertname": a, "exp_alerts": []}
            for a in ("VramgateWebhookDown", "VramgateReplicaDown", "VramgateWebhookErrors",
                      "VramgateLatencyNearTimeout", "VramgateDenialRateSpike", "VramgateConfigReloadFailing",
                      "VramgateCertificateReloadFailing", "VramgateCertificateExpiringSoon", "VramgateInventoryStale",
                      "VramgateClusterWatchFailing")
        ],
    }
    for t in (firing, healthy):
        t["interval"] = "1m"
    return [firing, healthy]


def test_promtool_test_rules_each_alert_fires_and_stays_quiet_when_healthy(rules, promtool, tmp_path):
    bare = copy.deepcopy(rules)
    for g in bare["groups"]:
        for r in g["rules"]:
            r.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(bare, sort_keys=False))
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": unit_tests()}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    tested = {t["alertname"] for t in tests["tests"][0]["alert_rule_test"]}
    assert tested == {r["alert"] for g in rules["groups"] for r in g["rules"]}
    r = run([promtool, "test", "rules", "tests.yaml"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cluster_alerts_follow_cluster_values(chart):
    names = lambda v: {r["alert"] for g in chartlib.rules_of(render(v, chart=chart))["groups"] for r in g["rules"]}  # noqa: E731
    on = names({"prometheusRule": {"enabled": True}})
    off = names({"prometheusRule": {"enabled": True}, "cluster": {"enabled": False}})
    assert on - off == {"VramgateInventoryStale", "VramgateClusterWatchFailing"}
