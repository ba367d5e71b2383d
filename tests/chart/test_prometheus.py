"""End to end: the release binary, started with the rendered Deployment's own command line, answers
a realistic mix of AdmissionReviews over HTTPS (verified against the chart's caBundle for the
Service's DNS name, as the API server does); a real Prometheus scrapes it the way the rendered
ServiceMonitor says and loads the rendered PrometheusRule; then every PromQL expression of the
dashboard and of the alerts must parse, evaluate and find the series it shows.

Needs the release binary and Debian's prometheus package (scripts/chart-check.sh provides both).
Every wait is bounded.
"""

from __future__ import annotations

import base64
import copy
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import chartlib
from chartlib import NAMESPACE, RELEASE, find, render
from conftest import run

NOT_LANDED = "admission logic not landed: /validate answers 400 to every well-formed AdmissionReview"

H100 = "NVIDIA-H100-80GB-HBM3"
A100 = "NVIDIA-A100-SXM4-80GB"

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
    },
}


# ---- processes and HTTP --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = 20.0, interval: float = 0.2, procs=()):
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        for p, log in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: process exited with {p.returncode}:\n{Path(log).read_text()[-4000:]}")
        try:
            last = check()
            if last:
                return last
        except (OSError, http.client.HTTPException, ValueError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class ServiceHTTPS(http.client.HTTPSConnection):
    """Connects to 127.0.0.1 but verifies the certificate for the Service's DNS name, the name
    the API server dials (<service>.<namespace>.svc)."""

    def __init__(self, port: int, server_name: str, context: ssl.SSLContext):
        super().__init__("127.0.0.1", port, context=context, timeout=10)
        self.server_name = server_name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_name)


# ---- AdmissionReviews ----------------------------------------------------------------------


def annotations(**fields: str) -> dict[str, str]:
    return {f"vramgate.io/{k.replace('_', '-')}": v for k, v in fields.items()}


def pod_spec(gpus: int, product: str | None, container: str = "train") -> dict:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [{
            "name": container,
            "image": "ghcr.io/example/llm-train:2026.11",
            "command": ["torchrun", "train.py"],
            "resources": {"limits": {"nvidia.com/gpu": str(gpus), "memory": "200Gi"},
                          "requests": {"cpu": "16", "memory": "200Gi"}},
        }],
    }
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return spec


def job(name: str, ns: str, ann: dict, gpus: int, product: str | None = H100) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": ns, "annotations": ann, "labels": {"team": ns}},
            "spec": {"backoffLimit": 0, "completions": 1, "parallelism": 1,
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(gpus, product)}}}


def pytorchjob(name: str, ns: str, ann: dict, gpus_per_pod: int, workers: int, product: str) -> dict:
    def replica(n):
        spec = pod_spec(gpus_per_pod, product, container="pytorch")
        spec["restartPolicy"] = "OnFailure"
        return {"replicas": n, "restartPolicy": "OnFailure", "template": {"spec": spec}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": ns, "annotations": ann},
            "spec": {"pytorchReplicaSpecs": {"Master": replica(1), "Worker": replica(workers)}}}


def pod(name: str, ns: str, gpus: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": pod_spec(gpus, H100)}


GVR = {
    "Job": (("batch", "v1", "Job"), "jobs"),
    "PyTorchJob": (("kubeflow.org", "v1", "PyTorchJob"), "pytorchjobs"),
    "Pod": (("", "v1", "Pod"), "pods"),
}


def review(obj: dict, operation: str = "CREATE", dry_run: bool = False, old: dict | None = None) -> dict:
    (group, version, kind), resource = GVR[obj["kind"]]
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": resource}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "alice@example.com", "groups": ["ml-researchers", "system:authenticated"]},
            "object": obj, "oldObject": old, "dryRun": dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": f"{operation.title()}Options"},
        },
    }


FITS = annotations(model="llama-2-7b", precision="bf16-mixed", strategy="zero3", optimizer="adamw",
                   micro_batch_size="1", sequence_length="4096", training_tokens="20B")
