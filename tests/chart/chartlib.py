"""Shared helpers of the chart tests: render the chart with the real Helm engine, order objects
as Helm installs them, write the plain manifests, and pick PromQL apart.

Run as a script to regenerate deploy/manifests/vramgate.yaml:

    .venv/bin/python tests/chart/chartlib.py --write-manifests
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "vramgate"
MANIFESTS = REPO / "deploy" / "manifests" / "vramgate.yaml"
DASHBOARD = REPO / "dashboards" / "vramgate.json"
CHART_DASHBOARD = CHART / "dashboards" / "vramgate.json"

RELEASE = "vramgate"
NAMESPACE = "vramgate-system"

# Kubernetes versions the chart supports (Chart.yaml kubeVersion: >=1.30.0-0): the oldest, in
# which matchConditions are GA, and the newest whose schemas kubernetes-validate bundles.
KUBE_OLDEST = "1.30"
KUBE_NEWEST = "1.37"

# Every optional feature turned on, one at a time, then all together.
OPTIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "tls-helm": {"tls": {"mode": "helm"}},
    "cert-manager-issuer": {"tls": {"certManager": {"issuerRef": {"kind": "ClusterIssuer", "name": "corp-ca"}}}},
    "mutating": {"webhook": {"mutating": {"enabled": True}}},
    "servicemonitor": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "prometheusrule": {"prometheusRule": {"enabled": True, "alertLabels": {"team": "ml-platform"}}},
    "networkpolicy": {
        "networkPolicy": {
            "enabled": True,
            "metricsFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        }
    },
    "all-annotations": {"webhook": {"annotatedOnly": False}, "config": {"policy": {"require_annotations": True}}},
    "no-cluster": {"cluster": {"enabled": False}},
    "config-map": {"config": {"source": "configMap"}},
    "no-ui": {"ui": {"enabled": False}},
    "exemptions": {"config": {"policy": {"exemptions": {"namespaces": ["research"], "groups": ["ml-leads"]}}}},
    "config-map-only": {"config": {"source": "configMap"}, "cluster": {"enabled": False},
                        "networkPolicy": {"enabled": True}},
    "everything": {
        "tls": {"mode": "helm"},
        "webhook": {"mutating": {"enabled": True}, "excludeNamespaces": ["sandbox"]},
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "networkPolicy": {"enabled": True, "apiServer": {"ports": [6443], "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]}},
        "cluster": {"teamLabel": "example.com/team", "inventoryMaxStaleSeconds": 300},
        "config": {
            "source": "configMap",
            "policy": {"patch": True, "max_cost_usd": 250000, "gpu_choice": "cheapest", "patch_gpu_types": ["H100-80GB", "A100-80GB"]},
            "namespaces": {"research": {"mode": "warn", "max_cost_usd": 5000}, "big": {"max_cost_usd": None}},
            "gpus": [
                {
                    "name": "H100-80GB",
                    "memory_bytes": 85520809984,
                    "dense_bf16_flops": 9.89e14,
                    "dense_fp16_flops": 9.89e14,
                    "dense_fp32_flops": 6.7e13,
                    "bf16_supported": True,
                    "usd_per_hour": 2.5,
                    "price_source": "negotiated contract",
                    "price_date": "2026-11-01",
                }
            ],
        },
    },
}

# Helm's install order (helm.sh/helm/v4 pkg/release/v1/util/kind_sorter.go); unknown kinds
# (custom resources) go last.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
    "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]


def load_chart():
    import helm_python

    return helm_python.Chart.load(str(CHART))


class Doc:
    """One rendered YAML document: its text as Helm produced it, its template and the object."""

    def __init__(self, source: str, text: str):
        self.source = source
        self.text = text.strip("\n")
        self.obj: dict[str, Any] = yaml.safe_load(text)

    @property
    def kind(self) -> str:
        return self.obj["kind"]

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    def order(self) -> tuple[int, str]:
        """Helm's sort key: known kinds by INSTALL_ORDER, unknown ones last and by kind name;
        a stable sort keeps the template order within a kind."""
        if self.kind in INSTALL_ORDER:
            return (INSTALL_ORDER.index(self.kind), "")
        return (len(INSTALL_ORDER), self.kind)


def render_docs(values: dict[str, Any] | None = None, *, name: str = RELEASE, namespace: str = NAMESPACE,
                chart=None) -> list[Doc]:
    """Renders the chart with Helm's engine; returns its documents in Helm's install order."""
    chart = chart or load_chart()
    out = chart.render(values or {}, name=name, namespace=namespace)
    docs: list[Doc] = []
    for source in sorted(out):
        if source.endswith("NOTES.txt"):
            continue
        for text in re.split(r"(?m)^---[ \t]*$", out[source]):
            if yaml.safe_load(text) is None:
                continue
            docs.append(Doc(source, text))
    docs.sort(key=Doc.order)
    return docs


def render(values: dict[str, Any] | None = None, **kw) -> list[dict[str, Any]]:
    return [d.obj for d in render_docs(values, **kw)]


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    hits = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, found {len(hits)}"
    return hits[0]


def kinds(objs: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objs)


NAMESPACE_DOC = f"""apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
  labels:
    # The webhook's pods meet the "restricted" Pod Security Standard.
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest"""


def manifests_text() -> str:
    """deploy/manifests/vramgate.yaml as it must be: a header, the Namespace, then the chart
    rendered with default values in Helm's install order."""
    header = f"""# vramgate plain manifests: charts/vramgate rendered with its default values (release
# "{RELEASE}", namespace "{NAMESPACE}"), in Helm's install order, after the Namespace.
#
# Generated: bash scripts/chart-check.sh --update-manifests. Do not edit by hand;
# tests/chart/test_drift.py fails when this file differs from the chart.
#
# TLS comes from cert-manager (tls.mode=certManager, the default), which must be installed:
#   kubectl apply -f deploy/manifests/vramgate.yaml
# Without cert-manager, use the chart (helm install ... --set tls.mode=helm); see
# charts/vramgate/README.md."""
    parts = [header, "---\n" + NAMESPACE_DOC]
    for d in render_docs():
        parts.append(f"---\n# Source: {d.source}\n{d.text}")
    return "\n".join(parts) + "\n"


