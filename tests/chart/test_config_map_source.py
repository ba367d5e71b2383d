"""config.source=configMap end to end: the release binary, started with the rendered Deployment's
arguments (`--config-map <namespace>/<name>`, no config file mounted), reads its config from the
fake API server (fake_apiserver.py) holding the rendered ConfigMaps, applies a changed ConfigMap
without a restart, keeps the last good config when the new one is invalid, and asks the API
server only what the rendered Role allows: list and watch of that one ConfigMap, by name.

Needs the release binary (scripts/chart-check.sh builds it). Every wait is bounded.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import signal
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml

from admission_reviews import A100, TOO_BIG, pytorchjob, review
from chartlib import NAMESPACE, RELEASE, find, render
from fake_apiserver import FakeApiServer
from live_stack import ServiceHTTPS, free_port, http_get, wait_for

VALUES = {"tls": {"mode": "helm"}, "config": {"source": "configMap"}, "cluster": {"enabled": False}}


def argv_for(objs: list[dict], binary: Path, tmp: Path, webhook_port: int, metrics_port: int) -> list[str]:
    """The Deployment's command line: certificate paths mapped to files under tmp, addresses to
    local ports, the reload interval shortened; --config-map passed as rendered."""
    pod = find(objs, "Deployment")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    secret = find(objs, "Secret")
    files = {}
    for v in pod["volumes"]:
        for src in v.get("projected", {}).get("sources", []):
            assert set(src) == {"secret"}, f"only the certificate is mounted: {src}"
            for item in src["secret"]["items"]:
                local = tmp / item["path"]
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(base64.b64decode(secret["data"][item["key"]]))
                files[f"/etc/vramgate/{item['path']}"] = str(local)
    args, out = c["args"], []
    for i, a in enumerate(args):
        flag = args[i - 1] if i else None
        if flag in ("--tls-cert", "--tls-key"):
            a = files[a]
        elif flag == "--listen":
            a = f"127.0.0.1:{webhook_port}"
        elif flag == "--metrics-listen":
            a = f"127.0.0.1:{metrics_port}"
        elif flag == "--reload-interval":
            a = "1"
        out.append(a)
    assert "--config" not in out and out[out.index("--config-map") + 1] == f"{NAMESPACE}/{RELEASE}"
    return [str(binary)] + c["command"][1:] + out


@pytest.fixture(scope="module")
def live(vramgate_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("configmap")
    objs = render(VALUES)
    # Every ConfigMap the chart renders (the config and the dashboard), as the cluster holds them.
    fake = FakeApiServer([o for o in objs if o["kind"] == "ConfigMap"]).start()
    kubeconfig = fake.write_kubeconfig(tmp / "kubeconfig")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env |= {"RUST_LOG": "info", "KUBECONFIG": str(kubeconfig), "NO_PROXY": "127.0.0.1,localhost"}
    webhook_port, metrics_port = free_port(), free_port()
    argv = argv_for(objs, vramgate_bin, tmp, webhook_port, metrics_port)
    log = tmp / "vramgate.log"
    server = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True, env=env)
    vwc = find(objs, "ValidatingWebhookConfiguration")
    (w,) = vwc["webhooks"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(w["clientConfig"]["caBundle"]).decode())
    svc = w["clientConfig"]["service"]
    state = {"objs": objs, "fake": fake, "server": server, "log": log, "ctx": ctx, "webhook_port": webhook_port,
             "metrics": f"http://127.0.0.1:{metrics_port}", "server_name": f"{svc['name']}.{svc['namespace']}.svc"}
    try:
        wait_for("vramgate /readyz", lambda: http_get(state["metrics"] + "/readyz")[0] == 200, procs=[(server, log)])
        yield state
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        fake.stop()


def validate(live, obj) -> dict:
    conn = ServiceHTTPS(live["webhook_port"], live["server_name"], live["ctx"])
    try:
        conn.request("POST", "/validate", body=json.dumps(review(obj)).encode(),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200
        return json.loads(r.read())["response"]
    finally:
        conn.close()


def reloads(live, result: str) -> float:
    status, text = http_get(live["metrics"] + "/metrics")
    assert status == 200
    total = 0.0
    for line in text.splitlines():
        if line.startswith("vramgate_config_reloads_total{") and f'result="{result}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def set_config(live, config: str):
    cm = copy.deepcopy(find(live["objs"], "ConfigMap", RELEASE))
    cm["data"]["config.yaml"] = config
    live["fake"].apply(cm)


def test_config_changes_apply_without_a_restart_and_a_bad_one_is_refused(live):
    job = pytorchjob("llama2-13b-fp32", "research", TOO_BIG, 4, 1, A100)
    procs = [(live["server"], live["log"])]
    assert validate(live, job)["allowed"] is False, "the rendered config enforces everywhere"

    # helm upgrade --set config.namespaces.research.mode=warn: the ConfigMap changes.
    good = yaml.safe_load(find(live["objs"], "ConfigMap", RELEASE)["data"]["config.yaml"])
    good["namespaces"] = {"research": {"mode": "warn"}}
    before = reloads(live, "success")
    set_config(live, yaml.safe_dump(good))
    wait_for("the changed ConfigMap applied", lambda: validate(live, job)["allowed"] is True, timeout=30, procs=procs)
    assert reloads(live, "success") > before

    # An invalid config: refused, the last good one stays in force, the pod stays ready.
    failures = reloads(live, "failure")
    set_config(live, "policy:\n  mode: block\n")
    wait_for("the invalid ConfigMap refused", lambda: reloads(live, "failure") > failures, timeout=30, procs=procs)
    response = validate(live, job)
    assert response["allowed"] is True and response.get("warnings"), "the last good config (warn) decides"
    assert http_get(live["metrics"] + "/readyz")[0] == 200


def test_the_binary_reads_only_its_config_map_as_the_role_allows(live):
    role = find(render(VALUES), "Role")
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    (names,) = {tuple(rule["resourceNames"]) for rule in role["rules"]}
    reqs = [q for q in live["fake"].requests if q.resource is not None]
    assert reqs, "the binary never asked the API server for its ConfigMap"
    assert {q.method for q in live["fake"].requests} == {"GET"}
    for q in reqs:
        assert (q.resource.group, q.resource.plural, q.verb) in granted, (q.verb, q.path)
        assert q.namespace == role["metadata"]["namespace"], f"{q.path}: the Role is namespaced"
        # RBAC allows list and watch under resourceNames only for requests naming the object.
        selector = q.query.get("fieldSelector", "")
        assert f"metadata.name={names[0]}" in selector.split(","), f"{q.verb} {q.path}?{q.query}"
    assert {q.verb for q in reqs} >= {"watch"}