TOO_BIG = annotations(model="llama-2-13b", precision="fp32", strategy="ddp", training_tokens="20B", gpu="A100-80GB")
MALFORMED = annotations(model="llama-2-7b", precision="fp64", strategy="zero3", training_tokens="20B")
PATCHABLE = annotations(model="llama-2-13b", precision="bf16-mixed", strategy="zero3", activation_checkpointing="true",
                        training_tokens="2B")
OVER_COST = annotations(model="llama-3-8b", precision="bf16-mixed", strategy="fsdp", training_tokens="200B")


@dataclass
class Case:
    name: str
    body: dict
    expect_allowed: bool | None  # None: no expectation
    expect_warning: bool = False
    expect_patch: bool = False


def review_mix(batch: int) -> list[Case]:
    s = f"-{batch}"
    fits = job("llama2-7b-zero3" + s, "ml-team", FITS, 8)
    return [
        Case("fits", review(fits), True),
        Case("fits, dry run", review(copy.deepcopy(fits), dry_run=True), True),
        Case("fits, update", review(copy.deepcopy(fits), operation="UPDATE", old=fits), True),
        Case("too big (enforce)", review(pytorchjob("llama2-13b-fp32" + s, "ml-team", TOO_BIG, 4, 1, A100)), False),
        Case("too big (warn)", review(pytorchjob("llama2-13b-fp32" + s, "research", TOO_BIG, 4, 1, A100)), True,
             expect_warning=True),
        Case("malformed (enforce)", review(job("fp64" + s, "ml-team", MALFORMED, 8)), False),
        Case("malformed (warn)", review(job("fp64" + s, "research", MALFORMED, 8)), True, expect_warning=True),
        Case("not annotated", review(pod("notebook" + s, "ml-team", 1)), True),
        Case("patchable", review(job("llama2-13b-2gpu" + s, "sandbox", PATCHABLE, 2)), True, expect_patch=True),
        Case("over the cost limit", review(job("llama3-8b-200b" + s, "sandbox", OVER_COST, 8)), None),
    ]


def json_patch(doc: Any, ops: list[dict]) -> Any:
    """RFC 6902 add/replace/remove/test, as the API server applies a mutating webhook's patch."""
    doc = copy.deepcopy(doc)

    def walk(path: str):
        parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        return parent, parts[-1]

    for op in ops:
        parent, key = walk(op["path"])
        if isinstance(parent, list):
            idx = len(parent) if key == "-" else int(key)
            if op["op"] == "add":
                parent.insert(idx, op["value"])
            elif op["op"] == "replace":
                parent[idx] = op["value"]
            elif op["op"] == "remove":
                del parent[idx]
            elif op["op"] == "test":
                assert parent[idx] == op["value"]
            else:
                raise AssertionError(f"unsupported patch op {op}")
        else:
            if op["op"] in ("add", "replace"):
                if op["op"] == "replace":
                    assert key in parent, f"replace of missing {op['path']}"
                parent[key] = op["value"]
            elif op["op"] == "remove":
                del parent[key]
            elif op["op"] == "test":
                assert parent[key] == op["value"]
            else:
                raise AssertionError(f"unsupported patch op {op}")
    return doc


# ---- the running stack ------------------------------------------------------------------------