# ---- PromQL ------------------------------------------------------------------------------

# Grafana's variables, replaced the way Grafana would for "All" selections.
GRAFANA_VARS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$namespace": ".*",
    "$gpu": ".*",
}


def substitute_grafana(expr: str) -> str:
    for k in sorted(GRAFANA_VARS, key=len, reverse=True):
        expr = expr.replace(k, GRAFANA_VARS[k])
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def _top_level(expr: str):
    """Yields (index, char, depth) outside strings; depth counts (), {} and []."""
    depth = 0
    quote = None
    i = 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        yield i, c, depth
        i += 1


def _strip_parens(expr: str) -> str:
    e = expr.strip()
    while e.startswith("(") and e.endswith(")"):
        closes_at_end = all(d > 0 for i, _, d in _top_level(e) if i < len(e) - 1)
        if not closes_at_end:
            break
        e = e[1:-1].strip()
    return e


def _split_set_ops(expr: str) -> list[str]:
    cuts = []
    for i, _, depth in _top_level(expr):
        if depth != 0:
            continue
        for op in ("and", "or", "unless"):
            j = i + len(op)
            if (expr[i:j] == op and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] == "_"))
                    and (j >= len(expr) or not (expr[j].isalnum() or expr[j] == "_"))):
                cuts.append((i, j))
    if not cuts:
        return [expr]
    parts, start = [], 0
    for i, j in cuts:
        parts.append(expr[start:i])
        start = j
    parts.append(expr[start:])
    return [p.strip() for p in parts]


def _strip_comparison(expr: str) -> str:
    """The left side of the last top-level comparison (the alert threshold), or expr."""
    last = None
    for i, c, depth in _top_level(expr):
        if depth == 0 and c in "<>=!":
            nxt = expr[i + 1] if i + 1 < len(expr) else ""
            prev = expr[i - 1] if i > 0 else ""
            if c in "=!" and nxt != "=":
                continue  # not == or !=
            if c == "=" and prev in "<>=!":
                continue  # second character of >=, <=, ==, !=
            last = i
    return expr[:last].strip() if last is not None else expr


def data_parts(expr: str) -> list[str]:
    """The sub-expressions whose series must exist for expr to mean anything: threshold
    comparisons, absent() and set operators removed; constant parts (vector(0)) dropped."""
    e = _strip_parens(expr)
    m = re.fullmatch(r"absent\((.*)\)", e, flags=re.S)
    if m and _strip_parens("(" + m.group(1) + ")") == m.group(1).strip():
        return data_parts(m.group(1))
    parts = _split_set_ops(e)
    if len(parts) > 1:
        return [p for part in parts for p in data_parts(part)]
    left = _strip_comparison(e)
    if left != e:
        return data_parts(left)
    if re.fullmatch(r"vector\([0-9.]+\)|[0-9.]+", e):
        return []
    return [e]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def dashboard_exprs(dash: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query in the dashboard."""
    return [(p["title"], t["expr"]) for p in dashboard_panels(dash) for t in p.get("targets", []) if "expr" in t]


def rules_of(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule groups of the rendered PrometheusRule, as a Prometheus rules file."""
    pr = find(objs, "PrometheusRule")
    return {"groups": pr["spec"]["groups"]}


def main(argv: list[str]) -> int:
    if argv == ["--write-manifests"]:
        MANIFESTS.parent.mkdir(parents=True, exist_ok=True)
        MANIFESTS.write_text(manifests_text())
        print(f"wrote {MANIFESTS.relative_to(REPO)}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    sys.exit(main(sys.argv[1:]))
