"""End to end: the release binary, started with the rendered Deployment's own command line, answers
a realistic mix of AdmissionReviews over HTTPS (verified against the chart's caBundle for the
Service's DNS name, as the API server does); a real Prometheus scrapes it the way the rendered
ServiceMonitor says and loads the rendered PrometheusRule; then every PromQL expression of the
dashboard and of the alerts must parse, evaluate and find the series it shows.

The Deployment's `--cluster` watches a cluster: here a fake API server (fake_apiserver.py) that
the binary reaches through KUBECONFIG. It serves GPU nodes (the captured objects of
tests/fixtures/cluster/, if any, plus the test's own nodes) and, once the webhook has admitted
them, the workloads of the review mix with Running pods bound to those nodes: what the live
cost panels show. Its node watch is broken once and healed, as an API server outage would, and
every request the binary makes is checked against the rendered ClusterRole.

The reviews come from admission_reviews.py, the fake cluster's objects from fake_cluster.py, and
the running server's helpers (Stack, the Deployment's command line, bounded waits) from
live_stack.py; the `stack` fixture below runs the scenario that the tests observe.

Needs the release binary and Debian's prometheus package (scripts/chart-check.sh provides both).
Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

import chartlib
from admission_reviews import A100, H100, review_mix
from chartlib import NAMESPACE, RELEASE, find, render
from conftest import run
from fake_apiserver import WORKLOAD_CRDS, FakeApiServer, load_objects
from fake_cluster import (CATALOG_NAME, CLUSTER_FIXTURES, NOT_INSTALLED, UNKNOWN_PRODUCT, Cluster, admitted_objects,
                          pod_gpus)
from live_stack import SUBSTITUTED, Stack, container_argv, free_port, http_get, wait_for

NOT_LANDED = "admission logic not landed: /validate answers 400 to every well-formed AdmissionReview"

# The chart's values for this test: every option that matters to metrics, and a policy per
# namespace so that the mix yields allow, warn, deny and patch decisions.
VALUES = {
    "tls": {"mode": "helm"},
    "webhook": {"mutating": {"enabled": True}},
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "config": {
        "policy": {"mode": "enforce", "max_cost_usd": 250000},
        "namespaces": {
            "research": {"mode": "warn", "max_cost_usd": 5000},
            "sandbox": {"patch": True, "max_cost_usd": 5000},
        },
        # The periodic audit at its shortest, so that it sees the admitted workloads in time.
        "audit": {"interval_seconds": 10},
    },
}


@pytest.fixture(scope="module")
def stack(vramgate_bin, prometheus_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    objs = render(VALUES)
    webhook_port, metrics_port = free_port(), free_port()
    argv, paths = container_argv(objs, vramgate_bin, tmp, webhook_port, metrics_port)

    # Trust exactly what the API server would: the validating webhook's caBundle.
    vwc = find(objs, "ValidatingWebhookConfiguration")
    (w,) = vwc["webhooks"]
    svc = w["clientConfig"]["service"]
    ca = base64.b64decode(w["clientConfig"]["caBundle"]).decode()
    ctx = ssl.create_default_context(cadata=ca)
    server_name = f"{svc['name']}.{svc['namespace']}.svc"

    # The cluster --cluster watches: captured objects (tests/fixtures/cluster/), the test's GPU
    # nodes and pods vramgate did not admit; the admitted workloads follow the reviews below.
    fixtures = load_objects(CLUSTER_FIXTURES)
    cluster = Cluster.build([o for o in fixtures if o.get("kind") == "Node"])
    ours = [n for n in cluster.nodes if n not in fixtures] + cluster.bystanders()
    for o in ours:
        kubernetes_validate.validate(o, chartlib.KUBE_NEWEST, strict=True)
    # Most clusters lack some of the CRDs: Volcano and LeaderWorkerSet are not installed here.
    fake = FakeApiServer(fixtures + ours, crds=[r for r in WORKLOAD_CRDS if r.group not in NOT_INSTALLED]).start()
    kubeconfig = fake.write_kubeconfig(tmp / "kubeconfig")
    # The kubeconfig, never an in-cluster config the environment might suggest.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env |= {"RUST_LOG": "info", "KUBECONFIG": str(kubeconfig), "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost"}

    log = tmp / "vramgate.log"
    server = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True, env=env)
    st = Stack(tmp=tmp, objs=objs, server=server, server_log=log, argv=argv, webhook_port=webhook_port,
               metrics_port=metrics_port, server_name=server_name, paths=paths, ssl_context=ctx, fake=fake,
               cluster=cluster)
    try:
        wait_for("vramgate /readyz", lambda: http_get(st.metrics_url + "/readyz")[0] == 200, procs=[(server, log)])
        st.send_mix(1)

        # The controllers run what the webhook admitted: the workloads (with the mutating
        # webhook's output annotations) and their Running pods appear through the watches.
        admitted = admitted_objects(st)
        assert admitted, "no admitted workload carries the vramgate.io/decision output annotation"
        for obj, team in admitted:
            for o in cluster.admit(obj, team):
                if o["kind"] in ("Pod", "Job", "Deployment"):
                    kubernetes_validate.validate(o, chartlib.KUBE_NEWEST, strict=True)
                fake.apply(o)
        want = sum(cluster.running_gpus().values())
        wait_for(f"vramgate_running_gpus to reach the {want} GPUs of the admitted workloads' Running pods",
                 lambda: sum(st.series("vramgate_running_gpus")) == want > 0, timeout=60, procs=[(server, log)])
        # The cumulative cost integrates between the server's live-cost ticks (15 s): wait for
        # the first increment, so that Prometheus sees the counter move.
        wait_for("vramgate_running_cost_usd_total to accrue",
                 lambda: sum(st.series("vramgate_running_cost_usd_total")) > 0, timeout=60, procs=[(server, log)])
        # The periodic audit judges the admitted workloads as if created now: the warned ones
        # are findings, the over-provisioned ones waste.
        wait_for("vramgate_audit_findings and vramgate_audit_overprovisioned_usd_per_hour",
                 lambda: st.series("vramgate_audit_findings") and st.series("vramgate_audit_overprovisioned_usd_per_hour"),
                 timeout=60, procs=[(server, log)])

        # Prometheus, configured as the rendered ServiceMonitor asks, with the rendered rules.
        sm = find(objs, "ServiceMonitor")
        (ep,) = sm["spec"]["endpoints"]
        svc_obj = find(objs, "Service")
        assert ep["port"] in {p["name"] for p in svc_obj["spec"]["ports"]}
        (tmp / "rules.yaml").write_text(yaml.safe_dump(chartlib.rules_of(objs), sort_keys=False))
        prom_port = free_port()
        prom_cfg = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp / "rules.yaml")],
            "scrape_configs": [{
                # The Prometheus Operator names the job after the Service and adds its namespace.
                "job_name": svc_obj["metadata"]["name"],
                "honor_labels": ep["honorLabels"],
                "metrics_path": ep["path"],
                "scheme": ep["scheme"],
                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"],
                                    "labels": {"namespace": svc_obj["metadata"]["namespace"]}}],
            }],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(prom_cfg, sort_keys=False))
        st.prom_log = tmp / "prometheus.log"
        st.prom_url = f"http://127.0.0.1:{prom_port}"
        st.prom = subprocess.Popen(
            [prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=open(st.prom_log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        procs = [(server, log), (st.prom, st.prom_log)]
        wait_for("Prometheus ready", lambda: http_get(st.prom_url + "/-/ready")[0] == 200, timeout=30, procs=procs)
        wait_for("first scrape", lambda: st.query(f'up{{job="{RELEASE}", namespace="{NAMESPACE}"}} == 1')["result"],
                 procs=procs)

        # A refused config and a refused certificate, each then fixed, as an operator would.
        config, cert = Path(paths["/etc/vramgate/config.yaml"]), Path(paths["/etc/vramgate/tls/tls.crt"])
        good_config, good_cert = config.read_text(), cert.read_text()
        for path, bad, good, metric in ((config, "policy:\n  mode: block\n", good_config, "vramgate_config_reloads_total"),
                                        (cert, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
                                         good_cert, "vramgate_certificate_reloads_total")):
            before = st.metric(metric, result="success")
            replace(path, bad)
            wait_for(f"{metric} failure", lambda: st.metric(metric, result="failure") >= 1, procs=procs)
            # The server keeps serving with what it had.
            status, _ = st.post("/validate", json.dumps(review_mix(0)[0].body).encode())
            assert status in (200, 400)
            replace(path, good)
            wait_for(f"{metric} success", lambda: st.metric(metric, result="success") > before, procs=procs)

        # An API server outage for the node watch: the inventory goes stale, the webhook stays
        # ready and keeps answering; then it recovers. (Observations are checked by
        # test_readyz_stays_ready_while_the_inventory_is_stale.)
        fake.fail("nodes")
        try:
            wait_for("the node watch reported down",
                     lambda: st.series("vramgate_cluster_watch_up", resource="nodes") == [0.0], timeout=30, procs=procs)
            stale = wait_for("the inventory reported stale",
                             lambda: (v := st.series("vramgate_inventory_stale_seconds")) and v[0] > 0 and v,
                             timeout=30, procs=procs)
            st.outage["stale_seconds"] = stale[0]
            st.outage["readyz"] = http_get(st.metrics_url + "/readyz")
            st.outage["validate_status"], st.outage["validate_body"] = st.post(
                "/validate", json.dumps(review_mix(9)[1].body).encode())  # a dry run: not admitted spend
        except AssertionError as e:
            st.outage["error"] = str(e)
        finally:
            fake.heal("nodes")
        healthy = lambda: (st.series("vramgate_cluster_watch_up", resource="nodes") == [1.0]  # noqa: E731
                           and st.series("vramgate_inventory_stale_seconds") == [0.0])
        # Recovery must not wait for a Node to change: the API server may send nothing but
        # bookmarks for minutes. (The watch backs off, so give it time to retry.)
        try:
            wait_for("the node watch healthy again with no Node changed", healthy, timeout=40, procs=procs)
            st.outage["recovered"] = True
        except AssertionError as e:
            st.outage["recovered"] = str(e)
            # A kubelet status update arrives; then the rest of the test can go on.
            n = fake.objects("nodes")[0]
            n["status"].setdefault("conditions", []).append(
                {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"})
            fake.apply(n)
            wait_for("the node watch healthy again after a Node changed", healthy, timeout=60, procs=procs)

        st.send_mix(2)
        st.send_errors()
        # Prometheus has the final counts once its sum equals the server's own.
        want = st.metric("vramgate_review_duration_seconds_count")
        wait_for("final scrape", lambda: (r := st.query("sum(vramgate_review_duration_seconds_count)")["result"])
                 and float(r[0]["value"][1]) == want, procs=procs)
        time.sleep(2)  # two more samples, so that every rate() window holds a change
        yield st
    finally:
        for p in (st.prom, server):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (st.prom, server):
            if p is not None:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        fake.stop()


def replace(path: Path, text: str):
    """Atomic replacement, as the kubelet updates a mounted ConfigMap or Secret."""
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def require_admission(st: Stack):
    validated = [v for case, _, _, v in st.results]
    if validated and all(v["status"] == 400 for v in validated):
        pytest.xfail(NOT_LANDED)


# ---- tests --------------------------------------------------------------------------------------


def test_server_runs_with_the_deployment_arguments(stack):
    """Same subcommand and flags in the same order as the pod; only addresses, file paths and
    the reload interval differ."""
    dep_args = find(stack.objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    ours = stack.argv[1:]
    assert len(ours) == len(dep_args)
    for i, (mine, theirs) in enumerate(zip(ours, dep_args)):
        if not (i and dep_args[i - 1] in SUBSTITUTED):
            assert mine == theirs, (i, mine, theirs)
    status, body = http_get(stack.metrics_url + "/healthz")
    assert status == 200, body


def test_reviews_are_answered_as_the_api_server_expects(stack):
    require_admission(stack)
    problems = []
    for case, mutated, _, validated in stack.results:
        for endpoint, got in (("mutate", mutated), ("validate", validated)):
            body = got["body"]
            req = case.body["request"]
            if got["status"] != 200 or not isinstance(body, dict):
                problems.append(f"{case.name} /{endpoint}: HTTP {got['status']}: {str(body)[:300]}")
                continue
            resp = body.get("response", {})
            if (body.get("apiVersion"), body.get("kind")) != ("admission.k8s.io/v1", "AdmissionReview"):
                problems.append(f"{case.name} /{endpoint}: not an admission.k8s.io/v1 AdmissionReview")
            if resp.get("uid") != req["uid"]:
                problems.append(f"{case.name} /{endpoint}: uid {resp.get('uid')} != {req['uid']}")
        resp = validated["body"].get("response", {}) if isinstance(validated["body"], dict) else {}
        if case.expect_allowed is not None and resp.get("allowed") is not case.expect_allowed:
            problems.append(f"{case.name}: allowed={resp.get('allowed')}, expected {case.expect_allowed}: "
                            f"{resp.get('status')}")
        if case.expect_allowed is False and not resp.get("status", {}).get("message"):
            problems.append(f"{case.name}: denied without a message")
        if case.expect_warning and not resp.get("warnings"):
            problems.append(f"{case.name}: allowed without a warning")
        mresp = mutated["body"].get("response", {}) if isinstance(mutated["body"], dict) else {}
        if case.expect_patch and not mresp.get("patch"):
            problems.append(f"{case.name}: /mutate sent no patch: {mresp}")
    assert problems == [], "\n".join(problems)


def evaluate(stack: Stack, exprs: list[tuple[str, str]]) -> list[str]:
    problems = []
    for title, expr in exprs:
        try:
            stack.query(expr)
        except AssertionError as e:
            problems.append(f"{title}: {e}")
            continue
        for part in chartlib.data_parts(expr):
            if not stack.query(part)["result"]:
                problems.append(f"{title}: no data for {part!r}")
    return problems


def test_every_dashboard_query_parses_and_returns_data(stack):
    require_admission(stack)
    exprs = [(t, chartlib.substitute_grafana(e)) for t, e in chartlib.dashboard_exprs(chartlib.dashboard())]
    problems = evaluate(stack, exprs)
    assert problems == [], "\n".join(problems)


def test_every_alert_expression_parses_and_its_series_exist(stack):
    require_admission(stack)
    rules = chartlib.rules_of(stack.objs)
    exprs = [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]
    problems = evaluate(stack, exprs)
    assert problems == [], "\n".join(problems)


def test_prometheus_loaded_the_rules_and_reload_alerts_fire(stack):
    status, text = http_get(stack.prom_url + "/api/v1/rules")
    groups = json.loads(text)["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == 10
    wait_for("every rule evaluated", lambda: all(r.get("lastEvaluation", "").startswith("2") for r in
             (x for g in json.loads(http_get(stack.prom_url + "/api/v1/rules")[1])["data"]["groups"] for x in g["rules"])))
    rules = [r for g in json.loads(http_get(stack.prom_url + "/api/v1/rules")[1])["data"]["groups"] for r in g["rules"]]
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []

    def firing():
        alerts = json.loads(http_get(stack.prom_url + "/api/v1/alerts")[1])["data"]["alerts"]
        names = {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}
        return names if {"VramgateConfigReloadFailing", "VramgateCertificateReloadFailing"} <= names else None

    names = wait_for("reload alerts firing", firing, timeout=15)
    assert "VramgateWebhookDown" not in names


def test_spend_and_decisions_add_up(stack):
    require_admission(stack)

    def value(expr):
        r = stack.query(expr)["result"]
        assert r, f"no data for {expr}"
        return float(r[0]["value"][1])

    assert value("sum(vramgate_admitted_jobs_total)") == stack.metric("vramgate_admitted_jobs_total") > 0
    assert value("sum(vramgate_admitted_cost_usd_total)") > 0
    assert value("sum(vramgate_admitted_gpu_seconds_total)") > 0
    # Dry runs are not admissions: the admitted count is what the non-dry-run allowed reviews say.
    admitted = sum(1 for case, _, _, v in stack.results if isinstance(v["body"], dict)
                   and v["body"]["response"].get("allowed") and not case.body["request"]["dryRun"]
                   and case.body["request"]["object"]["metadata"].get("annotations"))
    assert stack.metric("vramgate_admitted_jobs_total") <= admitted
    assert value('sum(vramgate_reviews_total{endpoint="validate", decision="deny"})') >= 2
    assert value('sum(vramgate_review_errors_total{code="400"})') == stack.errors_sent
    assert value('sum(vramgate_config_reloads_total{result="failure"})') == 1
    assert value('sum(vramgate_certificate_reloads_total{result="failure"})') == 1


def test_dashboard_variables_list_the_jobs_namespaces(stack):
    require_admission(stack)
    for v in chartlib.dashboard()["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", v["definition"])
        match = chartlib.substitute_grafana(m.group(1))
        url = f"{stack.prom_url}/api/v1/label/{m.group(2)}/values?" + urllib.parse.urlencode({"match[]": match})
        values = set(json.loads(http_get(url)[1])["data"])
        if v["name"] == "namespace":
            assert {"ml-team", "research"} <= values, values
            assert NAMESPACE not in values, "honor_labels keeps the jobs' namespaces"
        else:
            assert values, v["name"]


def test_cluster_inventory_counts_the_fake_clusters_gpus(stack):
    """vramgate_cluster_* against the nodes and pods the fake API server holds. The captured
    fixtures may add nodes of the same types, so the test's own types are checked as lower
    bounds and its unknown product exactly."""
    st = stack
    for product, nodes, gpus in ((H100, 3, 24), (A100, 2, 16)):
        gpu = CATALOG_NAME[product]
        assert sum(st.series("vramgate_cluster_nodes", gpu=gpu)) >= nodes, gpu
        assert sum(st.series("vramgate_cluster_gpus", gpu=gpu)) >= gpus, gpu
    assert st.series("vramgate_cluster_unknown_gpu_products", product=UNKNOWN_PRODUCT) == [1.0]
    assert st.series("vramgate_cluster_nodes", gpu=UNKNOWN_PRODUCT) == [1.0], "an unknown product keeps its raw label"
    assert st.series("vramgate_cluster_gpus", gpu=UNKNOWN_PRODUCT) == [4.0]
    # Allocation: every non-terminated pod bound to a node (admitted or not); not the Succeeded
    # pod, not the Pending one.
    assert st.series("vramgate_cluster_gpus_allocated", gpu=UNKNOWN_PRODUCT) == [2.0]
    ours = {}
    for p in st.cluster.pods:
        node = p["spec"].get("nodeName")
        if node and p["status"]["phase"] not in ("Succeeded", "Failed") and st.cluster.product[node] in CATALOG_NAME:
            gpu = CATALOG_NAME[st.cluster.product[node]]
            ours[gpu] = ours.get(gpu, 0) + pod_gpus(p["spec"])
    for gpu, n in ours.items():
        assert sum(st.series("vramgate_cluster_gpus_allocated", gpu=gpu)) >= n, gpu
    assert st.series("vramgate_cluster_watch_up", resource="nodes") == [1.0]
    assert st.series("vramgate_cluster_watch_up", resource="pods") == [1.0]
    assert st.series("vramgate_cluster_watch_up", resource="pytorchjobs.kubeflow.org") == [1.0]
    # A CRD that is not installed is not a failing watch (VramgateClusterWatchFailing would page
    # forever on every cluster without Volcano).
    for group in NOT_INSTALLED:
        for r in WORKLOAD_CRDS:
            if r.group == group:
                assert 0.0 not in st.series("vramgate_cluster_watch_up", resource=r.key), r.key
    assert st.series("vramgate_inventory_stale_seconds") == [0.0]
    (synced,) = st.series("vramgate_inventory_last_sync_timestamp_seconds")
    assert abs(synced - time.time()) < 3600, synced


def test_live_cost_counts_running_pods_of_admitted_workloads(stack):
    st = stack
    want = st.cluster.running_gpus()
    got = {}
    for line in st.metrics_text().splitlines():
        m = re.match(r'^vramgate_running_gpus\{(.*)\} (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if float(m.group(2)):
                got[(labels["namespace"], labels["team"], labels["gpu"])] = float(m.group(2))
    assert got == {k: float(v) for k, v in want.items()}, "bystanders, finished and pending pods hold no admitted GPUs"
    # Issue 15: the Deployment's pods, found through their ReplicaSet's name, are the serving share.
    serving = {}
    for line in st.metrics_text().splitlines():
        m = re.match(r'^vramgate_serving_running_gpus\{(.*)\} (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            serving[(labels["namespace"], labels["gpu"])] = float(m.group(2))
    want_serving: dict[tuple[str, str], float] = {}
    for (ns, team, gpu), n in want.items():
        if team == "serving":
            want_serving[(ns, gpu)] = want_serving.get((ns, gpu), 0.0) + n
    assert want_serving and serving == want_serving, (serving, want_serving)
    # Cost per hour: GPUs held x the $/GPU-hour the job was admitted at (its output annotations).
    for w in st.cluster.workloads:
        a = w["metadata"]["annotations"]
        try:
            price = float(a["vramgate.io/estimated-cost-usd"]) / float(a["vramgate.io/estimated-gpu-hours"])
        except (KeyError, ValueError, ZeroDivisionError):
            continue
        ns, team = w["metadata"]["namespace"], w["metadata"]["labels"]["team"]
        for (kns, kteam, gpu), n in want.items():
            if (kns, kteam) == (ns, team):
                (rate,) = st.series("vramgate_running_cost_usd_per_hour", namespace=ns, team=team, gpu=gpu)
                assert rate == pytest.approx(n * price, rel=1e-6), (ns, team, gpu)
                assert st.series("vramgate_running_cost_usd_total", namespace=ns, team=team, gpu=gpu)[0] > 0


def test_readyz_stays_ready_while_the_inventory_is_stale(stack):
    """With the node watch broken, readiness must not fail: under failurePolicy Fail an unready
    webhook would block every annotated submission in the cluster."""
    o = stack.outage
    assert "error" not in o, o.get("error")
    assert o["stale_seconds"] > 0
    status, body = o["readyz"]
    assert status == 200, body
    assert "inventory" in body.lower(), f"/readyz says nothing about the inventory: {body!r}"
    assert o["validate_status"] == 200, o["validate_body"]
    status, body = http_get(stack.metrics_url + "/readyz")
    assert status == 200 and "inventory" in body.lower(), body


def test_the_inventory_recovers_without_waiting_for_a_node_change(stack):
    """After the node watch failed and the API server is back, the inventory is current again
    (watch up, staleness 0) although no Node changed: a quiet cluster sends only bookmarks, and
    kube-runtime's watcher yields no event for them, so health must come from the restarted
    watch itself (e.g. a fresh list after an error), not from the next change."""
    assert stack.outage.get("recovered") is True, stack.outage.get("recovered")


def test_the_binary_uses_only_what_the_cluster_role_grants(stack):
    """Every request the binary made to the API server, as RBAC sees it (verb, group, resource),
    is granted by the rendered ClusterRole; it never writes, and it listed and watched Nodes and
    Pods."""
    role = find(stack.objs, "ClusterRole")
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    reqs = list(stack.fake.requests)
    assert reqs, "the binary never called the API server"
    assert {q.method for q in reqs} == {"GET"}, [f"{q.method} {q.path}" for q in reqs if q.method != "GET"]
    used = set()
    for q in reqs:
        if q.resource is None:
            assert q.path in ("/version", "/api", "/apis", "/api/v1") or q.path.startswith("/apis/"), q.path
            continue
        used.add((q.resource.group, q.resource.plural, q.verb))
    assert used - granted == set(), f"requests the ClusterRole does not allow: {sorted(used - granted)}"
    for res in ("nodes", "pods"):
        assert ("", res, "watch") in used, f"the binary never watched {res}"


def openmetrics_to_text(om: str) -> str:
    """The same samples in the classic text exposition (0.0.4) that promtool check metrics
    reads: OpenMetrics names a counter family without its `_total` suffix and adds `# UNIT`
    and `# EOF` lines, which the classic parser reads as an untyped family without help."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", om, flags=re.M))
    assert set(types.values()) <= {"counter", "gauge", "histogram"}, types
    out = []
    for line in om.splitlines():
        if line == "# EOF" or line.startswith("# UNIT "):
            continue
        m = re.match(r"^# (HELP|TYPE) (\S+)(.*)$", line)
        if m and types.get(m.group(2)) == "counter":
            line = f"# {m.group(1)} {m.group(2)}_total{m.group(3)}"
        assert " # {" not in line, "exemplars are not expected"
        out.append(line)
    return "\n".join(out) + "\n"


# promlint finds nothing: every metric is in base units (GPU time in GPU-seconds).
ACCEPTED_LINT: set = set()


def test_promtool_check_metrics(stack, promtool):
    om = stack.metrics_text()
    assert om.rstrip().endswith("# EOF")
    text = openmetrics_to_text(om)
    samples = lambda t: sorted(l for l in t.splitlines() if l and not l.startswith("#"))  # noqa: E731
    assert samples(text) == samples(om)
    r = run([promtool, "check", "metrics"], input=text)
    findings = {l.strip() for l in (r.stdout + r.stderr).splitlines() if l.strip()}
    assert findings - ACCEPTED_LINT == set(), r.stdout + r.stderr
    assert r.returncode == (3 if findings else 0), r


def test_sigterm_drains_and_exits_cleanly(stack):
    stack.server.send_signal(signal.SIGTERM)
    assert stack.server.wait(timeout=20) == 0, stack.server_log.read_text()[-3000:]