@dataclass
class Stack:
    tmp: Path
    objs: list[dict]
    server: subprocess.Popen
    server_log: Path
    argv: list[str]
    webhook_port: int
    metrics_port: int
    server_name: str
    paths: dict[str, str]
    ssl_context: ssl.SSLContext
    prom: subprocess.Popen | None = None
    prom_log: Path | None = None
    prom_url: str = ""
    results: list[tuple[Case, dict, dict | None, dict]] = field(default_factory=list)
    errors_sent: int = 0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    def post(self, path: str, body: bytes) -> tuple[int, dict | str]:
        conn = ServiceHTTPS(self.webhook_port, self.server_name, self.ssl_context)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read().decode()
            try:
                return r.status, json.loads(data)
            except ValueError:
                return r.status, data
        finally:
            conn.close()

    def metrics_text(self) -> str:
        status, text = http_get(self.metrics_url + "/metrics")
        assert status == 200
        return text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the server's own samples of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                total += float(m.group(4))
        return total

    def query(self, expr: str) -> dict:
        url = f"{self.prom_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, text = http_get(url, timeout=10)
        body = json.loads(text)
        if status != 200 or body.get("status") != "success":
            raise AssertionError(f"Prometheus refused {expr!r}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def send_mix(self, batch: int):
        for case in review_mix(batch):
            req = case.body
            status, mutated = self.post("/mutate", json.dumps(req).encode())
            assert status == 200 or status == 400, (case.name, status, mutated)
            validated_req = req
            if status == 200 and isinstance(mutated, dict) and mutated.get("response", {}).get("patch"):
                assert mutated["response"]["patchType"] == "JSONPatch"
                ops = json.loads(base64.b64decode(mutated["response"]["patch"]))
                validated_req = copy.deepcopy(req)
                validated_req["request"]["object"] = json_patch(req["request"]["object"], ops)
            vstatus, validated = self.post("/validate", json.dumps(validated_req).encode())
            self.results.append((case, {"status": status, "body": mutated}, None, {"status": vstatus, "body": validated}))

    def send_errors(self):
        for body in (b"{this is not json", json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode()):
            status, _ = self.post("/validate", body)
            assert status == 400, status
            self.errors_sent += 1


SUBSTITUTED = ("--config", "--tls-cert", "--tls-key", "--listen", "--metrics-listen", "--reload-interval")


def container_argv(objs: list[dict], binary: Path, tmp: Path, webhook_port: int, metrics_port: int) -> tuple[list[str], dict]:
    """The Deployment's command and args with container paths mapped to files under tmp and
    listen addresses to local ports; the reload interval shortened so the test sees reloads."""
    dep = find(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    # Where each file of the projected volume lands in the container.
    files: dict[str, tuple[str, str, str]] = {}
    vols = {v["name"]: v for v in pod["volumes"]}
    for m in c["volumeMounts"]:
        vol = vols[m["name"]]
        for src in vol.get("projected", {}).get("sources", []):
            ((kind, ref),) = src.items()
            for item in ref["items"]:
                files[f"{m['mountPath']}/{item['path']}"] = (kind, ref["name"], item["key"])
    data = {("configMap", o["metadata"]["name"]): o["data"] for o in objs if o["kind"] == "ConfigMap"}
    data |= {("secret", o["metadata"]["name"]): {k: base64.b64decode(v).decode() for k, v in o["data"].items()}
             for o in objs if o["kind"] == "Secret"}
    paths = {}
    for cpath, (kind, name, key) in files.items():
        local = tmp / "etc" / cpath.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(data[(kind, name)][key])
        paths[cpath] = str(local)

    assert Path(c["command"][0]).name == "vramgate", c["command"]
    argv = [str(binary)] + c["command"][1:]
    args = c["args"]
    for i, a in enumerate(args):
        flag = args[i - 1] if i else None
        if flag in ("--config", "--tls-cert", "--tls-key"):
            a = paths[a]
        elif flag == "--listen":
            assert a.endswith(f":{c['ports'][0]['containerPort']}"), a
            a = f"127.0.0.1:{webhook_port}"
        elif flag == "--metrics-listen":
            assert a.endswith(f":{c['ports'][1]['containerPort']}"), a
            a = f"127.0.0.1:{metrics_port}"
        elif flag == "--reload-interval":
            a = "1"
        argv.append(a)
    assert set(SUBSTITUTED) <= set(args), args
    return argv, paths


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

    log = tmp / "vramgate.log"
    server = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
                              env=os.environ | {"RUST_LOG": "info"})
    st = Stack(tmp=tmp, objs=objs, server=server, server_log=log, argv=argv, webhook_port=webhook_port,
               metrics_port=metrics_port, server_name=server_name, paths=paths, ssl_context=ctx)
    try:
        wait_for("vramgate /readyz", lambda: http_get(st.metrics_url + "/readyz")[0] == 200, procs=[(server, log)])
        st.send_mix(1)

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
    assert len(rules) == 8
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
